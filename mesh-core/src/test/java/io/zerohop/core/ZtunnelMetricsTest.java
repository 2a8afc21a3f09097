package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.search.Search;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * ztunnel's metrics (istio/ztunnel src/proxy/metrics.rs) on both reporters with an asymmetric app:
 * the client sends 3000 bytes, the server answers 70. Istio counts {@code sent} as the response
 * (server to client) and {@code received} as the request for both reporters (metrics.rs: "Istio flips
 * the metric for source", istio/istio#32399).
 */
class ZtunnelMetricsTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
            """;

    @Test
    void bothReportersCountTheRequestAsReceivedAndTheResponseAsSent() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.0.2");
        Workload backend = new Workload("prod", "backend-v2", "backend", Map.of("app", "backend", "version", "v2",
                "topology.kubernetes.io/region", "eu-west-1", "topology.kubernetes.io/zone", "eu-west-1b"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local");
        Workload frontend = new Workload("prod", "frontend-abc", "frontend",
                Map.of("service.istio.io/canonical-name", "frontend", "app.kubernetes.io/version", "1.0"),
                List.of(InetAddress.getByName("127.0.0.3")), Workload.Protocol.HBONE, null, "cluster.local");
        Workload legacy = new Workload("legacy", "old", "old", Map.of(), List.of(InetAddress.getByName("127.0.0.4")),
                Workload.Protocol.HBONE, null, "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend, legacy), Map.of());
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        SimpleMeterRegistry dst = new SimpleMeterRegistry();
        SimpleMeterRegistry src = new SimpleMeterRegistry();
        try (ServerSocket app = new ServerSocket(0, 50, ip);
             Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                     .inbound(new InetSocketAddress(ip, 0)).meterRegistry(dst).threads(2).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            // Selected by two Services: "backend" targets the app's port, "metrics" another one.
            Workload served = new Workload(backend.namespace(), backend.name(), backend.serviceAccount(), backend.labels(),
                    backend.addresses(), backend.protocol(), "b", backend.trustDomain(), Map.of(), null, null, List.of(
                    new WorkloadService("a-metrics", "prod", "a-metrics.prod.svc.cluster.local", java.util.Set.of(9090)),
                    new WorkloadService("backend", "prod", "backend.prod.svc.cluster.local", java.util.Set.of(app.getLocalPort()))));
            registry.replace(List.of(served, frontend, legacy), Map.of("b", server.inboundAddress()));
            Thread t = new Thread(() -> {
                try (Socket s = app.accept()) {
                    InputStream in = s.getInputStream();
                    in.readNBytes(3000);
                    s.getOutputStream().write(new byte[70]);
                    s.shutdownOutput();
                    in.readAllBytes();
                } catch (Exception ignored) {
                    // the client side asserts
                }
            });
            t.start();
            try (Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).meterRegistry(src).threads(2).build()) {
                try (Socket s = clients.socketFactory(frontend.identity()).createSocket(ip, app.getLocalPort())) {
                    s.getOutputStream().write(new byte[3000]);
                    s.shutdownOutput();
                    assertThat(s.getInputStream().readAllBytes()).hasSize(70);
                }
                t.join(10_000);
                for (SimpleMeterRegistry m : List.of(src, dst)) {
                    String reporter = m == src ? "source" : "destination";
                    await(() -> sum(m.find("istio.tcp.connections.closed").tag("reporter", reporter)) >= 1);
                    Search received = m.find("istio.tcp.received.bytes").tag("reporter", reporter);
                    Search sent = m.find("istio.tcp.sent.bytes").tag("reporter", reporter);
                    assertThat(sum(received)).as(reporter + " received = client->server").isEqualTo(3000);
                    assertThat(sum(sent)).as(reporter + " sent = server->client").isEqualTo(70);
                    Counter opened = m.find("istio.tcp.connections.opened").counter();
                    var tags = opened.getId().getTags().stream()
                            .collect(java.util.stream.Collectors.toMap(x -> x.getKey(), x -> x.getValue()));
                    assertThat(tags).containsEntry("reporter", reporter)
                            .containsEntry("source_principal", frontend.identity().toString())
                            .containsEntry("source_workload", "frontend-abc")
                            .containsEntry("source_canonical_service", "frontend")
                            .containsEntry("source_canonical_revision", "1.0")
                            // At the destination, from the baggage: ztunnel's derived source uses the workload name
                            // (with_derived_source). At the source, its own workload: ztunnel's with_source after the
                            // identity-only derived source (outbound.rs conn_metrics_from_request) sets the canonical service.
                            .containsEntry("source_app", reporter.equals("destination") ? "frontend-abc" : "frontend")
                            .containsEntry("source_version", "1.0")
                            .containsEntry("source_workload_namespace", "prod")
                            .containsEntry("destination_principal", backend.identity().toString())
                            .containsEntry("destination_workload", "backend-v2")
                            .containsEntry("destination_canonical_service", "backend")
                            .containsEntry("destination_canonical_revision", "v2")
                            .containsEntry("destination_app", "backend")
                            .containsEntry("destination_version", "v2")
                            // ztunnel's guess_inbound_service at the destination: the first Service with a port
                            // targeting the connection's; at the source, the Service the client dialled (a pod address: none).
                            .containsEntry("destination_service", reporter.equals("destination") ? "backend.prod.svc.cluster.local" : "unknown")
                            .containsEntry("destination_service_name", reporter.equals("destination") ? "backend" : "unknown")
                            .containsEntry("destination_service_namespace", reporter.equals("destination") ? "prod" : "unknown")
                            // ztunnel's workloads carry istiod's cluster id, "Kubernetes" by default (src/state/workload.rs)
                            .containsEntry("source_cluster", "Kubernetes")
                            .containsEntry("destination_cluster", "Kubernetes")
                            .containsEntry("request_protocol", "tcp")
                            .containsEntry("response_flags", "-")
                            .containsEntry("connection_security_policy", "mutual_tls")
                            // ztunnel's LocalityLabels, on every series where a side is a known workload: the
                            // backend's from its topology labels; the frontend's baggage names none.
                            .containsEntry("destination_region", "eu-west-1")
                            .containsEntry("destination_zone", "eu-west-1b")
                            .containsEntry("source_region", "unknown")
                            .containsEntry("source_zone", "unknown");
                    assertThat(tags).hasSize(27);
                }

                // A denied caller: opened, closed and failed with response_flags DENY at the destination,
                // CONNECT at the source (ztunnel's outbound records any failure to open as CONNECT).
                Throwable denied = catchThrowable(() -> clients.connect(legacy.identity(),
                        new InetSocketAddress(ip, app.getLocalPort())).get(10, TimeUnit.SECONDS));
                assertThat(denied).hasCauseInstanceOf(HboneRefusedException.class);
                await(() -> sum(src.find("istio.tcp.connections.failed").tag("response_flags", "CONNECT")) >= 1);
                for (String name : List.of("istio.tcp.connections.opened", "istio.tcp.connections.closed")) {
                    assertThat(sum(dst.find(name).tag("source_principal", legacy.identity().toString()))).as(name).isEqualTo(1);
                }
                assertThat(sum(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")
                        .tag("source_principal", legacy.identity().toString()))).isEqualTo(1);
                assertThat(sum(src.find("istio.tcp.connections.failed").tag("response_flags", "CONNECT")
                        .tag("source_principal", legacy.identity().toString()))).isEqualTo(1);
                // Its byte series exist, at 0, as ztunnel creates them when it starts tracking a connection (before its
                // RBAC): the dashboards' variable queries over istio_tcp_sent_bytes_total list a source only ever denied.
                for (String name : List.of("istio.tcp.sent.bytes", "istio.tcp.received.bytes")) {
                    assertThat(dst.find(name).tag("source_principal", legacy.identity().toString()).counters()).as(name)
                            .hasSize(1).allSatisfy(c -> assertThat(c.count()).isZero());
                }
                // The allowed tunnel is no failure.
                assertThat(sum(dst.find("istio.tcp.connections.failed").tag("source_principal", frontend.identity().toString())))
                        .isZero();
            }
        }
    }

    /**
     * A label present with an empty value is what Istio's {@code CanonicalService} returns (istio/istio
     * pkg/kube/labels/labels.go {@code lookupLabelValue}: the first key present wins, so {@code app.kubernetes.io/name: ""}
     * shadows {@code app}, as a chart with an empty {@code appVersion} renders {@code app.kubernetes.io/version: ""}), and
     * ztunnel labels such a workload {@code unknown} (src/proxy/metrics.rs {@code with_source}/{@code with_destination}:
     * src/metrics.rs {@code From<Strng> for DefaultedUnknown} reads an empty string as unknown). Until 6 December zerohop
     * wrote the empty value, which Prometheus reads as no label at all. Real tunnels on 127.0.143.22 between two meshes.
     */
    @Test
    void anEmptyCanonicalLabelIsUnknownAsZtunnels() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.143.22");
        Workload backend = new Workload("prod", "backend-v2", "backend", Map.of("app.kubernetes.io/name", "", "app", "backend",
                "app.kubernetes.io/version", "", "version", "v2"), List.of(ip), Workload.Protocol.HBONE, "b", "cluster.local");
        Workload frontend = new Workload("prod", "frontend-abc", "frontend", Map.of("service.istio.io/canonical-name", "",
                "service.istio.io/canonical-revision", ""), List.of(InetAddress.getByName("127.0.143.23")), Workload.Protocol.HBONE,
                null, "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of());
        SimpleMeterRegistry dst = new SimpleMeterRegistry();
        SimpleMeterRegistry src = new SimpleMeterRegistry();
        try (ServerSocket app = new ServerSocket(49440, 50, ip);
             Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                     .inbound(new InetSocketAddress(ip, 49441)).meterRegistry(dst).threads(2).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
            Thread t = new Thread(() -> {
                try (Socket s = app.accept()) {
                    s.getInputStream().readNBytes(5);
                    s.getOutputStream().write(new byte[7]);
                } catch (Exception ignored) {
                    // the client side asserts
                }
            });
            t.start();
            try (Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).meterRegistry(src).threads(2).build()) {
                try (Socket s = clients.socketFactory(frontend.identity()).createSocket(ip, app.getLocalPort())) {
                    s.getOutputStream().write(new byte[5]);
                    assertThat(s.getInputStream().readAllBytes()).hasSize(7);
                }
                t.join(10_000);
                for (SimpleMeterRegistry m : List.of(src, dst)) {
                    String reporter = m == src ? "source" : "destination";
                    await(() -> sum(m.find("istio.tcp.connections.closed").tag("reporter", reporter)) >= 1);
                    var tags = m.find("istio.tcp.connections.closed").counter().getId().getTags().stream()
                            .collect(java.util.stream.Collectors.toMap(x -> x.getKey(), x -> x.getValue()));
                    assertThat(tags).as(reporter).containsEntry("destination_workload", "backend-v2")
                            .containsEntry("destination_canonical_service", "unknown").containsEntry("destination_app", "unknown")
                            .containsEntry("destination_canonical_revision", "unknown").containsEntry("destination_version", "unknown")
                            .containsEntry("source_workload", "frontend-abc")
                            .containsEntry("source_canonical_service", "unknown").containsEntry("source_canonical_revision", "unknown")
                            .containsEntry("source_version", "unknown");
                    assertThat(tags.values()).as(reporter + ": no empty label value").doesNotContain("");
                }
            }
        }
    }

    static double sum(Search s) {
        return s.counters().stream().mapToDouble(Counter::count).sum();
    }

    static void await(Supplier<Boolean> condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.get()) {
            assertThat(System.nanoTime()).as("condition within 10 s").isLessThan(deadline);
            Thread.sleep(10);
        }
    }
}
