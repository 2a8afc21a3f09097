package io.zerohop.kubernetes.internal;

import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * The WARN lines of the workload conversion ({@link PodConversion#warnOnce}), which runs again over every object at each
 * flush: each message is said once while its cause lasts, and the log stays bounded however many objects are wrong.
 *
 * <ul>
 *   <li>Once: a message already said is not said again while it stays in memory: per kind, the {@value #CAPACITY} most recently
 *       said, least recently said first out. A message a flush did not say is forgotten at the end of that flush
 *       ({@link #endFlush}): its cause is gone, and when it comes back it is said again (a pod fixed, then broken
 *       again, is news). Until 7 December the memory was a set cleared at 10,001 messages: with more wrong objects
 *       than that (pods labelled for a waypoint that does not exist, say), most of them were said again at every flush.
 *   <li>Bounded: per kind of message ({@code "istio.io/use-waypoint label"}, {@code "Kubernetes object"} for the others) at most {@value #BURST} lines per
 *       {@link #WINDOW}, then one summary line per window with how many were not said, as mesh-core's
 *       {@code RateLimitedLog} (its text too); a kind in a storm neither hides another kind's lines nor pushes them out of memory. A message the budget
 *       held back counts as said (it is in the summary) and is not repeated while its cause lasts; more wrong objects
 *       than the memory holds are counted again at each flush, in the summary. {@code RateLimitedLog} itself is in
 *       mesh-core's {@code internal} package, which its module does not export: mesh-kubernetes on the module path
 *       could not load it.
 * </ul>
 *
 * <p>Each {@link WorkloadState} has its own ({@link #current} during its flush); conversions called outside a flush
 * share {@link #DEFAULT}, which is never swept. Thread-safe.
 */
final class OnceWarnings {
    static final int CAPACITY = 10_000;
    static final int BURST = 100;
    static final Duration WINDOW = Duration.ofMinutes(1);

    static final OnceWarnings DEFAULT = new OnceWarnings(org.slf4j.LoggerFactory.getLogger(PodConversion.class));
    private static final ThreadLocal<OnceWarnings> CURRENT = new ThreadLocal<>();

    private final Logger log;
    private final LongSupplier clock;
    private final int capacity;
    private final int burst;
    private final long windowNanos;
    private final Map<String, Kind> kinds = new HashMap<>();
    private long flush;

    OnceWarnings(Logger log) {
        this(log, System::nanoTime, CAPACITY, BURST, WINDOW);
    }

    OnceWarnings(Logger log, LongSupplier clock, int capacity, int burst, Duration window) {
        this.log = log;
        this.clock = clock;
        this.capacity = capacity;
        this.burst = burst;
        this.windowNanos = window.toNanos();
    }

    /** The instance of the flush running on this thread, else {@link #DEFAULT}. */
    static OnceWarnings current() {
        OnceWarnings w = CURRENT.get();
        return w != null ? w : DEFAULT;
    }

    /** Runs {@code flush} with this instance {@link #current}, then {@link #endFlush}. */
    <T> T during(java.util.function.Supplier<T> flush) {
        OnceWarnings outer = CURRENT.get();
        CURRENT.set(this);
        try {
            return flush.get();
        } finally {
            if (outer == null) {
                CURRENT.remove();
            } else {
                CURRENT.set(outer);
            }
            endFlush();
        }
    }

    /** Logs {@code message} at WARN unless said before while its cause lasted, or {@code kind}'s budget is spent. */
    synchronized void warn(String kind, String message) {
        Kind k = kinds.computeIfAbsent(kind, n -> new Kind(n, clock.getAsLong()));
        long[] last = k.said.get(message);
        if (last != null) {
            last[0] = flush;
            return;
        }
        k.said.put(message, new long[] {flush});
        if (k.admit()) {
            log.warn(message);
        }
    }

    /** The end of one conversion of everything: forgets what it did not say, writes the summaries of ended windows. */
    synchronized void endFlush() {
        long done = flush++;
        long now = clock.getAsLong();
        for (Kind k : kinds.values()) {
            k.said.values().removeIf(last -> last[0] < done);
            k.roll(now);
        }
    }

    /** One kind's memory and window: its messages said, lines written, lines held back. */
    private final class Kind {
        private final String kind;
        /** Message to the flush that last said it; access order, so the eldest is the least recently said. */
        final LinkedHashMap<String, long[]> said = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, long[]> eldest) {
                return size() > capacity;
            }
        };
        private long start;
        private int written;
        private long suppressed;

        Kind(String kind, long now) {
            this.kind = kind;
            this.start = now;
        }

        boolean admit() {
            roll(clock.getAsLong());
            if (written < burst) {
                written++;
                return true;
            }
            suppressed++;
            return false;
        }

        /** Starts a new window, after its summary line, when this one has ended. */
        void roll(long now) {
            if (now - start < windowNanos) {
                return;
            }
            if (suppressed > 0) {
                Duration d = Duration.ofNanos(windowNanos);
                String window = d.toSecondsPart() == 0 && d.toMinutes() > 0 ? d.toMinutes() + "m" : d.toSeconds() + "s";
                log.warn("{} more {} warning{} not logged in the last {} (at most {} lines per {}; each is said once while its"
                        + " cause lasts)", suppressed, kind, suppressed == 1 ? "" : "s", window, burst, window);
            }
            start = now;
            written = 0;
            suppressed = 0;
        }
    }
}
