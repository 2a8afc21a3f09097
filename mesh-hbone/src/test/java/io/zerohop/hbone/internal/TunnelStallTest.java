package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.zerohop.identity.SpiffeIds;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The stalled-window timeout of a proxy-mode tunnel ({@link TunnelBudget}) as a deadline of its
 * connection ({@link TunnelSet#stalls}): reset when queued bytes made no write progress for the
 * timeout, never when they drained; each progress restarts the timeout; a drained tunnel leaves the
 * deadlines (issue 14: it held a timer for 60 s). The stream is an {@link EmbeddedChannel} (its own
 * connection) on a frozen clock. Own mechanics, no upstream to cite.
 */
class TunnelStallTest {
    static final Duration TIMEOUT = Duration.ofSeconds(60);
    private final Budgets budgets = new Budgets(new ServerLimits(1 << 20, 1 << 20, TIMEOUT, 8, 8, 8, 100, Duration.ofSeconds(30), 16L << 20, 32L << 20, Duration.ofSeconds(10)));
    private final EmbeddedChannel stream = new EmbeddedChannel();
    private final TunnelBudget budget = new TunnelBudget(budgets, budgets.attach(SpiffeIds.istio("cluster.local", "ns", "peer")));

    TunnelStallTest() {
        stream.freezeTime();
        budget.attached(stream, () -> {});
    }

    @AfterEach
    void tearDown() {
        stream.finishAndReleaseAll();
    }

    private ChannelPromise write(int n) {
        ChannelPromise p = stream.newPromise();
        budget.writing(n, p);
        return p;
    }

    private void advance(long seconds) {
        stream.advanceTimeBy(seconds, TimeUnit.SECONDS);
        stream.runPendingTasks();
        stream.runScheduledPendingTasks();
    }

    private boolean reset() {
        Object out = stream.readOutbound();
        return out instanceof Http2ResetFrame r && r.errorCode() == Http2Error.CONNECT_ERROR.code();
    }

    @Test
    @DisplayName("queued bytes without progress: reset after the stalled-window timeout, not before")
    void aStalledTunnelIsResetAtTheTimeout() {
        write(100);
        advance(TIMEOUT.toSeconds() - 1);
        assertThat(reset()).as("reset before the timeout").isFalse();
        advance(2);
        assertThat(reset()).as("reset after the timeout").isTrue();
    }

    @Test
    @DisplayName("each write progress restarts the timeout")
    void progressRestartsTheTimeout() {
        ChannelPromise first = write(100);
        write(100);
        advance(TIMEOUT.toSeconds() - 1);
        first.setSuccess();
        advance(TIMEOUT.toSeconds() - 1);
        assertThat(reset()).as("reset though bytes moved %d s ago", TIMEOUT.toSeconds() - 1).isFalse();
        advance(2);
        assertThat(reset()).as("reset a timeout after the last progress").isTrue();
    }

    @Test
    @DisplayName("drained bytes: the tunnel leaves the connection's deadlines and is never reset; new bytes start a new timeout")
    void aDrainedTunnelHoldsNoDeadline() {
        write(100).setSuccess();
        assertThat(budget.pending()).as("a drained tunnel waits in the stalled-window deadlines").isFalse();
        advance(10 * TIMEOUT.toSeconds());
        assertThat(reset()).isFalse();
        write(100);
        assertThat(budget.pending()).isTrue();
        advance(TIMEOUT.toSeconds() + 1);
        assertThat(reset()).isTrue();
    }
}
