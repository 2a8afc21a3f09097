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
 * stays. Anything else (authority-form, {@code GET admin}) is refused. A path (before {@code ?})
 * with an encoded NUL ({@code %00}) is refused too: Envoy's path normalization, which istiod turns
 * on ({@code BASE}), fails on it and the request gets 400 before any filter (envoyproxy/envoy
 * source/common/http/path_utility.cc, test/common/http/path_utility_test.cc {@code InvalidPaths}),
 * on every request, whether or not a policy would look at the path.
 */
final class RequestTarget {
    private RequestTarget() {}

    /** @return null when the target is acceptable (now in origin-form, {@code req} rewritten), else why it is not */
    static String toOriginForm(HttpRequest req) {
        String uri = req.uri();
        if (uri.startsWith("/")) {
            return encodedNul(uri);
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
        String nul = encodedNul(path);
        if (nul != null) {
            return nul;
        }
        req.setUri(path);
        req.headers().set(HttpHeaderNames.HOST, authority);
        return null;
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
