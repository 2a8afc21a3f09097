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
 */
public final class SpireIdentityProvider implements IdentityProvider {
    private static final Logger log = LoggerFactory.getLogger(SpireIdentityProvider.class);

    private record State(Map<SpiffeId, X509Svid> svids, SpiffeId defaultId, X509BundleSet bundles) {}

    private final String address;
    private final SpiffeId wanted;
    private final WorkloadApiClient client;
    private final ListenerSet listeners = new ListenerSet();
    private final CompletableFuture<SpireIdentityProvider> ready = new CompletableFuture<>();
    private volatile State state;
    private volatile boolean closed;

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
            client.close();
        } catch (java.io.IOException | RuntimeException e) {
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
            String addr = address != null ? address : System.getenv(Address.SOCKET_ENV_VARIABLE);
            if (addr == null || addr.isBlank()) {
                return CompletableFuture.failedFuture(new IllegalStateException("no Workload API address: set "
                        + Address.SOCKET_ENV_VARIABLE + " (e.g. unix:/run/spire/sockets/agent.sock) or call address(...)"));
            }
            WorkloadApiClient client;
            try {
                client = DefaultWorkloadApiClient.newClient(
                        DefaultWorkloadApiClient.ClientOptions.builder().spiffeSocketPath(addr).build());
            } catch (SocketEndpointAddressException | RuntimeException e) {
                return CompletableFuture.failedFuture(new IllegalStateException(
                        "cannot connect to the Workload API at " + addr + ": " + e.getMessage(), e));
            }
            SpireIdentityProvider p = new SpireIdentityProvider(addr, spiffeId, client);
            p.start();
            p.ready.whenComplete((ok, err) -> {
                if (err != null) {
                    p.close();
                }
            });
            return p.ready;
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
