package io.zerohop.identity.spire;

import io.spiffe.workloadapi.retry.ExponentialBackoffPolicy;
import java.time.Duration;

/**
 * go-spiffe's Workload API back-off, given to java-spiffe's client: 1 s, then 1 s more after each
 * failed attempt, at most 30 s (spiffe/go-spiffe v2 workloadapi/backoff.go {@code linearBackoff}, the
 * {@code defaultBackoffStrategy} of {@code Client.WatchX509Context}, whose {@code handleWatchError}
 * waits {@code backoff.Next()} before each new watch and whose {@code watchX509Context} resets it on
 * each response). Unlimited attempts.
 *
 * <p>java-spiffe's {@code RetryHandler} schedules its first retry after {@link #getInitialDelay()} and
 * each next one after {@link #nextDelay(Duration)} of the last, and starts over on each update, so the
 * delays in force are go-spiffe's: 1, 2, 3, ... 29, 30, 30 s. java-spiffe's own default doubles to
 * 60 s; its policy can only multiply, so the step is this override, not a fork of java-spiffe.
 */
final class GoSpiffeBackoff extends ExponentialBackoffPolicy {
    /** go-spiffe's {@code linearBackoff.initialDelay}, also the step. */
    static final Duration INITIAL = Duration.ofSeconds(1);
    /** go-spiffe's {@code linearBackoff.maxDelay}. */
    static final Duration MAX = Duration.ofSeconds(30);

    GoSpiffeBackoff() {
        // The multiplier is java-spiffe's field, unused: nextDelay below adds instead.
        super(INITIAL, MAX, UNLIMITED_RETRIES, 1);
    }

    /** The delay after {@code current}: one step more, at most {@link #MAX} (go-spiffe's {@code linearBackoff.Next}). */
    @Override
    public Duration nextDelay(Duration current) {
        Duration next = current.plus(INITIAL);
        return next.compareTo(MAX) > 0 ? MAX : next;
    }

    /** The delay before the {@code n}th retry since the last update (n ≥ 1): {@code min(n, 30)} seconds. */
    static Duration delay(int n) {
        return Duration.ofSeconds(Math.min((long) Math.max(n, 1) * INITIAL.toSeconds(), MAX.toSeconds()));
    }

    /** How the WARN lines name this back-off. */
    static String describe() {
        return "back-off growing by " + INITIAL.toSeconds() + "s up to " + MAX.toSeconds() + "s, as go-spiffe's";
    }
}
