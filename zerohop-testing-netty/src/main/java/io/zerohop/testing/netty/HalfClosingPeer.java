package io.zerohop.testing.netty;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.Objects;
import java.util.function.Function;

/**
 * The far end of a test tunnel stream (or connection), last in its pipeline: echoes every message
 * it reads, each written and flushed at once, or drops it; when the peer ends its side
 * ({@link ChannelInputShutdownEvent}: an HTTP/2 END_STREAM, a TCP FIN) it ends its own, so a
 * tunnel closes without a reset, as the {@code echo} apps of ztunnel's and Istio's tests do. No
 * back-pressure (for bulk echo use {@link EchoServer}). Other events go on to the pipeline's tail,
 * which releases them. Stateless, so one instance may serve every stream.
 */
@ChannelHandler.Sharable
public final class HalfClosingPeer extends ChannelInboundHandlerAdapter {
    private final boolean echo;
    private final Function<Channel, ChannelFuture> endOutput;

    private HalfClosingPeer(boolean echo, Function<Channel, ChannelFuture> endOutput) {
        this.echo = echo;
        this.endOutput = Objects.requireNonNull(endOutput, "endOutput");
    }

    /**
     * Echoes what it reads.
     *
     * @param endOutput ends this side of the channel when the peer has ended its own (for an HBONE
     *     stream {@code HboneStream::shutdownOutput}); called once per end of input, on the event loop
     */
    public static HalfClosingPeer echo(Function<Channel, ChannelFuture> endOutput) {
        return new HalfClosingPeer(true, endOutput);
    }

    /** Drops what it reads (released at once); {@code endOutput} as for {@link #echo}. */
    public static HalfClosingPeer discard(Function<Channel, ChannelFuture> endOutput) {
        return new HalfClosingPeer(false, endOutput);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (echo) {
            ctx.writeAndFlush(msg);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            endOutput.apply(ctx.channel());
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }
}
