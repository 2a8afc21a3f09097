package io.zerohop.core.internal;

import io.netty.channel.Channel;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
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
    private static final Logger access = LoggerFactory.getLogger("io.zerohop.access");

    /** Labels ztunnel puts on its istio_tcp_* metrics (the subset we can know). */
    public record Labels(String reporter, String sourcePrincipal, String sourceWorkload, String sourceNamespace,
                         String destinationPrincipal, String destinationWorkload, String destinationNamespace,
                         String connectionSecurityPolicy) {}

    /** Where metrics go; mesh-core's Micrometer adapter implements it (Micrometer stays optional). */
    public interface Sink {
        void opened(Labels labels);

        /** Payload bytes that moved since the last report for these labels' tunnel. */
        void bytes(Labels labels, long sent, long received);

        void closed(Labels labels);

        void refused(Labels labels, int status);
    }

    private final WorkloadRegistry registry;
    private final Sink sink;
    private final Consumer<TunnelResult> extra;
    /** Open tunnels whose bytes are reported as they flow; keyed by the TunnelInfo instance. */
    private final Map<TunnelInfo, Live> open = Collections.synchronizedMap(new IdentityHashMap<>());

    /** One open tunnel's counters and what of them was already reported. */
    private static final class Live {
        final TunnelCounters counters;
        final Labels labels;
        long sentReported;
        long receivedReported;

        Live(TunnelCounters counters, Labels labels) {
            this.counters = counters;
            this.labels = labels;
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
        this.registry = registry;
        this.sink = sink;
        this.extra = extra;
    }

    @Override
    public void tunnelOpened(TunnelInfo t) {
        if (sink != null) {
            sink.opened(labels(t));
        }
    }

    @Override
    public void tunnelOpened(TunnelInfo t, TunnelCounters live) {
        if (sink != null) {
            Labels l = labels(t);
            sink.opened(l);
            open.put(t, new Live(live, l));
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
            l.report(sink, l.counters.bytesSent(), l.counters.bytesReceived());
        }
    }

    @Override
    public void tunnelClosed(TunnelResult r) {
        TunnelInfo t = r.info();
        if (sink != null) {
            // ztunnel's sent/received are from the reporter's side: what it sent to and got from the peer.
            Live l = open.remove(t);
            if (l != null) {
                l.report(sink, r.bytesSent(), r.bytesReceived());
                sink.closed(l.labels);
            } else {
                Labels labels = labels(t);
                sink.bytes(labels, r.bytesSent(), r.bytesReceived());
                sink.closed(labels);
            }
        }
        if (access.isInfoEnabled()) {
            access.info("{} src={} src_id={} dst={} dst_id={} status={} bytes_sent={} bytes_received={} duration_ms={} end={}{}",
                    t.direction() == TunnelInfo.Direction.INBOUND ? "inbound" : "outbound",
                    source(t),
                    t.direction() == TunnelInfo.Direction.INBOUND ? t.peerIdentity() : t.localIdentity(),
                    addr(t.destination()),
                    t.direction() == TunnelInfo.Direction.INBOUND ? t.localIdentity() : t.peerIdentity(),
                    r.status(), r.bytesSent(), r.bytesReceived(), r.duration().toMillis(),
                    r.reset() ? "reset" : "fin", r.error() == null ? "" : " error=\"" + r.error() + "\"");
        }
        if (extra != null) {
            extra.accept(r);
        }
    }

    @Override
    public void tunnelRefused(TunnelInfo t, int status, String reason) {
        if (sink != null) {
            sink.refused(labels(t), status);
        }
        if (access.isInfoEnabled()) {
            boolean inbound = t.direction() == TunnelInfo.Direction.INBOUND;
            access.info("{} refused src={} src_id={} dst={} dst_id={} status={} reason=\"{}\"",
                    inbound ? "inbound" : "outbound",
                    source(t), inbound ? t.peerIdentity() : t.localIdentity(),
                    addr(t.destination()), inbound ? t.localIdentity() : t.peerIdentity(), status, reason);
        }
    }

    @Override
    public void connectionFailed(InetSocketAddress peer, InetSocketAddress local, Throwable cause) {
        access.info("connection failed peer={} local={} reason=\"{}\"", addr(peer), addr(local),
                cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage());
    }

    /**
     * {@code end} (the destination side of a plain TCP relay: passthrough or plaintext inbound) with
     * one access-log line when the relay ends, in the tunnel line's format with {@code status=-},
     * and the istio_tcp_* metrics with {@code connection_security_policy="none"}. {@code kind} names
     * the relay; {@code dstId} is the destination workload's identity, if known; {@code inbound}
     * makes this side the destination reporter.
     */
    public Relay.End plain(Relay.End end, String kind, boolean inbound, InetSocketAddress src, InetSocketAddress dst, Object dstId) {
        Labels labels;
        if (sink != null) {
            Workload dw = registry.byAddress(dst.getAddress()).orElse(null);
            labels = new Labels(inbound ? "destination" : "source", "unknown", "unknown", "unknown",
                    dstId == null ? "unknown" : dstId.toString(), dw == null ? "unknown" : dw.name(),
                    dw == null ? "unknown" : dw.namespace(), "none");
            sink.opened(labels);
        } else {
            labels = null;
        }
        return new Relay.End() {
            @Override
            public Channel channel() {
                return end.channel();
            }

            @Override
            public void shutdownOutput() {
                end.shutdownOutput();
            }

            @Override
            public void reset() {
                end.reset();
            }

            @Override
            public void close() {
                end.close();
            }

            @Override
            public void ended(Relay.Stats s) {
                // The captured client is side a, this destination side b.
                if (labels != null) {
                    sink.bytes(labels, s.bytesFromA(), s.bytesFromB());
                    sink.closed(labels);
                }
                if (access.isInfoEnabled()) {
                    access.info("{} src={} src_id=- dst={} dst_id={} status=- bytes_sent={} bytes_received={} duration_ms={} end={}",
                            kind, addr(src), addr(dst), dstId == null ? "-" : dstId, s.bytesFromA(), s.bytesFromB(),
                            s.duration().toMillis(), s.reset() ? "reset" : "fin");
                }
            }
        };
    }

    private Labels labels(TunnelInfo t) {
        boolean inbound = t.direction() == TunnelInfo.Direction.INBOUND;
        var src = inbound ? t.peerIdentity() : t.localIdentity();
        var dst = inbound ? t.localIdentity() : t.peerIdentity();
        Workload dw = t.destination() == null ? null : registry.byAddress(t.destination().getAddress()).orElse(null);
        String srcNs = src == null ? "unknown" : io.zerohop.identity.SpiffeIds.namespace(src).orElse("unknown");
        String srcSa = src == null ? "unknown" : io.zerohop.identity.SpiffeIds.serviceAccount(src).orElse("unknown");
        // ztunnel labels the source workload by name; the peer address names it when it is a registry
        // workload with that identity (a pod dialling directly), else the service account stands in.
        InetSocketAddress srcAddr = inbound ? t.peerAddress() : t.localAddress();
        Workload sw = srcAddr == null ? null : registry.byAddress(srcAddr.getAddress())
                .filter(w -> src != null && w.identity().equals(src)).orElse(null);
        return new Labels(inbound ? "destination" : "source",
                src == null ? "unknown" : src.toString(), sw != null ? sw.name() : srcSa, srcNs,
                dst == null ? "unknown" : dst.toString(),
                dw == null ? "unknown" : dw.name(), dw == null ? "unknown" : dw.namespace(), "mutual_tls");
    }

    /**
     * The caller's address for the log: the {@code Forwarded: for=} node a capturing proxy sent (the
     * app behind it), else the peer (inbound) or our own socket (outbound). Logged only, never
     * trusted for policy.
     */
    static String source(TunnelInfo t) {
        String fwd = t.headers() == null ? null : t.headers().get("forwarded");
        if (fwd != null) {
            for (String part : fwd.split("[;,]")) {
                String p = part.trim();
                if (p.regionMatches(true, 0, "for=", 0, 4)) {
                    String node = p.substring(4).replace("\"", "");
                    if (node.matches("[0-9A-Fa-f.:\\[\\]]{1,64}")) {
                        return node;
                    }
                }
            }
        }
        return addr(t.direction() == TunnelInfo.Direction.INBOUND ? t.peerAddress() : t.localAddress());
    }

    private static String addr(InetSocketAddress a) {
        return a == null ? "-" : io.zerohop.core.Addresses.authority(a);
    }
}
