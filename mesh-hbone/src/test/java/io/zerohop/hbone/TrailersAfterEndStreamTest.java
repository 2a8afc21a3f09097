package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.GOAWAY;
import static io.zerohop.hbone.RawFrames.HEADERS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * HEADERS from the peer after its own END_STREAM on a tunnel still open (half-closed (remote): the upstream never ends its
 * side), answered as hyperium/h2 answers them (src/proto/streams/streams.rs {@code recv_headers} for a stream past its
 * request headers): with END_STREAM, a connection error PROTOCOL_ERROR (recv.rs {@code recv_trailers}, state.rs
 * {@code recv_close} on {@code HalfClosedRemote}: {@code library_go_away}); without, RST_STREAM PROTOCOL_ERROR ("trailers
 * frame was not EOS", {@code library_reset}), the connection kept. Until helper 345 both got Netty's RST_STREAM
 * STREAM_CLOSED and the connection lived. DATA there is {@code LateFramesNotCountedTest}'s. A frame-level peer over real
 * mutual TLS; the client alike, against a frame-level server. Binds 127.0.202.1:60800-60802.
 */
@Timeout(120)
class TrailersAfterEndStreamTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    static final String HOST = "127.0.202.1";
    static final InetSocketAddress UPSTREAM = new InetSocketAddress(HOST, 60801);
    static final List<Socket> held = new CopyOnWriteArrayList<>();
    static Mesh mesh;
    static ServerSocket silent;
    static HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        silent = new ServerSocket();
        silent.bind(UPSTREAM, 2048);
        Thread acceptor = new Thread(() -> {
            try {
                while (true) {
                    held.add(silent.accept()); // never read, never ended: each tunnel stays half-closed (remote)
                }
            } catch (java.io.IOException closed) {
                // the test is over
            }
        }, "silent-upstream");
        acceptor.setDaemon(true);
        acceptor.start();
        server = mesh.proxyTo(UPSTREAM).bind(new InetSocketAddress(HOST, 60800)).build().start().get();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
        silent.close();
        for (Socket s : held) {
            s.close();
        }
        mesh.close();
    }

    static Http2Headers connect() {
        return new DefaultHttp2Headers().method("CONNECT").authority(HOST + ":" + UPSTREAM.getPort());
    }

    static Http2Headers trailers() {
        return new DefaultHttp2Headers().add("x-trailer", "late");
    }

    /** Tunnels 1 and 3 open, and 3's input ended by the peer's empty DATA with END_STREAM. */
    static RawFrames twoTunnelsTheSecondEnded() throws Exception {
        RawFrames p = mesh.peer(server);
        for (int stream = 1; stream <= 3; stream += 2) {
            p.headers(stream, connect(), false);
            assertThat(p.next(HEADERS, stream, WAIT).status()).as("tunnel %d", stream).isEqualTo("200");
        }
        p.data(3, new byte[0], true);
        return p;
    }

    @Test
    void trailersWithEndStreamAfterEndStreamAreAConnectionErrorAsInH2() throws Exception {
        try (RawFrames p = twoTunnelsTheSecondEnded()) {
            p.headers(3, trailers(), true);
            assertThat(p.nextError(0, WAIT)).as("the answer to HEADERS with END_STREAM after END_STREAM")
                    .isEqualTo("GOAWAY 3 PROTOCOL_ERROR");
            p.closed.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void headersWithoutEndStreamAfterEndStreamResetTheStreamProtocolErrorAsInH2() throws Exception {
        try (RawFrames p = twoTunnelsTheSecondEnded()) {
            p.headers(3, trailers(), false);
            assertThat(p.nextError(0, WAIT)).as("the answer to HEADERS without END_STREAM after END_STREAM")
                    .isEqualTo("RST 3 PROTOCOL_ERROR");
            p.headers(5, connect(), false);
            assertThat(p.next(HEADERS, 5, WAIT).status()).as("a new tunnel on the same connection").isEqualTo("200");
            assertThat(p.frames).noneMatch(f -> f.type() == GOAWAY);
            assertThat(p.isOpen()).isTrue();
        }
    }

    /**
     * The client alike, as h2's client (ztunnel's) answers a frame-level server's trailers after its own END_STREAM on a
     * tunnel the client still sends on: GOAWAY PROTOCOL_ERROR naming 0 (the client processed no stream of the server's),
     * no RST_STREAM, the connection closed. Until helper 345 Netty's RST_STREAM STREAM_CLOSED reset that tunnel alone.
     */
    @Test
    void trailersFromTheServerAfterItsEndStreamAreAConnectionErrorOnTheClientToo() throws Exception {
        io.netty.channel.EventLoopGroup loop = io.zerohop.hbone.internal.Transports.newGroup(1, "trailers-server");
        java.util.concurrent.LinkedBlockingQueue<ClientGoAwayParityTest.Conn> conns = new java.util.concurrent.LinkedBlockingQueue<>();
        Mesh own = new Mesh();
        io.netty.channel.Channel listener = ClientGoAwayParityTest.listen(own, loop, new InetSocketAddress(HOST, 60802),
                io.netty.handler.codec.http2.Http2Settings.defaultSettings(), (c, st) -> {
                    c.ok(st);
                    c.ctx.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2DataFrame(true).stream(st));
                    // HEADERS with END_STREAM and END_HEADERS, one literal field never indexed ("x-trailer: late", the
                    // dynamic table untouched), written below the codec, which would not send on a stream it ended.
                    byte[] block = {0x10, 9, 'x', '-', 't', 'r', 'a', 'i', 'l', 'e', 'r', 4, 'l', 'a', 't', 'e'};
                    c.ch.pipeline().context(c.codec).writeAndFlush(io.netty.buffer.Unpooled.buffer().writeMedium(block.length)
                            .writeByte(HEADERS).writeByte(0x5).writeInt(st.id()).writeBytes(block));
                }, conns);
        try (HboneClient client = own.client().build()) {
            HboneSocket open = Mesh.socket(client.connect(Mesh.loopback(9), own.expectServer(),
                    (InetSocketAddress) listener.localAddress()).get(10, TimeUnit.SECONDS));
            ClientGoAwayParityTest.Conn conn = conns.poll(5, TimeUnit.SECONDS);
            assertThat(conn.clientGoAway.get(5, TimeUnit.SECONDS)).as("the client's GOAWAY")
                    .isEqualTo(io.netty.handler.codec.http2.Http2Error.PROTOCOL_ERROR.code());
            assertThat(conn.clientGoAwayLastStream.get(5, TimeUnit.SECONDS)).isZero();
            assertThat(conn.ch.closeFuture().await(5, TimeUnit.SECONDS)).as("the connection closed").isTrue();
            assertThat(conn.resets).as("no RST_STREAM").isEmpty();
            open.close();
        } finally {
            ClientGoAwayParityTest.stop(listener, conns, loop, own);
        }
    }
}
