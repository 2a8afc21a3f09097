package io.zerohop.cli;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * SIGTERM and SIGINT as a request to drain, not an exit: the JVM's default handler would run the
 * shutdown hooks and halt while tunnels still flow (and exit 143). With the handler replaced the
 * proxy drains on its main thread and exits 0, as ztunnel does on SIGTERM. Install before the proxy
 * says it is ready, so that no signal can arrive between the two.
 */
final class Signals {
    private final CountDownLatch stop = new CountDownLatch(1);
    private final AtomicReference<String> got = new AtomicReference<>();
    private final java.util.concurrent.CompletableFuture<String> stopped = new java.util.concurrent.CompletableFuture<>();

    private Signals() {}

    static Signals install() {
        Signals s = new Signals();
        try {
            for (String name : new String[] {"TERM", "INT"}) {
                sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> s.stop("SIG" + sig.getName()));
            }
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // No signal support here (or -Xrs): the shutdown hook still stops, without a drain guarantee.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> s.stop("shutdown"), "zerohop-shutdown"));
        }
        return s;
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
