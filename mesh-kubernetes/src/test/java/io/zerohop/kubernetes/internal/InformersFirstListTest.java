package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.PolicyEngine;
import java.util.HashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * A kind counts as listed only once its first list has reached the event handlers, not when it is in
 * fabric8's store: fabric8 completes an informer's {@code start()} at the latter and hands the objects
 * over afterwards on its own executor, so a new-user pass saw a node proxy report ready (and "sync
 * complete") with 2,236 of 5,000 pods installed, and a policy set could have been installed without a
 * DENY still queued. Here the handlers are held on their first object, so the listing cannot count as
 * done until they are let go. Against fabric8's CRUD mock API server (its real list/watch protocol).
 */
class InformersFirstListTest {
    @Test
    void aKindIsListedOnlyOnceItsHandlersWereGivenEveryListedObject() throws Exception {
        KubernetesMockServer server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
                new HashMap<>(), new KubernetesMixedDispatcher(new HashMap<>()), false);
        server.init();
        try (KubernetesClient client = server.createClient()) {
            client.resource(new NamespaceBuilder().withNewMetadata().withName("prod").endMetadata().build()).create();
            for (int i = 0; i < 3; i++) {
                Pod p = ObjectStripTest.deploymentPod();
                p.getMetadata().setName("reviews-" + i);
                p.getStatus().setPodIP("10.1.0." + (i + 1));
                p.getStatus().setPodIPs(java.util.List.of(new io.fabric8.kubernetes.api.model.PodIP("10.1.0." + (i + 1))));
                client.resource(p).create();
            }
            WorkloadState workloads = new WorkloadState(WorkloadRegistry.empty(), "cluster.local", true);
            CountDownLatch hold = new CountDownLatch(1);
            CountDownLatch held = new CountDownLatch(1);
            Informers informers = new Informers(client, 0, workloads, new PolicyState(PolicyEngine.builder().build()), () -> {
                held.countDown();
                try {
                    hold.await(); // a slow handler: every informer's later objects wait behind it
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            try {
                CompletableFuture<Void> listed = informers.start(null, "istio-system");
                assertThat(held.await(60, TimeUnit.SECONDS)).as("a handler ran").isTrue();
                assertThatThrownBy(() -> listed.get(3, TimeUnit.SECONDS)).as("listed while the handlers still hold objects")
                        .isInstanceOf(TimeoutException.class);
                hold.countDown();
                listed.get(60, TimeUnit.SECONDS);
                for (int i = 0; i < 3; i++) {
                    assertThat(workloads.pod("prod", "reviews-" + i)).as("reviews-" + i + " handed over before listed").isPresent();
                }
            } finally {
                hold.countDown();
                informers.close();
            }
        } finally {
            server.destroy();
        }
    }
}
