package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Locality load balancing of Service endpoints ({@link Service.LoadBalancing}, {@link WorkloadRegistry#pickEndpoint}) as
 * ztunnel's {@code load_balance}: the cases are istio/ztunnel src/state.rs {@code test_load_balance} (62d82653), with its
 * workloads, its Strict and Failover services of [Network, Region, Zone], its sources and the endpoints each may get.
 * A workload's network and locality are its topology labels here.
 */
class ServiceLoadBalancingTest {
    static final String TD = "cluster.local";
    static final String NETWORK = "topology.istio.io/network";
    static final String REGION = "topology.kubernetes.io/region";
    static final String ZONE = "topology.kubernetes.io/zone";

    static InetAddress ip(String s) throws Exception {
        return InetAddress.getByName(s);
    }

    /** ztunnel's Workload fields as labels: network, region, zone ("" or null: absent). */
    static Map<String, String> loc(String network, String region, String zone) {
        Map<String, String> m = new HashMap<>();
        if (network != null && !network.isEmpty()) {
            m.put(NETWORK, network);
        }
        if (region != null && !region.isEmpty()) {
            m.put(REGION, region);
        }
        if (zone != null && !zone.isEmpty()) {
            m.put(ZONE, zone);
        }
        return m;
    }

    static Workload wl(String name, String address, String node, Map<String, String> labels, String service) throws Exception {
        return new Workload("default", name, "default", labels, address == null ? List.of() : List.of(ip(address)),
                Workload.Protocol.HBONE, node, TD, Map.of(), null, null,
                List.of(new WorkloadService(service, "default", service + ".default.svc.cluster.local", Set.of(80))));
    }

    static Service svc(String name, Service.LoadBalancing lb) {
        return new Service("default", name, name + ".default.svc.cluster.local", List.of(), List.of(Service.Port.of(80, 80)), lb);
    }

    static final Service.LoadBalancing STRICT = new Service.LoadBalancing(Service.LoadBalancing.Mode.STRICT,
            List.of(Service.LoadBalancing.Scope.NETWORK, Service.LoadBalancing.Scope.REGION, Service.LoadBalancing.Scope.ZONE));
    static final Service.LoadBalancing FAILOVER = Service.LoadBalancing.PREFER_SAME_ZONE;

    /** Picks {@code tries} times; the set of endpoint names seen (empty when every pick found none). */
    static Set<String> picks(WorkloadRegistry r, Service s, Map<String, String> src, String node, int tries) {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < tries; i++) {
            Service.Endpoint ep = r.pickEndpoint(s, 80, null, node, src);
            if (ep != null) {
                seen.add(ep.workload().name());
            }
        }
        return seen;
    }

    /**
     * test_load_balance's workloads, once per service (both select their own set; ztunnel's "ep_almost" endpoint, of no
     * workload, is left out): 192.168.N.1 no locality, .2 match, .3 almost, .5 other network, and one without an address.
     */
    static WorkloadRegistry ztunnelCase(Service... services) throws Exception {
        List<Workload> all = new java.util.ArrayList<>();
        for (int i = 0; i < services.length; i++) {
            String n = services[i].name();
            all.add(wl("wl-no-locality-" + n, "192.168." + i + ".1", null, loc("network", "", ""), n));
            all.add(wl("wl-match-" + n, "192.168." + i + ".2", null, loc("network", "reg", "zone"), n));
            all.add(wl("wl-almost-" + n, "192.168." + i + ".3", null, loc("network", "reg", "not-zone"), n));
            all.add(wl("wl-other-" + n, "192.168." + i + ".5", null, loc("other", "reg", "zone"), n));
            all.add(wl("wl-empty-ip-" + n, null, null, loc("network", "reg", "zone"), n));
        }
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(all, Map.of(), Map.of(), List.of(services));
        return r;
    }

    static Set<String> names(String svc, String... short_) {
        Set<String> out = new HashSet<>();
        for (String s : short_) {
            out.add(s + "-" + svc);
        }
        return out;
    }

    @Test
    void ztunnelsTestLoadBalance() throws Exception {
        Service strict = svc("strict", STRICT);
        Service failover = svc("failover", FAILOVER);
        WorkloadRegistry r = ztunnelCase(strict, failover);
        int tries = 200;

        assertThat(picks(r, strict, loc("", "", ""), null, tries)).as("strict no match should not select").isEmpty();
        assertThat(picks(r, strict, loc("network", "reg", "zone"), null, tries)).as("strict match")
                .isEqualTo(names("strict", "wl-match"));
        assertThat(picks(r, failover, loc("no-match", "no-match", "no-match"), null, tries))
                .as("failover no match can select any endpoint")
                .isEqualTo(names("failover", "wl-match", "wl-almost", "wl-no-locality", "wl-other"));
        assertThat(picks(r, failover, loc("network", "reg", "zone"), null, tries)).as("failover matches network+region+zone")
                .isEqualTo(names("failover", "wl-match"));
        assertThat(picks(r, failover, loc("network", "reg", ""), null, tries)).as("failover matches network+region")
                .isEqualTo(names("failover", "wl-match", "wl-almost"));
        assertThat(picks(r, failover, loc("network", "no-match", "no-match"), null, tries)).as("failover matches network")
                .isEqualTo(names("failover", "wl-match", "wl-almost", "wl-no-locality"));
        assertThat(picks(r, failover, loc("no-match", "reg", "zone"), null, tries)).as("failover matches region+zone")
                .isEqualTo(names("failover", "wl-match", "wl-other"));
        assertThat(picks(r, failover, loc("", "", ""), null, tries)).as("failover never selects missing ip")
                .doesNotContain("wl-empty-ip-failover");
    }

    /**
     * PreferSameNode (istiod's preferSameNodeLoadBalancer: FAILOVER [NETWORK, REGION, ZONE, SUBZONE, NODE]): the source's
     * node first, then its zone, then anything; an endpoint of a same-zone node is never picked while one on the source's
     * node is eligible.
     */
    @Test
    void preferSameNodeFailsOverNodeThenZoneThenAny() throws Exception {
        Service s = svc("web", Service.LoadBalancing.PREFER_SAME_NODE);
        Workload a = wl("web-a", "10.0.0.1", "node-a", loc("", "r1", "z1"), "web");
        Workload b = wl("web-b", "10.0.0.2", "node-b", loc("", "r1", "z1"), "web");
        Workload c = wl("web-c", "10.0.0.3", "node-c", loc("", "r1", "z2"), "web");
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(a, b, c), Map.of(), Map.of(), List.of(s));
        assertThat(picks(r, s, loc("", "r1", "z1"), "node-a", 100)).containsExactly("web-a");
        assertThat(picks(r, s, loc("", "r1", "z1"), "node-x", 200)).containsExactlyInAnyOrder("web-a", "web-b");
        assertThat(picks(r, s, loc("", "r1", "z2"), "node-x", 100)).containsExactly("web-c");
        assertThat(picks(r, s, loc("", "r2", "z9"), "node-x", 300)).containsExactlyInAnyOrder("web-a", "web-b", "web-c");
        // web-a gone (its pod down): the source on node-a fails over to its zone's other node.
        r.replace(List.of(b, c), Map.of(), Map.of(), List.of(s));
        assertThat(picks(r, s, loc("", "r1", "z1"), "node-a", 100)).containsExactly("web-b");
    }

    /** STRICT [NODE] is internalTrafficPolicy Local: nodeLocal() says so, and it is what the boolean constructor makes. */
    @Test
    void nodeLocalIsStrictNode() {
        Service local = new Service("prod", "web", "web.prod.svc.cluster.local", List.of(), List.of(), true);
        assertThat(local.loadBalancing()).isEqualTo(new Service.LoadBalancing(Service.LoadBalancing.Mode.STRICT,
                List.of(Service.LoadBalancing.Scope.NODE)));
        assertThat(local.nodeLocal()).isTrue();
        assertThat(svc("web", Service.LoadBalancing.PREFER_SAME_ZONE).nodeLocal()).isFalse();
        assertThat(new Service("prod", "web", "web.prod.svc.cluster.local", List.of(), List.of()).loadBalancing()).isNull();
    }

    /** istiod's GetTrafficDistribution for spec.trafficDistribution: exact values only. */
    @Test
    void trafficDistributionValues() {
        assertThat(Service.LoadBalancing.ofTrafficDistribution("PreferClose")).isSameAs(Service.LoadBalancing.PREFER_SAME_ZONE);
        assertThat(Service.LoadBalancing.ofTrafficDistribution("PreferSameZone")).isSameAs(Service.LoadBalancing.PREFER_SAME_ZONE);
        assertThat(Service.LoadBalancing.ofTrafficDistribution("PreferSameNode")).isSameAs(Service.LoadBalancing.PREFER_SAME_NODE);
        assertThat(Service.LoadBalancing.ofTrafficDistribution("preferclose")).isNull();
        assertThat(Service.LoadBalancing.ofTrafficDistribution(null)).isNull();
        assertThat(Service.LoadBalancing.PREFER_SAME_ZONE.scopes()).containsExactly(Service.LoadBalancing.Scope.NETWORK,
                Service.LoadBalancing.Scope.REGION, Service.LoadBalancing.Scope.ZONE);
        assertThat(Service.LoadBalancing.PREFER_SAME_NODE.scopes()).containsExactly(Service.LoadBalancing.Scope.NETWORK,
                Service.LoadBalancing.Scope.REGION, Service.LoadBalancing.Scope.ZONE, Service.LoadBalancing.Scope.SUBZONE,
                Service.LoadBalancing.Scope.NODE);
    }

    @Test
    void aLoadBalancingIsValidated() {
        assertThatThrownBy(() -> new Service.LoadBalancing(Service.LoadBalancing.Mode.FAILOVER, List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no scope");
        assertThatThrownBy(() -> new Service.LoadBalancing(Service.LoadBalancing.Mode.FAILOVER,
                List.of(Service.LoadBalancing.Scope.ZONE, Service.LoadBalancing.Scope.ZONE)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("twice");
        assertThatThrownBy(() -> new Service.LoadBalancing(null, List.of(Service.LoadBalancing.Scope.ZONE)))
                .isInstanceOf(NullPointerException.class);
    }
}
