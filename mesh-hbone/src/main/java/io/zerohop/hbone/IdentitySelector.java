package io.zerohop.hbone;

import io.spiffe.spiffeid.SpiffeId;
import java.net.InetSocketAddress;

/**
 * Chooses the identity (whose SVID the TLS handshake presents) for an accepted HBONE connection,
 * from the local address the client dialled. One listener can so serve several local workloads,
 * each with its own certificate (ztunnel selects the destination pod's certificate the same way).
 */
@FunctionalInterface
public interface IdentitySelector {

    /**
     * @param localAddress the accepted socket's local address (the destination the client dialled;
     *                     with transparent interception, the workload's IP)
     * @return the identity to present, or {@code null} to refuse the connection before TLS
     */
    SpiffeId select(InetSocketAddress localAddress);

    /** Always presents {@code id}. */
    static IdentitySelector fixed(SpiffeId id) {
        java.util.Objects.requireNonNull(id, "identity");
        return local -> id;
    }
}
