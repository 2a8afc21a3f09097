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
     * The application's stream's reset when a request is reset after it was forwarded (its trailers over the limits):
     * Envoy's router resets its upstream request with a local reset, which its HTTP/2 codec sends as INTERNAL_ERROR
     * since Envoy 1.37 (NO_ERROR before; 1.37.0 release notes, runtime guard {@code reset_with_error};
     * {@code codec_impl.cc} {@code reasonToReset}).
     */
    static final Http2Error UPSTREAM_RESET = Http2Error.INTERNAL_ERROR;
    /**
     * The downstream codec's SETTINGS_MAX_HEADER_LIST_SIZE, in decoded bytes (256 KiB): far enough above Envoy's 60 KiB
     * ({@code max_request_headers_kb}) that a request over Envoy's limit reaches {@link #tooMany} and is reset as Envoy
     * resets it, instead of Netty's own answer. Netty still bounds what one header block may hold, which bounds the
     * memory a connection can make this side hold for it: past this many decoded bytes Netty answers 431 itself (its
     * {@code Http2ConnectionHandler.onStreamError}, {@code handleServerHeaderDecodeSizeError}), and past 1.25 times as
     * many encoded bytes in one block (HEADERS and its CONTINUATIONs) it ends the connection (GOAWAY). Until 2 December
     * it was 60 KiB plus HPACK's 32 bytes per field for 100 fields (63 KiB): a request of 63 to 79 KiB got 431 where
     * Envoy resets it, and a larger one ended the whole connection.
     *
     * <p>Envoy (nghttp2) itself has a bound of another kind: a header whose encoded name or value is longer than 64 KiB
     * is a compression error, and ends the connection (nghttp2 {@code lib/nghttp2_hd.h} {@code NGHTTP2_HD_MAX_NV};
     * envoyproxy/envoy {@code test/common/http/http2/codec_impl_test.cc} {@code LargeRequestHeadersExceedPerHeaderLimit}:
     * an 80 KiB header, GOAWAY). Netty decodes such a header; zerohop resets that one stream.
     */
    static final long LIST_SIZE = 256 * 1024;
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
     * Why the request header block {@code h} is refused (for the access line's {@code reason}), or null when it is within
     * Envoy's count and size ({@code saveHeader} checks both: more than {@code max_request_headers_kb} bytes resets as
     * well).
     */
    static String tooMany(Http2Headers h) {
        return tooMany(h, "request has ", " header fields", "request headers have ");
    }

    /**
     * As {@link #tooMany(Http2Headers)} for a request's trailers, which Envoy's codec holds to the same two limits,
     * counted apart from the headers: its server codec gives trailers a header map of their own
     * ({@code ServerConnectionImpl::onBeginHeaders}, {@code allocTrailers}) and {@code saveHeader} checks that map
     * (envoyproxy/envoy test/integration/protocol_integration_test.cc {@code ManyRequestTrailersRejected}, 150 trailers,
     * and {@code LargeRequestTrailersRejected}, 66 KiB: the HTTP/2 stream is reset).
     */
    static String tooManyTrailers(Http2Headers trailers) {
        return tooMany(trailers, "request trailers have ", " fields", "request trailers have ");
    }

    private static String tooMany(Http2Headers h, String countWhat, String fields, String sizeWhat) {
        int n = counted(h);
        if (n > Http1Decoder.MAX_HEADERS_COUNT) {
            return "HTTP/2 " + countWhat + n + fields + ", more than " + Http1Decoder.MAX_HEADERS_COUNT
                    + " (Envoy's max_headers_count)";
        }
        long size = bytes(h);
        return size <= Http1Decoder.MAX_HEADER_SIZE ? null
                : "HTTP/2 " + sizeWhat + size + " bytes, more than " + Http1Decoder.MAX_HEADER_SIZE
                        + " (Envoy's max_request_headers_kb)";
    }
}
