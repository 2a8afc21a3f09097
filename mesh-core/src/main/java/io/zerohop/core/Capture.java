package io.zerohop.core;

import java.net.InetSocketAddress;
import java.util.Objects;

/**
 * How a node proxy captures application traffic headed out of the node.
 *
 * @param mode   {@link Mode#TRANSPARENT}: nftables/iptables TPROXY delivers connections to this
 *               listener with their original destination as the local address (needs
 *               {@code IP_TRANSPARENT}, Linux epoll, CAP_NET_ADMIN); {@link Mode#SOCKS5}: apps are
 *               configured with a SOCKS5 proxy (IP destinations only: a name would need DNS we do
 *               not trust here); {@link Mode#FORWARD}: a fixed local port for one destination.
 * @param target the destination of a {@link Mode#FORWARD} listener; null otherwise
 */
public record Capture(Mode mode, InetSocketAddress bind, InetSocketAddress target) {
    public enum Mode { TRANSPARENT, SOCKS5, FORWARD }

    public Capture {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(bind, "bind");
        if ((mode == Mode.FORWARD) != (target != null)) {
            throw new IllegalArgumentException("a target is required for FORWARD and only for FORWARD");
        }
    }

    /** ztunnel's outbound capture port is 15001. */
    public static Capture transparent(InetSocketAddress bind) {
        return new Capture(Mode.TRANSPARENT, bind, null);
    }

    public static Capture socks5(InetSocketAddress bind) {
        return new Capture(Mode.SOCKS5, bind, null);
    }

    public static Capture forward(InetSocketAddress bind, InetSocketAddress target) {
        return new Capture(Mode.FORWARD, bind, target);
    }
}
