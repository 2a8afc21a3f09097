package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.testing.netty.EchoServer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.zerohop.hbone.internal.Inspect;

@Timeout(60)
class ShutdownTest {

    @Test
    void gracefulShutdownDrainsOpenTunnelsAndRefusesNewOnes() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).build().start().get();
            try (HboneClient client = mesh.client().build()) {
                HboneSocket open = client.connectSocket(echo.address(), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                CompletableFuture<Void> drained = server.shutdownGracefully(Duration.ofSeconds(30));
                // Once the GOAWAY reached the client, the connection takes no new tunnel (it stays pooled, draining,
                // until its last tunnel ends: then the client closes it, as h2 does) and no new tunnel goes to the
                // draining server (the listener is closed, so a fresh dial fails too).
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (Inspect.usableConnectionCount(client, mesh.expectServer(), server.localAddress()) != 0 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThat(Inspect.usableConnectionCount(client, mesh.expectServer(), server.localAddress())).as("usable after GOAWAY").isZero();
                assertThat(Inspect.connectionCount(client, mesh.expectServer(), server.localAddress())).as("draining after GOAWAY").isEqualTo(1);
                assertThatThrownBy(() -> client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class);
                assertThat(drained).isNotDone();
                // The open tunnel still works and finishes normally.
                open.getOutputStream().write(new byte[] {1, 2, 3});
                open.shutdownOutput();
                assertThat(open.getInputStream().readAllBytes()).containsExactly(1, 2, 3);
                open.close();
                drained.get(10, TimeUnit.SECONDS);
                assertThat(Inspect.connectionCount(server)).isZero();
            }
        }
    }

    /**
     * A new-user pass: start() after close() of a never-started server never completed (and Netty logged
     * a rejected registration); after close() of a started one it answered the old completed future.
     */
    @Test
    void aShutDownServerRefusesToStartAgain() throws Exception {
        try (Mesh mesh = new Mesh()) {
            HboneServer never = mesh.server(DestinationResolver.sameIp()).build();
            never.close();
            assertThatThrownBy(() -> never.start().get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("shut down");
            HboneServer started = mesh.server(DestinationResolver.sameIp()).build();
            started.start().get(10, TimeUnit.SECONDS);
            started.close();
            assertThatThrownBy(() -> started.start().get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void drainDeadlineClosesStragglers() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).build().start().get();
            try (HboneClient client = mesh.client().build()) {
                HboneSocket open = client.connectSocket(echo.address(), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                server.shutdownGracefully(Duration.ofMillis(100)).get(10, TimeUnit.SECONDS);
                assertThatThrownBy(() -> open.getInputStream().read()).isInstanceOf(java.net.SocketException.class);
            }
        }
    }

    /**
     * newuser4's pass: a drain while a client was in its TLS handshake logged "HBONE TLS handshake ...
     * failed: StacklessClosedChannelException" (and a connectionFailed event with that name). The drain
     * closes such a connection (no HTTP/2 yet, so no GOAWAY can tell it) and nothing is lost: one line
     * saying so, no failure event. The client is a raw TCP socket that sends the first 11 bytes of a
     * ClientHello whose record header announces 512, so the server is mid-handshake for as long as it waits.
     */
    @Test
    void aDrainDuringATlsHandshakeIsOneClearLine() throws Exception {
        RecordingEvents events = new RecordingEvents();
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).listener(events).build().start().get();
            try (java.net.Socket raw = new java.net.Socket(server.localAddress().getAddress(), server.localAddress().getPort())) {
                raw.getOutputStream().write(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03});
                raw.getOutputStream().flush();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (Inspect.connectionCount(server) != 1 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThat(Inspect.connectionCount(server)).as("the server holds the half-shaken connection").isEqualTo(1);
                String client = raw.getLocalAddress().getHostAddress() + ":" + raw.getLocalPort();
                java.util.List<String> lines = ServerNoiseTest.logLines(() -> {
                    server.shutdownGracefully(Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS);
                    raw.setSoTimeout(10_000);
                    try {
                        assertThat(raw.getInputStream().read()).as("the drain closed it").isEqualTo(-1);
                    } catch (java.net.SocketException reset) {
                        // closed with our 11 bytes unread: a reset is that close too
                    }
                });
                assertThat(lines).as("no exception's name").noneMatch(l -> l.contains("Exception"));
                assertThat(lines.stream().filter(l -> l.contains(client)).toList()).as("one line about the connection")
                        .singleElement().asString()
                        .contains("HBONE connection from " + client + " to ", " closed by the drain during its TLS handshake: no tunnel had opened");
                assertThat(events.failed).as("not a failed connection: the drain closed it").isEmpty();
            }
        }
    }

    /**
     * The two-step graceful GOAWAY (RFC 9113 section 6.8; hyper/h2's {@code go_away_gracefully},
     * which ztunnel's server connections get): GOAWAY NO_ERROR with last-stream-id 2^31-1 and a
     * PING, then, once the PING is acked, the final GOAWAY with the last stream id received. A
     * CONNECT the client sent before it had read the first GOAWAY (here: after it, but before its
     * PING ack, which is the order such a CONNECT arrives in) is served; with one GOAWAY naming
     * stream 1 it was refused. A frame-level client (real mTLS) that acks the PING when the test
     * says, so the order needs no timing.
     */
    @Test
    void aConnectSentBeforeTheFirstGoAwayWasReadIsServed() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).build().start().get();
            try (RawFrames p = mesh.rawPeer(server)) {
                p.answerPings = false;
                p.preface();
                io.netty.handler.codec.http2.Http2Headers connect = new io.netty.handler.codec.http2.DefaultHttp2Headers()
                        .method("CONNECT").authority("127.0.0.1:" + echo.address().getPort());
                p.headers(1, connect, false);
                assertThat(p.next(RawFrames.HEADERS, 1, WAIT).status()).as("tunnel 1").isEqualTo("200");

                CompletableFuture<Void> drained = server.shutdownGracefully(Duration.ofSeconds(30));
                RawFrames.Frame first = p.next(RawFrames.GOAWAY, 0, WAIT);
                assertThat(first).as("the first GOAWAY").isNotNull();
                assertThat(lastStreamId(first)).as("the first GOAWAY's last-stream-id: 2^31-1").isEqualTo(Integer.MAX_VALUE);
                assertThat(first.errorCode()).isZero();
                RawFrames.Frame ping = p.next(f -> f.type() == RawFrames.PING && (f.flags() & RawFrames.ACK) == 0, WAIT);
                assertThat(ping).as("the PING that follows the first GOAWAY").isNotNull();

                p.headers(3, connect, false);
                p.frame(RawFrames.PING, RawFrames.ACK, 0, io.netty.buffer.Unpooled.wrappedBuffer(ping.payload()));
                // The final GOAWAY may come before tunnel 3's answer (that waits for its upstream dial).
                java.util.List<RawFrames.Frame> seen = new java.util.ArrayList<>();
                p.next(f -> {
                    seen.add(f);
                    return seen.stream().anyMatch(x -> x.type() == RawFrames.HEADERS && x.stream() == 3)
                            && seen.stream().anyMatch(x -> x.type() == RawFrames.GOAWAY);
                }, WAIT);
                RawFrames.Frame served = seen.stream().filter(x -> x.type() == RawFrames.HEADERS && x.stream() == 3).findFirst().orElse(null);
                assertThat(served).as("an answer to the CONNECT sent between the GOAWAYs").isNotNull();
                assertThat(served.status()).as("tunnel 3, opened between the GOAWAYs").isEqualTo("200");
                RawFrames.Frame last = seen.stream().filter(x -> x.type() == RawFrames.GOAWAY).findFirst().orElse(null);
                assertThat(last).as("the final GOAWAY, after the PING's ack").isNotNull();
                assertThat(lastStreamId(last)).as("the final GOAWAY's last-stream-id").isEqualTo(3);
                assertThat(last.errorCode()).isZero();

                // Both tunnels carry bytes and end normally; then the connection closes and the drain ends.
                for (int stream : new int[] {1, 3}) {
                    p.data(stream, new byte[] {(byte) stream}, true);
                    RawFrames.Frame echoed = p.next(RawFrames.DATA, stream, WAIT);
                    assertThat(echoed).as("echo on tunnel %d", stream).isNotNull();
                }
                drained.get(20, TimeUnit.SECONDS);
            }
        }
    }

    static final Duration WAIT = Duration.ofSeconds(10);

    static int lastStreamId(RawFrames.Frame goAway) {
        byte[] b = goAway.payload();
        return ((b[0] & 0x7f) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
    }

    /**
     * A new-user pass: {@code shutdownGracefully(Duration.ofSeconds(-5))} was accepted and drained as zero. A negative
     * drain is refused before anything happens: the server is not marked shut down and still
     * starts; zero stays allowed (at once, what {@code close()} uses).
     */
    @Test
    void aNegativeDrainIsRefusedAndChangesNothing() throws Exception {
        try (Mesh mesh = new Mesh()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).build();
            assertThatThrownBy(() -> server.shutdownGracefully(Duration.ofSeconds(-5)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessage("drain must not be negative, got -5s (zero closes the open tunnels at once)");
            assertThat(server.start().get(10, TimeUnit.SECONDS)).as("not shut down by a refused call").isSameAs(server);
            server.shutdownGracefully(Duration.ZERO).get(10, TimeUnit.SECONDS);
            assertThatThrownBy(() -> server.start().get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(IllegalStateException.class);
        }
    }
}
