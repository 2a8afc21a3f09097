package io.zerohop.core;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** IP literal parsing that never resolves a name (a DNS lookup here would block the caller). */
public final class Addresses {
    private Addresses() {}

    /**
     * Parses an IPv4 literal (four decimal fields up to 255 without leading zeros, as Go's netip and the
     * policies' addresses) or an IPv6 literal, never through DNS; {@code where} prefixes the error.
     */
    public static InetAddress parseIp(String s, String where) {
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException(where + ": address is required");
        }
        String lit = s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
        boolean ok = true;
        boolean v6 = lit.indexOf(':') >= 0;
        for (int i = 0; i < lit.length() && ok; i++) {
            char c = lit.charAt(i);
            ok = v6 ? Character.digit(c, 16) >= 0 || c == ':' || c == '.' || c == '%' : (c >= '0' && c <= '9') || c == '.';
        }
        if (!ok || (!v6 && lit.split("\\.", -1).length != 4)) {
            throw new IllegalArgumentException(where + ": \"" + s + "\" is not an IP address literal");
        }
        if (!v6) {
            // Built here, not by the JDK, which reads 010.0.0.1 as 10.0.0.1 (inet_aton reads it as octal 8.0.0.1,
            // Go's netip and the policies' ipBlocks refuse it) and looks 300.1.1.1 up in DNS.
            byte[] b = new byte[4];
            String[] parts = lit.split("\\.", -1);
            for (int i = 0; i < 4; i++) {
                if (!parts[i].matches("0|[1-9][0-9]{0,2}") || Integer.parseInt(parts[i]) > 255) {
                    throw new IllegalArgumentException(where + ": \"" + s + "\" is not an IP address literal (IPv4: four decimal "
                            + "fields up to 255, without leading zeros)");
                }
                b[i] = (byte) Integer.parseInt(parts[i]);
            }
            try {
                return InetAddress.getByAddress(b);
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e); // four bytes are always an address
            }
        }
        try {
            return InetAddress.getByName(lit);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(where + ": \"" + s + "\" is not an IP address literal", e);
        }
    }

    /** {@code ip:port}, {@code [v6]:port}, or {@code :port} (all interfaces). */
    public static InetSocketAddress parseHostPort(String s, String where) {
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException(where + ": address is required");
        }
        int colon = s.lastIndexOf(':');
        if (colon < 0 || (s.indexOf(':') != colon && !s.startsWith("["))) {
            throw new IllegalArgumentException(where + ": \"" + s + "\" is not ip:port ([v6]:port for IPv6)");
        }
        int port;
        try {
            port = Integer.parseInt(s.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(where + ": bad port in \"" + s + "\"");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException(where + ": port " + port + " out of range 0..65535");
        }
        String host = s.substring(0, colon);
        if (host.isEmpty()) {
            return new InetSocketAddress(port);
        }
        return new InetSocketAddress(parseIp(host, where), port);
    }

    /**
     * {@code ip:port} for people (logs, the access log, {@code /config_dump}, the CLI's lines), IPv6 in
     * brackets and in RFC 5952's short form ({@code [fd00::1]:80}, {@code [::]:15008}), as ztunnel
     * prints a Rust {@code SocketAddr}; the JDK's own form ({@code [fd00:0:0:0:0:0:0:1]}) is for no
     * one. Not the wire's: mesh-hbone formats the CONNECT authority itself.
     *
     * @param a a resolved address, not null
     */
    public static String authority(InetSocketAddress a) {
        java.net.InetAddress ip = a.getAddress();
        String host = io.netty.util.NetUtil.toAddressString(ip);
        return (ip instanceof java.net.Inet6Address ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    /**
     * A listener as the user asked for it, on the port it got: {@code configured}'s IP (a wildcard
     * {@code 0.0.0.0} stays {@code 0.0.0.0}, although Netty's epoll binds it as the dual-stack
     * {@code ::}, and {@code [::]} stays {@code [::]}) with {@code bound}'s port (port 0 shows the
     * port the kernel chose). Human-facing only, e.g. {@code zerohop proxy ready: tproxy 0.0.0.0:15001}.
     *
     * @param configured the address given (option or builder), not null
     * @param bound the listener's local address, not null
     */
    public static String listener(InetSocketAddress configured, InetSocketAddress bound) {
        return authority(new InetSocketAddress(configured.getAddress(), bound.getPort()));
    }
}
