package io.zerohop.core.internal;

import static io.zerohop.core.internal.PartsFixture.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.WorkloadService;
import io.zerohop.hbone.TunnelInfo;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The source's labels and access line of a tunnel sent through a waypoint, as ztunnel reports them
 * (istio/ztunnel src/proxy/outbound.rs {@code build_request}, {@code conn_metrics_from_request}; src/proxy/metrics.rs
 * {@code ConnectionResultBuilder}): the destination workload and principal the waypoint's
 * ({@code actual_destination_workload}), {@code destination_service} the Service dialled
 * ({@code intended_destination_service}, none for a workload's waypoint), {@code dst.addr} the waypoint's address and
 * {@code dst.hbone_addr} the original target.
 */
class WaypointLabelsTest {
    static final String TD = "cluster.local";
    static final GatewayAddress VIA = GatewayAddress.of(ip("10.0.0.10"));
    static final Workload WAYPOINT = new Workload("prod", "waypoint-6c8f9d-abcde", "waypoint", Map.of(), List.of(ip("10.0.0.10")),
            Workload.Protocol.HBONE, null, TD, Map.of(), null, "waypoint", null);
    static final Workload BACKEND = new Workload("prod", "backend-1", "backend", Map.of("app", "backend"), List.of(ip("10.0.1.2")),
            Workload.Protocol.HBONE, null, TD, Map.of(), null, "backend", List.of(new WorkloadService("backend", "prod",
            "backend.prod.svc.cluster.local", Set.of(8080))), VIA);
    static final Service SVC = new Service("prod", "backend", "backend.prod.svc.cluster.local", List.of(ip("10.96.0.20")),
            List.of(Service.Port.of(80, 8080)), null, VIA);
    static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/client");

    static TunnelObserver observer() {
        WorkloadRegistry r = WorkloadRegistry.empty();
        r.replace(List.of(WAYPOINT, BACKEND), Map.of(), Map.of(), List.of(SVC));
        return new TunnelObserver(r, null, null);
    }

    static TunnelInfo outbound(SpiffeId peer, String hbone, InetSocketAddress target, String forwarded) {
        return new TunnelInfo(TunnelInfo.Direction.OUTBOUND, CLIENT, peer, new InetSocketAddress("10.0.0.3", 40000),
                new InetSocketAddress(ip(hbone), 15008), target, forwarded == null ? Map.of() : Map.of("forwarded", forwarded));
    }

    @Test
    void aVipThroughItsServicesWaypointNamesTheWaypointAndTheService() {
        InetSocketAddress vip = new InetSocketAddress(ip("10.96.0.20"), 80);
        TrafficLabels l = observer().labels(outbound(WAYPOINT.identity(), "10.0.0.10", vip,
                "for=\"10.0.0.3:5000\";host=backend.prod.svc.cluster.local"));
        assertThat(l.destinationWorkload()).isEqualTo("waypoint");
        assertThat(l.destinationPod()).isEqualTo("waypoint-6c8f9d-abcde");
        assertThat(l.destinationPrincipal()).isEqualTo(WAYPOINT.identity().toString());
        assertThat(l.destinationService()).isEqualTo("backend.prod.svc.cluster.local");
        String line = ZtunnelAccessLog.complete("10.0.0.3:5000", l, "10.0.0.10:15008", "10.96.0.20:80", true, true, 1, 2,
                Duration.ofMillis(3), null).text("info", "T");
        assertThat(line).contains(" dst.addr=10.0.0.10:15008 dst.hbone_addr=10.96.0.20:80 dst.service=\"backend.prod.svc.cluster.local\""
                + " dst.workload=\"waypoint-6c8f9d-abcde\" ");
    }

    @Test
    void aWorkloadThroughItsWaypointNamesTheWaypointAndNoService() {
        TrafficLabels l = observer().labels(outbound(WAYPOINT.identity(), "10.0.0.10", new InetSocketAddress(ip("10.0.1.2"), 8080),
                "for=\"10.0.0.3:5000\""));
        assertThat(l.destinationWorkload()).isEqualTo("waypoint");
        assertThat(l.destinationService()).isEqualTo(TrafficLabels.UNKNOWN);
    }

    @Test
    void theSameTargetDialledDirectlyNamesItself() {
        // The waypoint's own tunnel to the backend (check_from_waypoint): its destination is the backend.
        TrafficLabels l = observer().labels(outbound(BACKEND.identity(), "10.0.1.2", new InetSocketAddress(ip("10.0.1.2"), 8080), null));
        assertThat(l.destinationWorkload()).isEqualTo("backend");
        assertThat(l.destinationPrincipal()).isEqualTo(BACKEND.identity().toString());
    }
}
