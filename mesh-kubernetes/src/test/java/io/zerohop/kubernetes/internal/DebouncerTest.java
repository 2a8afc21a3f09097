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
}
