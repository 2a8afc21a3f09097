package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.CapturedStderr;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The application's connection could not be made: retried as Istio's inbound route retries it ({@link AppDialRetry}:
 * {@code reset-before-request}, two retries after Envoy's jittered back-off, none on a {@code grpc} port), and, once
 * the retries ran out, Envoy's 503 saying {@code retried and the latest reset reason}, flagged {@code URX,UF}. Until
 * 7 December the first failed dial was answered at once.
 *
 * <p>Real sockets throughout, wired as the plaintext inbound listener wires them ({@link HttpEnforcement#plaintext}),
 * with a dialler that connects to the application's real address: an application that refuses the first dials is a
 * port on which a socket is bound without listening (the kernel answers the SYN with RST: connection refused), and it
 * starts listening on that port when the last dial it refuses has failed, before that failure reaches the proxy, so
 * the retry that follows finds it; no timing decides which dial it takes. HTTP/1 (raw sockets), HTTP/2 (curl, h2c with
 * prior knowledge) and an HTTP/1 client to an {@code http2} port; the HTTP/2 application is Node's http2 server behind
 * the listening port. This class's addresses: 127.0.212.1 (the listener), .2 (the applications), .3 (Node).
 */
@Timeout(120)
class L7AppDialRetryTest {
    static final InetAddress LISTENER_IP = address("127.0.212.1");
    static final InetAddress APP_IP = address("127.0.212.2");
    static final InetAddress NODE_IP = address("127.0.212.3");
    static final String REFUSED = "reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused";
    static final String RETRIED_503 = "upstream connect error or disconnect/reset before headers. retried and the latest " + REFUSED;
    static final String FIRST_503 = "upstream connect error or disconnect/reset before headers. " + REFUSED;
    static final String DETAILS = "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}";

    private final EventLoopGroup group = Transports.newGroup(1, "l7-dial-retry");
    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private final HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, meters, null, 1000);
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private Process node;
    private InetSocketAddress nodeApp;

    static InetAddress address(String ip) {
        try {
            return InetAddress.getByName(ip);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @BeforeEach
    void start() throws Exception {
        node = ChildProcess.start(new ProcessBuilder("node", Path.of(getClass().getResource("/http/h2c-server.js").toURI()).toString(),
                NODE_IP.getHostAddress()).redirectErrorStream(true));
        nodeApp = new InetSocketAddress(NODE_IP, Integer.parseInt(ChildProcess.firstLine(node).trim()));
    }

    @AfterEach
    void stop() throws Exception {
        PlaintextL7.stop(toClose, group, node);
    }

    /**
     * An application on {@link #APP_IP} that refuses its first {@code refusals} dials and serves every connection after
     * them with {@code serve} (on a thread of its own).
     */
    final class GatedApp implements AutoCloseable {
        private final int refusals;
        private final Consumer<Socket> serve;
        /** Bound without listening while the application refuses: the port is reserved, and a SYN to it gets RST. */
        private final Socket reservation = new Socket();
        private final int port;
        /** Dials made to it, refused or not. */
        final AtomicInteger dials = new AtomicInteger();
        private final AtomicInteger refused = new AtomicInteger();
        private volatile ServerSocket listening;

        GatedApp(int refusals, Consumer<Socket> serve) throws IOException {
            this.refusals = refusals;
            this.serve = serve;
            reservation.bind(new InetSocketAddress(APP_IP, 0));
            port = reservation.getLocalPort();
            toClose.add(this);
        }

        InetSocketAddress address() {
            return new InetSocketAddress(APP_IP, port);
        }

        /** The proxy's dialler: a real connect to the application's address, on the client connection's event loop. */
        CompletableFuture<Relay.End> dial(Channel client) {
            CompletableFuture<Relay.End> up = new CompletableFuture<>();
            dials.incrementAndGet();
            new Bootstrap().group(client.eventLoop()).channel(Transports.socketChannel(group))
                    .option(ChannelOption.AUTO_READ, false).option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(address()).addListener((ChannelFuture f) -> {
                        if (f.isSuccess()) {
                            up.complete(Relay.tcp((DuplexChannel) f.channel()));
                            return;
                        }
                        if (refused.incrementAndGet() == refusals) {
                            // The last refusal: listening from now on, before the proxy learns of this failure.
                            listen();
                        }
                        up.completeExceptionally(f.cause());
                    });
            return up;
        }

        private void listen() throws IOException {
            reservation.close();
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(address(), 50);
            listening = s;
            Thread accepting = new Thread(() -> {
                while (!s.isClosed()) {
                    try {
                        Socket c = s.accept();
                        Thread t = new Thread(() -> serve.accept(c), "gated-app-conn");
                        t.setDaemon(true);
                        t.start();
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "gated-app");
            accepting.setDaemon(true);
            accepting.start();
        }

        @Override
        public void close() throws IOException {
            reservation.close();
            if (listening != null) {
                listening.close();
            }
        }
    }

    /** An HTTP/1.1 application: one response per request, saying how much body it read. */
    static void http1App(Socket c) {
        try (c) {
            InputStream in = c.getInputStream();
            OutputStream out = c.getOutputStream();
            while (true) {
                String head = readHead(in);
                if (head.isEmpty()) {
                    return;
                }
                long length = 0;
                for (String line : head.split("\r\n")) {
                    if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                        length = Long.parseLong(line.substring(15).trim());
                    }
                }
                in.skipNBytes(length);
                String body = head.substring(0, head.indexOf("\r\n")) + " body=" + length;
                out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                out.flush();
            }
        } catch (IOException e) {
            // the proxy ended the connection
        }
    }

    /** An HTTP/1 application that ends its connection once it has read a request's head, never answering. */
    static void closeAfterHead(Socket c) {
        try (c) {
            readHead(c.getInputStream());
        } catch (IOException e) {
            // ended
        }
    }

    /** An h2c application that ends its connection once a HEADERS frame came (a request's), never answering. */
    static void closeAfterHeaders(Socket c) {
        try (c) {
            InputStream in = c.getInputStream();
            in.readNBytes(24);
            for (byte[] h; (h = in.readNBytes(9)).length == 9; ) {
                in.skipNBytes(((h[0] & 0xff) << 16) | ((h[1] & 0xff) << 8) | (h[2] & 0xff));
                if (h[3] == 0x1) {
                    return;
                }
            }
        } catch (IOException e) {
            // ended
        }
    }

    /** The h2c application: Node's, its bytes relayed as they come. */
    void h2cApp(Socket c) {
        try (c; Socket n = new Socket(nodeApp.getAddress(), nodeApp.getPort())) {
            Thread back = new Thread(() -> {
                try {
                    n.getInputStream().transferTo(c.getOutputStream());
                    c.shutdownOutput();
                } catch (IOException e) {
                    // either side ended
                }
            }, "gated-app-back");
            back.setDaemon(true);
            back.start();
            c.getInputStream().transferTo(n.getOutputStream());
            n.shutdownOutput();
            back.join();
        } catch (IOException | InterruptedException e) {
            // either side ended
        }
    }

    /** A plaintext listener on {@link #LISTENER_IP} for a port of {@code protocol} whose application is {@code app}. */
    InetSocketAddress listener(AppProtocol protocol, GatedApp app) throws InterruptedException {
        Channel listener = PlaintextL7.listen(http, group, new InetSocketAddress(LISTENER_IP, 0), app.address(), protocol,
                b -> { }, client -> { }, app::dial);
        toClose.add(() -> listener.close().sync());
        return (InetSocketAddress) listener.localAddress();
    }

    record Response(int status, Map<String, String> headers, String body) {}

    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        for (int c; (c = in.read()) >= 0; ) {
            head.write(c);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                break;
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1).trim();
    }

    /** One response, its body framed by {@code content-length} or chunked. */
    static Response read(InputStream in) throws IOException {
        String head = readHead(in);
        assertThat(head).as("a response, not the end of the connection").isNotEmpty();
        String[] lines = head.split("\r\n");
        Map<String, String> headers = new HashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if ("chunked".equals(headers.get("transfer-encoding"))) {
            for (int size; (size = Integer.parseInt(readLine(in), 16)) > 0; readLine(in)) {
                body.write(in.readNBytes(size));
            }
            readLine(in);
        } else {
            body.write(in.readNBytes(Integer.parseInt(headers.getOrDefault("content-length", "0"))));
        }
        return new Response(Integer.parseInt(lines[0].split(" ")[1]), headers, body.toString(StandardCharsets.US_ASCII));
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int c; (c = in.read()) >= 0 && c != '\n'; ) {
            line.append((char) c);
        }
        return line.toString().trim();
    }

    static Socket client(InetSocketAddress via) throws IOException {
        Socket s = new Socket(via.getAddress(), via.getPort());
        s.setSoTimeout(30_000);
        return s;
    }

    static void send(Socket s, byte[] bytes) throws IOException {
        s.getOutputStream().write(bytes);
        s.getOutputStream().flush();
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** {@code istio_requests_total} with these labels, once counted (just after the access line). */
    double counted(String code, String flags) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            Counter c = meters.find("istio.requests").tag("response_code", code).tag("response_flags", flags).counter();
            if (c != null && c.count() >= 1) {
                return c.count();
            }
            Thread.sleep(20);
        }
        return 0;
    }

    @Test
    void anHttp1RequestReachesAnApplicationThatRefusedItsFirstDial() throws Exception {
        GatedApp app = new GatedApp(1, L7AppDialRetryTest::http1App);
        try (Socket c = client(listener(AppProtocol.HTTP, app))) {
            send(c, ascii("GET /api/a HTTP/1.1\r\nHost: backend\r\n\r\n"));
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("GET /api/a HTTP/1.1 body=0");
            assertThat(app.dials).hasValue(2);
        }
    }

    /**
     * Both retries, for a request whose body came with its head and is still coming: nothing of it had been sent, so
     * it is retried as a request without one is (reset-before-request), and the application gets all of it.
     */
    @Test
    void aRequestWithABodyStillComingReachesAnApplicationThatRefusedItsFirstTwoDials() throws Exception {
        GatedApp app = new GatedApp(2, L7AppDialRetryTest::http1App);
        byte[] body = new byte[512 << 10];
        java.util.Arrays.fill(body, (byte) 'b');
        try (Socket c = client(listener(AppProtocol.HTTP, app))) {
            CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
                try {
                    send(c, ascii("POST /api/upload HTTP/1.1\r\nHost: backend\r\nContent-Length: " + body.length + "\r\n\r\n"));
                    send(c, body);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("POST /api/upload HTTP/1.1 body=" + body.length);
            sent.get(30, TimeUnit.SECONDS);
            assertThat(app.dials).hasValue(3);
        }
    }

    /**
     * An application that refuses every dial: three dials (the request's and its two retries), then Envoy's 503 after
     * retries, {@code URX,UF} in the access line and the metric, the details as for a first failure; the client's
     * connection goes on, and its next request gets its own three dials.
     */
    @Test
    void anApplicationThatKeepsRefusingGetsTheRetried503FlaggedUrxUf() throws Exception {
        GatedApp app = new GatedApp(Integer.MAX_VALUE, L7AppDialRetryTest::http1App);
        try (CapturedStderr err = new CapturedStderr(); Socket c = client(listener(AppProtocol.HTTP, app))) {
            send(c, ascii("GET /api/down HTTP/1.1\r\nHost: backend\r\n\r\n"));
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(RETRIED_503);
            assertThat(r.headers()).containsEntry("content-length", Integer.toString(RETRIED_503.length())).doesNotContainKey("connection");
            assertThat(app.dials).hasValue(3);
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/api/down\" "))
                    .contains(" status=503 decision=allow ")
                    .contains(" reason=\"" + DETAILS + "\" response_flags=URX,UF ");
            assertThat(counted("503", "URX,UF")).isEqualTo(1);

            send(c, ascii("GET /api/down-again HTTP/1.1\r\nHost: backend\r\n\r\n"));
            assertThat(read(c.getInputStream()).body()).isEqualTo(RETRIED_503);
            assertThat(app.dials).hasValue(6);
        }
    }

    /** HTTP/2 on an {@code http} port (H2Proxy): the stream's connection is retried as a request's is. */
    @Test
    void anHttp2RequestReachesAnApplicationThatRefusedItsFirstDialAndOneThatKeepsRefusingGetsTheRetried503() throws Exception {
        GatedApp app = new GatedApp(1, this::h2cApp);
        InetSocketAddress via = listener(AppProtocol.HTTP, app);
        String ok = ChildProcess.run("curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-w", "\n[%{http_code}]",
                "http://" + via.getAddress().getHostAddress() + ":" + via.getPort() + "/api/h2");
        assertThat(ok).startsWith("GET /api/h2 ").endsWith("\n[200]");
        assertThat(app.dials).hasValue(2);

        GatedApp down = new GatedApp(Integer.MAX_VALUE, this::h2cApp);
        InetSocketAddress viaDown = listener(AppProtocol.HTTP, down);
        try (CapturedStderr err = new CapturedStderr()) {
            String refused = ChildProcess.run("curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-w", "\n[%{http_code}]",
                    "http://" + viaDown.getAddress().getHostAddress() + ":" + viaDown.getPort() + "/api/h2-down");
            assertThat(refused).isEqualTo(RETRIED_503 + "\n[503]");
            assertThat(down.dials).hasValue(3);
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/api/h2-down\" "))
                    .contains(" protocol=HTTP/2 status=503 decision=allow ")
                    .contains(" reason=\"" + DETAILS + "\" response_flags=URX,UF ");
        }
    }

    /**
     * An HTTP/1 client on an {@code http2} port (H2Upstream) is retried; on a {@code grpc} port, where istiod sets no
     * retry policy, neither it nor an HTTP/2 client is: one dial, Envoy's first 503, {@code UF} alone.
     */
    @Test
    void anHttp2PortIsRetriedAndAGrpcPortIsNot() throws Exception {
        GatedApp app = new GatedApp(1, this::h2cApp);
        try (Socket c = client(listener(AppProtocol.HTTP2, app))) {
            send(c, ascii("GET /api/h1-to-h2 HTTP/1.1\r\nHost: backend\r\n\r\n"));
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).startsWith("GET /api/h1-to-h2 ");
            assertThat(app.dials).hasValue(2);
        }

        GatedApp grpc = new GatedApp(1, this::h2cApp);
        InetSocketAddress viaGrpc = listener(AppProtocol.GRPC, grpc);
        try (CapturedStderr err = new CapturedStderr(); Socket c = client(viaGrpc)) {
            send(c, ascii("GET /api/grpc-h1 HTTP/1.1\r\nHost: backend\r\n\r\n"));
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(FIRST_503);
            assertThat(grpc.dials).hasValue(1);
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/api/grpc-h1\" "))
                    .contains(" reason=\"" + DETAILS + "\" response_flags=UF ");
        }
        GatedApp grpcH2 = new GatedApp(1, this::h2cApp);
        InetSocketAddress viaGrpcH2 = listener(AppProtocol.GRPC, grpcH2);
        String refused = ChildProcess.run("curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-w", "\n[%{http_code}]",
                "http://" + viaGrpcH2.getAddress().getHostAddress() + ":" + viaGrpcH2.getPort() + "/api/grpc-h2");
        assertThat(refused).isEqualTo(FIRST_503 + "\n[503]");
        assertThat(grpcH2.dials).hasValue(1);
    }

    /**
     * A {@code grpc-web} port is not retried either: istiod's {@code protocol.IsGRPC()} counts it with {@code grpc}
     * (istio/istio pkg/config/protocol/instance.go), so {@code BuildDefaultHTTPInboundRoute} gives its route no retry
     * policy. An HTTP/1 client (TcpUpstream) and an h2c one (H2Proxy): one dial each, Envoy's first 503, {@code UF} alone.
     * Until 7 December such a port was read as {@code http} and dialled three times.
     */
    @Test
    void aGrpcWebPortIsNotRetried() throws Exception {
        GatedApp web = new GatedApp(1, L7AppDialRetryTest::http1App);
        try (CapturedStderr err = new CapturedStderr(); Socket c = client(listener(AppProtocol.parse("grpc-web"), web))) {
            send(c, ascii("POST /pkg.Svc/Call HTTP/1.1\r\nHost: backend\r\nContent-Type: application/grpc-web+proto\r\n"
                    + "Content-Length: 0\r\n\r\n"));
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(FIRST_503);
            assertThat(web.dials).hasValue(1);
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/pkg.Svc/Call\" "))
                    .contains(" reason=\"" + DETAILS + "\" response_flags=UF ");
        }
        GatedApp webH2 = new GatedApp(1, this::h2cApp);
        InetSocketAddress viaH2 = listener(AppProtocol.of(0, null, "grpc-web-api"), webH2);
        String refused = ChildProcess.run("curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-w", "\n[%{http_code}]",
                "http://" + viaH2.getAddress().getHostAddress() + ":" + viaH2.getPort() + "/api/grpc-web-h2");
        assertThat(refused).isEqualTo(FIRST_503 + "\n[503]");
        assertThat(webH2.dials).hasValue(1);
    }

    /**
     * A request whose connection came on a retry and then ended before its response (the application closed it:
     * {@code UC}) is answered as Envoy answers a request it retried: {@code retried and the latest reset reason:
     * connection termination}, its flag {@code UC} alone (no retry ran out). The next request on the client's connection
     * dials once and is not said to be retried. HTTP/1 on an {@code http} port here, HTTP/2 there and HTTP/1 on an
     * {@code http2} port below.
     */
    static final String RETRIED_UC = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: "
            + "connection termination";

    @Test
    void aFailureAfterARetryGotTheConnectionSaysTheRequestWasRetried() throws Exception {
        String firstUc = "upstream connect error or disconnect/reset before headers. reset reason: connection termination";
        GatedApp app = new GatedApp(1, L7AppDialRetryTest::closeAfterHead);
        try (CapturedStderr err = new CapturedStderr(); Socket c = client(listener(AppProtocol.HTTP, app))) {
            send(c, ascii("GET /api/closed HTTP/1.1\r\nHost: backend\r\n\r\n"));
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(RETRIED_UC);
            assertThat(app.dials).hasValue(2);
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/api/closed\" "))
                    .contains(" reason=\"upstream_reset_before_response_started{connection_termination}\" response_flags=UC ");

            send(c, ascii("GET /api/closed-again HTTP/1.1\r\nHost: backend\r\n\r\n"));
            assertThat(read(c.getInputStream()).body()).isEqualTo(firstUc);
            assertThat(app.dials).hasValue(3);
        }
    }

    @Test
    void anHttp2FailureAfterARetryGotTheConnectionSaysTheRequestWasRetried() throws Exception {
        GatedApp h2 = new GatedApp(1, L7AppDialRetryTest::closeAfterHeaders);
        InetSocketAddress via = listener(AppProtocol.HTTP, h2);
        try (CapturedStderr err = new CapturedStderr()) {
            String closed = ChildProcess.run("curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-w", "\n[%{http_code}]",
                    "http://" + via.getAddress().getHostAddress() + ":" + via.getPort() + "/api/h2-closed");
            assertThat(closed).isEqualTo(RETRIED_UC + "\n[503]");
            assertThat(h2.dials).hasValue(2);
            assertThat(err.awaitLine("access - plaintext-inbound-http ", " path=\"/api/h2-closed\" ")).contains(" response_flags=UC ");
        }
    }

    @Test
    void anHttp1ToHttp2FailureAfterARetryGotTheConnectionSaysTheRequestWasRetried() throws Exception {
        GatedApp h1ToH2 = new GatedApp(1, L7AppDialRetryTest::closeAfterHeaders);
        try (Socket c = client(listener(AppProtocol.HTTP2, h1ToH2))) {
            send(c, ascii("GET /api/h1-to-h2-closed HTTP/1.1\r\nHost: backend\r\n\r\n"));
            Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(RETRIED_UC);
            assertThat(h1ToH2.dials).hasValue(2);
        }
    }
}
