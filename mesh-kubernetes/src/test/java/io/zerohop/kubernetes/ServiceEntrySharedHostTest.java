package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Service;
import io.zerohop.core.WorkloadRegistry;
import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two teams' ServiceEntries of one host and address in namespaces {@code team-a} and {@code team-b}, through fabric8's
 * mock API server: both reach the registry, one per namespace, as istiod's {@code selectWorkloadServices} keeps a
 * namespace's best and marks one canonical (the oldest), and ztunnel's ServiceStore holds both (istio/ztunnel
 * src/state/service.rs {@code by_vip}, {@code by_host}). Until 7 December the newer was left out ("host ... is already
 * ... an older ServiceEntry's"), so team-b's clients reached team-a's entry.
 */
class ServiceEntrySharedHostTest {
    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();

    @BeforeEach
    void start() throws Exception {
        k8s.client.resource(namespace("team-a", Map.of())).create();
        k8s.client.resource(namespace("team-b", Map.of())).create();
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry));
    }

    static String entry(String ns, String endpoint) {
        return """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: api, namespace: NS}
                spec:
                  hosts: [api.example.com]
                  addresses: [240.240.0.1]
                  ports: [{number: 443, name: tls}]
                  resolution: STATIC
                  endpoints: [{address: EP}]
                """.replace("NS", ns).replace("EP", endpoint);
    }

    @Test
    void eachNamespacesEntryOfOneHostIsKeptAndPickedForItsClients() throws Exception {
        k8s.apply(entry("team-a", "192.0.2.1"));
        await(d, "team-a's entry", () -> registry.service("team-a", "api.example.com").isPresent());
        k8s.apply(entry("team-b", "192.0.2.2"));
        await(d, "team-b's entry", () -> registry.service("team-b", "api.example.com").isPresent());
        InetAddress vip = InetAddress.getByName("240.240.0.1");
        Service a = registry.serviceAt(vip, "team-a").orElseThrow();
        Service b = registry.serviceAt(vip, "team-b").orElseThrow();
        assertThat(a.namespace()).isEqualTo("team-a");
        assertThat(b.namespace()).isEqualTo("team-b");
        assertThat(registry.pickEndpoint(a, 443, vip).address().getAddress()).isEqualTo(InetAddress.getByName("192.0.2.1"));
        assertThat(registry.pickEndpoint(b, 443, vip).address().getAddress()).isEqualTo(InetAddress.getByName("192.0.2.2"));
        assertThat(a.canonical()).as("the oldest entry of the host, istiod's canonical").isTrue();
        assertThat(b.canonical()).isFalse();
        assertThat(registry.serviceAt(vip, "elsewhere").map(Service::namespace)).contains("team-a");
    }
}
