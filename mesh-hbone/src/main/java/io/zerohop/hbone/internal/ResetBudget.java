package io.zerohop.hbone.internal;

import java.time.Duration;

/**
 * The rapid-reset budget of one HBONE connection: at most {@code max} pre-open resets per window.
 * The window opens at the first reset counted after the previous window ended, as Netty's own
 * RST_STREAM budget opens it (netty/netty codec-http2 {@code Http2MaxRstFrameListener}, 4.1.100+),
 * not when the connection was accepted: a window opened at accept time was partly spent on the TLS
 * handshake and on idle time, so a burst starting near its end was counted in two short windows
 * and could pass the budget unnoticed (RapidResetTest failed so on a loaded machine, where ten
 * handshakes took most of the 30 s).
 *
 * <p>Not thread-safe: the connection's event loop only. Times are {@link System#nanoTime()} values.
 */
final class ResetBudget {
    private final int max;
    private final long windowNanos;
    private long windowStart;
    /** Resets counted in the current window; 0: no window open. */
    private int count;

    /**
     * @param max    resets allowed per window, at least 1
     * @param window the window's length, positive
     */
    ResetBudget(int max, Duration window) {
        if (max < 1 || window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("reset budget needs max >= 1 and a positive window, got " + max + " per " + window);
        }
        this.max = max;
        this.windowNanos = window.toNanos();
    }

    /** Counts one reset at {@code nowNanos}; true when it is past the budget of its window. */
    boolean overBudget(long nowNanos) {
        if (count == 0 || nowNanos - windowStart >= windowNanos) {
            windowStart = nowNanos;
            count = 0;
        }
        return ++count > max;
    }

    /** Resets counted in the current window. */
    int count() {
        return count;
    }
}
