package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An HTTP/2 client that ends a stream still in progress is logged and counted with Envoy's flag and details, as Envoy's
 * connection manager records them (envoyproxy/envoy source/common/http/conn_manager_impl.cc): its RST_STREAM {@code DR}
 * {@code http2.remote_reset} ({@code ActiveStream::onResetStream}: {@code DownstreamRemoteReset} for the codec's
 * {@code RemoteReset}, http2/codec_impl.cc {@code onStreamClose}, which sets those details), its connection closed under
 * the stream {@code DC} {@code downstream_remote_disconnect} ({@code onEvent} RemoteClose; {@code completeRequest}). The
 * status is what was sent: 200 after the response's head, none (Envoy's 0, {@code status=-} and
 * {@code response_code="0"}) before it. Until 7 December all four were logged with no flag. Node's http2 client
 * ({@code h2-client-end.js}) and application ({@code h2c-server.js}, which answers a request at its end, or at once on
 * {@code /api/head-first}), plaintext inbound on 127.0.228.10, ports 45010-45011.
 */
class L7H2ClientEndFlagTest {
    private static final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private static Process app;
    private static Mesh mesh;
    private static InetSocketAddress via;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.228.10");
        app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress(), "45010")
                .redirectErrorStream(true));
        ChildProcess.firstLine(app);
        mesh = L7Meshes.backend(ip, Map.of(45010, AppProtocol.HTTP2), L7Meshes.ALLOW_API, meters);
        via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 45011), new InetSocketAddress(ip, 45010)));
    }

    @AfterAll
    static void stop() throws Exception {
        L7Meshes.stop(mesh, app);
    }

    @Test
    void aClientResetBeforeTheResponseIsDrWithNoStatus() throws Exception {
        ends("cancel", "/api/reset-early", "-", "0", "DR", "http2.remote_reset");
    }

    @Test
    void aClientResetAfterTheResponseStartedIsDrWith200() throws Exception {
        ends("cancel", "/api/head-first", "200", "200", "DR", "http2.remote_reset");
    }

    @Test
    void aClientConnectionClosedBeforeTheResponseIsDcWithNoStatus() throws Exception {
        ends("destroy", "/api/gone-early", "-", "0", "DC", "downstream_remote_disconnect");
    }

    @Test
    void aClientConnectionClosedAfterTheResponseStartedIsDcWith200() throws Exception {
        ends("destroy", "/api/head-first", "200", "200", "DC", "downstream_remote_disconnect");
    }

    private void ends(String mode, String path, String status, String code, String flags, String details) throws Exception {
        double before = counted(code, flags);
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(ChildProcess.run("node", L7Http2Test.resource("h2-client-end.js"), via.getHostString(),
                    Integer.toString(via.getPort()), mode, path)).contains("done");
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"" + path + "\" "))
                    .contains(" protocol=HTTP/2 status=" + status + " decision=allow ")
                    .contains(" reason=\"" + details + "\" response_flags=" + flags + " ");
        }
        // Counted before the line is written (HttpObserver.request).
        assertThat(counted(code, flags)).isEqualTo(before + 1);
    }

    private static double counted(String code, String flags) {
        Counter c = meters.find("istio.requests").tag("response_code", code).tag("response_flags", flags).counter();
        return c == null ? 0 : c.count();
    }
}
