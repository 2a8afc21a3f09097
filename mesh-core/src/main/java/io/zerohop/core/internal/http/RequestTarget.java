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
 * stays. Anything else (authority-form, {@code GET admin}) is refused.
 */
final class RequestTarget {
    private RequestTarget() {}

    /** @return null when the target is acceptable (now in origin-form, {@code req} rewritten), else why it is not */
    static String toOriginForm(HttpRequest req) {
        String uri = req.uri();
        if (uri.startsWith("/")) {
            return null;
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
        req.setUri(path);
        req.headers().set(HttpHeaderNames.HOST, authority);
        return null;
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
