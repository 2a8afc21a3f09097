package io.zerohop.identity.internal;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Asynchronous Caffeine loads whose failure is the caller's to report. Caffeine logs every failed
 * asynchronous load at WARNING with its stack trace through {@code System.Logger} (3.2.3
 * {@code LocalAsyncCache.handleCompletion}: "Exception thrown during asynchronous load"), except a
 * {@link CancellationException} or a {@link java.util.concurrent.TimeoutException}; in an application
 * without a {@code System.Logger} bridge that is {@code java.util.logging} on stderr, beside the
 * caller's own report of the same failure (an SVID the CA refused, a TLS context that needs it). The
 * cached future fails with {@link Failed} around the error (Caffeine still drops the entry); callers
 * get {@link #unwrapped} futures, which fail with the error itself.
 */
public final class QuietLoads {
    private QuietLoads() {}

    /** A failed load as the cache holds it; callers never see this type. */
    static final class Failed extends CancellationException {
        private static final long serialVersionUID = 1L;

        Failed(Throwable cause) {
            super(cause.toString());
            initCause(cause);
        }
    }

    /** {@code f} for the cache: failing with {@link Failed} around its own error where it fails. */
    public static <V> CompletableFuture<V> quiet(CompletableFuture<V> f) {
        CompletableFuture<V> out = new CompletableFuture<>();
        f.whenComplete((v, e) -> {
            if (e == null) {
                out.complete(v);
            } else {
                out.completeExceptionally(new Failed(e instanceof CompletionException && e.getCause() != null ? e.getCause() : e));
            }
        });
        return out;
    }

    /**
     * {@code cached} for a caller: a copy of it (no caller can complete or cancel what others share),
     * failing with the load's own error instead of {@link Failed}.
     */
    public static <V> CompletableFuture<V> unwrapped(CompletableFuture<V> cached) {
        if (cached.isDone() && !cached.isCompletedExceptionally()) {
            return cached.copy();
        }
        CompletableFuture<V> out = new CompletableFuture<>();
        cached.whenComplete((v, e) -> {
            if (e == null) {
                out.complete(v);
            } else {
                out.completeExceptionally(e instanceof Failed ? e.getCause() : e);
            }
        });
        return out;
    }
}
