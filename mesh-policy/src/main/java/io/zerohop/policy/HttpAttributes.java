package io.zerohop.policy;

import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The L7 view of one HTTP request. Header names are stored lower-case so that lookups are
 * case-insensitive as in HTTP/2, without allocating at evaluation time.
 *
 * @param method  request method, e.g. {@code GET}
 * @param path    request path as sent ({@code :path}, query included)
 * @param host    authority / Host header, may be empty
 * @param headers request headers keyed by lower-case name
 * @param auth    the request's verified JWT ({@link RequestAuth}), set by the runtime after it verified a token
 *                against the workload's {@link PolicyEngine#jwtRules}; null when the request carried no token that
 *                verified (no RequestAuthentication, no token, or a token for none of the rules). With null,
 *                {@code requestPrincipals} and {@code request.auth.*} match nothing and their {@code not} forms
 *                match, as Envoy's metadata matchers find no {@code jwt_authn} payload
 */
public record HttpAttributes(String method, String path, String host, Map<String, String> headers, RequestAuth auth) {

    /** A request without a verified JWT ({@link #auth()} null). */
    public HttpAttributes(String method, String path, String host, Map<String, String> headers) {
        this(method, path, host, headers, null);
    }

    public HttpAttributes {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(path, "path");
        host = host == null ? "" : host;
        if (headers == null || headers.isEmpty()) {
            headers = Map.of();
        } else {
            Map<String, String> lower = new TreeMap<>();
            for (Map.Entry<String, String> e : headers.entrySet()) {
                lower.put(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
            }
            headers = Map.copyOf(lower);
        }
    }

    /**
     * A request with no host and no headers.
     *
     * @param method as sent ({@code POST}; compared case-sensitively, as Envoy does)
     * @param path   the {@code :path} as sent, query included
     * @throws NullPointerException naming {@code method} or {@code path} when it is null
     */
    public static HttpAttributes of(String method, String path) {
        return new HttpAttributes(method, path, "", Map.of());
    }

    /**
     * The request target a proxy forwards once it has decided {@code target} (origin-form, query
     * included) with Istio's path rules: Envoy's {@code normalize_path}, which istiod turns on
     * ({@code BASE}), rewrites {@code :path} before any filter, so the application receives the path
     * RBAC matched, not the one sent. The path part is normalised as {@code paths} sees it
     * (percent-encoded unreserved characters decoded once, backslash to slash, dot segments
     * removed; {@code %2F} and {@code //} kept), the query kept as sent, a fragment dropped.
     *
     * @param target the request target as sent, not null
     * @return {@code target} itself when normalization changes nothing, the normalised target, or
     *         null when Envoy answers 400 instead ({@code %00}, a control character or an unpaired surrogate in the
     *         path)
     */
    public static String normalizedTarget(String target) {
        return io.zerohop.policy.internal.PathNormalizer.istioTarget(Objects.requireNonNull(target, "target"));
    }

    /**
     * The request target Cilium's Envoy forwards for {@code target}, its HTTP rules having matched it:
     * Cilium configures its HTTP connection manager with {@code normalize_path}, {@code merge_slashes} and
     * {@code path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT} ({@code http-normalize-path}, on by
     * default; cilium/cilium pkg/envoy/xds_server.go {@code getHttpFilterChainProto}), so the path part is
     * normalised as {@link #normalizedTarget} does, then repeated slashes merged, the query kept as sent, a
     * fragment dropped. A target with {@code %2F} or {@code %5C} in its path ({@link #hasEscapedSlash}) is
     * never forwarded there: Envoy answers 307 with this as its {@code location}.
     *
     * @param target the request target as sent, not null
     * @return {@code target} itself when nothing changes, the normalised target, or null when Envoy answers
     *         400 instead ({@code %00}, a control character or an unpaired surrogate in the path)
     */
    public static String ciliumTarget(String target) {
        return io.zerohop.policy.internal.PathNormalizer.forCilium(Objects.requireNonNull(target, "target"));
    }

    /**
     * Whether the path part of {@code target} (up to {@code ?} or {@code #}) holds {@code %2F} or {@code %5C}
     * in either case: what Envoy's {@code UNESCAPE_AND_REDIRECT} redirects (envoy
     * source/common/http/path_utility.cc {@code unescapeSlashes}).
     */
    public static boolean hasEscapedSlash(String target) {
        for (int i = 0; i + 2 < target.length(); i++) {
            char c = target.charAt(i);
            if (c == '?' || c == '#') {
                return false;
            }
            if (c == '%' && ((target.charAt(i + 1) == '2' && (target.charAt(i + 2) | 0x20) == 'f')
                    || (target.charAt(i + 1) == '5' && (target.charAt(i + 2) | 0x20) == 'c'))) {
                return true;
            }
        }
        return false;
    }

    /**
     * This request with {@code auth} as its verified JWT (null: none); method, path, host and headers shared.
     */
    public HttpAttributes withAuth(RequestAuth auth) {
        return auth == this.auth ? this : new HttpAttributes(method, path, host, headers, auth);
    }

    /** Header value by lower-case name, or null. */
    public String header(String lowerCaseName) {
        return headers.get(lowerCaseName);
    }
}
