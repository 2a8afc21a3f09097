package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.zerohop.core.HeaderValidation;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The headers an HTTP/1 request's {@code Connection} header nominates as hop-by-hop (RFC 9110 section 7.6.1), handled
 * as Envoy's HTTP/1 server codec handles them before any filter sees the request (envoyproxy/envoy
 * source/common/http/http1/codec_impl.cc {@code ServerConnectionImpl::onHeadersCompleteBase}, calling
 * source/common/http/utility.cc {@code Utility::sanitizeConnectionHeader} on every request that is not an upgrade; envoy
 * issue 8623): each nominated header is removed, and its token with it, so RBAC decides without it and the application
 * never reads it ({@link HeaderValidation#connectionNominations} has the rules, shared with {@code zerohop policy check}).
 * Tokens that name no header ({@code close}, {@code keep-alive}, {@code upgrade},
 * {@code http2-settings}) stay; {@code connection} naming itself loses its token; a nominated {@code TE} stays, as
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
    private NominatedHeaders() {}

    /**
     * Removes what {@code req}'s {@code Connection} nominates, by {@link HeaderValidation#connectionNominations}, the
     * rules {@code zerohop policy check} applies too. The common {@code Connection: keep-alive} or {@code close} alone
     * (one line, one token) nominates nothing and is passed over without splitting it or making lists.
     *
     * @return null when {@code req} may go on, else why Envoy answers it 400
     */
    static String sanitize(HttpRequest req) {
        HttpHeaders h = req.headers();
        java.util.Iterator<String> lines = h.valueStringIterator(HttpHeaderNames.CONNECTION);
        if (!lines.hasNext()) {
            return null;
        }
        String first = lines.next();
        if (!lines.hasNext() && (first.equalsIgnoreCase("keep-alive") || first.equalsIgnoreCase("close"))) {
            return null;
        }
        // Envoy's header map holds repeated Connection lines as one value joined with ',' (an inline header).
        String connection = lines.hasNext() ? String.join(",", h.getAll(HttpHeaderNames.CONNECTION)) : first;
        HeaderValidation.Nominations n = HeaderValidation.connectionNominations(connection, joined(h, HttpHeaderNames.UPGRADE),
                joined(h, HttpHeaderNames.TE));
        if (n.refusal().isPresent()) {
            return n.refusal().get();
        }
        for (String name : n.removedHeaders()) {
            // The framing headers are never among them: the body was framed by them and Netty's encoder frames it again
            // from them, where Envoy's upstream codec frames it anew whatever was removed.
            h.remove(name);
        }
        if (n.teAsTrailers()) {
            h.set(HttpHeaderNames.TE, "trailers");
        }
        if (!n.droppedTokens().isEmpty()) {
            dropTokens(h, n.droppedTokens());
        }
        return null;
    }

    /** {@code name}'s lines joined with ",", or null when absent. */
    private static String joined(HttpHeaders h, CharSequence name) {
        List<String> all = h.getAll(name);
        return all.isEmpty() ? null : all.size() == 1 ? all.get(0) : String.join(",", all);
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
}
