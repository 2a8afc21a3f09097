package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * An HTTP/1 application ending its connection does not end the client's, as under Envoy: its HTTP/1 pool closes only that
 * upstream connection, when the application's response said {@code Connection: close} or the application closed it
 * (envoyproxy/envoy source/common/http/http1/conn_pool.cc {@code ConnPoolImpl::onResponseComplete}; an idle one leaves the
 * pool), the connection manager removes the application's {@code Connection} header ({@code conn_manager_utility.cc}
 * {@code mutateResponseHeaders}), and the downstream connection's next request goes on a new upstream connection
 * (envoyproxy/envoy#14910). A response framed by the close reaches the client chunked, its connection going on. Real peers (Node's http
 * server, an application on a raw socket) behind the plaintext inbound or an HBONE tunnel, on this class's addresses
 * 127.0.186.10 to .13 and ports 54600-54619, 127.0.187.10 to .13 with ports 54800-54807, and 127.0.204.20 with 61230-61231. Until 6 December the client's connection ended with the application's, and its next request failed.
 */
class L7Http1AppCloseTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-app-close, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
            """;

    /**
     * Node's server with its idle keep-alive timeout shortened to 300 ms (5 s by default) closes the application connection
     * between the client's requests: every request of the client's one connection gets Node's 200, each after the first on
     * a new application connection, and no response says {@code connection: close}.
     */
    @Test
    void requestsAfterNodesKeepAliveTimeoutGoOnTheClientsConnection() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.186.10");
        Process node = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h1-keepalive-server.js"), ip.getHostAddress(),
                "54600", "300").redirectErrorStream(true));
        BufferedReader out = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8));
        try (Mesh mesh = L7EarlyResponseTest.mesh(ip, 54600, POLICY)) {
            assertThat(ChildProcess.readLine(node, out)).isEqualTo("ready");
            try (Socket client = client(mesh, ip, 54601, 54600)) {
                threeRequestsAcrossIdleCloses(client, node, out);
            }
        } finally {
            node.destroy();
            node.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The same through an HBONE tunnel (the node proxy's inbound, from a second mesh's capture): the client's connection,
     * and the tunnel under it, outlive each application connection Node's idle timeout ends.
     */
    @Test
    void throughATunnelRequestsAfterNodesKeepAliveTimeoutGoOn() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.186.11");
        InetAddress frontendIp = InetAddress.getByName("127.0.186.12");
        Process node = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h1-keepalive-server.js"),
                backendIp.getHostAddress(), "54606", "300").redirectErrorStream(true));
        BufferedReader out = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8));
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(frontendIp),
                Workload.Protocol.HBONE, null, "cluster.local");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(54606, AppProtocol.HTTP));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(backendIp, 54607)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build()).node("b")
                .inbound(new InetSocketAddress(backendIp, 54607)).threads(1).build();
             Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            assertThat(ChildProcess.readLine(node, out)).isEqualTo("ready");
            InetSocketAddress via = client.capture(Capture.forward(new InetSocketAddress(frontendIp, 54608), new InetSocketAddress(backendIp, 54606)));
            try (Socket c = new Socket(via.getAddress(), via.getPort())) {
                c.setSoTimeout(20_000);
                threeRequestsAcrossIdleCloses(c, node, out);
            }
        } finally {
            node.destroy();
            node.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * An application that answers every request {@code Connection: close} with a {@code Content-Length} and closes: the
     * client's connection goes on, its requests each answered on a new application connection, and the application's
     * {@code Connection: close} does not reach the client.
     */
    @Test
    void anApplicationsConnectionCloseResponseLeavesTheClientsConnectionOpen() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.186.10");
        try (ServerSocket app = new ServerSocket(54602, 50, ip); Mesh mesh = L7EarlyResponseTest.mesh(ip, 54602, POLICY)) {
            AtomicInteger connections = new AtomicInteger();
            serve(() -> answerAndClose(app, connections, "Content-Length: 2\r\n", "ok"), "close-app");
            try (Socket client = client(mesh, ip, 54603, 54602)) {
                for (int i = 1; i <= 3; i++) {
                    String response = get(client, "/api/" + i);
                    assertThat(response).as("response %d", i).startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok")
                            .doesNotContainIgnoringCase("connection: close");
                }
                // Two requests in one write: the second waits for the first's response and goes on a new connection, not
                // on the one that response said it closes.
                client.getOutputStream().write("GET /api/4 HTTP/1.1\r\nHost: backend\r\n\r\nGET /api/5 HTTP/1.1\r\nHost: backend\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1));
                assertThat(read(client)).as("pipelined response 1").startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
                assertThat(read(client)).as("pipelined response 2").startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
            }
            assertThat(connections.get()).as("one application connection per request").isEqualTo(5);
        }
    }

    /**
     * An HTTP/1.0 application (Python's {@code http.server} by default: an {@code HTTP/1.0} status line, no keep-alive, its
     * connection closed after each response) answers an HTTP/1.1 client with an {@code HTTP/1.1} status line, and the
     * client's connection goes on, as behind Envoy: its downstream codec writes the status line of the client's version
     * whatever the application's was (envoyproxy/envoy source/common/http/http1/codec_impl.cc
     * {@code ResponseEncoderImpl::encodeHeaders}: {@code HTTP/1.0 } only for an HTTP/1.0 client, else {@code HTTP/1.1 }),
     * and its pool closes only the application's connection. Found by a new-user pass (helper 347) with Python's server
     * behind the plaintext inbound: curl got {@code HTTP/1.0 200 OK} and, without keep-alive, closed its connection after
     * every response. A body framed by the close is chunked for the client, as for an HTTP/1.1 application. On
     * 127.0.204.20, ports 61230-61231.
     */
    @Test
    void anHttp10ApplicationsResponseReachesAnHttp11ClientAsHttp11() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.204.20");
        try (ServerSocket app = new ServerSocket(61230, 50, ip); Mesh mesh = L7EarlyResponseTest.mesh(ip, 61230, POLICY)) {
            AtomicInteger connections = new AtomicInteger();
            serve(() -> {
                while (!app.isClosed()) {
                    try (Socket s = app.accept()) {
                        int n = connections.incrementAndGet();
                        readHead(s.getInputStream());
                        String framing = n == 2 ? "" : "Content-Length: 2\r\n";
                        s.getOutputStream().write(("HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6\r\n" + framing + "\r\nok")
                                .getBytes(StandardCharsets.ISO_8859_1));
                        s.getOutputStream().flush();
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "http10-app");
            try (Socket client = client(mesh, ip, 61231, 61230)) {
                assertThat(get(client, "/api/1")).startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok")
                        .doesNotContainIgnoringCase("connection: close");
                client.getOutputStream().write("GET /api/2 HTTP/1.1\r\nHost: backend\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                String head = readHead(client.getInputStream());
                assertThat(head).as("framed by the close").startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked");
                assertThat(readChunked(client.getInputStream())).isEqualTo("ok");
                assertThat(get(client, "/api/3")).startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
            }
            assertThat(connections.get()).as("one application connection per request").isEqualTo(3);
        }
    }

    /**
     * The application connections a long-lived client connection went through are not kept: each one's end used to
     * leave a listener on the client's connection, holding that closed connection (its channel, pipeline and buffers)
     * until the client's connection closed, one per request to an application answering every request
     * {@code Connection: close}. Counted as live socket channels after 40 such requests on one client connection.
     */
    @Test
    void theApplicationConnectionsOfALongLivedClientConnectionAreNotKept() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.186.13");
        try (ServerSocket app = new ServerSocket(54609, 50, ip); Mesh mesh = L7EarlyResponseTest.mesh(ip, 54609, POLICY)) {
            AtomicInteger connections = new AtomicInteger();
            serve(() -> answerAndClose(app, connections, "Content-Length: 2\r\n", "ok"), "close-app-40");
            try (Socket client = client(mesh, ip, 54610, 54609)) {
                assertThat(get(client, "/api/0")).startsWith("HTTP/1.1 200 ");
                io.zerohop.testing.netty.ClassHistogram before = io.zerohop.testing.netty.ClassHistogram.baseline();
                for (int i = 1; i <= 40; i++) {
                    assertThat(get(client, "/api/" + i)).as("response %d", i).startsWith("HTTP/1.1 200 ");
                }
                io.zerohop.testing.netty.ClassHistogram after = io.zerohop.testing.netty.ClassHistogram.take();
                long kept = 0;
                for (String cls : new String[] {"io.netty.channel.epoll.EpollSocketChannel", "io.netty.channel.socket.nio.NioSocketChannel"}) {
                    kept += after.instances().getOrDefault(cls, 0L) - before.instances().getOrDefault(cls, 0L);
                }
                java.lang.ref.Reference.reachabilityFence(before);
                assertThat(kept).as("socket channels alive after 40 application connections came and went").isLessThan(10);
            }
            assertThat(connections.get()).isEqualTo(41);
        }
    }

    /**
     * A response the application frames by closing its connection (no {@code Content-Length}, not chunked) reaches an
     * HTTP/1.1 client chunked, without {@code connection: close}, and the client's connection goes on, its next request
     * on a new application connection, as Envoy's HTTP/1 codec re-frames it (codec_impl.cc
     * {@code StreamEncoderImpl::encodeHeadersBase}: chunked when no length is known). Fails before 6 December's change: the
     * response said {@code connection: close} and the client's connection ended after it.
     */
    @Test
    void aResponseFramedByTheCloseIsChunkedAndTheClientsConnectionGoesOn() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.186.10");
        try (ServerSocket app = new ServerSocket(54604, 50, ip); Mesh mesh = L7EarlyResponseTest.mesh(ip, 54604, POLICY)) {
            AtomicInteger connections = new AtomicInteger();
            serve(() -> answerAndClose(app, connections, "", "to the end"), "close-framed-app");
            try (Socket client = client(mesh, ip, 54605, 54604)) {
                for (int i = 1; i <= 2; i++) {
                    client.getOutputStream().write(("GET /api/" + i + " HTTP/1.1\r\nHost: backend\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    String head = readHead(client.getInputStream());
                    assertThat(head).as("response %d", i).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked")
                            .doesNotContainIgnoringCase("connection: close").doesNotContainIgnoringCase("content-length");
                    assertThat(readChunked(client.getInputStream())).as("body %d", i).isEqualTo("to the end");
                }
            }
            assertThat(connections.get()).isEqualTo(2);
        }
    }

    /**
     * An application that closes its connection after reading a complete request, before answering it (an idle close
     * racing the request): the client gets Envoy's {@code 503} {@code connection termination} ({@code UC}) and its
     * connection goes on, as after a failed dial, its next request answered on a new application connection. Envoy's
     * router answers the reset with a local reply (router.cc {@code onUpstreamReset}, {@code onUpstreamAbort}) and its
     * connection manager closes an HTTP/1 connection after a local reply only when the request had not ended
     * ({@code conn_manager_impl.cc} {@code encodeHeaders}). Fails before 6 December's change: the 503 said
     * {@code connection: close} and the client's connection ended.
     */
    @Test
    void anApplicationClosingBeforeItsAnswerLeavesACompleteRequestsClientConnectionOpen() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.187.10");
        try (ServerSocket app = new ServerSocket(54800, 50, ip); Mesh mesh = L7EarlyResponseTest.mesh(ip, 54800, POLICY)) {
            AtomicInteger connections = new AtomicInteger();
            serve(() -> {
                while (!app.isClosed()) {
                    try (Socket s = app.accept()) {
                        readHead(s.getInputStream());
                        if (connections.incrementAndGet() > 1) {
                            s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.ISO_8859_1));
                            s.getOutputStream().flush();
                            readHead(s.getInputStream());
                        }
                    } catch (IOException closed) {
                        // The proxy ended that connection, or the test is over.
                    }
                }
            }, "close-before-answer-app");
            try (Socket client = client(mesh, ip, 54801, 54800)) {
                assertThat(get(client, "/api/1")).as("response 1").startsWith("HTTP/1.1 503 ").contains("connection termination")
                        .doesNotContainIgnoringCase("connection: close");
                assertThat(get(client, "/api/2")).as("response 2").startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
            }
            assertThat(connections.get()).isEqualTo(2);
        }
    }

    /**
     * An application that sends a second response after the one its request asked for (a late or smuggled response, in
     * the same write): that application connection ends, not the client's, and what it said never reaches the client;
     * the client's next request is answered on a new application connection. Envoy's HTTP/1 client codec takes a
     * response with no request pending as a premature response (codec_impl.cc
     * {@code ClientConnectionImpl::onHeadersCompleteBase}, {@code prematureResponseError}) and its codec client closes
     * that upstream connection only ({@code codec_client.cc} {@code CodecClient::onData}); no downstream stream is
     * attached to it. Fails before: the client's connection was cut ("unsolicited response from the application").
     */
    @Test
    void aResponseNoRequestAskedForEndsOnlyTheApplicationsConnection() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.187.11");
        try (ServerSocket app = new ServerSocket(54802, 50, ip); Mesh mesh = L7EarlyResponseTest.mesh(ip, 54802, POLICY)) {
            AtomicInteger connections = new AtomicInteger();
            serve(() -> {
                while (!app.isClosed()) {
                    try (Socket s = app.accept()) {
                        boolean first = connections.incrementAndGet() == 1;
                        while (true) {
                            readHead(s.getInputStream());
                            s.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                                    + (first ? "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil" : ""))
                                    .getBytes(StandardCharsets.ISO_8859_1));
                            s.getOutputStream().flush();
                        }
                    } catch (IOException closed) {
                        // The proxy ended that connection, or the test is over.
                    }
                }
            }, "extra-response-app");
            try (Socket client = client(mesh, ip, 54803, 54802)) {
                assertThat(get(client, "/api/1")).as("response 1").startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
                assertThat(get(client, "/api/2")).as("response 2").startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
                assertThat(get(client, "/api/3")).as("response 3").startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
            }
            assertThat(connections.get()).as("the first application connection ended after its extra response").isEqualTo(2);
        }
    }

    /**
     * The application down when the client's next request dials anew after its {@code Connection: close}: that request
     * gets Envoy's {@code 503} with {@code UF} and the client's connection goes on, its next request dialling again, as
     * Envoy's router answers a pool failure with a local reply (router.cc {@code onPoolFailure}) and keeps a complete
     * request's HTTP/1 connection.
     */
    @Test
    void theApplicationDownOnTheRedialGetsA503AndTheClientsConnectionGoesOn() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.187.12");
        ServerSocket app = new ServerSocket(54804, 50, ip);
        try (Mesh mesh = L7EarlyResponseTest.mesh(ip, 54804, POLICY)) {
            serve(() -> {
                try (Socket s = app.accept()) {
                    readHead(s.getInputStream());
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.ISO_8859_1));
                } catch (IOException closed) {
                    // The test is over.
                }
            }, "close-once-app");
            try (Socket client = client(mesh, ip, 54805, 54804)) {
                assertThat(get(client, "/api/1")).startsWith("HTTP/1.1 200 ").doesNotContainIgnoringCase("connection: close");
                app.close();
                for (int i = 2; i <= 3; i++) {
                    assertThat(get(client, "/api/" + i)).as("response %d", i).startsWith("HTTP/1.1 503 ")
                            .doesNotContainIgnoringCase("connection: close");
                }
            }
        } finally {
            app.close();
        }
    }

    /**
     * An application that sends a {@code 100 Continue} and closes before its final answer: the client reads the 100, then
     * Envoy's {@code 503} {@code UC} (a 1xx is not the response's start for Envoy's router, router.cc
     * {@code onUpstream1xxHeaders}), and its connection goes on, the next request on a new application connection.
     */
    @Test
    void aContinueThenTheApplicationsCloseGetsA503AndTheClientsConnectionGoesOn() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.187.13");
        try (ServerSocket app = new ServerSocket(54806, 50, ip); Mesh mesh = L7EarlyResponseTest.mesh(ip, 54806, POLICY)) {
            AtomicInteger connections = new AtomicInteger();
            serve(() -> {
                while (!app.isClosed()) {
                    try (Socket s = app.accept()) {
                        readHead(s.getInputStream());
                        boolean first = connections.incrementAndGet() == 1;
                        s.getOutputStream().write((first ? "HTTP/1.1 100 Continue\r\n\r\n" : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                .getBytes(StandardCharsets.ISO_8859_1));
                        s.getOutputStream().flush();
                        if (!first) {
                            readHead(s.getInputStream());
                        }
                    } catch (IOException closed) {
                        // The proxy ended that connection, or the test is over.
                    }
                }
            }, "continue-then-close-app");
            try (Socket client = client(mesh, ip, 54807, 54806)) {
                client.getOutputStream().write("GET /api/1 HTTP/1.1\r\nHost: backend\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                assertThat(readHead(client.getInputStream())).startsWith("HTTP/1.1 100 ");
                assertThat(read(client)).as("final response 1").startsWith("HTTP/1.1 503 ").contains("connection termination")
                        .doesNotContainIgnoringCase("connection: close");
                assertThat(get(client, "/api/2")).as("response 2").startsWith("HTTP/1.1 200 ").endsWith("\r\n\r\nok");
            }
            assertThat(connections.get()).isEqualTo(2);
        }
    }

    /** Answers each connection's first request with {@code headers} and {@code body}, {@code Connection: close}, and closes. */
    /** Runs {@code app} on a daemon thread named {@code name}. */
    private static void serve(Runnable app, String name) {
        Thread t = new Thread(app, name);
        t.setDaemon(true);
        t.start();
    }

    /**
     * A client connected to {@code mesh}'s plaintext inbound on {@code ip:listenPort}, forwarding to the application on
     * {@code ip:appPort}; reads time out after 20 s.
     */
    private static Socket client(Mesh mesh, InetAddress ip, int listenPort, int appPort) throws Exception {
        InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, listenPort), new InetSocketAddress(ip, appPort)));
        Socket client = new Socket(via.getAddress(), via.getPort());
        client.setSoTimeout(20_000);
        return client;
    }

    /**
     * Three requests on {@code client}, each answered 200 without {@code connection: close}, each followed by Node's
     * "closed" (its keep-alive timeout ended the application connection).
     */
    private static void threeRequestsAcrossIdleCloses(Socket client, Process node, BufferedReader out) throws Exception {
        for (int i = 1; i <= 3; i++) {
            assertThat(get(client, "/api/" + i)).as("response %d", i).startsWith("HTTP/1.1 200 ").endsWith("ok /api/" + i)
                    .doesNotContainIgnoringCase("connection: close");
            // Node's idle timeout ends the application connection; its FIN reaches the proxy well before this line
            // reaches the test (the application connection's end is what these tests are about).
            assertThat(ChildProcess.readLine(node, out)).isEqualTo("closed");
        }
    }

    private static void answerAndClose(ServerSocket app, AtomicInteger connections, String headers, String body) {
        while (!app.isClosed()) {
            try (Socket s = app.accept()) {
                connections.incrementAndGet();
                readHead(s.getInputStream());
                s.getOutputStream().write(("HTTP/1.1 200 OK\r\nConnection: close\r\n" + headers + "\r\n" + body)
                        .getBytes(StandardCharsets.ISO_8859_1));
                s.getOutputStream().flush();
            } catch (IOException closed) {
                return;
            }
        }
    }

    /** Sends a keep-alive GET on {@code client} and reads its response, framed by its {@code Content-Length}. */
    private static String get(Socket client, String path) throws IOException {
        client.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: backend\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        client.getOutputStream().flush();
        return read(client);
    }

    /** Reads one response from {@code client}, framed by its {@code Content-Length}. */
    private static String read(Socket client) throws IOException {
        InputStream in = client.getInputStream();
        String head = readHead(in);
        int length = -1;
        for (String line : head.split("\r\n")) {
            if (line.regionMatches(true, 0, "content-length:", 0, 15)) {
                length = Integer.parseInt(line.substring(15).strip());
            }
        }
        assertThat(length).as("a response framed by its length: %s", head).isGreaterThanOrEqualTo(0);
        return head + new String(in.readNBytes(length), StandardCharsets.ISO_8859_1);
    }

    /** Reads a chunked body (no trailers) up to and including its last chunk; fails when the connection ends first. */
    static String readChunked(InputStream in) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        while (true) {
            String size = readLine(in);
            int n = Integer.parseInt(size.strip(), 16);
            if (n == 0) {
                assertThat(readLine(in)).as("the end of a chunked body").isEmpty();
                return body.toString(StandardCharsets.ISO_8859_1);
            }
            byte[] chunk = in.readNBytes(n);
            if (chunk.length < n) {
                throw new IOException("the connection ended inside a chunk");
            }
            body.write(chunk);
            assertThat(readLine(in)).as("a chunk's CRLF").isEmpty();
        }
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int b; (b = in.read()) != '\n'; ) {
            if (b < 0) {
                throw new IOException("the connection ended inside a chunked body after " + line);
            }
            if (b != '\r') {
                line.append((char) b);
            }
        }
        return line.toString();
    }

    /** Reads up to and including the blank line that ends a head; fails when the connection ends first. */
    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int state = 0;
        while (state < 4) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("the connection ended after " + head.size() + " bytes of a head: " + head.toString(StandardCharsets.ISO_8859_1));
            }
            head.write(b);
            state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : b == '\r' ? 1 : 0;
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }
}
