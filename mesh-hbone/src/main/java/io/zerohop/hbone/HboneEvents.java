package io.zerohop.hbone;

import java.net.InetSocketAddress;

/**
 * Observability hook (metrics, access log). Called on event loops: implementations must be fast,
 * thread-safe and must not block or throw (exceptions are logged and ignored).
 */
public interface HboneEvents {
    HboneEvents NONE = new HboneEvents() {};

    /** A CONNECT was accepted (server: 200 sent; client: 200 received). */
    default void tunnelOpened(TunnelInfo tunnel) {}

    /**
     * The same event with the tunnel's live byte counters, for metrics that grow while a tunnel
     * runs (ztunnel counts bytes as they flow). The default calls {@link #tunnelOpened(TunnelInfo)}.
     */
    default void tunnelOpened(TunnelInfo tunnel, TunnelCounters live) {
        tunnelOpened(tunnel);
    }

    /** An opened tunnel closed; exactly once per {@link #tunnelOpened}. */
    default void tunnelClosed(TunnelResult result) {}

    /**
     * A CONNECT was refused (server: before any byte moved; client: non-200 response or failure to
     * open). {@code tunnel.destination()} is null when the authority was malformed.
     */
    default void tunnelRefused(TunnelInfo tunnel, int status, String reason) {}

    /**
     * A CONNECT the server's {@link Authorizer} denied (after its target was resolved): the
     * authorizer's whole decision, so a listener can tell a policy's rejection
     * ({@link AuthzDecision#rejection()}) from its explanation ({@link AuthzDecision#reason()}). Said
     * instead of {@link #tunnelRefused}, which the default calls with the decision's status and reason.
     */
    default void tunnelDenied(TunnelInfo tunnel, AuthzDecision decision) {
        tunnelRefused(tunnel, decision.status(), decision.reason());
    }

    /**
     * A client tunnel that failed to open without a CONNECT response: its HBONE connection could not
     * be dialled or set up (TCP, TLS, HTTP/2), or its stream ended or timed out before the response.
     * Once per failed open: every open that waited on one failed connection gets its own call, as
     * ztunnel records each outbound connection whose HBONE dial failed (istio/ztunnel
     * src/proxy/outbound.rs, {@code proxy_to_hbone}). {@code tunnel.localAddress()} is null until
     * the TCP connection was made, {@code tunnel.peerIdentity()} until TLS verified the server.
     * The default reports it as {@link #tunnelRefused} with status 0, as before this method.
     */
    default void tunnelFailed(TunnelInfo tunnel, Throwable cause) {
        tunnelRefused(tunnel, 0, cause.getMessage());
    }

    /**
     * Whether this listener writes, right now, a log line for every {@link #tunnelRefused} that names
     * both identities, the status and the reason (mesh-core's access log does while its logger is
     * on). The HBONE server then logs its own refusal line at DEBUG instead of INFO, so a refusal is
     * said once; the default, false, keeps the server's INFO line.
     */
    default boolean logsRefusals() {
        return false;
    }

    /** A connection failed before HTTP/2 (TLS handshake failure, timeout, missing ALPN h2). */
    default void connectionFailed(InetSocketAddress peer, InetSocketAddress local, Throwable cause) {}
}
