package io.zerohop.hbone.internal;

import java.util.function.BooleanSupplier;

/**
 * The two switches of the opt-in latency mode (issue 14), both JVM system properties read when a
 * socket or an event loop group is created, both off ({@code 0}) by default:
 *
 * <ul>
 *   <li>{@value #SPIN_PROPERTY}: microseconds an application thread blocked on a tunnel socket
 *       (a read, or a connect waiting for the 200) spins ({@link Thread#onSpinWait()}, with a
 *       {@link Thread#yield()} every {@value #YIELD_EVERY} turns) before it parks. Data that arrives
 *       within the spin needs no unpark from the event loop, and the reader no wake-up. A spin
 *       that caught nothing makes the socket's next waits park at once ({@link LoopPoll.Backoff}).</li>
 *   <li>{@value #POLL_PROPERTY}: microseconds an hbone event loop keeps polling its epoll set
 *       without a timeout after its last I/O, task or wake-up before it goes to sleep again
 *       ({@link LoopPoll}); a task handed to a polling loop needs no eventfd write. A window that
 *       caught no I/O makes the loop's next wake-ups go straight back to sleep. Epoll only.</li>
 * </ul>
 *
 * Both trade CPU for latency; the measured cost is in {@code benchmarks/results/spin-*.md}. Values
 * are whole microseconds from 0 to {@value #MAX_MICROS}.
 */
public final class LatencyMode {
    /** System property: spin of a blocked socket reader or connect before parking, microseconds. */
    public static final String SPIN_PROPERTY = "zerohop.hbone.spinMicros";
    /** System property: polling window of the hbone event loops, microseconds. */
    public static final String POLL_PROPERTY = "zerohop.hbone.loopPollMicros";
    /** Upper bound of either setting: the mode spins briefly, it never busy-waits for good. */
    public static final long MAX_MICROS = 10_000;
    static final int YIELD_EVERY = 64;

    private LatencyMode() {}

    /** {@value #SPIN_PROPERTY} in nanoseconds (0 when unset). */
    public static long spinNanos() {
        return micros(SPIN_PROPERTY, System.getProperty(SPIN_PROPERTY)) * 1000;
    }

    /** {@value #POLL_PROPERTY} in nanoseconds (0 when unset). */
    public static long pollNanos() {
        return micros(POLL_PROPERTY, System.getProperty(POLL_PROPERTY)) * 1000;
    }

    /**
     * Parses one setting.
     *
     * @throws IllegalArgumentException naming the property when {@code value} is not a whole number
     *         of microseconds from 0 to {@value #MAX_MICROS}
     */
    static long micros(String property, String value) {
        if (value == null || value.isBlank()) {
            return 0;
        }
        long v;
        try {
            v = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            v = -1;
        }
        if (v < 0 || v > MAX_MICROS) {
            throw new IllegalArgumentException("-D" + property + "=" + value
                    + ": expected whole microseconds from 0 (off) to " + MAX_MICROS);
        }
        return v;
    }

    /**
     * Spins until {@code done} or {@code nanos} have passed, whichever comes first; true when done.
     * For a caller about to block on something an event loop completes.
     */
    public static boolean spin(BooleanSupplier done, long nanos) {
        if (nanos <= 0) {
            return done.getAsBoolean();
        }
        long end = System.nanoTime() + nanos;
        for (int i = 1; ; i++) {
            if (done.getAsBoolean()) {
                return true;
            }
            if (System.nanoTime() - end >= 0) {
                return false;
            }
            pause(i);
        }
    }

    /** One turn of a spin: a pause, and every {@value #YIELD_EVERY}th turn the CPU to a runnable peer. */
    static void pause(int turn) {
        if (turn % YIELD_EVERY == 0) {
            // On 2 vCPUs the thread we wait for may be queued behind us.
            Thread.yield();
        } else {
            Thread.onSpinWait();
        }
    }
}
