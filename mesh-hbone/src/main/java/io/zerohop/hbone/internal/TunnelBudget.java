package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.LogBudget;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One proxy-mode tunnel's share of the server's {@link Budgets}: upstream bytes the {@link Relay}
 * writes toward the tunnel stream and that wait behind its HTTP/2 window. Bounded per tunnel by the
 * stream channel's write watermark (the relay's writability rule), per peer identity and server-wide
 * here (reads of the upstream pause while a budget is exceeded), and in time by the stalled-window
 * timeout. Event loop of the stream (and of its upstream: proxy mode dials on the stream's loop).
 *
 * <p>The stalled-window timeout is a {@link TunnelSet.Deadline} of the HBONE connection, not a timer
 * per tunnel (issue 14): the tunnel waits in it only while bytes are queued, at its last write
 * progress plus the timeout, and every progress moves it to the tail in O(1). A per-tunnel timer
 * armed by the first write kept a scheduled task and its lambda in the loop's queue for the whole
 * timeout (60 s by default) after the bytes had gone: 10,000 of them on a proxy holding 10,000 idle
 * tunnels (benchmarks/results/tunnels-*.md).
 */
final class TunnelBudget extends TunnelSet.Deadline implements Relay.Throttle, ChannelFutureListener {
    private static final Logger log = LoggerFactory.getLogger(TunnelBudget.class);

    private final Budgets budgets;
    private final Budgets.Peer peer;
    private Channel stream;
    private Runnable recheck;
    /** Upstream bytes written to the stream whose write has not completed (queued behind its window). */
    private volatile long queued;
    private volatile long lastProgress = System.nanoTime();
    private boolean paused;
    private TunnelSet.Deadlines stalls;
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
        // The budget itself listens: no lambda kept per tunnel (issue 14).
        toward.closeFuture().addListener(this);
        if (budgets.overPeer(peer) || budgets.overGlobal()) {
            // Over budget already: this tunnel's upstream waits before its first read.
            paused = true;
            budgets.await(peer, this);
        }
    }

    /** The stream closed: leave the budgets once what its close completes has run. */
    @Override
    public void operationComplete(ChannelFuture f) {
        eventLoop().execute(this::detach);
    }

    private void detach() {
        budgets.unregister(peer, this);
        cancel();
    }

    /** The connection's stalled-window deadlines (event loop). */
    private TunnelSet.Deadlines stalls() {
        if (stalls == null) {
            stalls = TunnelSet.of(stream).stalls(budgets.limits.stalledWindowTimeout().toNanos());
        }
        return stalls;
    }

    @Override
    public void writing(int n, ChannelPromise written) {
        if (queued == 0) {
            lastProgress = System.nanoTime();
            stalls().add(this);
        }
        queued += n;
        budgets.charge(peer, n);
        written.addListener(f -> discharge(n));
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

    /** A write completed (event loop): progress; the deadline moves on, or goes with the last queued byte. */
    private void discharge(int n) {
        queued -= n;
        lastProgress = System.nanoTime();
        budgets.discharge(peer, n);
        if (queued == 0 || !stream.isActive()) {
            cancel();
        } else {
            stalls().add(this);
        }
    }

    /** Queued bytes made no progress for the stalled-window timeout: the tunnel is reset. */
    @Override
    void expire() {
        if (!stream.isActive() || queued == 0) {
            return;
        }
        long n = budgets.stallLog.admit();
        if (n >= 0) {
            log.info("HBONE tunnel {} reset: {} bytes queued and the peer's window made no progress for {}{}",
                    stream, queued, LogText.duration(budgets.limits.stalledWindowTimeout()), LogBudget.note(n));
        }
        Tunnels.reset(stream, io.zerohop.hbone.TunnelResult.STALLED_WINDOW);
    }

    /** True once {@link #shed} was called: the reset is on its way, its bytes about to be released. */
    boolean shedding() {
        return shed;
    }

    /** Server budget exceeded and this tunnel stalled longest: reset it (any thread). */
    void shed() {
        shed = true;
        eventLoop().execute(() -> Tunnels.reset(stream, io.zerohop.hbone.TunnelResult.OUTBOUND_BUDGET));
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
