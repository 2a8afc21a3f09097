package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.testing.CapturedStderr;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An HTTP/1.1 client that goes away (a TCP reset) while its request is in progress is logged and counted with
 * Envoy's {@code DC} and details {@code downstream_remote_disconnect}, as Envoy's connection manager ends the streams of a
 * downstream connection that closed under them (envoyproxy/envoy source/common/http/conn_manager_impl.cc {@code onEvent}
 * RemoteClose: {@code doConnectionClose}, {@code resetAllStreams}; {@code ActiveStream::completeRequest} with
 * {@code remote_close_}). The status is what was sent: 200 once the response's head went out,
 * none before it ({@code status=-}, Envoy's {@code response_code="0"}). On an {@code http} port (the application HTTP/1.1,
 * {@code TcpUpstream}) and an {@code http2} one (the application h2c, {@code H2Upstream}), plaintext inbound
 * (PERMISSIVE). Raw sockets from 127.0.229.20; Node's application ({@code h1-client-end-server.js}) and the listeners on
 * 127.0.229.10, ports 45500-45503.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7Http1ClientEndFlagTest {
    private static final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private static Process app;
    private static Mesh mesh;
    private static InetSocketAddress httpPort;
    private static InetSocketAddress http2Port;
    private static BufferedReader appOut;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.229.10");
        app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h1-client-end-server.js"), ip.getHostAddress(),
                "45500", "45502").redirectErrorStream(true));
        appOut = new BufferedReader(new InputStreamReader(app.getInputStream(), StandardCharsets.UTF_8));
        assertThat(ChildProcess.readLine(app, appOut)).isEqualTo("ready");
        mesh = L7Meshes.backend(ip, Map.of(45500, AppProtocol.HTTP, 45502, AppProtocol.HTTP2), L7Meshes.ALLOW_API, meters);
        httpPort = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 45501), new InetSocketAddress(ip, 45500)));
        http2Port = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 45503), new InetSocketAddress(ip, 45502)));
    }

    @AfterAll
    static void stop() throws Exception {
        L7Meshes.stop(mesh, app);
    }

    @Test
    void aResetBeforeTheResponseIsDcWithNoStatus() throws Exception {
        ends(httpPort, "/api/early", "-", "0");
    }

    @Test
    void aResetAfterTheResponseStartedIsDcWith200() throws Exception {
        ends(httpPort, "/api/late", "200", "200");
    }

    /** Through {@code H2Upstream}: an HTTP/1.1 client on an {@code http2} port, whose request goes on over h2c. */
    @Test
    void onAnHttp2PortAResetBeforeTheResponseIsDcWithNoStatus() throws Exception {
        ends(http2Port, "/api/early", "-", "0");
    }

    @Test
    void onAnHttp2PortAResetAfterTheResponseStartedIsDcWith200() throws Exception {
        ends(http2Port, "/api/late", "200", "200");
    }

    /**
     * A raw client sends a GET for {@code path}, waits until the application has it (and, under {@code /api/late}, for
     * the response's first body bytes), then resets its connection (linger 0), as a client killed or timed out with
     * bytes unread does.
     */
    private void ends(InetSocketAddress via, String path, String status, String code) throws Exception {
        double before = counted(code);
        try (CapturedStderr err = new CapturedStderr()) {
            Socket s = new Socket();
            try {
                s.bind(new InetSocketAddress("127.0.229.20", 0));
                s.connect(via, 10_000);
                s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: backend\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                assertThat(ChildProcess.readLine(app, appOut)).isEqualTo("got " + path);
                if (path.equals("/api/late")) {
                    String head = readUntil(s.getInputStream(), "started\n");
                    assertThat(head).startsWith("HTTP/1.1 200 ");
                }
                s.setSoLinger(true, 0);
            } finally {
                s.close();
            }
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"" + path + "\" "))
                    .contains(" protocol=HTTP/1.1 status=" + status + " decision=allow ")
                    .contains(" reason=\"downstream_remote_disconnect\" response_flags=DC ");
        }
        // Counted before the line is written (HttpObserver.request).
        assertThat(counted(code)).isEqualTo(before + 1);
    }

    private static String readUntil(InputStream in, String end) throws Exception {
        StringBuilder got = new StringBuilder();
        byte[] buf = new byte[512];
        while (!got.toString().contains(end)) {
            int n = in.read(buf);
            assertThat(n).as("the response so far: %s", got).isPositive();
            got.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
        }
        return got.toString();
    }

    private static double counted(String code) {
        Counter c = meters.find("istio.requests").tag("response_code", code).tag("response_flags", "DC").counter();
        return c == null ? 0 : c.count();
    }
}
