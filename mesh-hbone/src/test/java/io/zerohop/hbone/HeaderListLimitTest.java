package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.END_STREAM;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static io.zerohop.hbone.RawFrames.SETTINGS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.ResourceLeakDetector;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The HBONE server's request header list limit (64 KiB, as ztunnel's server): what it advertises, what its HPACK decoder
 * keeps of a block over it, and how such a request is answered. ztunnel's server (src/proxy/h2/server.rs) gives
 * hyperium/h2 {@code max_header_list_size(65536)}; h2 advertises it (src/server.rs {@code handshake2} sends the builder's
 * settings), stops storing fields past it (src/frame/headers.rs {@code HeaderBlock::load}, {@code is_over_size}) and
 * answers 431 with END_STREAM then RST_STREAM PROTOCOL_ERROR (src/proto/streams/recv.rs {@code recv_headers},
 * streams.rs {@code recv_headers}: {@code schedule_implicit_reset(PROTOCOL_ERROR)}), the connection kept.
 */
@Timeout(60)
class HeaderListLimitTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.134.1";
    static final int SERVER_PORT = 48500;
    static final int UPSTREAM_PORT = 48501;
    static final int SETTINGS_MAX_HEADER_LIST_SIZE = 6;
    static Mesh mesh;
    static StreamErrorCodeTest.Upstream upstream;
    static EventLoopGroup serverLoop;
    static long serverThread;
    static RecordingEvents events = new RecordingEvents();
    static HboneServer server;
    static String authority = HOST + ":" + UPSTREAM_PORT;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        upstream = new StreamErrorCodeTest.Upstream(HOST, UPSTREAM_PORT);
        InetSocketAddress up = new InetSocketAddress(HOST, UPSTREAM_PORT);
        serverLoop = Transports.newGroup(1, "header-limit-server");
        serverThread = serverLoop.next().submit(() -> Thread.currentThread().getId()).get();
        server = mesh.proxyTo(up).listener(events)
                .eventLoopGroup(serverLoop).bind(new InetSocketAddress(HOST, SERVER_PORT)).build().start().get();
    }

    @AfterAll
    static void stop() {
        server.close();
        upstream.close();
        mesh.close();
        serverLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    static Http2Headers connect() {
        return new DefaultHttp2Headers().method("CONNECT").authority(authority);
    }

    static RawFrames peer() throws Exception {
        return mesh.peer(server);
    }

    /** Bytes allocated so far by the server's one event-loop thread (com.sun.management.ThreadMXBean, by reflection). */
    static long serverAllocated() throws Exception {
        // By reflection: the tests compile in module io.zerohop.hbone, which reads neither java.management nor
        // jdk.management; they run on the class path, which reads both.
        Object mx = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
        return (long) Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class).invoke(mx, serverThread);
    }

    /**
     * ztunnel's server advertises SETTINGS_MAX_HEADER_LIST_SIZE 65,536 (src/proxy/h2/server.rs; hyperium/h2 src/server.rs
     * {@code handshake2} writes {@code builder.settings} as the first SETTINGS frame). zerohop advertised 1 MiB, the size
     * its decoder accepted so that a larger list stayed a stream error.
     */
    @Test
    void advertisesTheHboneLimitAsZtunnelsServerDoes() throws Exception {
        try (RawFrames p = peer()) {
            RawFrames.Frame settings = p.next(f -> f.type() == SETTINGS && (f.flags() & RawFrames.ACK) == 0, WAIT);
            assertThat(settings).as("the server's SETTINGS").isNotNull();
            Long advertised = null;
            ByteBuffer b = ByteBuffer.wrap(settings.payload());
            while (b.remaining() >= 6) {
                int id = b.getShort() & 0xffff;
                long value = b.getInt() & 0xffffffffL;
                if (id == SETTINGS_MAX_HEADER_LIST_SIZE) {
                    advertised = value;
                }
            }
            assertThat(advertised).as("SETTINGS_MAX_HEADER_LIST_SIZE").isEqualTo(65_536L);
        }
    }

    /**
     * A block of 30,000 references to one dynamic table entry of one byte (30 KB sent, a 990,000-byte list): the decoder
     * keeps fields up to the 64 KiB limit only (about 2,000), as h2 stops storing once {@code is_over_size}, and decodes
     * the rest so that the dynamic table stays in step: the same entry serves the next request. Before, it kept all
     * 30,000 up to its 1 MiB limit: about 1.2 MB allocated on the server's event loop per block, under 100 KB now (both
     * measured with Netty's leak detection off, which otherwise records every byte read).
     * The answer is h2's: 431 with END_STREAM (only {@code :status}), RST_STREAM PROTOCOL_ERROR, the connection and its
     * other tunnel kept, the refusal reported with status 431.
     */
    @Test
    void aBlockOverTheLimitKeepsAtMostTheLimitAndGets431() throws Exception {
        try (RawFrames p = peer()) {
            p.headers(1, connect().add("a", ""), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            H2ProtocolTest.assertEchoes(p, 1, "sentinel");
            Http2Headers huge = connect();
            for (int i = 0; i < 30_000; i++) {
                huge.add("a", "");
            }
            events.refused.clear();
            int blocks = 4;
            long allocated;
            ResourceLeakDetector.Level level = ResourceLeakDetector.getLevel();
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
            try {
                // One block first: classes load and buffers grow once.
                p.headers(3, huge, false);
                assertThat(p.next(HEADERS, 3, WAIT)).isNotNull();
                long before = serverAllocated();
                for (int i = 0; i < blocks; i++) {
                    int stream = 5 + 2 * i;
                    p.headers(stream, huge, false);
                    RawFrames.Frame answer = p.next(HEADERS, stream, WAIT);
                    assertThat(answer).as("answer on stream %d", stream).isNotNull();
                    assertThat(answer.status()).isEqualTo("431");
                    assertThat(answer.headers().size()).as("only :status").isEqualTo(1);
                    assertThat(answer.flags() & END_STREAM).as("END_STREAM").isNotZero();
                    assertThat(p.nextError(stream, WAIT)).isEqualTo("RST " + stream + " PROTOCOL_ERROR");
                }
                allocated = (serverAllocated() - before) / blocks;
            } finally {
                ResourceLeakDetector.setLevel(level);
            }
            assertThat(allocated).as("bytes allocated on the server's event loop per block").isLessThan(256 * 1024);
            RecordingEvents.Refusal refusal = events.refused.poll(10, TimeUnit.SECONDS);
            assertThat(refusal).as("the refusal reported").isNotNull();
            assertThat(refusal.status()).isEqualTo(431);
            assertThat(refusal.reason()).contains("65536");
            // The dynamic table is in step: the entry the big blocks referred to serves a request that fits.
            p.headers(13, connect().add("a", ""), false);
            assertThat(p.next(HEADERS, 13, WAIT).status()).isEqualTo("200");
            H2ProtocolTest.assertEchoes(p, 13, "after");
            H2ProtocolTest.assertEchoes(p, 1, "sentinel again");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
            assertThat(p.isOpen()).isTrue();
        }
    }
    /**
     * Trailers over the limit on an open tunnel. hyperium/h2 checks the size of a request's first header block only
     * (src/proto/streams/recv.rs {@code recv_headers}: {@code is_over_size}, the 431 when {@code is_initial}); its
     * {@code recv_trailers} takes what {@code HeaderBlock::load} (src/frame/headers.rs) kept of them and ends the stream's
     * receive side, so ztunnel's tunnel sees the end of the request and its upstream gets a FIN. After 7da0ed23 Netty's
     * decoder failed such a block: the open tunnel was reset PROTOCOL_ERROR, its upstream aborted, and a refusal with
     * status 431 was reported for a tunnel already opened.
     */
    @Test
    void trailersOverTheLimitEndTheTunnelsInputAsH2Does() throws Exception {
        upstream.accepted.clear();
        try (RawFrames p = peer()) {
            p.headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            StreamErrorCodeTest.Upstream.Conn up = upstream.accepted.poll(10, TimeUnit.SECONDS);
            assertThat(up).as("the upstream connection").isNotNull();
            H2ProtocolTest.assertEchoes(p, 1, "before the trailers");
            Http2Headers trailers = new DefaultHttp2Headers();
            for (int i = 0; i < 3_000; i++) {
                trailers.add("x-trailer", ""); // 3,000 x 41 bytes: 123,000, over 65,536
            }
            events.refused.clear();
            p.headers(1, trailers, true);
            assertThat(up.end.get(10, TimeUnit.SECONDS)).as("how the upstream's connection ended").isEqualTo("FIN");
            // The upstream answers its FIN with its own: the tunnel ends cleanly both ways.
            RawFrames.Frame end = p.next(f -> f.stream() == 1 && ((f.flags() & END_STREAM) != 0 || f.type() == RST_STREAM), WAIT);
            assertThat(end).as("the end of stream 1").isNotNull();
            assertThat(end.type()).as("END_STREAM, not RST_STREAM").isNotEqualTo(RST_STREAM);
            assertThat(events.refused).as("refusals").isEmpty();
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
        }
    }
    /**
     * The boundary: a list of exactly 65,536 bytes (RFC 9113 section 6.5.2 size) is accepted, one of 65,537 gets 431.
     * SETTINGS_MAX_HEADER_LIST_SIZE is "the maximum field section size that the sender is prepared to accept" (RFC 9113
     * section 6.5.2), and Netty's HpackDecoder fails a list only once it is larger (Http2HeadersSink
     * {@code appendToHeaderList}), as {@code InboundTunnel}'s own check does. hyperium/h2 0.4.14 (ztunnel's) keeps a field
     * only while the running size stays under the limit (src/frame/headers.rs {@code HeaderBlock::load},
     * {@code headers_size < max_header_list_size}), so ztunnel refuses a list of exactly 65,536 too: one byte stricter
     * than what it advertises; zerohop keeps to the RFC there (README, header lists).
     */
    @Test
    void aListOfExactlyTheLimitIsAcceptedOneByteMoreGets431() throws Exception {
        long base = listSize(connect());
        try (RawFrames p = peer()) {
            // x-pad: 5 + value + 32 bytes.
            p.headers(1, connect().add("x-pad", "a".repeat((int) (65_536 - base - 37))), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).as("a list of 65,536 bytes").isEqualTo("200");
            p.headers(3, connect().add("x-pad", "a".repeat((int) (65_537 - base - 37))), false);
            assertThat(p.next(HEADERS, 3, WAIT).status()).as("a list of 65,537 bytes").isEqualTo("431");
            H2ProtocolTest.assertEchoes(p, 1, "at the limit");
        }
    }

    /** RFC 9113 section 6.5.2: name and value octets plus 32 per field. */
    private static long listSize(Http2Headers headers) {
        long size = 0;
        for (var e : headers) {
            size += e.getKey().length() + e.getValue().length() + 32L;
        }
        return size;
    }

    /**
     * Fields past the limit that the block adds to the dynamic table (literals with incremental indexing) are added on
     * the server too, though not kept: a later request that refers to such an entry decodes to that field. RFC 7541
     * section 4.4 / 2.3.2: every literal with incremental indexing enters the table; hyperium/h2 decodes the whole
     * block (src/frame/headers.rs {@code HeaderBlock::load}: "the hpack decoding process must complete"), as Netty's
     * HpackDecoder does. The earlier test refers to an entry made before the big block only.
     */
    @Test
    void entriesAddedPastTheLimitStayInTheDynamicTable() throws Exception {
        try (RawFrames p = peer()) {
            Http2Headers huge = connect();
            for (int i = 0; i < 2_000; i++) {
                huge.add("x-" + i, "v"); // each new: a literal with incremental indexing, ~40 bytes, 80 KB in all
            }
            huge.add("x-late", "late-value");
            p.headers(1, huge, false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("431");
            events.opened.clear();
            // The encoder refers to its dynamic table entry for x-late: late-value.
            p.headers(3, connect().add("x-late", "late-value"), false);
            assertThat(p.next(HEADERS, 3, WAIT).status()).isEqualTo("200");
            TunnelInfo opened = events.opened.poll(10, TimeUnit.SECONDS);
            assertThat(opened).as("the tunnel opened").isNotNull();
            assertThat(opened.headers()).containsEntry("x-late", "late-value").hasSize(1);
        }
    }
}
