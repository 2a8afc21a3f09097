package io.zerohop.hbone;

import io.spiffe.spiffeid.SpiffeId;
import java.net.InetSocketAddress;
import java.util.Map;

/**
 * One HBONE tunnel (one CONNECT stream), as reported to {@link HboneEvents} and exposed on streams
 * and sockets.
 *
 * @param direction     {@link Direction#INBOUND} on the server, {@link Direction#OUTBOUND} on the client
 * @param localIdentity the identity this side presented
 * @param peerIdentity  the verified identity of the other side
 * @param localAddress  this side's socket address of the HBONE connection (server: the dialled address)
 * @param peerAddress   the other side's socket address (server: the client, i.e. the source)
 * @param destination   the CONNECT target ({@code :authority}); {@code null} only in refusals of a
 *                      malformed authority
 * @param headers       request headers without pseudo-headers (lower-case names); an immutable
 *                      map, kept compact (a value may be rendered at each read, always to the same text)
 * @param startNanos    {@link System#nanoTime()} when this tunnel's open began (server: its CONNECT's
 *                      stream arrived; client: its stream was set up, or, for an open that failed
 *                      waiting on its HBONE connection, it was asked for), so that a refusal or a failed
 *                      open has a duration, as ztunnel's connection result has from its start
 *                      (istio/ztunnel src/proxy/metrics.rs {@code ConnectionResult}); only differences
 *                      between it and another {@code nanoTime()} mean anything
 * @param hostname      inbound, the {@code host:port} of a CONNECT that named a service host name (ztunnel's
 *                      {@code HboneAddress::SvcHostname}; the port as a number, {@code 080} as {@code 80}), which
 *                      {@code destination} is the address it resolved to ({@link DestinationResolver#resolveHostname});
 *                      else null. Telemetry names the Service and the address as ztunnel does for such a CONNECT: its
 *                      {@code destination_service} is that Service and its access line's {@code dst.hbone_addr} the
 *                      name (istio/ztunnel src/proxy/inbound.rs {@code build_inbound_request})
 */
public record TunnelInfo(Direction direction, SpiffeId localIdentity, SpiffeId peerIdentity,
                         InetSocketAddress localAddress, InetSocketAddress peerAddress,
                         InetSocketAddress destination, Map<String, String> headers, long startNanos, String hostname) {

    /** A tunnel to an address (no host-name CONNECT). */
    public TunnelInfo(Direction direction, SpiffeId localIdentity, SpiffeId peerIdentity, InetSocketAddress localAddress,
                      InetSocketAddress peerAddress, InetSocketAddress destination, Map<String, String> headers, long startNanos) {
        this(direction, localIdentity, peerIdentity, localAddress, peerAddress, destination, headers, startNanos, null);
    }

    public enum Direction { INBOUND, OUTBOUND }

    public TunnelInfo {
        // A HeaderMap is immutable already, and smaller than a copy (issue 14).
        headers = headers == null ? Map.of() : headers instanceof io.zerohop.hbone.internal.HeaderMap ? headers : Map.copyOf(headers);
    }

    /** A tunnel whose open begins now. */
    public TunnelInfo(Direction direction, SpiffeId localIdentity, SpiffeId peerIdentity, InetSocketAddress localAddress,
                      InetSocketAddress peerAddress, InetSocketAddress destination, Map<String, String> headers) {
        this(direction, localIdentity, peerIdentity, localAddress, peerAddress, destination, headers, System.nanoTime());
    }

    @Override
    public String toString() {
        // Addresses as ztunnel's access log prints them: 10.0.0.1:8080, [::1]:8080 (no leading '/').
        // Inbound the peer is the source; outbound it is the HBONE endpoint dialled, and the source is this side
        // (a new-user pass read the endpoint as the source in an outbound socket's toString).
        return direction == Direction.INBOUND
                ? direction + " peer=" + peerIdentity + " local=" + localIdentity + " src=" + io.zerohop.hbone.internal.Authority.text(peerAddress)
                        + " dst=" + io.zerohop.hbone.internal.Authority.text(destination)
                : direction + " peer=" + peerIdentity + " local=" + localIdentity + " src=" + io.zerohop.hbone.internal.Authority.text(localAddress)
                        + " hbone=" + io.zerohop.hbone.internal.Authority.text(peerAddress) + " dst=" + io.zerohop.hbone.internal.Authority.text(destination);
    }
}
