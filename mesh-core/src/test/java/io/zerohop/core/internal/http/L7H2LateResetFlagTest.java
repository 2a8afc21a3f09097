package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An HTTP/2 application that ends a response it started by resetting it: its h2c client's request is logged and counted
 * with the status 200 it got and Envoy's flag and details for an upstream reset after the response started, as Envoy's
 * router sets them (envoyproxy/envoy source/common/router/router.cc {@code onUpstreamReset}: the flag of
 * {@code streamResetReasonToResponseFlag}, details {@code LateUpstreamReset}, {@code onUpstreamAbort} resetting the
 * downstream stream): {@code UR} {@code upstream_reset_after_response_started{remote_reset}} for its RST_STREAM,
 * {@code UC} {@code ...{connection_termination}} for its connection closed under the stream. Until 7 December both were
 * logged with no flag (the upgraded HTTP/1 path had them, {@code Http1Filter.upgradeCut}). curl (h2c, prior knowledge),
 * Node's http2 server ({@code h2-late-reset-server.js}), wired as the plaintext inbound listener wires them. Addresses
 * 127.0.226.11 (the listener), .12 (Node) and .13 (curl).
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7H2LateResetFlagTest {
    static final String PROXY = "127.0.226.11";
    static final String APP = "127.0.226.12";
    /** H2WireBytesStreamsTest's: a DENY on /denied. */
    static final String POLICY = H2WireBytesStreamsTest.POLICY;

    @Test
    void anApplicationResetAfterItsResponseStartedIsFlagged() throws Exception {
        lateResets(AppProtocol.HTTP, "--http2-prior-knowledge", "HTTP/2");
    }

    /**
     * The same through {@link H2Upstream}: an HTTP/1 client on an {@code http2} port, whose request goes to the
     * application over HTTP/2; the client's connection is reset (Http1Filter.lateReset). Until 7 December no flag.
     */
    @Test
    void anApplicationResetAfterItsResponseStartedIsFlaggedForAnHttp1Client() throws Exception {
        lateResets(AppProtocol.HTTP2, "--http1.1", "HTTP/1.1");
    }

    private void lateResets(AppProtocol protocol, String curlVersion, String logged) throws Exception {
        Process app = ChildProcess.start(new ProcessBuilder("node", L7JwtTest.resource("h2-late-reset-server.js"), APP).redirectErrorStream(true));
        EventLoopGroup group = Transports.newGroup(1, "l7-h2-late-reset");
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Channel listener = null;
        try (CapturedStderr err = new CapturedStderr()) {
            InetSocketAddress appAddress = new InetSocketAddress(APP, Integer.parseInt(ChildProcess.firstLine(app).trim()));
            HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build(),
                    group, meters, null, 1000);
            listener = PlaintextL7.listen(http, group, new InetSocketAddress(PROXY, 0), appAddress, protocol, b -> { }, client -> { });
            String base = "http://" + PROXY + ":" + ((InetSocketAddress) listener.localAddress()).getPort();
            if (logged.equals("HTTP/2")) {
                // The client goes away while the response is open: zerohop resets the application's stream and closes
                // its connection because of that, which is no upstream reset (until 7 December: UC, blaming the
                // application); Envoy's connection manager flags the requests of a downstream connection that closed
                // DC, downstream_remote_disconnect (conn_manager_impl.cc onEvent, RemoteClose; doConnectionClose).
                String[] hold = ChildProcess.runWithExit("curl", "-s", "--interface", "127.0.226.13", curlVersion, "--max-time", "2",
                        "-o", "/dev/null", base + "/hold");
                assertThat(hold[1]).as("curl's exit: its own time limit").isEqualTo("28");
                assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/hold\" ")).contains(" status=200 decision=allow ")
                        .contains(" reason=\"downstream_remote_disconnect\" response_flags=DC ");
                assertThat(counted(meters, "DC")).isEqualTo(1);
            }
            String[] rst = ChildProcess.runWithExit("curl", "-s", "--interface", "127.0.226.13", curlVersion, "-o", "/dev/null", base + "/rst");
            assertThat(rst[1]).as("curl's exit: the stream was reset").isNotEqualTo("0");
            assertThat(counted(meters, "UR")).isEqualTo(1);
            String[] gone = ChildProcess.runWithExit("curl", "-s", "--interface", "127.0.226.13", curlVersion, "-o", "/dev/null", base + "/gone");
            assertThat(gone[1]).as("curl's exit: the stream was reset").isNotEqualTo("0");
            assertThat(counted(meters, "UC")).isEqualTo(1);
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/rst\" ")).contains(" protocol=" + logged + " status=200 decision=allow ")
                    .contains(" reason=\"upstream_reset_after_response_started{remote_reset}\" response_flags=UR ");
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/gone\" ")).contains(" protocol=" + logged + " status=200 decision=allow ")
                    .contains(" reason=\"upstream_reset_after_response_started{connection_termination}\" response_flags=UC ");
        } finally {
            if (listener != null) {
                listener.close().sync();
            }
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** {@code istio_requests_total{response_code="200",response_flags=flags}}, awaited: counted just after the line. */
    private static double counted(SimpleMeterRegistry meters, String flags) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            Counter c = meters.find("istio.requests").tag("response_code", "200").tag("response_flags", flags).counter();
            if (c != null && c.count() > 0) {
                return c.count();
            }
            Thread.sleep(20);
        }
        return 0;
    }
}
