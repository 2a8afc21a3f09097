package io.zerohop.core.http;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The L7 tests' destination: one workload {@code prod/backend} ({@code app: backend}) on node {@code b}. */
final class L7Meshes {
    /** Any request to {@code /api/*} of the backend allowed, the rest denied (policy {@code prod/backend-all}). */
    static final String ALLOW_API = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-all, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/api/*"]}}]
            """;

    /** Any request to {@code /ok/*} allowed, the rest denied (policy {@code prod/backend}): L7GrpcOverHttp1DenialTest's, L7WireBytesMetricsTest's. */
    static final String ALLOW_OK = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/ok/*"]}}]
            """;

    /**
     * A {@code GET} of {@code /ws/*} allowed, the rest denied (policy {@code prod/backend-ws}): a path rule, so the port's
     * HTTP is parsed and decided per request. L7Http1WebSocketOnHttp2PortTest's, L7UpgradedRequestLogTest's.
     */
    static final String ALLOW_WS_GET = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-ws, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {methods: [GET], paths: ["/ws/*"]}}]
            """;

    private L7Meshes() {}

    /** Closes a class's backend mesh, then ends its application process (each null when its start failed first). */
    static void stop(Mesh mesh, Process app) throws Exception {
        if (mesh != null) {
            mesh.close();
        }
        if (app != null) {
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * A started mesh, one event loop, for the backend on {@code ip} whose ports are declared as {@code ports} says, under
     * the policies of {@code policy} (YAML); its {@link Mesh#plaintextInbound} reaches the application.
     */
    static Mesh backend(InetAddress ip, Map<Integer, AppProtocol> ports, String policy) throws Exception {
        return backend(ip, ports, policy, null);
    }

    /** {@link #backend(InetAddress, Map, String)} whose meters go to {@code meters} (none when null). */
    static Mesh backend(InetAddress ip, Map<Integer, AppProtocol> ports, String policy, io.micrometer.core.instrument.MeterRegistry meters)
            throws Exception {
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", ports);
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policy)).build();
        Mesh.Builder b = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1)
                // Closed at once after each class: no test here is about the close, and the default drain waited out a
                // request its test left held (L7Http1ClientEndFlagTest: 14 s of its 19 in a run).
                .drain(java.time.Duration.ZERO);
        Mesh mesh = (meters == null ? b : b.meterRegistry(meters)).build();
        mesh.start().get(10, TimeUnit.SECONDS);
        return mesh;
    }
}
