package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpUtil;

/**
 * The head of the application's final response to a {@code HEAD}, as Envoy's downstream HTTP/1 codec writes it
 * (envoyproxy/envoy source/common/http/http1/codec_impl.cc {@code StreamEncoderImpl::encodeHeadersBase}): its
 * {@code content-length} kept; without one, unless it is a 204 or 304 or the client speaks HTTP/1.0,
 * {@code transfer-encoding: chunked} ("When sending a response to a HEAD request Envoy may send an informational
 * Transfer-Encoding: chunked header, but should not send a chunk encoded body"), whether or not the application said
 * so, since its connection manager removes the application's own {@code Transfer-Encoding}
 * ({@code conn_manager_utility.cc} {@code mutateResponseHeaders}) and the codec infers it. Netty's client decoder drops a
 * HEAD answer's {@code Transfer-Encoding: chunked} ({@code HttpObjectDecoder.readHeaders}, content always empty), and until
 * 7 December the client never saw it ({@code L7HeadResponseTest}). The head shares {@code r}'s headers; the type tells
 * {@link Encoder} that no body follows, as Netty's server codec knows it from the request's method.
 */
final class HeadAnswer extends DefaultHttpResponse {
    private HeadAnswer(HttpResponse r) {
        super(r.protocolVersion(), r.status(), r.headers());
    }

    /** {@code r}, a final response's head to a HEAD request, made what Envoy's codec writes; {@code http10}: the client's version. */
    static HeadAnswer of(HttpResponse r, boolean http10) {
        int code = r.status().code();
        if (!http10 && code != 204 && code != 304 && !HttpUtil.isContentLengthSet(r)) {
            r.headers().set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        }
        return new HeadAnswer(r);
    }

    /**
     * The downstream response encoder: a {@link HeadAnswer} is written with no body framing (no last chunk after a
     * {@code transfer-encoding: chunked} head), as Netty's {@code HttpServerCodec} writes an answer to a HEAD.
     */
    static final class Encoder extends HttpResponseEncoder {
        @Override
        protected boolean isContentAlwaysEmpty(HttpResponse msg) {
            return msg instanceof HeadAnswer || super.isContentAlwaysEmpty(msg);
        }
    }
}
