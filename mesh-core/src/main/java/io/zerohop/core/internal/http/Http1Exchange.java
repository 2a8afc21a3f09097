package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.zerohop.policy.Decision;

/**
 * One request and its response on an HTTP/1 connection, as {@link Http1Filter} tracks it: the
 * decision, whether each side has ended, how the connection continues afterwards (close, upgrade)
 * and what the access log and metrics report. Event-loop confined.
 */
final class Http1Exchange {
    final HttpRequest request;
    final long start = System.nanoTime();
    final String method;
    /** The request target for the log: as sent, less a verified token's query parameter ({@link JwtAuthn}) as forwarded. */
    String path;
    /** The request line's version as decoded, for the log ({@code HTTP/1.0} stays so after it goes upstream as 1.1). */
    final String protocol;
    /**
     * An HTTP/1.0 request ({@link Http1Decoder} with {@code accept_http_10}): its responses are written as
     * Envoy's codec and connection manager write them to an HTTP/1.0 client ({@link #toHttp10}).
     */
    final boolean http10;
    /** A 307's {@code location} (Cilium's UNESCAPE_AND_REDIRECT), or null. */
    String location;
    Decision decision;
    /** The JWT step's refusal (401 or 403) when it refused the request before any policy decided it, else null. */
    JwtAuthn.Outcome jwt;
    /**
     * Not decided yet: its token waits for its rule's first key fetch ({@link RequestAdmission#resume}); null once decided.
     */
    JwtAuthn.Hold held;
    /** Its paths are Cilium's ({@link RequestAdmission.Authorizer#ciliumPaths}), as read when it was admitted. */
    boolean ciliumPaths;
    /** The request's verified JWT ({@link JwtAuthn}), null for none: what it was decided with, and is decided again with. */
    io.zerohop.policy.RequestAuth auth;
    /** What was wrong with this request when it was refused before a policy decided it (a 400, 426, 431), else null. */
    String refusal;
    boolean allowed;
    boolean requestDone;
    /**
     * The client's request has ended here (a head without a body, or its last part), though its end may still be on its way
     * to the application: an embedded one answers inside the write that hands it over, before {@link #requestDone}.
     * What Envoy's {@code remoteDecodeComplete()} tells: whether a response starts before the request's end.
     */
    boolean requestEnded;
    /**
     * What the connection had received ({@link Http1WireBytes}) once the read that carried this request's end was taken;
     * -1 until then. Bytes read after it belong to the request after this one ({@link Http1Filter} {@code line}).
     */
    long wireAtEnd = -1;
    boolean responseDone;
    /** A 1xx other than 101 was forwarded; its end is not the response's end. */
    boolean interim;
    boolean closeAfter;
    /**
     * The application's final response said it ends its connection after it ({@code Connection: close}, or HTTP/1.0
     * without keep-alive), or its body ends with that connection ({@link #framedByClose}): the connection to the application
     * is not used again; the client's goes on unless the application is embedded ({@link Http1Filter#onResponse}) or the
     * client speaks HTTP/1.0 and the response has no length ({@link #toHttp10}).
     */
    boolean applicationCloses;
    /** The {@code :scheme} the request was decided on ({@code HeaderValidation.http1Scheme}), for a re-decision. */
    String scheme = "http";
    /** The request asked to upgrade; cleared by any final status but 101. */
    boolean upgrade;
    int status;
    /** Envoy's {@code %RESPONSE_FLAGS%} for a 503 zerohop answered for the application ({@link UpstreamFailure}), else "-". */
    String responseFlags = "-";
    long requestBytes;
    long responseBytes;
    /**
     * The grpc-status of a gRPC response: a local reply's ({@link LocalReplies#forRequest}), or the application's, in its
     * head (trailers-only) or in HTTP/2 trailers ({@link Http1Filter#responseTrailers}); else "".
     */
    String grpcStatus = "";
    /**
     * A forwarded gRPC request's message counters, as Envoy's {@code grpc_stats} filter counts them whatever the HTTP
     * version (istiod puts it in every inbound connection manager, istio/istio pilot/pkg/networking/core/listener_builder.go;
     * envoyproxy/envoy source/extensions/filters/http/grpc_stats/grpc_stats_filter.cc tests {@code isGrpcRequestHeaders},
     * the content-type alone); null for any other request or without a meter registry.
     */
    private HttpObserver.MessageCounters messages;
    private GrpcMessageCount requestMessages;
    private GrpcMessageCount responseMessages;

    Http1Exchange(HttpRequest request) {
        this(request, request.method().name(), request.uri(), request.protocolVersion().text());
    }

    private Http1Exchange(HttpRequest request, String method, String path, String protocol) {
        this.request = request;
        this.method = method;
        this.path = path;
        this.protocol = protocol;
        this.http10 = HttpVersion.HTTP_1_0.equals(request.protocolVersion());
    }

    /** Whether the request is gRPC by Envoy's test ({@code content-type} {@code application/grpc} or {@code application/grpc+...}). */
    boolean grpc() {
        return request != null && H2Proxy.isGrpc(request.headers().get(io.netty.handler.codec.http.HttpHeaderNames.CONTENT_TYPE));
    }

    /** The request, allowed, is forwarded: a gRPC one's messages are counted from here on (not a denied call's, as in H2Proxy). */
    void forwarded(HttpObserver.MessageCounters counters) {
        if (counters != null) {
            messages = counters;
            requestMessages = new GrpcMessageCount();
            responseMessages = new GrpcMessageCount();
        }
    }

    /** Part of the request's body, forwarded. */
    void requestData(io.netty.buffer.ByteBuf data) {
        if (messages != null) {
            int n = requestMessages.inspect(data);
            if (n > 0) {
                messages.request(n);
            }
        }
    }

    /** Part of the application's response, on its way to the client. */
    void responseData(io.netty.buffer.ByteBuf data) {
        if (messages != null) {
            int n = responseMessages.inspect(data);
            if (n > 0) {
                messages.response(n);
            }
        }
    }

    /**
     * Makes {@code r}, the head of a final response to this HTTP/1.0 exchange, what Envoy writes to an HTTP/1.0
     * client: status line {@code HTTP/1.0} (codec_impl.cc {@code HTTP_10_RESPONSE_PREFIX}), no chunked coding
     * ({@code encodeHeadersBase}: {@code chunk_encoding_ = false} for HTTP/1.0), so a response without
     * {@code content-length} is framed by the connection's close; otherwise {@code connection: keep-alive} when
     * the client asked for it and nothing else closes the connection, else {@code connection: close}
     * (conn_manager_impl.cc {@code encodeHeaders}: "HTTP/1.0 and below can not do chunked encoding").
     * Sets {@link #closeAfter} accordingly. Not for a 1xx.
     */
    void toHttp10(HttpResponse r) {
        r.setProtocolVersion(HttpVersion.HTTP_1_0);
        if (!r.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
            closeAfter = true;
        }
        // The body reaches the encoder already de-chunked; without the header it is written as is.
        r.headers().remove(HttpHeaderNames.TRANSFER_ENCODING);
        r.headers().set(HttpHeaderNames.CONNECTION, closeAfter ? HttpHeaderValues.CLOSE : HttpHeaderValues.KEEP_ALIVE);
    }

    /** Stands for a request the decoder could not even frame, for its log line. */
    static Http1Exchange unparsed() {
        return unparsed("-", "-", HttpVersion.HTTP_1_1.text());
    }

    /** Stands for a request whose line was read and refused ({@code Http1Decoder.RequestLineException}), for its log line. */
    static Http1Exchange unparsed(String method, String path, String protocol) {
        return new Http1Exchange(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "-"), method, path, protocol);
    }

    /** What one part of the application's response is to the exchange. */
    enum ResponsePart {
        /** The head of a 101 answering a request that asked to upgrade: bytes follow. */
        SWITCHED,
        /** The end of a 1xx other than 101: the response proper is still to come. */
        INTERIM_END,
        /** The end of the response. */
        END,
        /** A head or body part, more to come. */
        MORE
    }

    /**
     * Notes one part of the application's response (its head, body bytes, an interim response's
     * end); the response's end is recorded by {@link #responseEnded} once it was written.
     */
    ResponsePart responsePart(Object msg) {
        if (msg instanceof HttpResponse r && responseHead(r)) {
            return ResponsePart.SWITCHED;
        }
        if (msg instanceof HttpContent c) {
            responseBytes += c.content().readableBytes();
        }
        if (!(msg instanceof LastHttpContent)) {
            return ResponsePart.MORE;
        }
        if (interim) {
            interim = false;
            return ResponsePart.INTERIM_END;
        }
        return ResponsePart.END;
    }

    /**
     * Whether the body of final response {@code r} ends with the application's connection: no {@code Content-Length},
     * not chunked, and a body expected (RFC 9112 section 6.3, as Netty's client codec reads it: not a HEAD's answer, a
     * 1xx, 204 or 304). Such a response from a {@link TcpUpstream} is chunked for an HTTP/1.1 client, whose connection
     * goes on, as Envoy's codec re-frames it ({@code Http1Filter.reframe}); like any other response from one it leaves the
     * client's connection open whatever the application does with its own.
     */
    boolean framedByClose(HttpResponse r) {
        int code = r.status().code();
        return code >= 200 && code != 204 && code != 304 && !"HEAD".equals(method)
                && !HttpUtil.isContentLengthSet(r) && !HttpUtil.isTransferEncodingChunked(r);
    }

    /** The response's last part ({@link ResponsePart#SWITCHED} or {@link ResponsePart#END}) was written. */
    void responseEnded(ResponsePart part) {
        responseDone = true;
        if (part == ResponsePart.SWITCHED || status == 101 && upgrade) {
            // After a 101 the request side has nothing more to send as HTTP.
            requestDone = true;
        }
    }

    /**
     * Notes the application's response head.
     *
     * @return true when it switches protocols: a 101 answering a request that asked to upgrade
     */
    private boolean responseHead(HttpResponse r) {
        int code = r.status().code();
        if (r.status().codeClass() == HttpStatusClass.INFORMATIONAL && code != 101) {
            interim = true;
            return false;
        }
        status = code;
        applicationCloses = !HttpUtil.isKeepAlive(r);
        if (code != 101) {
            upgrade = false;
            return false;
        }
        return upgrade;
    }

    /**
     * The access-log entry of this exchange on {@code conn}, as it stands now; {@code wireReceived} and {@code wireSent}: what
     * the connection carried for it, heads and framing included ({@link Http1WireBytes}), or -1 when not metered (its
     * body bytes then).
     */
    HttpObserver.RequestLog logLine(Conn conn, long wireReceived, long wireSent) {
        java.util.List<String> ids = request == null ? java.util.List.of() : request.headers().getAll(ForwardedRequestHeaders.X_REQUEST_ID);
        return new HttpObserver.RequestLog(conn, method, path, status, System.nanoTime() - start,
                decision, requestBytes, responseBytes, protocol, grpcStatus, refusal, responseFlags, grpc() || !grpcStatus.isEmpty(),
                ids.isEmpty() ? null : String.join(",", ids), wireReceived < 0 ? requestBytes : wireReceived,
                wireSent < 0 ? responseBytes : wireSent);
    }
}
