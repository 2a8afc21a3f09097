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
}
