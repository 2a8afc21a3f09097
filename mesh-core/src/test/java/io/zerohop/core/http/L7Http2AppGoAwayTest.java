package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The application's GOAWAY under a parsed HTTP/2 tunnel, as Envoy's upstream connection pool takes it (envoyproxy/envoy
 * source/common/http/conn_pool_base.cc {@code MultiplexedActiveClientBase::onGoAway}: the connection is drained, its
 * open streams finish, it is closed once none is left, and the next request goes on a new connection while the
 * downstream connection goes on); a stream above the GOAWAY's last-stream-id is refused (nghttp2 closes it with
 * REFUSED_STREAM: {@code RemoteRefusedStreamReset}, source/common/http/http2/codec_impl.cc {@code onStreamClose}), which
 * Istio's inbound retry policy does not retry once the request was sent ({@code reset-before-request}), so the client
 * reads Envoy's 503 with flag {@code UR}; and the pool closes an application connection with no GOAWAY
 * ({@code CodecClient::close}, {@code NoFlush}). Node's http2 client and server, and an application written frame by
 * frame, through a real tunnel on this class's addresses (127.0.178.4 and .5). Until 6 December the application's
 * clean end drained the client's connection, and its next request failed.
 */
class L7Http2AppGoAwayTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-goaway, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["POST"], paths: ["/test.Echo/Allowed"]}}]
            """;

    static Process nodeApp;
    static RefusingApp rawApp;
    static Mesh server;
    static Mesh frontendProxy;
    static InetSocketAddress viaNode;
    static InetSocketAddress viaRaw;
    static io.grpc.Server grpcApp;
    static final AtomicInteger grpcConnections = new AtomicInteger();
    static InetSocketAddress viaGrpc;

    @BeforeAll
    static void start() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.178.4");
        InetAddress frontendIp = InetAddress.getByName("127.0.178.5");
        nodeApp = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), "127.0.178.4").redirectErrorStream(true));
        int nodePort = Integer.parseInt(ChildProcess.firstLine(nodeApp).trim());
        rawApp = new RefusingApp(new InetSocketAddress(backendIp, 0));
        // A gRPC server that ages its connections out (grpc-java's MAX_CONNECTION_AGE: a GOAWAY naming 2^31-1, a PING,
        // the final GOAWAY, the open calls finish within the grace).
        grpcApp = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(new InetSocketAddress(backendIp, 0))
                .maxConnectionAge(300, TimeUnit.MILLISECONDS).maxConnectionAgeGrace(30, TimeUnit.SECONDS)
                .addTransportFilter(new io.grpc.ServerTransportFilter() {
                    @Override
                    public io.grpc.Attributes transportReady(io.grpc.Attributes attributes) {
                        grpcConnections.incrementAndGet();
                        return attributes;
                    }
                })
                .addService(io.grpc.ServerServiceDefinition.builder("test.Echo").addMethod(L7Http2Test.ALLOWED,
                        io.grpc.stub.ServerCalls.asyncUnaryCall((req, obs) -> {
                            obs.onNext(req);
                            obs.onCompleted();
                        })).build()).build().start();
        int grpcPort = ((InetSocketAddress) grpcApp.getListenSockets().get(0)).getPort();
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("goaway.yaml", POLICY)).build();
        L7Pair pair = new L7Pair(backendIp, frontendIp,
                Map.of(nodePort, AppProtocol.HTTP2, rawApp.port(), AppProtocol.HTTP2, grpcPort, AppProtocol.GRPC),
                Map.of("b", new InetSocketAddress(backendIp, 15008)), policy, b -> b.threads(1));
        server = pair.server;
        frontendProxy = pair.client();
        viaNode = pair.via(frontendProxy, nodePort);
        viaRaw = pair.via(frontendProxy, rawApp.port());
        viaGrpc = pair.via(frontendProxy, grpcPort);
    }

    @AfterAll
    static void stop() throws Exception {
        L7Http2LimitsTest.closeAll(frontendProxy, server, rawApp);
        if (grpcApp != null) {
            grpcApp.shutdownNow();
        }
        nodeApp.destroy();
        nodeApp.waitFor(10, TimeUnit.SECONDS);
    }

    private static List<String> session(InetSocketAddress via, String... paths) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("env", "H2HOST=" + via.getHostString(), "node", L7Http2Test.resource("h2-client.js"),
                Integer.toString(via.getPort())));
        cmd.addAll(List.of(paths));
        return ChildProcess.run(cmd.toArray(String[]::new)).lines().toList();
    }

    /**
     * Node's server sends GOAWAY before each {@code /api/goaway-first} answer and ends its connection after it
     * ({@code session.close()}): every request of the client's one session, before and after each of those GOAWAYs, is
     * answered 200 by the application, each after a GOAWAY on a new connection. Until 6 December the first GOAWAY
     * drained the client's connection and its next request failed (Node's {@code ERR_HTTP2_GOAWAY_SESSION}). A request
     * that reaches the application's connection after the application sent its GOAWAY but before the proxy read it is
     * refused, and answered as the next test shows, as under Envoy.
     */
    @Test
    void requestsInARowAcrossTheApplicationsGoAwaysAreAllAnswered() throws Exception {
        List<String> lines = session(viaNode, "/api/goaway-first", "/api/after-1", "/api/goaway-first", "/api/goaway-first", "/api/after-2");
        assertThat(lines).hasSize(5);
        assertThat(lines.get(0)).startsWith("200 GET /api/goaway-first ");
        assertThat(lines.get(1)).startsWith("200 GET /api/after-1 ");
        assertThat(lines.get(2)).startsWith("200 GET /api/goaway-first ");
        assertThat(lines.get(3)).startsWith("200 GET /api/goaway-first ");
        assertThat(lines.get(4)).startsWith("200 GET /api/after-2 ");
    }

    /**
     * grpc-java's server with {@code MAX_CONNECTION_AGE} (300 ms) under one client channel: calls one after another until
     * the server has aged out two connections all succeed, on one channel whose connection through the tunnel goes on
     * (Envoy's pool drains each aged-out connection and dials the next). Until 6 December each server GOAWAY drained the
     * client's connection too.
     */
    @Test
    void grpcCallsAcrossTheServersConnectionAgeAllSucceed() throws Exception {
        io.grpc.ManagedChannel ch = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder
                .forAddress(viaGrpc.getHostString(), viaGrpc.getPort()).usePlaintext().build();
        try {
            int first = grpcConnections.get();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            int calls = 0;
            while (grpcConnections.get() < first + 3 && System.nanoTime() < deadline) {
                byte[] r = io.grpc.stub.ClientCalls.blockingUnaryCall(ch, L7Http2Test.ALLOWED,
                        io.grpc.CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), ("call " + calls).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                assertThat(new String(r, java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("call " + calls);
                calls++;
            }
            assertThat(grpcConnections.get()).as("the server's connections, each aged out in turn").isGreaterThanOrEqualTo(first + 3);
        } finally {
            ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The application answers a stream with GOAWAY naming stream 0 (it will not process it, RFC 9113 section 6.8): that
     * request gets Envoy's answer to a refused stream, 503 {@code remote refused stream reset} with the flag {@code UR}
     * (router.cc {@code onUpstreamReset}, {@code streamResetReasonToResponseFlag}); the application's connection, drained
     * with nothing left open, is closed by the proxy (conn_pool_base.cc {@code onGoAway}: a client with no active request
     * is closed at once); the next request of the same session is answered on a new connection.
     */
    @Test
    void aStreamTheApplicationsGoAwayRefusesGets503UrAndTheNextGoesOnANewConnection() throws Exception {
        int first = rawApp.connections.get();
        rawApp.refuseNext.set(true);
        try (CapturedStderr err = new CapturedStderr()) {
            List<String> lines = session(viaRaw, "/api/refused", "/api/after");
            assertThat(lines).containsExactly(
                    "503 upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset", "200 ");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/refused\" ")).contains(" status=503 decision=allow ")
                    .contains(" reason=\"upstream_reset_before_response_started{remote_refused_stream_reset}\" response_flags=UR ");
        }
        assertThat(rawApp.ended(first)).as("the connection the application sent GOAWAY on, closed by the proxy").contains("HEADERS");
        assertThat(rawApp.connections.get()).isEqualTo(first + 2);
    }

    /**
     * The application resets a stream with REFUSED_STREAM before answering it: the client gets Envoy's answer to an
     * upstream reset before headers, 503 {@code remote refused stream reset} with the flag {@code UR} (router.cc
     * {@code onUpstreamReset}; http2/codec_impl.cc {@code onStreamClose}: {@code RemoteRefusedStreamReset}), as for a stream
     * the application's GOAWAY refused, and the next request goes on the same application connection. Until 6 December the
     * client got the application's RST_STREAM ({@code reset ...} here).
     */
    @Test
    void aStreamTheApplicationResetsBeforeAnsweringGets503Ur() throws Exception {
        int first = rawApp.connections.get();
        rawApp.resetNext.set(true);
        try (CapturedStderr err = new CapturedStderr()) {
            List<String> lines = session(viaRaw, "/api/reset", "/api/after-reset");
            assertThat(lines).containsExactly(
                    "503 upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset", "200 ");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/reset\" ")).contains(" status=503 decision=allow ")
                    .contains(" reason=\"upstream_reset_before_response_started{remote_refused_stream_reset}\" response_flags=UR ");
        }
        assertThat(rawApp.ended(first)).as("one application connection for both requests").filteredOn("HEADERS"::equals).hasSize(2);
        assertThat(rawApp.connections.get()).isEqualTo(first + 1);
    }

    /**
     * The client's session ends: the application's connection is closed with no GOAWAY, as Envoy's pool closes an
     * upstream connection ({@code CodecClient::close}, {@code NoFlush}; the codec's {@code goAway} is called by no pool
     * code). Until 6 December Netty's codec sent GOAWAY first on every close (and would have waited up to 30 s for
     * streams still open).
     */
    @Test
    void theApplicationsConnectionIsClosedWithNoGoAwayWhenTheClientsSessionEnds() throws Exception {
        int first = rawApp.connections.get();
        assertThat(session(viaRaw, "/api/x", "/api/y")).containsExactly("200 ", "200 ");
        assertThat(rawApp.ended(first)).as("what the application's connection received before its end")
                .contains("HEADERS").doesNotContain("GOAWAY");
    }

    /**
     * An h2c application written frame by frame: it answers a request with {@code :status 200} and END_STREAM, or, when
     * {@link #refuseNext} is set, with GOAWAY (NO_ERROR) naming stream 0, so that request is refused, keeping the
     * connection until the proxy closes it. Each connection's frames, by type, once the proxy has closed it.
     */
    static final class RefusingApp implements AutoCloseable {
        static final String[] NAMES = {"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE"};
        final ServerSocket socket;
        final AtomicInteger connections = new AtomicInteger();
        final java.util.concurrent.atomic.AtomicBoolean refuseNext = new java.util.concurrent.atomic.AtomicBoolean();
        /** The next request's stream is reset with RST_STREAM REFUSED_STREAM, the connection going on. */
        final java.util.concurrent.atomic.AtomicBoolean resetNext = new java.util.concurrent.atomic.AtomicBoolean();
        final Map<Integer, CompletableFuture<List<String>>> frames = new ConcurrentHashMap<>();

        RefusingApp(InetSocketAddress at) throws IOException {
            socket = new ServerSocket();
            socket.bind(at);
            Thread t = new Thread(this::accept, "refusing-h2-app");
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return socket.getLocalPort();
        }

        /** The frames connection {@code index} received, once the proxy closed it. */
        List<String> ended(int index) throws Exception {
            return frames.computeIfAbsent(index, i -> new CompletableFuture<>()).get(30, TimeUnit.SECONDS);
        }

        private void accept() {
            while (!socket.isClosed()) {
                try {
                    Socket s = socket.accept();
                    int index = connections.getAndIncrement();
                    Thread t = new Thread(() -> serve(s, index), "refusing-h2-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket s, int index) {
            List<String> seen = new ArrayList<>();
            try (s) {
                DataInputStream in = new DataInputStream(s.getInputStream());
                OutputStream out = s.getOutputStream();
                RawH2.serverPreface(in, out);
                while (true) {
                    RawH2.Frame f = RawH2.next(in);
                    if (f == null) {
                        break;
                    }
                    int type = f.type();
                    int stream = f.stream();
                    seen.add(type >= 0 && type < NAMES.length ? NAMES[type] : "type" + type);
                    if (f.isSettings()) {
                        out.write(RawH2.SETTINGS_ACK);
                    } else if (type == 1 && refuseNext.getAndSet(false)) {
                        // GOAWAY, last-stream-id 0, NO_ERROR: the stream just received is not processed.
                        out.write(new byte[] {0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
                    } else if (type == 1 && resetNext.getAndSet(false)) {
                        out.write(new byte[] {0, 0, 4, 3, 0, (byte) (stream >>> 24), (byte) (stream >>> 16), (byte) (stream >>> 8),
                            (byte) stream, 0, 0, 0, 7});
                    } else if (type == 1) {
                        out.write(RawH2.ok(stream));
                    }
                    out.flush();
                }
            } catch (IOException e) {
                // The proxy reset the connection: its frames so far.
            }
            frames.computeIfAbsent(index, i -> new CompletableFuture<>()).complete(seen);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
