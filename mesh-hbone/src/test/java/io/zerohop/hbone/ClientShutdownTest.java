package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.zerohop.hbone.internal.Transports;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A client that shuts down with a tunnel still open, against a connection lost. {@code HboneClient.close()}
 * sends GOAWAY(NO_ERROR), then TLS close_notify and FIN: the frames hyper/h2's client, the one ztunnel
 * uses, sends when it closes a connection (hyperium/h2 src/proto/connection.rs
 * {@code maybe_close_connection_if_no_streams}: {@code go_away_now(Reason::NO_ERROR)}, then
 * {@code State::Closing} shuts the codec down, close_notify for ztunnel's rustls stream), and RFC 9113
 * section 6.8 asks of every endpoint that closes a connection. The server reads the tunnels still open
 * then as ended by the client (as it reads the client's RST_STREAM NO_ERROR): {@code end=fin}, and its
 * upstream gets a FIN. Before, the client closed its TCP connection with neither, and the server could
 * only log {@code end=reset}, count a failed connection and reset the upstream, as it still does, and
 * must, for a connection that is lost (no GOAWAY, or a GOAWAY without the TLS close).
 *
 * <p>Where ztunnel differs: h2 sends that GOAWAY only once no stream is open; ztunnel's pool, when
 * dropped, drops the connection drivers, which sends nothing (h2's {@code Drop for Connection} only
 * ends the streams locally), and its server lets both cases pass (the EOF reaches the stream read as
 * BrokenPipe, which src/copy.rs {@code ignore_io_errors} swallows).
 */
@Timeout(60)
class ClientShutdownTest {
    static final byte[] BANNER = "220 banner\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    Mesh mesh;
    BannerUpstream upstream;
    /** How the upstream's read of the tunnel ended: "EOF" (a FIN) or the exception (a reset). */
    final CompletableFuture<String> upstreamEnd = new CompletableFuture<>();
    HboneServer server;
    final RecordingEvents serverEvents = new RecordingEvents();
    HboneClient client;

    @BeforeEach
    void start() throws Exception {
        mesh = new Mesh();
        // Banner, then read until the tunnel's end: the tunnel stays open both ways until then.
        upstream = new BannerUpstream("127.0.51.3", BANNER, s -> {
            try {
                upstreamEnd.complete(s.getInputStream().read() < 0 ? "EOF" : "data");
            } catch (IOException e) {
                upstreamEnd.complete(e.toString());
            }
        });
        InetSocketAddress up = upstream.address();
        server = mesh.server((dst, id, local) -> Destination.proxy(up)).listener(serverEvents).build().start().get(10, TimeUnit.SECONDS);
        client = mesh.client().build();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        upstream.close();
        mesh.close();
    }

    /** An open tunnel (the banner read, nothing ended either way) and its socket, still open. */
    HboneStream openTunnel() throws Exception {
        HboneStream s = client.connect(Mesh.loopback(25), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        HboneSocket socket = s.toSocket();
        socket.setSoTimeout(10_000);
        assertThat(socket.getInputStream().readNBytes(BANNER.length)).isEqualTo(BANNER);
        return s;
    }

    @Test
    void aTunnelOpenWhenItsClientClosesEndsAsTheClientsOnTheServer() throws Exception {
        openTunnel();
        client.close();
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.reset()).as("GOAWAY NO_ERROR, close_notify, FIN: the client ended it: %s", r).isFalse();
        assertThat(r.error()).isNull();
        assertThat(upstreamEnd.get(10, TimeUnit.SECONDS)).as("the upstream's end of input").isEqualTo("EOF");
    }

    @Test
    void aConnectionLostStillResetsItsOpenTunnels() throws Exception {
        HboneStream s = openTunnel();
        Channel connection = s.channel().parent();
        // The TCP connection closes with nothing before it, as when the client's process dies.
        connection.eventLoop().execute(() -> Transports.closeNow(connection));
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.reset()).as("no GOAWAY: %s", r).isTrue();
        assertThat(r.error()).isEqualTo("reset");
        assertThat(upstreamEnd.get(10, TimeUnit.SECONDS)).as("the upstream is reset").contains("reset");
    }

    @Test
    void aGoAwayWithoutTheTlsCloseIsNoShutdown() throws Exception {
        HboneStream s = openTunnel();
        Channel connection = s.channel().parent();
        // A client may send GOAWAY NO_ERROR and go on finishing its streams (RFC 9113 section 6.8);
        // losing the connection then is still a loss, not its close.
        connection.eventLoop().execute(() -> {
            connection.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
            Transports.closeNow(connection);
        });
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.reset()).as("GOAWAY, no close_notify: %s", r).isTrue();
        assertThat(upstreamEnd.get(10, TimeUnit.SECONDS)).as("the upstream is reset").contains("reset");
    }

    /**
     * A new-user pass: cleanup code that closed its streams after the client threw Netty's
     * RejectedExecutionException ("event executor terminated") from close() and toSocket(), while
     * reset() was already a no-op. close() is one too now; toSocket() and attach() say the client is closed.
     */
    @Test
    void aTunnelUsedAfterItsClientClosedSaysSoAndItsCloseIsANoOp() throws Exception {
        HboneStream s = client.connect(Mesh.loopback(25), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        client.close();
        s.close();
        s.reset();
        s.close();
        org.assertj.core.api.Assertions.assertThatThrownBy(s::toSocket).isInstanceOf(java.net.SocketException.class)
                .hasMessage("Socket is closed: its HBONE client was closed, and the tunnel with it");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> s.attach(new io.netty.channel.ChannelInboundHandlerAdapter()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("the HBONE client is closed");
        TunnelResult r = RecordingEvents.next(serverEvents.closed);
        assertThat(r.reset()).as("ended by the client's close: %s", r).isFalse();
    }

    /**
     * {@code close()} is idempotent also when two threads call it at once: each call's shutdown of the event loops
     * waits for two passes of their tasks, and a loop ending right after taking a pass refused the notification of a
     * listener on it, which Netty logged as an ERROR with a stack trace (a new-user pass, helper 249: 2 rounds of 20;
     * none before that wait). Closes of servers and clients, 20 each, two threads at once; a server closed from one of
     * its own loops returns at once (it waited 5 s there, stalling that loop).
     */
    @Test
    void closedTwiceAtOnceOrFromItsOwnLoopEachCloseIsQuiet() throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            java.util.List<String> lines = ServerNoiseTest.logLines(() -> {
                for (int i = 0; i < 20; i++) {
                    HboneClient c = mesh.client().build();
                    c.connect(Mesh.loopback(25), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS).close();
                    twiceAtOnce(c, pool);
                    twiceAtOnce(mesh.server((dst, id, local) -> null).build().start().get(10, TimeUnit.SECONDS), pool);
                }
            });
            assertThat(lines).as("ERROR lines").noneMatch(l -> l.contains("ERROR"));

            java.util.concurrent.atomic.AtomicBoolean returned = new java.util.concurrent.atomic.AtomicBoolean();
            HboneServer[] own = new HboneServer[1];
            own[0] = mesh.server((dst, id, local) -> {
                own[0].close();
                returned.set(true);
                return null;
            }).build().start().get(10, TimeUnit.SECONDS);
            // A CONNECT answer due within 3 s: a close that waited its 5 s on the loop stalled the answer past that.
            Throwable failure = null;
            try (HboneClient c = mesh.client().connectTimeout(java.time.Duration.ofSeconds(3)).build()) {
                c.connect(Mesh.loopback(25), mesh.expectServer(), own[0].localAddress()).get(20, TimeUnit.SECONDS).close();
            } catch (java.util.concurrent.ExecutionException e) {
                failure = e.getCause();
            }
            assertThat(returned.get()).as("the resolver's close returned").isTrue();
            assertThat(String.valueOf(failure)).as("how the CONNECT to the server closing under it ended")
                    .doesNotContain("within 3s").doesNotContain("timed out");
        } finally {
            pool.shutdownNow();
        }
    }

    private static void twiceAtOnce(AutoCloseable c, java.util.concurrent.ExecutorService pool) throws Exception {
        java.util.concurrent.CyclicBarrier go = new java.util.concurrent.CyclicBarrier(2);
        java.util.concurrent.Callable<Void> one = () -> {
            go.await();
            c.close();
            return null;
        };
        java.util.concurrent.Future<Void> a = pool.submit(one);
        java.util.concurrent.Future<Void> b = pool.submit(one);
        a.get(20, TimeUnit.SECONDS);
        b.get(20, TimeUnit.SECONDS);
    }
}
