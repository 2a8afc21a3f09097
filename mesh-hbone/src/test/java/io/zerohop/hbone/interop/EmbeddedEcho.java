package io.zerohop.hbone.interop;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.hbone.TunnelInfo;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Embedded-mode echo on the tunnel stream channel itself: each DATA payload is written back, with
 * back-pressure (reading stops while the stream is not writable), and the peer's END_STREAM is
 * answered with END_STREAM after everything was echoed. Records every tunnel it got. Public for the
 * data-path tests of {@code io.zerohop.hbone}.
 */
public final class EmbeddedEcho implements StreamHandler {
    final Queue<TunnelInfo> tunnels = new ConcurrentLinkedQueue<>();

    @Override
    public void initStream(Channel stream, TunnelInfo tunnel) {
        tunnels.add(tunnel);
        stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ctx.write(msg).addListener(f -> {
                    if (!f.isSuccess()) {
                        ctx.close();
                    }
                });
                if (!ctx.channel().isWritable()) {
                    ctx.flush();
                    ctx.channel().config().setAutoRead(false);
                }
            }

            @Override
            public void channelReadComplete(ChannelHandlerContext ctx) {
                ctx.flush();
            }

            @Override
            public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                if (ctx.channel().isWritable()) {
                    ctx.channel().config().setAutoRead(true);
                }
                ctx.fireChannelWritabilityChanged();
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof ChannelInputShutdownEvent) {
                    ctx.flush();
                    HboneStream.shutdownOutput(ctx.channel());
                } else if (evt instanceof HboneStream.Reset) {
                    ctx.close();
                } else {
                    ReferenceCountUtil.release(evt);
                }
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
            }
        });
    }
}
