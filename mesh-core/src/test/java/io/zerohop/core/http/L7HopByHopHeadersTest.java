package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.assertj.core.api.SoftAssertions;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * The hop-by-hop headers Envoy's connection manager removes from every request before any filter, RBAC included
 * (envoyproxy/envoy source/common/http/conn_manager_utility.cc {@code mutateRequestHeaders}: {@code Connection} and
 * {@code Upgrade} of a request that is no upgrade, {@code Keep-Alive}, {@code Proxy-Connection},
 * {@code Transfer-Encoding}, and {@code sanitizeTEHeader}: a {@code TE} that does not list {@code trailers}) are never
 * decided on: an ALLOW rule that needs one of them meets nothing, so Envoy answers 403. Through the plaintext listener to
 * a real JDK HTTP server that records what reaches it. Until 6 December each of these requests was allowed.
 */
class L7HopByHopHeadersTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: hop-by-hop, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - when: [{key: "request.headers[connection]", values: ["close,keep-alive"]}]
              - when: [{key: "request.headers[keep-alive]", values: ["timeout=5"]}]
              - when: [{key: "request.headers[proxy-connection]", values: ["keep-alive"]}]
              - when: [{key: "request.headers[transfer-encoding]", values: ["chunked"]}]
              - when: [{key: "request.headers[te]", values: ["gzip", "trailers"]}]
              - when: [{key: "request.headers[x-user]", values: ["alice"]}]
            """;

    static String request(InetSocketAddress via, String headers, String body) throws Exception {
        return L7EnforcementTest.exchange(via, "POST /api HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n" + headers + "\r\n" + body);
    }

    @Test
    void noPolicyReadsAHopByHopHeader() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.169.10");
        List<String> hits = new CopyOnWriteArrayList<>();
        HttpServer app = HttpServer.create(new InetSocketAddress(ip, 0), 50);
        app.createContext("/", ex -> {
            hits.add(new String(ex.getRequestBody().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII)
                    + " te=" + ex.getRequestHeaders().get("TE"));
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        app.start();
        int port = app.getAddress().getPort();
        try (Mesh mesh = L7EarlyResponseTest.mesh(ip, port, POLICY)) {
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));

            assertThat(request(via, "X-User: alice\r\nContent-Length: 2\r\n", "ok")).as("the policy admits a request").startsWith("HTTP/1.1 200 ");
            SoftAssertions soft = new SoftAssertions();
            // Connection: keep-alive on its own line after close: a second Connection line, joined "close,keep-alive".
            soft.assertThat(request(via, "Connection: keep-alive\r\nContent-Length: 0\r\n", "")).as("connection").startsWith("HTTP/1.1 403 ");
            soft.assertThat(request(via, "Keep-Alive: timeout=5\r\nContent-Length: 0\r\n", "")).as("keep-alive").startsWith("HTTP/1.1 403 ");
            soft.assertThat(request(via, "Proxy-Connection: keep-alive\r\nContent-Length: 0\r\n", "")).as("proxy-connection")
                    .startsWith("HTTP/1.1 403 ");
            soft.assertThat(request(via, "Transfer-Encoding: chunked\r\n", "2\r\nhi\r\n0\r\n\r\n")).as("transfer-encoding")
                    .startsWith("HTTP/1.1 403 ");
            soft.assertThat(request(via, "TE: gzip\r\nContent-Length: 0\r\n", "")).as("a TE other than trailers").startsWith("HTTP/1.1 403 ");
            soft.assertThat(request(via, "TE: trailers\r\nContent-Length: 0\r\n", "")).as("TE: trailers stays").startsWith("HTTP/1.1 200 ");
            soft.assertThat(request(via, "X-User: alice\r\nTransfer-Encoding: chunked\r\n", "2\r\nhi\r\n0\r\n\r\n"))
                    .as("a chunked body is still forwarded as one").startsWith("HTTP/1.1 200 ");
            soft.assertAll();
            assertThat(hits).containsExactly("ok te=null", " te=[trailers]", "hi te=null");
        } finally {
            app.stop(0);
        }
    }
}
