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

    /** Serves every destination whose IP is the dialled address's IP, proxying to that ip:port (ztunnel's rule). */
    static DestinationResolver sameIp() {
        return (dst, id, local) -> dst.getAddress().equals(local.getAddress()) ? Destination.proxy(dst) : null;
    }
}
