package io.zerohop.core.internal.http;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jose.util.JSONObjectUtils;
import java.security.MessageDigest;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * A JSON Web Key Set as google/jwt_verify_lib reads one for Envoy ({@code src/jwks.cc} {@code Jwks::createFromJwksCore}):
 * every entry of {@code keys} that is a valid RSA, EC or oct key is kept, an invalid one is skipped, and a set with no
 * valid key is {@link #valid() invalid} (Envoy then answers every token "Jwks doesn't have any valid public key"). A key's
 * {@code alg}, when present, must fit its type ({@code RS*}/{@code PS*} for RSA, {@code ES*} with a matching curve for EC,
 * {@code HS*} for oct, {@code EdDSA} for an OKP key on Ed25519), as {@code extractJwkFromJwkRSA}/{@code EC}/{@code Oct}/
 * {@code OKP} require. PEM keys and the X.509 form ({@code {"<kid>": "-----BEGIN CERTIFICATE-----..."}}, which
 * {@code createFromJwksCore} reads when there is no {@code keys}) are not read, and no Envoy under istiod gets them
 * either: Envoy's local key set is {@code Jwks::createFrom(inline, Jwks::JWKS)} only, never {@code PEM}
 * (envoyproxy/envoy jwt_authn {@code jwks_cache.cc} {@code JwksDataImpl}); istiod refuses an inline {@code jwks} that
 * {@code jwk.Parse} cannot read (pkg/config/validation {@code validateJwtRule}) and a fetched body without a
 * {@code keys} array (pilot/pkg/model jwks_resolver.go {@code validateJWKSFormat}, the public-only set instead), as
 * mesh-policy and {@link JwksCache} do. Only Envoy's own fetch (istiod's non-default
 * {@code PILOT_JWT_ENABLE_REMOTE_JWKS}) would read the X.509 form. RSA and EC keys are parsed with
 * nimbus-jose-jwt, Ed25519 with the JDK; signatures are checked as {@code src/verify.cc}
 * {@code verifyJwtWithoutTimeChecking} does.
 */
final class Jwks {
    private record Key(String kid, String alg, String kty, RSAPublicKey rsa, ECPublicKey ec, byte[] secret, java.security.PublicKey ed25519) {
        Key(String kid, String alg, String kty, RSAPublicKey rsa, ECPublicKey ec, byte[] secret) {
            this(kid, alg, kty, rsa, ec, secret, null);
        }
    }

    private final List<Key> keys;

    /**
     * At most this many verified signatures are remembered per key set: Envoy's default {@code jwt_cache_size}
     * (envoyproxy/envoy {@code api/envoy/extensions/filters/http/jwt_authn/v3/config.proto} {@code JwtCacheConfig}).
     */
    static final int VERIFIED_SIGNATURES = 100;

    /**
     * A token longer than this (in characters, as sent) is verified every time and never kept, as Envoy's cache keeps
     * none longer (envoyproxy/envoy {@code source/extensions/filters/http/jwt_authn/jwt_cache.cc} {@code kMaxJwtSizeForCache},
     * {@code JwtCacheImpl::insert}). So what the cache holds is bounded by the tokens' size too: until 7 December any
     * verified token was kept, a set's 100 entries up to a request head's size each (some 6 MB per key set for 60 KiB
     * tokens) where Envoy's hold at most 400 KiB.
     */
    static final int MAX_CACHED_TOKEN = 4 * 1024;

    /**
     * Signatures this set verified, by signing input and signature. Why a cache where Envoy under Istio has none
     * (istiod sets no {@code jwt_cache_config}): the JDK's P-256 verification costs some 1 ms of CPU, about 16 times
     * BoringSSL's, on the event loop ({@code benchmarks/results/jwt-verify-*.md}), and a client sends the same token for
     * its whole life. It changes no answer: whether a signature verifies depends only on these bytes and this set (a
     * refreshed set is a new {@code Jwks}, with an empty cache), and issuer, time and audience are still checked on every
     * request ({@code JwtAuthn.check}). Only successes of tokens up to {@link #MAX_CACHED_TOKEN} are kept, as Envoy's
     * {@code JwtCacheImpl} keeps only valid tokens of that size; when full, arbitrary entries make room.
     */
    private final java.util.concurrent.ConcurrentHashMap<Signed, Boolean> verified = new java.util.concurrent.ConcurrentHashMap<>();

    /** A token's signed part and signature, compared by content. */
    private record Signed(byte[] input, byte[] signature) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Signed s && java.util.Arrays.equals(input, s.input) && java.util.Arrays.equals(signature, s.signature);
        }

        @Override
        public int hashCode() {
            return 31 * java.util.Arrays.hashCode(input) + java.util.Arrays.hashCode(signature);
        }

        @Override
        public String toString() {
            return "Signed[" + input.length + " + " + signature.length + " bytes]";
        }
    }

    private Jwks(List<Key> keys) {
        this.keys = keys;
    }

    /** Whether the set has at least one key (else jwt_verify_lib's JwksNoValidKeys). */
    boolean valid() {
        return !keys.isEmpty();
    }

    /** {@code json} read as a JWKS; never null ({@link #valid()} false for anything that is not one). */
    static Jwks parse(String json) {
        List<Key> out = new ArrayList<>();
        Map<String, Object> set;
        try {
            set = JSONObjectUtils.parse(json);
        } catch (java.text.ParseException | RuntimeException e) {
            return new Jwks(List.of());
        }
        if (!(set.get("keys") instanceof List<?> list)) {
            return new Jwks(List.of());
        }
        for (Object o : list) {
            if (o instanceof Map<?, ?> m) {
                @SuppressWarnings("unchecked")
                Key k = key((Map<String, Object>) m);
                if (k != null) {
                    out.add(k);
                }
            }
        }
        return new Jwks(List.copyOf(out));
    }

    private static Key key(Map<String, Object> m) {
        if (!(m.get("kty") instanceof String kty)) {
            return null;
        }
        String alg = m.get("alg") instanceof String a ? a : "";
        String kid = m.get("kid") instanceof String k ? k : "";
        try {
            switch (kty) {
                case "RSA" -> {
                    if (!alg.isEmpty() && !alg.startsWith("RS") && !alg.startsWith("PS")) {
                        return null;
                    }
                    if (!(m.get("n") instanceof String) || !(m.get("e") instanceof String)) {
                        return null;
                    }
                    RSAPublicKey pub = RSAKey.parse(Map.of("kty", "RSA", "n", m.get("n"), "e", m.get("e"))).toRSAPublicKey();
                    return new Key(kid, alg, kty, pub, null, null);
                }
                case "EC" -> {
                    if (!alg.isEmpty() && !alg.startsWith("ES")) {
                        return null;
                    }
                    String crv = m.get("crv") instanceof String c ? c : "";
                    if (m.containsKey("crv") && crv.isEmpty() && !(m.get("crv") instanceof String)) {
                        return null;
                    }
                    if (!alg.isEmpty() && !crv.isEmpty() && !((alg.equals("ES256") && crv.equals("P-256"))
                            || (alg.equals("ES384") && crv.equals("P-384")) || (alg.equals("ES512") && crv.equals("P-521")))) {
                        return null;
                    }
                    Curve curve;
                    if (alg.equals("ES256") || crv.equals("P-256") || (alg.isEmpty() && crv.isEmpty())) {
                        curve = Curve.P_256;
                    } else if (alg.equals("ES384") || crv.equals("P-384")) {
                        curve = Curve.P_384;
                    } else if (alg.equals("ES512") || crv.equals("P-521")) {
                        curve = Curve.P_521;
                    } else {
                        return null;
                    }
                    if (!(m.get("x") instanceof String x) || !(m.get("y") instanceof String y)) {
                        return null;
                    }
                    ECPublicKey pub = new ECKey.Builder(curve, new Base64URL(x), new Base64URL(y)).build().toECPublicKey();
                    return new Key(kid, alg, kty, null, pub, null);
                }
                case "oct" -> {
                    if (!alg.isEmpty() && !alg.equals("HS256") && !alg.equals("HS384") && !alg.equals("HS512")) {
                        return null;
                    }
                    if (!(m.get("k") instanceof String k)) {
                        return null;
                    }
                    byte[] secret = java.util.Base64.getUrlDecoder().decode(k);
                    return new Key(kid, alg, kty, null, null, secret);
                }
                case "OKP" -> {
                    // jwks.cc extractJwkFromJwkOKP: alg EdDSA when present, crv Ed25519, x the 32-byte key.
                    if (!alg.isEmpty() && !alg.equals("EdDSA")) {
                        return null;
                    }
                    if (!"Ed25519".equals(m.get("crv")) || !(m.get("x") instanceof String x)) {
                        return null;
                    }
                    byte[] raw = java.util.Base64.getUrlDecoder().decode(x);
                    if (raw.length != 32) {
                        return null;
                    }
                    return new Key(kid, alg, kty, null, null, null, ed25519(raw));
                }
                default -> {
                    return null;
                }
            }
        } catch (IllegalArgumentException | IllegalStateException | java.text.ParseException | JOSEException
                 | java.security.GeneralSecurityException e) {
            return null;
        }
    }

    /** RFC 8032 section 5.1.3: the little-endian y, the top bit of the last byte x's parity. */
    private static java.security.PublicKey ed25519(byte[] raw) throws java.security.GeneralSecurityException {
        byte[] be = new byte[32];
        for (int i = 0; i < 32; i++) {
            be[i] = raw[31 - i];
        }
        boolean xOdd = (be[0] & 0x80) != 0;
        be[0] &= 0x7f;
        java.security.spec.EdECPublicKeySpec spec = new java.security.spec.EdECPublicKeySpec(java.security.spec.NamedParameterSpec.ED25519,
                new java.security.spec.EdECPoint(xOdd, new java.math.BigInteger(1, be)));
        return java.security.KeyFactory.getInstance("Ed25519").generatePublic(spec);
    }

    /**
     * jwt_verify_lib {@code verifyJwtWithoutTimeChecking}: each key whose {@code kid} (when both have one) and {@code alg}
     * (when the key has one) match the token's is tried, by its type: EC with ECDSA (SHA-384/512 for ES384/ES512, else
     * SHA-256), RSA with PKCS#1 v1.5 for {@code RS*} and PSS for {@code PS*} (any other alg verifies nothing), oct with
     * HMAC (SHA-384/512 for HS384/HS512, else SHA-256), OKP with Ed25519 (a signature not 64 bytes long: "Jwt ED25519
     * signature is wrong length"). {@link JwtStatus#OK} on the first key that verifies; else
     * "Jwt verification fails" when some key matched, "Jwks doesn't have key to match kid or alg from Jwt" when none did.
     * So an {@code HS256} token checked against an RSA key (the alg-confusion attack) verifies nothing.
     */
    JwtStatus verify(Jwt jwt) {
        Signed signed = new Signed(jwt.signingInput, jwt.signature);
        if (verified.containsKey(signed)) {
            return JwtStatus.OK;
        }
        JwtStatus s = verifyUncached(jwt);
        if (s == JwtStatus.OK && jwt.length <= MAX_CACHED_TOKEN) {
            // Entries are taken out until there is room, not just one: event loops that insert at once may each take out
            // the same entry, and with one removal per insertion every such race left the set one larger for good
            // (Envoy's cache is per worker thread, so its bound is exact).
            java.util.Iterator<Signed> it = verified.keySet().iterator();
            while (verified.size() >= VERIFIED_SIGNATURES && it.hasNext()) {
                it.next();
                it.remove();
            }
            verified.put(signed, Boolean.TRUE);
        }
        return s;
    }

    /** Number of verified signatures remembered (tests). */
    int verifiedCount() {
        return verified.size();
    }

    private JwtStatus verifyUncached(Jwt jwt) {
        boolean matched = false;
        for (Key k : keys) {
            if (!jwt.kid.isEmpty() && !k.kid.isEmpty() && !k.kid.equals(jwt.kid)) {
                continue;
            }
            if (!k.alg.isEmpty() && !k.alg.equals(jwt.alg)) {
                continue;
            }
            matched = true;
            if (k.ed25519 != null && jwt.signature.length != 64) {
                // verifySignatureEd25519: a signature of another length ends the check at once.
                return JwtStatus.JWT_ED25519_SIGNATURE_WRONG_LENGTH;
            }
            if (verifies(k, jwt)) {
                return JwtStatus.OK;
            }
        }
        return matched ? JwtStatus.JWT_VERIFICATION_FAIL : JwtStatus.JWKS_KID_ALG_MISMATCH;
    }

    /** An ECDSA signature as the JDK reads it: DER {@code SEQUENCE { INTEGER r, INTEGER s }} (RFC 3279 section 2.2.3). */
    private static byte[] derSignature(java.math.BigInteger r, java.math.BigInteger s) {
        byte[] rb = r.toByteArray();
        byte[] sb = s.toByteArray();
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream(rb.length + sb.length + 8);
        derItem(body, 0x02, rb);
        derItem(body, 0x02, sb);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(body.size() + 6);
        derItem(out, 0x30, body.toByteArray());
        return out.toByteArray();
    }

    private static void derItem(java.io.ByteArrayOutputStream out, int tag, byte[] content) {
        out.write(tag);
        int n = content.length;
        if (n < 0x80) {
            out.write(n);
        } else {
            int bytes = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(n >>> (8 * i));
            }
        }
        out.writeBytes(content);
    }

    private static boolean verifies(Key k, Jwt jwt) {
        try {
            switch (k.kty) {
                case "EC" -> {
                    // verify.cc: SHA-384 for ES384, SHA-512 for ES512, SHA-256 for any other alg, on the key's own curve
                    // (a key without alg takes every alg; a P-384 key and an ES256 token verify with SHA-256), and
                    // verifySignatureEC reads the signature's two halves as r and s (BN_bin2bn), whatever its length.
                    // Until 6 December nimbus's ECDSAVerifier refused an alg that is not its curve's and a signature not
                    // of the curve's length: such tokens were "Jwt verification fails" where Envoy verifies them.
                    String md = jwt.alg.equals("ES384") ? "SHA384" : jwt.alg.equals("ES512") ? "SHA512" : "SHA256";
                    int half = jwt.signature.length / 2;
                    if (half == 0) {
                        return false;
                    }
                    java.security.Signature sig = java.security.Signature.getInstance(md + "withECDSA");
                    sig.initVerify(k.ec);
                    sig.update(jwt.signingInput);
                    return sig.verify(derSignature(new java.math.BigInteger(1, java.util.Arrays.copyOfRange(jwt.signature, 0, half)),
                            new java.math.BigInteger(1, java.util.Arrays.copyOfRange(jwt.signature, half, 2 * half))));
                }
                case "RSA" -> {
                    if (!jwt.alg.startsWith("RS") && !jwt.alg.startsWith("PS")) {
                        return false;
                    }
                    return new RSASSAVerifier(k.rsa).verify(new JWSHeader(JWSAlgorithm.parse(jwt.alg)), jwt.signingInput,
                            Base64URL.encode(jwt.signature));
                }
                case "oct" -> {
                    String mac = jwt.alg.equals("HS384") ? "HmacSHA384" : jwt.alg.equals("HS512") ? "HmacSHA512" : "HmacSHA256";
                    Mac m = Mac.getInstance(mac);
                    m.init(new SecretKeySpec(k.secret.length == 0 ? new byte[1] : k.secret, mac));
                    return k.secret.length > 0 && MessageDigest.isEqual(m.doFinal(jwt.signingInput), jwt.signature);
                }
                case "OKP" -> {
                    java.security.Signature sig = java.security.Signature.getInstance("Ed25519");
                    sig.initVerify(k.ed25519);
                    sig.update(jwt.signingInput);
                    return sig.verify(jwt.signature);
                }
                default -> {
                    return false;
                }
            }
        } catch (JOSEException | java.security.GeneralSecurityException | RuntimeException e) {
            return false;
        }
    }
}
