package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.PolicyEngine;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * The informers against fabric8's CRUD mock API server (its real list/watch protocol; no real API
 * server can run in a unit test): the pods the event handlers hand to the {@link WorkloadState}
 * are the stripped ones the cache keeps ({@link StrippingItemStore}), they install the workload the
 * full pod converts to, and resyncs (which replay the cache to the handlers) install nothing new.
 */
class InformersStripTest {
    @Test
    void handlersSeeStrippedPodsAndResyncsChangeNothing() throws Exception {
        KubernetesMockServer server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
                new HashMap<>(), new KubernetesMixedDispatcher(new HashMap<>()), false);
        server.init();
        try (KubernetesClient client = server.createClient()) {
            client.resource(new NamespaceBuilder().withNewMetadata().withName("prod")
                    .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();
            Pod full = client.resource(ObjectStripTest.deploymentPod()).create();
            Service svc = client.resource(new ServiceBuilder().withNewMetadata().withNamespace("prod").withName("reviews")
                    .addToAnnotations("kubectl.kubernetes.io/last-applied-configuration", "{\"kind\":\"Service\"}").endMetadata()
                    .withNewSpec().addToSelector("app", "reviews").addNewPort().withName("http").withPort(80)
                    .withNewTargetPort("http").endPort().endSpec().build()).create();
            WorkloadRegistry registry = WorkloadRegistry.empty();
            WorkloadState workloads = new WorkloadState(registry, "cluster.local", true);
            AtomicLong events = new AtomicLong();
            Informers informers = new Informers(client, 200, workloads, new PolicyState(PolicyEngine.builder().build()),
                    events::incrementAndGet);
            try {
                informers.start(null, "istio-system").get(60, TimeUnit.SECONDS);
                await(() -> workloads.pod("prod", full.getMetadata().getName()).isPresent());
                Pod kept = workloads.pod("prod", full.getMetadata().getName()).orElseThrow();
                assertThat(full.getMetadata().getManagedFields()).isNotEmpty();
                assertThat(kept.getMetadata().getManagedFields()).isEmpty();
                assertThat(kept.getSpec().getVolumes()).isEmpty();
                assertThat(kept.getStatus().getContainerStatuses()).isEmpty();
                assertThat(workloads.flush()).isTrue();
                assertThat(registry.all()).containsExactly(PodConversion.toWorkload(full, Map.of("istio.io/dataplane-mode", "ambient"),
                        List.of(svc), "cluster.local").orElseThrow());
                assertThat(registry.all().get(0).appProtocols()).isNotEmpty();

                long before = events.get();
                await(() -> events.get() > before + 10); // resyncs, every 200 ms, of the pod, Service and namespace
                assertThat(workloads.flush()).isFalse();
                assertThat(workloads.pod("prod", full.getMetadata().getName()).orElseThrow().getMetadata().getManagedFields()).isEmpty();
            } finally {
                informers.close();
            }
        } finally {
            server.destroy();
        }
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within 60 s").isLessThan(deadline);
            Thread.sleep(20);
        }
    }
}
