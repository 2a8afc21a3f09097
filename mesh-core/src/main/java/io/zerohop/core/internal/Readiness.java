package io.zerohop.core.internal;

import io.zerohop.core.HttpEndpoint;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;

/**
 * ztunnel's readiness (src/readiness.rs, src/readiness/server.rs): named tasks that must finish
 * before the proxy is ready; {@code /healthz/ready} answers 200 {@code ready} or 500
 * {@code not ready, pending: a, b} (sorted, comma-separated).
 */
public final class Readiness {
    private final Set<String> pending = new TreeSet<>();
    private final CompletableFuture<Void> firstReady = new CompletableFuture<>();

    /** Registers a pending task; run the result once it is done (idempotent). */
    public Runnable register(String task) {
        synchronized (pending) {
            pending.add(task);
        }
        return () -> {
            boolean now;
            synchronized (pending) {
                now = pending.remove(task) && pending.isEmpty();
            }
            if (now) {
                firstReady.complete(null);
            }
        };
    }

    /**
     * Completes the first time no task is pending (what {@code /healthz/ready} then answers 200 to);
     * never again afterwards, also when a later task (draining) is registered. Completes on the
     * thread that ran the last task's result.
     */
    public CompletableFuture<Void> firstReady() {
        return firstReady.copy();
    }

    /**
     * Shutdown began: a first readiness that has not come never will, so {@link #firstReady()}
     * completes exceptionally (an {@link IllegalStateException} naming what was pending) instead of
     * leaving a {@code ready().get()} blocked for good. No effect once ready.
     */
    public void closing() {
        Set<String> before;
        synchronized (pending) {
            before = new TreeSet<>(pending);
        }
        before.remove("draining");
        firstReady.completeExceptionally(new IllegalStateException("this mesh was closed before it was ready (pending: "
                + String.join(", ", before) + ")"));
    }

    public Set<String> pending() {
        synchronized (pending) {
            return Set.copyOf(pending);
        }
    }

    /** The {@code /healthz/ready} answer for a GET (ztunnel answers other methods 405). */
    public HttpEndpoint.Response answer(HttpEndpoint.Request r) {
        if (!r.method().equals("GET")) {
            return HttpEndpoint.Response.empty(405); // empty_response(METHOD_NOT_ALLOWED), src/readiness/server.rs
        }
        String list;
        synchronized (pending) {
            if (pending.isEmpty()) {
                return HttpEndpoint.Response.plaintext(200, "ready\n");
            }
            list = String.join(", ", pending);
        }
        return HttpEndpoint.Response.plaintext(500, "not ready, pending: " + list + "\n");
    }
}
