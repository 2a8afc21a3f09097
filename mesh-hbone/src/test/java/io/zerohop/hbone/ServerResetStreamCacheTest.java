package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.DATA;
import static io.zerohop.hbone.RawFrames.END_HEADERS;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static io.zerohop.hbone.StreamErrorCodeTest.block;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The HBONE server's exemption of streams it reset from the finished-stream-id guard (H2Codecs.StreamIdGuard) counts
 * streams, as hyperium/h2's reset-stream cache does (src/proto/streams/recv.rs {@code enqueue_reset_expiration}, bounded
 * by {@code DEFAULT_RESET_STREAM_MAX} = 50 streams and {@code DEFAULT_RESET_STREAM_SECS} = 1 s, src/proto/mod.rs; a
 * stream reset while 50 are held is not held), not RST_STREAM frames: h2 ignores every frame on
 * a stream it reset ("Locally reset streams must ignore frames", src/proto/streams/streams.rs {@code recv_headers} and
 * {@code recv_data}), so a peer's DATA still in flight on such a stream neither answers nor evicts anything; so does
 * zerohop since 6 December, where Netty alone answers each such DATA with its own RST_STREAM STREAM_CLOSED. Found by helper 275: counted per frame, a client's upload in flight
 * on one reset tunnel pushed every other reset stream out, and a late HEADERS (trailers) on one of those cut the whole
 * connection with GOAWAY PROTOCOL_ERROR, every other tunnel with it. Likewise a stream refused for
 * SETTINGS_MAX_CONCURRENT_STREAMS, which Netty never creates: the DATA behind its HEADERS was a connection error.
 */
@Timeout(120)
class ServerResetStreamCacheTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.124.1";
    /** The server; its upstream is at the next port, the one-stream server at the one after. */
    static final int SERVER_PORT = 47500;
    static ResetServers servers;
    static Mesh mesh;
    static HboneServer server;
    /** The same server with room for one tunnel per connection. */
    static HboneServer oneStream;
    static String authority;
    /**
     * The clock of {@link #server}'s hold of the streams it reset (nanoseconds; {@code Inspect.resetClock}): it moves only
     * when a test moves it, so the second of h2's {@code DEFAULT_RESET_STREAM_SECS} is stepped over, not slept through.
     */
    static final AtomicLong holdClock = new AtomicLong();
    /** h2's {@code DEFAULT_RESET_STREAM_SECS}, the hold. */
    static final long HOLD_NANOS = TimeUnit.SECONDS.toNanos(1);

    @BeforeAll
    static void start() throws Exception {
        servers = new ResetServers(HOST, SERVER_PORT, holdClock::get);
        mesh = servers.mesh;
        server = servers.server;
        oneStream = servers.oneStream;
        authority = servers.authority;
    }

    @AfterAll
    static void stop() {
        servers.close();
    }

    static Http2Headers connect() {
        return servers.connect();
    }

    /** The server answers a CONNECT with :path 400 and resets the stream PROTOCOL_ERROR (RFC 9113 8.5). */
    static void resetByServer(RawFrames p, int stream) throws Exception {
        p.frame(HEADERS, END_HEADERS, stream, block(":method", "CONNECT", ":authority", authority, ":path", "/"));
        RawFrames.Frame rst = p.next(f -> f.type() == RST_STREAM && f.stream() == stream || f.type() == GOAWAY, WAIT);
        assertThat(rst).isNotNull();
        assertThat(rst.type()).isEqualTo(RST_STREAM);
        assertThat(Http2Error.valueOf(rst.errorCode())).isEqualTo(Http2Error.PROTOCOL_ERROR);
    }

    /**
     * Sends a few bytes on stream 1 (an open echo tunnel) and counts the RST_STREAM STREAM_CLOSED frames on {@code stream}
     * read before the first echoed DATA: the server reads frames in order and answers a frame on a closed stream at once,
     * while the echo waits for its upstream's round trip, so any answer to what was sent before is counted.
     */
    static long streamClosedResetsBeforeEcho(RawFrames p, int stream) throws Exception {
        p.data(1, "after".getBytes(java.nio.charset.StandardCharsets.US_ASCII), false);
        java.util.List<RawFrames.Frame> seen = p.until(f -> f.type() == DATA && f.stream() == 1, WAIT);
        assertThat(seen).as("the echo on stream 1").isNotEmpty().last().matches(f -> f.type() == DATA);
        return seen.stream().filter(f -> f.type() == RST_STREAM && f.stream() == stream
                && f.errorCode() == Http2Error.STREAM_CLOSED.code()).count();
    }

    /**
     * Two streams reset by the server, far under h2's 50; the client's 60 DATA frames in flight on the second, then
     * trailers (HEADERS with END_STREAM) on the first, which the client sent before it read the reset (RFC 9113 section
     * 5.1, "closed": "An endpoint MUST ignore frames that it receives on closed streams after it has sent a RST_STREAM
     * frame"). h2 ignores all of them (streams.rs {@code recv_data}, {@code recv_headers}: "Locally reset streams must
     * ignore frames"); the connection and its other tunnel live. Until 6 December the server answered each of the 61
     * frames with RST_STREAM STREAM_CLOSED, Netty's answer to a frame on a stream it no longer holds. The echo on stream
     * 1 comes back after the server read every frame before it, so an answer would be in by then.
     */
    @Test
    void framesInFlightOnStreamsTheServerResetAreIgnored() throws Exception {
        try (RawFrames p = mesh.peer(server)) {
            p.headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            H2ProtocolTest.assertEchoes(p, 1, "sentinel");
            resetByServer(p, 3);
            resetByServer(p, 5);
            p.frames(60, DATA, 0, 5, 1);
            assertThat(streamClosedResetsBeforeEcho(p, 5)).as("answers to the DATA on stream 5").isZero();
            p.headers(3, new DefaultHttp2Headers().add("grpc-status", "0"), true);
            assertThat(streamClosedResetsBeforeEcho(p, 3)).as("answers to the trailers on stream 3").isZero();
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
            assertThat(p.isOpen()).isTrue();
        }
    }

    /**
     * h2 holds a stream it reset for one second ({@code DEFAULT_RESET_STREAM_SECS}, recv.rs
     * {@code clear_expired_reset_streams}: expired once {@code now - reset_at > reset_duration}); then it has forgotten
     * it, and HEADERS on its id is a connection error PROTOCOL_ERROR (recv.rs {@code Recv::open}, "id < next_id"). The
     * exemption had no time limit until 6 December. The hold's clock is stepped: at exactly one second the trailers are
     * still ignored, a nanosecond later they end the connection. Slept through 1.2 s until helper 304 (6 December).
     */
    @Test
    void headersOnAStreamResetOverASecondAgoIsAConnectionError() throws Exception {
        try (RawFrames p = mesh.peer(server)) {
            p.headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            resetByServer(p, 3);
            holdClock.addAndGet(HOLD_NANOS);
            p.headers(3, new DefaultHttp2Headers().add("grpc-status", "0"), true);
            assertThat(streamClosedResetsBeforeEcho(p, 3)).as("answers to the trailers a second after the reset").isZero();
            assertThat(p.frames).as("a second after the reset").noneMatch(f -> f.type() == GOAWAY);
            holdClock.incrementAndGet();
            p.headers(3, new DefaultHttp2Headers().add("grpc-status", "0"), true);
            RawFrames.Frame goAway = p.next(GOAWAY, 0, WAIT);
            assertThat(goAway).isNotNull();
            assertThat(Http2Error.valueOf(goAway.errorCode())).isEqualTo(Http2Error.PROTOCOL_ERROR);
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * And DATA on it then gets RST_STREAM STREAM_CLOSED, h2's answer for a stream it may have forgotten; within the
     * second it is ignored.
     */
    @Test
    void dataOnAStreamResetOverASecondAgoGetsStreamClosed() throws Exception {
        try (RawFrames p = mesh.peer(server)) {
            p.headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            resetByServer(p, 3);
            holdClock.addAndGet(HOLD_NANOS);
            p.data(3, "held".getBytes(java.nio.charset.StandardCharsets.US_ASCII), false);
            assertThat(streamClosedResetsBeforeEcho(p, 3)).as("answers to the DATA a second after the reset").isZero();
            holdClock.incrementAndGet();
            p.data(3, "late".getBytes(java.nio.charset.StandardCharsets.US_ASCII), false);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 STREAM_CLOSED");
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
        }
    }

    /**
     * A client that opens a stream past SETTINGS_MAX_CONCURRENT_STREAMS with its DATA right behind the HEADERS (before
     * it read the SETTINGS, or racing a tunnel's end): the stream is refused, and the DATA in flight on it is a stream
     * error, not a connection error. hyperium/h2 src/proto/streams/recv.rs {@code Recv::open} advances
     * {@code next_stream_id} before it refuses ({@code self.refused = Some(id)}), so {@code may_have_created_stream}
     * holds for the refused id and streams.rs {@code recv_data} answers its DATA with RST_STREAM STREAM_CLOSED.
     */
    @Test
    void dataOnAStreamRefusedForConcurrencyKeepsTheConnection() throws Exception {
        try (RawFrames p = mesh.peer(oneStream)) {
            p.headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            H2ProtocolTest.assertEchoes(p, 1, "sentinel");
            p.headers(3, connect(), false);
            p.data(3, "early".getBytes(java.nio.charset.StandardCharsets.US_ASCII), false);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 REFUSED_STREAM");
            assertThat(p.nextError(3, WAIT)).as("the answer to the DATA on stream 3").isEqualTo("RST 3 STREAM_CLOSED");
            // The client's own cancel of the stream, crossing the refusal: ignored, as h2 ignores it.
            p.rst(3, Http2Error.CANCEL.code());
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
        }
    }

    /**
     * The same with the client's HEADERS of 60 streams past the limit in one burst, then DATA on the first refused: h2's
     * {@code next_stream_id} is past every refused id, so the first is still one that may have been created.
     */
    @Test
    void dataOnTheFirstOfSixtyRefusedStreamsKeepsTheConnection() throws Exception {
        try (RawFrames p = mesh.peer(oneStream)) {
            p.headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            for (int s = 3; s < 3 + 2 * 60; s += 2) {
                p.headers(s, connect(), false);
            }
            RawFrames.Frame last = p.next(f -> f.type() == RST_STREAM && f.stream() == 3 + 2 * 59 || f.type() == GOAWAY, WAIT);
            assertThat(last).isNotNull();
            assertThat(last.type()).isEqualTo(RST_STREAM);
            p.data(3, "late".getBytes(java.nio.charset.StandardCharsets.US_ASCII), false);
            assertThat(p.nextError(3, WAIT)).as("the answer to the DATA on stream 3").isEqualTo("RST 3 STREAM_CLOSED");
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
        }
    }

    /** A peer on {@link #oneStream} whose stream 1 is an open tunnel, the connection's one stream. */
    static RawFrames oneStreamTaken() throws Exception {
        RawFrames p = mesh.peer(oneStream);
        p.headers(1, connect(), false);
        assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
        H2ProtocolTest.assertEchoes(p, 1, "sentinel");
        return p;
    }

    /**
     * HEADERS re-using the id of a stream refused for SETTINGS_MAX_CONCURRENT_STREAMS (a client that retried on the same
     * id) is a connection error PROTOCOL_ERROR, as hyperium/h2 answers it: src/proto/streams/recv.rs {@code Recv::open}
     * set {@code next_stream_id} past the refused id and stored no stream for it, so streams.rs {@code recv_headers}
     * finds none and {@code Recv::open} fails "id < next_id" with {@code library_go_away(PROTOCOL_ERROR)} (h2's own
     * test of that path after a reset it forgot: tests/h2-tests/tests/stream_states.rs
     * {@code recv_next_stream_id_updated_by_malformed_headers}). zerohop answered RST_STREAM STREAM_CLOSED.
     */
    @Test
    void headersReusingARefusedStreamIdIsAConnectionError() throws Exception {
        try (RawFrames p = oneStreamTaken()) {
            p.headers(3, connect(), false);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 REFUSED_STREAM");
            p.headers(3, connect(), false);
            assertThat(p.nextError(0, WAIT)).isEqualTo("GOAWAY 1 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The same with a header list over the 64 KiB limit: h2 checks the id first (streams.rs {@code recv_headers} calls
     * recv.rs {@code Recv::open}, "id < next_id", before {@code Recv::recv_headers} looks at {@code is_over_size}), so it
     * is still GOAWAY PROTOCOL_ERROR. zerohop took the block for a new request: Netty tried to open the stream to answer
     * 431, could not (the connection's one stream is taken) and answered RST_STREAM PROTOCOL_ERROR, and a 431 refusal
     * was reported for it.
     */
    @Test
    void anOversizedBlockReusingARefusedStreamIdIsAConnectionError() throws Exception {
        try (RawFrames p = oneStreamTaken()) {
            p.headers(3, connect(), false);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 REFUSED_STREAM");
            Http2Headers huge = connect();
            for (int i = 0; i < 3_000; i++) {
                huge.add("x-pad", ""); // 3,000 x 37 bytes: 111,000, over 65,536
            }
            p.headers(3, huge, false);
            assertThat(p.nextError(0, WAIT)).isEqualTo("GOAWAY 1 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * HEADERS on an id the peer skipped, below one the server refused: h2's {@code next_stream_id} is past the refused
     * id, so the skipped one is "id < next_id" in {@code Recv::open}, a connection error PROTOCOL_ERROR, as for an id
     * skipped below an opened stream (h2spec http2/5.1.1/2, {@code H2ProtocolTest.lowerStreamIdIsAConnectionError}).
     * zerohop answered RST_STREAM STREAM_CLOSED.
     */
    @Test
    void headersOnAnUnusedIdBelowARefusedOneIsAConnectionError() throws Exception {
        try (RawFrames p = oneStreamTaken()) {
            p.headers(5, connect(), false);
            assertThat(p.nextError(5, WAIT)).isEqualTo("RST 5 REFUSED_STREAM");
            p.headers(3, connect(), false);
            assertThat(p.nextError(0, WAIT)).isEqualTo("GOAWAY 1 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Trailers right behind a refused stream's HEADERS, sent before the refusal was read: h2 stored no stream for the
     * refused id, so the trailers' HEADERS take streams.rs {@code recv_headers}' path for an unknown stream,
     * {@code Recv::open}, "id < next_id": GOAWAY PROTOCOL_ERROR (a refusal is not a reset h2 remembers: it never reaches
     * {@code enqueue_reset_expiration}). zerohop counted the refusal among its recently reset streams and answered
     * RST_STREAM STREAM_CLOSED.
     */
    @Test
    void trailersRightBehindARefusedStreamsHeadersAreAConnectionError() throws Exception {
        try (RawFrames p = oneStreamTaken()) {
            p.headers(3, connect(), false);
            p.headers(3, new DefaultHttp2Headers().add("grpc-status", "0"), true);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 REFUSED_STREAM");
            assertThat(p.nextError(0, WAIT)).as("the answer to the trailers").isEqualTo("GOAWAY 1 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Parity kept: DATA between the refused HEADERS and the trailers. h2 answers the DATA with RST_STREAM STREAM_CLOSED
     * (streams.rs {@code recv_data}, {@code may_have_forgotten_stream}) through streams.rs {@code send_reset}, which
     * stores the stream it did not know, resets it and queues it as locally reset ({@code enqueue_reset_expiration}); the
     * trailers then find a locally reset stream and are ignored ({@code recv_headers}: "Locally reset streams must ignore
     * frames"). zerohop holds the stream it answered the DATA for and ignores the trailers (until 6 December Netty
     * answered them with a second STREAM_CLOSED), and the connection lives.
     */
    @Test
    void trailersAfterDataOnARefusedStreamKeepTheConnection() throws Exception {
        try (RawFrames p = oneStreamTaken()) {
            p.headers(3, connect(), false);
            p.data(3, "early".getBytes(java.nio.charset.StandardCharsets.US_ASCII), false);
            p.headers(3, new DefaultHttp2Headers().add("grpc-status", "0"), true);
            assertThat(p.nextError(3, WAIT)).isEqualTo("RST 3 REFUSED_STREAM");
            assertThat(p.nextError(3, WAIT)).as("the answer to the DATA").isEqualTo("RST 3 STREAM_CLOSED");
            assertThat(streamClosedResetsBeforeEcho(p, 3)).as("answers to the trailers").isZero();
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
            assertThat(p.isOpen()).isTrue();
        }
    }
}
