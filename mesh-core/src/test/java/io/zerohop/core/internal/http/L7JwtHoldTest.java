package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.claims;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.core.internal.http.GatedJwks.Gate;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.CapturedStderr;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A token that comes while its rule's key set is first being fetched is held until the fetch answers, then verified with
 * the keys fetched, or refused with "Jwks remote fetch is failed" when the fetch failed, as Envoy's jwt_authn in its
 * remote-JWKS mode waits for its fetch (envoyproxy/envoy source/extensions/filters/http/jwt_authn/authenticator.cc
 * {@code startVerify}, {@code onJwksSuccess}, {@code onJwksError}; filter_integration_test.cc's remote-JWKS cases, whose
 * fetch answers after the request came). Real clients (curl-like raw sockets for HTTP/1 pipelining, Node's http2
 * client), a real application ({@code jwt-echo-server.js}) and a JWKS server that answers each key set only when the test
 * lets it ({@link Gate}), through {@link HttpEnforcement#plaintext} listeners wired as {@link L7JwtTest}'s. Until
 * 7 December such a token was refused at once. The class fails on any leaked buffer (paranoid leak detection), which the
 * client-gone cases are for. Addresses 127.0.199.1-3, ports 60200-60202.
 */
// A separate thread: a test blocked reading a client's output (a hold that never ends) is ended all the same.
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7JwtHoldTest {
    static final JwtTokens T = new JwtTokens();
    static final ObjectMapper JSON = new ObjectMapper();
    static final String PROXY = "127.0.199.1";
    static final String APP = "127.0.199.2";
    static final String KEYS = "127.0.199.3";
    static final int H1_PORT = 60200;
    static final int H2_PORT = 60201;
    static final int JWKS_PORT = 60202;

    static EventLoopGroup group;
    static Process app;
    static HttpEnforcement http;
    static GatedJwks jwks;
    static Channel h1Listener;
    static Channel h2Listener;
    static final List<Process> clients = new java.util.concurrent.CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        app = ChildProcess.start(new ProcessBuilder("node", L7JwtTest.resource("jwt-echo-server.js"), APP).redirectErrorStream(true));
        String[] ports = ChildProcess.firstLine(app).trim().split(" ");
        group = Transports.newGroup(1, "l7-jwt-hold");
        http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        // One rule per test (its own issuer and URI: the key sets are cached per mesh).
        http.jwtRules(ref -> ref.equals(L7JwtTest.BACKEND) ? rules : List.of());
        h1Listener = L7JwtTest.listen(http, group, PROXY, H1_PORT, new InetSocketAddress(APP, Integer.parseInt(ports[0])));
        h2Listener = L7JwtTest.listen(http, group, PROXY, H2_PORT, new InetSocketAddress(APP, Integer.parseInt(ports[1])));
        jwks = new GatedJwks(T, new InetSocketAddress(KEYS, JWKS_PORT));
    }

    static volatile List<JwtRule> rules = List.of();

    @AfterAll
    static void stop() throws Exception {
        clients.forEach(Process::destroyForcibly);
        if (jwks != null) {
            jwks.close();
        }
        L7JwtTest.stop(app, group, h1Listener, h2Listener);
    }

    /** A rule of its own issuer whose keys are at {@code /<name>/jwks}, answered through a new {@link Gate}. */
    static Gate rule(String name, int status) {
        Gate g = jwks.gate("/" + name + "/jwks", status);
        rules = List.of(JwtTokens.remote(issuer(name), "http://" + KEYS + ":" + JWKS_PORT + "/" + name + "/jwks", Duration.ofSeconds(30)));
        return g;
    }

    static String issuer(String name) {
        return "https://" + name + ".example.com";
    }

    static Socket client() throws Exception {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(PROXY, 0));
        s.connect(new InetSocketAddress(PROXY, H1_PORT), 10_000);
        s.setSoTimeout(30_000);
        return s;
    }

    @Test
    void anHttp1TokenIsHeldUntilTheFirstFetchAnswersThenAllowedAndThePipelinedRequestFollows() throws Exception {
        Gate g = rule("h1-ok", 200);
        String token = T.rs256(claims(issuer("h1-ok")));
        try (Socket s = client()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            // Pipelined: the held request, then one without a token, which is answered after it, in order.
            out.write(("GET /held HTTP/1.1\r\nhost: b\r\nauthorization: Bearer " + token + "\r\n\r\n"
                    + "GET /next HTTP/1.1\r\nhost: b\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            g.awaitAsked();
            // The fetch has not answered: nothing can have been answered (until 7 December: 401 Jwks remote fetch is failed).
            assertThat(in.available()).isZero();
            g.release.countDown();
            String[] first = L7JwtTest.response(in);
            assertThat(first[0]).as(first[2]).isEqualTo("http/1.1 200 ok");
            JsonNode seen = JSON.readTree(first[2]);
            assertThat(seen.get("path").asText()).isEqualTo("/held");
            assertThat(seen.get("headers").has("authorization")).as("forward: false removes the verified token").isFalse();
            String[] second = L7JwtTest.response(in);
            assertThat(second[0]).isEqualTo("http/1.1 200 ok");
            assertThat(JSON.readTree(second[2]).get("path").asText()).isEqualTo("/next");
        }
    }

    @Test
    void anHttp1TokenHeldForAFetchThatFailsGetsEnvoysFetchFailure() throws Exception {
        Gate g = rule("h1-fail", 503);
        String token = T.rs256(claims(issuer("h1-fail")));
        try (Socket s = client(); CapturedStderr err = new CapturedStderr()) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(("GET /held HTTP/1.1\r\nhost: b\r\nauthorization: Bearer " + token + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            g.awaitAsked();
            assertThat(in.available()).isZero();
            g.release.countDown();
            String[] answer = L7JwtTest.response(in);
            assertThat(answer[0]).isEqualTo("http/1.1 401 unauthorized");
            assertThat(answer[2]).isEqualTo("Jwks remote fetch is failed");
            assertThat(err.awaitLine("reason=\"jwt_authn_access_denied{Jwks_remote_fetch_is_failed}\"")).contains("status=401");
            // The connection goes on; a later token gets istiod's fail-closed keys, as before.
            out.write(("GET /later HTTP/1.1\r\nhost: b\r\nauthorization: Bearer " + token + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String[] later = L7JwtTest.response(in);
            assertThat(later[0]).isEqualTo("http/1.1 401 unauthorized");
            assertThat(later[2]).isEqualTo("Jwt verification fails");
        }
    }

    @Test
    void anHttp1ClientThatGoesAwayWhileHeldLeavesNothingHeld() throws Exception {
        Gate g = rule("h1-gone", 200);
        String token = T.rs256(claims(issuer("h1-gone")));
        try (CapturedStderr err = new CapturedStderr()) {
            try (Socket s = client()) {
                s.getOutputStream().write(("POST /gone HTTP/1.1\r\nhost: b\r\ncontent-length: 100000\r\nauthorization: Bearer " + token
                        + "\r\n\r\n" + "b".repeat(30_000)).getBytes(StandardCharsets.US_ASCII));
                g.awaitAsked();
                s.setSoLinger(true, 0); // a reset
            }
            // Logged unanswered when its connection ends, before the keys came; what it held released (the class's leak check).
            assertThat(err.awaitLine("path=\"/gone\"")).contains("status=-");
            g.release.countDown();
            try (Socket s = client()) {
                s.getOutputStream().write(("GET /after HTTP/1.1\r\nhost: b\r\nauthorization: Bearer " + token + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                assertThat(L7JwtTest.response(s.getInputStream())[0]).isEqualTo("http/1.1 200 ok");
            }
        }
    }

    /**
     * Node's client with {@code requests} on one connection: its output lines, and its stdin for commands. {@code once}:
     * a second answer for one request fails the test (L7JwtHoldBreakTest's "answered exactly once").
     */
    record H2Client(Process process, BufferedReader lines, Writer commands, Map<String, JsonNode> earlier, boolean once)
            implements AutoCloseable {
        static H2Client start(Object requests) throws Exception {
            return start(PROXY, H2_PORT, requests, clients, false);
        }

        /** The client to {@code host:port}, its process added to {@code started} (which the caller ends). */
        static H2Client start(String host, int port, Object requests, List<Process> started, boolean once) throws Exception {
            Process p = new ProcessBuilder("node", L7JwtTest.resource("jwt-h2-hold-client.js"), host, Integer.toString(port),
                    JSON.writeValueAsString(requests)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            started.add(p);
            return new H2Client(p, new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)),
                    new java.io.OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8), new java.util.HashMap<>(), once);
        }

        /** The next line about request {@code id} that is an answer (or a reset). */
        JsonNode answer(String id) throws Exception {
            JsonNode seen = earlier.remove(id);
            if (seen != null) {
                return seen;
            }
            for (String line; (line = lines.readLine()) != null; ) {
                if (line.startsWith("{")) {
                    JsonNode n = JSON.readTree(line);
                    assertThat(n.has("error")).as(line).isFalse();
                    if (n.path("id").asText().equals(id)) {
                        return n;
                    }
                    JsonNode before = earlier.putIfAbsent(n.path("id").asText(), n);
                    if (once) {
                        assertThat(before).as("answered twice: " + line).isNull();
                    }
                }
            }
            throw new AssertionError("the client ended without an answer for " + id);
        }

        void awaitSent(String id) throws Exception {
            for (String line; (line = lines.readLine()) != null; ) {
                if (line.equals("sent " + id)) {
                    return;
                }
            }
            throw new AssertionError("the client ended before sending " + id);
        }

        void command(String c) throws Exception {
            commands.write(c + "\n");
            commands.flush();
        }

        @Override
        public void close() throws Exception {
            try {
                command("end");
            } catch (java.io.IOException gone) {
                // already ended
            }
            process.waitFor(10, TimeUnit.SECONDS);
            process.destroy();
        }
    }

    static Map<String, Object> request(String id, Map<String, String> headers, int body, boolean end) {
        return Map.of("id", id, "headers", headers, "body", body, "end", end);
    }

    @Test
    void anHttp2StreamIsHeldWhileTheConnectionsOtherStreamsGoOn() throws Exception {
        Gate g = rule("h2-ok", 200);
        String token = T.es256(claims(issuer("h2-ok")));
        try (H2Client c = H2Client.start(List.of(
                request("held", Map.of(":method", "POST", ":path", "/held", "authorization", "Bearer " + token), 20_000, true),
                request("free", Map.of(":path", "/free"), 0, true)))) {
            // The stream without a token is answered while the other waits for its keys, which the gate still holds back.
            JsonNode free = c.answer("free");
            assertThat(free.get("status").asInt()).isEqualTo(200);
            g.awaitAsked();
            g.release.countDown();
            // Then the held one goes on, its body (which came while it was held) after its headers.
            JsonNode held = c.answer("held");
            assertThat(held.get("status").asInt()).as(held.toString()).isEqualTo(200);
            JsonNode seen = JSON.readTree(held.get("body").asText());
            assertThat(seen.get("path").asText()).isEqualTo("/held");
            assertThat(seen.get("headers").has("authorization")).isFalse();
        }
    }

    @Test
    void anHttp2StreamHeldForAFetchThatFailsGetsEnvoysFetchFailure() throws Exception {
        Gate g = rule("h2-fail", 500);
        String token = T.rs256(claims(issuer("h2-fail")));
        try (H2Client c = H2Client.start(List.of(
                request("held", Map.of(":path", "/held", "authorization", "Bearer " + token), 0, true),
                request("free", Map.of(":path", "/free"), 0, true)))) {
            assertThat(c.answer("free").get("status").asInt()).isEqualTo(200);
            g.awaitAsked();
            g.release.countDown();
            JsonNode held = c.answer("held");
            assertThat(held.get("status").asInt()).isEqualTo(401);
            assertThat(held.get("body").asText()).isEqualTo("Jwks remote fetch is failed");
            assertThat(held.get("headers").get("www-authenticate").asText()).endsWith("error=\"invalid_token\"");
        }
    }

    @Test
    void anHttp2StreamResetWhileHeldLeavesNothingHeldAndTheConnectionGoesOn() throws Exception {
        Gate g = rule("h2-reset", 200);
        String token = T.rs256(claims(issuer("h2-reset")));
        try (CapturedStderr err = new CapturedStderr(); H2Client c = H2Client.start(List.of(
                request("held", Map.of(":method", "POST", ":path", "/reset", "authorization", "Bearer " + token), 30_000, true)))) {
            c.awaitSent("held");
            g.awaitAsked();
            c.command("reset held");
            // Logged unanswered at the client's reset, before the keys came; its DATA released (the class's leak check).
            assertThat(err.awaitLine("path=\"/reset\"")).contains("status=-");
            g.release.countDown();
        }
        try (H2Client c = H2Client.start(List.of(request("after", Map.of(":path", "/after", "authorization", "Bearer " + token), 0, true)))) {
            assertThat(c.answer("after").get("status").asInt()).isEqualTo(200);
        }
    }

    @Test
    void anHttp2ConnectionThatEndsWhileAStreamIsHeldLeavesNothingHeld() throws Exception {
        Gate g = rule("h2-gone", 200);
        String token = T.rs256(claims(issuer("h2-gone")));
        try (CapturedStderr err = new CapturedStderr()) {
            try (H2Client c = H2Client.start(List.of(
                    request("held", Map.of(":method", "POST", ":path", "/conn-gone", "authorization", "Bearer " + token), 30_000, true)))) {
                c.awaitSent("held");
                g.awaitAsked();
                c.command("end"); // the client exits: its connection ends with the stream held
                c.process().waitFor(20, TimeUnit.SECONDS);
            }
            // Logged when the connection ends, the keys still not there; its DATA released (the class's leak check).
            assertThat(err.awaitLine("path=\"/conn-gone\"")).contains("status=-");
            g.release.countDown();
        }
    }

    @Test
    void aHoldEndsAtTheRulesTimeout() throws Exception {
        // The gate is never opened: the hold ends at the rule's timeout, as Envoy's fetch times out (onJwksError).
        Gate g = jwks.gate("/h1-slow/jwks", 200);
        rules = List.of(JwtTokens.remote(issuer("h1-slow"), "http://" + KEYS + ":" + JWKS_PORT + "/h1-slow/jwks", Duration.ofMillis(500)));
        String token = T.rs256(claims(issuer("h1-slow")));
        try (Socket s = client()) {
            s.getOutputStream().write(("GET /slow HTTP/1.1\r\nhost: b\r\nauthorization: Bearer " + token + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            String[] answer = L7JwtTest.response(s.getInputStream());
            assertThat(answer[0]).isEqualTo("http/1.1 401 unauthorized");
            assertThat(answer[2]).isEqualTo("Jwks remote fetch is failed");
        } finally {
            g.release.countDown();
        }
    }
}
