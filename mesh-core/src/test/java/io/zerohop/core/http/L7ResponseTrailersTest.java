package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * An application's HTTP/1.1 response trailers (a chunked body ending in trailer fields) do not reach an HTTP/1 client, as
 * behind Envoy: its HTTP/1 codec ignores trailer fields it parses unless {@code enable_trailers} is set
 * (envoyproxy/envoy source/common/http/http1/codec_impl.cc {@code ConnectionImpl::onHeaderField}: "Ignore trailers";
 * api/envoy/config/core/v3/protocol.proto {@code Http1ProtocolOptions.enable_trailers}: "By default the HTTP/1 codec
 * drops proxied trailers"), and istiod sets it on no listener or cluster (istio/istio pilot/pkg/networking/core has
 * no {@code EnableTrailers}). The body and its framing stay. A raw-socket application and client through the plaintext
 * inbound of a port declared {@code http}, 127.0.195.20, ports 58520-58521. Until 6 December the trailer reached the
 * client.
 */
class L7ResponseTrailersTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-get, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {methods: ["GET"]}}]
            """;

    @Test
    void anApplicationsResponseTrailersAreDropped() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.195.20");
        try (ServerSocket app = new ServerSocket(58520, 50, ip)) {
            Thread t = new Thread(() -> {
                while (!app.isClosed()) {
                    try (Socket s = app.accept()) {
                        readHead(s.getInputStream());
                        s.getOutputStream().write(("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n"
                                + "5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc123\r\nx-other: 1\r\n\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                        s.getOutputStream().flush();
                        readHead(s.getInputStream());
                    } catch (Exception closed) {
                        // the client went away, or the end of the test
                    }
                }
            }, "trailer-app");
            t.setDaemon(true);
            t.start();
            try (Mesh mesh = L7EarlyResponseTest.mesh(ip, 58520, POLICY)) {
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 58521),
                        new InetSocketAddress(ip, 58520)));
                String out = L7EnforcementTest.exchange(via, "GET /data HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n");
                assertThat(out).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked");
                String body = out.substring(out.indexOf("\r\n\r\n") + 4);
                // The chunks as the application framed them, the last chunk with no trailer field after it.
                assertThat(body).isEqualTo("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
                assertThat(out).doesNotContainIgnoringCase("x-checksum: abc123").doesNotContainIgnoringCase("x-other");
            }
        }
    }

    /**
     * The same response from an embedded application ({@code Mesh.serve}: its Netty handlers write the bytes, which zerohop
     * parses as responses), reached over a real tunnel from a second mesh, 127.0.195.21.
     */
    @Test
    void anEmbeddedApplicationsResponseTrailersAreDropped() throws Exception {
        InetAddress bip = InetAddress.getByName("127.0.195.21");
        int port = 58522;
        io.zerohop.core.Workload backend = new io.zerohop.core.Workload("prod", "backend", "backend", java.util.Map.of("app", "backend"),
                java.util.List.of(bip), io.zerohop.core.Workload.Protocol.HBONE, "b", "cluster.local",
                java.util.Map.of(port, io.zerohop.core.AppProtocol.HTTP));
        io.zerohop.core.Workload frontend = new io.zerohop.core.Workload("prod", "frontend", "frontend", java.util.Map.of("app", "frontend"),
                java.util.List.of(InetAddress.getByName("127.0.195.22")), io.zerohop.core.Workload.Protocol.HBONE, null, "cluster.local");
        io.zerohop.core.WorkloadRegistry registry = io.zerohop.core.WorkloadRegistry.of(java.util.List.of(backend, frontend), java.util.Map.of());
        io.zerohop.identity.InMemoryCa ca = io.zerohop.identity.InMemoryCa.create("cluster.local");
        io.zerohop.policy.PolicyEngine policy = io.zerohop.policy.PolicyEngine.builder()
                .policies(io.zerohop.policy.PolicyLoader.fromString("p.yaml", POLICY)).build();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(bip, 58523)).threads(1).build()) {
            server.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
            server.serve(new InetSocketAddress(bip, port), (stream, tunnel) -> stream.pipeline().addLast(
                    new io.netty.channel.ChannelInboundHandlerAdapter() {
                        private boolean answered;

                        @Override
                        public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                            io.netty.util.ReferenceCountUtil.release(msg);
                            if (!answered) {
                                answered = true;
                                ctx.writeAndFlush(io.netty.buffer.Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        + "5\r\nhello\r\n0\r\nx-checksum: abc123\r\n\r\n", StandardCharsets.US_ASCII));
                            }
                        }
                    }));
            registry.replace(java.util.List.of(backend, frontend), java.util.Map.of("b", server.inboundAddress()));
            try (Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build();
                 Socket c = client.socketFactory().createSocket(bip, port)) {
                c.setSoTimeout(10_000);
                c.getOutputStream().write("GET /data HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                String out = new String(L7EnforcementTest.readAll(c), StandardCharsets.ISO_8859_1);
                assertThat(out).startsWith("HTTP/1.1 200 ");
                assertThat(out.substring(out.indexOf("\r\n\r\n") + 4)).isEqualTo("5\r\nhello\r\n0\r\n\r\n");
            }
        }
    }

    /** Reads up to the end of a request head (an empty line); returns quietly at the end of the stream. */
    static void readHead(InputStream in) throws java.io.IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            b.write(c);
            byte[] a = b.toByteArray();
            int n = a.length;
            if (n >= 4 && a[n - 4] == '\r' && a[n - 3] == '\n' && a[n - 2] == '\r' && a[n - 1] == '\n') {
                return;
            }
        }
    }
}
