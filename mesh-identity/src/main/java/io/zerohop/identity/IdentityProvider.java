package io.zerohop.identity;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * Where a workload's (or a node's many workloads') certificates and trust bundles come from:
 * an in-memory CA, PEM files, the SPIRE Workload API or the Istio CA.
 *
 * <p>Single-workload providers (PEM files, SPIRE) serve one identity and fail the future for any
 * other; node-mode providers (in-memory CA, Istio CA through {@link CertificateManager}) issue per
 * identity on first use.
 */
public interface IdentityProvider extends AutoCloseable {

    /** The identity a single-workload provider presents; empty for node-mode providers. */
    Optional<SpiffeId> defaultIdentity();

    /**
     * The SVID currently in force for {@code id}. Completes at once when the SVID is held; a
     * fetch (CSR to a CA) completes it later. Never blocks the caller.
     *
     * @param id the identity; not null
     * @throws NullPointerException when {@code id} is null (thrown, not a failed future, by every provider of zerohop's)
     */
    CompletableFuture<X509Svid> svid(SpiffeId id);

    /**
     * {@link #svid}, asked ahead of need: a mesh in node mode warms up the SVID of a local workload that appears
     * before its first connection asks for it. A provider that queues its fetches runs such a fetch behind those a
     * connection waits for, as ztunnel's cert fetcher asks its {@code SecretManager} with {@code Priority::Warmup}
     * (istio/ztunnel src/cert_fetcher.rs {@code prefetch_cert}); {@link CertificateManager} does. By default the same
     * as {@link #svid}. A provider that wraps another passes it on.
     *
     * @param id the identity; not null
     */
    default CompletableFuture<X509Svid> prefetch(SpiffeId id) {
        return svid(id);
    }

    /**
     * Where {@code id}'s certificate stands, read only: unlike {@link #svid}, never starts a fetch, never moves a queued
     * one ahead, never re-issues an SVID. ztunnel's admin dump reads its {@code SecretManager}'s {@code CertState} so
     * (istio/ztunnel src/identity/manager.rs {@code collect_certs}, src/admin.rs {@code dump_certs}), and zerohop's
     * {@code /config_dump} reads this. {@link CertificateManager}, {@link InMemoryCa}, the PEM-file and SPIRE providers
     * answer it; a provider that wraps another passes it on.
     *
     * @param id the identity; not null
     * @return the state; empty when the provider holds nothing for {@code id} and fetches nothing for it (never asked,
     *     forgotten, evicted), and by default, for a provider that cannot tell without starting work
     * @throws NullPointerException when {@code id} is null
     */
    default Optional<CertificateState> certificateState(SpiffeId id) {
        java.util.Objects.requireNonNull(id, "id must not be null");
        return Optional.empty();
    }

    /**
     * Every identity the provider holds or is fetching, each with its {@link #certificateState}, read as that is (no fetch
     * started or hurried): ztunnel's admin dump lists every certificate its {@code SecretManager} holds, whatever asked for
     * it (istio/ztunnel src/identity/manager.rs {@code collect_certs}, src/admin.rs {@code dump_certs}), and zerohop's
     * {@code /config_dump} lists these. {@link CertificateManager} answers it; a provider that wraps another passes it on.
     * {@link InMemoryCa} does not: one CA is often every mesh's provider in a test or an embedding JVM, and a mesh's
     * dump would list the other meshes' certificates.
     *
     * @return the identities and their states; empty by default, for a provider that cannot list them (the dump then
     *     lists the identities the mesh serves, each by {@link #certificateState})
     */
    default Optional<java.util.Map<SpiffeId, CertificateState>> certificateStates() {
        return Optional.empty();
    }

    /** The trust bundles in force now (own trust domain and any federated ones). */
    X509BundleSet bundles();

    /**
     * Drops what is held for {@code id}: a node-mode provider stops re-issuing its SVID and tells
     * listeners ({@link IdentityListener#svidForgotten}); a later {@link #svid} issues a new one
     * ({@link CertificateManager}: or, asked before a fetch still at the CA ends, waits for that one, as ztunnel's).
     * A mesh calls it when the last local workload with that identity is gone, as ztunnel's
     * {@code SecretManager::forget_certificate} is called when the last workload of an identity
     * leaves its node (istio/ztunnel src/xds.rs {@code remove_internal}, src/cert_fetcher.rs).
     * Established connections are not touched. Single-workload providers (PEM files, SPIRE) hold
     * one identity and ignore it (the default). Never blocks; {@code id} is not null.
     */
    default void forget(SpiffeId id) {}

    void addListener(IdentityListener listener);

    void removeListener(IdentityListener listener);

    /** Releases watchers and connections; SVIDs already handed out stay usable. */
    @Override
    void close();
}
