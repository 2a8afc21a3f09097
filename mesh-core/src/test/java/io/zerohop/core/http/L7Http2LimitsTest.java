package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Envoy's request header limits ({@code max_headers_count} 100, {@code max_request_headers_kb} 60) on HTTP/2 where
 * {@link L7Http2Test} does not reach: a request's trailers, and header blocks far over the limit. Node's http2 client
 * (its own 64 KiB send limit raised) through a real tunnel to Node's h2c server, on this class's own addresses
 * (127.0.122.x).
 */
class L7Http2LimitsTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-limits, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["GET", "POST"], paths: ["/api/*"]}}]
            """;
    /** What the app prints for the frontend's requests: {@link Xfcc#backendFromFrontend}, set once the CA exists. */
    static String XFCC;
    static final String RESET = "reset Stream closed with error code NGHTTP2_INTERNAL_ERROR";

    static Process nodeApp;
    static Mesh server;
    static Mesh frontendProxy;
    static InetSocketAddress viaH2;
    static final SimpleMeterRegistry meters = new SimpleMeterRegistry();

    @BeforeAll
    static void start() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.122.2");
        nodeApp = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), "127.0.122.2").redirectErrorStream(true));
        int h2Port = Integer.parseInt(ChildProcess.firstLine(nodeApp).trim());
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("limits.yaml", POLICY)).build();
        L7Pair pair = new L7Pair(backendIp, InetAddress.getByName("127.0.122.3"), Map.of(h2Port, AppProtocol.HTTP2),
                Map.of("b", new InetSocketAddress(backendIp, 15008)), policy, b -> b.meterRegistry(meters).threads(1));
        server = pair.server;
        frontendProxy = pair.client();
        XFCC = "xfcc=" + Xfcc.backendFromFrontend(pair.ca);
        viaH2 = pair.via(frontendProxy, h2Port);
    }

    @AfterAll
    static void stop() throws Exception {
        closeAll(frontendProxy, server);
        nodeApp.destroy();
        nodeApp.waitFor(10, TimeUnit.SECONDS);
    }

    /** Runs h2-limits-client.js against {@code via} with these requests (JSON, see the script): one line per request. */
    static List<String> requests(InetSocketAddress via, String... specs) throws Exception {
        String[] cmd = new String[specs.length + 4];
        cmd[0] = "node";
        cmd[1] = L7Http2Test.resource("h2-limits-client.js");
        cmd[2] = via.getHostString();
        cmd[3] = Integer.toString(via.getPort());
        System.arraycopy(specs, 0, cmd, 4, specs.length);
        String out = ChildProcess.run(cmd);
        List<String> lines = out.lines().toList();
        assertThat(lines).as(out).hasSize(specs.length);
        return lines;
    }

    /** Closes what a test class started, in order, skipping what was never started. */
    static void closeAll(AutoCloseable... started) throws Exception {
        for (AutoCloseable c : started) {
            if (c != null) {
                c.close();
            }
        }
    }

    static double resets() {
        Counter c = meters.find("istio.requests").tag("response_code", "0").counter();
        return c == null ? 0 : c.count();
    }

    /**
     * The reset requests' count once it reaches {@code atLeast}: a request is counted just after its access line is
     * written, on the event loop, so a test reading the count at once could miss the last one (or the next test count
     * it as its own). The wait is bounded and never what is asserted.
     */
    static double resetsOnce(double atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (resets() < atLeast && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return resets();
    }

    /**
     * Trailers are held to the same limits as the headers, counted apart from them: Envoy's HTTP/2 server codec gives
     * a request's trailers a header map of their own and {@code saveHeader} checks it against {@code max_headers_count}
     * and {@code max_request_headers_kb} (envoyproxy/envoy source/common/http/http2/codec_impl.cc
     * {@code ServerConnectionImpl::onBeginHeaders} {@code allocTrailers}, {@code ConnectionImpl::saveHeader}); a
     * stream over either is reset (test/integration/protocol_integration_test.cc {@code ManyRequestTrailersRejected},
     * 150 trailers: {@code waitForReset} on HTTP/2; {@code LargeRequestTrailersRejected}, 66 KiB). The reset comes
     * after the request was decided and forwarded, so the application's stream is reset too and never reads the
     * trailers; the session goes on. Until 2 December trailers were forwarded whatever their count or size.
     */
    @Test
    void requestTrailersOverEnvoysLimitsResetTheStream() throws Exception {
        double was = resets();
        try (CapturedStderr err = new CapturedStderr()) {
            List<String> lines = requests(viaH2, "{\"path\":\"/api/t100\",\"trailers\":100}", "{\"path\":\"/api/t101\",\"trailers\":101}",
                    "{\"path\":\"/api/tbig\",\"trailers\":1,\"trailerSize\":61440}", "{\"path\":\"/api/after\"}");
            assertThat(lines.get(0)).startsWith("200 POST /api/t100 " + XFCC + " len=10 ").endsWith(" trailers=100");
            assertThat(lines.get(1)).isEqualTo(RESET);
            assertThat(lines.get(2)).isEqualTo(RESET);
            assertThat(lines.get(3)).startsWith("200 GET /api/after " + XFCC);
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/t101\" "))
                    .contains(" method=POST path=\"/api/t101\" protocol=HTTP/2 status=- decision=allow ")
                    .contains(" reason=\"HTTP/2 request trailers have 101 fields, more than 100 (Envoy's max_headers_count)\" ");
            // x-t-0 and its 61,440-byte value: 5 bytes over.
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/tbig\" ")).contains(" status=- decision=allow ")
                    .contains(" reason=\"HTTP/2 request trailers have 61445 bytes, more than 61440 (Envoy's max_request_headers_kb)\" ");
        }
        assertThat(resetsOnce(was + 2) - was).isEqualTo(2);
    }

    /**
     * A request header block over 60 KiB is reset whatever its size, as Envoy's codec resets it
     * (test/integration/protocol_integration_test.cc {@code LargeRequestHeadersRejected}: a 95 KiB header, reset on
     * HTTP/2), and the session goes on. The 200 KiB block is four 50 KiB headers: each header's encoded form stays
     * under nghttp2's 64 KiB per header, past which Envoy ends the connection instead (H2HeaderCount.LIST_SIZE). Until 2
     * December Netty's codec, whose header list was bounded at 63 KiB, answered the 70 KiB request 431 itself, and
     * ended the whole connection (GOAWAY) for the 200 KiB one, whose encoded block was over its 79 KiB bound.
     */
    @Test
    void requestHeadersFarOverEnvoysLimitAreResetNot431() throws Exception {
        double was = resets();
        try (CapturedStderr err = new CapturedStderr()) {
            List<String> lines = requests(viaH2, "{\"path\":\"/api/h58\",\"fields\":1,\"size\":59392}",
                    "{\"path\":\"/api/h70\",\"fields\":1,\"size\":71680}", "{\"path\":\"/api/h200\",\"fields\":4,\"size\":51200}",
                    "{\"path\":\"/api/after\"}");
            assertThat(lines.get(0)).startsWith("200 GET /api/h58 " + XFCC);
            assertThat(lines.get(1)).isEqualTo(RESET);
            assertThat(lines.get(2)).isEqualTo(RESET);
            assertThat(lines.get(3)).startsWith("200 GET /api/after " + XFCC);
            // The pseudo-headers' bytes come on top (the authority's port varies).
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/h70\" ")).contains(" status=- decision=- policy=\"-\"")
                    .containsPattern(" reason=\"HTTP/2 request headers have 717\\d\\d bytes, more than 61440 \\(Envoy's max_request_headers_kb\\)\" ");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/h200\" ")).contains(" status=- decision=- policy=\"-\"")
                    .containsPattern(" reason=\"HTTP/2 request headers have 2048\\d\\d bytes, more than 61440 ");
        }
        assertThat(resetsOnce(was + 2) - was).isEqualTo(2);
    }
}
