package io.zerohop.identity.spire;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * Bounds the WARN lines of one kind that the agent causes with each update it sends (an SVID expired on
 * arrival, the default SVID moved, an SVID whose key does not match its certificate): at most
 * {@code burst} lines per {@code window}, the lines over budget counted and the count appended to the
 * next line of that kind written. An agent that sends such an update every second so costs a few lines,
 * not one a second. The same shape as mesh-hbone's {@code LogBudget} and mesh-core's
 * {@code RateLimitedLog} (20 lines per 10 s for what a peer causes), neither of which this module can
 * reach (it depends on mesh-identity only); the budget is smaller, as an agent's legitimate updates
 * come minutes apart (SVID rotation), not per connection. The window is read on the provider's clock, the wall
 * clock: one set back starts the window again at the new time (golang.org/x/time/rate {@code Limiter.advance}), so a
 * step back mutes a kind for at most one window. Thread-safe.
 */
final class WarnBudget {
    /** Lines of one kind per {@link #WINDOW}. */
    static final int BURST = 3;
    static final Duration WINDOW = Duration.ofMinutes(1);

    private final Clock clock;
    private Instant windowStart;
    private int used;
    private long suppressed;

    WarnBudget(Clock clock) {
        this.clock = clock;
    }

    /** Null: do not write this line; otherwise the text to append to it (empty, or how many were left out before it). */
    synchronized String admit() {
        Instant now = clock.instant();
        if (windowStart != null && now.isBefore(windowStart)) {
            // The wall clock was set back (an NTP step, a VM resumed): the window starts again from the new "now", as
            // golang.org/x/time/rate's Limiter.advance takes a time before its last as the last, or the lines of this
            // kind stayed silent for as long as the step (hours) rather than at most one window.
            windowStart = now;
        }
        if (windowStart == null || !now.isBefore(windowStart.plus(WINDOW))) {
            windowStart = now;
            used = 0;
        }
        if (used >= BURST) {
            suppressed++;
            return null;
        }
        used++;
        long s = suppressed;
        suppressed = 0;
        return s == 0 ? "" : " (" + s + " more such line" + (s == 1 ? "" : "s") + " not written before this one: at most " + BURST
                + " per " + WINDOW.toMinutes() + " min)";
    }
}
