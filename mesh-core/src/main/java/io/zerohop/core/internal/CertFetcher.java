package io.zerohop.core.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Workload;
import io.zerohop.identity.IdentityProvider;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's certificate fetcher in shared (node) mode (istio/ztunnel src/cert_fetcher.rs, src/xds.rs):
 * a local HBONE workload's SVID is fetched when the workload appears, before its first connection
 * needs it, and once the last local workload with an identity is gone that SVID is forgotten, so a
 * node-mode provider stops re-issuing certificates (CSRs to the CA) for identities that left the node.
 *
 * <p>It follows the registry by its snapshot ({@code all()}, compared by reference) at each
 * {@link #check()}, which the mesh runs every second: a workload installed by a Kubernetes burst or a
 * file reload is fetched within about a second. The mesh's own identity is never forgotten. Used only
 * with node-mode providers (no default identity: the in-memory CA, the Istio CA): a single-workload
 * provider holds one identity and refuses others, as ztunnel's dedicated mode fetches nothing.
 * Runs on one event loop; {@link IdentityProvider#svid} and {@link IdentityProvider#forget} do not block.
 */
final class CertFetcher {
    private static final Logger log = LoggerFactory.getLogger(CertFetcher.class);

    private final LocalWorkloads local;
    private final IdentityProvider provider;
    private final SpiffeId own;
    private List<Workload> seen;
    private Set<SpiffeId> held;

    /** @param started the identities the mesh fetched at start (its readiness waited for them) */
    CertFetcher(LocalWorkloads local, IdentityProvider provider, SpiffeId own, Set<SpiffeId> started) {
        this.local = local;
        this.provider = provider;
        this.own = own;
        this.seen = local.registry().all();
        this.held = Set.copyOf(started);
    }

    /** Fetches the new local identities' SVIDs and forgets those no local workload has any more. */
    void check() {
        List<Workload> all = local.registry().all();
        if (all == seen) {
            return;
        }
        seen = all;
        Set<SpiffeId> now = local.servedIdentities(own);
        for (SpiffeId id : now) {
            if (!held.contains(id)) {
                provider.svid(id).whenComplete((svid, e) -> {
                    if (e != null) {
                        // ztunnel: "unable to prefetch cert for {id}, skipping"; the first connection asks again.
                        log.warn("unable to prefetch the certificate of {}, skipping: {}", id, e.toString());
                    }
                });
            }
        }
        Set<SpiffeId> gone = new HashSet<>(held);
        gone.removeAll(now);
        for (SpiffeId id : gone) {
            log.debug("no local workload has {} any more: forgetting its certificate", id);
            provider.forget(id);
        }
        held = now;
    }

    /** The local identities as of the last {@link #check} (the registry's last change). */
    Set<SpiffeId> held() {
        return held;
    }
}
