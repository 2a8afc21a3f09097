package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Bytes that blocking {@link TunnelSocket} writers have handed to one HBONE connection's event loop
 * and that the loop has not yet taken into the tunnel channels, shared by every socket on that
 * connection (all tunnels of a pooled connection are served by its one event loop, so that loop is
 * what falls behind). A writer waits above {@link #HIGH} until the loop is down to {@link #LOW}.
 *
 * <p>Why one budget per connection, not per socket (issue 14, 16 streams over one pooled
 * connection): with a budget per socket, 16 writers kept 16 × 512 KiB = 8 MiB queued as write tasks
 * on the one loop (measured: almost every writer wait was on this bound, not on the stream's
 * writability). Those bytes were written into their buffers milliseconds before the loop encrypted
 * them, far out of the cache, and the allocator kept making and zeroing new direct chunks to hold
 * them; a lone writer queued at most 512 KiB. Shared, the loop's queue stays under {@link #HIGH}
 * however many sockets write, as for one socket.
 *
 * <p>Wake-ups: each waiting writer has a condition of its own, queued first come first served. The
 * task that brings the count down across {@link #LOW} wakes <em>one</em> writer, which can then hand
 * over {@code HIGH - LOW} bytes before it waits again, and so does a task that brings it to 0: the
 * writers' wake-ups per MB stay those of one socket instead of growing with the number of writers
 * (waking them all made 16 writers sleep 9-13 times per MB instead of 3). A writer that leaves its
 * wait while the count is 0 (it may write nothing more, and no task is left to wake anyone) wakes
 * the next, so no writer is left asleep while the loop has nothing to do. A socket's writability,
 * end or close wakes that socket's writer only ({@link #wake}).
 */
final class WriteBudget {
    static final int HIGH = 512 * 1024;
    static final int LOW = 128 * 1024;
    private static final AttributeKey<WriteBudget> KEY = AttributeKey.valueOf(WriteBudget.class, "budget");

    final AtomicLong submitted = new AtomicLong();
    private final ReentrantLock lock = new ReentrantLock();
    /** Writers waiting, first come first served; under {@link #lock}. */
    private final ArrayDeque<Waiter> queue = new ArrayDeque<>();
    /** Writers in {@link #await}; written under {@link #lock}, read by the event loop without it. */
    private volatile int waiters;
    /** Times a writer went to sleep in {@link #await} (tests: wake-ups per MB). */
    private final AtomicLong sleeps = new AtomicLong();

    /** One socket's writer: its condition on this budget's lock. */
    final class Waiter {
        private final Condition wakeUp = lock.newCondition();
        /** In {@link #queue}; under {@link #lock}. */
        private boolean queued;
    }

    /**
     * The budget of {@code tunnel}'s connection (its parent channel), made on first use; a channel
     * without a parent (a test's embedded channel) gets one of its own. Any thread.
     */
    static WriteBudget of(Channel tunnel) {
        Channel owner = tunnel.parent() != null ? tunnel.parent() : tunnel;
        WriteBudget b = owner.attr(KEY).get();
        if (b == null) {
            WriteBudget fresh = new WriteBudget();
            b = owner.attr(KEY).setIfAbsent(fresh);
            if (b == null) {
                b = fresh;
            }
        }
        return b;
    }

    Waiter newWaiter() {
        return new Waiter();
    }

    void add(long n) {
        submitted.addAndGet(n);
    }

    /**
     * The event loop took {@code n} bytes (or dropped them): wakes the first waiting writer when the
     * count crosses {@link #LOW} on the way down or reaches 0.
     */
    void release(long n) {
        long left = submitted.addAndGet(-n);
        if (left <= LOW && (left == 0 || left + n > LOW) && waiters > 0) {
            lock.lock();
            try {
                wakeFirst();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Under {@link #lock}. */
    private void wakeFirst() {
        Waiter w = queue.poll();
        if (w != null) {
            w.queued = false;
            w.wakeUp.signal();
        }
    }

    /** Wakes {@code w}'s writer, if it waits, to look at its socket again (writability, close, end). Any thread. */
    void wake(Waiter w) {
        if (waiters > 0) {
            lock.lock();
            try {
                if (w.queued) {
                    queue.remove(w);
                    w.queued = false;
                }
                w.wakeUp.signal();
            } finally {
                lock.unlock();
            }
        }
    }

    long sleeps() {
        return sleeps.get();
    }

    /** Writers queued for a wake-up (tests). */
    int queued() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /** What a writer waits on: true while it must go on waiting. Called under the budget's lock. */
    interface Blocked {
        boolean stillBlocked();
    }

    /**
     * Waits while {@code blocked} says so, waking at least every 100 ms to look again (as the
     * per-socket wait did). Application threads only.
     */
    void await(Waiter w, Blocked blocked) throws InterruptedException {
        await(w, blocked, TimeUnit.MILLISECONDS.toNanos(100));
    }

    /** {@link #await(Waiter, Blocked)} looking again every {@code recheckNanos} (tests: no timed wake-ups). */
    void await(Waiter w, Blocked blocked, long recheckNanos) throws InterruptedException {
        lock.lock();
        waiters++; // a volatile write before the check below: a release() after it sees this waiter
        try {
            while (blocked.stillBlocked()) {
                if (!w.queued) {
                    queue.add(w);
                    w.queued = true;
                }
                sleeps.incrementAndGet();
                w.wakeUp.awaitNanos(recheckNanos);
            }
        } finally {
            if (w.queued) {
                queue.remove(w);
                w.queued = false;
            }
            waiters--;
            if (submitted.get() == 0) {
                // The loop has nothing from any writer, so no release() will wake the next one.
                wakeFirst();
            }
            lock.unlock();
        }
    }
}
