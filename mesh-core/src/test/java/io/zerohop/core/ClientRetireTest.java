package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneStream;
import io.zerohop.identity.InMemoryCa;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A node proxy keeps one HBONE client (and pool) per source identity; before, it kept the client of
 * every identity it had ever tunnelled for, for as long as it ran, so a node whose pods come and go
 * (jobs, CI namespaces, rollouts to new service accounts) grew without bound. Now the client of an
 * identity no local workload has any more is dropped once its last connection closed (the idle
 * timeout), as its certificate is ({@link CertFetchTest}); a later tunnel from that identity gets a new
 * client. Real TLS and HBONE on loopback between two node-mode meshes sharing one in-memory CA.
 */
@Timeout(60)
class ClientRetireTest {
    private static final String TD = "cluster.local";

    private static Workload pod(String name, String ip, String node) throws Exception {
        return new Workload("prod", name, name, Map.of("app", name), List.of(InetAddress.getByName(ip)), Workload.Protocol.HBONE, node, TD);
    }

    private static SpiffeId id(String sa) {
        return SpiffeId.parse("spiffe://" + TD + "/ns/prod/sa/" + sa);
    }

    /** Node A (x, y; node n1) and node B (target, an echo app; node n2), one in-memory CA; {@code body} runs against A. */
    private interface TwoNodes {
        void run(Mesh a, WorkloadRegistry registry, InetSocketAddress to) throws Exception;
    }

    private static void withTwoNodes(Duration idleTimeout, TwoNodes body) throws Exception {
        InMemoryCa ca = InMemoryCa.create(TD);
        try (ServerSocket echo = new ServerSocket(0, 50, InetAddress.getByName("127.0.94.20"))) {
            Thread t = new Thread(() -> echoLoop(echo), "echo-app");
            t.setDaemon(true);
            t.start();
            Workload target = pod("target", "127.0.94.20", "n2");
            InetSocketAddress to = new InetSocketAddress(target.addresses().get(0), echo.getLocalPort());
            // B presents target's identity on its one address (as CrossNodeSourceTest's nodes do).
            try (Mesh b = Mesh.builder().identityProvider(ca).identity(target.identity()).workloads(WorkloadRegistry.of(List.of(target), Map.of()))
                    .node("n2").inbound(new InetSocketAddress("127.0.94.2", 0)).threads(1).build()) {
                b.start().get(10, TimeUnit.SECONDS);
                Workload x = pod("x", "127.0.94.10", "n1");
                Workload y = pod("y", "127.0.94.11", "n1");
                WorkloadRegistry registry = WorkloadRegistry.of(List.of(x, y, target), Map.of("n2", b.inboundAddress()));
                try (Mesh a = Mesh.builder().identityProvider(ca).workloads(registry).node("n1").threads(1)
                        .idleTimeout(idleTimeout).build()) {
                    a.start().get(10, TimeUnit.SECONDS);
                    body.run(a, registry, to);
                }
            }
        }
    }

    @Test
    void theClientOfAnIdentityThatLeftTheNodeIsDroppedOnceIdle() throws Exception {
        withTwoNodes(Duration.ofMillis(300), (a, registry, to) -> {
            echoOnce(a, id("x"), to);
            echoOnce(a, id("y"), to);
            assertThat(clients(a)).containsKeys(id("x"), id("y"));

            registry.remove("prod", "x");
            CertFetchTest.await(() -> !clients(a).containsKey(id("x")), "x's client dropped once its connection idled out");
            // y's connection idled out too (same timeout): y is still a local workload, its client stays.
            assertThat(clients(a)).as("a local workload's client stays").containsKey(id("y"));

            echoOnce(a, id("x"), to);
            assertThat(clients(a)).as("a later tunnel from x makes a new client").containsKey(id("x"));
        });
    }

    /**
     * {@code idleTimeout(Duration.ZERO)} was refused ("must be positive") while {@code HboneClient.Builder.idleTimeout}
     * takes zero for "never". It is now passed through: the connection of a closed tunnel is not closed as idle (a zero
     * read as a 0 ns timer would close it at once) and carries the next tunnel. (An identity that leaves the node still
     * closes its connections at once: its SVID is withdrawn.)
     */
    @Test
    void aZeroIdleTimeoutNeverClosesAnIdlePooledConnection() throws Exception {
        withTwoNodes(Duration.ZERO, (a, registry, to) -> {
            io.netty.channel.Channel first = echoOnce(a, id("x"), to);
            Thread.sleep(1_500); // the tunnel is closed: time for an idle timer, and for the registry's once-a-second check
            assertThat(first.isActive()).as("the pooled connection").isTrue();
            assertThat(clients(a)).containsKey(id("x"));
            assertThat(echoOnce(a, id("x"), to)).as("the next tunnel's connection").isSameAs(first);
        });
    }

    /** One byte echoed through a tunnel from {@code source}; returns the HBONE connection that carried it. */
    private static io.netty.channel.Channel echoOnce(Mesh mesh, SpiffeId source, InetSocketAddress to) throws Exception {
        HboneStream s = mesh.connect(source, to).get(10, TimeUnit.SECONDS);
        try (Socket sock = s.toSocket()) {
            sock.setSoTimeout(10_000);
            sock.getOutputStream().write(42);
            sock.shutdownOutput();
            assertThat(sock.getInputStream().readAllBytes()).containsExactly(42);
        }
        return s.channel().parent();
    }

    @SuppressWarnings("unchecked")
    private static Map<SpiffeId, HboneClient> clients(Mesh mesh) {
        try {
            java.lang.reflect.Field f = Mesh.class.getDeclaredField("runtime");
            f.setAccessible(true);
            return ((io.zerohop.core.internal.MeshRuntime) f.get(mesh)).outbound().clients();
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static void echoLoop(ServerSocket server) {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                Thread t = new Thread(() -> {
                    try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                        in.transferTo(out);
                    } catch (java.io.IOException ignored) {
                        // the test reads what it needs
                    }
                });
                t.setDaemon(true);
                t.start();
            } catch (java.io.IOException e) {
                return;
            }
        }
    }
}
