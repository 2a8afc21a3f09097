package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Child processes of the L7 tests (curl, nghttp, Node's clients and servers), waited for with a bound: a child
 * that hangs (a client waiting for an end that never comes) fails its test with what it printed, instead of
 * blocking the whole suite. The bound is generous and never part of what a test asserts.
 */
public final class ChildProcess {
    /** How long a client may run: far above any of them on a loaded 2-core machine. */
    public static final Duration BOUND = Duration.ofSeconds(120);

    private ChildProcess() {}

    /**
     * Runs {@code cmd} (stderr merged into stdout) to its end and returns its output, UTF-8.
     *
     * @throws AssertionError when it has not ended within {@link #BOUND}: it is killed and the message has its
     *     output so far
     */
    public static String run(String... cmd) throws IOException, InterruptedException {
        return runWithExit(cmd)[0];
    }

    /**
     * {@code pb.start()}; a program that is not installed fails with the Debian package that has it, as {@code .ci/run}
     * installs it (DESIGN.md section 8: a missing peer says what to install), instead of "Cannot run program".
     */
    public static Process start(ProcessBuilder pb) throws IOException {
        try {
            return pb.start();
        } catch (IOException e) {
            String program = pb.command().get(0);
            String pkg = switch (program) {
                case "node" -> "nodejs";
                case "nghttp" -> "nghttp2-client";
                case "nghttpx" -> "nghttp2-proxy";
                case "ip" -> "iproute2";
                case "nft" -> "nftables";
                default -> program;  // curl, openssl, tcpdump: the package has the program's name
            };
            throw new IOException(program + " cannot be run (" + e.getMessage() + "): install it, `apt-get install " + pkg
                    + "` (.ci/run installs every peer the tests use)", e);
        }
    }

    /** As {@link #run}, with the exit code: {@code [output, code]}. */
    public static String[] runWithExit(String... cmd) throws IOException, InterruptedException {
        File out = File.createTempFile("zerohop-child", ".out");
        try {
            Process p = start(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out));
            if (!p.waitFor(BOUND.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                fail("%s did not end within %s; its output:%n%s", String.join(" ", cmd), BOUND,
                        Files.readString(out.toPath(), StandardCharsets.UTF_8));
            }
            return new String[] {Files.readString(out.toPath(), StandardCharsets.UTF_8), Integer.toString(p.exitValue())};
        } finally {
            Files.deleteIfExists(out.toPath());
        }
    }

    /**
     * The next line {@code out} (a child's output) prints, such as a server's port.
     *
     * @throws AssertionError when none comes within {@link #BOUND} or the output ends first; {@code child} is then
     *     killed
     */
    public static String readLine(Process child, BufferedReader out) throws InterruptedException {
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try {
                return out.readLine();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try {
            String l = line.get(BOUND.toSeconds(), TimeUnit.SECONDS);
            if (l == null) {
                fail("%s ended without a line (exit %s)", child.info().commandLine().orElse("child"), child.waitFor());
            }
            return l;
        } catch (TimeoutException | ExecutionException e) {
            child.destroyForcibly();
            throw new AssertionError(child.info().commandLine().orElse("child") + " printed no line within " + BOUND, e);
        }
    }

    /** {@link #readLine(Process, BufferedReader)} on a fresh reader of {@code child}'s output, for its first line. */
    public static String firstLine(Process child) throws InterruptedException {
        return readLine(child, new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8)));
    }
}
