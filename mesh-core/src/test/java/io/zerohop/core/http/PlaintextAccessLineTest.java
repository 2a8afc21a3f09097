package io.zerohop.core.http;

import static io.zerohop.core.http.L7SniffDecisionTest.await;
import static io.zerohop.core.http.L7SniffDecisionTest.count;
import static io.zerohop.core.http.L7SniffDecisionTest.readToEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Every plaintext-inbound connection ends in one access line, as ztunnel logs one per plaintext passthrough connection,
 * failed ones included (istio/ztunnel src/proxy/inbound_passthrough.rs {@code proxy_inbound_plaintext}: the connection
 * result is built before {@code assert_rbac}, and {@code record_with_flag(Err(e), AuthorizationPolicyDenied)} or
 * {@code record(res)} writes it, src/proxy/metrics.rs {@code record_internal}). Until 2 December a plaintext connection
 * denied at accept had only the WARN on {@code io.zerohop.core.Mesh}, and one parsed per request had no connection line
 * at all, whether it ended cleanly, was cut by a policy change or by the drain. Real sockets on 127.0.82.x, the JDK's
 * HTTP server or a ServerSocket as the application, zerohop's own format (slf4j-simple on stderr).
 */
class PlaintextAccessLineTest {

    /**
     * Denied at accept: by what no HTTP data can change on a port decided per request ({@code denialBeforeHttp}: a DENY on
     * the port), and by an L4 DENY on a port relayed as bytes. One access line each, {@code plaintext-inbound refused},
     * naming the policy; the WARN it replaces is DEBUG while the access log writes it (a refused tunnel's rule).
     */
    @Test
    void aConnectionDeniedAtAcceptHasOneRefusedLine() throws Exception {
        // With the ALLOW by path the port is decided per request; DENY_PORT alone leaves it relayed as bytes.
        for (String only : new String[] {null, L7SniffDecisionTest.DENY_PORT}) {
            String address = only == null ? "127.0.82.3" : "127.0.82.4";
            L7SniffDecisionTest.run(address, L7SniffDecisionTest.DENY_PORT, only, (server, mesh, backend, frontend, port, dst, seen) -> {
                InetAddress ip = backend.addresses().get(0);
                InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(via.getAddress(), via.getPort())) {
                    s.setSoTimeout(20_000);
                    assertThat(readToEnd(s)).isEmpty();
                    String line = err.awaitLine("access - plaintext-inbound refused src=" + s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort());
                    assertThat(line).as(address).contains(" src_id=- src_workload=- dst=" + address + ":" + port + " dst_id=" + backend.identity() + " status=- ")
                            .endsWith(" reason=\"DENY by prod/deny-port (AuthorizationPolicy DENY, rule 0): destination.port " + port + " matched\"");
                    assertThat(err.count(":" + s.getLocalPort())).as("one line for the connection: %s", address).isEqualTo(1);
                }
                await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
                assertThat(count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY"))).isEqualTo(1.0);
                assertThat(seen).isEmpty();
            });
        }
    }

    /**
     * Admitted, but nothing listens on the workload's port: ztunnel's {@code Error::ConnectionFailed}, counted
     * {@code CONNECT}, one access line naming the dial's error; the capture listener's own INFO line is not added
     * (until 2 December that INFO line was the only trace).
     */
    @Test
    void aConnectionWhoseDialFailsHasOneRefusedLine() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.82.11");
        int closedPort;
        try (ServerSocket gone = new ServerSocket(0, 1, ip)) {
            closedPort = gone.getLocalPort();
        }
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local");
        io.micrometer.core.instrument.simple.SimpleMeterRegistry dst = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        try (Mesh server = Mesh.builder().identityProvider(L7SniffDecisionTest.CA).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").meterRegistry(dst).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, closedPort)));
            // From a registry workload's address (the backend's own): the line names it, as a tunnel's inbound line and
            // ztunnel's src.workload do (a new-user pass found plaintext lines without it).
            try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(via.getAddress(), via.getPort(), ip, 0)) {
                s.setSoTimeout(20_000);
                assertThat(readToEnd(s)).isEmpty();
                String line = err.awaitLine("access - plaintext-inbound refused src=" + s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort());
                assertThat(line).contains(" src_id=- src_workload=prod/backend dst=127.0.82.11:" + closedPort + " dst_id=" + backend.identity() + " status=- reason=\"upstream 127.0.82.11:"
                        + closedPort + " unreachable: Connection refused (os error 111)\"");
                assertThat(err.count(":" + s.getLocalPort())).as("one line for the connection").isEqualTo(1);
            }
            await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "CONNECT")) >= 1);
            assertThat(count(dst.find("istio.tcp.connections.failed").tag("response_flags", "CONNECT"))).isEqualTo(1.0);
        }
    }

    /**
     * Parsed per request, ended by its client after one request: its request line (the waypoint's, in a mesh with one)
     * and one connection line (ztunnel's), {@code end=fin}, with the bytes each way as the wire carried them.
     */
    @Test
    void aParsedConnectionHasItsRequestLinesAndOneConnectionLine() throws Exception {
        L7SniffDecisionTest.run("127.0.82.5", null, (server, mesh, backend, frontend, port, dst, seen) -> {
            InetAddress ip = backend.addresses().get(0);
            InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
            try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(via.getAddress(), via.getPort())) {
                String response = L7SniffDecisionTest.request(s, "/api/a");
                assertThat(response).startsWith("HTTP/1.1 200 ");
                String from = "src=" + s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort() + " ";
                assertThat(err.awaitLine("access - plaintext-inbound-http " + from)).contains(" path=\"/api/a\" ");
                // The proxy closes once the client's FIN follows its own (Connection: close).
                s.close();
                String line = err.awaitLine("access - plaintext-inbound " + from);
                String request = "GET /api/a HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
                assertThat(line).contains(" src_id=- src_workload=- dst=127.0.82.5:" + port + " dst_id=" + backend.identity() + " status=- bytes_sent="
                        + response.getBytes(StandardCharsets.ISO_8859_1).length + " bytes_received=" + request.length() + " ").endsWith(" end=fin");
                assertThat(err.count("access - plaintext-inbound " + from)).isEqualTo(1);
            }
        });
    }

    /**
     * Parsed per request, cut at the drain's deadline while it waits for its next request (the drain waits for
     * plaintext connections and resets those left, TunnelCount): the connection line carries ztunnel's
     * {@code ClosedFromDrain} error, as a plain relay's and a tunnel's do.
     */
    @Test
    void aParsedConnectionCutByTheDrainSaysSo() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.82.6");
        try (ServerSocket app = new ServerSocket(0, 50, ip)) {
            String port = Integer.toString(app.getLocalPort());
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", L7Http10Test.POLICY.replace("PORT", port))).build();
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(app.getLocalPort(), AppProtocol.HTTP));
            // A short drain: the connection waits for its next request, so the deadline cuts it.
            Mesh server = Mesh.builder().identityProvider(L7SniffDecisionTest.CA).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine)
                    .drain(Duration.ofMillis(300)).threads(1).build();
            server.start().get(10, TimeUnit.SECONDS);
            try (CapturedStderr err = new CapturedStderr()) {
                InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                        new InetSocketAddress(ip, app.getLocalPort())));
                try (Socket s = new Socket(via.getAddress(), via.getPort())) {
                    s.setSoTimeout(20_000);
                    s.getOutputStream().write("GET /api/a HTTP/1.1\r\nHost: b\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    try (Socket appSide = app.accept()) {
                        appSide.setSoTimeout(20_000);
                        assertThat(L7EnforcementTest.readHead(appSide.getInputStream())).startsWith("GET /api/a ");
                        appSide.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
                        assertThat(L7EnforcementTest.readHead(s.getInputStream())).startsWith("HTTP/1.1 200 ");
                        assertThat(s.getInputStream().readNBytes(2)).isEqualTo("ok".getBytes(StandardCharsets.US_ASCII));
                        server.close();
                        String from = "src=" + s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort() + " ";
                        assertThat(err.awaitLine("access - plaintext-inbound " + from))
                                .endsWith(" end=reset error=\"connection closed due to connection drain\"");
                        assertThat(err.count("access - plaintext-inbound " + from)).isEqualTo(1);
                    }
                }
            } finally {
                server.close();
            }
        }
    }
}
