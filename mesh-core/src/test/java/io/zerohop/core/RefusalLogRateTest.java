package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.CapturedStderr;
import io.zerohop.core.internal.RateLimitedLog;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Issue 11 item 8: refusals a peer can cause at will are rate-limited; the test counts lines. */
class RefusalLogRateTest {
    @Test
    void aFloodOfRefusalsWritesTheBurstThenOneSummary() {
        RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger("io.zerohop.core.Mesh"), "refusals", 20, Duration.ofHours(1));
        try (CapturedStderr err = new CapturedStderr()) {
            for (int i = 0; i < 60_000; i++) {
                log.warn("denied peer-{} -> 10.0.0.1:8080", i);
            }
            assertThat(err.count("denied peer-")).isEqualTo(20);
            log.flush();
            assertThat(err.count("59980 more refusals not logged")).isEqualTo(1);
            log.flush();
            assertThat(err.count("more refusals not logged")).as("nothing new to summarize").isEqualTo(1);
            log.warn("denied again");
            assertThat(err.count("denied again")).as("a new window has a new budget").isEqualTo(1);
        }
    }
}
