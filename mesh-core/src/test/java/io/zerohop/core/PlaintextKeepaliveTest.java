package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.TcpKeepalive;
import io.zerohop.identity.InMemoryCa;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code Mesh.Builder.tcpKeepalive} on plaintext inbound's sockets, as ztunnel's {@code SocketConfig} is on its
 * inbound-passthrough ones: the connection its listener accepts ({@code src/socket.rs} {@code Listener::accept} after
 * {@code set_socket_options}, src/proxy/inbound_passthrough.rs) and its dial of the workload (src/proxy.rs
 * {@code DefaultSocketFactory::setup_socket} through {@code freebind_connect}). Read as the kernel holds them: the
 * keepalive timer {@code ss -tno} shows on each socket is due within the 42 s idle time given. Until 7 December only HBONE
 * connections had a keepalive; these sockets had no timer at all.
 */
class PlaintextKeepaliveTest {
    @Test
    @Timeout(60)
    void thePlaintextListenersConnectionAndItsDialOfTheWorkloadHaveTheMeshsKeepalive() throws Exception {
        Assumptions.assumeTrue(io.netty.channel.epoll.Epoll.isAvailable(), "TCP_KEEPIDLE needs epoll");
        InetAddress ip = InetAddress.getByName("127.0.212.30");
        InetSocketAddress workloadPort = new InetSocketAddress(ip, 54940);
        InetSocketAddress appAddress = new InetSocketAddress("127.0.212.31", 54941);
        Workload checkout = new Workload("shop", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, "n1", "cluster.local", Map.of(54940, AppProtocol.TCP));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(checkout), Map.of());
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (ServerSocket app = new ServerSocket()) {
            app.bind(appAddress);
            Thread echo = new Thread(() -> {
                try (Socket s = app.accept(); InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                    for (int b; (b = in.read()) >= 0; ) {
                        out.write(b);
                    }
                } catch (java.io.IOException closed) {
                    // the test is over
                }
            });
            echo.setDaemon(true);
            echo.start();
            try (Mesh server = Mesh.builder().identityProvider(ca).identity(checkout.identity()).workloads(registry).node("n1")
                    .inbound(new InetSocketAddress(ip, 54942)).threads(1).inboundEndpoint(workloadPort, appAddress)
                    .tcpKeepalive(new TcpKeepalive(true, Duration.ofSeconds(42), null, 0, false)).build()) {
                server.start().get(10, TimeUnit.SECONDS);
                assertThat(server.plaintextInbound(Capture.forward(workloadPort, workloadPort))).isEqualTo(workloadPort);
                try (Socket s = new Socket()) {
                    s.connect(workloadPort, 5_000);
                    s.setSoTimeout(10_000);
                    s.getOutputStream().write('x');
                    assertThat(s.getInputStream().read()).isEqualTo('x');
                    assertThat(keepaliveSeconds("src " + ip.getHostAddress() + ":54940")).as("accepted").isLessThanOrEqualTo(42);
                    assertThat(keepaliveSeconds("dst 127.0.212.31:54941")).as("the workload's dial").isLessThanOrEqualTo(42);
                }
            }
        }
    }

    /** When the keepalive timer of the established socket {@code filter} selects is due, in seconds (ss -tno). */
    private static double keepaliveSeconds(String filter) throws Exception {
        java.util.regex.Pattern p = java.util.regex.Pattern.compile("timer:\\(keepalive,(?:(\\d+)min)?(?:([\\d.]+)sec)?(?:([\\d.]+)ms)?,");
        String out = "";
        for (int i = 0; i < 50; i++) { // another timer may show while a segment is unacknowledged
            Process ss = new ProcessBuilder(List.of("ss", "-tno", "state", "established", filter)).redirectErrorStream(true).start();
            out = new String(ss.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            ss.waitFor();
            java.util.regex.Matcher m = p.matcher(out);
            if (m.find()) {
                return (m.group(1) == null ? 0 : 60 * Double.parseDouble(m.group(1))) + (m.group(2) == null ? 0 : Double.parseDouble(m.group(2)))
                        + (m.group(3) == null ? 0 : Double.parseDouble(m.group(3)) / 1000);
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no keepalive timer for " + filter + " in:\n" + out);
    }
}
