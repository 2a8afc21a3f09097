package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * HTTP/2 and gRPC enforcement through real tunnels: curl {@code --http2-prior-knowledge}, nghttp and
 * Node's http2 client against Node's h2c server, grpc-java client and server, and Netty's frame codec on both
 * ends for header blocks Node would not send or keep ({@link RawH2c}). Denials as Envoy's:
 * {@code 403 RBAC: access denied} on h2, trailers-only {@code grpc-status: 7} for gRPC
 * (envoyproxy/envoy source/extensions/filters/http/rbac/rbac_filter.cc, local reply for gRPC).
 */
class L7Http2Test {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-h2, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["POST"], paths: ["/upload", "/test.Echo/Allowed", "/test.Echo/Stream"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin-host, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {hosts: ["admin.internal"]}}]
              - when: [{key: "request.headers[cookie]", values: ["role=x; admin=1"]}]
              - to: [{operation: {paths: ["/api/scheme"]}}]
                when: [{key: "request.headers[:scheme]", values: ["https"]}]
            """;

    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        }
    };

    static MethodDescriptor<byte[], byte[]> method(String name, MethodDescriptor.MethodType type) {
        return MethodDescriptor.<byte[], byte[]>newBuilder().setType(type).setFullMethodName("test.Echo/" + name)
                .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
    }

    static final MethodDescriptor<byte[], byte[]> ALLOWED = method("Allowed", MethodDescriptor.MethodType.UNARY);
    static final MethodDescriptor<byte[], byte[]> DENIED = method("Denied", MethodDescriptor.MethodType.UNARY);
    static final MethodDescriptor<byte[], byte[]> STREAM = method("Stream", MethodDescriptor.MethodType.BIDI_STREAMING);

    static InetAddress backendIp;
    static Mesh server;
    static Mesh frontendProxy;
    static Process nodeApp;
    static final io.micrometer.core.instrument.simple.SimpleMeterRegistry meters = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    static Server grpcApp;
    static final List<String> grpcSeen = new java.util.concurrent.CopyOnWriteArrayList<>();
    static InetSocketAddress viaH2;
    static int h2AppPort;
    static InetSocketAddress viaGrpc;
    static InetSocketAddress viaAutoH2;
    static InetSocketAddress plaintextH2;

    @BeforeAll
    static void start() throws Exception {
        backendIp = InetAddress.getByName("127.0.0.2");
        nodeApp = ChildProcess.start(new ProcessBuilder("node", resource("h2c-server.js"), "127.0.0.2").redirectErrorStream(true));
        int h2Port = Integer.parseInt(ChildProcess.firstLine(nodeApp).trim());
        h2AppPort = h2Port;
        grpcApp = NettyServerBuilder.forAddress(new InetSocketAddress(backendIp, 0)).addService(ServerServiceDefinition.builder("test.Echo")
                .addMethod(ALLOWED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    grpcSeen.add("Allowed");
                    obs.onNext(("echo " + new String(req, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                    obs.onCompleted();
                }))
                .addMethod(DENIED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    grpcSeen.add("Denied");
                    obs.onNext(req);
                    obs.onCompleted();
                }))
                .addMethod(STREAM, ServerCalls.asyncBidiStreamingCall(obs -> new io.grpc.stub.StreamObserver<byte[]>() {
                    @Override
                    public void onNext(byte[] v) {
                        String m = new String(v, StandardCharsets.UTF_8);
                        if (m.startsWith("fan:")) {
                            // As istio/proxy's test backend (test/envoye2e/driver grpc): N answers to a request for N.
                            for (int i = 0; i < Integer.parseInt(m.substring(4)); i++) {
                                obs.onNext((m + "#" + i).getBytes(StandardCharsets.UTF_8));
                            }
                            return;
                        }
                        obs.onNext(v);
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {
                        obs.onCompleted();
                    }
                })).build()).build().start();
        int grpcPort = ((InetSocketAddress) grpcApp.getListenSockets().get(0)).getPort();
        // A second listener of the node app, undeclared (auto): the h2 preface is sniffed.
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("h2.yaml", POLICY)).build();
        L7Pair pair = new L7Pair(backendIp, InetAddress.getByName("127.0.0.3"), Map.of(h2Port, AppProtocol.HTTP2, grpcPort, AppProtocol.GRPC),
                Map.of("b", new InetSocketAddress(backendIp, 15008)), policy, b -> b.meterRegistry(meters).threads(2));
        server = pair.server;
        WorkloadRegistry registry = pair.registry;
        Workload frontend = pair.frontend;
        frontendProxy = pair.client();
        XFCC = "xfcc=" + Xfcc.backendFromFrontend(pair.ca);
        InetSocketAddress any = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        viaH2 = frontendProxy.capture(Capture.forward(any, new InetSocketAddress(backendIp, h2Port)));
        viaGrpc = frontendProxy.capture(Capture.forward(any, new InetSocketAddress(backendIp, grpcPort)));
        plaintextH2 = server.plaintextInbound(Capture.forward(any, new InetSocketAddress(backendIp, h2Port)));
        // The same node app reached on a port the registry does not declare: registry says auto.
        registry.replace(List.of(new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(grpcPort, AppProtocol.GRPC)), frontend), Map.of("b", server.inboundAddress()));
        viaAutoH2 = frontendProxy.capture(Capture.forward(any, new InetSocketAddress(backendIp, h2Port)));
    }

    static String resource(String name) throws Exception {
        return Path.of(L7Http2Test.class.getResource("/http/" + name).toURI()).toString();
    }

    @AfterAll
    static void stop() throws Exception {
        frontendProxy.close();
        server.close();
        grpcApp.shutdownNow();
        nodeApp.destroy();
        nodeApp.waitFor(10, TimeUnit.SECONDS);
    }

    static String run(String... cmd) throws Exception {
        return ChildProcess.run(cmd);
    }

    /** What the app prints for the frontend's requests: {@link Xfcc#backendFromFrontend}, set once the CA exists. */
    static String XFCC;

    /**
     * A client that ends its h2 session cleanly (Node's {@code session.close()}: GOAWAY, then its socket's FIN, which
     * the capture sends as the tunnel's END_STREAM) gets the tunnel's END_STREAM back, so the client's socket ends
     * and the server's access line says {@code end=fin}, as ztunnel's copy ends an HBONE stream whose upstream
     * ended (istio/ztunnel src/copy.rs {@code copy_bidirectional}: the write half's shutdown, src/proxy/h2.rs
     * {@code poll_shutdown}, DATA with END_STREAM). Until 2 December the server closed the tunnel's channel instead,
     * a RST_STREAM: {@code end=reset error="reset"}; sending END_STREAM from the pipeline's tail was failed by the
     * inner h2 codec (a DATA frame with no stream), so the tunnel stayed half-open and this client never ended.
     */
    @Test
    void aClientEndingItsSessionEndsTheTunnelCleanly() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            List<String> out = run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()), "/api/end", "PRINT_PORT")
                    .lines().toList();
            assertThat(out).hasSize(2);
            assertThat(out.get(1)).startsWith("200 GET /api/end ");
            assertThat(serverLine(err, out.get(0))).endsWith(" end=fin");
        }
    }

    /**
     * The application ending its connection (GOAWAY before its answer, then FIN) leaves the tunnel open, as Envoy's pool
     * drains that upstream connection and its connection manager goes on (conn_pool_base.cc
     * {@code MultiplexedActiveClientBase::onGoAway}): the client's next request on its session is answered on a new
     * connection to the application, and the client's own end ends the tunnel cleanly ({@code end=fin}). Until 6 December
     * the application's end drained the tunnel (GOAWAY, then END_STREAM), and a client's next request failed.
     */
    @Test
    void theApplicationEndingItsConnectionLeavesTheTunnelToTheClient() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            List<String> out = run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()), "/api/goaway-first",
                    "/api/after-goaway", "PRINT_PORT").lines().toList();
            assertThat(out).hasSize(3);
            assertThat(out.get(1)).startsWith("200 GET /api/goaway-first ");
            assertThat(out.get(2)).startsWith("200 GET /api/after-goaway ");
            assertThat(serverLine(err, out.get(0))).endsWith(" end=fin");
        }
    }

    /**
     * The application resetting its connection (a TCP RST) no longer ends the tunnel: as Envoy (its codec client resets
     * the requests of a failed upstream connection and its router answers one whose response had not started 503,
     * the downstream connection going on; L7Http2AppFailureTest), the request gets 503 and the client's clean end
     * later ends the tunnel cleanly, {@code end=fin} on both sides. Until 2 December the tunnel was reset
     * (RST_STREAM CONNECT_ERROR, {@code end=reset} on both sides), and before that a RST_STREAM CANCEL followed.
     */
    @Test
    void theApplicationResettingItsConnectionLeavesTheTunnel() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            List<String> out = run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()), "/api/rst", "PRINT_PORT")
                    .lines().toList();
            assertThat(out).hasSize(2);
            assertThat(out.get(1)).isEqualTo("503 upstream connect error or disconnect/reset before headers. reset reason: connection termination");
            assertThat(serverLine(err, out.get(0))).contains(" end=fin");
            assertThat(err.awaitLine("access - outbound src=127.0.0.1:" + out.get(0).substring(5) + " ", " end="))
                    .contains(" end=fin");
        }
    }

    /**
     * A client's reset is still one: the capture sends its TCP reset as RST_STREAM CONNECT_ERROR (DESIGN section 3),
     * and the server's access line says {@code end=reset}, after the HTTP/2 connection was parsed (its SETTINGS answered).
     */
    @Test
    void aClientsResetIsLoggedAsAReset() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr();
                java.net.Socket s = new java.net.Socket(viaH2.getAddress(), viaH2.getPort())) {
            s.getOutputStream().write(PREFACE_AND_SETTINGS);
            // The server's SETTINGS frame header: the tunnel is open and its h2 connection parsed.
            assertThat(s.getInputStream().readNBytes(9)[3]).as("frame type SETTINGS").isEqualTo((byte) 4);
            s.setSoLinger(true, 0);
            s.close();
            assertThat(serverLine(err, "port " + s.getLocalPort())).contains(" end=reset");
        }
    }

    /**
     * The server's access line for the tunnel of the client whose local port {@code portLine} ({@code port N}) gives:
     * the node proxy names it as {@code forwarded_for}, so another test's late line is never taken for it.
     */
    static String serverLine(io.zerohop.testing.CapturedStderr err, String portLine) throws InterruptedException {
        assertThat(portLine).startsWith("port ");
        return err.awaitLine("access - inbound src=", " forwarded_for=127.0.0.1:" + portLine.substring(5) + " ",
                " dst=127.0.0.2:" + h2AppPort + " ", " end=");
    }

    /** The client preface and an empty SETTINGS frame (RFC 9113 section 3.4). */
    static final byte[] PREFACE_AND_SETTINGS = concat("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
            new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});

    static byte[] concat(byte[] a, byte[] b) {
        byte[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /**
     * Envoy's {@code max_headers_count} (100 by default; istiod leaves it) on HTTP/2: its codec resets a stream whose
     * header block has more fields, RST_STREAM INTERNAL_ERROR, before its connection manager or RBAC sees it
     * (envoyproxy/envoy source/common/http/http2/codec_impl.cc {@code ConnectionImpl::saveHeader}, details
     * {@code http2.too_many_headers}; test/common/http/http2/codec_impl_test.cc {@code ManyRequestHeadersInvokeResetStream}:
     * the default pseudo-headers and 100 more reset, {@code ManyRequestHeadersAccepted}). Pseudo-header fields count
     * (Node sends four: :method, :path, :scheme, :authority), crumbled cookie fields do not (they are joined apart,
     * {@code StreamImpl::saveHeader}). Only the stream is reset: the session goes on. The request is logged and
     * counted as HTTP/1's 431 is, with no decision, its reason, and no status ({@code response_code="0"}).
     * Until 2 December such a request was decided and forwarded.
     */
    @Test
    void anHttp2RequestOverEnvoysHeaderCountIsReset() throws Exception {
        var before = meters.find("istio.requests").tag("response_code", "0").counter();
        double was = before == null ? 0 : before.count();
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            String out = run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()),
                    fields("/api/c100", 96, 0), fields("/api/c101", 97, 0), fields("/api/cookies", 96, 3), "/api/after");
            List<String> lines = out.lines().toList();
            assertThat(lines).as(out).hasSize(4);
            assertThat(lines.get(0)).startsWith("200 GET /api/c100 " + XFCC);
            assertThat(lines.get(1)).isEqualTo("reset Stream closed with error code NGHTTP2_INTERNAL_ERROR");
            assertThat(lines.get(2)).startsWith("200 GET /api/cookies " + XFCC);
            assertThat(lines.get(3)).startsWith("200 GET /api/after " + XFCC);
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/c101\" "))
                    .contains(" method=GET path=\"/api/c101\" protocol=HTTP/2 status=- decision=- policy=\"-\" reason=\"HTTP/2 request"
                            + " has 101 header fields, more than 100 (Envoy's max_headers_count)\" bytes_received=0 bytes_sent=0 ");
        }
        // Counted just after its access line, on the event loop (awaitCount): the line alone does not show the count.
        assertThat(awaitCount(() -> meters.find("istio.requests").tag("response_code", "0").counter(), was + 1).count() - was).isEqualTo(1);
    }

    /**
     * Envoy's {@code max_request_headers_kb} (60) on HTTP/2: a 10,000-byte header goes through, as through Envoy (and
     * as on HTTP/1 here); one over 60 KiB of names and values resets the stream as too many fields do (same
     * {@code saveHeader} check). Until 2 December the first got 431 from Netty's HTTP/2 codec (its default 8 KiB
     * header list), and the second too.
     */
    @Test
    void anHttp2RequestIsHeldToEnvoysHeaderBytes() throws Exception {
        String base = "http://127.0.0.1:" + viaH2.getPort();
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-H", "x-big: " + "a".repeat(10_000),
                "-w", " [%{http_version} %{http_code}]", base + "/api/big")).startsWith("GET /api/big " + XFCC).endsWith("[2 200]");
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            String[] r = ChildProcess.runWithExit("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-H",
                    "x-big: " + "a".repeat(61 * 1024), "-w", " [%{http_code}]", base + "/api/huge");
            assertThat(r[0]).contains("INTERNAL_ERROR").endsWith("[000]");
            // 62,464 bytes of x-big and its value, the pseudo-headers' and curl's (the authority's port varies).
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/huge\" ")).contains(" status=- decision=- policy=\"-\"")
                    .containsPattern(" reason=\"HTTP/2 request headers have 62[5-9]\\d\\d bytes, more than 61440 \\(Envoy's max_request_headers_kb\\)\" ");
        }
    }

    /**
     * {@code request.headers[:scheme]} reads the client's {@code :scheme}, as Envoy's header map holds it: a DENY on
     * {@code https} denies the request that says https and not the same request saying http. Until 6 December no request
     * had a {@code :scheme} here, and the DENY denied nothing.
     */
    @Test
    void aDenyOnSchemeReadsTheClientsScheme() throws Exception {
        List<String> lines = run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()),
                "{\":method\":\"GET\",\":path\":\"/api/scheme\",\":scheme\":\"https\"}", "/api/scheme").lines().toList();
        assertThat(lines).hasSize(2);
        assertThat(lines.get(0)).startsWith("403 ");
        assertThat(lines.get(1)).startsWith("200 GET /api/scheme ");
    }

    /** A header block for h2-client.js: {@code path}, {@code plain} more fields and {@code cookies} cookie fields. */
    static String fields(String path, int plain, int cookies) {
        StringBuilder b = new StringBuilder("{\":path\":\"").append(path).append('"');
        for (int i = 0; i < plain; i++) {
            b.append(",\"x-f-").append(i).append("\":\"v\"");
        }
        if (cookies > 0) {
            b.append(",\"cookie\":[");
            for (int i = 0; i < cookies; i++) {
                b.append(i == 0 ? "" : ",").append("\"c").append(i).append("=1\"");
            }
            b.append(']');
        }
        return b.append('}').toString();
    }

    /**
     * {@code OPTIONS *} is valid HTTP/2 (RFC 9113 8.3.1), but Envoy's connection manager answers a path that does not
     * start with '/' with 404 before any filter (conn_manager_impl.cc, AbsolutePath): Node's http2 client gets it, and the
     * application (which would answer 200 with what it saw) is not asked. The 404 has no body, so it is one HEADERS frame
     * with END_STREAM, as Envoy's {@code encodeLocalReply} sends a local reply whose body is empty
     * (source/common/http/utility.cc: {@code encode_headers_(..., body_text.empty())}, no {@code content-type}); until
     * 7 December an empty DATA frame ended it.
     */
    @Test
    void optionsAsteriskGetsEnvoys404() throws Exception {
        assertThat(run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()), "OPTIONS *", "/api/after-options",
                "HEADERS_END")).startsWith("404/end \n200 GET /api/after-options");
    }

    /**
     * A local reply to a HEAD is its head alone, as Envoy's {@code sendLocalReply} sends it (source/common/http/utility.cc,
     * {@code is_head_request_}: HEADERS with END_STREAM and the body's {@code content-length}): a DATA frame on a HEAD's
     * stream is a body where none can be. nghttp's verbose trace shows the frames. Until 7 December the 403 came with its
     * body as DATA, which nghttp2 resets as a protocol error, the answer lost.
     */
    @Test
    void aLocalReplyToAHeadHasNoBody() throws Exception {
        String v = run("nghttp", "-v", "-H", ":method: HEAD", "http://127.0.0.1:" + viaH2.getPort() + "/admin");
        // nghttp2 answers DATA on a HEAD's stream with RST_STREAM(PROTOCOL_ERROR): "Some requests were not processed".
        assertThat(v).contains(":status: 403").contains("content-length: 19").doesNotContain("PROTOCOL_ERROR")
                .doesNotContain("not processed");
    }

    /**
     * A local reply with a body says its length, as Envoy's {@code sendLocalReply} sets {@code content-length} on every
     * local reply with a body (source/common/http/utility.cc {@code encodeLocalReply}: {@code setContentLength}): here
     * the 400 to {@code %00} in the path ({@code invalid :path}, 13 bytes). nghttp's verbose trace shows the header.
     * Fails before 7 December's change: only the 403 and 401 had one.
     */
    @Test
    void aLocalReplyWithABodySaysItsLength() throws Exception {
        String v = run("nghttp", "-v", "http://127.0.0.1:" + viaH2.getPort() + "/api/nul%00");
        assertThat(v).contains(":status: 400").contains("content-length: 13").contains("invalid :path");
    }

    /**
     * One curl per request: curl 7.88 fails its second request on a reused h2c prior-knowledge
     * connection to Node's server even without zerohop in between ("Error in the HTTP2 framing layer").
     */
    @Test
    void curlPriorKnowledge() throws Exception {
        String base = "http://127.0.0.1:" + viaH2.getPort();
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_version} %{http_code}]",
                "-H", "x-forwarded-client-cert: forged", base + "/api/a"))
                .startsWith("GET /api/a " + XFCC + " len=0").endsWith("[2 200]");
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_version} %{http_code}]",
                base + "/admin")).isEqualTo("RBAC: access denied [2 403]");
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_version} %{http_code}]",
                "--data-binary", "abc", base + "/upload")).startsWith("POST /upload " + XFCC + " len=3").endsWith("[2 200]");
        // Envoy's path normalization (istiod's BASE) refuses %00 with 400 before RBAC, even under an allowed prefix.
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "--path-as-is", "-w", " [%{http_version} %{http_code}]",
                base + "/api/nul%00")).endsWith("[2 400]");
    }

    /**
     * Which denied requests get the gRPC form is Envoy's {@code hasGrpcContentType} (envoyproxy/envoy
     * source/common/grpc/common.cc; common_test.cc {@code HasGrpcContentType}): {@code application/grpc} or
     * {@code application/grpc+...}; grpc-web and a parameter are HTTP, 403. Until 5 December any prefix was gRPC (a review
     * pass: grpc-web got 200 with grpc-status 7).
     */
    @Test
    void onlyEnvoysGrpcContentTypesGetTheGrpcDenial() throws Exception {
        String url = "http://127.0.0.1:" + viaH2.getPort() + "/admin";
        for (String http : List.of("application/grpc-web", "application/grpc-web+proto", "application/grpcx", "application/grpc; charset=utf-8")) {
            assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_code}]", "-H", "content-type: " + http,
                    "--data-binary", "x", url)).as(http).isEqualTo("RBAC: access denied [403]");
        }
        for (String grpc : List.of("application/grpc", "application/grpc+proto")) {
            assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", "-H", "content-type: " + grpc,
                    "--data-binary", "x", url)).as(grpc).contains("HTTP/2 200").contains("grpc-status: 7");
        }
    }

    @Test
    void nghttpConcurrentStreams() throws Exception {
        String base = "http://127.0.0.1:" + viaH2.getPort();
        String out = run("nghttp", "-n", "-s", base + "/api/1", base + "/denied", base + "/api/2");
        // -s prints per-stream statistics; -n discards bodies. Status codes appear in the stats table.
        assertThat(out).contains("200").contains("403");
        String v = run("nghttp", base + "/denied");
        assertThat(v).isEqualTo("RBAC: access denied");
    }

    @Test
    void nodeHttp2ClientMixesAllowedAndDeniedOnOneSession() throws Exception {
        String out = run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()), "/api/n1", "/secret", "POST /upload", "POST /other");
        List<String> lines = out.lines().toList();
        assertThat(lines).hasSize(4);
        assertThat(lines.get(0)).startsWith("200 GET /api/n1 " + XFCC);
        assertThat(lines.get(1)).isEqualTo("403 RBAC: access denied");
        assertThat(lines.get(2)).startsWith("200 POST /upload " + XFCC + " len=100000");
        assertThat(lines.get(3)).isEqualTo("403 RBAC: access denied");
    }

    /**
     * What the application reads as the authority and the path is what RBAC decided on. RFC 9113
     * section 8.3.1: without {@code :authority}, {@code host} is the authority (Node's client sends
     * only {@code host} when given one); with both, Envoy discards {@code host} (envoy 1.27.4 release
     * notes, {@code envoy.reloadable_features.http2_discard_host_header}). {@code :path} goes upstream
     * normalised as Envoy's {@code normalize_path} rewrites it (envoy test/common/http/path_utility_test.cc
     * {@code NormalizeValidPaths}); a fragment is refused (envoy 1.19.1 release notes, CVE-2021-32779).
     * Crumbled cookie fields are one value joined with "; " (RFC 9113 section 8.2.3).
     * Before 1 December the first request reached the application (RBAC saw no authority), the second
     * reached it with {@code host: admin.internal}, the third with its dot segments, the fourth was
     * decided on {@code /api/a} and forwarded with its fragment.
     */
    @Test
    void theApplicationReadsTheAuthorityAndPathRbacDecidedOn() throws Exception {
        String out = run("node", resource("h2-client.js"), Integer.toString(viaH2.getPort()),
                "{\":path\":\"/api/h1\",\"host\":\"admin.internal\"}",
                "{\":path\":\"/api/h2\",\":authority\":\"good\",\"host\":\"admin.internal\"}",
                "{\":path\":\"/api/x/./y/../%7Ez?q=/../\",\":authority\":\"good\"}",
                "{\":path\":\"/api/a#/../../admin\",\":authority\":\"good\"}",
                "{\":path\":\"/api/h5\",\"host\":\"good\"}",
                "{\":path\":\"/api/h6\",\":authority\":\"good\",\"cookie\":[\"role=x\",\"admin=1\"]}");
        List<String> lines = out.lines().toList();
        assertThat(lines).hasSize(6);
        assertThat(lines.get(0)).isEqualTo("403 RBAC: access denied");
        assertThat(lines.get(1)).startsWith("200 GET /api/h2 " + XFCC).endsWith(" authority=good host=undefined");
        assertThat(lines.get(2)).startsWith("200 GET /api/x/~z?q=/../ " + XFCC);
        assertThat(lines.get(3)).startsWith("400 ");
        assertThat(lines.get(4)).startsWith("200 GET /api/h5 " + XFCC).endsWith(" authority=undefined host=good");
        // Two cookie fields are one value "role=x; admin=1" to RBAC (RFC 9113 8.2.3, Envoy's
        // reconstituteCrumbledCookies); until 1 December they were joined with "," and the DENY missed them.
        assertThat(lines.get(5)).isEqualTo("403 RBAC: access denied");
    }

    /**
     * A destination only a CiliumNetworkPolicy's HTTP rules decide gets Cilium's Envoy handling on HTTP/2 too
     * (cilium/cilium pkg/envoy/xds_server.go: {@code merge_slashes}, {@code UNESCAPE_AND_REDIRECT}): the
     * application reads the merged path; an escaped slash gets 307 to the unescaped path and is not forwarded; a denial
     * is Cilium's proxy's {@code Access denied}.
     */
    @Test
    void aCiliumOnlyDestinationGetsCiliumsPathHandling() throws Exception {
        PolicyEngine engine = server.policy().orElseThrow();
        var before = engine.policies();
        try {
            engine.replace(PolicyLoader.fromString("cnp.yaml", """
                    apiVersion: cilium.io/v2
                    kind: CiliumNetworkPolicy
                    metadata: {name: api, namespace: prod}
                    spec:
                      endpointSelector: {matchLabels: {app: backend}}
                      ingress:
                      - toPorts:
                        - ports: [{port: "PORT", protocol: TCP}]
                          rules: {http: [{method: GET, path: "/api/.*"}]}
                    """.replace("PORT", Integer.toString(h2AppPort))));
            String base = "http://127.0.0.1:" + viaH2.getPort();
            assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "--path-as-is", base + "/api//c1"))
                    .startsWith("GET /api/c1 ");
            assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "--path-as-is", "-o", "/dev/null",
                    "-w", "%{http_code} %header{location}", base + "/x%2F..%2Fapi/c2?q=1")).isEqualTo("307 /api/c2?q=1");
            // A denial answers as Cilium's proxy does (cilium/proxy cilium/l7policy.cc), not as Envoy RBAC; a gRPC request
            // gets the body percent-encoded in grpc-message, as Envoy's local reply writes it (helper 260).
            assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", "%{http_code}", base + "/nope"))
                    .isEqualTo("Access denied\r\n403");
            assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null",
                    "-H", "content-type: application/grpc", "--data-binary", "x", base + "/api/g"))
                    .contains("HTTP/2 200").contains("grpc-status: 7").contains("grpc-message: Access denied%0D%0A");
        } finally {
            engine.replace(before);
        }
    }

    @Test
    void autoPortSniffsThePreface() throws Exception {
        String base = "http://127.0.0.1:" + viaAutoH2.getPort();
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " %{http_code}", base + "/nope"))
                .isEqualTo("RBAC: access denied 403");
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", base + "/api/s")).startsWith("GET /api/s " + XFCC);
    }

    @Test
    void plaintextInboundH2HasNoIdentity() throws Exception {
        // Every ALLOW rule names the frontend's principal: plaintext can match none whatever it sends. The port is
        // auto in the registry in force (replaced in start()), so that is decided at accept, before the sniff, and the
        // connection is refused as any plaintext denial (L7SniffDecisionTest); until 1 December the h2 preface was
        // sniffed and each request got 403. The RST comes right after the kernel's handshake: curl reads it as
        // "Connection reset by peer" or, when it lands before curl checks its connect, as "Couldn't connect to
        // server", or, landing between its connect and its getpeername(), as that call's ENOTCONN ("errno 107"); a
        // fresh-clone CI saw all three; either way no request was answered.
        assertThat(run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " %{http_code}",
                "http://127.0.0.1:" + plaintextH2.getPort() + "/api/p"))
                .containsAnyOf("Connection reset by peer", "Couldn't connect to server", "getpeername() failed with errno 107")
                .endsWith(" 000");
    }

    @Test
    void grpcAllowedDeniedAndStreaming() throws Exception {
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", viaGrpc.getPort()).usePlaintext().build();
        try {
            byte[] r = ClientCalls.blockingUnaryCall(ch, ALLOWED, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                    "hi".getBytes(StandardCharsets.UTF_8));
            assertThat(new String(r, StandardCharsets.UTF_8)).isEqualTo("echo hi");
            assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(ch, DENIED, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                    "no".getBytes(StandardCharsets.UTF_8)))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                        assertThat(e.getStatus().getDescription()).isEqualTo("RBAC: access denied");
                    });
            assertThat(grpcSeen).doesNotContain("Denied");
            // Counted after the answer was flushed (awaitCount): the client can have it first.
            assertThat(awaitCount(() -> meters.find("istio.requests").tag("grpc_response_status", "7").tag("response_code", "200").counter(), 1))
                    .as("Istio labels a denied gRPC call 200 / grpc_response_status 7").isNotNull();
            assertThat(awaitCount(() -> meters.find("istio.requests").tag("grpc_response_status", "0").counter(), 1)).isNotNull();
            // A bidirectional stream: 50 messages each way on the same connection, after the denial.
            List<byte[]> got = new ArrayList<>();
            java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
            io.grpc.stub.StreamObserver<byte[]> requests = ClientCalls.asyncBidiStreamingCall(
                    ch.newCall(STREAM, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS)), new io.grpc.stub.StreamObserver<>() {
                        @Override
                        public void onNext(byte[] v) {
                            got.add(v);
                        }

                        @Override
                        public void onError(Throwable t) {
                            done.countDown();
                        }

                        @Override
                        public void onCompleted() {
                            done.countDown();
                        }
                    });
            for (int i = 0; i < 50; i++) {
                requests.onNext(("m" + i).getBytes(StandardCharsets.UTF_8));
            }
            requests.onCompleted();
            assertThat(done.await(20, TimeUnit.SECONDS)).isTrue();
            assertThat(got).hasSize(50);
            assertThat(new String(got.get(49), StandardCharsets.UTF_8)).isEqualTo("m49");
        } finally {
            ch.shutdownNow();
        }
    }


    /**
     * The first counter {@code find} returns whose count reaches {@code atLeast}, waiting up to 30 s (else what it returns
     * then). A request is counted on the proxy's event loop just after its access line is written and after its response
     * was flushed (HttpObserver.request, called from Http1Filter.pump and H2Proxy.finish): a test that read the count as
     * soon as it had the response or the line could read it before that increment.
     */
    static io.micrometer.core.instrument.Counter awaitCount(java.util.function.Supplier<io.micrometer.core.instrument.Counter> find,
                                                             double atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        io.micrometer.core.instrument.Counter c;
        while (((c = find.get()) == null || c.count() < atLeast) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return c;
    }

    /**
     * zerohop's downstream HTTP/2 side advertises SETTINGS_MAX_CONCURRENT_STREAMS 2147483647, Envoy's default
     * ({@code api/envoy/config/core/v3/protocol.proto} {@code Http2ProtocolOptions.max_concurrent_streams}), which istiod
     * leaves on sidecar and waypoint listeners (istio/istio {@code pilot/pkg/networking/core/connection_settings.go}: 100
     * only for a gateway's EDGE profile). Until 2 December it advertised Netty 4.2's default, 100, so a grpc-java client
     * queued its 101st open call (newuser27). 150 bidirectional streams are held open at once, each echoed one message;
     * with 100, the 101st is never sent and its echo never comes.
     */
    @Test
    void aGrpcClientGetsMoreThan100ConcurrentStreams() throws Exception {
        String v = run("nghttp", "-v", "-n", "http://127.0.0.1:" + viaH2.getPort() + "/api/settings");
        // zerohop's SETTINGS, as nghttp received them (what nghttp sends has its own 100).
        String received = v.substring(v.indexOf("recv SETTINGS frame"));
        received = received.substring(0, received.indexOf("\n[", 1));
        assertThat(received).as(v).contains("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):2147483647]");
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", viaGrpc.getPort()).usePlaintext().build();
        try {
            int n = 150;
            java.util.concurrent.CountDownLatch echoed = new java.util.concurrent.CountDownLatch(n);
            java.util.concurrent.CountDownLatch ended = new java.util.concurrent.CountDownLatch(n);
            List<io.grpc.stub.StreamObserver<byte[]>> open = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                open.add(ClientCalls.asyncBidiStreamingCall(ch.newCall(STREAM, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS)),
                        new io.grpc.stub.StreamObserver<>() {
                            @Override
                            public void onNext(byte[] b) {
                                echoed.countDown();
                            }

                            @Override
                            public void onError(Throwable t) {
                                ended.countDown();
                            }

                            @Override
                            public void onCompleted() {
                                ended.countDown();
                            }
                        }));
                open.get(i).onNext(("s" + i).getBytes(StandardCharsets.UTF_8));
            }
            assertThat(echoed.await(30, TimeUnit.SECONDS)).as("all %d open streams echoed at once, %d not", n, echoed.getCount()).isTrue();
            open.forEach(io.grpc.stub.StreamObserver::onCompleted);
            assertThat(ended.await(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            ch.shutdownNow();
        }
    }

    /**
     * A request whose header list is over the application's SETTINGS_MAX_HEADER_LIST_SIZE (grpc-java's server: 8 KiB) fails
     * alone: answered locally, as Envoy answers a header list it will not take (431; for gRPC, trailers-only with
     * {@code httpToGrpcStatus(431)}, 2, UNKNOWN: envoyproxy/envoy {@code source/common/grpc/status.cc},
     * {@code source/common/http/utility.cc} {@code sendLocalReply}), never sent to the application, and the other calls
     * on the same connection, and the application's connection, go on. Until 2 December every open call on the
     * connection failed UNAVAILABLE with it (newuser27).
     */
    @Test
    void aHeaderListOverTheApplicationsLimitFailsAlone() throws Exception {
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", viaGrpc.getPort()).usePlaintext().build();
        try {
            java.util.concurrent.BlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
            io.grpc.stub.StreamObserver<byte[]> open = ClientCalls.asyncBidiStreamingCall(
                    ch.newCall(STREAM, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS)), queueing(got));
            open.onNext("before".getBytes(StandardCharsets.UTF_8));
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("before");
            int seen = grpcSeen.size();
            bigCallFailsAlone(ch);
            open.onNext("after".getBytes(StandardCharsets.UTF_8));
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("after");
            open.onCompleted();
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("completed");
            assertThat(new String(ClientCalls.blockingUnaryCall(ch, ALLOWED, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                    "next".getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8)).isEqualTo("echo next");
            assertThat(grpcSeen.size() - seen).as("only the last call reached the application").isEqualTo(1);
        } finally {
            ch.shutdownNow();
        }
    }

    /** A unary call with a 20 KiB header over {@code ch} fails with UNKNOWN (the local 431's gRPC status). */
    private static void bigCallFailsAlone(ManagedChannel ch) {
        io.grpc.Metadata big = new io.grpc.Metadata();
        big.put(io.grpc.Metadata.Key.of("x-big", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "a".repeat(20 * 1024));
        io.grpc.Channel withBig = io.grpc.ClientInterceptors.intercept(ch, io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(big));
        assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(withBig, ALLOWED, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                "big".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode()).as(e.getStatus().toString())
                        .isEqualTo(Status.Code.UNKNOWN));
    }

    /**
     * As {@link #aHeaderListOverTheApplicationsLimitFailsAlone}, with the first call still unanswered (its headers sent,
     * no message yet) when the large one comes: newuser27's reproduction, where the large call was sent and the
     * application's GOAWAY failed both.
     */
    @Test
    void aHeaderListOverTheLimitFailsAloneWhileTheFirstCallIsUnanswered() throws Exception {
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", viaGrpc.getPort()).usePlaintext().build();
        try {
            java.util.concurrent.BlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
            io.grpc.stub.StreamObserver<byte[]> open = ClientCalls.asyncBidiStreamingCall(
                    ch.newCall(STREAM, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS)), queueing(got));
            Thread.sleep(500);
            bigCallFailsAlone(ch);
            open.onNext("after".getBytes(StandardCharsets.UTF_8));
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("after");
            open.onCompleted();
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("completed");
        } finally {
            ch.shutdownNow();
        }
    }

    /** A call's observer that queues each message as text, then "completed" or "error STATUS". */
    static io.grpc.stub.StreamObserver<byte[]> queueing(java.util.concurrent.BlockingQueue<String> got) {
        return new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(byte[] b) {
                got.add(new String(b, StandardCharsets.UTF_8));
            }

            @Override
            public void onError(Throwable t) {
                got.add("error " + io.grpc.Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                got.add("completed");
            }
        };
    }

    /** The sum of every {@code name} counter's count (0 before the first). */
    static double total(String name) {
        return meters.find(name).counters().stream().mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
    }

    /** Waits until {@link #total} of {@code name} reaches {@code atLeast}, then returns it. */
    static double awaitTotal(String name, double atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (total(name) < atLeast && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return total(name);
    }

    /**
     * Istio's gRPC message counters, {@code istio_request_messages_total} and {@code istio_response_messages_total}, with
     * istio/proxy's own case (test/envoye2e/stats_plugin/stats_test.go {@code TestStatsGrpcStream}): on one bidi stream,
     * requests asking for 1, 5 and 7 answers give 3 and 13 while the stream is open; 10, 1, 1, 1, 1 more and the close
     * give 8 and 27. Labels as istio/proxy's (testdata/metric/server_request_messages.yaml.tmpl): reporter and the
     * peers', not the request's protocol, response code, gRPC status, flags or security policy. Not emitted before
     * 3 December (newuser27).
     */
    @Test
    void grpcMessagesAreCountedAsIstioCountsThem() throws Exception {
        double requests = total("istio.request.messages");
        double responses = total("istio.response.messages");
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", viaGrpc.getPort()).usePlaintext().build();
        try {
            java.util.concurrent.BlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
            io.grpc.stub.StreamObserver<byte[]> bidi = ClientCalls.asyncBidiStreamingCall(
                    ch.newCall(STREAM, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS)), queueing(got));
            for (int n : new int[] {1, 5, 7}) {
                bidi.onNext(("fan:" + n).getBytes(StandardCharsets.UTF_8));
            }
            for (int i = 0; i < 13; i++) {
                assertThat(got.poll(30, TimeUnit.SECONDS)).startsWith("fan:");
            }
            assertThat(awaitTotal("istio.request.messages", requests + 3) - requests).isEqualTo(3);
            assertThat(awaitTotal("istio.response.messages", responses + 13) - responses).isEqualTo(13);

            for (int n : new int[] {10, 1, 1, 1, 1}) {
                bidi.onNext(("fan:" + n).getBytes(StandardCharsets.UTF_8));
            }
            bidi.onCompleted();
            for (int i = 0; i < 14; i++) {
                assertThat(got.poll(30, TimeUnit.SECONDS)).startsWith("fan:");
            }
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("completed");
            assertThat(awaitTotal("istio.request.messages", requests + 8) - requests).isEqualTo(8);
            assertThat(awaitTotal("istio.response.messages", responses + 27) - responses).isEqualTo(27);
        } finally {
            ch.shutdownNow();
        }
        io.micrometer.core.instrument.Counter c = meters.find("istio.request.messages").counters().iterator().next();
        List<String> keys = c.getId().getTags().stream().map(io.micrometer.core.instrument.Tag::getKey).toList();
        assertThat(keys).contains("reporter", "source_workload", "source_principal", "destination_workload", "destination_principal",
                        "destination_service", "destination_cluster")
                .doesNotContain("request_protocol", "response_code", "grpc_response_status", "response_flags", "connection_security_policy");
        assertThat(c.getId().getTag("reporter")).isEqualTo("destination");
    }

    /**
     * A gRPC call that got no grpc-status (cancelled by its client) still counts with {@code request_protocol="grpc"}:
     * Istio's stats filter decides it from the request's content-type (istio/proxy
     * {@code source/extensions/filters/http/istio_stats/istio_stats.cc}: {@code is_grpc_ =
     * Grpc::Common::isGrpcRequestHeaders(request_headers)}). Until 2 December it was taken from the response's grpc-status,
     * and such a call counted as {@code http} (newuser27).
     */
    @Test
    void aCancelledGrpcCallCountsAsGrpc() throws Exception {
        var before = meters.find("istio.requests").tag("request_protocol", "grpc").tag("grpc_response_status", "").counter();
        double was = before == null ? 0 : before.count();
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", viaGrpc.getPort()).usePlaintext().build();
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            java.util.concurrent.BlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
            io.grpc.ClientCall<byte[], byte[]> call = ch.newCall(STREAM, CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS));
            io.grpc.stub.StreamObserver<byte[]> open = ClientCalls.asyncBidiStreamingCall(call, new io.grpc.stub.StreamObserver<>() {
                @Override
                public void onNext(byte[] b) {
                    got.add(new String(b, StandardCharsets.UTF_8));
                }

                @Override
                public void onError(Throwable t) {
                    got.add("error");
                }

                @Override
                public void onCompleted() {
                    got.add("completed");
                }
            });
            open.onNext("c".getBytes(StandardCharsets.UTF_8));
            assertThat(got.poll(30, TimeUnit.SECONDS)).isEqualTo("c");
            call.cancel("test cancels", null);
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/test.Echo/Stream\" ", " bytes_received=6 bytes_sent=6 "))
                    .doesNotContain("grpc_status=");
        } finally {
            ch.shutdownNow();
        }
        assertThat(meters.find("istio.requests").tag("request_protocol", "grpc").tag("grpc_response_status", "").counter())
                .as("%s", meters.find("istio.requests").tag("response_code", "200").counters().stream().map(c -> c.getId().getTags().toString()).toList())
                .isNotNull().satisfies(c -> assertThat(c.count() - was).isEqualTo(1));
    }
    /**
     * RFC 9113 section 8.2.1 makes a request whose field value starts or ends with SP or HTAB malformed, but Envoy
     * forwards such a field as it came, and RBAC reads it as it came. Its HTTP/2 codec's two libraries both take it:
     * oghttp2, the default from Envoy 1.34 to 1.36 (Istio 1.26 to 1.28; {@code envoy.reloadable_features.http2_use_oghttp2},
     * envoyproxy/envoy PR 38026; before, only 1.31.0 and 1.31.1, PR 33913, until 1.31.2 turned it off; PR 42319 back to
     * nghttp2 for 1.37), allows SP and HTAB anywhere in a value
     * (google/quiche {@code quiche/http2/adapter/header_validator.cc}, {@code kHttp2HeaderValueAllowedChars} and
     * {@code IsValidHeaderValue}, unchanged since 2023; its test {@code header_validator_test.cc}
     * {@code ValueHasInvalidChar}); nghttp2 would drop such a field, but Envoy turns that check off
     * (envoyproxy/envoy {@code source/common/http/http2/codec_impl.cc}, {@code Http2Options}:
     * {@code nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(options_, 1)}, "RFC9113 invalidates
     * trailing whitespace in header values but this is a new validation which can break existing deployments"; nghttp2
     * {@code tests/nghttp2_session_test.c} {@code test_nghttp2_http_no_rfc9113_leading_and_trailing_ws_validation}),
     * and nothing after the codec trims an HTTP/2 value (Envoy's universal header validator is off by default). Istio's
     * {@code request.headers[...]} condition is an exact header match: {@code "v "} is not {@code "v"}. A control
     * character is refused by both libraries (oghttp2 then ends the connection under Envoy's default
     * {@code override_stream_error_on_invalid_http_message: false}; nghttp2 drops the field): zerohop keeps Netty's
     * stream reset for it.
     *
     * <p>The client is Netty's frame codec (Node's own server drops such a field, nghttp2's default), the application a
     * Netty h2c server that answers with the fields it received. Until 4 December Netty's header decoder under
     * zerohop refused a value starting with SP or HTAB ({@code HttpHeaderValidationUtil}): the stream was reset with
     * PROTOCOL_ERROR before any policy saw it, and nothing was logged (trailing whitespace went through).
     */
    /** A DENY on {@code request.headers[x-deny] == "v"}: the backend's requests are parsed and decided one by one. */
    static final String DENY_X_DENY_V = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-v, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - when: [{key: "request.headers[x-deny]", values: ["v"]}]
            """;

    @Test
    void http2FieldValuesWithLeadingOrTrailingWhitespaceGoThroughAsSent() throws Exception {
        withEchoApp(DENY_X_DENY_V, via -> {
            io.netty.handler.codec.http2.Http2Headers h = request("GET", "/ws");
            h.add("x-a", "v ").add("x-b", "\tw").add("x-c", " v\t").add("x-d", " ").add("x-deny", "v ");
            assertThat(RawH2c.send(via, h)).isEqualTo("200 GET /ws\nx-a=[v ]\nx-b=[\tw]\nx-c=[ v\t]\nx-d=[ ]\nx-deny=[v ]\n");
            assertThat(RawH2c.send(via, request("GET", "/ws").add("x-deny", "v"))).isEqualTo("403 RBAC: access denied");
            // A control character but HTAB, or DEL, is still refused as Netty refuses it: the stream is reset.
            assertThat(RawH2c.send(via, request("GET", "/ws").add("x-a", " v\u0001"))).isEqualTo("reset PROTOCOL_ERROR");
            assertThat(RawH2c.send(via, request("GET", "/ws").add("x-a", "v\u007f "))).isEqualTo("reset PROTOCOL_ERROR");
        });
    }

    /** An ALLOW on {@code request.headers[x-forwarded-client-cert]} naming the admin's identity, on one path. */
    static final String ALLOW_ADMIN_XFCC = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: admin-by-xfcc, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              rules:
              - to: [{operation: {notPaths: ["/secret"]}}]
              - to: [{operation: {paths: ["/secret"]}}]
                when: [{key: "request.headers[x-forwarded-client-cert]", values: ["*URI=spiffe://cluster.local/ns/prod/sa/admin"]}]
            """;

    /**
     * Envoy's connection manager sets {@code x-forwarded-client-cert} before any filter, and on plaintext removes it
     * (conn_manager_utility.cc {@code mutateXfccRequestHeader}), so a client's own never meets a rule; and answers a
     * request with neither {@code :authority} nor {@code host} 400 before any filter ({@code MissingHost},
     * conn_manager_impl.cc "Require host header"). Until 5 December HTTP/2 decided on the client's XFCC, and on an empty
     * host (helper 251).
     */
    @Test
    void http2XfccAndMissingHostAsEnvoysConnectionManager() throws Exception {
        withEchoApp(ALLOW_ADMIN_XFCC, via -> {
            assertThat(RawH2c.send(via, request("GET", "/secret").add("x-forwarded-client-cert", "URI=spiffe://cluster.local/ns/prod/sa/admin")))
                    .isEqualTo("403 RBAC: access denied");
            assertThat(RawH2c.send(via, request("GET", "/open"))).isEqualTo("200 GET /open\n");
            assertThat(RawH2c.send(via, new io.netty.handler.codec.http2.DefaultHttp2Headers(false).method("GET").scheme("http")
                    .path("/open"))).isEqualTo("400 ");
            assertThat(RawH2c.send(via, new io.netty.handler.codec.http2.DefaultHttp2Headers(false).method("GET").scheme("http")
                    .path("/open").add("host", "b"))).as("host stands for :authority").isEqualTo("200 GET /open\nhost=[b]\n");
        });
    }

    /**
     * An HTTP/2 {@code :method} in another case than the usual, {@code get} or {@code GeT}, is a valid token (RFC 9110
     * section 9.1: methods are case-sensitive), and Envoy takes it as it is: oghttp2 refuses only a method that is not
     * a token (google/quiche {@code quiche/http2/adapter/header_validator.cc}, {@code IsValidMethod},
     * {@code kHttpTokenChars}; its test {@code header_validator_test.cc} {@code MethodHasInvalidChar} takes
     * {@code lowercase} and {@code MiXeDcAsE}), nghttp2 the same ({@code lib/nghttp2_http.c}, {@code nghttp2_check_method}), Envoy's
     * connection manager the same ({@code source/common/http/header_utility.cc}, {@code requestHeadersValid}:
     * {@code InvalidMethod} for an empty method or a character that is not a token's). Istio's {@code methods} are an
     * exact, case-sensitive match on {@code :method} (istio/istio {@code pilot/pkg/security/authz/model/generator.go}
     * {@code methodGenerator}, {@code matcher.HeaderMatcher}), so {@code get} is not {@code GET}: an ALLOW rule naming
     * GET does not allow it, a DENY rule naming GET does not deny it, and the application reads the method as sent
     * (Envoy's RBAC filter matches {@code :method} as any header, {@code source/extensions/filters/common/rbac/matchers.h}
     * {@code HeaderMatcher}, with the exact string matcher istiod generates, {@code ignore_case} unset). zerohop already
     * did all this; the test holds it (the client is Netty's frame codec, the application Netty's h2c server).
     */
    @Test
    void anHttp2MethodInAnotherCaseIsItsOwnMethod() throws Exception {
        String policy = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: ALLOW
                  rules:
                  - to: [{operation: {methods: ["GET"], paths: ["/allow/*"]}}]
                  - to: [{operation: {paths: ["/deny/*"]}}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-get, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules:
                  - to: [{operation: {methods: ["GET"], paths: ["/deny/*"]}}]
                """;
        withEchoApp(policy, via -> {
            assertThat(RawH2c.send(via, request("GET", "/allow/a"))).isEqualTo("200 GET /allow/a\n");
            assertThat(RawH2c.send(via, request("get", "/allow/a"))).isEqualTo("403 RBAC: access denied");
            assertThat(RawH2c.send(via, request("GeT", "/allow/a"))).isEqualTo("403 RBAC: access denied");
            assertThat(RawH2c.send(via, request("GET", "/deny/a"))).isEqualTo("403 RBAC: access denied");
            assertThat(RawH2c.send(via, request("get", "/deny/a"))).isEqualTo("200 get /deny/a\n");
            assertThat(RawH2c.send(via, request("GeT", "/deny/a"))).isEqualTo("200 GeT /deny/a\n");
        });
    }

    /**
     * A {@code :method} that is not a token (RFC 9110 section 9.1: {@code G(T}, {@code GE T}, {@code G,T}, a byte above
     * 0x7E) never reaches Envoy's connection manager: both codec libraries refuse it as an invalid header field (google/quiche
     * {@code quiche/http2/adapter/header_validator.cc} {@code IsValidMethod}, its test {@code MethodHasInvalidChar}:
     * {@code "spac e"}, {@code "co,mma"}, {@code "In[]valid{}"}; nghttp2 {@code lib/nghttp2_http.c}
     * {@code nghttp2_check_method}), and its connection manager would answer 400 after them
     * ({@code source/common/http/header_utility.cc} {@code requestHeadersValid}, {@code InvalidMethod}). The stream is
     * reset with PROTOCOL_ERROR (oghttp2's {@code OnHeaderStatus}), no policy decides it and the application never sees
     * it. Under Envoy's default ({@code override_stream_error_on_invalid_http_message} unset, which istiod leaves:
     * api/envoy/config/core/v3/protocol.proto, "the whole HTTP/2 connection is terminated upon receiving invalid HEADERS
     * frame"; codec_impl.cc {@code onInvalidFrame}; test/integration/http2_flood_integration_test.cc
     * {@code ZerolenHeader}) the connection ends too; zerohop resets the stream alone, as it does for every other header
     * block Netty or it refuses (a control character in {@code :path}, PathCanonicalizationTest). Until 4 December such
     * a method was decided and forwarded as sent (Netty checks no method).
     */
    @Test
    void anHttp2MethodThatIsNotATokenIsReset() throws Exception {
        // A rule on a header: the port's requests are parsed (with no HTTP rule, zerohop relays them as bytes).
        withEchoApp(DENY_X_DENY_V, via -> {
            try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
                for (String m : new String[] {"G(T", "GE T", "G,T", "G\u00e9T"}) {
                    assertThat(RawH2c.send(via, request(m, "/m"))).as(m).isEqualTo("reset PROTOCOL_ERROR");
                }
                assertThat(err.awaitLine("-http ", " path=\"/m\" ", " method=G(T "))
                        .contains(" status=- decision=- policy=\"-\" reason=\":method has a character that is not a token's (0x28 at 1)\" ");
            }
            assertThat(RawH2c.send(via, request("M-SEARCH", "/m"))).isEqualTo("200 M-SEARCH /m\n");
        });
    }

    /**
     * An {@code :authority} with a character outside Envoy's authority table (whitespace before or after the host, a tab)
     * makes the request malformed: nghttp2 refuses it under Envoy ({@code nghttp2_check_authority}), and the stream is
     * reset with PROTOCOL_ERROR before any policy decides it. Netty lets SP and HTAB through; {@code " backend"} escaped a
     * DENY on {@code hosts: [backend]} and was forwarded as sent (a hostile-peer pass). HTTP/1's Host was already refused.
     */
    @Test
    void anHttp2AuthorityWithWhitespaceIsReset() throws Exception {
        withEchoApp(DENY_X_DENY_V, via -> {
            try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
                for (String a : new String[] {"backend ", " backend", "\tbackend", "back end"}) {
                    assertThat(RawH2c.send(via, request("GET", "/a").authority(a))).as("[%s]", a).isEqualTo("reset PROTOCOL_ERROR");
                }
                assertThat(err.awaitLine("-http ", " path=\"/a\" ")).contains(" status=- decision=- ")
                        .contains("reason=\":authority has a character Envoy refuses");
            }
            assertThat(RawH2c.send(via, request("GET", "/a"))).isEqualTo("200 GET /a\n");
        });
    }

    /**
     * A denied request whose client never ends it gets its 403, then, a second later, RST_STREAM(NO_ERROR) (RFC 9113
     * section 8.1, as Envoy resets a stream whose response ended first: conn_manager_impl.cc doEndStream), so its stream
     * does not stay open. Until 5 December it stayed half-open for good: a client opening such streams and never ending
     * them ran the proxy out of heap (a hostile-peer pass). Not at once: Node's client drops an unread body at a reset
     * ({@link #nodeHttp2ClientMixesAllowedAndDeniedOnOneSession}). An ended denied request gets no reset.
     */
    @Test
    void aDeniedRequestThatNeverEndsIsResetAfterItsReply() throws Exception {
        withEchoApp(DENY_X_DENY_V, via -> {
            assertThat(RawH2c.sendUnended(via, request("POST", "/d").add("x-deny", "v"), java.time.Duration.ofSeconds(5)))
                    .isEqualTo("403 RBAC: access denied | reset NO_ERROR");
            // Every local reply, not the denial's alone (a review pass: a fragment's 400 left its stream half-open).
            assertThat(RawH2c.sendUnended(via, request("POST", "/a#b"), java.time.Duration.ofSeconds(5)))
                    .isEqualTo("400 invalid :path | reset NO_ERROR");
            assertThat(RawH2c.sendAndWait(via, request("GET", "/d").add("x-deny", "v"), java.time.Duration.ofMillis(2_500)))
                    .as("an ended request is not reset").isEqualTo("403 RBAC: access denied | open");
        });
    }

    static io.netty.handler.codec.http2.Http2Headers request(String method, String path) {
        // Not validated here: the test sends what a peer may send.
        return new io.netty.handler.codec.http2.DefaultHttp2Headers(false).method(method).path(path).scheme("http")
                .authority("backend");
    }

    interface ViaProxy {
        void run(InetSocketAddress via) throws Exception;
    }

    /**
     * {@code body} run against zerohop's inbound L7 path (plaintext, HTTP/2 declared) under {@code policy}, in front of
     * {@link RawH2c#echoApp}.
     */
    static void withEchoApp(String policy, ViaProxy body) throws Exception {
        withEchoApp(InetAddress.getByName("127.0.74.2"), "h2-edges", policy, body);
    }

    /** The same on {@code ip}, the application's loop named {@code loopName}: for other classes' addresses (L7Http2ExtendedConnectTest). */
    static void withEchoApp(InetAddress ip, String loopName, String policy, ViaProxy body) throws Exception {
        io.netty.channel.EventLoopGroup loop = io.zerohop.hbone.internal.Transports.newGroup(1, loopName);
        try {
            io.netty.channel.Channel app = RawH2c.echoApp(loop, new InetSocketAddress(ip, 0));
            int port = ((InetSocketAddress) app.localAddress()).getPort();
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP2));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policy)).build();
            try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1).build()) {
                mesh.start().get(10, TimeUnit.SECONDS);
                body.run(mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port))));
            }
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
