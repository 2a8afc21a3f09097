package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodListBuilder;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.policy.PolicyRef;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@link KubernetesDiscovery#forPod}: an application pod watches only what it needs. */
class EmbeddedDiscoveryTest {
    MockCluster k8s;

    @BeforeEach
    void start() throws Exception {
        k8s = new MockCluster();
        k8s.client.resource(namespace("shop", Map.of("istio.io/dataplane-mode", "ambient"))).create();
        k8s.client.resource(namespace("bank", Map.of("istio.io/dataplane-mode", "ambient"))).create();
        k8s.client.resource(namespace("istio-system", Map.of())).create();
        k8s.create(pod("shop", "quotes-1", "node-a", "quotes", Map.of("app", "quotes"), "10.2.0.1").build());
        k8s.create(pod("shop", "web-1", "node-b", "web", Map.of("app", "web"), "10.2.0.2").build());
        k8s.create(pod("bank", "ledger-1", "node-c", "ledger", Map.of("app", "ledger"), "10.3.0.1").build());
        for (String ns : new String[] {"shop", "istio-system", "bank"}) {
            k8s.apply("""
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: p, namespace: NS}
                    spec: {action: ALLOW, rules: [{}]}
                    """.replace("NS", ns));
        }
    }

    @AfterEach
    void stop() throws Exception {
        k8s.close();
    }

    /** What the real API server answers for {@code fieldSelector=status.podIP=IP}; the CRUD mock only selects metadata fields. */
    void serveLookup(String ip, Pod... pods) {
        k8s.server.expect().get().withPath("/api/v1/pods?fieldSelector=status.podIP%3D" + ip)
                .andReturn(200, new PodListBuilder().withItems(pods).withNewMetadata().withResourceVersion("1").endMetadata().build())
                .always();
    }

    @Test
    @DisplayName("own namespace watched, root namespace policies, other namespaces' pods and policies not loaded")
    void watchesOnlyItsNamespaceAndTheRoot() throws Exception {
        try (KubernetesDiscovery d = KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-1")
                .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start()) {
            d.synced().get(30, TimeUnit.SECONDS);
            assertThat(d.self()).get().extracting(Workload::serviceAccount).isEqualTo("quotes");
            assertThat(d.registry().all()).extracting(Workload::name).containsExactlyInAnyOrder("quotes-1", "web-1");
            assertThat(d.policyEngine().policies().policies()).extracting(PolicyRef::namespace)
                    .containsExactlyInAnyOrder("shop", "istio-system");
            assertThat(d.node()).isEmpty();
            // The embedded mesh gets no node: it serves what is on this host.
            Mesh.Builder b = d.applyTo(Mesh.builder());
            assertThat(b).isNotNull();
        }
    }

    @Test
    @DisplayName("a peer in another namespace is looked up by address (status.podIP field selector) into the registry; misses are cached")
    void peersByAddress() throws Exception {
        Pod ledger = k8s.client.pods().inNamespace("bank").withName("ledger-1").get();
        serveLookup("10.3.0.1", ledger);
        serveLookup("10.9.9.9");
        try (KubernetesDiscovery d = KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-1")
                .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start()) {
            d.synced().get(30, TimeUnit.SECONDS);
            InetAddress a = InetAddress.getByName("10.3.0.1");
            assertThat(d.registry().byAddress(a)).isEmpty();
            Workload w = d.lookup(a).orElseThrow();
            assertThat(w.identity().toString()).isEqualTo("spiffe://cluster.local/ns/bank/sa/ledger");
            assertThat(w.protocol()).isEqualTo(Workload.Protocol.HBONE);
            assertThat(d.registry().byAddress(a)).contains(w);
            assertThat(d.podState("bank", "ledger-1")).get().extracting(PodState::ready).isEqualTo(true);

            int before = k8s.server.getRequestCount();
            assertThat(d.lookup(InetAddress.getByName("10.9.9.9"))).isEmpty();
            assertThat(d.lookup(InetAddress.getByName("10.9.9.9"))).isEmpty();
            assertThat(k8s.server.getRequestCount() - before).as("one API call for two lookups of a miss").isEqualTo(1);
        }
    }

    @Test
    @DisplayName("the peer cache is bounded: an evicted peer leaves the registry")
    void peerCacheIsBounded() throws Exception {
        k8s.create(pod("bank", "ledger-2", "node-c", "ledger", Map.of("app", "ledger"), "10.3.0.2").build());
        serveLookup("10.3.0.1", k8s.client.pods().inNamespace("bank").withName("ledger-1").get());
        serveLookup("10.3.0.2", k8s.client.pods().inNamespace("bank").withName("ledger-2").get());
        try (KubernetesDiscovery d = KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-1")
                .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).peerCache(1, Duration.ofMinutes(5)).start()) {
            d.synced().get(30, TimeUnit.SECONDS);
            InetAddress one = InetAddress.getByName("10.3.0.1");
            InetAddress two = InetAddress.getByName("10.3.0.2");
            assertThat(d.lookup(one)).isPresent();
            assertThat(d.lookup(two)).isPresent();
            // Which of the two Caffeine's admission policy keeps is its business; only one may stay.
            await(d, "one peer evicted", () -> d.registry().byAddress(one).isPresent() != d.registry().byAddress(two).isPresent());
        }
    }
}
