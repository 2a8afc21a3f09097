package io.zerohop.identity;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.svid.x509svid.X509Svid;

/**
 * Told when a provider's material changes. Called on the provider's own thread: keep it short
 * and never block (TLS contexts only swap a reference here). A {@link RuntimeException} a method throws is
 * logged (WARN, logger {@code io.zerohop.identity.internal.ListenerSet}, naming the listener and the method) and
 * otherwise ignored by zerohop's providers: the other listeners are still told, and the provider's own call
 * ({@code svid}, {@code rotateRoot}, a file reload) goes on as if it had returned.
 */
public interface IdentityListener {
    /** A new SVID is in force for {@code svid.getSpiffeId()}; new handshakes should present it. */
    default void svidRotated(X509Svid svid) {}

    /**
     * The provider dropped the SVID of {@code id}, so nothing should present it any more: its workloads left
     * ({@link IdentityProvider#forget}; a later {@link IdentityProvider#svid} issues a new one), or its source withdrew
     * it (SPIRE's Workload API left it out of an update or answered PERMISSION_DENIED; {@code svid(id)} then fails
     * until an update carries it again).
     */
    default void svidForgotten(SpiffeId id) {}

    /** The set of trusted bundles changed (a root was added, rotated or removed). */
    default void bundlesChanged(X509BundleSet bundles) {}
}
