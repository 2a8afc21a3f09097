package io.zerohop.identity.internal;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Bounds the log lines of one kind a peer can cause at will: at most {@code burst} lines per {@code window}; the
 * lines over budget are counted, and the count is appended to the next line of that kind admitted. mesh-hbone's
 * {@code LogBudget} (its refused connections and failed handshakes: 20 lines per 10 s) at the layer below, where
 * mesh-identity's TLS refuses a peer whose certificate a CRL revokes: this module cannot reach mesh-hbone's class or
 * mesh-core's {@code RateLimitedLog}, so it keeps the same rule, numbers and wording here. A revoked peer that
 * retries every millisecond so costs a few lines, not a line per handshake (the revocation listeners, and with them
 * {@code istio_crl_policy_rejections_total}, still see every one). ztunnel writes its access log's "connection
 * failed" WARN for every refused handshake ({@code src/proxy/metrics.rs} {@code log_early_deny}); zerohop bounds every
 * line a peer causes (issue 11 item 8). Thread-safe.
 */
public final class LogBudget {
    /** What mesh-hbone and mesh-core allow per window for the lines a peer causes. */
    public static final int BURST = 20;
    public static final Duration WINDOW = Duration.ofSeconds(10);

    private final int burst;
    private final long windowNanos;
    private final LongSupplier nanoTime;
    private long windowStart;
    private int used;
    private long suppressed;

    /** {@link #BURST} lines per {@link #WINDOW} on {@link System#nanoTime()}. */
    public LogBudget() {
        this(BURST, WINDOW, System::nanoTime);
    }

    /** @param nanoTime a monotonic clock in nanoseconds (tests: one they hold still, so no assertion depends on speed) */
    public LogBudget(int burst, Duration window, LongSupplier nanoTime) {
        if (burst < 1 || window.isZero() || window.isNegative()) {
            throw new IllegalArgumentException("burst must be >= 1 and window positive, got " + burst + ", " + window);
        }
        this.burst = burst;
        this.windowNanos = window.toNanos();
        this.nanoTime = nanoTime;
        this.windowStart = nanoTime.getAsLong() - windowNanos;
    }

    /** -1: do not log this line; otherwise how many lines of this kind were dropped since the last one logged. */
    public synchronized long admit() {
        long now = nanoTime.getAsLong();
        if (now - windowStart >= windowNanos) {
            windowStart = now;
            used = 0;
        }
        if (used >= burst) {
            suppressed++;
            return -1;
        }
        used++;
        long s = suppressed;
        suppressed = 0;
        return s;
    }

    /** Text to append to an admitted line: empty, or how many were dropped before it (mesh-hbone's wording). */
    public static String note(long suppressed) {
        return suppressed > 0 ? " (" + suppressed + " similar lines suppressed before this one)" : "";
    }
}
