package io.zerohop.core.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What a drain waits for and cuts at its deadline, as every connection of ztunnel's proxies holds a
 * {@code DrainWatcher} and selects on the {@code force_shutdown} signal {@code run_with_drain} sends
 * when the deadline expires (istio/ztunnel src/drain.rs; src/proxy/outbound.rs and
 * inbound_passthrough.rs): the open tunnels (both directions) and the connections accepted by the
 * capture and plaintext-inbound listeners (relayed as plain TCP or through a tunnel, or still being
 * opened).
 *
 * <p>Cutting means a reset, never a FIN: RST_STREAM CONNECT_ERROR and an upstream TCP reset for a
 * tunnel, a TCP reset (SO_LINGER 0) for an accepted connection, whose relay then resets its other
 * end. Closing only the HTTP/2 connection would wait for its streams (Netty's graceful close), and
 * the event loops' shutdown or the process exit would then end the sockets with a FIN, which looks
 * complete to the application. Completing on the last {@link #tunnelClosed} is safe for that exit:
 * a tunnel is reported closed only after its relay reset the other end (TunnelCodec.channelInactive;
 * AbortResetsBeforeClosedTest).
 *
 * <p>After the deadline (ztunnel's {@code DrainMode::Immediate} from then on) a tunnel or connection
 * that opens late, such as a CONNECT accepted just before the GOAWAY whose dial completes after the
 * deadline, is cut as it opens instead of being left to the event loops' shutdown.
 */
public final class TunnelCount implements HboneEvents {
    private final Map<TunnelInfo, TunnelCounters> open = new IdentityHashMap<>();
    private final Map<Channel, Boolean> connections = new IdentityHashMap<>();
    private final List<CompletableFuture<Void>> idle = new ArrayList<>();
    /** Set at the drain deadline: whatever opens from then on is cut at once. Guarded by this. */
    private ScheduledExecutorService forced;

    /** Tunnels and accepted connections still open when the deadline cut them. */
    public record Left(int tunnels, int connections) {
        public boolean none() {
            return tunnels == 0 && connections == 0;
        }
    }

    @Override
    public void tunnelOpened(TunnelInfo t, TunnelCounters live) {
        ScheduledExecutorService cut;
        synchronized (this) {
            open.put(t, live);
            cut = forced;
        }
        if (cut != null) {
            // Not inside the tunnel's own open event: its listeners after this one have not run yet.
            run(cut, () -> abort(live));
        }
    }

    @Override
    public void tunnelClosed(TunnelResult r) {
        List<CompletableFuture<Void>> done;
        synchronized (this) {
            open.remove(r.info());
            done = idleNow();
        }
        done.forEach(f -> f.complete(null));
    }

    /**
     * Counts a connection accepted by a capture or plaintext-inbound listener until {@link #closed}
     * reports it; reset at once when the drain deadline has passed. The caller adds the close-future
     * listener that calls {@link #closed}, after this, so that a connection already closed is not
     * counted forever: one listener shared by all of a capture listener's connections, where one
     * lambda here and one in {@link Listeners} made Netty keep a listener array per connection
     * (88 bytes per captured tunnel; issue 14, benchmarks/results/tunmem-*.md). Any thread.
     */
    public void accepted(Channel ch) {
        ScheduledExecutorService cut;
        synchronized (this) {
            cut = forced;
            if (cut == null) {
                connections.put(ch, Boolean.TRUE);
            }
        }
        if (cut != null) {
            reset(ch);
        }
    }

    /** An accepted connection closed (also one never counted, reset as it was accepted: a no-op then). Any thread. */
    public void closed(Channel ch) {
        List<CompletableFuture<Void>> done;
        synchronized (this) {
            connections.remove(ch);
            done = idleNow();
        }
        done.forEach(x -> x.complete(null));
    }

    private List<CompletableFuture<Void>> idleNow() {
        if (!open.isEmpty() || !connections.isEmpty() || idle.isEmpty()) {
            return List.of();
        }
        List<CompletableFuture<Void>> done = new ArrayList<>(idle);
        idle.clear();
        return done;
    }

    public synchronized int open() {
        return open.size();
    }

    /** Accepted capture and plaintext-inbound connections still open. */
    public synchronized int connections() {
        return connections.size();
    }

    /**
     * Completes with nothing left once no tunnel and no accepted connection is open; or, at the
     * deadline, cuts every one still open (and, from then on, every one that opens), waits up to
     * {@code abortGrace} for them to close, and completes with how many there were. Timers run on
     * {@code timer} (an event loop: the work is short and never blocks).
     */
    public CompletableFuture<Left> awaitIdle(Duration deadline, Duration abortGrace, ScheduledExecutorService timer) {
        return awaitIdle(deadline, abortGrace, timer, left -> { });
    }

    /**
     * {@link #awaitIdle(Duration, Duration, ScheduledExecutorService)}, calling {@code atDeadline}
     * on {@code timer} with what is still open at the deadline, before anything is cut: a line that
     * announces the resets then comes before the resets' own lines (mesh-core README, Shutdown: "in
     * the order things happen"). Not called when nothing is left open.
     */
    public CompletableFuture<Left> awaitIdle(Duration deadline, Duration abortGrace, ScheduledExecutorService timer,
                                             java.util.function.Consumer<Left> atDeadline) {
        CompletableFuture<Left> r = new CompletableFuture<>();
        AtomicBoolean aborting = new AtomicBoolean();
        idleFuture().thenRun(() -> {
            if (!aborting.get()) {
                r.complete(new Left(0, 0));
            }
        });
        timer.schedule(() -> {
            List<TunnelCounters> tunnels;
            List<Channel> accepted;
            synchronized (this) {
                // Set even when nothing is open: a late arrival must not outlive the drain either.
                forced = timer;
                tunnels = new ArrayList<>(open.values());
                accepted = new ArrayList<>(connections.keySet());
            }
            if (r.isDone() || (tunnels.isEmpty() && accepted.isEmpty())) {
                r.complete(new Left(0, 0));
                return;
            }
            aborting.set(true);
            Left left = new Left(tunnels.size(), accepted.size());
            atDeadline.accept(left);
            tunnels.forEach(TunnelCount::abort);
            accepted.forEach(TunnelCount::reset);
            idleFuture().thenRun(() -> r.complete(left));
            timer.schedule(() -> r.complete(left), abortGrace.toMillis(), TimeUnit.MILLISECONDS);
        }, Math.max(0, deadline.toMillis()), TimeUnit.MILLISECONDS);
        return r;
    }

    /** Whether the drain deadline has passed: what is still open is being cut, and whatever opens is. */
    public synchronized boolean deadlinePassed() {
        return forced != null;
    }

    private CompletableFuture<Void> idleFuture() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (this) {
            if (open.isEmpty() && connections.isEmpty()) {
                f.complete(null);
            } else {
                idle.add(f);
            }
        }
        return f;
    }

    private static void abort(TunnelCounters t) {
        try {
            t.abort();
        } catch (UnsupportedOperationException e) {
            // closed with its connection instead
        }
    }

    /** Marks an accepted connection the drain cut ({@link #reset}), for its access line and metrics. */
    private static final io.netty.util.AttributeKey<Boolean> CUT = io.netty.util.AttributeKey.valueOf("zerohop.drain.cut");

    /**
     * Whether the drain cut {@code ch}, an accepted connection: ztunnel's {@code ClosedFromDrain} (its force shutdown).
     * Exact, where a reset after the deadline could also be the client's own.
     */
    static boolean cutByDrain(Channel ch) {
        return ch.hasAttr(CUT) && ch.attr(CUT).get() != null;
    }

    /** A TCP reset (SO_LINGER 0, then close), marked as the drain's ({@link #cutByDrain}); the relay joined to it resets its other end. */
    static void reset(Channel ch) {
        // Before the close: the close listeners that write the access line read it.
        ch.attr(CUT).set(Boolean.TRUE);
        if (ch.isActive()) {
            try {
                ch.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException e) {
                // closed meanwhile
            }
        }
        ch.close();
    }

    private static void run(ScheduledExecutorService ex, Runnable task) {
        try {
            ex.execute(task);
        } catch (RejectedExecutionException e) {
            task.run();
        }
    }
}
