package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A CONNECT denied by policy is one line at the destination: the access log's {@code inbound
 * refused} line, which names both identities, the status and the deciding policy. ztunnel logs one
 * access line for it (istio/ztunnel src/proxy/inbound.rs: {@code record_with_flag} of the RBAC
 * error, src/proxy/metrics.rs {@code record_internal}) and its policy match only at DEBUG
 * (src/state.rs {@code authpol_log!}); before, zerohop also wrote {@code WARN denied ...} (the
 * authorizer) and {@code INFO HBONE CONNECT refused ...} (the HBONE server) for the same refusal.
 * Real TLS and loopback sockets on 127.0.53.x; the logs are slf4j-simple's on stderr (the access
 * logger at INFO, as in a proxy).
 */
class DenialLogTest {
    static final String TD = "cluster.local";

    @Test
    void aDeniedPeerIsOneLineWithBothIdentitiesTheStatusAndThePolicy() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        InetAddress serverIp = InetAddress.getByName("127.0.53.12");
        Workload old = new Workload("legacy", "old", "old", Map.of("app", "old"), List.of(InetAddress.getByName("127.0.53.11")),
                Workload.Protocol.HBONE, "node-a", TD);
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(serverIp),
                Workload.Protocol.HBONE, "node-b", TD);
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(old, backend), Map.of());
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: backend-deny-legacy, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules: [{from: [{source: {namespaces: [legacy]}}]}]
                """)).build();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .inbound(new InetSocketAddress(serverIp, 0)).threads(2).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(old, backend), Map.of("node-b", server.inboundAddress()));
            try (Mesh client = Mesh.builder().identityProvider(ca).workloads(registry).threads(2).build();
                 CapturedStderr err = new CapturedStderr()) {
                Throwable refused = catchThrowable(() -> client.connect(old.identity(), new InetSocketAddress(serverIp, 8080))
                        .get(20, TimeUnit.SECONDS));
                assertThat(refused).hasMessageContaining("401");
                String line = err.awaitLine("inbound refused", "src_id=" + old.identity(), "dst_id=" + backend.identity());
                assertThat(line).contains(" status=401 ")
                        .contains("reason=\"DENY by prod/backend-deny-legacy (AuthorizationPolicy DENY, rule 0)");
                // The authorizer and the HBONE server wrote theirs on the same event loop before it.
                assertThat(err.count("denied " + old.identity())).as("the authorizer's WARN").isZero();
                // mesh-core's tests run hbone's logger at WARN: mesh-hbone's LogAddressTest checks that
                // line's level switch where it is at INFO.
                assertThat(err.count("HBONE CONNECT refused")).as("the HBONE server's INFO").isZero();
                assertThat(err.count("backend-deny-legacy")).as("the refusal is said once at the destination").isEqualTo(1);
            }
        }
    }
}
