package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.HttpEndpoint;
import io.zerohop.hbone.internal.Transports;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The proxy's HTTP endpoints against their stop (admin {@code /quitquitquit}): the answer is out
 * before the stop the request asked for begins, and closing the server closes the keep-alive
 * connections it accepted. A raw HTTP/1.1 client on a real loopback socket, so that what the
 * client receives (the answer, then the end of the connection) is asserted byte for byte; the
 * read timeouts are guards (a missed end fails the test, it never passes it).
 */
@Timeout(60)
class HttpEndpointServerTest {
    static final InetSocketAddress BIND = new InetSocketAddress("127.0.42.1", 0);

    /**
     * ztunnel answers {@code POST /quitquitquit} with 200 "shutdown now" (istio/ztunnel src/admin.rs
     * {@code handle_server_shutdown}). Here the stop is the harshest one, a mesh's end without its
     * drain: the server closes (with its connections), then the event loops end at once. Started by
     * the handler itself, it closed the connection before the answer was written, and the client got
     * no answer; run after the answer's write, it cannot. (The server's close is the stop's first
     * step, as in MeshRuntime's drain: under load, ending the loops alone once left this accepted
     * connection open for more than 10 s, the CI hang's symptom.)
     */
    @Test
    void aStopThatEndsTheEventLoopsRunsOnlyOnceTheAnswerIsWritten() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "admin-test");
        ExecutorService handlers = Executors.newSingleThreadExecutor();
        try {
            Channel[] bound = new Channel[1];
            Runnable stop = () -> {
                HttpEndpointServer.close(bound[0]).join();
                group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
            };
            Channel server = HttpEndpointServer.bind(group, BIND, Map.of("/quitquitquit",
                    r -> HttpEndpoint.Response.text(200, "shutdown now\n").thenRun(stop)), handlers);
            bound[0] = server;
            try (Socket s = connect(server)) {
                s.getOutputStream().write(("POST /quitquitquit HTTP/1.1\r\nhost: admin\r\ncontent-length: 0\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                String all = readToEnd(s.getInputStream());
                assertThat(all).as("the answer, then the end of the connection (the server closed)")
                        .startsWith("HTTP/1.1 200 OK\r\n").endsWith("\r\n\r\nshutdown now\n");
            }
            assertThat(group.awaitTermination(10, TimeUnit.SECONDS)).as("the stop ran").isTrue();
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            handlers.shutdownNow();
        }
    }

    /**
     * The endpoints read no body and keep few connections: a body over {@link HttpEndpointServer#MAX_BODY} is answered 413
     * (and dropped as it comes). Past the connection limit an idle connection (no request in progress) is closed to make
     * room, so silent connections cannot keep a probe out (a review pass: 1,024 of them did); only when every connection
     * is in a request (each bounded by the request deadline) is the new one closed. A hostile-peer pass held 1,500
     * connections trickling 64 KB bodies to the metrics port, which reserved the direct memory the tunnels use.
     */
    @Test
    void aBodyIsNotKeptAndConnectionsAreBounded() throws Exception {
        onLoop((group, handlers) -> {
            Channel server = ping(group, handlers, 2, java.time.Duration.ofSeconds(30));
            try (Socket big = connect(server); Socket silent = connect(server)) {
                big.getOutputStream().write(("POST /ping HTTP/1.1\r\nhost: admin\r\ncontent-length: 65536\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                assertThat(readUntil(big.getInputStream(), "\r\n")).startsWith("HTTP/1.1 413 ");
                try (Socket probe = connect(server)) {
                    silent.setSoTimeout(10_000);
                    assertThat(silent.getInputStream().read()).as("the silent connection made room").isEqualTo(-1);
                    probe.getOutputStream().write("GET /ping HTTP/1.1\r\nhost: admin\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    assertThat(readUntil(probe.getInputStream(), "pong\n")).startsWith("HTTP/1.1 200 OK\r\n");
                    probe.getOutputStream().write("GET /ping HTTP/1.1\r\nho".getBytes(StandardCharsets.US_ASCII)); // now in a request
                    Thread.sleep(200);
                    try (Socket late = connect(server)) {
                        late.setSoTimeout(10_000);
                        assertThat(late.getInputStream().read()).as("every connection in a request: the new one is closed")
                                .isEqualTo(-1);
                    }
                }
            }
        });
    }

    /**
     * A request must be whole within the deadline from its first byte: a client trickling a byte at a time kept its
     * connection for good (the read timeout restarts at every byte), and 1,024 of them kept the readiness probe's port
     * unreachable (a new-operator pass). A keep-alive connection waiting between requests is not cut by it.
     */
    @Test
    void aRequestTrickledPastTheDeadlineIsCut() throws Exception {
        onLoop((group, handlers) -> {
            Channel server = ping(group, handlers, 16, java.time.Duration.ofMillis(600));
            try (Socket slow = connect(server); Socket idle = connect(server)) {
                idle.getOutputStream().write("GET /ping HTTP/1.1\r\nhost: admin\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                assertThat(readUntil(idle.getInputStream(), "pong\n")).startsWith("HTTP/1.1 200 OK\r\n");
                // 3 s of a head that never ends, a byte every 100 ms: the read timeout (30 s) never fires on it.
                for (char c : ("GET /ping HTTP/1.1\r\nx-pad: " + "p".repeat(10)).toCharArray()) {
                    try {
                        slow.getOutputStream().write(c);
                    } catch (java.io.IOException cut) {
                        break;
                    }
                    Thread.sleep(100);
                }
                slow.setSoTimeout(2_000);
                int end;
                try {
                    end = slow.getInputStream().read();
                } catch (java.net.SocketException reset) {
                    end = -1; // our late writes after the close may have drawn a reset: closed all the same
                }
                assertThat(end).as("closed by the deadline (before: still open, its read timed out)").isEqualTo(-1);
                Thread.sleep(800); // past the deadline with no request pending: the keep-alive connection is still served
                idle.getOutputStream().write("GET /ping HTTP/1.1\r\nhost: admin\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                assertThat(readUntil(idle.getInputStream(), "pong\n")).startsWith("HTTP/1.1 200 OK\r\n");
            }
        });
    }

    /**
     * The JDK's HTTP client keeps its connection to the admin listener open; an in-process proxy
     * whose admin server channel was closed (its event loops still running) left that connection
     * ESTABLISHED, and a client waiting on it hung (a CI run of KubernetesOptionTest).
     */
    @Test
    void closingTheServerClosesTheKeepAliveConnectionsItAccepted() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "admin-test");
        ExecutorService handlers = Executors.newSingleThreadExecutor();
        try {
            Channel server = HttpEndpointServer.bind(group, BIND, Map.of("/ping", r -> HttpEndpoint.Response.text(200, "pong\n")), handlers);
            try (Socket s = connect(server)) {
                s.getOutputStream().write("GET /ping HTTP/1.1\r\nhost: admin\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                InputStream in = s.getInputStream();
                String answer = readUntil(in, "pong\n");
                assertThat(answer).startsWith("HTTP/1.1 200 OK\r\n").containsIgnoringCase("connection: keep-alive");

                server.close().syncUninterruptibly();
                // The event loops keep running: only the server's close can end this connection (here
                // the plain channel close; HttpEndpointServer.close, the drain's, closes both at once).
                assertThat(readToEnd(in)).as("nothing more, then the end of the connection").isEmpty();
            }
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            handlers.shutdownNow();
        }
    }

    /**
     * A name given twice in the query reaches the handler with its last value, as ztunnel's admin reads it
     * (src/admin.rs {@code handle_logging}: the pairs of {@code url::form_urlencoded::parse} collected into a
     * {@code HashMap}, where a later pair replaces an earlier one): {@code POST /logging?level=debug&level=warn}
     * sets warn there. Percent-escapes and {@code +} decode as form encoding does; a name without a value is "".
     */
    @Test
    void aRepeatedQueryNameHasItsLastValue() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "admin-test");
        ExecutorService handlers = Executors.newSingleThreadExecutor();
        try {
            Channel server = HttpEndpointServer.bind(group, BIND, Map.of("/logging", r -> HttpEndpoint.Response.text(200,
                    "level=" + r.query().get("level") + " reset=" + r.query().get("reset") + " size=" + r.query().size() + "\n")), handlers);
            try (Socket s = connect(server)) {
                s.getOutputStream().write(("POST /logging?level=debug&reset&level=access%3Dwarn,info+ HTTP/1.1\r\nhost: admin\r\n"
                        + "content-length: 0\r\nconnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                assertThat(readToEnd(s.getInputStream())).startsWith("HTTP/1.1 200 OK\r\n")
                        .endsWith("\r\n\r\nlevel=access=warn,info  reset= size=2\n");
            }
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            handlers.shutdownNow();
        }
    }

    /**
     * A query or path ztunnel's servers read without failing is answered, never met with a closed connection: hyper routes
     * on the path as sent and {@code url::form_urlencoded::parse} keeps a {@code %} that starts no escape as it is, so
     * ztunnel answers {@code POST /logging?level=%zz} with 400 {@code Invalid level provided: %zz} and
     * {@code GET /healthz/ready?x=%} with its readiness. Netty's decoder threw on both, and the client got no answer.
     * A {@code ;} is data (form encoding splits on {@code &} only), and an escaped path is not the path it decodes to.
     */
    @Test
    void aMalformedEscapeIsDataAndThePathIsRoutedAsSent() throws Exception {
        onLoop((group, handlers) -> {
            Channel server = HttpEndpointServer.bind(group, BIND, Map.of("/logging", r -> HttpEndpoint.Response.text(200,
                    "level=" + r.query().get("level") + " size=" + r.query().size() + "\n")), handlers);
            String[][] cases = {
                    {"/logging?level=%zz", "200", "level=%zz size=1\n"},
                    {"/logging?level=a%", "200", "level=a% size=1\n"},
                    {"/logging?level=%4", "200", "level=%4 size=1\n"},
                    {"/logging?level=info;access=off", "200", "level=info;access=off size=1\n"},
                    {"/logging?&&level=%41%ff&", "200", "level=A\uFFFD size=1\n"},
                    {"/logging%", "404", ""},
                    {"/logging%5F", "404", ""},
                    {"/%6Cogging", "404", ""},
            };
            for (String[] c : cases) {
                try (Socket s = connect(server)) {
                    s.getOutputStream().write(("POST " + c[0] + " HTTP/1.1\r\nhost: admin\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
                    assertThat(readToEnd(s.getInputStream())).as(c[0])
                            .startsWith("HTTP/1.1 " + c[1] + " ")
                            .endsWith("\r\n\r\n" + c[2]);
                }
            }
        });
    }

    /**
     * A server bound {@link HttpEndpoint.Compression#NEGOTIATED} answers as ztunnel's metrics server (tower-http 0.7's
     * {@code CompressionLayer}): gzip for a scraper that asks for it, with {@code Vary: Accept-Encoding}; the body as
     * it is, with {@code Vary}, for one that does not; 406 with the body unchanged when nothing it accepts can be
     * written, for a path it does not serve too (the layer wraps every path); a body under 32 bytes as it is, without
     * {@code Vary}. A server bound without compression never compresses. The content coding's choice for every
     * {@code Accept-Encoding} is {@link ContentCodingTest}'s.
     */
    @Test
    void aNegotiatingServerCompressesAsTheRequestAsks() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "metrics-test");
        ExecutorService handlers = Executors.newSingleThreadExecutor();
        String metrics = "istio_tcp_connections_opened_total{reporter=\"destination\"} 1\n".repeat(40);
        Map<String, HttpEndpoint.Handler> routes = Map.of("/metrics", r -> new HttpEndpoint.Response(200,
                "text/plain; version=0.0.4; charset=utf-8", metrics), "/short", r -> HttpEndpoint.Response.text(200, "ok\n"));
        try {
            Channel negotiating = HttpEndpointServer.bind(group, BIND, routes, handlers, HttpEndpoint.Compression.NEGOTIATED);
            Channel plain = HttpEndpointServer.bind(group, BIND, routes, handlers);

            Answer gz = exchange(negotiating, "/metrics", "gzip");
            assertThat(gz.head).startsWith("HTTP/1.1 200 OK\r\n").containsIgnoringCase("content-encoding: gzip\r\n")
                    .containsIgnoringCase("vary: accept-encoding\r\n");
            try (InputStream in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(gz.body))) {
                assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo(metrics);
            }
            assertThat(gz.body.length).isLessThan(metrics.length() / 10);

            Answer identity = exchange(negotiating, "/metrics", null);
            assertThat(identity.head).startsWith("HTTP/1.1 200 OK\r\n").doesNotContainIgnoringCase("content-encoding")
                    .containsIgnoringCase("vary: accept-encoding\r\n");
            assertThat(new String(identity.body, StandardCharsets.UTF_8)).isEqualTo(metrics);

            Answer none = exchange(negotiating, "/metrics", "identity;q=0");
            assertThat(none.head).startsWith("HTTP/1.1 406 Not Acceptable\r\n").doesNotContainIgnoringCase("content-encoding")
                    .containsIgnoringCase("vary: accept-encoding\r\n");
            assertThat(new String(none.body, StandardCharsets.UTF_8)).isEqualTo(metrics);
            assertThat(exchange(negotiating, "/nowhere", "*;q=0").head).startsWith("HTTP/1.1 406 Not Acceptable\r\n");
            assertThat(exchange(negotiating, "/nowhere", "gzip").head).startsWith("HTTP/1.1 404 Not Found\r\n");

            Answer small = exchange(negotiating, "/short", "gzip");
            assertThat(small.head).doesNotContainIgnoringCase("content-encoding").doesNotContainIgnoringCase("vary");
            assertThat(new String(small.body, StandardCharsets.UTF_8)).isEqualTo("ok\n");

            Answer uncompressed = exchange(plain, "/metrics", "gzip");
            assertThat(uncompressed.head).startsWith("HTTP/1.1 200 OK\r\n").doesNotContainIgnoringCase("content-encoding")
                    .doesNotContainIgnoringCase("vary");
            assertThat(new String(uncompressed.body, StandardCharsets.UTF_8)).isEqualTo(metrics);
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            handlers.shutdownNow();
        }
    }

    private record Answer(String head, byte[] body) {}

    /** One GET on a fresh connection ({@code connection: close}), read to its end: the head, and the body's bytes. */
    private static Answer exchange(Channel server, String path, String acceptEncoding) throws IOException {
        try (Socket s = connect(server)) {
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nhost: metrics\r\nconnection: close\r\n"
                    + (acceptEncoding == null ? "" : "accept-encoding: " + acceptEncoding + "\r\n") + "\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            byte[] all = s.getInputStream().readAllBytes();
            String text = new String(all, StandardCharsets.ISO_8859_1);
            int end = text.indexOf("\r\n\r\n");
            assertThat(end).as(text).isPositive();
            return new Answer(text.substring(0, end + 2), java.util.Arrays.copyOfRange(all, end + 4, all.length));
        }
    }

    private static Socket connect(Channel server) throws IOException {
        Socket s = new Socket();
        s.connect(server.localAddress(), 10_000);
        s.setSoTimeout(10_000);
        return s;
    }

    private static String readUntil(InputStream in, String end) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        while (!got.toString(StandardCharsets.UTF_8).endsWith(end)) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            got.write(b);
        }
        return got.toString(StandardCharsets.UTF_8);
    }

    /** Everything until the peer ends the connection; a read timeout (nothing ended it) fails. */
    private static String readToEnd(InputStream in) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                got.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the connection was not ended within 10 s; read so far: " + got.toString(StandardCharsets.UTF_8), e);
        }
        return got.toString(StandardCharsets.UTF_8);
    }

    /** A body run with a one-thread event loop and a handler thread, both ended after it. */
    interface OnLoop {
        void run(EventLoopGroup group, ExecutorService handlers) throws Exception;
    }

    private static void onLoop(OnLoop body) throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "admin-test");
        ExecutorService handlers = Executors.newSingleThreadExecutor();
        try {
            body.run(group, handlers);
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            handlers.shutdownNow();
        }
    }

    /** A {@code /ping} endpoint ("pong") with {@code maxConnections} and {@code requestDeadline}. */
    private static Channel ping(EventLoopGroup group, ExecutorService handlers, int maxConnections, java.time.Duration requestDeadline)
            throws InterruptedException {
        return HttpEndpointServer.bind(group, BIND, Map.of("/ping", r -> HttpEndpoint.Response.text(200, "pong\n")), handlers,
                HttpEndpoint.Compression.NONE, maxConnections, requestDeadline);
    }
}
