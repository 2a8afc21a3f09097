package io.zerohop.core.internal.http;

import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;

/**
 * Envoy's {@code max_headers_count} (default 100, which istiod leaves) and {@code max_request_headers_kb} (60) on an
 * HTTP/2 request: Envoy's HTTP/2 codec resets a stream whose header block has more fields or bytes (envoyproxy/envoy {@code source/common/http/http2/codec_impl.cc}
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
    /**
     * The downstream codec's SETTINGS_MAX_HEADER_LIST_SIZE, in bytes: Envoy's 60 KiB of names and values
     * ({@code max_request_headers_kb}) plus HPACK's 32 bytes per field (RFC 7541 section 4.1) for the 100 fields, so
     * that Netty's own check (its default 8 KiB answered 431 to a 10 KB header Envoy takes) never refuses what Envoy
     * accepts; {@link #tooMany} then holds Envoy's limits. Past it Netty answers 431 itself.
     */
    static final long LIST_SIZE = Http1Decoder.MAX_HEADER_SIZE + 32L * Http1Decoder.MAX_HEADERS_COUNT;
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

    /**
     * The bytes Envoy's codec counts against {@code max_request_headers_kb}: each counted field's name and value
     * lengths (its header map's {@code byteSize()}), the same fields as {@link #counted}.
     */
    static long bytes(Http2Headers h) {
        long n = 0;
        for (java.util.Map.Entry<CharSequence, CharSequence> e : h) {
            if (!COOKIE.contentEqualsIgnoreCase(e.getKey())) {
                n += e.getKey().length() + e.getValue().length();
            }
        }
        return n;
    }

    /**
     * Why {@code h} is refused (for the access line's {@code reason}), or null when it is within Envoy's count and
     * size ({@code saveHeader} checks both: more than {@code max_request_headers_kb} bytes resets as well).
     */
    static String tooMany(Http2Headers h) {
        int n = counted(h);
        if (n > Http1Decoder.MAX_HEADERS_COUNT) {
            return "HTTP/2 request has " + n + " header fields, more than " + Http1Decoder.MAX_HEADERS_COUNT
                    + " (Envoy's max_headers_count)";
        }
        long size = bytes(h);
        return size <= Http1Decoder.MAX_HEADER_SIZE ? null
                : "HTTP/2 request headers have " + size + " bytes, more than " + Http1Decoder.MAX_HEADER_SIZE
                        + " (Envoy's max_request_headers_kb)";
    }
}
