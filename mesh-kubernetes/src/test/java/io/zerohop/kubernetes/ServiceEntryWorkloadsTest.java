package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static io.zerohop.kubernetes.MockCluster.namespace;
import static io.zerohop.kubernetes.MockCluster.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.WorkloadService;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ServiceEntries and WorkloadEntries through fabric8's CRUD mock API server, as istiod's ambient index builds them
 * (istio/istio pilot/pkg/serviceregistry/ambient/services.go {@code serviceEntriesInfo}, workloads.go
 * {@code workloadEntryWorkloadBuilder}, {@code serviceEntryWorkloadBuilder}): the cases of workloads_test.go
 * {@code TestWorkloadEntryWorkloads} and {@code TestServiceEntryWorkloads}, named in each test, replayed with the objects
 * istiod's cases give as inputs (a ServiceInfo there is the ServiceEntry or Service it comes from here). Registry
 * addresses only; nothing listens on them. Until 7 December neither kind was read: every assertion on a VIP or an entry's
 * workload failed.
 */
class ServiceEntryWorkloadsTest {
    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final WorkloadRegistry registry = WorkloadRegistry.empty();

    @BeforeEach
    void start() throws Exception {
        k8s.client.resource(namespace("ns", Map.of())).create();
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").workloads(registry));
    }

    static InetAddress ip(String s) throws Exception {
        return KubernetesWorkloadsTest.ip(s);
    }

    Optional<Workload> at(String address) {
        return KubernetesWorkloadsTest.at(registry, address);
    }

    Optional<Service> vip(String address) {
        return KubernetesWorkloadsTest.vip(registry, address);
    }

    /** The ServiceInfo of the WorkloadEntry cases: hostname {@code hostname}, port 80 → 8080, selector app=foo. */
    static final String SE_80_8080 = """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: svc, namespace: ns}
            spec:
              hosts: [hostname]
              addresses: [240.240.0.1]
              ports: [{number: 80, targetPort: 8080, name: http}]
              resolution: STATIC
              workloadSelector: {labels: {app: foo}}
            """;

    @Test
    @DisplayName("TestWorkloadEntryWorkloads \"we with service\", \"we spec labels\", \"we without labels\": a WorkloadEntry is a"
            + " workload carrying the ServiceEntry that selects it by metadata or spec labels, and the entry's VIP reaches it")
    void workloadEntryWithService() throws Exception {
        k8s.apply(SE_80_8080);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: name, namespace: ns, labels: {app: foo}}
                spec: {address: 1.2.3.4}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1beta1
                kind: WorkloadEntry
                metadata: {name: spec-labels, namespace: ns}
                spec: {address: 1.2.3.5, labels: {app: foo}}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: no-labels, namespace: ns}
                spec: {address: 1.2.3.6}
                """);
        await(d, "the three entries and the VIP", () -> at("1.2.3.4").isPresent() && at("1.2.3.5").isPresent()
                && at("1.2.3.6").isPresent() && vip("240.240.0.1").isPresent());
        Workload w = at("1.2.3.4").orElseThrow();
        assertThat(w.namespace()).isEqualTo("ns");
        assertThat(w.name()).isEqualTo("name");
        assertThat(w.workloadName()).isEqualTo("name");
        assertThat(w.protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(w.serviceAccount()).isNull(); // istiod: ServiceAccount "" (no identity here)
        assertThat(w.labels()).containsEntry("app", "foo");
        assertThat(w.services()).containsExactly(new WorkloadService("svc", "ns", "hostname", java.util.Set.of(8080), true,
                Map.of(80, 8080)));
        assertThat(at("1.2.3.5").orElseThrow().services()).extracting(WorkloadService::hostname).containsExactly("hostname");
        assertThat(at("1.2.3.6").orElseThrow().services()).isEmpty();

        Service s = vip("240.240.0.1").orElseThrow();
        assertThat(s.hostname()).isEqualTo("hostname");
        assertThat(s.name()).isEqualTo("svc");
        assertThat(registry.endpoints(s)).extracting(Workload::name).containsExactlyInAnyOrder("name", "spec-labels");
        assertThat(registry.pickEndpoint(s, 80, null).address().getPort()).isEqualTo(8080);

        k8s.delete("networking.istio.io/v1", "WorkloadEntry", "ns", "name");
        await(d, "the entry deleted", () -> at("1.2.3.4").isEmpty());
        assertThat(registry.endpoints(vip("240.240.0.1").orElseThrow())).extracting(Workload::name).containsExactly("spec-labels");
    }

    @Test
    @DisplayName("TestWorkloadEntryWorkloads \"we with tunnel label is HBONE\": HBONE with its identity; without a service"
            + " account istiod sends an empty one and ztunnel verifies the namespace's default service account, as here")
    void workloadEntryTunnelLabel() throws Exception {
        k8s.apply(SE_80_8080);
        // Created first: by the time the VM's (same informer, later) is installed, this one was seen too.
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: name, namespace: ns, labels: {app: foo, networking.istio.io/tunnel: http}}
                spec: {address: 1.2.3.7}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm, namespace: ns, labels: {app: foo, networking.istio.io/tunnel: http}}
                spec: {address: 1.2.3.4, serviceAccount: vm-sa, locality: us-east/us-east-1a}
                """);
        await(d, "the VM", () -> at("1.2.3.4").isPresent());
        Workload w = at("1.2.3.4").orElseThrow();
        assertThat(w.protocol()).isEqualTo(Workload.Protocol.HBONE);
        assertThat(w.identity().toString()).isEqualTo("spiffe://cluster.local/ns/ns/sa/vm-sa");
        assertThat(w.node()).isNull();
        assertThat(w.labels()).containsEntry("topology.kubernetes.io/region", "us-east")
                .containsEntry("topology.kubernetes.io/zone", "us-east-1a");
        // No service account: istiod sends ServiceAccount "", which ztunnel reads as "default" (state/workload.rs, the
        // Workload conversion), so its HBONE peer must be default's identity, as here.
        Workload noSa = at("1.2.3.7").orElseThrow();
        assertThat(noSa.protocol()).isEqualTo(Workload.Protocol.HBONE);
        assertThat(noSa.identity().toString()).isEqualTo("spiffe://cluster.local/ns/ns/sa/default");
    }

    @Test
    @DisplayName("TestWorkloadEntryWorkloads \"pod with service named ports\" and \"pod with serviceentry named ports\": a"
            + " Service's named targetPort goes to the entry's port of that name (absent: the port is left out), a"
            + " ServiceEntry's port name to the entry's port of that name, else targetPort, else the port")
    void workloadEntryNamedPorts() throws Exception {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("ns").withName("svc").endMetadata()
                .withNewSpec().withClusterIP("10.96.0.80").withSelector(Map.of("app", "foo"))
                .addNewPort().withName("p80").withPort(80).withTargetPort(new IntOrString(8080)).withProtocol("TCP").endPort()
                .addNewPort().withName("p81").withPort(81).withTargetPort(new IntOrString(8081)).withProtocol("TCP").endPort()
                .addNewPort().withName("p82").withPort(82).withTargetPort(new IntOrString("82-target")).withProtocol("TCP").endPort()
                .addNewPort().withName("p83").withPort(83).withTargetPort(new IntOrString("83-target")).withProtocol("TCP").endPort()
                .endSpec().build()).create();
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: se, namespace: ns}
                spec:
                  hosts: [hostname]
                  addresses: [240.240.0.2]
                  ports: [{number: 80, targetPort: 8080, name: p80}, {number: 81, name: p81}, {number: 82, name: p82}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: foo}}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: name, namespace: ns, labels: {app: foo}}
                spec: {address: 1.2.3.4, ports: {p81: 8180, 82-target: 8280}}
                """);
        await(d, "the entry with both", () -> at("1.2.3.4").map(w -> w.services().size() == 2).orElse(false));
        Map<String, Map<Integer, Integer>> ports = new java.util.HashMap<>();
        at("1.2.3.4").orElseThrow().services().forEach(s -> ports.put(s.hostname(), s.ports()));
        // Service: 80 → 8080, 81 → 8180 (the name p81), 82 → 8280 (82-target), 83 left out (83-target absent).
        assertThat(ports.get("svc.ns.svc.cluster.local")).containsExactlyInAnyOrderEntriesOf(Map.of(80, 8080, 81, 8180, 82, 8280));
        // ServiceEntry: 80 → 8080 (targetPort), 81 → 8180 (name), 82 → 82 (neither).
        assertThat(ports.get("hostname")).containsExactlyInAnyOrderEntriesOf(Map.of(80, 8080, 81, 8180, 82, 82));
        assertThat(registry.pickEndpoint(vip("10.96.0.80").orElseThrow(), 82, null).address().getPort()).isEqualTo(8280);
    }

    @Test
    @DisplayName("TestServiceEntryWorkloads \"static\": each inline endpoint a workload of the entry (its name for"
            + " telemetry), reached through the entry's VIP; \"dns without endpoints\": one workload per host, Hostname the"
            + " host, a member of that host only, resolved on demand")
    void serviceEntryInlineEndpoints() throws Exception {
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: name, namespace: ns}
                spec:
                  hosts: [a.example.com]
                  addresses: [1.2.3.4]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                  endpoints: [{address: 2.3.4.5}, {address: 3.4.5.6, labels: {x: y}}]
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: dns, namespace: ns}
                spec:
                  hosts: [c.example.com, d.example.com]
                  addresses: [1.2.3.5]
                  ports: [{number: 80, name: http}]
                  resolution: DNS
                """);
        await(d, "the static entry's endpoints and the DNS entry's", () -> at("2.3.4.5").isPresent() && at("3.4.5.6").isPresent()
                && vip("1.2.3.5").isPresent() && registry.byName("ns", "dns-d.example.com").isPresent());
        Workload w = at("2.3.4.5").orElseThrow();
        assertThat(w.workloadName()).isEqualTo("name");
        assertThat(w.name()).isEqualTo("name-2.3.4.5");
        assertThat(w.protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(w.services()).containsExactly(new WorkloadService("name", "ns", "a.example.com", java.util.Set.of(80), true,
                Map.of(80, 80)));
        Service a = vip("1.2.3.4").orElseThrow();
        assertThat(a.hostname()).isEqualTo("a.example.com");
        assertThat(registry.endpoints(a)).extracting(Workload::name).containsExactlyInAnyOrder("name-2.3.4.5", "name-3.4.5.6");

        // The DNS entry: its hosts are its endpoints (istiod's implicitEndpoints), one workload each with the host as its
        // Hostname and no address, named after the entry for telemetry, carrying that host only; the VIP (the first
        // host's: one VIP, one Service) picks it, and mesh-core looks it up per connection (OnDemandDnsTest).
        Service c = vip("1.2.3.5").orElseThrow();
        assertThat(c.hostname()).isEqualTo("c.example.com");
        assertThat(registry.endpoints(c)).extracting(Workload::name).containsExactly("dns-c.example.com");
        Workload cw = registry.byName("ns", "dns-c.example.com").orElseThrow();
        assertThat(cw.hostname()).isEqualTo("c.example.com");
        assertThat(cw.addresses()).isEmpty();
        assertThat(cw.workloadName()).isEqualTo("dns");
        assertThat(cw.protocol()).isEqualTo(Workload.Protocol.TCP);
        assertThat(cw.serviceAccount()).isNull();
        assertThat(cw.waypoint()).isNull();
        assertThat(cw.services()).containsExactly(new WorkloadService("dns", "ns", "c.example.com", java.util.Set.of(80), true,
                Map.of(80, 80)));
        assertThat(registry.pickEndpoint(c, 80, ip("1.2.3.5")).address())
                .isEqualTo(java.net.InetSocketAddress.createUnresolved("c.example.com", 80));
        Workload dw = registry.byName("ns", "dns-d.example.com").orElseThrow();
        assertThat(dw.hostname()).isEqualTo("d.example.com");
        // istiod's constructServiceEntries: every host's Service is named after the entry (Name: svc.Name), which
        // /config_dump's services and destination_service_name show; until 7 December the second host's was "dns-2".
        assertThat(dw.services()).containsExactly(new WorkloadService("dns", "ns", "d.example.com", java.util.Set.of(80), true,
                Map.of(80, 80)));
        Service d = registry.services().stream().filter(x -> x.hostname().equals("d.example.com")).findFirst().orElseThrow();
        assertThat(d.name()).isEqualTo("dns");
        assertThat(registry.endpoints(d)).extracting(Workload::name).containsExactly("dns-d.example.com");
        assertThat(io.zerohop.core.internal.ConfigDump.services(registry)).filteredOn(m -> m.get("name").equals("dns"))
                .extracting(m -> m.get("hostname")).containsExactlyInAnyOrder("c.example.com", "d.example.com");
    }

    @Test
    @DisplayName("services_test.go TestServiceEntryServices \"DNS service entry with address\": each host a Service named after"
            + " the entry (Name: \"name\" for a.example.com and b.example.com); the VIP goes to the first host only (the"
            + " registry maps one VIP to one Service, a known difference)")
    void dnsServiceEntryWithAddress() throws Exception {
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: name, namespace: ns}
                spec:
                  addresses: [1.2.3.4]
                  hosts: [a.example.com, b.example.com]
                  ports: [{number: 80, name: http, protocol: HTTP}]
                  subjectAltNames: [san1]
                  resolution: DNS
                """);
        await(d, "both hosts", () -> registry.services().stream().filter(x -> x.hostname().endsWith(".example.com")).count() == 2);
        assertThat(registry.services()).filteredOn(x -> x.hostname().endsWith(".example.com"))
                .extracting(Service::namespace, Service::name, Service::hostname)
                .containsExactlyInAnyOrder(org.assertj.core.groups.Tuple.tuple("ns", "name", "a.example.com"),
                        org.assertj.core.groups.Tuple.tuple("ns", "name", "b.example.com"));
        assertThat(vip("1.2.3.4").orElseThrow().hostname()).isEqualTo("a.example.com");
    }

    @Test
    @DisplayName("TestServiceEntryServices: a ServiceEntry named as a Kubernetes Service of its namespace (another host) keeps"
            + " its name, as istiod's constructServiceEntries (Name: svc.Name), and each Service keeps its own endpoints;"
            + " until 7 December it was named NAME-se")
    void aServiceEntryNamedAsAKubernetesService() throws Exception {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("ns").withName("reviews").endMetadata()
                .withNewSpec().withClusterIP("10.96.0.82").withSelector(Map.of("app", "reviews"))
                .addNewPort().withName("http").withPort(9080).withProtocol("TCP").endPort().endSpec().build()).create();
        k8s.create(pod("ns", "reviews-1", "node-a", "reviews", Map.of("app", "reviews"), "10.0.0.21").build());
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: reviews, namespace: ns}
                spec:
                  hosts: [reviews.external.example]
                  addresses: [240.240.0.21]
                  ports: [{number: 9080, name: http}]
                  resolution: STATIC
                  endpoints: [{address: 10.0.5.21}]
                """);
        await(d, "both Services", () -> vip("10.96.0.82").isPresent() && vip("240.240.0.21").isPresent()
                && at("10.0.0.21").isPresent() && at("10.0.5.21").isPresent());
        Service kube = vip("10.96.0.82").orElseThrow();
        Service entry = vip("240.240.0.21").orElseThrow();
        assertThat(entry.name()).isEqualTo("reviews");
        assertThat(kube.name()).isEqualTo("reviews");
        assertThat(registry.endpoints(kube)).extracting(Workload::name).containsExactly("reviews-1");
        assertThat(registry.endpoints(entry)).extracting(Workload::name).containsExactly("reviews-10.0.5.21");
        assertThat(at("10.0.5.21").orElseThrow().services()).extracting(WorkloadService::name, WorkloadService::hostname)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("reviews", "reviews.external.example"));
    }

    @Test
    @DisplayName("a ServiceEntry's workloadSelector selects pods of its namespace: the pod carries the host, the VIP reaches"
            + " it on the container port of the entry's port name (istiod's constructServices); resolution NONE has no VIP;"
            + " an unreadable entry is left out alone")
    void serviceEntrySelectingPods() throws Exception {
        k8s.create(pod("ns", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.0.7").build());
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: web, namespace: ns}
                spec:
                  hosts: [web.example.com]
                  addresses: [240.240.0.3]
                  ports: [{number: 80, name: http-web}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: web}}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: passthrough, namespace: ns}
                spec:
                  hosts: [pass.example.com]
                  addresses: [240.240.0.4]
                  ports: [{number: 80, name: http}]
                  resolution: NONE
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: broken, namespace: ns}
                spec:
                  hosts: [broken.example.com]
                  addresses: [not-an-address]
                  ports: [{number: 80}]
                """);
        await(d, "the pod with the entry", () -> vip("240.240.0.3").isPresent()
                && registry.services().stream().anyMatch(s -> s.hostname().equals("pass.example.com")));
        Service s = vip("240.240.0.3").orElseThrow();
        assertThat(registry.endpoints(s)).extracting(Workload::name).containsExactly("web-1");
        // MockCluster's pod names its container port 8080 http-web.
        assertThat(registry.pickEndpoint(s, 80, null).address().getPort()).isEqualTo(8080);
        assertThat(at("10.0.0.7").orElseThrow().services()).extracting(WorkloadService::hostname).contains("web.example.com");
        assertThat(vip("240.240.0.4")).isEmpty();
        assertThat(registry.services()).extracting(Service::hostname).doesNotContain("broken.example.com");
    }

    @Test
    @DisplayName("a WorkloadEntry at a loopback or unspecified address is left out: an embedded mesh (no node) counts a"
            + " workload at a loopback address as its own and would serve it with the entry's identity")
    void anEntryAtALoopbackAddressIsLeftOut() throws Exception {
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: local, namespace: ns}
                spec: {address: 127.0.0.1, serviceAccount: payments}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: any, namespace: ns}
                spec: {address: "::", serviceAccount: payments}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm, namespace: ns}
                spec: {address: 1.2.3.4, serviceAccount: vm}
                """);
        await(d, "the VM, created last", () -> at("1.2.3.4").isPresent());
        assertThat(at("127.0.0.1")).isEmpty();
        assertThat(at("::")).isEmpty();
    }

    @Test
    @DisplayName("a role without serviceentries and workloadentries (before 7 December): their lists are forbidden (403),"
            + " they count as empty and the proxy still syncs, as EndpointSlices do; pods still install")
    void forbiddenEntriesCountAsEmpty() throws Exception {
        try (MockCluster forbidding = new MockCluster()) {
            for (String kind : java.util.List.of("serviceentries", "workloadentries")) {
                for (String version : java.util.List.of("v1", "v1beta1")) {
                    for (String query : java.util.List.of("?resourceVersion=0", "")) {
                        forbidding.server.expect().get().withPath("/apis/networking.istio.io/" + version + "/" + kind + query)
                                .andReturn(403, new io.fabric8.kubernetes.api.model.StatusBuilder().withCode(403)
                                        .withReason("Forbidden").withMessage(kind + ".networking.istio.io is forbidden").build())
                                .always();
                    }
                }
            }
            forbidding.create(pod("ns", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.0.7").build());
            InetAddress web = ip("10.0.0.7");
            try (KubernetesDiscovery old = KubernetesDiscovery.forNode(forbidding.client, "node-a")
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start()) {
                old.synced().get(30, TimeUnit.SECONDS);
                await(old, "the pod", () -> old.registry().byAddress(web).isPresent());
            }
        }
    }

    @Test
    @DisplayName("a WorkloadEntry's labels under Cilium's io.cilium.k8s prefix are dropped and its namespace's labels added,"
            + " as a pod's (Cilium's SanitizePodLabels): an entry labelling itself io.cilium.k8s.namespace.labels.team:"
            + " trusted is not selected by a Cilium selector meant for a trusted namespace")
    void aWorkloadEntryCannotClaimCiliumNamespaceLabels() throws Exception {
        k8s.client.namespaces().withName("ns").edit(n -> {
            n.getMetadata().setLabels(Map.of("team", "web"));
            return n;
        });
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm, namespace: ns, labels: {app: vm, io.cilium.k8s.namespace.labels.team: trusted}}
                spec: {address: 1.2.3.4, serviceAccount: vm, labels: {io.cilium.k8s.policy.cluster: other}}
                """);
        await(d, "the VM with its namespace's labels", () -> at("1.2.3.4")
                .map(w -> "web".equals(w.labels().get("io.cilium.k8s.namespace.labels.team"))).orElse(false));
        Workload w = at("1.2.3.4").orElseThrow();
        assertThat(w.labels()).containsEntry("app", "vm").doesNotContainKey("io.cilium.k8s.policy.cluster");
    }
    @Test
    @DisplayName("istio.io's multi-network VM onboarding: a WorkloadEntry (or inline endpoint) with spec.network other than"
            + " the cluster's (istio-system's topology.istio.io/network label) is left out, one WARN: ztunnel reaches it only"
            + " through that network's east-west gateway, or not at all (outbound.rs build_request_through_gateway), never"
            + " by dialling its address here; one on the cluster's network, or with none, is kept")
    void anEntryOnAnotherNetworkIsLeftOut() throws Exception {
        k8s.client.resource(namespace("istio-system", Map.of("topology.istio.io/network", "network1"))).create();
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: vms, namespace: ns}
                spec:
                  hosts: [vms.example.com]
                  addresses: [240.240.0.9]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: vm}}
                  endpoints: [{address: 10.9.0.8, network: vm-network}]
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-remote, namespace: ns, labels: {app: vm}}
                spec: {address: 10.9.0.5, serviceAccount: vm, network: vm-network, locality: us-east/us-east-1a}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-same, namespace: ns, labels: {app: vm}}
                spec: {address: 10.9.0.6, serviceAccount: vm, network: network1}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-plain, namespace: ns, labels: {app: vm}}
                spec: {address: 10.9.0.7, serviceAccount: vm}
                """);
        // The remote VM's address as another entry's VIP: that workload is not here, so the VIP is (workload first only
        // for a workload that is installed).
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: remote-vip, namespace: ns}
                spec:
                  hosts: [remote.example.com]
                  addresses: [10.9.0.5]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                """);
        await(d, "the VMs on this network, created last", () -> at("10.9.0.6").isPresent() && at("10.9.0.7").isPresent()
                && vip("240.240.0.9").isPresent() && registry.services().stream().anyMatch(x -> x.hostname().equals("remote.example.com")));
        assertThat(vip("10.9.0.5").orElseThrow().hostname()).isEqualTo("remote.example.com");
        assertThat(at("10.9.0.5")).isEmpty();
        assertThat(at("10.9.0.8")).isEmpty();
        assertThat(registry.endpoints(vip("240.240.0.9").orElseThrow())).extracting(Workload::name)
                .containsExactlyInAnyOrder("vm-same", "vm-plain");
    }
    @Test
    @DisplayName("istiod accepts a STATIC endpoint without address when it names a network (validation.go"
            + " validateWorkloadEntry: only a warning, the endpoint is reached through that network's gateway): that"
            + " endpoint alone is left out, the entry's VIP and its other endpoints stay; a WorkloadEntry alike")
    void anEndpointWithoutAddressIsLeftOutAlone() throws Exception {
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: split, namespace: ns}
                spec:
                  hosts: [split.example.com]
                  addresses: [240.240.0.10]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                  endpoints: [{address: 10.9.1.1}, {network: remote-net, labels: {site: remote}}]
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: remote-vm, namespace: ns}
                spec: {network: remote-net, serviceAccount: vm}
                """);
        await(d, "the entry's VIP and its local endpoint", () -> vip("240.240.0.10").isPresent() && at("10.9.1.1").isPresent());
        assertThat(registry.endpoints(vip("240.240.0.10").orElseThrow())).extracting(Workload::name)
                .containsExactly("split-10.9.1.1");
        assertThat(registry.all()).extracting(Workload::name).doesNotContain("remote-vm");
    }
    @Test
    @DisplayName("collisions: a ServiceEntry VIP that is a WorkloadEntry's address is both (below:"
            + " anEntryAddressAWorkloadAlsoHasIsBothVipAndWorkloadAddress); a WorkloadEntry at an address a pod then takes"
            + " loses it to the pod (the pod's identity is the one its node proxy vouches for; ztunnel keeps whichever came"
            + " last), the VIP stays; a VIP that is a Service's ClusterIP of the namespace stays the Service's, and so does"
            + " its hostname")
    void collisionsWithPodsAndServices() throws Exception {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("ns").withName("reviews").endMetadata()
                .withNewSpec().withClusterIP("10.96.0.81").withSelector(Map.of("app", "reviews"))
                .addNewPort().withName("http").withPort(9080).withProtocol("TCP").endPort().endSpec().build()).create();
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm, namespace: ns, labels: {app: vm}}
                spec: {address: 10.0.0.9, serviceAccount: vm}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: clash, namespace: ns}
                spec:
                  hosts: [reviews.ns.svc.cluster.local, clash.example.com]
                  addresses: [10.96.0.81, 10.0.0.9, 240.240.0.11]
                  ports: [{number: 9080, name: http}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: vm}}
                """);
        await(d, "the VM and the entry's own VIP", () -> at("10.0.0.9").isPresent() && vip("240.240.0.11").isPresent());
        assertThat(at("10.0.0.9").orElseThrow().name()).isEqualTo("vm");
        assertThat(vip("10.96.0.81").orElseThrow().name()).isEqualTo("reviews");
        assertThat(vip("10.0.0.9").orElseThrow().hostname()).isEqualTo("clash.example.com");
        assertThat(vip("240.240.0.11").orElseThrow().hostname()).isEqualTo("clash.example.com");
        assertThat(registry.services()).filteredOn(x -> x.hostname().equals("reviews.ns.svc.cluster.local"))
                .extracting(Service::name).containsExactly("reviews");
        assertThat(vip("240.240.0.11").orElseThrow().name()).as("the entry's name, though its first host was left out").isEqualTo("clash");

        k8s.create(pod("ns", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.0.9").build());
        await(d, "the pod at the VM's address", () -> at("10.0.0.9").map(w -> w.name().equals("web-1")).orElse(false));
        assertThat(at("10.0.0.9").orElseThrow().identity().toString()).isEqualTo("spiffe://cluster.local/ns/ns/sa/web");
        assertThat(registry.endpoints(vip("240.240.0.11").orElseThrow())).isEmpty();
        // istiod's VIPs do not depend on who holds the address: the pod's address is still the entry's VIP.
        assertThat(vip("10.0.0.9").orElseThrow().hostname()).isEqualTo("clash.example.com");
    }
    @Test
    @DisplayName("a ServiceEntry address that a WorkloadEntry, its own inline endpoint or a pod also has is the entry's VIP"
            + " and the workload's address at once, as istiod publishes them (services.go constructServiceEntries builds the"
            + " VIPs from spec.addresses alone; workloads.go workloadEntryWorkloadBuilder/serviceEntryWorkloadBuilder the"
            + " workloads from their address alone): ztunnel's find_upstream takes the VIP, find_address the workload")
    void anEntryAddressAWorkloadAlsoHasIsBothVipAndWorkloadAddress() throws Exception {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("ns").withName("reviews").endMetadata()
                .withNewSpec().withClusterIP("10.96.0.81").withSelector(Map.of("app", "reviews"))
                .addNewPort().withName("http").withPort(9080).withProtocol("TCP").endPort().endSpec().build()).create();
        k8s.create(pod("ns", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.0.7").build());
        for (String[] vm : new String[][] {{"vm-1", "10.0.0.9"}, {"vm-2", "10.0.0.10"}}) {
            k8s.apply("""
                    apiVersion: networking.istio.io/v1
                    kind: WorkloadEntry
                    metadata: {name: %s, namespace: ns, labels: {app: vm}}
                    spec: {address: %s, serviceAccount: vm}
                    """.formatted(vm[0], vm[1]));
        }
        // Two VMs behind the first one's address (a VM's IP kept as the service address when a second VM was added).
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: vms, namespace: ns}
                spec:
                  hosts: [vms.example.com]
                  addresses: [10.0.0.9]
                  ports: [{number: 5432, targetPort: 15432, name: tcp-pg}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: vm}}
                """);
        // An external database as operators declare it: its address both the VIP and the one endpoint.
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: db, namespace: ns}
                spec:
                  hosts: [db.example.com]
                  addresses: [10.0.5.5]
                  ports: [{number: 5432, name: tcp-pg}]
                  location: MESH_EXTERNAL
                  resolution: STATIC
                  endpoints: [{address: 10.0.5.5}]
                """);
        // A pod's address as an entry's: istiod sends it as the VIP too.
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: web-alias, namespace: ns}
                spec:
                  hosts: [web.example.com]
                  addresses: [10.0.0.7]
                  ports: [{number: 80, targetPort: 8080, name: http}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: web}}
                """);
        // A VM at a Kubernetes Service's ClusterIP: istiod sends the workload, the Service keeps its VIP.
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: at-cluster-ip, namespace: ns}
                spec: {address: 10.96.0.81}
                """);
        await(d, "every object", () -> at("10.0.0.9").isPresent() && at("10.0.0.10").isPresent() && at("10.0.5.5").isPresent()
                && at("10.0.0.7").isPresent() && vip("10.96.0.81").isPresent()
                && registry.services().stream().filter(x -> x.hostname().endsWith(".example.com")).count() == 3);

        Service vms = registry.services().stream().filter(x -> x.hostname().equals("vms.example.com")).findFirst().orElseThrow();
        assertThat(vms.vips()).containsExactly(ip("10.0.0.9"));
        assertThat(vip("10.0.0.9")).contains(vms);
        assertThat(at("10.0.0.9").orElseThrow().name()).isEqualTo("vm-1");
        assertThat(registry.endpoints(vms)).extracting(Workload::name).containsExactlyInAnyOrder("vm-1", "vm-2");

        Service db = registry.services().stream().filter(x -> x.hostname().equals("db.example.com")).findFirst().orElseThrow();
        assertThat(db.vips()).containsExactly(ip("10.0.5.5"));
        assertThat(vip("10.0.5.5")).contains(db);
        assertThat(at("10.0.5.5").orElseThrow().name()).isEqualTo("db-10.0.5.5");
        assertThat(registry.endpoints(db)).extracting(Workload::name).containsExactly("db-10.0.5.5");

        Service alias = registry.services().stream().filter(x -> x.hostname().equals("web.example.com")).findFirst().orElseThrow();
        assertThat(alias.vips()).containsExactly(ip("10.0.0.7"));
        assertThat(at("10.0.0.7").orElseThrow().name()).isEqualTo("web-1");
        assertThat(registry.endpoints(alias)).extracting(Workload::name).containsExactly("web-1");

        assertThat(vip("10.96.0.81").orElseThrow().name()).isEqualTo("reviews");
        assertThat(at("10.96.0.81").orElseThrow().name()).isEqualTo("at-cluster-ip");
    }

    @Test
    @DisplayName("a selectorless Service's EndpointSlice endpoint at an address that is a WorkloadEntry's and an entry's VIP"
            + " adds the Service to that workload, as at any workload's address (istiod's endpointSlicesBuilder reads no"
            + " VIP); only an address that is a VIP and no workload's is left out")
    void aSliceEndpointAtAnEntryVipThatIsAWorkloadsJoinsTheWorkload() throws Exception {
        k8s.client.resource(new ServiceBuilder().withNewMetadata().withNamespace("ns").withName("legacy-db").endMetadata()
                .withNewSpec().withClusterIP("10.96.0.90").addNewPort().withName("pg").withPort(5432)
                .withTargetPort(new IntOrString(5432)).withProtocol("TCP").endPort().endSpec().build()).create();
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm, namespace: ns, labels: {app: vm}}
                spec: {address: 10.0.0.9, serviceAccount: vm}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: vms, namespace: ns}
                spec:
                  hosts: [vms.example.com]
                  addresses: [10.0.0.9, 240.240.0.30]
                  ports: [{number: 5432, name: tcp-pg}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: vm}}
                """);
        k8s.client.resource(new io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder().withNewMetadata()
                .withNamespace("ns").withName("legacy-db-manual").withLabels(Map.of("kubernetes.io/service-name", "legacy-db"))
                .endMetadata().withAddressType("IPv4").addNewPort().withName("pg").withProtocol("TCP").withPort(5432).endPort()
                .addNewEndpoint().withAddresses("10.0.0.9").endEndpoint()
                .addNewEndpoint().withAddresses("240.240.0.30").endEndpoint().build()).create();
        await(d, "the slice's Service on the VM", () -> at("10.0.0.9").map(w -> w.services().size() == 2).orElse(false));
        assertThat(at("10.0.0.9").orElseThrow().services()).extracting(WorkloadService::hostname)
                .containsExactly("vms.example.com", "legacy-db.ns.svc.cluster.local");
        assertThat(vip("10.0.0.9").orElseThrow().hostname()).isEqualTo("vms.example.com");
        assertThat(at("240.240.0.30")).as("a VIP and no workload's address: left out, as before").isEmpty();
        assertThat(registry.endpoints(vip("10.96.0.90").orElseThrow())).extracting(Workload::name).containsExactly("vm");
    }

    @Test
    @DisplayName("istio.io's ServiceEntry examples (egress wildcard NONE, MESH_EXTERNAL DNS, a CIDR with static endpoints,"
            + " a Unix socket endpoint, subjectAltNames, DNS_ROUND_ROBIN, a VM with weight and locality) all at once: none"
            + " blocks the sync or another object; what zerohop can route is routed")
    void istioDocsExamplesTogether() throws Exception {
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: wikipedia, namespace: ns}
                spec:
                  hosts: ["*.wikipedia.org"]
                  ports: [{number: 443, name: tls, protocol: TLS}]
                  location: MESH_EXTERNAL
                  resolution: NONE
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: cnn, namespace: ns}
                spec:
                  hosts: [edition.cnn.com]
                  ports: [{number: 80, name: http-port, protocol: HTTP, targetPort: 443}, {number: 443, name: https-port, protocol: HTTPS}]
                  location: MESH_EXTERNAL
                  resolution: DNS
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: external-svc-mongocluster, namespace: ns}
                spec:
                  hosts: [mymongodb.somedomain]
                  addresses: [192.192.192.192/24]
                  ports: [{number: 27018, name: mongodb, protocol: MONGO}]
                  location: MESH_INTERNAL
                  resolution: STATIC
                  endpoints: [{address: 2.2.2.2}, {address: 3.3.3.3}]
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: unix-domain-socket-example, namespace: ns}
                spec:
                  hosts: [example.unix.local]
                  location: MESH_EXTERNAL
                  ports: [{number: 80, name: http, protocol: HTTP}]
                  resolution: STATIC
                  endpoints: [{address: "unix:///var/run/example/socket"}]
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: external-svc-https, namespace: ns}
                spec:
                  hosts: [api.dropboxapi.com, www.googleapis.com]
                  addresses: [240.240.0.20]
                  location: MESH_EXTERNAL
                  ports: [{number: 443, name: https, protocol: TLS}]
                  resolution: DNS_ROUND_ROBIN
                  subjectAltNames: ["spiffe://cluster.local/ns/ns/sa/external"]
                  endpoints: [{address: us.dropboxapi.com, ports: {https: 8443}}]
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: details-vm, namespace: ns, labels: {app: details-legacy}}
                spec: {address: 10.9.3.1, serviceAccount: details-legacy, weight: 20, locality: us-west1/us-west1-a/rack1,
                       ports: {http: 9080}}
                """);
        k8s.create(pod("ns", "web-1", "node-a", "web", Map.of("app", "web"), "10.0.0.7").build());
        await(d, "the pod and the VM, created last", () -> at("10.0.0.7").isPresent() && at("10.9.3.1").isPresent()
                && at("2.2.2.2").isPresent() && vip("240.240.0.20").isPresent()
                && registry.services().stream().anyMatch(x -> x.hostname().equals("edition.cnn.com")));
        assertThat(at("10.9.3.1").orElseThrow().labels()).containsEntry("topology.istio.io/subzone", "rack1");
        // The CIDR is no VIP; the endpoints are still the host's.
        Service mongo = registry.services().stream().filter(x -> x.hostname().equals("mymongodb.somedomain")).findFirst().orElseThrow();
        assertThat(mongo.vips()).isEmpty();
        assertThat(registry.endpoints(mongo)).extracting(Workload::name).containsExactlyInAnyOrder(
                "external-svc-mongocluster-2.2.2.2", "external-svc-mongocluster-3.3.3.3");
        // A hostname endpoint: a workload with that hostname, of every host of its entry (istiod: not implicit, so all
        // its ServiceInfos), its port by name; the Unix socket endpoint: none.
        Service dropbox = vip("240.240.0.20").orElseThrow();
        assertThat(registry.endpoints(dropbox)).extracting(Workload::hostname).containsExactly("us.dropboxapi.com");
        assertThat(registry.pickEndpoint(dropbox, 443, null).address())
                .isEqualTo(java.net.InetSocketAddress.createUnresolved("us.dropboxapi.com", 8443));
        assertThat(registry.byName("ns", "external-svc-https-us.dropboxapi.com").orElseThrow().services())
                .extracting(WorkloadService::hostname).containsExactly("api.dropboxapi.com", "www.googleapis.com");
        assertThat(registry.all()).extracting(Workload::name).noneMatch(n -> n.startsWith("unix-domain-socket-example"));
        // MESH_EXTERNAL DNS without endpoints nor addresses: its host is its endpoint, though no VIP reaches it here.
        assertThat(registry.byName("ns", "cnn-edition.cnn.com").orElseThrow().hostname()).isEqualTo("edition.cnn.com");
        assertThat(registry.services()).extracting(Service::hostname).doesNotContain("*.wikipedia.org");
    }
    @Test
    @DisplayName("TestWorkloadEntryWorkloads, a WorkloadEntry whose address is no IP (istiod's workloadEntryWorkloadBuilder:"
            + " w.Hostname = address): a workload of that hostname, no address, carrying the ServiceEntry that selects it; an"
            + " address that is no DNS name is left out alone")
    void workloadEntryWithHostname() throws Exception {
        k8s.apply(SE_80_8080);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-dns, namespace: ns, labels: {app: foo}}
                spec: {address: vm.example.com}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-bad, namespace: ns, labels: {app: foo}}
                spec: {address: "not a host"}
                """);
        await(d, "the entry", () -> registry.byName("ns", "vm-dns").isPresent() && vip("240.240.0.1").isPresent());
        Workload w = registry.byName("ns", "vm-dns").orElseThrow();
        assertThat(w.hostname()).isEqualTo("vm.example.com");
        assertThat(w.addresses()).isEmpty();
        assertThat(w.services()).extracting(WorkloadService::hostname).containsExactly("hostname");
        Service s = vip("240.240.0.1").orElseThrow();
        assertThat(registry.endpoints(s)).extracting(Workload::name).containsExactly("vm-dns");
        assertThat(registry.pickEndpoint(s, 80, null).address())
                .isEqualTo(java.net.InetSocketAddress.createUnresolved("vm.example.com", 8080));
        assertThat(registry.byName("ns", "vm-bad")).isEmpty();
    }

    @Test
    @DisplayName("edits: the cluster's network labelled after the entries brings a VM of that network in; a ServiceEntry"
            + " edited without its address loses the VIP (the VM keeps the host); deleted, the VM carries no host")
    void editsAndDeletes() throws Exception {
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: vms, namespace: ns}
                spec:
                  hosts: [vms.example.com]
                  addresses: [240.240.0.30]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: vm}}
                """);
        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm, namespace: ns, labels: {app: vm}}
                spec: {address: 10.9.4.1, serviceAccount: vm, network: network1}
                """);
        await(d, "the VIP", () -> vip("240.240.0.30").isPresent());
        assertThat(at("10.9.4.1")).isEmpty(); // network1 is not the cluster's yet
        k8s.client.resource(namespace("istio-system", Map.of("topology.istio.io/network", "network1"))).create();
        await(d, "the VM once network1 is the cluster's", () -> at("10.9.4.1").isPresent());
        assertThat(registry.endpoints(vip("240.240.0.30").orElseThrow())).extracting(Workload::name).containsExactly("vm");

        k8s.apply("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: vms, namespace: ns}
                spec:
                  hosts: [vms.example.com]
                  ports: [{number: 80, name: http}]
                  resolution: STATIC
                  workloadSelector: {labels: {app: vm}}
                """);
        await(d, "the VIP gone", () -> vip("240.240.0.30").isEmpty());
        assertThat(at("10.9.4.1").orElseThrow().services()).extracting(WorkloadService::hostname).containsExactly("vms.example.com");
        k8s.delete("networking.istio.io/v1", "ServiceEntry", "ns", "vms");
        await(d, "the host gone from the VM", () -> at("10.9.4.1").map(w -> w.services().isEmpty()).orElse(false));
    }
}
