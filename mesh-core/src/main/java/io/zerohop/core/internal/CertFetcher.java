package io.zerohop.core.internal;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.core.Workload;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's certificate fetcher in shared (node) mode (istio/ztunnel src/cert_fetcher.rs, src/xds.rs):
 * a local HBONE workload's SVID is fetched when the workload appears, before its first connection
 * needs it, and once the last local workload with an identity is gone that SVID is forgotten, so a
 * node-mode provider stops re-issuing certificates (CSRs to the CA) for identities that left the node.
 * It asks with {@link IdentityProvider#prefetch}, ztunnel's {@code Priority::Warmup}: a {@code CertificateManager}
 * runs these fetches behind any a connection waits for, so a node starting with many pods does not make the first
 * connection of one wait for the warm-up of all the others (it did until 6 December: each was a caller's fetch).
 *
 * <p>A fetch that fails is retried until it succeeds or the identity leaves, on ztunnel's backoff
 * (src/identity/manager.rs: 1 s, doubling, ±20 %, at most 150 s), as ztunnel's warm-up fetches stay
 * managed by its {@code SecretManager} and are retried there. Here the retry is the fetcher's own, so
 * that it holds for any provider; a provider that backs off too ({@code CertificateManager}) answers a
 * retry that comes early with its stored error, no request to the CA, and its
 * {@link IdentityListener#svidRotated} on recovering makes the fetcher ask at once. Before, a
 * certificate whose fetch failed at start was never asked for again, and readiness waited for it
 * for good.
 *
 * <p>{@link #warmUp} fetches the identities the mesh serves at start, and its readiness task
 * ({@code identity}) completes once each of them has been fetched or no local workload has it any
 * more. ztunnel's readiness does not wait for workload certificates at all (src/app.rs registers
 * only its proxy, DNS and state manager tasks): zerohop's does, because its readiness is its promise
 * that the served workloads' first connections will not fail for want of a certificate
 * ({@code Mesh.ready()}, the proxy's ready line and its {@code not ready, pending: identity} hint
 * for a provider that cannot issue one); with the retries, a CA that was down at start no longer
 * leaves the mesh unready once it is back.
 *
 * <p>It follows the registry by its snapshot ({@code all()}, compared by reference) at each
 * {@link #check()}, which the mesh runs every second: a workload installed by a Kubernetes burst or a
 * file reload is fetched within about a second. The mesh's own identity is never forgotten. The check
 * runs only with node-mode providers (no default identity: the in-memory CA, the Istio CA): a
 * single-workload provider holds one identity and refuses others, as ztunnel's dedicated mode fetches
 * nothing; the warm-up and its retries run with every provider. Runs on one event loop;
 * {@link IdentityProvider#svid} and {@link IdentityProvider#forget} do not block.
 */
final class CertFetcher {
    private static final Logger log = LoggerFactory.getLogger(CertFetcher.class);
    /** The warm-up's lines are the mesh's (its readiness), as they were before the fetcher retried them. */
    private static final Logger meshLog = LoggerFactory.getLogger("io.zerohop.core.Mesh");

    /** ztunnel's first retry interval (src/identity/manager.rs, ExponentialBackoff current_interval). */
    static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    /** ztunnel's CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL. */
    static final Duration MAX_RETRY = Duration.ofSeconds(150);
    private static final double JITTER = 0.2;

    private final LocalWorkloads local;
    private final IdentityProvider provider;
    private final SpiffeId own;
    private final EventExecutor loop;
    private final Set<SpiffeId> started;
    private final Function<SpiffeId, String> whyServed;
    private List<Workload> seen;
    private Set<SpiffeId> held;
    /** The start identities readiness still waits for. Loop-confined, as every field below. */
    private final Set<SpiffeId> awaited = new HashSet<>();
    private Runnable ready;
    /** Identities whose last fetch failed, with their backoff. */
    private final Map<SpiffeId, Retry> retrying = new HashMap<>();
    /** Identities with a fetch under way: one at a time, whatever asked for it (start, check, timer, recovery). */
    private final Set<SpiffeId> inFlight = new HashSet<>();
    private volatile boolean closed;

    private static final class Retry {
        int failures;
        ScheduledFuture<?> timer;
    }

    /** A provider that recovered an identity on its own (a CertificateManager's background retry): ask now. */
    private final IdentityListener recovered = new IdentityListener() {
        @Override
        public void svidRotated(X509Svid svid) {
            SpiffeId id = svid.getSpiffeId();
            onLoop(() -> {
                Retry r = retrying.get(id);
                if (r != null && !inFlight.contains(id)) {
                    cancel(r);
                    fetch(id);
                }
            });
        }
    };

    /**
     * @param started the identities the mesh serves at start ({@link #warmUp} fetches them)
     * @param loop the event loop everything here runs on, {@link #check} included
     * @param whyServed what the start-up WARN adds about an identity a single-workload provider cannot give
     */
    CertFetcher(LocalWorkloads local, IdentityProvider provider, SpiffeId own, Set<SpiffeId> started, EventExecutor loop,
                Function<SpiffeId, String> whyServed) {
        this.local = local;
        this.provider = provider;
        this.own = own;
        this.loop = loop;
        this.whyServed = whyServed;
        this.seen = local.registry().all();
        this.started = Set.copyOf(started);
        this.held = this.started;
        provider.addListener(recovered);
    }

    /**
     * Fetches the start identities; {@code ready} runs once each has been fetched, retried as long
     * as it takes, or is no longer served (its last local workload left).
     */
    void warmUp(Runnable ready) {
        // The state on the loop, where it lives; the requests at once, on the caller's thread, as the mesh's start
        // has always made them (a provider is asked before start() returns). Each answer is handled on the loop,
        // after this task (the loop runs tasks in order).
        onLoop(() -> {
            this.ready = ready;
            awaited.addAll(started);
            inFlight.addAll(started);
        });
        for (SpiffeId id : started) {
            try {
                provider.prefetch(id).whenComplete((svid, e) -> onLoop(() -> fetched(id, e)));
            } catch (RuntimeException e) {
                onLoop(() -> fetched(id, e));
            }
        }
    }

    /** Fetches the new local identities' SVIDs and forgets those no local workload has any more. */
    void check() {
        List<Workload> all = local.registry().all();
        if (all == seen) {
            return;
        }
        seen = all;
        Set<SpiffeId> now = local.servedIdentities(own);
        Set<SpiffeId> before = held;
        held = now;
        for (SpiffeId id : now) {
            if (!before.contains(id)) {
                fetch(id);
            }
        }
        Set<SpiffeId> gone = new HashSet<>(before);
        gone.removeAll(now);
        for (SpiffeId id : gone) {
            log.debug("no local workload has {} any more: forgetting its certificate", id);
            provider.forget(id);
            stopWaitingFor(id);
        }
    }

    /** The local identities as of the last {@link #check} (the registry's last change). */
    Set<SpiffeId> held() {
        return held;
    }

    /** The mesh is stopping: no more fetches, and the provider (which may outlive the mesh) no longer calls here. */
    void close() {
        closed = true;
        provider.removeListener(recovered);
        onLoop(() -> {
            for (Retry r : retrying.values()) {
                cancel(r);
            }
            retrying.clear();
        });
    }

    private void fetch(SpiffeId id) {
        if (closed || !inFlight.add(id)) {
            return;
        }
        try {
            provider.prefetch(id).whenComplete((svid, e) -> onLoop(() -> fetched(id, e)));
        } catch (RuntimeException e) {
            fetched(id, e);
        }
    }

    private void fetched(SpiffeId id, Throwable e) {
        inFlight.remove(id);
        if (closed) {
            return;
        }
        if (!held.contains(id)) {
            stopWaitingFor(id); // it left the node while the fetch ran
            return;
        }
        boolean awaitedAtStart = awaited.contains(id);
        if (e == null) {
            Retry r = retrying.remove(id);
            if (r != null) {
                cancel(r);
                (awaitedAtStart ? meshLog : log).info("{} {} after {}", awaitedAtStart ? "identity" : "fetched the certificate of", id,
                        r.failures == 1 ? "1 failed attempt" : r.failures + " failed attempts");
            }
            if (awaited.remove(id) && awaited.isEmpty() && ready != null) {
                ready.run();
            }
            return;
        }
        Retry r = retrying.computeIfAbsent(id, k -> new Retry());
        r.failures++;
        Duration wait = retryDelay(r.failures, ThreadLocalRandom.current().nextDouble());
        cancel(r);
        try {
            r.timer = loop.schedule(() -> {
                r.timer = null;
                if (retrying.get(id) == r && held.contains(id)) {
                    fetch(id);
                }
            }, wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException stopping) {
            return;
        }
        String why = rootMessage(e);
        String next = "asking again in " + seconds(wait) + " (backing off to at most " + seconds(MAX_RETRY) + ")";
        if (r.failures > 1) {
            log.debug("certificate of {} still unavailable after {} attempts: {}; {}", id, r.failures, why, next);
        } else if (awaitedAtStart) {
            meshLog.warn("identity {} not ready: {}{}; {}", id, why, whyServed.apply(id), next);
        } else {
            // ztunnel: "unable to prefetch cert for {id}, skipping"; its SecretManager retries it, as this does.
            log.warn("unable to prefetch the certificate of {}: {}; {}", id, why, next);
        }
    }

    /** {@code id} is no longer served: no retry, and readiness no longer waits for it. */
    private void stopWaitingFor(SpiffeId id) {
        Retry r = retrying.remove(id);
        if (r != null) {
            cancel(r);
        }
        if (awaited.remove(id)) {
            meshLog.info("identity {}: no local workload has it any more, readiness no longer waits for its certificate", id);
            if (awaited.isEmpty() && ready != null) {
                ready.run();
            }
        }
    }

    private static void cancel(Retry r) {
        if (r.timer != null) {
            r.timer.cancel(false);
            r.timer = null;
        }
    }

    private void onLoop(Runnable task) {
        try {
            loop.execute(task);
        } catch (RejectedExecutionException stopped) {
            // the mesh's loops are gone: nothing more to fetch
        }
    }

    /** The wait before attempt {@code failures + 1}, as {@code CertificateManager.retryDelay}: ztunnel's backoff, at most 150 s. */
    static Duration retryDelay(int failures, double random) {
        double interval = Math.min(FIRST_RETRY.toMillis() * Math.pow(2, Math.min(failures - 1, 30)), MAX_RETRY.toMillis());
        double jittered = interval * (1 - JITTER + 2 * JITTER * random);
        return Duration.ofMillis(Math.round(Math.min(jittered, MAX_RETRY.toMillis())));
    }

    private static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
    }

    private static String rootMessage(Throwable e) {
        Throwable c = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }
}
