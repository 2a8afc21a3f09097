package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A destination that writes and closes at once (a banner, an error line) before the client sends a byte, relayed as plain
 * TCP by {@code --passthrough-unknown}: every client gets the bytes, then the FIN. Epoll reads such a peer's bytes and
 * FIN at EPOLLRDHUP although auto-read is off, so before the dialled connection kept them in a hold until the relay
 * joined (CaptureListener.connectTcp, Relay.join) they were read into a pipeline without a handler and dropped: 12 of 20
 * clients got a bare FIN. Real sockets on loopback; the client is a workload of the mesh's node (127.0.153.3).
 */
class PassthroughBannerTest {
    static final int CONNECTIONS = 40;
    static ServerSocket banner;
    static Mesh mesh;
    static InetSocketAddress forward;
    static InetAddress clientIp;

    @BeforeAll
    static void start() throws Exception {
        clientIp = InetAddress.getByName("127.0.153.3");
        banner = new ServerSocket(0, 64, InetAddress.getByName("127.0.153.9"));
        Thread t = new Thread(() -> {
            while (!banner.isClosed()) {
                try (Socket s = banner.accept(); OutputStream out = s.getOutputStream()) {
                    out.write("220 banner\r\n".getBytes(StandardCharsets.US_ASCII));
                } catch (Exception closed) {
                    return;
                }
            }
        }, "banner-app");
        t.setDaemon(true);
        t.start();
        Workload client = new Workload("prod", "client", "client", Map.of("app", "client"), List.of(clientIp),
                Workload.Protocol.HBONE, "node-a", "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(client), Map.of());
        mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).workloads(registry).node("node-a")
                .passthroughUnknown(true).threads(1).build();
        mesh.start().get(10, TimeUnit.SECONDS);
        forward = mesh.capture(Capture.forward(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                (InetSocketAddress) banner.getLocalSocketAddress()));
    }

    @AfterAll
    static void stop() throws Exception {
        mesh.close();
        banner.close();
    }

    @Test
    void everyClientGetsTheBannerOfADestinationThatWritesAndClosesAtOnce() throws Exception {
        int got = 0;
        StringBuilder wrong = new StringBuilder();
        for (int i = 0; i < CONNECTIONS; i++) {
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(clientIp, 0));
                s.connect(forward, 10_000);
                s.setSoTimeout(10_000);
                InputStream in = s.getInputStream();
                String read = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
                if (read.equals("220 banner\r\n")) {
                    got++;
                } else {
                    wrong.append(" [").append(read).append(']');
                }
            }
        }
        assertThat(got).as("connections that got the banner; the others read:%s", wrong).isEqualTo(CONNECTIONS);
    }
}
