package io.zerohop.identity.internal;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Bounds the log lines of one kind a peer can cause at will: at most {@code burst} lines per {@code window}; the
 * lines over budget are counted, and the count is appended to the next line of that kind admitted. The one class of
 * its kind for both lower layers: mesh-identity's TLS refuses with it a peer whose certificate a CRL revokes, and
 * mesh-hbone (to which {@code module-info} exports this package) bounds with it its refused connections, failed
 * handshakes and shed tunnels (20 lines per 10 s, as mesh-core's {@code RateLimitedLog}); until h414 (7 December)
 * mesh-hbone kept a copy of its own, which this module, below it, could not reach. A revoked peer that
 * retries every millisecond so costs a few lines, not a line per handshake (the revocation listeners, and with them
 * {@code istio_crl_policy_rejections_total}, still see every one). ztunnel writes its access log's "connection
 * failed" WARN for every refused handshake ({@code src/proxy/metrics.rs} {@code log_early_deny}); zerohop bounds every
 * line a peer causes (issue 11 item 8). Thread-safe.
 */
public final class LogBudget {
    /** What mesh-hbone and mesh-core allow per window for the lines a peer causes ({@link #LogBudget()}). */
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

    /** Text to append to an admitted line: empty, or how many were dropped before it. */
    public static String note(long suppressed) {
        return suppressed > 0 ? " (" + suppressed + " similar lines suppressed before this one)" : "";
    }
}
