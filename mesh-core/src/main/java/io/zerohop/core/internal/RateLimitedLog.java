package io.zerohop.core.internal;

import java.time.Duration;
import org.slf4j.Logger;

/**
 * Log lines for events a peer can cause at will (policy denials, refused plaintext, self calls): at
 * most {@code burst} lines per window, then one line saying how many were suppressed, so an attacker
 * cannot flood the log (issue 11 item 8). Thread-safe; the summary is written by the first line after
 * the window or by {@link #flush()}.
 */
public final class RateLimitedLog {
    private final Logger log;
    private final String one;
    private final String what;
    private final int burst;
    private final long windowNanos;
    private long windowStart = System.nanoTime();
    private int written;
    private long suppressed;

    /**
     * @param what  how the summary names the events, e.g. {@code "denied tunnels"} (also for one event: {@link
     *              #RateLimitedLog(Logger, String, String, int, Duration)} names it in the singular)
     * @param burst lines written per window before suppressing (at least 1)
     */
    public RateLimitedLog(Logger log, String what, int burst, Duration window) {
        this(log, what, what, burst, window);
    }

    /** @param one how the summary names one event ({@code "1 more denied tunnel"}, not {@code "1 more denied tunnels"}) */
    public RateLimitedLog(Logger log, String one, String what, int burst, Duration window) {
        if (burst < 1 || window.isZero() || window.isNegative()) {
            throw new IllegalArgumentException("burst must be >= 1 and window positive, got " + burst + ", " + window);
        }
        this.log = log;
        this.one = one;
        this.what = what;
        this.burst = burst;
        this.windowNanos = window.toNanos();
    }

    /** Logs at WARN unless this window's budget is spent. */
    public void warn(String format, Object... args) {
        if (!log.isWarnEnabled()) {
            return;
        }
        if (admit(System.nanoTime())) {
            log.warn(format, args);
        }
    }

    /** Runs {@code write}, a WARN line written elsewhere (ztunnel's access log on stdout), unless this window's budget is spent. */
    public void warn(Runnable write) {
        if (log.isWarnEnabled() && admit(System.nanoTime())) {
            write.run();
        }
    }

    /** Logs at INFO unless this window's budget is spent (summaries are WARN). */
    public void info(String format, Object... args) {
        if (!log.isInfoEnabled()) {
            return;
        }
        if (admit(System.nanoTime())) {
            log.info(format, args);
        }
    }

    private synchronized boolean admit(long now) {
        if (now - windowStart >= windowNanos) {
            summarize();
            windowStart = now;
            written = 0;
        }
        if (written < burst) {
            written++;
            return true;
        }
        suppressed++;
        return false;
    }

    /** Writes the summary of what this window suppressed, if anything, and starts a new window. */
    public synchronized void flush() {
        summarize();
        windowStart = System.nanoTime();
        written = 0;
    }

    private void summarize() {
        if (suppressed > 0) {
            // The window as the options write durations (10s), counts that agree with their noun.
            String window = io.zerohop.hbone.internal.LogText.duration(Duration.ofNanos(windowNanos));
            log.warn("{} more {} not logged in the last {} (at most {} per {})", suppressed, suppressed == 1 ? one : what, window,
                    io.zerohop.hbone.internal.LogText.count(burst, "line", "lines"), window);
            suppressed = 0;
        }
    }
}
