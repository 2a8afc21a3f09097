package io.zerohop.hbone.internal;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * HBONE {@code :authority}: a literal {@code ip:port}, IPv6 in brackets. IP literals are read as
 * ztunnel reads them (Rust's {@code SocketAddr} parser in {@code HboneAddress::try_from}, src/proxy.rs):
 * an IPv4 octet with a leading zero ({@code 127.000.000.001}) is not an address, since other parsers
 * read {@code 010} as octal and would disagree about which host it names.
 */
public final class Authority {
    private Authority() {}

    /**
     * Whether {@code a} is one host's address a TCP connection can have at either end: neither multicast nor IPv4's
     * limited broadcast ({@code 255.255.255.255}; a subnet's directed broadcast depends on a netmask nobody here knows).
     * The one test behind every listener, dial source and destination check that refuses them.
     */
    public static boolean isUnicast(java.net.InetAddress a) {
        byte[] b = a.getAddress();
        return !a.isMulticastAddress() && !(b.length == 4 && (b[0] & b[1] & b[2] & b[3]) == (byte) 0xff);
    }

    /** The parsed address, or null when {@code authority} is not a literal ip:port. */
    public static InetSocketAddress parse(CharSequence authority) {
        if (authority == null || authority.length() == 0 || authority.length() > 64) {
            return null;
        }
        String a = authority.toString();
        String host;
        String port;
        if (a.charAt(0) == '[') {
            int close = a.indexOf(']');
            if (close < 0 || close + 1 >= a.length() || a.charAt(close + 1) != ':') {
                return null;
            }
            host = a.substring(1, close);
            port = a.substring(close + 2);
            if (!NetUtil.isValidIpV6Address(host) || host.indexOf('%') >= 0) {
                return null;
            }
            int lastColon = host.lastIndexOf(':');
            if (host.indexOf('.', lastColon) >= 0 && hasLeadingZeroOctet(host.substring(lastColon + 1))) {
                return null;
            }
        } else {
            int colon = a.lastIndexOf(':');
            if (colon <= 0 || a.indexOf(':') != colon) {
                return null;
            }
            host = a.substring(0, colon);
            port = a.substring(colon + 1);
            if (!NetUtil.isValidIpV4Address(host) || hasLeadingZeroOctet(host)) {
                return null;
            }
        }
        if (!validPort(port)) {
            return null;
        }
        int p = Integer.parseInt(port);
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(host);
        if (bytes == null) {
            return null;
        }
        try {
            // An IPv4-mapped IPv6 literal ([::ffff:10.0.0.1]) stays IPv6, as Rust's SocketAddr::V6 keeps it in ztunnel
            // (src/proxy.rs HboneAddress::try_from): no IPv4 destination equals it there (inbound.rs validate_destination,
            // 400 IPMismatch). InetAddress.getByAddress made it the IPv4 address, and the tunnel was served (helper 255).
            return new InetSocketAddress(bytes.length == 16 ? java.net.Inet6Address.getByAddress(null, bytes, -1)
                    : InetAddress.getByAddress(bytes), p);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private static boolean hasLeadingZeroOctet(String dotted) {
        int start = 0;
        while (start <= dotted.length()) {
            int end = dotted.indexOf('.', start);
            if (end < 0) {
                end = dotted.length();
            }
            if (end - start > 1 && dotted.charAt(start) == '0') {
                return true;
            }
            start = end + 1;
        }
        return false;
    }

    /**
     * The host of a {@code host:port} authority whose host is a DNS name (RFC 1123 labels, at least one
     * of them not all digits, so that a malformed IP literal is never taken for a name), or null.
     * ztunnel reads such an authority as a service hostname ({@code HboneAddress::SvcHostname}).
     */
    public static String hostname(CharSequence authority) {
        if (authority == null || authority.length() == 0 || authority.length() > 260) {
            return null;
        }
        String a = authority.toString();
        int colon = a.lastIndexOf(':');
        if (colon <= 0 || a.indexOf(':') != colon || !validPort(a.substring(colon + 1))) {
            return null;
        }
        String host = a.substring(0, colon);
        if (host.length() > 253) {
            return null;
        }
        boolean nonNumeric = false;
        for (String label : host.split("\\.", -1)) {
            if (label.isEmpty() || label.length() > 63 || label.charAt(0) == '-' || label.charAt(label.length() - 1) == '-') {
                return null;
            }
            for (int i = 0; i < label.length(); i++) {
                char c = label.charAt(i);
                boolean digit = c >= '0' && c <= '9';
                if (!digit && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-') {
                    return null;
                }
                nonNumeric |= !digit;
            }
        }
        return nonNumeric ? host : null;
    }

    /** The port of an authority {@link #hostname} accepted (it validated the digits). */
    public static int port(CharSequence authority) {
        String a = authority.toString();
        return Integer.parseInt(a, a.lastIndexOf(':') + 1, a.length(), 10);
    }

    private static boolean validPort(String port) {
        if (port.isEmpty() || port.length() > 5) {
            return false;
        }
        int p = 0;
        for (int i = 0; i < port.length(); i++) {
            char c = port.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
            p = p * 10 + (c - '0');
        }
        return p >= 1 && p <= 65535;
    }

    /**
     * An address for log lines and messages as ztunnel prints one (Rust's {@code SocketAddr} display,
     * its access log's {@code src.addr}/{@code dst.addr}, src/proxy/metrics.rs): {@code 10.0.0.1:8080},
     * {@code [::1]:8080}, {@code [fe80::1%2]:8080} (a scope as its number), instead of
     * {@code InetSocketAddress.toString()}'s {@code /10.0.0.1:8080}. An unresolved address prints as
     * {@code host:port}, null as {@code null}. Only for people: the wire's {@code :authority} is
     * {@link #format}.
     */
    public static String text(InetSocketAddress address) {
        if (address == null) {
            return "null";
        }
        InetAddress ip = address.getAddress();
        if (ip == null) {
            return address.getHostString() + ":" + address.getPort();
        }
        String host = NetUtil.toAddressString(ip);
        if (ip instanceof java.net.Inet6Address v6) {
            return "[" + host + (v6.getScopeId() != 0 ? "%" + v6.getScopeId() : "") + "]:" + address.getPort();
        }
        return host + ":" + address.getPort();
    }

    /** {@code ip:port} with IPv6 in brackets. */
    public static String format(InetSocketAddress address) {
        if (address.isUnresolved()) {
            throw new IllegalArgumentException("HBONE targets are IP addresses, got unresolved " + address);
        }
        InetAddress ip = address.getAddress();
        String host = NetUtil.toAddressString(ip);
        return (ip instanceof java.net.Inet6Address ? "[" + host + "]" : host) + ":" + address.getPort();
    }
}
