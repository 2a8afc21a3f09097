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
    /**
     * gRPC-Web ({@code grpc-web}): served as {@link #HTTP} is (HTTP/1.x, or h2c with prior knowledge), but, as istiod
     * counts it with {@code grpc} ({@code protocol.Instance.IsGRPC}, istio/istio pkg/config/protocol/instance.go), its
     * inbound route has no retry policy (route.go {@code BuildDefaultHTTPInboundRoute}). Until 7 December it was
     * {@link #HTTP}, and a failed dial to it was retried. Where Istio differs still: its Envoy adds the
     * {@code grpc_web} filter to the port's chain (listener_builder.go {@code buildHTTPConnectionManager}) and speaks
     * HTTP/2 to the application ({@code IsHTTP2}); zerohop does neither (mesh-core README, "Known differences").
     */
    GRPC_WEB,
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
                return HTTP;
            case "grpc-web":
                return GRPC_WEB;
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
     * {@link #of(int, String, String)} without the Service port's number, so no well-known port is TCP by its number.
     *
     * @param appProtocol the port's {@code appProtocol}, may be null
     * @param portName    the port's name, may be null
     */
    public static AppProtocol of(String appProtocol, String portName) {
        return of(0, appProtocol, portName);
    }

    /**
     * The protocol of a TCP Service port as istiod selects it (istio/istio pkg/config/kube/conversion.go
     * {@code ConvertProtocol}, pkg/config/protocol {@code Parse}): {@code appProtocol} when set, else the port name;
     * Kubernetes' {@code kubernetes.io/h2c} is HTTP/2, {@code kubernetes.io/ws} HTTP (a WebSocket over cleartext) and
     * {@code kubernetes.io/wss} TCP (over TLS); a value starting {@code grpc-web} is {@link #GRPC_WEB} (HTTP until
     * 7 December); otherwise the part before
     * the first {@code -}, of either, case-insensitive: {@code http} and {@code http_proxy} HTTP, {@code http2} HTTP/2,
     * {@code grpc} gRPC, {@code tcp}, {@code tls}, {@code https}, {@code mongo}, {@code mysql}, {@code redis} and
     * {@code udp} TCP (never parsed), anything else {@link #AUTO}, except on the ports istiod never sniffs (SMTP 25,
     * DNS 53, MySQL 3306, MongoDB 27017), which are TCP. Until 5 December {@code kubernetes.io/ws} was TCP, so a
     * WebSocket port was decided at L4, and {@code appProtocol: grpc-v1}, {@code http_proxy} and unnamed 3306 were
     * sniffed; {@code h2c} and {@code http1}, which istiod does not know, were taken (a review pass, helper 256).
     * {@link #parse} keeps zerohop's own names (a {@code --workloads} file's {@code http1}, {@code h2c}).
     *
     * @param servicePort the Service port's number (0: none, no well-known port)
     * @param appProtocol the port's {@code appProtocol}, may be null
     * @param portName    the port's name, may be null
     */
    public static AppProtocol of(int servicePort, String appProtocol, String portName) {
        String name = appProtocol != null ? appProtocol : portName;
        if (appProtocol != null) {
            switch (appProtocol) {
                case "kubernetes.io/h2c":
                    return HTTP2;
                case "kubernetes.io/ws":
                    return HTTP;
                case "kubernetes.io/wss":
                    return TCP;
                default:
                    break;
            }
        }
        if (name == null) {
            name = "";
        }
        if (name.regionMatches(true, 0, "grpc-web", 0, 8)) {
            return GRPC_WEB;
        }
        int dash = name.indexOf('-');
        switch ((dash < 0 ? name : name.substring(0, dash)).toLowerCase(Locale.ROOT)) {
            case "http":
            case "http_proxy":
                return HTTP;
            case "http2":
                return HTTP2;
            case "grpc":
                return GRPC;
            case "tcp":
            case "udp":
            case "https":
            case "tls":
            case "mongo":
            case "redis":
            case "mysql":
                return TCP;
            default:
                return servicePort == 25 || servicePort == 53 || servicePort == 3306 || servicePort == 27017 ? TCP : AUTO;
        }
    }
}
