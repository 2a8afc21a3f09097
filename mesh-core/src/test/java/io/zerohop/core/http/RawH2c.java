package io.zerohop.core.http;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * h2c (prior knowledge) with Netty's frame codec, header validation off on both ends, for header blocks that Node's
 * client or server would not send or keep as they are: a client that sends one request on its own connection, and an
 * application that answers each request with what it received.
 */
final class RawH2c {
    private RawH2c() {}

    /**
     * Sends {@code headers} (END_STREAM) on a new connection to {@code to}: "STATUS BODY", "reset CODE" when the stream was
     * reset, "goaway CODE" when the connection ended with a GOAWAY first, "closed" when it ended without either.
     */
    static String send(InetSocketAddress to, Http2Headers headers) throws Exception {
        return send(to, headers, true, null);
    }

    /**
     * As {@link #send}, without END_STREAM (a request whose body never comes): the response as {@code send} says it, then
     * what ended the stream within {@code wait} after it ({@code " | reset CODE"}, or {@code " | open"}).
     */
    static String sendUnended(InetSocketAddress to, Http2Headers headers, java.time.Duration wait) throws Exception {
        return send(to, headers, false, wait);
    }

    /** As {@link #send} (END_STREAM), then what ended the stream within {@code wait} after the response, as {@link #sendUnended}. */
    static String sendAndWait(InetSocketAddress to, Http2Headers headers, java.time.Duration wait) throws Exception {
        return send(to, headers, true, wait);
    }

    private static String send(InetSocketAddress to, Http2Headers headers, boolean endStream, java.time.Duration wait) throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "raw-h2c");
        CompletableFuture<String> after = new CompletableFuture<>();
        try {
            CompletableFuture<String> result = new CompletableFuture<>();
            Channel conn = new Bootstrap().group(group).channel(Transports.socketChannel(group))
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().validateHeaders(false).build(),
                                    new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()), new ChannelInboundHandlerAdapter() {
                                        @Override
                                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                            if (msg instanceof Http2GoAwayFrame g) {
                                                result.complete("goaway " + io.netty.handler.codec.http2.Http2Error.valueOf(g.errorCode()));
                                            }
                                            ReferenceCountUtil.release(msg);
                                        }

                                        @Override
                                        public void channelInactive(ChannelHandlerContext ctx) {
                                            result.complete("closed");
                                        }
                                    });
                        }
                    }).connect(to).sync().channel();
            StringBuilder body = new StringBuilder();
            String[] status = {null};
            Http2StreamChannel stream = new Http2StreamChannelBootstrap(conn).handler(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    try {
                        if (msg instanceof Http2HeadersFrame h) {
                            if (h.headers().status() != null) {
                                status[0] = h.headers().status().toString();
                            }
                            if (h.isEndStream()) {
                                result.complete(status[0] + " " + body);
                            }
                        } else if (msg instanceof Http2DataFrame d) {
                            body.append(d.content().toString(StandardCharsets.UTF_8));
                            if (d.isEndStream()) {
                                result.complete(status[0] + " " + body);
                            }
                        } else if (msg instanceof Http2ResetFrame r) {
                            reset(r);
                        }
                    } finally {
                        ReferenceCountUtil.release(msg);
                    }
                }

                @Override
                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                    if (evt instanceof Http2ResetFrame r) {
                        reset(r);
                    }
                    ctx.fireUserEventTriggered(evt);
                }

                private void reset(Http2ResetFrame r) {
                    String code = "reset " + io.netty.handler.codec.http2.Http2Error.valueOf(r.errorCode());
                    if (!result.complete(code)) {
                        after.complete(code);
                    }
                }
            }).open().sync().getNow();
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, endStream)).sync();
            String r = result.get(20, TimeUnit.SECONDS);
            if (wait != null) {
                try {
                    r += " | " + after.get(wait.toMillis(), TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException open) {
                    r += " | open";
                }
            }
            conn.close().sync();
            return r;
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    /**
     * An h2c application on {@code at}: each request is answered 200 with its method and path on the first line, then
     * each of its other fields but {@code x-forwarded-client-cert} as {@code name=[value]}, one a line, by name.
     */
    static Channel echoApp(EventLoopGroup loop, InetSocketAddress at) throws InterruptedException {
        return new ServerBootstrap().group(loop).channel(Transports.serverChannel(loop)).childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().validateHeaders(false).build(),
                        new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel s) {
                                s.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                    private String answer;

                                    @Override
                                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                        boolean end = false;
                                        if (msg instanceof Http2HeadersFrame h && answer == null) {
                                            StringBuilder b = new StringBuilder().append(h.headers().method()).append(' ')
                                                    .append(h.headers().path()).append('\n');
                                            Map<String, String> fields = new TreeMap<>();
                                            for (Map.Entry<CharSequence, CharSequence> e : h.headers()) {
                                                String n = e.getKey().toString();
                                                // What the proxy sets on every request before the decision (XFCC; x-forwarded-proto and a random
                                                // x-request-id, L7ForwardedRequestIdTest) is left out.
                                                if (!n.startsWith(":") && !n.equals("x-forwarded-client-cert") && !n.equals("x-request-id")
                                                        && !n.equals("x-forwarded-proto")) {
                                                    fields.merge(n, e.getValue().toString(), (x, y) -> x + "," + y);
                                                }
                                            }
                                            fields.forEach((n, v) -> b.append(n).append("=[").append(v).append("]\n"));
                                            answer = b.toString();
                                            end = h.isEndStream();
                                        } else if (msg instanceof Http2DataFrame d) {
                                            end = d.isEndStream();
                                        }
                                        ReferenceCountUtil.release(msg);
                                        if (end) {
                                            ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
                                            ctx.writeAndFlush(new DefaultHttp2DataFrame(
                                                    Unpooled.wrappedBuffer(answer.getBytes(StandardCharsets.UTF_8)), true));
                                        }
                                    }
                                });
                            }
                        }));
            }
        }).bind(at).sync().channel();
    }
}
