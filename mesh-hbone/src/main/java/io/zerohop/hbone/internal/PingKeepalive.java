package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * HTTP/2 keepalive for one connection, either side: a PING every {@code interval}, the connection
 * closed when one stays unanswered for {@code timeout}. ztunnel runs the same loop on both its
 * client and its server connections ({@code do_ping_pong} in src/proxy/h2.rs, 10 s interval, 20 s
 * timeout, first PING one interval after setup). Sits after the HTTP/2 codec (and multiplexer),
 * consumes PING acks and passes everything else on. Event loop only.
 */
final class PingKeepalive extends ChannelInboundHandlerAdapter {
    /**
     * The payload of the PING a graceful GOAWAY sends ({@code ServerConnection#goAway}): its ack is
     * passed on to the connection's tail, not taken as a keepalive answer. "ZHGOAWAY".
     */
    static final long SHUTDOWN_PING = 0x5a48_474f_4157_4159L;

    private final Duration interval;
    private final Duration timeout;
    private final Runnable onTimeout;
    private long pingSentAt;
    private ScheduledFuture<?> task;

    PingKeepalive(Duration interval, Duration timeout, Runnable onTimeout) {
        this.interval = interval;
        this.timeout = timeout;
        this.onTimeout = onTimeout;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        Channel ch = ctx.channel();
        long every = interval.toNanos();
        task = ch.eventLoop().scheduleAtFixedRate(() -> {
            long now = System.nanoTime();
            if (pingSentAt != 0) {
                if (now - pingSentAt >= timeout.toNanos()) {
                    onTimeout.run();
                    ch.close();
                }
                return;
            }
            pingSentAt = now;
            ch.writeAndFlush(new DefaultHttp2PingFrame(now));
        }, every, Math.min(every, timeout.toNanos()), TimeUnit.NANOSECONDS);
        ch.closeFuture().addListener(f -> task.cancel(false));
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (task != null) {
            task.cancel(false);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2PingFrame ping && ping.ack() && ping.content() != SHUTDOWN_PING) {
            pingSentAt = 0;
            ReferenceCountUtil.release(msg);
            return;
        }
        ctx.fireChannelRead(msg);
    }
}
