package io.zerohop.cli.e2e;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A child process of the end-to-end test (a proxy, an app, tcpdump): both output streams are drained
 * into memory and a log file, and the test waits on lines it prints instead of sleeping.
 */
final class Child implements AutoCloseable {
    private final String name;
    private final Process process;
    private final Path log;
    private final List<String> lines = new ArrayList<>();
    private final Thread[] pumps = new Thread[2];

    private Child(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    static Child start(String name, Path logDir, List<String> command) throws IOException {
        return start(name, logDir, command, java.util.Map.of());
    }

    /** As {@link #start(String, Path, List)}, with {@code env} added to (or replacing in) this process's environment. */
    static Child start(String name, Path logDir, List<String> command, java.util.Map<String, String> env) throws IOException {
        Path log = logDir.resolve(name + ".log");
        Files.writeString(log, "$ " + String.join(" ", command) + "\n");
        ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.PIPE);
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        Child c = new Child(name, p, log);
        c.pumps[0] = c.pump(p.getInputStream(), "");
        c.pumps[1] = c.pump(p.getErrorStream(), "[err] ");
        return c;
    }

    private Thread pump(InputStream in, String tag) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                 Writer w = Files.newBufferedWriter(log.resolveSibling(log.getFileName() + (tag.isEmpty() ? ".out" : ".err")))) {
                for (String line; (line = r.readLine()) != null; ) {
                    w.write(line);
                    w.write('\n');
                    w.flush();
                    synchronized (lines) {
                        lines.add(tag + line);
                        lines.notifyAll();
                    }
                }
            } catch (IOException e) {
                // the process was killed; what was read is kept
            } finally {
                synchronized (lines) {
                    lines.notifyAll();
                }
            }
        }, "e2e-" + name + (tag.isEmpty() ? "-out" : "-err"));
        t.setDaemon(true);
        t.start();
        return t;
    }

    String name() {
        return name;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Lines printed so far; stderr lines start with {@code [err] }. */
    List<String> lines() {
        synchronized (lines) {
            return List.copyOf(lines);
        }
    }

    /** Waits until some line after the first {@code from} lines matches; fails with the output otherwise. */
    String awaitLine(int from, Predicate<String> match, String what, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            while (true) {
                for (int i = from; i < lines.size(); i++) {
                    if (match.test(lines.get(i))) {
                        return lines.get(i);
                    }
                }
                long left = deadline - System.nanoTime();
                boolean pumpsDone = !pumps[0].isAlive() && !pumps[1].isAlive();
                if (left <= 0 || pumpsDone && !process.isAlive()) {
                    throw new AssertionError(name + ": no line " + what + " within " + timeout
                            + (process.isAlive() ? "" : " (exited with " + process.exitValue() + ")") + "\n" + tail());
                }
                lines.wait(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 200)));
            }
        }
    }

    String awaitLine(Predicate<String> match, String what, Duration timeout) throws InterruptedException {
        return awaitLine(0, match, what, timeout);
    }

    int size() {
        synchronized (lines) {
            return lines.size();
        }
    }

    /** Waits for the process to exit and its output to be read completely. */
    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError(name + " did not exit within " + timeout + "\n" + tail());
        }
        for (Thread t : pumps) {
            t.join(5_000);
        }
        return process.exitValue();
    }

    /**
     * Sends SIGTERM with kill(1) and returns at once, so the test can watch what the process does
     * next. Not {@link Process#destroy()}: it also closes our ends of the child's output pipes.
     */
    void sigterm() throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-TERM", Long.toString(process.pid())).inheritIO().start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new AssertionError("kill -TERM " + process.pid() + " failed");
        }
    }

    /**
     * Sends SIGTERM from this JVM (kill(2), no helper process to start first) and returns at once;
     * unlike {@link Process#destroy()}, our ends of the child's output pipes stay open.
     */
    void sigtermNow() {
        if (!process.toHandle().destroy()) {
            throw new AssertionError("SIGTERM to " + process.pid() + " failed");
        }
    }

    /** SIGTERM (lets tcpdump flush), then waits; falls back to SIGKILL. */
    void terminate(Duration grace) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        for (Thread t : pumps) {
            t.join(2_000);
        }
    }

    /** The last lines of output, for failure messages. */
    String tail() {
        List<String> all = lines();
        int from = Math.max(0, all.size() - 40);
        return "---- " + name + " (pid " + process.pid() + ", log " + log + ") ----\n"
                + String.join("\n", all.subList(from, all.size())) + "\n---- end " + name + " ----";
    }

    @Override
    public void close() {
        boolean interrupted = Thread.interrupted();
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            interrupted = true;
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return name + "(pid " + process.pid() + ")";
    }
}
