package io.zerohop.hbone;

import io.zerohop.testing.netty.EchoServer;
import static io.zerohop.hbone.RawFrames.DATA;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.PING;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The HBONE server against a frame-level HTTP/2 peer: RFC 9113 conformance and per-stream faults. */
@Timeout(60)
class H2ProtocolTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static Mesh mesh;
    static EchoServer echo;
    static HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        server = echoServer().build().start().get();
    }

    /**
     * Serves the echo server only, with ztunnel's keepalive (10 s / 20 s) unless a test sets its
     * own: a short one would also close the other tests' connections whenever a PING answer waits
     * behind a large header block on a loaded machine.
     */
    static HboneServer.Builder echoServer() {
        return mesh.server((dst, id, local) -> dst.getPort() == echo.address().getPort() ? Destination.proxy(echo.address()) : null);
    }

    @AfterAll
    static void stop() {
        server.close();
        echo.close();
        mesh.close();
    }

    static RawFrames peer() throws Exception {
        return peer(server);
    }

    static RawFrames peer(HboneServer to) throws Exception {
        return mesh.rawPeer(to);
    }

    static Http2Headers connect() {
        return new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + echo.address().getPort());
    }

    static void assertEchoes(RawFrames p, int stream, String text) throws Exception {
        p.data(stream, text.getBytes(StandardCharsets.UTF_8), false);
        StringBuilder got = new StringBuilder();
        while (got.length() < text.length()) {
            RawFrames.Frame f = p.next(DATA, stream, WAIT);
            assertThat(f).as("echo of %s on stream %d", text, stream).isNotNull();
            got.append(new String(f.payload(), StandardCharsets.UTF_8));
        }
        assertThat(got.toString()).isEqualTo(text);
    }

    @Test
    @DisplayName("h2spec http2/5.1.1/2: HEADERS on a stream id lower than one already opened is a connection PROTOCOL_ERROR")
    void lowerStreamIdIsAConnectionError() throws Exception {
        try (RawFrames p = peer()) {
            p.preface().headers(5, connect(), false);
            assertThat(p.next(HEADERS, 5, WAIT).status()).isEqualTo("200");
            p.headers(7, connect(), false);
            assertThat(p.next(HEADERS, 7, WAIT).status()).as("ascending ids stay fine").isEqualTo("200");
            p.headers(3, connect(), false);
            RawFrames.Frame goAway = p.next(f -> f.type() == GOAWAY, WAIT);
            assertThat(goAway).isNotNull();
            assertThat(goAway.errorCode()).isEqualTo(Http2Error.PROTOCOL_ERROR.code());
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    @DisplayName("an oversized request header list gets 431 on its stream; the connection and its other tunnel live on")
    void oversizedHeadersArePerStream() throws Exception {
        Random random = new Random(7);
        try (RawFrames p = peer()) {
            p.preface().headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            assertEchoes(p, 1, "before");
            int stream = 3;
            for (int size : new int[] {70_000, 100_000, 500_000}) {
                StringBuilder big = new StringBuilder(size);
                for (int i = 0; i < size; i++) {
                    big.append((char) ('!' + random.nextInt(94)));
                }
                p.headers(stream, connect().add("x-big", big), false);
                RawFrames.Frame refused = p.next(HEADERS, stream, WAIT);
                assertThat(refused).as("answer to %d bytes of headers", size).isNotNull();
                assertThat(refused.status()).isEqualTo("431");
                assertEchoes(p, 1, "after " + size);
                stream += 2;
            }
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
            assertThat(p.isOpen()).isTrue();
        }
    }

    @Test
    @DisplayName("RFC 9113 section 5.4.2: no RST_STREAM in response to RST_STREAM (an open tunnel aborted; streams reset before their answer)")
    void noResetInResponseToReset() throws Exception {
        try (RawFrames p = peer()) {
            p.preface().headers(1, connect(), false);
            assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
            p.rst(1, Http2Error.CONNECT_ERROR.code());
            p.headersAndRst(3, connect(), Http2Error.CANCEL.code());
            p.headersAndRst(5, connect(), Http2Error.INTERNAL_ERROR.code());
            // Frames are handled in order, and a PING after the marker's answer is answered after
            // whatever the resets above led to.
            p.headers(7, connect(), false);
            List<RawFrames.Frame> seen = new ArrayList<>(p.until(f -> f.type() == HEADERS && f.stream() == 7, WAIT));
            p.frame(PING, 0, 0, Unpooled.buffer(8).writeLong(42));
            seen.addAll(p.until(f -> f.type() == PING && (f.flags() & RawFrames.ACK) != 0, WAIT));
            assertThat(seen).as("frames after the resets").anyMatch(f -> f.type() == HEADERS && f.stream() == 7 && "200".equals(f.status()))
                    .anyMatch(f -> f.type() == PING && (f.flags() & RawFrames.ACK) != 0)
                    .noneMatch(f -> f.type() == RST_STREAM);
            assertEchoes(p, 7, "still works");
        }
    }

    @Test
    @DisplayName("ztunnel src/proxy/h2.rs do_ping_pong: the server PINGs its connections and closes one whose PING goes unanswered")
    void serverPingsAndClosesSilentPeers() throws Exception {
        try (HboneServer pinging = echoServer().keepalive(Duration.ofMillis(200), Duration.ofMillis(600)).build().start().get();
             RawFrames p = peer(pinging)) {
            p.preface();
            assertThat(p.next(f -> f.type() == PING && (f.flags() & RawFrames.ACK) == 0, WAIT)).as("server PING").isNotNull();
            assertThat(p.isOpen()).as("an answered PING keeps the connection").isTrue();
            p.answerPings = false;
            p.closed.get(20, TimeUnit.SECONDS);
        }
    }
}
