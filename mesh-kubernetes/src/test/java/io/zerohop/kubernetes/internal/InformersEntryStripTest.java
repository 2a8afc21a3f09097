package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.PolicyEngine;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * ServiceEntries and WorkloadEntries as the informers keep them: stripped as pods are (module README, "Memory"). What
 * istiod writes to them (a ServiceEntry's {@code status.addresses} and conditions, an auto-registered WorkloadEntry's
 * health conditions), kubectl's last-applied copy of the whole object and the managed fields are never read, so they
 * are not kept: an entry held its status until 7 December (h383).
 */
class InformersEntryStripTest {
    @Test
    void entriesAreKeptWithoutStatusManagedFieldsOrLastApplied() throws Exception {
        KubernetesMockServer server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(),
                new HashMap<>(), new KubernetesMixedDispatcher(new HashMap<>()), false);
        server.init();
        try (KubernetesClient client = server.createClient()) {
            GenericKubernetesResource we = Serialization.unmarshal("""
                    apiVersion: networking.istio.io/v1
                    kind: WorkloadEntry
                    metadata:
                      name: vm-10.9.2.1
                      namespace: ns
                      annotations:
                        istio.io/autoRegistrationGroup: vm
                        kubectl.kubernetes.io/last-applied-configuration: '{"kind":"WorkloadEntry"}'
                      managedFields: [{manager: pilot-discovery, operation: Apply, apiVersion: networking.istio.io/v1}]
                    spec: {address: 10.9.2.1, serviceAccount: vm, labels: {app: vm}}
                    status:
                      conditions: [{type: Healthy, status: "True", lastProbeTime: "2026-12-07T13:00:00Z"}]
                    """, GenericKubernetesResource.class);
            client.genericKubernetesResources(new io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext.Builder()
                    .withGroup("networking.istio.io").withVersion("v1").withKind("WorkloadEntry").withPlural("workloadentries")
                    .withNamespaced(true).build()).inNamespace("ns").resource(we).create();
            WorkloadRegistry registry = WorkloadRegistry.empty();
            WorkloadState workloads = new WorkloadState(registry, "cluster.local", true);
            Informers informers = new Informers(client, 60_000, workloads, new PolicyState(PolicyEngine.builder().build()), () -> { });
            try {
                informers.start(null, "istio-system").get(60, TimeUnit.SECONDS);
                GenericKubernetesResource kept = workloads.istioEntry("WorkloadEntry", "ns", "vm-10.9.2.1").orElseThrow();
                assertThat(kept.getAdditionalProperties()).containsKey("spec").doesNotContainKey("status");
                assertThat(kept.getMetadata().getManagedFields()).isEmpty();
                assertThat(kept.getMetadata().getAnnotations()).containsOnlyKeys("istio.io/autoRegistrationGroup");
                workloads.flush();
                assertThat(registry.byAddress(InetAddress.getByName("10.9.2.1")).orElseThrow().workloadName()).isEqualTo("vm");
            } finally {
                informers.close();
            }
        } finally {
            server.destroy();
        }
    }
}
