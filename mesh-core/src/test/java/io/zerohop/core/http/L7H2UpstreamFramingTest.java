package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An HTTP/2 application behind a port declared {@code http2} whose responses say one framing and send another, with an
 * HTTP/1.1 client pipelining two requests on one connection (the second {@code connection: close}, so the whole exchange
 * ends): what reaches the client must frame each response as it really is, or the second response is read as the first
 * one's body. Node's http2 server, plaintext inbound. Addresses 127.0.194.10, ports 58000-58005.
 */
class L7H2UpstreamFramingTest {
    private static Process node;
    private static Mesh mesh;
    private static InetSocketAddress via;
    private static final List<java.net.ServerSocket> raws = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** A HEAD's stream answered with DATA that reads as a whole HTTP/1.1 response. */
    private static InetSocketAddress headWithBody;
    /** A length-less body reset (RST_STREAM INTERNAL_ERROR) after its first part. */
    private static InetSocketAddress streamReset;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.194.10");
        node = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2-framing-server.js"), ip.getHostAddress(), "58000")
                .redirectErrorStream(true));
        assertThat(ChildProcess.firstLine(node).trim()).isEqualTo("ready");
        mesh = L7Meshes.backend(ip, Map.of(58000, AppProtocol.HTTP2, 58002, AppProtocol.HTTP2, 58004, AppProtocol.HTTP2), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: backend-framing, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: ALLOW
                  rules:
                  - to: [{operation: {paths: ["/api/*"]}}]
                """);
        via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 58001), new InetSocketAddress(ip, 58000)));
        headWithBody = rawApp(ip, 58002, id -> answer(id, "HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled", 1, new byte[0]));
        streamReset = rawApp(ip, 58004, id -> answer(id, "partial", 0, new byte[] {0, 0, 4, 3, 0, 0, 0, 0, (byte) id, 0, 0, 0, 2}));
    }

    /**
     * A hand-written h2c application, for frames Node's server never sends: the first request's stream of each connection
     * is answered with {@code first} (given the stream's id), every later one with a bare 200.
     */
    private static void serveRaw(java.net.ServerSocket raw, java.util.function.IntFunction<byte[]> first) {
        while (!raw.isClosed()) {
            try (Socket s = raw.accept()) {
                java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
                java.io.OutputStream out = s.getOutputStream();
                RawH2.serverPreface(in, out);
                boolean answered = false;
                for (RawH2.Frame f; (f = RawH2.next(in)) != null; ) {
                    if (f.isSettings()) {
                        out.write(RawH2.SETTINGS_ACK);
                    } else if (f.type() == 1 && !answered) {
                        answered = true;
                        out.write(first.apply(f.stream()));
                    } else if (f.type() == 1) {
                        out.write(RawH2.ok(f.stream()));
                    }
                    out.flush();
                }
            } catch (java.io.IOException e) {
                // the test's end closes the server socket
            }
        }
    }

    /** {@code :status 200} (END_HEADERS only), then {@code body} as one DATA frame with {@code flags}, then {@code after}. */
    private static byte[] answer(int id, String body, int flags, byte[] after) {
        byte[] b = body.getBytes(StandardCharsets.US_ASCII);
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        o.writeBytes(new byte[] {0, 0, 1, 1, 4, 0, 0, 0, (byte) id, (byte) 0x88});
        o.writeBytes(new byte[] {0, 0, (byte) b.length, 0, (byte) flags, 0, 0, 0, (byte) id});
        o.writeBytes(b);
        o.writeBytes(after);
        return o.toByteArray();
    }

    private static InetSocketAddress rawApp(InetAddress ip, int port, java.util.function.IntFunction<byte[]> first) throws Exception {
        java.net.ServerSocket server = new java.net.ServerSocket(port, 10, ip);
        raws.add(server);
        Thread t = new Thread(() -> serveRaw(server, first), "raw-h2-app-" + port);
        t.setDaemon(true);
        t.start();
        return mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, port + 1), new InetSocketAddress(ip, port)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
        for (java.net.ServerSocket r : raws) {
            r.close();
        }
        node.destroy();
        node.waitFor(10, TimeUnit.SECONDS);
    }

    /** Both requests in one write, the second closing; everything the client reads until the proxy's FIN. */
    private static String pipelined(String first, String second) throws Exception {
        return pipelined(via, "GET", first, second);
    }

    private static String pipelined(InetSocketAddress to, String method, String first, String second) throws Exception {
        try (Socket s = new Socket(to.getAddress(), to.getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write((method + " " + first + " HTTP/1.1\r\nHost: backend\r\n\r\n"
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

    /**
     * {@code content-length: 5} on a head that ends the stream (no DATA): the response is no 200 with a length it never
     * sends, but Envoy's answer to an upstream reset before the response (502, the codec's protocol error), and the
     * pipelined request behind it is answered on its own. Fails before: the client reads {@code content-length: 5} and
     * then the second response's first bytes as that body.
     */
    @Test
    void aHeadAloneThatDeclaresABodyIsAProtocolError() throws Exception {
        String out = pipelined("/api/length-no-body", "/api/next");
        assertThat(out).startsWith("HTTP/1.1 502 ").doesNotContain("content-length: 5\r\n")
                .contains("HTTP/1.1 200 ").endsWith("\r\n\r\nok /api/next");
    }

    /**
     * The same with the stream ended by an empty DATA frame after the head, which has gone to the client: the client's
     * connection is cut (Envoy resets an HTTP/1 downstream whose response it cannot finish), nothing after it. Fails
     * before: the second response follows the first's head, read as its five bytes of body.
     */
    @Test
    void anEmptyBodyAfterADeclaredLengthIsAProtocolError() throws Exception {
        String out = pipelined("/api/length-empty-data", "/api/next");
        assertThat(out).doesNotContain("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nHTTP/1.1 ").doesNotContain("ok /api/next");
    }

    /**
     * A 304's head alone gets no {@code content-length: 0} (a cache would take it for the stored representation's length),
     * as Envoy's HTTP/1 codec adds none to a 304. Fails before: {@code content-length: 0}.
     */
    @Test
    void aNotModifiedHeadAloneGetsNoContentLength() throws Exception {
        String out = pipelined("/api/not-modified", "/api/next");
        assertThat(out).startsWith("HTTP/1.1 304 ").doesNotContainIgnoringCase("content-length: 0")
                .doesNotContainIgnoringCase("transfer-encoding").contains("etag: \"v1\"").endsWith("\r\n\r\nok /api/next");
    }

    /**
     * A length-less body (chunked for the client) whose stream the application resets (RST_STREAM) after its first part:
     * the client's connection ends (reset) without the last chunk, never a complete chunked body (Envoy
     * resets an HTTP/1 downstream whose response its upstream reset). The same when the application's whole connection is
     * reset (Node's {@code resetAndDestroy}, a TCP RST).
     */
    @Test
    void aBodyCutByTheApplicationNeverLooksComplete() throws Exception {
        for (String out : List.of(pipelined(streamReset, "GET", "/api/a", "/api/next"), pipelined("/api/reset-connection", "/api/next"))) {
            // What was written before the reset may be lost with it: only the absence of an end is certain.
            assertThat(out).doesNotContain("0\r\n\r\n").doesNotContain("ok /api/next");
        }
    }

    /**
     * An HTTP/2 application's answer to a HEAD, its head alone without {@code content-length}: the HTTP/1.1 client gets
     * {@code transfer-encoding: chunked} and no body framing, as Envoy's HTTP/1 codec writes a HEAD's answer without a
     * length ({@code codec_impl.cc} {@code encodeHeadersBase}; {@code HeadAnswer}), and the pipelined response behind it
     * whole. Fails before: no {@code transfer-encoding}.
     */
    @Test
    void aHeadsAnswerWithoutALengthSaysChunked() throws Exception {
        String out = pipelined(via, "HEAD", "/api/head-alone", "/api/next");
        String head = out.substring(0, out.indexOf("\r\n\r\n") + 4);
        assertThat(head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked")
                .doesNotContainIgnoringCase("content-length");
        assertThat(out.substring(head.length())).startsWith("HTTP/1.1 200 ").endsWith("ok /api/next");
    }

    /**
     * DATA on the stream of a HEAD request: no body can follow a HEAD's head on the client's connection, so those bytes
     * would be read there as the next response (here a whole one the application wrote). Envoy's HTTP/2 codec resets
     * such a stream (google/quiche http2/adapter/oghttp2_session.cc {@code OnDataFrameHeader}: {@code !can_receive_body}
     * and a length, RST_STREAM PROTOCOL_ERROR; {@code can_receive_body} is false for {@code sent_head_method}), and the
     * HTTP/1 client's connection, its response started, is reset. Fails before: the client reads "smuggled".
     */
    @Test
    void dataOnAHeadRequestsStreamNeverReachesTheClient() throws Exception {
        String out = pipelined(headWithBody, "HEAD", "/api/head", "/api/next");
        // The head, written before the DATA came in the same read, may be lost with the reset.
        assertThat(out).doesNotContain("smuggled").doesNotContain("ok /api/next");
    }

    /**
     * 32 MiB without a length (chunked for the client) to a client that reads nothing for a while: what the application
     * gets to write is bounded by the stream's flow-control window and the socket buffers (the stream stops being read
     * while the client's connection is not writable: Http1Filter.readResponses), not the whole body buffered in the proxy,
     * as Envoy's watermarks hold back an HTTP/2 upstream (its stream's window is not opened again while the downstream is
     * above its high watermark). Then the client reads it all, whole and ended. Guard: holds before and after.
     */
    @Test
    void aSlowClientHoldsBackTheApplication() throws Exception {
        try (Socket s = new Socket()) {
            s.setReceiveBufferSize(32 * 1024);
            s.connect(via);
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /api/mib HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            long seen = -1;
            long now = sent();
            // Until what the application's socket has written stops growing (three readings alike), at most 10 s.
            for (int same = 0, i = 0; same < 3 && i < 50; i++) {
                Thread.sleep(200);
                seen = now;
                now = sent();
                same = now == seen ? same + 1 : 0;
            }
            assertThat(now).isLessThan(16L << 20);
            InputStream in = s.getInputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                head.write(in.read());
            }
            assertThat(head.toString(StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked");
            java.io.DataInputStream chunks = new java.io.DataInputStream(in);
            long body = 0;
            for (;;) {
                StringBuilder line = new StringBuilder();
                for (int b; (b = chunks.read()) != '\n'; ) {
                    assertThat(b).as("chunk size line").isNotNegative();
                    line.append((char) b);
                }
                int size = Integer.parseInt(line.toString().trim(), 16);
                chunks.skipNBytes(size + 2L);
                body += size;
                if (size == 0) {
                    break;
                }
            }
            assertThat(body).isEqualTo(32L << 20);
        }
    }

    /** The bytes the application's socket that answered /api/mib has written. */
    private static long sent() throws Exception {
        try (Socket s = new Socket(via.getAddress(), via.getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /api/sent HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            String out = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertThat(out).as("/api/sent").startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked");
            return Long.parseLong(out.split("\r\n\r\n", 2)[1].split("\r\n")[1].trim());
        }
    }
}
