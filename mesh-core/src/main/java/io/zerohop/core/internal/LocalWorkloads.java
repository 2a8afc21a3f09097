package io.zerohop.core.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.LinkedHashSet;
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
    public LocalWorkloads(WorkloadRegistry registry, String node) {
        this.registry = registry;
        this.node = node;
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

    /** The baggage of the first local workload with identity {@code source}, or null when there is none. */
    public Baggage baggageOf(SpiffeId source) {
        for (Workload w : registry.all()) {
            if (w.hasIdentity(source) && isLocal(w)) {
                return Baggage.of(w);
            }
        }
        return null;
    }
}
