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
        if (authority == null || authority.length() == 0) {
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
            // The longest IPv6 text is 45 characters; the port's length is not bounded here (see validPort).
            if (close > 46) {
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
            if (host.length() > 15 || !NetUtil.isValidIpV4Address(host) || hasLeadingZeroOctet(host)) {
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
        if (authority == null || authority.length() == 0) {
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

    /**
     * Why hyper's {@code http::uri::Authority} (http 1.4.1, {@code validate_authority_bytes}) refuses {@code authority},
     * or null when it takes it. ztunnel never sees such a CONNECT: h2 0.4.14 ({@code server.rs}
     * {@code convert_poll_message}) resets the stream with PROTOCOL_ERROR as malformed. What it refuses: an empty value,
     * a byte outside RFC 3986's URI characters, a {@code /}, {@code ?} or {@code #}, a {@code %} outside brackets and
     * userinfo (so no percent-encoded host), brackets that do not pair, more than one colon outside them, an empty host
     * after {@code @}.
     */
    public static String malformedForHttp(CharSequence authority) {
        int n = authority.length();
        if (n == 0) {
            return "empty";
        }
        int colons = 0;
        boolean open = false;
        boolean closed = false;
        boolean percent = false;
        int at = -1;
        for (int i = 0; i < n; i++) {
            char c = authority.charAt(i);
            if (c == '/' || c == '?' || c == '#') {
                return "'" + c + "' ends an authority";
            }
            if (c == '%') {
                percent = true;
            } else if (c == ':') {
                if (++colons > 8) {
                    return "too many colons";
                }
            } else if (c == '[') {
                if (percent || open) {
                    return "misplaced '['";
                }
                open = true;
            } else if (c == ']') {
                if (!open || closed) {
                    return "misplaced ']'";
                }
                closed = true;
                colons = 0;
                percent = false;
            } else if (c == '@') {
                at = i;
                colons = 0;
                percent = false;
            } else if (!uriChar(c)) {
                return String.format("character U+%04X is not a URI character", (int) c);
            }
        }
        if (open != closed) {
            return "unpaired '['";
        }
        if (colons > 1) {
            return "more than one ':' outside brackets";
        }
        if (at == n - 1) {
            return "nothing after '@'";
        }
        return percent ? "'%' in the host (percent-encoding is for userinfo only)" : null;
    }

    private static boolean uriChar(char c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "!$&'()*+,-.;=_~".indexOf(c) >= 0;
    }

    /**
     * The host of an authority that {@link #malformedForHttp} takes, as ztunnel reads it when it is no
     * {@code SocketAddr} ({@code HboneAddress::try_from}, src/proxy.rs: {@code Uri::host}, the text between the last
     * {@code @} and the first {@code :}, brackets kept), or null when ztunnel finds no port there ({@code port_u16}:
     * Rust's {@code u16} parse of the text after the last colon, a {@code +} sign allowed) and answers 400
     * {@code NoValidAuthority}. Not a DNS name check: ztunnel looks whatever it gets up among Service host names.
     */
    public static String looseHost(CharSequence authority) {
        String a = authority.toString();
        int colon = a.lastIndexOf(':');
        if (colon < 0 || rustU16(a.substring(colon + 1)) < 0) {
            return null;
        }
        String hostPort = a.substring(a.lastIndexOf('@') + 1);
        if (!hostPort.isEmpty() && hostPort.charAt(0) == '[') {
            return hostPort.substring(0, hostPort.indexOf(']') + 1);
        }
        int first = hostPort.indexOf(':');
        return first < 0 ? hostPort : hostPort.substring(0, first);
    }

    /** The port of an authority {@link #looseHost} took. */
    public static int loosePort(CharSequence authority) {
        String a = authority.toString();
        return rustU16(a.substring(a.lastIndexOf(':') + 1));
    }

    /** Rust's {@code str::parse::<u16>}: an optional {@code +}, then ASCII digits (leading zeros allowed); -1 if not. */
    private static int rustU16(String s) {
        int start = s.startsWith("+") ? 1 : 0;
        if (start == s.length()) {
            return -1;
        }
        int p = 0;
        for (int i = start; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            p = p * 10 + (c - '0');
            if (p > 65535) {
                return -1;
            }
        }
        return p;
    }

    /**
     * Whether {@code host} (from {@link #looseHost}) is an IP that Rust's {@code SocketAddr} parser reads, so ztunnel took
     * the authority as an address and never as a name: dotted IPv4 without leading zeros, or a bracketed IPv6 with at most
     * a numeric zone.
     */
    public static boolean rustIp(String host) {
        if (host.startsWith("[")) {
            String in = host.substring(1, host.length() - 1);
            int pct = in.indexOf('%');
            if (pct >= 0) {
                String zone = in.substring(pct + 1);
                if (zone.isEmpty() || !zone.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
                    return false;
                }
                in = in.substring(0, pct);
            }
            return NetUtil.isValidIpV6Address(in);
        }
        return NetUtil.isValidIpV4Address(host) && !hasLeadingZeroOctet(host);
    }

    /** The port of an authority {@link #hostname} accepted (it validated the digits). */
    public static int port(CharSequence authority) {
        String a = authority.toString();
        return Integer.parseInt(a, a.lastIndexOf(':') + 1, a.length(), 10);
    }

    /**
     * A port as ztunnel reads one in either form of {@code HboneAddress::try_from}: Rust's {@code SocketAddr} parser
     * ({@code read_port}: {@code read_number(10, None, true)}, any number of digits, leading zeros allowed) and
     * {@code port_u16}'s {@code u16} parse; so {@code 10.0.0.2:0080} is port 80 there, as is {@code name:000080}. Until
     * 7 December more than five characters were refused here (400 where ztunnel serves the same port), found by
     * InboundAuthorityBreakTest. Port 0 stays refused here, and a sign is no digit (the callers' 400 for {@code +80}).
     */
    private static boolean validPort(String port) {
        if (port.isEmpty()) {
            return false;
        }
        int p = 0;
        for (int i = 0; i < port.length(); i++) {
            char c = port.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
            p = p * 10 + (c - '0');
            if (p > 65535) {
                return false;
            }
        }
        return p >= 1;
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
