package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Mesh;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.WorkloadService;
import io.zerohop.hbone.Route;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link Outbound#buildRequest} through waypoints, replaying istio/ztunnel src/proxy/outbound.rs's tests of
 * {@code build_request} with their addresses ({@code run_build_request_multi}'s state: a source workload at 127.0.0.1 and
 * ::1, a waypoint workload "waypoint-workload" at 127.0.0.10 and a dual-stack one at 127.0.0.11 and ff06::c5, both of
 * service account waypoint-sa), then zerohop's own cases (a waypoint by a Service's or a workload's hostname, an unknown
 * one). One difference of set-up: ztunnel's source and waypoint workloads are of tunnel protocol NONE; zerohop refuses such
 * a source (outside the mesh), so they are HBONE here (a waypoint's own protocol is never read: it is always reached by
 * HBONE); the destinations stay as ztunnel has them. The other {@code build_request} tests there are replayed elsewhere
 * ({@code OutboundTest}: {@code build_request_unknown_dest}, {@code build_request_known_dest_*}; {@code ServiceVipTest}:
 * {@code build_request_target_port}, {@code build_request_empty_service}) or here ({@code multiple_address_workload}). Not
 * replayed, as zerohop's model cannot express them: {@code build_request_passthrough_svc} and
 * {@code build_request_passthrough_svc_with_waypoint} (no Passthrough Service), {@code build_request_host_network} (two
 * workloads of one address: the registry refuses it), {@code service_ip_families} (a Service has no IP families),
 * {@code build_request_wrong_network}, {@code build_request_double_hbone}, {@code build_request_failover_to_remote} and
 * {@code test_x_forwarded_network_header} (no networks, no network gateways).
 */
class WaypointRequestTest {
    static final String TD = "cluster.local";
    @RegisterExtension
    static final OutboundTest.Loop LOOP = new OutboundTest.Loop(TD);
    static final Workload SOURCE = new Workload("ns", "source-workload", "default", Map.of(), List.of(ip("127.0.0.1"), ip("::1")),
            Workload.Protocol.HBONE, "local-node", TD);
    static final Workload WAYPOINT = new Workload("ns", "waypoint-workload", "waypoint-sa", Map.of("app", "waypoint"),
            List.of(ip("127.0.0.10")), Workload.Protocol.HBONE, "local-node", TD);
    static final Workload WAYPOINT_DUAL = new Workload("ns", "waypoint-workload-dual", "waypoint-sa", Map.of(),
            List.of(ip("127.0.0.11"), ip("ff06::c5")), Workload.Protocol.HBONE, "local-node", TD);
    final PartsFixture f = new PartsFixture();

    static GatewayAddress at(String ip, int port) {
        return new GatewayAddress(ip(ip), null, null, port);
    }

    /** ztunnel's {@code run_build_request_multi}: its three workloads, then {@code workloads} and {@code services}. */
    Outbound.Request build(String from, InetSocketAddress to, List<Workload> workloads, List<Service> services) {
        List<Workload> all = new ArrayList<>(List.of(SOURCE, WAYPOINT, WAYPOINT_DUAL));
        all.addAll(workloads);
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(all, Map.of(), Map.of(), services);
        LocalWorkloads local = new LocalWorkloads(r, "local-node");
        Outbound o = LOOP.outbound(f, local, SpiffeId.parse("spiffe://cluster.local/ns/zerohop/sa/proxy"), false);
        return o.buildRequest(new InetSocketAddress(ip(from), 41000), to);
    }

    static InetSocketAddress sa(String ip, int port) {
        return new InetSocketAddress(ip(ip), port);
    }

    static Workload myPod(GatewayAddress waypoint, String... addresses) {
        List<InetAddress> a = new ArrayList<>();
        for (String s : addresses) {
            a.add(ip(s));
        }
        return new Workload("default", "my-pod", "default", Map.of(), a, Workload.Protocol.TCP, null, TD).withWaypoint(waypoint);
    }

    /** The HBONE request's dial, CONNECT authority and required identity. */
    static void assertHbone(Outbound.Request r, String dial, InetSocketAddress authority, SpiffeId identity) {
        assertThat(r).isInstanceOf(Outbound.Request.Hbone.class);
        Outbound.Request.Hbone h = (Outbound.Request.Hbone) r;
        Route route = h.route();
        assertThat(io.zerohop.core.Addresses.authority(route.hboneAddress())).as("dialled (actual_destination)").isEqualTo(dial);
        assertThat(h.target()).as("CONNECT authority (hbone_target_destination)").isEqualTo(authority);
        assertThat(route.expectedIdentities()).as("upstream_sans").isEqualTo(Set.of(identity));
    }

    @Test
    @DisplayName("ztunnel build_request_destination_waypoint: a TCP workload with a waypoint is HBONE to 127.0.0.10:15008, authority 127.0.0.2:80")
    void buildRequestDestinationWaypoint() {
        Outbound.Request r = build("127.0.0.1", sa("127.0.0.2", 80), List.of(myPod(at("127.0.0.10", 15008), "127.0.0.2")), List.of());
        assertHbone(r, "127.0.0.10:15008", sa("127.0.0.2", 80), WAYPOINT.identity());
        // ztunnel's build_forwarded: a workload-addressed request names no Service (intended_destination_service None).
        assertThat(((Outbound.Request.Hbone) r).route().headers().get("forwarded")).doesNotContain("host=");
    }

    @Test
    @DisplayName("ztunnel build_request_destination_waypoint_mismatch_ip: an IPv6 destination through an IPv4 waypoint address")
    void buildRequestDestinationWaypointMismatchIp() {
        Outbound.Request r = build("127.0.0.1", sa("ff06::c3", 80),
                List.of(myPod(at("127.0.0.11", 15008), "127.0.0.2", "ff06::c3")), List.of());
        assertHbone(r, "127.0.0.11:15008", sa("ff06::c3", 80), WAYPOINT_DUAL.identity());
    }

    @Test
    @DisplayName("ztunnel build_request_destination_svc_waypoint: a VIP with a waypoint is HBONE to it, authority the VIP:port")
    void buildRequestDestinationSvcWaypoint() {
        Service svc = new Service("default", "svc", "svc.default.svc.cluster.local", List.of(ip("127.0.0.3")),
                List.of(Service.Port.of(80, 8080)), null, at("127.0.0.10", 15008));
        Outbound.Request r = build("127.0.0.1", sa("127.0.0.3", 80), List.of(), List.of(svc));
        assertHbone(r, "127.0.0.10:15008", sa("127.0.0.3", 80), WAYPOINT.identity());
        // ztunnel's build_forwarded with intended_destination_service: the Service, not the waypoint's.
        assertThat(((Outbound.Request.Hbone) r).route().headers().get("forwarded"))
                .isEqualTo("for=\"127.0.0.1:41000\";host=svc.default.svc.cluster.local");
    }

    @Test
    @DisplayName("ztunnel build_request_source_waypoint: a waypoint of the source is not used")
    void buildRequestSourceWaypoint() {
        // From my-pod (which has a waypoint) to the source workload (which has none): direct, as ztunnel.
        Outbound.Request r = build("127.0.0.2", sa("127.0.0.1", 80), List.of(myPod(at("127.0.0.10", 15008), "127.0.0.2")), List.of());
        assertHbone(r, "127.0.0.1:15008", null, SOURCE.identity());
    }

    @Test
    @DisplayName("ztunnel build_request_empty_service: a VIP without endpoints nor waypoint is refused (no request)")
    void buildRequestEmptyService() {
        Service svc = new Service("default", "svc", "svc.default.svc.cluster.local", List.of(ip("127.0.0.3")),
                List.of(Service.Port.of(80, 8080)));
        assertThat(build("127.0.0.1", sa("127.0.0.3", 80), List.of(), List.of(svc))).isInstanceOf(Outbound.Request.Refused.class);
    }

    @Test
    @DisplayName("check_from_waypoint: the waypoint's own connection to the workload goes direct (its identity and address)")
    void theWaypointItselfGoesDirect() {
        Workload dst = new Workload("default", "my-pod", "default", Map.of(), List.of(ip("127.0.0.2")), Workload.Protocol.HBONE,
                "local-node", TD).withWaypoint(at("127.0.0.10", 15008));
        Outbound.Request r = build("127.0.0.10", sa("127.0.0.2", 80), List.of(dst), List.of());
        assertHbone(r, "127.0.0.2:15008", null, dst.identity());
        // Another source of the waypoint's identity at another address is no waypoint: through it.
        Workload twin = new Workload("ns", "twin", "waypoint-sa", Map.of(), List.of(ip("127.0.0.20")), Workload.Protocol.HBONE,
                "local-node", TD);
        assertHbone(build("127.0.0.20", sa("127.0.0.2", 80), List.of(dst, twin), List.of()), "127.0.0.10:15008",
                sa("127.0.0.2", 80), WAYPOINT.identity());
    }

    @Test
    @DisplayName("a VIP-addressed connection does not take its endpoint's workload waypoint (ztunnel: service.is_none())")
    void aServiceWithoutWaypointDoesNotTakeItsEndpointsWaypoint() {
        Workload ep = new Workload("default", "my-pod", "default", Map.of(), List.of(ip("127.0.0.2")), Workload.Protocol.HBONE,
                "local-node", TD, Map.of(), null, null, List.of(new WorkloadService("svc", "default", "svc.default.svc.cluster.local",
                Set.of(8080))), at("127.0.0.10", 15008));
        Service svc = new Service("default", "svc", "svc.default.svc.cluster.local", List.of(ip("127.0.0.3")),
                List.of(Service.Port.of(80, 8080)));
        assertHbone(build("127.0.0.1", sa("127.0.0.3", 80), List.of(ep), List.of(svc)), "127.0.0.2:15008", sa("127.0.0.2", 8080),
                ep.identity());
    }

    @Test
    @DisplayName("fetch_waypoint by hostname: the waypoint Service's endpoint, on its target port, of the destination's family")
    void aWaypointByHostnameIsItsServicesEndpoint() {
        Workload wp = WAYPOINT_DUAL;
        Workload wpEp = new Workload(wp.namespace(), wp.name(), wp.serviceAccount(), wp.labels(), wp.addresses(), wp.protocol(),
                wp.node(), TD, Map.of(), null, null, List.of(new WorkloadService("waypoint", "ns", "waypoint.ns.svc.cluster.local",
                Set.of(15009))));
        Service waypointSvc = new Service("ns", "waypoint", "waypoint.ns.svc.cluster.local", List.of(ip("127.0.0.50")),
                List.of(Service.Port.of(15008, 15009)));
        Workload dst = myPod(GatewayAddress.of("ns", "waypoint.ns.svc.cluster.local"), "127.0.0.2", "ff06::c3");
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(SOURCE, WAYPOINT, wpEp, dst), Map.of(), Map.of(), List.of(waypointSvc));
        Outbound o = LOOP.outbound(f, new LocalWorkloads(r, "local-node"), null, false);
        assertHbone(o.buildRequest(sa("127.0.0.1", 41000), sa("ff06::c3", 80)), "[ff06::c5]:15009", sa("ff06::c3", 80), wp.identity());
        assertHbone(o.buildRequest(sa("127.0.0.1", 41000), sa("127.0.0.2", 80)), "127.0.0.11:15009", sa("127.0.0.2", 80), wp.identity());
    }

    @Test
    @DisplayName("an IPv6 destination through an IPv4-only waypoint: by hostname its IPv4 endpoint (pick_workload_destination's"
            + " find_or_first), by address the IPv4 address given; the CONNECT authority stays the IPv6 target")
    void anIpv6DestinationThroughAnIpv4OnlyWaypoint() {
        Workload wpEp = new Workload(WAYPOINT.namespace(), WAYPOINT.name(), WAYPOINT.serviceAccount(), WAYPOINT.labels(),
                WAYPOINT.addresses(), WAYPOINT.protocol(), WAYPOINT.node(), TD, Map.of(), null, null,
                List.of(new WorkloadService("waypoint", "ns", "waypoint.ns.svc.cluster.local", Set.of(15008))));
        Service waypointSvc = new Service("ns", "waypoint", "waypoint.ns.svc.cluster.local", List.of(ip("127.0.0.50")),
                List.of(Service.Port.of(15008, 15008)));
        for (GatewayAddress gw : List.of(GatewayAddress.of("ns", "waypoint.ns.svc.cluster.local"), at("127.0.0.50", 15008),
                at("127.0.0.10", 15008))) {
            Workload dst = myPod(gw, "127.0.0.2", "ff06::c3");
            WorkloadRegistry r = WorkloadRegistry.empty();
            r.replace(List.of(SOURCE, wpEp, dst), Map.of(), Map.of(), List.of(waypointSvc));
            Outbound o = LOOP.outbound(f, new LocalWorkloads(r, "local-node"), null, false);
            assertHbone(o.buildRequest(sa("::1", 41000), sa("ff06::c3", 80)), "127.0.0.10:15008", sa("ff06::c3", 80),
                    WAYPOINT.identity());
        }
    }

    @Test
    @DisplayName("fetch_waypoint by hostname, no Service of it: the workload of that hostname (find_hostname's fallback),"
            + " dialled on hboneMtlsPort at its address of the destination's family; a Service of the name comes first")
    void aWaypointByHostnameWithoutServiceIsTheWorkloadOfThatHostname() {
        Workload wp = WAYPOINT_DUAL.withHostname("waypoint.example.com");
        GatewayAddress gw = GatewayAddress.of("ns", "waypoint.example.com");
        Workload dst = myPod(gw, "127.0.0.2", "ff06::c3");
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(SOURCE, WAYPOINT, wp, dst), Map.of(), Map.of(), List.of());
        Outbound o = LOOP.outbound(f, new LocalWorkloads(r, "local-node"), null, false);
        // pick_workload_destination_or_resolve: the original family, else the first (ztunnel tests/namespaced.rs
        // service_waypoint_workload_hostname: dst.addr the waypoint pod's IP on 15008, dst.hbone_addr the server).
        assertHbone(o.buildRequest(sa("127.0.0.1", 41000), sa("127.0.0.2", 80)), "127.0.0.11:15008", sa("127.0.0.2", 80), wp.identity());
        assertHbone(o.buildRequest(sa("127.0.0.1", 41000), sa("ff06::c3", 80)), "[ff06::c5]:15008", sa("ff06::c3", 80), wp.identity());
        // check_from_waypoint finds it the same way (fetch_destination → find_hostname): its own connection goes direct.
        assertThat(o.buildRequest(sa("127.0.0.11", 41000), sa("127.0.0.2", 80))).isInstanceOf(Outbound.Request.Passthrough.class);

        // Another namespace's workload of that hostname is not it.
        WorkloadRegistry other = WorkloadRegistry.empty();
        Workload elsewhere = new Workload("elsewhere", wp.name(), wp.serviceAccount(), Map.of(), wp.addresses(), wp.protocol(),
                wp.node(), TD).withHostname("waypoint.example.com");
        other.replace(List.of(SOURCE, WAYPOINT, elsewhere, dst), Map.of(), Map.of(), List.of());
        Outbound.Request refused = LOOP.outbound(f, new LocalWorkloads(other, "local-node"), null, false)
                .buildRequest(sa("127.0.0.1", 41000), sa("127.0.0.2", 80));
        assertThat(refused).isInstanceOf(Outbound.Request.Refused.class);
        assertThat(((Outbound.Request.Refused) refused).error())
                .hasMessageContaining("no service or workload of hostname waypoint.example.com in namespace ns");

        // find_hostname looks a Service up first: with one of that name, its endpoint, not the workload.
        Workload wpEp = new Workload("ns", "waypoint-workload", "waypoint-sa", Map.of("app", "waypoint"), List.of(ip("127.0.0.10")),
                Workload.Protocol.HBONE, "local-node", TD, Map.of(), null, null,
                List.of(new WorkloadService("waypoint", "ns", "waypoint.example.com", Set.of(15008))));
        Service svc = new Service("ns", "waypoint", "waypoint.example.com", List.of(ip("127.0.0.50")), List.of(Service.Port.of(15008, 15008)));
        WorkloadRegistry both = WorkloadRegistry.empty();
        both.replace(List.of(SOURCE, wpEp, wp, dst), Map.of(), Map.of(), List.of(svc));
        assertHbone(LOOP.outbound(f, new LocalWorkloads(both, "local-node"), null, false)
                .buildRequest(sa("127.0.0.1", 41000), sa("127.0.0.2", 80)), "127.0.0.10:15008", sa("127.0.0.2", 80), WAYPOINT.identity());
    }

    @Test
    @DisplayName("ztunnel multiple_address_workload: a TCP workload of two families is passed through to the address dialled")
    void multipleAddressWorkload() {
        Workload w = new Workload("ns", "test-tcp", "default", Map.of(), List.of(ip("127.0.0.2"), ip("ff06::c3")),
                Workload.Protocol.TCP, "remote-node", TD);
        for (InetSocketAddress to : List.of(sa("127.0.0.2", 80), sa("ff06::c3", 80))) {
            Outbound.Request r = build("127.0.0.1", to, List.of(w), List.of());
            assertThat(r).as("%s", to).isInstanceOf(Outbound.Request.Passthrough.class);
            // null: the address dialled, as ztunnel's actual_destination.
            assertThat(((Outbound.Request.Passthrough) r).destination()).as("%s", to).isNull();
        }
    }

    @Test
    @DisplayName("UnknownWaypoint: nothing at the address, no such hostname, no waypoint port: refused, never sent direct")
    void anUnknownWaypointIsRefused() {
        for (GatewayAddress gw : List.of(at("127.0.0.99", 15008), GatewayAddress.of("ns", "missing.ns.svc.cluster.local"))) {
            Outbound.Request r = build("127.0.0.1", sa("127.0.0.2", 80), List.of(myPod(gw, "127.0.0.2")), List.of());
            assertThat(r).as("%s", gw).isInstanceOf(Outbound.Request.Refused.class);
            Outbound.Request.Refused refused = (Outbound.Request.Refused) r;
            // fetch_waypoint's texts: a hostname nothing has is named alone ("waypoint {} not found", host.hostname).
            assertThat(refused.ztunnelError()).isEqualTo("unknown waypoint: waypoint "
                    + (gw.hostname() != null ? gw.hostname() : gw.toString()) + " not found");
            assertThat(refused.error()).isInstanceOf(Mesh.UnknownDestinationException.class)
                    .hasMessageStartingWith("unknown waypoint: waypoint " + gw + " not found (the waypoint of workload default/my-pod): ");
        }
        // A waypoint Service without the HBONE port among its ports (ztunnel's Waypoint mode filters every endpoint).
        Service noPort = new Service("ns", "waypoint", "waypoint.ns.svc.cluster.local", List.of(ip("127.0.0.50")),
                List.of(Service.Port.of(80, 80)));
        Service svc = new Service("default", "svc", "svc.default.svc.cluster.local", List.of(ip("127.0.0.3")),
                List.of(Service.Port.of(80, 8080)), null, at("127.0.0.50", 15008));
        Outbound.Request r = build("127.0.0.1", sa("127.0.0.3", 80), List.of(), List.of(noPort, svc));
        assertThat(r).isInstanceOf(Outbound.Request.Refused.class);
        assertThat(((Outbound.Request.Refused) r).error()).hasMessageContaining("its service ns/waypoint has no port 15008");
        // The port, but no healthy endpoint: likewise refused.
        Service noEndpoint = new Service("ns", "waypoint", "waypoint.ns.svc.cluster.local", List.of(ip("127.0.0.50")),
                List.of(Service.Port.of(15008, 15008)));
        Outbound.Request none = build("127.0.0.1", sa("127.0.0.3", 80), List.of(), List.of(noEndpoint, svc));
        assertThat(none).isInstanceOf(Outbound.Request.Refused.class);
        assertThat(((Outbound.Request.Refused) none).error())
                .hasMessageContaining("its service ns/waypoint has no healthy endpoint with the port its port 15008 targets");
    }
}
