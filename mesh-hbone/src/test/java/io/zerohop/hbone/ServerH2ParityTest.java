package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.CONTINUATION;
import static io.zerohop.hbone.RawFrames.DATA;
import static io.zerohop.hbone.RawFrames.END_HEADERS;
import static io.zerohop.hbone.RawFrames.END_STREAM;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static io.zerohop.hbone.RawFrames.SETTINGS_INITIAL_WINDOW_SIZE;
import static io.zerohop.hbone.StreamErrorCodeTest.block;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Where the HBONE server answered a peer's protocol fault otherwise than RFC 9113 and hyperium/h2 (ztunnel's HTTP/2),
 * recorded by helper 266 (mesh-hbone README, "Protocol faults") and changed by helper 271: a frame-level peer over real
 * mutual TLS to a real HboneServer in proxy mode, beside a sentinel tunnel, each case citing the h2 source it follows.
 */
@Timeout(120)
class ServerH2ParityTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.120.1";
    static final int SERVER_PORT = 47100;
    static final int UPSTREAM_PORT = 47101;
    static Mesh mesh;
    static StreamErrorCodeTest.Upstream upstream;
    static HboneServer server;
    static String authority;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        upstream = new StreamErrorCodeTest.Upstream(HOST, UPSTREAM_PORT);
        InetSocketAddress up = new InetSocketAddress(HOST, UPSTREAM_PORT);
        authority = HOST + ":" + UPSTREAM_PORT;
        server = mesh.proxyTo(up)
                .bind(new InetSocketAddress(HOST, SERVER_PORT)).build().start().get();
    }

    @AfterAll
    static void stop() {
        server.close();
        upstream.close();
        mesh.close();
    }

    static Http2Headers connect() {
        return new DefaultHttp2Headers().method("CONNECT").authority(authority);
    }

    /** The upstream connection of the last {@link #withSentinel()}'s stream 1. */
    static StreamErrorCodeTest.Upstream.Conn sentinelUpstream;

    /** A peer with a tunnel on stream 1 that echoes; its upstream connection in {@link #sentinelUpstream}. */
    static RawFrames withSentinel() throws Exception {
        upstream.accepted.clear();
        RawFrames p = mesh.peer(server);
        p.headers(1, connect(), false);
        assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
        H2ProtocolTest.assertEchoes(p, 1, "sentinel");
        sentinelUpstream = upstream.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(sentinelUpstream).isNotNull();
        return p;
    }

    /** The server's first error answer after what the test sent ({@link RawFrames#nextError}, any stream). */
    static String firstError(RawFrames p) throws InterruptedException {
        return p.nextError(0, WAIT);
    }

    /**
     * RFC 9113 section 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes a flow-control window past 2^31-1 is a
     * connection error FLOW_CONTROL_ERROR; hyperium/h2 src/proto/streams/send.rs {@code apply_remote_settings} (its
     * {@code recv_stream_window_update(..).map_err(Error::library_go_away)}; h2 has no test of its own for this, its
     * WINDOW_UPDATE sibling is tests/h2-tests/tests/flow_control.rs {@code recv_window_update_causes_overflow}). Netty reset
     * the overflowing stream only (RST_STREAM 3 FLOW_CONTROL_ERROR). As h2's {@code handle_go_away} (src/proto/connection.rs,
     * "Reset all active streams") and section 5.4.1 ("MUST close the TCP connection") have it, the connection and its
     * other tunnel end: their upstream connections are ended too, none is left open.
     */
    @Test
    void aWindowRaiseThatOverflowsAnOpenStreamEndsTheConnection() throws Exception {
        try (RawFrames p = withSentinel()) {
            p.headers(3, connect(), false);
            assertThat(p.next(HEADERS, 3, WAIT).status()).isEqualTo("200");
            StreamErrorCodeTest.Upstream.Conn up3 = upstream.accepted.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(up3).isNotNull();
            // The server has sent no DATA on stream 3: its send window is the initial 65,535, now taken to 2^31-1.
            p.windowUpdate(3, Integer.MAX_VALUE - 65_535);
            p.settings(SETTINGS_INITIAL_WINDOW_SIZE, 65_536);
            assertThat(firstError(p)).isEqualTo("GOAWAY 3 FLOW_CONTROL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
            // Cut, not completed: each upstream gets a TCP reset, as for any connection lost with tunnels open.
            assertThat(up3.end.get(10, TimeUnit.SECONDS)).as("stream 3's upstream").startsWith("RST");
            assertThat(sentinelUpstream.end.get(10, TimeUnit.SECONDS)).as("the sentinel's upstream").startsWith("RST");
        }
    }

    /**
     * RFC 9113 section 5.1.1: HEADERS on the id of a finished stream (lower than or equal to the highest the peer opened)
     * is a connection error PROTOCOL_ERROR; hyperium/h2 src/proto/streams/recv.rs {@code Recv::open} ("id < next_id",
     * {@code library_go_away(PROTOCOL_ERROR)}), h2spec http2/5.1.1/2. Netty answered RST_STREAM STREAM_CLOSED.
     */
    @Test
    void headersOnAFinishedTunnelsStreamIdIsAConnectionError() throws Exception {
        try (RawFrames p = withSentinel()) {
            p.headers(3, connect(), false);
            assertThat(p.next(HEADERS, 3, WAIT).status()).isEqualTo("200");
            H2ProtocolTest.assertEchoes(p, 3, "done soon");
            // Both sides end stream 3 cleanly: our END_STREAM, the upstream's FIN answered by the server's END_STREAM.
            p.data(3, new byte[0], true);
            RawFrames.Frame end = p.next(f -> f.stream() == 3 && (f.flags() & END_STREAM) != 0 && (f.type() == DATA || f.type() == HEADERS)
                    || f.type() == RST_STREAM || f.type() == GOAWAY, WAIT);
            assertThat(end).as("the server's END_STREAM on stream 3").isNotNull();
            assertThat(end.type()).isIn(DATA, HEADERS);
            p.headers(3, connect(), false);
            assertThat(firstError(p)).isEqualTo("GOAWAY 3 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * A stream the server reset itself is exempt, as h2 exempts its recently reset streams (src/proto/streams/streams.rs
     * {@code recv_headers}: "Locally reset streams must ignore frames"; recv.rs): the peer may have sent on it before it
     * read the reset (RFC 9113 section 5.1, "closed"). The HEADERS are ignored, as h2 ignores them, and the connection
     * lives; until 6 December Netty's RST_STREAM STREAM_CLOSED answered them.
     */
    @Test
    void headersOnAStreamTheServerResetIsNoConnectionError() throws Exception {
        try (RawFrames p = withSentinel()) {
            p.headers(3, connect().path("/"), false);
            assertThat(p.next(HEADERS, 3, WAIT).status()).isEqualTo("400");
            assertThat(firstError(p)).isEqualTo("RST 3 PROTOCOL_ERROR");
            p.headers(3, connect(), false);
            assertThat(ServerResetStreamCacheTest.streamClosedResetsBeforeEcho(p, 3)).isZero();
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
        }
    }

    /**
     * RFC 9113 section 8.1.1: a malformed request is a stream error PROTOCOL_ERROR (section 8.5 for CONNECT's own
     * pseudo-headers, 8.3.1 for every request's). hyperium/h2 src/server.rs {@code convert_poll_message}
     * ({@code malformed!}: "missing method", ":scheme in CONNECT", ":path in CONNECT", "missing scheme") and recv.rs
     * (":protocol" without extended CONNECT) reset it so, without a response (h2's tests/h2-tests/tests/server.rs
     * {@code reject_pseudo_protocol_on_non_connect_request}, {@code extended_connect_protocol_disabled_by_default});
     * zerohop keeps its 400 first, as the section allows. The reset was NO_ERROR. A well-formed request that is no
     * CONNECT stays 400 then NO_ERROR (section 8.1).
     */
    @Test
    void aMalformedConnectGets400ThenProtocolError() throws Exception {
        record Case(String name, Http2Error reset, String... fields) {}
        Http2Error malformed = Http2Error.PROTOCOL_ERROR;
        List<Case> cases = List.of(
                new Case(":path in CONNECT", malformed, ":method", "CONNECT", ":authority", authority, ":path", "/"),
                new Case(":scheme in CONNECT", malformed, ":method", "CONNECT", ":authority", authority, ":scheme", "https"),
                new Case(":protocol without extended CONNECT", malformed,
                        ":method", "CONNECT", ":protocol", "websocket", ":authority", authority, ":scheme", "https", ":path", "/"),
                new Case("CONNECT without :authority", malformed, ":method", "CONNECT"),
                new Case("no :method", malformed, ":authority", authority),
                new Case("GET without :scheme and :path", malformed, ":method", "GET", ":authority", authority),
                new Case("a well-formed GET", Http2Error.NO_ERROR,
                        ":method", "GET", ":scheme", "https", ":path", "/", ":authority", authority));
        try (RawFrames p = withSentinel()) {
            int stream = 3;
            for (Case c : cases) {
                p.frame(HEADERS, END_HEADERS, stream, block(c.fields()));
                int s = stream;
                RawFrames.Frame status = p.next(f -> f.stream() == s && f.type() == HEADERS || f.type() == GOAWAY, WAIT);
                assertThat(status).as(c.name()).isNotNull();
                assertThat(status.status()).as(c.name()).isEqualTo("400");
                assertThat(firstError(p)).as(c.name()).isEqualTo("RST " + stream + " " + c.reset());
                stream += 2;
            }
            H2ProtocolTest.assertEchoes(p, 1, "still here");
        }
    }

    /** A header block of {@code fragments} frames, HEADERS then CONTINUATION, each a few bytes, END_HEADERS on the last. */
    static void fragmented(RawFrames p, int stream, int fragments) {
        ByteBuf b = block(":method", "CONNECT", ":authority", authority, "x-pad", "p".repeat(200));
        int size = b.readableBytes() / fragments;
        for (int i = 0; i < fragments; i++) {
            boolean last = i == fragments - 1;
            ByteBuf piece = b.readRetainedSlice(last ? b.readableBytes() : size);
            p.frame(i == 0 ? HEADERS : CONTINUATION, last ? END_HEADERS : 0, stream, piece);
        }
        b.release();
    }

    /**
     * CONTINUATION floods: hyperium/h2 src/codec/framed_read.rs ({@code calc_max_continuation_frames}, "too_many_continuations")
     * allows 5 CONTINUATION frames without END_HEADERS with ztunnel's server settings (64 KiB header list, 1 MiB frames)
     * and ends the connection with GOAWAY ENHANCE_YOUR_CALM at the sixth; h2's test tests/h2-tests/tests/server.rs
     * {@code too_many_continuation_frames_sends_goaway}. Netty allowed 16 small fragments; now 7 counted Netty's way, so
     * the block h2 allows (HEADERS, 5 CONTINUATION, one with END_HEADERS) is served and a block of HEADERS and 8
     * CONTINUATION frames is refused, where 16 let it through.
     */
    @Test
    void aContinuationFloodEndsTheConnectionWhereH2Would() throws Exception {
        try (RawFrames p = withSentinel()) {
            fragmented(p, 3, 7);
            assertThat(p.next(HEADERS, 3, WAIT).status()).as("HEADERS, 5 CONTINUATION, 1 with END_HEADERS, as h2 allows").isEqualTo("200");
            fragmented(p, 5, 9);
            assertThat(firstError(p)).isEqualTo("GOAWAY 3 ENHANCE_YOUR_CALM");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }
}
