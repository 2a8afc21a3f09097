package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.ISSUER;
import static io.zerohop.core.internal.http.JwtTokens.claims;
import static io.zerohop.core.internal.http.JwtTokens.now;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The JWT step through zerohop's L7 path with real clients and a real application: curl (HTTP/1) and Node's http2
 * client (h2c prior knowledge) to {@link HttpEnforcement#plaintext} listeners, which forward to a Node application that
 * answers with what reached it ({@code jwt-echo-server.js}); tokens signed here (RSA and EC); keys inline, or served by a
 * JDK HTTP server as a {@code jwksUri}. The rules are given to {@link HttpEnforcement#jwtRules(java.util.function.Function)}
 * as mesh-policy's selection of RequestAuthentications would return them. Cases of istio/istio
 * tests/integration/security/jwt (valid token, expired, wrong audience, invalid signature, token removed before the
 * application, {@code outputPayloadToHeader}) and envoyproxy/envoy test/extensions/filters/http/jwt_authn
 * filter_integration_test.cc ({@code WithNoToken}, {@code WithGoodToken}, {@code WithExpiredToken} 401 with
 * {@code www-authenticate}). Addresses 127.0.192.1-3, ports 57010-57020.
 */
@Timeout(120)
class L7JwtTest {
    static final JwtTokens T = new JwtTokens();
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PROXY = "127.0.192.1";
    static final String APP = "127.0.192.2";
    static final String KEYS = "127.0.192.3";
    static final int H1_PORT = 57010;
    static final int H2_PORT = 57011;
    static final int JWKS_PORT = 57020;
    static final WorkloadRef BACKEND = PlaintextL7.BACKEND;

    static EventLoopGroup group;
    static Process app;
    static HttpEnforcement http;
    static volatile List<JwtRule> rules = List.of();
    static HttpServer jwksServer;
    static Channel h1Listener;
    static Channel h2Listener;

    @BeforeAll
    static void start() throws Exception {
        app = ChildProcess.start(new ProcessBuilder("node", resource("jwt-echo-server.js"), APP).redirectErrorStream(true));
        String[] ports = ChildProcess.firstLine(app).trim().split(" ");
        group = Transports.newGroup(1, "l7-jwt");
        http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        http.jwtRules(ref -> ref.equals(BACKEND) ? rules : List.of());
        h1Listener = listen(H1_PORT, new InetSocketAddress(APP, Integer.parseInt(ports[0])));
        h2Listener = listen(H2_PORT, new InetSocketAddress(APP, Integer.parseInt(ports[1])));
        jwksServer = HttpServer.create(new InetSocketAddress(KEYS, JWKS_PORT), 0);
        jwksServer.createContext("/jwks", x -> {
            byte[] b = T.jwks().getBytes(StandardCharsets.UTF_8);
            x.getResponseHeaders().set("content-type", "application/json");
            x.sendResponseHeaders(200, b.length);
            x.getResponseBody().write(b);
            x.close();
        });
        jwksServer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (jwksServer != null) {
            jwksServer.stop(0);
        }
        stop(app, group, h1Listener, h2Listener);
    }

    /**
     * Ends what a class's {@code @BeforeAll} started around the Node application (jwt-echo-server.js): its listeners
     * (null: not started), then its group, then the process. For this class and the others that start the same
     * ({@code L7JwtHoldTest}, {@code L7JwtHoldBreakTest}, {@code L7H2HeldBodiesTest}, {@code L7H2UnreadBodiesTest}).
     */
    static void stop(Process app, EventLoopGroup group, Channel... listeners) throws Exception {
        for (Channel c : listeners) {
            if (c != null) {
                c.close().sync();
            }
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (app != null) {
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** A plaintext L7 listener on {@code port} that forwards to {@code appAddress}, as the plaintext inbound wires it. */
    static Channel listen(int port, InetSocketAddress appAddress) throws Exception {
        return listen(http, group, PROXY, port, appAddress);
    }

    /** The same for {@code http} on {@code group}, at {@code host}: for other classes' listeners ({@code L7JwtHoldTest}). */
    static Channel listen(HttpEnforcement http, EventLoopGroup group, String host, int port, InetSocketAddress appAddress) throws Exception {
        return PlaintextL7.listen(http, group, new InetSocketAddress(host, port), appAddress);
    }

    static String resource(String name) throws Exception {
        return Path.of(L7JwtTest.class.getResource("/http/" + name).toURI()).toString();
    }

    /** What a client got: status, response headers (names lower case), body. */
    record Answer(int status, Map<String, String> headers, String body) {
        JsonNode echo() throws Exception {
            return JSON.readTree(body);
        }
    }

    static Answer h1(String path, String... headers) throws Exception {
        return h1(new InetSocketAddress(PROXY, H1_PORT), path, headers);
    }

    static Answer h2(String path, String... headers) throws Exception {
        return h2(new InetSocketAddress(PROXY, H2_PORT), path, headers);
    }

    /** curl, HTTP/1.1, to {@code to}: {@code headers} as "name: value". */
    static Answer h1(InetSocketAddress to, String path, String... headers) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("curl", "-sS", "--max-time", "20", "--interface", PROXY, "-D", "-"));
        for (String h : headers) {
            cmd.add("-H");
            cmd.add(h);
        }
        cmd.add("http://" + to.getHostString() + ":" + to.getPort() + path);
        String out = ChildProcess.run(cmd.toArray(new String[0]));
        int split = out.indexOf("\r\n\r\n");
        String[] head = out.substring(0, split).split("\r\n");
        Map<String, String> h = new java.util.HashMap<>();
        for (int i = 1; i < head.length; i++) {
            int c = head[i].indexOf(':');
            h.put(head[i].substring(0, c).toLowerCase(java.util.Locale.ROOT), head[i].substring(c + 1).strip());
        }
        return new Answer(Integer.parseInt(head[0].split(" ")[1]), h, out.substring(split + 4));
    }

    /** Node's http2 client (h2c prior knowledge) to {@code to}: {@code headers} name, value pairs. */
    static Answer h2(InetSocketAddress to, String path, String... headers) throws Exception {
        Map<String, String> block = new java.util.LinkedHashMap<>();
        block.put(":path", path);
        for (int i = 0; i < headers.length; i += 2) {
            block.put(headers[i], headers[i + 1]);
        }
        String out = ChildProcess.run("node", resource("jwt-h2-client.js"), to.getHostString(), Integer.toString(to.getPort()), JSON.writeValueAsString(block));
        JsonNode n = JSON.readTree(out.strip());
        assertThat(n.has("status")).as(out).isTrue();
        Map<String, String> h = new java.util.HashMap<>();
        n.get("headers").fields().forEachRemaining(e -> h.put(e.getKey(), e.getValue().asText()));
        return new Answer(n.get("status").asInt(), h, n.get("body").asText());
    }

    static JwtRule inline() {
        return T.rule(ISSUER, List.of("backend"), List.of(), List.of(), List.of(), "x-jwt-payload", false, List.of());
    }

    @Test
    void http1() throws Exception {
        rules = List.of(inline());
        Answer none = h1("/api");
        assertThat(none.status()).isEqualTo(200);
        assertThat(none.echo().get("headers").has("x-jwt-payload")).isFalse();

        Answer ok = h1("/api", "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "backend")), "x-jwt-payload: forged");
        assertThat(ok.status()).isEqualTo(200);
        JsonNode seen = ok.echo().get("headers");
        assertThat(seen.has("authorization")).as("forward: false removes the token's header").isFalse();
        assertThat(new String(java.util.Base64.getUrlDecoder().decode(seen.get("x-jwt-payload").asText()), StandardCharsets.UTF_8))
                .contains("\"sub\":\"alice\"");

        Answer param = h1("/api?a=1&access_token=" + T.es256(claims(ISSUER, "aud", "backend")));
        assertThat(param.status()).isEqualTo(200);
        assertThat(param.echo().get("path").asText()).isEqualTo("/api?a=1");

        Answer expired = h1("/api", "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "backend", "exp", now() - 120)));
        assertThat(expired.status()).isEqualTo(401);
        assertThat(expired.body()).isEqualTo("Jwt is expired");
        assertThat(expired.headers().get("www-authenticate"))
                .isEqualTo("Bearer realm=\"http://" + PROXY + ":" + H1_PORT + "/api\", error=\"invalid_token\"");

        assertThat(h1("/api", "authorization: Bearer " + T.byStranger(claims(ISSUER, "aud", "backend"))).body())
                .isEqualTo("Jwt verification fails");
        assertThat(h1("/api", "authorization: Bearer " + T.hs256WithRsaPublicKey(claims(ISSUER, "aud", "backend"))).status())
                .isEqualTo(401);
        Answer aud = h1("/api", "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "frontend")));
        assertThat(aud.status()).isEqualTo(403);
        assertThat(aud.body()).isEqualTo("Audiences in Jwt are not allowed");
        // gRPC: Envoy's local reply for any gRPC request, trailers-only grpc-status 16 (UNAUTHENTICATED), with www-authenticate.
        Answer grpc = h1("/pkg.Svc/Call", "content-type: application/grpc",
                "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "backend", "exp", now() - 120)));
        assertThat(grpc.status()).isEqualTo(200);
        assertThat(grpc.headers()).containsEntry("grpc-status", "16").containsEntry("grpc-message", "Jwt is expired");
        assertThat(grpc.headers().get("www-authenticate")).endsWith("error=\"invalid_token\"");
        // Two tokens, the query's bad: all must verify.
        assertThat(h1("/api?access_token=" + T.byStranger(claims(ISSUER, "aud", "backend")),
                "authorization: Bearer " + T.rs256(claims(ISSUER, "aud", "backend"))).status()).isEqualTo(401);
    }

    @Test
    void http2() throws Exception {
        rules = List.of(inline());
        Answer ok = h2("/api", "authorization", "Bearer " + T.es256(claims(ISSUER, "aud", "backend")));
        assertThat(ok.status()).isEqualTo(200);
        assertThat(ok.echo().get("headers").has("authorization")).isFalse();
        assertThat(ok.echo().get("headers").has("x-jwt-payload")).isTrue();

        Answer bad = h2("/api", "authorization", "Bearer " + T.rs256(claims(ISSUER, "aud", "backend", "nbf", now() + 600)));
        assertThat(bad.status()).isEqualTo(401);
        assertThat(bad.body()).isEqualTo("Jwt not yet valid");
        assertThat(bad.headers().get("www-authenticate")).isEqualTo("Bearer realm=\"http://" + PROXY + ":" + H2_PORT
                + "/api\", error=\"invalid_token\"");

        Answer param = h2("/api?access_token=" + T.rs256(claims(ISSUER, "aud", "backend")) + "&b=2");
        assertThat(param.status()).isEqualTo(200);
        assertThat(param.echo().get("path").asText()).isEqualTo("/api?b=2");
        assertThat(h2("/api").status()).isEqualTo(200);

        Answer grpc = h2("/pkg.Svc/Call", ":method", "POST", "content-type", "application/grpc", "authorization",
                "Bearer " + T.rs256(claims(ISSUER, "aud", "frontend")));
        assertThat(grpc.status()).isEqualTo(200);
        assertThat(grpc.headers()).containsEntry("grpc-status", "7").containsEntry("grpc-message", "Audiences in Jwt are not allowed");
    }

    /** The status line, head and body of one HTTP/1 response read from {@code in} (content-length framed). */
    static String[] response(java.io.InputStream in) throws java.io.IOException {
        java.io.ByteArrayOutputStream head = new java.io.ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            assertThat(b).as("head so far: " + head).isNotNegative();
            head.write(b);
        }
        String h = head.toString(StandardCharsets.ISO_8859_1).toLowerCase(java.util.Locale.ROOT);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("content-length: *(\\d+)").matcher(h);
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        if (m.find()) {
            body.write(in.readNBytes(Integer.parseInt(m.group(1))));
        } else {
            assertThat(h).contains("transfer-encoding: chunked");
            while (true) {
                StringBuilder size = new StringBuilder();
                for (int b = in.read(); b != '\n'; b = in.read()) {
                    assertThat(b).isNotNegative();
                    size.append((char) b);
                }
                int n = Integer.parseInt(size.toString().strip(), 16);
                body.write(in.readNBytes(n));
                in.readNBytes(2);
                if (n == 0) {
                    break;
                }
            }
        }
        return new String[] {h.substring(0, h.indexOf("\r\n")), h, body.toString(StandardCharsets.ISO_8859_1)};
    }

    @Test
    void a401BeforeTheBodyClosesTheHttp1ConnectionAndOneWithoutABodyKeepsIt() throws Exception {
        // Envoy's connection manager closes an HTTP/1 connection whose response (jwt_authn's local reply, from
        // decodeHeaders) comes before the request's end, and keeps one whose request had ended (conn_manager_impl.cc).
        rules = List.of(inline());
        String bad = T.rs256(claims(ISSUER, "aud", "backend", "exp", now() - 120));
        try (java.net.Socket s = new java.net.Socket()) {
            s.bind(new InetSocketAddress(PROXY, 0));
            s.connect(new InetSocketAddress(PROXY, H1_PORT), 10_000);
            s.setSoTimeout(30_000);
            java.io.OutputStream out = s.getOutputStream();
            java.io.InputStream in = s.getInputStream();
            out.write(("GET /a HTTP/1.1\r\nhost: b\r\nauthorization: Bearer " + bad + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String[] first = response(in);
            assertThat(first[0]).isEqualTo("http/1.1 401 unauthorized");
            assertThat(first[1]).doesNotContain("connection: close");
            assertThat(first[2]).isEqualTo("Jwt is expired");
            // The same connection goes on: a request without a token reaches the application.
            out.write("GET /b HTTP/1.1\r\nhost: b\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(response(in)[0]).isEqualTo("http/1.1 200 ok");
            // A body announced and not sent: answered at once, and the connection ends (the body's bytes never taken for
            // a request).
            out.write(("POST /c HTTP/1.1\r\nhost: b\r\ncontent-length: 100000\r\nauthorization: Bearer " + bad + "\r\n\r\nGET /d")
                    .getBytes(StandardCharsets.US_ASCII));
            String[] third = response(in);
            assertThat(third[0]).isEqualTo("http/1.1 401 unauthorized");
            assertThat(third[1]).contains("connection: close");
            assertThat(in.read()).isEqualTo(-1);
        }
        // HTTP/2 with a body (curl, h2c prior knowledge): the stream is answered 401, its DATA released.
        Path body = java.nio.file.Files.createTempFile("jwt-body", ".bin");
        try {
            java.nio.file.Files.write(body, new byte[300_000]);
            String out = ChildProcess.run("curl", "-sS", "--max-time", "20", "--interface", PROXY, "--http2-prior-knowledge",
                    "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + body, "-H", "authorization: Bearer " + bad,
                    "http://" + PROXY + ":" + H2_PORT + "/upload");
            assertThat(out.strip()).isEqualTo("401");
        } finally {
            java.nio.file.Files.delete(body);
        }
    }

    @Test
    void logsNameTheReasonAndNoToken() throws Exception {
        rules = List.of(inline());
        String good = T.rs256(claims(ISSUER, "aud", "backend"));
        String bad = T.rs256(claims(ISSUER, "aud", "backend", "exp", now() - 120));
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            assertThat(h1("/logged?x=1&access_token=" + good).status()).isEqualTo(200);
            // The access line has the path as forwarded, the verified token's parameter removed (as Envoy's :path).
            String access = err.awaitLine("path=\"/logged?x=1\"");
            assertThat(access).doesNotContain(good);
            assertThat(h1("/refused?access_token=" + bad).status()).isEqualTo(401);
            String refused = err.awaitLine("refused the JWT of GET /refused from plaintext " + PROXY + ":");
            assertThat(refused).contains("to " + APP).contains("Jwt is expired").contains("RequestAuthentication prod/jwt-")
                    .doesNotContain(bad);
            assertThat(err.awaitLine("reason=\"jwt_authn_access_denied{Jwt_is_expired}\"")).contains("status=401");
        }
    }

    @Test
    void keysFromAJwksUri() throws Exception {
        JwtRule remote = JwtTokens.remote(ISSUER, "http://" + KEYS + ":" + JWKS_PORT + "/jwks", Duration.ofSeconds(5));
        rules = List.of(remote);
        http.jwks().answered(remote).get(20, TimeUnit.SECONDS);
        assertThat(h1("/api", "authorization: Bearer " + T.rs256(claims(ISSUER))).status()).isEqualTo(200);
        assertThat(h2("/api", "authorization", "Bearer " + T.byStranger(claims(ISSUER))).status()).isEqualTo(401);
    }
}
