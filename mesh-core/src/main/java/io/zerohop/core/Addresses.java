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
     *
     * @throws IllegalArgumentException naming {@code where}: null, blank, a space anywhere, or not a literal
     */
    public static InetAddress parseIp(String s, String where) {
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException(where + ": address is required");
        }
        refuseSpaces(s, where, "an IP address");
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

    /**
     * {@code ip:port}, {@code [v6]:port}, or {@code :port} (all interfaces), never through DNS.
     *
     * @param s the text, not resolved; null or blank is refused
     * @param where prefixes each error, e.g. the option or field it came from
     * @throws IllegalArgumentException naming {@code where} and what is wrong: a space anywhere, no port, a port that
     *     is not 1 to 5 decimal digits (no sign) or above 65535, an address that is not an IP literal
     */
    public static InetSocketAddress parseHostPort(String s, String where) {
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException(where + ": address is required");
        }
        refuseSpaces(s, where, "ip:port");
        int colon = s.lastIndexOf(':');
        if (colon < 0 || (s.indexOf(':') != colon && !s.startsWith("["))) {
            throw new IllegalArgumentException(where + ": \"" + s + "\" is not ip:port ([v6]:port for IPv6)");
        }
        String digits = s.substring(colon + 1);
        // Digits only: Integer.parseInt would take "+80", and a sign or an empty port is a typo, not a port.
        if (!digits.matches("[0-9]{1,5}")) {
            throw new IllegalArgumentException(where + ": bad port \"" + digits + "\" in \"" + s
                    + "\" (a decimal number 0..65535 after the last colon)");
        }
        int port = Integer.parseInt(digits);
        if (port > 65535) {
            throw new IllegalArgumentException(where + ": port " + port + " out of range 0..65535");
        }
        String host = s.substring(0, colon);
        if (host.isEmpty()) {
            return new InetSocketAddress(port);
        }
        return new InetSocketAddress(parseIp(host, where), port);
    }

    /**
     * A space in an address is a quoting slip (a YAML value or a shell argument split differently than meant): named
     * as such, since "bad port" or "not an IP address literal" would send the user looking at the digits.
     */
    private static void refuseSpaces(String s, String where, String shape) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.isWhitespace(s.charAt(i))) {
                throw new IllegalArgumentException(where + ": \"" + s + "\" contains a space; write " + shape + " without spaces");
            }
        }
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
