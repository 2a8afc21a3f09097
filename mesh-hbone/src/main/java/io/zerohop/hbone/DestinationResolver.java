package io.zerohop.hbone;

import io.spiffe.spiffeid.SpiffeId;
import java.net.InetSocketAddress;

/**
 * Decides, per CONNECT, whether the {@code :authority} destination is served and how. The server
 * never connects anywhere this resolver did not name: it is not an open proxy.
 */
@FunctionalInterface
public interface DestinationResolver {

    /**
     * @param destination   the parsed {@code :authority} (literal IP and port)
     * @param localIdentity the identity the connection presented (from the {@link IdentitySelector})
     * @param localAddress  the local address the client dialled (the HBONE listener address)
     * @return how to deliver the stream; {@code null} means {@link Destination#notServed()}
     */
    Destination resolve(InetSocketAddress destination, SpiffeId localIdentity, InetSocketAddress localAddress);

    /**
     * Where a CONNECT whose {@code :authority} is a service host name ({@code host:port}, ztunnel's
     * {@code HboneAddress::SvcHostname}, what an east-west gateway forwards) goes. The server then treats the answer as if
     * the client had named it: {@link #resolve} and the {@link Authorizer} see that address, so a name can never reach
     * what the address would not. ztunnel resolves the name to a Service and sends to the dialled workload's own address at
     * the port that Service maps {@code port} to (istio/ztunnel src/proxy/inbound.rs {@code find_inbound_upstream}).
     *
     * @param hostname      the host of the authority as sent: a DNS name, or any other host ztunnel would look up as a
     *                      name (a trailing dot, an underscore, a leading-zero IPv4, an empty host: {@code
     *                      HboneAddress::try_from}), which only a Service of exactly that name answers; a non-null
     *                      answer for a host that is no DNS name is refused 400 all the same
     * @param port          the port of the authority (a service port)
     * @param localIdentity the identity the connection presented
     * @param localAddress  the local address the client dialled
     * @return the address to serve, or null when no service of that name has that port here: 503, as ztunnel's
     *         {@code NoHostname} and {@code NoPortForServices}. The default serves no names.
     */
    default InetSocketAddress resolveHostname(String hostname, int port, SpiffeId localIdentity, InetSocketAddress localAddress) {
        return null;
    }

    /**
     * Why {@link #resolveHostname} answered null for these arguments, as the 503's reason (events and logs), or null for
     * the server's own ({@code no service named H with port P is served here}). Asked only after that null, so a
     * resolver whose state changed in between may explain the newer state: the status was decided already, this is text.
     * ztunnel tells {@code NoHostname} (no Service of the name) from {@code NoPortForServices} (a Service of the name
     * whose port resolves to none here) in its early-deny line.
     */
    default String hostnameRefusal(String hostname, int port, SpiffeId localIdentity, InetSocketAddress localAddress) {
        return null;
    }

    /**
     * Serves every destination whose IP is the dialled address's IP, proxying to that ip:port (ztunnel's rule,
     * istio/ztunnel src/proxy/inbound.rs {@code validate_destination}), except the HBONE listener itself: a CONNECT to
     * the dialled address's own port is refused with 503, ztunnel's self call ({@code find_inbound_upstream}:
     * {@code illegal_ports}, {@code Error::SelfCall}), as a tunnel to it would dial the server from itself. Other ports
     * of the process (a metrics or admin port) are the caller's to refuse in a resolver of its own; mesh-core refuses
     * all of its listeners. Until 5 December the listener's own port was proxied (a new-user pass).
     */
    static DestinationResolver sameIp() {
        return (dst, id, local) -> {
            if (!dst.getAddress().equals(local.getAddress())) {
                return null;
            }
            if (dst.getPort() == local.getPort()) {
                return Destination.refuse(503, "self call: port " + dst.getPort() + " is this HBONE listener's own port");
            }
            return Destination.proxy(dst);
        };
    }
}
