package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.claims;
import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.jwk.JWKSet;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.zerohop.core.http.ChildProcess;
import io.zerohop.policy.JwtRule;
import java.io.FileInputStream;
import java.net.InetSocketAddress;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Remote key sets ({@link JwksCache}) against real JWKS servers on 127.0.192.6 (HTTP :57040, HTTPS :57041 with a
 * certificate keytool makes for the test), verified through {@link JwtAuthn}: as istio/istio pilot/pkg/model
 * jwks_resolver_test.go ({@code TestResolveJwksURIUsingOpenID}, {@code TestGetPublicKey}, {@code TestJwtPubKeyRefresh},
 * {@code TestJwtRefreshIntervalRecoverFromFail}, {@code TestGetPublicKeyReorderedKey}) and jwks_resolver.go: OpenID
 * discovery from the issuer (a trailing slash trimmed), a failed first fetch giving the public-only set (every token
 * refused, fail closed) and recovering in the background, a refresh picking up a rotated key, a refresh that fails
 * keeping the keys it had, a body that is no JWKS counted as a failure. Refresh and retry intervals are shortened here
 * (istiod's are 20 minutes and a second); the test waits for each refresh's end, never for a time.
 */
@Timeout(60)
class JwksCacheTest {
    static final String HOST = "127.0.192.6";
    static final String BASE = "http://" + HOST + ":57040";
    static final JwtTokens A = new JwtTokens();
    static final JwtTokens B = new JwtTokens();
    /** Per path: status and body served. */
    static final Map<String, Map.Entry<Integer, String>> served = new ConcurrentHashMap<>();
    static final AtomicInteger hits = new AtomicInteger();
    static HttpServer http;
    static HttpsServer https;
    static HttpClient client;
    static final ScheduledExecutorService TIMERS = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "jwks-test-timers");
        t.setDaemon(true);
        return t;
    });
    static JwksCache cache;
    static JwtAuthn authn;

    @BeforeAll
    static void start(@TempDir Path dir) throws Exception {
        Path ks = dir.resolve("jwks.p12");
        ChildProcess.run(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-genkeypair", "-alias", "jwks",
                "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=jwks", "-ext", "san=ip:" + HOST, "-validity", "2",
                "-keystore", ks.toString(), "-storepass", "changeit", "-storetype", "PKCS12");
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(ks.toFile())) {
            keys.load(in, "changeit".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, "changeit".toCharArray());
        SSLContext server = SSLContext.getInstance("TLS");
        server.init(kmf.getKeyManagers(), null, null);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("jwks", keys.getCertificate("jwks"));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext clientTls = SSLContext.getInstance("TLS");
        clientTls.init(null, tmf.getTrustManagers(), null);
        client = HttpClient.newBuilder().sslContext(clientTls).connectTimeout(Duration.ofSeconds(5)).build();

        http = HttpServer.create(new InetSocketAddress(HOST, 57040), 0);
        https = HttpsServer.create(new InetSocketAddress(HOST, 57041), 0);
        https.setHttpsConfigurator(new HttpsConfigurator(server));
        for (HttpServer s : new HttpServer[] {http, https}) {
            s.createContext("/", x -> {
                hits.incrementAndGet();
                Map.Entry<Integer, String> e = served.getOrDefault(x.getRequestURI().getPath(), Map.entry(404, "not found"));
                byte[] b = e.getValue().getBytes(StandardCharsets.UTF_8);
                x.sendResponseHeaders(e.getKey(), b.length);
                x.getResponseBody().write(b);
                x.close();
            });
            s.start();
        }
        cache = new JwksCache(() -> client, TIMERS, Duration.ofMillis(200), Duration.ofMillis(20));
        authn = new JwtAuthn(cache, JwtTokens::now);
    }

    @AfterAll
    static void stop() {
        http.stop(0);
        https.stop(0);
        TIMERS.shutdownNow();
    }

    static JwtStatus verify(JwtRule rule, String token) {
        io.netty.handler.codec.http.HttpRequest r = JwtAuthnTest.get("/api", "authorization", "Bearer " + token);
        JwtAuthn.Outcome o = authn.authenticate(JwtAuthnTest.CONN, List.of(rule), JwtAuthn.of(r), "http", "b");
        return o.refused() ? o.failure() : JwtStatus.OK;
    }

    static JwtRule rule(String issuer, String jwksUri) {
        return JwtTokens.remote(issuer, jwksUri, Duration.ofSeconds(5));
    }

    /** Waits for refreshes of {@code rule}'s keys until {@code token} gets {@code want} (at most 50 refreshes). */
    static void untilVerified(JwtRule rule, String token, JwtStatus want) throws Exception {
        for (int i = 0; i < 50 && verify(rule, token) != want; i++) {
            cache.nextRefresh(rule).get(20, TimeUnit.SECONDS);
        }
        assertThat(verify(rule, token)).isEqualTo(want);
    }

    @Test
    void httpsJwksUri() throws Exception {
        served.put("/tls/jwks", Map.entry(200, A.jwks()));
        JwtRule rule = rule("https://tls.example.com", "https://" + HOST + ":57041/tls/jwks");
        cache.answered(rule).get(20, TimeUnit.SECONDS);
        assertThat(verify(rule, A.rs256(claims("https://tls.example.com")))).isEqualTo(JwtStatus.OK);
        assertThat(verify(rule, A.byStranger(claims("https://tls.example.com")))).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
    }

    @Test
    void openIdDiscoveryWhenNoJwksUri() throws Exception {
        String issuer = BASE + "/oidc";
        served.put("/oidc/.well-known/openid-configuration", Map.entry(200, "{\"issuer\":\"" + issuer + "\",\"jwks_uri\":\"" + BASE
                + "/oidc/keys\"}"));
        served.put("/oidc/keys", Map.entry(200, A.jwks()));
        // resolveJwksURIUsingOpenID trims the issuer's trailing slash before adding the well-known path.
        JwtRule rule = rule(issuer + "/", null);
        cache.answered(rule).get(20, TimeUnit.SECONDS);
        assertThat(verify(rule, A.es256(claims(issuer + "/")))).isEqualTo(JwtStatus.OK);
    }

    @Test
    void aFailedFirstFetchFailsClosedThenRecovers() throws Exception {
        served.put("/down/jwks", Map.entry(503, "unavailable"));
        JwtRule rule = rule("https://down.example.com", BASE + "/down/jwks");
        cache.answered(rule).get(20, TimeUnit.SECONDS);
        String token = A.rs256(claims("https://down.example.com"));
        // istiod's PublicOnlyJwks: an RSA key without kid or alg, which no token verifies against.
        assertThat(verify(rule, token)).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        assertThat(verify(rule, A.es256(claims("https://down.example.com")))).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            served.put("/down/jwks", Map.entry(200, A.jwks()));
            untilVerified(rule, token, JwtStatus.OK);
            // The WARN said every token is refused; the recovery is said too (a new-user pass found it silent).
            err.awaitLine("JWKS fetch for issuer https://down.example.com", "succeeded after a failure");
        }
    }

    @Test
    void aBodyThatIsNoJwksIsAFailedFetch() throws Exception {
        served.put("/html/jwks", Map.entry(200, "{\"not\":\"keys\"}"));
        JwtRule rule = rule("https://html.example.com", BASE + "/html/jwks");
        cache.answered(rule).get(20, TimeUnit.SECONDS);
        assertThat(verify(rule, A.rs256(claims("https://html.example.com")))).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
    }

    @Test
    void aRefreshPicksUpARotatedKeyAndAFailedOneKeepsTheKeys() throws Exception {
        served.put("/rotate/jwks", Map.entry(200, A.jwks()));
        JwtRule rule = rule("https://rotate.example.com", BASE + "/rotate/jwks");
        cache.answered(rule).get(20, TimeUnit.SECONDS);
        String byA = A.rs256(claims("https://rotate.example.com"));
        String byB = B.es256(claims("https://rotate.example.com"));
        assertThat(verify(rule, byA)).isEqualTo(JwtStatus.OK);
        // Rotated: B's keys only (B's kids are A's, its keys not).
        served.put("/rotate/jwks", Map.entry(200, new JWKSet(List.of(B.rsa.toPublicJWK(), B.ec.toPublicJWK())).toString()));
        untilVerified(rule, byB, JwtStatus.OK);
        assertThat(verify(rule, byA)).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        // The server fails: a refresh that failed (after its retries) leaves B's keys in force.
        served.put("/rotate/jwks", Map.entry(500, "oops"));
        int before = hits.get();
        cache.nextRefresh(rule).get(20, TimeUnit.SECONDS);
        cache.nextRefresh(rule).get(20, TimeUnit.SECONDS);
        assertThat(hits.get()).isGreaterThan(before);
        assertThat(verify(rule, byB)).isEqualTo(JwtStatus.OK);
    }
}
