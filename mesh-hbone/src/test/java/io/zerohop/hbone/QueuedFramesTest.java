package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.DATA;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.PING;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.zerohop.hbone.internal.Inspect;
import io.zerohop.testing.netty.SilentPort;
import io.zerohop.testing.netty.ClassHistogram;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a tunnel whose application does not read holds besides its bytes (a hostile-peer pass, 5 December): Netty queues
 * every frame of a stream channel that is not reading. HTTP/2 flow control counts DATA payload only, so 1-byte DATA
 * frames held ~200 times what the inbound budget counted, and frames of unknown type were queued outside flow control
 * altogether, where RFC 9113 section 4.1 says to discard them.
 */
@Timeout(120)
class QueuedFramesTest {
    static Mesh mesh;
    SilentPort silent;
    RawFrames peer;
    HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
    }

    @AfterAll
    static void stop() throws Exception {
        mesh.close();
    }

    @BeforeEach
    void silentPort() {
        silent = new SilentPort(8);
    }

    @AfterEach
    void close() throws Exception {
        if (peer != null) {
            peer.close();
        }
        silent.close();
        if (server != null) {
            server.close();
        }
    }

    /**
     * A tunnel whose frames queue: its upstream dial to a port that never answers is pending for a minute, and until
     * the tunnel is open its channel does not read (what a tunnel to an application that stopped reading is once its
     * relay stalls, without depending on how much the kernel's buffers take). Per peer {@code perPeer}.
     */
    void stalledTunnel(long perPeer) throws Exception {
        server = mesh.server((dst, id, local) -> Destination.proxy(silent.address()))
                .upstreamConnectTimeout(Duration.ofMinutes(1))
                .inboundBudget(perPeer, 1L << 30).inboundStallTimeout(Duration.ofMinutes(1)).build().start().get();
        peer = mesh.rawPeer(server);
        peer.preface();
        peer.headers(1, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + silent.address().getPort()), false);
        settled();
    }

    private int pings;

    /** Returns once the server has read everything sent before: it answers a PING in order. */
    void settled() throws Exception {
        long id = ++pings;
        peer.frame(PING, 0, 0, Unpooled.buffer(8).writeLong(id));
        assertThat(peer.next(f -> f.type() == PING && (f.flags() & RawFrames.ACK) != 0 && java.nio.ByteBuffer.wrap(f.payload()).getLong() == id,
                Duration.ofSeconds(20))).as("PING ACK " + id).isNotNull();
    }

    /**
     * Per-frame heap of what the frames added, without the leak detector's own objects (tests run it at paranoid): its
     * wrappers, leak records, their stack traces (the arrays) and its set of live leaks (a map node each).
     */
    static double heapPerFrame(Map<String, ClassHistogram.Share> added) {
        return added.entrySet().stream()
                .filter(e -> !e.getKey().contains("LeakAware") && !e.getKey().contains("ResourceLeakDetector")
                        && !e.getKey().startsWith("[") && !e.getKey().equals("java.lang.String")
                        && !e.getKey().equals("java.util.concurrent.ConcurrentHashMap$Node"))
                .mapToDouble(e -> e.getValue().bytes()).sum();
    }

    @Test
    @DisplayName("queued 1-byte DATA frames are merged while they wait: they cost and count about their bytes, not a frame each")
    void queuedSmallFramesAreMerged() throws Exception {
        stalledTunnel(1L << 30);
        int n = 200_000;
        long counted = Inspect.inboundBytes(server);
        ClassHistogram before = ClassHistogram.baseline();
        peer.frames(n, DATA, 0, 1, 1);
        settled();
        ClassHistogram after = ClassHistogram.take();
        Map<String, ClassHistogram.Share> added = after.perThing(before, n);
        double heap = heapPerFrame(added);
        long grew = Inspect.inboundBytes(server) - counted;
        System.out.printf("queued 1-byte DATA frames: %.2f bytes of heap each, %d counted for %d: %s%n", heap, grew, n, added);
        // Each 1-byte frame held ~184 bytes of heap and was counted at 257 before they were merged.
        assertThat(heap).as("heap per 1-byte frame").isLessThan(4);
        // The shared count moves in steps of 64 KiB.
        assertThat(grew).as("what %d frames of 1 byte added to the count: their bytes and a frame per %d", n, Inspect.mergedMax())
                .isBetween((long) n - (64 << 10), (long) n + (n / Inspect.mergedMax() + 2) * Inspect.queuedFrameCost() + (64 << 10));
    }

    /**
     * A tunnel that keeps up has each DATA frame delivered as it arrives, so nothing is copied: 1,000 small messages
     * echoed one at a time, each its own DATA frame both ways. Every tunnel's channel has auto-read off, and copying
     * decided by that alone copied each small frame of both sides (helper 248's review), where a read under way
     * delivers it at once.
     */
    @Test
    @DisplayName("the small DATA frames of a tunnel that keeps up are delivered as they came, none copied")
    void framesOfATunnelThatKeepsUpAreNotCopied() throws Exception {
        try (io.zerohop.testing.netty.EchoServer echo = new io.zerohop.testing.netty.EchoServer();
             HboneClient client = mesh.client().build()) {
            server = mesh.server((dst, id, local) -> Destination.proxy(echo.address())).build().start().get();
            try (HboneSocket s = client.connectSocket(echo.address(), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10))) {
                s.setSoTimeout(10_000);
                java.io.OutputStream out = s.getOutputStream();
                java.io.InputStream in = s.getInputStream();
                long before = Inspect.waitingFramesCopied();
                byte[] message = new byte[16];
                for (int i = 0; i < 1000; i++) {
                    java.util.Arrays.fill(message, (byte) i);
                    out.write(message);
                    out.flush();
                    assertThat(in.readNBytes(16)).as("echo %d", i).isEqualTo(message);
                }
                assertThat(Inspect.waitingFramesCopied() - before).as("frames copied for 2,000 delivered as they came").isZero();
            }
        }
    }

    /**
     * Frames under {@code MERGE_BELOW} merge, so the budget is reached by their bytes: 900-byte frames filling two
     * stream windows (8 MiB) of one peer whose budget is 4 MiB.
     */
    @Test
    @DisplayName("small DATA frames merged while they wait still count their bytes: over the per-peer budget a tunnel is reset")
    void mergedFramesReachTheBudget() throws Exception {
        stalledTunnel(4L << 20);
        peer.headers(3, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + silent.address().getPort()), false);
        int frames = (4 << 20) / 900;
        peer.frames(frames, DATA, 0, 1, 900);
        peer.frames(frames, DATA, 0, 3, 900);
        RawFrames.Frame rst = peer.next(f -> f.type() == RST_STREAM, Duration.ofSeconds(30));
        assertThat(rst).as("RST_STREAM on a tunnel").isNotNull();
        assertThat(rst.errorCode()).isEqualTo(Http2Error.CONNECT_ERROR.code());
    }

    /**
     * RFC 9113 section 4.1: "Implementations MUST ignore and discard frames of unknown types"; ztunnel's HTTP/2 (hyperium/h2
     * src/codec/framed_read.rs, {@code Kind::Unknown}) skips them, and h2spec's case 4.1/1 sends one (type 0xff) and
     * expects the connection to go on. Netty 4.2 queued them on the stream's channel instead.
     */
    @Test
    @DisplayName("frames of unknown type on a tunnel are discarded on arrival (RFC 9113 section 4.1), not queued")
    void unknownFramesAreDiscarded() throws Exception {
        stalledTunnel(1L << 30);
        int n = 2_000;
        ClassHistogram before = ClassHistogram.baseline();
        // Type 0x20: no HTTP/2 extension defines it. 2,000 x 1 KiB, outside flow control.
        peer.frames(n, 0x20, 0, 1, 1024);
        settled();
        Map<String, ClassHistogram.Share> added = ClassHistogram.take().perThing(before, n);
        assertThat(added).as("objects kept per unknown frame").doesNotContainKey("io.netty.handler.codec.http2.DefaultHttp2UnknownFrame");
        assertThat(peer.isOpen()).as("the connection, not closed for them").isTrue();
    }

    @Test
    @DisplayName("what a tunnel still holds after its peer reset the stream counts in the budget, though flow control forgot it")
    void aClosedStreamsQueuedBytesStayCounted() throws Exception {
        try (LoopbackApp app = LoopbackApp.neverReading()) {
            server = mesh.server((dst, id, local) -> Destination.proxy(Mesh.loopback(app.port()))).build().start().get();
            peer = mesh.rawPeer(server);
            peer.preface();
            peer.headers(1, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + app.port()), false);
            assertThat(peer.next(HEADERS, 1, Duration.ofSeconds(10))).as("the 200").isNotNull();
            // Just under the 4 MiB stream window; what the kernel's buffers do not take waits in the tunnel.
            peer.frames(252, DATA, 0, 1, 16_384);
            io.zerohop.testing.netty.Await.until("bytes waiting in the tunnel", Duration.ofSeconds(20), () -> Inspect.inboundBytes(server) > 512 << 10);
            settled();
            long before = Inspect.inboundBytes(server);
            // CANCEL: the end of the peer's data (as ztunnel reads it); the tunnel still owes its application what it holds.
            peer.rst(1, Http2Error.CANCEL.code());
            settled();
            long after = Inspect.inboundBytes(server);
            System.out.printf("queued bytes counted: %d before the peer's RST_STREAM, %d after%n", before, after);
            assertThat(after).as("counted after the stream closed (%d before)", before).isGreaterThanOrEqualTo(before - (128 << 10));
        }
    }

    /**
     * One peer, 2 connections of 2 tunnels each, small DATA frames: a read of a connection carries thousands of them,
     * and the budgets were looked at only after it (a new-user pass, before frames were merged: 1-byte frames on 6
     * connections held 5 times the 32 MiB budget, and the shipped proxy ran out of heap). What one peer adds beyond its
     * budget is about one socket read per connection.
     */
    static final int CONNECTIONS = 2;

    @Test
    @DisplayName("one peer's connections of small DATA frames stay within its budget plus one read per connection")
    void tinyFramesOnManyConnectionsStayNearTheBudget() throws Exception {
        long perPeer = 4L << 20;
        server = mesh.server((dst, id, local) -> Destination.proxy(silent.address()))
                .upstreamConnectTimeout(Duration.ofMinutes(1))
                .inboundBudget(perPeer, 1L << 30).inboundStallTimeout(Duration.ofMinutes(1)).build().start().get();
        java.util.List<RawFrames> peers = new java.util.ArrayList<>();
        try (MaxSampler sampler = new MaxSampler("inbound-sampler", () -> Inspect.inboundBytes(server))) {
            for (int c = 0; c < CONNECTIONS; c++) {
                RawFrames p = mesh.rawPeer(server);
                peers.add(p);
                p.preface();
                for (int stream = 1; stream <= 3; stream += 2) {
                    p.headers(stream, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + silent.address().getPort()), false);
                }
            }
            for (RawFrames p : peers) {
                for (int stream = 1; stream <= 3; stream += 2) {
                    p.frames((4 << 20) / 100, DATA, 0, stream, 100); // each stream's whole window
                }
            }
            io.zerohop.testing.netty.Await.until("a tunnel reset", Duration.ofSeconds(30),
                    () -> peers.stream().anyMatch(p -> resetSoFar(p) > 0));
            Thread.sleep(1000);
            int reset = 0;
            for (RawFrames p : peers) {
                reset += resetSoFar(p);
            }
            System.out.printf("100-byte frames, one peer, %d connections: at most %d bytes counted (per-peer budget %d), %d of %d tunnels reset%n",
                    CONNECTIONS, sampler.max.get(), perPeer, reset, 2 * CONNECTIONS);
            assertThat(reset).as("tunnels reset").isPositive();
            assertThat(sampler.max.get()).as("most counted at once").isLessThanOrEqualTo(perPeer + CONNECTIONS * (2L << 20));
        } finally {
            peers.forEach(RawFrames::close);
            peer = null;
        }
    }

    /** RST_STREAM frames the peer has received so far (read off its queue: call once per frame). */
    private final java.util.Map<RawFrames, java.util.Set<Integer>> resets = new java.util.concurrent.ConcurrentHashMap<>();

    /** Streams of {@code p} the server reset with CONNECT_ERROR so far (the STREAM_CLOSED answers to later frames not counted). */
    int resetSoFar(RawFrames p) {
        java.util.Set<Integer> ids = resets.computeIfAbsent(p, k -> java.util.concurrent.ConcurrentHashMap.newKeySet());
        try {
            for (RawFrames.Frame f; (f = p.next(x -> x.type() == RST_STREAM, Duration.ofMillis(1))) != null; ) {
                if (f.errorCode() == Http2Error.CONNECT_ERROR.code()) {
                    ids.add(f.stream());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return ids.size();
    }
}
