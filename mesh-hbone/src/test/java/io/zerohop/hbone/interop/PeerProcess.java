package io.zerohop.hbone.interop;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A peer process (node, nghttpx) whose stdout and stderr are read line by line by two daemon threads.
 * Waiting is on output or exit with a deadline, never on sleeps. {@link #close()} ends the process
 * (stdin closed first: the Node scripts exit on it; then SIGTERM; then SIGKILL).
 */
final class PeerProcess implements AutoCloseable {
    private final String name;
    private final Process process;
    private final Lines out = new Lines();
    private final Lines err = new Lines();

    private PeerProcess(String name, Process process) {
        this.name = name;
        this.process = process;
        pump(process.getInputStream(), out, name + "-stdout");
        pump(process.getErrorStream(), err, name + "-stderr");
    }

    static PeerProcess start(String name, List<String> command, Path workingDirectory) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command);
        if (workingDirectory != null) {
            pb.directory(workingDirectory.toFile());
        }
        return new PeerProcess(name, pb.start());
    }

    private static void pump(InputStream in, Lines lines, String threadName) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    lines.add(line);
                }
            } catch (IOException ignored) {
                // process gone
            } finally {
                lines.end();
            }
        }, threadName);
        t.setDaemon(true);
        t.start();
    }

    /** First stdout line matching {@code p}; fails when the stream ends first or at the deadline. */
    String awaitStdout(Predicate<String> p, Duration timeout) throws InterruptedException {
        return required(await(out, "stdout", p, timeout), "stdout");
    }

    /** First stderr line matching {@code p}; fails when the stream ends first or at the deadline. */
    String awaitStderr(Predicate<String> p, Duration timeout) throws InterruptedException {
        return required(await(err, "stderr", p, timeout), "stderr");
    }

    /** First stderr line matching {@code p}, or null when stderr ended (process gone) without one. */
    String awaitStderrOrEnd(Predicate<String> p, Duration timeout) throws InterruptedException {
        return await(err, "stderr", p, timeout);
    }

    private String required(String line, String which) {
        if (line == null) {
            throw new AssertionError(name + ": " + which + " ended without the expected line\n" + output());
        }
        return line;
    }

    /** Waits until at least {@code n} stderr lines match {@code p}; returns them. */
    List<String> awaitStderrCount(Predicate<String> p, int n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (err) {
            while (true) {
                List<String> hits = err.lines.stream().filter(p).toList();
                if (hits.size() >= n) {
                    return hits;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || err.ended) {
                    throw new AssertionError(name + ": expected " + n + " matching stderr lines, got " + hits.size()
                            + (err.ended ? " before the stream ended" : " within " + timeout) + "\n" + output());
                }
                TimeUnit.NANOSECONDS.timedWait(err, left);
            }
        }
    }

    private String await(Lines lines, String which, Predicate<String> p, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            while (true) {
                for (String l : lines.lines) {
                    if (p.test(l)) {
                        return l;
                    }
                }
                if (lines.ended) {
                    return null;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError(name + ": no expected " + which + " line within " + timeout + "\n" + output());
                }
                TimeUnit.NANOSECONDS.timedWait(lines, left);
            }
        }
    }

    /** Waits for the exit and for both output streams to be fully read; fails at the deadline. */
    int awaitExit(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            throw new AssertionError(name + " did not exit within " + timeout + "\n" + output());
        }
        out.awaitEnd(deadline);
        err.awaitEnd(deadline);
        return process.exitValue();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    List<String> stdoutLines() {
        return out.snapshot();
    }

    List<String> stderrLines() {
        return err.snapshot();
    }

    /** Both streams, for assertion messages. */
    String output() {
        return "--- " + name + " stdout ---\n" + String.join("\n", out.snapshot())
                + "\n--- " + name + " stderr ---\n" + String.join("\n", err.snapshot());
    }

    @Override
    public void close() {
        try {
            OutputStream stdin = process.getOutputStream();
            stdin.close();
        } catch (IOException ignored) {
            // already closed
        }
        try {
            if (!process.waitFor(2, TimeUnit.SECONDS)) {
                process.destroy();
                if (!process.waitFor(3, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(5, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static final class Lines {
        final List<String> lines = new ArrayList<>();
        boolean ended;

        synchronized void add(String line) {
            lines.add(line);
            notifyAll();
        }

        synchronized void end() {
            ended = true;
            notifyAll();
        }

        synchronized List<String> snapshot() {
            return List.copyOf(lines);
        }

        synchronized void awaitEnd(long deadline) throws InterruptedException {
            while (!ended) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        }
    }
}
