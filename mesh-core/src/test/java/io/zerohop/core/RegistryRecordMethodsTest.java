package io.zerohop.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.zerohop.testing.netty.RecordMethods;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The registry's records, which mesh-kubernetes compares on every rebuild, have {@code equals} and {@code hashCode}
 * written out (no {@code ObjectMethods} bootstrap in a proxy, benchmarks/results/records-48bf3ae2.md) and still mean
 * what the generated ones mean: equal exactly when every component is, null components included.
 */
class RegistryRecordMethodsTest {
    /** Another valid value: a name with a letter more, a collection with one element less, the other flag. */
    private static final UnaryOperator<Object> VALID_OTHER = v -> {
        if (v instanceof String s) {
            return s + "x";
        }
        if (v instanceof List<?> l) {
            return List.copyOf(l.subList(1, l.size()));
        }
        if (v instanceof Set<?> s) {
            Set<Object> less = new HashSet<>(s);
            less.remove(s.iterator().next());
            return less;
        }
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> less = new HashMap<>(m);
            less.remove(m.keySet().iterator().next());
            return less;
        }
        if (v instanceof Boolean b) {
            return !b;
        }
        if (v instanceof GatewayAddress g) {
            return new GatewayAddress(g.address(), g.namespace(), g.hostname(), g.hboneMtlsPort() + 1);
        }
        if (v instanceof Service.LoadBalancing lb) {
            return new Service.LoadBalancing(lb.mode() == Service.LoadBalancing.Mode.STRICT
                    ? Service.LoadBalancing.Mode.FAILOVER : Service.LoadBalancing.Mode.STRICT, lb.scopes());
        }
        return null;
    };

    private static List<InetAddress> two() throws Exception {
        return List.of(InetAddress.getByName("10.0.0.1"), InetAddress.getByName("10.0.0.2"));
    }

    private static WorkloadService member(String name) {
        return new WorkloadService(name, "ns", name + ".ns.svc.cluster.local", Set.of(8080, 8081), true, Map.of(80, 8080, 81, 8081));
    }

    @Test
    void workloadComparesEveryComponentAndBootstrapsNothing() throws Exception {
        Workload w = new Workload("ns", "w", "sa", Map.of("a", "1", "b", "2"), two(), Workload.Protocol.HBONE, "node-a",
                "cluster.local", Map.of(80, AppProtocol.HTTP, 81, AppProtocol.GRPC), Map.of("http", 80, "grpc", 81), "wl",
                List.of(member("s1"), member("s2")), GatewayAddress.of("ns", "waypoint.ns.svc.cluster.local"), "db.example.com");
        RecordMethods.assertComponentWise(w, VALID_OTHER);
        RecordMethods.assertNoObjectMethods(Workload.class);
        // Null components where the constructor keeps them: a plaintext workload of unknown identity, no node, no named ports.
        Workload nulls = new Workload("ns", "w", null, null, null, Workload.Protocol.TCP, null, "cluster.local", null, null);
        Workload nullsToo = new Workload("ns", "w", null, null, null, Workload.Protocol.TCP, null, "cluster.local", null, null);
        assertEquals(nulls, nullsToo);
        assertEquals(nulls.hashCode(), nullsToo.hashCode());
        Workload withNode = new Workload("ns", "w", null, null, null, Workload.Protocol.TCP, "node-a", "cluster.local", null, null);
        assertNotEquals(nulls, withNode);
        assertNotEquals(withNode, nulls);
        assertNotEquals(nulls, new Workload("ns", "w", "sa", null, null, Workload.Protocol.TCP, null, "cluster.local", null, null));
        assertNotEquals(nulls, new Workload("ns", "w", null, null, null, Workload.Protocol.TCP, null, "cluster.local", null,
                Map.of("http", 80)));
    }

    @Test
    void serviceAndItsPartsCompareEveryComponentAndBootstrapNothing() throws Exception {
        Service.LoadBalancing lb = new Service.LoadBalancing(Service.LoadBalancing.Mode.FAILOVER,
                List.of(Service.LoadBalancing.Scope.REGION, Service.LoadBalancing.Scope.ZONE));
        Service s = new Service("ns", "svc", "svc.ns.svc.cluster.local", two(),
                List.of(new Service.Port(80, 8080, null), new Service.Port(81, 8081, null)), lb,
                GatewayAddress.of(InetAddress.getByName("10.0.0.9")));
        RecordMethods.assertComponentWise(s, VALID_OTHER);
        RecordMethods.assertComponentWise(lb, VALID_OTHER);
        RecordMethods.assertComponentWise(member("s1"), VALID_OTHER);
        for (Class<? extends Record> c : List.of(Service.class, Service.LoadBalancing.class, Service.Port.class, WorkloadService.class,
                GatewayAddress.class)) {
            RecordMethods.assertNoObjectMethods(c);
        }
        Service noPreference = new Service("ns", "svc", "svc.ns.svc.cluster.local", two(), List.of(new Service.Port(80, 8080, null)));
        assertEquals(noPreference, new Service("ns", "svc", "svc.ns.svc.cluster.local", two(), List.of(new Service.Port(80, 8080, null))));
        assertEquals(noPreference.hashCode(),
                new Service("ns", "svc", "svc.ns.svc.cluster.local", two(), List.of(new Service.Port(80, 8080, null))).hashCode());
        assertNotEquals(noPreference, new Service("ns", "svc", "svc.ns.svc.cluster.local", two(), List.of(new Service.Port(80, 8080, null)), lb));
        // A port's components each, in the combinations the constructor accepts (a number or a name, never both).
        List<Service.Port> ports = new ArrayList<>(List.of(new Service.Port(80, 8080, null), new Service.Port(81, 8080, null),
                new Service.Port(80, 8081, null), new Service.Port(80, 0, "http"), new Service.Port(80, 0, "grpc")));
        for (int i = 0; i < ports.size(); i++) {
            Service.Port p = ports.get(i);
            Service.Port copy = new Service.Port(p.port(), p.targetPort(), p.targetPortName());
            assertEquals(p, copy);
            assertEquals(p.hashCode(), copy.hashCode());
            assertEquals("Port[port=" + p.port() + ", targetPort=" + p.targetPort() + ", targetPortName=" + p.targetPortName() + "]",
                    p.toString());
            for (int j = 0; j < ports.size(); j++) {
                if (i != j) {
                    assertNotEquals(p, ports.get(j));
                }
            }
        }
        assertEquals("LoadBalancing[mode=FAILOVER, scopes=[REGION, ZONE]]", lb.toString());
    }
}
