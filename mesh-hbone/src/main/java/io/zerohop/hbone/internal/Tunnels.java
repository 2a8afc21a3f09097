package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.util.concurrent.TimeUnit;

/** Reset and graceful close of a tunnel channel, shared by the relay, both tunnel halves and sockets. */
public final class Tunnels {
    /** How long a closed tunnel waits for the peer's END_STREAM before resetting the stream. */
    static final long LINGER_SECONDS = 30;

    private Tunnels() {}

    /**
     * Aborts a tunnel: RST_STREAM(CONNECT_ERROR), RFC 9113 §8.5's code for a CONNECT tunnel whose TCP
     * side was reset or failed. Not CANCEL (what Netty sends when a stream channel is merely
     * closed): ztunnel, like {@link TunnelCodec}, reads NO_ERROR and CANCEL as a clean end of the
     * peer's data, so only an error code reaches the far application as a reset. Any thread.
     */
    public static void reset(Channel ch) {
        if (!ch.isActive()) {
            return;
        }
        ch.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR)).addListener(f -> ch.close());
    }

    /**
     * END_STREAM if not sent; if the peer has not finished, drop what it still sends until it does
     * (the stream then closes by itself), resetting after {@link #LINGER_SECONDS}. Event loop only.
     */
    public static void closeGracefully(Channel ch, TunnelCodec codec) {
        if (!ch.isActive()) {
            return;
        }
        if (!codec.outputEnded()) {
            HboneStream.shutdownOutput(ch);
        }
        if (codec.inputEnded()) {
            return;
        }
        if (!HbonePipeline.discardInput(ch)) {
            return;
        }
        ch.config().setAutoRead(true);
        ch.read();
        // Cancelled when the tunnel closes: left pending, the timer would hold the closed stream
        // channel (pipeline, handlers, tunnel info) for the whole linger time, so open/close churn
        // filled the old generation (issue 14, benchmarks/results/profile-open.md).
        io.netty.util.concurrent.Future<?> linger = ch.eventLoop().schedule(() -> reset(ch), LINGER_SECONDS, TimeUnit.SECONDS);
        ch.closeFuture().addListener(f -> linger.cancel(false));
    }

    @ChannelHandler.Sharable
    static final class Discard extends ChannelInboundHandlerAdapter {
        static final Discard INSTANCE = new Discard();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
