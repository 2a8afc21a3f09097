package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.hbone.internal.Transports;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code istio_request_bytes} and {@code istio_response_bytes} observe what a request's stream carried on the client's
 * connection, heads and framing included, as Istio's stats filter records its downstream bytes meter (istio/proxy
 * source/extensions/filters/http/istio_stats/istio_stats.cc {@code IstioStatsFilter::log}: {@code wireBytesReceived()},
 * {@code wireBytesSent()}; Envoy's HTTP/1 codec meters every byte it reads and writes for the request, its HTTP/2 codec
 * the frames of the stream, 9-byte headers included: envoyproxy/envoy source/common/http/http1/codec_impl.cc
 * {@code onDispatch}, http2/codec_impl.cc {@code onHeaders}, {@code onBeginData}, {@code onFrameSend}). Raw-socket
 * clients, so that the expected counts are the bytes the test wrote and read: HTTP/1.1 (two requests on one connection,
 * a chunked POST, a denial, a gRPC denial) and HTTP/2 with HPACK literals of known size (two streams on one connection, a
 * POST with DATA, a denied gRPC call). Until 7 December both histograms observed body bytes alone (0 for a GET, the
 * denial's body for a 403). Plaintext inbound, 127.0.222.10, ports 42010-42013.
 */
class L7WireBytesMetricsTest {
    private static final String POLICY = L7Meshes.ALLOW_OK;
    private static final String HOST = "127.0.222.10";

    private static final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private static HttpServer h1App;
    private static EventLoopGroup loop;
    private static Channel h2App;
    private static Mesh server;
    private static InetSocketAddress toH1;
    private static InetSocketAddress toH2;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName(HOST);
        h1App = HttpServer.create(new InetSocketAddress(ip, 42010), 50);
        h1App.createContext("/", x -> {
            byte[] in = x.getRequestBody().readAllBytes();
            byte[] answer = ("got " + in.length).getBytes(StandardCharsets.US_ASCII);
            x.sendResponseHeaders(200, answer.length);
            x.getResponseBody().write(answer);
            x.close();
        });
        h1App.start();
        loop = Transports.newGroup(1, "wire-bytes-app");
        h2App = RawH2c.echoApp(loop, new InetSocketAddress(ip, 42011));
        server = L7Meshes.backend(ip, Map.of(42010, AppProtocol.HTTP, 42011, AppProtocol.HTTP2), POLICY, meters);
        toH1 = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 42012), new InetSocketAddress(ip, 42010)));
        toH2 = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 42013), new InetSocketAddress(ip, 42011)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        if (h1App != null) {
            h1App.stop(0);
        }
        if (h2App != null) {
            h2App.close().sync();
        }
        if (loop != null) {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    /** The two histograms' count and sum, taken before a request. */
    private record Sums(long requests, double requestBytes, double responseBytes) {
        static Sums now() {
            long n = meters.find("istio.request.bytes").summaries().stream().mapToLong(DistributionSummary::count).sum();
            return new Sums(n, sum("istio.request.bytes"), sum("istio.response.bytes"));
        }

        private static double sum(String name) {
            return meters.find(name).summaries().stream().mapToDouble(DistributionSummary::totalAmount).sum();
        }

        /** Waits for the next request's observation and checks it: what it received and sent. */
        void assertNext(long received, long sent) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            Sums after;
            while ((after = now()).requests < requests + 1 || after.responseBytes == responseBytes && sent > 0) {
                assertThat(System.nanoTime()).as("an observation after %s", this).isLessThan(deadline);
                Thread.sleep(10);
            }
            assertThat(after.requests).isEqualTo(requests + 1);
            assertThat(after.requestBytes - requestBytes).as("istio_request_bytes").isEqualTo(received);
            assertThat(after.responseBytes - responseBytes).as("istio_response_bytes").isEqualTo(sent);
        }
    }

    // ---------------------------------------------------------------- HTTP/1.1

    @Test
    void http11RequestsObserveTheBytesOfTheirHeadsAndBodies() throws Exception {
        try (Socket c = new Socket(toH1.getAddress(), toH1.getPort())) {
            c.setSoTimeout(30_000);
            InputStream in = c.getInputStream();
            OutputStream out = c.getOutputStream();

            Sums before = Sums.now();
            byte[] get = "GET /ok/a HTTP/1.1\r\nHost: backend.example\r\nUser-Agent: wire-test\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
            out.write(get);
            Response r = Response.read(in);
            assertThat(r.head).startsWith("HTTP/1.1 200 ");
            before.assertNext(get.length, r.bytes);

            // The second request on the connection observes its own bytes only.
            before = Sums.now();
            byte[] post = ("POST /ok/b HTTP/1.1\r\nHost: backend.example\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            out.write(post);
            r = Response.read(in);
            assertThat(r.head).startsWith("HTTP/1.1 200 ");
            assertThat(r.body).isEqualTo("got 11");
            before.assertNext(post.length, r.bytes);

            // Denied: the 403's head and body.
            before = Sums.now();
            byte[] denied = "GET /admin HTTP/1.1\r\nHost: backend.example\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
            out.write(denied);
            r = Response.read(in);
            assertThat(r.head).startsWith("HTTP/1.1 403 ");
            before.assertNext(denied.length, r.bytes);
        }
    }

    @Test
    void aDeniedGrpcCallOverHttp11ObservesItsRequestAndItsTrailersOnlyAnswer() throws Exception {
        try (Socket c = new Socket(toH1.getAddress(), toH1.getPort())) {
            c.setSoTimeout(30_000);
            Sums before = Sums.now();
            byte[] call = ("POST /test.Echo/Denied HTTP/1.1\r\nHost: backend.example\r\ncontent-type: application/grpc\r\n"
                    + "te: trailers\r\ncontent-length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            c.getOutputStream().write(call);
            Response r = Response.read(c.getInputStream());
            assertThat(r.head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("grpc-status: 7");
            before.assertNext(call.length, r.bytes);
        }
    }

    /** One HTTP/1.1 response read whole: its head, its body (by content-length), and how many bytes it took. */
    private record Response(String head, String body, long bytes) {
        static Response read(InputStream in) throws IOException {
            String head = L7Http1AppCloseTest.readHead(in);
            int length = 0;
            for (String line : head.split("\r\n")) {
                if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                    length = Integer.parseInt(line.substring("content-length:".length()).trim());
                }
            }
            byte[] body = in.readNBytes(length);
            assertThat(body).hasSize(length);
            return new Response(head, new String(body, StandardCharsets.US_ASCII), head.length() + (long) length);
        }
    }

    // ---------------------------------------------------------------- HTTP/2

    @Test
    void http2StreamsObserveTheirFramesOnTheWire() throws Exception {
        try (RawClient c = new RawClient(toH2)) {
            Sums before = Sums.now();
            byte[] get = RawClient.block("GET", "/ok/a", "x-test", "one");
            c.headers(1, get, true);
            long sent = c.awaitEnd(1);
            before.assertNext(get.length + 9, sent);

            // A second stream on the connection: its own frames only. With a body: HEADERS and DATA, each with its header.
            before = Sums.now();
            byte[] post = RawClient.block("POST", "/ok/b", "content-length", "5");
            c.headers(3, post, false);
            c.data(3, "hello".getBytes(StandardCharsets.US_ASCII), true);
            sent = c.awaitEnd(3);
            before.assertNext(post.length + 9 + 5 + 9, sent);

            // A denied gRPC call: zerohop's trailers-only answer.
            before = Sums.now();
            DistributionSummary g = meters.find("istio.request.bytes").tag("request_protocol", "grpc").summary();
            double grpcBefore = g == null ? 0 : g.totalAmount();
            byte[] grpc = RawClient.block("POST", "/test.Echo/Denied", "content-type", "application/grpc");
            c.headers(5, grpc, true);
            sent = c.awaitEnd(5);
            before.assertNext(grpc.length + 9, sent);
            assertThat(meters.find("istio.request.bytes").tag("request_protocol", "grpc").summary().totalAmount() - grpcBefore)
                    .isEqualTo(grpc.length + 9);
        }
    }

    /**
     * A response whose DATA waits in the client's stream window (SETTINGS_INITIAL_WINDOW_SIZE 4, a WINDOW_UPDATE per DATA
     * frame read) is observed whole: Envoy meters a stream until it is destroyed, after its last frame was sent.
     */
    @Test
    void anHttp2ResponseHeldByTheClientsWindowIsObservedWhole() throws Exception {
        try (RawClient c = new RawClient(toH2, 4)) {
            Sums before = Sums.now();
            byte[] get = RawClient.block("GET", "/ok/slow", "x-test", "a field long enough for a reply longer than the window");
            c.headers(1, get, true);
            long sent = c.awaitEnd(1);
            before.assertNext(get.length + 9, sent);
        }
    }

    /**
     * A client writing its own frames (RFC 9113 section 4.1) and header blocks of HPACK literals without indexing and
     * without Huffman coding (RFC 7541 section 6.2.2), so that what a request takes on the wire is known, and reading the
     * server's frames, counting those of each stream.
     */
    private static final class RawClient implements AutoCloseable {
        private final Socket socket;
        private final DataInputStream in;
        private final OutputStream out;
        private final Map<Integer, Long> received = new java.util.HashMap<>();

        /** Whether each DATA frame read is given back to its stream's window at once (a small window). */
        private final boolean giveBack;

        RawClient(InetSocketAddress to) throws IOException {
            this(to, -1);
        }

        /** {@code window}: the streams' initial window (SETTINGS_INITIAL_WINDOW_SIZE), or -1 for the default. */
        RawClient(InetSocketAddress to, int window) throws IOException {
            socket = new Socket(to.getAddress(), to.getPort());
            socket.setSoTimeout(30_000);
            in = new DataInputStream(socket.getInputStream());
            out = socket.getOutputStream();
            giveBack = window >= 0;
            out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            frame(4, 0, 0, window < 0 ? new byte[0] : new byte[] {0, 4, (byte) (window >>> 24), (byte) (window >>> 16),
                (byte) (window >>> 8), (byte) window});
        }

        /** A request's header block: the four pseudo-header fields, then {@code fields} (name, value, ...). */
        static byte[] block(String method, String path, String... fields) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            literal(b, ":method", method);
            literal(b, ":scheme", "http");
            literal(b, ":path", path);
            literal(b, ":authority", "backend.example");
            for (int i = 0; i < fields.length; i += 2) {
                literal(b, fields[i], fields[i + 1]);
            }
            return b.toByteArray();
        }

        private static void literal(ByteArrayOutputStream b, String name, String value) {
            b.write(0);
            b.write(name.length());
            b.writeBytes(name.getBytes(StandardCharsets.US_ASCII));
            b.write(value.length());
            b.writeBytes(value.getBytes(StandardCharsets.US_ASCII));
        }

        void headers(int stream, byte[] block, boolean endStream) throws IOException {
            frame(1, 0x4 | (endStream ? 1 : 0), stream, block);
        }

        void data(int stream, byte[] data, boolean endStream) throws IOException {
            frame(0, endStream ? 1 : 0, stream, data);
        }

        private void frame(int type, int flags, int stream, byte[] payload) throws IOException {
            out.write(new byte[] {(byte) (payload.length >>> 16), (byte) (payload.length >>> 8), (byte) payload.length, (byte) type,
                (byte) flags, (byte) (stream >>> 24), (byte) (stream >>> 16), (byte) (stream >>> 8), (byte) stream});
            out.write(payload);
            out.flush();
        }

        /** Reads frames until {@code stream} ends (END_STREAM or RST_STREAM): the bytes of that stream's frames. */
        long awaitEnd(int stream) throws IOException {
            while (true) {
                byte[] h = in.readNBytes(9);
                assertThat(h).as("a frame header").hasSize(9);
                int length = (h[0] & 0xff) << 16 | (h[1] & 0xff) << 8 | h[2] & 0xff;
                int type = h[3];
                int flags = h[4];
                int id = (h[5] & 0x7f) << 24 | (h[6] & 0xff) << 16 | (h[7] & 0xff) << 8 | h[8] & 0xff;
                in.readNBytes(length);
                if (type == 4 && (flags & 1) == 0) {
                    frame(4, 1, 0, new byte[0]);
                }
                if (id != 0) {
                    received.merge(id, (long) length + 9, Long::sum);
                }
                if (giveBack && type == 0 && length > 0) {
                    frame(8, 0, id, new byte[] {(byte) (length >>> 24), (byte) (length >>> 16), (byte) (length >>> 8), (byte) length});
                }
                if (id == stream && (type == 3 || (type == 0 || type == 1) && (flags & 1) != 0)) {
                    return received.get(stream);
                }
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
