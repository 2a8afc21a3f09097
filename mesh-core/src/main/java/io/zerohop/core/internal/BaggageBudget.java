package io.zerohop.core.internal;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How many distinct {@code baggage} values one peer identity may turn into metric labels: {@link #PER_PEER}. ztunnel
 * labels a connection's source from its baggage, also a refused one's (src/proxy/inbound.rs, {@code
 * enable_enhanced_baggage}, no length cap in src/baggage.rs), and a metric series is never removed; a peer sending a new
 * baggage with each CONNECT grew the heap by one series set each (~4 KB, 20 KB values ~10x that), and a shipped proxy
 * (128 MB heap) ran out of memory after ~2,800 padded CONNECTs (a hostile-peer pass). One identity may honestly send many
 * values (every Deployment of a namespace running as {@code default}, a StatefulSet's or DaemonSet's pods by name, each
 * rollout: a review pass saw 64 too few), so the budget is generous, and a value longer than any Kubernetes name
 * ({@link #MAX_VALUE}) is never a label; past the budget a peer's further values are labelled as no baggage
 * ({@code unknown}), with one WARN naming the identity. Identities, and connections without one (plaintext, keyed ""), are kept for the
 * {@link #PEERS} most recent. Beyond ztunnel, which has no such bound.
 */
final class BaggageBudget {
    static final int PER_PEER = 1_000;
    /** The longest value a label takes from baggage: a Kubernetes name (a DNS subdomain, 253); label values are 63. */
    static final int MAX_VALUE = 253;
    static final int PEERS = 10_000;
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.core.Mesh");

    private static final class Seen {
        final Set<Baggage> values = ConcurrentHashMap.newKeySet();
        volatile boolean warned;
    }

    /** Made at first use (a proxy that never sees baggage never loads Caffeine for it). */
    private static volatile Cache<String, Seen> peers;

    private BaggageBudget() {}

    /** Whether {@code b}, from a peer of {@code principal} (null: none), may label metrics. Any thread. */
    static boolean admit(String principal, Baggage b) {
        if (tooLong(b.clusterId()) || tooLong(b.namespace()) || tooLong(b.workloadName()) || tooLong(b.serviceName())
                || tooLong(b.revision()) || tooLong(b.region()) || tooLong(b.zone())) {
            return false; // no Kubernetes name is that long: padding (20 KB values made each series ~10x larger)
        }
        Seen s = cache().get(principal == null ? "" : principal, k -> new Seen());
        if (s.values.contains(b)) {
            return true;
        }
        if (s.values.size() >= PER_PEER) {
            if (!s.warned) {
                s.warned = true;
                log.warn("peer {} sent more than {} distinct baggage values: its further ones label metrics as no baggage"
                        + " (unknown), since every distinct value is a metric series kept for good", principal == null ? "without identity"
                        : principal, PER_PEER);
            }
            return false;
        }
        s.values.add(b);
        return true;
    }

    private static boolean tooLong(String v) {
        return v != null && v.length() > MAX_VALUE;
    }

    private static Cache<String, Seen> cache() {
        Cache<String, Seen> c = peers;
        if (c == null) {
            synchronized (BaggageBudget.class) {
                c = peers;
                if (c == null) {
                    c = Caffeine.newBuilder().maximumSize(PEERS).executor(Runnable::run).build();
                    peers = c;
                }
            }
        }
        return c;
    }
}
