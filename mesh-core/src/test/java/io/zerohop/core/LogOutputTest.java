package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link LogOutput} as ztunnel's non-blocking log writer (istio/ztunnel src/telemetry.rs
 * {@code setup_logging}: {@code lossy(false)}, {@code buffered_lines_limit(10000)};
 * src/telemetry/nonblocking.rs: a full channel makes the sender wait, it does not drop): a line
 * is queued while the stream behind it does not take bytes, every line arrives whole and in order
 * once it does, and beyond 10,000 waiting lines the writer waits instead of losing one. The stream
 * behind is a real PrintStream over an OutputStream that blocks until released (a stalled pipe
 * without a child process). Progress is asserted, never time; bounded waits only end a stuck run.
 */
@Timeout(60)
class LogOutputTest {
    /** A PrintStream whose writes block until {@link #release}, then collect. */
    static final class Stalled extends OutputStream {
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch entered = new CountDownLatch(1);
        final ByteArrayOutputStream got = new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (got) {
                got.write(b, off, len);
            }
        }

        String text() {
            synchronized (got) {
                return got.toString(StandardCharsets.UTF_8);
            }
        }
    }

    @Test
    void aLineIsQueuedWhileTheStreamIsStalledAndWrittenInOrderOnceItTakesBytes() throws Exception {
        Stalled pipe = new Stalled();
        PrintStream sink = new PrintStream(pipe, true, StandardCharsets.UTF_8);
        LogOutput.println(sink, "one");
        assertThat(pipe.entered.await(10, TimeUnit.SECONDS)).as("the writer thread is inside the stalled write").isTrue();
        // The caller (an event loop) is not held by the stalled stream: these return.
        for (int i = 2; i <= 100; i++) {
            LogOutput.println(sink, "line " + i);
        }
        assertThat(LogOutput.flush(Duration.ofMillis(50))).as("flush while the stream is stalled").isFalse();
        pipe.release.countDown();
        assertThat(LogOutput.flush(Duration.ofSeconds(10))).as("flush once the stream takes bytes").isTrue();
        StringBuilder expected = new StringBuilder("one\n");
        for (int i = 2; i <= 100; i++) {
            expected.append("line ").append(i).append('\n');
        }
        assertThat(pipe.text()).isEqualTo(expected.toString());
    }

    @Test
    void beyondTenThousandWaitingLinesTheWriterWaitsAndNoLineIsLost() throws Exception {
        Stalled pipe = new Stalled();
        PrintStream sink = new PrintStream(pipe, true, StandardCharsets.UTF_8);
        LogOutput.println(sink, "first");
        assertThat(pipe.entered.await(10, TimeUnit.SECONDS)).isTrue();
        long waitsBefore = LogOutput.waits();
        for (int i = 0; i < LogOutput.BUFFERED_LINES; i++) {
            LogOutput.println(sink, Integer.toString(i));
        }
        Thread producer = new Thread(() -> LogOutput.println(sink, "over the limit"), "over-the-limit");
        producer.start();
        // ztunnel's lossy(false): the producer waits for room (back-pressure) rather than dropping.
        while (producer.getState() != Thread.State.WAITING && producer.isAlive()) {
            Thread.onSpinWait();
        }
        assertThat(producer.isAlive()).as("the producer waits while 10,000 lines are queued").isTrue();
        assertThat(LogOutput.waits()).isEqualTo(waitsBefore + 1);
        pipe.release.countDown();
        producer.join(10_000);
        assertThat(producer.isAlive()).as("the producer goes on once the stream takes bytes").isFalse();
        assertThat(LogOutput.flush(Duration.ofSeconds(10))).isTrue();
        String[] lines = pipe.text().split("\n");
        assertThat(lines).hasSize(LogOutput.BUFFERED_LINES + 2);
        assertThat(lines[0]).isEqualTo("first");
        assertThat(lines[1]).isEqualTo("0");
        assertThat(lines[LogOutput.BUFFERED_LINES]).isEqualTo(Integer.toString(LogOutput.BUFFERED_LINES - 1));
        assertThat(lines[LogOutput.BUFFERED_LINES + 1]).isEqualTo("over the limit");
    }

    /**
     * A {@code println} on an installed stream is one queued entry, so {@value LogOutput#BUFFERED_LINES} lines wait
     * without back-pressure, as {@link LogOutput#println}'s do. A println was two entries (the text and the line
     * separator, each auto-flushed) until 4 December, so a writer waited after ~5,000 (a break-it pass).
     */
    @Test
    void anInstalledStreamQueuesEachPrintlnAsOneLine() throws Exception {
        PrintStream oldErr = System.err;
        Stalled pipe = new Stalled();
        PrintStream err = new PrintStream(pipe, true, StandardCharsets.UTF_8);
        try {
            System.setErr(err);
            LogOutput.Installed installed = LogOutput.install();
            System.err.println("first");
            assertThat(pipe.entered.await(10, TimeUnit.SECONDS)).isTrue();
            long waitsBefore = LogOutput.waits();
            PrintStream queued = System.err;
            Thread producer = new Thread(() -> {
                for (int i = 0; i < LogOutput.BUFFERED_LINES; i++) {
                    queued.println(i);
                }
            }, "ten-thousand-lines");
            producer.start();
            producer.join(30_000);
            boolean finished = !producer.isAlive();
            long waits = LogOutput.waits() - waitsBefore;
            pipe.release.countDown();
            producer.join(30_000);
            installed.close();
            assertThat(finished).as("10,000 println lines queue while the stream is stalled (waits: %d)", waits).isTrue();
            assertThat(waits).isZero();
            String[] lines = pipe.text().split("\n");
            assertThat(lines).hasSize(LogOutput.BUFFERED_LINES + 1);
            assertThat(lines[LogOutput.BUFFERED_LINES]).isEqualTo(Integer.toString(LogOutput.BUFFERED_LINES - 1));
        } finally {
            System.setErr(oldErr);
        }
    }

    /**
     * A write holding a whole line and the start of the next queues the whole line at once; only the partial one waits
     * for its newline (a break-it pass: {@code print("line1\npartial")} held {@code line1} until a later newline).
     */
    @Test
    void aWholeLineBeforeAPartialOneIsWrittenAtOnce() throws Exception {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            LogOutput.Installed installed = LogOutput.install();
            System.out.print("line1\npartial");
            assertThat(LogOutput.flush(Duration.ofSeconds(10))).isTrue();
            assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("line1\n");
            System.out.print(" end\nnext");
            assertThat(LogOutput.flush(Duration.ofSeconds(10))).isTrue();
            assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("line1\npartial end\n");
            installed.close();
            assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("line1\npartial end\nnext");
        } finally {
            System.setOut(oldOut);
        }
    }

    /**
     * {@code System.exit} with lines still queued: the shutdown hook {@link LogOutput#install} adds writes them, as
     * ztunnel's WorkerGuard does at exit. Without it 4,324 of 5,000 lines and no stack trace came out; 50,000 lines keep the queue full up to the exit (a break-it pass).
     */
    @Test
    void linesQueuedBeforeSystemExitAreWritten() throws Exception {
        Process p = new ProcessBuilder(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), LogOutputExitMain.class.getName(), "50000").start();
        CompletableFutureText err = new CompletableFutureText(p.getErrorStream());
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(3);
        assertThat(out.split("\n")).hasSize(50_000).endsWith("line 49999");
        assertThat(err.get()).startsWith("java.lang.IllegalStateException: printed just before exit").contains("\tat ");
    }

    /** Reads a stream to its end on a thread of its own. */
    private static final class CompletableFutureText {
        private final java.util.concurrent.CompletableFuture<String> text;

        CompletableFutureText(java.io.InputStream in) {
            text = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }

        String get() throws Exception {
            return text.get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void installedStreamsQueueEachFlushedLineAndCloseRestoresThem() throws Exception {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        Stalled pipe = new Stalled();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            PrintStream err = new PrintStream(pipe, true, StandardCharsets.UTF_8);
            System.setErr(err);
            LogOutput.Installed installed = LogOutput.install();
            assertThat(LogOutput.install()).as("installing twice wraps nothing twice").isNotNull();
            // slf4j-simple's write: println, then flush, on the logging thread.
            System.err.println("2026-12-01T19:00:00.000+0000 WARN x - a stalled stderr does not hold the caller");
            System.err.flush();
            assertThat(pipe.entered.await(10, TimeUnit.SECONDS)).isTrue();
            System.out.println("stdout still goes: ztunnel's format and the CLI's lines");
            System.out.print("a partial line is written at close");
            pipe.release.countDown();
            installed.close();
            assertThat(System.err).isSameAs(err);
            assertThat(pipe.text()).isEqualTo("2026-12-01T19:00:00.000+0000 WARN x - a stalled stderr does not hold the caller\n");
            assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("stdout still goes: ztunnel's format and the CLI's lines\n"
                    + "a partial line is written at close");
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }
}
