package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * An application that answers a request before its body has come: Envoy's connection manager closes such an HTTP/1
 * connection after the response and sends the application nothing more of it (envoyproxy/envoy
 * source/common/http/conn_manager_impl.cc {@code encodeHeaders}, {@code !remoteDecodeComplete()},
 * {@code downstream_rq_response_before_rq_complete}). The client here does what a client may do after an early final
 * answer to {@code Expect: 100-continue}: it skips the body and sends its next request, {@code GET /deny}, which a DENY
 * matches. Until 6 December zerohop forwarded those bytes to the application as the first request's body, and an
 * application that took that body as skipped (it never sent 100) read {@code GET /deny} as a request no policy decided.
 */
class L7EarlyResponseTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {paths: ["/deny"]}}]
            """;

    @Test
    void aResponseBeforeTheRequestsEndClosesTheConnectionAndNothingMoreReachesTheApplication() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.162.11");
        CompletableFuture<String> received = new CompletableFuture<>();
        try (ServerSocket app = new ServerSocket(0, 50, ip)) {
            Thread t = new Thread(() -> {
                // Answers 401 as soon as a request head has come, reads no body, and records every byte until the end.
                try (Socket s = app.accept()) {
                    InputStream in = s.getInputStream();
                    ByteArrayOutputStream all = new ByteArrayOutputStream();
                    boolean answered = false;
                    byte[] buf = new byte[4096];
                    for (int n; (n = in.read(buf)) > 0; ) {
                        all.write(buf, 0, n);
                        if (!answered && all.toString(StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
                            answered = true;
                            s.getOutputStream().write("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                        }
                    }
                    received.complete(all.toString(StandardCharsets.ISO_8859_1));
                } catch (Exception e) {
                    received.completeExceptionally(e);
                }
            });
            t.setDaemon(true);
            t.start();
            int port = app.getLocalPort();
            try (Mesh mesh = mesh(ip, port)) {
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                String next = "GET /deny HTTP/1.1\r\nHost: a\r\n\r\n";
                String answer;
                try (Socket s = new Socket(via.getAddress(), via.getPort())) {
                    s.setSoTimeout(20_000);
                    s.getOutputStream().write(("POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: "
                            + next.length() + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    InputStream in = s.getInputStream();
                    ByteArrayOutputStream head = new ByteArrayOutputStream();
                    while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                        int b = in.read();
                        if (b < 0) {
                            break;
                        }
                        head.write(b);
                    }
                    answer = head.toString(StandardCharsets.ISO_8859_1);
                    try {
                        s.getOutputStream().write(next.getBytes(StandardCharsets.ISO_8859_1));
                        s.shutdownOutput();
                        in.transferTo(head);
                    } catch (java.net.SocketException closed) {
                        // the proxy may have closed already
                    }
                }
                assertThat(answer).startsWith("HTTP/1.1 401 ").containsIgnoringCase("connection: close");
                assertThat(received.get(20, TimeUnit.SECONDS)).as("what the application read").startsWith("POST /upload ")
                        .doesNotContain("/deny");
            }
        }
    }

    /** Reads from {@code in} into {@code seen} until it contains {@code what}; false at the stream's end. */
    static boolean readUntil(InputStream in, ByteArrayOutputStream seen, String what) throws java.io.IOException {
        byte[] buf = new byte[4096];
        while (!seen.toString(StandardCharsets.ISO_8859_1).contains(what)) {
            int n = in.read(buf);
            if (n < 0) {
                return false;
            }
            seen.write(buf, 0, n);
        }
        return true;
    }

    /** Writes {@code n} bytes of {@code b} to {@code out} as one chunk and keeps them in {@code body}. */
    private static void echo(java.io.OutputStream out, ByteArrayOutputStream body, byte[] b, int n) throws java.io.IOException {
        if (n > 0) {
            body.write(b, 0, n);
            out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(b, 0, n);
            out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
    }

    /** {@link #mesh(InetAddress, int, String)} under {@link #POLICY}. */
    static Mesh mesh(InetAddress ip, int port) throws Exception {
        return mesh(ip, port, POLICY);
    }

    /**
     * A started mesh for a backend on {@code ip} whose {@code port} is declared {@code http}, under {@code policy}; its
     * plaintext inbound ({@link Mesh#plaintextInbound}) forwards to the application on that port.
     */
    static Mesh mesh(InetAddress ip, int port, String policy) throws Exception {
        return L7Meshes.backend(ip, Map.of(port, AppProtocol.HTTP), policy);
    }

    /**
     * Bidirectional streaming over HTTP/1.1 (an echo server answering with a chunked response while the client still
     * sends its chunked body, each side waiting for the other): Envoy's connection manager marks the response
     * {@code connection: close} (encodeHeaders, {@code !remoteDecodeComplete()}) but its router goes on sending the
     * request's body upstream until either ends, and the connection closes after the response. A guard for the early-answer
     * rule above: only a response's end stops the request, not its start.
     */
    @Test
    void aRequestBodyStillFlowsWhileAnEarlyResponseIsInProgress() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.162.12");
        CompletableFuture<String> received = new CompletableFuture<>();
        try (ServerSocket app = new ServerSocket(0, 50, ip)) {
            Thread t = new Thread(() -> {
                // Answers at the head, then returns every read as a chunk of its response, and ends it at the request's end.
                try (Socket s = app.accept()) {
                    InputStream in = s.getInputStream();
                    java.io.OutputStream out = s.getOutputStream();
                    ByteArrayOutputStream all = new ByteArrayOutputStream();
                    readUntil(in, all, "\r\n\r\n");
                    out.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    byte[] read = all.toByteArray();
                    int bodyStart = all.toString(StandardCharsets.ISO_8859_1).indexOf("\r\n\r\n") + 4;
                    ByteArrayOutputStream body = new ByteArrayOutputStream();
                    echo(out, body, java.util.Arrays.copyOfRange(read, bodyStart, read.length), read.length - bodyStart);
                    byte[] buf = new byte[4096];
                    for (int n; !body.toString(StandardCharsets.ISO_8859_1).endsWith("0\r\n\r\n") && (n = in.read(buf)) > 0; ) {
                        echo(out, body, buf, n);
                    }
                    out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    received.complete(body.toString(StandardCharsets.ISO_8859_1));
                } catch (Exception e) {
                    received.completeExceptionally(e);
                }
            });
            t.setDaemon(true);
            t.start();
            try (Mesh mesh = mesh(ip, app.getLocalPort())) {
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, app.getLocalPort())));
                try (Socket s = new Socket(via.getAddress(), via.getPort())) {
                    s.setSoTimeout(20_000);
                    java.io.OutputStream out = s.getOutputStream();
                    InputStream in = s.getInputStream();
                    ByteArrayOutputStream seen = new ByteArrayOutputStream();
                    out.write("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    assertThat(readUntil(in, seen, "first")).as(seen.toString(StandardCharsets.ISO_8859_1)).isTrue();
                    assertThat(seen.toString(StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200 ").containsIgnoringCase("connection: close");
                    out.write("6\r\nsecond\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    assertThat(readUntil(in, seen, "second")).as("the body sent after the response started still reaches the application").isTrue();
                    out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    seen.write(L7EnforcementTest.readAll(s));
                    assertThat(seen.toString(StandardCharsets.ISO_8859_1)).as("the response ends, then the connection").endsWith("\r\n0\r\n\r\n");
                }
                assertThat(received.get(20, TimeUnit.SECONDS)).contains("first").contains("second");
            }
        }
    }

    /**
     * An interim {@code 100 Continue} is not the response starting: Envoy sends 1xx through {@code encode1xxHeaders}, not
     * {@code encodeHeaders}, so a request with {@code Expect: 100-continue} whose body follows the 100 and whose final
     * response comes after it keeps its connection for the next request.
     */
    @Test
    void aHundredContinueLeavesTheConnectionOpen() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.162.13");
        try (ServerSocket app = new ServerSocket(0, 50, ip)) {
            Thread t = new Thread(() -> {
                try (Socket s = app.accept()) {
                    InputStream in = s.getInputStream();
                    ByteArrayOutputStream all = new ByteArrayOutputStream();
                    readUntil(in, all, "\r\n\r\n");
                    s.getOutputStream().write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    readUntil(in, all, "\r\n\r\nhello");
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.ISO_8859_1));
                    // The second request is sent only after "ok" reached the client: nothing of it was read yet.
                    all.reset();
                    readUntil(in, all, "GET /second HTTP/1.1\r\nHost: a\r\n");
                    // The head's end, after the x-forwarded-proto and x-request-id the proxy adds (ForwardedRequestHeaders).
                    readUntil(in, all, "\r\n\r\n");
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok2".getBytes(StandardCharsets.ISO_8859_1));
                    in.transferTo(java.io.OutputStream.nullOutputStream());
                } catch (Exception e) {
                    // the test's assertions report it
                }
            });
            t.setDaemon(true);
            t.start();
            try (Mesh mesh = mesh(ip, app.getLocalPort());
                    Socket s = new Socket()) {
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, app.getLocalPort())));
                s.connect(via);
                s.setSoTimeout(20_000);
                InputStream in = s.getInputStream();
                ByteArrayOutputStream seen = new ByteArrayOutputStream();
                s.getOutputStream().write("POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                assertThat(readUntil(in, seen, "100 Continue\r\n\r\n")).isTrue();
                s.getOutputStream().write("hello".getBytes(StandardCharsets.ISO_8859_1));
                assertThat(readUntil(in, seen, "\r\n\r\nok")).as(seen.toString(StandardCharsets.ISO_8859_1)).isTrue();
                assertThat(seen.toString(StandardCharsets.ISO_8859_1)).doesNotContainIgnoringCase("connection: close");
                s.getOutputStream().write("GET /second HTTP/1.1\r\nHost: a\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                assertThat(readUntil(in, seen, "ok2")).as("the next request on the same connection").isTrue();
            }
        }
    }
}
