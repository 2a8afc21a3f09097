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
 */
public final class Debouncer {
    private static final Logger LOG = LoggerFactory.getLogger(Debouncer.class);

    private final ScheduledExecutorService executor;
    private final long afterNanos;
    private final long maxNanos;
    private final Runnable action;
    private long firstEventNanos = -1;
    private long lastEventNanos;
    private ScheduledFuture<?> pending;

    public Debouncer(ScheduledExecutorService executor, Duration after, Duration max, Runnable action) {
        this.executor = executor;
        this.afterNanos = after.toNanos();
        this.maxNanos = max.toNanos();
        this.action = action;
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
        try {
            pending = executor.schedule(this::fire, Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // Shut down: events still arriving from stopping informers have nowhere to go.
            pending = null;
            firstEventNanos = -1;
        }
    }

    private void fire() {
        synchronized (this) {
            long now = System.nanoTime();
            long quietFor = now - lastEventNanos;
            long burstFor = now - firstEventNanos;
            if (quietFor < afterNanos && burstFor < maxNanos) {
                schedule(Math.min(afterNanos - quietFor, maxNanos - burstFor));
                return;
            }
            pending = null;
            firstEventNanos = -1;
        }
        try {
            action.run();
        } catch (RuntimeException e) {
            LOG.error("applying Kubernetes changes failed", e);
        }
    }
}
