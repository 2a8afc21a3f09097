package io.zerohop.core.internal.http;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.policy.WorkloadRef;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * What every request on one inbound connection shares: who is calling and where.
 *
 * @param kind        access-log word: {@code inbound} (HBONE) or {@code plaintext-inbound}
 * @param peer        the verified peer SPIFFE ID; null for plaintext
 * @param local       the identity this side presented (XFCC {@code By}); null for plaintext
 * @param source      the peer's socket address (the HBONE connection's source, or the plaintext client)
 * @param logSource   the address the access log names ({@code Forwarded: for=} when a node proxy sent it)
 * @param destination the destination ip:port (CONNECT target or captured destination)
 * @param target      the workload receiving the requests, as policy sees it
 * @param sourceRef   the source workload: plaintext, the registry's at the source address; a tunnel,
 *                    {@link io.zerohop.core.internal.TunnelSource#of}'s; may be null
 * @param localId     the destination identity for logs and metrics (may equal {@code local}); may be null
 * @param baggage     the tunnel's {@code baggage} header (what the peer says of its workload, for metrics only); may be null
 * @param sourceIp    the source address policy tests ({@code source.ip}, {@code ipBlocks}): a tunnel,
 *                    {@link io.zerohop.core.internal.TunnelSource.Source#address} (the pod's address
 *                    when a node proxy's {@code forwarded: for=} named the source workload); else
 *                    {@code source}'s address
 */
record Conn(String kind, SpiffeId peer, SpiffeId local, InetSocketAddress source, InetSocketAddress logSource,
            InetSocketAddress destination, WorkloadRef target, WorkloadRef sourceRef, SpiffeId localId, String baggage,
            InetAddress sourceIp) {

    /** A connection whose policy source address is its peer's. */
    Conn(String kind, SpiffeId peer, SpiffeId local, InetSocketAddress source, InetSocketAddress logSource,
         InetSocketAddress destination, WorkloadRef target, WorkloadRef sourceRef, SpiffeId localId, String baggage) {
        this(kind, peer, local, source, logSource, destination, target, sourceRef, localId, baggage, source.getAddress());
    }

    /** A connection without a {@code baggage} header (plaintext). */
    Conn(String kind, SpiffeId peer, SpiffeId local, InetSocketAddress source, InetSocketAddress logSource,
         InetSocketAddress destination, WorkloadRef target, WorkloadRef sourceRef, SpiffeId localId) {
        this(kind, peer, local, source, logSource, destination, target, sourceRef, localId, null);
    }

    /** Envoy's XFCC with {@code set_current_client_cert_details: {uri: true}}: {@code By=<local>;URI=<peer>}. */
    String xfcc() {
        return peer == null ? null : "By=" + local + ";URI=" + peer;
    }
}
