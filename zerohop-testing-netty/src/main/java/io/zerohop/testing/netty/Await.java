package io.zerohop.testing.netty;

import java.time.Duration;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The one way zerohop tests wait: for a future, or for a condition that other threads make true.
 * Never a sleep as synchronisation: a condition is re-checked every millisecond (a busy loop
 * would starve the event loops on a 2-core machine) and the wait fails with the caller's
 * description, never silently, after the timeout.
 */
public final class Await {
    /** The default bound of every wait: long enough for a loaded CI machine, short enough to fail a hung test. */
    public static final Duration TIMEOUT = Duration.ofSeconds(10);

    private Await() {}

    /**
     * Waits for {@code condition} to become true.
     *
     * @param what what is awaited, for the failure message ("the server saw 3 connections")
     * @throws AssertionError naming {@code what} when {@code timeout} passes first
     */
    public static void until(String what, Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what);
            }
            try {
                TimeUnit.MILLISECONDS.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
    }

    /** {@link #until(String, Duration, BooleanSupplier)} with {@link #TIMEOUT}. */
    public static void until(String what, BooleanSupplier condition) {
        until(what, TIMEOUT, condition);
    }

    /**
     * The value of {@code future}, waiting at most {@link #TIMEOUT}.
     *
     * @throws AssertionError when the future fails (its cause attached), times out or the thread is interrupted
     */
    public static <T> T result(Future<T> future) {
        return result(future, TIMEOUT);
    }

    /** {@link #result(Future)} with an explicit bound. */
    public static <T> T result(Future<T> future, Duration timeout) {
        try {
            return future.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new AssertionError("future failed: " + e.getCause(), e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + future, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted waiting for " + future, e);
        }
    }
}
