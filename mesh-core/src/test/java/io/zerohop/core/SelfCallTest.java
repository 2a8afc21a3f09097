package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.zerohop.testing.CapturedStderr;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.identity.InMemoryCa;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The proxy never loops into itself (issue 11 item 5), as ztunnel refuses its {@code illegal_ports}
 * (istio/ztunnel src/config.rs: 15008, 15006, 15001 and the SOCKS5 port; checked in
 * src/proxy/inbound.rs {@code find_inbound_upstream} with 503, src/proxy/outbound.rs and
 * src/proxy/inbound_passthrough.rs by dropping the connection).
 */
class SelfCallTest {
    static InetAddress ip;
    static Workload backend;
    static Workload frontend;
    static WorkloadRegistry registry;
    static InMemoryCa ca;
    static Mesh server;
    static Mesh clients;

    @BeforeAll
    static void start() throws Exception {
        ip = InetAddress.getByName("127.0.0.2");
        backend = new Workload("prod", "backend", "backend", Map.of(), List.of(ip), Workload.Protocol.HBONE, "b", "cluster.local");
        frontend = new Workload("prod", "frontend", "frontend", Map.of(), List.of(InetAddress.getByName("127.0.0.3")),
                Workload.Protocol.HBONE, null, "cluster.local");
        ca = InMemoryCa.create("cluster.local");
        registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of());
        server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                .inbound(new InetSocketAddress(ip, 0)).threads(2).build();
        server.start().get(10, TimeUnit.SECONDS);
        registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
        clients = Mesh.builder().identityProvider(ca).workloads(registry).passthroughUnknown(true).threads(2).build();
    }

    @AfterAll
    static void stop() {
        clients.close();
        server.close();
    }

    int connectStatus(int port) {
        Throwable t = catchThrowable(() -> clients.connect(frontend.identity(), new InetSocketAddress(ip, port)).get(10, TimeUnit.SECONDS));
        assertThat(t).as("CONNECT to port " + port).hasCauseInstanceOf(HboneRefusedException.class);
        return ((HboneRefusedException) t.getCause()).status();
    }

    @Test
    void hboneConnectToTheProxysOwnPortsGets503() {
        server.addOwnPort(15020); // what the CLI declares for its metrics listener
        for (int port : new int[] {server.inboundAddress().getPort(), 15008, 15006, 15001, 15080, 15020}) {
            assertThat(connectStatus(port)).as("port " + port).isEqualTo(503);
        }
        assertThat(server.ownPorts()).contains(server.inboundAddress().getPort(), 15008, 15006, 15001, 15080, 15020);
    }

    /** SOCKS5 capture with passthrough on: asking for the listener's own address is dropped, not relayed to itself. */
    @Test
    void aCapturedConnectionToTheListenerItselfIsDropped() throws Exception {
        InetSocketAddress socks = clients.capture(Capture.socks5(new InetSocketAddress("127.0.0.1", 0)));
        try (CapturedStderr err = new CapturedStderr();
             Socket s = new Socket(new java.net.Proxy(java.net.Proxy.Type.SOCKS, socks))) {
            Throwable t = catchThrowable(() -> s.connect(socks, 10_000));
            if (t == null) {
                assertThat(readUntilEnd(s.getInputStream())).isNotEqualTo("data");
            }
            // The SOCKS5 reply (or the reset) comes after every line about the refusal: counting now is not early.
            String line = err.awaitLine("self call ", " -> " + Addresses.authority(socks) + " (", ") dropped: one of this proxy's own ports");
            assertThat(line).contains("WARN").contains(" (no identity) -> ")
                    // What claimed the port (newuser17: the outbound line named no listener): here the SOCKS5 listener itself.
                    .endsWith("dropped: one of this proxy's own ports (a listener of this proxy on that address)");
            assertThat(err.count("self call")).as("one refusal, no loop, one line (not a WARN and an INFO)").isEqualTo(1);
            assertThat(err.count("refused")).as("the capture listener does not log it again").isZero();
        }
    }

    /**
     * The reported loop: a connection made straight to the TPROXY listener has the listener's own
     * address as its original destination; with passthrough on it was relayed to itself until file
     * descriptors ran out. Needs epoll and CAP_NET_ADMIN (IP_TRANSPARENT), as CI has.
     */
    @Test
    void aConnectionStraightToTheTransparentListenerIsDropped() throws Exception {
        InetSocketAddress t;
        try {
            t = clients.capture(Capture.transparent(new InetSocketAddress("127.0.0.1", 0)));
        } catch (RuntimeException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "transparent capture unavailable here: " + e.getMessage());
            return;
        }
        try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(t.getAddress(), t.getPort())) {
            s.setSoTimeout(10_000);
            assertThat(readUntilEnd(s.getInputStream())).isNotEqualTo("data");
            err.awaitLine("self call ", " -> " + Addresses.authority(t) + " (", ") dropped: one of this proxy's own ports");
            assertThat(err.count("self call")).as("one refusal, no loop, one line").isEqualTo(1);
            assertThat(err.count("refused")).as("the capture listener does not log it again").isZero();
        }
    }

    /** A forward capture whose target is the listener's own port on this host: dropped too. */
    @Test
    void aForwardToTheCaptureListenerItselfIsDropped() throws Exception {
        InetSocketAddress p = clients.plaintextInbound(Capture.forward(new InetSocketAddress("127.0.0.2", 0),
                new InetSocketAddress(ip, 15006)));
        try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(p.getAddress(), p.getPort())) {
            s.setSoTimeout(10_000);
            assertThat(readUntilEnd(s.getInputStream())).isNotEqualTo("data");
            // The access line (PlaintextEarlyDenyLineTest), both ends as a refusal of plaintext names them: no identity on
            // the plaintext side, the backend's at 127.0.0.2; the WARN it replaces is DEBUG.
            String line = err.awaitLine("access - plaintext-inbound refused src=" + Addresses.authority((InetSocketAddress) s.getLocalSocketAddress()));
            assertThat(line).endsWith(" src_id=- src_workload=- dst=" + Addresses.authority(new InetSocketAddress(ip, 15006)) + " dst_id=" + backend.identity()
                    + " status=- reason=\"self call: one of this proxy's own ports (one of ztunnel's fixed ports, 15008, 15006, 15001 and 15080)\"");
            assertThat(err.count("self call")).as("one line (not a WARN and an INFO)").isEqualTo(1);
            assertThat(err.count("refused")).as("the capture listener does not log it again").isEqualTo(1);
        }
    }

    /**
     * The CI failure of 1 December: a listener bound on port 0 got, from the kernel, the number an
     * application had on another loopback address, and every connection to that application was
     * dropped as a self call. A late-bound listener is now ours at its own address only: here the
     * application on 127.0.0.2 shares the number of a SOCKS5 capture on 127.0.0.1 (outbound check)
     * and of the server's admin endpoint on 127.0.0.1 (inbound check), and both paths reach it.
     */
    @Test
    void anAppSharingALateBoundListenersNumberOnAnotherAddressIsReached() throws Exception {
        try (Mesh asFrontend = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build()) {
            reachesAppsSharingLateBoundNumbers(asFrontend);
        }
    }

    void reachesAppsSharingLateBoundNumbers(Mesh asFrontend) throws Exception {
        while (true) {
            InetSocketAddress socks = asFrontend.capture(Capture.socks5(new InetSocketAddress("127.0.0.1", 0)));
            InetSocketAddress admin = server.serveHttp(new InetSocketAddress("127.0.0.1", 0), Map.of());
            java.net.ServerSocket app1;
            java.net.ServerSocket app2;
            try {
                app1 = new java.net.ServerSocket(socks.getPort(), 50, ip);
            } catch (java.net.BindException e) {
                continue; // the number is taken on 127.0.0.2 as well; draw another
            }
            try {
                app2 = new java.net.ServerSocket(admin.getPort(), 50, ip);
            } catch (java.net.BindException e) {
                app1.close();
                continue;
            }
            try (app1; app2) {
                assertThat(answer(app1, () -> {
                    Socket s = new Socket(new java.net.Proxy(java.net.Proxy.Type.SOCKS, socks));
                    s.connect(new InetSocketAddress(ip, socks.getPort()), 10_000);
                    return s;
                })).as("outbound through the capture on %s to %s:%d", socks, ip, socks.getPort()).isEqualTo("hi");
                assertThat(answer(app2, () -> clients.socketFactory(frontend.identity()).createSocket(ip, admin.getPort())))
                        .as("HBONE CONNECT to %s:%d", ip, admin.getPort()).isEqualTo("hi");
                assertThat(connectStatus(server.inboundAddress().getPort())).as("the listener itself still is one").isEqualTo(503);
            }
            return;
        }
    }

    interface Dial {
        Socket open() throws Exception;
    }

    /** Accepts one connection on {@code app} while {@code dial} opens one, and returns what the app wrote ("hi"), as read back. */
    static String answer(java.net.ServerSocket app, Dial dial) throws Exception {
        app.setSoTimeout(10_000);
        try (Socket client = dial.open()) {
            client.setSoTimeout(10_000);
            try (Socket served = app.accept()) {
                served.getOutputStream().write("hi".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                served.shutdownOutput();
                return new String(client.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
            }
        }
    }

    static String readUntilEnd(InputStream in) {
        try {
            return in.read() < 0 ? "eof" : "data";
        } catch (IOException e) {
            return "reset";
        }
    }
}
