package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * ztunnel's {@code ENABLE_RESPONSE_BAGGAGE} ({@code enable_enhanced_baggage}, istio/ztunnel src/config.rs, default true) as
 * {@link Mesh.Builder#responseBaggage(boolean)}, in both states, over real mTLS: a frame-level HTTP/2 client with an SVID of
 * no registry workload sends a CONNECT carrying a {@code baggage} header to a Mesh serving one workload. On, the 200 carries
 * the workload's baggage ({@code test_build_response_baggage_feature_gate}) and the destination's metrics label the source
 * from the CONNECT's baggage ({@code test_incoming_baggage_parsing_feature_gate}); off, neither (src/proxy/inbound.rs
 * {@code build_response}, {@code build_inbound_request}). Until 7 December zerohop had no switch: the off state could not be
 * had (its {@code zerohop proxy} warned {@code ENABLE_RESPONSE_BAGGAGE=false} unsupported).
 */
@Timeout(60)
class ResponseBaggageSwitchTest {
    static final String TD = "cluster.local";
    static final String CLAIMED = "k8s.cluster.name=c1,k8s.namespace.name=ns1,k8s.deployment.name=w1,service.name=s1,"
            + "service.version=v1";

    @Test
    void onByDefaultThe200CarriesTheWorkloadsBaggageAndTheConnectsLabelsItsSource() throws Exception {
        Seen on = connect(null, "127.0.216.10", 55700, 55701);
        assertThat(on.response.get("baggage")).as("the 200's baggage").isNotNull();
        assertThat(on.response.get("baggage").toString()).startsWith("k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,")
                .contains(",service.name=backend,").endsWith(",service.version=v1");
        assertThat(on.opened.getId().getTag("source_workload")).isEqualTo("w1");
        assertThat(on.opened.getId().getTag("source_workload_namespace")).isEqualTo("ns1");
        assertThat(on.opened.getId().getTag("source_cluster")).isEqualTo("c1");
        // The explicit setting is the default.
        Seen explicit = connect(true, "127.0.216.12", 55702, 55703);
        assertThat(explicit.response.get("baggage")).isNotNull();
        assertThat(explicit.opened.getId().getTag("source_workload")).isEqualTo("w1");
    }

    @Test
    void offThe200IsTheStatusAloneAndTheSourceIsItsIdentityOnly() throws Exception {
        Seen off = connect(false, "127.0.216.14", 55704, 55705);
        assertThat(off.response.status()).hasToString("200");
        assertThat(off.response.contains("baggage")).as("no baggage on the 200").isFalse();
        assertThat(off.response.names()).hasSize(1);
        assertThat(off.opened.getId().getTag("source_principal")).isEqualTo("spiffe://cluster.local/ns/other/sa/client");
        assertThat(off.opened.getId().getTag("source_workload")).isEqualTo("unknown");
        assertThat(off.opened.getId().getTag("source_workload_namespace")).isEqualTo("unknown");
        assertThat(off.opened.getId().getTag("source_cluster")).isEqualTo("unknown");
    }

    record Seen(Http2Headers response, Counter opened) {}

    /** A path rule for backend: its HTTP port is parsed and each request decided (and counted in istio_requests_total). */
    static final String PATH_RULE = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: paths, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/*"]}}]
            """;

    /**
     * The requests of a tunnel decided per request are labelled as the tunnel (HttpEnforcement): from the CONNECT's baggage
     * when the switch is on, from the SPIFFE ID when off (its service account and namespace, HttpMeters' reading of a peer
     * with no workload and no baggage).
     */
    @Test
    void theRequestMetricsOfAPerRequestTunnelFollowTheSwitch() throws Exception {
        Seen on = connect(null, "127.0.216.16", 55706, 55707, true);
        assertThat(on.opened.getId().getTag("source_workload")).isEqualTo("w1");
        assertThat(on.opened.getId().getTag("source_workload_namespace")).isEqualTo("ns1");
        Seen off = connect(false, "127.0.216.18", 55708, 55709, true);
        assertThat(off.response.contains("baggage")).isFalse();
        assertThat(off.opened.getId().getTag("source_workload")).isEqualTo("client");
        assertThat(off.opened.getId().getTag("source_workload_namespace")).isEqualTo("other");
        assertThat(off.opened.getId().getTag("source_cluster")).isNotEqualTo("c1");
    }

    /**
     * One CONNECT with {@link #CLAIMED} from {@code ip}+1 to a Mesh on {@code ip}:{@code meshPort} whose workload's app
     * listens on {@code appPort}; {@code responseBaggage} null leaves the builder's default.
     */
    private static Seen connect(Boolean responseBaggage, String ip, int meshPort, int appPort) throws Exception {
        return connect(responseBaggage, ip, meshPort, appPort, false);
    }

    /**
     * {@code http}: the workload's port is {@code http} and an AuthorizationPolicy with a path rule has each request decided
     * (mesh-core's per-request path); one {@code GET /x} is sent in the tunnel and {@link Seen#opened} is then the
     * destination's {@code istio_requests_total} series of it.
     */
    private static Seen connect(Boolean responseBaggage, String ip, int meshPort, int appPort, boolean http) throws Exception {
        InetAddress addr = InetAddress.getByName(ip);
        InetAddress clientAddr = InetAddress.getByName(ip.substring(0, ip.lastIndexOf('.') + 1)
                + (Integer.parseInt(ip.substring(ip.lastIndexOf('.') + 1)) + 1));
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend", "version", "v1"), List.of(addr),
                Workload.Protocol.HBONE, null, TD, http ? Map.of(appPort, AppProtocol.HTTP) : Map.of());
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try (InMemoryCa ca = InMemoryCa.create(TD); ServerSocket app = new ServerSocket(appPort, 50, addr)) {
            Thread accept = new Thread(() -> {
                try (Socket s = app.accept()) {
                    if (http) {
                        java.io.InputStream in = s.getInputStream();
                        StringBuilder head = new StringBuilder();
                        while (!head.toString().endsWith("\r\n\r\n")) {
                            int b = in.read();
                            if (b < 0) {
                                return;
                            }
                            head.append((char) b);
                        }
                        s.getOutputStream().write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    }
                    s.getInputStream().readAllBytes();
                } catch (Exception ignored) {
                    // the CONNECT's side asserts
                }
            });
            accept.setDaemon(true);
            accept.start();
            Mesh.Builder b = Mesh.builder().identityProvider(ca).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).meterRegistry(meters)
                    .inbound(new InetSocketAddress(addr, meshPort)).threads(1);
            if (responseBaggage != null) {
                b.responseBaggage(responseBaggage);
            }
            if (http) {
                b.policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", PATH_RULE)).build());
            }
            try (Mesh server = b.build(); MeshTls tls = MeshTls.builder(ca).build()) {
                server.start().get(10, TimeUnit.SECONDS);
                SpiffeId client = SpiffeId.parse("spiffe://cluster.local/ns/other/sa/client");
                SslContext ctx = tls.client(client, Set.of(backend.identity())).get(10, TimeUnit.SECONDS);
                SslHandler[] ssl = new SslHandler[1];
                Channel parent = new Bootstrap().group(group).channel(NioSocketChannel.class)
                        .handler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                ssl[0] = ctx.newHandler(ch.alloc());
                                ch.pipeline().addLast(ssl[0], Http2FrameCodecBuilder.forClient().build(),
                                        new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                            }
                        }).localAddress(clientAddr, 0).connect(server.inboundAddress()).sync().channel();
                try {
                    ssl[0].handshakeFuture().sync();
                    CompletableFuture<Http2Headers> response = new CompletableFuture<>();
                    Http2StreamChannel stream = new Http2StreamChannelBootstrap(parent).handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext c, Object msg) {
                            if (msg instanceof Http2HeadersFrame h) {
                                response.complete(h.headers());
                            }
                            ReferenceCountUtil.release(msg);
                        }

                        @Override
                        public void channelInactive(ChannelHandlerContext c) {
                            response.completeExceptionally(new IllegalStateException("stream closed before its response"));
                        }
                    }).open().sync().getNow();
                    stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT")
                            .authority(ip + ":" + appPort).add("baggage", CLAIMED), false));
                    Http2Headers headers = response.get(10, TimeUnit.SECONDS);
                    assertThat(headers.status()).hasToString("200");
                    String series = "istio.tcp.connections.opened";
                    if (http) {
                        series = "istio.requests";
                        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("GET /x HTTP/1.1\r\nhost: backend\r\n\r\n",
                                StandardCharsets.US_ASCII), false));
                    }
                    Counter opened = null;
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    while ((opened = meters.find(series).tag("reporter", "destination").counter()) == null
                            && System.nanoTime() < deadline) {
                        Thread.sleep(5);
                    }
                    assertThat(opened).as("the destination's opened tunnel").isNotNull();
                    stream.close().sync();
                    return new Seen(headers, opened);
                } finally {
                    parent.close().sync();
                }
            }
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        }
    }
}
