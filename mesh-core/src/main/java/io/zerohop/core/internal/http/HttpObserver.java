package io.zerohop.core.internal.http;

import io.zerohop.core.Addresses;
import io.zerohop.policy.Decision;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One access-log line per request (logger {@code io.zerohop.access}) and, with a meter registry,
 * Istio's HTTP metrics as a waypoint reports them ({@code reporter="destination"}).
 */
final class HttpObserver {
    private static final Logger access = LoggerFactory.getLogger("io.zerohop.access");

    /** One finished request: what the log line and the metrics say. */
    /**
     * {@code grpcStatus}: the {@code grpc-status} a gRPC response ended with, or "" (Istio's label value otherwise);
     * {@code refusal}: what was wrong with a request refused before any policy decided it (a framing error's 400, a
     * 426, a 431), or what ended it (a 503 for the application's failed connection: Envoy's response code details), or
     * null; {@code responseFlags}: Envoy's {@code %RESPONSE_FLAGS%} for it ({@code UPE}, {@code UC}), "-" for none;
     * {@code requestId}: the request's {@code x-request-id} as forwarded (several lines joined with {@code ,}), or null.
     * {@code requestBytes} and {@code responseBytes} are body bytes (Envoy's {@code %BYTES_RECEIVED%} and
     * {@code %BYTES_SENT%}, the access line's); {@code wireBytesReceived} and {@code wireBytesSent} are what the request's
     * stream carried on the client's connection, heads and framing included (Envoy's downstream {@code BytesMeter}, which
     * Istio's {@code istio_request_bytes} and {@code istio_response_bytes} observe: {@link Http1WireBytes},
     * {@link H2WireBytes}).
     */
    record RequestLog(Conn conn, String method, String path, int status, long durationNanos, Decision decision,
                      long requestBytes, long responseBytes, String protocol, String grpcStatus, String refusal,
                      String responseFlags, boolean grpcRequest, String requestId, long wireBytesReceived, long wireBytesSent) {
        /** Without wire counts: the body bytes stand for them (a request made up for a test). */
        RequestLog(Conn conn, String method, String path, int status, long durationNanos, Decision decision,
                   long requestBytes, long responseBytes, String protocol, String grpcStatus, String refusal,
                   String responseFlags, boolean grpcRequest, String requestId) {
            this(conn, method, path, status, durationNanos, decision, requestBytes, responseBytes, protocol, grpcStatus, refusal,
                    responseFlags, grpcRequest, requestId, requestBytes, responseBytes);
        }

        /** Without {@code requestId}: a request refused before the proxy set one. */
        RequestLog(Conn conn, String method, String path, int status, long durationNanos, Decision decision,
                   long requestBytes, long responseBytes, String protocol, String grpcStatus, String refusal,
                   String responseFlags, boolean grpcRequest) {
            this(conn, method, path, status, durationNanos, decision, requestBytes, responseBytes, protocol, grpcStatus, refusal,
                    responseFlags, grpcRequest, null);
        }

        /** Without {@code grpcRequest}: a gRPC request is one that got a {@code grpc-status} (HTTP/1, where gRPC is not). */
        RequestLog(Conn conn, String method, String path, int status, long durationNanos, Decision decision,
                   long requestBytes, long responseBytes, String protocol, String grpcStatus, String refusal, String responseFlags) {
            this(conn, method, path, status, durationNanos, decision, requestBytes, responseBytes, protocol, grpcStatus, refusal,
                    responseFlags, !grpcStatus.isEmpty());
        }

        RequestLog(Conn conn, String method, String path, int status, long durationNanos, Decision decision,
                   long requestBytes, long responseBytes, String protocol, String grpcStatus, String refusal) {
            this(conn, method, path, status, durationNanos, decision, requestBytes, responseBytes, protocol, grpcStatus, refusal, "-");
        }

        RequestLog(Conn conn, String method, String path, int status, long durationNanos, Decision decision,
                   long requestBytes, long responseBytes, String protocol, String grpcStatus) {
            this(conn, method, path, status, durationNanos, decision, requestBytes, responseBytes, protocol, grpcStatus, null);
        }
    }

    private final Consumer<RequestLog> metrics;

    HttpObserver(Consumer<RequestLog> metrics) {
        this.metrics = metrics;
    }

    /** Where a gRPC stream's messages are counted as they start (Istio's request and response message counters). */
    interface MessageCounters {
        void request(int messages);

        void response(int messages);
    }

    /** The message counters of a gRPC stream on {@code conn}, or null without a meter registry. */
    MessageCounters grpcMessages(Conn conn) {
        // Null-checked first: without a registry, HttpMeters (and Micrometer, optional) is never resolved.
        if (metrics != null && metrics instanceof HttpMeters m) {
            try {
                return m.grpcMessages(conn);
            } catch (RuntimeException e) {
                LoggerFactory.getLogger(HttpObserver.class).warn("HTTP metrics failed", e);
            }
        }
        return null;
    }

    void request(RequestLog r) {
        // Counted before the access line is written: whoever reads the line sees the request counted too.
        if (metrics != null) {
            try {
                metrics.accept(r);
            } catch (RuntimeException e) {
                LoggerFactory.getLogger(HttpObserver.class).warn("HTTP metrics failed", e);
            }
        }
        if (access.isInfoEnabled()) {
            Conn c = r.conn();
            // src_ip: the address policy's ipBlocks tested, when a node proxy's believed for= made it the pod's.
            // reason: a request no policy decided names what was wrong with it, as the 400's WARN-free path had no other trace.
            // request_id: the x-request-id the proxy set or kept before the decision (ForwardedRequestHeaders), under the
            // key of Istio's JSON access log ("request_id": "%REQ(X-REQUEST-ID)%", istio/istio
            // pilot/pkg/model/telemetry_logging.go; its text format has it too), so a request is found in this log by the
            // id the application logged; "-" when the request was refused before any was set, as Envoy's %REQ% of none.
            access.info("{}-http src={} src_id={}{} dst={} dst_id={} method={} path=\"{}\" protocol={} status={}{} decision={} policy=\"{}\"{}"
                            + " bytes_received={} bytes_sent={} duration_ms={} request_id={}",
                    c.kind(), Addresses.authority(c.logSource()), c.peer() == null ? "-" : c.peer(),
                    c.sourceIp().equals(c.source().getAddress()) ? "" : " src_ip=" + io.netty.util.NetUtil.toAddressString(c.sourceIp()),
                    Addresses.authority(c.destination()), c.localId() == null ? "-" : c.localId(), r.method(),
                    escape(r.path()), r.protocol(), r.status() == 0 ? "-" : r.status(),
                    r.grpcStatus().isEmpty() ? "" : " grpc_status=" + r.grpcStatus(),
                    r.decision() == null ? "-" : r.decision().allowed() ? "allow" : "deny",
                    r.decision() == null ? "-" : escape(r.decision().explain()),
                    (r.refusal() == null ? "" : " reason=\"" + escape(r.refusal()) + "\"")
                            + (r.responseFlags().equals("-") ? "" : " response_flags=" + r.responseFlags()), r.requestBytes(), r.responseBytes(),
                    TimeUnit.NANOSECONDS.toMillis(r.durationNanos()),
                    r.requestId() == null ? "-" : "\"" + escape(r.requestId()) + "\"");
        }
    }

    private static String escape(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch == '"' || ch == '\\' || ch < 0x20 || ch == 0x7f) {
                if (b == null) {
                    b = new StringBuilder(s.length() + 8).append(s, 0, i);
                }
                b.append(String.format("\\x%02x", (int) ch));
            } else if (b != null) {
                b.append(ch);
            }
        }
        return b == null ? s : b.toString();
    }
}
