package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.LogBudget;
import io.spiffe.spiffeid.SpiffeId;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A budget of received HTTP/2 DATA bytes that the tunnels' applications have not taken yet (so not yet returned to the
 * sender's windows), per identity ("share") and in total, enforced by each connection's {@link InboundGuard}. One
 * implementation for both directions: the server's inbound budget ({@code HboneServer.Builder#inboundBudget}; a share
 * per peer identity) and the clients' ({@code io.zerohop.hbone.InboundBudget}, shared by every {@code HboneClient} given
 * it; a share per source identity, the local workload whose tunnels the bytes wait for). Counters are atomics; nothing
 * here blocks. Public only for {@code io.zerohop.hbone.InboundBudget}.
 */
public final class UnreadBudget {
    final long perShare;
    final long total;
    final Duration stallTimeout;
    /** What a share is in the reset line: "peer" (server), "source" (clients). */
    final String unit;
    /** Whose the total is in the reset line: "server", "clients". */
    final String whole;
    private final AtomicLong held = new AtomicLong();
    private final ConcurrentHashMap<SpiffeId, Share> shares = new ConcurrentHashMap<>();
    final LogBudget shedLog = new LogBudget();

    /**
     * @param perShare     the most one identity's connections may hold together
     * @param total        the most all of them may hold together
     * @param stallTimeout over half a budget, a tunnel whose application took nothing for this long is reset
     * @param unit         what a share is, for the reset line ("peer", "source")
     * @param whole        whose the total is, for the reset line ("server", "clients")
     */
    public UnreadBudget(long perShare, long total, Duration stallTimeout, String unit, String whole) {
        if (perShare < 64 * 1024 || total < perShare) {
            throw new IllegalArgumentException("inbound byte budgets need 64 KiB <= per " + unit + " (" + perShare
                    + ") <= total (" + total + ")");
        }
        Objects.requireNonNull(stallTimeout, "stallTimeout");
        if (stallTimeout.isNegative() || stallTimeout.isZero()) {
            throw new IllegalArgumentException("inboundStallTimeout must be positive, got " + stallTimeout);
        }
        this.perShare = perShare;
        this.total = total;
        this.stallTimeout = stallTimeout;
        this.unit = unit;
        this.whole = whole;
    }

    /**
     * What the reset line tells its reader to do if the resets are not wanted (applications that read slowly by design):
     * the setting that sizes this budget, as the L7 proxy's line names its own (mesh-core {@code H2HeldBudget}). A zerohop
     * mesh (mesh-core's {@code MeshRuntime} and {@code Outbound}, so the node proxy) sizes both directions' budgets as a
     * quarter of {@code -XX:MaxDirectMemorySize}, which the line names too: there the builder methods are not the user's.
     */
    String raise() {
        String setting = "server".equals(whole) ? "HboneServer.Builder.inboundBudget(perPeer, total)"
                : "InboundBudget.of(perSource, total) given to HboneClient.Builder.inboundBudget";
        return "if its applications read slowly by design, raise " + setting + "; in a zerohop mesh it is a quarter of "
                + "-XX:MaxDirectMemorySize (node proxy: ZEROHOP_JAVA_OPTS_EXTRA in deploy/zerohop.sh)";
    }

    /** The most one identity's connections may hold together. */
    public long perShare() {
        return perShare;
    }

    /** The most all connections may hold together. */
    public long total() {
        return total;
    }

    /** Bytes counted now, over every share (in steps of {@link InboundGuard#STEP} per connection). */
    public long bytes() {
        return held.get();
    }

    /** One identity's share; lives while the identity has a connection counted here. */
    static final class Share {
        final SpiffeId id;
        private int refs;
        /** Bytes this identity's connections hold unread (as they last counted them). */
        final AtomicLong held = new AtomicLong();
        /** Its connections, asked to shed when the total is crossed and this share holds the most. */
        final Set<InboundGuard> connections = ConcurrentHashMap.newKeySet();

        Share(SpiffeId id) {
            this.id = id;
        }
    }

    Share attach(SpiffeId id) {
        return shares.compute(id, (k, p) -> {
            Share q = p == null ? new Share(k) : p;
            q.refs++;
            return q;
        });
    }

    void detach(Share share) {
        shares.computeIfPresent(share.id, (k, p) -> p != share || --p.refs > 0 ? p : null);
    }

    /** A connection of {@code share} counted {@code delta} more (or fewer) unread bytes. Any thread. */
    void add(Share share, long delta) {
        share.held.addAndGet(delta);
        held.addAndGet(delta);
    }

    /** Over the share's budget, or with {@code soft} over half of it. */
    boolean overShare(Share share, boolean soft) {
        return share.held.get() > (soft ? perShare / 2 : perShare);
    }

    /** Over the total budget, or with {@code soft} over half of it. */
    boolean overTotal(boolean soft) {
        return held.get() > (soft ? total / 2 : total);
    }

    /** The share holding the most (counts read across threads: a heuristic, never a bound). */
    Share heaviest() {
        Share heaviest = null;
        for (Share p : shares.values()) {
            if (heaviest == null || p.held.get() > heaviest.held.get()) {
                heaviest = p;
            }
        }
        return heaviest;
    }
}
