package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.testing.CapturedStderr;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two HTTP/1.1 requests pipelined in one write: {@code istio_request_bytes} observes the first with both requests' bytes
 * and the second with its own, as Envoy's HTTP/1 codec meters them (envoyproxy/envoy
 * source/common/http/http1/codec_impl.cc {@code ConnectionImpl::dispatch}, {@code onDispatch}: every buffer dispatched,
 * to the active request's meter or the one before the next stream; the codec pauses at each message's end and
 * conn_manager_impl.cc {@code onData} dispatches what is left again once the first request is done). Until 7 December
 * the second observed 0. A raw socket from 127.0.229.20; Node's keep-alive server ({@code h1-keepalive-server.js}) and
 * the plaintext inbound listener on 127.0.229.12, ports 45520-45521.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7PipelinedWireBytesTest {
    @Test
    void aPipelinedRequestIsMeteredAgainFromItsFirstByte() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.229.12");
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        Process app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h1-keepalive-server.js"), ip.getHostAddress(),
                "45520", "60000").redirectErrorStream(true));
        Mesh mesh = null;
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(ChildProcess.firstLine(app)).isEqualTo("ready");
            mesh = L7Meshes.backend(ip, Map.of(45520, AppProtocol.HTTP), """
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: backend-all, namespace: prod}
                    spec:
                      selector: {matchLabels: {app: backend}}
                      action: ALLOW
                      rules:
                      - to: [{operation: {paths: ["/api/*"]}}]
                    """, meters);
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 45521), new InetSocketAddress(ip, 45520)));
            String first = "GET /api/one HTTP/1.1\r\nHost: backend\r\n\r\n";
            String second = "GET /api/two HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n";
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress("127.0.229.20", 0));
                s.connect(via, 10_000);
                s.getOutputStream().write((first + second).getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                String answers = new String(readAll(s.getInputStream()), StandardCharsets.ISO_8859_1);
                assertThat(answers).contains("ok /api/one").contains("ok /api/two");
            }
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/api/two\" ")).contains(" status=200 ");
            // Observed before the line is written (HttpObserver.request).
            DistributionSummary bytes = meters.find("istio.request.bytes").summary();
            assertThat(bytes.count()).isEqualTo(2);
            assertThat(bytes.max()).as("the first request: both").isEqualTo(first.length() + second.length());
            assertThat(bytes.totalAmount()).as("the second again, its own").isEqualTo(first.length() + 2 * second.length());
        } finally {
            if (mesh != null) {
                mesh.close();
            }
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static byte[] readAll(InputStream in) throws Exception {
        return in.readAllBytes();
    }
}
