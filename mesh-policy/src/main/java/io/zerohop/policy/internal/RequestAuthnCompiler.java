package io.zerohop.policy.internal;

import io.zerohop.policy.JwtRule;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Compiles {@code security.istio.io} RequestAuthentication specs ({@code v1} and {@code v1beta1}), validating as the
 * API server's CRD schema (istio/istio manifests/charts/base/files/crd-all.gen.yaml, RequestAuthentication) and then
 * istiod's {@code ValidateRequestAuthentication} (pkg/config/validation/validation.go: {@code validateOneOfSelectorType},
 * {@code validateWorkloadSelector}, {@code validatePolicyTargetReference(s)}, {@code validateJwtRule},
 * {@code warnPrivateJwksKeys}) do; each error names the file, line and field.
 */
final class RequestAuthnCompiler {

    private static final Set<String> SPEC_KEYS = Set.of("selector", "targetRef", "targetRefs", "jwtRules");
    /** istio/api security/v1beta1/request_authentication.proto {@code JWTRule}, with the CRD's {@code jwks_uri} alias. */
    private static final Set<String> RULE_KEYS = Set.of("issuer", "audiences", "jwksUri", "jwks_uri", "jwks", "fromHeaders",
            "fromParams", "fromCookies", "outputPayloadToHeader", "forwardOriginalToken", "outputClaimToHeaders", "timeout",
            "spaceDelimitedClaims", "presence");
    /** istiod's {@code validStrictHeaderNameRegex} and the CRD's pattern on {@code outputClaimToHeaders[].header}. */
    private static final Pattern STRICT_HEADER = Pattern.compile("[-_A-Za-z0-9]+");

    private RequestAuthnCompiler() {
    }

    static RequestAuthn compile(PolicyRef ref, String namespace, YNode spec, List<String> warnings) throws PolicyLoadException {
        if (spec == null) {
            // istiod's "empty spec" case: valid, a RequestAuthentication without rules, which verifies nothing.
            return new RequestAuthn(ref, namespace, null, null, false, List.of());
        }
        spec.onlyKeys(SPEC_KEYS);
        YNode selector = spec.get("selector");
        YNode single = spec.get("targetRef");
        YNode many = spec.get("targetRefs");
        // The CRD's rule counts a field present (CEL has()), istiod's validateOneOfSelectorType a non-empty targetRefs:
        // as IstioCompiler.authorizationPolicy reads the same three fields.
        int kinds = (selector != null ? 1 : 0) + (single != null ? 1 : 0) + (many != null ? 1 : 0);
        if (kinds > 1) {
            boolean istiod = (selector != null ? 1 : 0) + (single != null ? 1 : 0) + (many != null && !many.items().isEmpty() ? 1 : 0) > 1;
            throw spec.error(istiod
                    ? "only one of targetRefs or workloadSelector can be set" + Fields.crdRule("only one of targetRefs or selector can be set")
                    : "only one of targetRefs or selector can be set (the CRD's x-kubernetes-validations rule, which counts"
                    + " a field present even as an empty list; remove the empty targetRefs)");
        }
        String[] keys = null;
        String[] values = null;
        if (selector != null) {
            Map<String, String> labels = IstioCompiler.workloadSelector(selector, ref, warnings);
            keys = labels.keySet().toArray(new String[0]);
            values = labels.values().toArray(new String[0]);
        }
        List<String> targetRefs = new ArrayList<>();
        if (single != null) {
            targetRefs.add(IstioCompiler.targetRef(single));
        }
        if (many != null) {
            for (YNode t : Fields.atMost(many, 16)) {
                targetRefs.add(IstioCompiler.targetRef(t));
            }
        }
        if (!targetRefs.isEmpty()) {
            YNode at = single != null ? single : many;
            warnings.add(at.file + ":" + at.line + ": " + ref + ": " + at.path + ": targetRefs " + String.join(", ", targetRefs)
                    + ": applied by the gateway or waypoint it names, not by zerohop, which verifies no JWT for it (istiod"
                    + " attaches a targetRefs RequestAuthentication to gateways and waypoints only: pilot/pkg/model"
                    + " policyattachment.go ShouldAttachPolicy)");
        }
        List<JwtRule> rules = new ArrayList<>();
        YNode rulesNode = spec.get("jwtRules");
        Map<String, YNode> issuers = new HashMap<>();
        if (rulesNode != null) {
            for (YNode r : Fields.atMost(rulesNode, 4096)) {
                JwtRule rule = rule(r, ref, warnings);
                rules.add(rule);
                YNode first = issuers.putIfAbsent(rule.issuer(), r);
                if (first != null) {
                    warnings.add(r.file + ":" + r.line + ": " + ref + ": " + r.path + ": issuer \"" + rule.issuer()
                            + "\" is also the issuer of " + first.path + " (line " + first.line + "): istiod sends both to"
                            + " the proxy as two providers (it does not merge rules of one issuer: istio/istio#19245), so a"
                            + " token of that issuer is accepted when either rule verifies it");
                }
            }
        }
        return new RequestAuthn(ref, namespace, keys, values, !targetRefs.isEmpty(), rules);
    }

    private static JwtRule rule(YNode r, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        r.onlyKeys(RULE_KEYS);
        List<String> audiences = nonEmptyStrings(r, "audiences", "audience must be non-empty string");
        YNode issuerNode = r.get("issuer");
        String issuer = r.string("issuer", "");
        if (issuerNode != null && issuer.isEmpty()) {
            throw issuerNode.error("should be at least 1 chars long (the CRD's minLength on issuer)");
        }
        YNode jwksUriNode = r.get("jwksUri");
        YNode jwksUriSnake = r.get("jwks_uri");
        YNode jwksNode = r.get("jwks");
        if ((jwksUriNode != null ? 1 : 0) + (jwksUriSnake != null ? 1 : 0) + (jwksNode != null ? 1 : 0) > 1) {
            throw r.error("only one of jwks or jwksUri can be set (the CRD's x-kubernetes-validations rule on jwtRules"
                    + " items; jwks_uri is jwksUri's other spelling)");
        }
        if (jwksUriNode == null) {
            jwksUriNode = jwksUriSnake;
        }
        String jwksUri = jwksUriNode == null ? null : jwksUri(jwksUriNode);
        if (issuer.isEmpty() && jwksUri == null) {
            throw (issuerNode != null ? issuerNode : r).error("issuer or jwksUri must be non-empty string");
        }
        // A rule with jwksUri and no issuer is valid for istiod (validateJwtRule) and becomes an Envoy provider without
        // issuer, which takes a token of any iss its keys verify (extractor.cc JwtIssuerChecker): JwtRule's empty issuer.
        String jwks = null;
        if (jwksNode != null) {
            jwks = jwksNode.string();
            jwks(jwksNode, jwks, ref, warnings);
        }
        List<JwtRule.FromHeader> fromHeaders = new ArrayList<>();
        YNode fh = r.get("fromHeaders");
        if (fh != null) {
            for (YNode h : fh.items()) {
                if (h.isNull()) {
                    throw h.error("location header name must be non-null");
                }
                h.onlyKeys(Set.of("name", "prefix"));
                YNode name = h.get("name");
                if (name == null || name.string().isEmpty()) {
                    throw (name == null ? h : name).error("location header name must be non-empty string"
                            + (name == null ? " (the CRD: " + h.path + ".name: Required value)" : ""));
                }
                fromHeaders.add(new JwtRule.FromHeader(name.string(), h.string("prefix", "")));
            }
        }
        List<String> fromParams = nonEmptyStrings(r, "fromParams", "location query must be non-empty string");
        List<String> fromCookies = nonEmptyStrings(r, "fromCookies", "cookie name must be non-empty string");
        List<JwtRule.ClaimToHeader> claimToHeaders = new ArrayList<>();
        YNode oc = r.get("outputClaimToHeaders");
        if (oc != null) {
            for (YNode c : oc.items()) {
                if (c.isNull()) {
                    throw c.error("outputClaimToHeaders must not be null");
                }
                c.onlyKeys(Set.of("header", "claim"));
                String header = c.string("header", "");
                String claim = c.string("claim", "");
                if (header.isEmpty() || claim.isEmpty()) {
                    YNode at = c.get(header.isEmpty() ? "header" : "claim");
                    throw (at == null ? c : at).error("outputClaimToHeaders header and claim value must be non-empty string");
                }
                if (!STRICT_HEADER.matcher(header).matches()) {
                    throw c.get("header").error("header name " + header + " is not a valid header name (letters, digits, '-'"
                            + " and '_' only: istiod's ValidateStrictHTTPHeaderName and the CRD's pattern ^[-_A-Za-z0-9]+$)");
                }
                claimToHeaders.add(new JwtRule.ClaimToHeader(header, claim));
            }
        }
        YNode payloadHeader = r.get("outputPayloadToHeader");
        String outputPayloadToHeader = payloadHeader == null || payloadHeader.string().isEmpty() ? null : payloadHeader.string();
        YNode forward = r.get("forwardOriginalToken");
        boolean forwardOriginalToken = forward != null && forward.bool();
        YNode timeoutNode = r.get("timeout");
        Duration timeout = timeoutNode == null ? null : timeout(timeoutNode);
        YNode sdc = r.get("spaceDelimitedClaims");
        List<String> spaceDelimited = new ArrayList<>();
        if (sdc != null) {
            Fields.atMost(sdc, 64);
            for (YNode c : sdc.items()) {
                String claim = c.string();
                if (claim.isEmpty()) {
                    throw c.error("should be at least 1 chars long (the CRD's minLength on spaceDelimitedClaims items)");
                }
                spaceDelimited.add(claim);
            }
        }
        YNode presence = r.get("presence");
        if (presence != null) {
            String p = presence.string();
            if (!p.equals("OPTIONAL") && !p.equals("REQUIRED")) {
                throw presence.error("Unsupported value: \"" + p + "\": supported values: \"OPTIONAL\", \"REQUIRED\" (the CRD's enum)");
            }
            if (p.equals("REQUIRED")) {
                warnings.add(presence.file + ":" + presence.line + ": " + ref + ": " + presence.path + ": presence: REQUIRED"
                        + " has no effect: istiod sends every rule to the proxy with allow_missing (pilot/pkg/security/authn"
                        + " policy_applier.go convertToEnvoyJwtConfig), so a request without a token passes this"
                        + " RequestAuthentication; require a token with an AuthorizationPolicy (requestPrincipals: [\"*\"])");
            }
        }
        return new JwtRule(issuer, audiences, jwksUri, jwks, fromHeaders, fromParams, fromCookies, outputPayloadToHeader,
                forwardOriginalToken, claimToHeaders, timeout, ref.namespace() + "/" + ref.name(), spaceDelimited);
    }

    /** A list of strings whose items must not be empty, refused with istiod's {@code message}. */
    private static List<String> nonEmptyStrings(YNode parent, String key, String message) throws PolicyLoadException {
        YNode n = parent.get(key);
        if (n == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (YNode item : n.items()) {
            String v = item.string();
            if (v.isEmpty()) {
                throw item.error(message + " (the CRD's minLength: should be at least 1 chars long)");
            }
            out.add(v);
        }
        return out;
    }

    /** The URI scheme, then {@code //}: what {@link #jwksUri} takes apart. */
    private static final Pattern URI = Pattern.compile("([A-Za-z][A-Za-z0-9+.-]*):(.*)", Pattern.DOTALL);

    /**
     * The CRD's checks on {@code jwksUri} (1 to 2048 characters; {@code url(self).getScheme() in ["http", "https"]}) and
     * istiod's {@code security.ParseJwksURI} (pkg/config/security/security.go: Go's {@code url.Parse}, scheme http or
     * https, a numeric port). Beyond both, a URI without {@code //host} is refused: nothing could be fetched from it.
     */
    private static String jwksUri(YNode n) throws PolicyLoadException {
        String uri = n.string();
        if (uri.isEmpty()) {
            throw n.error("should be at least 1 chars long (the CRD's minLength on jwksUri)");
        }
        Fields.atMostChars(n, uri, 2048);
        java.util.regex.Matcher m = URI.matcher(uri);
        String scheme = m.matches() ? m.group(1).toLowerCase(java.util.Locale.ROOT) : "";
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw n.error("URI scheme \"" + scheme + "\" is not supported" + Fields.crdRule("url must have scheme http:// or https://"));
        }
        String rest = m.group(2);
        if (!rest.startsWith("//")) {
            throw n.error("not a URL with a host (" + scheme + "://host/path): no JWKS can be fetched from \"" + uri + "\"");
        }
        int end = rest.length();
        for (char c : new char[] {'/', '?', '#'}) {
            int at = rest.indexOf(c, 2);
            if (at >= 0 && at < end) {
                end = at;
            }
        }
        String authority = rest.substring(2, end);
        int atSign = authority.lastIndexOf('@');
        String hostPort = authority.substring(atSign + 1);
        String host = hostPort;
        String port = null;
        if (hostPort.startsWith("[")) {
            int close = hostPort.indexOf(']');
            if (close < 0) {
                throw n.error("missing ']' in host (Go's url.Parse, which istiod's ParseJwksURI uses)");
            }
            host = hostPort.substring(0, close + 1);
            String after = hostPort.substring(close + 1);
            if (!after.isEmpty()) {
                if (!after.startsWith(":")) {
                    throw n.error("invalid port \"" + after + "\" after host (Go's url.Parse, which istiod's ParseJwksURI uses)");
                }
                port = after.substring(1);
            }
        } else {
            int colon = hostPort.lastIndexOf(':');
            if (colon >= 0) {
                host = hostPort.substring(0, colon);
                port = hostPort.substring(colon + 1);
            }
        }
        if (port != null && !port.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw n.error("invalid port \":" + port + "\" after host (Go's url.Parse, which istiod's ParseJwksURI uses)");
        }
        if (host.isEmpty()) {
            throw n.error("not a URL with a host (" + scheme + "://host/path): no JWKS can be fetched from \"" + uri + "\"");
        }
        return uri;
    }

    /** Strict JSON (no comments, single quotes or trailing text), as Go's encoding/json under {@code jwk.Parse}. */
    private static final com.fasterxml.jackson.databind.ObjectMapper JWKS_JSON = new com.fasterxml.jackson.databind.ObjectMapper()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /**
     * istiod's {@code jwk.Parse} of an inline JWKS ("jwks parse error: ..."): JSON, either a key set ({@code keys}: a list
     * of keys) or one key; each key with a {@code kty} it knows and that type's public members (RFC 7518 section 6: RSA
     * {@code n} and {@code e}, EC {@code crv}, {@code x} and {@code y}, OKP (RFC 8037) {@code crv} and {@code x}, oct
     * {@code k}). Then {@code warnPrivateJwksKeys}: a key with private material ({@code d}, or a symmetric key) is a warning.
     */
    private static void jwks(YNode n, String text, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        Object parsed;
        try {
            parsed = JWKS_JSON.readValue(text, Object.class);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw n.error("jwks parse error: not JSON: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " at offset " + e.getLocation().getCharOffset()));
        }
        if (!(parsed instanceof Map<?, ?> top)) {
            throw n.error("jwks parse error: expected a JSON object (a key set {\"keys\": [...]} or one key)");
        }
        List<?> keys;
        if (top.containsKey("keys")) {
            if (!(top.get("keys") instanceof List<?> l)) {
                throw n.error("jwks parse error: \"keys\" is not a list");
            }
            keys = l;
        } else {
            keys = List.of(top);
        }
        for (int i = 0; i < keys.size(); i++) {
            if (!(keys.get(i) instanceof Map<?, ?> key)) {
                throw n.error("jwks parse error: key at index " + i + " is not a JSON object");
            }
            Object kty = key.get("kty");
            List<String> required = switch (kty instanceof String s ? s : "") {
                case "RSA" -> List.of("n", "e");
                case "EC" -> List.of("crv", "x", "y");
                case "OKP" -> List.of("crv", "x");
                case "oct" -> List.of("k");
                default -> null;
            };
            if (required == null) {
                throw n.error("jwks parse error: key at index " + i + (kty == null ? " has no \"kty\""
                        : " has unsupported \"kty\" " + kty) + " (RSA, EC, OKP or oct)");
            }
            for (String member : required) {
                if (!(key.get(member) instanceof String)) {
                    throw n.error("jwks parse error: " + kty + " key at index " + i + " has no \"" + member + "\" string");
                }
            }
            if (key.containsKey("d") || "oct".equals(kty)) {
                warnings.add(n.file + ":" + n.line + ": " + ref + ": " + n.path + ": jwks key at index " + i
                        + " contains private key material; only public keys are used for verification");
            }
        }
    }

    /**
     * {@code timeout} as istiod reads it: Go's duration syntax ({@code "5s"}, {@code "500ms"}, {@code "1m"}; golang/protobuf
     * jsonpb decodes a google.protobuf.Duration with {@code time.ParseDuration}, see {@link GoDuration}), then at least
     * 1 ms (the CRD's rule "must be a valid duration greater than 1ms" and istiod's {@code agent.ValidateDuration}) and
     * whole milliseconds (the latter's "only durations to ms precision are supported").
     */
    private static Duration timeout(YNode n) throws PolicyLoadException {
        String t = n.string();
        Duration d;
        try {
            d = GoDuration.parse(t);
        } catch (IllegalArgumentException e) {
            throw n.error("bad Duration: " + e.getMessage() + " (istiod decodes timeout with Go's time.ParseDuration:"
                    + " \"5s\", \"500ms\", \"1m\")");
        }
        if (d.compareTo(Duration.ofMillis(1)) < 0) {
            throw n.error("duration must be greater than 1ms" + Fields.crdRule("must be a valid duration greater than 1ms"));
        }
        if (d.getNano() % 1_000_000 != 0) {
            throw n.error("only durations to ms precision are supported");
        }
        return d;
    }
}
