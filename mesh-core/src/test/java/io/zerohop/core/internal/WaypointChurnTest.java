package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.WorkloadService;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Waypoints named by hostname (how mesh-kubernetes names every waypoint: istiod's {@code getGatewayAddress} prefers the
 * Service hostname) while the registry is replaced with new Service instances, as mesh-kubernetes replaces it on every
 * pod change. ztunnel's {@code fetch_waypoint} and {@code check_gateway_address} read one state under its lock; zerohop
 * reads the Service of the hostname, then its endpoints, from the registry's snapshot of each moment. The decisions must
 * not depend on a replace falling between the two: every request below has one right answer, and each is counted.
 */
class WaypointChurnTest {
    static final String TD = "cluster.local";
    static final GatewayAddress BY_HOSTNAME = GatewayAddress.of("ns", "waypoint.ns.svc.cluster.local");
    static final Workload SOURCE = new Workload("ns", "source", "default", Map.of(), List.of(ip("127.0.0.1")),
            Workload.Protocol.HBONE, "local-node", TD);
    static final Workload WAYPOINT = new Workload("ns", "waypoint", "waypoint", Map.of(), List.of(ip("127.0.0.10")),
            Workload.Protocol.HBONE, "local-node", TD, Map.of(), null, null,
            List.of(new WorkloadService("waypoint", "ns", "waypoint.ns.svc.cluster.local", Set.of(15008))));
    static final Workload DST = new Workload("ns", "dst", "dst", Map.of(), List.of(ip("127.0.0.2")), Workload.Protocol.HBONE,
            "local-node", TD).withWaypoint(BY_HOSTNAME);
    @RegisterExtension
    static final OutboundTest.Loop LOOP = new OutboundTest.Loop(TD);
    final PartsFixture f = new PartsFixture();

    /** New instances of the waypoint's Service and the destination's, equal to the last ones (a pod elsewhere changed). */
    static List<Service> services() {
        return List.of(new Service("ns", "waypoint", "waypoint.ns.svc.cluster.local", List.of(ip("127.0.0.50")),
                        List.of(Service.Port.of(15008, 15008))),
                new Service("ns", "dst", "dst.ns.svc.cluster.local", List.of(ip("127.0.0.3")), List.of(Service.Port.of(80, 8080)),
                        null, BY_HOSTNAME));
    }

    @Test
    @DisplayName("while Services are replaced: a VIP and a workload with a hostname waypoint always go to it (never"
            + " 'unknown waypoint'), and the waypoint's own connection to the workload always goes direct (check_from_waypoint)")
    void decisionsHoldWhileServicesAreReplaced() throws Exception {
        WorkloadRegistry r = WorkloadRegistry.empty();
        List<Workload> workloads = List.of(SOURCE, WAYPOINT, DST);
        r.replace(workloads, Map.of(), Map.of(), services());
        Outbound o = LOOP.outbound(f, new LocalWorkloads(r, "local-node"), null, false);
        AtomicBoolean stop = new AtomicBoolean();
        Thread churn = new Thread(() -> {
            while (!stop.get()) {
                r.replace(workloads, Map.of(), Map.of(), services());
            }
        }, "churn");
        churn.setDaemon(true);
        churn.start();
        Map<String, Integer> wrong = new TreeMap<>();
        try {
            for (int i = 0; i < 100_000; i++) {
                count(wrong, "VIP", o.buildRequest(new InetSocketAddress(ip("127.0.0.1"), 41000),
                        new InetSocketAddress(ip("127.0.0.3"), 80)), "127.0.0.10");
                count(wrong, "workload", o.buildRequest(new InetSocketAddress(ip("127.0.0.1"), 41000),
                        new InetSocketAddress(ip("127.0.0.2"), 80)), "127.0.0.10");
                count(wrong, "from the waypoint", o.buildRequest(new InetSocketAddress(ip("127.0.0.10"), 41000),
                        new InetSocketAddress(ip("127.0.0.2"), 80)), "127.0.0.2");
            }
        } finally {
            stop.set(true);
            churn.join();
        }
        assertThat(wrong).as("requests decided otherwise, of 100000 each").isEmpty();
    }

    /** Counts {@code r} under {@code what} unless it is HBONE dialled at {@code dialled}. */
    static void count(Map<String, Integer> wrong, String what, Outbound.Request r, String dialled) {
        String got = r instanceof Outbound.Request.Hbone h ? h.route().hboneAddress().getAddress().getHostAddress()
                : r instanceof Outbound.Request.Refused x ? x.error().getMessage() : r.toString();
        if (!got.equals(dialled)) {
            wrong.merge(what + " -> " + (got.startsWith("127.") ? got : got.replaceAll(" \\(.*", "")), 1, Integer::sum);
        }
    }
}
