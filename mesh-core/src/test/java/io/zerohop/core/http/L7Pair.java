package io.zerohop.core.http;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * The L7 tests' client, proxy and application set-up through a real HBONE tunnel: the backend's mesh ({@code prod/backend},
 * {@code app: backend}, node {@code b}, inbound on the backend's address) started, and the {@code prod/frontend} workload
 * whose client mesh dials it; one CA and one registry, which names the backend mesh's inbound once it listens. What a test
 * tunes of the backend's mesh (meters, drain, threads) is {@code tune}'s. Each class keeps its own addresses.
 */
final class L7Pair {
    final InMemoryCa ca = InMemoryCa.create("cluster.local");
    final Workload backend;
    final Workload frontend;
    final WorkloadRegistry registry;
    /** The backend's mesh, started. */
    final Mesh server;

    /**
     * Starts the backend's mesh on {@code backendIp}, its application ports declared as {@code ports}, under
     * {@code policy}; the frontend is {@code frontendIp}. {@code nodes}: the registry's node addresses until the backend's
     * mesh listens (some classes name port 15008 there, some none).
     */
    L7Pair(InetAddress backendIp, InetAddress frontendIp, Map<Integer, AppProtocol> ports, Map<String, InetSocketAddress> nodes,
           PolicyEngine policy, UnaryOperator<Mesh.Builder> tune) throws Exception {
        frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(frontendIp),
                Workload.Protocol.HBONE, null, "cluster.local");
        backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", ports);
        registry = WorkloadRegistry.of(List.of(backend, frontend), nodes);
        server = tune.apply(Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(backendIp, 0))).build();
        try {
            server.start().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            server.close();
            throw e;
        }
        registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
    }

    /** A new client mesh for the frontend, one loop (not started: its captures and socket factory dial on demand). */
    Mesh client() {
        return Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build();
    }

    /** A capture of {@code client} on the frontend's address (any port) toward the backend's {@code port}. */
    InetSocketAddress via(Mesh client, int port) throws Exception {
        return client.capture(Capture.forward(new InetSocketAddress(frontend.addresses().get(0), 0),
                new InetSocketAddress(backend.addresses().get(0), port)));
    }
}
