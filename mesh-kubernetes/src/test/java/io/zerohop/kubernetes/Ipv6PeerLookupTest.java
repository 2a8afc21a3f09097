package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodListBuilder;
import io.zerohop.core.Workload;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The embedded mode's peer lookup of an IPv6 pod: the API server keeps pod IPs as Go's {@code net.IP.String()} writes
 * them (RFC 5952, {@code fd00:10:244::5}) and compares a field selector as text, so the lookup must send that form;
 * {@code InetAddress.getHostAddress()}'s {@code fd00:10:244:0:0:0:0:5} matched no pod (a review pass). The mock API
 * server answers the selector only for the canonical text, as the real one does.
 */
class Ipv6PeerLookupTest {
    @Test
    void anIpv6PeerIsFoundByTheTextTheApiServerKeeps() throws Exception {
        try (MockCluster k8s = new MockCluster()) {
            k8s.client.resource(namespace("shop", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            k8s.client.resource(namespace("bank", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            k8s.client.resource(namespace("istio-system", Map.of())).create();
            k8s.create(pod("shop", "quotes-1", "node-a", "quotes", Map.of("app", "quotes"), "10.2.0.1").build());
            // IPv6-only cluster: the API server holds the canonical (RFC 5952) text the CNI reported.
            k8s.create(pod("bank", "ledger-1", "node-c", "ledger", Map.of("app", "ledger"), "fd00:10:244::5").build());
            Pod ledger = k8s.client.pods().inNamespace("bank").withName("ledger-1").get();
            // What the real API server answers for the field selector with the stored text.
            k8s.server.expect().get().withPath("/api/v1/pods?fieldSelector=status.podIP%3Dfd00%3A10%3A244%3A%3A5")
                    .andReturn(200, new PodListBuilder().withItems(ledger).withNewMetadata().withResourceVersion("1").endMetadata().build())
                    .always();
            try (KubernetesDiscovery d = KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-1")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start()) {
                d.synced().get(30, TimeUnit.SECONDS);
                InetAddress a = InetAddress.getByName("fd00:10:244::5");
                Optional<Workload> w = d.lookup(a);
                assertThat(w).as("lookup(fd00:10:244::5)").isPresent();
                assertThat(w.get().name()).isEqualTo("ledger-1");
            }
        }
    }
}
