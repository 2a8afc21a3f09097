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
 * serves the local pod IPs). This host's addresses are a snapshot of its interfaces taken at most
 * once a second ({@link #hostHas}).
 */
public final class LocalWorkloads {
    private final WorkloadRegistry registry;
    private final String node;
    /**
     * This host's interface addresses and when they were read (System.nanoTime): {@link #hostHas}. IPv6 link-local ones
     * are kept apart with the index of the interface that holds each ({@code linkLocal}: address bytes as a string, then
     * scope ids): {@code Inet6Address.equals} ignores the scope, and fe80::1 on another link is another host's.
     */
    private record HostAddresses(Set<InetAddress> all, Map<String, Set<Integer>> linkLocal, long readAt) {}

    private static final long HOST_ADDRESSES_TTL_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
    private final java.util.concurrent.atomic.AtomicReference<HostAddresses> hostAddresses = new java.util.concurrent.atomic.AtomicReference<>();
    private final java.util.concurrent.atomic.AtomicBoolean readingHostAddresses = new java.util.concurrent.atomic.AtomicBoolean();

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

    /** The node-proxy's node name, or null (embedded, single host). */
    public String node() {
        return node;
    }

    public boolean isLocal(Workload w) {
        if (!w.hasKnownIdentity()) {
            // An endpoint of unknown identity (an EndpointSlice's) is never served here: it is no pod of this node, and
            // serving it would need an identity to present or to match policies against.
            return false;
        }
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

    /**
     * Whether {@code a} is an address of this host (loopback and the wildcard count), from a snapshot of the host's
     * interfaces at most a second old. It decides whether a caller that is no workload may borrow the mesh's own
     * identity (Outbound), so it must follow an address that leaves the host: a per-address answer kept forever let a
     * caller on another machine, at an address this host once had, borrow it (and grew with every remote caller; a
     * new-user pass). One thread re-reads a stale snapshot; the others go on with it meanwhile.
     */
    public boolean hostHas(InetAddress a) {
        if (a.isLoopbackAddress() || a.isAnyLocalAddress()) {
            return true;
        }
        HostAddresses h = hostAddresses.get();
        if (h == null || System.nanoTime() - h.readAt() > HOST_ADDRESSES_TTL_NANOS) {
            if (readingHostAddresses.compareAndSet(false, true)) {
                try {
                    h = readHostAddresses();
                    hostAddresses.set(h);
                } finally {
                    readingHostAddresses.set(false);
                }
            } else if (h == null) {
                h = readHostAddresses(); // the first read, racing another: read too
            }
        }
        if (a instanceof java.net.Inet6Address v6 && v6.isLinkLocalAddress()) {
            // Only on the link that holds it: a caller on another link, using this host's link-local address of eth0 as
            // its own, borrowed the identity (a new-user pass). A socket's peer carries the scope of its interface;
            // one without (0) is not known to be this host's.
            Set<Integer> scopes = h.linkLocal().get(java.util.Arrays.toString(v6.getAddress()));
            return scopes != null && v6.getScopeId() != 0 && scopes.contains(v6.getScopeId());
        }
        return h.all().contains(a);
    }

    private static HostAddresses readHostAddresses() {
        Set<InetAddress> all = new java.util.HashSet<>();
        Map<String, Set<Integer>> linkLocal = new HashMap<>();
        try {
            for (java.util.Enumeration<NetworkInterface> e = NetworkInterface.getNetworkInterfaces(); e != null && e.hasMoreElements(); ) {
                NetworkInterface nif = e.nextElement();
                for (java.util.Enumeration<InetAddress> as = nif.getInetAddresses(); as.hasMoreElements(); ) {
                    InetAddress x = as.nextElement();
                    if (x instanceof java.net.Inet6Address v6 && v6.isLinkLocalAddress()) {
                        linkLocal.computeIfAbsent(java.util.Arrays.toString(v6.getAddress()), k -> new java.util.HashSet<>()).add(nif.getIndex());
                    } else {
                        all.add(x);
                    }
                }
            }
        } catch (SocketException e) {
            // No interface list: nothing but loopback and the wildcard is this host's (a caller is refused, not lent an identity).
        }
        Map<String, Set<Integer>> frozen = new HashMap<>();
        linkLocal.forEach((k, v) -> frozen.put(k, Set.copyOf(v)));
        return new HostAddresses(Set.copyOf(all), Map.copyOf(frozen), System.nanoTime());
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
    private record BaggageIndex(List<Workload> all, Map<SpiffeId, Baggage> first, Map<Workload, Baggage> byWorkload,
                                Map<SpiffeId, Workload> only) {}

    private volatile BaggageIndex baggage;

    /**
     * The baggage of the one local workload with identity {@code source} (a sidecar-like proxy whose callers borrow the
     * identity are that workload), or null when none or several have it: a caller that is no workload cannot be told
     * apart between them, and naming the first one (as until 4 December) counted its traffic as that workload's.
     */
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

    /**
     * The one local workload with identity {@code source}, the one whose baggage {@link #baggageOf(SpiffeId)} sends; null
     * when {@code source} is null or no or several local workloads have it. A map lookup: the Service endpoint pick asks it
     * per connection for the source's locality when the caller is no captured workload.
     */
    public Workload workloadOf(SpiffeId source) {
        return source == null ? null : index().only().get(source);
    }

    private BaggageIndex index() {
        List<Workload> all = registry.all();
        BaggageIndex index = baggage;
        if (index == null || index.all() != all) {
            Map<SpiffeId, Baggage> first = new HashMap<>();
            Map<Workload, Baggage> byWorkload = new java.util.IdentityHashMap<>();
            Map<SpiffeId, Workload> only = new HashMap<>();
            Set<SpiffeId> shared = new java.util.HashSet<>();
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
                    if (first.putIfAbsent(id, b) != null) {
                        shared.add(id);
                    }
                    only.putIfAbsent(id, w);
                }
            }
            first.keySet().removeAll(shared);
            only.keySet().removeAll(shared);
            index = new BaggageIndex(all, first, byWorkload, only);
            baggage = index;
        }
        return index;
    }
}
