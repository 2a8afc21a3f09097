package io.zerohop.hbone.internal;

import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The idle close of an HBONE connection, client or server side (ztunnel's pool and server close a
 * connection that carried no stream for the idle timeout). One check at a time, re-armed for the
 * rest of the timeout when tunnels came and went meanwhile, rather than a timer scheduled and
 * cancelled per tunnel: a connection that alternates between zero and one tunnel paid both on every
 * open (issue 14, benchmarks/results/profile-open.md).
 *
 * <p>Its state is guarded by {@code lock}: the client's pool lock (tunnels are released from any
 * thread). The server passes the connection itself and calls {@link #idleFrom} on the connection's
 * event loop, where the check runs too, so the lock is never contended there.
 */
final class IdleTimer {
    private final long timeoutNanos;
    private final Object lock;
    private final BooleanSupplier stillIdle;
    private final Runnable expireLocked;
    private final Runnable expire;
    /** When the last tunnel ended (System.nanoTime()); guarded by {@code lock}. */
    private long idleSince;
    /** Whether a check is scheduled; guarded by {@code lock}. */
    private boolean armed;
    /** The scheduled check, cancelled when the connection closes; guarded by {@code lock}. */
    private io.netty.util.concurrent.ScheduledFuture<?> pending;
    /** Set by {@link #cancel}: no check is scheduled from then on; guarded by {@code lock}. */
    private boolean cancelled;

    /**
     * @param timeout      zero or negative: never closes
     * @param stillIdle    asked under {@code lock} when a check fires: no tunnel and still usable
     * @param expireLocked run under {@code lock} once idle for the whole timeout (take the connection out of use)
     * @param expire       run after it, outside the lock (close the connection)
     */
    IdleTimer(Duration timeout, Object lock, BooleanSupplier stillIdle, Runnable expireLocked, Runnable expire) {
        this.timeoutNanos = timeout.toNanos();
        this.lock = lock;
        this.stillIdle = stillIdle;
        this.expireLocked = expireLocked;
        this.expire = expire;
    }

    /** The connection's last tunnel just ended. Caller holds {@code lock} (the server: runs on {@code loop}). */
    void idleFrom(EventLoop loop) {
        if (timeoutNanos <= 0) {
            return;
        }
        idleSince = System.nanoTime();
        if (!armed && !cancelled) {
            armed = true;
            pending = loop.schedule(() -> check(loop), timeoutNanos, TimeUnit.NANOSECONDS);
        }
    }

    /**
     * The connection closed: the scheduled check is cancelled, which takes it out of the loop's queue. Left there, it held
     * the closed connection (its channel, TLS engine and buffers) for the rest of the idle timeout, 10 minutes by default:
     * a peer that opened and closed connections, each with one refused CONNECT, grew the heap by one connection each until
     * the proxy ran out of memory after ~24,000 (a hostile-peer pass). Caller holds {@code lock}.
     */
    void cancel() {
        cancelled = true;
        armed = false;
        io.netty.util.concurrent.ScheduledFuture<?> p = pending;
        pending = null;
        if (p != null) {
            p.cancel(false);
        }
    }

    private void check(EventLoop loop) {
        synchronized (lock) {
            armed = false;
            pending = null;
            if (cancelled || !stillIdle.getAsBoolean()) {
                return;
            }
            long left = timeoutNanos - (System.nanoTime() - idleSince);
            if (left > 0) {
                // Tunnels came and went since the check was armed: idle only since the last one ended.
                armed = true;
                pending = loop.schedule(() -> check(loop), left, TimeUnit.NANOSECONDS);
                return;
            }
            // Still under the lock: a tunnel reserved after this point finds the connection out of
            // use instead of being killed by the close below.
            expireLocked.run();
        }
        expire.run();
    }
}
