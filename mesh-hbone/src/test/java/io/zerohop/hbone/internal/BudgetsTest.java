package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.zerohop.identity.SpiffeIds;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link Budgets} and {@link TunnelBudget} without sockets: each tunnel's stream is an
 * {@link EmbeddedChannel} (its own event loop, run by hand), its upstream writes are charged with
 * {@link TunnelBudget#writing} and leave (or fail) when the test completes their promises.
 * ZeroWindowTest drives the same code with real zero-window peers; this pins the wake-up order.
 */
class BudgetsTest {
    static final long K = 1024;
    /** Per peer 256 KiB, server 448 KiB (woken below half: 224 KiB). */
    private final Budgets budgets = new Budgets(new ServerLimits(256 * K, 448 * K, Duration.ofSeconds(60), 8, 8, 8, 100, Duration.ofSeconds(30), 16L << 20, 32L << 20, Duration.ofSeconds(10)));
    private final List<Tunnel> tunnels = new ArrayList<>();

    /** One proxy-mode tunnel of {@code peer}: its stream channel, budget, and unfinished writes. */
    final class Tunnel {
        final EmbeddedChannel stream = new EmbeddedChannel();
        final TunnelBudget budget;
        final List<ChannelPromise> writes = new ArrayList<>();

        Tunnel(Budgets.Peer peer) {
            budget = new TunnelBudget(budgets, peer);
            budget.attached(stream, () -> {});
            tunnels.add(this);
        }

        /** The relay wrote {@code n} upstream bytes toward the stream; they wait behind its closed window. */
        void wrote(long n) {
            ChannelPromise p = stream.newPromise();
            budget.writing((int) n, p);
            writes.add(p);
        }

        /** The tunnel is reset: its queued writes fail, its stream closes. */
        void reset() {
            writes.forEach(p -> p.tryFailure(new IOException("stream reset")));
            stream.close();
        }
    }

    /** Runs every loop's tasks, scheduled ones after {@code advance}, until nothing is left. */
    private void runLoops(Duration advance) {
        for (Tunnel t : tunnels) {
            t.stream.advanceTimeBy(advance.toNanos(), TimeUnit.NANOSECONDS);
        }
        for (int round = 0; round < 10; round++) {
            for (Tunnel t : tunnels) {
                t.stream.runPendingTasks();
                t.stream.runScheduledPendingTasks();
            }
        }
    }

    @AfterEach
    void tearDown() {
        for (Tunnel t : tunnels) {
            t.writes.forEach(p -> p.trySuccess());
            t.stream.finishAndReleaseAll();
        }
    }

    @Test
    @DisplayName("a waiter woken for the server budget but held by its peer's passes the wake on: a tunnel behind it resumes")
    void aWakeTheFirstWaiterCannotUseGoesToTheNext() {
        Budgets.Peer a = budgets.attach(SpiffeIds.istio("cluster.local", "prod", "a"));
        Budgets.Peer b = budgets.attach(SpiffeIds.istio("cluster.local", "prod", "b"));
        Budgets.Peer v = budgets.attach(SpiffeIds.istio("cluster.local", "prod", "victim"));
        Tunnel a1 = new Tunnel(a);
        Tunnel b1 = new Tunnel(b);
        Tunnel b2 = new Tunnel(b);
        a1.wrote(300 * K); // peer a over its budget: a1 waits for a's
        b1.wrote(100 * K);
        b2.wrote(100 * K); // the server over its budget (500 KiB): b1 and b2 wait for the server's
        assertThat(budgets.overGlobal()).isTrue();
        Tunnel victim = new Tunnel(v); // opened now: waits for the server's budget behind b's tunnels
        assertThat(victim.budget.allowsReads()).isFalse();
        b1.wrote(60 * K); // the read b1 had in flight: peer b now over its budget too

        a1.reset(); // 300 KiB released: the server holds 260 KiB, under its budget, above half of it
        runLoops(Duration.ZERO);
        assertThat(budgets.overGlobal()).isFalse();
        assertThat(budgets.queuedBytes()).isGreaterThan(448 * K / 2);
        // Nothing is discharged any more (b's windows stay closed): the one-second re-check wakes the
        // first waiter, a tunnel of b, which its peer's budget still holds. The victim must not wait
        // for b's tunnels' stalled-window timeout.
        runLoops(Duration.ofSeconds(1));

        assertThat(b1.budget.allowsReads()).as("b is over its own budget").isFalse();
        assertThat(b2.budget.allowsReads()).as("b is over its own budget").isFalse();
        assertThat(victim.budget.allowsReads()).as("the victim reads again: the server budget has room").isTrue();
    }

    /** Repeated: the waiters' order follows the tunnels' hash order, which differs from one run to the next. */
    @org.junit.jupiter.api.RepeatedTest(20)
    @DisplayName("a woken tunnel that resumes wakes the next waiter while the server budget has room, not only below half")
    void aResumedTunnelWakesTheNextWhileThereIsRoom() {
        Budgets.Peer c = budgets.attach(SpiffeIds.istio("cluster.local", "prod", "c"));
        Budgets.Peer d = budgets.attach(SpiffeIds.istio("cluster.local", "prod", "d"));
        Budgets.Peer e = budgets.attach(SpiffeIds.istio("cluster.local", "prod", "e"));
        Budgets.Peer v = budgets.attach(SpiffeIds.istio("cluster.local", "prod", "victim"));
        Tunnel c1 = new Tunnel(c);
        Tunnel d1 = new Tunnel(d);
        Tunnel e1 = new Tunnel(e);
        c1.wrote(200 * K);
        d1.wrote(200 * K);
        e1.wrote(100 * K); // the server over its budget (500 KiB), no peer over its own: all wait for the server's
        assertThat(budgets.overGlobal()).isTrue();
        Tunnel victim = new Tunnel(v);
        assertThat(victim.budget.allowsReads()).isFalse();

        // e's window opens: 100 KiB written out, 400 KiB left, under the budget, above half of it: no
        // discharge wakes anyone. (Not a reset: each EmbeddedChannel is its own event loop here, and a
        // closed one would drop the one-second re-check if it had been scheduled there.)
        e1.writes.forEach(p -> p.trySuccess());
        runLoops(Duration.ZERO);
        assertThat(budgets.overGlobal()).isFalse();
        assertThat(victim.budget.allowsReads()).isFalse();
        // The one-second re-check wakes the first waiter; its stream stays stalled (nothing more is
        // discharged), so only the wake chain can reach the victim before a stalled-window timeout.
        runLoops(Duration.ofSeconds(1));

        assertThat(victim.budget.allowsReads()).as("the victim reads again: the server budget has room").isTrue();
    }
}
