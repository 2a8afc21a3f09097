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
 * @param certDetails the peer certificate's part of XFCC, {@link ClientCertDetails#of(io.netty.channel.Channel)},
 *                    computed once per HBONE connection; null for plaintext
 */
record Conn(String kind, SpiffeId peer, SpiffeId local, InetSocketAddress source, InetSocketAddress logSource,
            InetSocketAddress destination, WorkloadRef target, WorkloadRef sourceRef, SpiffeId localId, String baggage,
            InetAddress sourceIp, String certDetails) {

    /** A connection whose XFCC names no certificate beyond the peer's identity (plaintext, or a test without TLS). */
    Conn(String kind, SpiffeId peer, SpiffeId local, InetSocketAddress source, InetSocketAddress logSource,
         InetSocketAddress destination, WorkloadRef target, WorkloadRef sourceRef, SpiffeId localId, String baggage,
         InetAddress sourceIp) {
        this(kind, peer, local, source, logSource, destination, target, sourceRef, localId, baggage, sourceIp, null);
    }

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

    /**
     * What Envoy sets as {@code x-forwarded-client-cert} on an Istio waypoint (SANITIZE_SET with subject, uri
     * and dns, see {@link ClientCertDetails}): {@code By=<local>;Hash=<sha256>;Subject="";URI=<peer>}; null for
     * plaintext (Envoy removes the header on a connection without a peer certificate). A Conn built without
     * a TLS session (unit tests of the codecs) says only {@code By=<local>;URI=<peer>}.
     */
    String xfcc() {
        if (peer == null) {
            return null;
        }
        return certDetails == null ? "By=" + local + ";URI=" + peer : "By=" + local + ";" + certDetails;
    }
}
