package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * {@code request.headers[:scheme]} reads the {@code :scheme} Envoy's header map holds for an HTTP/1 request: the client's
 * {@code x-forwarded-proto} when it is {@code http} or {@code https}, else {@code http} for HTTP parsed in plaintext
 * (envoyproxy/envoy source/common/http/conn_manager_utility.cc {@code mutateRequestHeaders}, {@code getScheme}; Istio's
 * connection managers keep the client's {@code x-forwarded-proto}: {@code use_remote_address: false}). Until 6 December
 * zerohop's requests had no {@code :scheme}, and a DENY on it denied nothing (the load only warned).
 */
class L7SchemeTest {
    private static final String DENY_HTTP = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-http, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - when: [{key: "request.headers[:scheme]", values: ["http"]}]
            """;

    /** The JDK's own HTTP server on {@code ip:port}, answering every request 200 "ok", started. */
    static com.sun.net.httpserver.HttpServer okApp(InetAddress ip, int port) throws java.io.IOException {
        com.sun.net.httpserver.HttpServer app = com.sun.net.httpserver.HttpServer.create(new InetSocketAddress(ip, port), 50);
        app.createContext("/", x -> {
            x.sendResponseHeaders(200, 2);
            x.getResponseBody().write("ok".getBytes(StandardCharsets.US_ASCII));
            x.close();
        });
        app.start();
        return app;
    }

    @Test
    void aDenyOnSchemeDeniesPlainHttpAndNotARequestForwardedFromHttps() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.184.10");
        int port = 54301;
        com.sun.net.httpserver.HttpServer app = okApp(ip, port);
        try (Mesh mesh = L7EarlyResponseTest.mesh(ip, port, DENY_HTTP);
             Socket c = new Socket()) {
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 54302),
                    new InetSocketAddress(ip, port)));
            c.connect(via);
            c.setSoTimeout(20_000);
            InputStream in = c.getInputStream();
            c.getOutputStream().write("GET /a HTTP/1.1\r\nHost: backend\r\nX-Forwarded-Proto: https\r\n\r\n"
                    .getBytes(StandardCharsets.ISO_8859_1));
            String forwarded = L7EnforcementTest.readHead(in);
            assertThat(forwarded).as("x-forwarded-proto: https").startsWith("HTTP/1.1 200 ");
            in.readNBytes(2);
            c.getOutputStream().write("GET /b HTTP/1.1\r\nHost: backend\r\nX-Forwarded-Proto: ftp\r\n\r\n"
                    .getBytes(StandardCharsets.ISO_8859_1));
            assertThat(L7EnforcementTest.readHead(in)).as("no valid x-forwarded-proto: the plaintext connection's http")
                    .startsWith("HTTP/1.1 403 ");
        }
        // An empty second field adds nothing to the value Envoy's header map holds (header_map_impl.cc appendToHeader):
        // still https. Until 7 December it was read as "https," and decided as the connection's http.
        try (Mesh mesh = L7EarlyResponseTest.mesh(ip, port, DENY_HTTP);
             Socket c = new Socket()) {
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 54309),
                    new InetSocketAddress(ip, port)));
            c.connect(via);
            c.setSoTimeout(20_000);
            c.getOutputStream().write("GET /c HTTP/1.1\r\nHost: backend\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Proto:\r\n\r\n"
                    .getBytes(StandardCharsets.ISO_8859_1));
            assertThat(L7EnforcementTest.readHead(c.getInputStream())).as("https and an empty field").startsWith("HTTP/1.1 200 ");
        } finally {
            app.stop(0);
        }
    }

    /**
     * An absolute-form target's scheme is the request's {@code :scheme} (envoyproxy/envoy
     * source/common/http/http1/codec_impl.cc {@code ServerConnectionImpl::handlePath}), decided before the target is
     * made origin-form for the application. Until a new-user pass the decision read the target already rewritten, so
     * {@code GET https://backend/x} was decided as http.
     */
    @Test
    void anAbsoluteTargetsSchemeIsDecidedOn() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.184.11");
        int port = 54303;
        com.sun.net.httpserver.HttpServer app = okApp(ip, port);
        try (Mesh mesh = L7EarlyResponseTest.mesh(ip, port, DENY_HTTP.replace("values: [\"http\"]", "values: [\"https\"]"));
             Socket c = new Socket()) {
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 54304),
                    new InetSocketAddress(ip, port)));
            c.connect(via);
            c.setSoTimeout(20_000);
            InputStream in = c.getInputStream();
            c.getOutputStream().write("GET http://backend/a HTTP/1.1\r\nHost: backend\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertThat(L7EnforcementTest.readHead(in)).as("http://").startsWith("HTTP/1.1 200 ");
            in.readNBytes(2);
            c.getOutputStream().write("GET https://backend/b HTTP/1.1\r\nHost: backend\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertThat(L7EnforcementTest.readHead(in)).as("https://").startsWith("HTTP/1.1 403 ");
        } finally {
            app.stop(0);
        }
    }
}
