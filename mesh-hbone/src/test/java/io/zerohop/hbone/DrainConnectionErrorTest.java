package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A connection error while the server drains (its GOAWAY NO_ERROR already sent) still gets a GOAWAY with the error's
 * code, naming the last stream processed, as hyperium/h2 sends it (src/proto/connection.rs {@code handle_go_away}: a
 * GOAWAY is skipped only when one with the same reason went out; go_away.rs {@code go_away_now}). Netty drops a GOAWAY
 * naming the id it already sent, so after the drain's final GOAWAY the peer saw the connection close with no code
 * ({@code H2Codecs.Codec#goAway}). A frame-level peer over mutual TLS; binds 127.0.176.1, ports chosen by the kernel.
 */
@Timeout(60)
class DrainConnectionErrorTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.176.1";

    /** After the final GOAWAY (last-stream-id 1, NO_ERROR), a WINDOW_UPDATE of 0 on the connection: GOAWAY 1 PROTOCOL_ERROR. */
    @Test
    void aConnectionErrorAfterTheDrainsFinalGoAwayGetsItsOwnGoAway() throws Exception {
        drainThenError(true);
    }

    /**
     * Between the drain's first GOAWAY (2^31-1) and its final one (the peer does not answer the PING, so the final one
     * waits up to a second): GOAWAY 1 PROTOCOL_ERROR too, whichever goes first. Before helper 315 Netty named 2^31-1,
     * the id already sent, and dropped it.
     */
    @Test
    void aConnectionErrorBetweenTheDrainsTwoGoAwaysNamesTheLastStream() throws Exception {
        drainThenError(false);
    }

    private static void drainThenError(boolean afterFinal) throws Exception {
        try (Mesh mesh = new Mesh(); StreamErrorCodeTest.Upstream up = new StreamErrorCodeTest.Upstream(HOST, 0)) {
            InetSocketAddress upstream = (InetSocketAddress) up.listener.localAddress();
            HboneServer server = mesh.proxyTo(upstream).bind(new InetSocketAddress(HOST, 0)).build().start().get();
            try (RawFrames p = mesh.peer(server)) {
                p.answerPings = afterFinal;
                p.headers(1, new DefaultHttp2Headers().method("CONNECT").authority(HOST + ":" + upstream.getPort()), false);
                assertThat(p.next(HEADERS, 1, WAIT).status()).isEqualTo("200");
                H2ProtocolTest.assertEchoes(p, 1, "sentinel");
                server.shutdownGracefully(Duration.ofSeconds(30));
                // The open tunnel keeps the connection open after the final GOAWAY.
                assertThat(goAway(p.next(GOAWAY, 0, WAIT))).as("the drain's first GOAWAY").isEqualTo("GOAWAY 2147483647 NO_ERROR");
                if (afterFinal) {
                    assertThat(goAway(p.next(GOAWAY, 0, WAIT))).as("the drain's final GOAWAY").isEqualTo("GOAWAY 1 NO_ERROR");
                }
                p.windowUpdate(0, 0);
                RawFrames.Frame error = p.next(f -> f.type() == GOAWAY && f.errorCode() != Http2Error.NO_ERROR.code(), WAIT);
                assertThat(error).as("a GOAWAY with the error's code before the close").isNotNull();
                assertThat(goAway(error)).isEqualTo("GOAWAY 1 PROTOCOL_ERROR");
                p.closed.get(10, TimeUnit.SECONDS);
            } finally {
                server.close();
            }
        }
    }

    private static String goAway(RawFrames.Frame f) {
        assertThat(f).as("a GOAWAY").isNotNull();
        int last = java.nio.ByteBuffer.wrap(f.payload()).getInt() & 0x7fffffff;
        return "GOAWAY " + last + " " + Http2Error.valueOf(f.errorCode());
    }
}
