package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.CapturedStderr;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The conversion's warnings with more wrong objects than the memory holds ({@link OnceWarnings}): until 7 December the
 * set of messages said was cleared at 10,001, so with 20,000 pods labelled for a waypoint that does not exist nearly every
 * warning came again at every flush (tens of thousands of lines a minute). The log lines are counted as written (slf4j-simple
 * on stderr); the window's clock is the test's, so no assertion depends on timing.
 */
class PodWarningStormTest {
    static final String KIND = "istio.io/use-waypoint label";

    /** Warnings under PodConversion's logger on {@code clock}: 10,000 messages remembered, at most 100 lines a minute. */
    static OnceWarnings warnings(AtomicLong clock) {
        return new OnceWarnings(LoggerFactory.getLogger(PodConversion.class), clock::get, 10_000, 100, Duration.ofMinutes(1));
    }

    static String message(int pod, String waypoint) {
        return "Pod/storm/p-" + pod + ": label istio.io/use-waypoint names waypoint " + waypoint + ", which is not known";
    }

    /** The static entry point the conversions call, outside any flush: 60,000 calls, a bounded number of lines. */
    @Test
    void twentyThousandDistinctWarningsRepeatedDoNotFloodTheLog() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 20_000; i++) {
                    PodConversion.warnOnce("storm test", message(i, "gone-static"));
                }
            }
            assertThat(err.count("names waypoint gone-static")).isLessThan(1_000);
        }
    }

    @Test
    void aStormOfOneKindIsBoundedPerWindowAndSaysHowManyWereNotLogged() throws Exception {
        AtomicLong clock = new AtomicLong();
        OnceWarnings w = warnings(clock);
        try (CapturedStderr err = new CapturedStderr()) {
            for (int flush = 0; flush < 5; flush++) {
                w.during(() -> {
                    for (int i = 0; i < 20_000; i++) {
                        w.warn(KIND, message(i, "gone-wp"));
                    }
                    // Another kind in the same flush is not hidden by the storm.
                    w.warn("Kubernetes object", "EndpointSlice storm/s: endpoint 10.0.0.1 seen twice");
                    return null;
                });
                clock.addAndGet(Duration.ofMinutes(1).toNanos());
            }
            w.endFlush(); // the last window's summary
            String text = err.text();
            // 20,000 new messages each flush (the 10,000 kept are pushed out by the other 10,000): 100 lines, 19,900 counted.
            assertThat(err.count("names waypoint gone-wp")).as("lines").isEqualTo(5 * 100);
            assertThat(err.count("19900 more istio.io/use-waypoint label warnings not logged in the last 1m (at most 100 lines per 1m")).as(text)
                    .isEqualTo(5);
            assertThat(err.count("seen twice")).as("the other kind, said once while its cause lasts").isEqualTo(1);
        }
    }

    @Test
    void aWarningIsSaidOnceWhileItsCauseLastsAndAgainWhenItComesBack() throws Exception {
        AtomicLong clock = new AtomicLong();
        OnceWarnings w = warnings(clock);
        try (CapturedStderr err = new CapturedStderr()) {
            String m = message(1, "back-wp");
            for (int flush = 0; flush < 3; flush++) {
                w.during(() -> {
                    w.warn(KIND, m);
                    return null;
                });
            }
            assertThat(err.count("names waypoint back-wp")).as("while it lasts").isEqualTo(1);
            w.during(() -> null); // fixed: the flush does not say it
            w.during(() -> {
                w.warn(KIND, m); // broken again
                return null;
            });
            assertThat(err.count("names waypoint back-wp")).as("after it came back").isEqualTo(2);
        }
    }

    /** Fewer wrong objects than the memory holds, but over the budget: each is said or counted once, never repeated. */
    @Test
    void underTheMemoryHeldBackWarningsAreNotRepeated() throws Exception {
        AtomicLong clock = new AtomicLong();
        OnceWarnings w = warnings(clock);
        try (CapturedStderr err = new CapturedStderr()) {
            for (int flush = 0; flush < 3; flush++) {
                w.during(() -> {
                    for (int i = 0; i < 5_000; i++) {
                        w.warn(KIND, message(i, "few-wp"));
                    }
                    return null;
                });
                clock.addAndGet(Duration.ofMinutes(1).toNanos());
            }
            w.endFlush();
            assertThat(err.count("names waypoint few-wp")).isEqualTo(100);
            assertThat(err.count("4900 more istio.io/use-waypoint label warnings not logged")).as(err.text()).isEqualTo(1);
            assertThat(err.count("warnings not logged")).as(err.text()).isEqualTo(1);
        }
    }
}
