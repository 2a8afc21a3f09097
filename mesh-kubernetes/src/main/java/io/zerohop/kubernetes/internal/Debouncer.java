package io.zerohop.kubernetes.internal;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Coalesces bursts of change events into one run of {@code action}, as istiod debounces pushes
 * ({@code PILOT_DEBOUNCE_AFTER} 100 ms of quiet, at most {@code PILOT_DEBOUNCE_MAX} 10 s after the
 * first event of a burst; istio/istio pilot/pkg/features/tuning.go). Runs on the given
 * single-threaded executor, so two runs never overlap.
 *
 * <p>An urgent event ({@link #triggerUrgent}: a pod of the node proxy's own node) is applied at most {@code urgentMax}
 * after it, whatever else keeps coming: istio-cni captures a pod when it is created (its CNI plugin), but zerohop's
 * capture set follows the registry, and with a busy cluster's events every few tens of milliseconds a new pod of this
 * node waited for the 10 s cap, uncaptured (a break-it pass: median 9.2 s at 20 events a second elsewhere).
 */
public final class Debouncer {
    private static final Logger LOG = LoggerFactory.getLogger(Debouncer.class);

    private final ScheduledExecutorService executor;
    private final long afterNanos;
    private final long maxNanos;
    private final long urgentMaxNanos;
    private final Runnable action;
    private long firstEventNanos = -1;
    /** When the earliest urgent event pending must be applied by, or -1. */
    private long urgentDeadlineNanos = -1;
    private long lastEventNanos;
    private ScheduledFuture<?> pending;
    /** The latest check scheduled: an earlier one that still runs (cancelled too late) does nothing. */
    private long scheduled;

    public Debouncer(ScheduledExecutorService executor, Duration after, Duration max, Runnable action) {
        this(executor, after, max, max, action);
    }

    /** @param urgentMax the cap for {@link #triggerUrgent}'s events (at most {@code max}) */
    public Debouncer(ScheduledExecutorService executor, Duration after, Duration max, Duration urgentMax, Runnable action) {
        this.executor = executor;
        this.afterNanos = after.toNanos();
        this.maxNanos = max.toNanos();
        this.urgentMaxNanos = Math.min(urgentMax.toNanos(), maxNanos);
        this.action = action;
    }

    /** As {@link #trigger}, and the action runs at most {@code urgentMax} after this event. */
    public synchronized void triggerUrgent() {
        long now = System.nanoTime();
        trigger();
        long deadline = now + urgentMaxNanos;
        if (urgentDeadlineNanos < 0 || deadline - urgentDeadlineNanos < 0) {
            urgentDeadlineNanos = deadline;
            // The check scheduled may come later than that (a quiet period longer than urgentMax): one sooner replaces it.
            if (afterNanos > urgentMaxNanos && pending != null) {
                pending.cancel(false);
                schedule(urgentMaxNanos);
            }
        }
    }

    /** Notes one event; the action runs once the events pause for the quiet period, or at the cap. */
    public synchronized void trigger() {
        long now = System.nanoTime();
        lastEventNanos = now;
        if (firstEventNanos < 0) {
            firstEventNanos = now;
        }
        if (pending == null) {
            schedule(afterNanos);
        }
    }

    private void schedule(long delayNanos) {
        long mine = ++scheduled;
        try {
            pending = executor.schedule(() -> fire(mine), Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // Shut down: events still arriving from stopping informers have nowhere to go.
            pending = null;
            firstEventNanos = -1;
            urgentDeadlineNanos = -1;
        }
    }

    private void fire(long which) {
        synchronized (this) {
            if (which != scheduled) {
                // Replaced by a sooner check (triggerUrgent) after it had started.
                return;
            }
            long now = System.nanoTime();
            long quietFor = now - lastEventNanos;
            long capIn = maxNanos - (now - firstEventNanos);
            if (urgentDeadlineNanos >= 0) {
                capIn = Math.min(capIn, urgentDeadlineNanos - now);
            }
            if (quietFor < afterNanos && capIn > 0) {
                schedule(Math.min(afterNanos - quietFor, capIn));
                return;
            }
            pending = null;
            firstEventNanos = -1;
            urgentDeadlineNanos = -1;
        }
        try {
            action.run();
        } catch (RuntimeException e) {
            LOG.error("applying Kubernetes changes failed", e);
        }
    }
}
