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
 * Completing on the last {@link #tunnelClosed} is safe for that exit: a tunnel is reported closed
 * only after its relay reset the other end (TunnelCodec.channelInactive; AbortResetsBeforeClosedTest).
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
     * Completes with 0 once no tunnel is open; or, at the deadline, aborts every tunnel still open,
     * waits up to {@code abortGrace} for them to close, and completes with how many there were.
     * Timers run on {@code timer} (an event loop: the work is short and never blocks).
     */
    public CompletableFuture<Integer> awaitIdle(Duration deadline, Duration abortGrace,
                                                java.util.concurrent.ScheduledExecutorService timer) {
        CompletableFuture<Integer> r = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicBoolean aborting = new java.util.concurrent.atomic.AtomicBoolean();
        CompletableFuture<Void> first = idleFuture();
        first.thenRun(() -> {
            if (!aborting.get()) {
                r.complete(0);
            }
        });
        timer.schedule(() -> {
            List<TunnelCounters> left;
            synchronized (this) {
                left = new ArrayList<>(open.values());
            }
            if (r.isDone() || left.isEmpty()) {
                r.complete(0);
                return;
            }
            aborting.set(true);
            for (TunnelCounters t : left) {
                try {
                    t.abort();
                } catch (UnsupportedOperationException e) {
                    // closed with its connection instead
                }
            }
            CompletableFuture<Void> gone = idleFuture();
            gone.thenRun(() -> r.complete(left.size()));
            timer.schedule(() -> r.complete(left.size()), abortGrace.toMillis(), TimeUnit.MILLISECONDS);
        }, Math.max(0, deadline.toMillis()), TimeUnit.MILLISECONDS);
        return r;
    }

    private CompletableFuture<Void> idleFuture() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        synchronized (this) {
            if (open.isEmpty()) {
                f.complete(null);
            } else {
                idle.add(f);
            }
        }
        return f;
    }
}
