package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * An embedded application made of Netty handlers ({@code Mesh.serve} with a {@code StreamHandler} adding
 * {@link HttpServerCodec}) answers inside the write that hands it a request's end, on the stream's event loop. That is no
 * response before the request's end: Envoy's connection manager closes an HTTP/1 connection only when its codec has not
 * decoded the request's end when the response starts (conn_manager_impl.cc {@code encodeHeaders},
 * {@code !remoteDecodeComplete()}), and a request without a body ends at its head. Since the early-response rule of
 * 6 December, zerohop took every such answer as early: {@code connection: close}, and the connection closed after each
 * request.
 */
class EmbeddedNettyAppKeepAliveTest {
    /** The DENY on {@code /deny} of {@link L7EarlyResponseTest}; none of the requests here matches it. */
    static final String POLICY = L7EarlyResponseTest.POLICY;

    @Test
    void aNettyAppAnsweringAtOnceKeepsTheConnection() throws Exception {
        InetAddress bip = InetAddress.getByName("127.0.162.14");
        int port = 7072;
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(bip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.162.15")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(bip, 15008)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(bip, 0)).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            server.serve(new InetSocketAddress(bip, port), (stream, tunnel) -> stream.pipeline().addLast(new HttpServerCodec(),
                    new HttpObjectAggregator(1 << 20), new SimpleChannelInboundHandler<FullHttpRequest>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
                            byte[] body = (req.method() + " " + req.uri() + " " + req.content().readableBytes())
                                    .getBytes(StandardCharsets.ISO_8859_1);
                            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                                    Unpooled.wrappedBuffer(body));
                            r.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length);
                            ctx.writeAndFlush(r);
                        }

                        @Override
                        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                                ctx.close(); // the client's end: this application's too
                            }
                        }
                    }));
            registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
            try (Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build();
                 Socket c = client.socketFactory().createSocket(bip, port)) {
                c.setSoTimeout(10_000);
                InputStream in = c.getInputStream();
                for (String request : List.of("GET /one HTTP/1.1\r\nHost: backend\r\n\r\n",
                        "POST /two HTTP/1.1\r\nHost: backend\r\nContent-Length: 5\r\n\r\nhello",
                        "POST /three HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                        "GET /four HTTP/1.1\r\nHost: backend\r\n\r\n")) {
                    c.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
                    String head = L7EnforcementTest.readHead(in);
                    assertThat(head).as(request).startsWith("HTTP/1.1 200 ").doesNotContainIgnoringCase("connection: close");
                    int length = 0;
                    for (String h : head.split("\r\n")) {
                        if (h.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                            length = Integer.parseInt(h.substring(15).trim());
                        }
                    }
                    assertThat(new String(in.readNBytes(length), StandardCharsets.ISO_8859_1)).as(request)
                            .startsWith(request.substring(0, request.indexOf(" HTTP")));
                }
            }
        }
    }

    /**
     * The same application without an aggregator, answering a request as soon as its head arrives and reading its body
     * after: a POST whose body came in the same read as its head has ended before that answer, as Envoy's codec sees it
     * (it dispatches the whole of a read before any upstream event, codec_impl.cc {@code ConnectionImpl::dispatch}; its
     * connection manager's {@code encodeHeaders} then finds {@code remoteDecodeComplete()}), so the connection stays open.
     * Until 6 December zerohop took the answer, given inside the write of the head, as early: {@code connection: close},
     * the rest of the body dropped and the connection closed. A body that comes in a later read is still early (the
     * second request here), as at Envoy.
     */
    @Test
    void aNettyAppAnsweringAPostsHeadBeforeReadingItsBodyKeepsTheConnectionWhenTheBodyCameWithTheHead() throws Exception {
        InetAddress bip = InetAddress.getByName("127.0.179.14");
        int port = 53203;
        java.util.List<String> bodies = new java.util.concurrent.CopyOnWriteArrayList<>();
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(bip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.179.15")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(bip, 53204)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(bip, 53204)).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            server.serve(new InetSocketAddress(bip, port), (stream, tunnel) -> stream.pipeline().addLast(new HttpServerCodec(),
                    new SimpleChannelInboundHandler<io.netty.handler.codec.http.HttpObject>() {
                        private final StringBuilder body = new StringBuilder();

                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, io.netty.handler.codec.http.HttpObject msg) {
                            if (msg instanceof io.netty.handler.codec.http.HttpRequest req) {
                                byte[] b = (req.method() + " " + req.uri()).getBytes(StandardCharsets.ISO_8859_1);
                                FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                                        Unpooled.wrappedBuffer(b));
                                r.headers().set(HttpHeaderNames.CONTENT_LENGTH, b.length);
                                ctx.writeAndFlush(r);
                            }
                            if (msg instanceof io.netty.handler.codec.http.HttpContent c) {
                                body.append(c.content().toString(StandardCharsets.ISO_8859_1));
                                if (msg instanceof io.netty.handler.codec.http.LastHttpContent) {
                                    bodies.add(body.toString());
                                    body.setLength(0);
                                }
                            }
                        }

                        @Override
                        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                                ctx.close();
                            }
                        }
                    }));
            try (Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build();
                 Socket c = client.socketFactory().createSocket(bip, port)) {
                c.setSoTimeout(10_000);
                InputStream in = c.getInputStream();
                c.getOutputStream().write("POST /two HTTP/1.1\r\nHost: backend\r\nContent-Length: 5\r\n\r\nhello"
                        .getBytes(StandardCharsets.ISO_8859_1));
                String head = L7EnforcementTest.readHead(in);
                assertThat(head).startsWith("HTTP/1.1 200 ").doesNotContainIgnoringCase("connection: close");
                assertThat(new String(in.readNBytes(9), StandardCharsets.ISO_8859_1)).isEqualTo("POST /two");
                // Two pipelined in one read: the second is handed to the application after the first's response, its body
                // queued already.
                c.getOutputStream().write(("POST /2a HTTP/1.1\r\nHost: backend\r\nContent-Length: 2\r\n\r\nxy"
                        + "POST /2b HTTP/1.1\r\nHost: backend\r\nContent-Length: 2\r\n\r\nzw").getBytes(StandardCharsets.ISO_8859_1));
                for (String path : List.of("/2a", "/2b")) {
                    assertThat(L7EnforcementTest.readHead(in)).as(path).startsWith("HTTP/1.1 200 ").doesNotContainIgnoringCase("connection: close");
                    assertThat(new String(in.readNBytes(8), StandardCharsets.ISO_8859_1)).isEqualTo("POST " + path);
                }
                // The head alone: the answer comes before the body, which is early, as at Envoy.
                c.getOutputStream().write("POST /three HTTP/1.1\r\nHost: backend\r\nContent-Length: 3\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1));
                assertThat(L7EnforcementTest.readHead(in)).startsWith("HTTP/1.1 200 ").containsIgnoringCase("connection: close");
                assertThat(bodies).as("what the application read of the bodies").startsWith("hello", "xy", "zw");
            }
        }
    }
}
