package io.zerohop.hbone.internal;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** HBONE {@code :authority}: a literal {@code ip:port}, IPv6 in brackets. No host names. */
public final class Authority {
    private Authority() {}

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
        } else {
            int colon = a.lastIndexOf(':');
            if (colon <= 0 || a.indexOf(':') != colon) {
                return null;
            }
            host = a.substring(0, colon);
            port = a.substring(colon + 1);
            if (!NetUtil.isValidIpV4Address(host)) {
                return null;
            }
        }
        if (port.isEmpty() || port.length() > 5) {
            return null;
        }
        int p = 0;
        for (int i = 0; i < port.length(); i++) {
            char c = port.charAt(i);
            if (c < '0' || c > '9') {
                return null;
            }
            p = p * 10 + (c - '0');
        }
        if (p < 1 || p > 65535) {
            return null;
        }
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(host);
        if (bytes == null) {
            return null;
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(bytes), p);
        } catch (UnknownHostException e) {
            return null;
        }
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
