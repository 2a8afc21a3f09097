package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The connection to the API server drops (every watch with it) and comes back: state catches up. */
class WatchResumeTest {

    @Test
    @DisplayName("watches cut and refused for a while: the registry and policies keep their state, then catch up with what changed meanwhile")
    void watchDropsAndResumes() throws Exception {
        try (MockCluster k8s = new MockCluster(); TcpRelay relay = new TcpRelay(k8s.server.getPort())) {
            InetAddress A = InetAddress.getByName("10.1.0.1");
            InetAddress B = InetAddress.getByName("10.1.0.2");
            k8s.client.resource(namespace("prod", Map.of("istio.io/dataplane-mode", "ambient"))).create();
            Config viaRelay = new ConfigBuilder(Config.empty()).withMasterUrl("http://127.0.0.1:" + relay.port())
                    .withNamespace("prod").withWatchReconnectInterval(100).withRequestRetryBackoffInterval(100).build();
            KubernetesClient proxyClient = k8s.closeLater(new KubernetesClientBuilder().withConfig(viaRelay).build());
            WorkloadRegistry registry = WorkloadRegistry.empty();
            PolicyEngine engine = PolicyEngine.builder().build();
            KubernetesDiscovery d = k8s.closeLater(KubernetesDiscovery.forNode(proxyClient, "node-a").workloads(registry)
                    .policies(engine).debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start());
            d.synced().get(30, TimeUnit.SECONDS);

            k8s.create(pod("prod", "a", "node-a", "a", Map.of("app", "a"), "10.1.0.1").build());
            await(d, "a registered", () -> registry.byAddress(A).isPresent());

            relay.partition(true);
            assertThat(registry.byAddress(A)).isPresent();
            // An informer that noticed the cut is re-watching (or re-listing) through the refusing relay.
            await(d, "watches noticed the cut", () -> !d.watching());
            relay.heal();
            await(d, "watches back", d::watching);
            // fabric8's mock server does not replay a watch from its resourceVersion, as the API server's
            // watch cache does (or answers 410 Gone, and the informer re-lists); so changes are made once
            // the watches are back, and must arrive through them.
            k8s.client.pods().inNamespace("prod").withName("a").delete();
            k8s.create(pod("prod", "b", "node-a", "b", Map.of("app", "b"), "10.1.0.2").build());
            k8s.apply("""
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: deny-all, namespace: prod}
                    spec: {action: DENY, rules: [{}]}
                    """);

            await(d, "caught up after the partition", () -> registry.byAddress(B).isPresent()
                    && registry.byAddress(A).isEmpty()
                    && engine.policies().size() == 1);
            AccessRequest r = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/x")
                    .sourceAddress("10.1.0.9").destinationAddress("10.1.0.2").destinationPort(80)
                    .destination(new WorkloadRef("prod", "b", "b", Map.of())).build();
            assertThat(engine.evaluate(r).allowed()).isFalse();
        }
    }
}
