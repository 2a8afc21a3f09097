package io.zerohop.core;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** IP literal parsing that never resolves a name (a DNS lookup here would block the caller). */
public final class Addresses {
    private Addresses() {}

    /** Parses an IPv4 or IPv6 literal; {@code where} prefixes the error. */
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

    /** The HBONE {@code :authority} form: {@code ip:port}, IPv6 in brackets. */
    public static String authority(InetSocketAddress a) {
        String ip = a.getAddress().getHostAddress();
        return (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + a.getPort();
    }
}
