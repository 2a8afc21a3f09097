package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.claims;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.PolicyEngine;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What one client connection's streams held for their JWT keys ({@code H2Proxy.Downstream.HOLD_BUFFER} each) make the
 * proxy hold in all: at most {@code H2Proxy.HELD_PER_CONNECTION} of their bodies read, and past it their DATA stays in the
 * connection's window ({@code H2Proxy.CONNECTION_WINDOW}), as that window's bound means. Node's http2 client
 * ({@code jwt-h2-hold-client.js}), {@code jwt-echo-server.js}, a key server that never answers.
 * Addresses 127.0.215.1-3, ports 65100-65101.
 *
 * <p>The bound is zerohop's own, beyond Envoy: Envoy's jwt_authn filter stops a stream while its remote key set is fetched
 * (envoyproxy/envoy source/extensions/filters/http/jwt_authn/authenticator.cc {@code startVerify}) and bounds what it
 * buffers of it by {@code per_connection_buffer_limit_bytes} (source/common/http/conn_manager_impl.cc) within its
 * HTTP/2 windows, 256 MiB by default (api/envoy/config/core/v3/protocol.proto); zerohop's windows are Envoy's edge pair,
 * 64 KiB per stream and 1 MiB per connection (envoy docs configuration/best_practices/edge), and the held bodies of one
 * connection share that 1 MiB.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7H2HeldBodiesTest {
    static final JwtTokens T = new JwtTokens();
    static final String PROXY = "127.0.215.1";
    static final String APP = "127.0.215.2";
    static final String KEYS = "127.0.215.3";
    static final int H2_PORT = 65100;
    static final int JWKS_PORT = 65101;

    static EventLoopGroup group;
    static Process app;
    static HttpServer jwksServer;
    static ExecutorService jwksThreads;
    static Channel listener;
    static final CountDownLatch asked = new CountDownLatch(1);
    static final CountDownLatch never = new CountDownLatch(1);
    static final List<Process> clients = new java.util.concurrent.CopyOnWriteArrayList<>();
    static volatile List<JwtRule> rules = List.of();

    @BeforeAll
    static void start() throws Exception {
        app = ChildProcess.start(new ProcessBuilder("node", L7JwtTest.resource("jwt-echo-server.js"), APP).redirectErrorStream(true));
        String[] ports = ChildProcess.firstLine(app).trim().split(" ");
        group = Transports.newGroup(2, "l7-h2-held-bodies");
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        http.jwtRules(ref -> ref.equals(L7JwtTest.BACKEND) ? rules : List.of());
        listener = L7JwtTest.listen(http, group, PROXY, H2_PORT, new InetSocketAddress(APP, Integer.parseInt(ports[1])));
        jwksThreads = Executors.newCachedThreadPool();
        jwksServer = HttpServer.create(new InetSocketAddress(KEYS, JWKS_PORT), 0);
        jwksServer.setExecutor(jwksThreads);
        jwksServer.createContext("/", x -> {
            asked.countDown();
            try {
                never.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            x.sendResponseHeaders(503, -1);
            x.close();
        });
        jwksServer.start();
    }

    @AfterAll
    static void stop() throws Exception {
        never.countDown();
        clients.forEach(Process::destroyForcibly);
        if (jwksServer != null) {
            jwksServer.stop(0);
            jwksThreads.shutdownNow();
        }
        L7JwtTest.stop(app, group, listener);
    }

    /**
     * 64 streams, each with a byte less than one hold's buffer of body (4 MiB in all), not ended, held until their keys'
     * fetch times out (3 s, a server that never answers). Until 7 December every held stream read its 64 KiB, still under
     * {@code HOLD_BUFFER} so it kept reading and gave its window back, so the client wrote all 4 MiB and the proxy held
     * it, the connection's 1 MiB window bounding nothing: 4,096 such streams were 256 MiB, four times the launcher's
     * direct memory (before: 64 written). Now the proxy reads 1 MiB of held bodies per connection and
     * the client's window ends at 1 MiB more: fewer than half the bodies are written before the first answer, which
     * comes only when the hold ends. Then every stream is answered (the fetch's failure, 401).
     */
    @Test
    void streamsHeldOnOneConnectionHoldAMegabyteOfBodiesNotOneHoldBufferEach() throws Exception {
        rules = List.of(JwtTokens.remote("https://held.example.com", "http://" + KEYS + ":" + JWKS_PORT + "/held/jwks",
                Duration.ofSeconds(3)));
        String token = T.es256(claims("https://held.example.com"));
        int streams = 64;
        List<Object> reqs = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            reqs.add(L7JwtHoldTest.request("r" + i, Map.of(":method", "POST", ":path", "/held" + i,
                    "authorization", "Bearer " + token), 65_534, false));
        }
        try (L7JwtHoldTest.H2Client c = L7JwtHoldTest.H2Client.start(PROXY, H2_PORT, reqs, clients, true)) {
            int written = 0;
            String line;
            while ((line = c.lines().readLine()) != null && !line.startsWith("{")) {
                if (line.startsWith("written ")) {
                    written++;
                }
            }
            assertThat(line).as("the client ended before an answer").isNotNull();
            assertThat(asked.getCount()).isZero();
            // 1 MiB read (16 bodies) and 1 MiB in the connection's window: at most 32 whole, with a frame's slack.
            assertThat(written).as("held bodies the client wrote before the hold ended").isLessThanOrEqualTo(34);
            JsonNode first = L7JwtHoldTest.JSON.readTree(line);
            c.earlier().put(first.path("id").asText(), first);
            for (int i = 0; i < streams; i++) {
                JsonNode n = c.answer("r" + i);
                assertThat(n.get("status").asInt()).as(n.toString()).isEqualTo(401);
            }
        }
    }

    /**
     * The bound {@code H2Proxy.CONNECTION_WINDOW} keeps for the streams an application does not read (jwt-echo-server.js
     * {@code /unread}, 200 KB bodies, no hold; Node's server buffers what it does not read, so more would end its session
     * with ENHANCE_YOUR_CALM): fifteen of them take at most 15 x 64 KiB of the connection's 1 MiB, and a sixteenth
     * stream's 200 KB body on the same connection still reaches the application and is answered. Until 7 December it
     * waited for ever (60 s timeout; with four unread streams it passed): Netty gave the connection's window back only
     * once half of it, 512 KiB, was read ({@code H2Proxy.CONNECTION_UPDATE}). Direct to the application it is answered
     * with 15 and 30 unread streams.
     */
    @Test
    void fifteenStreamsTheApplicationDoesNotReadHoldBackNoOtherBody() throws Exception {
        rules = List.of();
        List<Object> reqs = new ArrayList<>();
        for (int i = 0; i < 15; i++) {
            reqs.add(L7JwtHoldTest.request("u" + i, Map.of(":method", "POST", ":path", "/unread" + i), 200_000, true));
        }
        reqs.add(L7JwtHoldTest.request("free", Map.of(":method", "POST", ":path", "/free-past-fifteen"), 200_000, true));
        try (L7JwtHoldTest.H2Client c = L7JwtHoldTest.H2Client.start(PROXY, H2_PORT, reqs, clients, true)) {
            JsonNode free = c.answer("free");
            assertThat(free.get("status").asInt()).as(free.toString()).isEqualTo(200);
            assertThat(L7JwtHoldTest.JSON.readTree(free.get("body").asText()).get("path").asText()).isEqualTo("/free-past-fifteen");
        }
    }
}
