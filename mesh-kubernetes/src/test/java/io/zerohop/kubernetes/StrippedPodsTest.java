package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.HostIP;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.kubernetes.internal.ObjectStrip;
import io.zerohop.kubernetes.internal.PodConversion;
import io.zerohop.kubernetes.internal.WorkloadState;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A pod stripped as the informers keep it ({@link ObjectStrip#pod}) converts to exactly what the full
 * pod converts to: the same workload ({@link PodConversion#toWorkload}), mesh membership, readiness
 * and pod state, the same registry and node addresses from a {@link WorkloadState}, for every pod
 * shape the module's tests build (MockCluster's, PodConversionTest's, the node-address and
 * fail-closed tests' variants) and a Deployment's pod as the API server serves it. A second strip
 * (the informers' resync hands the cached, already stripped object to the handlers again)
 * changes nothing.
 */
class StrippedPodsTest {
    private static final Map<String, String> AMBIENT = Map.of("istio.io/dataplane-mode", "ambient");

    static List<Pod> fixtures() throws Exception {
        List<Pod> pods = new ArrayList<>();
        pods.add(pod("prod", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.0.1").build());
        pods.add(pod("prod", "dual", "node-a", "web", Map.of("app", "web"), "10.0.0.2", "fd00::2")
                .editStatus().withHostIPs(new HostIP("10.1.0.1"), new HostIP("fd01::1")).withHostIP("10.1.0.1").endStatus().build());
        pods.add(pod("prod", "host-ip-only", "node-b", "", Map.of("app", "db"), "10.0.0.3")
                .editStatus().withHostIP("10.1.0.2").endStatus().build());
        pods.add(pod("prod", "host-net", "node-b", "web", Map.of(), "10.1.0.2")
                .editSpec().withHostNetwork(true).endSpec().editStatus().withHostIP("10.1.0.2").endStatus().build());
        pods.add(pod("prod", "pending", "node-c", "web", Map.of("app", "web"))
                .editStatus().withPhase("Pending").withPodIPs(List.<PodIP>of()).endStatus().build());
        pods.add(pod("prod", "done", "node-a", "web", Map.of("app", "web"), "10.0.0.6")
                .editStatus().withPhase("Succeeded").withHostIP("10.1.0.9").endStatus().build());
        pods.add(pod("prod", "not-ready", "node-a", "web", Map.of("app", "web"), "10.0.0.7")
                .editStatus().editFirstCondition().withStatus("False").endCondition().endStatus().build());
        pods.add(pod("prod", "bad-ip", "node-a", "web", Map.of("app", "web"), "10.0.0.300")
                .editStatus().withHostIP("not-an-ip").endStatus().build());
        pods.add(pod("prod", "sidecar", "node-a", "web", Map.of("app", "web"), "10.0.0.8")
                .editMetadata().withAnnotations(Map.of("sidecar.istio.io/status", "{}")).endMetadata().build());
        pods.add(pod("other", "tunnel", "node-a", "web", Map.of("networking.istio.io/tunnel", "foo,http"), "10.0.0.9")
                .editMetadata().withAnnotations(Map.of("proxy.istio.io/overrides", "{}",
                        "kubectl.kubernetes.io/last-applied-configuration", "{}")).endMetadata().build());
        pods.add(pod("other", "redirected", "node-b", "web", Map.of("istio.io/dataplane-mode", "none"), "10.0.0.10")
                .editMetadata().withAnnotations(Map.of("ambient.istio.io/redirection", "enabled")).endMetadata().build());
        // A named Service target port served by a second container, and a native sidecar's port.
        pods.add(pod("prod", "two-containers", "node-a", "web", Map.of("app", "api"), "10.0.0.11")
                .editSpec().addToContainers(new ContainerBuilder().withName("grpc").addNewPort().withName("grpc")
                        .withContainerPort(9000).endPort().build())
                .addToInitContainers(new ContainerBuilder().withName("native").withRestartPolicy("Always").addNewPort()
                        .withName("admin").withContainerPort(15000).endPort().build())
                .endSpec().build());
        pods.add(new PodBuilder().withNewMetadata().withNamespace("prod").withName("no-spec").endMetadata()
                .withNewStatus().withPhase("Running").withPodIP("10.0.0.12").endStatus().build());
        pods.add(new PodBuilder().withNewMetadata().withNamespace("prod").withName("no-status").endMetadata()
                .withNewSpec().withNodeName("node-a").endSpec().build());
        for (Map<String, String> labels : List.of(Map.<String, String>of(), AMBIENT, PodConversionTest.NONE)) {
            for (Map<String, String> annotations : List.of(Map.<String, String>of(), PodConversionTest.SIDECAR)) {
                for (boolean hostNetwork : new boolean[] {false, true}) {
                    Pod p = PodConversionTest.pod(labels, annotations, hostNetwork);
                    p.getMetadata().setName("pct-" + labels.hashCode() + "-" + annotations.size() + "-" + hostNetwork);
                    pods.add(p);
                }
            }
        }
        try (InputStream in = StrippedPodsTest.class.getResourceAsStream("/pods/deployment-pod.json")) {
            pods.add(Serialization.unmarshal(in, Pod.class));
        }
        return pods;
    }

    static List<Service> services() {
        return List.of(
                service("prod", "web", Map.of("app", "web"), "http-web", new IntOrString("http-web"), null),
                service("prod", "api", Map.of("app", "api"), "grpc", new IntOrString("grpc"), "grpc"),
                service("prod", "admin", Map.of("app", "api"), "tcp-admin", new IntOrString("admin"), null),
                service("prod", "reviews", Map.of("app", "reviews"), "http", new IntOrString("http"), null),
                service("prod", "metrics", Map.of("app", "reviews"), "metrics", new IntOrString(9090), "http"),
                service("prod", "db", Map.of("app", "db"), "tcp", null, null));
    }

    static Service service(String ns, String name, Map<String, String> selector, String portName, IntOrString target, String appProtocol) {
        return new ServiceBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata().withNewSpec().withSelector(selector)
                .addNewPort().withName(portName).withPort(80).withTargetPort(target).withAppProtocol(appProtocol).endPort().endSpec().build();
    }

    static Pod copy(Pod p) {
        return Serialization.clone(p);
    }

    @Test
    void aStrippedPodConvertsAsTheFullPod() throws Exception {
        List<Service> services = services();
        int converted = 0;
        for (Pod full : fixtures()) {
            Pod stripped = ObjectStrip.pod(copy(full));
            for (Map<String, String> nsLabels : List.of(Map.<String, String>of(), AMBIENT)) {
                var want = PodConversion.toWorkload(full, nsLabels, services, "cluster.local");
                assertThat(PodConversion.toWorkload(stripped, nsLabels, services, "cluster.local"))
                        .as(full.getMetadata().getName()).isEqualTo(want);
                assertThat(PodConversion.inMesh(stripped, nsLabels)).isEqualTo(PodConversion.inMesh(full, nsLabels));
                converted += want.isPresent() ? 1 : 0;
            }
            assertThat(PodConversion.isReady(stripped)).isEqualTo(PodConversion.isReady(full));
            assertThat(PodConversion.isTerminal(stripped)).isEqualTo(PodConversion.isTerminal(full));
            assertThat(stripped.getMetadata().getCreationTimestamp()).isEqualTo(full.getMetadata().getCreationTimestamp());
            assertThat(Serialization.asJson(ObjectStrip.pod(copy(stripped)))).as("a resync's second strip")
                    .isEqualTo(Serialization.asJson(stripped));
        }
        assertThat(converted).as("fixtures that make workloads").isGreaterThan(10);
    }

    /** The whole state: registry, node addresses, pod states, from full pods and from their stripped copies. */
    @Test
    void aWorkloadStateOfStrippedPodsInstallsWhatOneOfFullPodsDoes() throws Exception {
        WorkloadRegistry fullRegistry = WorkloadRegistry.empty();
        WorkloadRegistry strippedRegistry = WorkloadRegistry.empty();
        WorkloadState full = new WorkloadState(fullRegistry, "cluster.local", true);
        WorkloadState stripped = new WorkloadState(strippedRegistry, "cluster.local", true);
        for (WorkloadState s : List.of(full, stripped)) {
            s.putNamespace(MockCluster.namespace("prod", AMBIENT));
            s.putNamespace(MockCluster.namespace("other", Map.of()));
            services().forEach(s::putService);
        }
        List<Pod> pods = fixtures();
        for (Pod p : pods) {
            full.putPod(copy(p));
            stripped.putPod(ObjectStrip.pod(copy(p)));
        }
        assertThat(full.flush()).isTrue();
        assertThat(stripped.flush()).isTrue();

        assertThat(strippedRegistry.all()).isNotEmpty().isEqualTo(fullRegistry.all());
        for (String node : List.of("node-a", "node-b", "node-c")) {
            assertThat(stripped.computedAddresses(node)).as(node).isEqualTo(full.computedAddresses(node));
        }
        assertThat(full.computedAddresses("node-a")).isNotEmpty();
        for (Pod p : pods) {
            String ns = p.getMetadata().getNamespace();
            String name = p.getMetadata().getName();
            assertThat(stripped.podState(ns, name)).as(name).isEqualTo(full.podState(ns, name));
        }
        // A resync hands each cached (stripped) pod back: nothing to install.
        Stream.of(pods.toArray(Pod[]::new)).map(p -> ObjectStrip.pod(copy(p))).forEach(stripped::putPod);
        assertThat(stripped.flush()).isFalse();
    }
}
