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
    private L7Meshes() {}

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
