package io.zerohop.hbone;

import io.spiffe.spiffeid.SpiffeId;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Where a socket-factory connection goes: the HBONE endpoint to dial (the destination node's
 * or pod's {@code :15008}), the server identities accepted there, and extra CONNECT headers.
 *
 * @param hboneAddress       the HBONE endpoint, a resolved IP and port (an unresolved one fails the
 *                           connect with {@link IllegalArgumentException})
 * @param expectedIdentities the server SPIFFE IDs accepted in the handshake; non-null and non-empty
 *                           ({@link IllegalArgumentException} otherwise), copied
 * @param headers            extra CONNECT request headers (no pseudo-headers); null means none, copied
 */
public record Route(InetSocketAddress hboneAddress, Set<SpiffeId> expectedIdentities, Map<String, String> headers) {
    public Route {
        Objects.requireNonNull(hboneAddress, "hboneAddress");
        for (SpiffeId id : Objects.requireNonNull(expectedIdentities, "expectedIdentities")) {
            // Set.copyOf's own NullPointerException has no message (a new-user pass).
            Objects.requireNonNull(id, "expectedIdentities: a null identity");
        }
        expectedIdentities = Set.copyOf(expectedIdentities);
        if (expectedIdentities.isEmpty()) {
            throw new IllegalArgumentException("a route needs at least one expected destination identity");
        }
        headers = headers == null ? Map.of() : headers instanceof io.zerohop.hbone.internal.HeaderMap ? headers : Map.copyOf(headers);
    }

    public Route(InetSocketAddress hboneAddress, SpiffeId expected) {
        this(hboneAddress, Set.of(Objects.requireNonNull(expected, "expected")), Map.of());
    }
}
