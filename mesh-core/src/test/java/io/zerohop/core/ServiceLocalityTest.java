package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A {@code trafficDistribution: PreferClose} Service end to end, over real TLS and HBONE on loopback (127.0.152.x): two
 * endpoints in zones z1 and z2, each behind a proxy of its own, and a source workload in z1. Every connection to the
 * VIP goes to the z1 endpoint (istiod's FAILOVER [NETWORK, REGION, ZONE], ztunnel's {@code load_balance}: only the best
 * rank is eligible), from {@code Mesh.connect} (the one local workload of the source identity) and from a captured
 * connection (the workload at the source address) alike; with the z1 endpoint gone, every one goes to z2.
 */
class ServiceLocalityTest {
    static final String TD = "cluster.local";
    static final String ZONE = "topology.kubernetes.io/zone";
    static final String REGION = "topology.kubernetes.io/region";
    static InMemoryCa ca;
    static SpiffeId client;
    static Workload near;
    static Workload far;
    static Workload source;
    static Service svc;
    static WorkloadRegistry registry;
    static Mesh serverNear;
    static Mesh serverFar;
    static Mesh mesh;
    static InetAddress vip;
    static ServerSocket trap;
    static final AtomicInteger trapped = new AtomicInteger();
    static final List<ServerSocket> sockets = new java.util.ArrayList<>();
    static Map<String, InetSocketAddress> nodes;

    @BeforeAll
    static void start() throws Exception {
        ca = InMemoryCa.create(TD);
        client = SpiffeIds.istio(TD, "prod", "client");
        InetAddress ipNear = InetAddress.getByName("127.0.152.2");
        InetAddress ipFar = InetAddress.getByName("127.0.152.3");
        InetAddress ipSource = InetAddress.getByName("127.0.152.10");
        vip = InetAddress.getByName("127.0.152.100");
        ServerSocket appNear = tagOn(ipNear, "near");
        ServerSocket appFar = tagOn(ipFar, "far");
        trap = new ServerSocket(0, 50, vip);
        sockets.add(trap);
        Thread t = new Thread(() -> {
            while (!trap.isClosed()) {
                try (Socket c = trap.accept()) {
                    trapped.incrementAndGet();
                } catch (IOException e) {
                    // closed
                }
            }
        }, "vip-trap");
        t.setDaemon(true);
        t.start();
        WorkloadService web = new WorkloadService("web", "prod", "web.prod.svc.cluster.local", Set.of());
        near = new Workload("prod", "web-near", "web-near", Map.of("app", "web", REGION, "r1", ZONE, "z1"), List.of(ipNear),
                Workload.Protocol.HBONE, "a", TD, Map.of(), Map.of("http", appNear.getLocalPort()), null, List.of(web));
        far = new Workload("prod", "web-far", "web-far", Map.of("app", "web", REGION, "r1", ZONE, "z2"), List.of(ipFar),
                Workload.Protocol.HBONE, "b", TD, Map.of(), Map.of("http", appFar.getLocalPort()), null, List.of(web));
        source = new Workload("prod", "client", "client", Map.of("app", "client", REGION, "r1", ZONE, "z1"), List.of(ipSource),
                Workload.Protocol.HBONE, null, TD);
        svc = new Service("prod", "web", "web.prod.svc.cluster.local", List.of(vip),
                List.of(Service.Port.named(trap.getLocalPort(), "http")), Service.LoadBalancing.ofTrafficDistribution("PreferClose"));
        registry = WorkloadRegistry.empty();
        registry.replace(List.of(near, far, source), Map.of(), Map.of(), List.of(svc));
        serverNear = Mesh.builder().identityProvider(ca).identity(near.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ipNear, 0)).threads(1).build();
        serverNear.start().get(10, TimeUnit.SECONDS);
        serverFar = Mesh.builder().identityProvider(ca).identity(far.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ipFar, 0)).threads(1).build();
        serverFar.start().get(10, TimeUnit.SECONDS);
        nodes = Map.of("a", serverNear.inboundAddress(), "b", serverFar.inboundAddress());
        registry.replace(List.of(near, far, source), nodes);
        mesh = Mesh.builder().identityProvider(ca).identity(client).workloads(registry).threads(2).build();
    }

    @AfterAll
    static void stop() throws IOException {
        mesh.close();
        serverNear.close();
        serverFar.close();
        for (ServerSocket s : sockets) {
            s.close();
        }
    }

    static ServerSocket tagOn(InetAddress ip, String tag) throws IOException {
        return ServiceVipTest.tagOn(ip, tag, sockets);
    }

    /** The identities {@code n} Mesh.connect tunnels to the VIP reached. */
    static Set<SpiffeId> viaConnect(int n) throws Exception {
        Set<SpiffeId> seen = new HashSet<>();
        for (int i = 0; i < n; i++) {
            HboneStream s = mesh.connect(client, new InetSocketAddress(vip, trap.getLocalPort())).get(20, TimeUnit.SECONDS);
            try {
                seen.add(s.info().peerIdentity());
            } finally {
                s.close();
            }
        }
        return seen;
    }

    /** The tags {@code n} connections from the source workload's address through a forward capture to the VIP read. */
    static Set<String> viaCapture(InetSocketAddress forward, int n) throws Exception {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < n; i++) {
            try (Socket s = new Socket(forward.getAddress(), forward.getPort(), source.addresses().get(0), 0)) {
                s.setSoTimeout(10_000);
                s.getOutputStream().write('x');
                seen.add(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
            }
        }
        return seen;
    }

    @Test
    void everyConnectionGoesToTheSameZoneEndpointAndFailsOverWhenItIsGone() throws Exception {
        InetSocketAddress forward = mesh.capture(Capture.forward(new InetSocketAddress("127.0.0.1", 0),
                new InetSocketAddress(vip, trap.getLocalPort())));
        assertThat(viaConnect(30)).as("Mesh.connect as the z1 workload's identity").containsExactly(near.identity());
        assertThat(viaCapture(forward, 30)).as("captured from the z1 workload").containsExactly("near");
        try {
            // The z1 endpoint's pod gone: the best rank present is z2's (region only).
            registry.replace(List.of(far, source), nodes);
            assertThat(viaConnect(10)).containsExactly(far.identity());
            assertThat(viaCapture(forward, 10)).containsExactly("far");
        } finally {
            registry.replace(List.of(near, far, source), nodes);
        }
        assertThat(viaConnect(10)).as("back").containsExactly(near.identity());
        assertThat(trapped.get()).as("nothing sent to the VIP itself").isZero();
    }

    /** The admin dump shows it as ztunnel's LoadBalancer (serde's names: routingPreferences, mode; variant names). */
    @Test
    void theConfigDumpShowsTheLoadBalancer() throws Exception {
        com.fasterxml.jackson.databind.JsonNode lb = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(mesh.configDump(Map.of())).get("services").get(0).get("loadBalancer");
        assertThat(lb.get("mode").asText()).isEqualTo("Failover");
        assertThat(lb.get("routingPreferences").toString()).isEqualTo("[\"Network\",\"Region\",\"Zone\"]");
    }
}
