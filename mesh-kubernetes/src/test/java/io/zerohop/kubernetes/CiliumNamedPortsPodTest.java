package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.zerohop.core.Workload;
import io.zerohop.kubernetes.internal.PodConversion;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A pod's named ports as Cilium collects an endpoint's: cilium/cilium {@code GetPodMetadata} (pkg/k8s) walks
 * {@code spec.containers} (not init containers) and adds each named port with pkg/policy/types
 * {@code NamedPortMap.AddPort} (name lower-cased by {@code ValidatePortName}, an empty protocol TCP, the later entry of a
 * name replacing the earlier); {@code NamedPortMap.GetNamedPort} then resolves a name only for its own protocol. zerohop
 * keeps the TCP ones, the only ones a TCP (HBONE) connection can resolve.
 */
class CiliumNamedPortsPodTest {

    static ContainerPort port(String name, int number, String protocol) {
        return new ContainerPortBuilder().withName(name).withContainerPort(number).withProtocol(protocol).build();
    }

    static Pod pod(String name, List<List<ContainerPort>> containers, List<ContainerPort> initPorts) {
        PodBuilder b = new PodBuilder();
        var spec = b.withNewMetadata().withName(name).withNamespace("prod").withLabels(Map.of("app", name)).endMetadata().withNewSpec();
        for (int i = 0; i < containers.size(); i++) {
            spec.addToContainers(new ContainerBuilder().withName("c" + i).withPorts(containers.get(i)).build());
        }
        if (initPorts != null) {
            spec.addToInitContainers(new ContainerBuilder().withName("sidecar").withRestartPolicy("Always").withPorts(initPorts).build());
        }
        return spec.endSpec().withNewStatus().withPhase("Running").withPodIP("10.0.7.1").endStatus().build();
    }

    static Workload workload(Pod p) {
        return PodConversion.toWorkload(p, Map.of(), List.of(), "cluster.local").orElseThrow();
    }

    @Test
    void namedTcpPortsOfTheContainersAreKept() {
        Pod p = pod("web", List.of(List.of(port("http", 8080, "TCP"), port("metrics", 9090, null)),
                List.of(port("dns", 53, "UDP"), port(null, 7000, "TCP"))), null);
        assertThat(workload(p).namedPorts()).isEqualTo(Map.of("http", 8080, "metrics", 9090));
    }

    @Test
    void aLaterContainersPortOfTheSameNameWinsAndUdpHidesTheName() {
        Pod later = pod("a", List.of(List.of(port("http", 8080, "TCP")), List.of(port("http", 8081, "TCP"))), null);
        assertThat(workload(later).namedPorts()).isEqualTo(Map.of("http", 8081));
        Pod udp = pod("b", List.of(List.of(port("svc", 8080, "TCP")), List.of(port("svc", 8080, "UDP"))), null);
        assertThat(workload(udp).namedPorts()).isEmpty();
    }

    @Test
    void initContainersPortsAreNotNamedPorts() {
        Pod p = pod("c", List.of(List.of(port("http", 8080, "TCP"))), List.of(port("admin", 15000, "TCP")));
        assertThat(workload(p).namedPorts()).isEqualTo(Map.of("http", 8080));
    }

    @Test
    void aPodWithoutNamedPortsHasThemKnownAndEmpty() {
        assertThat(workload(pod("d", List.of(List.of(port(null, 8080, "TCP"))), null)).namedPorts()).isNotNull().isEmpty();
    }

    /** The pod's workload reaches the engine with its named ports: the same name is 8080 on one pod and 9090 on another. */
    @Test
    void thePolicyResolvesThePortPerPod() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", "apiVersion: cilium.io/v2\n"
                + "kind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: prod}\nspec:\n  endpointSelector: {}\n"
                + "  ingress:\n  - toPorts:\n    - ports: [{port: http, protocol: TCP}]\n")).build();
        Workload a = workload(pod("a", List.of(List.of(port("http", 8080, "TCP"))), null));
        Workload b = workload(pod("b", List.of(List.of(port("http", 9090, "TCP"))), null));
        assertThat(e.evaluate(request(a, 8080)).allowed()).isTrue();
        assertThat(e.evaluate(request(a, 9090)).allowed()).isFalse();
        assertThat(e.evaluate(request(b, 9090)).allowed()).isTrue();
        assertThat(e.evaluate(request(b, 8080)).allowed()).isFalse();
    }

    static AccessRequest request(Workload dest, int port) {
        return AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/client").sourceAddress("10.0.0.9")
                .destinationAddress("10.0.7.1").destinationPort(port).destination(dest.ref()).build();
    }
}
