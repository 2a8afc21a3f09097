package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import java.util.concurrent.TimeUnit;

/**
 * One HBONE connection's tunnels, kept on its event loop: the tunnel channels still open (closed
 * with the connection) and the tunnels' deadlines (the client's CONNECT response timeout, the
 * graceful close's linger), with one timer per kind of deadline for the whole connection.
 *
 * <p>Why per connection (issue 14, benchmarks/results/open-*.md): per tunnel, a close listener on
 * the connection, a second one to remove it, a response timer and a linger timer each cost an
 * object or three, a priority-queue insert and remove, and the connection's listener array grew
 * with every open tunnel and was scanned on every close (10,000 slots with 10,000 tunnels). Here a
 * tunnel is a node of intrusive lists: nothing is allocated per tunnel but the linger's entry, and
 * every add and remove is O(1). Each kind of deadline has one fixed duration, so its entries are in
 * deadline order by construction and its one timer only ever waits for the head.
 *
 * <p>Event loop only. A parentless tunnel channel (a test's {@code EmbeddedChannel}) is its own
 * connection here.
 */
final class TunnelSet {
    private static final AttributeKey<TunnelSet> KEY = AttributeKey.valueOf(TunnelSet.class, "tunnels");

    private final Channel connection;
    private TunnelCodec head;
    private int size;
    private Deadlines responses;
    private Deadlines stalls;
    private Deadlines dials;
    private final Deadlines lingers;
    private Headers.Memo headers;
    private String lastAuthority;
    private java.net.InetSocketAddress lastDestination;
    private java.net.InetSocketAddress lastUpstream;
    private java.net.InetSocketAddress lastDial;

    /** The connection's {@link InboundFrames} (null on a parentless tunnel). */
    final InboundFrames frames;

    private TunnelSet(Channel connection) {
        this.connection = connection;
        this.frames = connection.pipeline().get(InboundFrames.class);
        this.lingers = new Deadlines(connection, TimeUnit.SECONDS.toNanos(Tunnels.LINGER_SECONDS));
    }

    /** The set of the connection that carries {@code stream}, made on first use. */
    static TunnelSet of(Channel stream) {
        Channel connection = stream.parent() != null ? stream.parent() : stream;
        TunnelSet s = connection.attr(KEY).get();
        if (s == null) {
            s = new TunnelSet(connection);
            connection.attr(KEY).set(s);
            TunnelSet set = s;
            connection.closeFuture().addListener(f -> set.closeAll());
        }
        return s;
    }

    /** The set of HBONE connection {@code connection} (not a stream: its parent is a listener), or null before its first tunnel. */
    static TunnelSet ofConnection(Channel connection) {
        return connection.attr(KEY).get();
    }

    /** Adds {@code codec}'s tunnel; it leaves on {@link #remove} (the codec's channel closing). */
    void add(TunnelCodec codec) {
        if (codec.set != null) {
            return;
        }
        codec.set = this;
        codec.nextInSet = head;
        if (head != null) {
            head.prevInSet = codec;
        }
        head = codec;
        size++;
        if (frames != null && codec.channel() instanceof io.netty.handler.codec.http2.Http2StreamChannel sc
                && sc.stream() != null && sc.stream().id() > 0) {
            frames.attach(sc.stream().id(), codec);
        }
        if (!connection.isOpen()) {
            // Closed between the stream's creation and now: the close listener has already run.
            closeAll();
        }
    }

    void remove(TunnelCodec codec) {
        if (codec.set != this) {
            return;
        }
        if (codec.prevInSet != null) {
            codec.prevInSet.nextInSet = codec.nextInSet;
        } else {
            head = codec.nextInSet;
        }
        if (codec.nextInSet != null) {
            codec.nextInSet.prevInSet = codec.prevInSet;
        }
        codec.prevInSet = null;
        codec.nextInSet = null;
        codec.set = null;
        if (codec.rare != null && frames != null) {
            // No longer counted: read after this (a connection lost) or dropped with the channel's queue.
            frames.forget(codec.rare);
        }
        size--;
    }

    /** The open tunnels, newest first: a copy, for a rare pass over all of them (inbound shedding). */
    java.util.List<TunnelCodec> tunnels() {
        java.util.List<TunnelCodec> all = new java.util.ArrayList<>(size);
        for (TunnelCodec c = head; c != null; c = c.nextInSet) {
            all.add(c);
        }
        return all;
    }

    /** Open tunnels in the set. */
    int size() {
        return size;
    }

    /**
     * When the connection dies, Netty only marks a stream channel's input ended and frees its
     * queued DATA frames once that channel reads again; a tunnel paused by back-pressure or still
     * waiting for its CONNECT to be decided never does, and its frames leaked
     * (TunnelClosesWithConnectionTest). Closing each tunnel with its connection frees them, once a
     * tunnel that had ended both ways on the wire has read what it holds ({@link TunnelCodec#connectionLost}).
     */
    private void closeAll() {
        TunnelCodec c = head;
        while (c != null) {
            TunnelCodec next = c.nextInSet;
            Channel ch = c.channel();
            remove(c);
            if (ch != null && ch != connection) {
                c.connectionLost();
                ch.close();
            }
            c = next;
        }
    }

    /** The CONNECT response deadlines (all of one client connection's tunnels share its pool's timeout). */
    Deadlines responses(long timeoutNanos) {
        if (responses == null) {
            responses = new Deadlines(connection, timeoutNanos);
        }
        return responses;
    }

    /**
     * The stalled-window deadlines of the connection's proxy-mode tunnels ({@link TunnelBudget}): a
     * tunnel is in it only while upstream bytes wait behind its window, at its last write progress
     * plus the server's stalled-window timeout (one duration per server).
     */
    Deadlines stalls(long timeoutNanos) {
        if (stalls == null) {
            stalls = new Deadlines(connection, timeoutNanos);
        }
        return stalls;
    }

    /** The upstream connect deadlines of the connection's proxy-mode tunnels (the server's upstream connect timeout). */
    Deadlines dials(long timeoutNanos) {
        if (dials == null) {
            dials = new Deadlines(connection, timeoutNanos);
        }
        return dials;
    }

    /** The names and last values of the connection's CONNECT headers, shared by its tunnels' {@code TunnelInfo}s. */
    Headers.Memo headers() {
        if (headers == null) {
            headers = new Headers.Memo();
        }
        return headers;
    }

    /**
     * {@link Authority#parse} of a CONNECT's {@code :authority}, the same {@code InetSocketAddress}
     * as the connection's previous CONNECT's when the text is the same: tunnels from one client to
     * one destination (the usual pooled connection) share it instead of an address, its holder, its
     * {@code InetAddress} and two host strings each (~200 bytes per tunnel held by its
     * {@code TunnelInfo}; issue 14). Null when malformed, as {@link Authority#parse}.
     */
    java.net.InetSocketAddress destination(CharSequence authority) {
        if (lastAuthority != null && authority != null && io.netty.util.AsciiString.contentEquals(lastAuthority, authority)) {
            return lastDestination;
        }
        java.net.InetSocketAddress dst = Authority.parse(authority);
        if (dst != null) {
            lastAuthority = authority.toString();
            lastDestination = dst;
        }
        return dst;
    }

    /**
     * {@code upstream} to dial, with its host string fixed in its {@code InetAddress}, the same one
     * for the connection's tunnels to the same upstream: Netty's epoll channel names its connected
     * remote address {@code InetAddress.getByAddress(requested.getHostString(), ...)}, and without a
     * host string in the requested address {@code getHostString()} formats a new one for every
     * upstream channel (a 56-byte string per open proxied tunnel; issue 14). The channel's remote
     * address reads exactly as before.
     */
    java.net.InetSocketAddress dialAddress(java.net.InetSocketAddress upstream) {
        if (upstream.equals(lastUpstream)) {
            return lastDial;
        }
        java.net.InetSocketAddress dial = upstream;
        java.net.InetAddress a = upstream.getAddress();
        // A scoped IPv6 address keeps its scope only in its own InetAddress: dialled as given.
        if (a instanceof java.net.Inet4Address
                || a instanceof java.net.Inet6Address v6 && v6.getScopeId() == 0 && v6.getScopedInterface() == null) {
            try {
                dial = new java.net.InetSocketAddress(java.net.InetAddress.getByAddress(upstream.getHostString(),
                        a.getAddress()), upstream.getPort());
            } catch (java.net.UnknownHostException e) {
                throw new IllegalStateException("an IP address's own bytes refused", e);
            }
        }
        lastUpstream = upstream;
        lastDial = dial;
        return dial;
    }

    /** The graceful closes' deadlines ({@link Tunnels#LINGER_SECONDS}). */
    Deadlines lingers() {
        return lingers;
    }

    /** Something that expires unless removed first: a node of one {@link Deadlines} at a time. */
    abstract static class Deadline {
        private Deadline prev;
        private Deadline next;
        private Deadlines owner;
        private long at;

        /** The deadline passed; already removed. Event loop. */
        abstract void expire();

        /** Whether this waits in a {@link Deadlines}. */
        final boolean pending() {
            return owner != null;
        }

        /** Removes this from its deadlines, if it is in one. */
        final void cancel() {
            if (owner != null) {
                owner.remove(this);
            }
        }
    }

    /**
     * Deadlines of one fixed duration, in the order they were added (so in deadline order), with one
     * timer for the head. Removing the head leaves the timer as it is: it fires early, expires
     * nothing and waits again for the new head, which costs less than cancelling and scheduling per
     * tunnel. The pending timer refers to this object only, never to a removed tunnel.
     */
    static final class Deadlines {
        private final Channel connection;
        private final long durationNanos;
        private Deadline head;
        private Deadline tail;
        private boolean armed;

        Deadlines(Channel connection, long durationNanos) {
            this.connection = connection;
            this.durationNanos = durationNanos;
        }

        void add(Deadline d) {
            d.cancel();
            d.owner = this;
            // The loop's clock: what its timer runs on (and what a test's EmbeddedChannel can advance).
            d.at = connection.eventLoop().ticker().nanoTime() + durationNanos;
            d.prev = tail;
            d.next = null;
            if (tail != null) {
                tail.next = d;
            } else {
                head = d;
            }
            tail = d;
            if (!armed) {
                arm(durationNanos);
            }
        }

        private void remove(Deadline d) {
            if (d.prev != null) {
                d.prev.next = d.next;
            } else {
                head = d.next;
            }
            if (d.next != null) {
                d.next.prev = d.prev;
            } else {
                tail = d.prev;
            }
            d.prev = null;
            d.next = null;
            d.owner = null;
        }

        private void arm(long delayNanos) {
            armed = true;
            connection.eventLoop().schedule(this::fire, Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
        }

        private void fire() {
            armed = false;
            long now = connection.eventLoop().ticker().nanoTime();
            while (head != null && head.at - now <= 0) {
                Deadline d = head;
                remove(d);
                d.expire();
            }
            if (head != null) {
                arm(head.at - now);
            }
        }

        /** Deadlines waiting. */
        int size() {
            int n = 0;
            for (Deadline d = head; d != null; d = d.next) {
                n++;
            }
            return n;
        }
    }
}
