package io.zerohop.core.internal;

import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.hbone.internal.Relay;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Supplier;
import org.slf4j.Logger;

/**
 * The access log in ztunnel's words, for log pipelines built for ztunnel: chosen with the system
 * property {@code zerohop.accessLog.format=ztunnel} (the CLI's {@code --access-log-format ztunnel}),
 * read once. Each line's message is ztunnel's ({@code connection complete}, {@code connection failed})
 * followed by a tab and ztunnel's fields in ztunnel's order and encoding (istio/ztunnel
 * src/proxy/metrics.rs {@code ConnectionResult::record_internal} and {@code log_early_deny}, encoded
 * as src/telemetry.rs {@code IstioFormat}: addresses bare, strings quoted with Rust's escapes, byte
 * counts bare), e.g.
 * {@code connection complete\tsrc.addr=10.0.1.5:51234 src.workload="frontend" src.namespace="prod"
 * src.identity="spiffe://cluster.local/ns/prod/sa/frontend" dst.addr=10.0.1.2:15008
 * dst.hbone_addr=10.0.1.2:8080 dst.workload="backend" dst.namespace="prod"
 * dst.identity="spiffe://cluster.local/ns/prod/sa/backend" direction="inbound" bytes_sent=70
 * bytes_recv=3000 duration="12ms"}. A field ztunnel leaves out when it does not know it (workload,
 * namespace, identity, cluster, {@code dst.service}) is left out. The line's prefix (time, level,
 * logger) is the logging backend's.
 */
final class ZtunnelAccessLog {
    static final boolean ON = "ztunnel".equals(System.getProperty("zerohop.accessLog.format"));

    private ZtunnelAccessLog() {}

    /** A closed tunnel's line, when the access log's level lets it through. */
    static void closed(Logger log, TunnelResult r, Supplier<TrafficLabels> labels, Supplier<String> src) {
        String error = r.error() != null ? r.error() : r.reset() ? "reset" : null;
        if (error != null ? log.isErrorEnabled() : log.isInfoEnabled()) {
            TunnelInfo t = r.info();
            boolean outbound = t.direction() == TunnelInfo.Direction.OUTBOUND;
            complete(log, complete(src.get(), labels.get(), addr(outbound ? t.peerAddress() : t.localAddress()), addr(t.destination()),
                    outbound, true, r.bytesSent(), r.bytesReceived(), r.duration(), error), error != null);
        }
    }

    /**
     * A refused CONNECT: with {@code flags} (ztunnel counts it) a {@code connection complete} at ERROR
     * with ztunnel's error text (src/proxy.rs: a policy rejection inbound, the HTTP status outbound);
     * without, ztunnel's early deny ({@code connection failed}, WARN).
     */
    static void refused(Logger log, TunnelInfo t, int status, String reason, String flags, Supplier<TrafficLabels> labels,
                        Supplier<String> src) {
        boolean outbound = t.direction() == TunnelInfo.Direction.OUTBOUND;
        if (flags == null) {
            if (log.isWarnEnabled()) {
                log.warn(failed(t.peerAddress(), t.localAddress(), false, reason));
            }
        } else if (log.isErrorEnabled() && t.destination() != null) {
            String error = outbound ? "http status: " + status
                    : flags.equals("DENY") ? "connection closed due to policy rejection: " + reason : reason;
            complete(log, complete(src.get(), labels.get(), addr(outbound ? t.peerAddress() : t.localAddress()), addr(t.destination()),
                    outbound, true, 0, 0, null, error), true);
        }
    }

    /** An outbound tunnel whose HBONE connection could not be dialled: ERROR, ztunnel's {@code connection failed: …} error. */
    static void dialFailed(Logger log, TunnelInfo t, String error, Supplier<TrafficLabels> labels, Supplier<String> src) {
        if (log.isErrorEnabled()) {
            complete(log, complete(src.get(), labels.get(), addr(t.peerAddress()), addr(t.destination()), true, true, 0, 0, null, error), true);
        }
    }

    /** A plain TCP relay's line (passthrough, plaintext inbound): bytes_sent is the request outbound, the response inbound, as ztunnel's. */
    static void plain(Logger log, Relay.Stats s, boolean inbound, InetSocketAddress src, InetSocketAddress dst, Supplier<TrafficLabels> labels) {
        if (s.reset() ? log.isErrorEnabled() : log.isInfoEnabled()) {
            complete(log, complete(addr(src), labels.get(), addr(dst), null, !inbound, false,
                    inbound ? s.bytesFromB() : s.bytesFromA(), inbound ? s.bytesFromA() : s.bytesFromB(), s.duration(),
                    s.reset() ? "reset" : null), s.reset());
        }
    }

    /**
     * ztunnel's {@code connection complete}: INFO, or ERROR with {@code error} last when {@code error}
     * is not null. {@code srcAddr} and {@code dstAddr} are authorities or null; {@code hboneAddr} the
     * CONNECT target of a tunnel (null for a plain relay); {@code l} the tunnel's metric labels, whose
     * workload, namespace, principal and cluster become the fields ({@code unknown}: left out);
     * identities only when {@code mtls}; bytes as this side sent and received them; {@code duration}
     * null when not measured (a refusal).
     */
    static String complete(String srcAddr, TrafficLabels l, String dstAddr, String hboneAddr, boolean outbound, boolean mtls,
                           long bytesSent, long bytesRecv, Duration duration, String error) {
        StringBuilder b = new StringBuilder(320).append("connection complete\t");
        first(b, "src.addr", srcAddr);
        quoted(b, "src.workload", l.sourceWorkload());
        quoted(b, "src.namespace", l.sourceWorkloadNamespace());
        if (mtls) {
            quoted(b, "src.identity", l.sourcePrincipal());
        }
        quoted(b, "src.cluster", l.sourceCluster());
        bare(b, "dst.addr", dstAddr);
        bare(b, "dst.hbone_addr", hboneAddr);
        quoted(b, "dst.workload", l.destinationWorkload());
        quoted(b, "dst.namespace", l.destinationWorkloadNamespace());
        if (mtls) {
            quoted(b, "dst.identity", l.destinationPrincipal());
        }
        quoted(b, "dst.cluster", l.destinationCluster());
        quoted(b, "direction", outbound ? "outbound" : "inbound");
        bare(b, "bytes_sent", Long.toString(bytesSent));
        bare(b, "bytes_recv", Long.toString(bytesRecv));
        if (duration != null) {
            quoted(b, "duration", duration.toMillis() + "ms");
        }
        if (error != null) {
            quoted(b, "error", error);
        }
        return b.toString();
    }

    /** ztunnel's {@code connection complete} written at its level: INFO, ERROR with an error. */
    static void complete(Logger log, String line, boolean error) {
        if (error) {
            log.error(line);
        } else {
            log.info(line);
        }
    }

    /** ztunnel's {@code connection failed} ({@code log_early_deny}, WARN): a refusal before ztunnel has its connection's facts. */
    static String failed(InetSocketAddress src, InetSocketAddress dst, boolean outbound, String error) {
        StringBuilder b = new StringBuilder(160).append("connection failed\t");
        first(b, "src.addr", addr(src));
        bare(b, "dst.addr", addr(dst));
        quoted(b, "direction", outbound ? "outbound" : "inbound");
        quoted(b, "error", error);
        return b.toString();
    }

    static String addr(InetSocketAddress a) {
        return a == null ? null : io.zerohop.core.Addresses.authority(a);
    }

    private static void first(StringBuilder b, String k, String v) {
        if (v != null) {
            b.append(k).append('=').append(v);
        }
    }

    private static void bare(StringBuilder b, String k, String v) {
        if (v != null) {
            sep(b).append(k).append('=').append(v);
        }
    }

    private static void quoted(StringBuilder b, String k, String v) {
        if (v != null && !v.equals(TrafficLabels.UNKNOWN)) {
            sep(b).append(k).append("=\"");
            escape(b, v);
            b.append('"');
        }
    }

    private static StringBuilder sep(StringBuilder b) {
        return b.charAt(b.length() - 1) == '\t' ? b : b.append(' ');
    }

    /** Rust's {@code Debug} escapes for a {@code str}, which ztunnel's log format applies to string fields. */
    static void escape(StringBuilder b, String v) {
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append("\\u{").append(Integer.toHexString(c)).append('}');
                    } else {
                        b.append(c);
                    }
                }
            }
        }
    }
}
