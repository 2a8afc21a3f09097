package io.zerohop.hbone;

import io.spiffe.spiffeid.SpiffeId;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Objects;

/**
 * What an {@link Authorizer} sees for one CONNECT stream.
 *
 * @param peer          the client's verified SPIFFE ID (from its X.509-SVID)
 * @param peerAddress   the client's socket address (source of the HBONE connection)
 * @param localIdentity the identity this server presented on the connection
 * @param destination   the CONNECT target (parsed {@code :authority})
 * @param headers       request headers without pseudo-headers; names lower case, repeated values
 *                      joined with {@code ", "} (e.g. {@code baggage}, {@code traceparent}, {@code forwarded});
 *                      an immutable map, the tunnel's own ({@link TunnelInfo#headers()}) when the server builds it
 */
public record AuthzRequest(SpiffeId peer, InetSocketAddress peerAddress, SpiffeId localIdentity,
                           InetSocketAddress destination, Map<String, String> headers) {
    public AuthzRequest {
        Objects.requireNonNull(peer, "peer");
        Objects.requireNonNull(peerAddress, "peerAddress");
        Objects.requireNonNull(localIdentity, "localIdentity");
        Objects.requireNonNull(destination, "destination");
        // The tunnel's own HeaderMap is immutable already: a copy per CONNECT rendered each value
        // (a traceparent kept as numbers became a string again) and built a hash table (issue 14).
        headers = headers instanceof io.zerohop.hbone.internal.HeaderMap ? headers : Map.copyOf(headers);
    }
}
