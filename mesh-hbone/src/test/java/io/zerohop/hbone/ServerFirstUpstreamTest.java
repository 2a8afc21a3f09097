package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import io.netty.channel.socket.SocketChannel;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A server-first upstream that answers and closes at once (an SMTP/FTP refusal banner, a MySQL
 * "host blocked" packet): the client gets the bytes, then the end (END_STREAM, read as EOF), as
 * from ztunnel, whose copy_bidirectional (istio/ztunnel src/copy.rs) relays what it read and then
 * half-closes on the read of 0. Before, when the upstream's bytes and FIN came between the connect
 * and the relay's join, epoll read them with auto-read off (EPOLLRDHUP, netty#3709) into a pipeline
 * with no handler: both were dropped and the tunnel hung until the client gave up
 * (benchmarks/results/newuser6-e4a18a4.md). The window is one task wide; the first test holds it
 * open until the server has seen the upstream's FIN (the server's package-private
 * {@code HboneServer.Builder.joinGate}, one per server built here), so the order needs no timing; the second leaves it to chance many times over. The 10 s read timeout is a guard only.
 */
@Timeout(120)
class ServerFirstUpstreamTest {
    static final byte[] BANNER = "220 banner\n".getBytes(StandardCharsets.US_ASCII);

    Mesh mesh;
    /** Whether the upstream ends each connection with a reset (SO_LINGER 0) instead of a FIN. */
    volatile boolean resets;
    final CountDownLatch dialled = new CountDownLatch(1);
    BannerUpstream upstream;
    HboneServer server;
    HboneClient client;
    /** This test's join window: while it answers true for the server's dialled upstream, the tunnel's 200 and relay wait; null, no wait. */
    volatile Predicate<SocketChannel> joinWindow;

    @BeforeEach
    void start() throws Exception {
        mesh = new Mesh();
        upstream = new BannerUpstream("127.0.46.1", BANNER, s -> {
            if (resets) {
                // Only once the proxy's connect completed: a reset before it fails the dial (503).
                dialled.await(10, TimeUnit.SECONDS);
                s.setSoLinger(true, 0);
            }
        });
        InetSocketAddress up = upstream.address();
        server = mesh.server((dst, id, local) -> Destination.proxy(up))
                .joinGate(tcp -> {
                    Predicate<SocketChannel> w = joinWindow;
                    return w != null && w.test(tcp);
                })
                .build().start().get(10, TimeUnit.SECONDS);
        client = mesh.client().build();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        server.close();
        upstream.close();
        mesh.close();
    }

    /** One tunnel: everything the client reads until EOF. */
    byte[] readThrough() throws Exception {
        HboneStream s = client.connect(Mesh.loopback(25), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        try (HboneSocket socket = s.toSocket()) {
            socket.setSoTimeout(10_000);
            return socket.getInputStream().readAllBytes();
        }
    }

    @Test
    void bytesAndFinThatArriveBeforeTheRelayJoinsReachTheClient() throws Exception {
        assumeTrue(Transports.epoll(), "epoll reads with auto-read off; NIO leaves the bytes in the socket");
        // The join waits until the server's upstream channel has read the FIN (its input shut down).
        joinWindow = tcp -> tcp.isActive() && !tcp.isInputShutdown();
        for (int i = 0; i < 5; i++) {
            assertThat(readThrough()).as("tunnel %d: the banner, then EOF", i).isEqualTo(BANNER);
        }
    }

    @Test
    void aBannerThenCloseAlwaysArrivesWhole() throws Exception {
        for (int i = 0; i < 30; i++) {
            assertThat(readThrough()).as("tunnel %d: the banner, then EOF", i).isEqualTo(BANNER);
        }
    }

    /**
     * An upstream that answers and resets at once: the tunnel is reset (RST_STREAM, read as a reset),
     * as when the reset comes after the join (ztunnel's copy_bidirectional fails on the read error).
     * Before, epoll's read error went to the pipeline's tail, and the hold would have passed on only
     * the end of input that follows it: a clean end.
     */
    @Test
    void aResetThatArrivesBeforeTheRelayJoinsResetsTheTunnel() throws Exception {
        assumeTrue(Transports.epoll(), "epoll reads with auto-read off; NIO leaves the bytes in the socket");
        resets = true;
        joinWindow = tcp -> {
            dialled.countDown();
            return tcp.isActive() && !tcp.isInputShutdown();
        };
        HboneStream s = client.connect(Mesh.loopback(25), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS);
        try (HboneSocket socket = s.toSocket()) {
            socket.setSoTimeout(10_000);
            Throwable t = catchThrowable(() -> socket.getInputStream().readAllBytes());
            assertThat(t).as("a reset, not the bytes and a clean end").isInstanceOf(SocketException.class).hasMessage("Connection reset");
        }
    }
}
