package io.zerohop.identity.spire;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.exception.SocketEndpointAddressException;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.workloadapi.Address;
import io.spiffe.workloadapi.DefaultWorkloadApiClient;
import io.spiffe.workloadapi.Watcher;
import io.spiffe.workloadapi.WorkloadApiClient;
import io.spiffe.workloadapi.X509Context;
import io.spiffe.workloadapi.retry.ExponentialBackoffPolicy;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.internal.ListenerSet;
import io.zerohop.identity.internal.Svids;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SPIRE agent's Workload API (any SPIFFE Workload API server) over its Unix socket, through
 * java-spiffe's {@link WorkloadApiClient}: the X.509 context stream delivers SVIDs and bundles as
 * the agent rotates them, and each change becomes an {@link IdentityListener} event.
 *
 * <p>A workload may be given several SVIDs; all of them are served, and the default identity is
 * the first one (the Workload API's default) unless {@link Builder#spiffeId} picks another.
 * Reconnection after the agent restarts is java-spiffe's (exponential back-off); until a new
 * context arrives the last one keeps serving.
 *
 * <p>Each failed attempt (no agent behind the socket, the agent refusing the workload, the stream
 * dropped) is one WARN line naming the address, the cause and the delay before the next attempt,
 * as ztunnel reports a failed certificate fetch (src/identity/manager.rs: "certificate fetch failed
 * (...) and no valid existing certificate; will retry in ... (backoff capped at ...)"); the stack
 * trace only at DEBUG. java-spiffe's own per-attempt SEVERE records with stack traces are taken
 * over ({@link JulRetryLog}). The attempts never stop: java-spiffe's default back-off (1 s,
 * doubling, capped at 60 s, unlimited attempts) is passed to it explicitly so that the delays
 * logged are the ones in force.
 */
public final class SpireIdentityProvider implements IdentityProvider {
    private static final Logger log = LoggerFactory.getLogger(SpireIdentityProvider.class);

    private record State(Map<SpiffeId, X509Svid> svids, SpiffeId defaultId, X509BundleSet bundles) {}

    /** java-spiffe's {@code ExponentialBackoffPolicy.DEFAULT}, named so that the logged delays are the ones in force. */
    static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    static final Duration MAX_RETRY = Duration.ofSeconds(60);
    private static final ExponentialBackoffPolicy BACKOFF = ExponentialBackoffPolicy.builder().initialDelay(FIRST_RETRY)
            .maxDelay(MAX_RETRY).maxRetries(ExponentialBackoffPolicy.UNLIMITED_RETRIES).backoffMultiplier(2).build();

    private final String address;
    private final SpiffeId wanted;
    private final WorkloadApiClient client;
    private final ListenerSet listeners = new ListenerSet();
    private final CompletableFuture<SpireIdentityProvider> ready = new CompletableFuture<>();
    private volatile State state;
    private volatile boolean closed;
    /** Failed attempts since the last context, as java-spiffe's RetryHandler counts them (reset on each update). */
    private int failures;

    private SpireIdentityProvider(String address, SpiffeId wanted, WorkloadApiClient client) {
        this.address = address;
        this.wanted = wanted;
        this.client = client;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The Workload API address in use, e.g. {@code unix:/run/spire/sockets/agent.sock}. */
    public String address() {
        return address;
    }

    private void start() {
        client.watchX509Context(new Watcher<>() {
            @Override
            public void onUpdate(X509Context context) {
                update(context);
            }

            @Override
            public void onError(Throwable error) {
                // java-spiffe only gets here once it gives up (INVALID_ARGUMENT, retries exhausted) or
                // for an update it could not parse; either way the last good context keeps serving.
                String why = describe(error);
                if (ready.completeExceptionally(new IllegalStateException(
                        "Workload API at " + address + " gave no X.509 context: " + why, error))) {
                    return;
                }
                if (!closed) {
                    log.warn("Workload API at {}: {}; still serving the last SVIDs {}", address, why, state.svids().keySet());
                }
            }
        });
    }

    /**
     * One of java-spiffe's log records from this provider's threads: a failed attempt (SEVERE with
     * the gRPC error) becomes one WARN line; the rest (its "retrying", "stream completed", "client
     * is closed") go to DEBUG.
     */
    private void julRecord(java.util.logging.LogRecord r) {
        if (!JulRetryLog.isFailure(r)) {
            log.debug("java-spiffe: {}", r.getMessage());
            return;
        }
        Throwable t = r.getThrown();
        String cause = describeFailure(t);
        if (closed) {
            log.debug("Workload API at {}: {} (closed)", address, cause);
            return;
        }
        if (cause.startsWith("INVALID_ARGUMENT")) {
            // Not retried by java-spiffe (StreamObservers.isErrorNotRetryable): onError reports it.
            log.debug("Workload API at {}: {}", address, cause, t);
            return;
        }
        int n;
        synchronized (this) {
            n = ++failures;
        }
        // RetryHandler.scheduleRetry: the first retry waits the initial delay, each next one twice the last, capped.
        long seconds = Math.min(FIRST_RETRY.toSeconds() << Math.min(n - 1, 30), MAX_RETRY.toSeconds());
        State s = state;
        String serving = s == null ? "no SVID yet" : "still serving the last SVIDs " + s.svids().keySet();
        log.warn("Workload API at {}: {} (attempt {}); {}; retrying in {}s (back-off doubling up to {}s)",
                address, cause, n, serving, seconds, MAX_RETRY.toSeconds());
        if (log.isDebugEnabled()) {
            log.debug("Workload API at " + address + ": attempt " + n + " failed", t);
        }
    }

    /**
     * A gRPC failure on one line: the status ({@code UNAVAILABLE: io exception}) and what the
     * socket said, e.g. {@code no such file} (Netty's native connect maps ENOENT to a
     * FileNotFoundException without a message) or {@code Connection refused}.
     */
    static String describeFailure(Throwable t) {
        String top = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root == t) {
            return top;
        }
        String why = root.getMessage();
        if (why == null) {
            why = root instanceof java.io.FileNotFoundException ? "no such file" : root.getClass().getSimpleName();
        }
        why = why.replaceFirst("^\\w+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: ", "");
        return top.endsWith(why) ? top : top + ": " + why;
    }

    /** Failed attempts since the last context (for tests: the count the WARN lines show). */
    synchronized int failedAttempts() {
        return failures;
    }

    private static String describe(Throwable error) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (sb.length() > 0) {
                sb.append(": ");
            }
            sb.append(t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName());
        }
        return sb.toString();
    }

    private synchronized void update(X509Context context) {
        failures = 0;
        Map<SpiffeId, X509Svid> svids = new LinkedHashMap<>();
        for (X509Svid svid : context.getX509Svids()) {
            try {
                // java-spiffe does not check that key and certificate belong together
                Svids.requireKeyMatches(svid.getPrivateKey(), svid.getLeaf());
            } catch (GeneralSecurityException e) {
                log.warn("Workload API at {} sent an SVID for {} whose key does not match its certificate ({}); ignoring this update",
                        address, svid.getSpiffeId(), e.getMessage());
                return;
            }
            svids.putIfAbsent(svid.getSpiffeId(), svid);
        }
        SpiffeId defaultId = wanted != null ? wanted : context.getDefaultSvid().getSpiffeId();
        if (!svids.containsKey(defaultId)) {
            String msg = "Workload API at " + address + " offers " + svids.keySet() + " but not " + defaultId;
            if (!ready.completeExceptionally(new IllegalStateException(msg))) {
                log.warn("{}; ignoring this update", msg);
            }
            return;
        }
        State old = state;
        State fresh = new State(Map.copyOf(svids), defaultId, context.getX509BundleSet());
        state = fresh;
        if (old == null) {
            log.info("Workload API at {} serves {} (trust domains {})", address, svids.keySet(), fresh.bundles().getBundles().keySet());
            ready.complete(this);
            return;
        }
        if (!old.bundles().equals(fresh.bundles())) {
            listeners.bundlesChanged(fresh.bundles());
        }
        for (X509Svid svid : fresh.svids().values()) {
            if (!Svids.sameChain(old.svids().get(svid.getSpiffeId()), svid)) {
                log.debug("Workload API at {} rotated {} (valid until {})", address, svid.getSpiffeId(),
                        svid.getLeaf().getNotAfter().toInstant());
                listeners.svidRotated(svid);
            }
        }
    }

    @Override
    public Optional<SpiffeId> defaultIdentity() {
        return Optional.of(state.defaultId());
    }

    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        State s = state;
        X509Svid svid = s.svids().get(id);
        if (svid == null) {
            return CompletableFuture.failedFuture(new IllegalArgumentException(
                    "no SVID for " + id + ": the Workload API at " + address + " gives this workload only " + s.svids().keySet()));
        }
        return CompletableFuture.completedFuture(svid);
    }

    @Override
    public X509BundleSet bundles() {
        return state.bundles();
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
        listeners.clear();
        try {
            JulRetryLog.on(this::julRecord, () -> {
                try {
                    client.close();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } catch (RuntimeException e) {
            log.debug("closing the Workload API client: {}", e.toString());
        }
    }

    public static final class Builder {
        private String address;
        private SpiffeId spiffeId;
        private Duration initialTimeout = Duration.ofSeconds(30);

        private Builder() {}

        /**
         * The Workload API address ({@code unix:/path/to/agent.sock} or {@code tcp://ip:port});
         * defaults to the {@code SPIFFE_ENDPOINT_SOCKET} environment variable.
         */
        public Builder address(String address) {
            Objects.requireNonNull(address, "address");
            try {
                Address.parseAddress(address);
            } catch (SocketEndpointAddressException e) {
                throw new IllegalArgumentException("invalid Workload API address \"" + address + "\": " + e.getMessage(), e);
            }
            this.address = address;
            return this;
        }

        /** Which of several SVIDs is the default identity; the Workload API's default otherwise. */
        public Builder spiffeId(SpiffeId id) {
            this.spiffeId = Objects.requireNonNull(id, "spiffeId");
            return this;
        }

        /** How long {@link #build()} waits for the first X.509 context (default 30 s). */
        public Builder initialTimeout(Duration timeout) {
            Objects.requireNonNull(timeout, "initialTimeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("initialTimeout must be positive, got " + timeout);
            }
            this.initialTimeout = timeout;
            return this;
        }

        /** Connects and completes once the first X.509 context has arrived. */
        public CompletableFuture<SpireIdentityProvider> buildAsync() {
            SpireIdentityProvider p;
            try {
                p = begin();
            } catch (IllegalStateException e) {
                return CompletableFuture.failedFuture(e);
            }
            return p.ready;
        }

        /**
         * The provider, connecting; its {@code ready} future completes with the first X.509 context
         * (closing it when it fails or is cancelled). Package-private: tests watch its attempts.
         *
         * @throws IllegalStateException when there is no address or the client cannot be made
         */
        SpireIdentityProvider begin() {
            String addr = address != null ? address : System.getenv(Address.SOCKET_ENV_VARIABLE);
            if (addr == null || addr.isBlank()) {
                throw new IllegalStateException("no Workload API address: set "
                        + Address.SOCKET_ENV_VARIABLE + " (e.g. unix:/run/spire/sockets/agent.sock) or call address(...)");
            }
            WorkloadApiClient client;
            // The provider exists only once the client does; the executor's records wait for it (none come before start()).
            java.util.concurrent.atomic.AtomicReference<SpireIdentityProvider> owner = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.concurrent.ExecutorService executor = JulRetryLog.executor("zerohop-spire", r -> {
                SpireIdentityProvider o = owner.get();
                if (o != null) {
                    o.julRecord(r);
                }
            });
            try {
                client = DefaultWorkloadApiClient.newClient(DefaultWorkloadApiClient.ClientOptions.builder().spiffeSocketPath(addr)
                        .exponentialBackoffPolicy(BACKOFF).executorService(executor).build());
            } catch (SocketEndpointAddressException | RuntimeException e) {
                executor.shutdown();
                throw new IllegalStateException("cannot connect to the Workload API at " + addr + ": " + e.getMessage(), e);
            }
            SpireIdentityProvider p = new SpireIdentityProvider(addr, spiffeId, client);
            owner.set(p);
            p.start();
            p.ready.whenComplete((ok, err) -> {
                if (err != null) {
                    p.close();
                }
            });
            return p;
        }

        /**
         * Connects and waits up to the initial timeout for the first X.509 context.
         *
         * @throws IllegalStateException when none arrives in time or the server refuses, saying why
         */
        public SpireIdentityProvider build() {
            CompletableFuture<SpireIdentityProvider> f = buildAsync();
            try {
                return f.get(initialTimeout.toNanos(), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof IllegalStateException ise ? ise : new IllegalStateException(e.getCause());
            } catch (TimeoutException e) {
                f.thenAccept(SpireIdentityProvider::close);
                f.cancel(false);
                throw new IllegalStateException("no X.509 context from the Workload API at "
                        + (address != null ? address : System.getenv(Address.SOCKET_ENV_VARIABLE)) + " within " + initialTimeout
                        + "; is the agent running and is this workload registered?");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                f.cancel(false);
                throw new IllegalStateException("interrupted while waiting for the Workload API", e);
            }
        }
    }
}
