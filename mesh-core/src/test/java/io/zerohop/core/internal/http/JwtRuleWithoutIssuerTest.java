package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.claims;
import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.netty.handler.codec.http.HttpRequest;
import io.zerohop.policy.JwtRule;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A rule with {@code jwksUri} and no {@code issuer} (istio/istio pkg/config/validation/validation_test.go
 * {@code TestValidateRequestAuthentication} "empty issuer and set jwksUri", valid for istiod), its keys fetched from a real
 * JWKS server on 127.0.210.1:63000: Envoy's provider without issuer takes a token of any {@code iss}, an absent one too,
 * when its keys verify it (envoyproxy/envoy jwt_authn extractor.cc {@code JwtIssuerChecker}, authenticator.cc
 * {@code startVerify}), and refuses one they do not. Until 7 December zerohop refused such a rule at load.
 */
@Timeout(60)
class JwtRuleWithoutIssuerTest {
    static final String HOST = "127.0.210.1";
    static final int PORT = 63000;
    static final JwtTokens A = new JwtTokens();
    static final ScheduledExecutorService TIMERS = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "jwks-no-issuer-timers");
        t.setDaemon(true);
        return t;
    });
    static HttpServer server;
    static JwksCache cache;
    static JwtAuthn authn;

    @BeforeAll
    static void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress(HOST, PORT), 0);
        server.createContext("/keys", x -> {
            byte[] b = A.jwks().getBytes(StandardCharsets.UTF_8);
            x.sendResponseHeaders(200, b.length);
            x.getResponseBody().write(b);
            x.close();
        });
        server.start();
        cache = new JwksCache(JwksCache::defaultClient, TIMERS);
        authn = new JwtAuthn(cache, JwtTokens::now);
    }

    @AfterAll
    static void stop() {
        server.stop(0);
        TIMERS.shutdownNow();
    }

    static JwtAuthn.Outcome bearer(JwtRule rule, String token) {
        HttpRequest r = JwtAuthnTest.get("/api", "authorization", "Bearer " + token);
        return authn.authenticate(JwtAuthnTest.CONN, List.of(rule), JwtAuthn.of(r), "http", "b");
    }

    @Test
    void anyIssuerItsKeysVerifyIsAccepted() throws Exception {
        JwtRule rule = JwtTokens.remote("", "http://" + HOST + ":" + PORT + "/keys", Duration.ofSeconds(5));
        cache.answered(rule).get(20, TimeUnit.SECONDS);

        JwtAuthn.Outcome some = bearer(rule, A.rs256(claims("https://one.example.com")));
        assertThat(some.refused()).isFalse();
        assertThat(some.auth().principal()).isEqualTo("https://one.example.com/alice");
        JwtAuthn.Outcome other = bearer(rule, A.es256(claims("other-issuer")));
        assertThat(other.refused()).isFalse();
        assertThat(other.auth().principal()).isEqualTo("other-issuer/alice");
        // No iss at all: jwt_verify_lib reads it as "", which the checker of a provider without issuer allows.
        JwtAuthn.Outcome none = bearer(rule, A.rs256(claims("dropped", "iss", null)));
        assertThat(none.refused()).isFalse();
        assertThat(none.auth()).isNotNull();

        // The keys still decide: a token they do not verify is refused, whatever its issuer.
        JwtAuthn.Outcome stranger = bearer(rule, A.byStranger(claims("https://one.example.com")));
        assertThat(stranger.failure()).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
    }
}
