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

        @Override
        public int calculateStrategy(IntSupplier selectNow, boolean hasTasks) throws Exception {
            long now = clock.getAsLong();
            if (hasTasks) {
                lastActive = now;
                slept = false;
                return selectNow.get(); // Netty's default strategy with tasks queued
            }
            if (slept) {
                // Back from a sleep: something woke us (I/O, a task, a timer), so a reply may follow.
                lastActive = now;
                slept = false;
            }
            if (now - lastActive < windowNanos) {
                int ready = selectNow.get();
                if (ready > 0) {
                    lastActive = now;
                } else {
                    Thread.yield(); // never starve the threads we are waiting for on a small machine
                }
                return ready;
            }
            slept = true;
            sleeps.increment();
            return SelectStrategy.SELECT;
        }
    }
}
