package io.zerohop.cli;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * SIGTERM and SIGINT as a request to drain, not an exit: the JVM's default handler would run the
 * shutdown hooks and halt while tunnels still flow (and exit 143). With the handler replaced the
 * proxy drains on its main thread and exits 0, as ztunnel does on SIGTERM. {@code zerohop proxy}
 * installs them as the first statement of {@code main} ({@link #installEarly}): a signal during the
 * start (option parsing, policies, the identity source, the listeners) then stops the start at its
 * next step and exits 0 as well; installed later, as before, the JVM's own handler took a SIGTERM in
 * the first ~0.5 s and exited 143. Only a signal before {@code main} (the JVM's own start) still
 * gets the JVM's default (README "SIGTERM during start-up").
 *
 * <p>Any other way the JVM starts to exit (SIGHUP and the other signals left to the JVM, a
 * {@code System.exit} elsewhere, {@code -Xrs}) runs the shutdown hook, which requests the same drain
 * and holds the exit until the proxy has {@linkplain #finished() finished} it, at most
 * {@linkplain #exitBound the drain plus a margin}: a hook that only asked for the drain let the JVM
 * halt at once, and the kernel then ended every open connection with a FIN, a cut stream that looks
 * complete to the application.
 */
final class Signals {
    private final CountDownLatch stop = new CountDownLatch(1);
    private final AtomicReference<String> got = new AtomicReference<>();
    private final java.util.concurrent.CompletableFuture<String> stopped = new java.util.concurrent.CompletableFuture<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    /** How long the shutdown hook holds the exit for the drain, in ms. */
    private volatile long exitBoundMillis = 15_000;
    /** The JVM was already exiting when these were installed (no shutdown hook could be added). */
    private boolean shuttingDown;

    /** The handlers {@link #installEarly} installed, until {@link #forProxy} takes them. */
    private static volatile Signals early;

    Signals() {}

    /**
     * For {@code main} of {@code zerohop proxy}, before anything else: the handlers, and the shutdown
     * hook, for {@link #forProxy} to take once the command runs. The caller calls {@link #finished}
     * when the command returns (a usage error, too), or the hook would hold that exit.
     */
    static Signals installEarly() {
        Signals s = install();
        if (s.shuttingDown) {
            // The JVM's own SIGTERM handler came first and its exit (143) is running: main() goes no further, so that
            // nothing of the proxy starts or prints while the JVM ends (exit blocks while shutdown runs).
            Runtime.getRuntime().exit(143);
        }
        early = s;
        return s;
    }

    /** The handlers {@code main} installed, or new ones (a proxy run inside another JVM, e.g. a test's). */
    static Signals forProxy() {
        Signals s = early;
        early = null;
        if (s == null) {
            return install();
        }
        s.ownProcess = true;
        return s;
    }

    /** Whether main installed these handlers: the proxy owns the process's signals. Read by the signal thread. */
    private volatile boolean ownProcess;

    /**
     * Warns of SIGINT or SIGTERM that this process cannot take back ({@link #ignored}). Only for the CLI's own process: a
     * proxy run inside another JVM (a test's, an application's) does not own that JVM's signals. Called once the log's
     * shape is chosen ({@link LogShape#use}), so the warning is in it.
     */
    void warnIgnored() {
        for (String name : ownProcess ? ignored(procStatus()) : List.<String>of()) {
            org.slf4j.LoggerFactory.getLogger(Signals.class).warn("{} is ignored by this process: it was ignored when the JVM started "
                    + "(a shell ignores SIGINT for a command it starts in the background, without job control) and the JVM keeps "
                    + "an inherited ignore; stop the proxy with SIGTERM or POST /quitquitquit", name);
        }
    }

    /**
     * Which of SIGINT and SIGTERM {@code /proc/self/status} shows ignored ({@code SigIgn}, a hexadecimal mask whose bit
     * n-1 is signal n). HotSpot does not install a handler for SIGINT, SIGTERM or SIGHUP that was ignored at its start
     * ({@code JVM_RegisterSignal}), so {@link #install} cannot take them back, where ztunnel's handler (tokio's) would:
     * the proxy says so instead of ignoring a Ctrl-C or a {@code kill -INT} in silence.
     */
    static List<String> ignored(String status) {
        List<String> names = new java.util.ArrayList<>();
        for (String line : status.split("\n")) {
            if (line.startsWith("SigIgn:")) {
                long mask = Long.parseUnsignedLong(line.substring("SigIgn:".length()).trim(), 16);
                if ((mask & 1L << 1) != 0) {
                    names.add("SIGINT");
                }
                if ((mask & 1L << 14) != 0) {
                    names.add("SIGTERM");
                }
            }
        }
        return names;
    }

    private static String procStatus() {
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/status"));
        } catch (java.io.IOException | RuntimeException e) {
            return ""; // not Linux: nothing to say
        }
    }

    static Signals install() {
        Signals s = new Signals();
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("TERM"), sig -> s.stop("SIGTERM"));
            // Halting is for the proxy's own process (main installed these): a proxy run inside another application's JVM
            // (forProxy without main's handlers) must not end that JVM, so its second SIGINT is only logged.
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), sig -> s.interrupted(() -> {
                if (s.ownProcess) {
                    exitNow();
                } else {
                    LogShape.proxyLine("warn", "zerohop proxy: second SIGINT: not exiting, this JVM is not the proxy's own");
                }
            }));
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // No signal support here (or -Xrs): the shutdown hook below drains instead.
        }
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(s::exiting, "zerohop-shutdown"));
        } catch (IllegalStateException exiting) {
            // A SIGTERM that came before the handlers above: the JVM's own handler has begun its exit (143), so there is
            // nothing to drain, and the exit needs no hook. Until 7 December this printed "Shutdown in progress" with
            // zerohop's frames (StartSignalE2EIT, SIGTERM 250 ms after the launch, seen once in a fresh-clone CI run).
            s.shuttingDown = true;
        }
        return s;
    }

    /**
     * A SIGINT: the first stops the proxy as SIGTERM does (a drain); a second during the drain a first SIGINT started
     * runs {@code halt}: in the proxy's own process it ends the process at once, exit 0, without the rest of the drain or
     * the shutdown hooks, as ztunnel's (src/signal.rs: "Double Ctrl+C, exit immediately", {@code process::exit(0)}, only
     * after a SIGINT); open tunnels end with the process (the kernel closes their sockets). Until 5 December the second
     * signal was ignored without a word and the drain ran to its end (a lifecycle pass, helper 231).
     */
    void interrupted(Runnable halt) {
        if (!"SIGINT".equals(got.get())) {
            stop("SIGINT");
            return;
        }
        halt.run();
    }

    /** The proxy's own process, at a second SIGINT: says so, flushes the log, and halts with status 0. */
    private static void exitNow() {
        LogShape.stdoutLine("zerohop proxy: second SIGINT, exiting now without draining");
        io.zerohop.core.LogOutput.flush(io.zerohop.core.LogOutput.STOP_FLUSH);
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(0);
    }

    /** The shutdown hook: the drain a signal would start, and the exit waits for its end. */
    private void exiting() {
        stop("shutdown");
        try {
            finished.await(exitBoundMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Bounds the shutdown hook's wait: {@code drain} plus 15 s (the mesh's close takes at most drain + 8 s). */
    void exitBound(java.time.Duration drain) {
        exitBoundMillis = drain.toMillis() + 15_000;
    }

    /** The proxy has drained and closed (or never started): the shutdown hook need not wait. */
    void finished() {
        finished.countDown();
    }

    /** Stops the proxy as a signal would (e.g. {@code /quitquitquit}). */
    void stop(String why) {
        got.compareAndSet(null, why);
        stop.countDown();
        stopped.complete(got.get());
    }

    /** Completes with what stopped the proxy, for a wait that must end on a signal (the first SVID's). */
    java.util.concurrent.CompletableFuture<String> stopped() {
        return stopped.copy();
    }

    boolean stopping() {
        return stop.getCount() == 0;
    }

    /** Waits for a signal or {@link #stop}; returns what stopped it. */
    String await() throws InterruptedException {
        stop.await();
        return got.get();
    }
}
