package io.zerohop.hbone.internal;

import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.TunnelCounters;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.time.Duration;

/**
 * A tunnel's events to the {@link HboneEvents} listener, client and server alike. A listener that
 * throws is logged and ignored ({@link HboneListener#safe}). Called directly rather than through a
 * {@code Runnable}: a capturing lambda per event was an allocation per tunnel open and close, also
 * with {@link HboneEvents#NONE} (issue 14, benchmarks/results/open-*.md).
 */
final class TunnelEvents {
    private TunnelEvents() {}

    /** The client's own logger for its tunnels' events: they were logged as {@code HboneServer}'s, which confused a client-only user. */
    static final org.slf4j.Logger CLIENT_LOG = org.slf4j.LoggerFactory.getLogger("io.zerohop.hbone.HboneClient");

    /** The logger of the side that calls the listener: the HBONE server's for inbound tunnels, the client's for outbound ones. */
    private static org.slf4j.Logger log(TunnelInfo info) {
        return info != null && info.direction() == TunnelInfo.Direction.OUTBOUND ? CLIENT_LOG : HboneListener.log;
    }

    static void opened(HboneEvents events, TunnelInfo info, TunnelCounters counters) {
        if (events == HboneEvents.NONE) {
            return;
        }
        try {
            events.tunnelOpened(info, counters);
        } catch (RuntimeException e) {
            log(info).warn("HBONE event listener failed", e);
        }
    }

    static void refused(HboneEvents events, TunnelInfo info, int status, String reason) {
        if (events == HboneEvents.NONE) {
            return;
        }
        try {
            events.tunnelRefused(info, status, reason);
        } catch (RuntimeException e) {
            log(info).warn("HBONE event listener failed", e);
        }
    }

    static void denied(HboneEvents events, TunnelInfo info, io.zerohop.hbone.AuthzDecision decision) {
        if (events == HboneEvents.NONE) {
            return;
        }
        try {
            events.tunnelDenied(info, decision);
        } catch (RuntimeException e) {
            log(info).warn("HBONE event listener failed", e);
        }
    }

    static void failed(HboneEvents events, TunnelInfo info, Throwable cause) {
        if (events == HboneEvents.NONE) {
            return;
        }
        try {
            events.tunnelFailed(info, cause);
        } catch (RuntimeException e) {
            log(info).warn("HBONE event listener failed", e);
        }
    }

    static void closed(HboneEvents events, TunnelResult result) {
        try {
            events.tunnelClosed(result);
        } catch (RuntimeException e) {
            log(result.info()).warn("HBONE event listener failed", e);
        }
    }

    /**
     * On an HBONE connection channel: this side closed it because a CRL reload revoked the peer ({@link Negotiator}).
     * Set before that close, so each tunnel it ends reads it.
     */
    static final io.netty.util.AttributeKey<Boolean> REVOKED = io.netty.util.AttributeKey.valueOf(TunnelEvents.class, "revoked");

    /**
     * The result of a tunnel that opened (status 200) and has now closed. One reset because its connection was closed
     * for a CRL revocation ends with {@link TunnelResult#CERT_REVOKED} whatever else its end was, as ztunnel's
     * {@code handle_connection!} (src/proxy/connection_manager.rs) polls the revocation signal before the copy and so
     * records {@code Error::CertificateRevoked} rather than the teardown's error.
     */
    static TunnelResult result(TunnelInfo info, TunnelCodec c) {
        Duration d = Duration.ofNanos(System.nanoTime() - c.startNanos());
        boolean reset = !c.completed();
        return new TunnelResult(info, 200, c.bytesIn(), c.bytesOut(), d, reset,
                reset ? (revoked(c) ? TunnelResult.CERT_REVOKED : c.wasReset() ? "reset by peer" : c.resetBy() != null ? c.resetBy() : "reset")
                        : null, c.rstCode());
    }

    private static boolean revoked(TunnelCodec c) {
        io.netty.channel.Channel stream = c.channel();
        io.netty.channel.Channel connection = stream == null ? null : stream.parent();
        return connection != null && connection.hasAttr(REVOKED);
    }
}
