package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.END_HEADERS;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.StreamErrorCodeTest.block;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.zerohop.hbone.internal.Inspect;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a well-behaved peer sends on a stream this side already closed is not counted among the connection's 1,024 resets
 * for the peer's errors ({@code H2Codecs.MAX_LOCAL_ERROR_RESETS}, {@code LocalErrorResetLimitTest}): DATA that was in
 * flight when this side reset its stream, arriving after the reset-stream hold let go of it (past one second, or past
 * the 50 streams held), and DATA right behind a HEADERS the server refused for SETTINGS_MAX_CONCURRENT_STREAMS. Netty
 * answers each with RST_STREAM STREAM_CLOSED and its stream is gone, so no concurrency slot is freed and no work is cut
 * short: it is no MadeYouReset. hyperium/h2 counts them (streams.rs {@code may_have_forgotten_stream}, then
 * {@code Streams::send_reset} as a library reset), which made benign peers lose their connections (hyperium/h2#856,
 * open; h2 0.4.12 only lengthened its hold). Until helper 309 (6 December) they counted here too: a zerohop client whose
 * application aborted 900 downloads on one connection, 90 at a time, had counted 121 of the server's DATA frames
 * behind them, and the 1,025th ended the connection with GOAWAY ENHANCE_YOUR_CALM, every tunnel with it.
 * Binds 127.0.165.1:50810-50814.
 */
@Timeout(180)
class LateFramesNotCountedTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.165.1";
    /**
     * The servers' limit of resets for the peer's errors per connection here ({@code Inspect.localErrorResetLimit}; the
     * production limit, h2's 1,024, is LocalErrorResetLimitTest's): what is counted does not depend on it, and 1,100
     * round trips per case took some 2 s each (until helper 315).
     */
    static final int LIMIT = 16;
    /** Past {@link #LIMIT}. */
    static final int MANY = 3 * LIMIT;
    static ResetServers servers;
    static Mesh mesh;
    static HboneServer server;
    static HboneServer oneStream;
    static String authority;
    /** The hold's clock of {@link #server}: stepped two seconds past each reset, so that no reset stream is held any more. */
    static final AtomicLong clock = new AtomicLong();

    @BeforeAll
    static void start() throws Exception {
        servers = new ResetServers(HOST, 50810, clock::get);
        mesh = servers.mesh;
        server = servers.server;
        oneStream = servers.oneStream;
        authority = servers.authority;
        Inspect.localErrorResetLimit(server, LIMIT);
        Inspect.localErrorResetLimit(oneStream, LIMIT);
    }

    /**
     * DATA after the peer's own END_STREAM on a tunnel still open (half-closed remote: its upstream, which never ends
     * its side, keeps it so) is no late frame: it is a connection error PROTOCOL_ERROR, as hyperium/h2 answers it
     * (src/proto/streams/recv.rs {@code recv_data}: "unexpected DATA frame" once the stream is not
     * {@code is_recv_streaming}). The first such DATA gets GOAWAY PROTOCOL_ERROR naming that tunnel's stream, the
     * connection closes with its other tunnel. Until helper 315 Netty's RST_STREAM STREAM_CLOSED reset the live tunnel
     * (a MadeYouReset primitive), counted among the resets for the peer's errors: 1,024 of them, then GOAWAY
     * ENHANCE_YOUR_CALM.
     */
    @Test
    void dataAfterEndStreamOnAStreamStillOpenIsAConnectionErrorAsInH2() throws Exception {
        java.util.List<java.net.Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (java.net.ServerSocket silent = new java.net.ServerSocket()) {
            silent.bind(new InetSocketAddress(HOST, 50814), 2048);
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        held.add(silent.accept()); // never read, never ended: the tunnel stays half-closed (remote)
                    }
                } catch (java.io.IOException closed) {
                    // the test is over
                }
            }, "silent-upstream");
            acceptor.start();
            HboneServer s = mesh.proxyTo(new InetSocketAddress(HOST, 50814)).bind(new InetSocketAddress(HOST, 50813)).build().start().get();
            try (RawFrames p = mesh.peer(s)) {
                for (int stream = 1; stream <= 3; stream += 2) {
                    p.headers(stream, new DefaultHttp2Headers().method("CONNECT").authority(HOST + ":50814"), false);
                    assertThat(p.next(HEADERS, stream, WAIT).status()).as("tunnel %d", stream).isEqualTo("200");
                }
                p.data(3, new byte[0], true);
                p.data(3, "after the end".getBytes(StandardCharsets.US_ASCII), false);
                assertThat(p.nextError(0, WAIT)).as("the answer to DATA after END_STREAM").isEqualTo("GOAWAY 3 PROTOCOL_ERROR");
                p.closed.get(10, java.util.concurrent.TimeUnit.SECONDS);
            } finally {
                s.close();
            }
        } finally {
            for (java.net.Socket h : held) {
                h.close();
            }
        }
    }

    @AfterAll
    static void stop() {
        servers.close();
    }

    /** The peer's errors are still counted after all those frames: a malformed request gets its RST_STREAM. */
    static void stillCounts(RawFrames p, int stream) throws Exception {
        p.frame(HEADERS, END_HEADERS, stream, block(":method", "CONNECT", ":authority", authority, "X-Upper", "1"));
        assertThat(p.nextError(stream, WAIT)).isEqualTo("RST " + stream + " PROTOCOL_ERROR");
        H2ProtocolTest.assertEchoes(p, 1, "still here");
        assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
    }

    /**
     * {@link #MANY} requests the server refuses (400, RST_STREAM NO_ERROR: the server's own reset, held a second), each followed,
     * once the hold is over, by the DATA the peer had sent behind its HEADERS: RST_STREAM STREAM_CLOSED each, and the
     * connection lives. Before helper 309: the DATA past the limit got GOAWAY ENHANCE_YOUR_CALM "too_many_internal_resets".
     */
    @Test
    void dataOnStreamsTheServerResetArrivingAfterTheHoldIsNotCounted() throws Exception {
        try (RawFrames p = servers.withSentinel(server)) {
            int stream = 3;
            for (int i = 0; i < MANY; i++, stream += 2) {
                p.frame(HEADERS, END_HEADERS, stream, block(":method", "GET", ":scheme", "https", ":path", "/", ":authority", authority));
                assertThat(p.nextError(stream, WAIT)).as("request %d", i + 1).isEqualTo("RST " + stream + " NO_ERROR");
                clock.addAndGet(Duration.ofSeconds(2).toNanos());
                p.data(stream, "late".getBytes(StandardCharsets.US_ASCII), false);
                assertThat(p.nextError(stream, WAIT)).as("DATA %d", i + 1).isEqualTo("RST " + stream + " STREAM_CLOSED");
            }
            stillCounts(p, stream);
        }
    }

    /**
     * {@link #MANY} CONNECTs past SETTINGS_MAX_CONCURRENT_STREAMS (a client that raced the limit), each with its first DATA
     * behind the HEADERS: RST_STREAM REFUSED_STREAM, then STREAM_CLOSED for the DATA, and the connection lives. Before:
     * the DATA past the limit got GOAWAY ENHANCE_YOUR_CALM.
     */
    @Test
    void dataBehindARefusedStreamIsNotCounted() throws Exception {
        try (RawFrames p = servers.withSentinel(oneStream)) {
            int stream = 3;
            for (int i = 0; i < MANY; i++, stream += 2) {
                p.headers(stream, new DefaultHttp2Headers().method("CONNECT").authority(authority), false);
                p.data(stream, "early".getBytes(StandardCharsets.US_ASCII), false);
                assertThat(p.nextError(stream, WAIT)).as("stream %d", i + 1).isEqualTo("RST " + stream + " REFUSED_STREAM");
                assertThat(p.nextError(stream, WAIT)).as("DATA %d", i + 1).isEqualTo("RST " + stream + " STREAM_CLOSED");
            }
            stillCounts(p, stream);
        }
    }
}
