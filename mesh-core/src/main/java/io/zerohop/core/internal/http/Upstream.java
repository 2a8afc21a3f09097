package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpObject;

/**
 * Where allowed requests go: a TCP connection to the workload (node proxy, plaintext inbound) or
 * the application's handlers in the same pipeline (embedded {@code Mesh.serve}). Called on the
 * downstream channel's event loop only; responses come back through {@link Http1Filter#onResponse}
 * on that loop too.
 */
interface Upstream {

    /**
     * {@code msg}, a response object from the application, with the trailer fields of its last part dropped, as Envoy's
     * HTTP/1 codec ignores them unless {@code enable_trailers} is set (envoyproxy/envoy
     * source/common/http/http1/codec_impl.cc {@code ConnectionImpl::onHeaderFieldImpl}, "Ignore trailers";
     * {@code Http1ProtocolOptions.enable_trailers}, protocol.proto: "By default the HTTP/1 codec drops proxied
     * trailers"), which istiod sets on no listener or cluster (istio/istio pilot/pkg/networking/core
     * cluster_builder.go: its {@code Http1ProtocolOptions} set a header-key format at most). A request's are dropped in {@link Http1Decoder}.
     * Until 6 December an application's response trailers reached the client.
     */
    static Object withoutTrailers(Object msg) {
        if (msg instanceof io.netty.handler.codec.http.LastHttpContent last && !last.trailingHeaders().isEmpty()) {
            last.trailingHeaders().clear();
        }
        return msg;
    }

    /**
     * {@code failure}, which ended the current request after its connection was had, as Envoy words it for that request:
     * retried ({@link UpstreamFailure#afterARetry}) when the connection came on a retry ({@link AppDialRetry#later}).
     */
    default UpstreamFailure later(UpstreamFailure failure) {
        return failure;
    }

    /** A request head, body part or trailers; ownership passes (released by the upstream). */
    void write(HttpObject msg);

    /** After an upgrade (101) bytes pass unparsed. */
    void writeRaw(ByteBuf bytes);

    void flush();

    /** Whether writing more now would only queue (request-direction back-pressure). */
    boolean isWritable();

    /**
     * Bytes written toward the application that it has not taken yet and this side still holds (the node's L7 budget,
     * {@link H2HeldBudget}); 0 where another count has them. Event loop only.
     */
    default long queuedBytes() {
        return 0;
    }

    /** Stops or resumes reading responses (response-direction back-pressure). */
    void readResponses(boolean on);

    /** The client's FIN, passed on once no request is in flight. */
    void shutdownOutput();

    /** Switches both directions to opaque bytes after a 101 was forwarded. */
    void upgraded();

    void close();

    /**
     * Whether no connection to the application is open or being made (a lazily dialled one before its first
     * allowed request, or after its dial failed): the client's FIN then has nobody to wait for.
     */
    default boolean idle() {
        return false;
    }

    /**
     * Whether {@link #renew} can let go of the application's connection and serve the next request on a new one (a
     * {@link TcpUpstream}); an embedded application shares the client's stream and cannot.
     */
    default boolean renewable() {
        return false;
    }

    /**
     * Lets go of the application's connection, which ended or said it ends ({@code Connection: close}) after a complete
     * response; the next request goes on a new connection, as Envoy's HTTP/1 pool closes only that upstream connection
     * (envoyproxy/envoy source/common/http/http1/conn_pool.cc {@code ConnPoolImpl::onResponseComplete}). Only when
     * {@link #renewable}.
     */
    default void renew() {
        throw new UnsupportedOperationException();
    }

    /**
     * Ends the connection with a TCP reset, for a request cut on the client's side (the client's
     * reset, a protocol failure after the response began): a FIN would read as a complete request to
     * the application. By default {@link #close}.
     */
    default void reset() {
        close();
    }
}
