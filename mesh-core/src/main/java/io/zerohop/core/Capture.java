package io.zerohop.core;

import java.net.InetSocketAddress;
import java.util.Objects;

/**
 * How a node proxy captures application traffic headed out of the node.
 *
 * <p>Throws {@link IllegalArgumentException} naming the argument and its value when {@code bind} or {@code target} is
 * unresolved (a host name: a capture never resolves names), the target is a wildcard address (0.0.0.0, ::) or the
 * target's port is 0 (no connection can be made to it)
 *
 * @param mode   {@link Mode#TRANSPARENT}: nftables/iptables TPROXY delivers connections to this
 *               listener with their original destination as the local address (needs
 *               {@code IP_TRANSPARENT}, Linux epoll, CAP_NET_ADMIN); {@link Mode#SOCKS5}: apps are
 *               configured with a SOCKS5 proxy (IP destinations only: a name would need DNS we do
 *               not trust here); {@link Mode#FORWARD}: a fixed local port for one destination.
 * @param bind   where the listener binds: an IP (0.0.0.0 for every address), port 0 for an ephemeral one
 * @param target the destination of a {@link Mode#FORWARD} listener, an IP and a port 1-65535; null otherwise
 */
public record Capture(Mode mode, InetSocketAddress bind, InetSocketAddress target) {
    public enum Mode { TRANSPARENT, SOCKS5, FORWARD }

    public Capture {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(bind, "bind");
        if ((mode == Mode.FORWARD) != (target != null)) {
            throw new IllegalArgumentException("a target is required for FORWARD and only for FORWARD");
        }
        if (bind.isUnresolved()) {
            throw new IllegalArgumentException("capture bind address " + bind + " is unresolved: give an IP (0.0.0.0 for every address)");
        }
        // Checked here, not at the first connection: every connection to such a target died on a bare NullPointerException.
        if (target != null && target.isUnresolved()) {
            throw new IllegalArgumentException("forward target " + target + " is unresolved: give the destination's IP and port");
        }
        if (target != null && target.getAddress().isAnyLocalAddress()) {
            // 0.0.0.0 / :: is where a listener binds, never a destination: the kernel dials this host for it, which no
            // forward means (a break-it pass found it accepted; the connection then went wherever this host listened).
            throw new IllegalArgumentException("forward target " + Addresses.authority(target)
                    + " is a wildcard address, not a destination: give the destination's IP");
        }
        if (target != null && target.getPort() == 0) {
            throw new IllegalArgumentException("forward target " + Addresses.authority(target)
                    + " has port 0: no connection can be made to it (give the target's port)");
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
