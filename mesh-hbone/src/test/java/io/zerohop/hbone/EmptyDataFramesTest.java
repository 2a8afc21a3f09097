package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.DATA;
import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.zerohop.hbone.internal.Inspect;
import io.zerohop.testing.netty.EchoServer;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Empty DATA frames without END_STREAM. The server keeps Netty's guard against floods of them (CVE-2019-9518): the
 * third in a row on a connection is a connection error, ENHANCE_YOUR_CALM, which ends every tunnel it carries. So no
 * HBONE peer may send them in normal use, and none does: ztunnel writes nothing for an empty buffer (istio/ztunnel
 * {@code src/proxy/h2.rs}, {@code poll_write_buf} returns 0 before {@code send_data}), and zerohop's client neither,
 * because Netty's HTTP/2 encoder completes an empty non-final DATA frame's promise in order without writing a frame
 * (netty-codec-http2 {@code DefaultHttp2ConnectionEncoder.FlowControlledData.write}). The second case is what a Netty
 * application does all the time: {@code writeAndFlush(Unpooled.EMPTY_BUFFER)} to learn when its writes are out. Today
 * it holds through Netty's encoder (an empty frame with padding is dropped there too): it fails once a tunnel's bytes
 * are written as frames below that encoder, as the stream rewrite issue 14 names would write them.
 */
@Timeout(60)
class EmptyDataFramesTest {
    static Mesh mesh;
    static EchoServer echo;
    static HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        server = mesh.server(DestinationResolver.sameIp()).build().start().get();
    }

    @AfterAll
    static void stop() {
        server.close();
        echo.close();
        mesh.close();
    }

    /** The guard the second case relies on: a raw peer's third empty frame ends its connection. */
    @Test
    void aPeersThirdEmptyFrameInARowEndsItsConnection() throws Exception {
        try (RawFrames peer = mesh.rawPeer(server)) {
            peer.preface();
            peer.headers(1, new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + echo.address().getPort()), false);
            assertThat(peer.next(HEADERS, 1, Duration.ofSeconds(10))).as("the 200").isNotNull();
            for (int i = 0; i < 3; i++) {
                peer.data(1, new byte[0], false);
            }
            RawFrames.Frame goAway = peer.next(GOAWAY, 0, Duration.ofSeconds(10));
            assertThat(goAway).as("a GOAWAY").isNotNull();
            assertThat(ByteBuffer.wrap(goAway.payload()).getInt(4) & 0xFFFF_FFFFL).as("its error code")
                    .isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
        }
    }

    /** Empty writes on three tunnels of one connection, five each, interleaved: the connection and its tunnels live on. */
    @Test
    void emptyWritesOnTunnelsSendNoFrame() throws Exception {
        HboneClient client = mesh.client().build();
        try {
            List<HboneStream> streams = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                streams.add(client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS));
            }
            assertThat(Inspect.connectionCount(client, mesh.expectServer(), server.localAddress())).as("one pooled connection").isEqualTo(1);
            for (int round = 0; round < 5; round++) {
                for (HboneStream s : streams) {
                    assertThat(s.channel().writeAndFlush(Unpooled.EMPTY_BUFFER).await(10, TimeUnit.SECONDS)).as("empty write done").isTrue();
                }
            }
            for (HboneStream s : streams) {
                assertThat(s.channel().isActive()).as("tunnel still open").isTrue();
            }
            byte n = 0;
            for (HboneStream s : streams) {
                try (HboneSocket socket = Mesh.socket(s)) {
                    byte[] msg = {++n, 2, 3};
                    socket.getOutputStream().write(msg);
                    assertThat(socket.getInputStream().readNBytes(3)).as("echo on tunnel %d", n).containsExactly(msg);
                }
            }
            assertThat(Inspect.connectionCount(client, mesh.expectServer(), server.localAddress())).as("still the one connection").isEqualTo(1);
        } finally {
            client.close();
        }
    }
}
