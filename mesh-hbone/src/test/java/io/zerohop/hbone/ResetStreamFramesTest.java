package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.DATA;
import static io.zerohop.hbone.RawFrames.END_HEADERS;
import static io.zerohop.hbone.RawFrames.END_STREAM;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static io.zerohop.hbone.RawFrames.RST_STREAM;
import static io.zerohop.hbone.RawFrames.WINDOW_UPDATE;
import static io.zerohop.hbone.StreamErrorCodeTest.block;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Frames a peer sends on a stream the HBONE server reset less than a second ago, beyond the plain DATA and trailers of
 * {@link ServerResetStreamCacheTest}: hyperium/h2 ignores every frame on a locally reset stream it still holds
 * (src/proto/streams/streams.rs {@code recv_data}, {@code recv_headers}: "Locally reset streams must ignore frames"), and
 * a stream error it finds in such a frame before the stream is looked at (a malformed header block, a PRIORITY frame
 * naming its own stream: src/codec/framed_read.rs {@code library_reset}) reaches src/proto/streams/send.rs
 * {@code send_reset}, which sends no second RST_STREAM on a stream already reset ("Don't double reset"). RFC 9113
 * section 5.1: "An endpoint MUST ignore frames that it receives on closed streams after it has sent a RST_STREAM frame."
 * And the bytes of ignored DATA go back to the connection window (h2's recv.rs {@code ignore_data}), so MiBs of them,
 * padded and with END_STREAM, stall no other tunnel.
 */
@Timeout(120)
class ResetStreamFramesTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.151.1";
    static final int SERVER_PORT = 49950;
    static final int UPSTREAM_PORT = 49951;
    static final int PRIORITY = 2;
    static final int PADDED = 0x8;
    /** The small server's connection window: a few stream windows (HboneServer grants at least one per admitted stream). */
    static final int SMALL_WINDOW = 256 * 1024;
    static Mesh mesh;
    static StreamErrorCodeTest.Upstream upstream;
    static HboneServer server;
    /** The same with a 256 KiB connection window. */
    static HboneServer small;
    static String authority;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        upstream = new StreamErrorCodeTest.Upstream(HOST, UPSTREAM_PORT);
        InetSocketAddress up = new InetSocketAddress(HOST, UPSTREAM_PORT);
        authority = HOST + ":" + UPSTREAM_PORT;
        server = mesh.proxyTo(up).bind(new InetSocketAddress(HOST, SERVER_PORT)).build().start().get();
        small = mesh.proxyTo(up).streamWindow(65_535).maxConcurrentStreams(4).connectionWindow(SMALL_WINDOW)
                .bind(new InetSocketAddress(HOST, SERVER_PORT + 2)).build().start().get();
    }

    @AfterAll
    static void stop() {
        small.close();
        server.close();
        upstream.close();
        mesh.close();
    }

    static Http2Headers connect() {
        return new DefaultHttp2Headers().method("CONNECT").authority(authority);
    }

    /** A peer whose stream 1 is an open echo tunnel and whose stream {@code reset} the server reset (a CONNECT with :path). */
    static RawFrames withReset(HboneServer s, int reset) throws Exception {
        RawFrames p = mesh.peer(s);
        p.headers(1, connect(), false);
        assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
        H2ProtocolTest.assertEchoes(p, 1, "sentinel");
        p.frame(HEADERS, END_HEADERS, reset, block(":method", "CONNECT", ":authority", authority, ":path", "/"));
        assertThat(p.nextError(reset, WAIT)).isEqualTo("RST " + reset + " PROTOCOL_ERROR");
        return p;
    }

    /**
     * Sends a few bytes on stream 1 and returns every frame read before their echo: the server reads frames in order and
     * answers a frame at once, while the echo waits for its upstream's round trip, so any answer to what was sent before
     * is among them.
     */
    static List<RawFrames.Frame> framesBeforeEcho(RawFrames p) throws Exception {
        p.data(1, "after".getBytes(StandardCharsets.US_ASCII), false);
        List<RawFrames.Frame> seen = p.until(f -> f.type() == DATA && f.stream() == 1, WAIT);
        assertThat(seen).as("the echo on stream 1").isNotEmpty().last().matches(f -> f.type() == DATA);
        return seen;
    }

    static List<String> resetsOf(List<RawFrames.Frame> frames, int stream) {
        return frames.stream().filter(f -> f.type() == RST_STREAM && f.stream() == stream || f.type() == GOAWAY)
                .map(f -> (f.type() == GOAWAY ? "GOAWAY " : "RST ") + Http2Error.valueOf(f.errorCode())).toList();
    }

    /**
     * Trailers carrying a connection-specific field (RFC 9113 section 8.2.2, malformed), late on a stream the server
     * reset: h2 finds the malformed block in its codec (framed_read.rs, {@code MalformedMessage}: {@code library_reset}
     * PROTOCOL_ERROR) and streams.rs {@code send_reset} finds the stream already reset: nothing is sent. Netty's HPACK
     * decoder fails the stream, and zerohop answered RST_STREAM PROTOCOL_ERROR (and logged a stream error) until helper
     * 297 (6 December).
     */
    @Test
    void malformedTrailersOnAStreamTheServerResetAreIgnored() throws Exception {
        try (RawFrames p = withReset(server, 3)) {
            p.frame(HEADERS, END_HEADERS | END_STREAM, 3, block("connection", "close"));
            assertThat(resetsOf(framesBeforeEcho(p), 3)).as("answers to the malformed trailers on stream 3").isEmpty();
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.isOpen()).isTrue();
        }
    }

    /**
     * A PRIORITY frame on a stream the server reset naming that stream as its dependency (RFC 9113 section 5.3.1, a stream
     * error PROTOCOL_ERROR): h2's framed_read.rs answers it {@code library_reset} ({@code InvalidDependencyId}), and
     * send.rs {@code send_reset} sends nothing on the stream it already reset. zerohop answered RST_STREAM PROTOCOL_ERROR.
     */
    @Test
    void priorityDependingOnItselfOnAStreamTheServerResetIsIgnored() throws Exception {
        try (RawFrames p = withReset(server, 3)) {
            p.frame(PRIORITY, 0, 3, Unpooled.buffer(5).writeInt(3).writeByte(15));
            assertThat(resetsOf(framesBeforeEcho(p), 3)).as("answers to the PRIORITY on stream 3").isEmpty();
            H2ProtocolTest.assertEchoes(p, 1, "still here");
        }
    }

    /**
     * The other frames a peer may still send on a stream the server reset, each ignored as h2 ignores them: a HEADERS
     * re-opening the id (streams.rs {@code recv_headers}, "Locally reset streams must ignore frames"), trailers in a
     * HEADERS and a CONTINUATION frame (a block over 16 KiB), WINDOW_UPDATE (streams.rs {@code recv_window_update} on
     * a stream with nothing to send), RST_STREAM and a PRIORITY frame. Passes on the code before helper 297 too.
     */
    @Test
    void headerBlocksAndControlFramesOnAStreamTheServerResetAreIgnored() throws Exception {
        try (RawFrames p = withReset(server, 3)) {
            p.headers(3, connect(), false);
            Http2Headers trailers = new DefaultHttp2Headers();
            for (int i = 0; i < 600; i++) {
                trailers.add("x-pad" + i, "0123456789012345678901234567890"); // about 27 KB: HEADERS and CONTINUATION
            }
            p.headers(3, trailers, true);
            p.windowUpdate(3, 100);
            p.rst(3, Http2Error.CANCEL.code());
            p.frame(PRIORITY, 0, 3, Unpooled.buffer(5).writeInt(1).writeByte(15));
            assertThat(resetsOf(framesBeforeEcho(p), 3)).as("answers to the frames on stream 3").isEmpty();
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.isOpen()).isTrue();
        }
    }

    /**
     * 4 MiB of DATA on a stream the server reset, 16 times the connection window, the last frame padded and with
     * END_STREAM: each frame's bytes, padding included, count against the connection window and go back at once (h2's
     * recv.rs {@code ignore_data}, Netty's DefaultHttp2ConnectionDecoder {@code onDataRead}), so the connection neither
     * fails FLOW_CONTROL_ERROR nor stalls stream 1, and the WINDOW_UPDATE frames on stream 0 return what was sent.
     * Whether the frames arrive within the second (ignored) or after it (RST_STREAM STREAM_CLOSED), the window is given
     * back; no answer is a GOAWAY. Passes on the code before helper 297 too: a guard on the change that ignores them.
     */
    @Test
    void megabytesOfDataOnAStreamTheServerResetGiveTheConnectionWindowBack() throws Exception {
        try (RawFrames p = withReset(small, 3)) {
            int frames = 256;
            int size = 16 * 1024;
            p.frames(frames, DATA, 0, 3, size);
            ByteBuf padded = Unpooled.buffer().writeByte(200).writeBytes(new byte[1000]).writeZero(200);
            int paddedLength = padded.readableBytes();
            p.frame(DATA, PADDED | END_STREAM, 3, padded);
            long sent = (long) frames * size + paddedLength;
            List<RawFrames.Frame> seen = framesBeforeEcho(p);
            assertThat(seen).noneMatch(f -> f.type() == GOAWAY);
            long returned = seen.stream().filter(f -> f.type() == WINDOW_UPDATE && f.stream() == 0)
                    .mapToLong(f -> java.nio.ByteBuffer.wrap(f.payload()).getInt() & 0x7fffffffL).sum();
            assertThat(returned).as("connection window returned for %d bytes sent", sent).isGreaterThanOrEqualTo(sent - SMALL_WINDOW);
            H2ProtocolTest.assertEchoes(p, 1, "still here");
            assertThat(p.isOpen()).isTrue();
        }
    }
}
