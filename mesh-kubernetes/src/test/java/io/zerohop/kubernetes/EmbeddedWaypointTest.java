package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Mesh;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The embedded mode ({@link KubernetesDiscovery#forPod}) and a waypoint of another namespace
 * ({@code istio.io/use-waypoint-namespace}). istiod reads every namespace's Gateways and decides by the named one whether
 * the object has a waypoint (istio/istio pilot/pkg/serviceregistry/kube/controller/ambient/waypoints.go
 * {@code fetchWaypointForService}, {@code AllowsAttachmentFromNamespace}; services_test.go "cross namespace waypoint",
 * "cross namespace waypoint denied"). Until 7 December the embedded mode read its own namespace's Gateways only: such a
 * label named an unknown waypoint, the Service got none, and its traffic went directly, past the waypoint's L7 policy.
 * Now the embedded mode reads every namespace's Gateways and sets the waypoint istiod sets; as it does not read the
 * waypoint's Service (in the other namespace), a connection through it is refused "unknown waypoint", never direct.
 * Addresses 127.0.201.x only (nothing listens on them: a direct attempt would fail to connect, not be refused).
 */
class EmbeddedWaypointTest {
    static final String TD = "cluster.local";
    @RegisterExtension
    final MockCluster k8s = new MockCluster();

    void gateway(String name, String trafficType, String from, String hostname) {
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: %s, namespace: infra, labels: {istio.io/waypoint-for: %s}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: %s}}}]
                status: {addresses: [{type: IPAddress, value: 127.0.201.50}, {type: Hostname, value: %s}]}
                """.formatted(name, trafficType, from, hostname));
    }

    void service(String name, String vip, String waypoint) {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("shop").withName(name)
                .withLabels(Map.of("istio.io/use-waypoint", waypoint, "istio.io/use-waypoint-namespace", "infra")).endMetadata()
                .withNewSpec().withClusterIP(vip).withSelector(Map.of("app", "backend"))
                .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec().build()).create();
    }

    @Test
    @DisplayName("forPod: a Service and a pod naming an admitting waypoint of another namespace get it, as from istiod; one for"
            + " workload traffic only or whose listener admits its namespace not gets none (istiod: UnsupportedTrafficType,"
            + " AttachmentDenied); a connection to the first Service's VIP is refused 'unknown waypoint', never sent direct")
    void crossNamespaceWaypointInEmbeddedMode() throws Exception {
        k8s.client.resource(namespace("shop", Map.of("kubernetes.io/metadata.name", "shop", "istio.io/dataplane-mode", "ambient")))
                .create();
        k8s.client.resource(namespace("infra", Map.of("kubernetes.io/metadata.name", "infra"))).create();
        gateway("wp", "all", "All", "wp.infra.svc.cluster.local");
        gateway("wl-only", "workload", "All", "wl-only.infra.svc.cluster.local");
        gateway("same-only", "all", "Same", "same-only.infra.svc.cluster.local");
        k8s.create(pod("shop", "quotes-1", "node-a", "quotes", Map.of("app", "quotes"), "127.0.201.1").build());
        k8s.create(pod("shop", "backend-1", "node-b", "backend", Map.of("app", "backend"), "127.0.201.2").build());
        k8s.create(pod("shop", "labelled-1", "node-b", "backend", Map.of("app", "other", "istio.io/use-waypoint", "wp",
                "istio.io/use-waypoint-namespace", "infra"), "127.0.201.3").build());
        service("backend", "127.0.201.100", "wp");
        service("wl", "127.0.201.101", "wl-only");
        service("denied", "127.0.201.102", "same-only");
        KubernetesDiscovery d = k8s.startSynced(KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-1"));
        GatewayAddress wp = GatewayAddress.of("infra", "wp.infra.svc.cluster.local");
        WaypointWorkloadsTest.awaitServiceWaypoint(d, d.registry(), "127.0.201.100", wp);
        await(d, "every Service", () -> KubernetesWorkloadsTest.vip(d.registry(), "127.0.201.102").isPresent()
                && KubernetesWorkloadsTest.vip(d.registry(), "127.0.201.101").isPresent());
        assertThat(KubernetesWorkloadsTest.vip(d.registry(), "127.0.201.101").orElseThrow().waypoint()).as("workload-only").isNull();
        assertThat(KubernetesWorkloadsTest.vip(d.registry(), "127.0.201.102").orElseThrow().waypoint()).as("denied").isNull();
        WaypointWorkloadsTest.awaitWorkloadWaypoint(d, d.registry(), "127.0.201.3", wp);

        InMemoryCa ca = InMemoryCa.create(TD);
        SpiffeId quotes = SpiffeIds.istio(TD, "shop", "quotes");
        try (Mesh mesh = d.applyTo(Mesh.builder()).identityProvider(ca).identity(quotes).threads(1).build()) {
            Throwable refused = null;
            try {
                mesh.connect(quotes, new InetSocketAddress(KubernetesWorkloadsTest.ip("127.0.201.100"), 80)).get(30, TimeUnit.SECONDS)
                        .close();
            } catch (ExecutionException e) {
                refused = e.getCause();
            }
            assertThat(refused).isInstanceOf(Mesh.UnknownDestinationException.class)
                    .hasMessageContaining("unknown waypoint: waypoint infra/wp.infra.svc.cluster.local:15008 not found")
                    .hasMessageContaining("never sent to the destination directly");
        }
    }
}
