package io.zerohop.core.internal.http;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import java.nio.charset.StandardCharsets;

/**
 * What the L7 filters answer themselves, in Envoy's words and statuses: the RBAC filter's
 * {@code 403 RBAC: access denied} (envoyproxy/envoy source/extensions/filters/http/rbac/rbac_filter.cc; Cilium's proxy's
 * {@code Access denied} for a Cilium policy's denial, {@link #denied}),
 * the router's 503 when the upstream cannot be connected or ends before its response head ({@link UpstreamFailure}), and the HTTP/1 codec's
 * rejections (431 headers or URL too large, 501 unknown transfer coding, 426 an HTTP
 * version other than 1.1, else 400).
 */
final class LocalReplies {
    static final byte[] DENIED = "RBAC: access denied".getBytes(StandardCharsets.US_ASCII);
    /**
     * Cilium's proxy's body for a request its L7 policy denies (cilium/proxy {@code cilium/l7policy.cc}, the agent's
     * default 403 message; Cilium's HTTP-aware policy guide shows it as {@code Access denied}).
     */
    static final byte[] CILIUM_DENIED = "Access denied\r\n".getBytes(StandardCharsets.US_ASCII);

    /**
     * The body of a 403 for {@code d}: Cilium's {@link #CILIUM_DENIED} when a Cilium policy decided it, else Envoy RBAC's
     * {@link #DENIED} (an Istio policy, or none). Until 6 December every denial said RBAC's (helper 260).
     */
    static byte[] denied(io.zerohop.policy.Decision d) {
        io.zerohop.policy.PolicyRef p = d == null ? null : d.policy();
        return p != null && (p.kind() == io.zerohop.policy.PolicyRef.Kind.CILIUM_NETWORK_POLICY
                || p.kind() == io.zerohop.policy.PolicyRef.Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY) ? CILIUM_DENIED : DENIED;
    }

    /**
     * {@code body} as Envoy writes a local reply's body into {@code grpc-message}: percent-encoded, every byte outside
     * {@code ' '..'~'} and {@code '%'} as {@code %XX} (source/common/http/utility.cc {@code PercentEncoding::encode}), so
     * that Cilium's {@code Access denied\r\n} is {@code Access denied%0D%0A}, a valid header value.
     */
    static String grpcMessage(byte[] body) {
        StringBuilder b = new StringBuilder(body.length + 8);
        for (byte x : body) {
            int c = x & 0xff;
            if (c < ' ' || c > '~' || c == '%') {
                b.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            } else {
                b.append((char) c);
            }
        }
        return b.toString();
    }

    private LocalReplies() {}

    /** A {@code text/plain} response with {@code body}; {@code Connection: close} when {@code close}. */
    static FullHttpResponse local(HttpResponseStatus status, byte[] body, boolean close) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length)
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN);
        if (close) {
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        return r;
    }

    /**
     * The local reply {@code x} gets for {@code status} and {@code body}, with {@code x}'s status, size and grpc-status set:
     * {@link #local}, or for a gRPC request ({@link Http1Exchange#grpc}) what Envoy's {@code Utility::sendLocalReply} turns
     * every local reply to a gRPC request into, whatever the protocol (source/common/http/utility.cc
     * {@code prepareLocalReply}, {@code is_grpc}): {@code 200}, {@code content-type: application/grpc}, {@code grpc-status}
     * {@code httpToGrpcStatus(status)} ({@link #grpcStatus}), the body as {@code grpc-message}, no body (HTTP/1:
     * {@code content-length: 0}). As the HTTP/2 path answers ({@code H2Proxy}); until 5 December an HTTP/1 gRPC request got
     * the plain {@code 403 RBAC: access denied} or 503. A {@code HEAD} gets the head alone, with the body's length.
     */
    static FullHttpResponse forRequest(Http1Exchange x, HttpResponseStatus status, byte[] body, boolean close) {
        x.responseDone = true;
        if (!x.grpc()) {
            x.status = status.code();
            if ("HEAD".equals(x.method)) {
                // Envoy's sendLocalReply to a HEAD: the body's content-length and content-type, no body
                // (source/common/http/utility.cc, local_reply_data.is_head_request_: encode_headers_ with end_stream). Until
                // 7 December its body was written, and the client read it as the start of its next response
                // (L7HeadResponseTest).
                x.responseBytes = 0;
                FullHttpResponse r = local(status, new byte[0], close);
                r.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length);
                return r;
            }
            x.responseBytes = body.length;
            return local(status, body, close);
        }
        x.status = 200;
        x.responseBytes = 0;
        x.grpcStatus = grpcStatus(status.code());
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER);
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc").set("grpc-status", x.grpcStatus)
                .set("grpc-message", grpcMessage(body)).set(HttpHeaderNames.CONTENT_LENGTH, 0);
        if (close) {
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        return r;
    }

    /**
     * Envoy's {@code Grpc::Utility::httpToGrpcStatus} (source/common/grpc/status.cc), the grpc-status of a local reply:
     * 400 INTERNAL (13), 401 UNAUTHENTICATED (16), 403 PERMISSION_DENIED (7), 404 UNIMPLEMENTED (12), 429, 502, 503 and
     * 504 UNAVAILABLE (14), any other UNKNOWN (2).
     */
    static String grpcStatus(int httpStatus) {
        return switch (httpStatus) {
            case 400 -> "13";
            case 401 -> "16";
            case 403 -> "7";
            case 404 -> "12";
            case 429, 502, 503, 504 -> "14";
            default -> "2";
        };
    }

    /**
     * Envoy's answer to a path it unescaped under {@code UNESCAPE_AND_REDIRECT}: 307 with the new path as
     * {@code location} and no body (envoy source/common/http/conn_manager_impl.cc, {@code Code::TemporaryRedirect}).
     */
    static FullHttpResponse redirect(String location, boolean close) {
        FullHttpResponse r = local(HttpResponseStatus.TEMPORARY_REDIRECT, new byte[0], close);
        r.headers().remove(HttpHeaderNames.CONTENT_TYPE).set(HttpHeaderNames.LOCATION, location);
        return r;
    }

    /** The status for a request the decoder rejected with {@code cause}. */
    static HttpResponseStatus statusFor(Throwable cause) {
        if (cause instanceof Http1Decoder.RequestLineException e) {
            return HttpResponseStatus.valueOf(e.status);
        }
        if (cause instanceof TooLongHttpHeaderException || cause instanceof io.netty.handler.codec.http.TooLongHttpLineException) {
            // A request line over Netty's bound is a URL over Envoy's 60 KiB, which Envoy's codec counts with the headers:
            // 431 (http_integration.cc testLargeRequestUrl), not 414 (until 5 December).
            return HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE;
        }
        if (cause instanceof TooLongFrameException) {
            return HttpResponseStatus.REQUEST_URI_TOO_LONG;
        }
        String m = String.valueOf(cause.getMessage());
        if (m.contains("final transfer coding") || m.contains("chunked must be the last")) {
            return HttpResponseStatus.NOT_IMPLEMENTED;
        }
        return HttpResponseStatus.BAD_REQUEST;
    }

    /**
     * What was wrong, for the access line's {@code reason}: the decoder's message (Netty's, e.g. {@code Multiple
     * Content-Length values found: [1, 2]}, or zerohop's own for what Envoy's codec refuses), without the exception's
     * class name, which says nothing to an operator; the class's simple name when there is no message.
     */
    static String problem(Throwable cause) {
        // Netty's own limits speak of its buffers ("An HTTP line is larger than 61504 bytes.", "HTTP header is larger than
        // 61440 bytes."): said in Envoy's terms, as zerohop's own refusals of the same budget are (a new-user pass).
        if (cause instanceof io.netty.handler.codec.http.TooLongHttpLineException) {
            return "HTTP request line of more than " + Http1Decoder.MAX_INITIAL_LINE + " bytes: a URL over " + Http1Decoder.MAX_HEADER_SIZE
                    + " bytes (Envoy's max_request_headers_kb, which counts the URL)";
        }
        if (cause instanceof TooLongHttpHeaderException && String.valueOf(cause.getMessage()).startsWith("HTTP header is larger than")) {
            return "HTTP request headers of more than " + Http1Decoder.MAX_HEADER_SIZE
                    + " bytes (Envoy's max_request_headers_kb, which counts the URL)";
        }
        String m = cause.getMessage();
        return m == null || m.isBlank() ? cause.getClass().getSimpleName() : m;
    }
}
