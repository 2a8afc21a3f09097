package io.zerohop.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the {@code zerohop} CLI in a child JVM with this test's class path, for what a test cannot set in its own JVM:
 * environment variables read at start, and the exit status of a start that fails.
 */
final class CliChild {
    /** The exit status and everything the child wrote to stdout and stderr, interleaved. */
    record Result(int exit, String output) {
        String firstLine() {
            return output.lines().findFirst().orElse("");
        }
    }

    private CliChild() {}

    /**
     * {@code zerohop ARGS} with {@code env} added to this process's environment and {@code unset} removed from it.
     *
     * @throws IllegalStateException when the child is still running after 30 s (it is killed)
     */
    static Result run(Map<String, String> env, List<String> unset, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Zerohop.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        unset.forEach(pb.environment()::remove);
        pb.environment().putAll(env);
        Process p = pb.start();
        // Read beside the wait: read first, a child that never exits (a start that should have failed) held the test
        // until its JUnit timeout, past which the read, not interruptible, went on (12 minutes, helper 401).
        java.util.concurrent.CompletableFuture<String> out = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try (var in = p.getInputStream()) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new IllegalStateException("zerohop " + String.join(" ", args) + " still running after 30 s:\n" + out.getNow("(output not read)"));
        }
        try {
            return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS));
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("reading the child's output: " + e, e);
        }
    }
}
