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
}
