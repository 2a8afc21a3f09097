package io.zerohop.hbone;

import java.time.Duration;

/**
 * A closed tunnel, for metrics and the access log (one per tunnel).
 *
 * @param info          what was tunnelled between whom
 * @param status        the CONNECT response status (200 for every tunnel that opened)
 * @param bytesReceived payload bytes received from the peer (DATA frames)
 * @param bytesSent     payload bytes sent to the peer
 * @param duration      from the CONNECT request to close
 * @param reset         true when the tunnel ended by RST_STREAM / TCP reset / connection loss rather
 *                      than END_STREAM both ways
 * @param error         what went wrong, or {@code null}
 */
public record TunnelResult(TunnelInfo info, int status, long bytesReceived, long bytesSent, Duration duration,
                           boolean reset, String error) {
}
