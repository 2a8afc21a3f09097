package io.zerohop.testing.netty;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;

/**
 * Copies {@link System#err} (where slf4j-simple writes zerohop's log lines in tests) while open, so
 * a test can wait for a line; everything still reaches the real stderr. Install it before the code
 * that logs runs; {@link #close()} restores the previous stream. Thread-safe.
 *
 * <p>It lives here, needing no zerohop module, so that mesh-identity's and mesh-hbone's own tests can use it
 * (zerohop-testing sits above them); zerohop-testing's {@code io.zerohop.testing.CapturedStderr} is this class
 * under its earlier name, so that users' imports stay valid. The copy is encoded in UTF-8, the charset
 * {@link #text()} decodes with, whatever the JVM's default charset.
 */
public class CapturedStderr implements AutoCloseable {
    /** How long {@link #awaitLine} waits by default. */
    public static final Duration WAIT = Duration.ofSeconds(10);

    private final ByteArrayOutputStream log = new ByteArrayOutputStream();
    private final PrintStream old = System.err;

    public CapturedStderr() {
        System.setErr(new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                old.write(b, off, len);
                synchronized (log) {
                    log.write(b, off, len);
                    log.notifyAll();
                }
            }
        }, true, StandardCharsets.UTF_8));
    }

    /** The first line containing all {@code parts}, waiting up to {@link #WAIT}; an {@link AssertionError} showing what was logged otherwise. */
    public String awaitLine(String... parts) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        synchronized (log) {
            while (true) {
                Optional<String> line = lines(parts).findFirst();
                if (line.isPresent()) {
                    return line.get();
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("no log line containing " + Arrays.toString(parts) + " in:\n" + text());
                }
                log.wait(Math.max(1, left / 1_000_000));
            }
        }
    }

    /** How many complete lines logged so far contain all {@code parts}. */
    public long count(String... parts) {
        synchronized (log) {
            return lines(parts).count();
        }
    }

    /**
     * Complete lines only: a PrintStream's {@code println} reaches this stream as two writes, the text
     * and then the line end, and a waiter woken between them would return half a line.
     */
    private java.util.stream.Stream<String> lines(String... parts) {
        String t = text();
        return t.substring(0, t.lastIndexOf('\n') + 1).lines().filter(l -> Arrays.stream(parts).allMatch(l::contains));
    }

    /** Everything captured so far (lines in the order they were written). */
    public String text() {
        synchronized (log) {
            return log.toString(StandardCharsets.UTF_8);
        }
    }

    @Override
    public void close() {
        System.setErr(old);
    }
}
