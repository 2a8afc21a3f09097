package io.zerohop.hbone.internal;

import io.spiffe.spiffeid.SpiffeId;
import java.net.InetSocketAddress;
import java.util.Objects;
import java.util.Set;

/**
 * The connection-pool key: connections are shared only between tunnels with the same source
 * identity, the same accepted destination identities and the same HBONE address.
 */
public record PoolKey(SpiffeId source, Set<SpiffeId> destinations, InetSocketAddress hboneAddress) {
    public PoolKey {
        Objects.requireNonNull(source, "source");
        destinations = Set.copyOf(destinations);
        Objects.requireNonNull(hboneAddress, "hboneAddress");
    }

    // Written out, not generated: the record's own equals/hashCode bootstrap java.lang.runtime.ObjectMethods
    // (~160 hidden classes and ~0.5 MB in a node proxy, CPU on its first tunnel; benchmarks/results/
    // mem10k-7a61d72.md). Every component is compared (RecordMethodsTest).
    @Override
    public boolean equals(Object other) {
        return other == this || other instanceof PoolKey o
                && source.equals(o.source) && destinations.equals(o.destinations) && hboneAddress.equals(o.hboneAddress);
    }

    @Override
    public int hashCode() {
        return (31 * source.hashCode() + destinations.hashCode()) * 31 + hboneAddress.hashCode();
    }
}
