package io.zerohop.hbone;

import java.time.Duration;

/**
 * A closed tunnel, for metrics and the access log (one per tunnel).
 *
 * @param info          what was tunnelled between whom
 * @param status        the CONNECT response status: 200, as only a tunnel that opened is ever closed (a refused
 *                      or failed CONNECT is {@link HboneEvents#tunnelRefused} / {@code tunnelDenied} /
 *                      {@code tunnelFailed}, never a result); kept for the access-log shape
 * @param bytesReceived payload bytes received from the peer (DATA frames)
 * @param bytesSent     payload bytes sent to the peer
 * @param duration      from the CONNECT request to close
 * @param reset         true when the tunnel ended by RST_STREAM / TCP reset / connection loss rather
 *                      than END_STREAM both ways
 * @param error         what went wrong, or {@code null}: "reset by peer" (its RST_STREAM), "reset" (this side
 *                      reset it, or the connection was lost), or the limit that reset it (the server's, or a client's inbound budget), one of
 *                      {@link #LIMITS}, or {@link #CERT_REVOKED} (this side closed the connection: a CRL revoked the peer)
 * @param resetCode     the error code (RFC 9113 section 7, 0 to 2^32-1) of the first RST_STREAM the
 *                      peer sent on this tunnel, or {@link #NO_RESET} (-1) when it sent none: a reset
 *                      this side sent, a TCP reset or the loss of the HBONE connection leave it -1.
 *                      What tells a peer's abort from ztunnel's benign ends: ztunnel reads
 *                      RST_STREAM NO_ERROR and CANCEL as the end of input and STREAM_CLOSED as a
 *                      broken pipe, which it ignores, and only other codes as an error
 *                      (istio/ztunnel src/proxy/h2.rs {@code H2StreamReadHalf}, src/copy.rs
 *                      {@code ignore_io_errors})
 */
public record TunnelResult(TunnelInfo info, int status, long bytesReceived, long bytesSent, Duration duration,
                           boolean reset, String error, long resetCode) {
    /**
     * {@link #error()} of a tunnel reset over an inbound budget: it held the most of it ({@code HboneServer.Builder#inboundBudget}
     * on the server, {@link InboundBudget} on a client given one).
     */
    public static final String INBOUND_BUDGET = "inbound budget";
    /** {@link #error()} of a tunnel reset over half an inbound budget, its application having taken nothing for the stall timeout. */
    public static final String INBOUND_STALLED = "inbound stalled";
    /** {@link #error()} of a tunnel reset over the server's outbound budget, the one whose queued bytes stalled longest. */
    public static final String OUTBOUND_BUDGET = "outbound budget";
    /** {@link #error()} of a tunnel whose queued bytes made no progress against the peer's window for the stalled-window timeout. */
    public static final String STALLED_WINDOW = "stalled window";
    /**
     * {@link #error()} of a tunnel whose HBONE connection this side closed because a CRL reload revoked the peer's
     * certificate ({@code MeshTls.closeWhenRevoked}): the Display of ztunnel's {@code Error::CertificateRevoked}
     * (istio/ztunnel src/proxy.rs), which its {@code handle_connection!} ends each such connection with and its access log
     * writes as {@code error}. The peer's side, which only lost its connection, has a plain "reset".
     */
    public static final String CERT_REVOKED = "connection closed: peer certificate revoked by CRL";
    /** The limits that reset tunnels (the server's; a client's inbound budget uses the first two), as {@link #error()} names them. */
    public static final java.util.Set<String> LIMITS = java.util.Set.of(INBOUND_BUDGET, INBOUND_STALLED, OUTBOUND_BUDGET, STALLED_WINDOW);

    /** {@link #resetCode()} of a tunnel whose peer sent no RST_STREAM. */
    public static final long NO_RESET = -1;

    /** A result whose peer sent no RST_STREAM ({@link #resetCode()} {@link #NO_RESET}). */
    public TunnelResult(TunnelInfo info, int status, long bytesReceived, long bytesSent, Duration duration, boolean reset, String error) {
        this(info, status, bytesReceived, bytesSent, duration, reset, error, NO_RESET);
    }
}
