package io.zerohop.core;

import java.util.Locale;

/**
 * The application protocol a workload port speaks, which decides whether the inbound side may
 * parse it (L7 enforcement) or must splice its bytes opaquely.
 *
 * <p>Resolved as Istio does for a Service port ({@code pilot/pkg/model} protocol selection): the
 * Kubernetes {@code appProtocol} field first, then the port name's prefix
 * ({@code <protocol>[-<suffix>]}, case-insensitive), else {@link #AUTO} (sniff the first bytes).
 * Encrypted or non-HTTP protocols Istio knows ({@code https}, {@code tls}, {@code mongo},
 * {@code mysql}, {@code redis}, ...) are {@link #TCP}: zerohop never parses them.
 */
public enum AppProtocol {
    /** Opaque bytes: never parsed. */
    TCP,
    /** HTTP/1.x (cleartext); a connection that opens with the HTTP/2 preface is h2c, as Envoy's {@code AUTO} codec takes it. */
    HTTP,
    /** HTTP/2 with prior knowledge (h2c). */
    HTTP2,
    /** gRPC: HTTP/2 whose denials are answered with {@code grpc-status}. */
    GRPC,
    /** Not declared: sniff an HTTP/1.x request line or the HTTP/2 preface, else opaque TCP. */
    AUTO;

    /**
     * A Kubernetes {@code appProtocol} value or an Istio protocol name ({@code http}, {@code http2},
     * {@code grpc}, {@code grpc-web}, {@code tcp}, {@code kubernetes.io/h2c}, ...), case-insensitive.
     *
     * @param name the value; null or blank gives {@link #AUTO}
     * @return the protocol; {@link #AUTO} for a name Istio does not know
     */
    public static AppProtocol parse(String name) {
        if (name == null || name.isBlank()) {
            return AUTO;
        }
        switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "http":
            case "http1":
            case "grpc-web":
                return HTTP;
            case "http2":
            case "h2c":
            case "kubernetes.io/h2c":
                return HTTP2;
            case "grpc":
                return GRPC;
            case "tcp":
            case "tls":
            case "https":
            case "mongo":
            case "mysql":
            case "redis":
            case "kubernetes.io/ws":
            case "kubernetes.io/wss":
            case "udp":
            case "unsupported":
                return TCP;
            case "auto":
            default:
                return AUTO;
        }
    }

    /**
     * The protocol of a Service port as Istio selects it: {@code appProtocol} when set, else the
     * port name's prefix before the first {@code -} (so {@code http-web} is HTTP, {@code grpc} is
     * gRPC, {@code web} is AUTO).
     *
     * @param appProtocol the port's {@code appProtocol}, may be null
     * @param portName    the port's name, may be null
     */
    public static AppProtocol of(String appProtocol, String portName) {
        if (appProtocol != null && !appProtocol.isBlank()) {
            return parse(appProtocol);
        }
        if (portName == null || portName.isBlank()) {
            return AUTO;
        }
        int dash = portName.indexOf('-');
        return parse(dash < 0 ? portName : portName.substring(0, dash));
    }
}
