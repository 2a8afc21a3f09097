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
 *
 * <p>The drain decides "nothing left" only once the events already under way on the event loops have run
 * ({@code inFlight} of {@link #awaitIdle}): a tunnel's open event runs after its connect's future completed (in the
 * same event-loop task), so an application that closes the mesh as soon as its connect completes closed it before the
 * tunnel was counted, and the drain, finding nothing, let the event loops' shutdown reset it with no drain and no line.
 * Once the drain has decided, whatever opens is cut as it opens (as after the deadline), with a WARN naming it, never
 * left to the shutdown.
 */
public final class TunnelCount implements HboneEvents {
    private final Map<TunnelInfo, TunnelCounters> open = new IdentityHashMap<>();
    private final Map<Channel, Boolean> connections = new IdentityHashMap<>();
    private final List<CompletableFuture<Void>> idle = new ArrayList<>();
    /** Set at the drain deadline, or once the drain found nothing left: whatever opens from then on is cut at once. Guarded by this. */
    private ScheduledExecutorService forced;
    /** The drain found nothing left before its deadline (then {@link #forced} is set too). Guarded by this. */
    private boolean settled;
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger("io.zerohop.core.Mesh");

    /** Tunnels and accepted connections still open when the deadline cut them. */
    public record Left(int tunnels, int connections) {
        public boolean none() {
            return tunnels == 0 && connections == 0;
        }
    }

    @Override
    public void tunnelOpened(TunnelInfo t, TunnelCounters live) {
        ScheduledExecutorService cut;
        boolean late;
        synchronized (this) {
            open.put(t, live);
            cut = forced;
            late = settled;
        }
        if (late) {
            log.warn("tunnel opened after the drain had found nothing open (it opened as close() began): resetting it: {}", t);
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
        boolean late;
        synchronized (this) {
            cut = forced;
            late = settled;
            if (cut == null) {
                connections.put(ch, Boolean.TRUE);
            }
        }
        if (late) {
            log.warn("connection accepted after the drain had found nothing open (as close() began): resetting it: {} -> {}",
                    ch.remoteAddress(), ch.localAddress());
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
        return awaitIdle(deadline, abortGrace, timer, CompletableFuture.completedFuture(null), atDeadline);
    }

    /**
     * {@link #awaitIdle(Duration, Duration, ScheduledExecutorService, java.util.function.Consumer)} that decides "nothing
     * left" only once {@code inFlight} completed (normally or not): the events already under way on the event loops (a
     * task run on each, {@code MeshRuntime}), so that a tunnel whose open event is still running is counted and drained.
     */
    public CompletableFuture<Left> awaitIdle(Duration deadline, Duration abortGrace, ScheduledExecutorService timer,
                                             java.util.concurrent.CompletionStage<?> inFlight,
                                             java.util.function.Consumer<Left> atDeadline) {
        CompletableFuture<Left> r = new CompletableFuture<>();
        AtomicBoolean aborting = new AtomicBoolean();
        inFlight.whenComplete((x, e) -> settleWhenIdle(r, aborting, timer));
        timer.schedule(() -> {
            List<TunnelCounters> tunnels;
            List<Channel> accepted;
            boolean none;
            synchronized (this) {
                // Set even when nothing is open: a late arrival must not outlive the drain either.
                forced = timer;
                tunnels = new ArrayList<>(open.values());
                accepted = new ArrayList<>(connections.keySet());
                // Decided under the lock, as settleWhenIdle decides: never both "nothing left" and "cut these".
                none = settled || r.isDone() || (tunnels.isEmpty() && accepted.isEmpty());
                if (!none) {
                    aborting.set(true);
                }
            }
            if (none) {
                r.complete(new Left(0, 0));
                return;
            }
            Left left = new Left(tunnels.size(), accepted.size());
            atDeadline.accept(left);
            tunnels.forEach(TunnelCount::abort);
            accepted.forEach(TunnelCount::reset);
            idleFuture().thenRun(() -> r.complete(left));
            timer.schedule(() -> r.complete(left), abortGrace.toMillis(), TimeUnit.MILLISECONDS);
        }, Math.max(0, deadline.toMillis()), TimeUnit.MILLISECONDS);
        return r;
    }

    /**
     * Completes {@code r} with nothing left once nothing is open, deciding under the lock (with {@link #settled}, so
     * that what opens from then on is cut and logged); while something is open, checks again as it closes. Nothing
     * once the deadline began cutting ({@code aborting}).
     */
    private void settleWhenIdle(CompletableFuture<Left> r, AtomicBoolean aborting, ScheduledExecutorService timer) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        boolean done;
        synchronized (this) {
            if (aborting.get()) {
                return;
            }
            done = open.isEmpty() && connections.isEmpty();
            if (done) {
                settled = true;
                if (forced == null) {
                    forced = timer;
                }
            } else {
                idle.add(f);
            }
        }
        if (done) {
            r.complete(new Left(0, 0));
        } else {
            f.thenRun(() -> settleWhenIdle(r, aborting, timer));
        }
    }

    /**
     * Whether the drain deadline has passed, or the drain found nothing left: what is still open is being cut, and
     * whatever opens is.
     */
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
        // Marked as the drain's before the reset, as an accepted connection's cut is (reset): an L7 request on the tunnel
        // is then logged downstream_local_disconnect(...), zerohop's close, not the client's (DownstreamClose).
        markLocal(t, CUT);
        try {
            t.abort();
        } catch (UnsupportedOperationException e) {
            // closed with its connection instead
        }
    }

    /** Sets {@code mark} on an HBONE tunnel's channel (a {@code TunnelCodec}'s), if it has one yet. Any thread. */
    public static void markLocal(TunnelCounters t, io.netty.util.AttributeKey<Boolean> mark) {
        if (t instanceof io.zerohop.hbone.internal.TunnelCodec codec && codec.channel() != null) {
            codec.channel().attr(mark).set(Boolean.TRUE);
        }
    }

    /** Marks an accepted connection the drain cut ({@link #reset}), for its access line and metrics. */
    private static final io.netty.util.AttributeKey<Boolean> CUT = io.netty.util.AttributeKey.valueOf("zerohop.drain.cut");

    /**
     * Whether the drain cut {@code ch}, an accepted connection: ztunnel's {@code ClosedFromDrain} (its force shutdown).
     * Exact, where a reset after the deadline could also be the client's own.
     */
    public static boolean cutByDrain(Channel ch) {
        return ch.hasAttr(CUT) && ch.attr(CUT).get() != null;
    }

    /** A TCP reset (SO_LINGER 0, then close), marked as the drain's ({@link #cutByDrain}); the relay joined to it resets its other end. */
    public static void reset(Channel ch) {
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
