package io.zerohop.identity;

import io.spiffe.svid.x509svid.X509Svid;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Where one identity's certificate stands in its provider, read without starting, hurrying or repeating a fetch
 * ({@link IdentityProvider#certificateState}): ztunnel's {@code CertState} (istio/ztunnel src/identity/manager.rs),
 * which its admin {@code /config_dump} shows as {@code Initializing}, {@code Unavailable: <error>} and
 * {@code Available} (src/admin.rs {@code dump_certs}, reading {@code SecretManager::collect_certs}).
 */
public sealed interface CertificateState {

    /** The first fetch for the identity is queued or under way and nothing was issued yet: ztunnel's {@code Initializing}. */
    record Initializing() implements CertificateState {}

    /**
     * An SVID is held: ztunnel's {@code Available}. While a refresh runs, or after a failed refresh, this is the last SVID
     * issued (ztunnel keeps it until a fetch's result replaces it or it expires); it can be past its notAfter when its
     * re-issue has not ended yet (compare {@code svid.getLeaf().getNotAfter()}), as ztunnel's state can be.
     *
     * @param svid the SVID held; never null
     */
    record Available(X509Svid svid) implements CertificateState {
        public Available {
            Objects.requireNonNull(svid, "svid");
        }
    }

    /**
     * The last fetch failed and no valid SVID is held (or the provider cannot serve the identity): ztunnel's
     * {@code Unavailable(err)}. It stays so while a retry of the fetch runs, as ztunnel's does until the retry's result.
     *
     * @param error the error {@link IdentityProvider#svid} fails with for it now (the fetch's own); never null
     */
    record Unavailable(Throwable error) implements CertificateState {
        public Unavailable {
            Objects.requireNonNull(error, "error");
        }
    }

    /**
     * The state a completed {@link IdentityProvider#svid} future says: for a provider whose {@code svid} only reads what it
     * holds (PEM files, the SPIRE Workload API), so that asking it is itself free of side effects.
     *
     * @param svid a completed future; not null
     * @throws IllegalArgumentException when {@code svid} is not done
     */
    static CertificateState of(CompletableFuture<X509Svid> svid) {
        if (!svid.isDone()) {
            throw new IllegalArgumentException("the future has not completed");
        }
        Throwable[] error = new Throwable[1];
        X509Svid held = svid.handle((v, e) -> {
            error[0] = e;
            return v;
        }).join();
        return error[0] != null ? new Unavailable(error[0]) : new Available(held);
    }
}
