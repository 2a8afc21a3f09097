package io.zerohop.hbone.interop;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.zerohop.hbone.HboneStream;
import java.io.IOException;
import java.security.MessageDigest;
import java.util.concurrent.CompletableFuture;

/**
 * Drives one client tunnel through its Netty stream channel (no thread per tunnel): writes
 * {@code payload}, then either half-closes and completes at the peer's END_STREAM, or (peers without
 * half-close) completes once {@code payload.length} bytes came back and closes the stream. Completes
 * with the SHA-256 of what came back; fails when the tunnel ends early or is reset.
 */
final class ChannelEcho {
    private ChannelEcho() {}

    static CompletableFuture<String> run(HboneStream stream, byte[] payload, boolean halfClose) {
        CompletableFuture<String> result = new CompletableFuture<>();
        Channel ch = stream.channel();
        MessageDigest got = Bytes.sha256();
        long[] received = {0};
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ByteBuf b = (ByteBuf) msg;
                try {
                    received[0] += b.readableBytes();
                    got.update(b.nioBuffer());
                } finally {
                    b.release();
                }
                if (received[0] > payload.length) {
                    result.completeExceptionally(new IOException("echo longer than sent: " + received[0] + " > " + payload.length));
                    ctx.close();
                } else if (!halfClose && received[0] == payload.length) {
                    result.complete(Bytes.hex(got));
                    stream.close();
                }
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof ChannelInputShutdownEvent) {
                    if (received[0] == payload.length) {
                        result.complete(Bytes.hex(got));
                    } else {
                        result.completeExceptionally(new IOException("END_STREAM after " + received[0] + " of " + payload.length + " bytes"));
                    }
                } else if (evt instanceof HboneStream.Reset r) {
                    result.completeExceptionally(new IOException("tunnel reset (" + r.errorCode() + ") after " + received[0] + " bytes"));
                }
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                result.completeExceptionally(new IOException("tunnel closed after " + received[0] + " of " + payload.length + " bytes"));
                ctx.fireChannelInactive();
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                result.completeExceptionally(cause);
                ctx.close();
            }
        });
        ch.writeAndFlush(Unpooled.wrappedBuffer(payload)).addListener(f -> {
            if (!f.isSuccess()) {
                result.completeExceptionally(f.cause());
            }
        });
        if (halfClose) {
            stream.shutdownOutput();
        }
        ch.config().setAutoRead(true);
        return result;
    }
}
