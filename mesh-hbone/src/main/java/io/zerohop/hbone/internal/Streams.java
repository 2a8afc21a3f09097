package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.util.concurrent.TimeUnit;

/** Graceful close of a tunnel stream channel, shared by streams and sockets. */
public final class Streams {
    /** How long a closed tunnel waits for the peer's END_STREAM before resetting the stream. */
    static final long LINGER_SECONDS = 30;

    private Streams() {}

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
        if (ch.pipeline().get("hbone-discard") == null) {
            ch.pipeline().addAfter("hbone", "hbone-discard", new Discard());
        }
        ch.config().setAutoRead(true);
        ch.read();
        ch.eventLoop().schedule(() -> {
            if (ch.isActive()) {
                ch.close();
            }
        }, LINGER_SECONDS, TimeUnit.SECONDS);
    }

    @ChannelHandler.Sharable
    static final class Discard extends ChannelInboundHandlerAdapter {
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
