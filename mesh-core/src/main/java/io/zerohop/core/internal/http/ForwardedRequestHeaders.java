package io.zerohop.core.internal.http;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import io.netty.util.concurrent.FastThreadLocal;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Iterator;

/**
 * The {@code x-request-id} and {@code x-forwarded-proto} Envoy's connection manager gives a request before any filter, RBAC
 * included, as Istio configures it at a destination (envoyproxy/envoy source/common/http/conn_manager_utility.cc
 * {@code ConnectionManagerUtility::mutateRequestHeaders}, called from conn_manager_impl.cc {@code ActiveStream::decodeHeaders}
 * before the filter chain), on HTTP/1 ({@link RequestAdmission}) and HTTP/2 ({@link H2Proxy}) alike:
 * <ul>
 *   <li>{@code x-forwarded-proto}: the client's is kept, whatever it says (an empty one too); without one it is the
 *       encryption level of the connection carrying the HTTP ({@code if (!request_headers.ForwardedProto())}, {@code https}
 *       when {@code connection.ssl()}, else {@code http}). Istio builds its destination connection managers with
 *       {@code use_remote_address: false} (istio/istio pilot/pkg/networking/core/listener_inbound.go
 *       {@code buildSidecarInboundHTTPOpts}, listener_waypoint.go {@code buildWaypointInboundHTTPFilters}), so the
 *       {@code use_remote_address} branch that overwrites a client's value never runs; and an HBONE peer's HTTP is parsed
 *       on an internal listener whose filter chains have no TLS (listener_inbound.go {@code buildInboundHBONEListeners}:
 *       "Internal chain has no mTLS"; the waypoint's {@code main_internal} listener the same), so the value is
 *       {@code http} for an HBONE peer as for a plaintext one, the encryption level {@code HeaderValidation.http1Scheme}
 *       takes for {@code :scheme} too. (A sidecar's classic mTLS inbound, TLS on the connection itself, would say
 *       {@code https}; zerohop has no such inbound.)</li>
 *   <li>{@code x-request-id}: {@code generate_request_id} is on (istio/istio pilot/pkg/networking/util/proxy_headers.go
 *       {@code GetProxyHeadersFromProxyConfig}: "Envoy default is to enable them") and the request is no edge request
 *       ({@code edge_request = !internal_request && config.useRemoteAddress()}, false under {@code use_remote_address:
 *       false}), so the UUID extension (source/extensions/request_id/uuid/config.cc {@code UUIDRequestIDExtension::set})
 *       keeps a client's id as sent, any value (Envoy trusts a non-edge request's id; {@code preserve_external_request_id},
 *       which Istio leaves unset, matters only at the edge), and gives a request without one, or with an empty one
 *       (envoyproxy/envoy#38445), a new random UUIDv4 in lower case, as {@code Random::RandomGeneratorImpl::uuid}
 *       (source/common/common/random_generator.cc) makes it: 16 random bytes, version 4, RFC 4122 variant.</li>
 * </ul>
 * A destination Cilium's HTTP rules apply to gets what Cilium's Envoy, in front, sets instead
 * ({@link io.zerohop.core.HeaderValidation#ciliumEdgeRequest}).
 *
 * <p>Not done: Envoy under Istio's default tracing packs its sampling decision into an id's 15th character
 * ({@code mutateTracingRequestHeader}, {@code UUIDRequestIDExtension::setTraceReason}: {@code 9} sampled, {@code a}
 * forced, {@code b} client, {@code 4} not traced), which zerohop, without a tracer, leaves as it is, as an Envoy
 * without tracing does; nor does a ProxyConfig's {@code proxyHeaders.requestId.disabled} turn the id off. As at Envoy under
 * Istio ({@code always_set_request_id_in_response} unset), the id is not added to the response.
 *
 * <p>The random bytes come as Envoy's do, from a cryptographic generator 2048 bytes at a time per thread (128 ids), so an
 * event loop reads {@code /dev/urandom} (the non-blocking source) once per 128 requests without an id and never waits on
 * entropy; an id costs one 36-byte array and its {@link AsciiString}, a request with both headers nothing.
 */
final class ForwardedRequestHeaders {
    static final AsciiString X_REQUEST_ID = AsciiString.cached("x-request-id");
    static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    /** The encryption level of every connection zerohop parses HTTP on: see the class comment. */
    static final AsciiString HTTP = AsciiString.cached("http");

    private static final SecureRandom RANDOM = nonBlocking();
    private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final FastThreadLocal<Buffered> BUFFERED = new FastThreadLocal<>() {
        @Override
        protected Buffered initialValue() {
            return new Buffered();
        }
    };

    private ForwardedRequestHeaders() {}

    /**
     * Sets both on an HTTP/1 request's headers, as Envoy's connection manager before any filter (see the class comment).
     *
     * @param cilium whether Cilium's HTTP rules apply to the destination ({@code RequestAdmission.Authorizer#ciliumPaths}),
     *               whose Envoy comes first and sets both its own way
     *               ({@link io.zerohop.core.HeaderValidation#ciliumEdgeRequest})
     */
    static void apply(HttpHeaders h, Conn conn, boolean cilium) {
        if (repeated(h.valueCharSequenceIterator(X_FORWARDED_PROTO))) {
            h.set(X_FORWARDED_PROTO, joined(h.getAll(X_FORWARDED_PROTO)));
        }
        if (repeated(h.valueCharSequenceIterator(X_REQUEST_ID))) {
            h.set(X_REQUEST_ID, joined(h.getAll(X_REQUEST_ID)));
        }
        if (cilium) {
            h.set(X_FORWARDED_PROTO, HTTP);
            if (io.zerohop.core.HeaderValidation.ciliumEdgeRequest(h.contains(X_FORWARDED_FOR), conn.sourceIp())) {
                h.set(X_REQUEST_ID, uuid());
                return;
            }
        } else if (!h.contains(X_FORWARDED_PROTO)) {
            h.set(X_FORWARDED_PROTO, HTTP);
        }
        if (!anyNonEmpty(h.valueCharSequenceIterator(X_REQUEST_ID))) {
            h.set(X_REQUEST_ID, uuid());
        }
    }

    /** The same on an HTTP/2 request's headers. */
    static void apply(Http2Headers h, Conn conn, boolean cilium) {
        if (repeated(h.valueIterator(X_FORWARDED_PROTO))) {
            h.set(X_FORWARDED_PROTO, joined(h.getAll(X_FORWARDED_PROTO)));
        }
        if (repeated(h.valueIterator(X_REQUEST_ID))) {
            h.set(X_REQUEST_ID, joined(h.getAll(X_REQUEST_ID)));
        }
        if (cilium) {
            h.set(X_FORWARDED_PROTO, HTTP);
            if (io.zerohop.core.HeaderValidation.ciliumEdgeRequest(h.contains(X_FORWARDED_FOR), conn.sourceIp())) {
                h.set(X_REQUEST_ID, uuid());
                return;
            }
        } else if (!h.contains(X_FORWARDED_PROTO)) {
            h.set(X_FORWARDED_PROTO, HTTP);
        }
        if (!anyNonEmpty(h.valueIterator(X_REQUEST_ID))) {
            h.set(X_REQUEST_ID, uuid());
        }
    }

    /** The request's {@code x-request-id} fields joined with {@code ,}, as Envoy's header map holds them, or null. */
    static String joined(Http2Headers h) {
        java.util.List<CharSequence> all = h.getAll(X_REQUEST_ID);
        return all.isEmpty() ? null : String.join(",", all);
    }

    /**
     * The fields of a header sent more than once as the one value Envoy's header map holds for an inline header such as
     * {@code x-request-id} or {@code x-forwarded-proto} (envoyproxy/envoy envoy/http/header_map.h
     * {@code INLINE_REQ_RESP_STRING_HEADERS} {@code RequestId}, {@code INLINE_REQ_STRING_HEADERS} {@code ForwardedProto}):
     * both codecs add each field with {@code HeaderMapImpl::addViaMove} (source/common/http/header_map_impl.cc), which
     * appends a repeated inline header to the first with {@code appendToHeader}: {@code ,} between values, an empty value
     * adding nothing. The application then gets one field, as Envoy's codecs write that one value ({@code values} in the
     * order sent). Until 7 December two fields reached the application as two.
     */
    static AsciiString joined(java.util.List<? extends CharSequence> values) {
        StringBuilder b = new StringBuilder();
        for (CharSequence v : values) {
            if (v.length() > 0) {
                if (b.length() > 0) {
                    b.append(',');
                }
                b.append(v);
            }
        }
        return new AsciiString(b);
    }

    /**
     * Whether a header is sent more than once, told without allocating ({@code getAll} makes a list); the iterator's order,
     * newest field first in Netty's {@code DefaultHeaders}, does not matter here, {@code getAll}'s, as sent, does.
     */
    private static boolean repeated(Iterator<? extends CharSequence> values) {
        if (!values.hasNext()) {
            return false;
        }
        values.next();
        return values.hasNext();
    }

    /**
     * Envoy's header map holds repeated fields of an inline header such as {@code x-request-id} as one value joined with
     * {@code ,}, empty ones adding nothing ({@link #joinedIfRepeated}); so the id is empty only when every field is.
     */
    private static boolean anyNonEmpty(Iterator<? extends CharSequence> values) {
        while (values.hasNext()) {
            if (values.next().length() > 0) {
                return true;
            }
        }
        return false;
    }

    /** A new random UUIDv4, lower-case hex, as {@code RandomGeneratorImpl::uuid} writes it. */
    static AsciiString uuid() {
        Buffered b = BUFFERED.get();
        if (b.next == b.bytes.length) {
            RANDOM.nextBytes(b.bytes);
            b.next = 0;
        }
        byte[] r = b.bytes;
        int at = b.next;
        b.next += 16;
        byte[] out = new byte[36];
        int o = 0;
        for (int i = 0; i < 16; i++) {
            int v = r[at + i] & 0xff;
            if (i == 6) {
                v = (v & 0x0f) | 0x40; // version 4 (random), RFC 4122 section 4.4
            } else if (i == 8) {
                v = (v & 0x3f) | 0x80; // variant 1 (RFC 4122)
            }
            if (i == 4 || i == 6 || i == 8 || i == 10) {
                out[o++] = '-';
            }
            out[o++] = HEX[v >>> 4];
            out[o++] = HEX[v & 0x0f];
        }
        return new AsciiString(out, false);
    }

    /**
     * {@code NativePRNGNonBlocking} reads {@code /dev/urandom} for its seed and its bytes alike, so no call waits on the
     * kernel's entropy (a plain {@code new SecureRandom()} may seed from {@code /dev/random}); where it does not exist
     * (not Unix), the platform's default.
     */
    private static SecureRandom nonBlocking() {
        try {
            return SecureRandom.getInstance("NativePRNGNonBlocking");
        } catch (NoSuchAlgorithmException e) {
            return new SecureRandom();
        }
    }

    /** One thread's random bytes not used yet, from {@code next} on. */
    private static final class Buffered {
        final byte[] bytes = new byte[2048];
        int next = bytes.length;
    }
}
