package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.LogBudget;
import io.spiffe.spiffeid.SpiffeId;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's shared resource counters: outbound bytes queued behind closed HTTP/2 windows and
 * upstream dials in progress, per peer identity and server-wide. Counters are atomics; nothing here
 * blocks or allocates buffers, so an event loop only ever asks, counts and pauses reads.
 *
 * <p>A tunnel that reads from its upstream while its peer's (or the server's) queued bytes are over
 * budget stops reading ({@link TunnelBudget}, through the {@link Relay}) and waits here; it is woken once the count falls below half
 * the budget. Over the server-wide budget the tunnels that have gone longest without write progress
 * are also reset, so that stalled tunnels of some peers cannot stop every other peer's tunnels.
 */
final class Budgets {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.hbone.HboneServer");

    /** The most one upstream read delivers (Netty's adaptive receive allocator's maximum). */
    static final int READ = 64 * 1024;
    final ServerLimits limits;
    private final AtomicLong queued = new AtomicLong();
    private final AtomicInteger dials = new AtomicInteger();
    private final ConcurrentHashMap<SpiffeId, Peer> peers = new ConcurrentHashMap<>();
    private final Queue<TunnelBudget> waiters = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean shedding = new AtomicBoolean();
    /** A tunnel counts as stalled for shedding after this long without write progress. */
    private static final long STALLED_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
    private final AtomicBoolean retryScheduled = new AtomicBoolean();
    final LogBudget stallLog = new LogBudget();
    private final LogBudget shedLog = new LogBudget();
    /** Bytes peers sent that the tunnels' applications have not taken yet: per peer identity and server-wide. */
    final UnreadBudget inbound;

    Budgets(ServerLimits limits) {
        this.limits = limits;
        this.inbound = new UnreadBudget(limits.inboundBytesPerPeer(), limits.inboundBytes(), limits.inboundStallTimeout(), "peer", "server");
    }

    /** One peer identity's share; lives while the peer has a connection. */
    static final class Peer {
        final SpiffeId id;
        private int refs;
        final AtomicLong queued = new AtomicLong();
        final AtomicInteger dials = new AtomicInteger();
        final Queue<TunnelBudget> waiters = new ConcurrentLinkedQueue<>();
        /**
         * The peer's tunnels; the server's are those of all its peers (one set entry per tunnel, not
         * one here and one server-wide: ~40 bytes per open tunnel; issue 14).
         */
        final Set<TunnelBudget> tunnels = ConcurrentHashMap.newKeySet();
        Peer(SpiffeId id) {
            this.id = id;
        }
    }

    Peer attach(SpiffeId id) {
        return peers.compute(id, (k, p) -> {
            Peer q = p == null ? new Peer(k) : p;
            q.refs++;
            return q;
        });
    }

    void detach(Peer peer) {
        peers.computeIfPresent(peer.id, (k, p) -> p != peer || --p.refs > 0 ? p : null);
    }

    long queuedBytes() {
        return queued.get();
    }

    int pendingDials() {
        return dials.get();
    }

    // ---- pending dials -------------------------------------------------------------------------

    /** Reserves a dial slot, or names the limit that refuses it (nothing reserved then). */
    String tryDial(Peer peer, int pendingOnConnection) {
        if (pendingOnConnection >= limits.pendingDialsPerConnection()) {
            return "pending upstream dials on this connection at limit " + limits.pendingDialsPerConnection();
        }
        if (peer.dials.incrementAndGet() > limits.pendingDialsPerPeer()) {
            peer.dials.decrementAndGet();
            return "pending upstream dials of " + peer.id + " at limit " + limits.pendingDialsPerPeer();
        }
        if (dials.incrementAndGet() > limits.pendingDials()) {
            dials.decrementAndGet();
            peer.dials.decrementAndGet();
            return "pending upstream dials of this server at limit " + limits.pendingDials();
        }
        return null;
    }

    void dialDone(Peer peer) {
        peer.dials.decrementAndGet();
        dials.decrementAndGet();
    }

    // ---- unread inbound bytes ------------------------------------------------------------------

    long inboundBytes() {
        return inbound.bytes();
    }

    // ---- queued outbound bytes -----------------------------------------------------------------

    void register(Peer peer, TunnelBudget s) {
        peer.tunnels.add(s);
    }

    void unregister(Peer peer, TunnelBudget s) {
        peer.tunnels.remove(s);
    }

    /**
     * Counts {@code n} queued bytes. Crossing a budget stops every tunnel it covers at once: each
     * one noticing only after its own next read would let the count overshoot by one read per tunnel.
     */
    void charge(Peer peer, int n) {
        long p = peer.queued.addAndGet(n);
        long g = queued.addAndGet(n);
        if (p > limits.queuedBytesPerPeer() && p - n <= limits.queuedBytesPerPeer()) {
            peer.tunnels.forEach(TunnelBudget::pauseForBudget);
        }
        if (g > limits.queuedBytes() && g - n <= limits.queuedBytes()) {
            peers.values().forEach(q -> q.tunnels.forEach(TunnelBudget::pauseForBudget));
        }
    }

    void discharge(Peer peer, int n) {
        long p = peer.queued.addAndGet(-n);
        long g = queued.addAndGet(-n);
        if (p <= limits.queuedBytesPerPeer() / 2 && !peer.waiters.isEmpty()) {
            wake(peer.waiters, limits.queuedBytesPerPeer() - p);
        }
        if (g <= limits.queuedBytes() / 2 && !waiters.isEmpty()) {
            wake(waiters, limits.queuedBytes() - g);
        }
    }

    /**
     * A woken tunnel found room and reads again: wake the next waiter too while the budget has room,
     * so tunnels resume one after another (each may read {@link #READ} before it sees the budget
     * again). Not only below half: a woken tunnel whose own stream is stalled reads nothing, and
     * with the count settled between half and full the waiters behind it (another peer's tunnel,
     * ZeroWindowTest's victim) stayed paused until a stalled-window timeout freed the budget.
     */
    void resumed(Peer peer) {
        passOn(peer);
    }

    /**
     * A woken tunnel could not use its wake (it is gone, or the other budget holds it): the next
     * waiter of each budget that has room goes instead. Without this, waiters behind it stayed
     * paused with the budget half empty until a stalled-window timeout freed more (ZeroWindowTest's
     * victim waited the whole 120 s now and then; BudgetsTest).
     */
    void passOn(Peer peer) {
        if (!overPeer(peer)) {
            wake(peer.waiters, READ);
        }
        if (!overGlobal()) {
            wake(waiters, READ);
        }
    }

    /** Wakes as many waiters as {@code room} bytes can take at one read each (at least one). */
    private static void wake(Queue<TunnelBudget> q, long room) {
        for (long n = Math.max(1, room / READ); n > 0; n--) {
            TunnelBudget s = q.poll();
            if (s == null) {
                return;
            }
            s.wakeFromBudget();
        }
    }

    boolean overPeer(Peer peer) {
        return peer.queued.get() > limits.queuedBytesPerPeer();
    }

    boolean overGlobal() {
        return queued.get() > limits.queuedBytes();
    }

    /**
     * {@code s} stopped reading because a budget is exceeded: wake it when that budget has room
     * again. Re-checks after queueing, so a wake that raced with the queueing is not lost.
     */
    void await(Peer peer, TunnelBudget s) {
        if (overPeer(peer)) {
            peer.waiters.add(s);
            if (!overPeer(peer)) {
                wake(peer.waiters, READ);
            }
        } else {
            waiters.add(s);
            shed();
            if (!overGlobal()) {
                wake(waiters, READ);
            } else if (retryScheduled.compareAndSet(false, true)) {
                // Tunnels not yet stalled long enough to be shed may be holding the budget: look again.
                s.eventLoop().schedule(this::retry, 1, java.util.concurrent.TimeUnit.SECONDS);
            }
        }
    }

    private void retry() {
        retryScheduled.set(false);
        TunnelBudget s = waiters.peek();
        if (s == null) {
            return;
        }
        shed();
        if (!overGlobal()) {
            wake(waiters, READ);
        } else if (retryScheduled.compareAndSet(false, true)) {
            s.eventLoop().schedule(this::retry, 1, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /**
     * Over the server-wide budget: reset the tunnels that have gone longest without write progress
     * (their peer keeps its window closed) until the queued total would be under half the budget.
     */
    private void shed() {
        if (!shedding.compareAndSet(false, true)) {
            return;
        }
        try {
            long total = queued.get();
            long target = limits.queuedBytes() / 2;
            if (total <= limits.queuedBytes()) {
                return;
            }
            long now = System.nanoTime();
            List<TunnelBudget> stalled = new ArrayList<>();
            for (Peer p : peers.values()) {
                for (TunnelBudget s : p.tunnels) {
                    if (s.shedding()) {
                        // Reset already on its way (its loop may be busy): counted as gone, not picked again.
                        total -= s.queuedBytes();
                    } else if (s.queuedBytes() > 0 && now - s.lastProgressNanos() >= STALLED_NANOS) {
                        stalled.add(s);
                    }
                }
            }
            stalled.sort(Comparator.comparingLong(TunnelBudget::lastProgressNanos)
                    .thenComparing(Comparator.comparingLong(TunnelBudget::queuedBytes).reversed()));
            int n = 0;
            for (TunnelBudget s : stalled) {
                if (total <= target) {
                    break;
                }
                total -= s.queuedBytes();
                s.shed();
                n++;
            }
            long dropped = shedLog.admit();
            if (dropped >= 0 && n > 0) {
                log.info("HBONE queued outbound bytes over the server budget of {} bytes: reset {}{}",
                        limits.queuedBytes(), LogText.count(n, "stalled tunnel", "stalled tunnels"), LogBudget.note(dropped));
            }
        } finally {
            shedding.set(false);
        }
    }
}
