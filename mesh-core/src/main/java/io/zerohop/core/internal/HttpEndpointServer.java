package io.zerohop.core.internal;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.zerohop.core.HttpEndpoint;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;

/**
 * Netty HTTP/1.1 server for {@link HttpEndpoint}s: {@code HttpServerCodec} and a 64 KiB aggregator,
 * a 30 s read timeout, keep-alive as the client asks. Handlers run on {@code executor}, never on the
 * event loop (a Prometheus scrape or a config dump can take milliseconds).
 */
public final class HttpEndpointServer {
    private HttpEndpointServer() {}

    public static Channel bind(EventLoopGroup group, InetSocketAddress address, Map<String, HttpEndpoint.Handler> routes,
                               Executor executor) throws InterruptedException {
        Map<String, HttpEndpoint.Handler> r = Map.copyOf(routes);
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(Epoll.isAvailable() ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new ReadTimeoutHandler(30), new HttpServerCodec(),
                                new HttpObjectAggregator(64 * 1024), new Dispatch(r, executor));
                    }
                });
        var f = b.bind(address).sync();
        if (!f.isSuccess()) {
            throw new IllegalStateException("cannot bind " + address + ": " + f.cause());
        }
        return f.channel();
    }

    private static final class Dispatch extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final Map<String, HttpEndpoint.Handler> routes;
        private final Executor executor;

        Dispatch(Map<String, HttpEndpoint.Handler> routes, Executor executor) {
            this.routes = routes;
            this.executor = executor;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (!req.decoderResult().isSuccess()) {
                send(ctx, HttpEndpoint.Response.text(400, "bad request\n"), false);
                return;
            }
            QueryStringDecoder qs = new QueryStringDecoder(req.uri());
            Map<String, String> query = new HashMap<>();
            for (Map.Entry<String, List<String>> e : qs.parameters().entrySet()) {
                query.put(e.getKey(), e.getValue().isEmpty() ? "" : e.getValue().get(0));
            }
            HttpEndpoint.Request request = new HttpEndpoint.Request(req.method().name(), qs.path(), query);
            HttpEndpoint.Handler h = routes.get(qs.path());
            if (h == null) {
                send(ctx, HttpEndpoint.Response.text(404, "not found: " + qs.path() + "\n"), keepAlive);
                return;
            }
            executor.execute(() -> {
                HttpEndpoint.Response resp;
                try {
                    resp = h.handle(request);
                } catch (Exception | LinkageError e) {
                    resp = HttpEndpoint.Response.text(500, "error: " + e + "\n");
                }
                HttpEndpoint.Response out = resp;
                ctx.executor().execute(() -> send(ctx, out, keepAlive));
            });
        }

        private static void send(ChannelHandlerContext ctx, HttpEndpoint.Response r, boolean keepAlive) {
            ByteBuf body = Unpooled.copiedBuffer(r.body(), StandardCharsets.UTF_8);
            FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(r.status()), body);
            resp.headers().set(HttpHeaderNames.CONTENT_TYPE, r.contentType());
            resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
            if (keepAlive) {
                resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(resp);
            } else {
                ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
