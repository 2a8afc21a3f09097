package io.zerohop.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The checks a request's head passes before any policy reads it, exposed so that a tool can tell in advance what the
 * proxy refuses (the CLI's {@code zerohop policy check} uses them). The proxy answers an HTTP/1 request that fails one
 * with 400 and resets an HTTP/2 stream that fails one, as Envoy's codecs do in front of an Istio waypoint or Cilium's
 * L7 proxy.
 */
public final class HeaderValidation {

    private static final String AUTHORITY_PUNCTUATION = "!$%&'()*+,-.:;=@[]_~";

    private HeaderValidation() {
    }

    /**
     * Envoy's authority check (envoyproxy/envoy {@code source/common/http/header_validation.cc},
     * {@code check_authority_h1_h2}): a {@code Host} or {@code :authority} may hold only ASCII letters, digits and
     * {@code ! $ % & ' ( ) * + , - . : ; = @ [ ] _ ~}. Anything else, a space, {@code /}, {@code "} or a byte above
     * 0x7E, makes Envoy answer 400 {@code http.invalid_authority}. Taken as written, {@code Host: blocked.example/}
     * would escape a DENY on {@code hosts: [blocked.example]} and reach an application that reads it as that host.
     *
     * @param authority the header's value as the HTTP codec delivers it, not decoded: an HTTP/1 {@code Host} after field
     *                  parsing has dropped its surrounding spaces and tabs (RFC 9112 section 5.1, as Envoy's and Netty's
     *                  HTTP/1 codecs do), an HTTP/2 {@code :authority} exactly as sent (HTTP/2 has no such whitespace, so
     *                  {@code " a.example"} is refused there). Do not trim it yourself for HTTP/2. The empty string is
     *                  accepted, as by Envoy's table; not null
     * @return empty when Envoy accepts it, else the reason, naming the first refused character's code and index:
     *         {@code Host has a character Envoy refuses (0x2f at 15): http.invalid_authority}
     * @throws NullPointerException if {@code authority} is null
     */
    public static Optional<String> checkAuthority(String authority) {
        Objects.requireNonNull(authority, "authority");
        for (int i = 0; i < authority.length(); i++) {
            char c = authority.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || AUTHORITY_PUNCTUATION.indexOf(c) >= 0;
            if (!ok) {
                return Optional.of(String.format(
                        "Host has a character Envoy refuses (0x%02x at %d): http.invalid_authority", (int) c, i));
            }
        }
        return Optional.empty();
    }

    /** Envoy's {@code MAX_ALLOWED_NOMINATED_HEADERS}: this many {@code Connection} tokens or more is a refusal. */
    public static final int MAX_NOMINATED_TOKENS = 10;
    /** Envoy's {@code MAX_ALLOWED_TE_VALUE_SIZE}: a nominated {@code TE} this long or longer is a refusal. */
    public static final int MAX_NOMINATED_TE = 256;

    /**
     * What an HTTP/1 request's {@code Connection} header makes the proxy do before any policy reads the request
     * ({@link #connectionNominations}): refuse it (400), or remove the headers it nominates.
     */
    public static final class Nominations {
        private static final Nominations NONE = new Nominations(null, List.of(), List.of(), false);

        private final String refusal;
        private final List<String> removedHeaders;
        private final List<String> droppedTokens;
        private final boolean teAsTrailers;

        private Nominations(String refusal, List<String> removedHeaders, List<String> droppedTokens, boolean teAsTrailers) {
            this.refusal = refusal;
            this.removedHeaders = removedHeaders;
            this.droppedTokens = droppedTokens;
            this.teAsTrailers = teAsTrailers;
        }

        /**
         * Why the proxy answers the request 400 before any policy (Envoy's {@code http1.connection_header_rejected},
         * "Invalid nominated headers in Connection."), or empty; when present, the lists below are empty.
         */
        public Optional<String> refusal() {
            return Optional.ofNullable(refusal);
        }

        /**
         * The headers removed from the request (names lower case, in the order {@code Connection} names them, no
         * duplicates), neither decided on nor forwarded; never null, unmodifiable. A nominated {@code Content-Length} or
         * {@code Transfer-Encoding} is not among them: it frames the body and stays.
         */
        public List<String> removedHeaders() {
            return removedHeaders;
        }

        /**
         * The tokens removed from {@code Connection} itself (lower case; every removed header's, and {@code connection},
         * {@code content-length}, {@code transfer-encoding} when listed); the header goes when none is left. Never null,
         * unmodifiable.
         */
        public List<String> droppedTokens() {
            return droppedTokens;
        }

        /** Whether a nominated {@code TE} that lists {@code trailers} is kept as exactly {@code trailers} (its token stays). */
        public boolean teAsTrailers() {
            return teAsTrailers;
        }
    }

    /**
     * The headers an HTTP/1 request's {@code Connection} header nominates as hop-by-hop (RFC 9110 section 7.6.1), as
     * Envoy's HTTP/1 server codec handles them before any filter sees the request (envoyproxy/envoy
     * source/common/http/http1/codec_impl.cc {@code ServerConnectionImpl::onHeadersCompleteBase}, calling
     * source/common/http/utility.cc {@code Utility::sanitizeConnectionHeader} on every request that is not an upgrade;
     * test/common/http/http1/codec_impl_test.cc {@code SketchyConnectionHeader}). The proxy applies exactly this: each
     * nominated header is removed, and its token; tokens that name no header ({@code close}, {@code keep-alive},
     * {@code upgrade}, {@code http2-settings}) stay; {@code connection} naming itself loses its token; a nominated
     * {@code TE} that lists {@code trailers} stays as {@code trailers}; a nominated {@code Content-Length} or
     * {@code Transfer-Encoding} loses its token but stays. Refused (400): 10 or more tokens, a token
     * {@code x-forwarded-for}, {@code x-forwarded-host}, {@code x-forwarded-proto} or starting with {@code :}, a nominated
     * {@code TE} of 256 bytes or more. Nothing changes for an upgrade (a {@code Connection} token {@code upgrade} with
     * an {@code Upgrade} header other than {@code h2c}: Envoy's {@code handling_upgrade_}).
     *
     * @param connection the {@code Connection} header's value, its lines joined with {@code ","} as Envoy's header map
     *                   holds it; null when the request has none (then nothing changes)
     * @param upgrade    the {@code Upgrade} header's value (lines joined with {@code ","}), or null when absent
     * @param te         the {@code TE} header's value (lines joined with {@code ","}), or null when absent
     * @return never null; its lists name headers in lower case
     */
    public static Nominations connectionNominations(String connection, String upgrade, String te) {
        if (connection == null) {
            return Nominations.NONE;
        }
        List<String> tokens = new ArrayList<>();
        boolean upgradeToken = false;
        for (String t : connection.split(",", -1)) {
            if (!t.isEmpty()) {
                tokens.add(t); // StringUtil::splitToken(..., keep_empty_string = false): " " is still a token
                upgradeToken |= t.strip().equalsIgnoreCase("upgrade");
            }
        }
        if (upgradeToken && upgrade != null && !upgrade.strip().equalsIgnoreCase("h2c")) {
            return Nominations.NONE;
        }
        if (tokens.size() >= MAX_NOMINATED_TOKENS) {
            return refused("Invalid nominated headers in Connection: " + tokens.size() + " tokens, " + MAX_NOMINATED_TOKENS
                    + " or more (Envoy's http1.connection_header_rejected)");
        }
        List<String> removed = new ArrayList<>(2);
        List<String> dropped = new ArrayList<>(2);
        boolean trailers = false;
        for (String t : tokens) {
            String token = t.strip().toLowerCase(Locale.ROOT);
            if (token.equals("close") || token.equals("keep-alive") || token.equals("upgrade") || token.equals("http2-settings")) {
                continue;
            }
            if (token.equals("x-forwarded-for") || token.equals("x-forwarded-host") || token.equals("x-forwarded-proto")
                    || token.startsWith(":")) {
                return refused("Invalid nominated headers in Connection: \"" + t.strip() + "\" (Envoy's http1.connection_header_rejected)");
            }
            if (token.equals("te") && te != null) {
                if (te.length() >= MAX_NOMINATED_TE) {
                    return refused("Invalid nominated headers in Connection: a TE of " + te.length() + " bytes, " + MAX_NOMINATED_TE
                            + " or more (Envoy's http1.connection_header_rejected)");
                }
                if (listsTrailers(te)) {
                    trailers = true;
                    continue;
                }
            }
            if (!token.isEmpty() && !token.equals("connection") && !token.equals("content-length")
                    && !token.equals("transfer-encoding") && !removed.contains(token)) {
                removed.add(token);
            }
            if (!token.isEmpty() && !dropped.contains(token)) {
                dropped.add(token);
            }
        }
        if (removed.isEmpty() && dropped.isEmpty() && !trailers) {
            return Nominations.NONE;
        }
        return new Nominations(null, Collections.unmodifiableList(removed), Collections.unmodifiableList(dropped), trailers);
    }

    private static Nominations refused(String why) {
        return new Nominations(why, List.of(), List.of(), false);
    }

    private static boolean listsTrailers(String te) {
        return listsToken(te, "trailers");
    }

    /**
     * Whether the comma-separated {@code list} has {@code token} among its elements, ASCII case ignored, whitespace
     * around each ignored; without a split, so a request's {@code Connection: keep-alive} costs no allocation here.
     */
    static boolean listsToken(String list, String token) {
        int n = list.length();
        int start = 0;
        while (start <= n) {
            int end = list.indexOf(',', start);
            if (end < 0) {
                end = n;
            }
            int a = start;
            int b = end;
            while (a < b && Character.isWhitespace(list.charAt(a))) {
                a++;
            }
            while (b > a && Character.isWhitespace(list.charAt(b - 1))) {
                b--;
            }
            if (b - a == token.length() && list.regionMatches(true, a, token, 0, token.length())) {
                return true;
            }
            start = end + 1;
        }
        return false;
    }

    /**
     * Why the proxy refuses an HTTP/1 request's upgrade with 403 before any policy, as Istio's Envoy does: the request
     * asks for one ({@code Connection} lists the token {@code upgrade} and an {@code Upgrade} header is present) and it
     * is neither {@code websocket}, the only {@code upgrade_configs} entry istiod writes (istio/istio
     * pilot/pkg/networking/core/listener_builder.go), nor {@code h2c}, which Envoy's codec removes and serves as plain
     * HTTP/1.1 (envoy#7161); Envoy answers an upgrade no config accepts with 403 ({@code upgrade_failed},
     * conn_manager_impl.cc) and closes the connection. Shared by the proxy's L7 filter and {@code zerohop policy check}.
     *
     * @param connection the {@code Connection} header's value (lines joined with {@code ","}), or null when absent
     * @param upgrade    the {@code Upgrade} header's value (lines joined with {@code ","}), or null when absent
     * @return the reason (for the access log and the check's message), or empty when the request goes on to policy
     */
    public static Optional<String> upgradeRefusal(String connection, String upgrade) {
        if (connection == null || upgrade == null || !listsToken(connection, "upgrade")) {
            return Optional.empty();
        }
        String value = upgrade.trim();
        if (value.equalsIgnoreCase("h2c") || value.equalsIgnoreCase("websocket")) {
            return Optional.empty();
        }
        return Optional.of("upgrade to \"" + value + "\" is not allowed (websocket only)");
    }

    /**
     * Whether Cilium's Envoy takes the request as an edge request, whose {@code x-request-id} it replaces. Cilium builds its
     * connection manager with {@code use_remote_address: true}, {@code skip_xff_append}, {@code xff_num_trusted_hops} 0
     * and {@code internal_address_config} of 10/8, 172.16/12, 192.168/16, 127.0.0.1/32 and ::1/128 (cilium/cilium
     * pkg/envoy xds_server.go {@code GetHttpFilterChainProto}, {@code GetInternalListenerCIDRs}); it leaves
     * {@code preserve_external_request_id} unset. So in {@code mutateRequestHeaders} its {@code x-forwarded-proto} is
     * always its connection's level, {@code http} (the client's is overwritten: no trusted hops), and a request is internal,
     * no edge request, only when it has no {@code x-forwarded-for} ({@code allow_trusted_address_checks}) and its source,
     * the pod's address Cilium's proxy sees, is in those ranges; an edge request's id is replaced by a new one whatever
     * it was ({@code UUIDRequestIDExtension::set}, {@code keep_external_id} false). Istio's Envoy after it, where an
     * AuthorizationPolicy selects the workload too, then keeps both. Shared by the proxy's L7 filter (mesh-core
     * {@code ForwardedRequestHeaders}) and {@code zerohop policy check}.
     *
     * @param forwardedFor whether the request has an {@code x-forwarded-for} header
     * @param source       the request's source address as Cilium's proxy sees it (the pod's), or null when unknown
     * @return true when the client's {@code x-request-id} is replaced (an unknown source too)
     */
    public static boolean ciliumEdgeRequest(boolean forwardedFor, java.net.InetAddress source) {
        if (forwardedFor) {
            return true;
        }
        if (source instanceof java.net.Inet4Address) {
            byte[] a = source.getAddress();
            int a0 = a[0] & 0xff;
            int a1 = a[1] & 0xff;
            boolean internal = a0 == 10 || a0 == 172 && (a1 & 0xf0) == 16 || a0 == 192 && a1 == 168
                    || a0 == 127 && a1 == 0 && a[2] == 0 && a[3] == 1;
            return !internal;
        }
        return !(source instanceof java.net.Inet6Address && source.isLoopbackAddress());
    }

    /**
     * The {@code :scheme} Envoy's header map holds for an HTTP/1 request when RBAC reads it
     * ({@code request.headers[:scheme]}): the scheme of an absolute-form target (envoyproxy/envoy
     * source/common/http/http1/codec_impl.cc {@code ServerConnectionImpl::handlePath} sets it from the URL), else the
     * client's {@code x-forwarded-proto} when it is {@code http} or {@code https} in any case, as sent, else
     * {@code http} (conn_manager_utility.cc {@code mutateRequestHeaders}: "If :scheme is not set, sets :scheme based on
     * X-Forwarded-Proto if a valid scheme, else encryption level", {@code getScheme}). The client's
     * {@code x-forwarded-proto} is kept there because Istio builds both the sidecar's inbound and the waypoint's
     * connection manager with {@code use_remote_address: false} (istio/istio pilot/pkg/networking/core/listener.go,
     * listener_waypoint.go {@code buildWaypointInboundHTTPFilters}); the encryption level is that of the connection
     * carrying the HTTP, which zerohop parses inside its tunnel in plaintext, as a waypoint parses it on its internal
     * listener. On a port Cilium's HTTP rules cover the proxy passes {@code http} as {@code forwardedProto}, the value
     * Cilium's Envoy in front overwrote the client's with ({@link #ciliumEdgeRequest}). An HTTP/2 request's
     * {@code :scheme} is the client's own. Shared by the proxy's L7 filter and
     * {@code zerohop policy check}. Until 6 December no request had a {@code :scheme}, so a DENY on it denied nothing.
     *
     * @param target          the request target as sent, not null
     * @param forwardedProto  the {@code x-forwarded-proto} header's value (lines joined with {@code ","}), or null
     * @return {@code http}, {@code https} (an absolute target's in lower case), or the forwarded value as sent; never null
     */
    public static String http1Scheme(String target, String forwardedProto) {
        if (target.regionMatches(true, 0, "https://", 0, 8)) {
            return "https";
        }
        if (target.regionMatches(true, 0, "http://", 0, 7)) {
            return "http";
        }
        if (forwardedProto != null && (forwardedProto.equalsIgnoreCase("http") || forwardedProto.equalsIgnoreCase("https"))) {
            return forwardedProto;
        }
        return "http";
    }

    /**
     * Removes from {@code headers} what Envoy's connection manager removes from every request before any filter, RBAC
     * included (envoyproxy/envoy source/common/http/conn_manager_utility.cc {@code mutateRequestHeaders}, called from
     * conn_manager_impl.cc {@code ActiveStream::decodeHeaders} before the filter chain): {@code keep-alive},
     * {@code proxy-connection} and {@code transfer-encoding} always; and unless the request is an upgrade (a
     * {@code Connection} token {@code upgrade} with an {@code Upgrade} header other than {@code h2c}, whose headers go to
     * the application as they are) {@code connection} and {@code upgrade} (and {@code http2-settings} with an {@code h2c}
     * upgrade, which the codec drops: envoy#7161), and a {@code te} that
     * does not list {@code trailers} ({@code sanitizeTEHeader}; one that does reads exactly {@code trailers}). The proxy
     * decides an HTTP/1 request on what is left, and forwards what is left too, a chunked body saying
     * {@code transfer-encoding: chunked} as Envoy's upstream codec frames it anew (mesh-core's {@code Http1Filter.toUpstream}). Apply {@link #connectionNominations} first, as the codec does.
     *
     * @param headers a request's headers, names lower case, repeated values joined with {@code ","}; changed in place,
     *                so mutable; not null
     * @return the names removed (lower case, {@code te} also when narrowed to {@code trailers}), in the order above, at
     *         most once each;
     *         empty when nothing was; never null
     * @throws NullPointerException if {@code headers} is null
     */
    public static List<String> removeHopByHop(Map<String, String> headers) {
        Objects.requireNonNull(headers, "headers");
        List<String> removed = List.of();
        String connection = headers.get("connection");
        String upgrade = headers.get("upgrade");
        boolean upgradeToken = connection != null && listsToken(connection, "upgrade");
        boolean h2c = upgrade != null && upgrade.strip().equalsIgnoreCase("h2c");
        boolean isUpgrade = upgradeToken && upgrade != null && !h2c;
        if (upgradeToken && h2c && headers.containsKey("http2-settings")) {
            // The codec's own removal of an h2c upgrade ("removing unsupported h2c upgrade headers", envoy#7161).
            removed = add(removed, "http2-settings");
            headers.remove("http2-settings");
        }
        for (String name : HOP_BY_HOP) {
            if (isUpgrade && (name.equals("connection") || name.equals("upgrade"))) {
                continue;
            }
            if (headers.containsKey(name)) {
                removed = add(removed, name);
                headers.remove(name);
            }
        }
        String te = headers.get("te");
        if (te != null && !isUpgrade && !te.equals("trailers")) {
            removed = add(removed, "te");
            if (listsTrailers(te)) {
                headers.put("te", "trailers");
            } else {
                headers.remove("te");
            }
        }
        return removed;
    }

    private static final List<String> HOP_BY_HOP = List.of("connection", "upgrade", "keep-alive", "proxy-connection",
            "transfer-encoding");

    private static List<String> add(List<String> list, String name) {
        List<String> out = list.isEmpty() ? new ArrayList<>(2) : list;
        out.add(name);
        return out;
    }
}
