package io.zerohop.hbone.internal;

import io.netty.channel.SelectStrategy;
import io.netty.channel.SelectStrategyFactory;
import io.netty.util.IntSupplier;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * An event loop that polls briefly before it sleeps ({@link LatencyMode#POLL_PROPERTY}): for
 * {@code window} nanoseconds after its last I/O, task or wake-up, the loop's select is a
 * zero-timeout {@code epoll_wait} (Netty's {@code selectNow}) followed by a {@link Thread#yield()};
 * after that it selects with a timeout (sleeps) as Netty's default strategy does.
 *
 * <p>Why it saves wake-ups, from Netty 4.2.18's {@code EpollIoHandler}: {@code wakeup()} writes the
 * eventfd only when {@code nextWakeupNanos} is not {@code AWAKE}, and only the {@code SELECT} branch
 * of {@code run} sets it to something else. A loop that returns the zero-timeout select's result
 * stays {@code AWAKE}, so a task handed to it from another thread is a queue insert with no
 * system call, and a packet is seen by the next poll without a sleep and a wake-up.
 *
 * <p>Adaptive: an episode (wake-up to sleep) whose polls found no I/O makes the loop skip
 * polling after its next wake-ups ({@link Backoff}: 1, 3, 7, ... up to 255 of them), so an
 * oversubscribed machine or sparse traffic does not pay for windows that never catch anything.
 *
 * <p>Bounded by construction: unlike {@link SelectStrategy#BUSY_WAIT} (which never sleeps) an idle
 * loop returns {@link SelectStrategy#SELECT} once {@code window} has passed, and sleeps until the
 * next event; it then polls again for one window after it wakes. Only for epoll:
 * {@code NioIoHandler.selectNow()} calls {@code Selector.wakeup()} again after every poll once a task
 * was handed over, a write per poll.
 */
public final class LoopPoll implements SelectStrategyFactory {
    private final long windowNanos;
    private final LongSupplier clock;
    private final LongAdder sleeps = new LongAdder();

    /** Polls for {@code windowNanos} (> 0) after the last activity, by {@link System#nanoTime()}. */
    public LoopPoll(long windowNanos) {
        this(windowNanos, System::nanoTime);
    }

    /** With another clock (tests). */
    LoopPoll(long windowNanos, LongSupplier clock) {
        if (windowNanos <= 0) {
            throw new IllegalArgumentException("polling window must be > 0 ns: " + windowNanos);
        }
        this.windowNanos = windowNanos;
        this.clock = clock;
    }

    /** The polling window in nanoseconds. */
    public long windowNanos() {
        return windowNanos;
    }

    /** Times the loops of this factory chose to sleep (returned {@code SELECT}), all loops together. */
    public long sleeps() {
        return sleeps.sum();
    }

    @Override
    public SelectStrategy newSelectStrategy() {
        return new Strategy();
    }

    /** One per event loop: only its loop thread calls it, so plain fields. */
    private final class Strategy implements SelectStrategy {
        private long lastActive;
        private boolean slept = true;
        /** This episode (wake-up to sleep) polls; false while backing off. */
        private boolean polling;
        /** A poll of this episode found I/O or a task. */
        private boolean hit;
        private final Backoff backoff = new Backoff();

        @Override
        public int calculateStrategy(IntSupplier selectNow, boolean hasTasks) throws Exception {
            long now = clock.getAsLong();
            if (slept) {
                // Back from a sleep: something woke us (I/O, a task, a timer), so a reply may follow.
                lastActive = now;
                slept = false;
                hit = false;
                polling = backoff.tryNow();
            } else if (hasTasks) {
                // Handed over while we were awake. Rarely seen here: a task that arrives during a
                // poll is usually run by runAllTasks right after it, out of this strategy's view,
                // so a hit is mostly I/O that a poll found.
                hit = true;
            }
            if (hasTasks) {
                lastActive = now;
                return selectNow.get(); // Netty's default strategy with tasks queued
            }
            if (polling && now - lastActive < windowNanos) {
                int ready = selectNow.get();
                if (ready > 0) {
                    lastActive = now;
                    hit = true;
                } else {
                    Thread.yield(); // never starve the threads we are waiting for on a small machine
                }
                return ready;
            }
            if (polling) {
                backoff.record(hit);
            }
            slept = true;
            sleeps.increment();
            return SelectStrategy.SELECT;
        }
    }

    /**
     * Spins that found nothing make the next ones rarer: after {@code m} misses in a row the next
     * {@code 2^m - 1} waits (at most 255) do not spin; a hit resets it. On an oversubscribed machine,
     * or for sparse traffic, the awaited event rarely comes within the window, and the spin would
     * only take CPU from the thread that produces it. Not thread-safe: one per waiter.
     */
    static final class Backoff {
        private static final int MAX_MISSES = 8;
        private int misses;
        private int skip;

        /** Whether this wait may spin. */
        boolean tryNow() {
            if (skip > 0) {
                skip--;
                return false;
            }
            return true;
        }

        /** The outcome of a wait that spun. */
        void record(boolean hit) {
            if (hit) {
                misses = 0;
            } else {
                misses = Math.min(misses + 1, MAX_MISSES);
                skip = (1 << misses) - 1;
            }
        }
    }
}
