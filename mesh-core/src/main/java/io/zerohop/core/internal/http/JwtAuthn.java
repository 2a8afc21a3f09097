package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http2.Http2Headers;
import io.zerohop.core.internal.RateLimitedLog;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.RequestAuth;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;
import org.slf4j.LoggerFactory;

/**
 * The RequestAuthentication step of a request, before its authorization: what Envoy's {@code jwt_authn} filter does in a
 * sidecar with the configuration istiod gives it (istio/istio pilot/pkg/security/authn/policy_applier.go
 * {@code convertToEnvoyJwtConfig}): one provider per {@link JwtRule}, the rules sorted by issuer, and the requirement
 * {@code requires_any [provider, allow_missing]} for one rule, {@code requires_any [p1, ..., pn, requires_all
 * [requires_any [p1, allow_missing], ...]]} for several, with {@code bypass_cors_preflight}. So: a request with no token
 * in any rule's locations goes on with no verified JWT ({@link Outcome#NONE}); one with a token that some rule verifies
 * goes on with that token's payload as {@link RequestAuth}; any other is refused, 401 with the failure's text (403 for
 * "Audiences in Jwt are not allowed") and {@code www-authenticate: Bearer realm="<scheme>://<host><path>",
 * error="invalid_token"} (envoyproxy/envoy source/extensions/filters/http/jwt_authn/filter.cc {@code Filter::onComplete};
 * {@code verifier.cc} {@code AnyVerifierImpl::onComplete}, which reports the last error that is neither "missing" nor
 * "unknown issuer", else "unknown issuer").
 * <p>
 * One rule's check is Envoy's {@code ProviderVerifierImpl} with its {@code AuthenticatorImpl}
 * ({@code authenticator.cc}): its extractor ({@code extractor.cc}) reads the rule's headers (a header's values joined
 * with ',' as one; after the prefix when one is set, wherever in the value it is found, the base64url run that follows;
 * in order of header name and prefix), then its
 * query parameters (the first value of each, decoded; by name), then its cookies (by name); a rule that names no location
 * reads {@code Authorization: Bearer <token>} and {@code access_token}. Every token found must verify, last found first:
 * parsed ({@link Jwt}), {@code iss} the rule's ("Jwt issuer is not configured"), {@code nbf}/{@code exp} with Envoy's
 * 60 s clock skew, one {@code aud} in the rule's audiences when it has any (an {@code http://}/{@code https://} prefix and a
 * trailing slash ignored, jwt_verify_lib {@code check_audience.cc}), then the signature against the rule's keys
 * ({@link Jwks}, {@link JwksCache}). For each token that verified: {@code outputPayloadToHeader} gets the payload as sent
 * (base64url), each {@code outputClaimToHeaders} header the claim's value when it is a string, number or boolean, and
 * without {@code forwardOriginalToken} the token's header is removed, or its query parameter from the path; a cookie
 * stays ({@code JwtCookieLocation::removeJwt} does nothing). Every rule's output headers are removed from the request
 * first, so that a client cannot send its own ({@code sanitizeHeaders}). The payload's {@code scope} and
 * {@code permission} claims and those of the rule's {@code spaceDelimitedClaims}, when space-delimited strings, become
 * lists, as istiod's {@code NormalizePayloadInMetadata} has Envoy put them for the authorization.
 * <p>
 * Not as Envoy: the outputs are those of the rule that verified (Envoy also keeps the removals a rule made for a token
 * before a later token of the same rule failed, and sanitizes only the rules it ran).
 */
final class JwtAuthn {
    /**
     * Per mesh (each {@code HttpEnforcement} has its own step), as the other refusal logs: one mesh's flood of bad tokens
     * does not silence another's, and a test's earlier refusals do not spend a later mesh's budget (CI found a static
     * budget spent by the JWT tests run before {@code L7JwtTest}).
     */
    private final RateLimitedLog refusals = new RateLimitedLog(LoggerFactory.getLogger(JwtAuthn.class),
            "refused JWT", "refused JWTs", 20, java.time.Duration.ofSeconds(10));

    /** jwt_verify_lib {@code kClockSkewInSecond}; istiod sets no {@code clock_skew_seconds}. */
    static final long CLOCK_SKEW_SECONDS = 60;
    /** filter.cc {@code MaximumUriLength}: the realm's path is cut to this. */
    static final int MAX_URI_PATH = 256;
    private static final List<String> SPACE_DELIMITED = List.of("permission", "scope");

    /** The request as this step reads and changes it: header names lower case. */
    interface Message {
        String method();

        /** Every value of header {@code name}, in order; empty when absent. */
        List<String> headers(String name);

        void remove(String name);

        void add(String name, String value);

        /** The request target ({@code :path}), query included. */
        String path();

        void path(String path);
    }

    /**
     * A request held for key sets whose first fetch has not answered yet: {@code answered} completes once every one of
     * {@code rules}' has its first answer; {@code timeout} is the longest of their {@code timeout}s, which bounds the hold
     * (the fetch's own {@code http_uri} timeout in Envoy). The caller runs the step again after it ({@link #whenAnswered}),
     * with this hold.
     */
    record Hold(List<JwtRule> rules, CompletableFuture<Void> answered, Duration timeout) {}

    /** What the step decided. */
    record Outcome(RequestAuth auth, JwtStatus failure, String realm, Hold hold) {
        /** No token, or no rule: the request goes on without a verified JWT. */
        static final Outcome NONE = new Outcome(null, null, null);

        Outcome(RequestAuth auth, JwtStatus failure, String realm) {
            this(auth, failure, realm, null);
        }

        boolean refused() {
            return failure != null;
        }

        /** Not decided yet: a token waits for its rule's first key fetch ({@link #hold}). */
        boolean held() {
            return hold != null;
        }

        /** The local reply's status: 403 for an audience not allowed, else 401. */
        int status() {
            return failure == JwtStatus.JWT_AUDIENCE_NOT_ALLOWED ? 403 : 401;
        }

        byte[] body() {
            return failure.text.getBytes(StandardCharsets.US_ASCII);
        }

        /** Envoy's response code details for the access log: {@code jwt_authn_access_denied{<text, spaces as _>}} (filter.cc). */
        String details() {
            return "jwt_authn_access_denied{" + failure.text.replace(' ', '_') + "}";
        }

        /** The {@code www-authenticate} value (filter.cc): {@code error="invalid_token"} unless the token was missing. */
        String wwwAuthenticate() {
            return "Bearer realm=\"" + realm + "\"" + (failure == JwtStatus.JWT_MISSED ? "" : ", error=\"invalid_token\"");
        }
    }

    private final JwksCache keys;
    private final LongSupplier nowSeconds;

    JwtAuthn(JwksCache keys, LongSupplier nowSeconds) {
        this.keys = keys;
        this.nowSeconds = nowSeconds;
    }

    /**
     * The step for {@code m} under {@code rules} (those of the destination, {@code PolicyEngine.jwtRules}); {@code m} is
     * changed as Envoy changes the request it forwards. {@code scheme} and {@code authority} make the realm. Logs a
     * refusal (rate-limited) with the peer, the destination and the reason, never the token. Event loop; never blocks.
     */
    Outcome authenticate(Conn conn, List<JwtRule> rules, Message m, String scheme, String authority) {
        return authenticate(conn, rules, m, scheme, authority, null);
    }

    /**
     * The same, and after a {@link Hold} ({@code after} non-null: the step run again once the keys it waited for have
     * their first answer, or its timeout passed). A token whose rule's remote key set has no first answer yet is held, as
     * Envoy's remote-JWKS mode holds it (envoyproxy/envoy source/extensions/filters/http/jwt_authn/authenticator.cc
     * {@code AuthenticatorImpl::startVerify}: after the issuer, time and audience checks, no cached keys start the
     * {@code jwks_fetcher} and the verification continues in {@code onJwksSuccess}, or ends with {@code JwksFetchFail} in
     * {@code onJwksError}; without {@code async_fetch}, or with {@code fast_listener: false}, which is how the fetch waits
     * for a request): the outcome is {@link Outcome#held()}, nothing refused, logged or forwarded, and, as Envoy's
     * {@code AnyVerifierImpl} waits for every provider unless one verifies, only when no rule verified a token. After the
     * hold, a rule it waited for whose keys are still not there (the timeout) or are the public-only set of a failed first
     * fetch refuses with {@link JwtStatus#JWKS_FETCH_FAIL}, Envoy's {@code onJwksError}; never held twice.
     */
    Outcome authenticate(Conn conn, List<JwtRule> rules, Message m, String scheme, String authority, Hold after) {
        if (rules.isEmpty()) {
            return Outcome.NONE;
        }
        if (m.method().equals("OPTIONS") && !first(m, "origin").isEmpty() && !first(m, "access-control-request-method").isEmpty()) {
            // bypass_cors_preflight: a CORS preflight carries no credentials (filter.cc isCorsPreflightRequest).
            return Outcome.NONE;
        }
        List<JwtRule> sorted = new ArrayList<>(rules);
        sorted.sort(Comparator.comparing(JwtRule::issuer)); // newPolicyApplier: by issuer, stable
        for (JwtRule r : sorted) {
            // A remote key set's first fetch starts with the destination's first request, token or not, so that the
            // window in which a token is refused for want of keys is as short as it can be.
            keys.keys(r);
        }
        for (JwtRule r : sorted) {
            if (r.outputPayloadToHeader() != null && !r.outputPayloadToHeader().isEmpty()) {
                m.remove(lower(r.outputPayloadToHeader()));
            }
            for (JwtRule.ClaimToHeader c : r.outputClaimToHeaders()) {
                m.remove(lower(c.header()));
            }
        }
        long now = nowSeconds.getAsLong();
        List<JwtStatus> statuses = new ArrayList<>(sorted.size());
        List<JwtRule> waiting = null;
        for (JwtRule r : sorted) {
            Verified v = verify(r, m, now, after);
            if (v.status == JwtStatus.OK) {
                return new Outcome(apply(r, v, m), null, null);
            }
            if (v.status == null) {
                if (waiting == null) {
                    waiting = new ArrayList<>(2);
                }
                waiting.add(r);
                continue;
            }
            statuses.add(v.status);
        }
        if (waiting != null) {
            return new Outcome(null, null, null, hold(waiting));
        }
        JwtStatus result;
        if (sorted.size() == 1) {
            result = statuses.get(0) == JwtStatus.JWT_MISSED ? JwtStatus.OK : statuses.get(0);
        } else {
            // requires_all [requires_any [pi, allow_missing] ...]: the first rule whose token is there and fails.
            JwtStatus all = JwtStatus.OK;
            for (JwtStatus s : statuses) {
                if (s != JwtStatus.JWT_MISSED) {
                    all = s;
                    break;
                }
            }
            if (all == JwtStatus.OK) {
                return Outcome.NONE;
            }
            statuses.add(all);
            result = JwtStatus.JWT_MISSED;
            for (JwtStatus s : statuses) {
                if ((s != JwtStatus.JWT_MISSED && s != JwtStatus.JWT_UNKNOWN_ISSUER) || result == JwtStatus.JWT_MISSED) {
                    result = s;
                }
            }
        }
        if (result == JwtStatus.OK) {
            return Outcome.NONE;
        }
        List<String> origins = new ArrayList<>(sorted.size());
        for (JwtRule r : sorted) {
            origins.add(r.origin());
        }
        refusals.info("refused the JWT of {} {} from {} to {} ({}): {} (RequestAuthentication {})", m.method(), pathOnly(m.path()),
                conn.peer() == null ? "plaintext " + io.zerohop.core.Addresses.authority(conn.source()) : conn.peer(),
                io.zerohop.core.Addresses.authority(conn.destination()), conn.localId(), result.text, String.join(", ", origins));
        String path = m.path();
        return new Outcome(null, result, scheme + "://" + authority + (path.length() > MAX_URI_PATH ? path.substring(0, MAX_URI_PATH) : path));
    }

    /** A token found, where: a header's name, or a query parameter's, or a cookie. */
    private record Location(String token, String header, String param) {}

    private record Verified(JwtStatus status, List<Location> where, List<Jwt> jwts) {}

    /** A hold for {@code waiting}'s first key fetches. */
    private Hold hold(List<JwtRule> waiting) {
        CompletableFuture<?>[] answers = new CompletableFuture<?>[waiting.size()];
        Duration timeout = Duration.ZERO;
        for (int i = 0; i < answers.length; i++) {
            JwtRule r = waiting.get(i);
            answers[i] = keys.answered(r);
            Duration t = r.timeout() == null ? JwksCache.DEFAULT_TIMEOUT : r.timeout();
            if (t.compareTo(timeout) > 0) {
                timeout = t;
            }
        }
        return new Hold(List.copyOf(waiting), answers.length == 1 ? (CompletableFuture<Void>) answers[0] : CompletableFuture.allOf(answers), timeout);
    }

    /**
     * Runs {@code then} once on {@code loop}, when {@code hold}'s key sets have their first answer or after its timeout,
     * whichever comes first: the fetch completes on the HTTP client's threads and the request goes on on its own event
     * loop, which never waits for it. A loop already shut down runs nothing (its channels are closed, and what they held
     * released with them).
     */
    static void whenAnswered(Hold hold, io.netty.util.concurrent.EventExecutor loop, Runnable then) {
        boolean[] ran = new boolean[1];
        Runnable once = () -> {
            if (!ran[0]) {
                ran[0] = true;
                then.run();
            }
        };
        io.netty.util.concurrent.Future<?> timer;
        try {
            timer = loop.schedule(once, hold.timeout().toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException stopped) {
            return;
        }
        hold.answered().whenComplete((v, failure) -> {
            try {
                loop.execute(() -> {
                    timer.cancel(false);
                    once.run();
                });
            } catch (java.util.concurrent.RejectedExecutionException stopped) {
                // the loop is gone, and the held request with its channel
            }
        });
    }

    /** {@code status} null: the rule's keys have no first answer yet, and the token waits for them ({@link Hold}). */
    private Verified verify(JwtRule rule, Message m, long now, Hold after) {
        List<Location> found = extract(rule, m);
        if (found.isEmpty()) {
            return new Verified(JwtStatus.JWT_MISSED, List.of(), List.of());
        }
        List<Location> where = new ArrayList<>(found.size());
        List<Jwt> jwts = new ArrayList<>(found.size());
        // AuthenticatorImpl::startVerify takes tokens_.back() first; all of them must verify.
        for (int i = found.size() - 1; i >= 0; i--) {
            Jwt.Parsed p = Jwt.parse(found.get(i).token);
            if (p.jwt() == null) {
                return new Verified(p.status(), where, jwts);
            }
            Jwt jwt = p.jwt();
            JwtStatus s = check(rule, jwt, now, after);
            if (s != JwtStatus.OK) {
                return new Verified(s, where, jwts);
            }
            where.add(found.get(i));
            jwts.add(jwt);
        }
        return new Verified(JwtStatus.OK, where, jwts);
    }

    /** Null when the keys have no first answer yet and no hold waited for them. */
    private JwtStatus check(JwtRule rule, Jwt jwt, long now, Hold after) {
        // A rule without issuer takes any iss, an absent one too: Envoy's JwtIssuerChecker (extractor.cc) allows all
        // issuers for a provider whose issuer is empty, and AuthenticatorImpl::startVerify asks it first.
        if (!rule.issuer().isEmpty() && !jwt.iss.equals(rule.issuer())) {
            return JwtStatus.JWT_UNKNOWN_ISSUER;
        }
        JwtStatus time = jwt.checkTime(now, CLOCK_SKEW_SECONDS);
        if (time != JwtStatus.OK) {
            return time;
        }
        if (!audienceAllowed(rule.audiences(), jwt.audiences)) {
            return JwtStatus.JWT_AUDIENCE_NOT_ALLOWED;
        }
        Jwks k = keys.keys(rule);
        boolean waited = after != null && after.rules().contains(rule);
        if (k == null) {
            // Held already (its timeout passed), or after a hold for another rule: Envoy's onJwksError.
            return waited || after != null ? JwtStatus.JWKS_FETCH_FAIL : null;
        }
        if (waited && k == JwksCache.publicOnly()) {
            // The first fetch this request waited for failed: Envoy's remote mode answers the held request with its
            // fetch's failure (onJwksError), where later requests get istiod's fail-closed keys (JwksCache).
            return JwtStatus.JWKS_FETCH_FAIL;
        }
        if (!k.valid()) {
            return JwtStatus.JWKS_NO_VALID_KEYS;
        }
        return k.verify(jwt);
    }

    /** jwt_verify_lib {@code CheckAudience::areAudiencesAllowed}. */
    static boolean audienceAllowed(List<String> configured, List<String> audiences) {
        if (configured.isEmpty()) {
            return true;
        }
        for (String a : audiences) {
            String s = sanitizeAudience(a);
            for (String c : configured) {
                if (sanitizeAudience(c).equals(s)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static String sanitizeAudience(String aud) {
        if (aud.isEmpty()) {
            return aud;
        }
        int begin = aud.startsWith("http://") ? 7 : aud.startsWith("https://") ? 8 : 0;
        int end = aud.endsWith("/") ? aud.length() - 1 : aud.length();
        return begin > end ? "" : aud.substring(begin, end);
    }

    /** The outputs of the tokens {@code rule} verified, in the order verified; the payload of the last, which Envoy keeps. */
    private static RequestAuth apply(JwtRule rule, Verified v, Message m) {
        for (int i = 0; i < v.jwts.size(); i++) {
            Jwt jwt = v.jwts.get(i);
            if (rule.outputPayloadToHeader() != null && !rule.outputPayloadToHeader().isEmpty()) {
                m.add(lower(rule.outputPayloadToHeader()), jwt.payloadBase64url);
            }
            for (JwtRule.ClaimToHeader c : rule.outputClaimToHeaders()) {
                String value = claimText(claim(jwt.claims, c.claim()));
                if (value != null && !value.isEmpty()) {
                    m.add(lower(c.header()), value);
                }
            }
            if (!rule.forwardOriginalToken()) {
                Location where = v.where.get(i);
                if (where.header != null) {
                    m.remove(where.header);
                } else if (where.param != null) {
                    m.path(withoutParam(m.path(), where.param));
                }
            }
        }
        Jwt last = v.jwts.get(v.jwts.size() - 1);
        Map<String, Object> claims = new LinkedHashMap<>(last.claims);
        normalize(claims, SPACE_DELIMITED);
        normalize(claims, rule.spaceDelimitedClaims());
        String presenter = claims.get("azp") instanceof String azp ? azp : "";
        String principal = last.iss.isEmpty() || last.sub == null ? null : last.iss + "/" + last.sub;
        return new RequestAuth(principal, last.audiences, presenter, claims);
    }

    /**
     * Each top-level claim of {@code names} whose value is a string becomes the list of its non-empty space-separated
     * parts, as Envoy's {@code normalize_payload_in_metadata} (authenticator.cc {@code setPayloadMetadata}) with the
     * names istiod gives it: {@code scope}, {@code permission} and the rule's {@code spaceDelimitedClaims}
     * (policy_applier.go {@code buildSpaceDelimitedClaims}). A name given twice splits once: the second finds a list.
     * A string without any part ({@code ""}, spaces) stays that string, as in Envoy's.
     */
    private static void normalize(Map<String, Object> claims, List<String> names) {
        for (String name : names) {
            if (claims.get(name) instanceof String s) {
                List<Object> parts = new ArrayList<>();
                for (String p : s.split(" ")) {
                    if (!p.isEmpty()) {
                        parts.add(p);
                    }
                }
                if (!parts.isEmpty()) {
                    // Envoy writes the list one part at a time (mutable_list_value() on the first): a claim with no part,
                    // "" or only spaces, is never written and stays the string it was.
                    claims.put(name, parts);
                }
            }
        }
    }

    /** A claim by name, nested claims as {@code a.b} (jwt_verify_lib {@code StructUtils::GetValue}). */
    private static Object claim(Map<String, Object> claims, String name) {
        Object v = claims;
        for (String part : name.split("\\.", -1)) {
            if (!(v instanceof Map<?, ?> map) || !map.containsKey(part)) {
                return null;
            }
            v = map.get(part);
        }
        return v;
    }

    /**
     * authenticator.cc {@code addJWTClaimToHeader}: a string as it is, a boolean {@code true}/{@code false}, a number as an
     * integer when it is a non-negative whole one, else as C++'s {@code std::to_string(double)} ({@code %f}); else none.
     */
    static String claimText(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Boolean b) {
            return b ? "true" : "false";
        }
        if (v instanceof Long l) {
            return l >= 0 ? Long.toString(l) : String.format(java.util.Locale.ROOT, "%f", (double) l);
        }
        if (v instanceof Number n) {
            double d = n.doubleValue();
            if (d >= 0 && d < 1.8446744073709552E19 && d == Math.floor(d)) {
                return new java.math.BigDecimal(d).toBigInteger().toString();
            }
            return String.format(java.util.Locale.ROOT, "%f", d);
        }
        return null;
    }

    /** extractor.cc {@code ExtractorImpl::extract} for one rule. */
    private static List<Location> extract(JwtRule rule, Message m) {
        // std::map keyed by header name + prefix; then parameters and cookies by name.
        TreeMap<String, String[]> headers = new TreeMap<>();
        TreeMap<String, Boolean> params = new TreeMap<>();
        TreeMap<String, Boolean> cookies = new TreeMap<>();
        for (JwtRule.FromHeader h : rule.fromHeaders()) {
            headers.put(lower(h.name()) + h.prefix(), new String[] {lower(h.name()), h.prefix()});
        }
        for (String p : rule.fromParams()) {
            params.put(p, Boolean.TRUE);
        }
        for (String c : rule.fromCookies()) {
            cookies.put(c, Boolean.TRUE);
        }
        if (rule.fromHeaders().isEmpty() && rule.fromParams().isEmpty() && rule.fromCookies().isEmpty()) {
            headers.put("authorizationBearer ", new String[] {"authorization", "Bearer "});
            params.put("access_token", Boolean.TRUE);
        }
        List<Location> out = new ArrayList<>(2);
        for (String[] h : headers.values()) {
            List<String> values = m.headers(h[0]);
            if (values.isEmpty()) {
                continue;
            }
            // HeaderUtility::getAllOfHeaderAsString: a header sent several times is one value, joined with ',', and so
            // one location with one token (with a prefix, the first one). Until 6 December each value was a token of
            // its own: "Bearer <valid>" then "Bearer x" was refused where Envoy verifies the first, and two valid
            // tokens without a prefix were let through where Envoy refuses the joined text.
            String value = values.size() == 1 ? values.get(0) : String.join(",", values);
            String token = value;
            if (!h[1].isEmpty()) {
                int pos = value.indexOf(h[1]);
                if (pos < 0) {
                    continue;
                }
                token = extractJwt(value, pos + h[1].length());
            }
            out.add(new Location(token, h[0], null));
        }
        if (!params.isEmpty()) {
            Map<String, String> query = query(m.path());
            for (String p : params.keySet()) {
                String v = query.get(p);
                if (v != null) {
                    out.add(new Location(v, null, p));
                }
            }
        }
        if (!cookies.isEmpty()) {
            Map<String, String> jar = cookies(m.headers("cookie"), cookies);
            for (String c : cookies.keySet()) {
                String v = jar.get(c);
                if (v != null) {
                    out.add(new Location(v, null, null));
                }
            }
        }
        return out;
    }

    /**
     * extractor.cc {@code ExtractorImpl::extractJWT}: the run of base64url characters and '.' that starts at the first
     * of them at or after {@code after}, up to the first other character ({@code "Bearer <token>, ..."} is the token);
     * all of {@code value} when there is none. Until 6 December the token ran to the value's end.
     */
    private static String extractJwt(String value, int after) {
        int start = after;
        while (start < value.length() && !jwtChar(value.charAt(start))) {
            start++;
        }
        if (start == value.length()) {
            return value;
        }
        int end = start;
        while (end < value.length() && jwtChar(value.charAt(end))) {
            end++;
        }
        return value.substring(start, end);
    }

    /** extractor.cc {@code ConstantBase64UrlEncodingCharsPlusDot}. */
    private static boolean jwtChar(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    }

    /** Each parameter's first value, name and value percent-decoded (Envoy's {@code parseAndDecodeQueryString}). */
    private static Map<String, String> query(String path) {
        Map<String, String> out = new LinkedHashMap<>();
        int q = path.indexOf('?');
        if (q < 0) {
            return out;
        }
        for (String part : path.substring(q + 1).split("&")) {
            if (part.isEmpty()) {
                continue;
            }
            int eq = part.indexOf('=');
            out.putIfAbsent(decode(eq < 0 ? part : part.substring(0, eq)), eq < 0 ? "" : decode(part.substring(eq + 1)));
        }
        return out;
    }

    /** {@code path} without every {@code name=...} of its query ({@code JwtParamLocation::removeJwt}). */
    static String withoutParam(String path, String name) {
        int q = path.indexOf('?');
        if (q < 0) {
            return path;
        }
        StringBuilder kept = new StringBuilder();
        for (String part : path.substring(q + 1).split("&")) {
            if (part.isEmpty()) {
                continue;
            }
            int eq = part.indexOf('=');
            if (decode(eq < 0 ? part : part.substring(0, eq)).equals(name)) {
                continue;
            }
            if (kept.length() > 0) {
                kept.append('&');
            }
            kept.append(part);
        }
        return kept.length() == 0 ? path.substring(0, q) : path.substring(0, q + 1) + kept;
    }

    private static String decode(String s) {
        try {
            return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return s;
        }
    }

    /**
     * Envoy's {@code Utility::parseCookies}: each {@code name=value} of each {@code cookie} header, split on ';', leading
     * whitespace dropped, a value's surrounding double quotes removed; the first of a name wins.
     */
    private static Map<String, String> cookies(List<String> headers, Map<String, Boolean> wanted) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String h : headers) {
            for (String part : h.split(";")) {
                String p = part.stripLeading();
                int eq = p.indexOf('=');
                if (eq < 0) {
                    continue;
                }
                String k = p.substring(0, eq);
                String v = p.substring(eq + 1);
                if (!wanted.containsKey(k) || out.containsKey(k)) {
                    continue;
                }
                if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                    v = v.substring(1, v.length() - 1);
                }
                out.put(k, v);
            }
        }
        return out;
    }

    private static String first(Message m, String name) {
        List<String> v = m.headers(name);
        return v.isEmpty() ? "" : v.get(0);
    }

    private static String pathOnly(String path) {
        int q = path.indexOf('?');
        return q < 0 ? path : path.substring(0, q);
    }

    private static String lower(String s) {
        return s.toLowerCase(java.util.Locale.ROOT);
    }

    /** An HTTP/1 request head as a {@link Message}. */
    static Message of(HttpRequest req) {
        return new Message() {
            @Override
            public String method() {
                return req.method().name();
            }

            @Override
            public List<String> headers(String name) {
                return req.headers().getAll(name);
            }

            @Override
            public void remove(String name) {
                req.headers().remove(name);
            }

            @Override
            public void add(String name, String value) {
                req.headers().add(name, value);
            }

            @Override
            public String path() {
                return req.uri();
            }

            @Override
            public void path(String path) {
                req.setUri(path);
            }
        };
    }

    /** An HTTP/2 request's headers as a {@link Message}; {@code path} is read and set through {@code h.path()}. */
    static Message of(Http2Headers h, String method) {
        return new Message() {
            @Override
            public String method() {
                return method;
            }

            @Override
            public List<String> headers(String name) {
                List<CharSequence> all = h.getAll(name);
                List<String> out = new ArrayList<>(all.size());
                for (CharSequence c : all) {
                    out.add(c.toString());
                }
                return out;
            }

            @Override
            public void remove(String name) {
                h.remove(name);
            }

            @Override
            public void add(String name, String value) {
                h.add(name, value);
            }

            @Override
            public String path() {
                return h.path().toString();
            }

            @Override
            public void path(String path) {
                h.path(path);
            }
        };
    }
}
