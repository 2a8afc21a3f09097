package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.io.IOException;
import java.time.Duration;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one relay (ztunnel's {@code copy_bidirectional}, src/copy.rs): joins two byte streams, each
 * an {@link End} (a TCP connection, {@link #tcp}, or a tunnel stream, {@link #tunnel}), on the same
 * or on different event loops. Every byte-splicing path uses it: proxy-mode inbound, outbound
 * capture, passthrough, plaintext inbound and L7's opaque fallback.
 *
 * <ul>
 *   <li>Buffers move as they are; one flush per read burst ({@code channelReadComplete}).</li>
 *   <li>Back-pressure: a side reads (auto-read) only while the other side's channel is writable,
 *       so HTTP/2 flow control or the TCP window pushes back on the sender; an end's
 *       {@link Throttle} may hold reads longer (hbone's upstream budgets).</li>
 *   <li>FIN ⇔ END_STREAM: an end's input shutdown half-closes the other end after everything
 *       before it was written; both ended: both are closed gracefully (a TCP end whose input ended
 *       first is closed, not half-closed and closed: the same FIN).</li>
 *   <li>Reset ⇔ RST_STREAM: a reset, failure or close of one end before both directions ended
 *       resets the other (TCP RST with SO_LINGER 0, RST_STREAM CONNECT_ERROR), unless the end says
 *       it {@linkplain End#closedCleanly closed cleanly} (a peer's NO_ERROR/CANCEL after its
 *       END_STREAM, read as ztunnel's h2.rs reads it).</li>
 * </ul>
 *
 * <p>Each side's reads are switched on and off only on its own event loop, so a write listener or a
 * writability change on the other loop can never race a read request against an input that just
 * ended (with epoll such a read fails and closes a half-closed socket).
 */
public final class Relay {
    private static final Logger log = LoggerFactory.getLogger(Relay.class);

    /** Closes a TCP channel with a reset (SO_LINGER 0, then close): its peer reads ECONNRESET, not an end of stream. */
    public static void resetTcp(Channel ch) {
        if (ch.isActive()) {
            try {
                ch.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException e) {
                log.debug("SO_LINGER 0 not applied to {}", ch, e);
            }
        }
        ch.close();
    }

    /**
     * The receive allocator of every relayed TCP connection, given to their bootstraps
     * ({@code ChannelOption.RCVBUF_ALLOCATOR}): Netty's default adaptive reads of 64 B to 64 KiB,
     * 16 reads per wake-up as its socket channels' metadata sets them, one instance for all instead
     * of one per channel config (32 bytes per channel), and each channel's read handle one 40-byte
     * object instead of Netty's three, 112 bytes ({@link TunnelReads}; issue 14). Shared: its reads per
     * wake-up cannot be changed through one channel.
     */
    public static final RecvByteBufAllocator TCP_READS = TunnelReads.TCP;

    /**
     * One side of a relay: its channel, how to half-close, abort and close it. The relay asks
     * {@link #channel()} and {@link #throttle()} again at each read instead of keeping them: both
     * must answer the same object every time.
     */
    public interface End {
        Channel channel();

        /** FIN / END_STREAM, after everything written before it. Any thread. */
        void shutdownOutput();

        /** TCP RST / RST_STREAM(CONNECT_ERROR). Any thread. */
        void reset();

        /** Gracefully closes once both directions ended. Any thread. */
        void close();

        /**
         * Whether this end's channel closing before both directions ended is still a clean end (the
         * other end is then closed, not reset). Asked on this end's event loop.
         */
        default boolean closedCleanly() {
            return false;
        }

        /** Meters bytes written toward this end; null for none. */
        default Throttle throttle() {
            return null;
        }

        /** Called once when the relay ended, cleanly or not (for plain relays' access log). */
        default void ended(Stats stats) {}

        /** Joins a captured client connection to this end; an end that parses the bytes (L7) overrides it. */
        default void joinFrom(End client) {
            Relay.join(client, this);
        }
    }

    /**
     * Meters the bytes written toward one end and may hold reading the other end beyond
     * writability (hbone's per-peer and server budgets for bytes queued behind a closed window).
     */
    public interface Throttle {
        /** Joined; {@code recheck} re-evaluates (on the reading side's loop) whether to read; any thread may call it. */
        void attached(Channel toward, Runnable recheck);

        /** {@code n} bytes go toward the end now; {@code written} completes when they left. */
        void writing(int n, ChannelPromise written);

        /** False while reading the other end must wait. */
        boolean allowsReads();
    }

    /** What one relay carried: bytes read from side a (written to b) and from side b, and how it ended. */
    public record Stats(long bytesFromA, long bytesFromB, Duration duration, boolean reset) {}

    /**
     * An end that forwards the wire operations (channel, half-close, reset, close, {@code closedCleanly}) to
     * {@code end}, for wrappers that only watch a relay's end (mesh-core's access lines, {@code HboneRelay}'s
     * future); what else it does ({@code ended}, {@code joinFrom}, {@code throttle}) is the subclass's, else
     * {@link End}'s default.
     */
    public abstract static class ForwardingEnd implements End {
        protected final End end;

        protected ForwardingEnd(End end) {
            this.end = end;
        }

        @Override
        public Channel channel() {
            return end.channel();
        }

        @Override
        public void shutdownOutput() {
            end.shutdownOutput();
        }

        @Override
        public void reset() {
            end.reset();
        }

        @Override
        public void close() {
            end.close();
        }

        @Override
        public boolean closedCleanly() {
            return end.closedCleanly();
        }
    }

    /** A TCP connection (half-closable). */
    public static End tcp(DuplexChannel ch) {
        // A relayed socket goes on writing after its peer's FIN; Netty 4.2.18-21's epoll fails such
        // writes once the fd's interest set was empty (see Transports.keepEpollRegistered).
        Transports.keepEpollRegistered(ch);
        return new TcpEnd(ch);
    }

    /** A tunnel (client or server side). */
    public static End tunnel(HboneStream stream) {
        return tunnel(stream.channel());
    }

    /** A tunnel stream channel, whose first handler is its {@link TunnelCodec}. */
    public static End tunnel(Channel stream) {
        return tunnel(stream, null);
    }

    /** A tunnel stream channel whose incoming bytes are metered by {@code throttle}. */
    static End tunnel(Channel stream, Throttle throttle) {
        return new TunnelEnd(stream, throttle);
    }

    /**
     * The relay's two sides: an end built here ({@link #tcp}, {@link #tunnel}) is its own side, any
     * other end gets a side of its own. Set once by {@link #join}.
     */
    private final Side a;
    private final Side b;
    private final long startNanos = System.nanoTime();
    /**
     * Ends whose input ended (0..2, the low bits; counted before the FIN goes on, see
     * {@link Side#userEventTriggered}), {@link #ABORTED} and {@link #REPORTED}. One field updated
     * through {@link #STATE}, not three atomic objects: 48 bytes less per open relay (issue 14).
     */
    private volatile int state;
    private static final int EOFS = 3;
    private static final int ABORTED = 4;
    private static final int REPORTED = 8;
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Relay.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private Relay(End a, End b) {
        this.a = sideOf(a);
        this.b = sideOf(b);
        this.a.relay = this;
        this.b.relay = this;
    }

    /** {@code end} itself when it is a side of no relay yet, else a side that reads it. */
    private static Side sideOf(End end) {
        return end instanceof Side s && s.relay == null ? s : new Wrapped(end);
    }

    /**
     * Joins {@code a} and {@code b} and starts reading both. Both channels must have auto-read off
     * and nothing behind this relay's handler consuming their reads. Any thread.
     */
    public static void join(End a, End b) {
        Relay r = new Relay(a, b);
        HbonePipeline.relay(a.channel(), r.a);
        HbonePipeline.relay(b.channel(), r.b);
        r.a.start();
        r.b.start();
        releaseDialHold(a.channel());
        releaseDialHold(b.channel());
    }

    /**
     * Replays what a dialled connection received before its join ({@link Transports#DIAL_HOLD}) into its relay side, as
     * callers release their captured connection's hold right after the join: on the channel's loop, before the task
     * {@code start} leaves for a connection that ended before the join.
     */
    private static void releaseDialHold(Channel ch) {
        if (ch instanceof io.netty.channel.socket.DuplexChannel && ch.pipeline().get(Transports.DIAL_HOLD) instanceof Hold h) {
            if (ch.eventLoop().inEventLoop()) {
                h.release();
            } else {
                ch.eventLoop().execute(h::release);
            }
        }
    }

    private void finish() {
        a.end().close();
        b.end().close();
        report(false);
    }

    private void abort() {
        if (((int) STATE.getAndBitwiseOr(this, ABORTED) & ABORTED) != 0) {
            return;
        }
        a.end().reset();
        b.end().reset();
        report(true);
    }

    private void report(boolean reset) {
        if (((int) STATE.getAndBitwiseOr(this, REPORTED) & REPORTED) != 0) {
            return;
        }
        Stats s = new Stats(a.bytes, b.bytes, Duration.ofNanos(System.nanoTime() - startNanos), reset);
        a.end().ended(s);
        b.end().ended(s);
    }


    /**
     * Reads its {@linkplain #end() end}, writes the other side's; lives in its end's pipeline, runs on
     * its loop. Keeps only its relay, its count and its input's end: the channels, the other side
     * and the throttle are looked up through them (what was six more fields and an end object per
     * side, issue 14).
     */
    private abstract static class Side extends ChannelInboundHandlerAdapter implements Runnable {
        /** Set once when joined, before the side is in a pipeline. */
        Relay relay;
        /** Bytes read from this side's end; written on its loop only, read by {@link #report} anywhere. */
        volatile long bytes;
        private boolean inputEnded;

        /** The end this side reads. */
        abstract End end();

        final Side other() {
            Relay r = relay;
            return r.a == this ? r.b : r.a;
        }

        void start() {
            Throttle throttle = other().end().throttle();
            if (throttle != null) {
                // The side itself is the throttle's recheck: no lambda kept per tunnel.
                throttle.attached(other().end().channel(), this);
            }
            Channel inCh = end().channel();
            if (inCh instanceof DuplexChannel d && (!d.isActive() || d.isInputShutdown())) {
                // Epoll reads a peer's bytes and FIN even with auto-read off (EPOLLRDHUP, netty#3709):
                // a connection can be half-closed, or gone, before it joins, and Netty fires no event
                // again. One task later, so that a Hold the caller releases right after join replays
                // its bytes and end first; without one, the end still ends this direction (ztunnel's
                // copy_bidirectional, src/copy.rs, half-closes the other side on a read of 0).
                inCh.eventLoop().execute(this::endedBeforeJoin);
            }
            recheck();
        }

        /** {@link #start}'s late look at a connection that was already half-closed or closed. Its loop. */
        private void endedBeforeJoin() {
            Channel inCh = end().channel();
            if (!inCh.isActive()) {
                inactive();
            } else if (((DuplexChannel) inCh).isInputShutdown()) {
                inputEnded();
            }
        }

        /** {@link #recheck}: what a {@link Throttle} calls. */
        @Override
        public void run() {
            recheck();
        }

        /** Re-decides whether this side's channel reads, on its loop. Any thread. */
        final void recheck() {
            Channel inCh = end().channel();
            if (inCh.eventLoop().inEventLoop()) {
                updateReads();
            } else {
                inCh.eventLoop().execute(this::updateReads);
            }
        }

        private void updateReads() {
            Channel inCh = end().channel();
            if (inputEnded || !inCh.isActive() || (inCh instanceof DuplexChannel d && d.isInputShutdown())) {
                return;
            }
            End out = other().end();
            Throttle throttle = out.throttle();
            boolean read = out.channel().isWritable() && (throttle == null || throttle.allowsReads());
            if (inCh.config().isAutoRead() != read) {
                inCh.config().setAutoRead(read);
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            End out = other().end();
            Channel outCh = out.channel();
            if (!(msg instanceof ByteBuf buf) || !outCh.isActive() || (outCh instanceof DuplexChannel d && d.isOutputShutdown())) {
                ReferenceCountUtil.release(msg);
                return;
            }
            int n = buf.readableBytes();
            bytes += n;
            Throttle throttle = out.throttle();
            if (throttle == null) {
                outCh.write(buf, outCh.voidPromise());
            } else {
                ChannelPromise written = outCh.newPromise();
                throttle.writing(n, written);
                outCh.write(buf, written);
            }
            if (!outCh.isWritable() || (throttle != null && !throttle.allowsReads())) {
                updateReads();
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            other().end().channel().flush();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            // This side's channel is the other side's output.
            other().recheck();
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                inputEnded();
            } else if (evt instanceof HboneStream.Reset) {
                relay.abort();
            } else {
                ctx.fireUserEventTriggered(evt);
            }
        }

        /** This side's input ended (a FIN, END_STREAM): half-closes the other end; once. Its loop. */
        private void inputEnded() {
            if (inputEnded) {
                return;
            }
            inputEnded = true;
            // Counted before the FIN goes on: the two sides may run on different event loops, and
            // the peer's answering FIN (then the channel's close) must never find this EOF
            // uncounted, or a clean end would look like an abort and reset the connection.
            Relay r = relay;
            boolean both = ((int) STATE.getAndAdd(r, 1) & EOFS) + 1 == 2;
            End out = other().end();
            // Both ended and the other end is a TCP connection, whose input ended (nothing unread): finish's close
            // sends the same FIN after the same queued bytes, without Netty's stack-traced ChannelOutputShutdownException
            // and the failed write of the close behind it (issue 14, benchmarks/results/close-exceptions-b7cc2b8f.md).
            if (!both || !(out instanceof TcpEnd)) {
                out.shutdownOutput();
            }
            if (both) {
                r.finish();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            inactive();
            ctx.fireChannelInactive();
        }

        /** This side's channel closed. Its loop; a second call (a late look, then the event) changes nothing. */
        private void inactive() {
            // Not when the relay already ended (both EOFs, a clean close, an abort): the other
            // side's close then follows from it and is no failure.
            Relay r = relay;
            int st = r.state;
            if ((st & EOFS) < 2 && (st & (REPORTED | ABORTED)) == 0) {
                if (end().closedCleanly()) {
                    r.report(false);
                    other().end().close();
                } else {
                    // Closed before both directions ended: the other side cannot finish cleanly either.
                    r.abort();
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (!(cause instanceof IOException)) {
                log.debug("relay {} -> {} failed", end().channel(), other().end().channel(), cause);
            }
            relay.abort();
        }
    }

    /** The side of an end built elsewhere. */
    private static final class Wrapped extends Side {
        private final End end;

        Wrapped(End end) {
            this.end = end;
        }

        @Override
        End end() {
            return end;
        }
    }

    /** {@link #tcp}: the end and its relay side in one object. */
    private static final class TcpEnd extends Side implements End {
        private final DuplexChannel ch;

        TcpEnd(DuplexChannel ch) {
            this.ch = ch;
        }

        @Override
        End end() {
            return this;
        }

        @Override
        public Channel channel() {
            return ch;
        }

        @Override
        public void shutdownOutput() {
            // shutdownOutput() fails writes still queued: FIN only once they are out.
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
                if (ch.isActive()) {
                    fin(ch);
                }
            });
        }

        @Override
        public void reset() {
            resetTcp(ch);
        }

        @Override
        public void close() {
            io.netty.channel.ChannelFuture flushed = ch.writeAndFlush(Unpooled.EMPTY_BUFFER);
            if (!flushed.isDone()) {
                flushing(ch);
            }
            flushed.addListener(ChannelFutureListener.CLOSE);
        }
    }

    /**
     * The FIN of a TCP end whose queued bytes are all written (an empty write's listener, on its loop): shutdown(2)'s
     * {@code SHUT_WR}, which is all ztunnel's copy_bidirectional does at a reader's end of stream (src/copy.rs, tokio's
     * {@code TcpStream::poll_shutdown}) and all Netty's {@code AbstractEpollStreamChannel.doShutdownOutput} does. On
     * epoll it is called on the channel's socket directly, without Netty's {@code AbstractUnsafe.shutdownOutput} around
     * it, which builds a {@code ChannelOutputShutdownException} with a stack trace at every half-close (~2 µs at the
     * ~66 frames of a tunnel's END_STREAM on a node proxy) to fail a queue that is empty here, and fires a
     * {@code ChannelOutputShutdownEvent} that no handler of a relayed TCP connection reads (issue 14,
     * benchmarks/results/indy-close-65d22d05.md). {@code isOutputShutdown()} reads the same socket state. A write after
     * the FIN still fails and leaves the connection open for its input, as after Netty's {@code shutdownOutput}:
     * auto-close is off from the FIN on, so its {@code EPIPE} makes Netty's {@code handleWriteError} shut the output
     * down (and build the exception then) instead of closing. Another transport, or a socket that cannot be shut
     * down any more (reset), takes Netty's {@code shutdownOutput}.
     */
    static void fin(DuplexChannel ch) {
        if (ch instanceof io.netty.channel.unix.UnixChannel u && u.fd() instanceof io.netty.channel.unix.Socket socket
                && ch.eventLoop().inEventLoop()) {
            if (socket.isOutputShutdown()) {
                return;
            }
            ch.config().setAutoClose(false);
            try {
                socket.shutdown(false, true);
                return;
            } catch (IOException | java.nio.channels.NotYetConnectedException e) {
                log.debug("{}: shutdown(SHUT_WR) failed, Netty's shutdownOutput instead", ch, e);
            }
        }
        ch.shutdownOutput();
    }

    /**
     * TCP connections whose graceful close waits for queued bytes to go out: an application that does not read keeps
     * them, with their buffers, after the relay ended and its tunnel's stream closed (so no inbound budget counts them
     * any more). Nothing else holds them until their group shuts down and closes every channel it has
     * ({@link Transports#shutdown}). Bounded in time and in
     * bytes: one still flushing after {@link #FLUSH_TIMEOUT_SECONDS} is reset (a peer that ended its tunnels one after
     * another to an application that never read made the server hold ~1 MB each until it shut down: a review pass,
     * 5 December), and one whose queued bytes would take the total over {@link #flushingBudget} is reset at once. One
     * entry, one close listener and one timer per such connection, none per tunnel.
     */
    static final java.util.Map<Channel, Long> FLUSHING = new java.util.concurrent.ConcurrentHashMap<>();
    /** How long a relay's graceful close may wait for its application to read what it was sent: as a tunnel's linger. */
    static final long FLUSH_TIMEOUT_SECONDS = Tunnels.LINGER_SECONDS;
    /** {@link #FLUSH_TIMEOUT_SECONDS} in nanoseconds; a test's to shorten. */
    static volatile long flushTimeoutNanos = java.util.concurrent.TimeUnit.SECONDS.toNanos(FLUSH_TIMEOUT_SECONDS);
    /**
     * Bytes all {@link #FLUSHING} connections may hold queued: an eighth of Netty's direct-memory limit, at least 1 MiB
     * (a shipped node proxy: 8 MiB, beside its 16 MiB outbound and 32 MiB inbound budgets); a test's to change.
     */
    static volatile long flushingBudget = Math.max(1L << 20, io.netty.util.internal.PlatformDependent.maxDirectMemory() / 8);
    static final java.util.concurrent.atomic.AtomicLong flushingBytes = new java.util.concurrent.atomic.AtomicLong();

    private static void flushing(Channel ch) {
        io.netty.channel.ChannelOutboundBuffer out = ch.unsafe().outboundBuffer();
        long queued = out == null ? 0 : out.totalPendingWriteBytes();
        if (flushingBytes.addAndGet(queued) > flushingBudget) {
            flushingBytes.addAndGet(-queued);
            log.debug("{} reset: {} bytes still queued for an application that does not read, over the {} bytes all closing"
                    + " connections may hold", ch, queued, flushingBudget);
            resetTcp(ch);
            return;
        }
        FLUSHING.put(ch, queued);
        io.netty.util.concurrent.ScheduledFuture<?> timeout = ch.eventLoop().schedule(() -> {
            if (ch.isActive()) {
                log.debug("{} reset: its application did not read what was left to send within {}", ch,
                        LogText.duration(java.time.Duration.ofNanos(flushTimeoutNanos)));
                resetTcp(ch);
            }
        }, flushTimeoutNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        ch.closeFuture().addListener(f -> {
            timeout.cancel(false);
            Long counted = FLUSHING.remove(ch);
            if (counted != null) {
                flushingBytes.addAndGet(-counted);
            }
        });
    }

    /** Forgets the {@link #FLUSHING} connections of {@code group}, which terminated (its loops no longer close anything). */
    static void forgetFlushing(io.netty.channel.EventLoopGroup group) {
        for (Channel ch : FLUSHING.keySet()) {
            if (ch.eventLoop().parent() == group) {
                Long counted = FLUSHING.remove(ch);
                if (counted != null) {
                    flushingBytes.addAndGet(-counted);
                }
            }
        }
    }

    /** {@link #tunnel}: the end and its relay side in one object. */
    private static final class TunnelEnd extends Side implements End {
        private final Channel stream;
        private final Throttle throttle;

        TunnelEnd(Channel stream, Throttle throttle) {
            this.stream = stream;
            this.throttle = throttle;
        }

        @Override
        End end() {
            return this;
        }

        @Override
        public Channel channel() {
            return stream;
        }

        @Override
        public void shutdownOutput() {
            if (stream.isActive()) {
                HboneStream.shutdownOutput(stream);
            }
        }

        @Override
        public void reset() {
            Tunnels.reset(stream);
        }

        @Override
        public void close() {
            stream.eventLoop().execute(() -> {
                TunnelCodec codec = stream.pipeline().get(TunnelCodec.class);
                if (codec != null) {
                    Tunnels.closeGracefully(stream, codec);
                } else {
                    stream.close();
                }
            });
        }

        @Override
        public boolean closedCleanly() {
            // TunnelCodec.of: a tunnel that ended before the relay joined it has no codec in its pipeline any more.
            TunnelCodec codec = TunnelCodec.of(stream);
            return codec != null && codec.completed();
        }

        @Override
        public Throttle throttle() {
            return throttle;
        }
    }
}
