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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two Services of one hostname and one VIP in namespaces {@code a} and {@code b} (two teams' ServiceEntries of
 * {@code api.example.com}, the egress pattern istio/ztunnel src/state/service.rs {@code ServiceStore.by_vip} / {@code by_host}
 * hold "Multiple services in different namespaces may share the same VIP"), each with an endpoint of its own, over real
 * TLS and HBONE on loopback (127.0.208.x, ports 54200-54209). A client in {@code a} reaches {@code a}'s endpoint and one in
 * {@code b} {@code b}'s (ztunnel's {@code find_upstream}: {@code get_best_by_vip} with the source workload's namespace);
 * one in {@code c}, where neither Service is and neither is canonical, reaches the first installed, {@code a}'s
 * ({@code ServiceMatch::find_best_match}: {@code First}, ztunnel's first in {@code by_vip} order). Until 7 December the
 * registry refused the snapshot ("service address ... claimed by both services a/api and b/api").
 */
class SharedServiceAddressTest {
    static final String TD = "cluster.local";
    static final int APP = 54200;
    static final int VIP_PORT = 54201;
    static final int HBONE = 54202;
    static InMemoryCa ca;
    static InetAddress vip;
    static Workload clientA;
    static Workload clientB;
    static Workload clientC;
    static Workload endpointA;
    static Workload endpointB;
    static Mesh serverA;
    static Mesh serverB;
    static Mesh mesh;
    static final io.micrometer.core.instrument.simple.SimpleMeterRegistry metrics =
            new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    static InetSocketAddress forward;
    static final List<ServerSocket> sockets = new ArrayList<>();
    static final AtomicInteger trapped = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        ca = InMemoryCa.create(TD);
        InetAddress ipA = InetAddress.getByName("127.0.208.2");
        InetAddress ipB = InetAddress.getByName("127.0.208.3");
        vip = InetAddress.getByName("127.0.208.100");
        ServiceVipTest.tagOn(new InetSocketAddress(ipA, APP), "endpoint-a", new AtomicInteger(), sockets);
        ServiceVipTest.tagOn(new InetSocketAddress(ipB, APP), "endpoint-b", new AtomicInteger(), sockets);
        // Traffic sent to the VIP itself, in plaintext, would land here.
        ServerSocket trap = new ServerSocket(VIP_PORT, 50, vip);
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
        String host = "api.example.com";
        WorkloadService inA = new WorkloadService("api", "a", host, Set.of(APP));
        WorkloadService inB = new WorkloadService("api", "b", host, Set.of(APP));
        endpointA = new Workload("a", "api-a", "api", Map.of(), List.of(ipA), Workload.Protocol.HBONE, "na", TD, Map.of(),
                Map.of(), null, List.of(inA));
        endpointB = new Workload("b", "api-b", "api", Map.of(), List.of(ipB), Workload.Protocol.HBONE, "nb", TD, Map.of(),
                Map.of(), null, List.of(inB));
        clientA = client("a", "127.0.208.10");
        clientB = client("b", "127.0.208.11");
        clientC = client("c", "127.0.208.12");
        List<Service> services = List.of(
                new Service("a", "api", host, List.of(vip), List.of(Service.Port.of(VIP_PORT, APP))),
                new Service("b", "api", host, List.of(vip), List.of(Service.Port.of(VIP_PORT, APP))));
        WorkloadRegistry registry = WorkloadRegistry.empty();
        registry.replace(List.of(endpointA, endpointB, clientA, clientB, clientC),
                Map.of("na", new InetSocketAddress(ipA, HBONE), "nb", new InetSocketAddress(ipB, HBONE)), Map.of(), services);
        serverA = Mesh.builder().identityProvider(ca).identity(endpointA.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ipA, HBONE)).threads(1).build();
        serverA.start().get(10, TimeUnit.SECONDS);
        serverB = Mesh.builder().identityProvider(ca).identity(endpointB.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ipB, HBONE)).threads(1).build();
        serverB.start().get(10, TimeUnit.SECONDS);
        mesh = Mesh.builder().identityProvider(ca).identity(SpiffeIds.istio(TD, "mesh", "proxy")).workloads(registry)
                .meterRegistry(metrics).threads(2).build();
        forward = mesh.capture(Capture.forward(new InetSocketAddress("127.0.208.1", 54203), new InetSocketAddress(vip, VIP_PORT)));
    }

    static Workload client(String ns, String ip) throws IOException {
        return new Workload(ns, "client-" + ns, "client", Map.of(), List.of(InetAddress.getByName(ip)),
                Workload.Protocol.HBONE, null, TD, Map.of(), Map.of(), null, List.of());
    }

    @AfterAll
    static void stop() throws IOException {
        mesh.close();
        serverA.close();
        serverB.close();
        for (ServerSocket s : sockets) {
            s.close();
        }
    }

    /** What a connection from {@code source}'s address through a forward capture to the shared VIP reads. */
    static String captured(Workload source) throws Exception {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(source.addresses().get(0), 0));
            s.connect(forward, 10_000);
            s.setSoTimeout(10_000);
            return ServiceVipTest.readAll(s);
        }
    }

    @Test
    void aCapturedClientReachesItsOwnNamespacesServiceElseTheFirst() throws Exception {
        int before = trapped.get();
        for (int i = 0; i < 5; i++) {
            assertThat(captured(clientA)).isEqualTo("endpoint-a");
            assertThat(captured(clientB)).isEqualTo("endpoint-b");
            assertThat(captured(clientC)).as("ztunnel's First: a's, installed first").isEqualTo("endpoint-a");
        }
        assertThat(trapped.get()).as("nothing sent to the VIP itself").isEqualTo(before);
        // The source's series name the Service its namespace picked (ztunnel's intended_destination_service), found again
        // from the forwarded host=, which both Services share.
        for (String ns : List.of("a", "b", "c")) {
            assertThat(destinationServiceNamespace(ns)).as("client in " + ns).isEqualTo(ns.equals("b") ? "b" : "a");
        }
    }

    /** The destination_service_namespace of the opened-connections series of the client in {@code sourceNs}. */
    static String destinationServiceNamespace(String sourceNs) throws InterruptedException {
        // Waits for the series to appear (recorded as the tunnel opens); the assertion is on its labels only.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            for (io.micrometer.core.instrument.Counter c : metrics.find("istio.tcp.connections.opened")
                    .tag("source_workload_namespace", sourceNs).tag("destination_service", "api.example.com").counters()) {
                return c.getId().getTag("destination_service_namespace");
            }
            Thread.sleep(20);
        }
        return null;
    }

    /** The library calls pick by the namespace of the caller's own workload ({@code Mesh.connect}, {@code socketFactory}). */
    @Test
    void aLibraryCallerReachesItsOwnNamespacesService() throws Exception {
        InetSocketAddress target = new InetSocketAddress(vip, VIP_PORT);
        for (Workload c : List.of(clientA, clientB, clientC)) {
            Workload expected = c == clientB ? endpointB : endpointA;
            SpiffeId id = c.identity();
            HboneStream s = mesh.connect(id, target).get(20, TimeUnit.SECONDS);
            try {
                assertThat(s.info().destination()).as(c.toString()).isEqualTo(new InetSocketAddress(expected.addresses().get(0), APP));
                assertThat(s.info().peerIdentity()).isEqualTo(expected.identity());
            } finally {
                s.close();
            }
            try (Socket s2 = mesh.socketFactory(id).createSocket(vip, VIP_PORT)) {
                s2.setSoTimeout(10_000);
                s2.getOutputStream().write('x');
                assertThat(new String(s2.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).as(c.toString())
                        .isEqualTo(expected == endpointA ? "endpoint-a" : "endpoint-b");
            }
        }
    }
}
