package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.WorkloadService;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A cluster whose DNS domain is not {@code cluster.local}: istiod names every Service {@code NAME.NS.svc.DOMAIN} with its
 * {@code --domain} flag (istio/istio pilot/cmd/pilot-discovery/app/cmd.go, {@code KubeOptions.DomainSuffix}, default
 * {@code constants.DefaultClusterLocalDomain}), and the waypoint controller writes the Gateway's
 * {@code status.addresses} Hostname with the same suffix; ztunnel takes it as {@code CLUSTER_DOMAIN}
 * (istio/ztunnel src/config.rs). Until 7 December zerohop named every Service {@code ...svc.cluster.local} whatever the
 * cluster's domain, so such a waypoint matched no Service and every connection through it was refused "unknown waypoint".
 */
class ClusterDomainTest {
    static final String NS = "ns";
    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();

    @BeforeEach
    void start() throws Exception {
        k8s.client.resource(namespace(NS, Map.of("kubernetes.io/metadata.name", NS))).create();
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry).clusterDomain("corp.example"));
    }

    void addService(String name, Map<String, String> labels, Map<String, String> selector, String vip) {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName(name).withLabels(labels).endMetadata()
                .withNewSpec().withClusterIP(vip).withSelector(selector)
                .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec().build()).create();
    }

    @Test
    @DisplayName("clusterDomain corp.example: the waypoint named waypoint.ns.svc.corp.example by its Gateway's status is its"
            + " Service's hostname (WorkloadRegistry.service finds it), and every Service and workload membership carries the domain")
    void waypointByHostnameOnCustomDomain() throws Exception {
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: ns, labels: {istio.io/waypoint-for: service}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: Same}}}]
                status:
                  addresses: [{type: Hostname, value: waypoint.ns.svc.corp.example}]
                """);
        k8s.create(pod(NS, "waypoint-0", "node-a", "waypoint", Map.of("gateway.networking.k8s.io/gateway-name", "waypoint"),
                "10.1.0.9").build());
        addService("waypoint", Map.of(), Map.of("gateway.networking.k8s.io/gateway-name", "waypoint"), "10.96.0.9");
        k8s.create(pod(NS, "app-0", "node-a", "app", Map.of("app", "app"), "10.1.0.1").build());
        addService("app", Map.of("istio.io/use-waypoint", "waypoint"), Map.of("app", "app"), "10.96.0.1");

        GatewayAddress waypoint = GatewayAddress.of(NS, "waypoint.ns.svc.corp.example");
        await(d, "app's waypoint", () -> vip("10.96.0.1").map(s -> Objects.equals(s.waypoint(), waypoint)).orElse(false)
                && vip("10.96.0.9").isPresent() && at("10.1.0.1") != null);
        Service app = vip("10.96.0.1").orElseThrow();
        assertThat(app.hostname()).isEqualTo("app.ns.svc.corp.example");
        assertThat(app.waypoint()).isEqualTo(waypoint);
        // What the outbound path does with a waypoint named by hostname: the Service of that hostname, its VIP.
        Service wp = registry.service(NS, "waypoint.ns.svc.corp.example").orElseThrow();
        assertThat(wp.name()).isEqualTo("waypoint");
        assertThat(registry.service(NS, "waypoint.ns.svc.cluster.local")).isEmpty();
        // destination_service and forwarded host= come from the workload's memberships.
        assertThat(at("10.1.0.1").services()).extracting(WorkloadService::hostname).containsExactly("app.ns.svc.corp.example");
    }

    @Test
    @DisplayName("clusterDomain refuses what is no DNS name, naming the setting")
    void refusesBadDomain() {
        for (String bad : new String[] {"", "Corp.Example", "corp..example", ".corp", "corp.example.", "-corp.example", "corp_x.example"}) {
            assertThatThrownBy(() -> KubernetesDiscovery.forNode(k8s.client, "node-a").clusterDomain(bad))
                    .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clusterDomain");
        }
    }

    java.util.Optional<Service> vip(String address) {
        return KubernetesWorkloadsTest.vip(registry, address);
    }

    Workload at(String address) {
        return KubernetesWorkloadsTest.at(registry, address).orElse(null);
    }
}
