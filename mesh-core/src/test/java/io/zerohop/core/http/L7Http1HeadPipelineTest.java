package io.zerohop.core.http;

import static io.zerohop.core.http.L7Http1AppCloseTest.readChunked;
import static io.zerohop.core.http.L7Http1AppCloseTest.readHead;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.IOException;
import java.io.InputStream;
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
 * Responses stay in step with their requests when answers to {@code HEAD} and HTTP/1.0 answers framed by the close
 * (re-framed as Envoy's HTTP/1 codec writes them: codec_impl.cc {@code StreamEncoderImpl::encodeHeadersBase}, see
 * {@code HeadAnswer} and {@code Http1Filter.reframe}) share a keep-alive connection with other requests sent pipelined,
 * all in one write: a HEAD's answer that says {@code content-length}, {@code transfer-encoding: chunked}, neither, or
 * comes after a 103; a close-delimited HTTP/1.0 answer to an HTTP/1.1 and to an HTTP/1.0 client. Each response is read
 * whole, by its own framing, and its body names the request it answers. Through the plaintext listener to an
 * application on a raw socket, 127.0.206.10, ports 61600-61607; through a tunnel too, 127.0.206.11-12, ports 61610-61612.
 */
class L7Http1HeadPipelineTest {
    private static final InetAddress IP = address("127.0.206.10");

    @Test
    void pipelinedHeadsAndGetsAreAnsweredInStep() throws Exception {
        try (ServerSocket app = new ServerSocket(61600, 50, IP); Mesh mesh = L7EarlyResponseTest.mesh(IP, 61600)) {
            AtomicInteger connections = new AtomicInteger();
            serve(app, connections);
            try (Socket c = client(mesh, 61601, 61600)) {
                headsAndGetsInOneWrite(c);
            }
        }
    }

    /** The same through an HBONE tunnel: a second mesh's capture to the node proxy's inbound, 127.0.206.11-12. */
    @Test
    void throughATunnelPipelinedHeadsAndGetsAreAnsweredInStep() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.206.11");
        InetAddress frontendIp = InetAddress.getByName("127.0.206.12");
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(frontendIp),
                Workload.Protocol.HBONE, null, "cluster.local");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(61610, AppProtocol.HTTP));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(backendIp, 61611)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (ServerSocket app = new ServerSocket(61610, 50, backendIp);
             Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                     .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", L7EarlyResponseTest.POLICY)).build())
                     .node("b").inbound(new InetSocketAddress(backendIp, 61611)).threads(1).build();
             Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            serve(app, new AtomicInteger());
            InetSocketAddress via = client.capture(Capture.forward(new InetSocketAddress(frontendIp, 61612), new InetSocketAddress(backendIp, 61610)));
            try (Socket c = new Socket(via.getAddress(), via.getPort())) {
                c.setSoTimeout(20_000);
                headsAndGetsInOneWrite(c);
            }
        }
    }

    /**
     * HEADs answered with a length, chunked, neither, after a 103, and by an HTTP/1.0 application (which then closes) with
     * a length and without, each followed by a GET, all in one write; each answer read whole by its own framing names its
     * request.
     */
    private static void headsAndGetsInOneWrite(Socket c) throws IOException {
        String[] paths = {"/length", "/a", "/chunked", "/b", "/none", "/c", "/early", "/d", "/ten-length", "/e", "/ten-none", "/f"};
        StringBuilder all = new StringBuilder();
        for (int i = 0; i < paths.length; i++) {
            all.append(i % 2 == 0 ? "HEAD " : "GET ").append(paths[i]).append(" HTTP/1.1\r\nHost: backend\r\n\r\n");
        }
        c.getOutputStream().write(all.toString().getBytes(StandardCharsets.ISO_8859_1));
        InputStream in = c.getInputStream();
        for (int i = 0; i < paths.length; i++) {
            String head = readHead(in);
            if (head.startsWith("HTTP/1.1 103 ")) {
                head = readHead(in);
            }
            assertThat(head).as("answer %d to %s", i, paths[i]).startsWith("HTTP/1.1 200 ");
            if (i % 2 == 0) {
                assertThat(head).as("HEAD %s", paths[i]).containsIgnoringCase("x-path: " + paths[i]);
            } else {
                assertThat(head).containsIgnoringCase("content-length: 2");
                assertThat(new String(in.readNBytes(2), StandardCharsets.ISO_8859_1)).as("GET %s", paths[i]).isEqualTo(paths[i]);
            }
        }
    }

    /**
     * An HTTP/1.0 application's answer framed by its close, then a GET sent in the same write: the first reaches the
     * HTTP/1.1 client chunked, the second is answered after it on a new application connection.
     */
    @Test
    void aCloseFramedHttp10AnswerThenAPipelinedGet() throws Exception {
        try (ServerSocket app = new ServerSocket(61602, 50, IP); Mesh mesh = L7EarlyResponseTest.mesh(IP, 61602)) {
            AtomicInteger connections = new AtomicInteger();
            serve(app, connections);
            try (Socket c = client(mesh, 61603, 61602)) {
                c.getOutputStream().write(("GET /ten-close HTTP/1.1\r\nHost: backend\r\n\r\nGET /a HTTP/1.1\r\nHost: backend\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                InputStream in = c.getInputStream();
                String head = readHead(in);
                assertThat(head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked")
                        .doesNotContainIgnoringCase("content-length");
                assertThat(readChunked(in)).isEqualTo("to the close");
                assertThat(readHead(in)).startsWith("HTTP/1.1 200 ").containsIgnoringCase("content-length: 2");
                assertThat(new String(in.readNBytes(2), StandardCharsets.ISO_8859_1)).isEqualTo("/a");
            }
        }
    }

    /**
     * The same to an HTTP/1.0 client that asked for keep-alive: no chunks, so the response is framed by the close of the
     * client's connection, {@code connection: close} (Envoy's conn_manager_impl.cc {@code encodeHeaders}: "HTTP/1.0 and
     * below can not do chunked encoding"); a HEAD before it, answered with a length, kept the connection open.
     */
    @Test
    void anHttp10ClientGetsACloseFramedAnswerFramedByTheClose() throws Exception {
        try (ServerSocket app = new ServerSocket(61604, 50, IP); Mesh mesh = L7Http10Test.declaredHttp(IP, 61604, true)) {
            AtomicInteger connections = new AtomicInteger();
            serve(app, connections);
            try (Socket c = client(mesh, 61605, 61604)) {
                c.getOutputStream().write(("HEAD /api/ten-length HTTP/1.0\r\nHost: backend\r\nConnection: keep-alive\r\n\r\n"
                        + "GET /api/ten-close HTTP/1.0\r\nHost: backend\r\nConnection: keep-alive\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                InputStream in = c.getInputStream();
                assertThat(readHead(in)).startsWith("HTTP/1.0 200 ").containsIgnoringCase("connection: keep-alive")
                        .containsIgnoringCase("content-length: 9");
                String rest = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                assertThat(rest).startsWith("HTTP/1.0 200 ").containsIgnoringCase("connection: close")
                        .doesNotContainIgnoringCase("transfer-encoding").endsWith("\r\n\r\nto the close");
            }
        }
    }

    /**
     * An application that wrongly sends a body after its answer to a HEAD, a GET sent with the HEAD in one write: those
     * bytes never reach the client as (part of) the GET's answer. What the client gets after the HEAD's head, if anything,
     * is a whole response head of its own, or the connection's end.
     */
    @Test
    void aBodyAfterAHeadsAnswerIsNeverReadAsTheNextResponse() throws Exception {
        try (ServerSocket app = new ServerSocket(61606, 50, IP); Mesh mesh = L7EarlyResponseTest.mesh(IP, 61606)) {
            AtomicInteger connections = new AtomicInteger();
            serve(app, connections);
            try (Socket c = client(mesh, 61607, 61606)) {
                c.getOutputStream().write("HEAD /head-with-body HTTP/1.1\r\nHost: backend\r\n\r\nGET /a HTTP/1.1\r\nHost: backend\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1));
                InputStream in = c.getInputStream();
                assertThat(readHead(in)).startsWith("HTTP/1.1 200 ").containsIgnoringCase("content-length: 5");
                String rest;
                try {
                    rest = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                } catch (java.net.SocketException reset) {
                    rest = "";
                }
                assertThat(rest).as("after the HEAD's answer").satisfiesAnyOf(r -> assertThat(r).isEmpty(),
                        r -> assertThat(r).startsWith("HTTP/1.1 ").doesNotContain("hello"));
            }
        }
    }

    /**
     * Answers each request by its path, a HEAD's answer without a body, each with {@code x-path}; the {@code /ten-*}
     * paths as an HTTP/1.0 server without keep-alive, closing after its answer.
     */
    private static void serve(ServerSocket app, AtomicInteger connections) {
        Thread t = new Thread(() -> {
            while (!app.isClosed()) {
                try (Socket s = app.accept()) {
                    connections.incrementAndGet();
                    InputStream in = s.getInputStream();
                    while (true) {
                        String head = readHead(in);
                        String path = head.split(" ", 3)[1];
                        String x = "X-Path: " + path + "\r\n";
                        String answer = switch (path) {
                            case "/length" -> "HTTP/1.1 200 OK\r\n" + x + "Content-Length: 5\r\n\r\n";
                            case "/chunked" -> "HTTP/1.1 200 OK\r\n" + x + "Transfer-Encoding: chunked\r\n\r\n";
                            case "/head-with-body" -> "HTTP/1.1 200 OK\r\n" + x + "Content-Length: 5\r\n\r\nhello";
                            case "/none" -> "HTTP/1.1 200 OK\r\n" + x + "\r\n";
                            case "/early" -> "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n" + x
                                    + "Content-Length: 7\r\n\r\n";
                            case "/ten-length", "/api/ten-length" -> "HTTP/1.0 200 OK\r\n" + x + "Content-Length: 9\r\n\r\n"
                                    + (head.startsWith("HEAD ") ? "" : "ten-bytes");
                            case "/ten-none" -> "HTTP/1.0 200 OK\r\n" + x + "\r\n";
                            case "/ten-close", "/api/ten-close" -> "HTTP/1.0 200 OK\r\n" + x + "\r\nto the close";
                            default -> "HTTP/1.1 200 OK\r\n" + x + "Content-Length: 2\r\n\r\n" + path;
                        };
                        s.getOutputStream().write(answer.getBytes(StandardCharsets.ISO_8859_1));
                        s.getOutputStream().flush();
                        if (path.contains("/ten-")) {
                            break;
                        }
                    }
                } catch (IOException closed) {
                    // the proxy closed its connection, or the test ended
                }
            }
        }, "head-pipeline-app");
        t.setDaemon(true);
        t.start();
    }

    private static Socket client(Mesh mesh, int listenPort, int appPort) throws Exception {
        InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(IP, listenPort), new InetSocketAddress(IP, appPort)));
        Socket c = new Socket(via.getAddress(), via.getPort());
        c.setSoTimeout(20_000);
        return c;
    }

    private static InetAddress address(String ip) {
        try {
            return InetAddress.getByName(ip);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
