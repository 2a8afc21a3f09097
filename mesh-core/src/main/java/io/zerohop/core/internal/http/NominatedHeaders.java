package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The headers an HTTP/1 request's {@code Connection} header nominates as hop-by-hop (RFC 9110 section 7.6.1), handled
 * as Envoy's HTTP/1 server codec handles them before any filter sees the request (envoyproxy/envoy
 * source/common/http/http1/codec_impl.cc {@code ServerConnectionImpl::onHeadersCompleteBase}, calling
 * source/common/http/utility.cc {@code Utility::sanitizeConnectionHeader} on every request that is not an upgrade; envoy
 * issue 8623): each nominated header is removed, and its token with it, so RBAC decides without it and the application
 * never reads it. Tokens that name no header ({@code close}, {@code keep-alive}, {@code upgrade},
 * {@code http2-settings}) stay; {@code connection} naming itself stays; a nominated {@code TE} stays, as
 * {@code trailers}, only when it lists {@code trailers}; a nominated {@code Content-Length} or {@code Transfer-Encoding} loses
 * its token but stays, since the body forwarded is framed by it (Envoy's upstream codec frames the body anew). The request is refused (400, {@code http1.connection_header_rejected},
 * "Invalid nominated headers in Connection.") when {@code Connection} lists 10 or more tokens (envoy
 * test/common/http/http1/codec_impl_test.cc {@code SketchyConnectionHeader}), nominates {@code x-forwarded-for},
 * {@code x-forwarded-host} or {@code x-forwarded-proto} or a pseudo-header (a token starting with {@code :}), or nominates a
 * {@code TE} of 256 bytes or more.
 *
 * <p>Until 6 December zerohop decided on and forwarded a nominated header: {@code Connection: x-user} with
 * {@code X-User: alice} met an ALLOW rule on {@code request.headers[x-user]} that Envoy, having removed the header,
 * answers 403, and an application behind a proxy of its own lost a header zerohop had decided on.
 */
final class NominatedHeaders {
    /** Envoy's {@code MAX_ALLOWED_NOMINATED_HEADERS}: this many tokens or more is a refusal. */
    static final int MAX_TOKENS = 10;
    /** Envoy's {@code MAX_ALLOWED_TE_VALUE_SIZE}. */
    static final int MAX_TE = 256;

    private NominatedHeaders() {}

    /**
     * Removes what {@code req}'s {@code Connection} nominates, unless {@code req} is an upgrade (a {@code Connection}
     * token {@code upgrade} and an {@code Upgrade} header, other than {@code h2c}: Envoy's codec leaves an upgrade's
     * headers as they are, {@code handling_upgrade_}, and strips {@code h2c}'s tokens, which this skips anyway).
     *
     * @return null when {@code req} may go on, else why Envoy answers it 400
     */
    static String sanitize(HttpRequest req) {
        HttpHeaders h = req.headers();
        if (!h.contains(HttpHeaderNames.CONNECTION)) {
            return null;
        }
        List<String> values = h.getAll(HttpHeaderNames.CONNECTION);
        // Envoy's header map holds repeated Connection lines as one value joined with ',' (an inline header).
        String value = values.size() == 1 ? values.get(0) : String.join(",", values);
        List<String> tokens = new ArrayList<>();
        for (String t : value.split(",", -1)) {
            if (!t.isEmpty()) {
                tokens.add(t); // StringUtil::splitToken(..., keep_empty_string = false): " " is still a token
            }
        }
        if (isUpgrade(h, tokens)) {
            return null;
        }
        if (tokens.size() >= MAX_TOKENS) {
            return "Invalid nominated headers in Connection: " + tokens.size() + " tokens, " + MAX_TOKENS
                    + " or more (Envoy's http1.connection_header_rejected)";
        }
        List<String> removed = new ArrayList<>();
        for (String t : tokens) {
            String token = t.strip().toLowerCase(Locale.ROOT);
            if (token.equals("close") || token.equals("keep-alive") || token.equals("upgrade") || token.equals("http2-settings")) {
                continue;
            }
            if (token.equals("connection")) {
                removed.add(token); // the token goes, the header stays
                continue;
            }
            if (token.equals("x-forwarded-for") || token.equals("x-forwarded-host") || token.equals("x-forwarded-proto")
                    || token.startsWith(":")) {
                return "Invalid nominated headers in Connection: \"" + t.strip() + "\" (Envoy's http1.connection_header_rejected)";
            }
            if (token.equals("te") && h.contains(HttpHeaderNames.TE)) {
                String te = String.join(",", h.getAll(HttpHeaderNames.TE));
                if (te.length() >= MAX_TE) {
                    return "Invalid nominated headers in Connection: a TE of " + te.length() + " bytes, " + MAX_TE
                            + " or more (Envoy's http1.connection_header_rejected)";
                }
                if (listsTrailers(te)) {
                    h.set(HttpHeaderNames.TE, "trailers");
                    continue;
                }
            }
            if (!token.isEmpty() && !token.equals("content-length") && !token.equals("transfer-encoding")) {
                // The framing headers stay: the body was framed by them and Netty's encoder frames it again from them, where
                // Envoy's upstream codec frames it anew whatever was removed. Without them the application would read the
                // body as the next request.
                h.remove(token);
            }
            removed.add(token);
        }
        if (!removed.isEmpty()) {
            dropTokens(h, removed);
        }
        return null;
    }

    /**
     * Rewrites {@code h}'s {@code Connection} lines as one, without the tokens in {@code lowerCase} (compared in lower
     * case), or removes the header when no token is left.
     */
    static void dropTokens(HttpHeaders h, java.util.Collection<String> lowerCase) {
        List<String> kept = new ArrayList<>();
        for (String line : h.getAll(HttpHeaderNames.CONNECTION)) {
            for (String t : line.split(",")) {
                String token = t.strip();
                if (!token.isEmpty() && !lowerCase.contains(token.toLowerCase(Locale.ROOT))) {
                    kept.add(token);
                }
            }
        }
        if (kept.isEmpty()) {
            h.remove(HttpHeaderNames.CONNECTION);
        } else {
            h.set(HttpHeaderNames.CONNECTION, String.join(",", kept));
        }
    }

    /** Envoy's {@code Utility::isUpgrade} less {@code h2c}, which its codec does not take as one. */
    private static boolean isUpgrade(HttpHeaders h, List<String> tokens) {
        if (!h.contains(HttpHeaderNames.UPGRADE)) {
            return false;
        }
        boolean upgrade = false;
        for (String t : tokens) {
            upgrade |= t.strip().equalsIgnoreCase("upgrade");
        }
        return upgrade && !String.join(",", h.getAll(HttpHeaderNames.UPGRADE)).strip().equalsIgnoreCase("h2c");
    }

    private static boolean listsTrailers(String te) {
        for (String t : te.split(",")) {
            if (t.strip().equalsIgnoreCase("trailers")) {
                return true;
            }
        }
        return false;
    }
}
