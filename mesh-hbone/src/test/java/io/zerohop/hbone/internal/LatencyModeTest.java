package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The opt-in latency mode ({@link LatencyMode}): a blocked tunnel-socket reader that spins is handed
 * its data without being parked and unparked, and an event loop that polls takes tasks without
 * sleeping, then sleeps again once its window is over. No assertion here is on time: the counts are
 * parks, sleeps (Netty's SELECT) and the loop thread's voluntary context switches and CPU.
 */
class LatencyModeTest {
    private static final long LONG = TimeUnit.SECONDS.toNanos(60);

    // ---- the spinning reader ----

    private record Reader(EmbeddedChannel ch, SocketState st, CompletableFuture<String> read) {}

    private static Reader blockedReader(long spinNanos) throws Exception {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        TunnelSocket s = TunnelSocket.attach(ch, null, spinNanos);
        ch.runPendingTasks();
        CompletableFuture<String> read = CompletableFuture.supplyAsync(() -> {
            byte[] b = new byte[16];
            try {
                int n = s.getInputStream().read(b);
                return n < 0 ? "end of stream" : new String(b, 0, n, StandardCharsets.US_ASCII);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, r -> {
            Thread t = new Thread(r, "spin-test-reader");
            t.setDaemon(true);
            t.start();
        });
        return new Reader(ch, s.state(), read);
    }

    private static void await(BooleanSupplier condition, String what) {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() - end).as("still waiting for: " + what).isNegative();
            Thread.onSpinWait();
        }
    }

    private static boolean parked(SocketState st) {
        st.lock.lock();
        try {
            return st.lock.hasWaiters(st.readable);
        } finally {
            st.lock.unlock();
        }
    }

    @Test
    @DisplayName("a reader that is still spinning gets the loop's data without a park or an unpark")
    void spinningReaderIsNotParked() throws Exception {
        Reader r = blockedReader(LONG);
        await(() -> r.st().spins() == 1, "the reader spins");
        assertThat(parked(r.st())).as("nobody waits on the condition: the loop's signal unparks nobody").isFalse();
        r.ch().writeInbound(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII));
        assertThat(r.read().get(30, TimeUnit.SECONDS)).isEqualTo("ping");
        assertThat(r.st().parks()).as("parks").isZero();
        r.ch().finishAndReleaseAll();
    }

    @Test
    @DisplayName("without a spin (the default) a blocked reader parks and the loop unparks it")
    void defaultReaderParks() throws Exception {
        Reader r = blockedReader(0);
        await(() -> parked(r.st()), "the reader parks");
        r.ch().writeInbound(Unpooled.copiedBuffer("ping", StandardCharsets.US_ASCII));
        assertThat(r.read().get(30, TimeUnit.SECONDS)).isEqualTo("ping");
        assertThat(r.st().spins()).as("spins").isZero();
        assertThat(r.st().parks()).as("parks").isEqualTo(1);
        r.ch().finishAndReleaseAll();
    }

    @Test
    @DisplayName("the spin is bounded: with nothing to read the reader parks after it")
    void spinEndsInAPark() throws Exception {
        Reader r = blockedReader(TimeUnit.MICROSECONDS.toNanos(100));
        await(() -> parked(r.st()), "the reader parks after its spin");
        assertThat(r.st().spins()).isEqualTo(1);
        r.ch().writeInbound(Unpooled.copiedBuffer("late", StandardCharsets.US_ASCII));
        assertThat(r.read().get(30, TimeUnit.SECONDS)).isEqualTo("late");
        assertThat(r.st().parks()).isEqualTo(1);
        r.ch().finishAndReleaseAll();
    }

    @Test
    @DisplayName("a spin that missed makes the reader park at once on its next wait, then spin again")
    void missedSpinBacksOff() throws Exception {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        TunnelSocket s = TunnelSocket.attach(ch, null, TimeUnit.MICROSECONDS.toNanos(100));
        ch.runPendingTasks();
        SocketState st = s.state();
        for (int round = 1; round <= 3; round++) {
            long parks = st.parks();
            CompletableFuture<Integer> read = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.getInputStream().read();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            await(() -> st.parks() == parks + 1 && parked(st), "the reader parks");
            // Round 1 spins and misses (nothing came within 100 us), so round 2 parks without a
            // spin; round 3 spins again.
            assertThat(st.spins()).as("spins after round " + round).isEqualTo(round == 1 ? 1 : round == 2 ? 1 : 2);
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {(byte) round}));
            assertThat(read.get(30, TimeUnit.SECONDS)).isEqualTo(round);
        }
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("the backoff: after m misses in a row the next 2^m - 1 waits do not spin; a hit resets it")
    void backoff() {
        LoopPoll.Backoff b = new LoopPoll.Backoff();
        StringBuilder pattern = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            boolean spin = b.tryNow();
            pattern.append(spin ? 'S' : '.');
            if (spin) {
                b.record(false);
            }
        }
        assertThat(pattern).hasToString("S.S...S.....");
        b = new LoopPoll.Backoff();
        b.record(false);
        assertThat(b.tryNow()).isFalse();
        assertThat(b.tryNow()).isTrue();
        b.record(true);
        assertThat(b.tryNow()).as("a hit resets").isTrue();
    }

    @Test
    @DisplayName("a spinning reader sees the end of stream, not only data")
    void spinningReaderSeesEndOfStream() throws Exception {
        Reader r = blockedReader(LONG);
        await(() -> r.st().spins() == 1, "the reader spins");
        r.ch().pipeline().fireUserEventTriggered(io.netty.channel.socket.ChannelInputShutdownEvent.INSTANCE);
        assertThat(r.read().get(30, TimeUnit.SECONDS)).isEqualTo("end of stream");
        assertThat(r.st().parks()).isZero();
        r.ch().finishAndReleaseAll();
    }

    // ---- the polling event loop ----

    private static long voluntarySwitches(EventLoop loop) throws Exception {
        return loop.submit(() -> {
            for (String line : Files.readAllLines(Path.of("/proc/thread-self/status"))) {
                if (line.startsWith("voluntary_ctxt_switches:")) {
                    return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                }
            }
            throw new IllegalStateException("no voluntary_ctxt_switches in /proc/thread-self/status");
        }).get(30, TimeUnit.SECONDS);
    }

    /** Hands the loop {@code n} empty tasks one after the other, each awaited: n wake-ups for a sleeping loop. */
    private static void pingPong(EventLoop loop, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            loop.submit(() -> { }).get(30, TimeUnit.SECONDS);
        }
    }

    private static void assumeEpoll() {
        Assumptions.assumeTrue(Transports.epoll() && Files.exists(Path.of("/proc/thread-self/status")), "epoll and /proc");
    }

    @Test
    @DisplayName("a loop in its polling window runs tasks from other threads without going to sleep")
    void pollingLoopTakesTasksWithoutSleeping() throws Exception {
        assumeEpoll();
        AtomicLong clock = new AtomicLong(); // frozen: the window never ends
        LoopPoll poll = new LoopPoll(TimeUnit.MICROSECONDS.toNanos(50), clock::get);
        EventLoopGroup group = Transports.newGroup(1, "spin-poll", poll);
        try {
            EventLoop loop = group.next();
            pingPong(loop, 10);
            long sleeps = poll.sleeps();
            long switches = voluntarySwitches(loop);
            pingPong(loop, 2000);
            assertThat(poll.sleeps()).as("SELECTs (the only state in which Netty writes the eventfd)").isEqualTo(sleeps);
            // A few for safepoints and the like; a loop that slept would switch about once per task.
            assertThat(voluntarySwitches(loop) - switches).as("voluntary context switches of the loop over 2000 tasks").isLessThan(200);
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    @DisplayName("control: the same tasks put a default loop to sleep and wake it about once each")
    void defaultLoopSleepsBetweenTasks() throws Exception {
        assumeEpoll();
        EventLoopGroup group = Transports.newGroup(1, "spin-default", null);
        try {
            EventLoop loop = group.next();
            pingPong(loop, 10);
            long switches = voluntarySwitches(loop);
            pingPong(loop, 2000);
            assertThat(voluntarySwitches(loop) - switches).as("voluntary context switches of the loop over 2000 tasks").isGreaterThan(200);
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    @DisplayName("after its window an idle polling loop sleeps: no more SELECTs, no CPU")
    void pollingLoopGoesQuietAfterTheWindow() throws Exception {
        assumeEpoll();
        AtomicLong clock = new AtomicLong();
        long window = TimeUnit.MICROSECONDS.toNanos(50);
        LoopPoll poll = new LoopPoll(window, clock::get);
        EventLoopGroup group = Transports.newGroup(1, "spin-quiet", poll);
        try {
            EventLoop loop = group.next();
            // The loop thread's /proc entry: its schedstat's first field is its CPU time in ns.
            Path task = Path.of("/proc").resolve(loop.submit(() -> Files.readSymbolicLink(Path.of("/proc/thread-self"))).get(30, TimeUnit.SECONDS));
            Assumptions.assumeTrue(Files.exists(task.resolve("schedstat")), "schedstat");
            pingPong(loop, 10);
            long sleeps = poll.sleeps();
            clock.addAndGet(window); // the window is over
            await(() -> poll.sleeps() > sleeps, "the loop selects (sleeps)");
            long cpu = cpuNanos(task);
            // An observation interval, not a synchronisation: a loop still polling would burn CPU in it.
            Thread.sleep(300);
            assertThat(poll.sleeps()).as("one SELECT, then asleep: nothing woke it").isEqualTo(sleeps + 1);
            assertThat(cpuNanos(task) - cpu).as("loop CPU (ns) while idle").isLessThan(TimeUnit.MILLISECONDS.toNanos(5));
            // A task wakes it and it runs the task.
            pingPong(loop, 1);
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
    }

    private static long cpuNanos(Path task) throws java.io.IOException {
        return Long.parseLong(Files.readString(task.resolve("schedstat")).trim().split(" ")[0]);
    }

    @Test
    @DisplayName("a loop whose polling window caught nothing sleeps at once after its next wake-up")
    void idleWindowMakesTheLoopBackOff() throws Exception {
        assumeEpoll();
        AtomicLong clock = new AtomicLong();
        long window = TimeUnit.MICROSECONDS.toNanos(50);
        LoopPoll poll = new LoopPoll(window, clock::get);
        EventLoopGroup group = Transports.newGroup(1, "spin-backoff", poll);
        try {
            EventLoop loop = group.next();
            pingPong(loop, 1);
            long sleeps = poll.sleeps();
            clock.addAndGet(window); // the window passes with nothing caught: a miss
            await(() -> poll.sleeps() == sleeps + 1, "the loop sleeps after its window");
            // The clock stands still: a polling loop would never sleep again, a backing-off one
            // sleeps right after the task that woke it.
            loop.execute(() -> { });
            await(() -> poll.sleeps() == sleeps + 2, "the loop sleeps at once (backing off)");
            // The next wake-up polls again (frozen clock: it never sleeps while it polls).
            pingPong(loop, 50);
            assertThat(poll.sleeps()).isEqualTo(sleeps + 2);
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
    }

    // ---- the switches ----

    @Test
    @DisplayName("both switches are off by default; a bad value names the property")
    void switches() {
        assertThat(LatencyMode.micros(LatencyMode.SPIN_PROPERTY, null)).isZero();
        assertThat(LatencyMode.micros(LatencyMode.POLL_PROPERTY, " 50 ")).isEqualTo(50);
        assertThat(LatencyMode.micros(LatencyMode.POLL_PROPERTY, "10000")).isEqualTo(10_000);
        for (String bad : new String[] {"-1", "50us", "10001", "1e3"}) {
            assertThatThrownBy(() -> LatencyMode.micros(LatencyMode.POLL_PROPERTY, bad))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("-Dzerohop.hbone.loopPollMicros=" + bad + ": expected whole microseconds from 0 (off) to 10000");
        }
        assertThatThrownBy(() -> new LoopPoll(0)).isInstanceOf(IllegalArgumentException.class);
    }
}
