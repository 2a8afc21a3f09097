package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.ISSUER;
import static io.zerohop.core.internal.http.JwtTokens.claims;
import static io.zerohop.core.internal.http.JwtTokens.now;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.JwtRule;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The verified-signature cache of a key set ({@link Jwks#verify}): a signature is verified once per set, and nothing a
 * request is answered changes: a tampered token, another set, an expired or wrong-audience token still get the answers
 * jwt_verify_lib gives (the checks {@code JwtAuthnTest} takes from it). Envoy's own cache keeps only valid tokens and
 * holds {@code jwt_cache_size} (100 by default) of them (envoyproxy/envoy {@code jwt_authn/jwt_cache.cc}).
 */
class JwksVerifiedSignaturesTest {
    static final JwtTokens T = new JwtTokens();

    static Jwt jwt(String token) {
        Jwt.Parsed p = Jwt.parse(token);
        assertThat(p.jwt()).as(String.valueOf(p.status())).isNotNull();
        return p.jwt();
    }

    @Test
    void aSignatureIsVerifiedOnceAndOnlySuccessesAreKept() {
        Jwks set = Jwks.parse(T.jwks());
        String token = T.es256(claims(ISSUER));
        assertThat(set.verify(jwt(token))).isEqualTo(JwtStatus.OK);
        assertThat(set.verifiedCount()).isEqualTo(1);
        assertThat(set.verify(jwt(token))).isEqualTo(JwtStatus.OK);
        assertThat(set.verifiedCount()).isEqualTo(1);

        // The same signed part with another signature: verified, and refused, every time; never kept.
        String input = token.substring(0, token.lastIndexOf('.'));
        byte[] sig = Base64.getUrlDecoder().decode(token.substring(token.lastIndexOf('.') + 1));
        sig[5] ^= 1;
        String tampered = input + "." + Base64.getUrlEncoder().withoutPadding().encodeToString(sig);
        for (int i = 0; i < 2; i++) {
            assertThat(set.verify(jwt(tampered))).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        }
        assertThat(set.verify(jwt(T.byStranger(claims(ISSUER))))).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        assertThat(set.verifiedCount()).isEqualTo(1);
    }

    @Test
    void anotherSetOrARefreshedOneVerifiesAgain() {
        Jwks set = Jwks.parse(T.jwks());
        String token = T.rs256(claims(ISSUER));
        assertThat(set.verify(jwt(token))).isEqualTo(JwtStatus.OK);
        // Keys rotated: the new set does not hold the old key, and the old set's success says nothing to it.
        Jwks rotated = Jwks.parse(new JwtTokens().jwks());
        assertThat(rotated.verify(jwt(token))).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        assertThat(rotated.verifiedCount()).isZero();
    }

    @Test
    void atMostOneHundredAreKept() {
        Jwks set = Jwks.parse(T.jwks());
        for (int i = 0; i < Jwks.VERIFIED_SIGNATURES + 30; i++) {
            assertThat(set.verify(jwt(T.rs256(claims(ISSUER, "jti", "t" + i))))).isEqualTo(JwtStatus.OK);
            assertThat(set.verifiedCount()).isLessThanOrEqualTo(Jwks.VERIFIED_SIGNATURES);
        }
        assertThat(set.verifiedCount()).isEqualTo(Jwks.VERIFIED_SIGNATURES);
    }

    @Test
    void aKeptSignatureStillHasItsTimeAndAudienceChecked() {
        AtomicLong clock = new AtomicLong(now());
        JwtAuthn authn = new JwtAuthn(new JwksCache(JwksCache::defaultClient, JwtAuthnTest.TIMERS), clock::get);
        JwtRule rule = T.rule(ISSUER, List.of("backend"));
        String token = T.es256(claims(ISSUER, "aud", "backend", "exp", clock.get() + 120));
        JwtAuthn.Outcome first = authn.authenticate(JwtAuthnTest.CONN, List.of(rule),
                JwtAuthn.of(JwtAuthnTest.get("/api", "authorization", "Bearer " + token)), "http", "backend.prod");
        assertThat(first.refused()).isFalse();
        assertThat(first.auth()).isNotNull();
        // Past exp and the 60 s skew: expired, kept signature or not (jwt_verify_lib verifyTimeConstraint).
        clock.addAndGet(181);
        JwtAuthn.Outcome later = authn.authenticate(JwtAuthnTest.CONN, List.of(rule),
                JwtAuthn.of(JwtAuthnTest.get("/api", "authorization", "Bearer " + token)), "http", "backend.prod");
        assertThat(later.failure()).isEqualTo(JwtStatus.JWT_EXPIRED);
        clock.addAndGet(-181);
        // Another rule over the same keys whose audiences the token lacks: 403 audience, the signature kept or not.
        JwtRule other = T.rule(ISSUER, List.of("payments"));
        JwtAuthn.Outcome wrongAud = authn.authenticate(JwtAuthnTest.CONN, List.of(other),
                JwtAuthn.of(JwtAuthnTest.get("/api", "authorization", "Bearer " + token)), "http", "backend.prod");
        assertThat(wrongAud.failure()).isEqualTo(JwtStatus.JWT_AUDIENCE_NOT_ALLOWED);
    }
    @Test
    void aTokenOverFourKiBIsVerifiedEveryTimeAndNeverKept() {
        // Envoy's JwtCacheImpl::insert keeps no token over kMaxJwtSizeForCache (4 KiB, jwt_cache.cc).
        Jwks set = Jwks.parse(T.jwks());
        String big = T.es256(claims(ISSUER, "pad", "p".repeat(Jwks.MAX_CACHED_TOKEN)));
        assertThat(big.length()).isGreaterThan(Jwks.MAX_CACHED_TOKEN);
        for (int i = 0; i < 2; i++) {
            assertThat(set.verify(jwt(big))).isEqualTo(JwtStatus.OK);
            assertThat(set.verifiedCount()).isZero();
        }
        // A token of 4 KiB or less is kept, as before.
        String small = T.es256(claims(ISSUER, "pad", "p".repeat(Jwks.MAX_CACHED_TOKEN / 2)));
        assertThat(small.length()).isLessThanOrEqualTo(Jwks.MAX_CACHED_TOKEN);
        assertThat(set.verify(jwt(small))).isEqualTo(JwtStatus.OK);
        assertThat(set.verifiedCount()).isEqualTo(1);
    }

    @Test
    void theBoundHoldsWhileEventLoopsVerifyAtOnce() throws Exception {
        // Distinct valid tokens from several threads at once, as the mesh's event loops verify: the set never grows past
        // its bound by more than the threads inserting at that moment, and ends at it. Until 7 December one entry was taken
        // out per insertion, and threads that took out the same one left the set larger for good.
        byte[] secret = new byte[32];
        new java.security.SecureRandom().nextBytes(secret);
        Jwks set = Jwks.parse("{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\""
                + Base64.getUrlEncoder().withoutPadding().encodeToString(secret) + "\"}]}");
        int threads = 8;
        int each = 400;
        List<List<Jwt>> tokens = new java.util.ArrayList<>();
        for (int t = 0; t < threads; t++) {
            List<Jwt> mine = new java.util.ArrayList<>();
            for (int i = 0; i < each; i++) {
                mine.add(jwt(hs256(secret, t + "-" + i)));
            }
            tokens.add(mine);
        }
        java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(threads);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
        try {
            List<java.util.concurrent.Future<?>> done = new java.util.ArrayList<>();
            for (List<Jwt> mine : tokens) {
                done.add(pool.submit(() -> {
                    start.await();
                    for (Jwt j : mine) {
                        assertThat(set.verify(j)).isEqualTo(JwtStatus.OK);
                    }
                    return null;
                }));
            }
            for (java.util.concurrent.Future<?> f : done) {
                f.get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        // Quiet now: one more insertion brings it back to the bound whatever the races left.
        assertThat(set.verify(jwt(hs256(secret, "last")))).isEqualTo(JwtStatus.OK);
        assertThat(set.verifiedCount()).isEqualTo(Jwks.VERIFIED_SIGNATURES);
    }

    /** An HS256 token of {@code ISSUER} with {@code jti}, signed with {@code secret} (cheap to make and to verify). */
    static String hs256(byte[] secret, String jti) throws Exception {
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String input = b64.encodeToString("{\"alg\":\"HS256\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(("{\"iss\":\"" + ISSUER + "\",\"jti\":\"" + jti + "\"}").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
        mac.init(new javax.crypto.spec.SecretKeySpec(secret, "HmacSHA256"));
        return input + "." + b64.encodeToString(mac.doFinal(input.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
    }
}
