package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.WorkloadRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A node proxy applies a change to a pod of its own node within {@code KubernetesDiscovery.URGENT_MAX}, however long
 * the cluster's other changes keep the debounce waiting: its capture set follows the registry, and a break-it pass saw
 * a new local pod wait 9.2 s (median), uncaptured, while pods elsewhere changed 20 times a second. Here the quiet period
 * is 30 s, so a change is applied before that only as urgent.
 */
class LocalPodUrgencyTest {

    @Test
    void aPodOfThisNodeIsAppliedWithoutWaitingForTheDebounce() throws Exception {
        try (MockCluster k8s = new MockCluster()) {
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            WorkloadRegistry registry = WorkloadRegistry.empty();
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry)
                    .debounce(Duration.ofSeconds(30), Duration.ofSeconds(60)).start());
            d.synced().get(20, TimeUnit.SECONDS);
            // The namespace's own event is urgent too (the test below): let it be applied before the pods below come.
            Thread.sleep(1500);

            InetAddress elsewhere = InetAddress.getByName("10.0.2.2");
            InetAddress local = InetAddress.getByName("10.0.1.2");
            k8s.create(pod("prod", "elsewhere", "node-b", "backend", Map.of("app", "backend"), "10.0.2.2").build());
            // Received (the discovery knows the pod) before the registry is asked, so "not applied" means it waits for
            // the quiet period, not that the informer had not delivered it yet (a test audit, helper 268).
            for (int i = 0; i < 2000 && d.podState("prod", "elsewhere").isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertThat(d.podState("prod", "elsewhere")).as("the pod event received").isPresent();
            assertThat(registry.byAddress(elsewhere)).as("another node's pod waits for the quiet period").isEmpty();
            k8s.create(pod("prod", "local", "node-a", "backend", Map.of("app", "backend"), "10.0.1.2").build());
            for (int i = 0; i < 2000 && registry.byAddress(local).isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertThat(registry.byAddress(local)).as("this node's pod does not (20 s given, where the quiet period is 30 s)").isPresent();
            assertThat(registry.byAddress(elsewhere)).as("applied with it").isPresent();
        }
    }

    /** A namespace's enrolment label too: istio-cni reconciles the namespace's pods at its event (cni/pkg/nodeagent/informers.go). */
    @Test
    void aNamespaceLabelIsAppliedWithoutWaitingForTheDebounce() throws Exception {
        try (MockCluster k8s = new MockCluster()) {
            k8s.client.resource(namespace("prod", Map.of())).create();
            WorkloadRegistry registry = WorkloadRegistry.empty();
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry)
                    .debounce(Duration.ofSeconds(30), Duration.ofSeconds(60)).start());
            k8s.create(pod("prod", "local", "node-a", "backend", Map.of("app", "backend"), "10.0.1.2").build());
            d.synced().get(20, TimeUnit.SECONDS);
            InetAddress local = InetAddress.getByName("10.0.1.2");
            for (int i = 0; i < 2000 && registry.byAddress(local).isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertThat(registry.byAddress(local).orElseThrow().protocol()).isEqualTo(io.zerohop.core.Workload.Protocol.TCP);
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).update();
            for (int i = 0; i < 2000 && registry.byAddress(local).orElseThrow().protocol() != io.zerohop.core.Workload.Protocol.HBONE; i++) {
                Thread.sleep(10);
            }
            assertThat(registry.byAddress(local).orElseThrow().protocol()).as("enrolled within 20 s, where the quiet period is 30 s")
                    .isEqualTo(io.zerohop.core.Workload.Protocol.HBONE);
        }
    }
}
