package io.zerohop.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Captures {@link System#out} and {@link System#err} around each test of the CLI run in-process
 * ({@link Zerohop#run}), so a test asserts the exact lines a person reads and its exit code. Unlike
 * zerohop-testing's {@code CapturedStderr} it takes stdout too and copies nothing to the real
 * streams: the CLI's output is what is under test, not noise for the build log.
 *
 * <p>Register it on an instance field, {@code @RegisterExtension final StdStreams std = new StdStreams();},
 * then read {@code std.out} and {@code std.err}. Both are filled from any thread (a proxy started on
 * another thread prints its ready line there); {@link ByteArrayOutputStream}'s methods are
 * synchronized, so a test may poll them while the CLI runs. Both use the platform charset, as
 * the streams they replace. The previous streams come back after each
 * test, failed or not. Not for parallel test execution: {@code System.setOut} is global.
 */
final class StdStreams implements BeforeEachCallback, AfterEachCallback {
    /** What the CLI printed on stdout during the current test. */
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    /** What the CLI printed on stderr during the current test (with slf4j-simple's log lines). */
    final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldOut;
    private PrintStream oldErr;

    /** Runs the CLI with {@code args}: its exit code and stderr's lines joined with " | " ({@code exit 2: ...}). */
    String run(String... args) {
        err.reset();
        int code = Zerohop.run(args);
        return "exit " + code + ": " + String.join(" | ", err.toString().lines().toList());
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(out, true));
        System.setErr(new PrintStream(err, true));
    }

    @Override
    public void afterEach(ExtensionContext context) {
        System.setOut(oldOut);
        System.setErr(oldErr);
    }
}
