package io.zerohop.core.internal;

import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.hbone.internal.Relay;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.slf4j.Logger;

/**
 * The access log in ztunnel's words, for log pipelines built for ztunnel: chosen with the system
 * property {@code zerohop.accessLog.format} ({@code ztunnel} or {@code ztunnel-json}; the CLI's
 * {@code --access-log-format}), read once. Each line is ztunnel's whole line, written to standard
 * output as ztunnel writes its log: ztunnel's messages ({@code connection complete},
 * {@code connection failed}) and fields in ztunnel's order (istio/ztunnel src/proxy/metrics.rs
 * {@code ConnectionResult::record_internal} and {@code log_early_deny}), encoded as src/telemetry.rs
 * {@code IstioFormat} (time with microseconds, tab, lower-case level, tab, {@code access}, tab,
 * message, tab, fields: addresses bare, strings quoted with Rust's escapes, byte counts bare), e.g.
 * {@code 2026-12-01T17:30:02.651234Z\tinfo\taccess\tconnection complete\tsrc.addr=10.0.1.5:51234
 * src.workload="frontend" src.namespace="prod" src.identity="spiffe://cluster.local/ns/prod/sa/frontend"
 * dst.addr=10.0.1.2:15008 dst.hbone_addr=10.0.1.2:8080 dst.workload="backend" dst.namespace="prod"
 * dst.identity="spiffe://cluster.local/ns/prod/sa/backend" direction="inbound" bytes_sent=70
 * bytes_recv=3000 duration="12ms"}, or {@code IstioJsonFormat} ({@code {"level":"info","time":...,
 * "scope":"access","message":"connection complete","src.addr":"10.0.1.5:51234",...,"bytes_sent":70,...}}).
 * A field ztunnel leaves out when it does not know it (workload, namespace, identity, cluster,
 * {@code dst.service}) is left out. The level of logger {@code io.zerohop.access} still decides
 * which lines are written ({@code /logging?level=access=off}). Lines are written by
 * {@link io.zerohop.core.LogOutput}'s thread, not the event loop's (src/telemetry.rs {@code setup_logging}).
 */
final class ZtunnelAccessLog {
    private static final String FORMAT = System.getProperty("zerohop.accessLog.format", "");
    static final boolean ON = FORMAT.equals("ztunnel") || FORMAT.equals("ztunnel-json");
    private static final boolean JSON = FORMAT.equals("ztunnel-json");

    /**
     * tracing-subscriber's SystemTime: RFC 3339, UTC, microseconds. In a holder because every proxy
     * initialises this class at start to read {@link #ON}, and building the formatter loads ~45
     * {@code java.time.format}/{@code java.time.temporal} classes (~0.3 MB resident) that a proxy
     * without a ztunnel-format log never uses (benchmarks/results/mem-*.md).
     */
    private static final class Time {
        static final DateTimeFormatter FORMAT = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").withZone(ZoneOffset.UTC);
    }

    private ZtunnelAccessLog() {}

    /** Where the lines go: {@link #STDOUT} in a proxy; a test collects them. */
    interface Out {
        void write(String level, Line line);
    }

    /** Standard output through {@link io.zerohop.core.LogOutput}, as ztunnel writes its log. */
    static final Out STDOUT = ZtunnelAccessLog::write;

    /** ztunnel's {@code connection opened} (ConnectionResultBuilder::build, DEBUG): the closing line's fields without bytes or duration. */
    static void opened(Logger log, Out out, TunnelInfo t, Supplier<TrafficLabels> labels, Supplier<String> src) {
        if (log.isDebugEnabled()) {
            boolean outbound = t.direction() == TunnelInfo.Direction.OUTBOUND;
            Line b = complete(src.get(), labels.get(), addr(outbound ? t.peerAddress() : t.localAddress()), hboneAddr(t), outbound,
                    true, -1, -1, null, null);
            out.write("debug", b.rename("connection opened"));
        }
    }

    /** ztunnel's {@code AuthorizationPolicyLateRejection} (istio/ztunnel src/proxy.rs). */
    static final String LATE_REJECTION = "connection closed due to policy change";
    /**
     * ztunnel's {@code ClosedFromDrain} (istio/ztunnel src/proxy.rs): what a connection result still
     * unrecorded when the drain deadline drops its task records (src/proxy/metrics.rs
     * {@code impl Drop for ConnectionResult}); {@code DrainTimeOut} is the HBONE connection's own
     * error (src/proxy/h2/server.rs), no tunnel's.
     */
    static final String CLOSED_FROM_DRAIN = "connection closed due to connection drain";

    /**
     * A closed tunnel's line, when the access log's level lets it through; {@code closedBy}: the error
     * of a tunnel zerohop closed on purpose, {@link #LATE_REJECTION} (a policy change denies it,
     * src/proxy/connection_manager.rs {@code handle_connection!}) or {@link #CLOSED_FROM_DRAIN} (cut
     * at the drain deadline), else null and the error is {@link #endError}'s.
     */
    static void closed(Logger log, Out out, TunnelResult r, String closedBy, Supplier<TrafficLabels> labels, Supplier<String> src) {
        String error = closedBy != null ? closedBy : endError(r);
        if (error != null ? log.isErrorEnabled() : log.isInfoEnabled()) {
            TunnelInfo t = r.info();
            boolean outbound = t.direction() == TunnelInfo.Direction.OUTBOUND;
            out.write(error != null ? "error" : "info", complete(src.get(), labels.get(), addr(outbound ? t.peerAddress() : t.localAddress()),
                    hboneAddr(t), outbound, true, r.bytesSent(), r.bytesReceived(), r.duration(), error));
        }
    }

    /**
     * The Display of the error ztunnel ends an established tunnel with, or null when ztunnel ends it
     * without one (and counts no failure). ztunnel ignores a TCP reset, a lost connection, a broken
     * pipe (src/copy.rs {@code ignore_io_errors}: "users expect errors to occur only when we cannot
     * connect to the backend at all"), reads RST_STREAM NO_ERROR and CANCEL as the end of input and
     * STREAM_CLOSED as a broken pipe (src/proxy/h2.rs {@code H2StreamReadHalf}); only another
     * RST_STREAM code is an error, h2's remote reset ({@code h2_to_io_error}: "stream error received:
     * " and h2's {@code Reason} description), seen by the copy direction that reads the HBONE stream:
     * {@code receive:} outbound (the stream is the upstream, src/proxy/outbound.rs), {@code send:}
     * inbound (the downstream, src/proxy/inbound.rs), wrapped as src/copy.rs
     * {@code copy_bidirectional} wraps it ({@code Error::Io}: "io error: "). Counted as
     * {@code CONNECT} (src/proxy/metrics.rs {@code extract_failure_reason}: ConnectionFailure).
     */
    static String endError(TunnelResult r) {
        long code = r.resetCode();
        if (code < 0 || code == 0 || code == 5 || code == 8) {
            return null;
        }
        return (r.info().direction() == TunnelInfo.Direction.OUTBOUND ? "receive: " : "send: ")
                + "io error: stream error received: " + reasonText(code);
    }

    /** h2's {@code Reason} Display (hyperium/h2 src/frame/reason.rs {@code description}). */
    private static String reasonText(long code) {
        return switch ((int) Math.min(code, Integer.MAX_VALUE)) {
            case 1 -> "unspecific protocol error detected";
            case 2 -> "unexpected internal error encountered";
            case 3 -> "flow-control protocol violated";
            case 4 -> "settings ACK not received in timely manner";
            case 6 -> "frame with invalid size";
            case 7 -> "refused stream before processing any application logic";
            case 9 -> "unable to maintain the header compression context";
            case 10 -> "connection established in response to a CONNECT request was reset or abnormally closed";
            case 11 -> "detected excessive load generating behavior";
            case 12 -> "security properties do not meet minimum requirements";
            case 13 -> "endpoint requires HTTP/1.1";
            case 14 -> "keepalive timeout reached";
            default -> "unknown reason";
        };
    }

    /**
     * A refused CONNECT: with {@code flags} (ztunnel counts it) a {@code connection complete} at ERROR
     * with ztunnel's error text (src/proxy.rs: a policy rejection inbound, the HTTP status outbound);
     * without, ztunnel's early deny ({@code connection failed}, WARN). {@code rejection}: a policy's
     * (inbound), whose text is ztunnel's ({@link #rejectionText}), else null.
     */
    static void refused(Logger log, Out out, TunnelInfo t, int status, String reason, AuthzDecision.PolicyRejection rejection, String flags,
                        Supplier<TrafficLabels> labels, Supplier<String> src) {
        boolean outbound = t.direction() == TunnelInfo.Direction.OUTBOUND;
        if (flags == null || !outbound && t.destination() == null) {
            // An early deny; so is an inbound CONNECT to a host name no service here has (503, no destination address):
            // ztunnel's serve_connect logs it with log_early_deny (src/proxy/inbound.rs), no metrics. Until 5 December
            // that one wrote no line in this format (a review pass, helper 255).
            if (log.isWarnEnabled()) {
                out.write("warn", failed(t.peerAddress(), t.localAddress(), false, earlyDenyError(reason)));
            }
        } else if (t.destination() != null) {
            // ztunnel built the connection result (and logged it opened) before it authorized or
            // sent the CONNECT (src/proxy/inbound.rs build_inbound_request, outbound.rs proxy_to_hbone).
            opened(log, out, t, labels, src);
            if (!log.isErrorEnabled()) {
                return;
            }
            // ztunnel's Error::HttpStatus shows hyper's StatusCode: "401 Unauthorized".
            String error = outbound ? status > 0 ? "http status: " + io.netty.handler.codec.http.HttpResponseStatus.valueOf(status) : reason
                    : flags.equals("DENY") ? rejection(rejection, reason)
                    : inboundFailure(reason);
            out.write("error", complete(src.get(), labels.get(), addr(outbound ? t.peerAddress() : t.localAddress()), hboneAddr(t),
                    outbound, true, 0, 0, elapsed(t), error));
        }
    }

    /**
     * The {@code Display} of ztunnel's {@code Error} for an inbound early deny (istio/ztunnel src/proxy.rs), from
     * mesh-hbone's refusal reason where they name the same fault: {@code expected method CONNECT, got GET}
     * ({@code NonConnectMethod}), {@code no service or workload for hostname: H} ({@code NoHostname}),
     * {@code no valid authority pseudo header: A} ({@code NoValidAuthority}), {@code ip mismatch: DIALLED != TARGET}
     * ({@code IPMismatch}: the address the connection went to, then the CONNECT's); any other keeps zerohop's reason.
     * What pipelines that grep ztunnel's lines match on (helper 255).
     */
    static String earlyDenyError(String reason) {
        if (reason == null) {
            return null;
        }
        if (reason.startsWith("method ") && reason.endsWith(" is not CONNECT")) {
            return "expected method CONNECT, got " + reason.substring("method ".length(), reason.length() - " is not CONNECT".length());
        }
        if (reason.startsWith("no service named ") && reason.endsWith(" is served here")) {
            // mesh-hbone's own text for a name its resolver does not explain: ztunnel's NoHostname (mesh-core's Inbound
            // explains NoPortForServices, above).
            String name = reason.substring("no service named ".length(), reason.length() - " is served here".length());
            int withPort = name.indexOf(" with port ");
            return "no service or workload for hostname: " + (withPort < 0 ? name : name.substring(0, withPort));
        }
        int noPort = reason.indexOf(Inbound.NO_PORT);
        if (reason.startsWith("service ") && noPort > 0) {
            // Inbound.hostnameRefusal: ztunnel's NoPortForServices(hostname, service_port) (src/proxy.rs), a Service of
            // the name whose port resolves to none on the workload (until 7 December printed as NoHostname; h405).
            return "requested service " + reason.substring("service ".length(), noPort) + ":"
                    + reason.substring(noPort + Inbound.NO_PORT.length()) + " found, but cannot resolve port";
        }
        int wentTo = reason.indexOf(Inbound.WENT_TO);
        int isAt = reason.lastIndexOf(" is at ", wentTo);
        int dialledEnd = reason.indexOf(' ', wentTo + Inbound.WENT_TO.length());
        if (reason.startsWith("destination ") && wentTo > 0 && isAt > 0 && dialledEnd > 0) {
            return "ip mismatch: " + reason.substring(wentTo + Inbound.WENT_TO.length(), dialledEnd) + " != "
                    + reason.substring(isAt + " is at ".length(), wentTo);
        }
        if (reason.startsWith("malformed :authority \"")) {
            int end = reason.indexOf("\" (", "malformed :authority \"".length());
            if (end > 0) {
                return "no valid authority pseudo header: " + reason.substring("malformed :authority \"".length(), end);
            }
        }
        return reason;
    }

    /**
     * An inbound 503's error: an unreachable upstream is ztunnel's {@code Error::ConnectionFailed},
     * {@code connection failed: } and the dial's error (istio/ztunnel src/proxy/inbound.rs
     * {@code freebind_connect(..).map_err(Error::ConnectionFailed)}, src/proxy.rs), here zerohop's text
     * of the cause (mesh-hbone's InboundTunnel refuses with {@code upstream ADDR unreachable: CAUSE});
     * any other 503 keeps zerohop's reason.
     */
    static String inboundFailure(String reason) {
        int at = reason.indexOf(" unreachable: ");
        return reason.startsWith("upstream ") && at > 0 ? "connection failed: " + reason.substring(at + " unreachable: ".length()) : reason;
    }

    /**
     * The Display of ztunnel's {@code AuthorizationPolicyRejection} (istio/ztunnel src/proxy.rs: "connection closed
     * due to policy rejection: " and {@link #rejectionText}); {@code reason}, zerohop's text, when {@code r} is null.
     */
    static String rejection(AuthzDecision.PolicyRejection r, String reason) {
        return "connection closed due to policy rejection: " + (r != null ? rejectionText(r) : reason);
    }

    /**
     * The {@code Display} of ztunnel's {@code AuthorizationRejectionError} (istio/ztunnel src/proxy.rs):
     * {@code explicitly denied by: NAMESPACE/NAME} (Rust's {@code {a}/{b}}: an empty namespace leaves
     * the slash) or {@code allow policies exist, but none allowed}. What operators grep and alert on;
     * zerohop's fuller explanation stays in zerohop's format and the authorizer's DEBUG line.
     */
    static String rejectionText(AuthzDecision.PolicyRejection r) {
        return r.explicit() ? "explicitly denied by: " + r.namespace() + "/" + r.name() : "allow policies exist, but none allowed";
    }

    /**
     * An outbound tunnel that failed to open without a CONNECT response, as ztunnel logs each such
     * connection (src/proxy/outbound.rs {@code proxy_to_hbone} builds the connection result before
     * the pool dials, then records the pool's error): {@code connection opened} at DEBUG, then
     * {@code connection complete} at ERROR whose error is the Display of ztunnel's error for
     * {@code flags} (src/proxy.rs {@code Error}; {@link #openError}), or {@code pool draining} when the
     * client was closed ({@code WorkloadHBONEPoolDraining}). One pair per open, every open
     * that waited on one failed HBONE connection included.
     */
    static void dialFailed(Logger log, Out out, TunnelInfo t, String flags, Throwable cause, String reason, Supplier<TrafficLabels> labels,
                           Supplier<String> src) {
        opened(log, out, t, labels, src);
        if (log.isErrorEnabled()) {
            // A closed client is ztunnel's draining pool, whose error is no io::Error: Display "pool draining" (src/proxy.rs).
            out.write("error", complete(src.get(), labels.get(), addr(t.peerAddress()), hboneAddr(t), true, true, 0, 0, elapsed(t),
                    cause instanceof io.zerohop.hbone.HboneClientClosedException ? "pool draining" : openError(flags, reason)));
        }
    }

    /**
     * The time from {@code t}'s start to now: ztunnel's {@code duration} of a connection result it
     * records as failed, from the result's start (built before authorization or the pool's dial) to
     * the record (istio/ztunnel src/proxy/metrics.rs {@code ConnectionResult::record_internal}).
     */
    static Duration elapsed(TunnelInfo t) {
        return Duration.ofNanos(Math.max(0, System.nanoTime() - t.startNanos()));
    }

    /**
     * ztunnel's error text (the {@code Display} of src/proxy.rs {@code Error}) for an open that failed
     * with {@code flags}: {@code Identity} "identity error: ", {@code Tls} around rustls' error "tls error: tls: "
     * (src/tls.rs {@code Error::Tls}), {@code MaybeHBONENetworkPolicyError}
     * "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: ", {@code H2} "h2
     * failed: ", and for the rest the pool's {@code io::Error} ({@code Error::Io}, "io error: ": a
     * refused dial, a failed TLS handshake); {@code reason} is zerohop's own text of the cause.
     */
    static String openError(String flags, String reason) {
        return switch (flags) {
            case "IDENTITY_ERROR" -> "identity error: ";
            case "TLS_FAILURE" -> "tls error: tls: ";
            case "NETWORK_POLICY" -> "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: ";
            case "H2_HANDSHAKE_FAILURE" -> "h2 failed: ";
            default -> "io error: ";
        } + reason;
    }

    /** ztunnel's early deny of a failed handshake ({@code connection failed}, WARN); rate-limited by the caller. */
    static void handshakeFailed(Logger log, Out out, InetSocketAddress src, InetSocketAddress dst, boolean outbound, String error) {
        if (log.isWarnEnabled()) {
            out.write("warn", failed(src, dst, outbound, error));
        }
    }

    /**
     * A plain TCP relay's line (passthrough, plaintext inbound): bytes_sent is the request outbound,
     * the response inbound, as ztunnel's. A reset is {@code info} without error, as ztunnel's copy
     * ignores it (src/copy.rs {@code ignore_io_errors}); {@code closedBy}: the error of a relay zerohop cut on
     * purpose, {@link #LATE_REJECTION} (a policy change denies it: ztunnel's plaintext passthrough runs under
     * {@code handle_connection!} too, src/proxy/inbound_passthrough.rs) or {@link #CLOSED_FROM_DRAIN} (cut at
     * the drain deadline), logged at ERROR as a tunnel's; else null.
     */
    static void plain(Logger log, Out out, Relay.Stats s, String closedBy, boolean inbound, InetSocketAddress src, InetSocketAddress dst,
                      Supplier<TrafficLabels> labels) {
        if (closedBy != null ? log.isErrorEnabled() : log.isInfoEnabled()) {
            out.write(closedBy != null ? "error" : "info", complete(addr(src), labels.get(), addr(dst), null, !inbound, false,
                    inbound ? s.bytesFromB() : s.bytesFromA(), inbound ? s.bytesFromA() : s.bytesFromB(), s.duration(),
                    closedBy));
        }
    }

    /**
     * A plain relay's (or a parsed plaintext connection's) {@code connection opened} at DEBUG, which ztunnel writes when it
     * builds the connection's result (src/proxy/metrics.rs {@code ConnectionResultBuilder::build}), for its passthrough
     * and plaintext inbound as for tunnels: the closing line's fields without bytes or duration. Until 2 December plain
     * relays had none.
     */
    static void plainOpened(Logger log, Out out, boolean inbound, InetSocketAddress src, InetSocketAddress dst,
                            Supplier<TrafficLabels> labels) {
        if (log.isDebugEnabled()) {
            out.write("debug", complete(addr(src), labels.get(), addr(dst), null, !inbound, false, -1, -1, null, null).rename("connection opened"));
        }
    }

    /**
     * A plaintext-inbound connection refused at accept (a policy, PeerAuthentication STRICT), as ztunnel records it
     * (istio/ztunnel src/proxy/inbound_passthrough.rs: the connection result is built, which logs {@code connection
     * opened} at DEBUG, then {@code record_with_flag(Err(e), AuthorizationPolicyDenied)}): {@code connection complete}
     * at ERROR, no identities, {@code bytes_sent=0 bytes_recv=0}, {@code duration} and {@code error}.
     */
    static void plainRefused(Logger log, Out out, InetSocketAddress src, InetSocketAddress dst, Supplier<TrafficLabels> labels,
                             String error, Duration duration) {
        plainRefused(log, out, true, src, dst, labels, error, duration);
    }

    /**
     * {@link #plainRefused(Logger, Out, InetSocketAddress, InetSocketAddress, Supplier, String, Duration)} for either
     * direction: outbound, a passthrough whose dial failed (istio/ztunnel src/proxy/outbound.rs {@code proxy_to_tcp} builds
     * the connection result, then the dial's {@code io::Error} ends it: {@code record(Err(Error::Io))}).
     */
    static void plainRefused(Logger log, Out out, boolean inbound, InetSocketAddress src, InetSocketAddress dst,
                             Supplier<TrafficLabels> labels, String error, Duration duration) {
        plainOpened(log, out, inbound, src, dst, labels);
        if (log.isErrorEnabled()) {
            out.write("error", complete(addr(src), labels.get(), addr(dst), null, !inbound, false, 0, 0, duration, error));
        }
    }

    /**
     * The Display of the error ztunnel rejects plaintext under PeerAuthentication STRICT with: istiod turns STRICT
     * into a DENY policy for ztunnel, {@code ROOT_NAMESPACE/istio_converted_static_strict} (istio/istio
     * pilot/pkg/serviceregistry/kube/controller/ambient, {@code staticStrictPolicyName}), so ztunnel's line reads
     * {@code connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict}.
     */
    static String strictRejection(String rootNamespace) {
        return rejection(AuthzDecision.PolicyRejection.explicitlyDenied(rootNamespace, "istio_converted_static_strict"), null);
    }

    /**
     * ztunnel's {@code connection complete} fields: {@code srcAddr} and {@code dstAddr} are authorities
     * or null; {@code hboneAddr} the CONNECT target of a tunnel (null for a plain relay); {@code l} the
     * tunnel's metric labels, whose workload, namespace, principal and cluster become the fields
     * ({@code unknown}: left out); identities only when {@code mtls}; bytes as this side sent and
     * received them (negative: left out, as in {@code connection opened}); {@code duration} null only
     * in {@code connection opened} (ztunnel's {@code connection complete} always has it, refusals and
     * failed opens included); {@code error} last, or null.
     */
    static Line complete(String srcAddr, TrafficLabels l, String dstAddr, String hboneAddr, boolean outbound, boolean mtls,
                         long bytesSent, long bytesRecv, Duration duration, String error) {
        Line b = new Line("connection complete");
        b.bare("src.addr", srcAddr);
        // ztunnel's ConnectionResultBuilder: the pod's name (wl.name), a derived source's workload name, else the
        // canonical service; not the workload label of the metrics, a pod's controller.
        b.str("src.workload", l.sourcePod());
        b.str("src.namespace", l.sourceWorkloadNamespace());
        if (mtls) {
            b.str("src.identity", l.sourcePrincipal());
        }
        b.str("src.cluster", l.sourceCluster());
        b.bare("dst.addr", dstAddr);
        b.bare("dst.hbone_addr", hboneAddr);
        b.str("dst.service", l.destinationService());
        b.str("dst.workload", l.destinationPod());
        b.str("dst.namespace", l.destinationWorkloadNamespace());
        if (mtls) {
            b.str("dst.identity", l.destinationPrincipal());
        }
        b.str("dst.cluster", l.destinationCluster());
        b.str("direction", outbound ? "outbound" : "inbound");
        if (bytesSent >= 0) {
            b.num("bytes_sent", bytesSent);
            b.num("bytes_recv", bytesRecv);
        }
        if (duration != null) {
            b.str("duration", duration.toMillis() + "ms");
        }
        b.str("error", error);
        return b;
    }

    /** ztunnel's {@code connection failed} ({@code log_early_deny}): a refusal before ztunnel has its connection's facts. */
    static Line failed(InetSocketAddress src, InetSocketAddress dst, boolean outbound, String error) {
        Line b = new Line("connection failed");
        b.bare("src.addr", addr(src));
        b.bare("dst.addr", addr(dst));
        b.str("direction", outbound ? "outbound" : "inbound");
        b.str("error", error);
        return b;
    }

    static String addr(InetSocketAddress a) {
        return a == null ? null : io.zerohop.core.Addresses.authority(a);
    }

    /**
     * {@code dst.hbone_addr}: the CONNECT's target as ztunnel prints its {@code HboneAddress}, the {@code host:port} of a
     * host-name CONNECT ({@code SvcHostname}'s Display; its connection result is built with {@code Some(hbone_addr)},
     * src/proxy/inbound.rs {@code build_inbound_request}), else the address. Until 7 December a name printed as the
     * address it resolved to (helper h405).
     */
    static String hboneAddr(TunnelInfo t) {
        return t.hostname() != null ? t.hostname() : addr(t.destination());
    }

    /**
     * One whole line for standard output, where ztunnel writes its log, queued as ztunnel's
     * non-blocking writer queues it ({@link io.zerohop.core.LogOutput}): the event loop that closed
     * the tunnel never waits for whoever reads the output, unless 10,000 lines are already waiting.
     */
    static void write(String level, Line line) {
        String time = Time.FORMAT.format(Instant.now());
        io.zerohop.core.LogOutput.println(System.out, JSON ? line.json(level, time) : line.text(level, time));
    }

    /** A message and its fields in order: {@code [name, value, kind]}, kind s (string), d (display) or n (number). */
    static final class Line {
        private String message;
        private final List<String[]> fields = new ArrayList<>(16);

        Line(String message) {
            this.message = message;
        }

        Line rename(String m) {
            message = m;
            return this;
        }

        /** A string field (tracing's {@code record_str}), left out when null or {@code unknown}. */
        void str(String k, String v) {
            if (v != null && !v.equals(TrafficLabels.UNKNOWN)) {
                fields.add(new String[] {k, v, "s"});
            }
        }

        /** A {@code %display} field, left out when null. */
        void bare(String k, String v) {
            if (v != null) {
                fields.add(new String[] {k, v, "d"});
            }
        }

        void num(String k, long v) {
            fields.add(new String[] {k, Long.toString(v), "n"});
        }

        /** {@code IstioFormat}: time, level, target, message, then {@code k=v} separated by spaces; strings in Rust's Debug quoting. */
        String text(String level, String time) {
            StringBuilder b = new StringBuilder(400).append(time).append('\t').append(level).append("\taccess\t").append(message).append('\t');
            for (int i = 0; i < fields.size(); i++) {
                String[] f = fields.get(i);
                b.append(i == 0 ? "" : " ").append(f[0]).append('=');
                if (f[2].equals("s")) {
                    b.append('"');
                    escape(b, f[1], false);
                    b.append('"');
                } else {
                    b.append(f[1]);
                }
            }
            return b.toString();
        }

        /** {@code IstioJsonFormat}: level, time, scope, message, then the fields; numbers bare, the rest JSON strings. */
        String json(String level, String time) {
            StringBuilder b = new StringBuilder(500).append("{\"level\":\"").append(level).append("\",\"time\":\"").append(time)
                    .append("\",\"scope\":\"access\",\"message\":");
            jsonString(b, message);
            for (String[] f : fields) {
                b.append(',');
                jsonString(b, f[0]);
                b.append(':');
                if (f[2].equals("n")) {
                    b.append(f[1]);
                } else {
                    jsonString(b, f[1]);
                }
            }
            return b.append('}').toString();
        }
    }

    /**
     * Escapes {@code v} for a quoted string: as Rust's {@code Debug} for a {@code str} (ztunnel's text format: core's
     * {@code char::escape_debug_ext} with grapheme-extended characters escaped) or, with {@code json}, as serde_json
     * writes a string (ztunnel's JSON format: serde_json's {@code format_escaped_str}). Rust: {@code \0}, {@code \t},
     * {@code \r}, {@code \n}, {@code \\}, {@code \"}, and <code>&#92;u{HEX}</code> for a character Rust does not
     * print (core/src/unicode/printable.py: categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs but the space) or a grapheme
     * extender of category Mn or Me, read from Java's Unicode tables, whose version may differ from the Rust release's
     * (Rust's {@code is_grapheme_extended} is the whole {@code Grapheme_Extend} property, which also has the few
     * {@code Other_Grapheme_Extend} spacing marks and U+FF9E/U+FF9F: Java has no table of it, so those are written as
     * is, a known difference). serde_json:
     * {@code \"}, {@code \\}, {@code \b}, {@code \f}, {@code \n}, {@code \r}, {@code \t}, other characters below
     * U+0020 as <code>&#92;u00XX</code> (lower-case hex), the rest as is. Until 6 December NUL read <code>&#92;u{0}</code>, a
     * C1 control, a non-breaking space or a combining mark was written as is in the text format, and backspace and form
     * feed were <code>&#92;u0008</code> and <code>&#92;u000c</code> in JSON.
     */
    static void escape(StringBuilder b, String v, boolean json) {
        for (int i = 0; i < v.length(); ) {
            int c = v.codePointAt(i);
            i += Character.charCount(c);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (json) {
                        if (c == '\b') {
                            b.append("\\b");
                        } else if (c == '\f') {
                            b.append("\\f");
                        } else if (c < 0x20) {
                            b.append(String.format("\\u%04x", c));
                        } else {
                            b.appendCodePoint(c);
                        }
                    } else if (c == 0) {
                        b.append("\\0");
                    } else if (rustEscapes(c)) {
                        b.append("\\u{").append(Integer.toHexString(c)).append('}');
                    } else {
                        b.appendCodePoint(c);
                    }
                }
            }
        }
    }

    /** Whether Rust's {@code Debug} writes code point {@code c} as <code>&#92;u{HEX}</code> (see {@link #escape}). */
    static boolean rustEscapes(int c) {
        if (c >= 0x20 && c < 0x7f) {
            return false;
        }
        return switch (Character.getType(c)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                    Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR,
                    Character.NON_SPACING_MARK, Character.ENCLOSING_MARK -> true;
            default -> false;
        };
    }

    private static void jsonString(StringBuilder b, String v) {
        b.append('"');
        escape(b, v, true);
        b.append('"');
    }
}
