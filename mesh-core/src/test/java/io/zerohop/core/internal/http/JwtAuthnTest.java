package io.zerohop.core.internal.http;

import static io.zerohop.core.internal.http.JwtTokens.ISSUER;
import static io.zerohop.core.internal.http.JwtTokens.OTHER_ISSUER;
import static io.zerohop.core.internal.http.JwtTokens.claims;
import static io.zerohop.core.internal.http.JwtTokens.now;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.RequestAuth;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The JWT step ({@link JwtAuthn}) on request heads built here, with rules built here and tokens signed here: the cases of
 * envoyproxy/envoy test/extensions/filters/http/jwt_authn/authenticator_test.cc ({@code TestOkJWTandCache},
 * {@code TestExpiredJWT}, {@code TestNotYetValidJWT}, {@code TestNonMatchAudJWT}, {@code TestWrongCluster} ("Jwt issuer is
 * not configured"), {@code TestInvalidSignature}, {@code TestMultipleJWT}, {@code TestForwardJwt}, {@code TestClaimToHeader}),
 * extractor_test.cc (default locations, prefixes, parameters, cookies), filter_test.cc ({@code CorsPreflight*}, the 401 and
 * {@code www-authenticate}), and of istio/istio tests/integration/security/jwt ({@code invalid-token-expired},
 * {@code invalid-aud}, {@code invalid-sig}, {@code tokens-from-two-issuers}, {@code valid-token-forward-remote-jwks}).
 */
class JwtAuthnTest {
    static final JwtTokens T = new JwtTokens();
    static final ScheduledExecutorService TIMERS = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "jwt-test-timers");
        t.setDaemon(true);
        return t;
    });
    static final Conn CONN = new Conn("inbound", SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/frontend"),
            SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend"), new InetSocketAddress("127.0.192.1", 40000),
            new InetSocketAddress("127.0.192.1", 40000), new InetSocketAddress("127.0.192.2", 8080),
            new WorkloadRef("prod", "backend", "backend", Map.of()), null, SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/backend"));

    final JwtAuthn authn = new JwtAuthn(new JwksCache(JwksCache::defaultClient, TIMERS), JwtTokens::now);

    @AfterAll
    static void stop() {
        TIMERS.shutdownNow();
    }

    static HttpRequest get(String uri, String... headers) {
        HttpRequest r = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri);
        r.headers().set("host", "backend.prod");
        for (int i = 0; i < headers.length; i += 2) {
            r.headers().add(headers[i], headers[i + 1]);
        }
        return r;
    }

    JwtAuthn.Outcome run(List<JwtRule> rules, HttpRequest r) {
        return authn.authenticate(CONN, rules, JwtAuthn.of(r), "http", r.headers().get("host"));
    }

    JwtAuthn.Outcome bearer(JwtRule rule, String token) {
        return run(List.of(rule), get("/api", "authorization", "Bearer " + token));
    }

    @Test
    void noTokenGoesOnWithoutAuth() {
        HttpRequest r = get("/api?x=1");
        JwtAuthn.Outcome o = run(List.of(T.rule(ISSUER, List.of())), r);
        assertThat(o.refused()).isFalse();
        assertThat(o.auth()).isNull();
        assertThat(run(List.of(), get("/api", "authorization", "Bearer garbage")).refused()).isFalse();
    }

    @Test
    void validRs256AndEs256TokensVerifyAndTheirHeaderIsRemoved() {
        for (String token : List.of(T.rs256(claims(ISSUER, "aud", List.of("a", "b"), "azp", "web")), T.es256(claims(ISSUER, "aud", "a", "azp", "web")))) {
            HttpRequest r = get("/api", "authorization", "Bearer " + token);
            JwtAuthn.Outcome o = run(List.of(T.rule(ISSUER, List.of("a"))), r);
            assertThat(o.refused()).as(o.failure() == null ? "" : o.failure().text).isFalse();
            RequestAuth a = o.auth();
            assertThat(a.principal()).isEqualTo(ISSUER + "/alice");
            assertThat(a.audiences()).contains("a");
            assertThat(a.presenter()).isEqualTo("web");
            assertThat(a.claims()).containsEntry("sub", "alice").containsEntry("iss", ISSUER);
            assertThat(a.claims().get("exp")).isInstanceOf(Long.class);
            // forward: false (istiod's default for forwardOriginalToken) removes the header the token came in.
            assertThat(r.headers().contains("authorization")).isFalse();
        }
    }

    @Test
    void forwardOriginalTokenKeepsIt() {
        JwtRule forward = T.rule(ISSUER, List.of(), List.of(), List.of(), List.of(), null, true, List.of());
        HttpRequest r = get("/api", "authorization", "Bearer " + T.rs256(claims(ISSUER)));
        assertThat(run(List.of(forward), r).auth()).isNotNull();
        assertThat(r.headers().get("authorization")).startsWith("Bearer ");
    }

    @Test
    void failuresAre401WithEnvoysTextAndWwwAuthenticate() {
        JwtRule rule = T.rule(ISSUER, List.of("backend"));
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put(T.rs256(claims(ISSUER, "aud", "backend", "exp", now() - 120)), "Jwt is expired");
        cases.put(T.rs256(claims(ISSUER, "aud", "backend", "nbf", now() + 120)), "Jwt not yet valid");
        cases.put(T.rs256(claims(OTHER_ISSUER, "aud", "backend")), "Jwt issuer is not configured");
        cases.put(T.byStranger(claims(ISSUER, "aud", "backend")), "Jwt verification fails");
        // alg none: unsigned, its third section empty, so absl::SkipEmpty leaves two sections; with something there, the
        // alg itself is refused.
        cases.put(JwtTokens.none(claims(ISSUER, "aud", "backend")), "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections");
        cases.put(JwtTokens.none(claims(ISSUER, "aud", "backend")) + "c2ln", "Jwt header [alg] is not supported");
        // Alg confusion: the RSA key (no "alg" in the JWKS) matches kid and alg, and verify.cc tries nothing but RS*/PS* on it.
        cases.put(T.hs256WithRsaPublicKey(claims(ISSUER, "aud", "backend")), "Jwt verification fails");
        cases.put("e30.e30.c2ln", "Jwt header [alg] field is required and must be a string");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            JwtAuthn.Outcome o = bearer(rule, c.getKey());
            assertThat(o.refused()).as(c.getValue()).isTrue();
            assertThat(new String(o.body(), StandardCharsets.US_ASCII)).isEqualTo(c.getValue());
            assertThat(o.status()).isEqualTo(401);
            assertThat(o.wwwAuthenticate()).isEqualTo("Bearer realm=\"http://backend.prod/api\", error=\"invalid_token\"");
            assertThat(o.details()).isEqualTo("jwt_authn_access_denied{" + c.getValue().replace(' ', '_') + "}");
        }
    }

    @Test
    void eddsaWithAnEd25519Key() throws Exception {
        // jwt_verify_lib verify.cc verifySignatureEd25519 (Envoy's verify_test.cc VerifyTest EdDSA cases), signed by the JDK.
        java.security.KeyPair kp = java.security.KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        byte[] spki = kp.getPublic().getEncoded();
        String x = Base64.getUrlEncoder().withoutPadding().encodeToString(java.util.Arrays.copyOfRange(spki, spki.length - 32, spki.length));
        String jwks = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"" + x + "\"}]}";
        JwtRule rule = new JwtRule(ISSUER, List.of(), null, jwks, List.of(), List.of(), List.of(), null, false, List.of(), null, "prod/ed");
        java.util.Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String input = b64.encodeToString("{\"alg\":\"EdDSA\",\"kid\":\"ed\"}".getBytes(StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(com.nimbusds.jose.util.JSONObjectUtils.toJSONString(claims(ISSUER)).getBytes(StandardCharsets.UTF_8));
        java.security.Signature signer = java.security.Signature.getInstance("Ed25519");
        signer.initSign(kp.getPrivate());
        signer.update(input.getBytes(StandardCharsets.US_ASCII));
        byte[] sig = signer.sign();
        assertThat(bearer(rule, input + "." + b64.encodeToString(sig)).auth().principal()).isEqualTo(ISSUER + "/alice");
        sig[0] ^= 1;
        assertThat(bearer(rule, input + "." + b64.encodeToString(sig)).failure()).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        assertThat(bearer(rule, input + "." + b64.encodeToString(new byte[10])).failure())
                .isEqualTo(JwtStatus.JWT_ED25519_SIGNATURE_WRONG_LENGTH);
    }

    @Test
    void clockSkewIsSixtySeconds() {
        JwtRule rule = T.rule(ISSUER, List.of());
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "exp", now() - 30))).refused()).isFalse();
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "nbf", now() + 30))).refused()).isFalse();
    }

    @Test
    void anHs256TokenMatchesNoRsaKeyThatNamesItsAlg() throws Exception {
        // A key whose "alg" is RS256 is skipped for an HS256 token: no key matched, verify.cc's JwksKidAlgMismatch.
        String jwks = new com.nimbusds.jose.jwk.JWKSet(List.of(new com.nimbusds.jose.jwk.RSAKey.Builder(T.rsa.toRSAPublicKey())
                .keyID("rsa-1").algorithm(com.nimbusds.jose.JWSAlgorithm.RS256).build())).toString();
        JwtRule rule = new JwtRule(ISSUER, List.of(), null, jwks, List.of(), List.of(), List.of(), null, false, List.of(), null, "prod/x");
        assertThat(new String(bearer(rule, T.hs256WithRsaPublicKey(claims(ISSUER))).body(), StandardCharsets.US_ASCII))
                .isEqualTo("Jwks doesn't have key to match kid or alg from Jwt");
        assertThat(bearer(rule, T.rs256(claims(ISSUER))).refused()).isFalse();
        JwtRule noKeys = new JwtRule(ISSUER, List.of(), null, "{\"keys\":[{\"kty\":\"RSA\"}]}", List.of(), List.of(), List.of(), null,
                false, List.of(), null, "prod/x");
        assertThat(bearer(noKeys, T.rs256(claims(ISSUER))).failure()).isEqualTo(JwtStatus.JWKS_NO_VALID_KEYS);
    }

    /** A token of {@code alg} whose signature is {@code jdkAlg} (P1363 r||s) by {@code key}, kid {@code kid}. */
    static String ecToken(String alg, String kid, String jdkAlg, java.security.PrivateKey key, Map<String, Object> claims) throws Exception {
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String signed = b64.encodeToString(("{\"alg\":\"" + alg + "\",\"kid\":\"" + kid + "\"}").getBytes(StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(com.nimbusds.jose.util.JSONObjectUtils.toJSONString(claims).getBytes(StandardCharsets.UTF_8));
        java.security.Signature sig = java.security.Signature.getInstance(jdkAlg + "inP1363Format");
        sig.initSign(key);
        sig.update(signed.getBytes(StandardCharsets.US_ASCII));
        return signed + "." + b64.encodeToString(sig.sign());
    }

    @Test
    void anEcKeyWithoutAlgVerifiesAnyAlgWithTheDigestVerifyCcPicks() throws Exception {
        // jwt_verify_lib verify.cc on an EC key: SHA-384 for ES384, SHA-512 for ES512, else SHA-256, on the key's curve,
        // the signature's halves as r and s. A P-384 key without alg and an ES256 token verify (SHA-256); so do an ES512
        // token on a P-256 key and an RS256 one signed with ECDSA SHA-256. A token the key did not sign still fails.
        com.nimbusds.jose.jwk.ECKey p384 = new com.nimbusds.jose.jwk.gen.ECKeyGenerator(com.nimbusds.jose.jwk.Curve.P_384).keyID("p384").generate();
        com.nimbusds.jose.jwk.ECKey p256 = new com.nimbusds.jose.jwk.gen.ECKeyGenerator(com.nimbusds.jose.jwk.Curve.P_256).keyID("p256").generate();
        String jwks = new com.nimbusds.jose.jwk.JWKSet(List.of(p384.toPublicJWK(), p256.toPublicJWK())).toString();
        JwtRule rule = new JwtRule(ISSUER, List.of(), null, jwks, List.of(), List.of(), List.of(), null, false, List.of(), null, "prod/x");
        for (String[] c : new String[][] {{"ES256", "p384", "SHA256withECDSA"}, {"ES384", "p384", "SHA384withECDSA"},
                {"ES512", "p256", "SHA512withECDSA"}, {"RS256", "p256", "SHA256withECDSA"}, {"HS256", "p384", "SHA256withECDSA"}}) {
            java.security.PrivateKey key = (c[1].equals("p384") ? p384 : p256).toECPrivateKey();
            JwtAuthn.Outcome o = bearer(rule, ecToken(c[0], c[1], c[2], key, claims(ISSUER)));
            assertThat(o.refused()).as(String.join(" ", c) + ": " + (o.failure() == null ? "" : o.failure().text)).isFalse();
        }
        // The digest is the alg's: an ES256 token signed with SHA-384 does not verify; nor one by another key.
        assertThat(bearer(rule, ecToken("ES256", "p384", "SHA384withECDSA", p384.toECPrivateKey(), claims(ISSUER))).failure())
                .isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        assertThat(bearer(rule, ecToken("ES256", "p256", "SHA256withECDSA", p384.toECPrivateKey(), claims(ISSUER))).failure())
                .isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        assertThat(bearer(rule, ecToken("ES256", "p256", "SHA256withECDSA", p256.toECPrivateKey(), claims(ISSUER)) + "AAAA").failure())
                .isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
    }

    @Test
    void audienceNotAllowedIs403AndSchemeAndTrailingSlashAreIgnored() {
        JwtRule rule = T.rule(ISSUER, List.of("https://backend.example.com/"));
        JwtAuthn.Outcome o = bearer(rule, T.rs256(claims(ISSUER, "aud", "frontend")));
        assertThat(o.status()).isEqualTo(403);
        assertThat(new String(o.body(), StandardCharsets.US_ASCII)).isEqualTo("Audiences in Jwt are not allowed");
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "aud", "http://backend.example.com"))).refused()).isFalse();
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "aud", List.of("x", "backend.example.com")))).refused()).isFalse();
    }

    @Test
    void twoTokensOneInvalidIsRefused() {
        // authenticator_test.cc TestMultipleJWT: every token found must verify.
        JwtRule rule = T.rule(ISSUER, List.of());
        HttpRequest r = get("/api?access_token=" + T.byStranger(claims(ISSUER)), "authorization", "Bearer " + T.rs256(claims(ISSUER)));
        assertThat(run(List.of(rule), r).failure()).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
        HttpRequest both = get("/api?access_token=" + T.es256(claims(ISSUER, "sub", "bob")), "authorization", "Bearer " + T.rs256(claims(ISSUER)));
        JwtAuthn.Outcome ok = run(List.of(rule), both);
        // The first found (the header) is verified last: its payload is the one Envoy's metadata keeps.
        assertThat(ok.auth().principal()).isEqualTo(ISSUER + "/alice");
        assertThat(both.uri()).isEqualTo("/api");
        assertThat(both.headers().contains("authorization")).isFalse();
    }

    @Test
    void aHeaderSentTwiceIsOneValueAndTheTokenEndsAtTheFirstCharacterNotInOne() {
        // extractor.cc: getAllOfHeaderAsString joins a header's values with ',', and extractJWT takes the base64url run
        // after the prefix: "Bearer <valid>,Bearer junk" is the valid token, as is "Bearer <valid> junk".
        JwtRule rule = T.rule(ISSUER, List.of());
        String valid = T.rs256(claims(ISSUER));
        HttpRequest twice = get("/api", "authorization", "Bearer " + valid, "authorization", "Bearer junk");
        JwtAuthn.Outcome o = run(List.of(rule), twice);
        assertThat(o.refused()).as(o.failure() == null ? "" : o.failure().text).isFalse();
        assertThat(o.auth().principal()).isEqualTo(ISSUER + "/alice");
        // The header goes, both of its values (JwtHeaderLocation::removeJwt removes the header).
        assertThat(twice.headers().contains("authorization")).isFalse();
        assertThat(run(List.of(rule), get("/api", "authorization", "Bearer " + valid + " junk")).auth()).isNotNull();
        Http2Headers h = new DefaultHttp2Headers().method("GET").path("/api").authority("b")
                .add("authorization", "Bearer " + valid).add("authorization", "Bearer junk");
        assertThat(authn.authenticate(CONN, List.of(rule), JwtAuthn.of(h, "GET"), "http", "b").auth()).isNotNull();
        assertThat(h.contains("authorization")).isFalse();
        // Junk first: the token is the junk, refused, whatever follows.
        assertThat(run(List.of(rule), get("/api", "authorization", "Bearer junk", "authorization", "Bearer " + valid)).failure())
                .isEqualTo(JwtStatus.JWT_BAD_FORMAT);
        // Without a prefix the joined text is the token: two tokens in one header are not one, refused.
        JwtRule noPrefix = T.rule(ISSUER, List.of(), List.of(new JwtRule.FromHeader("x-jwt", "")), List.of(), List.of(), null, false,
                List.of());
        assertThat(run(List.of(noPrefix), get("/api", "x-jwt", valid, "x-jwt", valid)).refused()).isTrue();
        assertThat(run(List.of(noPrefix), get("/api", "x-jwt", valid)).auth()).isNotNull();
    }

    @Test
    void aDeeplyNestedPayloadIsInvalidJsonNotAStackOverflow() {
        // A hostile client's token: 100000 nested arrays. Jackson's nesting limit refuses it as the parser's error, before
        // any signature is checked; a recursive reader without one would throw StackOverflowError on the event loop.
        String header = Base64.getUrlEncoder().withoutPadding().encodeToString("{\"alg\":\"RS256\"}".getBytes(StandardCharsets.UTF_8));
        String deep = "{\"iss\":\"" + ISSUER + "\",\"x\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}";
        String payload = Base64.getUrlEncoder().withoutPadding().encodeToString(deep.getBytes(StandardCharsets.UTF_8));
        assertThat(bearer(T.rule(ISSUER, List.of()), header + "." + payload + ".c2ln").failure()).isEqualTo(JwtStatus.JWT_PAYLOAD_BAD_JSON);
    }

    @Test
    void anExpFarInTheFutureIsNotExpired() {
        // jwt_verify_lib: exp is a uint64_t below 2^64 and exp + skew does not overflow; 1e19 is far in the future.
        JwtRule rule = T.rule(ISSUER, List.of());
        for (Object exp : List.<Object>of(1e19, Long.MAX_VALUE, Long.MAX_VALUE - 30)) {
            JwtAuthn.Outcome o = bearer(rule, T.rs256(claims(ISSUER, "exp", exp)));
            assertThat(o.refused()).as(exp + ": " + (o.failure() == null ? "" : o.failure().text)).isFalse();
        }
        // Past, negative, not a number: as before.
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "exp", now() - 61))).failure()).isEqualTo(JwtStatus.JWT_EXPIRED);
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "exp", -1))).failure()).isEqualTo(JwtStatus.JWT_EXP_OUT_OF_RANGE);
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "exp", 2e19))).failure()).isEqualTo(JwtStatus.JWT_EXP_OUT_OF_RANGE);
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "exp", "soon"))).failure()).isEqualTo(JwtStatus.JWT_EXP_NOT_INTEGER);
        // A float is truncated (StructUtils::GetUInt64): an hour from now and a half is an hour from now.
        assertThat(bearer(rule, T.rs256(claims(ISSUER, "exp", now() + 3600.5))).refused()).isFalse();
    }

    @Test
    void defaultLocationsIncludeAccessTokenWhichIsRemovedFromThePath() {
        HttpRequest r = get("/api?a=1&access_token=" + T.rs256(claims(ISSUER)) + "&b=2");
        assertThat(run(List.of(T.rule(ISSUER, List.of())), r).auth()).isNotNull();
        assertThat(r.uri()).isEqualTo("/api?a=1&b=2");
    }

    @Test
    void customHeaderPrefixParamAndCookieLocations() {
        JwtRule rule = T.rule(ISSUER, List.of(), List.of(new JwtRule.FromHeader("X-Jwt", "Token ")), List.of("jwt"), List.of("session"),
                null, false, List.of());
        String token = T.rs256(claims(ISSUER));
        HttpRequest header = get("/api", "x-jwt", "Token " + token);
        assertThat(run(List.of(rule), header).auth()).isNotNull();
        assertThat(header.headers().contains("x-jwt")).isFalse();
        // Not the default locations any more: a bearer token is not read, so it is "missing" and the request goes on.
        HttpRequest bearer = get("/api", "authorization", "Bearer " + T.byStranger(claims(ISSUER)));
        assertThat(run(List.of(rule), bearer).refused()).isFalse();
        assertThat(run(List.of(rule), get("/api?jwt=" + token)).auth()).isNotNull();
        HttpRequest cookie = get("/api", "cookie", "a=b; session=\"" + token + "\"");
        assertThat(run(List.of(rule), cookie).auth()).isNotNull();
        // JwtCookieLocation::removeJwt does nothing.
        assertThat(cookie.headers().get("cookie")).contains(token);
        assertThat(run(List.of(rule), get("/api", "cookie", "session=" + T.byStranger(claims(ISSUER)))).refused()).isTrue();
    }

    @Test
    void outputsPayloadAndClaimsToHeadersAndRemovesForgedOnes() {
        JwtRule rule = T.rule(ISSUER, List.of(), List.of(), List.of(), List.of(), "x-jwt-payload", false,
                List.of(new JwtRule.ClaimToHeader("x-jwt-sub", "sub"), new JwtRule.ClaimToHeader("x-jwt-team", "org.team"),
                        new JwtRule.ClaimToHeader("x-jwt-admin", "admin"), new JwtRule.ClaimToHeader("x-jwt-level", "level"),
                        new JwtRule.ClaimToHeader("x-jwt-groups", "groups")));
        String token = T.rs256(claims(ISSUER, "org", Map.of("team", "blue"), "admin", true, "level", 3, "groups", List.of("g")));
        HttpRequest r = get("/api", "authorization", "Bearer " + token, "x-jwt-sub", "forged", "x-jwt-payload", "forged");
        assertThat(run(List.of(rule), r).auth()).isNotNull();
        assertThat(r.headers().getAll("x-jwt-sub")).containsExactly("alice");
        assertThat(r.headers().get("x-jwt-team")).isEqualTo("blue");
        assertThat(r.headers().get("x-jwt-admin")).isEqualTo("true");
        assertThat(r.headers().get("x-jwt-level")).isEqualTo("3");
        assertThat(r.headers().contains("x-jwt-groups")).isFalse();
        assertThat(new String(Base64.getUrlDecoder().decode(r.headers().get("x-jwt-payload")), StandardCharsets.UTF_8))
                .contains("\"sub\":\"alice\"");
        // No token: the forged headers still go (sanitizeHeaders runs before extraction).
        HttpRequest forged = get("/api", "x-jwt-sub", "forged");
        assertThat(run(List.of(rule), forged).auth()).isNull();
        assertThat(forged.headers().contains("x-jwt-sub")).isFalse();
    }

    @Test
    void scopeAndPermissionBecomeLists() {
        RequestAuth a = bearer(T.rule(ISSUER, List.of()), T.rs256(claims(ISSUER, "scope", "read  write", "permission", "p1"))).auth();
        assertThat(a.claims().get("scope")).isEqualTo(List.of("read", "write"));
        assertThat(a.claims().get("permission")).isEqualTo(List.of("p1"));
        // authenticator.cc setPayloadMetadata adds each part to the claim's list; with no part nothing is written, so a
        // scope of "" or of spaces stays the string (until 7 December it became an empty list).
        RequestAuth blank = bearer(T.rule(ISSUER, List.of()), T.rs256(claims(ISSUER, "scope", "", "permission", "  "))).auth();
        assertThat(blank.claims().get("scope")).isEqualTo("");
        assertThat(blank.claims().get("permission")).isEqualTo("  ");
    }

    /**
     * A RequestAuthentication's {@code spaceDelimitedClaims} (istio/api JWTRule, istiod's {@code buildSpaceDelimitedClaims}
     * adds them to Envoy's {@code normalize_payload_in_metadata}) from YAML: {@code request.auth.claims[roles]} matches a
     * part of the space-separated {@code roles} string, as Envoy's {@code setPayloadMetadata} splits it; without the
     * field the whole string is matched. Until 7 December zerohop split only {@code scope} and {@code permission}.
     */
    @Test
    void spaceDelimitedClaimsOfTheRuleAreMatchedByPart() throws Exception {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt, namespace: prod}
                spec:
                  jwtRules:
                  - issuer: "%s"
                    jwks: '%s'
                    spaceDelimitedClaims: [roles]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: admins, namespace: prod}
                spec:
                  action: ALLOW
                  rules:
                  - when: [{key: "request.auth.claims[roles]", values: ["admin"]}]
                """.formatted(ISSUER, T.jwks());
        io.zerohop.policy.PolicySet set = io.zerohop.policy.PolicyLoader.fromString("jwt.yaml", yaml);
        assertThat(set.warnings()).noneMatch(w -> w.contains("spaceDelimitedClaims"));
        io.zerohop.policy.PolicyEngine engine = io.zerohop.policy.PolicyEngine.builder().policies(set).build();
        WorkloadRef backend = CONN.target();
        List<JwtRule> rules = engine.jwtRules(backend);
        assertThat(rules).singleElement().extracting(JwtRule::spaceDelimitedClaims).isEqualTo(List.of("roles"));

        java.util.function.BiFunction<List<JwtRule>, String, Boolean> allowed = (rs, roles) -> {
            RequestAuth auth = run(rs, get("/api", "authorization", "Bearer " + T.rs256(claims(ISSUER, "roles", roles)))).auth();
            return engine.evaluate(io.zerohop.policy.AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                    .destinationPort(8080).destination(backend)
                    .http(new io.zerohop.policy.HttpAttributes("GET", "/api", "backend", Map.of()).withAuth(auth)).build()).allowed();
        };
        assertThat(allowed.apply(rules, "user admin")).isTrue();
        assertThat(allowed.apply(rules, "admin")).isTrue();
        assertThat(allowed.apply(rules, "administrator user")).isFalse();
        assertThat(run(rules, get("/api", "authorization", "Bearer " + T.rs256(claims(ISSUER, "roles", " user  admin ")))).auth()
                .claims().get("roles")).isEqualTo(List.of("user", "admin"));
        // The same rule without the field: the whole string is the value, which "admin" does not match.
        JwtRule plain = rules.get(0);
        JwtRule without = new JwtRule(plain.issuer(), plain.audiences(), plain.jwksUri(), plain.jwks(), plain.fromHeaders(),
                plain.fromParams(), plain.fromCookies(), plain.outputPayloadToHeader(), plain.forwardOriginalToken(),
                plain.outputClaimToHeaders(), plain.timeout(), plain.origin());
        assertThat(allowed.apply(List.of(without), "user admin")).isFalse();
    }

    @Test
    void severalRulesAnyIssuerVerifiesUnknownIssuerIsRefused() {
        // policy_applier.go: requires_any [p1, p2, requires_all [any{p1, allow_missing}, any{p2, allow_missing}]].
        List<JwtRule> rules = List.of(T.rule(OTHER_ISSUER, List.of()), T.rule(ISSUER, List.of()));
        assertThat(run(rules, get("/api", "authorization", "Bearer " + T.rs256(claims(ISSUER)))).auth().principal())
                .isEqualTo(ISSUER + "/alice");
        assertThat(run(rules, get("/api", "authorization", "Bearer " + T.rs256(claims(OTHER_ISSUER)))).auth().principal())
                .isEqualTo(OTHER_ISSUER + "/alice");
        assertThat(run(rules, get("/api", "authorization", "Bearer " + T.rs256(claims("https://third.example.com")))).failure())
                .isEqualTo(JwtStatus.JWT_UNKNOWN_ISSUER);
        assertThat(run(rules, get("/api", "authorization", "Bearer " + T.rs256(claims(ISSUER, "exp", now() - 600)))).failure())
                .isEqualTo(JwtStatus.JWT_EXPIRED);
        assertThat(run(rules, get("/api")).refused()).isFalse();
    }

    @Test
    void corsPreflightIsNotChecked() {
        HttpRequest r = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.OPTIONS, "/api");
        r.headers().set("host", "b").set("origin", "https://web").set("access-control-request-method", "GET")
                .set("authorization", "Bearer bad");
        assertThat(run(List.of(T.rule(ISSUER, List.of())), r).refused()).isFalse();
        r.headers().remove("origin");
        assertThat(run(List.of(T.rule(ISSUER, List.of())), r).refused()).isTrue();
    }

    @Test
    void http2HeadersAreReadAndChangedTheSameWay() {
        Http2Headers h = new DefaultHttp2Headers().method("GET").path("/api?access_token=" + T.rs256(claims(ISSUER))).authority("b");
        JwtAuthn.Outcome o = authn.authenticate(CONN, List.of(T.rule(ISSUER, List.of())), JwtAuthn.of(h, "GET"), "http", "b");
        assertThat(o.auth()).isNotNull();
        assertThat(h.path().toString()).isEqualTo("/api");
    }

    @Test
    void realmPathIsCutAt256() {
        String longPath = "/" + "p".repeat(400);
        JwtAuthn.Outcome o = run(List.of(T.rule(ISSUER, List.of())), get(longPath, "authorization", "Bearer x.y.z"));
        assertThat(o.realm()).isEqualTo("http://backend.prod" + longPath.substring(0, 256));
    }

    @Test
    void aRemoteKeySetNotFetchedYetHoldsTokensButNotRequestsWithoutAndAFailedFetchRefusesTheHeldOne() throws Exception {
        // Nothing listens there: the fetch is under way (held, as Envoy's remote mode waits for its fetch), or already
        // failed (istiod's fail-closed keys); never "no keys, so allowed". Until 7 December it was refused at once.
        JwtRule remote = JwtTokens.remote(ISSUER, "http://127.0.199.9:60399/jwks", Duration.ofSeconds(5));
        HttpRequest r = get("/api", "authorization", "Bearer " + T.rs256(claims(ISSUER)));
        JwtAuthn.Outcome o = run(List.of(remote), r);
        assertThat(o.auth()).isNull();
        assertThat(run(List.of(remote), get("/api")).refused()).isFalse();
        if (!o.held()) {
            assertThat(o.failure()).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
            return;
        }
        assertThat(o.refused()).isFalse();
        assertThat(o.hold().rules()).containsExactly(remote);
        assertThat(o.hold().timeout()).isEqualTo(Duration.ofSeconds(5));
        o.hold().answered().get(20, java.util.concurrent.TimeUnit.SECONDS);
        // Run again after the hold: the fetch it waited for failed, Envoy's onJwksError; a new request gets istiod's keys.
        JwtAuthn.Outcome after = authn.authenticate(CONN, List.of(remote), JwtAuthn.of(r), "http", "b", o.hold());
        assertThat(after.failure()).isEqualTo(JwtStatus.JWKS_FETCH_FAIL);
        assertThat(bearer(remote, T.rs256(claims(ISSUER))).failure()).isEqualTo(JwtStatus.JWT_VERIFICATION_FAIL);
    }
}
