package io.zerohop.identity.internal;

import java.time.Duration;

/**
 * How zerohop's log lines and messages write durations and counts a person reads, in one place for every module
 * (mesh-hbone's {@code LogText} and the CLI's option parser write durations this way too).
 */
public final class HumanText {
    private HumanText() {}

    /**
     * {@code d} as the options that set it are written ({@code 10s}, {@code 20s}, {@code 1500ms}, {@code 5m}),
     * the largest unit that holds it exactly, not ISO-8601's {@code PT10S} (newuser21) nor a bare {@code 10000 ms}.
     * Never throws: a duration beyond a long of milliseconds ({@code ChronoUnit.FOREVER}'s) is written in whole
     * seconds' largest exact unit, as the messages refusing it must still be written.
     */
    public static String duration(Duration d) {
        if (d.getSeconds() >= Long.MAX_VALUE / 1_000 - 1 || d.getSeconds() <= Long.MIN_VALUE / 1_000 + 1) {
            // toMillis() would throw ArithmeticException (long overflow), and the setter refusing it named nothing.
            long s = d.getSeconds();
            long[] sizes = {86_400L, 3_600L, 60L};
            String[] units = {"d", "h", "m"};
            for (int i = 0; i < sizes.length; i++) {
                if (s % sizes[i] == 0) {
                    return s / sizes[i] + units[i];
                }
            }
            return s + "s";
        }
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

    /**
     * {@code d} as {@link #duration} writes it, but exact: a part below a millisecond is kept, in microseconds or
     * nanoseconds ({@code 3153600000000000001ns}), for the messages that refuse a value, where {@link #duration}'s
     * rounding showed a refused {@code 36500d} plus 1 ns as the limit itself, and -1 ns as {@code 0µs}.
     */
    public static String exactDuration(Duration d) {
        if (d.getNano() % 1_000_000 != 0) {
            try {
                long ns = d.toNanos();
                return ns % 1_000 == 0 ? ns / 1_000 + "µs" : ns + "ns";
            } catch (ArithmeticException beyondNanos) {
                // Past ~292 years the nanoseconds no longer matter to anyone reading the refusal.
            }
        }
        return duration(d);
    }

    /** {@code n} and the noun that agrees with it: {@code 1 tunnel}, {@code 0 tunnels}, {@code 2 policies}. */
    public static String count(long n, String one, String many) {
        return n + " " + (n == 1 ? one : many);
    }
}
