package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One proxy-mode tunnel's share of the server's {@link Budgets}: upstream bytes the {@link Relay}
 * writes toward the tunnel stream and that wait behind its HTTP/2 window. Bounded per tunnel by the
 * stream channel's write watermark (the relay's writability rule), per peer identity and server-wide
 * here (reads of the upstream pause while a budget is exceeded), and in time by the stalled-window
 * timeout. Event loop of the stream (and of its upstream: proxy mode dials on the stream's loop).
 */
final class TunnelBudget implements Relay.Throttle {
    private static final Logger log = LoggerFactory.getLogger(TunnelBudget.class);

    private final Budgets budgets;
    private final Budgets.Peer peer;
    private Channel stream;
    private Runnable recheck;
    /** Upstream bytes written to the stream whose write has not completed (queued behind its window). */
    private volatile long queued;
    private volatile long lastProgress = System.nanoTime();
    private boolean paused;
    private ScheduledFuture<?> stallTimer;
    private volatile boolean shed;

    TunnelBudget(Budgets budgets, Budgets.Peer peer) {
        this.budgets = budgets;
        this.peer = peer;
    }

    @Override
    public void attached(Channel toward, Runnable recheck) {
        this.stream = toward;
        this.recheck = recheck;
        budgets.register(peer, this);
        toward.closeFuture().addListener(f -> eventLoop().execute(this::detach));
        if (budgets.overPeer(peer) || budgets.overGlobal()) {
            // Over budget already: this tunnel's upstream waits before its first read.
            paused = true;
            budgets.await(peer, this);
        }
    }

    private void detach() {
        budgets.unregister(peer, this);
        if (stallTimer != null) {
            stallTimer.cancel(false);
            stallTimer = null;
        }
    }

    @Override
    public void writing(int n, ChannelPromise written) {
        if (queued == 0) {
            lastProgress = System.nanoTime();
        }
        queued += n;
        budgets.charge(peer, n);
        written.addListener(f -> discharge(n));
        if (stallTimer == null) {
            long ms = budgets.limits.stalledWindowTimeout().toMillis();
            stallTimer = eventLoop().schedule(this::checkStall, ms, TimeUnit.MILLISECONDS);
        }
        pauseIfOverBudget();
    }

    @Override
    public boolean allowsReads() {
        return !paused;
    }

    long queuedBytes() {
        return queued;
    }

    long lastProgressNanos() {
        return lastProgress;
    }

    EventLoop eventLoop() {
        return stream.eventLoop();
    }

    private void discharge(int n) {
        queued -= n;
        lastProgress = System.nanoTime();
        budgets.discharge(peer, n);
    }

    /** A tunnel whose queued bytes made no progress for the stalled-window timeout is reset. */
    private void checkStall() {
        stallTimer = null;
        if (!stream.isActive() || queued == 0) {
            return;
        }
        long timeout = budgets.limits.stalledWindowTimeout().toNanos();
        long idle = System.nanoTime() - lastProgress;
        if (idle < timeout) {
            stallTimer = eventLoop().schedule(this::checkStall, timeout - idle, TimeUnit.NANOSECONDS);
            return;
        }
        long n = budgets.stallLog.admit();
        if (n >= 0) {
            log.info("HBONE tunnel {} reset: {} bytes queued and the peer's window made no progress for {}{}",
                    stream, queued, budgets.limits.stalledWindowTimeout(), LogBudget.note(n));
        }
        Tunnels.reset(stream);
    }

    /** True once {@link #shed} was called: the reset is on its way, its bytes about to be released. */
    boolean shedding() {
        return shed;
    }

    /** Server budget exceeded and this tunnel stalled longest: reset it (any thread). */
    void shed() {
        shed = true;
        eventLoop().execute(() -> Tunnels.reset(stream));
    }

    /** A budget covering this tunnel was crossed (any thread). */
    void pauseForBudget() {
        if (eventLoop().inEventLoop()) {
            pauseIfOverBudget();
        } else {
            eventLoop().execute(this::pauseIfOverBudget);
        }
    }

    private void pauseIfOverBudget() {
        if (!paused && stream.isActive() && (budgets.overPeer(peer) || budgets.overGlobal())) {
            paused = true;
            recheck.run();
            budgets.await(peer, this);
        }
    }

    /** A budget this tunnel waited for has room (any thread). */
    void wakeFromBudget() {
        eventLoop().execute(() -> {
            if (!paused || !stream.isActive()) {
                // Gone: the wake is unused.
                budgets.passOn(peer);
                return;
            }
            if (budgets.overPeer(peer) || budgets.overGlobal()) {
                // Held by the other budget (woken for the server's, over its peer's, or the reverse):
                // waiting again, this tunnel must not keep the wake from the waiters behind it.
                budgets.await(peer, this);
                budgets.passOn(peer);
                return;
            }
            paused = false;
            recheck.run();
            budgets.resumed(peer);
        });
    }
}
