package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The application's h2c connection failing under a parsed HTTP/2 tunnel: as Envoy, the request whose response had not
 * started gets 503 (502 for a protocol error) with the reset's reason and flag, and the downstream connection goes on, its next request on a new
 * connection to the application (envoyproxy/envoy source/common/http/codec_client.cc {@code CodecClient::onEvent}: a
 * connection closed after a protocol error resets its requests with {@code ProtocolError} and the flag {@code UPE},
 * otherwise with {@code ConnectionTermination}; source/common/router/router.cc {@code onUpstreamReset}: 503
 * {@code upstream connect error or disconnect/reset before headers. reset reason: ...}, details
 * {@code upstream_reset_before_response_started{...}}, the flag {@code UC} for a connection termination). Node's
 * http2 client through a real tunnel, on this class's addresses (127.0.122.4 and .5). Until 2 December such a failure
 * reset the whole tunnel.
 */
class L7Http2AppFailureTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-failure, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
            """;

    static Process nodeApp;
    static RawH2App rawApp;
    static Mesh server;
    static Mesh frontendProxy;
    static InetSocketAddress viaNode;
    static InetSocketAddress viaRaw;
    static final SimpleMeterRegistry meters = new SimpleMeterRegistry();

    @BeforeAll
    static void start() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.122.4");
        InetAddress frontendIp = InetAddress.getByName("127.0.122.5");
        nodeApp = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), "127.0.122.4").redirectErrorStream(true));
        int nodePort = Integer.parseInt(ChildProcess.firstLine(nodeApp).trim());
        rawApp = new RawH2App(new InetSocketAddress(backendIp, 0));
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("failure.yaml", POLICY)).build();
        L7Pair pair = new L7Pair(backendIp, frontendIp, Map.of(nodePort, AppProtocol.HTTP2, rawApp.port(), AppProtocol.HTTP2),
                Map.of("b", new InetSocketAddress(backendIp, 15008)), policy, b -> b.meterRegistry(meters).threads(1));
        server = pair.server;
        frontendProxy = pair.client();
        viaNode = pair.via(frontendProxy, nodePort);
        viaRaw = pair.via(frontendProxy, rawApp.port());
    }

    @AfterAll
    static void stop() throws Exception {
        L7Http2LimitsTest.closeAll(frontendProxy, server, rawApp);
        nodeApp.destroy();
        nodeApp.waitFor(10, TimeUnit.SECONDS);
    }

    static List<String> requests(InetSocketAddress via, String... paths) throws Exception {
        String[] specs = new String[paths.length];
        for (int i = 0; i < paths.length; i++) {
            specs[i] = "{\"path\":\"" + paths[i] + "\"}";
        }
        return L7Http2LimitsTest.requests(via, specs);
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

    /**
     * The application resets its connection (a TCP RST) instead of answering: that request gets 503 with Envoy's body
     * for a connection termination and the flag {@code UC}, and the next request on the same session is answered by a
     * new connection to the application.
     */
    @Test
    void theApplicationResettingItsConnectionGets503AndTheSessionGoesOn() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            List<String> lines = requests(viaNode, "/api/rst", "/api/after");
            assertThat(lines.get(0)).isEqualTo("503 upstream connect error or disconnect/reset before headers. reset reason: connection termination");
            assertThat(lines.get(1)).startsWith("200 GET /api/after ");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/rst\" ")).contains(" status=503 decision=allow ")
                    .contains(" reason=\"upstream_reset_before_response_started{connection_termination}\" response_flags=UC ");
        }
        assertThat(counted("503", "UC")).isEqualTo(1);
    }

    /**
     * The application sends a malformed frame (DATA on stream 0, a connection error, RFC 9113 section 6.1): the
     * request gets 502 (router.cc {@code onUpstreamReset}: Bad Gateway for a {@code ProtocolError}; 503 until 2 December)
     * with the reason {@code protocol error} and the flag {@code UPE}; the next request goes to a new
     * connection, which this application answers.
     */
    @Test
    void anApplicationProtocolErrorGets502UpeAndTheSessionGoesOn() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            List<String> lines = requests(viaRaw, "/api/proto", "/api/after");
            assertThat(lines.get(0)).isEqualTo("502 upstream connect error or disconnect/reset before headers. reset reason: protocol error");
            assertThat(lines.get(1)).isEqualTo("200 ");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/proto\" ")).contains(" status=502 decision=allow ")
                    .contains(" reason=\"upstream_reset_before_response_started{protocol_error}\" response_flags=UPE ");
        }
        assertThat(rawApp.connections.get()).isEqualTo(2);
        assertThat(counted("502", "UPE")).isEqualTo(1);
    }

    /**
     * An h2c application written frame by frame: on its first connection it answers the first request with DATA on
     * stream 0 (a protocol error); on any later one, {@code :status 200} with END_STREAM (HPACK static index 8).
     */
    static final class RawH2App implements AutoCloseable {
        final ServerSocket socket;
        final AtomicInteger connections = new AtomicInteger();

        RawH2App(InetSocketAddress at) throws IOException {
            socket = new ServerSocket();
            socket.bind(at);
            Thread t = new Thread(this::accept, "raw-h2-app");
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return socket.getLocalPort();
        }

        private void accept() {
            while (!socket.isClosed()) {
                try {
                    Socket s = socket.accept();
                    int index = connections.getAndIncrement();
                    Thread t = new Thread(() -> serve(s, index), "raw-h2-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        private static void serve(Socket s, int index) {
            try (s) {
                DataInputStream in = new DataInputStream(s.getInputStream());
                OutputStream out = s.getOutputStream();
                RawH2.serverPreface(in, out);
                while (true) {
                    RawH2.Frame f = RawH2.next(in);
                    if (f == null) {
                        return;
                    }
                    int type = f.type();
                    int stream = f.stream();
                    if (f.isSettings()) {
                        out.write(RawH2.SETTINGS_ACK);
                    } else if (type == 1 && index == 0) {
                        out.write(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0});
                    } else if (type == 1) {
                        out.write(RawH2.ok(stream));
                    }
                    out.flush();
                }
            } catch (IOException e) {
                // The proxy ended the connection.
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
