package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several Services of one VIP or hostname, one per namespace, as ztunnel's {@code ServiceStore} holds them (istio/ztunnel
 * src/state/service.rs {@code by_vip}, {@code by_host}) and picks one for a client namespace ({@code get_best_by_vip},
 * {@code get_best_by_host}, {@code ServiceMatch::find_best_match}) or names one exactly ({@code get_by_namespaced_host}).
 * Each test replays the ztunnel test it names. Until 7 December the registry refused every such snapshot.
 */
class SharedServiceStoreTest {

    static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    /** ztunnel's make_service: NAME.NS.svc.cluster.local, public, not canonical. */
    static Service svc(String name, String ns, InetAddress... vips) {
        return new Service(ns, name, name + "." + ns + ".svc.cluster.local", List.of(vips), List.of(Service.Port.of(80, 8080)));
    }

    static Service host(Service s, String hostname) {
        return new Service(s.namespace(), s.name(), hostname, s.vips(), s.ports(), s.loadBalancing(), s.waypoint(),
                s.canonical(), s.visibility());
    }

    static WorkloadRegistry of(Service... services) {
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(), Map.of(), Map.of(), List.of(services));
        return r;
    }

    static String nsAt(WorkloadRegistry r, InetAddress vip, String clientNs) {
        return r.serviceAt(vip, clientNs).map(Service::namespace).orElse(null);
    }

    /** ztunnel's shared_vip_different_namespaces (service.rs tests); a removal is a snapshot without the Service here. */
    @Test
    void sharedVipDifferentNamespaces() throws Exception {
        InetAddress shared = ip("10.0.0.1");
        InetAddress onlyA = ip("10.0.0.2");
        InetAddress onlyB = ip("10.0.0.3");
        Service a = svc("svc", "ns-a", shared, onlyA);
        Service b = svc("svc", "ns-b", shared, onlyB);
        WorkloadRegistry r = of(a, b);
        assertThat(r.services()).containsExactly(a, b);
        assertThat(nsAt(r, shared, "ns-a")).isEqualTo("ns-a");
        assertThat(nsAt(r, shared, "ns-b")).isEqualTo("ns-b");
        assertThat(nsAt(r, onlyA, "ns-b")).isEqualTo("ns-a");
        assertThat(nsAt(r, onlyB, "ns-a")).isEqualTo("ns-b");
        assertThat(r.serviceAt(shared)).isPresent();
        r.replace(List.of(), Map.of(), Map.of(), List.of(b));
        assertThat(nsAt(r, shared, "ns-a")).isEqualTo("ns-b");
        assertThat(r.serviceAt(onlyA, "ns-a")).isEmpty();
        assertThat(r.serviceAt(onlyB, "ns-a")).isPresent();
        r.replace(List.of(), Map.of(), Map.of(), List.of());
        assertThat(r.serviceAt(shared)).isEmpty();
    }

    /** ztunnel's namespace_visibility_vip (exact VIPs; its CIDR half is not modelled). */
    @Test
    void namespaceVisibilityVip() throws Exception {
        InetAddress vip = ip("10.0.0.1");
        WorkloadRegistry r = of(svc("nslocal", "ns-a", vip).withVisibility(Service.Visibility.NAMESPACE));
        assertThat(nsAt(r, vip, "ns-a")).isEqualTo("ns-a");
        assertThat(r.serviceAt(vip, "ns-b")).as("out-of-namespace client: no match, as ztunnel's passthrough").isEmpty();
        assertThat(r.serviceAt(vip)).as("no client namespace: visibility not enforced").isPresent();
    }

    /** ztunnel's namespace_visibility_host: by hostname, a NAMESPACE Service filtered out, the PUBLIC one of another kept. */
    @Test
    void namespaceVisibilityHost() throws Exception {
        Service nslocal = svc("hostlocal", "ns-a", ip("10.3.0.1")).withVisibility(Service.Visibility.NAMESPACE);
        Service pub = svc("hostpublic", "ns-a", ip("10.3.0.2"));
        String shared = "shared.example.com";
        Service sharedNs = host(svc("sharedlocal", "ns-a", ip("10.3.0.3")), shared).withVisibility(Service.Visibility.NAMESPACE);
        Service sharedPub = host(svc("sharedpublic", "ns-b", ip("10.3.0.4")), shared);
        WorkloadRegistry r = of(nslocal, pub, sharedNs, sharedPub);
        assertThat(r.bestService(nslocal.hostname(), "ns-a")).contains(nslocal);
        assertThat(r.bestService(nslocal.hostname(), "ns-b")).isEmpty();
        assertThat(r.bestService(nslocal.hostname(), null)).contains(nslocal);
        assertThat(r.bestService(pub.hostname(), "ns-b")).contains(pub);
        assertThat(r.bestService(shared, "ns-c")).as("the visible PUBLIC one, not None").contains(sharedPub);
        assertThat(r.bestService(shared, "ns-a")).contains(sharedNs);
        // Telemetry's description follows the same pick.
        assertThat(r.serviceByHostname(shared, "ns-c").namespace()).isEqualTo("ns-b");
        assertThat(r.serviceByHostname(shared, "ns-a").namespace()).isEqualTo("ns-a");
    }

    /**
     * ztunnel's ServiceMatch::find_best_match: the client's namespace first, then a canonical Service (istiod marks one per
     * hostname), then the first installed; a namespace of none of them takes the canonical one even when listed last.
     */
    @Test
    void theClientsNamespaceThenCanonicalThenFirst() throws Exception {
        InetAddress vip = ip("10.0.0.9");
        String h = "api.example.com";
        Service x = host(svc("api", "ns-x", vip), h);
        Service y = host(svc("api", "ns-y", vip), h);
        Service z = host(svc("api", "ns-z", vip), h);
        WorkloadRegistry plain = of(x, y, z);
        assertThat(nsAt(plain, vip, "ns-c")).as("First").isEqualTo("ns-x");
        assertThat(nsAt(plain, vip, null)).isEqualTo("ns-x");
        assertThat(plain.bestService(h, "ns-c").map(Service::namespace)).contains("ns-x");
        WorkloadRegistry canon = of(x, y, z.withCanonical(true));
        assertThat(nsAt(canon, vip, "ns-c")).as("Canonical over First").isEqualTo("ns-z");
        assertThat(nsAt(canon, vip, null)).isEqualTo("ns-z");
        assertThat(canon.bestService(h, "ns-c").map(Service::namespace)).contains("ns-z");
        assertThat(nsAt(canon, vip, "ns-y")).as("Namespace over Canonical").isEqualTo("ns-y");
        // A canonical Service hidden from the client (NAMESPACE) is skipped: the first visible one.
        WorkloadRegistry hidden = of(x, y, z.withCanonical(true).withVisibility(Service.Visibility.NAMESPACE));
        assertThat(nsAt(hidden, vip, "ns-c")).isEqualTo("ns-x");
    }

    /** The config dump renders canonical and visibility always, as ztunnel's (src/state/service.rs Service, serde). */
    @Test
    void theConfigDumpShowsCanonicalAndVisibility() throws Exception {
        WorkloadRegistry r = of(svc("api", "ns-a", ip("10.0.0.1")),
                svc("api", "ns-b", ip("10.0.0.1")).withCanonical(true).withVisibility(Service.Visibility.NAMESPACE));
        List<Map<String, Object>> dump = io.zerohop.core.internal.ConfigDump.services(r);
        assertThat(dump.get(0)).containsEntry("canonical", false).containsEntry("visibility", "Public");
        assertThat(dump.get(1)).containsEntry("canonical", true).containsEntry("visibility", "Namespace");
    }

    /** ztunnel's get_by_namespaced_host (find_hostname; a waypoint named by hostname): that namespace's, no other. */
    @Test
    void anExactLookupTakesThatNamespacesServiceOnly() throws Exception {
        String h = "api.example.com";
        Service a = host(svc("api", "ns-a", ip("10.0.0.1")), h);
        Service b = host(svc("api", "ns-b", ip("10.0.0.1")), h).withCanonical(true);
        WorkloadRegistry r = of(a, b);
        assertThat(r.service("ns-a", h)).contains(a);
        assertThat(r.service("ns-b", h)).contains(b);
        assertThat(r.service("ns-c", h)).isEqualTo(Optional.empty());
    }

    /** Each Service keeps its own endpoints: a pick for one namespace's never yields the other's (endpoints by namespace/name). */
    @Test
    void eachServiceOfASharedVipPicksItsOwnEndpoints() throws Exception {
        InetAddress vip = ip("10.0.0.1");
        String h = "api.example.com";
        Workload ea = new Workload("ns-a", "ea", "api", Map.of(), List.of(ip("10.1.0.1")), Workload.Protocol.HBONE, null,
                "cluster.local", Map.of(), Map.of(), null, List.of(new WorkloadService("api", "ns-a", h, java.util.Set.of(8080))));
        Workload eb = new Workload("ns-b", "eb", "api", Map.of(), List.of(ip("10.1.0.2")), Workload.Protocol.HBONE, null,
                "cluster.local", Map.of(), Map.of(), null, List.of(new WorkloadService("api", "ns-b", h, java.util.Set.of(8080))));
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(ea, eb), Map.of(), Map.of(), List.of(host(svc("api", "ns-a", vip), h), host(svc("api", "ns-b", vip), h)));
        for (int i = 0; i < 20; i++) {
            assertThat(r.pickEndpoint(r.serviceAt(vip, "ns-a").orElseThrow(), 80, vip).workload()).isEqualTo(ea);
            assertThat(r.pickEndpoint(r.serviceAt(vip, "ns-b").orElseThrow(), 80, vip).workload()).isEqualTo(eb);
        }
    }

    /**
     * The {@code --workloads} file: two namespaces' Services of one hostname and address load (with {@code canonical} and
     * {@code visibility}); two of one namespace, or a bad value, is an error naming file, line and field.
     */
    @Test
    void theWorkloadsFileHoldsOneHostInSeveralNamespaces(@TempDir Path dir) throws Exception {
        String file = """
                services:
                - {namespace: team-a, name: api, hostname: api.example.com, addresses: [240.240.0.1], ports: {443: 443}}
                - {namespace: team-b, name: api, hostname: api.example.com, addresses: [240.240.0.1], ports: {443: 443}, canonical: true, visibility: PUBLIC}
                - {namespace: team-c, name: api, hostname: api.example.com, addresses: [240.240.0.1], ports: {443: 443}, visibility: NAMESPACE}
                """;
        WorkloadRegistry r = WorkloadRegistry.load(Files.writeString(dir.resolve("w.yaml"), file));
        InetAddress vip = ip("240.240.0.1");
        assertThat(nsAt(r, vip, "team-a")).isEqualTo("team-a");
        assertThat(nsAt(r, vip, "team-c")).isEqualTo("team-c");
        assertThat(nsAt(r, vip, "other")).as("the canonical one").isEqualTo("team-b");
        assertThat(r.services().get(2).visibility()).isEqualTo(Service.Visibility.NAMESPACE);
        Path same = Files.writeString(dir.resolve("same.yaml"), file + """
                - {namespace: team-a, name: api2, hostname: api.example.com, ports: {443: 443}}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(same)).hasMessage(same + ":5: services[3].hostname: hostname api.example.com"
                + " is already service team-a/api's (one namespace: Services of different namespaces may share it)");
        Path sameVip = Files.writeString(dir.resolve("vip.yaml"), file + """
                - {namespace: team-a, name: api2, hostname: api2.example.com, addresses: [240.240.0.1], ports: {443: 443}}
                """);
        assertThatThrownBy(() -> WorkloadRegistry.load(sameVip)).hasMessage(sameVip + ":5: services[3].addresses[0]: address"
                + " 240.240.0.1 is already service team-a/api's (one namespace: Services of different namespaces may share it)");
        Path badVis = Files.writeString(dir.resolve("vis.yaml"), file.replace("visibility: NAMESPACE", "visibility: namespace"));
        assertThatThrownBy(() -> WorkloadRegistry.load(badVis)).hasMessage(badVis + ":4: services[2].visibility: unknown value"
                + " \"namespace\" (PUBLIC or NAMESPACE, as istio/api workload.proto's Service.Visibility)");
        Path badCanon = Files.writeString(dir.resolve("canon.yaml"), file.replace("canonical: true", "canonical: yes"));
        assertThatThrownBy(() -> WorkloadRegistry.load(badCanon)).hasMessage(badCanon + ":3: services[1].canonical: unknown value"
                + " \"yes\" (true or false)");
    }
}
