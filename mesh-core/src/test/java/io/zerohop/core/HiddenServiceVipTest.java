package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A VIP whose Services are all {@code visibility: NAMESPACE} in other namespaces than the client's is, for that client,
 * no Service: ztunnel's {@code ServiceStore::get_best_by_vip} filters each out ({@code Service::visible_to},
 * istio/ztunnel src/state/service.rs; its test {@code namespace_visibility_vip}), {@code find_upstream} (src/state.rs)
 * finds no workload at the address, and {@code build_request} (src/proxy/outbound.rs) passes the connection through as
 * for an unknown destination. zerohop keeps that outcome (passed through under {@code passthroughUnknown}, refused
 * without) and names the Services in the refusal: until 7 December it said the VIP "is not a known mesh workload" and
 * sent the operator to add to the registry an address already in it (h406). Real TLS-free sockets on 127.0.218.x,
 * ports 56100-56109: the refused captured connection never reaches the VIP, the passed-through one does.
 */
class HiddenServiceVipTest {
    static final String TD = "cluster.local";
    static final int VIP_PORT = 56101;
    static InetAddress vip;
    static Workload clientA;
    static Workload clientC;
    static Mesh mesh;
    static Mesh passing;
    static InetSocketAddress forward;
    static InetSocketAddress passingForward;
    static ServerSocket trap;
    static final AtomicInteger trapped = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        vip = InetAddress.getByName("127.0.218.100");
        // Plaintext sent to the VIP itself lands here: a passthrough does, a refusal must not.
        trap = new ServerSocket(VIP_PORT, 50, vip);
        Thread t = new Thread(() -> {
            while (!trap.isClosed()) {
                try (Socket c = trap.accept()) {
                    trapped.incrementAndGet();
                    c.getOutputStream().write("vip".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // closed
                }
            }
        }, "vip-trap");
        t.setDaemon(true);
        t.start();
        String host = "api.example.com";
        InetAddress ipA = InetAddress.getByName("127.0.218.2");
        InetAddress ipB = InetAddress.getByName("127.0.218.3");
        Workload endpointA = new Workload("a", "api-a", "api", Map.of(), List.of(ipA), Workload.Protocol.HBONE, "na", TD,
                Map.of(), Map.of(), null, List.of(new WorkloadService("api", "a", host, Set.of(8080))));
        Workload endpointB = new Workload("b", "api-b", "api", Map.of(), List.of(ipB), Workload.Protocol.HBONE, "nb", TD,
                Map.of(), Map.of(), null, List.of(new WorkloadService("api", "b", host, Set.of(8080))));
        clientA = client("a", "127.0.218.10");
        clientC = client("c", "127.0.218.12");
        List<Service> services = List.of(
                new Service("a", "api", host, List.of(vip), List.of(Service.Port.of(VIP_PORT, 8080))).withVisibility(Service.Visibility.NAMESPACE),
                new Service("b", "api", host, List.of(vip), List.of(Service.Port.of(VIP_PORT, 8080))).withVisibility(Service.Visibility.NAMESPACE));
        WorkloadRegistry registry = WorkloadRegistry.empty();
        registry.replace(List.of(endpointA, endpointB, clientA, clientC),
                Map.of("na", new InetSocketAddress(ipA, 56102), "nb", new InetSocketAddress(ipB, 56102)), Map.of(), services);
        mesh = Mesh.builder().identityProvider(ca).identity(SpiffeIds.istio(TD, "mesh", "proxy")).workloads(registry)
                .threads(1).build();
        forward = mesh.capture(Capture.forward(new InetSocketAddress("127.0.218.1", 56103), new InetSocketAddress(vip, VIP_PORT)));
        passing = Mesh.builder().identityProvider(ca).identity(SpiffeIds.istio(TD, "mesh", "proxy")).workloads(registry)
                .passthroughUnknown(true).threads(1).build();
        passingForward = passing.capture(Capture.forward(new InetSocketAddress("127.0.218.1", 56104),
                new InetSocketAddress(vip, VIP_PORT)));
    }

    static Workload client(String ns, String ip) throws IOException {
        return new Workload(ns, "client-" + ns, "client", Map.of(), List.of(InetAddress.getByName(ip)),
                Workload.Protocol.HBONE, null, TD, Map.of(), Map.of(), null, List.of());
    }

    @AfterAll
    static void stop() throws IOException {
        mesh.close();
        passing.close();
        trap.close();
    }

    /**
     * What a connection from {@code source}'s address through {@code via} reads before its end, a FIN or a reset (a
     * refused captured connection is reset: CaptureListener resets the connections it refuses).
     */
    static String captured(Workload source, InetSocketAddress via) throws Exception {
        java.io.ByteArrayOutputStream read = new java.io.ByteArrayOutputStream();
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(source.addresses().get(0), 0));
            s.connect(via, 10_000);
            s.setSoTimeout(10_000);
            byte[] buf = new byte[256];
            for (int n; (n = s.getInputStream().read(buf)) > 0; ) {
                read.write(buf, 0, n);
            }
        } catch (java.net.SocketException reset) {
            // the end of a refused connection
        }
        return read.toString(java.nio.charset.StandardCharsets.US_ASCII);
    }

    static final String NAMED = "127.0.218.100:" + VIP_PORT + " is a VIP of services a/api, b/api, each visible only to its"
            + " own namespace (visibility: NAMESPACE), not to a client in namespace c: no Service and no known mesh"
            + " workload for it; its identity cannot be verified (make one of them visibility: PUBLIC, or ";

    @Test
    void aCapturedClientOfAThirdNamespaceIsRefusedNamingTheHiddenServices() throws Exception {
        int before = trapped.get();
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(captured(clientC, forward)).as("refused: closed before any byte").isEmpty();
            String line = err.awaitLine("-> 127.0.218.100:" + VIP_PORT + " (no workload) refused: ");
            assertThat(line).contains("destination " + NAMED + "relay such destinations as plain TCP, as ztunnel does:"
                    + " zerohop proxy --passthrough-unknown, Mesh.Builder.passthroughUnknown(true))");
            assertThat(line).doesNotContain("add it to the workload registry");
        }
        assertThat(trapped.get()).as("nothing sent to the VIP").isEqualTo(before);
    }

    @Test
    void aLibraryCallerOfAThirdNamespaceIsRefusedNamingTheHiddenServices() {
        InetSocketAddress target = new InetSocketAddress(vip, VIP_PORT);
        assertThatThrownBy(() -> mesh.connect(clientC.identity(), target).get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class).cause().isInstanceOf(Mesh.UnknownDestinationException.class)
                .hasMessage("destination " + NAMED + "pass an explicit Route)");
        assertThatThrownBy(() -> mesh.socketFactory(clientC.identity()).createSocket(vip, VIP_PORT).close())
                .hasRootCauseMessage("destination " + NAMED + "pass an explicit Route)");
    }

    /** ztunnel's outcome, unchanged: with passthrough on, the hidden VIP is an unknown destination, relayed as plain TCP. */
    @Test
    void withPassthroughTheHiddenVipIsRelayedAsPlainTcpAsZtunnelDoes() throws Exception {
        int before = trapped.get();
        assertThat(captured(clientC, passingForward)).isEqualTo("vip");
        assertThat(trapped.get()).isEqualTo(before + 1);
    }
}
