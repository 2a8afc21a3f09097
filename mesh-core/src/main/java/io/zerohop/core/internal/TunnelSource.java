package io.zerohop.core.internal;

import io.netty.util.NetUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Addresses;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.policy.AccessRequest;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The registry workload an inbound HBONE tunnel comes from: whose pod labels Cilium's
 * {@code fromEndpoints} and {@code ingressDeny} selectors test, and whose names fill the tunnel's
 * {@code source_*} metric labels. In order:
 * <ol>
 *   <li>the registry workload at the tunnel's peer address, when its SPIFFE ID is the verified peer
 *       identity: a pod that dialled itself (embedded mode);
 *   <li>else the registry workload at the last {@code for=} node of the CONNECT's {@code forwarded}
 *       header (RFC 7239), when its SPIFFE ID is the verified peer identity and, if the registry
 *       knows an address of that workload's node in the peer address's family
 *       ({@link WorkloadRegistry#nodeAddresses}: the node's {@code addresses}, its {@code hboneAddress}'s
 *       IP), the peer address is one of them: a node proxy dials from its own address and names the
 *       captured pod there ({@link OutboundHeaders#forwarded});
 *   <li>else none: the peer is known by its SPIFFE ID only, whose pod labels are unknown, and
 *       mesh-policy fails closed for it (no label allow matches; a label deny that may select it denies).
 * </ol>
 * A claim can only choose among the workloads of the identity the peer proved in the handshake, so it
 * never grants an identity, namespace or service account, and a claim that names a workload of another
 * identity, or a header that does not parse, changes nothing (step 3, or step 1's answer). Within one
 * identity, though, pod labels are as trustworthy as whoever holds that identity's key: a peer holding
 * the key of service account {@code frontend} can name, from anywhere, any pod of that service
 * account whose node has no known address of the tunnel's family, and, from a node's known address,
 * that service account's pods on that node.
 * The node binding only ever turns a believed claim into step 3, which is what the peer gets by
 * sending no claim at all, so it narrows and never widens; where the registry knows no address of
 * the node (in that family) it cannot tell the node's proxy from another peer, and keeps the
 * identity-only rule.
 *
 * <p>Upstream (istio/ztunnel at 62d82653): ztunnel's inbound takes the source workload from the TCP
 * peer address alone ({@code src/proxy/inbound.rs} 101 and 144–149 build {@code conn.src} from the
 * accepted socket, 460–473 {@code fetch_workload_by_address(conn.src)}; behind a network gateway no
 * source at all), because in its in-pod mode the tunnel leaves from the pod's own address; it reads
 * {@code Forwarded} only for {@code host=} ({@code parse_forwarded_host}, 439 and 778). ztunnel used
 * {@code for=} once: {@code get_original_src_from_fwded} (src/proxy.rs 432–443 at 3f3a1af7^, the
 * last {@code for=} node, IP with or without port) set the source address only when
 * {@code check_from_waypoint} (src/proxy.rs 558) found the peer's verified identity and address to be
 * the destination's waypoint's (src/proxy/inbound.rs 403–411); commit 3f3a1af7, istio/ztunnel#908,
 * removed it as unused. zerohop's node proxies do not dial from the pod's address, so zerohop goes
 * beyond ztunnel here: it reads {@code for=} as ztunnel did (last node; {@code unknown} and obfuscated
 * nodes name nothing) and trusts it from any peer, but only for a workload of the peer's own identity.
 * Step 1's identity check is zerohop's too (ztunnel compares none; its RBAC tests no pod labels).
 *
 * <p>The same rule gives the tunnel's source address ({@link Source#address}): the pod's when step 2
 * named it, else the TCP peer's, so Istio {@code ipBlocks} on a pod address match behind a node
 * proxy exactly when the pod's labels do.
 *
 * <p>Thread-safe; never blocks. One registry lookup, and the header parsed only when step 1 finds
 * nothing: about 200 bytes of garbage per parse of {@code for="10.1.0.3:40000"} (the node's text, its
 * address), about three parses per tunnel (its L4 authorization or L7 connection, its metric labels
 * when metrics are on, its access-log line when that is on).
 */
public final class TunnelSource {
    private static final int SHOWN = 120;

    private final WorkloadRegistry registry;
    private final String localNode;
    private final java.util.function.Predicate<InetAddress> onThisHost;
    private final RateLimitedLog untrusted;

    /**
     * @param untrusted where a rejected {@code forwarded} claim is reported (a peer can send them at
     *                  will, so rate-limited); null reports nothing
     */
    public TunnelSource(WorkloadRegistry registry, RateLimitedLog untrusted) {
        this(registry, untrusted, null);
    }

    /** @param localNode the node this proxy runs on (its addresses are Cilium's {@code host}), or null when unknown */
    public TunnelSource(WorkloadRegistry registry, RateLimitedLog untrusted, String localNode) {
        this(registry, untrusted, localNode, a -> false);
    }

    /**
     * @param localNode  the node this proxy runs on (its addresses are Cilium's {@code host}), or null when unknown
     * @param onThisHost without a {@code localNode}: whether an address is this host's, which makes its node this one
     */
    public TunnelSource(WorkloadRegistry registry, RateLimitedLog untrusted, String localNode,
                        java.util.function.Predicate<InetAddress> onThisHost) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.untrusted = untrusted;
        this.localNode = localNode;
        this.onThisHost = Objects.requireNonNull(onThisHost, "onThisHost");
    }

    /**
     * Who an inbound tunnel comes from, as policy sees it.
     *
     * @param workload the source workload (see the class), or null when the peer is known by its
     *                 SPIFFE ID only
     * @param address  the source address of Istio's {@code source.ip} ({@code ipBlocks}; at L7 also
     *                 {@code remote.ip}): the believed {@code for=} address when step 2 named the
     *                 workload (the pod's own address, which ztunnel's {@code conn.src} is because
     *                 in-pod ztunnel dials from the pod: istio/ztunnel 62d82653 src/rbac.rs 126-131
     *                 match {@code source_ips} against {@code conn.src.ip()}, the accepted socket's
     *                 peer, src/proxy/inbound.rs 101 and 144-149; istio/istio 86c9f01f
     *                 pilot/pkg/serviceregistry/ambient/authorization.go 610-611 convert
     *                 {@code ipBlocks} to {@code source_ips}), else the tunnel's TCP peer address;
     *                 never null, and never a claim that was not believed (another identity's pod,
     *                 no workload, a malformed header)
     * @param claimed  whether {@code address} is the believed {@code for=} address (step 2) rather
     *                 than the TCP peer's
     */
    public record Source(Workload workload, InetAddress address, boolean claimed) {
    }

    /**
     * The source workload of an inbound tunnel (see the class), or null when the peer is known by its
     * SPIFFE ID only: {@link #source}'s workload.
     */
    public Workload of(SpiffeId peer, InetSocketAddress peerAddress, Map<String, String> headers, boolean report) {
        return source(peer, peerAddress, headers, report).workload();
    }

    /**
     * The source workload and source address of an inbound tunnel (see the class and {@link Source}).
     *
     * @param peer        the verified peer identity; null (plaintext) means no workload at all
     * @param peerAddress the tunnel's TCP peer
     * @param headers     the CONNECT's request headers (names lower case)
     * @param report      whether a rejected claim is logged; true once per tunnel (where it is
     *                    authorized), false where the same tunnel is looked at again (metrics, a
     *                    policy change), so one claim is logged once
     */
    public Source source(SpiffeId peer, InetSocketAddress peerAddress, Map<String, String> headers, boolean report) {
        InetAddress peerIp = peerAddress.getAddress();
        if (peer == null) {
            return new Source(null, peerIp, false);
        }
        Workload direct = registry.byAddress(peerIp).orElse(null);
        if (direct != null && direct.hasIdentity(peer)) {
            return new Source(direct, peerIp, false);
        }
        String value = headers.get("forwarded");
        if (value == null) {
            return new Source(null, peerIp, false);
        }
        InetAddress claimed;
        try {
            claimed = forwardedFor(value);
        } catch (IllegalArgumentException e) {
            if (report && untrusted != null) {
                untrusted.warn("malformed forwarded header from {} ({}): {}; source known by its SPIFFE ID only: \"{}\"",
                        Addresses.authority(peerAddress), peer, e.getMessage(), shown(value));
            }
            return new Source(null, peerIp, false);
        }
        if (claimed == null) {
            return new Source(null, peerIp, false);
        }
        Workload w = registry.byAddress(claimed).orElse(null);
        if (w == null) {
            // A captured client that is no workload (a host process tunnelling as the proxy's identity).
            return new Source(null, peerIp, false);
        }
        if (!w.hasIdentity(peer)) {
            if (report && untrusted != null) {
                untrusted.warn("untrusted forwarded claim from {}: for={} is {} ({}), but the peer is {}; "
                                + "source known by its SPIFFE ID only", Addresses.authority(peerAddress),
                        NetUtil.toAddressString(claimed), w, w.hasKnownIdentity() ? w.identity() : "no identity", peer);
            }
            return new Source(null, peerIp, false);
        }
        if (!fromItsNode(w, peerIp)) {
            if (report && untrusted != null) {
                untrusted.warn("untrusted forwarded claim from {} ({}): for={} is {} ({}) on node {}, whose proxy dials from {}; "
                                + "source known by its SPIFFE ID only", Addresses.authority(peerAddress), peer,
                        NetUtil.toAddressString(claimed), w, w.identity(), w.node(), addressList(registry.nodeAddresses(w.node())));
            }
            return new Source(null, peerIp, false);
        }
        return new Source(w, claimed, true);
    }

    /**
     * Whether a tunnel from {@code peerIp} may name {@code w} (step 2's node binding): true when the
     * registry knows no address of {@code w}'s node in {@code peerIp}'s family (no node, a node without
     * {@code hboneAddress} or {@code addresses}, or only addresses of the other family), else whether
     * {@code peerIp} is one of them. Families compare by class: an IPv4 peer on a dual-stack listener
     * arrives as an {@code Inet4Address} (Netty's epoll hands an IPv4-mapped peer over as its 4 bytes,
     * netty/netty transport-native-unix-common/src/main/c/netty_unix_socket.c
     * {@code netty_unix_socket_ipAddressLength}; the JDK's sockets and {@code InetAddress.getByAddress}
     * do the same), and registry addresses are parsed the same way.
     */
    private boolean fromItsNode(Workload w, InetAddress peerIp) {
        List<InetAddress> known = registry.nodeAddresses(w.node());
        boolean bound = false;
        for (int k = 0; k < known.size(); k++) {
            InetAddress a = known.get(k);
            if (a.getClass() == peerIp.getClass()) {
                if (a.equals(peerIp)) {
                    return true;
                }
                bound = true;
            }
        }
        return !bound;
    }

    private static String addressList(List<InetAddress> as) {
        StringBuilder b = new StringBuilder();
        for (InetAddress a : as) {
            b.append(b.length() == 0 ? "" : ", ").append(NetUtil.toAddressString(a));
        }
        return b.toString();
    }

    /**
     * A plaintext connection's source: the registry workload at its address (no identity to check), or null. A workload
     * without identity ({@link Workload#hasKnownIdentity}: an EndpointSlice endpoint, often a node's or an external
     * address) is none: its namespace and labels would be a pod's to Cilium's {@code fromEndpoints}, where Cilium knows
     * such an address as {@code world} or a node; it is treated as an address outside the registry.
     */
    public Workload plaintext(InetAddress address) {
        return registry.byAddress(address).filter(Workload::hasKnownIdentity).orElse(null);
    }

    /** The node of the registry workload at {@code address}, or null. */
    public String nodeOf(InetAddress address) {
        return registry.byAddress(address).map(Workload::node).orElse(null);
    }

    /**
     * For plaintext from {@code address}, no workload's: whether it is a registry node's address, as Cilium identifies it
     * ({@code reserved:host} for this proxy's node, {@code reserved:remote-node} for another; pkg/identity), else null
     * (world). Without a known local node, the node is this one when the address is this host's (a new-user pass found
     * every node read as another's there, where {@code zerohop policy check} reads the destination's node as the host).
     */
    public AccessRequest.SourceNode plaintextNode(InetAddress address) {
        return plaintextNode(address, null);
    }

    /**
     * {@link #plaintextNode(InetAddress)} for a connection to a workload on {@code destinationNode} (null: unknown). The
     * node enforcing is this proxy's ({@code localNode}), else the destination's: a proxy serves its own node's
     * workloads, and {@code zerohop policy check} reads it so; only with neither known does an address of this host make
     * its node this one (a new-user pass found the proxy and the check disagreeing without {@code --node}).
     */
    public AccessRequest.SourceNode plaintextNode(InetAddress address, String destinationNode) {
        String node = registry.nodeAt(address).orElse(null);
        if (node == null || plaintext(address) != null) {
            return null;
        }
        String enforcing = localNode != null ? localNode : destinationNode;
        boolean here = enforcing != null ? node.equals(enforcing) : onThisHost.test(address);
        return here ? AccessRequest.SourceNode.HOST : AccessRequest.SourceNode.REMOTE_NODE;
    }

    /**
     * The address of the last {@code for=} node of an RFC 7239 {@code Forwarded} value (the one the
     * nearest proxy added, as ztunnel's {@code get_original_src_from_fwded} took), or null when the
     * value has no {@code for=} or that node is {@code unknown} or obfuscated ({@code _name}). A node
     * is an IPv4 address or a bracketed IPv6 address, either with an optional port; a port or brackets
     * need the quoted form, as the RFC's grammar has them ({@code for=192.0.2.43:80} is malformed).
     * Never resolves a name.
     *
     * @throws IllegalArgumentException when the value is not RFC 7239 syntax: an element without
     *     {@code name=value}, a bad token, an unterminated quote, {@code for}, {@code by}, {@code host}
     *     or {@code proto} twice in one element, or
     *     a {@code for=} node that is neither an address, {@code unknown}, nor obfuscated
     */
    public static InetAddress forwardedFor(String value) {
        String node = forwardedForNode(value);
        return node == null ? null : node(node);
    }

    /**
     * The last {@code for=} node of {@code value} as written (unquoted; {@code "192.0.2.43:80"}, {@code [2001:db8::1]}),
     * read as {@link #forwardedFor} reads it (quoted strings, every element checked), or null when there is none: what
     * the access log shows of the address the policy decided on. A split on ',' and ';' that ignored quotes named another
     * node than the decision's ({@code for=10.0.0.5;host="x,for=6.6.6.6"}; a final new-user pass).
     *
     * @throws IllegalArgumentException as {@link #forwardedFor}
     */
    public static String forwardedForNode(String value) {
        String last = null;
        int i = 0;
        int n = value.length();
        // RFC 7239's four parameters, one bit each: none may occur twice in an element (extension
        // parameters are not tracked: nothing here reads them).
        int seen = 0;
        while (true) {
            i = skipOws(value, i);
            if (i < n && value.charAt(i) != ',' && value.charAt(i) != ';') {
                int nameStart = i;
                while (i < n && isTchar(value.charAt(i))) {
                    i++;
                }
                if (i == nameStart || i >= n || value.charAt(i) != '=') {
                    throw new IllegalArgumentException("expected name=value at offset " + nameStart);
                }
                int bit = parameterBit(value, nameStart, i - nameStart);
                if ((seen & bit) != 0) {
                    throw new IllegalArgumentException("parameter " + value.substring(nameStart, i) + " twice in one element");
                }
                seen |= bit;
                i++;
                String v;
                if (i < n && value.charAt(i) == '"') {
                    int end = quotedEnd(value, i);
                    v = bit == FOR ? unquote(value, i + 1, end) : null;
                    i = end + 1;
                } else {
                    int start = i;
                    while (i < n && isTchar(value.charAt(i))) {
                        i++;
                    }
                    if (i == start) {
                        throw new IllegalArgumentException("empty value at offset " + start);
                    }
                    v = bit == FOR ? value.substring(start, i) : null;
                }
                if (bit == FOR) {
                    node(v); // checked in every element, as the decision checks it
                    last = v;
                }
                i = skipOws(value, i);
            }
            if (i >= n) {
                break;
            }
            char sep = value.charAt(i++);
            if (sep == ',') {
                seen = 0;
            } else if (sep != ';') {
                throw new IllegalArgumentException("unexpected '" + sep + "' at offset " + (i - 1));
            }
        }
        return last;
    }

    private static final int FOR = 1;

    /** {@code for} 1, {@code by} 2, {@code host} 4, {@code proto} 8 (case-insensitive), else 0. */
    private static int parameterBit(String s, int from, int len) {
        if (len == 3 && s.regionMatches(true, from, "for", 0, 3)) {
            return FOR;
        }
        if (len == 2 && s.regionMatches(true, from, "by", 0, 2)) {
            return 2;
        }
        if (len == 4 && s.regionMatches(true, from, "host", 0, 4)) {
            return 4;
        }
        return len == 5 && s.regionMatches(true, from, "proto", 0, 5) ? 8 : 0;
    }

    /** The index of the closing quote of the quoted-string opening at {@code open}. */
    private static int quotedEnd(String s, int open) {
        int i = open + 1;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '"') {
                return i;
            }
            if (c == '\\') {
                i++;
                if (i >= s.length()) {
                    break;
                }
                c = s.charAt(i);
            }
            if (c < 0x20 && c != '\t' || c == 0x7f) {
                throw new IllegalArgumentException("control character in a quoted string");
            }
            i++;
        }
        throw new IllegalArgumentException("unterminated quoted string");
    }

    /** The text of a quoted-string's content between {@code from} and {@code to}, quoted-pairs undone. */
    private static String unquote(String s, int from, int to) {
        if (s.indexOf('\\', from) < 0 || s.indexOf('\\', from) >= to) {
            return s.substring(from, to);
        }
        StringBuilder b = new StringBuilder(to - from);
        for (int k = from; k < to; k++) {
            char c = s.charAt(k);
            b.append(c == '\\' ? s.charAt(++k) : c);
        }
        return b.toString();
    }

    /** A {@code for=} node's address; null for {@code unknown} or an obfuscated node; else an error (RFC 7239 section 6). */
    private static InetAddress node(String node) {
        InetAddress a = address(node);
        if (a == null && !isNamelessNode(node)) {
            throw new IllegalArgumentException("for= is no IP address, \"unknown\" or obfuscated node");
        }
        return a;
    }

    private static boolean isNamelessNode(String node) {
        String name = node;
        int colon = node.lastIndexOf(':');
        if (colon >= 0) {
            if (!isPort(node.substring(colon + 1))) {
                return false;
            }
            name = node.substring(0, colon);
        }
        return name.equalsIgnoreCase("unknown") || isObfuscated(name);
    }

    /** The node's IP, or null when it is none (the port, if any, is checked and dropped). */
    private static InetAddress address(String node) {
        String host = node;
        if (node.startsWith("[")) {
            int close = node.indexOf(']');
            if (close < 0) {
                return null;
            }
            String rest = node.substring(close + 1);
            if (!rest.isEmpty() && !(rest.charAt(0) == ':' && isPort(rest.substring(1)))) {
                return null;
            }
            host = node.substring(1, close);
            if (host.indexOf('%') >= 0 || !NetUtil.isValidIpV6Address(host)) {
                return null;
            }
        } else {
            int colon = node.indexOf(':');
            if (colon >= 0) {
                if (!isPort(node.substring(colon + 1))) {
                    return null;
                }
                host = node.substring(0, colon);
            }
            if (!NetUtil.isValidIpV4Address(host)) {
                return null;
            }
        }
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(host);
        try {
            // An IPv4-mapped IPv6 literal comes back as the IPv4 address (ztunnel's to_canonical).
            return bytes == null ? null : InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private static boolean isPort(String s) {
        if (s.startsWith("_")) {
            return isObfuscated(s);
        }
        if (s.isEmpty() || s.length() > 5) {
            return false;
        }
        for (int k = 0; k < s.length(); k++) {
            if (s.charAt(k) < '0' || s.charAt(k) > '9') {
                return false;
            }
        }
        return Integer.parseInt(s) <= 65535;
    }

    /** RFC 7239 {@code obfnode}/{@code obfport}: "_" then letters, digits, ".", "_" or "-". */
    private static boolean isObfuscated(String s) {
        if (s.length() < 2 || s.charAt(0) != '_') {
            return false;
        }
        for (int k = 1; k < s.length(); k++) {
            char c = s.charAt(k);
            if (!(Character.isLetterOrDigit(c) && c < 0x80 || c == '.' || c == '_' || c == '-')) {
                return false;
            }
        }
        return true;
    }

    private static int skipOws(String s, int i) {
        while (i < s.length() && (s.charAt(i) == ' ' || s.charAt(i) == '\t')) {
            i++;
        }
        return i;
    }

    /** RFC 9110 {@code tchar}. */
    private static boolean isTchar(char c) {
        return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }

    /** A peer's header as a log shows it: control characters replaced, at most {@value #SHOWN} characters. */
    private static String shown(String value) {
        StringBuilder b = new StringBuilder(Math.min(value.length(), SHOWN) + 3);
        for (int k = 0; k < value.length() && k < SHOWN; k++) {
            char c = value.charAt(k);
            b.append(c < 0x20 || c == 0x7f || c == '"' ? '?' : c);
        }
        return value.length() > SHOWN ? b.append("...").toString() : b.toString();
    }
}
