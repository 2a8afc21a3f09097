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
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Which waypoint each workload and Service uses ({@link Workload#waypoint()}, {@link Service#waypoint()}), through
 * fabric8's CRUD mock API server, as istiod's ambient index computes it (istio/istio
 * pilot/pkg/serviceregistry/ambient/waypoints.go {@code fetchWaypointForService}, {@code fetchWaypointForWorkload},
 * {@code getGatewayAddress}; workloads.go {@code computeWaypoint}): the cases of ambientindex_test.go, workloads_test.go
 * and services_test.go named in each test, replayed with the Gateways istiod's {@code addWaypoint} helper writes (an HBONE
 * listener on 15008 admitting its own namespace, {@code istio.io/waypoint-for}, {@code status.addresses} with the IP and
 * {@code NAME.NS.svc.cluster.local} once ready). Until 7 December no Gateway was read and every waypoint was null.
 */
class WaypointWorkloadsTest {
    static final String NS = "ns1";
    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();

    @BeforeEach
    void start() throws Exception {
        // The API server labels every namespace kubernetes.io/metadata.name; the mock server does not.
        k8s.client.resource(namespace(NS, Map.of("kubernetes.io/metadata.name", NS))).create();
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry));
    }

    /**
     * A Gateway as istiod's ambientindex_test.go {@code addWaypointSpecificAddressForClient} writes it: class
     * istio-waypoint, listener "mesh" HBONE 15008 admitting its own namespace, {@code istio.io/waypoint-for} the traffic
     * type (a value that is none of service, workload, all, none becomes service, as there), and once ready
     * {@code status.addresses} with the IP, then the hostname.
     */
    void waypoint(String ns, String name, String ip, String hostname, String trafficType, boolean ready) {
        String type = List.of("service", "workload", "all", "none").contains(trafficType) ? trafficType : "service";
        StringBuilder status = new StringBuilder();
        if (ready) {
            status.append("status:\n  addresses:\n");
            if (ip != null) {
                status.append("  - {type: IPAddress, value: '").append(ip).append("'}\n");
            }
            if (hostname != null) {
                status.append("  - {type: Hostname, value: ").append(hostname).append("}\n");
            }
        }
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: %s, namespace: %s, labels: {istio.io/waypoint-for: %s}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: Same}}}]
                %s""".formatted(name, ns, type, status));
    }

    void waypoint(String name, String ip, String trafficType, boolean ready) {
        waypoint(NS, name, ip, hostname(name, NS), trafficType, ready);
    }

    static String hostname(String name, String ns) {
        return name + "." + ns + ".svc.cluster.local";
    }

    static GatewayAddress byHostname(String name) {
        return GatewayAddress.of(NS, hostname(name, NS));
    }

    void deleteWaypoint(String name) {
        k8s.delete("gateway.networking.k8s.io/v1", "Gateway", NS, name);
    }

    void addPod(String name, String ip, Map<String, String> labels) {
        k8s.create(pod(NS, name, "node-a", "sa", labels, ip).build());
    }

    void labelPod(String name, Map<String, String> labels) {
        k8s.client.pods().inNamespace(NS).withName(name).edit(p -> {
            p.getMetadata().setLabels(labels);
            return p;
        });
    }

    void addService(String name, Map<String, String> labels, Map<String, String> selector, String vip) {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace(NS).withName(name).withLabels(labels).endMetadata()
                .withNewSpec().withClusterIP(vip).withSelector(selector)
                .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort().endSpec().build()).create();
    }

    void labelService(String name, Map<String, String> labels) {
        k8s.client.services().inNamespace(NS).withName(name).edit(s -> {
            s.getMetadata().setLabels(labels);
            return s;
        });
    }

    void labelNamespace(Map<String, String> labels) {
        Map<String, String> all = new HashMap<>(labels);
        all.put("kubernetes.io/metadata.name", NS);
        k8s.client.namespaces().withName(NS).edit(n -> {
            n.getMetadata().setLabels(all);
            return n;
        });
    }

    Optional<Workload> at(String address) {
        return KubernetesWorkloadsTest.at(registry, address);
    }

    Optional<Service> vip(String address) {
        return KubernetesWorkloadsTest.vip(registry, address);
    }

    /** Waits until the workload at {@code address} has {@code waypoint} (null: none), then checks it still has. */
    void awaitWorkloadWaypoint(String address, GatewayAddress waypoint) throws Exception {
        awaitWorkloadWaypoint(d, registry, address, waypoint);
        assertThat(at(address).orElseThrow().waypoint()).isEqualTo(waypoint);
    }

    void awaitServiceWaypoint(String address, GatewayAddress waypoint) throws Exception {
        awaitServiceWaypoint(d, registry, address, waypoint);
        assertThat(vip(address).orElseThrow().waypoint()).isEqualTo(waypoint);
    }

    /** Waits until {@code d} has given the workload at {@code address} in {@code r} the {@code waypoint} (null: none). */
    static void awaitWorkloadWaypoint(KubernetesDiscovery d, WorkloadRegistry r, String address, GatewayAddress waypoint)
            throws Exception {
        await(d, address + "'s waypoint " + waypoint, () -> KubernetesWorkloadsTest.at(r, address)
                .map(w -> Objects.equals(w.waypoint(), waypoint)).orElse(false));
    }

    /** Waits until {@code d} has given the Service at VIP {@code address} in {@code r} the {@code waypoint} (null: none). */
    static void awaitServiceWaypoint(KubernetesDiscovery d, WorkloadRegistry r, String address, GatewayAddress waypoint)
            throws Exception {
        await(d, address + "'s waypoint " + waypoint, () -> KubernetesWorkloadsTest.vip(r, address)
                .map(s -> Objects.equals(s.waypoint(), waypoint)).orElse(false));
    }

    @Test
    @DisplayName("TestAmbientIndex_WaypointForWorkloadTraffic: a pod and a Service labelled istio.io/use-waypoint use a waypoint"
            + " for 'service' traffic (the Service only), 'all' (both), 'workload' (the pod only), 'none' (neither)")
    void waypointForWorkloadTraffic() throws Exception {
        String[] types = {"service", "all", "workload", "none"};
        for (int i = 0; i < types.length; i++) {
            waypoint("wp-" + types[i], "10.0.0." + (10 + i), types[i], true);
            addPod("pod-" + types[i], "10.1.0." + (1 + i), Map.of("app", types[i], "istio.io/use-waypoint", "wp-" + types[i]));
            addService("svc-" + types[i], Map.of("istio.io/use-waypoint", "wp-" + types[i]), Map.of("app", types[i]), "10.96.0." + (1 + i));
        }
        awaitServiceWaypoint("10.96.0.1", byHostname("wp-service"));
        awaitWorkloadWaypoint("10.1.0.1", null);
        awaitServiceWaypoint("10.96.0.2", byHostname("wp-all"));
        awaitWorkloadWaypoint("10.1.0.2", byHostname("wp-all"));
        awaitServiceWaypoint("10.96.0.3", null);
        awaitWorkloadWaypoint("10.1.0.3", byHostname("wp-workload"));
        awaitServiceWaypoint("10.96.0.4", null);
        awaitWorkloadWaypoint("10.1.0.4", null);
    }

    @Test
    @DisplayName("TestAmbientIndex_ServiceAttachedWaypoints: a Service labelled after the fact uses the waypoint by its"
            + " hostname (status.addresses' Hostname preferred over its IPAddress), port 15008; its pod does not")
    void serviceAttachedWaypoints() throws Exception {
        waypoint("test-wp", "10.0.0.10", "default", true);
        addPod("pod1", "10.1.0.1", Map.of("app", "a"));
        addService("svc1", Map.of(), Map.of("app", "a"), "10.96.0.1");
        awaitServiceWaypoint("10.96.0.1", null);
        labelService("svc1", Map.of("istio.io/use-waypoint", "test-wp"));
        awaitServiceWaypoint("10.96.0.1", byHostname("test-wp"));
        assertThat(vip("10.96.0.1").orElseThrow().waypoint().hboneMtlsPort()).isEqualTo(15008);
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).isNull();
    }

    @Test
    @DisplayName("TestAmbientIndex_WaypointConfiguredOnlyWhenReady: a Gateway without status.addresses is no waypoint (its"
            + " pods labelled for it have none: traffic goes direct); it becomes one when the addresses appear; a Gateway"
            + " added at runtime is used at once; one deleted is no longer used")
    void waypointConfiguredOnlyWhenReady() throws Exception {
        addPod("pod1", "10.1.0.1", Map.of("app", "a", "istio.io/use-waypoint", "waypoint-sa1"));
        addPod("pod2", "10.1.0.2", Map.of("app", "b", "istio.io/use-waypoint", "waypoint-sa2"));
        awaitWorkloadWaypoint("10.1.0.2", null);
        waypoint("waypoint-sa1", "10.0.0.1", "", false);
        waypoint("waypoint-sa2", "10.0.0.2", "workload", true);
        awaitWorkloadWaypoint("10.1.0.2", byHostname("waypoint-sa2"));
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).as("not ready").isNull();
        // make waypoint-sa1 ready
        waypoint("waypoint-sa1", "10.0.0.1", "workload", true);
        awaitWorkloadWaypoint("10.1.0.1", byHostname("waypoint-sa1"));

        deleteWaypoint("waypoint-sa2");
        awaitWorkloadWaypoint("10.1.0.2", null);
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).isEqualTo(byHostname("waypoint-sa1"));
    }

    @Test
    @DisplayName("TestUpdateWaypointForWorkload: the namespace's label applies to a pod without its own; the pod's own label"
            + " wins over the namespace's; 'none' opts out; a value naming no waypoint ('~') leaves it without one")
    void updateWaypointForWorkload() throws Exception {
        waypoint("waypoint-sa1", "10.0.0.2", "workload", true);
        waypoint("waypoint-ns", "10.0.0.1", "workload", true);
        addPod("pod1", "10.1.0.1", Map.of("app", "a"));
        awaitWorkloadWaypoint("10.1.0.1", null);

        labelNamespace(Map.of("istio.io/use-waypoint", "waypoint-ns"));
        awaitWorkloadWaypoint("10.1.0.1", byHostname("waypoint-ns"));
        labelPod("pod1", Map.of("istio.io/use-waypoint", "waypoint-sa1"));
        awaitWorkloadWaypoint("10.1.0.1", byHostname("waypoint-sa1"));
        labelPod("pod1", Map.of());
        awaitWorkloadWaypoint("10.1.0.1", byHostname("waypoint-ns"));
        labelNamespace(Map.of());
        awaitWorkloadWaypoint("10.1.0.1", null);
        labelPod("pod1", Map.of("istio.io/use-waypoint", "waypoint-sa1"));
        awaitWorkloadWaypoint("10.1.0.1", byHostname("waypoint-sa1"));
        labelNamespace(Map.of("istio.io/use-waypoint", "waypoint-ns"));
        // The namespace's label changes nothing for a pod with its own: wait for a namespace change to be installed (a
        // second pod, unlabelled, takes the namespace's waypoint), then check pod1.
        addPod("pod2", "10.1.0.2", Map.of("app", "b"));
        awaitWorkloadWaypoint("10.1.0.2", byHostname("waypoint-ns"));
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).isEqualTo(byHostname("waypoint-sa1"));
        labelPod("pod1", Map.of("istio.io/use-waypoint", "none"));
        awaitWorkloadWaypoint("10.1.0.1", null);
        labelPod("pod1", Map.of("istio.io/use-waypoint", "~"));
        labelPod("pod2", Map.of("istio.io/use-waypoint", "none"));
        awaitWorkloadWaypoint("10.1.0.2", null);
        assertThat(at("10.1.0.1").orElseThrow().waypoint()).as("'~' names no waypoint; the namespace's is not used").isNull();
    }

    @Test
    @DisplayName("TestAmbientIndex_WaypointAddressAddedToWorkloads: a waypoint's own pods (gateway.networking.k8s.io/gateway-name)"
            + " and its Service (gateway.istio.io/managed: istio.io-mesh-controller) have no waypoint though their namespace"
            + " names one; the namespace's other pods and Services do; deleting the Gateway removes it from them")
    void waypointAddressAddedToWorkloads() throws Exception {
        labelNamespace(Map.of("istio.io/use-waypoint", "waypoint-ns"));
        addPod("pod1", "10.1.0.1", Map.of("app", "a"));
        addPod("pod4", "10.1.0.4", Map.of("app", "b", "istio.io/use-waypoint", "waypoint-sa2"));
        waypoint("waypoint-ns", "10.0.0.2", "all", true);
        addPod("waypoint-ns-pod", "10.1.0.200", Map.of("gateway.istio.io/managed", "istio.io-mesh-controller",
                "gateway.networking.k8s.io/gateway-name", "waypoint-ns"));
        addService("waypoint-ns", Map.of("gateway.istio.io/managed", "istio.io-mesh-controller"),
                Map.of("gateway.networking.k8s.io/gateway-name", "waypoint-ns"), "10.0.0.2");
        waypoint("waypoint-sa2", "10.0.0.3", "all", true);
        addService("svc1", Map.of(), Map.of("app", "a"), "10.96.0.1");
        // A pod labelled for a Gateway that is not ready yet (a second instance's name) still gets the namespace's.
        addPod("waypoint2-ns-pod", "10.1.0.201", Map.of("gateway.istio.io/managed", "istio.io-mesh-controller",
                "gateway.networking.k8s.io/gateway-name", "namespace-wide"));

        awaitWorkloadWaypoint("10.1.0.1", byHostname("waypoint-ns"));
        awaitWorkloadWaypoint("10.1.0.4", byHostname("waypoint-sa2"));
        awaitServiceWaypoint("10.96.0.1", byHostname("waypoint-ns"));
        awaitWorkloadWaypoint("10.1.0.201", byHostname("waypoint-ns"));
        assertThat(at("10.1.0.200").orElseThrow().waypoint()).as("waypoints do not have waypoints").isNull();
        assertThat(vip("10.0.0.2").orElseThrow().waypoint()).as("nor their Service").isNull();

        deleteWaypoint("waypoint-ns");
        awaitWorkloadWaypoint("10.1.0.1", null);
        awaitServiceWaypoint("10.96.0.1", null);
        assertThat(at("10.1.0.4").orElseThrow().waypoint()).isEqualTo(byHostname("waypoint-sa2"));
        deleteWaypoint("waypoint-sa2");
        awaitWorkloadWaypoint("10.1.0.4", null);
    }

    @Test
    @DisplayName("services_test.go TestServiceServices \"cross namespace waypoint\" and \"cross namespace waypoint denied\":"
            + " istio.io/use-waypoint-namespace names a waypoint of another namespace, used when its listener's allowedRoutes"
            + " admit the Service's namespace (selector on kubernetes.io/metadata.name), none otherwise")
    void crossNamespaceWaypoint() throws Exception {
        k8s.client.resource(namespace("waypoint-ns", Map.of("kubernetes.io/metadata.name", "waypoint-ns"))).create();
        for (String[] w : List.of(new String[] {"admits", NS}, new String[] {"denies", "not-ns"})) {
            k8s.apply("""
                    apiVersion: gateway.networking.k8s.io/v1
                    kind: Gateway
                    metadata: {name: %s, namespace: waypoint-ns, labels: {istio.io/waypoint-for: all}}
                    spec:
                      gatewayClassName: istio-waypoint
                      listeners:
                      - name: mesh
                        port: 15008
                        protocol: HBONE
                        allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: %s}}}}
                    status: {addresses: [{type: Hostname, value: hostname.example}]}
                    """.formatted(w[0], w[1]));
        }
        addService("name", Map.of("istio.io/use-waypoint", "admits", "istio.io/use-waypoint-namespace", "waypoint-ns"),
                Map.of("app", "a"), "10.96.0.1");
        addService("denied", Map.of("istio.io/use-waypoint", "denies", "istio.io/use-waypoint-namespace", "waypoint-ns"),
                Map.of("app", "a"), "10.96.0.2");
        awaitServiceWaypoint("10.96.0.1", GatewayAddress.of("waypoint-ns", "hostname.example"));
        // Awaited, not read: "denied" is the Services informer's next event and may be installed after "name".
        awaitServiceWaypoint("10.96.0.2", null);
    }

    @Test
    @DisplayName("workloads_test.go TestWorkloadEntryConditions: a WorkloadEntry bound to a waypoint of another namespace"
            + " (admitted by selector), one naming a missing waypoint (none), one inheriting a service-only waypoint from its"
            + " namespace (none, silently), one labelled for it directly (none), one inheriting an 'all' waypoint (bound)")
    void workloadEntryWaypoints() throws Exception {
        k8s.client.resource(namespace("ns", Map.of("kubernetes.io/metadata.name", "ns"))).create();
        k8s.client.resource(namespace("other", Map.of("kubernetes.io/metadata.name", "other",
                "istio.io/use-waypoint", "service-waypoint"))).create();
        k8s.client.resource(namespace("third", Map.of("kubernetes.io/metadata.name", "third",
                "istio.io/use-waypoint", "all-waypoint"))).create();
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: waypoint-ns, labels: {istio.io/waypoint-for: all}}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners:
                  - {name: mesh, port: 15008, protocol: HBONE,
                     allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: ns}}}}}
                status: {addresses: [{type: Hostname, value: hostname.example}]}
                """);
        waypoint("other", "service-waypoint", null, "sw.other.svc.cluster.local", "service", true);
        waypoint("third", "all-waypoint", null, "aw.third.svc.cluster.local", "all", true);
        String we = """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: %s, namespace: %s, labels: %s}
                spec: {address: %s}
                """;
        k8s.apply(we.formatted("bound", "ns", "{istio.io/use-waypoint: waypoint, istio.io/use-waypoint-namespace: waypoint-ns}",
                "1.2.3.4"));
        k8s.apply(we.formatted("missing", "ns", "{istio.io/use-waypoint: missing-waypoint}", "1.2.3.5"));
        k8s.apply(we.formatted("inherited", "other", "{}", "1.2.3.6"));
        k8s.apply(we.formatted("direct", "other", "{istio.io/use-waypoint: service-waypoint}", "1.2.3.7"));
        k8s.apply(we.formatted("all", "third", "{}", "1.2.3.8"));
        awaitWorkloadWaypoint("1.2.3.4", GatewayAddress.of("waypoint-ns", "hostname.example"));
        awaitWorkloadWaypoint("1.2.3.8", GatewayAddress.of("third", "aw.third.svc.cluster.local"));
        for (String none : List.of("1.2.3.5", "1.2.3.6", "1.2.3.7")) {
            assertThat(at(none).orElseThrow().waypoint()).as(none).isNull();
        }
    }

    @Test
    @DisplayName("workloads_test.go TestServiceEntryWorkloads \"static\" (an inline endpoint labelled istio.io/use-waypoint uses"
            + " it, the other does not: the endpoint's labels count, not the ServiceEntry's) and services_test.go"
            + " TestServiceEntryServices \"Uses auto assigned addresses for wildcard host\" (the ServiceEntry labelled, with"
            + " use-waypoint-namespace, has the waypoint; here with a host and an address zerohop routes)")
    void serviceEntryWaypoints() throws Exception {
        k8s.client.resource(namespace("ns", Map.of("kubernetes.io/metadata.name", "ns"))).create();
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: ns, labels: {istio.io/waypoint-for: all}}
                spec: {gatewayClassName: istio-waypoint}
                status: {addresses: [{type: Hostname, value: waypoint.example.com}]}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: name, namespace: ns}
                spec:
                  addresses: [1.2.3.4]
                  hosts: [a.example.com]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                  endpoints:
                  - {address: 2.3.4.5}
                  - {address: 3.4.5.6, labels: {istio.io/use-waypoint: waypoint}}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: wildcard, namespace: ns, labels: {istio.io/use-waypoint: waypoint, istio.io/use-waypoint-namespace: ns}}
                spec:
                  addresses: [240.240.0.1]
                  hosts: [wildcard.example.com]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                """);
        GatewayAddress wp = GatewayAddress.of("ns", "waypoint.example.com");
        awaitWorkloadWaypoint("3.4.5.6", wp);
        assertThat(at("2.3.4.5").orElseThrow().waypoint()).isNull();
        awaitServiceWaypoint("240.240.0.1", wp);
        assertThat(vip("1.2.3.4").orElseThrow().waypoint()).as("the ServiceEntry 'name' is not labelled").isNull();
    }

    @Test
    @DisplayName("waypoints.go getGatewayAddress: status.addresses with an IPAddress only gives the waypoint by address; an"
            + " address that is no IP is skipped; a Gateway whose addresses give neither is a waypoint without address")
    void waypointByAddress() throws Exception {
        waypoint(NS, "by-ip", "10.0.0.9", null, "all", true);
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: bad-ip, namespace: ns1, labels: {istio.io/waypoint-for: all}}
                spec: {gatewayClassName: istio-waypoint}
                status: {addresses: [{type: IPAddress, value: not-an-ip}, {type: IPAddress, value: 'fd00::9'}]}
                """);
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: no-address, namespace: ns1, labels: {istio.io/waypoint-for: all}}
                spec: {gatewayClassName: istio-waypoint}
                status: {addresses: [{type: NamedAddress, value: whatever}]}
                """);
        addPod("pod1", "10.1.0.1", Map.of("istio.io/use-waypoint", "by-ip"));
        addPod("pod2", "10.1.0.2", Map.of("istio.io/use-waypoint", "bad-ip"));
        addPod("pod3", "10.1.0.3", Map.of("istio.io/use-waypoint", "no-address"));
        awaitWorkloadWaypoint("10.1.0.1", GatewayAddress.of(InetAddress.getByName("10.0.0.9")));
        awaitWorkloadWaypoint("10.1.0.2", GatewayAddress.of(InetAddress.getByName("fd00::9")));
        awaitWorkloadWaypoint("10.1.0.3", null); // pod3 may be installed after pod2
    }

    @Test
    @DisplayName("waypoints.go gatewayToWaypointTransform: a GatewayClass's istio.io/waypoint-for is its Gateways' traffic"
            + " type unless the Gateway has its own; without either, service")
    void gatewayClassTrafficType() throws Exception {
        k8s.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: GatewayClass
                metadata: {name: workload-waypoints, labels: {istio.io/waypoint-for: workload}}
                spec: {controllerName: istio.io/mesh-controller}
                """);
        String gw = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: %s, namespace: ns1, labels: %s}
                spec: {gatewayClassName: %s}
                status: {addresses: [{type: Hostname, value: %s}]}
                """;
        k8s.apply(gw.formatted("from-class", "{}", "workload-waypoints", "c.example"));
        k8s.apply(gw.formatted("own-label", "{istio.io/waypoint-for: service}", "workload-waypoints", "o.example"));
        k8s.apply(gw.formatted("default", "{}", "istio-waypoint", "d.example"));
        addPod("pod1", "10.1.0.1", Map.of("app", "a", "istio.io/use-waypoint", "from-class"));
        addPod("pod2", "10.1.0.2", Map.of("app", "b", "istio.io/use-waypoint", "own-label"));
        addService("svc2", Map.of("istio.io/use-waypoint", "own-label"), Map.of("app", "b"), "10.96.0.2");
        addService("svc3", Map.of("istio.io/use-waypoint", "default"), Map.of("app", "b"), "10.96.0.3");
        awaitWorkloadWaypoint("10.1.0.1", GatewayAddress.of(NS, "c.example"));
        awaitServiceWaypoint("10.96.0.2", GatewayAddress.of(NS, "o.example"));
        awaitServiceWaypoint("10.96.0.3", GatewayAddress.of(NS, "d.example"));
        awaitWorkloadWaypoint("10.1.0.2", null);
    }

    @Test
    @DisplayName("Gateway API not installed (404) or not granted (403, a role from before 7 December): the proxy still syncs"
            + " and installs its pods; with 404 no waypoint exists (none, as istiod); with 403 a labelled pod keeps a reference to"
            + " the waypoint's Service NAME.NS.svc.cluster.local (until 7 December none: its traffic went direct, past the"
            + " waypoint)")
    void gatewaysNotServedOrForbidden() throws Exception {
        for (int code : new int[] {404, 403}) {
            try (MockCluster other = new MockCluster()) {
                for (String kind : List.of("gateways", "gatewayclasses")) {
                    for (String query : List.of("?resourceVersion=0", "")) {
                        other.server.expect().get().withPath("/apis/gateway.networking.k8s.io/v1/" + kind + query)
                                .andReturn(code, new StatusBuilder().withCode(code).withReason(code == 404 ? "NotFound" : "Forbidden")
                                        .withMessage(kind + ".gateway.networking.k8s.io: " + code).build())
                                .always();
                    }
                }
                other.create(pod(NS, "web-1", "node-a", "web", Map.of("app", "web", "istio.io/use-waypoint", "wp"), "10.0.0.7").build());
                try (KubernetesDiscovery old = KubernetesDiscovery.forNode(other.client, "node-a")
                        .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start()) {
                    old.synced().get(30, TimeUnit.SECONDS);
                    InetAddress web = KubernetesWorkloadsTest.ip("10.0.0.7");
                    await(old, "the pod", () -> old.registry().byAddress(web).isPresent());
                    assertThat(old.registry().byAddress(web).orElseThrow().waypoint()).as("HTTP " + code)
                            .isEqualTo(code == 404 ? null : GatewayAddress.of(NS, "wp.ns1.svc.cluster.local"));
                }
            }
        }
    }
}
