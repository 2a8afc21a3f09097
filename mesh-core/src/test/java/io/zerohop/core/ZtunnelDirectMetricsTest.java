package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.search.Search;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.identity.InMemoryCa;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * ztunnel's end-to-end metric tests (istio/ztunnel tests/direct.rs {@code test_tcp_connections_metrics} and
 * {@code test_tcp_bytes_metrics}) replayed: a local workload dials, through the SOCKS5 capture listener, an echo server
 * that is a known workload outside the mesh ({@code TEST_WORKLOAD_TCP}, protocol TCP), so the connection is relayed as
 * plain TCP. While it is open {@code istio_tcp_connections_opened_total} is 1 and {@code ..._closed_total} 0; once the
 * client closes, closed is 1; and the sent and received byte counters each equal what was echoed (Istio counts the
 * request as received and the response as sent for both reporters; an echo makes them the same). Real sockets on
 * 127.0.202.x.
 */
class ZtunnelDirectMetricsTest {
    private static final int SIZE = 1000;

    private ServerSocket echo;
    private Mesh mesh;
    private SimpleMeterRegistry meters;
    private InetSocketAddress socks;
    private InetAddress source;

    @BeforeEach
    void start() throws Exception {
        source = InetAddress.getByName("127.0.202.2");
        InetAddress tcpIp = InetAddress.getByName("127.0.202.3");
        echo = new ServerSocket(0, 50, tcpIp);
        Thread t = new Thread(() -> {
            while (!echo.isClosed()) {
                try (Socket c = echo.accept(); InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream()) {
                    in.transferTo(out);
                } catch (IOException e) {
                    // closed by the test, or the client went away
                }
            }
        });
        t.setDaemon(true);
        t.start();
        Workload client = new Workload("default", "source", "source", Map.of("app", "source"), List.of(source),
                Workload.Protocol.HBONE, null, "cluster.local");
        Workload tcp = new Workload("default", "tcp", "tcp", Map.of("app", "tcp"), List.of(tcpIp), Workload.Protocol.TCP, null,
                "cluster.local");
        meters = new SimpleMeterRegistry();
        mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local"))
                .workloads(WorkloadRegistry.of(List.of(client, tcp), Map.of())).meterRegistry(meters).threads(1).build();
        socks = mesh.capture(Capture.socks5(new InetSocketAddress(InetAddress.getByName("127.0.202.1"), 0)));
    }

    @AfterEach
    void stop() throws Exception {
        mesh.close();
        echo.close();
    }

    /** A SOCKS5 CONNECT from the source workload's address to the echo server; the connected socket. */
    private Socket socksConnect() throws IOException {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(source, 0));
        s.connect(socks, 10_000);
        s.setSoTimeout(10_000);
        s.getOutputStream().write(new byte[] {5, 1, 0});
        assertThat(s.getInputStream().readNBytes(2)).containsExactly(5, 0);
        byte[] ip = echo.getInetAddress().getAddress();
        int port = echo.getLocalPort();
        s.getOutputStream().write(new byte[] {5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3], (byte) (port >> 8), (byte) port});
        byte[] reply = s.getInputStream().readNBytes(10);
        assertThat(reply).as("a whole SOCKS5 reply").hasSize(10);
        assertThat(reply[1]).as("SOCKS5 reply code").isEqualTo((byte) 0);
        return s;
    }

    /** tests/direct.rs read_write_stream: write a buffer, read it all back; the size. */
    private static int readWrite(Socket s) throws IOException {
        byte[] out = new byte[SIZE];
        Arrays.fill(out, (byte) 'z');
        s.getOutputStream().write(out);
        s.getOutputStream().flush();
        assertThat(s.getInputStream().readNBytes(SIZE)).isEqualTo(out);
        return SIZE;
    }

    private double sum(String name) {
        return Search.in(meters).name(name).counters().stream().mapToDouble(c -> c.count()).sum();
    }

    /** tests/direct.rs {@code test_tcp_connections_metrics}. */
    @Test
    void aConnectionCountsOpenedWhileOpenAndClosedOnceItEnds() throws Exception {
        Socket s = socksConnect();
        readWrite(s);
        // ztunnel counts a connection opened when it opens, not when it ends.
        assertThat(sum("istio.tcp.connections.opened")).as("opened while open").isEqualTo(1.0);
        assertThat(sum("istio.tcp.connections.closed")).as("closed while open").isEqualTo(0.0);
        s.close();
        ZtunnelMetricsTest.await(() -> sum("istio.tcp.connections.closed") == 1.0);
        assertThat(sum("istio.tcp.connections.opened")).isEqualTo(1.0);
        assertThat(sum("istio.tcp.connections.closed")).isEqualTo(1.0);
    }

    /** tests/direct.rs {@code test_tcp_bytes_metrics}. */
    @Test
    void sentAndReceivedBytesEachEqualWhatWasEchoed() throws Exception {
        int size;
        try (Socket s = socksConnect()) {
            size = readWrite(s);
        }
        ZtunnelMetricsTest.await(() -> sum("istio.tcp.connections.closed") == 1.0);
        ZtunnelMetricsTest.await(() -> sum("istio.tcp.received.bytes") >= size && sum("istio.tcp.sent.bytes") >= size);
        assertThat(sum("istio.tcp.received.bytes")).isEqualTo(size);
        assertThat(sum("istio.tcp.sent.bytes")).isEqualTo(size);
    }
}
