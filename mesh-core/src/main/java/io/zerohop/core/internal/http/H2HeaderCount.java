package io.zerohop.core.internal.http;

import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;

/**
 * Envoy's {@code max_headers_count} (default 100, which istiod leaves) on an HTTP/2 request: Envoy's HTTP/2 codec
 * resets a stream whose header block has more fields (envoyproxy/envoy {@code source/common/http/http2/codec_impl.cc}
 * {@code ConnectionImpl::saveHeader}: {@code NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE}, details
 * {@code http2.too_many_headers}, stat {@code header_overflow}), before its connection manager or RBAC sees it;
 * HTTP/1 gets 431 instead ({@link Http1Decoder#MAX_HEADERS_COUNT}).
 */
final class H2HeaderCount {
    /**
     * The reset's code: nghttp2 and oghttp2 answer that callback failure with RST_STREAM INTERNAL_ERROR (nghttp2.h
     * {@code nghttp2_on_header_callback}).
     */
    static final Http2Error RESET = Http2Error.INTERNAL_ERROR;
    private static final AsciiString COOKIE = AsciiString.cached("cookie");

    private H2HeaderCount() {}

    /**
     * The fields Envoy counts: pseudo-header fields included (its request header map holds them), {@code cookie}
     * fields left out (its codec joins them apart and adds the one {@code cookie} header after counting;
     * {@code StreamImpl::saveHeader}, {@code reconstituteCrumbledCookies}). Never negative.
     */
    static int counted(Http2Headers h) {
        return h.size() - h.getAll(COOKIE).size();
    }

    /** Why {@code h} is refused (for the access line's {@code reason}), or null when it is within the count. */
    static String tooMany(Http2Headers h) {
        int n = counted(h);
        return n <= Http1Decoder.MAX_HEADERS_COUNT ? null
                : "HTTP/2 request has " + n + " header fields, more than " + Http1Decoder.MAX_HEADERS_COUNT
                        + " (Envoy's max_headers_count)";
    }
}
