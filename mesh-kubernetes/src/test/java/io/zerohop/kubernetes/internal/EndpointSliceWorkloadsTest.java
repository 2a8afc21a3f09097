package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.WorkloadService;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * EndpointSlices of Services without a selector, as istiod's ambient index reads them: istio/istio
 * pilot/pkg/serviceregistry/ambient/workloads.go {@code endpointSlicesBuilder}, with the cases of its test
 * {@code TestEndpointSliceWorkloads} (workloads_test.go: "api server", "pod as part of selectorless service without
 * targetRef") and the slice cases of {@code TestPodWorkloads} there ("pod as part of selectorless service", "pod as part
 * of selectorless service without targetRef", "host network pod"), then what zerohop adds: one address claimed twice,
 * names, a bad slice, and what the registry does with the result.
 */
class EndpointSliceWorkloadsTest {
    static final String TD = "cluster.local";

    static Service service(String ns, String name, String clusterIp, Map<String, String> selector, Object... ports) {
        ServiceBuilder b = new ServiceBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withNewSpec().withClusterIP(clusterIp).withSelector(selector).endSpec();
        for (int i = 0; i < ports.length; i += 3) {
            b.editSpec().addNewPort().withName((String) ports[i]).withPort((Integer) ports[i + 1])
                    .withTargetPort(new IntOrString((Integer) ports[i + 2])).withProtocol("TCP").endPort().endSpec();
        }
        return b.build();
    }

    /** A slice of {@code service} with one TCP port {@code portName}:{@code port}; endpoints added by the caller. */
    static EndpointSliceBuilder slice(String ns, String name, String service, String portName, int port) {
        return new EndpointSliceBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .withLabels(service == null ? Map.of() : Map.of("kubernetes.io/service-name", service)).endMetadata()
                .withAddressType("IPv4").addNewPort().withName(portName).withProtocol("TCP").withPort(port).endPort();
    }

    static io.fabric8.kubernetes.api.model.discovery.v1.Endpoint endpoint(Boolean ready, String... addresses) {
        return new EndpointBuilder().withAddresses(addresses).withNewConditions().withReady(ready).endConditions().build();
    }

    static io.fabric8.kubernetes.api.model.discovery.v1.Endpoint podEndpoint(String ip, String ns, String pod) {
        return new EndpointBuilder().withAddresses(ip).withNewConditions().withReady(true).endConditions()
                .withNewTargetRef().withKind("Pod").withNamespace(ns).withName(pod).endTargetRef().build();
    }

    static Pod pod(String ns, String name, String ip, Map<String, String> labels, boolean hostNetwork) {
        return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).withLabels(labels).endMetadata()
                .withNewSpec().withNodeName("node-a").withServiceAccountName("sa").withHostNetwork(hostNetwork).endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip)
                .addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus().build();
    }

    /** A WorkloadState fed with {@code objects}, flushed into a fresh registry. */
    static WorkloadRegistry install(Object... objects) {
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(), Map.of());
        WorkloadState state = new WorkloadState(registry, TD, true);
        for (Object o : objects) {
            if (o instanceof Pod p) {
                state.putPod(p);
            } else if (o instanceof Service s) {
                state.putService(s);
            } else if (o instanceof EndpointSlice e) {
                state.putSlice(e);
            }
        }
        state.flush();
        return registry;
    }

    static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    static Map<String, Service> byName(Service... services) {
        Map<String, Service> m = new java.util.HashMap<>();
        for (Service s : services) {
            m.put(s.getMetadata().getName(), s);
        }
        return m;
    }

    /** workloads_test.go kubernetesAPIServerService / kubernetesAPIServerEndpoint. */
    static Service apiServerService(String ip) {
        return service("default", "kubernetes", ip, null, "https", 443, 6443);
    }

    static EndpointSlice apiServerEndpoint(String ip) {
        return slice("default", "kubernetes", "kubernetes", "https", 6443).addToEndpoints(endpoint(true, ip)).build();
    }

    @Test
    @DisplayName("TestEndpointSliceWorkloads \"api server\": the kubernetes Service's endpoint, port 443 to the slice's 6443")
    void apiServer() throws Exception {
        List<EndpointSliceConversion.SliceEndpoint> eps = EndpointSliceConversion.endpoints(apiServerEndpoint("172.18.0.5"),
                byName(apiServerService("1.2.3.4")));
        assertThat(eps).containsExactly(new EndpointSliceConversion.SliceEndpoint("default", "kubernetes", ip("172.18.0.5"),
                new WorkloadService("kubernetes", "default", "kubernetes.default.svc.cluster.local", Set.of(6443), true,
                        Map.of(443, 6443))));

        WorkloadRegistry r = install(apiServerService("1.2.3.4"), apiServerEndpoint("172.18.0.5"));
        Workload w = r.byAddress(ip("172.18.0.5")).orElseThrow();
        // istiod: Name the slice's, no service account, HOST_NETWORK (shared address), no tunnel: plaintext.
        assertThat(w.workloadName()).isEqualTo("kubernetes");
        assertThat(w.name()).isEqualTo("kubernetes-172.18.0.5");
        assertThat(w.namespace()).isEqualTo("default");
        assertThat(w.protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(w.serviceAccount()).isNull();
        assertThat(w.identity()).isNull();
        assertThat(r.identityOf(w)).isNull();
        assertThat(w.labels()).isEmpty();
        assertThat(w.node()).isNull();
        io.zerohop.core.Service svc = r.serviceAt(ip("1.2.3.4")).orElseThrow();
        assertThat(r.endpoints(svc)).containsExactly(w);
        var picked = r.pickEndpoint(svc, 443, ip("1.2.3.4"));
        assertThat(picked.address()).isEqualTo(new java.net.InetSocketAddress(ip("172.18.0.5"), 6443));
        // A library caller never dials plaintext: no meshed endpoint.
        assertThat(r.pickMeshEndpoint(svc, 443, ip("1.2.3.4"), null, null)).isNull();
    }

    @Test
    @DisplayName("TestEndpointSliceWorkloads \"pod as part of selectorless service without targetRef\": the endpoint is built")
    void endpointAtAPodsAddressWithoutTargetRef() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 80);
        EndpointSlice es = slice("default", "svc-123", "svc", "http", 80).addToEndpoints(endpoint(true, "1.2.3.4")).build();
        assertThat(EndpointSliceConversion.endpoints(es, byName(svc))).containsExactly(new EndpointSliceConversion.SliceEndpoint(
                "default", "svc-123", ip("1.2.3.4"), new WorkloadService("svc", "default", "svc.default.svc.cluster.local",
                        Set.of(80), true, Map.of(80, 80))));
    }

    @Test
    @DisplayName("TestPodWorkloads \"pod as part of selectorless service\": a slice naming the pod by targetRef adds the Service to the pod, and builds no workload")
    void podNamedByTargetRefJoinsTheService() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", null, "80", 80, 80);
        EndpointSlice es = slice("default", "svc-123", "svc", "http", 80).addToEndpoints(podEndpoint("1.2.3.4", "default", "pod-123")).build();
        Pod pod = pod("default", "pod-123", "1.2.3.4", Map.of("app", "foo"), false);
        assertThat(EndpointSliceConversion.endpoints(es, byName(svc))).isEmpty();
        assertThat(EndpointSliceConversion.podRefs(es, byName(svc))).containsExactly("default/pod-123/");

        WorkloadRegistry r = install(svc, es, pod);
        assertThat(r.all()).hasSize(1);
        Workload w = r.byAddress(ip("1.2.3.4")).orElseThrow();
        assertThat(w.name()).isEqualTo("pod-123");
        assertThat(w.services()).containsExactly(new WorkloadService("svc", "default", "svc.default.svc.cluster.local", Set.of(80), true));
        assertThat(r.endpoints(r.serviceAt(ip("10.0.0.10")).orElseThrow())).containsExactly(w);
    }

    @Test
    @DisplayName("a targetRef matches the pod's uid exactly, as istiod's TargetRef key (a reference to an older pod of that name names no pod)")
    void targetRefUidMustMatch() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 80);
        EndpointSlice es = slice("default", "svc-123", "svc", "http", 80).addToEndpoints(new EndpointBuilder().withAddresses("1.2.3.4")
                .withNewTargetRef().withKind("Pod").withNamespace("default").withName("pod-123").withUid("old").endTargetRef().build()).build();
        Pod pod = new PodBuilder(pod("default", "pod-123", "1.2.3.4", Map.of(), false)).editMetadata().withUid("new").endMetadata().build();
        WorkloadRegistry r = install(svc, es, pod);
        assertThat(r.byAddress(ip("1.2.3.4")).orElseThrow().services()).isEmpty();
    }

    /**
     * TestPodWorkloads "pod as part of selectorless service without targetRef": upstream keeps the pod without the Service
     * and adds a separate HOST_NETWORK workload at the same IP carrying it. The registry has one workload per address:
     * the pod keeps it and carries the slice's membership (the VIP still reaches the address; over HBONE when meshed).
     */
    @Test
    @DisplayName("TestPodWorkloads \"pod as part of selectorless service without targetRef\": the pod keeps its address, and the Service reaches it")
    void endpointAtAPodsAddressMergesIntoThePod() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 80);
        EndpointSlice es = slice("default", "svc-123", "svc", "http", 80).addToEndpoints(endpoint(true, "1.2.3.4")).build();
        Pod pod = pod("default", "pod-123", "1.2.3.4", Map.of("app", "foo"), false);
        WorkloadRegistry r = install(svc, es, pod);
        assertThat(r.all()).hasSize(1);
        Workload w = r.byAddress(ip("1.2.3.4")).orElseThrow();
        assertThat(w.name()).isEqualTo("pod-123");
        assertThat(w.serviceAccount()).isEqualTo("sa");
        assertThat(w.services()).containsExactly(new WorkloadService("svc", "default", "svc.default.svc.cluster.local", Set.of(80),
                true, Map.of(80, 80)));
        io.zerohop.core.Service s = r.serviceAt(ip("10.0.0.10")).orElseThrow();
        assertThat(r.pickEndpoint(s, 80, ip("10.0.0.10")).workload()).isSameAs(w);
    }

    @Test
    @DisplayName("TestPodWorkloads \"host network pod\": slices at the pod's IP, one naming another pod, change nothing for the pod; its Service reaches its address (zerohop: one workload at the address, the slice's, carrying the pod's Service too)")
    void hostNetworkPod() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", Map.of("app", "foo"), "80", 80, 80);
        Service other = service("default", "some-other-svc", "10.0.0.11", null, "80", 80, 80);
        EndpointSlice otherSlice = slice("default", "some-other-svc", "some-other-svc", "80", 80)
                .addToEndpoints(podEndpoint("1.1.1.1", "default", "not-the-same-pod")).build();
        Pod pod = pod("default", "pod-123", "1.1.1.1", Map.of("app", "foo"), true);
        WorkloadRegistry r = install(svc, other, otherSlice, apiServerService("1.2.3.4"), apiServerEndpoint("1.1.1.1"), pod);
        // Upstream: a HOST_NETWORK workload for the pod, its Services {default/svc: 80 -> 80}, beside the kubernetes slice's
        // workload at the same address. Here one address is one workload: the slice's (first), carrying both Services,
        // without identity; the pod's Service reaches it, the other Service's slice names another pod and adds nothing.
        assertThat(r.all()).hasSize(1);
        Workload w = r.byAddress(ip("1.1.1.1")).orElseThrow();
        assertThat(w.workloadName()).isEqualTo("kubernetes");
        assertThat(w.serviceAccount()).isNull();
        assertThat(w.services()).extracting(WorkloadService::name).containsExactly("kubernetes", "svc");
        assertThat(w.services().get(1).ports()).isEqualTo(Map.of(80, 80));
        assertThat(r.endpoints(r.serviceAt(ip("10.0.0.10")).orElseThrow())).containsExactly(w);
        assertThat(r.endpoints(r.serviceAt(ip("10.0.0.11")).orElseThrow())).isEmpty();
    }

    /**
     * A host-network pod's Service endpoint is healthy as the pod is ready (and not being deleted), or as its Service
     * publishes not-ready addresses, as an EndpointSlice endpoint's conditions say; a UDP port is no endpoint port.
     * Helper 268: with every such endpoint healthy, or UDP ports kept, every test still passed.
     */
    @Test
    void aHostNetworkEndpointIsHealthyAsItsPodIsReady() {
        Service svc = service("default", "svc", "10.0.0.10", Map.of("app", "foo"), "80", 80, 80);
        svc.getSpec().getPorts().add(new io.fabric8.kubernetes.api.model.ServicePortBuilder().withName("dns").withPort(53)
                .withTargetPort(new IntOrString(53)).withProtocol("UDP").build());
        Pod ready = pod("default", "pod-1", "1.1.1.1", Map.of("app", "foo"), true);
        Pod notReady = new PodBuilder(ready).editStatus().editFirstCondition().withStatus("False").endCondition().endStatus().build();
        Pod deleting = new PodBuilder(ready).editMetadata().withDeletionTimestamp("2026-12-06T00:00:00Z").endMetadata().build();
        List<EndpointSliceConversion.SliceEndpoint> e = PodConversion.hostNetworkEndpoints(ready, List.of(svc));
        assertThat(e).hasSize(1);
        assertThat(e.get(0).service().healthy()).isTrue();
        assertThat(e.get(0).service().ports()).as("the UDP port left out").isEqualTo(Map.of(80, 80));
        assertThat(PodConversion.hostNetworkEndpoints(notReady, List.of(svc))).singleElement()
                .satisfies(x -> assertThat(x.service().healthy()).as("not ready").isFalse());
        assertThat(PodConversion.hostNetworkEndpoints(deleting, List.of(svc))).singleElement()
                .satisfies(x -> assertThat(x.service().healthy()).as("being deleted").isFalse());
        Service publishing = new ServiceBuilder(svc).editSpec().withPublishNotReadyAddresses(true).endSpec().build();
        assertThat(PodConversion.hostNetworkEndpoints(notReady, List.of(publishing))).singleElement()
                .satisfies(x -> assertThat(x.service().healthy()).as("publishNotReadyAddresses").isTrue());
    }

    @Test
    @DisplayName("slices that count: labelled with an existing Service that is not ExternalName, addressType not FQDN")
    void whichSlicesCount() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 8080);
        Map<String, Service> svcs = byName(svc);
        assertThat(EndpointSliceConversion.endpoints(slice("default", "a", null, "http", 80)
                .addToEndpoints(endpoint(true, "192.0.2.1")).build(), svcs)).as("no service-name label").isEmpty();
        assertThat(EndpointSliceConversion.endpoints(slice("default", "a", "missing", "http", 80)
                .addToEndpoints(endpoint(true, "192.0.2.1")).build(), svcs)).as("no such Service").isEmpty();
        assertThat(EndpointSliceConversion.endpoints(slice("default", "a", "svc", "http", 80).withAddressType("FQDN")
                .addToEndpoints(endpoint(true, "db.example.com")).build(), svcs)).as("FQDN").isEmpty();
        Service external = new ServiceBuilder(svc).editSpec().withType("ExternalName").withExternalName("db.example.com").endSpec().build();
        assertThat(EndpointSliceConversion.endpoints(slice("default", "a", "svc", "http", 80)
                .addToEndpoints(endpoint(true, "192.0.2.1")).build(), byName(external))).as("ExternalName").isEmpty();
        assertThat(EndpointSliceConversion.endpoints(slice("default", "a", "svc", "http", 80)
                .addToEndpoints(endpoint(true, "192.0.2.1")).build(), svcs)).hasSize(1);
    }

    @Test
    @DisplayName("endpoints: first address only, ready absent or true is healthy, false unhealthy, a repeated address once, a bad one skipped alone")
    void endpointsAsIstiodReadsThem() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 8080);
        EndpointSlice es = slice("default", "a", "svc", "http", 9090)
                .addToEndpoints(endpoint(null, "192.0.2.1", "192.0.2.99"), endpoint(false, "192.0.2.2"),
                        endpoint(true, "192.0.2.1"), endpoint(true, "not-an-ip"), endpoint(true, "192.0.2.3"),
                        new EndpointBuilder().build())
                .build();
        List<EndpointSliceConversion.SliceEndpoint> eps = EndpointSliceConversion.endpoints(es, byName(svc));
        assertThat(eps).extracting(e -> e.address().getHostAddress()).containsExactly("192.0.2.1", "192.0.2.2", "192.0.2.3");
        assertThat(eps).extracting(e -> e.service().healthy()).containsExactly(true, false, true);

        WorkloadRegistry r = install(svc, es);
        io.zerohop.core.Service s = r.serviceAt(ip("10.0.0.10")).orElseThrow();
        // The unready endpoint stays in the registry (as istiod keeps UNHEALTHY workloads), not among the endpoints.
        assertThat(r.all()).hasSize(3);
        assertThat(r.endpoints(s)).extracting(w -> w.addresses().get(0).getHostAddress()).containsExactlyInAnyOrder("192.0.2.1", "192.0.2.3");
        // The slice's port wins over the Service's targetPort 8080 (ztunnel: the endpoint's port map first).
        assertThat(r.pickEndpoint(s, 80, ip("10.0.0.10")).address().getPort()).isEqualTo(9090);
    }

    @Test
    @DisplayName("ports: TCP slice ports with name and port, joined to the Service's ports by name")
    void portsJoinByName() throws Exception {
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 8080, "grpc", 90, 9000, "", 100, 100);
        EndpointSlice es = new EndpointSliceBuilder(slice("default", "a", "svc", "http", 8081).build())
                .addNewPort().withName("grpc").withProtocol("UDP").withPort(9001).endPort()
                .addNewPort().withName("metrics").withProtocol("TCP").withPort(9100).endPort()
                .addNewPort().withProtocol("TCP").withPort(7000).endPort()
                .addNewPort().withName("").withPort(7001).endPort()
                .addNewPort().withName("").withProtocol("TCP").withPort(7002).endPort()
                .build();
        // http: 80 -> 8081; grpc is UDP; metrics names no service port; a port without name or protocol is skipped; "" joins
        // the Service's unnamed port.
        assertThat(EndpointSliceConversion.ports(es, svc)).isEqualTo(Map.of(80, 8081, 100, 7002));
    }

    @Test
    @DisplayName("two Services in front of one external IP: one workload carrying both; a Service's VIP as an endpoint is left out")
    void oneAddressTwoServices() throws Exception {
        Service a = service("default", "db-a", "10.0.0.10", null, "pg", 5432, 5432);
        Service b = service("other", "db-b", "10.0.0.11", null, "pg", 5433, 5433);
        EndpointSlice sa = slice("default", "db-a-1", "db-a", "pg", 5432).addToEndpoints(endpoint(true, "192.0.2.7")).build();
        EndpointSlice sb = slice("other", "db-b-1", "db-b", "pg", 15432).addToEndpoints(endpoint(true, "192.0.2.7"),
                endpoint(true, "10.0.0.10")).build();
        WorkloadRegistry r = install(a, b, sa, sb);
        assertThat(r.all()).hasSize(1);
        Workload w = r.byAddress(ip("192.0.2.7")).orElseThrow();
        assertThat(w.namespace()).isEqualTo("default");
        assertThat(w.workloadName()).isEqualTo("db-a-1");
        assertThat(w.services()).extracting(WorkloadService::name).containsExactly("db-a", "db-b");
        assertThat(r.pickEndpoint(r.serviceAt(ip("10.0.0.10")).orElseThrow(), 5432, ip("10.0.0.10")).address().getPort()).isEqualTo(5432);
        assertThat(r.pickEndpoint(r.serviceAt(ip("10.0.0.11")).orElseThrow(), 5433, ip("10.0.0.11")).address().getPort()).isEqualTo(15432);
    }

    @Test
    @DisplayName("names: SLICE-ADDRESS, IPv6 with dashes, and never a pod's name")
    void names() throws Exception {
        assertThat(WorkloadState.sliceWorkloadName("kubernetes", ip("fd00::1"))).isEqualTo("kubernetes-fd00-0-0-0-0-0-0-1");
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 80);
        EndpointSlice es = slice("default", "svc", "svc", "http", 80).addToEndpoints(endpoint(true, "192.0.2.1")).build();
        // A pod (elsewhere) named like the slice's endpoint would be.
        Pod pod = pod("default", "svc-192.0.2.1", "10.1.1.1", Map.of(), false);
        WorkloadRegistry r = install(svc, es, pod);
        assertThat(r.byAddress(ip("192.0.2.1")).orElseThrow().name()).isEqualTo("svc-192.0.2.1-2");
        assertThat(r.byName("default", "svc-192.0.2.1").orElseThrow().addresses()).containsExactly(ip("10.1.1.1"));
    }

    @Test
    @DisplayName("an endpoint without identity is matched by no policy as a principal or service account, and claims of its address are not believed")
    void noIdentity() throws Exception {
        WorkloadRegistry r = install(apiServerService("1.2.3.4"), apiServerEndpoint("172.18.0.5"));
        Workload w = r.byAddress(ip("172.18.0.5")).orElseThrow();
        assertThat(w.hasKnownIdentity()).isFalse();
        assertThat(w.hasIdentity(io.spiffe.spiffeid.SpiffeId.parse("spiffe://cluster.local/ns/default/sa/default"))).isFalse();
        assertThat(w.ref().serviceAccount()).isEmpty();
        // mesh-core: never local (never served, never given the mesh's identity), never a plaintext source's workload.
        assertThat(new io.zerohop.core.internal.LocalWorkloads(r, null).isLocal(w)).isFalse();
    }

    @Test
    @DisplayName("a slice whose Service disappears, or that is deleted, takes its endpoints away at the next install")
    void updates() throws Exception {
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(), Map.of());
        WorkloadState state = new WorkloadState(registry, TD, true);
        Service svc = service("default", "svc", "10.0.0.10", null, "http", 80, 80);
        EndpointSlice es = slice("default", "a", "svc", "http", 80).addToEndpoints(endpoint(true, "192.0.2.1"), endpoint(true, "192.0.2.2")).build();
        state.putService(svc);
        state.putSlice(es);
        state.flush();
        assertThat(registry.all()).hasSize(2);
        EndpointSlice fewer = new EndpointSliceBuilder(es).withEndpoints(new ArrayList<>(List.of(endpoint(false, "192.0.2.2")))).build();
        state.putSlice(fewer);
        state.flush();
        assertThat(registry.all()).hasSize(1);
        assertThat(registry.endpoints(registry.serviceAt(ip("10.0.0.10")).orElseThrow())).isEmpty();
        state.removeSlice(fewer);
        state.flush();
        assertThat(registry.all()).isEmpty();
    }
}
