package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;
import org.slf4j.event.EventRecordingLogger;
import org.slf4j.event.SubstituteLoggingEvent;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.SubstituteLogger;

/** The summary of suppressed lines: its window as the options write durations, counts that agree with their noun. */
class RateLimitedLogTest {

    @Test
    void theSummarySaysOneEventInTheSingularAndItsWindowAsAnOptionIsWritten() {
        ConcurrentLinkedQueue<SubstituteLoggingEvent> events = new ConcurrentLinkedQueue<>();
        EventRecordingLogger log = new EventRecordingLogger(new SubstituteLogger("T", events, false), events);
        // A window no test run reaches: only flush() ends it.
        RateLimitedLog limited = new RateLimitedLog(log, "failed connection", "failed connections", 1, Duration.ofMinutes(10));
        limited.warn("first");
        limited.warn("second");
        limited.flush();
        limited.warn("third");
        limited.warn("fourth");
        limited.warn("fifth");
        limited.flush();
        List<String> lines = events.stream()
                .map(e -> MessageFormatter.arrayFormat(e.getMessage(), e.getArgumentArray()).getMessage()).toList();
        assertThat(lines).containsExactly("first",
                "1 more failed connection not logged in the last 10m (at most 1 line per 10m)",
                "third",
                "2 more failed connections not logged in the last 10m (at most 1 line per 10m)");
    }
}
