package io.zerohop.identity.spire;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.workloadapi.retry.RetryHandler;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The delays java-spiffe's own {@link RetryHandler} schedules with the policy the provider gives it:
 * go-spiffe's, case for case from spiffe/go-spiffe v2 workloadapi/backoff_test.go {@code TestLinearBackoff}
 * ("test max": 1 s ... 29 s, then 30 s three times; "test reset": the same again after {@code Reset}).
 * Nothing is scheduled for real: the executor records the delay of each {@code schedule} call.
 */
class GoSpiffeBackoffTest {
    /** An executor that records what java-spiffe's RetryHandler schedules and runs nothing. */
    private static ScheduledExecutorService recording(List<Duration> scheduled) {
        return (ScheduledExecutorService) Proxy.newProxyInstance(GoSpiffeBackoffTest.class.getClassLoader(),
                new Class<?>[] {ScheduledExecutorService.class}, (proxy, method, args) -> {
                    switch (method.getName()) {
                        case "isShutdown":
                            return false;
                        case "schedule":
                            scheduled.add(Duration.of((Long) args[1], ((TimeUnit) args[2]).toChronoUnit()));
                            return null;
                        default:
                            throw new UnsupportedOperationException(method.getName());
                    }
                });
    }

    /** go-spiffe's testUntilMax: 1 s up to 29 s, then 30 s, 30 s, 30 s. */
    private static List<Duration> untilMax() {
        List<Duration> d = new ArrayList<>();
        for (int i = 1; i < 30; i++) {
            d.add(Duration.ofSeconds(i));
        }
        d.add(Duration.ofSeconds(30));
        d.add(Duration.ofSeconds(30));
        d.add(Duration.ofSeconds(30));
        return d;
    }

    @Test
    void javaSpiffesRetryHandlerSchedulesGoSpiffesLinearDelays() {
        List<Duration> scheduled = new ArrayList<>();
        RetryHandler h = new RetryHandler(new GoSpiffeBackoff(), recording(scheduled));
        for (int i = 0; i < 32; i++) {
            assertThat(h.shouldRetry()).as("unlimited attempts").isTrue();
            h.scheduleRetry(() -> {});
        }
        assertThat(scheduled).isEqualTo(untilMax());

        // "test reset": java-spiffe resets its handler on each update, as go-spiffe's watchX509Context resets the back-off.
        scheduled.clear();
        h.reset();
        for (int i = 0; i < 32; i++) {
            h.scheduleRetry(() -> {});
        }
        assertThat(scheduled).isEqualTo(untilMax());
    }

    @Test
    void theLoggedDelaysAreTheScheduledOnes() {
        List<Duration> logged = new ArrayList<>();
        for (int n = 1; n <= 32; n++) {
            logged.add(GoSpiffeBackoff.delay(n));
        }
        assertThat(logged).isEqualTo(untilMax());
    }
}
