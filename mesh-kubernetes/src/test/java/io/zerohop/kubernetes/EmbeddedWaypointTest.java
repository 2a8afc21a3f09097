package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Mesh;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
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
 * Now the embedded mode reads every namespace's Gateways and sets the waypoint istiod sets; since 7 December (h410) it
 * also reads other namespaces' waypoint Services and pods (by label), so a connection reaches the waypoint; while the
 * waypoint's Service is absent it is refused "unknown waypoint", never direct (ztunnel's {@code Error::UnknownWaypoint},
 * src/state.rs {@code fetch_waypoint}). The first test uses addresses 127.0.201.x only (nothing listens on them: a
 * direct attempt would fail to connect, not be refused).
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

    /**
     * What istiod's deployment controller leaves for a waypoint {@code NAME} of {@code ns} (as in
     * {@link WaypointEndToEndTest}): its Service labelled {@code gateway.istio.io/managed: istio.io-mesh-controller},
     * selecting its pod by {@code gateway.networking.k8s.io/gateway-name}, port {@code mesh} 15008 (here targeting
     * {@code targetPort}: these tests may use ports 55300-55499 only), and the pod.
     */
    void waypointService(String ns, String name, String vip, String podIp, int targetPort) {
        Map<String, String> gatewayLabels = Map.of("gateway.networking.k8s.io/gateway-name", name,
                "gateway.networking.k8s.io/gateway-class-name", "istio-waypoint");
        Map<String, String> serviceLabels = new HashMap<>(gatewayLabels);
        serviceLabels.put("gateway.istio.io/managed", "istio.io-mesh-controller");
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace(ns).withName(name).withLabels(serviceLabels)
                .endMetadata().withNewSpec().withClusterIP(vip).withSelector(Map.of("gateway.networking.k8s.io/gateway-name", name))
                .addNewPort().withName("mesh").withPort(15008).withTargetPort(new IntOrString(targetPort)).withProtocol("TCP")
                .withAppProtocol("hbone").endPort().endSpec().build()).create();
        Map<String, String> podLabels = new HashMap<>(gatewayLabels);
        podLabels.put("istio.io/dataplane-mode", "none");
        k8s.create(pod(ns, name + "-5d9c8b7f6-x2x4q", "node-w", name, podLabels, podIp).build());
    }

    @Test
    @DisplayName("forPod: a Service whose waypoint is in another namespace is reached through that waypoint (its Service and"
            + " pod read from the waypoint namespace, by label), as ztunnel with istiod's view; no other Service of that"
            + " namespace is read")
    void aWaypointOfAnotherNamespaceIsReachedInEmbeddedMode() throws Exception {
        // Addresses 127.0.214.x and ports 55300-55499 (helper h410's).
        k8s.client.resource(namespace("shop", Map.of("kubernetes.io/metadata.name", "shop", "istio.io/dataplane-mode", "ambient")))
                .create();
        k8s.client.resource(namespace("infra", Map.of("kubernetes.io/metadata.name", "infra"))).create();
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: wp, namespace: infra}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}]
                status: {addresses: [{type: IPAddress, value: 127.0.214.60}, {type: Hostname, value: wp.infra.svc.cluster.local}]}
                """);
        waypointService("infra", "wp", "127.0.214.60", "127.0.214.50", 55310);
        // Not a waypoint's: the embedded mode does not read it.
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("infra").withName("other").endMetadata()
                .withNewSpec().withClusterIP("127.0.214.61").withSelector(Map.of("app", "other"))
                .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec().build()).create();
        k8s.create(pod("shop", "quotes-1", "node-a", "quotes", Map.of("app", "quotes"), "127.0.214.1").build());
        k8s.create(pod("shop", "backend-1", "node-b", "backend", Map.of("app", "backend"), "127.0.214.2").build());
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("shop").withName("backend")
                .withLabels(Map.of("istio.io/use-waypoint", "wp", "istio.io/use-waypoint-namespace", "infra")).endMetadata()
                .withNewSpec().withClusterIP("127.0.214.100").withSelector(Map.of("app", "backend"))
                .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec().build()).create();

        KubernetesDiscovery d = k8s.startSynced(KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-1"));
        GatewayAddress wp = GatewayAddress.of("infra", "wp.infra.svc.cluster.local");
        WaypointWorkloadsTest.awaitServiceWaypoint(d, d.registry(), "127.0.214.100", wp);
        await(d, "the waypoint's Service with its pod", () -> KubernetesWorkloadsTest.vip(d.registry(), "127.0.214.60")
                .map(s -> d.registry().endpoints(s).size() == 1).orElse(false));
        assertThat(KubernetesWorkloadsTest.vip(d.registry(), "127.0.214.61")).as("a Service of infra that is no waypoint's")
                .isEmpty();

        InMemoryCa ca = InMemoryCa.create(TD);
        SpiffeId quotes = SpiffeIds.istio(TD, "shop", "quotes");
        SpiffeId waypoint = SpiffeIds.istio(TD, "infra", "wp");
        HboneServerSocket atWaypoint = new HboneServerSocket();
        try (HboneServer waypointServer = HboneServer.builder().tls(MeshTls.builder(ca).build()).identity(waypoint)
                .bind(new InetSocketAddress(KubernetesWorkloadsTest.ip("127.0.214.50"), 55310))
                .destinations((dst, id, l) -> Destination.embedded(atWaypoint)).authorizer(Authorizer.allowAll()).threads(1).build();
             Mesh mesh = d.applyTo(Mesh.builder()).identityProvider(ca).identity(quotes).threads(1).build()) {
            waypointServer.start().get(10, TimeUnit.SECONDS);
            atWaypoint.setSoTimeout(30_000);
            mesh.connect(quotes, new InetSocketAddress(KubernetesWorkloadsTest.ip("127.0.214.100"), 80)).get(30, TimeUnit.SECONDS)
                    .close();
            try (HboneSocket s = atWaypoint.accept()) {
                assertThat(s.tunnel().destination()).as("CONNECT authority: the Service's VIP and port")
                        .isEqualTo(new InetSocketAddress(KubernetesWorkloadsTest.ip("127.0.214.100"), 80));
                assertThat(s.tunnel().peerIdentity()).isEqualTo(quotes);
            }
        } finally {
            atWaypoint.close();
        }
    }

    @Test
    @DisplayName("forPod, Gateways and GatewayClasses forbidden (403: a ClusterRole from before 7 December) then granted: while"
            + " forbidden the Service keeps the reference to the waypoint's Service by name (never direct); once the role"
            + " grants them, the next list attaches the waypoint its Gateway says, as istiod")
    void gatewaysGrantedLaterResolveTheWaypoint() throws Exception {
        // Addresses 127.0.214.x (helper h410's).
        k8s.client.resource(namespace("shop", Map.of("kubernetes.io/metadata.name", "shop", "istio.io/dataplane-mode", "ambient")))
                .create();
        k8s.client.resource(namespace("infra", Map.of("kubernetes.io/metadata.name", "infra"))).create();
        // Its address is an IP only, so the waypoint read from it differs from the by-name reference kept while forbidden.
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: wp, namespace: infra}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}]
                status: {addresses: [{type: IPAddress, value: 127.0.214.70}]}
                """);
        for (String kind : List.of("gateways", "gatewayclasses")) {
            for (String query : List.of("?resourceVersion=0", "")) {
                k8s.server.expect().get().withPath("/apis/gateway.networking.k8s.io/v1/" + kind + query)
                        .andReturn(403, new StatusBuilder().withCode(403).withReason("Forbidden")
                                .withMessage(kind + ".gateway.networking.k8s.io is forbidden").build())
                        .always();
            }
        }
        k8s.create(pod("shop", "quotes-1", "node-a", "quotes", Map.of("app", "quotes"), "127.0.214.11").build());
        k8s.create(pod("shop", "backend-1", "node-b", "backend", Map.of("app", "backend"), "127.0.214.12").build());
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("shop").withName("backend")
                .withLabels(Map.of("istio.io/use-waypoint", "wp", "istio.io/use-waypoint-namespace", "infra")).endMetadata()
                .withNewSpec().withClusterIP("127.0.214.110").withSelector(Map.of("app", "backend"))
                .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec().build()).create();

        KubernetesDiscovery d = k8s.startSynced(KubernetesDiscovery.forPod(k8s.client, "shop", "quotes-1"));
        WaypointWorkloadsTest.awaitServiceWaypoint(d, d.registry(), "127.0.214.110",
                GatewayAddress.of("infra", "wp.infra.svc.cluster.local"));

        k8s.responses.clear(); // the ClusterRole re-applied: the API server now answers from its store
        WaypointWorkloadsTest.awaitServiceWaypoint(d, d.registry(), "127.0.214.110",
                GatewayAddress.of(KubernetesWorkloadsTest.ip("127.0.214.70")));
    }
}
