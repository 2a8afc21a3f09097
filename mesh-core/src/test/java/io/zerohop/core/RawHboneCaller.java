package io.zerohop.core;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The inbound CONNECT tests' caller: one mutual-TLS HTTP/2 connection to a mesh's HBONE listener, written with Netty's
 * own codec rather than zerohop's client so that any {@code :authority} can be sent (InboundServiceHostnameTest,
 * InboundHostnameAttackTest, InboundAuthorityBreakTest each held a copy of it until 7 December).
 */
final class RawHboneCaller implements AutoCloseable {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel parent;

    /** Connects from {@code local} (port 0) to {@code server} and completes the TLS handshake. */
    RawHboneCaller(SslContext ctx, InetAddress local, InetSocketAddress server) throws InterruptedException {
        SslHandler[] ssl = new SslHandler[1];
        parent = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ssl[0] = ctx.newHandler(ch.alloc());
                        ch.pipeline().addLast(ssl[0], Http2FrameCodecBuilder.forClient().build(),
                                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                    }
                }).localAddress(local, 0).connect(server).sync().channel();
        ssl[0].handshakeFuture().sync();
    }

    /** The status of a CONNECT to {@code authority}, or "RST:code" / "closed", whichever comes first. */
    String connect(String authority) throws Exception {
        CompletableFuture<String> result = new CompletableFuture<>();
        return send(authority, result, new ChannelInboundHandlerAdapter() {
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
        });
    }

    /**
     * The statuses of a CONNECT to {@code authority} and how its stream ended: {@code "503 RST:0"}, {@code "400 closed"};
     * with {@code doneAt200}, a 200 answers {@code "200"} at once.
     */
    String statusAndEnd(String authority, boolean doneAt200) throws Exception {
        CompletableFuture<String> result = new CompletableFuture<>();
        StringBuilder got = new StringBuilder();
        return send(authority, result, new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof Http2HeadersFrame h) {
                    String status = h.headers().status().toString();
                    if (doneAt200 && status.equals("200")) {
                        result.complete(status);
                    } else {
                        got.append(status).append(' ');
                    }
                }
                ReferenceCountUtil.release(msg);
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                // Http2MultiplexHandler hands a stream's RST_STREAM to its channel as an event, not a read.
                if (evt instanceof Http2ResetFrame r) {
                    result.complete(got + "RST:" + r.errorCode());
                }
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                result.complete(got + "closed");
            }
        });
    }

    private String send(String authority, CompletableFuture<String> result, ChannelInboundHandlerAdapter handler) throws Exception {
        Http2StreamChannel ch = new Http2StreamChannelBootstrap(parent).handler(handler).open().sync().getNow();
        ch.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority(authority), false));
        try {
            return result.get(10, TimeUnit.SECONDS);
        } finally {
            ch.close();
        }
    }

    @Override
    public void close() throws InterruptedException {
        parent.close().sync();
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
    }

    /** Loopback applications that accept, count and close each connection (the dialled workloads' listeners). */
    static final class Apps implements AutoCloseable {
        private final List<ServerSocket> sockets = new CopyOnWriteArrayList<>();

        /** Listens on {@code ip:port} (0: any), counting accepts in {@code accepted}. */
        ServerSocket listen(InetAddress ip, int port, AtomicInteger accepted) throws IOException {
            ServerSocket s = new ServerSocket(port, 50, ip);
            sockets.add(s);
            Thread t = new Thread(() -> {
                while (!s.isClosed()) {
                    try {
                        Socket c = s.accept();
                        accepted.incrementAndGet();
                        c.close();
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
            return s;
        }

        @Override
        public void close() throws IOException {
            for (ServerSocket s : sockets) {
                s.close();
            }
        }
    }
}
