package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2LocalFlowController;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Which streams {@link H2HeldBudget} resets when the node is over its budget: those whose application took nothing for
 * {@link H2HeldBudget#STALLED_NANOS} first, then the heaviest, until the node holds under half its budget (as the HBONE
 * server's soft stage resets stalled tunnels before its hard stage takes the largest). A connection on an
 * {@link EmbeddedChannel} with streams that say what they hold and when their application last read: the budget's own
 * decision, without the timing a real slow reader would need.
 */
class H2HeldBudgetTest {
    /** A stream as the budget sees it; {@code shed} records the reset. */
    private static final class Held implements H2HeldBudget.Stream {
        final String name;
        final long bytes;
        final long progressAt;
        boolean shed;

        Held(String name, long bytes, long progressAt) {
            this.name = name;
            this.bytes = bytes;
            this.progressAt = progressAt;
        }

        @Override
        public long heldBytes() {
            return shed ? 0 : bytes;
        }

        @Override
        public long progressAt() {
            return progressAt;
        }

        @Override
        public void shed() {
            shed = true;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /**
     * A stream its application reads (60 bytes held) beside two stalled ones (50 each), 160 held over a budget of 150: the
     * two stalled ones free enough (the node must come under 75), so the one still read stays. Heaviest first alone, as
     * before the stall order, reset the read one (60) and one stalled one, and kept the other stalled one.
     */
    @Test
    void stalledStreamsGoBeforeAHeavierOneItsApplicationStillReads() {
        long before = H2HeldBudget.limit();
        DefaultHttp2Connection http2 = new DefaultHttp2Connection(true);
        http2.local().flowController(new DefaultHttp2LocalFlowController(http2));
        H2HeldBudget.Connection budget = new H2HeldBudget.Connection(http2);
        EmbeddedChannel ch = new EmbeddedChannel(budget);
        try {
            long now = System.nanoTime();
            long stalledAt = now - H2HeldBudget.STALLED_NANOS - 1_000_000_000L;
            Held read = new Held("read", 60, now);
            Held stalled1 = new Held("stalled1", 50, stalledAt);
            Held stalled2 = new Held("stalled2", 50, stalledAt);
            List<Held> all = List.of(read, stalled1, stalled2);
            all.forEach(budget::add);
            // What the rest of the node holds (other tests' connections still open) counts against the budget too.
            H2HeldBudget.limit(H2HeldBudget.held() + 150);
            budget.queued(160);
            ch.pipeline().fireChannelReadComplete();
            ch.runPendingTasks();
            List<Held> reset = new ArrayList<>();
            all.stream().filter(h -> h.shed).forEach(reset::add);
            assertThat(reset).containsExactlyInAnyOrder(stalled1, stalled2);
        } finally {
            H2HeldBudget.limit(before);
            ch.finishAndReleaseAll();
        }
    }
}
