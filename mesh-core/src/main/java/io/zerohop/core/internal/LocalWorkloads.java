package io.zerohop.core.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which registry workloads run here, as ztunnel's local workload information: a node proxy knows its
 * node's name; without one (embedded, single host) a workload is local when one of its addresses is
 * this host's, so a replica elsewhere that shares the identity is never proxied to (ztunnel only
 * serves the local pod IPs). Host addresses are looked up once per address and cached: an address
 * added to the host later is not picked up.
 */
public final class LocalWorkloads {
    private final WorkloadRegistry registry;
    private final String node;
    private final ConcurrentHashMap<InetAddress, Boolean> hostAddresses = new ConcurrentHashMap<>();

    /** @param node the node-proxy's node name, or null for "the workloads on this host" */
    private final String clusterId;

    public LocalWorkloads(WorkloadRegistry registry, String node) {
        this(registry, node, TrafficLabels.DEFAULT_CLUSTER);
    }

    /** @param clusterId the cluster of workloads without a {@code topology.istio.io/cluster} label (their baggage) */
    public LocalWorkloads(WorkloadRegistry registry, String node, String clusterId) {
        this.registry = registry;
        this.node = node;
        this.clusterId = clusterId;
    }

    public WorkloadRegistry registry() {
        return registry;
    }

    public boolean isLocal(Workload w) {
        if (node != null) {
            return node.equals(w.node());
        }
        for (InetAddress a : w.addresses()) {
            if (hostHas(a)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code a} is an address of this host (loopback and the wildcard count). */
    public boolean hostHas(InetAddress a) {
        return hostAddresses.computeIfAbsent(a, x -> {
            if (x.isLoopbackAddress() || x.isAnyLocalAddress()) {
                return true;
            }
            try {
                return NetworkInterface.getByInetAddress(x) != null;
            } catch (SocketException e) {
                return false;
            }
        });
    }

    /** The local registry workload at {@code a}, if any. */
    public Optional<Workload> at(InetAddress a) {
        return registry.byAddress(a).filter(this::isLocal);
    }

    /** {@code own} (when not null) and the identities of the local HBONE workloads, in registry order. */
    public Set<SpiffeId> servedIdentities(SpiffeId own) {
        Set<SpiffeId> ids = new LinkedHashSet<>();
        if (own != null) {
            ids.add(own);
        }
        for (Workload w : registry.all()) {
            if (w.protocol() == Workload.Protocol.HBONE && isLocal(w)) {
                ids.add(w.identity());
            }
        }
        return ids;
    }

    /**
     * Per registry snapshot (its {@code all()} list, compared by reference): the baggage of the first
     * local workload of each identity, in registry order. Built on the first open after
     * a registry change, so an open is one map lookup, not a scan of every workload (each open
     * scanned {@code all()}: 10,000 {@code hasIdentity} calls per open at 10,000 workloads).
     */
    private record BaggageIndex(List<Workload> all, Map<SpiffeId, Baggage> first, Map<Workload, Baggage> byWorkload) {}

    private volatile BaggageIndex baggage;

    /** The baggage of the first local workload with identity {@code source}, or null when there is none. */
    public Baggage baggageOf(SpiffeId source) {
        return source == null ? null : index().first().get(source);
    }

    /**
     * The baggage of {@code from}, the local workload a captured connection comes from, as ztunnel's {@code baggage(req)}
     * sends {@code req.source}'s; {@link #baggageOf(SpiffeId)} when {@code from} is null. Workloads sharing an identity
     * (a namespace's deployments on its {@code default} service account) each send their own: the first one's name went
     * on every tunnel of the identity until 4 December (a review pass).
     */
    public Baggage baggageOf(Workload from, SpiffeId source) {
        if (from == null) {
            return baggageOf(source);
        }
        // The registry hands out its snapshot's own instances, so identity lookups hit; another instance is built anew.
        Baggage b = index().byWorkload().get(from);
        return b != null ? b : Baggage.of(from, clusterId);
    }

    private BaggageIndex index() {
        List<Workload> all = registry.all();
        BaggageIndex index = baggage;
        if (index == null || index.all() != all) {
            Map<SpiffeId, Baggage> first = new HashMap<>();
            Map<Workload, Baggage> byWorkload = new java.util.IdentityHashMap<>();
            for (Workload w : all) {
                if (isLocal(w)) {
                    Baggage b = Baggage.of(w, clusterId);
                    byWorkload.put(w, b);
                    SpiffeId id;
                    try {
                        id = registry.identityOf(w);
                    } catch (RuntimeException e) {
                        continue; // a name java-spiffe refuses: no peer's SPIFFE ID can equal it
                    }
                    first.putIfAbsent(id, b);
                }
            }
            index = new BaggageIndex(all, first, byWorkload);
            baggage = index;
        }
        return index;
    }
}
