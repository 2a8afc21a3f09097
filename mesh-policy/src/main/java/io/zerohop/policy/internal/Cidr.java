package io.zerohop.policy.internal;

import java.net.Inet4Address;
import java.net.InetAddress;

/** An IPv4 or IPv6 prefix. */
final class Cidr {

    private final boolean v4;
    private final int v4Addr;
    private final int v4Mask;
    private final byte[] v6Addr;
    private final int bits;
    private final String text;

    private Cidr(boolean v4, int v4Addr, int v4Mask, byte[] v6Addr, int bits, String text) {
        this.v4 = v4;
        this.v4Addr = v4Addr;
        this.v4Mask = v4Mask;
        this.v6Addr = v6Addr;
        this.bits = bits;
        this.text = text;
    }

    /**
     * An IPv4-mapped IPv6 prefix ({@code ::ffff:a.b.c.d}, {@code /96} and longer): no peer address is one, since
     * Java reads a mapped peer as its IPv4 address (as ztunnel canonicalizes it), so it never matches.
     */
    boolean ipv4Mapped() {
        if (v4 || bits < 96) {
            return false;
        }
        for (int i = 0; i < 10; i++) {
            if (v6Addr[i] != 0) {
                return false;
            }
        }
        return v6Addr[10] == (byte) 0xff && v6Addr[11] == (byte) 0xff;
    }

    /** The IPv4 form of an {@linkplain #ipv4Mapped() IPv4-mapped} prefix: {@code 10.0.0.1}, {@code 10.0.0.0/8}. */
    String ipv4Form() {
        String a = (v6Addr[12] & 0xff) + "." + (v6Addr[13] & 0xff) + "." + (v6Addr[14] & 0xff) + "." + (v6Addr[15] & 0xff);
        return bits == 128 ? a : a + "/" + (bits - 96);
    }

    /** The prefix length ({@code 8} for {@code 10.0.0.0/8}; 32 or 128 for an address). */
    int bits() {
        return bits;
    }

    /** Parses {@code a.b.c.d[/n]} or an IPv6 literal with optional prefix; null if malformed. */
    static Cidr parse(String s) {
        String addr = s;
        int bits = -1;
        int slash = s.indexOf('/');
        if (slash >= 0) {
            addr = s.substring(0, slash);
            String b = s.substring(slash + 1);
            // Go's netip.ParsePrefix: decimal digits only, no leading zero.
            if (b.isEmpty() || b.length() > 3 || !b.chars().allMatch(c -> c >= '0' && c <= '9')
                    || (b.length() > 1 && b.charAt(0) == '0')) {
                return null;
            }
            bits = Integer.parseInt(b);
        }
        byte[] bytes = parseLiteral(addr);
        if (bytes == null) {
            return null;
        }
        int max = bytes.length * 8;
        if (bits == -1) {
            bits = max;
        }
        if (bits < 0 || bits > max) {
            return null;
        }
        if (bytes.length == 4) {
            int a = ((bytes[0] & 0xff) << 24) | ((bytes[1] & 0xff) << 16) | ((bytes[2] & 0xff) << 8) | (bytes[3] & 0xff);
            int mask = bits == 0 ? 0 : -1 << (32 - bits);
            return new Cidr(true, a & mask, mask, null, bits, s);
        }
        return new Cidr(false, 0, 0, bytes, bits, s);
    }

    private static byte[] parseLiteral(String addr) {
        if (addr.isEmpty()) {
            return null;
        }
        if (addr.indexOf(':') < 0) {
            return parseV4(addr);
        }
        for (int i = 0; i < addr.length(); i++) {
            char c = addr.charAt(i);
            if (!(Character.digit(c, 16) >= 0 || c == ':' || c == '.')) {
                return null;
            }
        }
        for (String group : addr.split(":", -1)) {
            // Go's netip: "each group must have 4 or less digits"; the JDK read ::00001 as ::1 (a review pass, helper 252).
            // An embedded IPv4 (the last group, with dots) is checked by parseV4 below.
            if (group.length() > 4 && group.indexOf('.') < 0) {
                return null;
            }
        }
        if (addr.indexOf('.') >= 0 && parseV4(addr.substring(addr.lastIndexOf(':') + 1)) == null) {
            // Go's netip reads an embedded IPv4 (::ffff:1.2.3.4) with its IPv4 rules: no leading zeros.
            return null;
        }
        byte[] b;
        try {
            // A literal containing ':' is never resolved through DNS.
            b = InetAddress.getByName(addr).getAddress();
        } catch (java.net.UnknownHostException e) {
            return null;
        }
        if (b.length == 4) {
            // Java turns an IPv4-mapped literal (::ffff:a.b.c.d) into the IPv4 address. Go's netip keeps it an
            // IPv6 address (Is4In6), and neither ztunnel (ipnet: the families differ) nor Envoy's CidrRange
            // matches it against an IPv4 peer: keep the 16 bytes, so that it never matches one here either.
            byte[] mapped = new byte[16];
            mapped[10] = (byte) 0xff;
            mapped[11] = (byte) 0xff;
            System.arraycopy(b, 0, mapped, 12, 4);
            return mapped;
        }
        return b;
    }

    /** Go's netip IPv4 syntax: four decimal fields, none above 255, no leading zeros; null otherwise. */
    private static byte[] parseV4(String addr) {
        String[] parts = addr.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] b = new byte[4];
        for (int i = 0; i < 4; i++) {
            // Go's netip.ParseAddr refuses leading zeros (010.0.0.1 is octal to some parsers).
            if (parts[i].isEmpty() || parts[i].length() > 3 || !parts[i].chars().allMatch(c -> c >= '0' && c <= '9')
                    || (parts[i].length() > 1 && parts[i].charAt(0) == '0')) {
                return null;
            }
            int v = Integer.parseInt(parts[i]);
            if (v > 255) {
                return null;
            }
            b[i] = (byte) v;
        }
        return b;
    }

    boolean contains(InetAddress a) {
        if (a instanceof Inet4Address) {
            // Inet4Address.hashCode() is its address as an int: reading it avoids getAddress()'s copy.
            return v4 && (a.hashCode() & v4Mask) == v4Addr;
        }
        if (v4) {
            return false;
        }
        return prefixMatches(a.getAddress());
    }

    /** Whether the first {@link #bits} bits of the 16 bytes {@code b} are this IPv6 prefix's. */
    private boolean prefixMatches(byte[] b) {
        int full = bits / 8;
        for (int i = 0; i < full; i++) {
            if (b[i] != v6Addr[i]) {
                return false;
            }
        }
        int rem = bits % 8;
        if (rem == 0) {
            return true;
        }
        int mask = (0xff << (8 - rem)) & 0xff;
        return (b[full] & mask) == (v6Addr[full] & mask);
    }

    /** Whether {@code other}'s network address lies in this prefix (same family), as Go's Prefix.Contains(other.Addr()). */
    boolean containsPrefixStart(Cidr other) {
        if (v4 != other.v4) {
            return false;
        }
        // Compared as bytes: InetAddress.getByAddress would turn an IPv4-mapped address into an IPv4 one.
        return v4 ? (other.v4Addr & v4Mask) == v4Addr : prefixMatches(other.v6Addr);
    }

    /**
     * Envoy's remote address of a request ({@code remote.ip}, {@code remoteIpBlocks}): istiod's sidecar and waypoint
     * listeners set {@code use_remote_address: false} (istio/istio pilot/pkg/networking/core/listener_builder.go,
     * listener_waypoint.go), so Envoy's connection manager takes the last {@code X-Forwarded-For} address
     * (envoyproxy/envoy source/common/http/utility.cc {@code getLastAddressFromXFF}, no trusted hops: after the last
     * comma, trimmed, an IP literal) and keeps the connection's when there is none or it does not parse
     * ({@code conn_manager_utility.cc} {@code mutateRequestHeaders}). Without HTTP: the source address. Until
     * 5 December zerohop took the source address for HTTP too, so a DENY on a client address an ingress gateway put in
     * X-Forwarded-For never fired (a review pass). As behind Envoy, the client that sends the header chooses it.
     */
    static InetAddress remoteAddress(io.zerohop.policy.AccessRequest r) {
        String xff = r.http() == null ? null : r.http().header("x-forwarded-for");
        if (xff != null) {
            byte[] b = parseLiteral(xff.substring(xff.lastIndexOf(',') + 1).trim());
            if (b != null) {
                try {
                    // An IPv4-mapped literal stays IPv6 (no IPv4 CIDR matches it, as Envoy's CidrRange): getByAddress
                    // would make it IPv4.
                    return b.length == 16 ? java.net.Inet6Address.getByAddress(null, b, -1) : InetAddress.getByAddress(b);
                } catch (java.net.UnknownHostException e) {
                    // a 4- or 16-byte array is always an address
                }
            }
        }
        return r.sourceAddress();
    }

    static boolean any(Cidr[] cs, InetAddress a) {
        for (Cidr c : cs) {
            if (c.contains(a)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return text;
    }
}
