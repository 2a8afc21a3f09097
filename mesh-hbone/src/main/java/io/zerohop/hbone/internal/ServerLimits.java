package io.zerohop.hbone.internal;

import java.time.Duration;
import java.util.Objects;

/**
 * The server's resource budgets (built and validated by {@code HboneServer.Builder}).
 *
 * @param queuedBytesPerPeer   upstream bytes read and not yet written to the HBONE connection (queued
 *                             behind closed windows), summed over one peer identity's connections
 * @param queuedBytes          the same, summed over the whole server
 * @param stalledWindowTimeout a tunnel with queued bytes and no write progress for this long is reset
 * @param pendingDialsPerConnection upstream connects in progress on one HBONE connection
 * @param pendingDialsPerPeer  upstream connects in progress for one peer identity
 * @param pendingDials         upstream connects in progress on the whole server
 * @param preOpenResets        streams a peer may reset before their tunnel answered, per {@code resetWindow}
 *                             and connection, before the connection gets GOAWAY ENHANCE_YOUR_CALM
 * @param resetWindow          the window {@code preOpenResets} is counted in
 * @param inboundBytesPerPeer  bytes a peer sent that the tunnels' applications have not taken yet (HTTP/2 DATA received
 *                             and not yet consumed, so not yet returned to the peer's windows), summed over one peer
 *                             identity's connections; over it, that peer's tunnels holding the most are reset
 * @param inboundBytes         the same, summed over the whole server; over it, the tunnels of the peer holding the
 *                             most are reset
 * @param inboundStallTimeout  over half an inbound budget, a tunnel whose application took nothing for this long is reset
 */
public record ServerLimits(long queuedBytesPerPeer, long queuedBytes, Duration stalledWindowTimeout,
                           int pendingDialsPerConnection, int pendingDialsPerPeer, int pendingDials,
                           int preOpenResets, Duration resetWindow, long inboundBytesPerPeer, long inboundBytes,
                           Duration inboundStallTimeout) {
    public ServerLimits {
        Objects.requireNonNull(inboundStallTimeout, "inboundStallTimeout");
        if (inboundStallTimeout.isNegative() || inboundStallTimeout.isZero()) {
            throw new IllegalArgumentException("inboundStallTimeout must be positive, got " + inboundStallTimeout);
        }
        if (inboundBytesPerPeer < 64 * 1024 || inboundBytes < inboundBytesPerPeer) {
            throw new IllegalArgumentException("inbound byte budgets need 64 KiB <= per peer (" + inboundBytesPerPeer
                    + ") <= total (" + inboundBytes + ")");
        }
        if (queuedBytesPerPeer < 64 * 1024 || queuedBytes < queuedBytesPerPeer) {
            throw new IllegalArgumentException("queued byte budgets need 64 KiB <= per peer (" + queuedBytesPerPeer
                    + ") <= total (" + queuedBytes + ")");
        }
        Objects.requireNonNull(stalledWindowTimeout, "stalledWindowTimeout");
        Objects.requireNonNull(resetWindow, "resetWindow");
        if (stalledWindowTimeout.isNegative() || stalledWindowTimeout.isZero() || resetWindow.isNegative() || resetWindow.isZero()) {
            throw new IllegalArgumentException("stalledWindowTimeout and resetWindow must be positive, got "
                    + stalledWindowTimeout + " and " + resetWindow);
        }
        if (pendingDialsPerConnection < 1 || pendingDialsPerPeer < 1 || pendingDials < 1) {
            throw new IllegalArgumentException("pending dial limits must be >= 1, got " + pendingDialsPerConnection
                    + "/" + pendingDialsPerPeer + "/" + pendingDials);
        }
        if (preOpenResets < 1) {
            throw new IllegalArgumentException("preOpenResets must be >= 1, got " + preOpenResets);
        }
    }
}
