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
        String out;
        try (var in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("zerohop " + String.join(" ", args) + " still running after 30 s:\n" + out);
        }
        return new Result(p.exitValue(), out);
    }
}
