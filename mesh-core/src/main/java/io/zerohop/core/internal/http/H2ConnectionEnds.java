package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.util.concurrent.ScheduledFuture;
import io.zerohop.hbone.internal.TunnelCodec;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the two connections of an {@link H2Proxy} end together: the downstream connection ending
 * ends the application's at once (Envoy resets the upstream streams of a closed downstream
 * connection); the application's connection ending, failing or sending GOAWAY leaves the downstream
 * connection open, its next request going on a new connection ({@link H2AppConnection}); the mesh's
 * drain ends the downstream connection as Envoy's connection manager drains it ({@link Drain}).
 */
final class H2ConnectionEnds {
    /** H2Proxy's logger: these lines kept their category when this class was split out of it. */
    private static final Logger log = LoggerFactory.getLogger(H2Proxy.class);

    private H2ConnectionEnds() {}

    /**
     * The mesh's drain of the downstream connection, which ends it ({@link #end}) only once every stream's last frame has
     * been written: closing it at once failed the DATA frames the HTTP/2 flow controller still held for a client whose
     * window was closed (Node's client read 32 of a 48 KiB answer as complete, H2ConnectionEndTest, when the
     * application's end drained the connection, as it did until 6 December). Both connections are on one event loop
     * (HttpEnforcement connects the upstream on the downstream's).
     */
    static final class Drain {
        /** Netty's default graceful-shutdown bound: a client that never ends its side after our FIN is not waited for longer. */
        static final long TIMEOUT_SECONDS = 30;
        /**
         * Envoy's {@code drain_timeout} default for the HTTP connection manager (5 s; istiod leaves it): the time between
         * the drain's shutdown notice (GOAWAY naming stream 2^31-1) and its final GOAWAY.
         */
        static final long DRAIN_TIMEOUT_MILLIS = 5_000;

        /**
         * A connection's times: {@code idleMillis} without a stream before its drain begins ({@link #idleTimedOut}; 0:
         * never), {@code drainTimeoutMillis} from the drain's notice to its final GOAWAY ({@link #DRAIN_TIMEOUT_MILLIS},
         * Envoy's {@code drain_timeout}: http_connection_manager.proto, "The time that Envoy will wait between sending an
         * HTTP/2 shutdown notification ... and a final GOAWAY frame", 5000 ms by default), {@code closeBoundMillis} from
         * our end until the connection is closed when the client never ends its side ({@link #TIMEOUT_SECONDS}). Tests
         * shorten the last two ({@code HttpEnforcement#h2DrainTimes}); a mesh keeps the defaults.
         */
        record Times(long idleMillis, long drainTimeoutMillis, long closeBoundMillis) {}

        private final Channel downstream;
        private int open;
        /** The mesh's drain began on this connection. */
        private boolean draining;
        /** The mesh's drain sent its shutdown notice and not yet its final GOAWAY: the connection takes streams still. */
        private boolean noticeOnly;

        /** How long the connection may be without a stream before its drain begins ({@link #idleTimedOut}); 0: never. */
        private final long idleMillis;
        /** From the drain's notice to its final GOAWAY ({@link #DRAIN_TIMEOUT_MILLIS} unless a test shortens it). */
        private final long drainTimeoutMillis;
        /** From our end until the close of a client that never ends its side ({@link #TIMEOUT_SECONDS} unless a test shortens it). */
        private final long closeBoundMillis;
        /** Runs {@link #idleTimedOut}; null while a stream is open. */
        private ScheduledFuture<?> idle;

        Drain(Channel downstream, Times times) {
            this.downstream = downstream;
            this.idleMillis = times.idleMillis();
            this.drainTimeoutMillis = times.drainTimeoutMillis();
            this.closeBoundMillis = times.closeBoundMillis();
            // Envoy's idle timer starts with the connection (conn_manager_impl.cc initializeReadFilterCallbacks), so a
            // connection that never opens a stream ends too.
            downstream.closeFuture().addListener(f -> cancelIdle());
            if (downstream.eventLoop().inEventLoop()) {
                armIdle();
            } else {
                downstream.eventLoop().execute(this::armIdle);
            }
        }

        /** A downstream stream began; it counts until its channel closes (its last frame written, or reset). */
        void begin(Channel stream) {
            open++;
            cancelIdle();
            stream.closeFuture().addListener(f -> {
                if (--open == 0) {
                    if (!draining) {
                        armIdle();
                    } else if (!noticeOnly) {
                        endBounded();
                    }
                }
            });
        }

        /**
         * Starts the connection's idle time when no stream is open: Envoy's connection manager enables its
         * {@code connection_idle_timer_} when its last stream is destroyed ({@code conn_manager_impl.cc}
         * {@code doDeferredStreamDestroy}) and disables it when a stream begins ({@code newStream}). Event loop only.
         */
        private void armIdle() {
            if (idle != null || idleMillis <= 0 || open > 0 || draining || !downstream.isActive()) {
                return;
            }
            idle = downstream.eventLoop().schedule(this::idleTimedOut, idleMillis, TimeUnit.MILLISECONDS);
        }

        private void cancelIdle() {
            if (idle != null) {
                idle.cancel(false);
                idle = null;
            }
        }

        /**
         * No stream for {@link #idleMillis}: the drain sequence begins, as Envoy's connection manager begins it on an
         * HTTP/2 connection at its {@code idle_timeout} ({@code conn_manager_impl.cc} {@code onIdleTimeout} calls
         * {@code startDrainSequence}: the shutdown notice, the final GOAWAY {@code drain_timeout} later, then the close;
         * docs faq/configuration/timeouts.rst: "For HTTP/2 downstream connections, when idle timeout is reached, a
         * drain sequence begins immediately"). The duration is {@code HttpEnforcement.CONNECTION_IDLE_TIMEOUT_MILLIS}.
         * Until 7 December a client's channel without streams (a gRPC channel left open) stayed for as long as its client
         * kept it, with its application connections. Event loop only.
         */
        private void idleTimedOut() {
            idle = null;
            if (open > 0 || draining || !downstream.isActive()) {
                return;
            }
            log.debug("HTTP/2 connection {} idle for {} ms: draining", downstream, idleMillis);
            meshDraining();
        }

        /**
         * The mesh began to drain: as Envoy's connection manager drains an HTTP/2 connection of a draining listener
         * (conn_manager_impl.cc {@code startDrainSequence}: GOAWAY, so no new stream; the connection closed once its
         * streams are done, {@code checkForDeferredClose}; docs/root/intro/arch_overview/operations/draining.rst),  as
         * Envoy does: a shutdown notice now (GOAWAY naming stream 2^31-1: the client opens no new stream once it has read
         * it, and one already on its way is taken), the final GOAWAY naming the last stream accepted after
         * {@link #DRAIN_TIMEOUT_MILLIS}, and the connection's end once its streams are done (an idle one at that final
         * GOAWAY). Event loop only.
         */
        void meshDraining() {
            if (draining || !downstream.isActive()) {
                return;
            }
            draining = true;
            // Envoy's two GOAWAYs (conn_manager_impl.cc startDrainSequence: codec shutdownNotice, then onDrainTimeout:
            // goAway): a stream the client sends before it has read the notice is still taken, where one final GOAWAY at
            // once refused it unprocessed (a new-user pass: a request sent into a tunnel as the drain began got no
            // answer). Until 6 December zerohop sent only the final one, at once.
            noticeOnly = true;
            downstream.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR).setExtraStreamIds(Integer.MAX_VALUE));
            ScheduledFuture<?> last = downstream.eventLoop().schedule(this::finalGoAway, drainTimeoutMillis, TimeUnit.MILLISECONDS);
            downstream.closeFuture().addListener(f -> last.cancel(false));
        }

        /** The drain's final GOAWAY, {@link #drainTimeoutMillis} after its notice: the connection ends once its streams are done. */
        private void finalGoAway() {
            if (!noticeOnly || !downstream.isActive()) {
                return;
            }
            noticeOnly = false;
            goAway();
        }

        /**
         * The final GOAWAY, also when no stream is open (the connection ends right after it), as RFC 9113 section 6.8 asks
         * ("Endpoints SHOULD always send a GOAWAY frame before closing a connection"). Its open streams are bounded by the
         * drain's own deadline alone, as Envoy closes a draining connection once its streams are done
         * (conn_manager_impl.cc {@code checkForDeferredClose}); until 6 December a 30 s bound closed a connection under a
         * stream still answering 30 s into a longer drain (L7Http2DrainTest).
         */
        private void goAway() {
            // No new streams (the codec names the last stream it accepted); the open ones finish first.
            downstream.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
            if (open == 0) {
                endBounded();
            }
        }

        /** {@link #end}, bounded: a client that never ends its side after our FIN or END_STREAM is closed. */
        private void endBounded() {
            bound();
            end(downstream);
        }

        private void bound() {
            ScheduledFuture<?> bound = downstream.eventLoop().schedule(() -> downstream.close(), closeBoundMillis, TimeUnit.MILLISECONDS);
            downstream.closeFuture().addListener(f -> bound.cancel(false));
        }
    }

    /**
     * Ends the downstream connection once nothing is left to send on it: a TCP connection gets a FIN after what was
     * written and is closed once the client's FIN comes ({@link ConnectionEnd}; {@link Drain}'s bound closes it if that
     * never comes), as Envoy's connection manager closes a connection with {@code FlushWriteAndDelay}
     * (conn_manager_impl.cc {@code checkForDeferredClose}) and waits for the peer to close first
     * (http_connection_manager.proto {@code delayed_close_timeout}: "a grace period ... during which Envoy will wait for
     * the peer to close"). Closed at once, what the client still sent (its GOAWAY on the one it received, a WINDOW_UPDATE
     * for the last DATA) arrived after the close and drew a TCP reset: Node's client saw ECONNRESET after its answer
     * when the mesh drained (L7Http2DrainTest; until 6 December only an idle connection's drain half-closed). Also the
     * application's connection's end when the application's FIN comes ({@link ConnectionEnd}). A connection whose client already ended its side is closed at once. A tunnel
     * gets END_STREAM and completes when the client's side ends too, as ztunnel's copy_bidirectional (src/copy.rs)
     * shuts the HBONE stream's write half once its upstream ended (src/proxy/h2.rs {@code poll_shutdown}: DATA with
     * END_STREAM). Closing a tunnel's channel instead sends RST_STREAM, which the server logged as {@code end=reset}.
     * The END_STREAM is written from the h2 codec's context, straight to the tunnel's codec: from the pipeline's tail
     * the h2 codec took it for a frame of its own connection, with no stream, and failed it, so the tunnel stayed
     * half-open and the client waited for its end for ever.
     */
    static void end(Channel downstream) {
        TunnelCodec tunnel = downstream.pipeline().get(TunnelCodec.class);
        ChannelHandlerContext h2 = downstream.pipeline().context(Http2FrameCodec.class);
        if (tunnel == null && downstream instanceof io.netty.channel.socket.DuplexChannel d && d.isActive()
                && !d.isInputShutdown() && !d.isOutputShutdown()) {
            io.zerohop.hbone.internal.Relay.tcp(d).shutdownOutput();
            return;
        }
        if (tunnel == null || tunnel.outputEnded() || h2 == null) {
            downstream.close();
            return;
        }
        h2.writeAndFlush(new DefaultHttp2DataFrame(true)).addListener(f -> {
            if (!f.isSuccess()) {
                downstream.close();
            }
        });
    }

    /**
     * One connection ending: {@code ended} runs once (the other connection ends or drains), told whether it was reset:
     * closed without the peer's FIN first (a read or write that failed on the peer's RST, an h2 connection error).
     */
    static final class ConnectionEnd extends ChannelInboundHandlerAdapter {
        /**
         * Why a connection failed, in Envoy's words for the reset reason of the requests it ends ({@code protocol error}
         * for an HTTP/2 connection error, {@code connection termination} for a reset or a close without the peer's
         * FIN): set before its streams learn that it closed (their channels go inactive later, from the event loop).
         */
        private static final io.netty.util.AttributeKey<String> FAILURE = io.netty.util.AttributeKey.valueOf("zerohop.h2.failure");


        private final Consumer<Boolean> ended;
        private boolean reset;
        /** The peer's FIN came first (the connections allow half-closure): an end; closed without it, an abort. */
        private boolean inputEnded;

        ConnectionEnd(Consumer<Boolean> ended) {
            this.ended = ended;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                inputEnded = true;
                // The peer ended its side (a FIN; on the downstream tunnel, the client's END_STREAM).
                end(ctx.channel());
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // A reset can also close the channel with no exception (a write that fails on it closes it at once).
            boolean failed = reset || !inputEnded;
            if (failed) {
                ctx.channel().attr(FAILURE).setIfAbsent("connection termination");
            }
            ended.accept(failed);
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("h2 connection {} failed", ctx.channel(), cause);
            // A read that fails (the peer's RST) or an h2 connection error (Http2FrameCodec passes it on before its
            // GOAWAY): an abort, not an end.
            reset = true;
            ctx.channel().attr(FAILURE).setIfAbsent(
                    cause instanceof io.netty.handler.codec.http2.Http2Exception ? "protocol error" : "connection termination");
            ctx.close();
        }

        /** Why {@code connection} failed (see {@link #FAILURE}), or null while it is open or after a clean end. */
        static String failure(Channel connection) {
            return connection == null ? null : connection.attr(FAILURE).get();
        }
    }
}
