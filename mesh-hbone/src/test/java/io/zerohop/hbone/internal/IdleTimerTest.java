package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@code HboneClient.Builder.idleTimeout(Duration.ZERO)} now means "never close an idle connection", as the server's
 * has: the timer it feeds arms no check at all for zero (not in ten years of the loop's clock), while a positive
 * timeout arms one. On an {@link EmbeddedChannel}'s loop, whose clock the test advances: no waiting.
 */
class IdleTimerTest {

    @Test
    void zeroArmsNoCheckAndPositiveClosesOnceIdle() {
        EmbeddedChannel ch = new EmbeddedChannel();
        AtomicInteger closedNever = new AtomicInteger();
        IdleTimer never = new IdleTimer(Duration.ZERO, new Object(), () -> true, () -> { }, closedNever::incrementAndGet);
        never.idleFrom(ch.eventLoop());
        assertThat(ch.runScheduledPendingTasks()).as("no check scheduled for zero").isEqualTo(-1);
        ch.advanceTimeBy(3650, java.util.concurrent.TimeUnit.DAYS);
        ch.runScheduledPendingTasks();
        assertThat(closedNever).hasValue(0);

        IdleTimer fiveMinutes = new IdleTimer(Duration.ofMinutes(5), new Object(), () -> true, () -> { }, () -> { });
        fiveMinutes.idleFrom(ch.eventLoop());
        assertThat(ch.runScheduledPendingTasks()).as("a check is scheduled for a positive timeout").isPositive();
        ch.finishAndReleaseAll();
    }
}
