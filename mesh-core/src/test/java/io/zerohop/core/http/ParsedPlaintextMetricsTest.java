package io.zerohop.core.http;

import static io.zerohop.core.http.L7SniffDecisionTest.await;
import static io.zerohop.core.http.L7SniffDecisionTest.count;
import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A plaintext-inbound connection parsed per request (or sniffed, then relayed as bytes) counts in ztunnel's
 * {@code istio_tcp_*} metrics as every plaintext passthrough connection does in ztunnel: istio/ztunnel
 * src/proxy/inbound_passthrough.rs {@code proxy_inbound_plaintext} builds one {@code ConnectionResult} per connection
 * (opened when built, src/proxy/metrics.rs {@code ConnectionResultBuilder::build}), its copy adds the bytes, and
 * {@code record} closes it (failed with the flag of its error). Labels as that result's: {@code reporter="destination"},
 * the source workload found by the client's address, no source principal (its derived source has no identity), the
 * destination workload with its identity as principal ({@code with_destination}: {@code w.identity()}),
 * {@code request_protocol="tcp"}, {@code connection_security_policy="unknown"} ({@code SecurityPolicy::unknown}).
 * Until 2 December such a connection counted only when denied. Real sockets on 127.0.86.x: a client bound to the
 * frontend's address, the JDK's HTTP server as the backend, Micrometer's in-memory registry read as the scrape is.
 */
class ParsedPlaintextMetricsTest {

    @Test
    void aParsedConnectionIsOpenedClosedAndCountsItsBytesOnce() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.86.2");
        InetAddress frontendIp = InetAddress.getByName("127.0.86.3");
        HttpServer app = L7Http10Test.app(ip, new CopyOnWriteArrayList<>(), true);
        try {
            int port = app.getAddress().getPort();
            // An ALLOW by path: the auto port is sniffed and parsed per request.
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                    L7Http10Test.POLICY.replace("PORT", Integer.toString(port)))).build();
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.AUTO));
            Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(frontendIp),
                    Workload.Protocol.HBONE, "a", "cluster.local");
            SimpleMeterRegistry m = new SimpleMeterRegistry();
            try (Mesh server = Mesh.builder().identityProvider(L7SniffDecisionTest.CA).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend, frontend), Map.of())).node("b").policies(engine)
                    .meterRegistry(m).threads(1).build()) {
                server.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                Tags labels = Tags.of("reporter", "destination", "source_workload", "frontend", "source_workload_namespace", "prod",
                        "source_principal", "unknown", "source_cluster", "Kubernetes", "destination_workload", "backend",
                        "destination_canonical_service", "backend", "destination_principal", backend.identity().toString(),
                        "destination_cluster", "Kubernetes", "request_protocol", "tcp", "connection_security_policy", "unknown");
                Tags clean = labels.and("response_flags", "-");
                Tags denied = labels.and("response_flags", "DENY");

                String request = "GET /api/a HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
                int responseBytes;
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress(frontendIp, 0));
                    s.connect(via, 10_000);
                    String response = L7SniffDecisionTest.request(s, "/api/a");
                    assertThat(response).startsWith("HTTP/1.1 200 ");
                    responseBytes = response.getBytes(StandardCharsets.ISO_8859_1).length;
                }
                await(() -> count(m.find("istio.tcp.connections.closed").tags(labels)) >= 1);
                assertThat(count(m.find("istio.tcp.connections.opened").tags(clean))).isEqualTo(1);
                assertThat(count(m.find("istio.tcp.connections.closed").tags(clean))).isEqualTo(1);
                assertThat(count(m.find("istio.tcp.connections.failed").tags(labels))).isZero();
                // As the wire carried them, as a plain relay counts them: received = the request, sent = the response.
                assertThat(count(m.find("istio.tcp.received.bytes").tags(labels))).isEqualTo(request.length());
                assertThat(count(m.find("istio.tcp.sent.bytes").tags(labels))).isEqualTo(responseBytes);

                // Not HTTP: sniffed, then denied (the ALLOW's paths cannot match bytes): one more connection, counted once,
                // opened with "-" and closed and failed with DENY (before, it was counted by the denial alone).
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress(frontendIp, 0));
                    s.connect(via, 10_000);
                    s.setSoTimeout(20_000);
                    s.getOutputStream().write("\u0001\u0002junk".getBytes(StandardCharsets.ISO_8859_1));
                    assertThat(L7SniffDecisionTest.readToEnd(s)).isEmpty();
                }
                // Failed last: MicrometerSink.closed counts closed, then failed, on the relay's event loop; a wait for
                // closed alone could read failed in between (a descheduled loop thread on a loaded CI).
                await(() -> count(m.find("istio.tcp.connections.closed").tags(labels)) >= 2
                        && count(m.find("istio.tcp.connections.failed").tags(denied)) >= 1);
                assertThat(count(m.find("istio.tcp.connections.opened").tags(labels))).as("every connection opened once").isEqualTo(2);
                assertThat(count(m.find("istio.tcp.connections.closed").tags(denied))).isEqualTo(1);
                assertThat(count(m.find("istio.tcp.connections.failed").tags(denied))).isEqualTo(1);
                assertThat(count(m.find("istio.tcp.received.bytes").tags(clean))).isEqualTo(request.length() + 6);
                Thread.sleep(200); // nothing more comes: a second count of either connection would show here
                assertThat(count(m.find("istio.tcp.connections.closed").tags(labels))).isEqualTo(2);
                assertThat(count(m.find("istio.tcp.connections.opened").tags(labels))).isEqualTo(2);
            }
        } finally {
            app.stop(0);
        }
    }
}
