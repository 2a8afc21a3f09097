package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.netty.ClassHistogram;
import io.zerohop.testing.netty.EchoServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * What an open, idle captured tunnel holds on both node proxies (issue 14: <= 100 MB RSS with 10,000
 * tunnels; benchmarks/results/trim-*.md): proxy A captures the app's connection ({@code --forward})
 * and tunnels it with ztunnel's CONNECT headers (baggage, a fresh traceparent, forwarded), proxy B
 * relays it to an echo app. The JVM's class histogram before and after {@value #TUNNELS} tunnels,
 * each proven by a 1-byte echo; app, both proxies and the client sockets share this JVM, so the
 * counts per tunnel are of all of them. Own mechanics, no upstream to cite.
 */
class CaptureFootprintTest {
    static final int TUNNELS = 200;
    /** String and byte[] bytes per tunnel, both proxies and the client: 612 with a String per traceparent and forwarded, 394 without. */
    static final double STRING_BYTES = 480;
    static EchoServer echo;
    static Mesh a;
    static Mesh b;
    static InetSocketAddress forward;
    static InetAddress client;

    @BeforeAll
    static void start() throws Exception {
        echo = new EchoServer();
        client = InetAddress.getByName("127.0.0.3");
        Workload frontend = new Workload("bench", "client", "client", Map.of("app", "client"), List.of(client),
                Workload.Protocol.HBONE, "node-a", "cluster.local");
        Workload backend = new Workload("bench", "echo", "echo", Map.of(), List.of(echo.address().getAddress()),
                Workload.Protocol.HBONE, "node-b", "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(frontend, backend), Map.of());
        b = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).node("node-b")
                .inbound(new InetSocketAddress(echo.address().getAddress(), 0)).threads(1).build();
        b.start().get(10, TimeUnit.SECONDS);
        registry.replace(List.of(frontend, backend), Map.of("node-b", b.inboundAddress()));
        a = Mesh.builder().identityProvider(ca).workloads(registry).node("node-a").threads(1).build();
        a.start().get(10, TimeUnit.SECONDS);
        forward = a.capture(Capture.forward(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), echo.address()));
    }

    @AfterAll
    static void stop() throws Exception {
        a.close();
        b.close();
        echo.close();
    }

    static double instances(Map<String, ClassHistogram.Share> perTunnel, String cls) {
        ClassHistogram.Share s = perTunnel.get(cls);
        return s == null ? 0 : s.instances();
    }

    static double bytes(Map<String, ClassHistogram.Share> perTunnel, String cls) {
        ClassHistogram.Share s = perTunnel.get(cls);
        return s == null ? 0 : s.bytes();
    }

    static Socket open() throws Exception {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(client, 0));
        s.connect(forward, 10_000);
        s.setSoTimeout(20_000);
        s.getOutputStream().write('x');
        assertThat(s.getInputStream().read()).isEqualTo('x');
        return s;
    }

    @Test
    @DisplayName("an idle captured tunnel keeps its CONNECT headers compact, no atomics of its own, no per-channel allocator")
    void anIdleCapturedTunnelHoldsOnlyWhatItUses() throws Exception {
        List<Socket> sockets = new ArrayList<>();
        try {
            sockets.add(open()); // the pooled connection, its handshake, the classes
            ClassHistogram before = ClassHistogram.baseline();
            for (int i = 0; i < TUNNELS; i++) {
                sockets.add(open());
            }
            Map<String, ClassHistogram.Share> perTunnel = ClassHistogram.take().perThing(before, TUNNELS);
            String table = ClassHistogram.table(perTunnel);
            System.out.println("per captured tunnel (app, proxies A and B, client sockets in one JVM):\n" + table);
            SoftAssertions soft = new SoftAssertions();
            // Was 2 (A's and B's TunnelInfo headers, each a hash table of three fresh strings): a
            // compact HeaderMap now, traceparent as numbers, A's forwarded as the client's address.
            soft.assertThat(instances(perTunnel, "java.util.ImmutableCollections$MapN"))
                    .as("hash-table header maps per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            soft.assertThat(bytes(perTunnel, "java.lang.String") + bytes(perTunnel, "[B"))
                    .as("string bytes per tunnel; all per tunnel:\n%s", table).isLessThan(STRING_BYTES);
            // Was 5 and 2: both relays' two flags and EOF count, and one the JDK's client socket keeps.
            soft.assertThat(instances(perTunnel, "java.util.concurrent.atomic.AtomicBoolean")
                    + instances(perTunnel, "java.util.concurrent.atomic.AtomicInteger"))
                    .as("atomics per tunnel; all per tunnel:\n%s", table).isLessThan(1.5);
            // Was 5 (each relayed TCP and stream channel's own): one shared; the echo app's NIO channel keeps its own.
            soft.assertThat(instances(perTunnel, "io.netty.channel.AdaptiveRecvByteBufAllocator"))
                    .as("receive allocators per tunnel; all per tunnel:\n%s", table).isLessThan(1.5);
            // Was 5, then 3: every channel's size calculator; the relayed TCP channels' handles keep
            // the size themselves now (TunnelReads), the one left is the echo app's NIO channel's.
            soft.assertThat(instances(perTunnel, "io.netty.util.internal.AdaptiveCalculator"))
                    .as("receive size calculators per tunnel; all per tunnel:\n%s", table).isLessThan(1.5);
            // Was 6: A's captured connection and B's upstream kept Netty's own copies of the listener's
            // address and of the dial address; they keep those objects themselves now.
            soft.assertThat(instances(perTunnel, "java.net.InetSocketAddress"))
                    .as("socket addresses per tunnel; all per tunnel:\n%s", table).isLessThan(5);
            // Was 6 (one per socket address): the captured client's and B's upstream's local address
            // share their IP address object with the other connections' of that IP.
            soft.assertThat(instances(perTunnel, "java.net.Inet4Address") + instances(perTunnel, "java.net.Inet6Address"))
                    .as("IP address objects per tunnel; all per tunnel:\n%s", table).isLessThan(3);
            // Was 6.7: A's and B's HeaderMap each kept its values in an array of three; in fields now.
            soft.assertThat(instances(perTunnel, "[Ljava.lang.Object;"))
                    .as("object arrays per tunnel; all per tunnel:\n%s", table).isLessThan(5.5);
            // Was 1: the outbound tunnel's open future, kept after it completed.
            soft.assertThat(instances(perTunnel, "java.util.concurrent.CompletableFuture"))
                    .as("open futures per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            // Was 1: A's captured connection had two close listeners (the drain's count and the
            // open-sockets gauge's, a lambda each), so Netty kept a listener array for it; one shared now.
            soft.assertThat(instances(perTunnel, "io.netty.util.concurrent.DefaultFutureListeners"))
                    .as("close-listener arrays per tunnel; all per tunnel:\n%s", table).isLessThan(0.5);
            soft.assertAll();
        } finally {
            for (Socket s : sockets) {
                s.close();
            }
        }
    }
}
