package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;
import org.slf4j.event.EventRecordingLogger;
import org.slf4j.event.SubstituteLoggingEvent;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.SubstituteLogger;

/**
 * FanOut's isolation: a listener that throws (here before the drain's count, as a user's callback could be) is logged
 * naming the event and the listener, and the listeners after it still hear every event, so the drain never waits for
 * a tunnel that closed; its rate-limited summary counts in a noun that agrees. The drain's count is the real
 * {@link TunnelCount}; the log is slf4j's recording logger.
 */
class FanOutTest {

    private static final TunnelCounters IDLE = new TunnelCounters() {
        @Override
        public long bytesReceived() {
            return 0;
        }

        @Override
        public long bytesSent() {
            return 0;
        }
    };

    /** A listener that throws on every open and close, as a broken user callback does. */
    static final class Throwing implements HboneEvents {
        @Override
        public void tunnelOpened(TunnelInfo tunnel, TunnelCounters live) {
            throw new IllegalStateException("broken open");
        }

        @Override
        public void tunnelClosed(TunnelResult result) {
            throw new IllegalStateException("broken close");
        }
    }

    @Test
    void aThrowingListenerIsLoggedByNameAndTheOthersStillHearEveryEvent() {
        ConcurrentLinkedQueue<SubstituteLoggingEvent> events = new ConcurrentLinkedQueue<>();
        EventRecordingLogger log = new EventRecordingLogger(new SubstituteLogger("T", events, false), events);
        TunnelCount count = new TunnelCount();
        FanOut fan = new FanOut(FanOut.failures(log, 20, Duration.ofMinutes(10)), new Throwing(), count);
        TunnelInfo t = ZtunnelFailedOpenLogTest.inbound();
        fan.tunnelOpened(t, IDLE);
        assertThat(count.open()).isEqualTo(1);
        fan.tunnelClosed(new TunnelResult(t, 200, 0, 0, Duration.ofMillis(1), false, null));
        assertThat(count.open()).isZero();
        List<String> lines = lines(events);
        assertThat(lines).containsExactly(
                "WARN tunnelOpened of Throwing threw (ignored: the other listeners still run)",
                "WARN tunnelClosed of Throwing threw (ignored: the other listeners still run)");
        assertThat(events).allSatisfy(e -> assertThat(e.getThrowable()).isInstanceOf(IllegalStateException.class));
    }

    @Test
    void theSummaryOfSuppressedFailuresCountsInANounThatAgrees() {
        ConcurrentLinkedQueue<SubstituteLoggingEvent> events = new ConcurrentLinkedQueue<>();
        EventRecordingLogger log = new EventRecordingLogger(new SubstituteLogger("T", events, false), events);
        RateLimitedLog failures = FanOut.failures(log, 1, Duration.ofMinutes(10));
        FanOut fan = new FanOut(failures, new Throwing(), new TunnelCount());
        TunnelInfo t = ZtunnelFailedOpenLogTest.inbound();
        fan.tunnelOpened(t, IDLE);
        fan.tunnelClosed(new TunnelResult(t, 200, 0, 0, Duration.ofMillis(1), false, null));
        failures.flush();
        fan.tunnelOpened(t, IDLE);
        fan.tunnelClosed(new TunnelResult(t, 200, 0, 0, Duration.ofMillis(1), false, null));
        fan.tunnelOpened(t, IDLE);
        failures.flush();
        assertThat(lines(events)).containsExactly(
                "WARN tunnelOpened of Throwing threw (ignored: the other listeners still run)",
                "WARN 1 more tunnel event listener failure not logged in the last 10m (at most 1 line per 10m)",
                "WARN tunnelOpened of Throwing threw (ignored: the other listeners still run)",
                "WARN 2 more tunnel event listener failures not logged in the last 10m (at most 1 line per 10m)");
    }

    private static List<String> lines(ConcurrentLinkedQueue<SubstituteLoggingEvent> events) {
        return events.stream()
                .map(e -> e.getLevel() + " " + MessageFormatter.arrayFormat(e.getMessage(), e.getArgumentArray()).getMessage()).toList();
    }
}
