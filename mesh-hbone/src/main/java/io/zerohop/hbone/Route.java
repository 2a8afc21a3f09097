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
 * @param target             the CONNECT authority when it is not the address dialled, or null (the address dialled):
 *                           for a Kubernetes Service VIP, the endpoint picked on its target port, as ztunnel's
 *                           {@code hbone_target_destination} (a socket connected along it reports this address as its
 *                           remote one); a resolved IP and port
 */
public record Route(InetSocketAddress hboneAddress, Set<SpiffeId> expectedIdentities, Map<String, String> headers,
                    InetSocketAddress target) {
    public Route {
        if (target != null && target.isUnresolved()) {
            throw new IllegalArgumentException("target must be a resolved IP and port, got " + target);
        }
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

    /** A route whose CONNECT authority is the address dialled. */
    public Route(InetSocketAddress hboneAddress, Set<SpiffeId> expectedIdentities, Map<String, String> headers) {
        this(hboneAddress, expectedIdentities, headers, null);
    }

    /** A route to one expected identity, no extra headers, the address dialled as the CONNECT authority. */
    public Route(InetSocketAddress hboneAddress, SpiffeId expected) {
        this(hboneAddress, Set.of(Objects.requireNonNull(expected, "expected")), Map.of());
    }
}
