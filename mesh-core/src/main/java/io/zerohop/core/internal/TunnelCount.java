package io.zerohop.core.internal;

import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The open tunnels (both directions), so that a drain can wait for them and abort what is left at
 * its deadline. Aborting each tunnel (RST_STREAM CONNECT_ERROR, TCP reset upstream) matters: closing
 * only the HTTP/2 connection would wait for its streams (Netty's graceful close) and the process
 * exit would then end the upstream sockets with a FIN, which looks complete to the application.
 */
public final class TunnelCount implements HboneEvents {
    private final Map<TunnelInfo, TunnelCounters> open = new IdentityHashMap<>();
    private final List<CompletableFuture<Void>> idle = new ArrayList<>();

    @Override
    public synchronized void tunnelOpened(TunnelInfo t, TunnelCounters live) {
        open.put(t, live);
    }

    @Override
    public void tunnelClosed(TunnelResult r) {
        List<CompletableFuture<Void>> done = null;
        synchronized (this) {
            open.remove(r.info());
            if (open.isEmpty() && !idle.isEmpty()) {
                done = new ArrayList<>(idle);
                idle.clear();
            }
        }
        if (done != null) {
            done.forEach(f -> f.complete(null));
        }
    }

    public synchronized int open() {
        return open.size();
    }

    /**
     * Completes with 0 once no tunnel is open, or at the deadline with the number still open, after
     * aborting each of them.
     */
    public CompletableFuture<Integer> awaitIdle(Duration deadline) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (this) {
            if (open.isEmpty()) {
                return CompletableFuture.completedFuture(0);
            }
            idle.add(f);
        }
        CompletableFuture<Integer> r = new CompletableFuture<>();
        f.thenRun(() -> r.complete(0));
        CompletableFuture.delayedExecutor(Math.max(0, deadline.toMillis()), TimeUnit.MILLISECONDS).execute(() -> {
            List<TunnelCounters> left;
            synchronized (this) {
                left = new ArrayList<>(open.values());
            }
            if (r.complete(left.size())) {
                for (TunnelCounters t : left) {
                    try {
                        t.abort();
                    } catch (UnsupportedOperationException e) {
                        // closed with its connection instead
                    }
                }
            }
        });
        return r;
    }
}
