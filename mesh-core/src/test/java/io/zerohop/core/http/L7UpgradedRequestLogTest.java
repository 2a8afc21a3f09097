package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An upgraded (101) HTTP/1 request is logged and counted when its upgraded connection ends, as Envoy logs a stream when it
 * is destroyed (envoyproxy/envoy source/common/http/conn_manager_impl.cc {@code doDeferredStreamDestroy}) and Istio's stats
 * filter counts it in that log call (istio/proxy source/extensions/filters/http/istio_stats/istio_stats.cc
 * {@code log}): {@code status=101}, the upgraded bytes each way as {@code bytes_received}/{@code bytes_sent} and in
 * {@code istio_request_bytes}/{@code istio_response_bytes} (there with the heads: the connection's wire bytes), the
 * upgraded connection's whole life as the duration;
 * {@code istio_requests_total{response_code="101"}} 0 while it is open. Both ways to the application: an HTTP/1 one
 * answering 101 itself (a raw socket), and an HTTP/2 one taking the upgrade as an extended CONNECT (Node's http2 server,
 * {@code h2-websocket-server.js}). Plaintext inbound, addresses 127.0.217.10, ports 65500-65504. Until 7 December the line
 * and the metrics were written at the 101: {@code bytes_received=0 bytes_sent=0} and the handshake's duration.
 */
class L7UpgradedRequestLogTest {
    /** A path rule: the port's HTTP is parsed and decided per request. */
    private static final String POLICY = L7Meshes.ALLOW_WS_GET;
    private static final String HOST = "127.0.217.10";
    /** How long each upgraded connection stays open between its frames: the duration must cover it. */
    private static final long OPEN_MILLIS = 300;

    private static final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private static ServerSocket h1App;
    private static Process h2App;
    private static Mesh server;
    private static InetSocketAddress toH1;
    private static InetSocketAddress toH2;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName(HOST);
        h1App = new ServerSocket(65500, 50, ip);
        h2App = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2-websocket-server.js"), HOST, "65501", "true")
                .redirectErrorStream(true));
        assertThat(ChildProcess.firstLine(h2App).trim()).isEqualTo("65501");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(65500, AppProtocol.HTTP, 65501, AppProtocol.HTTP2));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of("b", new InetSocketAddress(ip, 65502)));
        server = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity()).workloads(registry)
                .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build()).node("b")
                .inbound(new InetSocketAddress(ip, 65502)).meterRegistry(meters).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);
        toH1 = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 65503), new InetSocketAddress(ip, 65500)));
        toH2 = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 65504), new InetSocketAddress(ip, 65501)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        if (h1App != null) {
            h1App.close();
        }
        if (h2App != null) {
            h2App.destroy();
            h2App.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static String upgrade(String path) {
        return "GET " + path + " HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    }

    /** Every 101 counted, whatever its flags. */
    private static double requests101() {
        return meters.find("istio.requests").tag("response_code", "101").counters().stream().mapToDouble(Counter::count).sum();
    }

    private static double requestBytes101() {
        return meters.find("istio.request.bytes").tag("response_code", "101").summaries().stream()
                .mapToDouble(DistributionSummary::totalAmount).sum();
    }

    /**
     * An HTTP/1 application answering 101 itself: the client sends 7 bytes after the 101, the application answers 8 and,
     * after the client's FIN, closes.
     */
    @Test
    void anUpgradeToAnHttp1ApplicationIsLoggedAndCountedWhenItsConnectionEndsWithItsBytes() throws Exception {
        CompletableFuture<Void> app = CompletableFuture.runAsync(() -> {
            try (Socket s = h1App.accept()) {
                L7Http1AppCloseTest.readHead(s.getInputStream());
                OutputStream out = s.getOutputStream();
                out.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                byte[] got = s.getInputStream().readNBytes(7);
                out.write((new String(got, StandardCharsets.US_ASCII).toUpperCase(Locale.ROOT) + "!").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                assertThat(s.getInputStream().read()).isEqualTo(-1);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertUpgradeLoggedAtItsEnd(toH1, "/ws/h1", "request", "REQUEST!", 7, 8);
        app.get(30, TimeUnit.SECONDS);
    }

    /** An HTTP/2 application taking the upgrade as an extended CONNECT, echoing: 5 bytes each way. */
    @Test
    void anUpgradeCarriedAsAnExtendedConnectIsLoggedAndCountedWhenItsConnectionEndsWithItsBytes() throws Exception {
        assertUpgradeLoggedAtItsEnd(toH2, "/ws/h2", "frame", "frame", 5, 5);
    }

    /**
     * An HTTP/1 application that resets its connection after its 101 (a TCP RST): the client's connection is reset too and
     * the request is logged and counted with Envoy's {@code UC} and {@code upstream_reset_after_response_started
     * {connection_termination}}, its status 101, as Envoy's codec client resets the stream of a connection that ended under
     * it (codec_client.cc {@code onEvent}: ConnectionTermination) and its router, the response started, sets that flag
     * and resets the downstream stream (router.cc {@code onUpstreamReset}, {@code onUpstreamAbort}). Until 7 December the
     * client got a FIN and the line no flag.
     */
    @Test
    void anHttp1ApplicationsResetOfAnUpgradedConnectionResetsTheClientAndIsLoggedUc() throws Exception {
        CompletableFuture<Void> app = CompletableFuture.runAsync(() -> {
            try (Socket s = h1App.accept()) {
                L7Http1AppCloseTest.readHead(s.getInputStream());
                s.getOutputStream().write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                s.getInputStream().readNBytes(3);
                s.setSoLinger(true, 0);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        double before = counted("UC");
        try (CapturedStderr err = new CapturedStderr(); Socket c = new Socket(toH1.getAddress(), toH1.getPort())) {
            c.setSoTimeout(30_000);
            c.getOutputStream().write(upgrade("/ws/h1-reset").getBytes(StandardCharsets.US_ASCII));
            assertThat(L7Http1AppCloseTest.readHead(c.getInputStream())).startsWith("HTTP/1.1 101 ");
            c.getOutputStream().write("abc".getBytes(StandardCharsets.US_ASCII));
            app.get(30, TimeUnit.SECONDS);
            assertThatThrownBy(() -> c.getInputStream().read()).as("the client's connection is reset, not ended")
                    .isInstanceOf(java.net.SocketException.class);
            assertThat(err.awaitLine("-http ", " path=\"/ws/h1-reset\" "))
                    .contains(" status=101 decision=allow ")
                    .contains(" reason=\"upstream_reset_after_response_started{connection_termination}\" response_flags=UC ");
        }
        assertThat(counted("UC")).isEqualTo(before + 1);
    }

    /**
     * An HTTP/2 application's RST_STREAM on the extended CONNECT after its 200 ({@code /ws/rst}): Envoy's {@code UR},
     * {@code upstream_reset_after_response_started{remote_reset}} (RemoteReset, {@code streamResetReasonToResponseFlag}).
     */
    @Test
    void anHttp2ApplicationsResetOfAnUpgradedStreamIsLoggedUr() throws Exception {
        double before = counted("UR");
        try (CapturedStderr err = new CapturedStderr(); Socket c = new Socket(toH2.getAddress(), toH2.getPort())) {
            c.setSoTimeout(30_000);
            c.getOutputStream().write(upgrade("/ws/rst").getBytes(StandardCharsets.US_ASCII));
            assertThat(L7Http1AppCloseTest.readHead(c.getInputStream())).startsWith("HTTP/1.1 101 ");
            c.getOutputStream().write("abc".getBytes(StandardCharsets.US_ASCII));
            assertThatThrownBy(() -> c.getInputStream().read()).isInstanceOf(java.net.SocketException.class);
            assertThat(err.awaitLine("-http ", " path=\"/ws/rst\" "))
                    .contains(" status=101 decision=allow ")
                    .contains(" reason=\"upstream_reset_after_response_started{remote_reset}\" response_flags=UR ");
        }
        assertThat(counted("UR")).isEqualTo(before + 1);
    }

    /**
     * The client resets its upgraded connection (a TCP RST): Envoy's {@code DC}, {@code downstream_remote_disconnect}
     * (conn_manager_impl.cc {@code onEvent}, RemoteClose; {@code DownstreamConnectionTermination}), and Istio's metric
     * with {@code response_flags="DC"}. Until 7 December no flag.
     */
    @Test
    void aClientsResetOfAnUpgradedConnectionIsLoggedDc() throws Exception {
        CompletableFuture<Integer> app = CompletableFuture.supplyAsync(() -> {
            try (Socket s = h1App.accept()) {
                L7Http1AppCloseTest.readHead(s.getInputStream());
                s.getOutputStream().write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                s.setSoTimeout(30_000);
                try {
                    return s.getInputStream().read();
                } catch (IOException reset) {
                    return -2;
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        double before = counted("DC");
        try (CapturedStderr err = new CapturedStderr()) {
            Socket c = new Socket(toH1.getAddress(), toH1.getPort());
            c.setSoTimeout(30_000);
            c.getOutputStream().write(upgrade("/ws/client-reset").getBytes(StandardCharsets.US_ASCII));
            assertThat(L7Http1AppCloseTest.readHead(c.getInputStream())).startsWith("HTTP/1.1 101 ");
            c.setSoLinger(true, 0);
            c.close();
            assertThat(err.awaitLine("-http ", " path=\"/ws/client-reset\" "))
                    .contains(" status=101 decision=allow ")
                    .contains(" reason=\"downstream_remote_disconnect\" response_flags=DC ");
            assertThat(app.get(30, TimeUnit.SECONDS)).as("the application's connection ended too").isLessThan(0);
        }
        assertThat(counted("DC")).isEqualTo(before + 1);
    }

    private static double counted(String flags) {
        Counter c = meters.find("istio.requests").tag("response_code", "101").tag("response_flags", flags).counter();
        return c == null ? 0 : c.count();
    }

    private static void assertUpgradeLoggedAtItsEnd(InetSocketAddress to, String path, String send, String expect,
                                                    int received, int sent) throws Exception {
        double before = requests101();
        double requestBytesTotal = requestBytes101();
        try (CapturedStderr err = new CapturedStderr(); Socket c = new Socket(to.getAddress(), to.getPort())) {
            c.setSoTimeout(30_000);
            InputStream in = c.getInputStream();
            c.getOutputStream().write(upgrade(path).getBytes(StandardCharsets.US_ASCII));
            assertThat(L7Http1AppCloseTest.readHead(in)).startsWith("HTTP/1.1 101 ");
            long open = System.nanoTime();
            c.getOutputStream().write(send.getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(in.readNBytes(expect.length()), StandardCharsets.US_ASCII)).isEqualTo(expect);
            // The upgraded connection is open and has carried bytes both ways: its request is not counted yet, nor logged.
            assertThat(requests101()).isEqualTo(before);
            assertThat(err.count(" path=\"" + path + "\" ")).isZero();
            Thread.sleep(OPEN_MILLIS); // the connection's life, which the duration covers
            long lived = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - open);
            c.shutdownOutput();
            assertThat(in.read()).isEqualTo(-1);
            String line = err.awaitLine("-http ", " path=\"" + path + "\" ");
            assertThat(line).contains(" status=101 decision=allow ").contains(" bytes_received=" + received + " bytes_sent=" + sent + " ")
                    .as("a clean end has no flag").doesNotContain(" response_flags=");
            Matcher d = Pattern.compile(" duration_ms=(\\d+) ").matcher(line);
            assertThat(d.find()).as(line).isTrue();
            assertThat(Long.parseLong(d.group(1))).isGreaterThanOrEqualTo(lived);
        }
        // Counted before its line was written.
        assertThat(requests101()).isEqualTo(before + 1);
        // The connection's every byte from the client, the upgrade request's head included (Envoy's wire bytes meter).
        assertThat(requestBytes101()).isEqualTo(requestBytesTotal + upgrade(path).length() + received);
    }
}
