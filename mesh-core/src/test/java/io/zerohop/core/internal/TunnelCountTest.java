package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.event.EventRecordingLogger;
import org.slf4j.event.SubstituteLoggingEvent;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.SubstituteLogger;

/**
 * The drain deadline's log lines with a tunnel still open (mesh-core README, Shutdown): the WARN
 * that announces the resets comes first, then the access line of each tunnel it cut, and that
 * line, in zerohop's own format, gives the cut's cause as ztunnel's does ({@code ClosedFromDrain},
 * "connection closed due to connection drain", istio/ztunnel src/proxy.rs), not a bare
 * {@code reset}. The order is that of events (the tunnel reports its close from its abort), no
 * timing. The tunnel is a stand-in whose abort reports the reset close as a real tunnel's does
 * (TunnelAfterDeadlineTest and TunnelEndFailureTest cut real ones); the log is slf4j's own
 * recording logger, both lines in one queue, so their order is the order they were logged.
 */
@Timeout(30)
class TunnelCountTest {

    @Test
    void theDeadlineWarningComesBeforeTheResetsItAnnouncesAndTheirLinesNameTheDrain() throws Exception {
        ConcurrentLinkedQueue<SubstituteLoggingEvent> events = new ConcurrentLinkedQueue<>();
        EventRecordingLogger log = new EventRecordingLogger(new SubstituteLogger("T", events, false), events);
        TunnelCount count = new TunnelCount();
        TunnelObserver observer = new TunnelObserver(WorkloadRegistry.of(List.of(), java.util.Map.of()), null, null,
                TrafficLabels.DEFAULT_CLUSTER, log, null);
        observer.drainDeadline(count::deadlinePassed);
        FanOut fan = new FanOut(observer, count);
        TunnelInfo t = ZtunnelFailedOpenLogTest.inbound();
        TunnelCounters open = new TunnelCounters() {
            @Override
            public long bytesReceived() {
                return 5;
            }

            @Override
            public long bytesSent() {
                return 7;
            }

            @Override
            public void abort() {
                // What mesh-hbone reports for an aborted tunnel: a reset end, its error "reset".
                fan.tunnelClosed(new TunnelResult(t, 200, 5, 7, Duration.ofMillis(3), true, "reset"));
            }
        };
        fan.tunnelOpened(t, open);
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        try {
            TunnelCount.Left left = count.awaitIdle(Duration.ZERO, Duration.ofSeconds(10), timer,
                    MeshRuntime.deadlineWarning(log, Duration.ofMillis(10_000))).get(20, TimeUnit.SECONDS);
            assertThat(left.tunnels()).isEqualTo(1);
        } finally {
            timer.shutdownNow();
        }
        List<String> lines = events.stream()
                .map(e -> e.getLevel() + " " + MessageFormatter.arrayFormat(e.getMessage(), e.getArgumentArray()).getMessage()).toList();
        assertThat(lines).hasSize(2);
        // The deadline as --drain is written (not "10000 ms"), and a count agrees with its noun (not "1 tunnels").
        assertThat(lines.get(0)).isEqualTo("WARN drain deadline of 10s reached: resetting 1 tunnel still open, 0 captured or plaintext connections");
        assertThat(lines.get(1)).startsWith("INFO inbound ")
                .endsWith(" end=reset error=\"connection closed due to connection drain\"");
    }

    /** The drain's first line, as the CLI's own says the duration ({@code draining for up to 10s}). */
    @Test
    void theDrainStartsWithItsDurationAsTheOptionIsWrittenAndCountsThatAgree() {
        ConcurrentLinkedQueue<SubstituteLoggingEvent> events = new ConcurrentLinkedQueue<>();
        EventRecordingLogger log = new EventRecordingLogger(new SubstituteLogger("T", events, false), events);
        MeshRuntime.drainStart(log, Duration.ofSeconds(10), 1, 1);
        MeshRuntime.drainStart(log, Duration.ofMillis(1500), 2, 0);
        List<String> lines = events.stream()
                .map(e -> e.getLevel() + " " + MessageFormatter.arrayFormat(e.getMessage(), e.getArgumentArray()).getMessage()).toList();
        assertThat(lines).containsExactly(
                "INFO draining for up to 10s: closing listeners, then GOAWAY on every HBONE connection; 1 tunnel open,"
                        + " 1 captured or plaintext connection",
                "INFO draining for up to 1500ms: closing listeners, then GOAWAY on every HBONE connection; 2 tunnels open,"
                        + " 0 captured or plaintext connections");
    }

    /**
     * The drain race, driven step by step: close() began while a tunnel's open event was still under way on an event
     * loop (it runs after the connect's future completed). The drain decides "nothing left" only after the events
     * under way ({@code inFlight}, here a future the test completes), so the tunnel counted meanwhile is waited for
     * (drained), not left to the event loops' shutdown. Then, the drain having found nothing left, a tunnel that opens
     * is reset at once with a WARN naming it, never silently. The deadline is one no test run reaches.
     */
    @Test
    void aTunnelCountedBeforeTheDrainDecidesIsDrainedAndOneOpenedAfterIsResetWithAWarning() throws Exception {
        TunnelCount count = new TunnelCount();
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            java.util.concurrent.CompletableFuture<Void> underWay = new java.util.concurrent.CompletableFuture<>();
            java.util.concurrent.CompletableFuture<TunnelCount.Left> drained = count.awaitIdle(Duration.ofHours(1), Duration.ofSeconds(10),
                    timer, underWay, left -> { });
            assertThat(drained).isNotDone();
            TunnelInfo t = ZtunnelFailedOpenLogTest.inbound();
            java.util.concurrent.CompletableFuture<Void> aborted = new java.util.concurrent.CompletableFuture<>();
            TunnelCounters live = new TunnelCounters() {
                @Override
                public long bytesReceived() {
                    return 0;
                }

                @Override
                public long bytesSent() {
                    return 0;
                }

                @Override
                public void abort() {
                    aborted.complete(null);
                }
            };
            count.tunnelOpened(t, live);
            underWay.complete(null);
            // Counted before the decision: the drain waits for it, and nothing cut it.
            assertThat(drained).isNotDone();
            assertThat(count.deadlinePassed()).isFalse();
            count.tunnelClosed(new TunnelResult(t, 200, 0, 0, Duration.ofMillis(1), false, null));
            assertThat(drained.get(10, TimeUnit.SECONDS).none()).isTrue();
            assertThat(aborted).isNotDone();

            // After the decision: reset as it opens, and said.
            TunnelInfo late = ZtunnelFailedOpenLogTest.inbound();
            count.tunnelOpened(late, live);
            aborted.get(10, TimeUnit.SECONDS);
            assertThat(err.awaitLine("tunnel opened after the drain had found nothing open"))
                    .contains("WARN").contains("resetting it: " + late);
        } finally {
            timer.shutdownNow();
        }
    }
}
