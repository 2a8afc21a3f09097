package io.zerohop.hbone;

import java.time.Duration;
import java.util.Objects;

/**
 * TCP keepalive of HBONE connections, accepted and dialled, and of an inbound tunnel's dial of its workload (mesh-core
 * sets it on its other dials and captured connections too), as ztunnel's {@code SocketConfig} (istio/ztunnel
 * src/config.rs; applied by src/proxy.rs {@code DefaultSocketFactory::setup_socket}): {@code SO_KEEPALIVE}, then, on
 * the epoll transport, {@code TCP_KEEPIDLE}, {@code TCP_KEEPINTVL}, {@code TCP_KEEPCNT} and, with {@code userTimeout},
 * {@code TCP_USER_TIMEOUT} = idle + retries &times; interval (ztunnel's formula). The NIO fallback sets
 * {@code SO_KEEPALIVE} only.
 *
 * @param enabled     false: no keepalive (and nothing else is set), as ztunnel's {@code KEEPALIVE_ENABLED=false}
 * @param idle        idle time before the first probe, whole seconds, 1 s to 32767 s (Linux's {@code MAX_TCP_KEEPIDLE})
 * @param interval    between probes, whole seconds, 1 s to 32767 s; null: the kernel's ({@code net.ipv4.tcp_keepalive_intvl})
 * @param retries     probes before the connection is dropped, 1-127; 0: the kernel's ({@code net.ipv4.tcp_keepalive_probes})
 * @param userTimeout set {@code TCP_USER_TIMEOUT}; needs {@code interval} and {@code retries}
 */
public record TcpKeepalive(boolean enabled, Duration idle, Duration interval, int retries, boolean userTimeout) {
    /** zerohop's default: on, 180 s idle (ztunnel's), the kernel's interval and probe count, no user timeout. */
    public static final TcpKeepalive DEFAULT = new TcpKeepalive(true, Duration.ofSeconds(180), null, 0, false);

    /** @throws IllegalArgumentException naming the part out of range */
    public TcpKeepalive {
        Objects.requireNonNull(idle, "idle");
        seconds("idle", idle);
        if (interval != null) {
            seconds("interval", interval);
        }
        if (retries < 0 || retries > 127) {
            throw new IllegalArgumentException("tcpKeepalive: retries must be 0-127, got " + retries);
        }
        if (userTimeout && (interval == null || retries == 0)) {
            throw new IllegalArgumentException("tcpKeepalive: userTimeout is idle + retries x interval, so it needs both");
        }
    }

    private static void seconds(String what, Duration d) {
        if (d.compareTo(Duration.ofSeconds(1)) < 0 || d.compareTo(Duration.ofSeconds(32_767)) > 0) {
            throw new IllegalArgumentException("tcpKeepalive: " + what + " must be 1s-32767s (the kernel's range), got " + d);
        }
    }

    /** {@code TCP_USER_TIMEOUT} in milliseconds, ztunnel's idle + retries &times; interval; 0 without {@code userTimeout}. */
    public long userTimeoutMillis() {
        return userTimeout ? idle.toMillis() + retries * interval.toMillis() : 0;
    }
}
