package io.zerohop.identity.testing;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslHandler;
import java.util.function.Consumer;

/** What {@link Handshakes} and {@link Loopback} share: how a side's TLS goes on a channel, and how a failure is told. */
final class LoopbackTls {
    /** The handshake future already carries the failure; do not let it reach the pipeline tail as noise. */
    private static final ChannelHandler CLOSE_ON_ERROR = new CloseOnError();

    private LoopbackTls() {
    }

    @ChannelHandler.Sharable
    private static final class CloseOnError extends ChannelInboundHandlerAdapter {
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** Puts {@code ssl} on {@code ch}; {@code done} hears the handshake's failure, or {@code null} when it succeeded. */
    static void secure(SocketChannel ch, SslHandler ssl, Consumer<Throwable> done) {
        ch.pipeline().addLast(ssl, CLOSE_ON_ERROR);
        ssl.handshakeFuture().addListener(f -> done.accept(f.cause()));
    }

    /** Both sides' failures, causes included, server first, for asserting on the reason. */
    static String errors(Throwable server, Throwable client) {
        return describe(server) + " | " + describe(client);
    }

    private static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            sb.append(c).append("; ");
        }
        return sb.toString();
    }
}
