package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The wake-ups of the writers that share one connection's {@link WriteBudget} (zerohop's own
 * mechanics, no upstream counterpart; issue 14, 16 streams over one pooled connection). Counted,
 * not timed: the waiters look again only when woken (no timed re-check), and every look is counted,
 * so after all of them are joined the count says how many wake-ups there were.
 */
@Timeout(30)
class WriteBudgetTest {
    private static final long FOREVER = TimeUnit.HOURS.toNanos(1);

    /** Waiters that may leave only with a ticket; counts every look at the condition. */
    private static final class Waiters {
        final WriteBudget budget = new WriteBudget();
        final AtomicInteger tickets = new AtomicInteger();
        final AtomicInteger looks = new AtomicInteger();
        final AtomicInteger left = new AtomicInteger();
        final List<Thread> threads = new ArrayList<>();

        /** {@code n} writers asleep on a budget at {@link WriteBudget#HIGH}, {@code tickets} of them allowed to leave. */
        static Waiters asleep(int n, int tickets) throws InterruptedException {
            Waiters ws = new Waiters();
            ws.budget.add(WriteBudget.HIGH);
            ws.start(n);
            ws.tickets.set(tickets);
            return ws;
        }

        void start(int n) throws InterruptedException {
            for (int i = 0; i < n; i++) {
                WriteBudget.Waiter w = budget.newWaiter();
                Thread t = new Thread(() -> {
                    try {
                        budget.await(w, () -> {
                            looks.incrementAndGet();
                            if (tickets.get() > 0) {
                                tickets.decrementAndGet(); // under the budget's lock: one ticket, one leaver
                                return false;
                            }
                            return true;
                        }, FOREVER);
                        left.incrementAndGet();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, "waiter-" + i);
                t.setDaemon(true); // a failed test leaves no thread behind
                t.start();
                threads.add(t);
                while (budget.queued() < i + 1) {
                    Thread.onSpinWait();
                }
            }
        }

        void awaitLeft(int n) {
            while (left.get() < n) {
                Thread.onSpinWait();
            }
        }

        void join() throws InterruptedException {
            for (Thread t : threads) {
                t.join();
            }
        }
    }

    @Test
    void crossingTheLowMarkWakesOneWriterNotAll() throws Exception {
        int n = 4;
        Waiters ws = Waiters.asleep(n, 0);
        for (int i = 1; i <= n; i++) {
            ws.tickets.set(1);
            // The loop takes bytes down across LOW (not to 0): one writer is woken, and it refills.
            ws.budget.release(WriteBudget.HIGH - WriteBudget.LOW);
            ws.awaitLeft(i);
            ws.budget.add(WriteBudget.HIGH - WriteBudget.LOW);
        }
        ws.join();
        // One look each on the way in and one per wake-up: waking all at every crossing looked 14 times.
        assertThat(ws.looks.get()).isEqualTo(2 * n);
        assertThat(ws.budget.sleeps()).isEqualTo(n);
    }

    @Test
    void releasesAboveTheLowMarkWakeNobody() throws Exception {
        Waiters ws = Waiters.asleep(2, 2);
        // Tasks taken while more than LOW stays queued: the writers keep sleeping.
        for (int i = 0; i < 4; i++) {
            ws.budget.release((WriteBudget.HIGH - WriteBudget.LOW) / 4 - 1);
        }
        assertThat(ws.budget.submitted.get()).isGreaterThan(WriteBudget.LOW);
        assertThat(ws.budget.queued()).isEqualTo(2);
        assertThat(ws.looks.get()).isEqualTo(2);
        ws.budget.release(ws.budget.submitted.get());
        ws.join();
    }

    @Test
    void aWriterWokenWithNothingQueuedWakesTheNextSoNoneIsLeftAsleep() throws Exception {
        Waiters ws = Waiters.asleep(3, 3);
        // The loop took everything: it wakes the first writer only. Each writer that leaves while
        // nothing is queued (it may write nothing more, and no task is left to wake anyone) wakes
        // the next; without that, the other two slept for good (this test's waiters never re-check).
        ws.budget.release(WriteBudget.HIGH);
        ws.join();
        assertThat(ws.left.get()).isEqualTo(3);
        assertThat(ws.looks.get()).isEqualTo(6);
    }

    @Test
    void aSocketsOwnWakeUpWakesOnlyItsWriter() throws Exception {
        WriteBudget budget = new WriteBudget();
        budget.add(WriteBudget.HIGH);
        AtomicInteger looksA = new AtomicInteger();
        AtomicInteger looksB = new AtomicInteger();
        WriteBudget.Waiter a = budget.newWaiter();
        WriteBudget.Waiter b = budget.newWaiter();
        java.util.concurrent.atomic.AtomicBoolean goA = new java.util.concurrent.atomic.AtomicBoolean();
        Thread ta = new Thread(() -> {
            try {
                budget.await(a, () -> looksA.incrementAndGet() > 0 && !goA.get(), FOREVER);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Thread tb = new Thread(() -> {
            try {
                budget.await(b, () -> looksB.incrementAndGet() > 0 && budget.submitted.get() > WriteBudget.LOW, FOREVER);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        ta.setDaemon(true);
        tb.setDaemon(true);
        ta.start();
        while (budget.queued() < 1) {
            Thread.onSpinWait();
        }
        tb.start();
        while (budget.queued() < 2) {
            Thread.onSpinWait();
        }
        // A's stream turned writable (or A was closed): A looks again, B does not.
        goA.set(true);
        budget.wake(a);
        ta.join();
        assertThat(looksA.get()).isEqualTo(2);
        assertThat(budget.queued()).isEqualTo(1);
        budget.release(WriteBudget.HIGH);
        tb.join();
        assertThat(looksB.get()).isEqualTo(2);
    }
}
