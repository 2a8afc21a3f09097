package io.zerohop.hbone;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** A bare HTTP/2-over-mTLS client that sends arbitrary request headers (what HboneClient refuses to do). */
final class RawH2 implements AutoCloseable {
    private final EventLoopGroup group = Transports.newGroup(1, "raw-h2");
    private final Channel parent;

    RawH2(MeshTls tls, SpiffeId self, Set<SpiffeId> expected, InetSocketAddress server) throws Exception {
        SslContext ctx = tls.client(self, expected).get();
        SslHandler[] ssl = new SslHandler[1];
        parent = new Bootstrap().group(group).channel(Transports.socketChannel(group))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ssl[0] = ctx.newHandler(ch.alloc());
                        ch.pipeline().addLast(ssl[0], Http2FrameCodecBuilder.forClient().build(),
                                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                    }
                }).connect(server).sync().channel();
        ssl[0].handshakeFuture().sync();
    }

    /** Status of the response, or "RST:<code>" when the stream was reset without one. */
    CompletableFuture<String> request(Http2Headers headers) throws Exception {
        CompletableFuture<String> result = new CompletableFuture<>();
        Http2StreamChannel ch = new Http2StreamChannelBootstrap(parent).handler(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof Http2HeadersFrame h) {
                    result.complete(h.headers().status().toString());
                } else if (msg instanceof Http2ResetFrame r) {
                    result.complete("RST:" + r.errorCode());
                }
                ReferenceCountUtil.release(msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                result.complete("closed");
            }
        }).open().sync().getNow();
        ch.writeAndFlush(new DefaultHttp2HeadersFrame(headers, false));
        return result.orTimeout(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        parent.close().syncUninterruptibly();
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
}
