package io.zerohop.core.internal.http;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSObject;
import com.nimbusds.jose.Payload;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jose.util.Base64URL;
import io.zerohop.policy.JwtRule;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Keys and tokens the JWT tests sign themselves (nimbus-jose-jwt as the signer), and the rules that trust them. */
final class JwtTokens {
    static final String ISSUER = "https://issuer.example.com";
    static final String OTHER_ISSUER = "https://other.example.com";
    final RSAKey rsa;
    final ECKey ec;
    /** An RSA key no rule trusts: a token it signs has a bad signature. */
    final RSAKey stranger;

    JwtTokens() {
        try {
            rsa = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
            ec = new ECKeyGenerator(Curve.P_256).keyID("ec-1").generate();
            stranger = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The public JWKS of {@link #rsa} and {@link #ec}. */
    String jwks() {
        return new JWKSet(List.of(rsa.toPublicJWK(), ec.toPublicJWK())).toString();
    }

    static long now() {
        return System.currentTimeMillis() / 1000;
    }

    /** Claims {@code iss}, {@code sub}, {@code exp} in an hour, then {@code more} (name, value pairs; null removes). */
    static Map<String, Object> claims(String iss, Object... more) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("iss", iss);
        c.put("sub", "alice");
        c.put("exp", now() + 3600);
        for (int i = 0; i < more.length; i += 2) {
            if (more[i + 1] == null) {
                c.remove((String) more[i]);
            } else {
                c.put((String) more[i], more[i + 1]);
            }
        }
        return c;
    }

    String rs256(Map<String, Object> claims) {
        try {
            return sign(new RSASSASigner(rsa), JWSAlgorithm.RS256, rsa.getKeyID(), claims);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    String es256(Map<String, Object> claims) {
        try {
            return sign(new ECDSASigner(ec), JWSAlgorithm.ES256, ec.getKeyID(), claims);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    String byStranger(Map<String, Object> claims) {
        try {
            return sign(new RSASSASigner(stranger), JWSAlgorithm.RS256, stranger.getKeyID(), claims);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The alg-confusion attack: HS256 with the trusted RSA public key's encoding as the HMAC secret (a verifier that
     * takes the token's alg at its word would accept it).
     */
    String hs256WithRsaPublicKey(Map<String, Object> claims) {
        try {
            byte[] secret = rsa.toRSAPublicKey().getEncoded();
            return sign(new MACSigner(secret), JWSAlgorithm.HS256, rsa.getKeyID(), claims);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** An unsigned token, {@code alg: none}. */
    static String none(Map<String, Object> claims) {
        String header = Base64URL.encode("{\"alg\":\"none\"}".getBytes(StandardCharsets.UTF_8)).toString();
        return header + "." + Base64URL.encode(com.nimbusds.jose.util.JSONObjectUtils.toJSONString(claims).getBytes(StandardCharsets.UTF_8)) + ".";
    }

    private static String sign(com.nimbusds.jose.JWSSigner signer, JWSAlgorithm alg, String kid, Map<String, Object> claims) {
        try {
            JWSObject o = new JWSObject(new JWSHeader.Builder(alg).keyID(kid).type(JOSEObjectType.JWT).build(), new Payload(claims));
            o.sign(signer);
            return o.serialize();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** A rule for {@code issuer} with inline keys and Envoy's default locations. */
    JwtRule rule(String issuer, List<String> audiences) {
        return rule(issuer, audiences, List.of(), List.of(), List.of(), null, false, List.of());
    }

    JwtRule rule(String issuer, List<String> audiences, List<JwtRule.FromHeader> headers, List<String> params, List<String> cookies,
                 String payloadHeader, boolean forward, List<JwtRule.ClaimToHeader> claimHeaders) {
        return new JwtRule(issuer, audiences, null, jwks(), headers, params, cookies, payloadHeader, forward, claimHeaders, null,
                "prod/jwt-" + issuer.length());
    }

    /** A rule whose keys are fetched from {@code jwksUri} (null: OpenID discovery from the issuer). */
    static JwtRule remote(String issuer, String jwksUri, Duration timeout) {
        return new JwtRule(issuer, List.of(), jwksUri, null, List.of(), List.of(), List.of(), null, false, List.of(), timeout, "prod/remote");
    }
}
