package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.testing.CapturedStderr;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Streams an HTTP/2 application refuses, on a port declared {@code http2}, for an HTTP/1.1 client ({@code H2Upstream}) and
 * an HTTP/2 one ({@code H2Proxy}), as Envoy's router and pool take them under Istio's inbound sidecar configuration:
 * <ul>
 * <li>refused before any response (the application's GOAWAY names a lower last-stream-id: Envoy's codec resets the
 * stream with {@code RemoteRefusedStreamReset}, http2/codec_impl.cc {@code onStreamClose}): the request's headers were
 * encoded (router upstream_codec_filter.cc {@code decodeHeaders}: {@code onFirstUpstreamTxByteSent}), so Istio's inbound
 * retry policy, {@code reset-before-request} (istio/istio pilot/pkg/networking/core/route/retry/retry.go
 * {@code defaultInboundRetryOn}; none at all on a {@code grpc} port, route.go {@code BuildDefaultHTTPInboundRoute}), does
 * not retry it (router/retry_state_impl.cc {@code wouldRetryFromReset}: only {@code !upstream_request_started}), and the
 * router answers 503 {@code remote refused stream reset}, {@code UR} (router.cc {@code onUpstreamReset},
 * {@code streamResetReasonToResponseFlag}); the client's connection goes on;</li>
 * <li>refused after the response's head went to the client: no 503 can follow it; Envoy's filter manager resets the
 * downstream stream (filter_manager.cc {@code sendLocalReply}: "Prior headers have already been sent"), an HTTP/1
 * client's connection with it;</li>
 * <li>streams sent on a new application connection before its SETTINGS came: Envoy's pool does not wait for them (the
 * connection is ready at {@code Connected}, conn_pool_base.cc {@code onConnectionEvent}, and its pending streams attach
 * at once, {@code onUpstreamReady}), and its codec assumes no limit until then (http2/codec_impl.cc
 * {@code ClientHttp2Options}: {@code remote_max_concurrent_streams} and nghttp2's peer limit at 2^31-1, "we might want to
 * create more than 100 streams before receiving the HTTP/2 SETTINGS frame"): the application refuses what is over its
 * limit (RST_STREAM REFUSED_STREAM) and those get the same 503 {@code UR}.</li>
 * </ul>
 * zerohop already behaved so when this test was written (7 December, a review of these three cases): it pins the
 * behaviour. An application written frame by frame, plaintext inbound, on 127.0.209.10, ports 62500-62501.
 */
class L7H2AppRefusalTest {
    private static Mesh mesh;
    private static InetSocketAddress via;
    private static RawApp app;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.209.10");
        app = new RawApp(new InetSocketAddress(ip, 62500));
        mesh = L7Meshes.backend(ip, Map.of(62500, AppProtocol.HTTP2), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: backend-refusal, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: ALLOW
                  rules:
                  - to: [{operation: {paths: ["/api/*"]}}]
                """);
        via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 62501), new InetSocketAddress(ip, 62500)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
        if (app != null) {
            app.socket.close();
        }
    }

    /** Both requests in one write, the second closing; everything the client reads until the proxy's FIN (or reset). */
    private static String pipelined(String first, String second) throws Exception {
        try (Socket s = new Socket(via.getAddress(), via.getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write(("GET " + first + " HTTP/1.1\r\nHost: backend\r\n\r\n"
                    + "GET " + second + " HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            try {
                in.transferTo(got);
            } catch (java.net.SocketException reset) {
                // A reset ends what the client reads as well as a FIN.
            }
            return got.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static List<String> h2session(String... paths) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("env", "H2HOST=" + via.getHostString(), "node", L7Http2Test.resource("h2-client.js"),
                Integer.toString(via.getPort())));
        cmd.addAll(List.of(paths));
        return ChildProcess.run(cmd.toArray(String[]::new)).lines().toList();
    }

    /**
     * HTTP/1.1 client: the first request's stream is refused by the application's GOAWAY before any answer: 503 with
     * Envoy's body and {@code UR}, and the pipelined request behind it is answered on a new application connection.
     */
    @Test
    void anHttp1RequestRefusedBeforeItsResponseGets503UrAndTheConnectionGoesOn() throws Exception {
        app.next.set(Mode.GOAWAY);
        try (CapturedStderr err = new CapturedStderr()) {
            String out = pipelined("/api/refused", "/api/after");
            assertThat(out).startsWith("HTTP/1.1 503 ")
                    .contains("\r\n\r\nupstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset"
                            + "HTTP/1.1 200 ");
            assertThat(err.awaitLine("inbound-http ", " path=\"/api/refused\" ")).contains(" status=503 ")
                    .contains(" reason=\"upstream_reset_before_response_started{remote_refused_stream_reset}\" response_flags=UR ");
        }
    }

    /**
     * HTTP/1.1 client: the application sends the response's head, then a GOAWAY that refuses its stream, both read at
     * once: no 503 follows the head, whether or not the head reached the client before its connection was cut; the chunked
     * body is never complete and the pipelined request is not answered.
     */
    @Test
    void anHttp1ResponseWhoseStreamIsRefusedAfterItsHeadIsCut() throws Exception {
        app.next.set(Mode.HEAD_THEN_GOAWAY);
        String out = pipelined("/api/head-then-refused", "/api/after");
        assertThat(out).doesNotContain(" 503 ").doesNotContain("remote refused stream reset").doesNotContain("0\r\n\r\n")
                .doesNotContain("content-length: 0");
    }

    /**
     * HTTP/2 client (curl): the same refusal after the head resets the client's stream, no 503 after the 200 (Node's
     * client cannot tell: it takes RST_STREAM CANCEL or NO_ERROR for a clean end).
     */
    @Test
    void anHttp2ResponseWhoseStreamIsRefusedAfterItsHeadIsReset() throws Exception {
        app.next.set(Mode.HEAD_THEN_GOAWAY);
        String[] r = ChildProcess.runWithExit("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", "[%{http_code}]",
                "http://" + via.getHostString() + ":" + via.getPort() + "/api/head-then-refused");
        assertThat(r[1]).as(r[0]).isEqualTo("92");
        assertThat(r[0]).contains("HTTP/2 stream 1 was not closed cleanly").doesNotContain("503")
                .doesNotContain("remote refused stream reset");
        assertThat(h2session("/api/after")).containsExactly("200 ");
    }

    /**
     * HTTP/2 client, three concurrent requests on one connection (nghttp): the application holds its
     * SETTINGS (MAX_CONCURRENT_STREAMS 1) until three streams came on its new connection, answers the first and refuses
     * the two others with RST_STREAM REFUSED_STREAM: as under Envoy, they went before the application's limit was known,
     * and each gets 503 {@code UR}, not retried.
     */
    @Test
    void streamsSentBeforeTheApplicationsSettingsAndRefusedGet503Ur() throws Exception {
        app.next.set(Mode.LATE_SETTINGS);
        String url = "http://" + via.getHostString() + ":" + via.getPort() + "/api/";
        // nghttp sends its requests at once on one connection; -s: a line per request, its status and path.
        String out = ChildProcess.run("nghttp", "-s", "-t", "20", url + "a", url + "b", url + "c");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(" (\\d{3}) +\\d+ /api/[abc]").matcher(out);
        List<String> codes = new ArrayList<>();
        while (m.find()) {
            codes.add(m.group(1));
        }
        assertThat(codes).as(out).containsExactlyInAnyOrder("200", "503", "503");
        assertThat(out.split("reset reason: remote refused stream reset", -1)).as(out).hasSize(3);
        assertThat(app.lateSettingsConnections.get()).as("one application connection took the three streams").isEqualTo(1);
    }

    enum Mode { GOAWAY, HEAD_THEN_GOAWAY, LATE_SETTINGS }

    /**
     * An h2c application written frame by frame: every request is answered with {@code :status 200} and END_STREAM, but
     * the connection that comes while {@link #next} is set, which does what the mode says to the first request (or, for
     * {@link Mode#LATE_SETTINGS}, the first three).
     */
    static final class RawApp {
        final ServerSocket socket;
        final AtomicReference<Mode> next = new AtomicReference<>();
        final AtomicInteger lateSettingsConnections = new AtomicInteger();

        RawApp(InetSocketAddress at) throws IOException {
            socket = new ServerSocket();
            socket.bind(at);
            Thread t = new Thread(this::accept, "refusal-h2-app");
            t.setDaemon(true);
            t.start();
        }

        private void accept() {
            while (!socket.isClosed()) {
                try {
                    Socket s = socket.accept();
                    Thread t = new Thread(() -> serve(s, next.getAndSet(null)), "refusal-h2-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket s, Mode mode) {
            try (s) {
                DataInputStream in = new DataInputStream(s.getInputStream());
                OutputStream out = s.getOutputStream();
                List<Integer> held = new ArrayList<>();
                if (mode == Mode.LATE_SETTINGS) {
                    lateSettingsConnections.incrementAndGet();
                    in.readNBytes(24);
                } else {
                    RawH2.serverPreface(in, out);
                }
                boolean first = true;
                // A server's first frame must be its SETTINGS (RFC 9113 section 3.4): the client's is acknowledged after it.
                boolean ackOwed = false;
                for (RawH2.Frame f; (f = RawH2.next(in)) != null; ) {
                    int id = f.stream();
                    if (f.isSettings() && mode == Mode.LATE_SETTINGS && held.size() < 3) {
                        ackOwed = true;
                    } else if (f.isSettings()) {
                        out.write(RawH2.SETTINGS_ACK);
                    } else if (f.type() == 1 && mode == Mode.LATE_SETTINGS && held.size() < 3) {
                        held.add(id);
                        if (held.size() == 3) {
                            // SETTINGS_MAX_CONCURRENT_STREAMS (3) = 1, then the first answered and the others refused.
                            out.write(new byte[] {0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1});
                            if (ackOwed) {
                                out.write(RawH2.SETTINGS_ACK);
                            }
                            out.write(RawH2.ok(held.get(0)));
                            for (int r : held.subList(1, 3)) {
                                out.write(new byte[] {0, 0, 4, 3, 0, (byte) (r >>> 24), (byte) (r >>> 16), (byte) (r >>> 8), (byte) r,
                                    0, 0, 0, 7});
                            }
                        }
                    } else if (f.type() == 1 && first && mode == Mode.GOAWAY) {
                        // GOAWAY, last-stream-id 0, NO_ERROR: the stream just received is not processed.
                        out.write(new byte[] {0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
                    } else if (f.type() == 1 && first && mode == Mode.HEAD_THEN_GOAWAY) {
                        // :status 200 (END_HEADERS, no END_STREAM), then the GOAWAY that refuses its stream, in one write.
                        out.write(new byte[] {0, 0, 1, 1, 4, (byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id,
                            (byte) 0x88, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
                    } else if (f.type() == 1) {
                        out.write(RawH2.ok(id));
                    }
                    if (f.type() == 1) {
                        first = false;
                    }
                    out.flush();
                }
            } catch (IOException e) {
                // The proxy closed or reset the connection.
            }
        }
    }
}
