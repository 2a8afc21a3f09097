package io.zerohop.core.http;

import static io.zerohop.testing.netty.SocketEnds.readUntilEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The drain deadline on an L7 (HTTP-parsed) inbound tunnel: both ends are cut with a reset, as on
 * the byte path (mesh-core README, Shutdown step 4: "no application ever mistakes a cut stream for a
 * complete one"; ztunnel's force shutdown, istio/ztunnel src/drain.rs). The downstream tunnel gets
 * RST_STREAM CONNECT_ERROR; the upstream connection the L7 filter opened to the application must be
 * reset too, not closed with a FIN (which ends an HTTP/1.1 body of unknown length, or a keep-alive
 * connection between requests, as if complete) and not left open. The application here is a raw
 * socket, so what it sees is exactly what the proxy did.
 */
@Timeout(60)
class L7DrainTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-http, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {methods: ["POST"], paths: ["/upload"]}}]
            """;

    /**
     * Its access line says the close was zerohop's: Envoy's {@code DC} with {@code downstream_local_disconnect(<reason>)}
     * (conn_manager_impl.cc {@code onEvent}, LocalClose); until 7 December a tunnel the drain aborted was logged
     * {@code downstream_remote_disconnect}, as if its client had gone.
     */
    @Test
    void anL7TunnelCutAtTheDeadlineResetsItsUpstreamConnection() throws Exception {
        cutMidRequest("downstream_local_disconnect(purging_socket_that_have_not_progressed_to_connections)", (server, tunnel) -> {
            CompletableFuture<Void> drained = server.shutdown();
            tunnel.setSoTimeout(20_000);
            assertThat(readUntilEnd(tunnel)).as("the client's tunnel, cut at the deadline").isEqualTo("reset");
            return drained;
        });
    }

    /** A peer's RST_STREAM (CONNECT_ERROR: the client's socket closed with SO_LINGER 0) reaches the application as a reset too. */
    @Test
    void aPeerResetOfAnL7TunnelResetsItsUpstreamConnection() throws Exception {
        cutMidRequest("downstream_remote_disconnect", (server, tunnel) -> {
            tunnel.setSoLinger(true, 0);
            tunnel.close();
            return CompletableFuture.completedFuture(null);
        });
    }

    interface Cut {
        /** Cuts the tunnel whose request is in flight; returns what to wait for once the app saw it. */
        CompletableFuture<Void> cut(Mesh server, Socket tunnel) throws Exception;
    }

    /**
     * A node proxy (drain 500 ms) in front of a raw-socket application on an HTTP port with an HTTP
     * rule; a POST whose body is still coming goes through it, then {@code cut}; the application must
     * read a reset, and the request's access line has the flag {@code DC} and {@code details}.
     */
    static void cutMidRequest(String details, Cut cut) throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.31.2");
        try (ServerSocket app = new ServerSocket(0, 50, backendIp)) {
            PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("l7.yaml", POLICY)).build();
            L7Pair pair = new L7Pair(backendIp, InetAddress.getByName("127.0.31.3"), Map.of(app.getLocalPort(), AppProtocol.HTTP), Map.of(),
                    policy, b -> b.drain(Duration.ofMillis(500)).threads(2));
            Mesh server = pair.server;
            Workload frontend = pair.frontend;
            try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr();
                 Mesh client = pair.client();
                 Socket tunnel = client.socketFactory(frontend.identity()).createSocket(backendIp, app.getLocalPort())) {
                // The filter has sent the request's head and the first bytes of its body upstream.
                OutputStream out = tunnel.getOutputStream();
                out.write(("POST /upload HTTP/1.1\r\nHost: backend\r\nContent-Length: 1000000\r\n\r\n" + "x".repeat(1000))
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                app.setSoTimeout(20_000);
                try (Socket upstream = app.accept()) {
                    upstream.setSoTimeout(20_000);
                    byte[] head = upstream.getInputStream().readNBytes(20);
                    assertThat(new String(head, StandardCharsets.US_ASCII)).as("the request reached the app").startsWith("POST /upload");
                    CompletableFuture<String> appEnd = CompletableFuture.supplyAsync(() -> readUntilEnd(upstream));
                    CompletableFuture<Void> then = cut.cut(server, tunnel);
                    assertThat(appEnd.get(20, TimeUnit.SECONDS)).as("the app's connection from the L7 filter, its tunnel cut")
                            .isEqualTo("reset");
                    then.get(20, TimeUnit.SECONDS);
                    assertThat(err.awaitLine(" path=\"/upload\" ", " response_flags=DC"))
                            .contains(" reason=\"" + details + "\" ");
                }
            } finally {
                server.close();
            }
        }
    }


    /**
     * A keep-alive connection between requests when the drain begins is ended cleanly at once (a FIN to the client, and
     * to the application's connection), as Envoy's connection manager drains a draining listener's idle connections
     * (Http1Filter.drain): the drain, 5 minutes long, ends as soon as the client closes, with nothing reset. Until
     * 6 December the connection waited for the whole drain and was reset at its deadline.
     */
    @Test
    void aKeepAliveConnectionBetweenRequestsEndsCleanlyWhenTheDrainBegins() throws Exception {
        keepAlive((server, app, tunnel) -> {
            CompletableFuture<Void> drained = server.shutdown();
            assertThat(readUntilEnd(tunnel)).as("the client's idle keep-alive connection, at the drain's start").isEqualTo("eof");
            tunnel.close();
            assertThat(readUntilEnd(app)).as("the application's connection from the L7 filter").isEqualTo("eof");
            return drained;
        });
    }

    /**
     * A request in progress when the drain begins is answered in full; its response says {@code connection: close} (the
     * drain reached the connection before the answer: a second, idle connection on the proxy's one event loop has
     * ended) and the connection ends cleanly after it, as Envoy's draining connection manager does.
     */
    @Test
    void aRequestInProgressWhenTheDrainBeginsIsAnsweredThenTheConnectionEndsCleanly() throws Exception {
        keepAlive((server, app, tunnel) -> {
            OutputStream out = tunnel.getOutputStream();
            out.write(REQUEST);
            out.flush();
            assertThat(readHead(app.getInputStream())).startsWith("POST /upload");
            CompletableFuture<Void> drained = server.shutdown();
            // The drain is told on the proxy's one loop, in order: once the idle sentinel ended, this connection knows.
            assertThat(readUntilEnd(sentinel.get())).isEqualTo("eof");
            sentinel.get().close();
            app.getOutputStream().write(RESPONSE);
            app.getOutputStream().flush();
            String response = readResponse(tunnel.getInputStream());
            assertThat(response).as("the response to the request in progress").startsWith("HTTP/1.1 200").endsWith("ok")
                    .containsIgnoringCase("connection: close");
            assertThat(readUntilEnd(tunnel)).as("after that response").isEqualTo("eof");
            tunnel.close();
            assertThat(readUntilEnd(app)).isEqualTo("eof");
            return drained;
        });
    }

    /**
     * A request whose head has begun to arrive when the drain begins (the connection between responses, the head's first
     * bytes read) is waited for, answered with {@code connection: close}, then the connection ends: Envoy's HTTP/1 codec
     * makes a request's stream at its first byte (codec_impl.cc {@code ServerConnectionImpl::onMessageBeginBase},
     * {@code callbacks_.newStream}), so such a connection is not idle to its drain. Until 6 December zerohop ended it at
     * the drain's start, the client's request cut mid-head with no answer. Its first bytes ride in the same write as a
     * complete request, so they were read before that request's answer came back.
     */
    @Test
    void aRequestWhoseHeadHasBegunWhenTheDrainBeginsIsAnsweredThenTheConnectionEnds() throws Exception {
        keepAlive((server, app, tunnel) -> {
            byte[] partial = "POST /upload HTTP/1.1\r\nHo".getBytes(StandardCharsets.US_ASCII);
            OutputStream out = tunnel.getOutputStream();
            byte[] both = new byte[REQUEST.length + partial.length];
            System.arraycopy(REQUEST, 0, both, 0, REQUEST.length);
            System.arraycopy(partial, 0, both, REQUEST.length, partial.length);
            out.write(both);
            out.flush();
            assertThat(readHead(app.getInputStream())).startsWith("POST /upload");
            app.getOutputStream().write(RESPONSE);
            app.getOutputStream().flush();
            assertThat(readResponse(tunnel.getInputStream())).startsWith("HTTP/1.1 200").doesNotContainIgnoringCase("connection: close");
            CompletableFuture<Void> drained = server.shutdown();
            assertThat(readUntilEnd(sentinel.get())).isEqualTo("eof");
            sentinel.get().close();
            out.write("st: backend\r\nContent-Length: 0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            assertThat(readHead(app.getInputStream())).as("the request whose head had begun").startsWith("POST /upload");
            app.getOutputStream().write(RESPONSE);
            app.getOutputStream().flush();
            assertThat(readResponse(tunnel.getInputStream())).startsWith("HTTP/1.1 200").endsWith("ok")
                    .containsIgnoringCase("connection: close");
            assertThat(readUntilEnd(tunnel)).as("after that response").isEqualTo("eof");
            tunnel.close();
            assertThat(readUntilEnd(app)).isEqualTo("eof");
            return drained;
        });
    }

    /**
     * A connection opened before the drain whose first request comes during it (on an HTTP port zerohop parses only once
     * the first bytes tell HTTP/1 from HTTP/2): answered, saying {@code connection: close}, then ended cleanly, as Envoy's
     * connection manager answers any request of a draining listener (conn_manager_impl.cc
     * {@code ActiveStream::encodeHeaders}: {@code drain_close_.drainClose()} starts the connection's drain sequence, and a
     * draining HTTP/1 response says {@code connection: close}). Until 6 December its filter, made after the drain had
     * told every filter there was, never learnt of it: a keep-alive answer, and the connection open until the deadline.
     */
    @Test
    void aConnectionWhoseFirstRequestComesDuringTheDrainIsAnsweredThenEnds() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.175.2");
        try (ServerSocket app = new ServerSocket(0, 50, backendIp)) {
            PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("l7.yaml", POLICY)).build();
            L7Pair pair = new L7Pair(backendIp, InetAddress.getByName("127.0.175.3"), Map.of(app.getLocalPort(), AppProtocol.HTTP), Map.of(),
                    policy, b -> b.drain(Duration.ofMinutes(5)).threads(1));
            Mesh server = pair.server;
            Workload frontend = pair.frontend;
            app.setSoTimeout(20_000);
            try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr();
                 Mesh client = pair.client();
                 Socket idle = client.socketFactory(frontend.identity()).createSocket(backendIp, app.getLocalPort());
                 Socket quiet = client.socketFactory(frontend.identity()).createSocket(backendIp, app.getLocalPort())) {
                idle.setSoTimeout(20_000);
                quiet.setSoTimeout(20_000);
                // The idle connection is parsed (one request answered): its end says the drain reached the proxy's one loop.
                idle.getOutputStream().write(REQUEST);
                idle.getOutputStream().flush();
                try (Socket a0 = app.accept()) {
                    a0.setSoTimeout(20_000);
                    assertThat(readHead(a0.getInputStream())).startsWith("POST /upload");
                    a0.getOutputStream().write(RESPONSE);
                    a0.getOutputStream().flush();
                    assertThat(readResponse(idle.getInputStream())).startsWith("HTTP/1.1 200");
                    CompletableFuture<Void> drained = server.shutdown();
                    assertThat(readUntilEnd(idle)).isEqualTo("eof");
                    idle.close();
                    // The quiet connection's tunnel was open before the drain; its first request comes now.
                    quiet.getOutputStream().write(REQUEST);
                    quiet.getOutputStream().flush();
                    try (Socket a1 = app.accept()) {
                        a1.setSoTimeout(20_000);
                        assertThat(readHead(a1.getInputStream())).startsWith("POST /upload");
                        a1.getOutputStream().write(RESPONSE);
                        a1.getOutputStream().flush();
                        assertThat(readResponse(quiet.getInputStream())).as("the first request, during the drain")
                                .startsWith("HTTP/1.1 200").endsWith("ok").containsIgnoringCase("connection: close");
                        assertThat(readUntilEnd(quiet)).as("after its response").isEqualTo("eof");
                        quiet.close();
                        assertThat(readUntilEnd(a1)).isEqualTo("eof");
                    }
                    drained.get(30, TimeUnit.SECONDS);
                }
            } finally {
                server.close();
            }
        }
    }

    static final byte[] REQUEST = "POST /upload HTTP/1.1\r\nHost: backend\r\nContent-Length: 0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    static final byte[] RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII);
    /** A second keep-alive connection, idle, for {@link #aRequestInProgressWhenTheDrainBeginsIsAnsweredThenTheConnectionEndsCleanly}. */
    static final ThreadLocal<Socket> sentinel = new ThreadLocal<>();

    interface KeepAlive {
        /** Drains {@code server}; {@code tunnel} has had one request answered on {@code app}, both kept open. */
        CompletableFuture<Void> drain(Mesh server, Socket app, Socket tunnel) throws Exception;
    }

    /** Reads one message head, to its empty line. */
    static String readHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (head.length() < 4 || head.lastIndexOf("\r\n\r\n") != head.length() - 4) {
            int c = in.read();
            if (c < 0) {
                throw new IOException("end of stream in a message head: " + head);
            }
            head.append((char) c);
        }
        return head.toString();
    }

    /** Reads one response head and its {@code content-length} body. */
    static String readResponse(InputStream in) throws IOException {
        String head = readHead(in);
        int length = 0;
        for (String line : head.split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).strip());
            }
        }
        return head + new String(in.readNBytes(length), StandardCharsets.US_ASCII);
    }

    /**
     * A node proxy with one event loop and a 5-minute drain in front of a raw-socket application on an HTTP port with an
     * HTTP rule; two keep-alive connections through it each have one request answered, then {@code drain}, whose
     * future must complete long before the deadline.
     */
    static void keepAlive(KeepAlive drain) throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.169.2");
        try (ServerSocket app = new ServerSocket(0, 50, backendIp)) {
            PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("l7.yaml", POLICY)).build();
            L7Pair pair = new L7Pair(backendIp, InetAddress.getByName("127.0.169.3"), Map.of(app.getLocalPort(), AppProtocol.HTTP), Map.of(),
                    policy, b -> b.drain(Duration.ofMinutes(5)).threads(1));
            Mesh server = pair.server;
            Workload frontend = pair.frontend;
            app.setSoTimeout(20_000);
            try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr();
                 Mesh client = pair.client();
                 Socket tunnel = client.socketFactory(frontend.identity()).createSocket(backendIp, app.getLocalPort());
                 Socket idle = client.socketFactory(frontend.identity()).createSocket(backendIp, app.getLocalPort())) {
                Socket[] apps = new Socket[2];
                Socket[] clients = {tunnel, idle};
                for (int i = 0; i < 2; i++) {
                    clients[i].setSoTimeout(20_000);
                    clients[i].getOutputStream().write(REQUEST);
                    clients[i].getOutputStream().flush();
                    apps[i] = app.accept();
                    apps[i].setSoTimeout(20_000);
                    assertThat(readHead(apps[i].getInputStream())).startsWith("POST /upload");
                    apps[i].getOutputStream().write(RESPONSE);
                    apps[i].getOutputStream().flush();
                    assertThat(readResponse(clients[i].getInputStream())).startsWith("HTTP/1.1 200").endsWith("ok")
                            .doesNotContainIgnoringCase("connection: close");
                }
                sentinel.set(idle);
                try (Socket a0 = apps[0]; Socket a1 = apps[1]) {
                    CompletableFuture<Void> drained = drain.drain(server, a0, tunnel);
                    idle.close();
                    // Long before the 5-minute deadline: nothing was left to cut.
                    drained.get(30, TimeUnit.SECONDS);
                }
            } finally {
                sentinel.remove();
                server.close();
            }
        }
    }
}
