package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.internal.Inspect;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.netty.Await;
import io.zerohop.testing.netty.EchoServer;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bytes a peer sends toward an application that does not read (a hostile-peer pass, 5 December: one peer's 100 tunnels
 * filled a shipped proxy's 64 MiB of direct memory in ~2 s). HTTP/2 flow control gives every stream its 4 MiB window
 * and the connection window grows with the streams (so that stalled tunnels never stop the others), so what the server
 * holds for one peer was bounded only by streams x windows. The inbound budgets bound it per peer and server-wide by
 * resetting the tunnels holding the most, as Envoy's {@code reset_high_memory_stream} overload action resets the
 * streams holding the most buffered bytes; ztunnel bounds one connection by its 16 MiB window (and pays with the
 * head-of-line effect zerohop avoids).
 */
@Timeout(120)
class InboundBudgetTest {
    static final long PER_PEER = 8L << 20;
    static final long TOTAL = 12L << 20;
    /**
     * Above a budget: what one read of a connection delivers before the count is taken (16 reads of up to 64 KiB of
     * TLS records), plus the 64 KiB steps the shared count moves in, per connection of the peer; runs here peaked at
     * 1.05 MiB over.
     */
    static final long SLACK = 3L << 20;
    /** Tunnels per attacking peer: 8 x 4 MiB windows is four times the per-peer budget. */
    static final int TUNNELS = 8;
    /** The stall timeout of these tests' servers (default 10 s), but for the slow readers'. */
    static final Duration STALL = Duration.ofSeconds(1);
    static Mesh mesh;
    static EchoServer echo;
    /** Each test's own, closed (its connections reset) before its server closes. */
    LoopbackApp sink;
    /** The test's server's tunnel events: which limit reset a tunnel ({@link TunnelResult#error()}). */
    final RecordingEvents events = new RecordingEvents();
    static final SpiffeId VICTIM = SpiffeIds.istio("cluster.local", "prod", "victim");
    static final SpiffeId SECOND = SpiffeIds.istio("cluster.local", "prod", "second-attacker");

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
    }

    @AfterAll
    static void stop() throws IOException {
        echo.close();
        mesh.close();
    }

    @org.junit.jupiter.api.BeforeEach
    void sink() throws IOException {
        sink = LoopbackApp.neverReading();
    }

    @org.junit.jupiter.api.AfterEach
    void closeSink() throws IOException {
        sink.close();
    }

    HboneServer server(long perPeer, long total) throws Exception {
        return mesh.server((dst, id, local) -> {
            if (dst.getPort() == sink.port()) {
                return Destination.proxy(Mesh.loopback(sink.port()));
            }
            return dst.getPort() == echo.address().getPort() ? Destination.proxy(echo.address()) : null;
        }).inboundBudget(perPeer, total).inboundStallTimeout(STALL).listener(events).build().start().get();
    }

    /** {@code tunnels} tunnels of {@code self} to the sink, each written to as fast as it takes bytes until it fails. */
    final class Attacker implements AutoCloseable {
        final HboneClient client;
        final List<HboneSocket> sockets = new ArrayList<>();
        final List<Thread> writers = new ArrayList<>();
        final AtomicInteger failed = new AtomicInteger();
        final AtomicLong written = new AtomicLong();

        Attacker(HboneServer server, SpiffeId self, int tunnels) throws Exception {
            client = HboneClient.builder().tls(mesh.tls).identity(self).threads(1).build();
            for (int i = 0; i < tunnels; i++) {
                HboneSocket s = client.connectSocket(Mesh.loopback(sink.port()), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                sockets.add(s);
                Thread w = new Thread(() -> {
                    byte[] chunk = new byte[256 * 1024];
                    try {
                        OutputStream out = s.getOutputStream();
                        while (true) {
                            out.write(chunk);
                            out.flush();
                            written.addAndGet(chunk.length);
                        }
                    } catch (IOException reset) {
                        failed.incrementAndGet();
                    }
                }, "attacker-writer-" + i);
                w.setDaemon(true);
                w.start();
                writers.add(w);
            }
        }

        @Override
        public void close() throws Exception {
            for (HboneSocket s : sockets) {
                s.close();
            }
            client.close();
            for (Thread w : writers) {
                w.join(10_000);
            }
        }
    }


    /** Waits for the attackers' connections to be gone: what they held is released then, or the leak detector says so. */
    static void closedConnections(HboneServer server) {
        Await.until("the attackers' connections closed", Duration.ofSeconds(20), () -> Inspect.connectionCount(server) == 0);
    }

    @Test
    @DisplayName("without a binding budget one peer's tunnels to an application that never reads hold their whole windows")
    void withoutABindingBudgetThePeerHoldsEveryWindow() throws Exception {
        // The budget set far above the windows: what the server held before the budget existed.
        try (HboneServer server = server(1L << 30, 1L << 30); Attacker a = new Attacker(server, mesh.clientId, TUNNELS)) {
            Await.until("the attacker's tunnels holding three times the per-peer budget", Duration.ofSeconds(60),
                    () -> Inspect.inboundBytes(server) > 3 * PER_PEER);
            assertThat(a.failed.get()).as("tunnels reset").isZero();
        }
    }

    @Test
    @DisplayName("one peer over its inbound budget: its largest tunnels are reset, what it holds stays bounded, another peer echoes")
    void onePeerIsBoundedByItsBudget() throws Exception {
        try (HboneServer server = server(PER_PEER, TOTAL); MaxSampler sampler = new MaxSampler("inbound-sampler", () -> Inspect.inboundBytes(server))) {
            java.util.concurrent.atomic.AtomicReference<Attacker> attacker = new java.util.concurrent.atomic.AtomicReference<>();
            List<String> lines;
            try {
                // Attacking inside the capture: the first resets come within milliseconds of the first writes.
                lines = ServerNoiseTest.logLines(() -> {
                    Attacker a = new Attacker(server, mesh.clientId, TUNNELS);
                    attacker.set(a);
                    Await.until("an attacker tunnel reset", Duration.ofSeconds(60), () -> a.failed.get() > 0);
                    Victim.echoMiB(mesh, echo.address(), server, VICTIM);
                });
                Attacker a = attacker.get();
                System.out.printf("inbound budget, one peer: at most %d unread bytes held (per-peer budget %d), %d of %d tunnels reset, %d bytes written%n",
                        sampler.max.get(), PER_PEER, a.failed.get(), TUNNELS, a.written.get());
            } finally {
                if (attacker.get() != null) {
                    attacker.get().close();
                }
            }
            assertThat(sampler.max.get()).as("most unread bytes held at once").isLessThanOrEqualTo(PER_PEER + SLACK);
            assertThat(events.limitsThatReset()).as("what reset the attacker's tunnels, as their results say").containsOnly(TunnelResult.INBOUND_BUDGET);
            assertThat(lines).anyMatch(l -> l.contains("HBONE tunnels reset: peer " + mesh.clientId + " (127.0.0.1:")
                    && l.contains("over the inbound budget of " + PER_PEER + " bytes per peer") && l.contains(" to " + mesh.serverId)
                    // What to do about it, as the L7 proxy's line says (H2HeldBudget): the setting that sizes the budget.
                    && l.contains("if its applications read slowly by design, raise HboneServer.Builder.inboundBudget(perPeer, total);"
                    + " in a zerohop mesh it is a quarter of -XX:MaxDirectMemorySize (node proxy: ZEROHOP_JAVA_OPTS_EXTRA"));
            Await.until("every unread byte released", Duration.ofSeconds(20), () -> Inspect.inboundBytes(server) == 0);
            closedConnections(server);
        }
    }

    @Test
    @DisplayName("two peers, each within its budget, over the server's: the heavier one's tunnels are reset, the total stays bounded")
    void twoPeersAreBoundedByTheServerBudget() throws Exception {
        // Per peer 8 MiB allows two full windows each; the server's 12 MiB not four.
        try (HboneServer server = server(PER_PEER, TOTAL); MaxSampler sampler = new MaxSampler("inbound-sampler", () -> Inspect.inboundBytes(server))) {
            List<Attacker> attackers = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<String> lines;
            try {
                lines = ServerNoiseTest.logLines(() -> {
                    attackers.add(new Attacker(server, mesh.clientId, 2));
                    attackers.add(new Attacker(server, SECOND, 2));
                    Await.until("a tunnel reset", Duration.ofSeconds(60), () -> attackers.get(0).failed.get() + attackers.get(1).failed.get() > 0);
                    Victim.echoMiB(mesh, echo.address(), server, VICTIM);
                });
                System.out.printf("inbound budget, two peers: at most %d unread bytes held (server budget %d), %d + %d of 2 + 2 tunnels reset%n",
                        sampler.max.get(), TOTAL, attackers.get(0).failed.get(), attackers.get(1).failed.get());
            } finally {
                for (Attacker a : attackers) {
                    a.close();
                }
            }
            assertThat(sampler.max.get()).as("most unread bytes held at once").isLessThanOrEqualTo(TOTAL + 2 * SLACK);
            assertThat(lines).anyMatch(l -> l.contains("HBONE tunnels reset: peer ")
                    && l.contains("over the inbound budget of " + TOTAL + " bytes of the server, and this peer holds the most"));
            Await.until("every unread byte released", Duration.ofSeconds(20), () -> Inspect.inboundBytes(server) == 0);
            closedConnections(server);
        }
    }


    @Test
    @DisplayName("the peer's connection holding the most is the one whose tunnels are reset, not the one that read last")
    void theConnectionHoldingTheMostIsShed() throws Exception {
        try (HboneServer server = server(PER_PEER, 4 * PER_PEER)) {
            try (Attacker stalled = new Attacker(server, mesh.clientId, 2)) {
                // Over half the peer's budget, so that the first connection holds far more than the second will. Not
                // "two windows less 1 MiB": the kernel keeps part of each stalled tunnel's bytes in the upstream socket's
                // send buffer and the application's receive buffer, and how much moves with TCP's autotuning (on a
                // quiet 6 December guest ~0.78 MB per tunnel, which left the server at 6.8 of the 7 MiB waited for).
                Await.until("the first connection holding over half the peer's budget", Duration.ofSeconds(30),
                        () -> Inspect.inboundBytes(server) > PER_PEER / 2);
                // A second connection of the same identity, reading: never the one reset, though it reads last.
                Victim.echoMiB(mesh, echo.address(), server, mesh.clientId);
                Await.until("a tunnel of the first connection reset", Duration.ofSeconds(30), () -> stalled.failed.get() > 0);
            }
            closedConnections(server);
        }
    }

    @Test
    @DisplayName("under the budget but over half of it, a tunnel whose application took nothing for a second is reset")
    void overHalfTheBudgetStalledTunnelsAreReset() throws Exception {
        // 3 windows of 4 MiB: 12 MiB, under the 16 MiB budget, over its half.
        try (HboneServer server = server(16L << 20, 32L << 20)) {
            AtomicInteger resets = new AtomicInteger();
            java.util.concurrent.atomic.AtomicReference<Attacker> attacker = new java.util.concurrent.atomic.AtomicReference<>();
            List<String> lines;
            try {
                lines = ServerNoiseTest.logLines(() -> {
                    Attacker a = new Attacker(server, mesh.clientId, 3);
                    attacker.set(a);
                    Await.until("a stalled tunnel reset", Duration.ofSeconds(30), () -> a.failed.get() > 0);
                    Thread.sleep(2500); // two more looks: nothing more to reset
                    resets.set(a.failed.get());
                });
            } finally {
                if (attacker.get() != null) {
                    attacker.get().close();
                }
            }
            assertThat(resets.get()).as("one reset brings about 11 MiB under the 8 MiB half").isEqualTo(1);
            assertThat(events.limitsThatReset()).as("what reset the tunnel, as its result says").containsExactly(TunnelResult.INBOUND_STALLED);
            assertThat(lines).anyMatch(l -> l.contains("over half (" + (8L << 20) + " bytes) of the inbound budget of " + (16L << 20)
                    + " bytes per peer, 1 tunnel of them delivering nothing for 1s: reset 1 tunnel to " + mesh.serverId));
            closedConnections(server);
        }
    }

    /**
     * An application that reads, however slowly, keeps its tunnels while its peer is over half its budget (a review
     * pass: with one stage, 2 of 6 honest uploads to a 2 MB/s reader were reset under the shipped defaults; ztunnel's
     * window only throttles them; a new-user pass: with a 1 s stall timeout, 2-3 of 6 uploads to a 1 MB/s reader were
     * reset, the relay writing in bursts as the kernel's 4 MiB send buffer drains). 6 uploads of 8 MiB to a reader of
     * about 1 MB/s each hold about 24 MiB, over the soft 16 MiB, under the 32 MiB budget, with the default 10 s.
     */
    @Test
    @DisplayName("uploads to an application that reads slowly are not reset while their peer is over half its budget")
    void slowReadersKeepTheirTunnels() throws Exception {
        int uploads = 6;
        int size = 8 << 20;
        try (LoopbackApp app = LoopbackApp.readingSlowly(60); HboneServer server = mesh.server((dst, id, local) ->
                Destination.proxy(Mesh.loopback(app.port()))).inboundBudget(32L << 20, 32L << 20).build().start().get();
             HboneClient client = HboneClient.builder().tls(mesh.tls).identity(mesh.clientId).threads(1).build()) {
            List<Thread> writers = new ArrayList<>();
            AtomicInteger failed = new AtomicInteger();
            for (int i = 0; i < uploads; i++) {
                HboneSocket s = client.connectSocket(Mesh.loopback(app.port()), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                Thread w = new Thread(() -> {
                    try (s) {
                        byte[] chunk = new byte[256 * 1024];
                        OutputStream out = s.getOutputStream();
                        for (int n = 0; n < size; n += chunk.length) {
                            out.write(chunk);
                        }
                        s.shutdownOutput();
                        s.getInputStream().read(); // the application's end
                    } catch (IOException reset) {
                        failed.incrementAndGet();
                    }
                }, "upload-" + i);
                w.start();
                writers.add(w);
            }
            for (Thread w : writers) {
                w.join(90_000);
            }
            assertThat(failed.get()).as("uploads reset").isZero();
            Await.until("every upload read", Duration.ofSeconds(30), () -> app.read.get() == (long) uploads * size);
        }
    }

    @Test
    @DisplayName("a per-peer inbound budget below the stream window is refused at build, naming both")
    void aBudgetBelowTheStreamWindowIsRefused() {
        HboneServer.Builder b = mesh.server((dst, id, local) -> null).inboundBudget(1L << 20, 8L << 20);
        org.assertj.core.api.Assertions.assertThatThrownBy(b::build).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("inboundBudget per peer (1048576 bytes) is below the stream window (4194304 bytes)");
    }
}
