package io.zerohop.identity;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.internal.ListenerSet;
import io.zerohop.identity.internal.Svids;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Node mode: SVIDs for many workload identities, as ztunnel's {@code SecretManager} holds them
 * (istio/ztunnel src/identity/manager.rs). Each identity is issued on first use by a
 * {@link CertificateIssuer} (the Istio CA, the in-memory CA), kept (at most
 * {@link Builder#maximumSize} identities) and re-issued ahead of expiry (by default half-way
 * through its lifetime).
 *
 * <ul>
 *   <li>Concurrent first requests for one identity share one issuance; so do refreshes.
 *   <li>A failed fetch is remembered per identity, as ztunnel's {@code CertState::Unavailable(err)}:
 *       until its retry is due, {@link #svid} fails at once with that same error (no request to the
 *       CA), the error carrying a suppressed exception that says when the next attempt is. The
 *       identity is retried on ztunnel's backoff: 1 s, doubling to at most 150 s
 *       ({@code CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL}), ±20 % jitter, exactly 150 s once it has
 *       failed for 15 minutes ({@link #retryDelay}), per identity, reset by a success;
 *       in the background (with a {@link Builder#checkInterval}) and by the first {@link #svid}
 *       after the retry is due.
 *   <li>A failed refresh keeps the current SVID serving until it expires; the refresh is retried on
 *       the same backoff, once per identity and never later than the SVID's expiry (ztunnel's
 *       {@code min(refresh_at, cert_expiry_instant)}). Established connections are never touched.
 *   <li>At most {@link Builder#maxConcurrentFetches} (8, ztunnel's concurrency) requests to the
 *       issuer run at once; the others queue, a caller's first fetch ahead of {@link #prefetch}es, and
 *       those ahead of refreshes and retries (ztunnel's {@code Priority::RealTime}, {@code Warmup},
 *       {@code Background}).
 *   <li>{@link IdentityListener#svidRotated} fires after a new SVID is in place when it replaces one
 *       or ends a run of failures (so a listener that asks {@link #svid} again gets the new one), not
 *       for an identity's first issuance, which its callers receive.
 * </ul>
 *
 * <p>Refresh runs from a background check (every {@link Builder#checkInterval}) and also starts
 * when an SVID past its refresh point is asked for. The issuer is not closed by {@link #close()}.
 */
public final class CertificateManager implements IdentityProvider {
    private static final Logger log = LoggerFactory.getLogger(CertificateManager.class);

    /** The first retry after a failure: ztunnel's {@code ExponentialBackoff.current_interval} (src/identity/manager.rs). */
    static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    /** ztunnel's {@code CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL}: no identity waits longer between attempts. */
    static final Duration MAX_RETRY = Duration.ofSeconds(150);
    /** ztunnel's {@code randomization_factor}: each delay is the interval ±20 %, so identities that failed together spread out. */
    static final double JITTER = 0.2;
    /**
     * The {@code backoff} crate's default {@code max_elapsed_time}, which ztunnel's {@code ExponentialBackoff} keeps: once an
     * identity has been failing this long, {@code next_backoff} gives {@code None} and ztunnel waits exactly
     * {@link #MAX_RETRY} (src/identity/manager.rs {@code Worker::run}, {@code unwrap_or(CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL)}).
     */
    static final Duration MAX_ELAPSED = Duration.ofMinutes(15);
    /** ztunnel's {@code SecretManagerConfig.concurrency} in {@code new_with_client}. */
    static final int DEFAULT_CONCURRENT_FETCHES = 8;

    private final CertificateIssuer issuer;
    private final Clock clock;
    private final double refreshFraction;
    private final Cache<SpiffeId, Entry> entries;
    private final Fetches fetches;
    /**
     * Forgotten identities whose fetch the issuer is still answering: asked for again before it ends, the identity takes
     * that fetch back rather than send another CSR (ztunnel's Worker::run: a {@code Request::Fetch} for an identity in
     * {@code Fetch::Forgetting} turns it back to {@code Fetch::Processing}, and the result is stored).
     */
    private final java.util.concurrent.ConcurrentHashMap<SpiffeId, Entry> forgottenRunning = new java.util.concurrent.ConcurrentHashMap<>();
    private final ListenerSet listeners = new ListenerSet();
    private final ScheduledExecutorService scheduler;
    private volatile X509BundleSet bundles;
    private volatile boolean closed;

    /**
     * One identity's state, ztunnel's {@code CertState} (Initializing: a fetch and nothing held;
     * Available: a valid SVID; Unavailable: an error and none) with its per-identity backoff.
     * Guarded by itself; never held while calling the issuer, listeners or callers' futures.
     */
    private static final class Entry {
        final SpiffeId id;
        /** The last SVID issued; kept through failed refreshes until it expires. */
        X509Svid svid;
        /** The last fetch's failure; null once one succeeds. */
        Throwable error;
        /** Failed fetches in a row: the backoff's exponent. */
        int failures;
        /** When the first of those failures ended (the backoff's start, ztunnel's {@code start_time}); null after a success. */
        Instant failingSince;
        /** No fetch before this after a failure; null when the last fetch succeeded. */
        Instant retryAt;
        /** The fetch under way or queued, completed with the SVID or the issuer's own error; null when none. */
        CompletableFuture<X509Svid> fetch;
        /** Its place in the queue until it runs (so that a caller can move it ahead). */
        Fetches.Queued queued;
        /** The background retry, when one is scheduled. */
        ScheduledFuture<?> timer;
        /** Set by {@link #forget}: a fetch finishing after it stores nothing, unless the identity is asked for again first. */
        boolean forgotten;
        /** The issuer is answering a fetch of this entry (it left the queue and has not finished). */
        boolean running;

        Entry(SpiffeId id) {
            this.id = id;
        }
    }

    private CertificateManager(Builder b) {
        this.issuer = b.issuer;
        this.clock = b.clock;
        this.refreshFraction = b.refreshFraction;
        this.bundles = b.bundles;
        this.fetches = new Fetches(b.maxConcurrentFetches);
        this.entries = Caffeine.newBuilder()
                .maximumSize(b.maximumSize)
                // maintenance (eviction) on the caller: cheap, and keeps size checks deterministic
                .executor(Runnable::run)
                .build();
        if (b.checkInterval != null) {
            this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "zerohop-cert-refresh");
                t.setDaemon(true);
                return t;
            });
            long every = b.checkInterval.toNanos();
            scheduler.scheduleWithFixedDelay(this::refreshDue, every, every, TimeUnit.NANOSECONDS);
        } else {
            this.scheduler = null;
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Optional<SpiffeId> defaultIdentity() {
        return Optional.empty();
    }

    /**
     * The current SVID for {@code id}; issued on first use (one issuance however many callers
     * wait). Past its refresh point the current SVID is still returned while a re-issue starts.
     * After a failed fetch, and until its retry is due, fails at once with that fetch's error
     * (ztunnel's {@code CertState::Unavailable}): the CA is not asked again on every request.
     */
    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        return lookup(id, Priority.REAL_TIME);
    }

    /**
     * As {@link #svid}, but a fetch it starts runs behind every fetch a caller waits for, and ahead of refreshes and
     * retries: ztunnel's {@code Priority::Warmup}, which its cert fetcher uses for a new local workload's certificate
     * (istio/ztunnel src/cert_fetcher.rs {@code prefetch_cert}, src/identity/manager.rs {@code Priority}). A caller's
     * {@link #svid} for an identity whose prefetch is still queued moves it ahead ({@code push_increase}), so a
     * connection never waits behind the warm-up of other identities (ztunnel's {@code test_warmup_new},
     * {@code test_warmup_existing}).
     */
    @Override
    public CompletableFuture<X509Svid> prefetch(SpiffeId id) {
        return lookup(id, Priority.WARMUP);
    }

    /**
     * The identity's state as ztunnel's {@code SecretManager} holds it ({@code CertState}, src/identity/manager.rs), read as
     * its {@code collect_certs} reads it for the admin dump: no fetch started, none moved ahead in the queue (as
     * {@link #svid} and {@link #prefetch} do), no refresh started, and the identity's standing in the eviction policy left
     * as it was. {@code Available}: the last SVID issued, through a refresh or a failed one; {@code Unavailable}: the last
     * fetch's error when no valid SVID is held, also while its retry runs (ztunnel's state changes only with a fetch's
     * result); {@code Initializing}: the first fetch is queued or running. Empty when the identity is not held (never
     * asked, forgotten, evicted).
     */
    @Override
    public Optional<CertificateState> certificateState(SpiffeId id) {
        Objects.requireNonNull(id, "id must not be null");
        Entry e = entries.policy().getIfPresentQuietly(id);
        if (e == null) {
            return Optional.empty();
        }
        return stateOf(e);
    }

    private Optional<CertificateState> stateOf(Entry e) {
        synchronized (e) {
            if (valid(e.svid, clock.instant()) != null) {
                return Optional.of(new CertificateState.Available(e.svid));
            }
            if (e.error != null) {
                return Optional.of(new CertificateState.Unavailable(e.error));
            }
            if (e.svid != null) {
                // Expired, its re-issue not ended: ztunnel's channel still holds Available until a fetch's result.
                return Optional.of(new CertificateState.Available(e.svid));
            }
            return e.fetch != null ? Optional.of(new CertificateState.Initializing()) : Optional.empty();
        }
    }

    /**
     * Every identity held, each with its {@link #certificateState}, as ztunnel's {@code collect_certs} walks its
     * {@code SecretManager}'s map for the admin dump: whatever asked for it (a mesh's warm-up, a connection, an embedding
     * application), not only a mesh's local workloads. Reads as {@link #certificateState} does (the map's iteration
     * leaves the eviction order alone).
     */
    @Override
    public Optional<java.util.Map<SpiffeId, CertificateState>> certificateStates() {
        java.util.Map<SpiffeId, CertificateState> all = new java.util.HashMap<>();
        for (Entry e : entries.asMap().values()) {
            stateOf(e).ifPresent(st -> all.put(e.id, st));
        }
        return Optional.of(all);
    }

    private CompletableFuture<X509Svid> lookup(SpiffeId id, Priority priority) {
        Objects.requireNonNull(id, "id must not be null");
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("certificate manager is closed"));
        }
        X509Svid held;
        CompletableFuture<X509Svid> waitFor = null;
        Throwable stored = null;
        boolean queued = false;
        while (true) {
            // A forgotten entry comes back only with the fetch it is still running (entryFor); else a fresh one.
            Entry e = entries.get(id, this::entryFor);
            synchronized (e) {
                if (e.forgotten) {
                    continue; // forgotten since it was looked up: it is no longer the map's, ask the map again
                }
                Instant now = clock.instant();
                held = valid(e.svid, now);
                if (held != null) {
                    // Served as it is; past its refresh point a re-issue starts, unless one runs or a failed one backs off.
                    if (e.fetch == null && due(held, now) && mayFetch(e, now)) {
                        start(e, Priority.BACKGROUND);
                        queued = true;
                    }
                } else if (e.fetch != null) {
                    // Someone waits for it now: ahead of the queued fetches of a lower priority.
                    fetches.raise(e.queued, priority);
                    waitFor = e.fetch;
                } else if (mayFetch(e, now)) {
                    waitFor = start(e, priority);
                    queued = true;
                } else {
                    // ztunnel's fetch_certificate answers an Unavailable identity with its stored error.
                    stored = e.error;
                }
            }
            break;
        }
        if (queued) {
            fetches.pump(); // outside the entry's lock: the issuer may answer on this thread
        }
        if (held != null) {
            return CompletableFuture.completedFuture(held);
        }
        if (stored != null) {
            return CompletableFuture.failedFuture(stored);
        }
        return forCaller(waitFor);
    }

    /** A new entry for {@code id}, or the forgotten one whose fetch the issuer still answers, managed again. */
    private Entry entryFor(SpiffeId id) {
        Entry o = forgottenRunning.remove(id);
        if (o != null) {
            synchronized (o) {
                if (o.running && o.forgotten) {
                    // ztunnel's Fetch::Forgetting -> Fetch::Processing: what it answers is stored, and waited for anew
                    // (the waiters of before were told it was forgotten). Nothing else of the old entry is kept, as
                    // ztunnel's forget_certificate dropped its state.
                    o.forgotten = false;
                    o.svid = null;
                    o.error = null;
                    o.failures = 0;
                    o.failingSince = null;
                    o.retryAt = null;
                    o.fetch = new CompletableFuture<>();
                    return o;
                }
            }
        }
        return new Entry(id);
    }

    /** A caller's copy of a shared fetch (no caller can complete or cancel what others wait for), failing with the issuer's own error. */
    private static CompletableFuture<X509Svid> forCaller(CompletableFuture<X509Svid> shared) {
        CompletableFuture<X509Svid> out = new CompletableFuture<>();
        shared.whenComplete((svid, err) -> {
            if (err == null) {
                out.complete(svid);
            } else {
                out.completeExceptionally(unwrap(err));
            }
        });
        return out;
    }

    private static Throwable unwrap(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && (c instanceof CompletionException || c instanceof ExecutionException)) {
            c = c.getCause();
        }
        return c;
    }

    private CompletableFuture<X509Svid> issue(SpiffeId id) {
        CompletableFuture<X509Svid> f;
        try {
            f = Objects.requireNonNull(issuer.issue(id), "issuer returned null");
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        return f.thenApply(svid -> {
            if (!svid.getSpiffeId().equals(id)) {
                throw new IllegalStateException("issuer returned an SVID for " + svid.getSpiffeId() + " when asked for " + id);
            }
            if (!Svids.notAfter(svid).isAfter(clock.instant())) {
                throw new IllegalStateException("issuer returned an SVID for " + id + " that expired at " + Svids.notAfter(svid));
            }
            return svid;
        });
    }

    /** {@code svid} when it is still valid at {@code now}, else null (none, or expired: not presented). */
    private static X509Svid valid(X509Svid svid, Instant now) {
        return svid != null && now.isBefore(Svids.notAfter(svid)) ? svid : null;
    }

    private boolean due(X509Svid svid, Instant now) {
        return !now.isBefore(refreshAt(svid));
    }

    /** Whether a fetch may start now: nothing failed, or the failure's retry is due. */
    private static boolean mayFetch(Entry e, Instant now) {
        return e.retryAt == null || !now.isBefore(e.retryAt);
    }

    /** Whether the background (the check, a retry's timer) should fetch {@code e} now. Holds e's lock. */
    private boolean backgroundFetchDue(Entry e, Instant now) {
        if (e.fetch != null || !mayFetch(e, now)) {
            return false;
        }
        X509Svid held = valid(e.svid, now);
        // A held SVID past its refresh point; or a failed (Unavailable) or expired one, which ztunnel keeps managed
        // and retries (an entry with neither is a first fetch about to start).
        return held != null ? due(held, now) : e.error != null || e.svid != null;
    }

    /** When {@code svid} is due for re-issue. */
    public Instant refreshAt(X509Svid svid) {
        return Svids.lifetimePoint(svid, refreshFraction);
    }

    /**
     * Re-issues every held SVID past its refresh point, and retries every identity whose last fetch
     * failed and whose retry is due; the background check calls this. The future completes when
     * those fetches have finished, successfully or not.
     */
    public CompletableFuture<Void> refreshDue() {
        List<CompletableFuture<?>> started = new ArrayList<>();
        for (Entry e : entries.asMap().values()) {
            synchronized (e) {
                if (!closed && !e.forgotten && backgroundFetchDue(e, clock.instant())) {
                    started.add(start(e, Priority.BACKGROUND).handle((ok, err) -> null));
                }
            }
        }
        if (!started.isEmpty()) {
            fetches.pump();
        }
        return CompletableFuture.allOf(started.toArray(new CompletableFuture<?>[0]));
    }

    /**
     * Queues a fetch of {@code e} and makes it the entry's fetch, which every caller then shares;
     * {@link Fetches#pump} (called by the caller, outside the lock) starts it. Holds e's lock.
     *
     * @param priority whether a caller waits for it, a warm-up asked for it, or it is a refresh or a retry
     */
    private CompletableFuture<X509Svid> start(Entry e, Priority priority) {
        CompletableFuture<X509Svid> result = new CompletableFuture<>();
        e.fetch = result;
        cancelTimer(e);
        e.queued = fetches.add(e, result, priority);
        return result;
    }

    /** A fetch of {@code e} ended: ztunnel's Worker::run on a fetch result. Runs without e's lock held. */
    private void finished(Entry e, CompletableFuture<X509Svid> result, X509Svid fresh, Throwable err) {
        Throwable cause = err == null ? null : unwrap(err);
        boolean announce = false;
        CompletableFuture<X509Svid> adopted = null;
        synchronized (e) {
            e.running = false;
            forgottenRunning.remove(e.id, e);
            if (e.fetch == result) {
                e.fetch = null;
                e.queued = null;
            } else if (e.fetch != null && e.queued == null) {
                // Taken back after a forget while this fetch ran (entryFor): its new waiters share this future.
                adopted = e.fetch;
                e.fetch = null;
            }
            // A forgotten or evicted identity stores nothing and schedules nothing (no resurrection). One taken back
            // (adopted) is the map's, or about to be: entryFor runs inside the map's compute, before the entry is visible.
            boolean live = !closed && !e.forgotten && (adopted != null || entries.asMap().get(e.id) == e);
            Instant now = clock.instant();
            if (cause == null) {
                if (live) {
                    announce = e.svid != null || e.error != null;
                    e.svid = fresh;
                    e.error = null;
                    e.failures = 0;
                    e.failingSince = null;
                    e.retryAt = null;
                    cancelTimer(e);
                }
            } else if (live) {
                X509Svid held = valid(e.svid, now);
                if (e.failures++ == 0) {
                    e.failingSince = now; // ztunnel creates the identity's backoff at its first failure
                }
                Duration wait = retryDelay(e.failures, ThreadLocalRandom.current().nextDouble(), Duration.between(e.failingSince, now));
                Instant at = now.plus(wait);
                if (held != null && Svids.notAfter(held).isBefore(at)) {
                    // ztunnel: min(backoff, expiry), so the SVID is never left to lapse waiting for a retry.
                    at = Svids.notAfter(held);
                }
                e.error = cause;
                e.retryAt = at;
                nextAttemptNoted(cause, e.id, at, e.failures);
                schedule(e, at);
                if (held != null) {
                    log.warn("re-issuing {} failed ({}); current SVID keeps serving until {}, next attempt in {} (at {})",
                            e.id, message(cause), Svids.notAfter(held), seconds(Duration.between(now, at)), at);
                } else {
                    log.warn("fetching the certificate of {} failed ({}) and no valid one is held; next attempt in {} (at {}),"
                            + " backoff capped at {}", e.id, message(cause), seconds(Duration.between(now, at)), at, seconds(MAX_RETRY));
                }
            }
        }
        if (announce) {
            log.debug("issued {} (valid until {})", e.id, Svids.notAfter(fresh));
            listeners.svidRotated(fresh);
        }
        for (CompletableFuture<X509Svid> f : adopted == null ? List.of(result) : List.of(result, adopted)) {
            if (cause == null) {
                f.complete(fresh);
            } else {
                f.completeExceptionally(cause);
            }
        }
    }

    /**
     * The wait before attempt {@code failures + 1}, with {@code random} in [0, 1) and the identity failing for
     * {@code failingFor} (since its first failure in a row ended): the numbers of ztunnel's {@code ExponentialBackoff}
     * (src/identity/manager.rs {@code Worker::run}: {@code current_interval} 1 s, {@code multiplier} 2,
     * {@code max_interval} 150 s, {@code randomization_factor} 0.2, the crate's default {@code max_elapsed_time} of 15
     * minutes; backoff 0.4.0 src/exponential.rs {@code next_backoff}). The interval doubles from 1 s up to 150 s and is
     * randomized ±20 % after the cap, so a capped wait is 120 to 180 s. Once the identity has failed for over 15
     * minutes, or when this wait would take it past them, {@code next_backoff} gives {@code None} and ztunnel waits
     * exactly 150 s ({@code unwrap_or(CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL)}): identities that have failed that
     * long retry in step. Until 6 December zerohop kept the ±20 % past 15 minutes and capped every wait at 150 s.
     */
    static Duration retryDelay(int failures, double random, Duration failingFor) {
        if (failingFor.compareTo(MAX_ELAPSED) > 0) {
            return MAX_RETRY;
        }
        double interval = FIRST_RETRY.toMillis() * Math.pow(2, Math.min(failures - 1, 30));
        interval = Math.min(interval, MAX_RETRY.toMillis());
        Duration wait = Duration.ofMillis(Math.round(interval * (1 - JITTER + 2 * JITTER * random)));
        return failingFor.plus(wait).compareTo(MAX_ELAPSED) > 0 ? MAX_RETRY : wait;
    }

    /** Arms the background retry of {@code e} at {@code at} (with a scheduler); the check would otherwise find it up to checkInterval later. Holds e's lock. */
    private void schedule(Entry e, Instant at) {
        cancelTimer(e);
        if (scheduler == null) {
            return;
        }
        long nanos = Math.max(0, Duration.between(clock.instant(), at).toNanos());
        try {
            e.timer = scheduler.schedule(() -> retry(e), nanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException closing) {
            e.timer = null;
        }
    }

    private static void cancelTimer(Entry e) {
        if (e.timer != null) {
            e.timer.cancel(false);
            e.timer = null;
        }
    }

    /** A retry's timer fired: fetch in the background if still managed and due. */
    private void retry(Entry e) {
        synchronized (e) {
            e.timer = null;
            if (closed || e.forgotten || entries.asMap().get(e.id) != e) {
                return;
            }
            Instant now = clock.instant();
            if (backgroundFetchDue(e, now)) {
                start(e, Priority.BACKGROUND);
            } else if (e.fetch == null && e.retryAt != null && now.isBefore(e.retryAt)) {
                // The timer ran a little ahead of the clock it is judged by: once more at the due time.
                schedule(e, e.retryAt);
            }
        }
        fetches.pump();
    }

    /**
     * Says, on the stored error callers get, when the CA is asked next: a suppressed exception, so
     * the error keeps its type and message (an {@code IstioCaClient.CaException} and its status).
     * Noted once per error object: an issuer that fails every call with one shared instance keeps
     * the first note.
     */
    private static void nextAttemptNoted(Throwable error, SpiffeId id, Instant at, int failures) {
        for (Throwable s : error.getSuppressed()) {
            if (s instanceof NextAttempt) {
                return;
            }
        }
        error.addSuppressed(new NextAttempt("the CA is not asked for " + id + " again before " + at + " (" + failures
                + (failures == 1 ? " failure" : " failures in a row") + "; retries back off from " + seconds(FIRST_RETRY)
                + ", doubling, capped at " + seconds(MAX_RETRY) + " ±20 %)"));
    }

    /** The note {@link #nextAttemptNoted} adds; no stack trace (it is not where anything went wrong). */
    private static final class NextAttempt extends RuntimeException {
        private static final long serialVersionUID = 1L;

        NextAttempt(String message) {
            super(message, null, false, false);
        }
    }

    /** When the CA is next asked for {@code id} after its last fetch failed; empty when it did not fail (tests). */
    Optional<Instant> nextAttempt(SpiffeId id) {
        Entry e = entries.getIfPresent(id);
        if (e == null) {
            return Optional.empty();
        }
        synchronized (e) {
            return Optional.ofNullable(e.retryAt);
        }
    }

    private static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
    }

    private static String message(Throwable t) {
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    /**
     * ztunnel's {@code Priority} (src/identity/manager.rs), lowest first: a refresh or a retry, a warm-up
     * ({@link #prefetch}), a fetch a caller waits for ({@link #svid}).
     */
    private enum Priority { BACKGROUND, WARMUP, REAL_TIME }

    /**
     * ztunnel's bound on concurrent {@code fetch_certificate} calls ({@code concurrency}; {@code tokio::select!}
     * starts the next pending fetch only while {@code fetches.len() < concurrency}), taking the pending fetch of the
     * highest {@link Priority} first, the oldest first within one. Without it a node proxy starting with thousands of
     * pods, or retrying them all once istiod is back, had as many CSRs in flight at once.
     */
    private final class Fetches {
        final class Queued {
            final Entry entry;
            final CompletableFuture<X509Svid> result;
            Priority priority;

            Queued(Entry entry, CompletableFuture<X509Svid> result, Priority priority) {
                this.entry = entry;
                this.result = result;
                this.priority = priority;
            }
        }

        private final int max;
        /**
         * One queue per {@link Priority}, by its ordinal, oldest first. Insertion-ordered sets of {@link Queued} (identity
         * equality), so that moving one up ({@link #raise}) or dropping one ({@link #remove}) is not a scan of the queue:
         * at a node's start thousands of warm-ups wait, and each caller that moved one up scanned them under this lock
         * (ztunnel's KeyedPriorityQueue finds a key without a scan too).
         */
        private final List<java.util.LinkedHashSet<Queued>> queues =
                List.of(new java.util.LinkedHashSet<>(), new java.util.LinkedHashSet<>(), new java.util.LinkedHashSet<>());
        private int running;
        /** Set while this thread runs {@link #pump}: a fetch that completes at once calls pump again, which then returns. */
        private final ThreadLocal<Boolean> pumping = new ThreadLocal<>();

        Fetches(int max) {
            this.max = max;
        }

        synchronized Queued add(Entry e, CompletableFuture<X509Svid> result, Priority priority) {
            Queued q = new Queued(e, result, priority);
            queues.get(priority.ordinal()).add(q);
            return q;
        }

        /**
         * Someone of {@code priority} now waits for {@code q}: ztunnel raises a pending fetch's priority, never lowers it,
         * and queues it behind those already of that priority ({@code push_increase} with a new timestamp).
         */
        synchronized void raise(Queued q, Priority priority) {
            if (q != null && q.priority.compareTo(priority) < 0 && queues.get(q.priority.ordinal()).remove(q)) {
                q.priority = priority;
                queues.get(priority.ordinal()).add(q);
            }
        }

        /** Takes {@code q} out of the queue; false when it is not there (it started, or ended). */
        synchronized boolean remove(Queued q) {
            return queues.get(q.priority.ordinal()).remove(q);
        }

        /** Starts queued fetches while fewer than {@code max} run; never holds a lock while calling the issuer. */
        void pump() {
            if (pumping.get() != null) {
                return; // the pump further up this thread's stack goes on
            }
            pumping.set(Boolean.TRUE);
            try {
                while (true) {
                    Queued q;
                    synchronized (this) {
                        if (running >= max) {
                            return;
                        }
                        q = null;
                        for (int p = queues.size() - 1; p >= 0 && q == null; p--) {
                            java.util.Iterator<Queued> oldest = queues.get(p).iterator();
                            if (oldest.hasNext()) {
                                q = oldest.next();
                                oldest.remove();
                            }
                        }
                        if (q == null) {
                            return;
                        }
                        running++;
                    }
                    run(q);
                }
            } finally {
                pumping.remove();
            }
        }

        private void run(Queued q) {
            synchronized (q.entry) {
                if (q.entry.queued == q) {
                    q.entry.queued = null;
                }
                q.entry.running = true;
            }
            issue(q.entry.id).whenComplete((svid, err) -> {
                synchronized (this) {
                    running--;
                }
                finished(q.entry, q.result, svid, err);
                pump();
            });
        }

        /** The fetches that never started, removed (close). */
        synchronized List<Queued> drain() {
            List<Queued> all = new ArrayList<>();
            for (java.util.LinkedHashSet<Queued> q : queues) {
                all.addAll(q);
                q.clear();
            }
            return all;
        }
    }

    /**
     * Drops a workload's identity that left the node, as ztunnel's {@code forget_certificate}: the
     * background check no longer re-issues or retries it; a fetch still queued is never sent; those
     * waiting for a fetch, queued or running, fail at once: "no longer needed" (ztunnel's
     * {@code Error::Forgotten}); a running one stores nothing, unless the identity is asked for again
     * before it ends, which then waits for that fetch rather than send another CSR (ztunnel's
     * {@code Fetch::Forgetting}); listeners hear {@link IdentityListener#svidForgotten}; a later request
     * issues a new one, its failures counted afresh.
     */
    @Override
    public void forget(SpiffeId id) {
        Entry[] forgotten = new Entry[1];
        Fetches.Queued[] unsent = new Fetches.Queued[1];
        List<CompletableFuture<X509Svid>> waiting = new ArrayList<>(1);
        // One step under the map's lock for this key (a lookup's entries.get waits for it): the entry leaves the map and a
        // fetch of it at the issuer is registered for take-back together, as ztunnel's worker handles a Forget and a Fetch
        // of one identity one after the other (Worker::run). Done in two steps, a lookup in between found neither and
        // sent a second CSR (anIdentityAskedForAgainAsItIsForgottenSendsNoSecondCsr).
        entries.asMap().computeIfPresent(id, (k, e) -> {
            synchronized (e) {
                forgotten[0] = e;
                e.forgotten = true;
                cancelTimer(e);
                if (e.queued != null && fetches.remove(e.queued)) {
                    // Still waiting for its turn: dropped, no CSR sent (ztunnel's Request::Forget takes it out of pending).
                    unsent[0] = e.queued;
                } else if (e.fetch != null) {
                    // At the issuer, or taken off the queue by a pump about to send it (run() may not have marked it
                    // yet): ztunnel's Fetch::Forgetting, kept should the identity be asked for again before it ends.
                    e.running = true;
                    waiting.add(e.fetch);
                    e.fetch = null;
                    forgottenRunning.put(k, e);
                }
            }
            return null;
        });
        Entry e = forgotten[0];
        if (e == null) {
            return;
        }
        if (unsent[0] != null) {
            // Its waiters get ztunnel's Error::Forgotten ("the identity is no longer needed").
            finished(e, unsent[0].result, null, new IllegalStateException("the identity " + id
                    + " is no longer needed: it was forgotten before its certificate was fetched"));
        }
        for (CompletableFuture<X509Svid> w : waiting) {
            // ztunnel's waiters get Error::Forgotten at once, their watch channel's sender dropped with the identity's
            // state (SecretManager::wait; test_forget_pending), while the fetch goes on.
            w.completeExceptionally(new IllegalStateException("the identity " + id
                    + " is no longer needed: it was forgotten while its certificate was being fetched"));
        }
        listeners.svidForgotten(id);
    }

    /** The identities whose SVIDs are held now (valid; not those whose fetch failed or is still under way). */
    public Set<SpiffeId> identities() {
        entries.cleanUp();
        Instant now = clock.instant();
        Set<SpiffeId> held = new HashSet<>();
        for (Entry e : entries.asMap().values()) {
            synchronized (e) {
                if (valid(e.svid, now) != null) {
                    held.add(e.id);
                }
            }
        }
        return Set.copyOf(held);
    }

    @Override
    public X509BundleSet bundles() {
        return bundles;
    }

    /** Replaces the trust bundles (a root was rotated at the CA) and tells listeners. */
    public void updateBundles(X509BundleSet set) {
        this.bundles = Objects.requireNonNull(set, "bundles");
        listeners.bundlesChanged(set);
    }

    @Override
    public void addListener(IdentityListener listener) {
        listeners.add(listener);
    }

    @Override
    public void removeListener(IdentityListener listener) {
        listeners.remove(listener);
    }

    @Override
    public void close() {
        closed = true;
        if (scheduler != null) {
            scheduler.shutdownNow();
        }
        // A fetch that never got a slot never will: its callers hear so rather than wait for good.
        for (Fetches.Queued q : fetches.drain()) {
            finished(q.entry, q.result, null, new IllegalStateException("certificate manager is closed"));
        }
        listeners.clear();
    }

    public static final class Builder {
        private CertificateIssuer issuer;
        private X509BundleSet bundles;
        private long maximumSize = 10_000;
        private double refreshFraction = 0.5;
        private Duration checkInterval = Duration.ofSeconds(10);
        private Clock clock = Clock.systemUTC();
        private int maxConcurrentFetches = DEFAULT_CONCURRENT_FETCHES;

        private Builder() {}

        /** Where SVIDs come from: an {@code IstioCaClient} (mesh-identity-istio), {@link CertificateIssuer#of(InMemoryCa)}, or any function. */
        public Builder issuer(CertificateIssuer issuer) {
            this.issuer = Objects.requireNonNull(issuer, "issuer");
            return this;
        }

        /** The trust bundles to serve (e.g. the CA's roots); replace later with {@link #updateBundles}. */
        public Builder trustBundles(X509BundleSet bundles) {
            this.bundles = Objects.requireNonNull(bundles, "trustBundles");
            return this;
        }

        public Builder trustBundle(X509Bundle bundle) {
            return trustBundles(X509BundleSet.of(List.of(Objects.requireNonNull(bundle, "trustBundle"))));
        }

        /** At most this many identities are held (default 10 000); the least useful are dropped first. */
        public Builder maximumSize(long max) {
            if (max < 1) {
                throw new IllegalArgumentException("maximumSize must be at least 1, got " + max);
            }
            this.maximumSize = max;
            return this;
        }

        /** How far through its lifetime an SVID is re-issued: 0.5 (ztunnel's choice) by default. */
        public Builder refreshFraction(double fraction) {
            if (!(fraction > 0 && fraction < 1)) {
                throw new IllegalArgumentException("refreshFraction must be between 0 and 1 (exclusive), got " + fraction);
            }
            this.refreshFraction = fraction;
            return this;
        }

        /**
         * How often held SVIDs are checked for refresh (default 10 s). With a check, a failed fetch
         * is also retried in the background when its backoff ends (1 s, doubling, ±20 %, capped at
         * 150 s ±20 %; exactly 150 s after 15 minutes of failures). {@code null} turns the background check and those retries off: call
         * {@link CertificateManager#refreshDue()} yourself, or the first {@link CertificateManager#svid}
         * after a failure's backoff asks again.
         */
        public Builder checkInterval(Duration interval) {
            if (interval != null && (interval.isNegative() || interval.isZero())) {
                throw new IllegalArgumentException("checkInterval must be positive (or null for none), got " + interval);
            }
            this.checkInterval = interval;
            return this;
        }

        /** The clock refresh points and expiry are judged by (a test clock, for instance). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * At most this many requests to the issuer at once (default 8, ztunnel's); the others wait
         * their turn, a caller's first fetch ahead of prefetches, and those ahead of refreshes and retries. An issuer whose futures
         * never complete would hold its slots for good: give it a deadline (IstioCaClient's
         * {@code callTimeout}).
         */
        public Builder maxConcurrentFetches(int max) {
            if (max < 1) {
                throw new IllegalArgumentException("maxConcurrentFetches must be at least 1, got " + max);
            }
            this.maxConcurrentFetches = max;
            return this;
        }

        public CertificateManager build() {
            List<String> missing = new ArrayList<>();
            if (issuer == null) {
                missing.add("issuer(...)");
            }
            if (bundles == null) {
                missing.add("trustBundles(...)");
            }
            if (!missing.isEmpty()) {
                throw new IllegalStateException("CertificateManager needs " + String.join(" and ", missing));
            }
            return new CertificateManager(this);
        }
    }
}
