package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import java.net.InetAddress;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Waypoints from the objects a user of Istio ambient really has, fed through fabric8's CRUD mock API server: the Gateway
 * {@code istioctl waypoint apply --enroll-namespace} writes (istio/istio istioctl/pkg/waypoint/waypoint.go: class
 * {@code istio-waypoint}, one listener {@code mesh} HBONE 15008 without allowedRoutes, no {@code istio.io/waypoint-for}
 * label unless {@code --for}; the namespace labelled {@code istio.io/use-waypoint}), the {@code status.addresses} istiod's
 * gateway controller writes once the waypoint's deployment is ready (pilot/pkg/config/kube/gateway/conversion.go: for the
 * waypoint class, whose {@code ClassInfo.AddressType} is empty, the Service's cluster IP and then its hostname; for the
 * {@code istio} ingress class the LoadBalancer's addresses), the deployment's pods and Service as the
 * {@code waypoint} template labels them, an {@code istio}-class ingress Gateway, and the egress-waypoint pattern (a
 * waypoint admitting every namespace, named by ServiceEntries of others). What istiod would send ztunnel for each is
 * what istio/istio pilot/pkg/serviceregistry/ambient/waypoints.go computes: every Gateway with {@code status.addresses}
 * is a waypoint candidate whatever its class ({@code gatewayToWaypointTransform}; the Gateways informer of
 * pkg/kube/multicluster/cluster.go {@code buildClusterCollections} is not filtered by class), but only an object whose
 * label (or namespace's) names it uses it ({@code fetchWaypointForTarget}).
 */
class WaypointManifestsTest {
    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();

    void startDiscovery() throws Exception {
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry));
    }

    void ns(String name, Map<String, String> labels) {
        Map<String, String> all = new java.util.HashMap<>(labels);
        all.put("kubernetes.io/metadata.name", name);
        var existing = k8s.client.namespaces().withName(name).get();
        if (existing == null) {
            k8s.client.resource(namespace(name, all)).create();
        } else {
            k8s.client.namespaces().withName(name).edit(n -> {
                n.getMetadata().setLabels(all);
                return n;
            });
        }
    }

    void addPod(String ns, String name, String ip, Map<String, String> labels) {
        k8s.create(pod(ns, name, "node-a", "sa-" + name, labels, ip).build());
    }

    void addService(String ns, String name, Map<String, String> labels, Map<String, String> selector, String vip) {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace(ns).withName(name).withLabels(labels).endMetadata()
                .withNewSpec().withClusterIP(vip).withSelector(selector)
                .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec().build()).create();
    }

    void labelService(String ns, String name, Map<String, String> labels) {
        k8s.client.services().inNamespace(ns).withName(name).edit(s -> {
            s.getMetadata().setLabels(labels);
            return s;
        });
    }

    /** istiod's built-in waypoint class (pilot/pkg/config/kube/gatewaycommon/classinfo.go, ManagedGatewayMeshController). */
    static final String ISTIO_WAYPOINT_CLASS = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: istio-waypoint}
            spec: {controllerName: istio.io/mesh-controller}
            """;

    /** The GatewayClasses istiod creates (pilot/pkg/config/kube/gatewaycommon classinfo.go): no labels. */
    void istioClasses() {
        k8s.apply(ISTIO_WAYPOINT_CLASS);
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: istio}
                spec: {controllerName: istio.io/gateway-controller}
                """);
    }

    /** {@code istioctl waypoint generate -n NS --name NAME [--for FOR]}, applied, and (ready) its status as istiod writes it. */
    void istioctlWaypoint(String ns, String name, String forTraffic, String clusterIp, boolean ready) {
        String labels = forTraffic == null ? "" : ", labels: {istio.io/waypoint-for: " + forTraffic + "}";
        String status = !ready ? "" : """
                status:
                  addresses:
                  - {type: IPAddress, value: '%s'}
                  - {type: Hostname, value: %s.%s.svc.cluster.local}
                  conditions:
                  - {type: Programmed, status: 'True', reason: Programmed, message: 'Resource programmed'}
                """.formatted(clusterIp, name, ns);
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: %s, namespace: %s%s}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners:
                  - {name: mesh, port: 15008, protocol: HBONE}
                %s""".formatted(name, ns, labels, status));
    }

    /** The waypoint deployment's pod and Service as istiod's waypoint template labels them. */
    void waypointDeployment(String ns, String name, String podIp, String clusterIp) {
        Map<String, String> labels = Map.of("gateway.networking.k8s.io/gateway-name", name,
                "gateway.istio.io/managed", "istio.io-mesh-controller", "istio.io/dataplane-mode", "none");
        addPod(ns, name + "-7c9f8d-x2k4q", podIp, labels);
        addService(ns, name, labels, Map.of("gateway.networking.k8s.io/gateway-name", name), clusterIp);
    }

    Optional<Workload> at(String address) {
        return KubernetesWorkloadsTest.at(registry, address);
    }

    Optional<Service> vip(String address) {
        return KubernetesWorkloadsTest.vip(registry, address);
    }

    void awaitWorkloadWaypoint(String address, GatewayAddress waypoint) throws Exception {
        WaypointWorkloadsTest.awaitWorkloadWaypoint(d, registry, address, waypoint);
    }

    void awaitServiceWaypoint(String address, GatewayAddress waypoint) throws Exception {
        WaypointWorkloadsTest.awaitServiceWaypoint(d, registry, address, waypoint);
    }

    @Test
    @DisplayName("istioctl waypoint apply --enroll-namespace: before istiod writes status.addresses nothing uses it; then the"
            + " namespace's Services use it by hostname (for: service, the class's default), its pods do not, nor the"
            + " waypoint's own pod and Service")
    void istioctlEnrollNamespace() throws Exception {
        istioClasses();
        ns("bookinfo", Map.of("istio.io/dataplane-mode", "ambient", "istio.io/use-waypoint", "waypoint"));
        istioctlWaypoint("bookinfo", "waypoint", null, "10.96.0.50", false);
        addPod("bookinfo", "reviews-v1", "10.1.0.1", Map.of("app", "reviews"));
        addService("bookinfo", "reviews", Map.of("app", "reviews"), Map.of("app", "reviews"), "10.96.0.1");
        startDiscovery();
        await(d, "reviews", () -> vip("10.96.0.1").isPresent() && at("10.1.0.1").isPresent());
        assertThat(vip("10.96.0.1").orElseThrow().waypoint()).as("not ready: direct").isNull();

        waypointDeployment("bookinfo", "waypoint", "10.1.0.50", "10.96.0.50");
        istioctlWaypoint("bookinfo", "waypoint", null, "10.96.0.50", true);
        GatewayAddress wp = GatewayAddress.of("bookinfo", "waypoint.bookinfo.svc.cluster.local");
        // Each kind has its own informer: the waypoint's pod and Service may be installed after the Gateway's status.
        await(d, "the waypoint in use, its pod and Service installed", () -> vip("10.96.0.1").map(s -> wp.equals(s.waypoint()))
                .orElse(false) && at("10.1.0.50").isPresent() && vip("10.96.0.50").isPresent());
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).as("service waypoint: not the pod's").isNull();
        assertThat(at("10.1.0.50").orElseThrow().waypoint()).as("the waypoint's pod").isNull();
        assertThat(vip("10.96.0.50").orElseThrow().waypoint()).as("the waypoint's Service").isNull();
    }

    @Test
    @DisplayName("istioctl waypoint apply --for all: the Gateway's label makes it a workload waypoint too; relabelled --for"
            + " workload at runtime the Service loses it and the pod keeps it; its status.addresses changed to an IP only, the"
            + " address follows; deleted, nothing uses it")
    void waypointForRelabelledAndReaddressed() throws Exception {
        istioClasses();
        ns("app", Map.of("istio.io/use-waypoint", "wp"));
        addPod("app", "web-1", "10.1.0.1", Map.of("app", "web"));
        addService("app", "web", Map.of(), Map.of("app", "web"), "10.96.0.1");
        istioctlWaypoint("app", "wp", "all", "10.96.0.60", true);
        startDiscovery();
        GatewayAddress wp = GatewayAddress.of("app", "wp.app.svc.cluster.local");
        awaitServiceWaypoint("10.96.0.1", wp);
        awaitWorkloadWaypoint("10.1.0.1", wp);

        istioctlWaypoint("app", "wp", "workload", "10.96.0.60", true);
        awaitServiceWaypoint("10.96.0.1", null);
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).isEqualTo(wp);

        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: wp, namespace: app, labels: {istio.io/waypoint-for: workload}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                status: {addresses: [{type: IPAddress, value: 10.96.0.61}]}
                """);
        awaitWorkloadWaypoint("10.1.0.1", GatewayAddress.of(InetAddress.getByName("10.96.0.61")));

        k8s.delete("gateway.networking.k8s.io/v1", "Gateway", "app", "wp");
        awaitWorkloadWaypoint("10.1.0.1", null);
    }

    @Test
    @DisplayName("An istio-class ingress Gateway with status.addresses: no unlabelled pod or Service gets it (its pods are its"
            + " instances, no waypoint even in a namespace that names one); a Service of its namespace naming it uses it (by"
            + " its LoadBalancer IP, as istiod: any Gateway with addresses is a candidate); one of another namespace naming it"
            + " is denied, its HTTP listener's allowedRoutes (All) not counting, only an HBONE 15008 listener's")
    void ingressGatewayIsOnlyAWaypointWhenNamed() throws Exception {
        istioClasses();
        ns("ingress", Map.of());
        ns("apps", Map.of());
        ns("labelled", Map.of("istio.io/use-waypoint", "waypoint"));
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: public, namespace: ingress}
                spec:
                  gatewayClassName: istio
                  listeners:
                  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
                status:
                  addresses: [{type: IPAddress, value: 198.51.100.7}]
                """);
        addPod("ingress", "public-istio-5d8f-abcde", "10.1.0.9", Map.of("gateway.networking.k8s.io/gateway-name", "public",
                "gateway.istio.io/managed", "istio.io-gateway-controller"));
        addService("ingress", "public-istio", Map.of("gateway.istio.io/managed", "istio.io-gateway-controller"),
                Map.of("gateway.networking.k8s.io/gateway-name", "public"), "10.96.0.9");
        addPod("apps", "web-1", "10.1.0.1", Map.of("app", "web"));
        addService("apps", "web", Map.of(), Map.of("app", "web"), "10.96.0.1");
        addService("ingress", "named", Map.of("istio.io/use-waypoint", "public"), Map.of("app", "x"), "10.96.0.2");
        addService("apps", "cross", Map.of("istio.io/use-waypoint", "public", "istio.io/use-waypoint-namespace", "ingress"),
                Map.of("app", "x"), "10.96.0.3");
        // A pod of the ingress in a namespace that names a (ready) waypoint: an instance of a waypoint candidate.
        istioctlWaypoint("labelled", "waypoint", "all", "10.96.0.70", true);
        addPod("labelled", "edge-1", "10.1.0.20", Map.of("gateway.networking.k8s.io/gateway-name", "edge"));
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: edge, namespace: labelled}
                spec:
                  gatewayClassName: istio
                  listeners: [{name: http, port: 80, protocol: HTTP}]
                status: {addresses: [{type: Hostname, value: edge-istio.labelled.svc.cluster.local}]}
                """);
        addPod("labelled", "app-1", "10.1.0.21", Map.of("app", "a"));
        startDiscovery();
        awaitServiceWaypoint("10.96.0.2", GatewayAddress.of(InetAddress.getByName("198.51.100.7")));
        awaitWorkloadWaypoint("10.1.0.21", GatewayAddress.of("labelled", "waypoint.labelled.svc.cluster.local"));
        assertThat(vip("10.96.0.3").orElseThrow().waypoint()).as("another namespace: denied").isNull();
        assertThat(vip("10.96.0.1").orElseThrow().waypoint()).isNull();
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).isNull();
        assertThat(at("10.1.0.9").orElseThrow().waypoint()).isNull();
        assertThat(vip("10.96.0.9").orElseThrow().waypoint()).isNull();
        assertThat(at("10.1.0.20").orElseThrow().waypoint()).as("an ingress instance").isNull();
    }

    @Test
    @DisplayName("Egress waypoint: a waypoint in istio-egress admitting All namespaces, named by a ServiceEntry of another"
            + " namespace (use-waypoint-namespace), is used; the listener narrowed to Same at runtime, it no longer is")
    void egressWaypointForServiceEntries() throws Exception {
        istioClasses();
        ns("istio-egress", Map.of());
        ns("team", Map.of());
        String gw = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: egress-gateway, namespace: istio-egress}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners:
                  - {name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: %s}}}
                status:
                  addresses:
                  - {type: IPAddress, value: 10.96.0.80}
                  - {type: Hostname, value: egress-gateway.istio-egress.svc.cluster.local}
                """;
        k8s.apply(gw.formatted("All"));
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: httpbin
                  namespace: team
                  labels: {istio.io/use-waypoint: egress-gateway, istio.io/use-waypoint-namespace: istio-egress}
                spec:
                  hosts: [httpbin.org]
                  addresses: [240.240.0.9]
                  ports: [{number: 80, name: http, protocol: HTTP}]
                  resolution: DNS
                """);
        startDiscovery();
        awaitServiceWaypoint("240.240.0.9", GatewayAddress.of("istio-egress", "egress-gateway.istio-egress.svc.cluster.local"));
        k8s.apply(gw.formatted("Same"));
        awaitServiceWaypoint("240.240.0.9", null);
    }

    @Test
    @DisplayName("RBAC 403 on gatewayclasses only: the proxy syncs; Gateways are still waypoints (their own waypoint-for"
            + " counts; one relying on its class's label is for all traffic, since its class may say workload: until"
            + " 7 December service, and a pod naming it went direct, past the waypoint)")
    void gatewayClassesForbiddenOnly() throws Exception {
        for (String query : new String[] {"?resourceVersion=0", ""}) {
            k8s.server.expect().get().withPath("/apis/gateway.networking.k8s.io/v1/gatewayclasses" + query)
                    .andReturn(403, new StatusBuilder().withCode(403).withReason("Forbidden")
                            .withMessage("gatewayclasses.gateway.networking.k8s.io is forbidden").build())
                    .always();
        }
        ns("app", Map.of());
        istioctlWaypoint("app", "own", "workload", "10.96.0.90", true);
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: by-class, namespace: app}
                spec:
                  gatewayClassName: workload-class
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                status: {addresses: [{type: Hostname, value: by-class.app.svc.cluster.local}]}
                """);
        addPod("app", "a", "10.1.0.1", Map.of("istio.io/use-waypoint", "own"));
        addPod("app", "b", "10.1.0.2", Map.of("istio.io/use-waypoint", "by-class"));
        addService("app", "b", Map.of("istio.io/use-waypoint", "by-class"), Map.of("app", "b"), "10.96.0.2");
        startDiscovery();
        awaitWorkloadWaypoint("10.1.0.1", GatewayAddress.of("app", "own.app.svc.cluster.local"));
        awaitServiceWaypoint("10.96.0.2", GatewayAddress.of("app", "by-class.app.svc.cluster.local"));
        awaitWorkloadWaypoint("10.1.0.2", GatewayAddress.of("app", "by-class.app.svc.cluster.local"));
    }
}
