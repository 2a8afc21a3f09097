package io.zerohop.hbone;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.zerohop.hbone.internal.Hold;
import io.zerohop.hbone.internal.Relay;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Splices a plain TCP connection with an HBONE tunnel, both ways, until both directions ended:
 * what a proxy does with a connection it accepted (outbound: the app's connection and the tunnel
 * it opened; inbound: the tunnel a {@link StreamHandler} got and its connection to the app). It is
 * the relay mesh-core's proxy paths use (capture, passthrough, plaintext inbound), made public.
 *
 * <p>Semantics, per direction, those of ztunnel's {@code copy_bidirectional} (istio/ztunnel
 * src/copy.rs: each direction copies until its reader's end of stream, then shuts down the other
 * side's write half; the relay ends when both directions did), with resets mapped as DESIGN §3 of
 * zerohop's wire contract states:
 * <ul>
 *   <li><b>Half-close</b>: a TCP FIN from the connection becomes the tunnel's END_STREAM (after every
 *       byte read before it was written); the tunnel peer's END_STREAM becomes a FIN on the connection.
 *       The other direction goes on. Once both directions ended, both are closed gracefully.</li>
 *   <li><b>Reset</b>: a TCP RST from the connection (or a read or write error on it, or its close
 *       before both directions ended) resets the tunnel with RST_STREAM(CONNECT_ERROR), and a peer's
 *       RST_STREAM (or the tunnel's connection lost) resets the connection (SO_LINGER 0, then close:
 *       a TCP RST). A peer's RST_STREAM NO_ERROR or CANCEL after its END_STREAM is a clean end, as
 *       ztunnel's src/proxy/h2.rs reads it. ztunnel's own copy treats a reset like an end of stream
 *       ({@code ignore_io_errors} in src/copy.rs, istio/ztunnel#1483); zerohop passes it on instead,
 *       so an aborted response never looks complete.</li>
 *   <li><b>Back-pressure</b>: each side is read only while the other side can take more (its Netty
 *       channel {@linkplain Channel#isWritable() writable}: the TCP socket's send buffer, the stream's
 *       HTTP/2 flow-control window), so a reader that stops reading stops its sender through TCP's
 *       window or HTTP/2's, and the relay holds at most one read burst beyond the channel's write
 *       buffer high-water mark.</li>
 * </ul>
 *
 * <p>The {@link #splice(HboneStream, DuplexChannel) channel forms} move Netty's buffers from one
 * channel to the other as they are (no byte is copied) on the channels' event loops, never blocking
 * them; every buffer read is written or released (reference counts balanced). The
 * {@link #splice(HboneStream, Socket, Executor) socket form} is for blocking code and copies through
 * a 16 KiB array per direction, since a {@link Socket}'s streams take arrays.
 *
 * <p>Every form returns a future completed once the relay ended, with what it carried. It never
 * fails: an abort is {@link Result#reset()}. It completes on an event loop or a relay thread: do
 * not block in its callbacks.
 */
public final class HboneRelay {

    /**
     * What one relay carried and how it ended.
     *
     * @param fromConnection bytes read from the TCP connection and written into the tunnel; {@code >= 0}
     * @param fromTunnel     bytes read from the tunnel and written to the TCP connection; {@code >= 0}
     * @param duration       from the splice call to the end; never null
     * @param reset          true when the relay was aborted (a reset, an error or a close before both
     *                       directions ended) and the other side was reset; false when both directions
     *                       ended with a FIN / END_STREAM (or the tunnel peer's clean RST_STREAM after
     *                       its END_STREAM)
     */
    public record Result(long fromConnection, long fromTunnel, Duration duration, boolean reset) {
        public Result {
            Objects.requireNonNull(duration, "duration");
        }
    }

    private HboneRelay() {}

    /**
     * Prepares an accepted (or dialled) {@code connection} for a later {@link #splice}: call it where
     * the connection is set up (its {@code ChannelInitializer}), before the tunnel is open. With
     * auto-read off, NIO reads nothing, but epoll still reads once when the peer half-closes
     * (EPOLLRDHUP, netty#3709): an application that sends its request and shuts its output down before
     * the tunnel is open would lose those bytes and its FIN at the pipeline's tail. This keeps them, and
     * a read error (the peer's reset) with them, until {@code splice} replays them into the relay. It
     * also turns {@code ALLOW_HALF_CLOSURE} on. What it keeps is released (reference counts) if the
     * connection closes first. Any thread; once per connection.
     *
     * @param connection a TCP connection with auto-read off; never null
     * @throws NullPointerException     when {@code connection} is null
     * @throws IllegalArgumentException when {@code connection} already has one
     */
    public static void holdUntilSpliced(DuplexChannel connection) {
        Objects.requireNonNull(connection, "connection");
        if (connection.pipeline().get(HOLD) != null) {
            throw new IllegalArgumentException("connection " + connection + " is already held for a splice");
        }
        connection.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        connection.pipeline().addLast(HOLD, new Hold(Long.MAX_VALUE, true));
    }

    /**
     * Resets {@code connection} instead of splicing it, for a tunnel that could not be opened (refused, denied, failed):
     * SO_LINGER 0, then close, so its peer reads a TCP reset, as a relayed peer's RST_STREAM reaches it and as
     * zerohop's capture listeners end a connection whose tunnel was refused. A plain {@code close()} would send FIN,
     * which the application reads as a complete, empty answer. What {@link #holdUntilSpliced} kept is released.
     * Any thread; a connection already closed is left as it is.
     *
     * @param connection a TCP connection; never null
     * @throws NullPointerException when {@code connection} is null
     */
    public static void reset(DuplexChannel connection) {
        Relay.resetTcp(Objects.requireNonNull(connection, "connection"));
    }

    private static final String HOLD = "zerohop-relay-hold";

    /**
     * Set on a tunnel and a connection once spliced: a second splice of either would put two relays on one channel
     * (newuser28: a second connection's bytes went into the first's tunnel, and a future never completed).
     */
    private static final io.netty.util.AttributeKey<Boolean> SPLICED = io.netty.util.AttributeKey.valueOf(HboneRelay.class, "spliced");

    /** Claims {@code ch} for one relay; {@code what} names it in the error. */
    private static void claim(Channel ch, String what) {
        if (ch.attr(SPLICED).setIfAbsent(Boolean.TRUE) != null) {
            throw new IllegalArgumentException(what + " " + ch + " is already spliced: a tunnel and a connection take one relay each");
        }
    }

    /**
     * Splices {@code connection} with the client-side tunnel {@code stream} (what
     * {@link HboneClient#connect} gave). The tunnel must be fresh: no handler of yours attached and
     * no read started ({@link HboneStream#channel()} is handed over with auto-read off). Any thread.
     *
     * @param stream     the tunnel; never null
     * @param connection a TCP connection ({@code SocketChannel}, epoll or NIO) with auto-read off
     *                   ({@code ChannelOption.AUTO_READ false}, as a {@code ServerBootstrap.childOption})
     *                   and no handler of its own reading its bytes; its {@code ALLOW_HALF_CLOSURE} is
     *                   turned on here (a FIN must end one direction, not close the channel). Give it
     *                   to {@link #holdUntilSpliced} where it is accepted, or bytes and a FIN that epoll
     *                   read before this call are lost. A connection that ended before the call ends
     *                   its direction (or aborts) at once.
     * @return the relay's end, see {@link Result}
     * @throws NullPointerException     when an argument is null
     * @throws IllegalArgumentException when {@code connection} reads on its own (auto-read on): bytes it
     *                                  read before the relay is in place would be lost; when the tunnel is
     *                                  closed, or the tunnel or the connection was already spliced; nothing
     *                                  was changed
     */
    public static CompletableFuture<Result> splice(HboneStream stream, DuplexChannel connection) {
        Objects.requireNonNull(stream, "stream");
        return splice(stream.channel(), connection);
    }

    /**
     * Splices {@code connection} with a tunnel {@code stream} channel: the channel a
     * {@link StreamHandler#initStream} got (server side), or an {@link HboneStream#channel()}. From
     * {@code initStream}, call it there, and have the handler's {@link StreamHandler#autoRead()}
     * answer false: the relay decides when the tunnel reads. Any thread.
     *
     * @param stream     a tunnel stream channel (an {@link Http2StreamChannel} of an HBONE server or
     *                   client) with auto-read off and no handler of yours reading it; never null
     * @param connection as in {@link #splice(HboneStream, DuplexChannel)}
     * @return the relay's end, see {@link Result}; already complete, reset, when the connection's event loop
     *         has terminated
     * @throws NullPointerException     when an argument is null
     * @throws IllegalArgumentException when {@code stream} is not a tunnel stream channel or is closed,
     *                                  {@code connection} has auto-read on, or either was already spliced;
     *                                  nothing was changed
     */
    public static CompletableFuture<Result> splice(Channel stream, DuplexChannel connection) {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(connection, "connection");
        if (!(stream instanceof Http2StreamChannel)) {
            throw new IllegalArgumentException("not an HBONE tunnel stream channel: " + stream
                    + " (pass HboneStream.channel() or the channel StreamHandler.initStream got)");
        }
        if (connection.config().isAutoRead()) {
            throw new IllegalArgumentException("connection " + connection + " has auto-read on: bytes it reads before the relay"
                    + " is in place would be lost; accept it with ChannelOption.AUTO_READ false (the relay starts its reads)");
        }
        if (!stream.isActive()) {
            throw new IllegalArgumentException("tunnel " + stream + " is closed: open a new one");
        }
        claim(stream, "tunnel");
        try {
            claim(connection, "connection");
        } catch (IllegalArgumentException e) {
            stream.attr(SPLICED).set(null);
            throw e;
        }
        connection.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        CompletableFuture<Result> done = new CompletableFuture<>();
        long start = System.nanoTime();
        Relay.End tcp = Relay.tcp(connection);
        Relay.End tunnel = Relay.tunnel(stream);
        Runnable join = () -> {
            Relay.join(new Reporting(tcp, done, start), tunnel);
            // What holdUntilSpliced kept goes into the relay, in order, then the hold leaves.
            if (connection.pipeline().get(HOLD) instanceof Hold hold) {
                hold.release();
            }
        };
        if (connection.eventLoop().inEventLoop()) {
            join.run();
        } else {
            try {
                connection.eventLoop().execute(join);
            } catch (java.util.concurrent.RejectedExecutionException shutDown) {
                // The connection's event loop has terminated (its group was shut down, closing the connection):
                // nothing will join, so the relay ends here, both ends reset (RST_STREAM CONNECT_ERROR), not never.
                tunnel.reset();
                tcp.reset();
                done.complete(new Result(0, 0, Duration.ofNanos(System.nanoTime() - start), true));
            }
        }
        return done;
    }

    /**
     * Splices a blocking {@code connection} with the client-side tunnel {@code stream}, on two tasks
     * of {@code executor} (one per direction) that block until their direction ended: give it an
     * executor that runs both at once (a cached or per-task thread pool, not one thread). The
     * semantics are the class comment's: {@code shutdownOutput} on the end of a direction,
     * {@code setSoLinger(true, 0)} and close (TCP RST) or {@link HboneStream#reset()} on a reset or
     * error; both sockets and the tunnel are closed when the relay ends. Back-pressure is that of
     * blocking writes: a direction waits in its write while the other side takes nothing (the tunnel's
     * HTTP/2 window, the connection's TCP window), and the tunnel's socket stops reading beyond a fixed
     * amount. Copies each byte once through an array, unlike the channel forms. Do not use
     * {@code stream} or {@code connection} otherwise afterwards.
     *
     * @param stream     a fresh tunnel (as for {@link #splice(HboneStream, DuplexChannel)}); never null
     * @param connection a connected socket; never null
     * @param executor   runs the two copying tasks; never null
     * @return the relay's end, see {@link Result}; when the tunnel's client is already closed or the
     *         executor refuses a task, both ends are reset and the result says {@code reset}
     * @throws NullPointerException     when an argument is null
     * @throws IllegalArgumentException when {@code connection} is not connected, or is closed; when the
     *                                  tunnel is closed or was already spliced
     */
    public static CompletableFuture<Result> splice(HboneStream stream, Socket connection, Executor executor) {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(connection, "connection");
        Objects.requireNonNull(executor, "executor");
        if (!connection.isConnected() || connection.isClosed()) {
            throw new IllegalArgumentException("connection " + connection + " is " + (connection.isClosed() ? "closed" : "not connected"));
        }
        if (!stream.channel().isActive()) {
            throw new IllegalArgumentException("tunnel " + stream.channel() + " is closed: open a new one");
        }
        claim(stream.channel(), "tunnel");
        return new SocketRelay(stream, connection).start(executor);
    }

    /** The TCP end of a channel relay, reporting the relay's end into the caller's future. */
    private static final class Reporting extends Relay.ForwardingEnd {
        private final CompletableFuture<Result> done;
        private final long start;

        Reporting(Relay.End end, CompletableFuture<Result> done, long start) {
            super(end);
            this.done = done;
            this.start = start;
        }

        @Override
        public void ended(Relay.Stats s) {
            // Side a is this end, the connection.
            done.complete(new Result(s.bytesFromA(), s.bytesFromB(), Duration.ofNanos(System.nanoTime() - start), s.reset()));
        }
    }

    /** {@link #splice(HboneStream, Socket, Executor)}: two blocking copies. */
    private static final class SocketRelay {
        private static final int BUFFER = 16 << 10;
        private static final int ABORTED = 4;
        private static final int REPORTED = 8;

        private final HboneStream stream;
        private final Socket connection;
        private final long start = System.nanoTime();
        private final CompletableFuture<Result> done = new CompletableFuture<>();
        /** Directions ended (0..2, low bits), {@link #ABORTED}, {@link #REPORTED}. */
        private final AtomicInteger state = new AtomicInteger();
        private volatile long fromConnection;
        private volatile long fromTunnel;
        private HboneSocket tunnel;

        SocketRelay(HboneStream stream, Socket connection) {
            this.stream = stream;
            this.connection = connection;
        }

        CompletableFuture<Result> start(Executor executor) {
            try {
                tunnel = stream.toSocket();
            } catch (IOException e) {
                abort();
                return done;
            }
            try {
                executor.execute(() -> copy(true));
            } catch (RejectedExecutionException e) {
                abort();
                return done;
            }
            try {
                executor.execute(() -> copy(false));
            } catch (RejectedExecutionException e) {
                abort(); // the running copy's blocked read fails on the closed socket and ends
            }
            return done;
        }

        /** One direction: the connection to the tunnel ({@code fromConnection}) or back. */
        private void copy(boolean fromConnectionSide) {
            Socket in = fromConnectionSide ? connection : tunnel;
            Socket out = fromConnectionSide ? tunnel : connection;
            byte[] buf = new byte[BUFFER];
            try {
                InputStream is = in.getInputStream();
                OutputStream os = out.getOutputStream();
                for (int n; (n = is.read(buf)) >= 0; ) {
                    os.write(buf, 0, n);
                    if (fromConnectionSide) {
                        fromConnection += n;
                    } else {
                        fromTunnel += n;
                    }
                }
                out.shutdownOutput(); // FIN / END_STREAM, after every byte written before it
                if ((state.incrementAndGet() & 3) == 2) {
                    finish();
                }
            } catch (IOException | RuntimeException e) {
                abort();
            }
        }

        private void finish() {
            closeQuietly(tunnel);
            closeQuietly(connection);
            report(false);
        }

        private void abort() {
            if ((state.getAndUpdate(s -> s | ABORTED) & (ABORTED | REPORTED)) != 0) {
                return;
            }
            stream.reset(); // RST_STREAM(CONNECT_ERROR)
            closeQuietly(tunnel);
            try {
                connection.setSoLinger(true, 0); // close sends a TCP RST
            } catch (IOException e) {
                // already closed
            }
            closeQuietly(connection);
            report(true);
        }

        private void report(boolean reset) {
            if ((state.getAndUpdate(s -> s | REPORTED) & REPORTED) == 0) {
                done.complete(new Result(fromConnection, fromTunnel, Duration.ofNanos(System.nanoTime() - start), reset));
            }
        }

        private static void closeQuietly(Socket s) {
            if (s == null) {
                return;
            }
            try {
                s.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }
}
