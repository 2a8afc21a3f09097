package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.WorkloadRegistry;
import io.zerohop.testing.CapturedStderr;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The API server gone after the first sync: one WARN line saying the watch was lost and what stays in
 * force (a new-user pass stopped the API server and read only fabric8's reconnect stack traces, ~800
 * lines in 75 s, none of zerohop's). Against fabric8's CRUD mock API server, stopped mid-test.
 */
class KubernetesWatchLossTest {
    @Test
    void aWatchLostAfterTheSyncIsOneWarnLine() throws Exception {
        WorkloadRegistry registry = WorkloadRegistry.empty();
        try (MockCluster k8s = new MockCluster()) {
            k8s.client.resource(MockCluster.namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            k8s.create(MockCluster.pod("prod", "web", "node-a", "web", Map.of(), "10.0.1.2").build());
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry)
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);
            try (CapturedStderr err = new CapturedStderr()) {
                k8s.server.destroy();
                // Two checks 5 s apart, plus the informers noticing: within 30 s.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (err.count("after the first sync") == 0 && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                // Naming the kinds whose watch is gone: all of them when the server is.
                assertThat(err.awaitLine("KubernetesDiscovery", "after the first sync"))
                        .contains("lost the watch of Pod, ").contains("what is installed stays in force meanwhile");
                assertThat(err.count("after the first sync")).as("once, not per informer or retry").isEqualTo(1);
                assertThat(registry.all()).as("the installed workload stays").hasSize(1);
            }
        }
    }
}
