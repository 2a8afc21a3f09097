package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A node proxy's HTTP port whose application is down: as behind Envoy in a waypoint, where RBAC runs before the router
 * asks for an upstream connection, a denied request gets {@code 403 RBAC: access denied} and its deny line whatever the
 * application's state, and an allowed one gets the router's local 503 after the retries of Istio's inbound route
 * (envoyproxy/envoy source/common/router/router.cc {@code onUpstreamReset}: {@code upstream connect error or
 * disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure
 * reason: delayed connect error: Connection refused}, details
 * {@code upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}},
 * flags {@code URX,UF}) while the client's connection goes on: its next request dials again. Until 2 December the
 * application was dialled when the tunnel opened and a failed dial reset the tunnel, so neither answer came. Real HBONE
 * tunnels from a capturing proxy, on this class's addresses (127.0.121.4 and .5).
 */
class L7AppUnreachableTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-api, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {paths: ["/api/*"]}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-no-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {paths: ["/api/admin"]}}]
            """;
    /** After the two retries of Istio's inbound route (AppDialRetry, L7AppDialRetryTest). */
    static final String REFUSED = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, "
            + "transport failure reason: delayed connect error: Connection refused";
    static final String REFUSED_DETAILS = "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}";

    static InetAddress backendIp;
    static Mesh server;
    static Mesh frontendProxy;
    /** A port of the backend on which nothing ever listens. */
    static InetSocketAddress viaDown;
    /** A port of the backend whose application starts during a test. */
    static InetSocketAddress viaLater;
    static int laterPort;
    static final SimpleMeterRegistry meters = new SimpleMeterRegistry();

    @BeforeAll
    static void start() throws Exception {
        backendIp = InetAddress.getByName("127.0.121.4");
        InetAddress frontendIp = InetAddress.getByName("127.0.121.5");
        int downPort = freePort();
        laterPort = freePort();
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("unreachable.yaml", POLICY)).build();
        L7Pair pair = new L7Pair(backendIp, frontendIp, Map.of(downPort, AppProtocol.HTTP, laterPort, AppProtocol.HTTP),
                Map.of("b", new InetSocketAddress(backendIp, 15008)), policy, b -> b.meterRegistry(meters).threads(1));
        server = pair.server;
        frontendProxy = pair.client();
        viaDown = pair.via(frontendProxy, downPort);
        viaLater = pair.via(frontendProxy, laterPort);
    }

    @AfterAll
    static void stop() throws Exception {
        L7Http2LimitsTest.closeAll(frontendProxy, server);
    }

    /** A port of the backend's address that nothing listens on (bound, then closed). */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, backendIp)) {
            return s.getLocalPort();
        }
    }

    record Response(int status, Map<String, String> headers, String body) {}

    /** One response: status line, headers (names lower case), a {@code content-length} body. */
    static Response read(InputStream in) throws IOException {
        String head = readHead(in);
        assertThat(head).as("a response, not the end of the connection").isNotEmpty();
        String[] lines = head.split("\r\n");
        int status = Integer.parseInt(lines[0].split(" ")[1]);
        Map<String, String> headers = new java.util.HashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
        }
        byte[] body = in.readNBytes(Integer.parseInt(headers.getOrDefault("content-length", "0")));
        return new Response(status, headers, new String(body, StandardCharsets.US_ASCII));
    }

    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        for (int c; (c = in.read()) >= 0; ) {
            head.write(c);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                return head.toString(StandardCharsets.ISO_8859_1).trim();
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1).trim();
    }

    static Socket client(InetSocketAddress via) throws IOException {
        Socket s = new Socket(via.getAddress(), via.getPort());
        s.setSoTimeout(30_000);
        return s;
    }

    static void send(Socket s, String request) throws IOException {
        s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
    }

    /** {@code istio_requests_total{response_code=code,response_flags=flags}} once it reaches 1 (counted just after the access line). */
    static double counted(String code, String flags) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            Counter c = meters.find("istio.requests").tag("response_code", code).tag("response_flags", flags).counter();
            if (c != null && c.count() >= 1) {
                return c.count();
            }
            Thread.sleep(20);
        }
        return 0;
    }

    @Test
    void aDeniedRequestGets403AndItsDenyLineWhileTheApplicationIsDown() throws Exception {
        try (CapturedStderr err = new CapturedStderr(); Socket c = client(viaDown)) {
            send(c, "GET /api/admin HTTP/1.1\r\nHost: backend\r\n\r\n");
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(403);
            assertThat(r.body()).isEqualTo("RBAC: access denied");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/admin\" "))
                    .contains(" src_id=spiffe://cluster.local/ns/prod/sa/frontend ")
                    .contains(" dst_id=spiffe://cluster.local/ns/prod/sa/backend ")
                    .contains(" status=403 decision=deny ")
                    .contains("backend-no-admin");
            // The connection goes on: a second denial on it is answered too.
            send(c, "GET /other HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).isEqualTo(403);
        }
        assertThat(counted("403", "-")).isGreaterThanOrEqualTo(1);
    }

    /**
     * A client's FIN on a connection whose requests were all denied, so that no application connection exists: the
     * connection ends (its FIN back), not left half-open waiting for an application's FIN that cannot come.
     */
    @Test
    void theClientsFinEndsAConnectionWithoutAnApplicationConnection() throws Exception {
        try (Socket c = client(viaDown)) {
            send(c, "GET /api/admin HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).isEqualTo(403);
            c.shutdownOutput();
            assertThat(c.getInputStream().read()).isEqualTo(-1);
        }
    }

    /**
     * An allowed request while nothing listens gets Envoy's 503 with {@code URX,UF} in the access line and the metric; the
     * client's connection stays open, and once the application listens, the next request on it reaches the application.
     */
    @Test
    void anAllowedRequestGets503UfAndTheNextOneOnTheConnectionReachesTheApplicationOnceItIsUp() throws Exception {
        try (CapturedStderr err = new CapturedStderr(); Socket c = client(viaLater)) {
            send(c, "GET /api/first HTTP/1.1\r\nHost: backend\r\n\r\n");
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(REFUSED);
            assertThat(r.headers()).doesNotContainKey("connection");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/first\" "))
                    .contains(" src_id=spiffe://cluster.local/ns/prod/sa/frontend ")
                    .contains(" status=503 decision=allow ")
                    .contains(" reason=\"" + REFUSED_DETAILS + "\" response_flags=URX,UF ");
            assertThat(counted("503", "URX,UF")).isGreaterThanOrEqualTo(1);

            try (ServerSocket app = new ServerSocket(laterPort, 1, backendIp)) {
                CompletableFuture<String> served = CompletableFuture.supplyAsync(() -> {
                    try (Socket s = app.accept()) {
                        String head = readHead(s.getInputStream());
                        OutputStream out = s.getOutputStream();
                        out.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
                        out.flush();
                        // Until the client's FIN comes through.
                        assertThat(s.getInputStream().read()).isEqualTo(-1);
                        return head;
                    } catch (IOException e) {
                        throw new CompletionException(e);
                    }
                });
                send(c, "GET /api/second HTTP/1.1\r\nHost: backend\r\n\r\n");
                Response ok = read(c.getInputStream());
                assertThat(ok.status()).isEqualTo(200);
                assertThat(ok.body()).isEqualTo("ok");
                // The client's FIN reaches the application, which then ends its side.
                c.shutdownOutput();
                assertThat(served.get(30, TimeUnit.SECONDS)).startsWith("GET /api/second HTTP/1.1\r\n");
            }
        }
    }

    /**
     * An allowed request with a body while nothing listens: 503, and the parts of the body read before the dial failed
     * are released (the class fails on any leak: paranoid leak detection, LeakDetectionExtension). The answer may
     * close the connection (when it comes before the body's end, as Envoy's connection manager closes it), so the
     * request after it goes on a new one.
     */
    @Test
    void anAllowedRequestWithABodyGets503AndItsBufferedBodyIsReleased() throws Exception {
        byte[] body = new byte[256 << 10];
        java.util.Arrays.fill(body, (byte) 'b');
        for (int i = 0; i < 3; i++) {
            try (CapturedStderr err = new CapturedStderr(); Socket c = client(viaDown)) {
                String path = "/api/upload-" + i;
                CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                    try {
                        send(c, "POST " + path + " HTTP/1.1\r\nHost: backend\r\nContent-Length: " + body.length + "\r\n\r\n");
                        c.getOutputStream().write(body);
                        c.getOutputStream().flush();
                    } catch (IOException e) {
                        // The proxy may close after its answer, before the whole body was sent.
                    }
                });
                Response r = read(c.getInputStream());
                assertThat(r.status()).isEqualTo(503);
                assertThat(r.body()).isEqualTo(REFUSED);
                assertThat(err.awaitLine("access - inbound-http ", " path=\"" + path + "\" ")).contains(" status=503 decision=allow ")
                        .contains(" response_flags=URX,UF ");
                sent.get(30, TimeUnit.SECONDS);
            }
        }
        try (Socket c = client(viaDown)) {
            send(c, "POST /api/small HTTP/1.1\r\nHost: backend\r\nContent-Length: 5\r\n\r\nhello");
            assertThat(read(c.getInputStream()).status()).isEqualTo(503);
        }
    }

    /**
     * HTTP/2 (h2c with prior knowledge on the HTTP port) while nothing listens: each allowed request gets the same 503
     * and {@code URX,UF}, a denied one its 403, a gRPC one Envoy's gRPC local reply (trailers-only, {@code grpc-status: 14}
     * with the 503's body as {@code grpc-message}), all on one session (Node's http2 client).
     */
    @Test
    void http2RequestsGet503UfOr403OnOneSession() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            List<String> lines = L7Http2LimitsTest.requests(viaDown, "{\"path\":\"/api/h2-a\"}", "{\"path\":\"/api/admin\"}",
                    "{\"path\":\"/api/h2-b\"}", "{\"path\":\"/api/grpc\",\"grpc\":true}");
            assertThat(lines.get(0)).isEqualTo("503 " + REFUSED);
            assertThat(lines.get(1)).isEqualTo("403 RBAC: access denied");
            assertThat(lines.get(2)).isEqualTo("503 " + REFUSED);
            assertThat(lines.get(3)).isEqualTo("200 grpc-status=14 grpc-message=" + REFUSED);
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/h2-b\" ")).contains(" protocol=HTTP/2 status=503 decision=allow ")
                    .contains(" reason=\"" + REFUSED_DETAILS + "\" response_flags=URX,UF ");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/grpc\" "))
                    .contains(" protocol=HTTP/2 status=200 grpc_status=14 decision=allow ")
                    .contains(" reason=\"" + REFUSED_DETAILS + "\" response_flags=URX,UF ");
        }
    }
}
