package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.zerohop.core.HeaderValidation;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import java.util.Arrays;
import java.util.Locale;

/**
 * Puts an HTTP/1 request target in origin-form before anything decides on it, as Envoy's HTTP/1
 * codec does before its filters (RFC 9112 section 3.2): an absolute-form target
 * ({@code GET http://b/admin}) becomes {@code /admin} with {@code Host} taken from its authority
 * (section 3.2.2, userinfo dropped as Envoy's codec drops it), so the path RBAC matches is the path the application
 * serves. OPTIONS {@code *}
 * stays. Anything else (authority-form, {@code GET admin}) is refused, and so is a request with
 * more than one {@code Host} header (RFC 9112 section 3.2), a fragment ({@link #invalidPath}), a method
 * or a target character Envoy's HTTP/1 codec refuses ({@link #METHODS}, {@link #invalidCharacters}). A path (before {@code ?})
 * with an encoded NUL ({@code %00}) is refused too: Envoy's path normalization, which istiod turns
 * on ({@code BASE}), fails on it and the request gets 400 before any filter (envoyproxy/envoy
 * source/common/http/path_utility.cc, test/common/http/path_utility_test.cc {@code InvalidPaths}),
 * on every request, whether or not a policy would look at the path.
 */
final class RequestTarget {
    private RequestTarget() {}

    /** @return null when the target is acceptable (now in origin-form, {@code req} rewritten), else why it is not */
    static String toOriginForm(HttpRequest req) {
        String method = req.method().name();
        if (Arrays.binarySearch(METHODS, method) < 0) {
            // Envoy's HTTP/1 parser refuses it (allow_custom_methods is off in Istio): forwarding it
            // would hand the application a `delete` that methods/notMethods rules never matched as DELETE.
            return "method \"" + method + "\" is not one Envoy's HTTP/1 codec accepts";
        }
        String chars = invalidCharacters(req.uri());
        if (chars != null) {
            return chars;
        }
        if (req.headers().getAll(HttpHeaderNames.HOST).size() > 1) {
            // RFC 9112 section 3.2: a server MUST answer 400. Deciding on one Host while the
            // application reads the other would let hosts/notHosts rules judge a request it never sees.
            return "more than one Host header";
        }
        String uri = req.uri();
        if (req.method() == HttpMethod.CONNECT) {
            // Envoy's HTTP/1 codec reads a CONNECT target as authority-form only (codec_impl.cc handlePath: the origin
            // form is for !is_connect); "/ok" is its 400 http1.invalid_url. Forwarded, the application got a CONNECT
            // (Node's 'connect' event hijacks the socket) and the responses after it lost their pairing (helper 251).
            // An authority-form CONNECT is not proxied here either: zerohop forwards requests, not tunnels.
            return "CONNECT request target \"" + uri + "\" is not forwarded (a CONNECT takes an authority-form target,"
                    + " and zerohop proxies requests, not tunnels)";
        }
        if (uri.startsWith("/")) {
            String bad = invalidPath(uri);
            return bad != null ? bad : invalidAuthority(req.headers().get(HttpHeaderNames.HOST));
        }
        // '*' for OPTIONS only, as Envoy's HTTP/1 codec (codec_impl.cc handlePath): another method's '*' is read as an
        // absolute URL there, fails, and is its 400 http1.invalid_url, as below.
        if (uri.equals("*") && req.method() == HttpMethod.OPTIONS) {
            return invalidAuthority(req.headers().get(HttpHeaderNames.HOST));
        }
        int scheme = uri.indexOf("://");
        String s = scheme > 0 ? uri.substring(0, scheme).toLowerCase(Locale.ROOT) : "";
        if (!s.equals("http") && !s.equals("https")) {
            return "request target \"" + uri + "\" is neither origin-form nor absolute-form";
        }
        String rest = uri.substring(scheme + 3);
        int slash = indexOfAny(rest, "/?#");
        String authority = slash < 0 ? rest : rest.substring(0, slash);
        int at = authority.indexOf('@');
        if (at >= 0) {
            // Userinfo, as Envoy's codec reads it (codec_impl.cc handlePath, utility.cc Utility::Url::initialize with
            // http_parser's http_parser_parse_url): the host and port after the '@' are the request's authority, the
            // userinfo goes nowhere (neither the decision nor the application sees it); a second '@' or a character
            // http_parser's userinfo state does not take is not a URL, 400 http1.invalid_url. Until 7 December zerohop
            // refused every userinfo (RFC 9110 section 4.2.4's "SHOULD ... treat its presence as an error", meant for
            // user agents); what the policy decides and what the application reads stay the same host either way.
            if (authority.indexOf('@', at + 1) >= 0 || !userinfo(authority.substring(0, at))) {
                return "request target \"" + uri + "\" has no usable authority";
            }
            authority = authority.substring(at + 1);
        }
        if (authority.isEmpty()) {
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
        String badAuthority = invalidAuthority(authority);
        if (badAuthority != null) {
            return badAuthority;
        }
        String badPort = invalidPort(authority);
        if (badPort != null) {
            return "request target \"" + uri + "\" " + badPort;
        }
        req.setUri(path);
        req.headers().set(HttpHeaderNames.HOST, authority);
        return null;
    }

    /**
     * Whether {@code s} is userinfo as http_parser takes it ({@code http_parse_host_char}, state {@code s_http_userinfo}):
     * letters, digits, {@code -_.!~*'()}, {@code %;:&=+$,}.
     */
    private static boolean userinfo(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean alnum = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9';
            if (!alnum && "-_.!~*'()%;:&=+$,".indexOf(c) < 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * @return null, or why an absolute-form target's authority has no port a URL can have: digits only, at most 65535.
     *         Envoy's codec parses the absolute URL ({@code codec_impl.cc} {@code handlePath}, {@code Utility::Url}) and
     *         answers one whose port is not a number or too large 400 {@code http1.invalid_url} (envoyproxy/envoy
     *         test/common/http/http1/codec_impl_test.cc {@code Http11AbsolutePortTooLarge},
     *         {@code GET http://foobar.com:1000000}), where the authority check alone took it and zerohop forwarded
     *         {@code Host: foobar.com:1000000} until 6 December. The port is read as http_parser's
     *         {@code http_parser_parse_url} reads it ({@code Utility::Url::initialize}): its digits' value, so leading zeros
     *         are fine ({@code a:000080}, which zerohop refused for its length on 6 December), and a target that ends where
     *         its port should start ({@code a:}, the parser's port-start state) is refused, where zerohop forwarded
     *         {@code Host: a:}.
     */
    static String invalidPort(String authority) {
        int colon = authority.startsWith("[") ? authority.indexOf("]:") + 1 : authority.indexOf(':');
        if (colon <= 0) {
            return null;
        }
        String port = authority.substring(colon + 1);
        int value = port.isEmpty() ? -1 : 0;
        for (int i = 0; i < port.length() && value >= 0; i++) {
            char c = port.charAt(i);
            value = c >= '0' && c <= '9' && value * 10 + (c - '0') <= 65535 ? value * 10 + (c - '0') : -1;
        }
        if (value < 0) {
            return "has an invalid port \"" + (port.length() > 16 ? port.substring(0, 16) + "..." : port) + "\"";
        }
        return null;
    }

    /**
     * @return null (also for no Host), or why Envoy answers {@code host} with 400 {@code http.invalid_authority} before
     *         any filter ({@link HeaderValidation#checkAuthority}, which the CLI's policy check uses too; Envoy's HTTP/1
     *         codec calls it through {@code requestHeadersValid}). Taken as written, {@code Host: blocked.example/}
     *         escaped a DENY on {@code hosts: [blocked.example]} and reached an application that reads it as that host
     *         (a new-user pass). HTTP/2's {@code :authority} goes through the same check ({@code H2Proxy}): Netty's codec
     *         lets SP and HTAB through, and until 5 December {@code " blocked.example"} escaped a hosts DENY there.
     */
    static String invalidAuthority(String host) {
        return host == null ? null : HeaderValidation.checkAuthority(host).orElse(null);
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

    /**
     * @return null, or why an HTTP/2 {@code :path} makes the request malformed before anything reads it: a control
     *         character, SP or DEL, which nghttp2 refuses in {@code :path} ({@code nghttp2_check_path}, under Envoy's
     *         HTTP/2 codec: "all characters valid by nghttp2_check_header_value minus SPC and HT", its documentation)
     *         although HTAB and SP pass Netty's field-value check (RFC 9110 section 5.5 allows them)
     */
    static String malformedH2Path(String path) {
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c <= 0x20 || c == 0x7F) {
                return String.format(":path has a character nghttp2 refuses (0x%02x at %d)", (int) c, i);
            }
        }
        return null;
    }

    /**
     * @return null, or why an HTTP/2 {@code :method} makes the request malformed: empty, or a character that is not an
     *         RFC 9110 {@code tchar}, which both of Envoy's HTTP/2 codec libraries refuse (google/quiche
     *         {@code quiche/http2/adapter/header_validator.cc} {@code IsValidMethod}, {@code kHttpTokenChars}; nghttp2
     *         {@code lib/nghttp2_http.c} {@code nghttp2_check_method}), as its connection manager does after them
     *         ({@code source/common/http/header_utility.cc} {@code requestHeadersValid}, {@code InvalidMethod}). Case is
     *         not checked: {@code get} is a method of its own, for Envoy as here.
     */
    static String malformedH2Method(String method) {
        if (method.isEmpty()) {
            return ":method is empty";
        }
        for (int i = 0; i < method.length(); i++) {
            char c = method.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "!#$%&'*+-.^_`|~".indexOf(c) >= 0)) {
                return String.format(":method has a character that is not a token's (0x%02x at %d)", (int) c, i);
            }
        }
        return null;
    }

    /**
     * @return null, or why an HTTP/2 request is malformed for its CONNECT pseudo-header fields: any {@code :protocol}
     *         (RFC 8441's extended CONNECT, which exists only on a connection whose server sent
     *         {@code SETTINGS_ENABLE_CONNECT_PROTOCOL = 1}, section 3; RFC 9113 section 8.3: an undefined pseudo-header
     *         field makes a request malformed), since zerohop never sends that setting, as Envoy does not where istiod
     *         configures it ({@code Http2ProtocolOptions.allow_connect} unset); or a {@code CONNECT} without
     *         {@code :protocol} that has {@code :path} or {@code :scheme} (RFC 9113 section 8.5). Both of Envoy's codec
     *         libraries refuse them (nghttp2 {@code lib/nghttp2_http.c}: {@code :protocol} only on a stream flagged
     *         {@code NGHTTP2_STREAM_FLAG_EXTENDED_CONNECT_ALLOWED}, set when the local settings enable it; google/quiche
     *         {@code quiche/http2/adapter/header_validator.cc}: {@code :protocol} only after {@code AllowConnect()}), as
     *         hyperium/h2 does ({@code src/proto/streams/recv.rs}, "cannot use :protocol if extended connect protocol is
     *         disabled", a stream reset with PROTOCOL_ERROR). Netty's codec checks neither: until 6 December
     *         {@code CONNECT :protocol websocket :path /deny/a} was decided as method {@code CONNECT}, so a DENY on
     *         {@code methods: [GET]} never matched it, and forwarded to an application that takes extended CONNECT, which
     *         Envoy would have reset or, with {@code allow_connect}, decided as {@code GET} with {@code Upgrade: websocket}
     */
    static String malformedH2Connect(String method, io.netty.handler.codec.http2.Http2Headers h) {
        if (h.contains(io.netty.handler.codec.http2.Http2Headers.PseudoHeaderName.PROTOCOL.value())) {
            return ":protocol (extended CONNECT) without SETTINGS_ENABLE_CONNECT_PROTOCOL";
        }
        if (method.equals("CONNECT") && (h.path() != null || h.scheme() != null)) {
            return "CONNECT with :path or :scheme and no :protocol";
        }
        return null;
    }

    /**
     * The methods Envoy's HTTP/1 codec accepts without {@code allow_custom_methods}, upper case, sorted
     * (envoyproxy/envoy source/common/http/http1/balsa_parser.cc {@code kValidMethods}, http-parser's list).
     */
    static final String[] METHODS = {
        "ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "MERGE",
        "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE", "MSEARCH", "NOTIFY", "OPTIONS", "PATCH", "POST",
        "PROPFIND", "PROPPATCH", "PURGE", "PUT", "REBIND", "REPORT", "SEARCH", "SOURCE", "SUBSCRIBE",
        "TRACE", "UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE"};

    /**
     * @return null, or why Envoy's HTTP/1 codec refuses the target's characters: in a path and query
     *         only {@code !} to {@code ~}, so no byte above 0x7E (which Netty reads as ISO-8859-1 and the
     *         application may read as UTF-8 or not at all). balsa_parser.cc {@code isUrlValid} (as http-parser)
     *         lets HTAB and FF into a URL too, but its request-line parser splits on HTAB as on SP, so such a request
     *         line has no valid version and is answered 400: refused here as well, before any policy reads the path
     */
    static String invalidCharacters(String target) {
        for (int i = 0; i < target.length(); i++) {
            char c = target.charAt(i);
            if (c < '!' || c > '~') {
                return String.format("request target has a character Envoy refuses (0x%02x at %d)", (int) c, i);
            }
        }
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
