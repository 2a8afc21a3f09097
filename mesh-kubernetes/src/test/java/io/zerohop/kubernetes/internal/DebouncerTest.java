package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class DebouncerTest {

    @Test
    void aBurstRunsTheActionOnce() throws Exception {
        ScheduledExecutorService ex = Executors.newSingleThreadScheduledExecutor();
        try {
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch ran = new CountDownLatch(1);
            Debouncer d = new Debouncer(ex, Duration.ofSeconds(1), Duration.ofSeconds(10), () -> {
                runs.incrementAndGet();
                ran.countDown();
            });
            for (int i = 0; i < 1000; i++) {
                d.trigger();
            }
            assertThat(ran.await(10, TimeUnit.SECONDS)).isTrue();
            // A later event starts a new burst; wait for its run, then count.
            CountDownLatch second = new CountDownLatch(1);
            Debouncer d2 = new Debouncer(ex, Duration.ZERO, Duration.ZERO, second::countDown);
            d2.trigger();
            assertThat(second.await(10, TimeUnit.SECONDS)).isTrue();
            ex.submit(() -> { }).get(10, TimeUnit.SECONDS);
            assertThat(runs.get()).isEqualTo(1);
        } finally {
            ex.shutdownNow();
        }
    }

    @Test
    void aFailingActionDoesNotStopLaterRuns() throws Exception {
        ScheduledExecutorService ex = Executors.newSingleThreadScheduledExecutor();
        try {
            AtomicInteger calls = new AtomicInteger();
            CountDownLatch twice = new CountDownLatch(2);
            Debouncer d = new Debouncer(ex, Duration.ZERO, Duration.ZERO, () -> {
                calls.incrementAndGet();
                twice.countDown();
                throw new IllegalStateException("boom");
            });
            d.trigger();
            ex.submit(() -> { }).get(10, TimeUnit.SECONDS);
            d.trigger();
            assertThat(twice.await(10, TimeUnit.SECONDS)).isTrue();
        } finally {
            ex.shutdownNow();
        }
    }

    /**
     * Events every 10 ms keep the quiet period from ever passing: the action waits for the cap (here 60 s), until an
     * urgent event (a pod of the node proxy's node) caps the wait at {@code urgentMax}: it then runs while the other
     * events keep coming (a break-it pass: a new local pod waited 9.2 s, uncaptured, in a busy cluster).
     */
    @Test
    void anUrgentEventIsAppliedWhileABurstGoesOn() throws Exception {
        ScheduledExecutorService ex = Executors.newSingleThreadScheduledExecutor();
        try {
            AtomicInteger runs = new AtomicInteger();
            // A quiet period of 1 s: only a pause of that length between two triggers (10 ms apart) could run it early.
            Debouncer d = new Debouncer(ex, Duration.ofSeconds(1), Duration.ofSeconds(60), Duration.ofMillis(300), runs::incrementAndGet);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while (System.nanoTime() < end) {
                d.trigger();
                Thread.sleep(10);
            }
            assertThat(runs).as("a burst that never pauses waits for the cap").hasValue(0);
            d.triggerUrgent();
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (runs.get() == 0 && System.nanoTime() < giveUp) {
                d.trigger();
                Thread.sleep(10);
            }
            assertThat(runs).as("applied while the burst went on").hasValue(1);
            // The urgent deadline went with that run: the burst that goes on waits for the quiet period or the cap again.
            end = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while (System.nanoTime() < end) {
                d.trigger();
                Thread.sleep(10);
            }
            assertThat(runs).hasValue(1);
        } finally {
            ex.shutdownNow();
        }
    }
}
