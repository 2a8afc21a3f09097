package io.zerohop.core.internal;

import io.zerohop.hbone.internal.LogText;

import com.github.benmanes.caffeine.cache.Interner;
import io.netty.channel.Channel;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.hbone.internal.Relay;
import java.net.InetSocketAddress;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns HBONE events into one access-log line per tunnel (logger {@code io.zerohop.access}) and,
 * when a metrics sink is present, ztunnel-named metrics. Runs on event loops: string building only
 * when the log level is on, no blocking.
 */
public final class TunnelObserver implements HboneEvents {
    private static final Logger ACCESS = LoggerFactory.getLogger("io.zerohop.access");
    private final Logger access;
    /** Failed handshakes are a peer's to cause at will: 20 lines per 10 s, then a count (issue 11 item 8). */
    private final RateLimitedLog failures;
    /** Where ztunnel's access-log lines go, or null when the access log is not in ztunnel's format. */
    private final ZtunnelAccessLog.Out ztunnel;

    /** Where metrics go; mesh-core's Micrometer adapter implements it (Micrometer stays optional). */
    public interface Sink {
        void opened(TrafficLabels labels);

        /**
         * Payload bytes that moved since the last report for these labels' tunnel, in ztunnel's
         * directions for both reporters: {@code sent} = server to client (response),
         * {@code received} = client to server (request).
         */
        void bytes(TrafficLabels labels, long sent, long received);

        /** A close; with response flags other than {@code -} it is also a failed connection. */
        void closed(TrafficLabels labels);

        /** The server reset a tunnel by one of its limits ({@link TunnelResult#LIMITS}), said with its close. */
        default void limitReset(String limit) {}

        /** A connection whose destination's hostname was looked up on demand (ztunnel's {@code on_demand_dns}). */
        default void onDemandDns(TrafficLabels.Peer source, String hostname) {}
    }

    /** One budget for every observer of a process, as the access log is one. */
    private static final RateLimitedLog FAILURES = new RateLimitedLog(ACCESS, "failed connection", "failed connections", 20, java.time.Duration.ofSeconds(10));
    private final WorkloadRegistry registry;
    private final String clusterId;
    /** Silent: the authorizer (PolicyAuthorizer, HttpEnforcement) logs an untrusted claim once. */
    private final TunnelSource sources;
    private final Sink sink;
    private final Consumer<TunnelResult> extra;
    /**
     * One instance per distinct label set among open tunnels: every tunnel between two workloads
     * has equal labels, and each kept its own copy (104 bytes per open tunnel on both proxies;
     * issue 14). Weak: a label set goes with the last tunnel that holds it.
     */
    private volatile Interner<TrafficLabels> shared;
    /**
     * {@link #shared}, made at the first tunnel reported, not with the observer: Caffeine's interner loads
     * ~30 classes of Caffeine's (and with MeshTls's context cache, made lazily too, Caffeine's ~80) that an idle
     * proxy would otherwise carry from its start (benchmarks/results/classes-*.md).
     */
    private Interner<TrafficLabels> shared() {
        Interner<TrafficLabels> s = shared;
        if (s == null) {
            synchronized (this) {
                s = shared;
                if (s == null) {
                    s = Interner.newWeakInterner();
                    shared = s;
                }
            }
        }
        return s;
    }

    /**
     * Tunnels a policy decision is closing while no metrics sink tracks them ({@link #open} is empty), to the
     * error their close is logged with ({@link #denied}). Keyed by the TunnelInfo instance; each leaves at its close.
     */
    private final Map<TunnelInfo, String[]> deniedUntracked = Collections.synchronizedMap(new IdentityHashMap<>());
    /** Open tunnels whose bytes are reported as they flow; keyed by the TunnelInfo instance. */
    private final Map<TunnelInfo, Live> open = Collections.synchronizedMap(new IdentityHashMap<>());

    /** One open tunnel's counters and what of them was already reported. */
    private static final class Live {
        final TunnelCounters counters;
        final TrafficLabels labels;
        final boolean outbound;
        /** ztunnel's error for a close a policy decided ({@link #denied}), else null. */
        volatile String deniedBy;
        /** zerohop's explanation of that decision (zerohop's format), or null. */
        volatile String deniedReason;
        long sentReported;
        long receivedReported;

        Live(TunnelCounters counters, TrafficLabels labels, boolean outbound) {
            this.counters = counters;
            this.labels = labels;
            this.outbound = outbound;
        }

        /** Reports the tunnel's totals from this side's point of view, in ztunnel's directions. */
        void reportSides(Sink sink, long bytesSentByUs, long bytesReceivedByUs) {
            // ztunnel (and Istio, istio/istio#32399) count sent = server->client for both reporters:
            // the client side sends the request, so its "sent" metric is what it received.
            if (outbound) {
                report(sink, bytesReceivedByUs, bytesSentByUs);
            } else {
                report(sink, bytesSentByUs, bytesReceivedByUs);
            }
        }

        /** Reports what moved since the last call (at close, with the tunnel's totals). */
        synchronized void report(Sink sink, long sent, long received) {
            long ds = sent - sentReported;
            long dr = received - receivedReported;
            if (ds > 0 || dr > 0) {
                sink.bytes(labels, Math.max(0, ds), Math.max(0, dr));
                sentReported = Math.max(sent, sentReported);
                receivedReported = Math.max(received, receivedReported);
            }
        }
    }

    public TunnelObserver(WorkloadRegistry registry, Sink sink, Consumer<TunnelResult> extra) {
        this(registry, sink, extra, TrafficLabels.DEFAULT_CLUSTER);
    }

    /** @param clusterId the cluster of registry workloads without a {@code topology.istio.io/cluster} label */
    public TunnelObserver(WorkloadRegistry registry, Sink sink, Consumer<TunnelResult> extra, String clusterId) {
        this(registry, sink, extra, clusterId, ACCESS, ZtunnelAccessLog.ON ? ZtunnelAccessLog.STDOUT : null);
    }

    /** @param access the access log; {@code ztunnel} where ztunnel-format lines go, null for zerohop's format */
    TunnelObserver(WorkloadRegistry registry, Sink sink, Consumer<TunnelResult> extra, String clusterId, Logger access,
                   ZtunnelAccessLog.Out ztunnel) {
        this.access = access;
        this.failures = access == ACCESS ? FAILURES : new RateLimitedLog(access, "failed connection", "failed connections", 20, java.time.Duration.ofSeconds(10));
        this.ztunnel = ztunnel;
        this.clusterId = clusterId;
        this.registry = registry;
        this.sources = new TunnelSource(registry, null);
        this.sink = sink;
        this.extra = extra;
    }

    @Override
    public void tunnelOpened(TunnelInfo t, TunnelCounters live) {
        TrafficLabels l = null;
        if (sink != null) {
            l = shared().intern(labels(t));
            sink.opened(l);
            open.put(t, new Live(live, l, t.direction() == TunnelInfo.Direction.OUTBOUND));
        }
        if (ztunnel != null) {
            TrafficLabels known = l;
            ZtunnelAccessLog.opened(access, ztunnel, t, () -> known != null ? known : labels(t), () -> ztunnelSource(t));
        }
    }

    /** ztunnel's {@code ENABLE_RESPONSE_BAGGAGE}: whether an inbound CONNECT's {@code baggage} labels its source. */
    private volatile boolean readBaggage = true;

    /**
     * ztunnel's {@code ENABLE_RESPONSE_BAGGAGE} ({@code enable_enhanced_baggage}, default true) also gates the inbound
     * CONNECT's {@code baggage}: off, a source with no workload is labelled from its identity alone (src/proxy/inbound.rs
     * {@code build_inbound_request}: {@code Baggage::default()}, test {@code test_incoming_baggage_parsing_feature_gate}),
     * so a peer's claims never reach the metric labels or the access log.
     */
    public void readBaggage(boolean on) {
        this.readBaggage = on;
    }

    /** Whether the drain deadline has passed (then every open tunnel is being cut); never, until {@link #drainDeadline} is given. */
    private volatile java.util.function.BooleanSupplier drainDeadlinePassed = () -> false;

    /** Where this observer learns that the drain deadline has passed ({@link TunnelCount#deadlinePassed}). */
    void drainDeadline(java.util.function.BooleanSupplier passed) {
        this.drainDeadlinePassed = passed;
    }

    /**
     * A tunnel that ended by a reset once the drain deadline had passed: cut by the drain, which
     * ztunnel records as {@code ClosedFromDrain} (no tunnel ends cleanly by a reset).
     */
    private boolean cutByDrain(TunnelResult r) {
        return r.reset() && drainDeadlinePassed.getAsBoolean();
    }

    /** {@link #cutByDrain} of a plain TCP relay. */
    boolean drained(Relay.Stats s) {
        return s.reset() && drainDeadlinePassed.getAsBoolean();
    }

    /**
     * {@code t} is being closed because a policy change denies it: its close counts with
     * {@code response_flags="DENY"} and is logged with ztunnel's {@code AuthorizationPolicyLateRejection}.
     */
    public void lateDenied(TunnelInfo t) {
        denied(t, ZtunnelAccessLog.LATE_REJECTION);
    }

    /**
     * {@code t}, already open, is being closed because a policy denies it: its close counts with
     * {@code response_flags="DENY"} (istio/ztunnel src/proxy/metrics.rs {@code extract_failure_reason}: both
     * rejections are {@code AuthorizationPolicyDenied}), and both access-log formats carry {@code error}, the
     * Display of ztunnel's error (not null): {@link ZtunnelAccessLog#LATE_REJECTION} for a policy change,
     * {@link ZtunnelAccessLog#rejection} for a decision taken after the sniff, which ztunnel takes at the CONNECT.
     * Without it such a close was counted and logged as a clean one.
     */
    public void denied(TunnelInfo t, String error) {
        denied(t, error, null);
    }

    /**
     * {@link #denied(TunnelInfo, String)} with {@code reason}, zerohop's explanation of the decision (the policy, its rule,
     * why the tunnel was not parsed), which zerohop's format adds as {@code reason="…"} after {@code error}: the line
     * then says what the authorizer's WARN said, which is DEBUG while the access log writes it. Null: none.
     */
    public void denied(TunnelInfo t, String error, String reason) {
        Live l = open.get(t);
        if (l != null) {
            l.deniedReason = reason;
            l.deniedBy = error;
        } else if (sink == null) {
            deniedUntracked.put(t, new String[] {error, reason});
        }
    }

    /**
     * Adds the bytes open tunnels moved since the last call to the byte counters, so they grow
     * while long tunnels run instead of jumping at close. Called periodically by {@code Mesh}.
     */
    public void flush() {
        if (sink == null) {
            return;
        }
        Live[] now;
        synchronized (open) {
            now = open.values().toArray(Live[]::new);
        }
        for (Live l : now) {
            l.reportSides(sink, l.counters.bytesSent(), l.counters.bytesReceived());
        }
    }

    @Override
    public void tunnelClosed(TunnelResult r) {
        TunnelInfo t = r.info();
        TrafficLabels closedLabels = null;
        String deniedBy = null;
        String deniedReason = null;
        // This side closed the connection because a CRL reload revoked the peer (mesh-hbone's TunnelResult.CERT_REVOKED):
        // ztunnel's Error::CertificateRevoked, which its handle_connection! polls before the policy drain (biased select),
        // so it wins over a late denial as it does there.
        boolean revoked = TunnelResult.CERT_REVOKED.equals(r.error());
        if (sink != null) {
            Live l = open.remove(t);
            if (l == null) {
                l = new Live(null, labels(t), t.direction() == TunnelInfo.Direction.OUTBOUND);
            }
            l.reportSides(sink, r.bytesSent(), r.bytesReceived());
            // ztunnel records the close with the flag of its failure: a policy that now denies it
            // (DENY), a peer's RST_STREAM with an error code as a connection failure (CONNECT); a TCP
            // reset or a lost connection is no failure to ztunnel (ZtunnelAccessLog.endError).
            // A tunnel cut at the drain deadline is ztunnel's ClosedFromDrain, a ConnectionFailure.
            // A revoked peer's connection: CERT_REVOKED (extract_failure_reason), a failure as ztunnel counts it.
            sink.closed(l.labels.withResponseFlags(revoked ? "CERT_REVOKED" : l.deniedBy != null ? "DENY"
                    : cutByDrain(r) || ZtunnelAccessLog.endError(r) != null ? "CONNECT" : TrafficLabels.NO_FLAGS));
            if (r.reset() && r.error() != null && TunnelResult.LIMITS.contains(r.error())) {
                sink.limitReset(r.error());
            }
            closedLabels = l.labels;
            deniedBy = l.deniedBy;
            deniedReason = l.deniedReason;
        } else {
            String[] d = deniedUntracked.remove(t);
            deniedBy = d == null ? null : d[0];
            deniedReason = d == null ? null : d[1];
        }
        if (revoked) {
            deniedBy = null;
            deniedReason = null;
        }
        if (ztunnel != null) {
            TrafficLabels known = closedLabels;
            ZtunnelAccessLog.closed(access, ztunnel, r, revoked ? TunnelResult.CERT_REVOKED : deniedBy != null ? deniedBy
                            : cutByDrain(r) ? ZtunnelAccessLog.CLOSED_FROM_DRAIN : null,
                    () -> known != null ? known : labels(t), () -> ztunnelSource(t));
        } else if (access.isInfoEnabled()) {
            access.info("{} src={} src_id={}{} dst={} dst_id={}{} status={} bytes_sent={} bytes_received={} duration_ms={} end={}{}{}",
                    t.direction() == TunnelInfo.Direction.INBOUND ? "inbound" : "outbound",
                    source(t),
                    t.direction() == TunnelInfo.Direction.INBOUND ? t.peerIdentity() : t.localIdentity(),
                    sourceWorkloadField(t),
                    target(t),
                    t.direction() == TunnelInfo.Direction.INBOUND ? t.localIdentity() : t.peerIdentity(),
                    waypointField(t),
                    r.status(), r.bytesSent(), r.bytesReceived(), r.duration().toMillis(),
                    r.reset() ? "reset" : "fin", deniedBy != null ? " error=\"" + deniedBy + "\""
                            // The cause ztunnel's line gives (ClosedFromDrain), not the bare "reset" of the cut.
                            : !revoked && cutByDrain(r) ? " error=\"" + ZtunnelAccessLog.CLOSED_FROM_DRAIN + "\""
                            : r.error() == null ? "" : " error=" + LogText.quoted(r.error()),
                    deniedBy != null && deniedReason != null ? " reason=" + LogText.quoted(deniedReason) : "");
        }
        if (extra != null) {
            try {
                extra.accept(r);
            } catch (RuntimeException | Error e) {
                if (e instanceof VirtualMachineError) {
                    throw e;
                }
                // The user's code: logged here, once, and not passed on, so that the listeners after this one
                // (the tunnel count the drain waits for, the re-authorization set) still see the close.
                CALLBACK_FAILURES.warn("onTunnelClosed callback threw on the close of {} {} -> {} (ignored: the tunnel is closed and"
                        + " accounted for as usual)", t.direction() == TunnelInfo.Direction.INBOUND ? "inbound" : "outbound",
                        addr(t.peerAddress()), addr(t.destination()), e);
            }
        }
    }

    /**
     * The line's {@code dst}: the CONNECT target, so for a host-name CONNECT the {@code host:port} the client named, as
     * ztunnel's access log prints it ({@code dst.hbone_addr}, the {@code HboneAddress::SvcHostname} it parsed;
     * istio/ztunnel src/proxy/metrics.rs {@code ConnectionResult::record}), not the workload address it resolved to,
     * which ztunnel's line never shows. Until 7 December zerohop's line printed that address.
     */
    private static String target(TunnelInfo t) {
        return t.hostname() != null ? t.hostname() : addr(t.destination());
    }

    /** A user callback that throws on every close would write a line per tunnel: 20 lines per 10 s, then a count. */
    private static final RateLimitedLog CALLBACK_FAILURES = new RateLimitedLog(LoggerFactory.getLogger(TunnelObserver.class),
            "onTunnelClosed callback failure", "onTunnelClosed callback failures", 20, java.time.Duration.ofSeconds(10));

    /**
     * Whether {@link #tunnelRefused} writes a line now: zerohop's {@code DIRECTION refused} (INFO:
     * both identities, status, reason) or ztunnel's lines (WARN {@code connection failed}, ERROR
     * {@code connection complete} with the reason in {@code error}). While it does, the HBONE server
     * and the policy authorizer keep their own lines for the same refusal at DEBUG.
     */
    @Override
    public boolean logsRefusals() {
        return ztunnel != null ? access.isWarnEnabled() : access.isInfoEnabled();
    }

    @Override
    public void tunnelRefused(TunnelInfo t, int status, String reason) {
        refused(t, status, reason, null);
    }

    /** A denial by the authorizer: as a refusal, with the policy's rejection for ztunnel's error text. */
    @Override
    public void tunnelDenied(TunnelInfo t, io.zerohop.hbone.AuthzDecision d) {
        refused(t, d.status(), d.reason(), d.rejection());
    }

    private void refused(TunnelInfo t, int status, String reason, io.zerohop.hbone.AuthzDecision.PolicyRejection rejection) {
        // An inbound CONNECT to one of the proxy's own ports is ztunnel's early deny: find_inbound_upstream's
        // Error::SelfCall fails build_inbound_request, and serve_connect logs it with log_early_deny, no connection
        // result, so no metric (istio/ztunnel src/proxy/inbound.rs). A new-user pass found it counted CONNECT.
        boolean selfCall = t.direction() == TunnelInfo.Direction.INBOUND && reason != null && reason.startsWith("self call: ");
        String flags = selfCall ? null : TrafficLabels.refusalFlags(t.direction() == TunnelInfo.Direction.OUTBOUND, status);
        if (sink != null && flags != null && t.destination() != null) {
            // ztunnel opens the connection result before it authorizes, then records the failure:
            // opened, closed and failed, with the flag.
            TrafficLabels l = labels(t);
            sink.opened(l);
            sink.closed(l.withResponseFlags(flags));
        }
        if (ztunnel != null) {
            ZtunnelAccessLog.refused(access, ztunnel, t, status, selfCall ? PlaintextInbound.SELF_CALL : reason, rejection, flags,
                    () -> labels(t), () -> ztunnelSource(t));
        } else if (access.isInfoEnabled()) {
            boolean inbound = t.direction() == TunnelInfo.Direction.INBOUND;
            access.info("{} refused src={} src_id={}{} dst={} dst_id={}{} status={} reason={}",
                    inbound ? "inbound" : "outbound",
                    source(t), inbound ? t.peerIdentity() : t.localIdentity(), sourceWorkloadField(t),
                    target(t), inbound ? t.localIdentity() : t.peerIdentity(), waypointField(t), status,
                    LogText.quoted(reason));
        }
    }

    /**
     * An outbound tunnel that failed to open without a CONNECT response (mesh-hbone's
     * {@code tunnelFailed}: one per failed open, every open that waited on a failed HBONE connection
     * included, whether from a capture, {@code connect} or {@code socketFactory()}). ztunnel builds the
     * connection result before the dial and records the error (src/proxy/outbound.rs
     * {@code proxy_to_hbone}; src/proxy/metrics.rs {@code ConnectionResult::record}): opened, then
     * closed and failed with the flag of {@link TrafficLabels#openFailureFlags}, with the tunnel's
     * labels, and one access-log line.
     */
    @Override
    public void tunnelFailed(TunnelInfo t, Throwable cause) {
        String reason = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        String flags = TrafficLabels.openFailureFlags(t, cause);
        if (sink != null && t.destination() != null) {
            TrafficLabels l = labels(t);
            sink.opened(l);
            sink.closed(l.withResponseFlags(flags));
        }
        if (ztunnel != null) {
            // ztunnel's pool hands its dial's io::Error on as it is ("io error: Connection refused (os error 111)",
            // src/proxy/pool.rs): the OS error alone, not zerohop's "HBONE connection to ADDR failed: ..." (review pass).
            String dial = "CONNECT".equals(flags) ? io.zerohop.hbone.internal.DialErrors.describe(cause) : null;
            String ztunnelReason = dial != null && dial.endsWith(")") && dial.contains(" (os error ") ? dial : reason;
            ZtunnelAccessLog.dialFailed(access, ztunnel, t, flags, cause, ztunnelReason, () -> labels(t), () -> source(t));
        } else if (access.isInfoEnabled()) {
            access.info("outbound refused src={} src_id={} dst={} dst_id={}{} status=- reason={}", source(t), t.localIdentity(),
                    addr(t.destination()), t.peerIdentity() != null ? t.peerIdentity() : expectedIdentity(t), waypointField(t),
                    LogText.quoted(reason));
        }
    }

    @Override
    public void connectionFailed(InetSocketAddress peer, InetSocketAddress local, Throwable cause) {
        // No metric here: a failed inbound handshake is ztunnel's early deny (logged only), and a failed
        // outbound one counts once per waiting tunnel, with that tunnel's labels (tunnelFailed).
        // The whole cause chain, as the HBONE server's own line: a TLS failure's top message is only
        // "General OpenSslEngine problem" (a new-user pass), its cause says what was wrong.
        String reason = io.zerohop.hbone.internal.HboneListener.describe(cause);
        if (ztunnel != null) {
            // Inbound, ztunnel's early deny of a failed handshake (src/proxy/inbound.rs: log_early_deny
            // when the TLS accept fails). Outbound (no local address yet), nothing: ztunnel's pool
            // logs no line for a failed connection (src/proxy/pool.rs new_pool_conn returns the error),
            // each waiting open gets its own pair of lines (tunnelFailed).
            if (local != null) {
                failures.warn(() -> ZtunnelAccessLog.handshakeFailed(access, ztunnel, peer, local, false, reason));
            }
        } else {
            failures.info("connection failed peer={} local={} reason={}", addr(peer), addr(local), LogText.quoted(reason));
        }
    }

    /**
     * {@code end} (the destination side of a plain TCP relay: passthrough or plaintext inbound) with
     * one access-log line when the relay ends, in the tunnel line's format with {@code status=-},
     * and the istio_tcp_* metrics with {@code connection_security_policy="none"}. {@code kind} names
     * the relay; {@code dstId} is the destination workload's identity, if known; {@code inbound}
     * makes this side the destination reporter.
     */
    public Relay.End plain(Relay.End end, String kind, boolean inbound, InetSocketAddress src, InetSocketAddress dst, Object dstId) {
        return plain(end, kind, inbound, src, dst, dstId, null);
    }

    /**
     * {@link #plain(Relay.End, String, boolean, InetSocketAddress, InetSocketAddress, Object)} for an outbound relay to a
     * Service VIP's plaintext endpoint: {@code serviceHost} (the Service's hostname, or null) is its
     * {@code destination_service}, as ztunnel's {@code conn_metrics_from_request} sets the intended Service for a TCP
     * request too (a new-user pass: such relays said {@code unknown}).
     */
    public Relay.End plain(Relay.End end, String kind, boolean inbound, InetSocketAddress src, InetSocketAddress dst, Object dstId,
                           String serviceHost) {
        TrafficLabels labels = plainOpened(inbound, src, dst, serviceHost);
        // The access line's labels: the metrics' when counted, else (no metrics sink) the Service's own when there is one.
        TrafficLabels lineLabels = labels != null || serviceHost == null ? labels : plainLabels(inbound, src, dst, serviceHost);
        long openedNanos = System.nanoTime();
        return new Relay.ForwardingEnd(end) {
            /** Set by the join, from which the relay reports the end, or by a reset before any join, which reports it here. */
            private final java.util.concurrent.atomic.AtomicBoolean reported = new java.util.concurrent.atomic.AtomicBoolean();
            /** The captured client's connection once joined: the drain marks it when it cuts it (TunnelCount.cutByDrain). */
            private volatile io.netty.channel.Channel client;

            @Override
            public void joinFrom(Relay.End c) {
                reported.set(true);
                client = c.channel();
                Relay.join(c, this);
            }

            /**
             * A reset before the join (the client was gone once the dial completed, or the move onto the dial's loop
             * failed: CaptureListener): no relay will report this end, so it ends here, as ztunnel's result records the
             * copy's end of a client that left (src/copy.rs ignores the reset: no failure). Until 2 December such a
             * relay was counted opened and never closed, and had no access line.
             */
            @Override
            public void reset() {
                end.reset();
                if (reported.compareAndSet(false, true)) {
                    ended(new Relay.Stats(0, 0, java.time.Duration.ofNanos(System.nanoTime() - openedNanos), true));
                }
            }

            @Override
            public void ended(Relay.Stats s) {
                // The captured client is side a, this destination side b.
                // A connection a policy change cut is ztunnel's AuthorizationPolicyLateRejection: DENY, and that
                // error in both formats. Any other reset is no failure to ztunnel's copy (src/copy.rs
                // ignore_io_errors), unless the drain deadline cut the relay (ClosedFromDrain).
                boolean denied = s.reset() && LivePlaintext.deniedByPolicy(end.channel());
                // Joined: exactly whether the drain reset the client; else (reset before the join) any reset past its deadline.
                io.netty.channel.Channel c = client;
                boolean drain = c != null ? TunnelCount.cutByDrain(c) : drained(s);
                String closedBy = denied ? ZtunnelAccessLog.LATE_REJECTION : drain ? ZtunnelAccessLog.CLOSED_FROM_DRAIN : null;
                plainEnded(labels, s, denied ? "DENY" : closedBy != null ? "CONNECT" : TrafficLabels.NO_FLAGS);
                plainLine(kind, inbound, src, dst, dstId, s, closedBy, null, lineLabels);
            }
        };
    }

    /**
     * A plain relay's (or a parsed plaintext connection's) {@code istio_tcp_connections_opened_total} and, in ztunnel's
     * format, its {@code connection opened} DEBUG line, when its connection result would be built (ztunnel's
     * {@code ConnectionResultBuilder::build}); returns its labels, which {@link #plainEnded} closes, or null without a
     * metrics sink.
     */
    TrafficLabels plainOpened(boolean inbound, InetSocketAddress src, InetSocketAddress dst) {
        return plainOpened(inbound, src, dst, null);
    }

    private TrafficLabels plainOpened(boolean inbound, InetSocketAddress src, InetSocketAddress dst, String serviceHost) {
        TrafficLabels l = null;
        if (sink != null) {
            l = plainLabels(inbound, src, dst, serviceHost);
            sink.opened(l);
        }
        if (ztunnel != null) {
            TrafficLabels known = l;
            ZtunnelAccessLog.plainOpened(access, ztunnel, inbound, src, dst,
                    () -> known != null ? known : plainLabels(inbound, src, dst, serviceHost));
        }
        return l;
    }

    /**
     * The end of what {@link #plainOpened} counted ({@code labels}; null: nothing): its bytes, {@code s} with the client
     * as side a, in ztunnel's directions (sent = server to client, received = client to server), under the labels it
     * opened with ({@code response_flags="-"}, as ztunnel's byte counters are fetched when its result is built), then its
     * close with {@code flags} (failed too when not {@code -}), as ztunnel's {@code record}.
     */
    void plainEnded(TrafficLabels labels, Relay.Stats s, String flags) {
        if (labels != null) {
            sink.bytes(labels, s.bytesFromB(), s.bytesFromA());
            sink.closed(labels.withResponseFlags(flags));
        }
    }

    /**
     * A plain relay's one access line in the configured format (no metrics): {@code s} with the captured client as
     * side a; {@code closedBy} ztunnel's error for a relay zerohop ended on purpose (both formats), else null;
     * {@code reason} zerohop's own explanation of it, zerohop's format only, or null; {@code labels} the metric
     * labels when known, else null.
     */
    void plainLine(String kind, boolean inbound, InetSocketAddress src, InetSocketAddress dst, Object dstId, Relay.Stats s,
                   String closedBy, String reason, TrafficLabels labels) {
        if (ztunnel != null) {
            ZtunnelAccessLog.plain(access, ztunnel, s, closedBy, inbound, src, dst, () -> labels != null ? labels : plainLabels(inbound, src, dst));
        } else if (access.isInfoEnabled()) {
            // From the reporting side's point of view, as the tunnels' lines: inbound, sent is what the
            // workload (side b) sent; outbound, what the captured client (side a) sent.
            access.info("{} src={} src_id=-{} dst={} dst_id={} status=- bytes_sent={} bytes_received={} duration_ms={} end={}{}{}",
                    kind, addr(src), plainSourceField(inbound, src), addr(dst), dstId == null ? "-" : dstId,
                    inbound ? s.bytesFromB() : s.bytesFromA(), inbound ? s.bytesFromA() : s.bytesFromB(),
                    s.duration().toMillis(), s.reset() ? "reset" : "fin",
                    closedBy == null ? "" : " error=" + LogText.quoted(closedBy), reason == null ? "" : " reason=" + LogText.quoted(reason));
        }
    }

    /**
     * A plaintext-inbound connection refused at accept by a policy or PeerAuthentication STRICT, after ztunnel would
     * have built its connection result (istio/ztunnel src/proxy/inbound_passthrough.rs {@code proxy_inbound_plaintext}:
     * {@code assert_rbac} fails, {@code record_with_flag(Err(e), AuthorizationPolicyDenied)}): counted opened, closed
     * and failed with {@code DENY} ({@link #plainFailed}), and its one access line, as a refused tunnel's
     * ({@link #tunnelDenied}): zerohop's {@code plaintext-inbound refused src=… src_id=- dst=… dst_id=… status=-
     * reason="…"} ({@code reason}: zerohop's explanation), or ztunnel's {@code connection complete} at ERROR with
     * {@code bytes_sent=0 bytes_recv=0}, the duration since {@code startNanos} (the accept's {@link System#nanoTime})
     * and {@code ztunnelError}, the Display of ztunnel's error (src/proxy.rs {@code AuthorizationPolicyRejection}),
     * after {@code connection opened} at DEBUG.
     */
    public void plainRefused(InetSocketAddress src, InetSocketAddress dst, Object dstId, String reason, String ztunnelError,
                             long startNanos) {
        plainFailed(true, src, dst, "DENY");
        if (ztunnel != null) {
            ZtunnelAccessLog.plainRefused(access, ztunnel, src, dst, () -> plainLabels(true, src, dst), ztunnelError,
                    java.time.Duration.ofNanos(Math.max(0, System.nanoTime() - startNanos)));
        } else if (access.isInfoEnabled()) {
            access.info("plaintext-inbound refused src={} src_id=-{} dst={} dst_id={} status=- reason={}", addr(src),
                    plainSourceField(true, src), addr(dst), dstId == null ? "-" : dstId, LogText.quoted(reason));
        }
    }

    /**
     * A plaintext-inbound connection whose dial to the workload failed ({@code cause}: the dial's error text), as
     * ztunnel records it (inbound_passthrough.rs: {@code Error::ConnectionFailed}, flag {@code ConnectionFailure}):
     * counted opened, closed and failed with {@code CONNECT}, and one access line: zerohop's {@code plaintext-inbound
     * refused … status=- reason="upstream ADDR unreachable: CAUSE"} (the words of a tunnel's 503), or ztunnel's
     * {@code connection complete} at ERROR with {@code error="connection failed: CAUSE"} (zerohop's text of the cause).
     */
    public void plainDialFailed(InetSocketAddress src, InetSocketAddress dst, Object dstId, String cause, long startNanos) {
        plainFailed(true, src, dst, "CONNECT");
        if (ztunnel != null) {
            ZtunnelAccessLog.plainRefused(access, ztunnel, src, dst, () -> plainLabels(true, src, dst), "connection failed: " + cause,
                    java.time.Duration.ofNanos(Math.max(0, System.nanoTime() - startNanos)));
        } else if (access.isInfoEnabled()) {
            access.info("plaintext-inbound refused src={} src_id=-{} dst={} dst_id={} status=- reason=\"upstream {} unreachable: {}\"", addr(src),
                    plainSourceField(true, src), addr(dst), dstId == null ? "-" : dstId, addr(dst), cause);
        }
    }

    /**
     * A captured outbound connection relayed as plain TCP (passthrough: an unknown destination with passthrough on, a
     * {@code TCP} workload, a Service's plaintext endpoint) whose dial failed ({@code cause}: the dial's error text,
     * {@code DialErrors.describe}), as ztunnel records it: {@code proxy_to_tcp} (istio/ztunnel src/proxy/outbound.rs)
     * builds the connection result before it dials, and {@code freebind_connect(..).await?} ends it with
     * {@code Error::Io}, whose Display is {@code io error: CAUSE} (src/proxy.rs), flag {@code ConnectionFailure}. Counted
     * opened, closed and failed with {@code CONNECT} under the relay's labels ({@code serviceHost}: the Service's
     * hostname, or null), and one access line: ztunnel's {@code connection opened} at DEBUG and {@code connection
     * complete} at ERROR, or zerohop's {@code passthrough refused src=… src_id=- dst=… dst_id=- status=- reason="upstream
     * ADDR unreachable: CAUSE"}. Until 5 December only the metrics moved (a review pass).
     */
    public void passthroughDialFailed(InetSocketAddress src, InetSocketAddress dst, String cause, long startNanos, String serviceHost) {
        if (sink != null) {
            TrafficLabels l = plainLabels(false, src, dst, serviceHost);
            sink.opened(l);
            sink.closed(l.withResponseFlags("CONNECT"));
        }
        if (ztunnel != null) {
            ZtunnelAccessLog.plainRefused(access, ztunnel, false, src, dst, () -> plainLabels(false, src, dst, serviceHost), "io error: " + cause,
                    java.time.Duration.ofNanos(Math.max(0, System.nanoTime() - startNanos)));
        } else if (access.isInfoEnabled()) {
            access.info("passthrough refused src={} src_id=-{} dst={} dst_id=- status=- reason=\"upstream {} unreachable: {}\"", addr(src),
                    plainSourceField(false, src), addr(dst), addr(dst), cause);
        }
    }

    /**
     * {@code end} (the workload side of a plaintext-inbound connection parsed per request, {@code HttpEnforcement.plaintext})
     * with the connection's one access line when it closes, in the same shape as a relayed one's ({@link #plain}); its
     * requests have their own lines. Counted as a relayed one ({@link #plainOpened}, {@link #plainEnded}): until
     * 2 December such a connection counted only when denied. See {@link ParsedPlaintextLog}.
     */
    public Relay.End plainParsed(Relay.End end, InetSocketAddress src, InetSocketAddress dst, Object dstId) {
        return ParsedPlaintextLog.wrap(this, end, src, dst, dstId);
    }

    /**
     * A captured outbound connection refused before any tunnel or dial ({@code Outbound.buildRequest}: a self call, a
     * Service VIP without a healthy upstream, a source without an identity to lend, an unknown destination without
     * passthrough), ztunnel's outbound early deny (istio/ztunnel src/proxy/outbound.rs {@code proxy}: any
     * {@code build_request} error goes to {@code log_early_deny(.., Reporter::source, error)}, as does
     * {@code Error::SelfCall}): in ztunnel's format, one {@code connection failed} at WARN with
     * {@code direction="outbound"} and {@code error}, within the failed connections' budget, and no metric. zerohop's
     * format has the opener's WARN line (self call) or the capture listener's INFO refusal line already. newuser18 found
     * no access line for a self call in either format; until 5 December a VIP without an upstream had none in ztunnel's.
     */
    /**
     * ztunnel's {@code resolve_workload_address}: one more on its {@code on_demand_dns} counter, labelled with the source
     * ({@code with_source}: the captured workload {@code from}, else what is known of {@code principal}) and the hostname.
     */
    public void onDemandDns(Workload from, io.spiffe.spiffeid.SpiffeId principal, String hostname) {
        if (sink != null) {
            String p = principal == null ? null : principal.toString();
            sink.onDemandDns(TrafficLabels.Peer.of(from, p, clusterId).asOwnWorkload(), hostname);
        }
    }

    public void outboundEarlyDeny(InetSocketAddress src, InetSocketAddress dst, String error) {
        if (ztunnel != null) {
            failures.warn(() -> ZtunnelAccessLog.handshakeFailed(access, ztunnel, src, dst, true, error));
        }
    }

    /**
     * A plaintext connection ztunnel denies before it builds a connection result, its early deny (istio/ztunnel
     * src/proxy/inbound_passthrough.rs {@code log_early_deny}: a self call, {@code Error::SelfCall}; in ztunnel's shared
     * node mode, the mode zerohop's node proxy plays, also a destination address no workload has,
     * {@code Error::UnknownDestination}, before #1218 moved it into the pod): no metrics, as ztunnel's, and one access
     * line within the failed connections' budget (20 per 10 s, shared with the failed handshakes: a peer causes these
     * at will), as the other early denies: ztunnel's {@code connection failed} at WARN ({@code src.addr},
     * {@code dst.addr}, {@code direction="inbound"}, {@code error}: {@code ztunnelError}), or zerohop's
     * {@code plaintext-inbound refused src=… src_id=- dst=… dst_id=… status=- reason="…"} ({@code dstId}: the identity of
     * a workload at {@code dst}, or null; {@code reason}: zerohop's explanation). Until 2 December zerohop's format had
     * only the opener's rate-limited WARN (self call) or the capture listener's INFO line (unknown destination).
     */
    public void plainEarlyDeny(InetSocketAddress src, InetSocketAddress dst, Object dstId, String reason, String ztunnelError) {
        if (ztunnel != null) {
            failures.warn(() -> ZtunnelAccessLog.handshakeFailed(access, ztunnel, src, dst, false, ztunnelError));
        } else {
            failures.info("plaintext-inbound refused src={} src_id=-{} dst={} dst_id={} status=- reason={}", addr(src),
                    plainSourceField(true, src), addr(dst), dstId == null ? "-" : dstId, LogText.quoted(reason));
        }
    }

    /**
     * ztunnel's labels for a tunnel. The source principal is the verified peer (inbound) or our own
     * identity (outbound); inbound, the source workload is {@link TunnelSource}'s (the registry
     * workload of the peer's identity at the peer address, or named by a node proxy's
     * {@code forwarded: for=}), else what the {@code baggage} header claims (ztunnel's derived
     * source), else unknown. The destination is the registry workload of the CONNECT target, with the
     * verified identity as principal (outbound, before a server was verified: the workload's identity).
     */
    TrafficLabels labels(TunnelInfo t) {
        boolean inbound = t.direction() == TunnelInfo.Direction.INBOUND;
        var src = inbound ? t.peerIdentity() : t.localIdentity();
        Workload dw = t.destination() == null ? null : registry.byAddress(t.destination().getAddress()).orElse(null);
        Workload waypoint = outboundWaypoint(t, dw);
        if (waypoint != null) {
            dw = waypoint;
        }
        // Outbound before TLS verified the server (a failed open): the registry workload's identity,
        // ztunnel's with_destination (w.identity()).
        var dst = inbound ? t.localIdentity() : t.peerIdentity() != null ? t.peerIdentity() : dw == null ? null : registry.identityOf(dw);
        String srcPrincipal = WorkloadStrings.text(src);
        Workload sw = inbound && t.peerAddress() != null ? sources.of(src, t.peerAddress(), t.headers(), false) : null;
        TrafficLabels.Peer source = sw != null ? TrafficLabels.Peer.of(sw, srcPrincipal, clusterId)
                : TrafficLabels.Peer.derived(Baggage.parse(readBaggage ? t.headers().get("baggage") : null), srcPrincipal);
        if (inbound && sw == null) {
            // ztunnel's inbound result names a source it has no workload for by the canonical service its derived source
            // gives (src/proxy/metrics.rs ConnectionResultBuilder::new: wl.name, else tl.source_canonical_service, which
            // with_derived_source takes from the baggage's service.name), not by the baggage's controller: the access log's
            // src.workload only, the metric labels keep the baggage's workload name. Until 6 December the controller.
            source = source.withPod(source.canonicalService());
        }
        if (!inbound) {
            // Outbound the source is this proxy's own workload, which ztunnel labels with with_source after its
            // identity-only derived source (src/proxy/outbound.rs conn_metrics_from_request; src/proxy/metrics.rs
            // From<ConnectionOpen>): source_app is its canonical service, not the workload name a peer's derived source
            // gives. Until 6 December reporter="source" said source_app="<workload name>".
            source = source.asOwnWorkload();
        }
        if (!inbound && ztunnel != null) {
            // ztunnel's outbound result names its source workload's pod in the access log (ConnectionResult::new:
            // src.workload is wl.name); the baggage names only its controller. Only the line's pod changes: the metric
            // labels stay the baggage's, which this proxy built from the same workload (an operator pass read the
            // Deployment beside the destination's pod).
            Workload captured = outboundSource(t, src);
            if (captured != null) {
                source = source.withPod(captured.name());
            }
        }
        TrafficLabels l = TrafficLabels.of(inbound ? "destination" : "source", source,
                TrafficLabels.Peer.of(dw, WorkloadStrings.text(dst), clusterId), "mutual_tls");
        // ztunnel's inbound guess_inbound_service (src/proxy.rs): the first Service of the destination with a port
        // targeting the connection's. Outbound it names the Service the client dialled (ztunnel's
        // intended_destination_service), which a pod address is not: a connection to a Service VIP carries its hostname
        // in the forwarded header's host= (Outbound, ztunnel's build_forwarded), found again here.
        if (!inbound) {
            // Of several Services of the host (one per namespace), the one the source's namespace picked (Outbound).
            return registry.services().isEmpty() ? l : l.withDestinationService(registry.serviceByHostname(forwardedHost(t),
                    TrafficLabels.UNKNOWN.equals(source.namespace()) ? null : source.namespace()));
        }
        if (t.hostname() != null) {
            // A host-name CONNECT: ztunnel's find_inbound_upstream hands guess_inbound_service the Service named as its
            // only candidate, whose port mapping gave the port, so that Service is the label whatever the forwarded
            // host= or the workload's own Services say (until 7 December zerohop guessed among the workload's Services:
            // another namespace's Service, or one the workload is no endpoint of, was labelled none or another; h405).
            String host = t.hostname().substring(0, t.hostname().lastIndexOf(':'));
            // Of several Services of the name (one per namespace), the one resolveHostname took: the dialled workload's.
            io.zerohop.core.WorkloadService named = registry.serviceByHostname(host, dw != null ? dw.namespace() : null);
            return named != null ? l.withDestinationService(named) : l;
        }
        // The client's forwarded host= first, among the destination's own Services (a new-user pass: the two sides of
        // one connection to a VIP named different Services when two Services targeted the port).
        return dw != null ? l.withDestinationService(io.zerohop.core.WorkloadService.guess(dw.services(), forwardedHost(t),
                t.destination().getPort())) : l;
    }

    /**
     * Outbound, the captured application's registry workload: at the {@code for=} address this proxy put in the
     * CONNECT's {@code forwarded} (Outbound, ztunnel's {@code build_forwarded}), when its identity is the tunnel's own
     * ({@code src}); else null ({@code Mesh.connect} sends no {@code for=}).
     */
    private Workload outboundSource(TunnelInfo t, Object src) {
        String fwd = t.headers().get("forwarded");
        if (fwd == null || src == null) {
            return null;
        }
        java.net.InetAddress ip;
        try {
            ip = TunnelSource.forwardedFor(fwd);
        } catch (IllegalArgumentException e) {
            return null;
        }
        Workload w = ip == null ? null : registry.byAddress(ip).orElse(null);
        return w != null && src.equals(registry.identityOf(w)) ? w : null;
    }

    /** The {@code host=} of the tunnel's {@code forwarded} header ({@link #forwardedHost(String)}), or null. */
    static String forwardedHost(TunnelInfo t) {
        return forwardedHost(t.headers().get("forwarded"));
    }

    /**
     * The {@code host=} of a {@code forwarded} value, or null, as ztunnel's inbound reads it (istio/ztunnel src/proxy.rs
     * {@code parse_forwarded_host}): null for a value with a non-ASCII character; else the first {@code ;}-separated
     * part that, trimmed, starts with {@code host=}, wherever it stands ({@code for="…";host=NAME} from a node proxy,
     * {@code host=NAME} alone from an embedded client, {@code for=x; host=NAME}), one surrounding quote stripped each
     * side, null when empty. Until 6 December a {@code host=} that did not follow a {@code ;} at once was not found. One
     * difference: repeated {@code forwarded} headers arrive joined with {@code ", "}, and ztunnel reads the first header
     * alone ({@code headers().get}), so the value is read up to its first comma.
     */
    static String forwardedHost(String fwd) {
        if (fwd == null) {
            return null;
        }
        int comma = fwd.indexOf(',');
        int n = comma < 0 ? fwd.length() : comma;
        for (int i = 0; i < n; i++) {
            if (fwd.charAt(i) > 0x7F) {
                return null;
            }
        }
        int start = 0;
        while (start <= n) {
            int end = fwd.indexOf(';', start);
            if (end < 0 || end > n) {
                end = n;
            }
            String part = fwd.substring(start, end).strip();
            if (part.startsWith("host=")) {
                String h = part.substring(5);
                h = h.startsWith("\"") ? h.substring(1) : h;
                h = h.endsWith("\"") ? h.substring(0, h.length() - 1) : h;
                return h.isEmpty() ? null : h;
            }
            start = end + 1;
        }
        return null;
    }

    /**
     * Inbound, {@code " src_workload=NAMESPACE/NAME"} of the registry workload at the plaintext client's address, or
     * {@code " src_workload=-"}, as a tunnel's inbound line ({@link #sourceWorkloadField}) and ztunnel's
     * {@code src.workload}; outbound, nothing.
     */
    private String plainSourceField(boolean inbound, InetSocketAddress src) {
        if (!inbound || src == null) {
            return "";
        }
        return registry.byAddress(src.getAddress()).map(w -> " src_workload=" + w.namespace() + "/" + w.name()).orElse(" src_workload=-");
    }

    /** The identity of the registry workload at an outbound tunnel's target (its waypoint when it went through one), or null. */
    private Object expectedIdentity(TunnelInfo t) {
        Workload dw = t.destination() == null ? null : registry.byAddress(t.destination().getAddress()).orElse(null);
        Workload wp = outboundWaypoint(t, dw);
        return wp != null ? registry.identityOf(wp) : dw != null ? registry.identityOf(dw) : null;
    }

    /**
     * Outbound, the waypoint the tunnel was dialled to (the workload at its HBONE address, a waypoint of its CONNECT
     * target's Service or workload: {@link Waypoints#of}), which ztunnel reports as the destination
     * ({@code actual_destination_workload}; src/proxy/outbound.rs {@code build_request}, {@code conn_metrics_from_request}),
     * the Service dialled staying {@code destination_service} ({@code intended_destination_service}, found from
     * {@code forwarded}'s {@code host=}); null inbound or when it went to no waypoint.
     */
    private Workload outboundWaypoint(TunnelInfo t, Workload atDestination) {
        return t.direction() == TunnelInfo.Direction.OUTBOUND
                ? Waypoints.of(registry, t.destination(), t.peerAddress(), atDestination) : null;
    }

    /**
     * Outbound through a waypoint ({@link #outboundWaypoint}), {@code " waypoint=IP:PORT"}: the waypoint's address the
     * tunnel was dialled to, ztunnel's {@code dst.addr} beside {@code dst.hbone_addr} (zerohop's {@code dst=}, the CONNECT
     * target), so that the line says where the connection went and not only the identity ({@code dst_id}, the
     * waypoint's); else nothing. Looked up only when a line is written.
     */
    private String waypointField(TunnelInfo t) {
        if (t.direction() != TunnelInfo.Direction.OUTBOUND || t.destination() == null || t.peerAddress() == null) {
            return "";
        }
        Workload dw = registry.byAddress(t.destination().getAddress()).orElse(null);
        return outboundWaypoint(t, dw) != null ? " waypoint=" + addr(t.peerAddress()) : "";
    }

    /**
     * Inbound, {@code " src_workload=NAMESPACE/NAME"} of the tunnel's source workload
     * ({@link TunnelSource}: what policy and metrics used), or {@code " src_workload=-"} for a peer
     * known by its SPIFFE ID only, then {@code " src_ip=IP"} when policy's source address
     * ({@code ipBlocks}) is not {@code src}'s but the pod address a believed {@code forwarded: for=}
     * named ({@link TunnelSource.Source#claimed}); outbound, nothing (the source is this proxy's own
     * workload).
     */
    String sourceWorkloadField(TunnelInfo t) {
        if (t.direction() != TunnelInfo.Direction.INBOUND || t.peerAddress() == null) {
            return "";
        }
        TunnelSource.Source s = sources.source(t.peerIdentity(), t.peerAddress(), t.headers(), false);
        Workload w = s.workload();
        String field = w == null ? " src_workload=-" : " src_workload=" + w.namespace() + "/" + w.name();
        return s.claimed() ? field + " src_ip=" + io.netty.util.NetUtil.toAddressString(s.address()) : field;
    }

    /**
     * The {@code src=} of the access log: the real TCP peer (inbound) or, outbound, the captured app
     * this proxy named in its own {@code Forwarded: for=} (else our socket).
     */
    static String source(TunnelInfo t) {
        if (t.direction() == TunnelInfo.Direction.INBOUND) {
            return addr(t.peerAddress()) + forwardedFor(t).map(f -> " forwarded_for=" + f).orElse("");
        }
        return forwardedFor(t).orElseGet(() -> addr(t.localAddress()));
    }

    /**
     * A plain TCP relay (passthrough, plaintext inbound) refused after ztunnel would have built its
     * connection result (a plaintext denial, a failed dial): opened, then closed and failed with
     * {@code flags}, the relay's labels (istio/ztunnel src/proxy/outbound.rs {@code proxy_to_tcp},
     * src/proxy/inbound_passthrough.rs {@code proxy_inbound_plaintext}). Metrics only: the refusal's
     * line is the caller's.
     */
    public void plainFailed(boolean inbound, InetSocketAddress src, InetSocketAddress dst, String flags) {
        if (sink != null) {
            TrafficLabels l = plainLabels(inbound, src, dst);
            sink.opened(l);
            sink.closed(l.withResponseFlags(flags));
        }
    }

    /**
     * A plain relay's labels, as ztunnel's plaintext results (src/proxy/inbound_passthrough.rs and
     * src/proxy/outbound.rs {@code conn_metrics_from_request}): the registry workloads at both addresses; no source
     * principal (ztunnel's {@code with_source} leaves it to the mTLS identity, which plaintext has none of); the
     * destination workload's identity as destination principal ({@code with_destination}: {@code w.identity()}), which
     * was {@code unknown} until 2 December; connection_security_policy {@code unknown} ({@code SecurityPolicy::unknown}).
     */
    private TrafficLabels plainLabels(boolean inbound, InetSocketAddress src, InetSocketAddress dst, String serviceHost) {
        TrafficLabels l = plainLabels(inbound, src, dst);
        if (inbound || serviceHost == null) {
            return l;
        }
        Workload sw = src == null ? null : registry.byAddress(src.getAddress()).orElse(null);
        return l.withDestinationService(registry.serviceByHostname(serviceHost, sw != null ? sw.namespace() : null));
    }

    private TrafficLabels plainLabels(boolean inbound, InetSocketAddress src, InetSocketAddress dst) {
        Workload dw = registry.byAddress(dst.getAddress()).orElse(null);
        TrafficLabels l = TrafficLabels.of(inbound ? "destination" : "source", TrafficLabels.Peer.of(registry.byAddress(src.getAddress()).orElse(null), null, clusterId),
                TrafficLabels.Peer.of(dw, dw == null ? null : WorkloadStrings.text(registry.identityOf(dw)), clusterId), TrafficLabels.UNKNOWN);
        // inbound_passthrough.rs guesses the Service as inbound.rs does.
        return inbound && dw != null ? l.withDestinationService(io.zerohop.core.WorkloadService.forPort(dw.services(), dst.getPort())) : l;
    }

    /**
     * ztunnel's {@code src.addr}: outbound, the captured app ({@link #source}); inbound, the pod a
     * believed {@code forwarded: for=} names (ztunnel dials from the source pod's address, a node proxy
     * from its own), else the TCP peer.
     */
    String ztunnelSource(TunnelInfo t) {
        if (t.direction() == TunnelInfo.Direction.OUTBOUND) {
            return source(t);
        }
        if (t.peerAddress() != null && sources.source(t.peerIdentity(), t.peerAddress(), t.headers(), false).claimed()) {
            return forwardedFor(t).orElseGet(() -> addr(t.peerAddress()));
        }
        return addr(t.peerAddress());
    }

    /**
     * What a {@code Forwarded: for=} header claims (RFC 7239 node, with its port when it has one), if it looks like an
     * address: shown in the access log beside the real peer as sent. The last {@code for=}, the one
     * {@link TunnelSource#forwardedFor} decides on (the nearest proxy's), read by the same parser (quoted strings; none for a
     * header it refuses); whether it names the source workload is
     * {@link TunnelSource}'s to decide (only a workload of the peer's own identity). Until 5 December this was the first
     * {@code for=}: with {@code for=A, for=B} the policy decided on B and the access line (ztunnel's {@code src.addr}
     * included) named A, which the caller chose (a new-user pass).
     */
    static java.util.Optional<String> forwardedFor(TunnelInfo t) {
        String fwd = t.headers().get("forwarded");
        if (fwd == null) {
            return java.util.Optional.empty();
        }
        String last;
        try {
            last = TunnelSource.forwardedForNode(fwd);
        } catch (IllegalArgumentException malformed) {
            return java.util.Optional.empty(); // the decision took no address from it either
        }
        return last != null && last.matches("[0-9A-Fa-f.:\\[\\]]{1,64}") ? java.util.Optional.of(last) : java.util.Optional.empty();
    }

    private static String addr(InetSocketAddress a) {
        return a == null ? "-" : io.zerohop.core.Addresses.authority(a);
    }
}
