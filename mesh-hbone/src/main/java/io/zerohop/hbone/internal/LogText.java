package io.zerohop.hbone.internal;

import java.time.Duration;

/** How log lines and messages write values a person reads. */
public final class LogText {
    private LogText() {}

    /**
     * {@code d} as the options that set it are written ({@code 10s}, {@code 20s}, {@code 1500ms}, {@code 5m}),
     * the largest unit that holds it exactly, not ISO-8601's {@code PT10S} (newuser21).
     */
    public static String duration(Duration d) {
        long ms = d.toMillis();
        if (ms == 0) {
            return d.isZero() ? "0s" : d.toNanos() / 1_000 + "µs";
        }
        long[] sizes = {86_400_000L, 3_600_000L, 60_000L, 1_000L};
        String[] units = {"d", "h", "m", "s"};
        for (int i = 0; i < sizes.length; i++) {
            if (ms % sizes[i] == 0) {
                return ms / sizes[i] + units[i];
            }
        }
        return ms + "ms";
    }
}
