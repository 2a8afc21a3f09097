package io.zerohop.identity;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.Ticker;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.internal.QuietLoads;
import io.zerohop.identity.internal.ListenerSet;
import io.zerohop.identity.internal.Svids;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Node mode: SVIDs for many workload identities, as ztunnel holds them. Each identity is issued
 * on first use by a {@link CertificateIssuer} (the Istio CA, the in-memory CA), kept in a bounded
 * Caffeine cache, and re-issued ahead of expiry (by default half-way through its lifetime).
 *
 * <ul>
 *   <li>Concurrent first requests for one identity share one issuance; so do refreshes.
 *   <li>A failed refresh keeps the current SVID serving (it is retried at the next check) until
 *       the SVID expires; only then do requests fail. Established connections are never touched.
 *   <li>A successful refresh fires {@link IdentityListener#svidRotated} after the new SVID is in
 *       place, so a listener that asks {@link #svid} again gets the new one.
 * </ul>
 *
 * <p>Refresh runs from a background check (every {@link Builder#checkInterval}) and also starts
 * when an SVID past its refresh point is asked for. The issuer is not closed by {@link #close()}.
 */
public final class CertificateManager implements IdentityProvider {
    private static final Logger log = LoggerFactory.getLogger(CertificateManager.class);

    private final CertificateIssuer issuer;
    private final Clock clock;
    private final double refreshFraction;
    private final AsyncCache<SpiffeId, X509Svid> cache;
    private final Map<SpiffeId, CompletableFuture<X509Svid>> refreshing = new ConcurrentHashMap<>();
    private final ListenerSet listeners = new ListenerSet();
    private final ScheduledExecutorService scheduler;
    private volatile X509BundleSet bundles;
    private volatile boolean closed;

    private CertificateManager(Builder b) {
        this.issuer = b.issuer;
        this.clock = b.clock;
        this.refreshFraction = b.refreshFraction;
        this.bundles = b.bundles;
        Caffeine<Object, Object> c = Caffeine.newBuilder()
                .maximumSize(b.maximumSize)
                // maintenance (eviction) on the caller: cheap, and keeps size checks deterministic
                .executor(Runnable::run);
        if (b.clockSet) {
            c.ticker(clockTicker(clock));
        }
        this.cache = c.expireAfter(new Expiry<SpiffeId, X509Svid>() {
                    @Override
                    public long expireAfterCreate(SpiffeId key, X509Svid svid, long currentTime) {
                        return untilExpiry(svid);
                    }

                    @Override
                    public long expireAfterUpdate(SpiffeId key, X509Svid svid, long currentTime, long currentDuration) {
                        return untilExpiry(svid);
                    }

                    @Override
                    public long expireAfterRead(SpiffeId key, X509Svid svid, long currentTime, long currentDuration) {
                        return currentDuration;
                    }
                })
                .buildAsync();
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

    private static Ticker clockTicker(Clock clock) {
        return () -> TimeUnit.MILLISECONDS.toNanos(clock.millis());
    }

    private long untilExpiry(X509Svid svid) {
        long ms = svid.getLeaf().getNotAfter().getTime() - clock.millis();
        return TimeUnit.MILLISECONDS.toNanos(Math.max(0, ms));
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
     */
    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        Objects.requireNonNull(id, "id");
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("certificate manager is closed"));
        }
        CompletableFuture<X509Svid> f = cache.get(id, (key, executor) -> QuietLoads.quiet(issue(key)));
        X509Svid now = held(f);
        if (now != null && due(now)) {
            refresh(id);
        }
        // Callers get the issuer's own error; the cache's future, which Caffeine would log, fails quietly.
        return QuietLoads.unwrapped(f);
    }

    /** The SVID a cache future holds, or null while it is loading or when it failed. */
    private static X509Svid held(CompletableFuture<X509Svid> f) {
        return f != null && f.isDone() && !f.isCompletedExceptionally() ? f.join() : null;
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

    private boolean due(X509Svid svid) {
        return !clock.instant().isBefore(refreshAt(svid));
    }

    /** When {@code svid} is due for re-issue. */
    public Instant refreshAt(X509Svid svid) {
        return Svids.lifetimePoint(svid, refreshFraction);
    }

    /**
     * Re-issues every held SVID past its refresh point; the background check calls this. The
     * future completes when those re-issues have finished, successfully or not.
     */
    public CompletableFuture<Void> refreshDue() {
        List<CompletableFuture<?>> started = new ArrayList<>();
        for (Map.Entry<SpiffeId, CompletableFuture<X509Svid>> e : cache.asMap().entrySet()) {
            X509Svid svid = held(e.getValue());
            if (svid != null && due(svid)) {
                started.add(refresh(e.getKey()).handle((ok, err) -> null));
            }
        }
        return CompletableFuture.allOf(started.toArray(new CompletableFuture<?>[0]));
    }

    /** Starts (or joins) a re-issue of {@code id}; the current SVID keeps serving meanwhile and if it fails. */
    private CompletableFuture<X509Svid> refresh(SpiffeId id) {
        CompletableFuture<X509Svid> mine = new CompletableFuture<>();
        CompletableFuture<X509Svid> running = refreshing.putIfAbsent(id, mine);
        if (running != null) {
            return running;
        }
        issue(id).whenComplete((fresh, err) -> {
            try {
                if (err != null) {
                    X509Svid held = held(cache.getIfPresent(id));
                    log.warn("re-issuing {} failed ({}); {}", id, rootMessage(err), held == null
                            ? "nothing held for it any more"
                            : "current SVID keeps serving until " + Svids.notAfter(held) + ", retrying at the next check");
                    return;
                }
                if (install(id, fresh)) {
                    log.debug("re-issued {} (valid until {})", id, Svids.notAfter(fresh));
                    listeners.svidRotated(fresh);
                }
            } finally {
                refreshing.remove(id, mine);
                if (err != null) {
                    mine.completeExceptionally(err);
                } else {
                    mine.complete(fresh);
                }
            }
        });
        return mine;
    }

    /** Replaces the held SVID, unless the identity was forgotten or evicted meanwhile (no resurrection). */
    private boolean install(SpiffeId id, X509Svid fresh) {
        while (true) {
            CompletableFuture<X509Svid> current = cache.asMap().get(id);
            if (current == null || closed) {
                return false;
            }
            if (cache.asMap().replace(id, current, CompletableFuture.completedFuture(fresh))) {
                return true;
            }
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && (c instanceof java.util.concurrent.CompletionException
                || c instanceof java.util.concurrent.ExecutionException)) {
            c = c.getCause();
        }
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }

    /**
     * Drops the SVID of a workload that left the node: the background check no longer re-issues it
     * (a re-issue already running is not installed), listeners hear {@link IdentityListener#svidForgotten};
     * a later request issues a new one.
     */
    @Override
    public void forget(SpiffeId id) {
        if (cache.asMap().remove(id) != null) {
            listeners.svidForgotten(id);
        }
    }

    /** The identities whose SVIDs are held now. */
    public Set<SpiffeId> identities() {
        cache.synchronous().cleanUp();
        return Set.copyOf(cache.asMap().keySet());
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
        listeners.clear();
    }

    public static final class Builder {
        private CertificateIssuer issuer;
        private X509BundleSet bundles;
        private long maximumSize = 10_000;
        private double refreshFraction = 0.5;
        private Duration checkInterval = Duration.ofSeconds(10);
        private Clock clock = Clock.systemUTC();
        private boolean clockSet;

        private Builder() {}

        /** Where SVIDs come from: an {@link IstioCaClient}, {@link CertificateIssuer#of(InMemoryCa)}, or any function. */
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
         * How often held SVIDs are checked for refresh (default 10 s); also the retry interval
         * while the CA is down. {@code null} turns the background check off (call
         * {@link CertificateManager#refreshDue()} yourself).
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
            this.clockSet = true;
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
