package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the two connections of an {@link H2Proxy} end together: the downstream connection ending
 * ends the upstream one at once (Envoy resets the upstream streams of a closed downstream
 * connection); the upstream connection ending (the application's GOAWAY and FIN, e.g. on shutdown)
 * drains the downstream one ({@link Drain}), so answers already received still reach a slow client.
 */
final class H2ConnectionEnds {
    /** H2Proxy's logger: these lines kept their category when this class was split out of it. */
    private static final Logger log = LoggerFactory.getLogger(H2Proxy.class);

    private H2ConnectionEnds() {}

    /**
     * The downstream connection's streams still open, so that the upstream connection's end closes
     * the downstream connection only once every answer already received has been written. Closing it
     * at once failed the DATA frames the HTTP/2 flow controller still held for a client whose window
     * was closed: Node's client read 32 of a 48 KiB answer as complete (H2ConnectionEndTest). Both
     * connections are on one event loop (HttpEnforcement connects the upstream on the downstream's).
     */
    static final class Drain {
        /** Netty's default graceful-shutdown bound: a client that never opens its window is not waited for longer. */
        static final long TIMEOUT_SECONDS = 30;

        private final Channel downstream;
        private int open;
        private boolean upstreamEnded;

        Drain(Channel downstream) {
            this.downstream = downstream;
        }

        /** A downstream stream began; it counts until its channel closes (its last frame written, or reset). */
        void begin(Channel stream) {
            open++;
            stream.closeFuture().addListener(f -> {
                if (--open == 0 && upstreamEnded) {
                    downstream.close();
                }
            });
        }

        void upstreamEnded() {
            if (upstreamEnded) {
                return;
            }
            upstreamEnded = true;
            if (open == 0) {
                downstream.close();
                return;
            }
            // No new streams (the codec names the last stream it accepted); the open ones finish first.
            downstream.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
            ScheduledFuture<?> bound = downstream.eventLoop().schedule(() -> downstream.close(), TIMEOUT_SECONDS, TimeUnit.SECONDS);
            downstream.closeFuture().addListener(f -> bound.cancel(false));
        }
    }

    /** One connection ending: {@code ended} runs once (the other connection ends or drains). */
    static final class ConnectionEnd extends ChannelInboundHandlerAdapter {
        private final Runnable ended;

        ConnectionEnd(Runnable ended) {
            this.ended = ended;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            ended.run();
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("h2 connection {} failed", ctx.channel(), cause);
            ctx.close();
        }
    }
}
