package io.zerohop.core.internal;

import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Counts open tunnels (both directions) so that a drain can wait for them to finish. */
public final class TunnelCount implements HboneEvents {
    private int open;
    private final List<CompletableFuture<Void>> idle = new ArrayList<>();

    @Override
    public synchronized void tunnelOpened(TunnelInfo t, TunnelCounters live) {
        open++;
    }

    @Override
    public void tunnelClosed(TunnelResult r) {
        List<CompletableFuture<Void>> done = null;
        synchronized (this) {
            open--;
            if (open <= 0 && !idle.isEmpty()) {
                done = new ArrayList<>(idle);
                idle.clear();
            }
        }
        if (done != null) {
            done.forEach(f -> f.complete(null));
        }
    }

    public synchronized int open() {
        return open;
    }

    /** Completes with 0 once no tunnel is open, or at the deadline with the number still open. */
    public CompletableFuture<Integer> awaitIdle(Duration deadline) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (this) {
            if (open <= 0) {
                return CompletableFuture.completedFuture(0);
            }
            idle.add(f);
        }
        CompletableFuture<Integer> r = new CompletableFuture<>();
        f.thenRun(() -> r.complete(0));
        CompletableFuture.delayedExecutor(Math.max(0, deadline.toMillis()), TimeUnit.MILLISECONDS)
                .execute(() -> r.complete(Math.max(1, open())));
        return r;
    }
}
