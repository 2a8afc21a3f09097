package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObject;
import io.zerohop.hbone.internal.Relay;

/**
 * A TCP connection to the workload, on the downstream channel's event loop, speaking HTTP/1.1
 * through Netty's client codec (which pairs each response with its request's method, so HEAD and
 * 1xx responses frame correctly). One per downstream connection, as a waypoint's upstream pool
 * of size one for a serialised HTTP/1 downstream.
 */
final class TcpUpstream implements Upstream {
    private final Http1Filter filter;
    private final Channel ch;
    /** The relay's view of the connection: its FIN follows the writes queued before it. */
    private final Relay.End tcp;

    TcpUpstream(Http1Filter filter, Channel connected) {
        this.filter = filter;
        this.ch = connected;
        this.tcp = connected instanceof DuplexChannel d ? Relay.tcp(d) : null;
        ch.pipeline().addLast("zerohop-http-client", new HttpClientCodec(Http1Decoder.MAX_INITIAL_LINE,
                Http1Decoder.MAX_HEADER_SIZE, 64 * 1024));
        ch.pipeline().addLast("zerohop-http-upstream", new Reader());
        ch.config().setAutoRead(true);
    }

    @Override
    public void write(HttpObject msg) {
        ch.write(msg, ch.voidPromise());
    }

    @Override
    public void writeRaw(ByteBuf bytes) {
        ch.write(bytes, ch.voidPromise());
    }

    @Override
    public void flush() {
        ch.flush();
    }

    @Override
    public boolean isWritable() {
        return ch.isWritable();
    }

    @Override
    public void readResponses(boolean on) {
        ch.config().setAutoRead(on);
    }

    @Override
    public void shutdownOutput() {
        if (tcp != null && ch.isActive()) {
            // Not ch.shutdownOutput() at once: it fails the request bytes the application has not taken yet.
            tcp.shutdownOutput();
        }
    }

    @Override
    public void upgraded() {
        // Bytes the codec still holds after the 101 come out raw when it is removed.
        if (ch.pipeline().get(HttpClientCodec.class) != null) {
            ch.pipeline().remove(HttpClientCodec.class);
        }
    }

    @Override
    public void close() {
        ch.close();
    }

    @Override
    public void reset() {
        HttpEnforcement.reset(ch); // SO_LINGER 0, then close
    }

    private final class Reader extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            filter.onResponse(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            filter.flushDownstream();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                filter.upstreamWritable();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                filter.onUpstreamEnd(true);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            filter.onUpstreamEnd(true);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            filter.onUpstreamEnd(false);
            ctx.close();
        }
    }
}
