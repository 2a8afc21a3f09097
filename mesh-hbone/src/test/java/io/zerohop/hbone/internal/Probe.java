package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.zerohop.hbone.HboneStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Last handler of an EmbeddedChannel under test: records what reached it, as text, and releases it. */
final class Probe extends ChannelInboundHandlerAdapter {
    final List<String> seen = new ArrayList<>();
    int readCompletes;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf b) {
            seen.add(b.toString(StandardCharsets.US_ASCII));
            b.release();
        } else {
            seen.add("msg:" + msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        readCompletes++;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            seen.add("EOF");
        } else if (evt instanceof HboneStream.Reset r) {
            seen.add("RST " + r.errorCode());
        } else {
            seen.add("event:" + evt.getClass().getSimpleName());
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        seen.add("error:" + cause.getMessage());
    }

    static ByteBuf ascii(String s) {
        return io.netty.buffer.Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
    }
}
