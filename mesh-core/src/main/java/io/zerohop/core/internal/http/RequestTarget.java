package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import java.util.Locale;

/**
 * Puts an HTTP/1 request target in origin-form before anything decides on it, as Envoy's HTTP/1
 * codec does before its filters (RFC 9112 section 3.2): an absolute-form target
 * ({@code GET http://b/admin}) becomes {@code /admin} with {@code Host} taken from its authority
 * (section 3.2.2), so the path RBAC matches is the path the application serves. OPTIONS {@code *}
 * stays. Anything else (authority-form, {@code GET admin}) is refused, and so is a request with
 * more than one {@code Host} header (RFC 9112 section 3.2) or a fragment ({@link #invalidPath}). A path (before {@code ?})
 * with an encoded NUL ({@code %00}) is refused too: Envoy's path normalization, which istiod turns
 * on ({@code BASE}), fails on it and the request gets 400 before any filter (envoyproxy/envoy
 * source/common/http/path_utility.cc, test/common/http/path_utility_test.cc {@code InvalidPaths}),
 * on every request, whether or not a policy would look at the path.
 */
final class RequestTarget {
    private RequestTarget() {}

    /** @return null when the target is acceptable (now in origin-form, {@code req} rewritten), else why it is not */
    static String toOriginForm(HttpRequest req) {
        if (req.headers().getAll(HttpHeaderNames.HOST).size() > 1) {
            // RFC 9112 section 3.2: a server MUST answer 400. Deciding on one Host while the
            // application reads the other would let hosts/notHosts rules judge a request it never sees.
            return "more than one Host header";
        }
        String uri = req.uri();
        if (uri.startsWith("/")) {
            return invalidPath(uri);
        }
        if (uri.equals("*") && req.method() == HttpMethod.OPTIONS) {
            return null;
        }
        int scheme = uri.indexOf("://");
        String s = scheme > 0 ? uri.substring(0, scheme).toLowerCase(Locale.ROOT) : "";
        if (!s.equals("http") && !s.equals("https")) {
            return "request target \"" + uri + "\" is neither origin-form nor absolute-form";
        }
        String rest = uri.substring(scheme + 3);
        int slash = indexOfAny(rest, "/?#");
        String authority = slash < 0 ? rest : rest.substring(0, slash);
        if (authority.isEmpty() || authority.contains("@")) {
            return "request target \"" + uri + "\" has no usable authority";
        }
        String path = slash < 0 ? "/" : rest.substring(slash);
        if (!path.startsWith("/")) {
            path = "/" + path;
        }
        String bad = invalidPath(path);
        if (bad != null) {
            return bad;
        }
        req.setUri(path);
        req.headers().set(HttpHeaderNames.HOST, authority);
        return null;
    }

    /**
     * @return null, or why Envoy answers {@code target} (origin-form) with 400 before any filter: a
     *         fragment ({@code #}, which a request target never has: RFC 9112 section 3.2, RFC 9113
     *         section 8.3.1; Envoy's default {@code envoy.reloadable_features.http_reject_path_with_fragment},
     *         added for CVE-2021-32779, where {@code /admin#x} slipped past RBAC rules on {@code /admin}),
     *         or an encoded NUL in the path
     */
    static String invalidPath(String target) {
        if (target.indexOf('#') >= 0) {
            return "request target \"" + target + "\" has a fragment (#)";
        }
        return encodedNul(target);
    }

    /** @return null, or why {@code target}'s path (up to {@code ?} or {@code #}) cannot be normalised */
    static String encodedNul(String target) {
        int end = indexOfAny(target, "?#");
        int nul = target.indexOf("%00");
        return nul >= 0 && (end < 0 || nul < end) ? "request path \"" + target + "\" has an encoded NUL (%00)" : null;
    }

    private static int indexOfAny(String s, String chars) {
        for (int i = 0; i < s.length(); i++) {
            if (chars.indexOf(s.charAt(i)) >= 0) {
                return i;
            }
        }
        return -1;
    }
}
