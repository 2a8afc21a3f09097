package io.zerohop.hbone.internal;

import java.time.Duration;

/**
 * Bounds the log lines of one kind (refusals, failed handshakes): at most {@code burst} lines per
 * {@code window}; the lines over budget are counted, and the count is appended to the next line of
 * that kind admitted. A peer that makes the server refuse or fail thousands of times a second so
 * costs a few lines, not a line each (events and metrics still see every one). Thread-safe.
 */
final class LogBudget {
    private final int burst;
    private final long windowNanos;
    private long windowStart;
    private int used;
    private long suppressed;

    LogBudget(int burst, Duration window) {
        this.burst = burst;
        this.windowNanos = window.toNanos();
        this.windowStart = System.nanoTime() - windowNanos;
    }

    /** -1: do not log this line; otherwise how many lines of this kind were dropped since the last one logged. */
    synchronized long admit() {
        long now = System.nanoTime();
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
    static String note(long suppressed) {
        return suppressed > 0 ? " (" + suppressed + " similar lines suppressed before this one)" : "";
    }
}
