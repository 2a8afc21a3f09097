package io.zerohop.core.internal.http;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One token parsed as google/jwt_verify_lib {@code src/jwt.cc} {@code Jwt::parseFromString} parses it for Envoy's
 * {@code jwt_authn} filter: three non-empty base64url sections, a JSON header with a string {@code alg} that the library
 * implements and an optional string {@code kid}, a JSON payload whose registered claims have their types
 * ({@code iss}, {@code sub}, {@code jti} strings; {@code iat}, {@code nbf}, {@code exp} non-negative numbers; {@code aud} a
 * string or a list of strings), and a base64url signature. Its time check is {@code Jwt::verifyTimeConstraint}. No
 * token text is kept beyond what the checks need, and none is ever logged.
 */
final class Jwt {
    /** jwt_verify_lib {@code isImplemented}: {@code none} and anything else is "not supported". */
    static final Set<String> IMPLEMENTED_ALGS = Set.of("ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "RS256", "RS384",
            "RS512", "PS256", "PS384", "PS512", "EdDSA");

    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final Base64.Decoder B64URL = Base64.getUrlDecoder();

    /** The first two sections as sent, joined by '.': the signed bytes. */
    final byte[] signingInput;
    /** The payload section as sent (base64url), for {@code outputPayloadToHeader}. */
    final String payloadBase64url;
    final String alg;
    final String kid;
    final String iss;
    final String sub;
    final long nbf;
    final long exp;
    final List<String> audiences;
    final byte[] signature;
    /** The payload as parsed JSON, in the types {@link io.zerohop.policy.RequestAuth#claims()} names. */
    final Map<String, Object> claims;
    /** The token's length as sent, in characters ({@link Jwks#verify} keeps no token longer than 4 KiB). */
    final int length;

    private Jwt(byte[] signingInput, String payloadBase64url, String alg, String kid, String iss, String sub, long nbf, long exp,
                List<String> audiences, byte[] signature, Map<String, Object> claims, int length) {
        this.signingInput = signingInput;
        this.payloadBase64url = payloadBase64url;
        this.alg = alg;
        this.kid = kid;
        this.iss = iss;
        this.sub = sub;
        this.nbf = nbf;
        this.exp = exp;
        this.audiences = audiences;
        this.signature = signature;
        this.claims = claims;
        this.length = length;
    }

    /** The parse result: a token, or why it is not one. */
    record Parsed(Jwt jwt, JwtStatus status) {}

    static Parsed parse(String token) {
        // absl::StrSplit(jwt, '.', absl::SkipEmpty()): empty sections are dropped before counting.
        List<String> parts = new ArrayList<>(3);
        for (String s : token.split("\\.", -1)) {
            if (!s.isEmpty()) {
                parts.add(s);
            }
        }
        if (parts.size() != 3) {
            return fail(JwtStatus.JWT_BAD_FORMAT);
        }
        byte[] headerBytes = decode(parts.get(0));
        if (headerBytes == null) {
            return fail(JwtStatus.JWT_HEADER_BAD_BASE64);
        }
        JsonNode header = object(headerBytes);
        if (header == null) {
            return fail(JwtStatus.JWT_HEADER_BAD_JSON);
        }
        JsonNode alg = header.get("alg");
        if (alg == null || !alg.isTextual()) {
            return fail(JwtStatus.JWT_HEADER_BAD_ALG);
        }
        if (!IMPLEMENTED_ALGS.contains(alg.textValue())) {
            return fail(JwtStatus.JWT_HEADER_NOT_IMPLEMENTED_ALG);
        }
        JsonNode kid = header.get("kid");
        if (kid != null && !kid.isTextual()) {
            return fail(JwtStatus.JWT_HEADER_BAD_KID);
        }
        byte[] payloadBytes = decode(parts.get(1));
        if (payloadBytes == null) {
            return fail(JwtStatus.JWT_PAYLOAD_BAD_BASE64);
        }
        JsonNode payload = object(payloadBytes);
        if (payload == null) {
            return fail(JwtStatus.JWT_PAYLOAD_BAD_JSON);
        }
        JsonNode iss = payload.get("iss");
        if (iss != null && !iss.isTextual()) {
            return fail(JwtStatus.JWT_ISS_NOT_STRING);
        }
        JsonNode sub = payload.get("sub");
        if (sub != null && !sub.isTextual()) {
            return fail(JwtStatus.JWT_SUB_NOT_STRING);
        }
        long[] times = new long[3];
        String[] names = {"iat", "nbf", "exp"};
        JwtStatus[][] errors = {{JwtStatus.JWT_IAT_NOT_INTEGER, JwtStatus.JWT_IAT_OUT_OF_RANGE},
                {JwtStatus.JWT_NBF_NOT_INTEGER, JwtStatus.JWT_NBF_OUT_OF_RANGE}, {JwtStatus.JWT_EXP_NOT_INTEGER, JwtStatus.JWT_EXP_OUT_OF_RANGE}};
        for (int i = 0; i < 3; i++) {
            JsonNode n = payload.get(names[i]);
            if (n == null) {
                continue;
            }
            // StructUtils::GetUInt64: a JSON number (protobuf's Struct holds a double), 0 <= value < 2^64, truncated.
            if (!n.isNumber()) {
                return fail(errors[i][0]);
            }
            double d = n.doubleValue();
            if (d < 0 || d >= 18446744073709551615.0) {
                return fail(errors[i][1]);
            }
            times[i] = d >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) d;
        }
        JsonNode jti = payload.get("jti");
        if (jti != null && !jti.isTextual()) {
            return fail(JwtStatus.JWT_JTI_NOT_STRING);
        }
        List<String> audiences = new ArrayList<>();
        JsonNode aud = payload.get("aud");
        if (aud != null) {
            if (aud.isTextual()) {
                audiences.add(aud.textValue());
            } else if (aud.isArray()) {
                for (JsonNode a : aud) {
                    if (!a.isTextual()) {
                        return fail(JwtStatus.JWT_AUD_NOT_STRING);
                    }
                    audiences.add(a.textValue());
                }
            } else {
                return fail(JwtStatus.JWT_AUD_NOT_STRING);
            }
        }
        byte[] signature = decode(parts.get(2));
        if (signature == null) {
            return fail(JwtStatus.JWT_SIGNATURE_BAD_BASE64);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> claims = (Map<String, Object>) value(payload);
        return new Parsed(new Jwt((parts.get(0) + "." + parts.get(1)).getBytes(StandardCharsets.US_ASCII), parts.get(1),
                alg.textValue(), kid == null ? "" : kid.textValue(), iss == null ? "" : iss.textValue(),
                sub == null ? null : sub.textValue(), times[1], times[2], List.copyOf(audiences), signature, claims, token.length()), JwtStatus.OK);
    }

    /**
     * jwt_verify_lib {@code Jwt::verifyTimeConstraint}: not yet valid when {@code now + skew < nbf}, expired when
     * {@code exp} is set and {@code now > exp + skew}. That sum is a {@code uint64_t} there, and cannot overflow
     * ({@code StructUtils::GetUInt64} keeps {@code exp} below 2^64 - 2048); here {@code exp} is capped at
     * {@link Long#MAX_VALUE}, so it is compared as {@code now - skew > exp}: until 6 December an {@code exp} within a
     * minute of the cap (any {@code exp} of 2^63 or more) overflowed to "Jwt is expired".
     */
    JwtStatus checkTime(long nowSeconds, long clockSkewSeconds) {
        if (nowSeconds + clockSkewSeconds < nbf) {
            return JwtStatus.JWT_NOT_YET_VALID;
        }
        if (exp != 0 && nowSeconds - clockSkewSeconds > exp) {
            return JwtStatus.JWT_EXPIRED;
        }
        return JwtStatus.OK;
    }

    private static Parsed fail(JwtStatus s) {
        return new Parsed(null, s);
    }

    /** absl::WebSafeBase64Unescape: the URL alphabet, padding optional. */
    private static byte[] decode(String s) {
        try {
            return B64URL.decode(s);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static JsonNode object(byte[] json) {
        try {
            JsonNode n = JSON.readTree(json);
            return n != null && n.isObject() ? n : null;
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    /** JSON as the contract's claim types: String, Long or Double, Boolean, List, Map, null; lists and maps unmodifiable. */
    static Object value(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.textValue();
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        if (n.isIntegralNumber()) {
            BigInteger b = n.bigIntegerValue();
            return b.bitLength() < 64 ? (Object) b.longValue() : (Object) b.doubleValue();
        }
        if (n.isNumber()) {
            return n.doubleValue();
        }
        if (n.isArray()) {
            List<Object> out = new ArrayList<>(n.size());
            for (JsonNode e : n) {
                out.add(value(e));
            }
            return Collections.unmodifiableList(out);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), value(e.getValue()));
        }
        return Collections.unmodifiableMap(out);
    }
}
