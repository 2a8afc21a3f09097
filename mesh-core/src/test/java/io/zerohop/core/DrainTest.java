package io.zerohop.core;

import static io.zerohop.testing.netty.SocketEnds.readUntilEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.InMemoryCa;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The drain covers plain relays as it covers tunnels, as in ztunnel every connection of every proxy
 * (outbound, inbound passthrough) holds a {@code DrainWatcher} and is force-shut at the deadline
 * (istio/ztunnel src/drain.rs {@code run_with_drain}, src/proxy/inbound_passthrough.rs): a relay
 * open at {@code shutdown()} keeps working during the drain, and one still open at the deadline is
 * reset on both ends, never ended with a FIN. Before, plain relays were not counted: with no tunnel
 * open the drain ended at once and the event loops' shutdown closed them with a FIN, a cut stream
 * that looks complete to both applications.
 */
@Timeout(60)
class DrainTest {
    static final Duration DRAIN = Duration.ofSeconds(3);

    @Test
    void passthroughRelaysFinishDuringTheDrainAndTheRestAreReset() throws Exception {
        try (ServerSocket app = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            // An identity of its own: a source that is no workload of this node is refused without one.
            Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local"))
                    .identity(SpiffeId.parse("spiffe://cluster.local/ns/default/sa/proxy")).passthroughUnknown(true)
                    .drain(DRAIN).threads(2).build();
            InetSocketAddress capture = mesh.capture(Capture.forward(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    (InetSocketAddress) app.getLocalSocketAddress()));
            drains(mesh, capture, app);
        }
    }

    @Test
    void plaintextInboundRelaysFinishDuringTheDrainAndTheRestAreReset() throws Exception {
        InetAddress legacyIp = InetAddress.getByName("127.0.0.4");
        Workload legacy = new Workload("legacy", "old", "old", Map.of(), List.of(legacyIp), Workload.Protocol.TCP, null, "cluster.local");
        try (ServerSocket app = new ServerSocket(0, 50, legacyIp)) {
            Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local"))
                    .workloads(WorkloadRegistry.of(List.of(legacy), Map.of())).drain(DRAIN).threads(2).build();
            InetSocketAddress plain = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    (InetSocketAddress) app.getLocalSocketAddress()));
            drains(mesh, plain, app);
        }
    }

    /**
     * A connection accepted before the drain whose relay is still being opened at the deadline (a
     * SOCKS5 CONNECT whose dial to the app hangs: the app's accept queue is full, so the kernel drops
     * the SYNs) is reset there too: the drain counts accepted connections from the accept, not from
     * the relay. Before, nothing counted it and the loops' shutdown ended it with a FIN as the drain
     * began. The SOCKS5 greeting's answer shows the proxy accepted the connection (closing a listener
     * resets connections the kernel queued but the proxy never accepted, as ztunnel's would).
     */
    @Test
    void aConnectionWhoseRelayIsStillOpeningIsResetAtTheDeadline() throws Exception {
        List<Socket> fillers = new java.util.ArrayList<>();
        try (ServerSocket app = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.4"))) {
            // Fill the accept queue (never accepted): the next connection attempt hangs instead of
            // completing. Linux drops a SYN while the queue is full (tcp_conn_request).
            while (true) {
                Socket f = new Socket();
                try {
                    f.connect(app.getLocalSocketAddress(), 500);
                    fillers.add(f);
                } catch (java.net.SocketTimeoutException full) {
                    f.close();
                    break;
                }
                assertThat(fillers).as("connections queued on a listener with backlog 1").hasSizeLessThan(64);
            }
            Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local"))
                    .identity(SpiffeId.parse("spiffe://cluster.local/ns/default/sa/proxy")).passthroughUnknown(true)
                    .drain(Duration.ofSeconds(1)).threads(2).build();
            InetSocketAddress socks = mesh.capture(Capture.socks5(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)));
            try (Socket client = new Socket(socks.getAddress(), socks.getPort())) {
                client.setSoTimeout(20_000);
                java.io.OutputStream out = client.getOutputStream();
                out.write(new byte[] {5, 1, 0});
                assertThat(client.getInputStream().readNBytes(2)).as("SOCKS5: no authentication").containsExactly(5, 0);
                byte[] ip = app.getInetAddress().getAddress();
                int port = app.getLocalPort();
                out.write(new byte[] {5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3], (byte) (port >> 8), (byte) port});
                CompletableFuture<Void> drained = mesh.shutdown();
                assertThat(readUntilEnd(client)).as("client whose relay was still being opened at the deadline").isEqualTo("reset");
                drained.get(20, TimeUnit.SECONDS);
            }
        } finally {
            for (Socket f : fillers) {
                f.close();
            }
        }
    }

    /** One relay finishes during the drain, byte for byte; the other is idle and cut at the deadline. */
    static void drains(Mesh mesh, InetSocketAddress listener, ServerSocket app) throws Exception {
        app.setSoTimeout(20_000);
        try (Socket finishing = new Socket(listener.getAddress(), listener.getPort());
             Socket appFinishing = accept(app, finishing);
             Socket idle = new Socket(listener.getAddress(), listener.getPort());
             Socket appIdle = accept(app, idle)) {
            CompletableFuture<String> appIdleEnd = CompletableFuture.supplyAsync(() -> readUntilEnd(appIdle));

            CompletableFuture<Void> drained = mesh.shutdown();
            // Draining: the open relay still carries bytes both ways and ends cleanly.
            finishing.getOutputStream().write("request".getBytes(StandardCharsets.US_ASCII));
            finishing.shutdownOutput();
            appFinishing.setSoTimeout(20_000);
            assertThat(new String(appFinishing.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
                    .as("app side of the relay that finishes during the drain").isEqualTo("request");
            appFinishing.getOutputStream().write("response".getBytes(StandardCharsets.US_ASCII));
            appFinishing.shutdownOutput();
            finishing.setSoTimeout(20_000);
            assertThat(new String(finishing.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
                    .as("client side of the relay that finishes during the drain").isEqualTo("response");

            // Idle at the deadline: reset on both ends.
            idle.setSoTimeout(20_000);
            assertThat(readUntilEnd(idle)).as("client side of the relay cut at the deadline").isEqualTo("reset");
            assertThat(appIdleEnd.get(20, TimeUnit.SECONDS)).as("app side of the relay cut at the deadline").isEqualTo("reset");
            // Bounded: the drain, the grace for the resets and the loops' shutdown (never reached here).
            drained.get(DRAIN.toSeconds() + 10, TimeUnit.SECONDS);
        }
    }

    /** Accepts the connection {@code client} opened through the proxy, proven by a byte through the relay. */
    static Socket accept(ServerSocket app, Socket client) throws IOException {
        Socket s = app.accept();
        client.getOutputStream().write('x');
        s.setSoTimeout(20_000);
        assertThat(s.getInputStream().read()).isEqualTo('x');
        return s;
    }

}
