package io.zerohop.identity;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Gets a fresh SVID for one identity from a CA: what {@link CertificateManager} calls on first
 * use and ahead of expiry. {@code IstioCaClient} (mesh-identity-istio) is one; {@link #of(InMemoryCa)} adapts the
 * in-memory CA.
 */
@FunctionalInterface
public interface CertificateIssuer {
    /** A newly issued SVID for {@code id}; fails the future (never throws) when the CA refuses or is unreachable. */
    CompletableFuture<X509Svid> issue(SpiffeId id);

    /** Issues from {@code ca} on the calling thread (key generation and signing take about a millisecond). */
    static CertificateIssuer of(InMemoryCa ca) {
        Objects.requireNonNull(ca, "ca");
        return id -> {
            try {
                return CompletableFuture.completedFuture(ca.issue(id));
            } catch (RuntimeException e) {
                return CompletableFuture.failedFuture(e);
            }
        };
    }
}
