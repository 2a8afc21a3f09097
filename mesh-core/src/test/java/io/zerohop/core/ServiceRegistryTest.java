package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Service VIPs in the registry, without sockets: the lookup by VIP, the endpoint pick and its port mapping as ztunnel's
 * (istio/ztunnel src/state.rs {@code find_upstream}, {@code find_upstream_from_service}, {@code load_balance}), the
 * records' checks, and the {@code --workloads} file's {@code services:} with errors naming file, line and field.
 */
class ServiceRegistryTest {
    static final String TD = "cluster.local";

    static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    static WorkloadService member(String name) {
        return new WorkloadService(name, "prod", name + ".prod.svc.cluster.local", Set.of());
    }

    static Workload pod(String name, String ip, Map<String, Integer> namedPorts, WorkloadService... services) throws Exception {
        return new Workload("prod", name, "web", Map.of("app", "web"), List.of(ip(ip)), Workload.Protocol.HBONE, null, TD,
                Map.of(), namedPorts, null, List.of(services));
    }

    static Service svc(String name, List<InetAddress> vips, Service.Port... ports) {
        return new Service("prod", name, name + ".prod.svc.cluster.local", vips, List.of(ports));
    }

    /** ztunnel's find_upstream_port_mappings "svc mapping": the service maps 80 to 8080. */
    @Test
    void aNumberedTargetPortMapsTheServicePort() throws Exception {
        Service s = svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(pod("web-1", "10.0.0.1", null, member("web"))), Map.of(), Map.of(), List.of(s));
        assertThat(r.serviceAt(ip("10.96.0.10"))).containsSame(s);
        assertThat(r.serviceAt(ip("10.0.0.1"))).isEmpty();
        Service.Endpoint ep = r.pickEndpoint(s, 80, ip("10.96.0.10"));
        assertThat(ep.workload().name()).isEqualTo("web-1");
        assertThat(ep.address()).isEqualTo(new InetSocketAddress(ip("10.0.0.1"), 8080));
        assertThat(ep.service()).isSameAs(s);
    }

    /**
     * ztunnel's find_upstream_port_mappings "ep mapping" and outbound.rs build_request_target_port: a named target port
     * is each endpoint's own; an endpoint without a port of that name is filtered out, not picked.
     */
    @Test
    void aNamedTargetPortResolvesPerEndpointAndAnEndpointWithoutItIsSkipped() throws Exception {
        Service s = svc("web", List.of(ip("10.96.0.10")), Service.Port.named(80, "http"), Service.Port.named(8080, "admin"));
        Workload matching = pod("matching", "10.0.0.2", Map.of("http", 1234), member("web"));
        Workload unmatching = pod("unmatching", "10.0.0.4", Map.of("admin", 9999), member("web"));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(matching, unmatching), Map.of(), Map.of(), List.of(s));
        assertThat(r.endpoints(s)).containsExactly(matching, unmatching);
        for (int i = 0; i < 50; i++) {
            assertThat(r.pickEndpoint(s, 80, null).address()).isEqualTo(new InetSocketAddress(ip("10.0.0.2"), 1234));
            assertThat(r.pickEndpoint(s, 8080, null).address()).isEqualTo(new InetSocketAddress(ip("10.0.0.4"), 9999));
        }
    }

    /** ztunnel's load_balance: "service does not have port" and "has no healthy endpoints" are both no upstream. */
    @Test
    void anUnknownPortOrNoEndpointPicksNothing() throws Exception {
        Service s = svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        Service empty = svc("empty", List.of(ip("10.96.0.11")), Service.Port.of(80, 8080));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(pod("web-1", "10.0.0.1", null, member("web"))), Map.of(), Map.of(), List.of(s, empty));
        assertThat(r.pickEndpoint(s, 81, null)).isNull();
        assertThat(r.pickEndpoint(empty, 80, null)).isNull();
        assertThat(r.endpoints(empty)).isEmpty();
    }

    /** ztunnel's default load balancing: random among the eligible endpoints (choose_weighted over equal capacities). */
    @Test
    void everyEndpointIsPickedSometimes() throws Exception {
        Service s = svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(pod("web-1", "10.0.0.1", null, member("web")), pod("web-2", "10.0.0.2", null, member("web")),
                pod("web-3", "10.0.0.3", null, member("web")), pod("other", "10.0.0.9", null, member("other"))), Map.of(), Map.of(),
                List.of(s));
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 300; i++) {
            seen.add(r.pickEndpoint(s, 80, null).workload().name());
        }
        assertThat(seen).containsExactlyInAnyOrder("web-1", "web-2", "web-3");
    }

    /**
     * An unhealthy endpoint is no candidate (ztunnel's should_include_endpoint; its state/service.rs tests stage an
     * "ep-unhealthy" endpoint beside "ep-healthy"): the Service's only healthy endpoint takes every connection, and with
     * none healthy there is no upstream. Inbound telemetry still names the Service (forPort).
     */
    @Test
    void anUnhealthyEndpointIsNeverPicked() throws Exception {
        Service s = svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        WorkloadService sick = new WorkloadService("web", "prod", "web.prod.svc.cluster.local", Set.of(8080), false);
        Workload unready = pod("web-2", "10.0.0.2", null, sick);
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(pod("web-1", "10.0.0.1", null, member("web")), unready), Map.of(), Map.of(), List.of(s));
        assertThat(r.endpoints(s)).extracting(Workload::name).containsExactly("web-1");
        for (int i = 0; i < 50; i++) {
            assertThat(r.pickEndpoint(s, 80, null).workload().name()).isEqualTo("web-1");
        }
        r.remove("prod", "web-1");
        assertThat(r.pickEndpoint(s, 80, null)).isNull();
        assertThat(WorkloadService.forPort(unready.services(), 8080)).isSameAs(sick);
    }

    /**
     * internalTrafficPolicy: Local, which istiod sends as a strict Node-scoped LoadBalancing: ztunnel's load_balance keeps
     * only endpoints on the source's node ({@code src.node == wl.node}), else there is no upstream.
     */
    @Test
    void aNodeLocalServicePicksOnlyTheSourcesNode() throws Exception {
        Service local = new Service("prod", "web", "web.prod.svc.cluster.local", List.of(ip("10.96.0.10")),
                List.of(Service.Port.of(80, 8080)), true);
        Workload a = new Workload("prod", "web-a", "web", Map.of(), List.of(ip("10.0.0.1")), Workload.Protocol.HBONE, "node-a", TD,
                Map.of(), null, null, List.of(member("web")));
        Workload b = new Workload("prod", "web-b", "web", Map.of(), List.of(ip("10.0.0.2")), Workload.Protocol.HBONE, "node-b", TD,
                Map.of(), null, null, List.of(member("web")));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(a, b), Map.of(), Map.of(), List.of(local));
        for (int i = 0; i < 50; i++) {
            assertThat(r.pickEndpoint(local, 80, null, "node-a").workload()).isSameAs(a);
            assertThat(r.pickEndpoint(local, 80, null, "node-b").workload()).isSameAs(b);
        }
        assertThat(r.pickEndpoint(local, 80, null, "node-c")).as("no endpoint on the source's node").isNull();
        assertThat(r.pickEndpoint(local, 80, null)).as("a source of no node").isNull();
        Service cluster = svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        r.replace(List.of(a, b), Map.of(), Map.of(), List.of(cluster));
        assertThat(r.pickEndpoint(cluster, 80, null, "node-c")).as("Cluster: any node").isNotNull();
    }

    /** Dual stack: an IPv6 VIP reaches the endpoint's IPv6 address, an IPv4 one its IPv4 (pick_workload_destination). */
    @Test
    void theEndpointAddressIsOfTheVipsFamily() throws Exception {
        Service s = svc("web", List.of(ip("10.96.0.10"), ip("fd00:10:96::a")), Service.Port.of(80, 8080));
        Workload w = new Workload("prod", "web-1", "web", Map.of(), List.of(ip("10.0.0.1"), ip("fd00::1")), Workload.Protocol.HBONE,
                null, TD, Map.of(), null, null, List.of(member("web")));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(w), Map.of(), Map.of(), List.of(s));
        assertThat(r.serviceAt(ip("fd00:10:96::a"))).containsSame(s);
        assertThat(r.pickEndpoint(s, 80, ip("fd00:10:96::a")).address()).isEqualTo(new InetSocketAddress(ip("fd00::1"), 8080));
        assertThat(r.pickEndpoint(s, 80, ip("10.96.0.10")).address()).isEqualTo(new InetSocketAddress(ip("10.0.0.1"), 8080));
    }

    /** The replace of workloads alone (put, remove, the three-argument replace) keeps the Services and re-selects endpoints. */
    @Test
    void workloadUpdatesKeepTheServices() throws Exception {
        Service s = svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(), Map.of(), Map.of(), List.of(s));
        assertThat(r.pickEndpoint(s, 80, null)).isNull();
        r.put(pod("web-1", "10.0.0.1", null, member("web")));
        assertThat(r.services()).containsExactly(s);
        assertThat(r.pickEndpoint(s, 80, null).workload().name()).isEqualTo("web-1");
        r.remove("prod", "web-1");
        assertThat(r.pickEndpoint(s, 80, null)).isNull();
        assertThat(r.serviceByHostname("web.prod.svc.cluster.local").name()).isEqualTo("web");
    }

    /**
     * A Service looked up before a replace that made new instances (mesh-kubernetes makes them on every pod change) still
     * picks an endpoint: the replace's Service of the same VIP and name stands for it. A new-user pass had such picks
     * refused as "no healthy upstream" while pods churned.
     */
    @Test
    void aServiceOfAnEarlierSnapshotStillPicks() throws Exception {
        Workload w = pod("web-1", "10.0.0.1", null, member("web"));
        Service before = svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(w), Map.of(), Map.of(), List.of(before));
        r.replace(List.of(w), Map.of(), Map.of(), List.of(svc("web", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080))));
        assertThat(r.pickEndpoint(before, 80, ip("10.96.0.10"))).as("the earlier instance, by its VIP").isNotNull();
        r.replace(List.of(w), Map.of(), Map.of(), List.of(svc("other", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080))));
        assertThat(r.pickEndpoint(before, 80, ip("10.96.0.10"))).as("the VIP is another Service's now").isNull();
    }

    /**
     * ztunnel's guess_inbound_service (src/proxy.rs): the forwarded host= the client's proxy sent names the Service
     * among the destination's own, before the first Service targeting the port; a host that is none of them is ignored.
     */
    @Test
    void theInboundServiceIsTheForwardedHostsAmongTheDestinationsOwn() {
        WorkloadService aaa = new WorkloadService("aaa", "prod", "aaa.prod.svc.cluster.local", Set.of(8080));
        WorkloadService zzz = new WorkloadService("zzz", "prod", "zzz.prod.svc.cluster.local", Set.of(8080));
        List<WorkloadService> both = List.of(aaa, zzz);
        assertThat(WorkloadService.guess(both, "zzz.prod.svc.cluster.local", 8080)).isEqualTo(zzz);
        assertThat(WorkloadService.guess(both, null, 8080)).isEqualTo(aaa);
        assertThat(WorkloadService.guess(both, "other.prod.svc.cluster.local", 8080)).as("not the destination's").isEqualTo(aaa);
        assertThat(WorkloadService.guess(both, null, 9090)).isNull();
    }

    @Test
    void conflictsAreRefusedNamingBothClaimants() throws Exception {
        // One name, two Services (istiod names every host of a ServiceEntry after the entry: services.go
        // constructServiceEntries): each sends to the workloads whose membership names its hostname only, as ztunnel keys
        // Services by namespace/hostname. Until 7 December refused ("two services named prod/a"), since each sent to both's.
        Service own = svc("a", List.of(ip("10.96.0.1")), Service.Port.of(80, 8080));
        Service other = new Service("prod", "a", "other.example", List.of(ip("10.96.0.2")), List.of(Service.Port.of(80, 8080)));
        WorkloadRegistry shared = WorkloadRegistry.empty();
        shared.replace(List.of(pod("p1", "10.0.0.1", Map.of(), member("a")),
                        pod("p2", "10.0.0.2", Map.of(), new WorkloadService("a", "prod", "other.example", Set.of(8080)))),
                Map.of(), Map.of(), List.of(own, other));
        assertThat(shared.endpoints(shared.serviceAt(ip("10.96.0.1")).orElseThrow())).extracting(Workload::name).containsExactly("p1");
        assertThat(shared.endpoints(shared.serviceAt(ip("10.96.0.2")).orElseThrow())).extracting(Workload::name).containsExactly("p2");
        Service a = svc("a", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        Service b = svc("b", List.of(ip("10.96.0.10")), Service.Port.of(80, 8080));
        WorkloadRegistry r = WorkloadRegistry.empty();
        assertThatThrownBy(() -> r.replace(List.of(), Map.of(), Map.of(), List.of(a, b)))
                .hasMessage("service address 10.96.0.10 claimed by both services prod/a and prod/b (one namespace: Services of"
                        + " different namespaces may share it)");
        // ztunnel's ServiceStore keys a Service by namespace and hostname (NamespacedHostname): a second of one namespace
        // would replace the first (insert_internal); istiod sends one (services.go keeps a namespace's best).
        Service otherName = new Service("prod", "z", "a.prod.svc.cluster.local", List.of(), List.of(Service.Port.of(80, 8080)));
        assertThatThrownBy(() -> r.replace(List.of(), Map.of(), Map.of(), List.of(svc("a", List.of()), otherName)))
                .hasMessage("service hostname a.prod.svc.cluster.local claimed by both services prod/a and prod/z (one namespace:"
                        + " Services of different namespaces may share it)");
        // A VIP that is also a workload's address: both kept, as ztunnel's stores keep them (ServiceVipTest: connections
        // dialled at it go to the Service). Refused until 7 December.
        Service c = svc("c", List.of(ip("10.0.0.1")), Service.Port.of(80, 8080));
        r.replace(List.of(pod("web-1", "10.0.0.1", null)), Map.of(), Map.of(), List.of(c));
        assertThat(r.serviceAt(ip("10.0.0.1"))).contains(c);
        assertThat(r.byAddress(ip("10.0.0.1"))).map(Workload::name).contains("web-1");
    }

    @Test
    void theRecordsNameTheFieldTheyRefuse() throws Exception {
        assertThatThrownBy(() -> new Service("prod", " ", "h", List.of(), List.of())).hasMessage("service name is required");
        assertThatThrownBy(() -> new Service("prod", "Web", "h", List.of(), List.of()))
                .hasMessageStartingWith("service name \"Web\" is no DNS-1035 label");
        assertThatThrownBy(() -> new Service("prod", "web", "bad host", List.of(), List.of()))
                .hasMessage("service prod/web: hostname \"bad host\" is no DNS name (labels of letters, digits and '-', joined by '.')");
        assertThatThrownBy(() -> new Service("prod", "web", "h", List.of(ip("0.0.0.0")), List.of()))
                .hasMessage("service prod/web: vips: the wildcard address 0.0.0.0 is no service address");
        assertThatThrownBy(() -> new Service("prod", "web", "h", List.of(ip("10.96.0.1"), ip("10.96.0.1")), List.of()))
                .hasMessage("service prod/web: vips: 10.96.0.1 is listed twice");
        assertThatThrownBy(() -> new Service("prod", "web", "h", List.of(), List.of(Service.Port.of(80, 1), Service.Port.of(80, 2))))
                .hasMessage("service prod/web: ports: port 80 is listed twice");
        assertThatThrownBy(() -> Service.Port.of(0, 80)).hasMessage("service port 0 is out of range 1-65535");
        assertThatThrownBy(() -> Service.Port.of(80, 70000)).hasMessage("service port 80: targetPort 70000 is out of range 1-65535");
        assertThatThrownBy(() -> new Service.Port(80, 8080, "http"))
                .hasMessage("service port 80: targetPort is named \"http\" and numbered 8080 (one or the other)");
    }

    private static final String FILE = """
            trustDomain: cluster.local
            workloads:
            - {namespace: prod, name: web-1, serviceAccount: web, addresses: [10.0.0.1], labels: {app: web},
               namedPorts: {http: 8080}}
            - {namespace: prod, name: db, addresses: [10.0.0.5], labels: {app: db}}
            - {namespace: dev, name: web-1, addresses: [10.0.1.1], labels: {app: web}}
            services:
            - namespace: prod
              name: web
              addresses: [10.96.0.10, "fd00:10:96::a"]
              ports: {80: http, 9090: 9091, 7070: }
              selector: {app: web}
            """;

    @Test
    void theWorkloadsFileDeclaresServicesWithVipsPortsAndASelector(@TempDir Path dir) throws Exception {
        WorkloadRegistry r = WorkloadRegistry.load(Files.writeString(dir.resolve("w.yaml"), FILE));
        Service s = r.serviceAt(ip("fd00:10:96::a")).orElseThrow();
        assertThat(s.hostname()).isEqualTo("web.prod.svc.cluster.local");
        assertThat(s.vips()).containsExactly(ip("10.96.0.10"), ip("fd00:10:96::a"));
        assertThat(s.ports()).containsExactly(Service.Port.named(80, "http"), Service.Port.of(9090, 9091), Service.Port.of(7070, 7070));
        assertThat(r.endpoints(s)).extracting(Workload::toString).containsExactly("prod/web-1");
        assertThat(r.pickEndpoint(s, 80, ip("10.96.0.10")).address()).isEqualTo(new InetSocketAddress(ip("10.0.0.1"), 8080));
        // The selected workload is the Service's for inbound telemetry too (WorkloadService.forPort), at the ports it targets.
        Workload w = r.byAddress(ip("10.0.0.1")).orElseThrow();
        assertThat(w.services()).containsExactly(new WorkloadService("web", "prod", "web.prod.svc.cluster.local", Set.of(8080, 9091, 7070)));
        assertThat(r.byAddress(ip("10.0.1.1")).orElseThrow().services()).as("another namespace's pod").isEmpty();
    }

    @Test
    void servicesErrorsNameFileLineAndField(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), FILE.replace("fd00:10:96::a", "10.0.0.5"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f))
                .hasMessage(f + ":10: services[0].addresses[1]: address 10.0.0.5 is already workload prod/db's");
        Path g = Files.writeString(dir.resolve("g.yaml"), FILE.replace("80: http", "80: Http_1"));
        assertThatThrownBy(() -> WorkloadRegistry.load(g)).hasMessageStartingWith(g + ":11: services[0].ports.80: target port: named port"
                + " \"Http_1\": must contain only alpha-numeric characters");
        Path h = Files.writeString(dir.resolve("h.yaml"), FILE.replace("9090: 9091", "9090: 90910"));
        assertThatThrownBy(() -> WorkloadRegistry.load(h))
                .hasMessage(h + ":11: services[0].ports.9090: target port 90910 is out of range 1-65535");
        Path i = Files.writeString(dir.resolve("i.yaml"), FILE.replace("selector: {app: web}", "selectr: {app: web}"));
        assertThatThrownBy(() -> WorkloadRegistry.load(i)).hasMessageStartingWith(i + ":12: services[0]").hasMessageContaining("selectr");
        Path j = Files.writeString(dir.resolve("j.yaml"), FILE.replace("  name: web\n", ""));
        assertThatThrownBy(() -> WorkloadRegistry.load(j)).hasMessage(j + ":8: services[0].name: is required");
        Path l = Files.writeString(dir.resolve("l.yaml"), FILE.replace("selector: {app: web}", "selector: {app: web}\n  internalTrafficPolicy: local"));
        assertThatThrownBy(() -> WorkloadRegistry.load(l)).hasMessage(l + ":13: services[0].internalTrafficPolicy: unknown value"
                + " \"local\" (Cluster or Local, as a Kubernetes Service's spec.internalTrafficPolicy)");
        Path m = Files.writeString(dir.resolve("m.yaml"), FILE.replace("selector: {app: web}", "selector: {app: web}\n  internalTrafficPolicy: Local"));
        assertThat(WorkloadRegistry.load(m).services().get(0).nodeLocal()).isTrue();
        Path n = Files.writeString(dir.resolve("n.yaml"), FILE + """
                - {namespace: prod, name: web, addresses: [10.96.0.11], ports: {80: 8080}, selector: {app: db}, hostname: db.example}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(n)).hasMessage(n + ":13: services[1].name: service prod/web is already services[0]");
        Path k = Files.writeString(dir.resolve("k.yaml"), FILE.replace("10.96.0.10,", "10.96.0.300,"));
        assertThatThrownBy(() -> WorkloadRegistry.load(k)).hasMessageStartingWith(k + ":10: services[0].addresses[0]");
    }

    /**
     * The file's {@code trafficDistribution:}, a Kubernetes Service's spec.trafficDistribution: PreferClose and
     * PreferSameZone are istiod's same-zone failover, PreferSameNode its same-node one, any other value an error naming
     * file, line and field; internalTrafficPolicy Local wins over it, as in istiod's constructService.
     */
    @Test
    void theFilesTrafficDistribution(@TempDir Path dir) throws Exception {
        Path a = Files.writeString(dir.resolve("a.yaml"), FILE + "  trafficDistribution: PreferClose\n");
        assertThat(WorkloadRegistry.load(a).services().get(0).loadBalancing()).isSameAs(Service.LoadBalancing.PREFER_SAME_ZONE);
        Path b = Files.writeString(dir.resolve("b.yaml"), FILE + "  trafficDistribution: PreferSameNode\n");
        assertThat(WorkloadRegistry.load(b).services().get(0).loadBalancing()).isSameAs(Service.LoadBalancing.PREFER_SAME_NODE);
        Path c = Files.writeString(dir.resolve("c.yaml"), FILE + "  trafficDistribution: PreferSameZone\n");
        assertThat(WorkloadRegistry.load(c).services().get(0).loadBalancing()).isSameAs(Service.LoadBalancing.PREFER_SAME_ZONE);
        Path d = Files.writeString(dir.resolve("d.yaml"), FILE + "  trafficDistribution: preferclose\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(d)).hasMessage(d + ":13: services[0].trafficDistribution: unknown value"
                + " \"preferclose\" (PreferClose, PreferSameZone or PreferSameNode, as a Kubernetes Service's"
                + " spec.trafficDistribution)");
        Path e = Files.writeString(dir.resolve("e.yaml"), FILE + "  trafficDistribution: PreferClose\n  internalTrafficPolicy: Local\n");
        assertThat(WorkloadRegistry.load(e).services().get(0).nodeLocal()).as("istiod: Local first").isTrue();
        Path x = Files.writeString(dir.resolve("x.yaml"), FILE);
        assertThat(WorkloadRegistry.load(x).services().get(0).loadBalancing()).as("none").isNull();
    }
}
