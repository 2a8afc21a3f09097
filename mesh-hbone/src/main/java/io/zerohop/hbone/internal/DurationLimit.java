package io.zerohop.hbone.internal;

import java.time.Duration;

/**
 * The longest duration a timeout, interval or drain setting of mesh-hbone and mesh-core takes. They run as
 * nanoseconds (Netty's timers, {@code System.nanoTime()} deadlines), and {@link Duration#toNanos()} overflows past
 * about 292 years: a longer one was accepted by its setter, then threw {@link ArithmeticException} where it was
 * first used (a mesh's {@code close()}, {@code build()} or {@code connect}, a new-user pass). 100 years leaves room
 * for the grace periods added to a drain; no process waits that long, so nothing a caller means is refused.
 */
public final class DurationLimit {
    private DurationLimit() {}

    /** 36500 days (100 years). */
    public static final Duration MAX = Duration.ofDays(36_500);

    /** How {@link #MAX} is written in the messages refusing a longer duration. */
    public static final String MAX_TEXT = "36500d (100 years)";

    /**
     * {@code d}, checked against {@link #MAX}.
     *
     * @param setting the setter's name, for the message
     * @throws IllegalArgumentException naming {@code setting}, the maximum and {@code d} when {@code d} is longer
     */
    public static Duration atMost(Duration d, String setting) {
        if (d.compareTo(MAX) > 0) {
            throw new IllegalArgumentException(setting + " must be at most " + MAX_TEXT + ", got " + LogText.exactDuration(d));
        }
        return d;
    }
}
