package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Compiles the {@code toPorts} of a Cilium rule: port rules (numeric ports, IANA service names,
 * end ports, protocols) and their L7 HTTP rules, validated as Cilium's {@code pkg/policy/api}
 * does ({@code l4.go} PortRule and PortProtocol, {@code http.go} PortRuleHTTP,
 * {@code rule_validation.go} sanitize) and worded for decisions' explanations.
 */
final class CiliumPortRules {

    /**
     * The CRD's enum for {@code toPorts[].ports[].protocol} (pkg/policy/api/l4.go {@code +kubebuilder:validation:Enum}):
     * the API server refuses any other value, lower case and ICMP included, before Cilium's own (case-insensitive)
     * ParseL4Proto sees it. ICMP is written in {@code icmps}, which zerohop refuses.
     */
    private static final Set<String> L4_PROTOCOLS = Set.of("ANY", "TCP", "UDP", "SCTP", "VRRP", "IGMP");
    private static final Set<String> HTTP_KEYS = Set.of("method", "path", "host", "headers", "headerMatches");

    private CiliumPortRules() {
    }

    static CiliumPolicy.Port[] ports(YNode toPorts, boolean deny, List<String> parts) throws PolicyLoadException {
        return ports(toPorts, deny, parts, true);
    }

    static CiliumPolicy.Port[] ports(YNode toPorts, boolean deny, List<String> parts, boolean ingress)
            throws PolicyLoadException {
        List<CiliumPolicy.Port> out = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        for (YNode pr : toPorts.items()) {
            pr.onlyKeys(Set.of("ports", "rules", "serverNames", "listener", "originatingTLS", "terminatingTLS"));
            YNode listener = pr.get("listener");
            if (listener != null) {
                listener.onlyKeys(Set.of("envoyConfig", "name", "priority"));
                if (ingress) {
                    // pkg/policy/api/rule_validation.go PortRule.sanitize, Cilium's own refusal.
                    throw listener.error("Listener is not allowed on ingress (" + listener.string("name", "") + ")");
                }
            }
            for (String key : new String[] {"serverNames", "originatingTLS", "terminatingTLS"}) {
                if (ingress && pr.has(key)) {
                    throw pr.get(key).error(key + " is not supported by zerohop");
                }
            }
            // Egress only from here on: validated as Cilium does, then not enforced (zerohop enforces ingress only).
            for (String key : new String[] {"originatingTLS", "terminatingTLS"}) {
                if (pr.has(key)) {
                    pr.get(key).onlyKeys(Set.of("secret", "trustedCA", "certificate", "privateKey"));
                }
            }
            if (pr.has("serverNames")) {
                for (YNode sn : pr.get("serverNames").items()) {
                    if (sn.string().isEmpty()) {
                        throw sn.error("Empty server name is not allowed");
                    }
                }
            }
            CiliumPolicy.Http[] http = null;
            YNode rules = pr.get("rules");
            boolean hasL7 = false;
            if (rules != null) {
                if (deny) {
                    throw rules.error("L7 rules are not allowed in ingressDeny");
                }
                rules.onlyKeys(Set.of("http", "dns", "kafka", "l7proto", "l7"));
                if (ingress && rules.get("dns") != null && !rules.get("dns").items().isEmpty()) {
                    throw rules.get("dns").error("DNS rules are not allowed on ingress");
                }
                // L7Rules.IsEmpty: an empty list is no rule at all (the port stays a plain L4 allow).
                int types = 0;
                for (String key : new String[] {"http", "kafka", "dns"}) {
                    types += rules.get(key) != null && !rules.get(key).items().isEmpty() ? 1 : 0;
                }
                types += rules.get("l7proto") != null ? 1 : 0;
                if (rules.get("l7") != null && rules.get("l7proto") == null) {
                    throw rules.get("l7").error("'l7' may only be specified when a 'l7proto' is also specified");
                }
                if (rules.get("l7") != null) {
                    // PortRuleL7.Sanitize (rule_validation_test.go TestL7Rules); until 7 December an empty key loaded.
                    for (YNode entry : rules.get("l7").items()) {
                        if (entry.type == YNode.Type.MAP && entry.map.containsKey("")) {
                            throw entry.error("empty key not allowed");
                        }
                    }
                }
                if (types > 1) {
                    throw rules.error("multiple L7 protocol rule types specified in single rule");
                }
                hasL7 = types > 0;
                if (hasL7 && pr.has("serverNames") && !pr.get("serverNames").items().isEmpty() && !pr.has("terminatingTLS")) {
                    throw pr.get("serverNames").error("ServerNames are not allowed with L7 rules without TLS termination");
                }
                if (hasL7 && listener != null) {
                    throw listener.error("Listener is not allowed with L7 rules (" + listener.string("name", "") + ")");
                }
                if (ingress) {
                    for (String key : new String[] {"kafka", "l7proto"}) {
                        if (rules.has(key)) {
                            throw rules.get(key).error(key + " rules are not supported by zerohop");
                        }
                    }
                }
                YNode httpNode = rules.get("http");
                if (httpNode != null && !httpNode.items().isEmpty()) {
                    List<YNode> items = httpNode.items();
                    http = new CiliumPolicy.Http[items.size()];
                    for (int i = 0; i < items.size(); i++) {
                        http[i] = http(items.get(i));
                    }
                }
            }
            List<YNode> portItems = pr.get("ports") == null ? List.of() : pr.get("ports").items();
            if (portItems.isEmpty()) {
                // Cilium's mergeIngress walks GetPortProtocols(): an entry without ports adds no port, so its L7 rules
                // and the rule's peers get nothing through it (an ingressDeny entry denies nothing). Until 1 December it
                // meant every port here: an allow with toPorts [{}] admitted every port, Cilium none.
                texts.add("no port");
            }
            if (rules != null && rules.get("dns") != null && !rules.get("dns").items().isEmpty() && portItems.isEmpty()) {
                throw rules.get("dns").error("Port 53 must be specified for DNS rules");
            }
            if (portItems.size() > 40) {
                throw pr.get("ports").error("too many ports, the max is 40");
            }
            for (YNode p : portItems) {
                p.onlyKeys(Set.of("port", "endPort", "protocol"));
                YNode portNode = p.get("port");
                if (portNode == null || portNode.string().isEmpty()) {
                    throw (portNode == null ? p : portNode).error("Port must be specified");
                }
                String text = portNode.string();
                // pkg/policy/api/rule_validation.go PortProtocol.sanitize: an IANA service name is a named port, lower-cased
                // ("Normalize for case insensitive comparison"); it resolves per destination (CiliumPolicy.Port#covers).
                String name = isSvcName(text) ? text.toLowerCase(Locale.ROOT) : null;
                int port = name != null ? 0 : parseUint16(text);
                if (port < 0) {
                    // Go's strconv.ParseUint errors, which Cilium's PortProtocol.sanitize wraps (l4.go).
                    throw portNode.error("Unable to parse port \"" + text + "\": "
                            + (port == OUT_OF_RANGE ? "value out of range (0..65535)" : "invalid syntax"));
                }
                // Cilium: an endPort at or below port means the single port. A named port keeps its endPort as written:
                // Cilium ranges from the port the name resolves to (l4.go toMapState, PortRangeToMaskedPorts). Port 0 is
                // every port only without an endPort (or with 0 or 65535): PortRangeToMaskedPorts(0, E) covers 0..E. Until
                // 5 December port 0 with endPort 8080 allowed every port (a review pass, helper 252).
                int endPort = name != null ? 0 : port == 0 ? 65535 : port;
                if (p.get("endPort") != null) {
                    YNode ep = p.get("endPort");
                    // The number kubectl sends (YamlDocuments.kubectlInteger): endPort: 010 is 8 in the cluster, 0x1F90
                    // and 08080 are 8080. Until 6 December 010 was read as 10 (a wider range than Cilium enforces),
                    // and 0x1F90, 08080 and 8080.0, which the API server takes, were load errors.
                    java.math.BigInteger big = ep.type == YNode.Type.SCALAR ? YamlDocuments.kubectlInteger(ep.text(), ep.tag) : null;
                    if (big == null) {
                        throw ep.error("expected an integer, found " + ep.describe());
                    }
                    // l4.go PortProtocol.EndPort: +kubebuilder:validation:Minimum=0, Maximum=65535.
                    if (big.signum() < 0 || big.compareTo(java.math.BigInteger.valueOf(65535)) > 0) {
                        throw ep.error("bad endPort " + big + " (0..65535)");
                    }
                    long e = big.longValue();
                    endPort = name != null ? (int) e : port == 0 && e == 0 ? 65535 : (int) Math.max(port, e);
                }
                String proto = p.string("protocol", "ANY");
                if (!L4_PROTOCOLS.contains(proto)) {
                    // Until 1 December "tcp", "" and ICMP loaded (as Cilium's ParseL4Proto reads them), a file kubectl refuses.
                    throw p.get("protocol").error("Unsupported value: \"" + proto + "\": supported values: \"TCP\", \"UDP\", "
                            + "\"SCTP\", \"VRRP\", \"IGMP\", \"ANY\" (the CRD's enum; ICMP goes in icmps)");
                }
                // rule_validation.go PortProtocol.Validate: a protocol without ports (VRRP, IGMP) takes a numeric port of "0"
                // only, as written ("00" is refused too); a service name passes (rule_validation_test.go
                // TestInvalidIPProtocolRules). Until 6 December such a rule loaded, and the policy Cilium refuses was enforced.
                if (name == null && !text.equals("0") && (proto.equals("VRRP") || proto.equals("IGMP"))) {
                    throw portNode.error("port must be empty or 0 (protocol " + proto + " has no ports)");
                }
                boolean dnsRules = rules != null && rules.get("dns") != null;
                if (hasL7 && !dnsRules && !proto.equals("TCP")) {
                    throw (p.get("protocol") == null ? p : p.get("protocol")).error(
                            "L7 rules can only apply to TCP (not " + proto + ") except for DNS rules");
                }
                if (hasL7 && port == 0 && name == null) {
                    throw portNode.error("L7 rules can not be used when a port is 0");
                }
                int protocol = switch (proto) {
                    case "ANY" -> CiliumPolicy.PROTO_ANY;
                    case "TCP" -> CiliumPolicy.PROTO_TCP;
                    default -> CiliumPolicy.PROTO_OTHER;
                };
                String desc = (name != null ? name + (endPort != 0 ? " to " + endPort : "")
                        : port == 0 && endPort == 65535 ? "any" : port + (endPort != port ? "-" + endPort : "")) + "/" + proto;
                texts.add(desc);
                out.add(new CiliumPolicy.Port(port, endPort, protocol, http, desc, name));
            }
            if (http != null) {
                List<String> h = new ArrayList<>();
                for (YNode item : rules.get("http").items()) {
                    // An empty method or path is none, as in http(): "*" as for one left out.
                    String m = item.get("method") == null || item.get("method").isNull() ? "" : item.get("method").text();
                    String pth = item.get("path") == null || item.get("path").isNull() ? "" : item.get("path").text();
                    StringBuilder rule = new StringBuilder((m.isEmpty() ? "*" : m) + " " + (pth.isEmpty() ? "*" : pth));
                    // The other fields too: a rule of headers alone read "* *", as if it allowed every request (a new-user pass).
                    if (item.get("host") != null && !item.get("host").isNull() && !item.get("host").text().isEmpty()) {
                        rule.append(" host ").append(item.get("host").text());
                    }
                    for (String header : Fields.strings(item, "headers")) {
                        rule.append(" header \"").append(header.trim()).append('"');
                    }
                    if (item.get("headerMatches") != null && !item.get("headerMatches").isNull()) {
                        for (YNode hm : item.get("headerMatches").items()) {
                            YNode v = hm.get("value");
                            rule.append(" header \"").append(hm.get("name").text())
                                    .append(v == null || v.isNull() || v.text().isEmpty() ? "" : ": " + v.text()).append('"');
                        }
                    }
                    h.add(rule.toString().trim());
                }
                texts.add("http " + String.join(" | ", h));
            }
        }
        parts.add("toPorts " + String.join(" ", texts));
        return out.toArray(new CiliumPolicy.Port[0]);
    }

    /** IANA service name (RFC 6335), as Cilium's iana.IsSvcName: then the port is named, not numeric. */
    static boolean isSvcName(String s) {
        if (s.isEmpty() || s.length() > 15 || s.startsWith("-") || s.endsWith("-") || s.contains("--")) {
            return false;
        }
        boolean letter = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isLetter(c) && c < 128) {
                letter = true;
            } else if (!(c >= '0' && c <= '9') && c != '-') {
                return false;
            }
        }
        return letter;
    }

    /** {@link #parseUint16}'s answer for digits that parse but exceed 16 bits (Go's ErrRange). */
    static final int OUT_OF_RANGE = -2;

    /**
     * Go's strconv.ParseUint(s, 0, 16): decimal, or 0x / 0o / 0b prefixed, or leading-0 octal; -1 if
     * invalid syntax, {@link #OUT_OF_RANGE} if above 65535.
     */
    static int parseUint16(String s) {
        int radix = 10;
        String digits = s;
        if (s.length() > 1 && s.charAt(0) == '0') {
            char k = Character.toLowerCase(s.charAt(1));
            if (k == 'x' || k == 'o' || k == 'b') {
                radix = k == 'x' ? 16 : k == 'o' ? 8 : 2;
                digits = s.substring(2);
            } else {
                radix = 8;
                digits = s.substring(1);
            }
        }
        digits = digits.replace("_", "");
        if (digits.isEmpty()) {
            return -1;
        }
        for (int i = 0; i < digits.length(); i++) {
            if (Character.digit(digits.charAt(i), radix) < 0) {
                return -1;
            }
        }
        try {
            long v = Long.parseLong(digits, radix);
            return v > 65535 ? OUT_OF_RANGE : (int) v;
        } catch (NumberFormatException e) {
            // Every character is a digit of the radix (checked above): only too many of them.
            return OUT_OF_RANGE;
        }
    }

    /**
     * A {@code rules.http} regex field, or null for none: absent or empty alike, as cilium/cilium pkg/policy/api/http.go
     * says of each ("If omitted or empty, all methods are allowed", the same for path and host) and pkg/envoy's
     * xds_server.go builds no matcher for an empty one. Compiled, {@code ""} matched only an empty value: every request
     * was denied (a Cilium semantics pass).
     */
    private static Rx regex(YNode field) throws PolicyLoadException {
        return field == null || field.isNull() || field.string().isEmpty() ? null : Rx.compile(field);
    }

    private static CiliumPolicy.Http http(YNode n) throws PolicyLoadException {
        n.onlyKeys(HTTP_KEYS);
        Rx method = regex(n.get("method"));
        Rx path = regex(n.get("path"));
        Rx host = regex(n.get("host"));
        List<String> headers = Fields.strings(n, "headers");
        List<String[]> matches = headerMatches(n.get("headerMatches"));
        String[] names = new String[headers.size() + matches.size()];
        String[] values = new String[names.length];
        for (int i = 0; i < matches.size(); i++) {
            names[headers.size() + i] = matches.get(i)[0];
            values[headers.size() + i] = matches.get(i)[1];
        }
        for (int i = 0; i < headers.size(); i++) {
            // pkg/envoy/xds_server.go: split at the first space; "Name: value" drops the trailing ':' of
            // the name and matches the rest exactly; without a space the whole entry is a name to be present.
            String h = headers.get(i);
            int space = h.indexOf(' ');
            String name = space < 0 ? h : h.substring(0, space);
            if (space >= 0) {
                int end = name.length();
                while (end > 0 && name.charAt(end - 1) == ':') {
                    end--;
                }
                name = name.substring(0, end);
            }
            names[i] = name.toLowerCase(Locale.ROOT);
            values[i] = space < 0 ? null : h.substring(space + 1);
            if (names[i].isEmpty()) {
                throw n.get("headers").items().get(i).error("empty header name");
            }
        }
        return new CiliumPolicy.Http(method, path, host, names, values);
    }

    private static final Set<String> HEADER_MATCH_KEYS = Set.of("mismatch", "name", "secret", "value");

    /**
     * {@code headerMatches} as cilium/cilium pkg/envoy/xds_server.go {@code getHTTPRule} gives them to Envoy: with the
     * default mismatch action (drop the request) a {@code value} must equal the header's, and without one (or
     * {@code value: ""}, the same after {@code omitempty}) the header must be present; {@code mismatch: LOG} keeps the
     * rule matching whatever the header says (Cilium's proxy only logs the mismatch), so it constrains nothing. Checked
     * as pkg/policy/api/http.go {@code Sanitize} checks them: a name, and a known action. Refused with the field's line:
     * {@code ADD}, {@code DELETE}, {@code REPLACE}, which rewrite the request the application receives (zerohop
     * forwards it as sent), and {@code secret}, whose value is in a Kubernetes Secret zerohop does not read: loading
     * either without its effect would pass requests Cilium changes or refuses.
     *
     * @return [lower-case name, exact value or null for presence] per entry that constrains the request
     */
    private static List<String[]> headerMatches(YNode list) throws PolicyLoadException {
        List<String[]> out = new ArrayList<>();
        if (list == null || list.isNull()) {
            return out;
        }
        for (YNode m : list.items()) {
            m.onlyKeys(HEADER_MATCH_KEYS);
            YNode nameNode = m.get("name");
            String name = nameNode == null || nameNode.isNull() ? "" : nameNode.string();
            if (name.isEmpty()) {
                throw (nameNode == null ? m : nameNode).error("headerMatches entry without a name (Cilium: \"Header name missing\")");
            }
            YNode mismatchNode = m.get("mismatch");
            String mismatch = mismatchNode == null || mismatchNode.isNull() ? "" : mismatchNode.string();
            switch (mismatch) {
                case "", "LOG" -> {
                }
                case "ADD", "DELETE", "REPLACE" -> throw mismatchNode.error("headerMatches mismatch: " + mismatch
                        + " rewrites the request's " + name + " header in Cilium's proxy, which zerohop does not do"
                        + " (only the default action, which drops a mismatching request, and LOG are supported)");
                default -> throw mismatchNode.error("unknown headerMatches mismatch action \"" + mismatch
                        + "\" (LOG, ADD, DELETE, REPLACE, or none to drop a mismatching request)");
            }
            if (m.has("secret")) {
                throw m.get("secret").error("headerMatches secret is not supported by zerohop: it reads no Kubernetes Secret,"
                        + " and Cilium matches the header against the Secret's value (use value)");
            }
            YNode valueNode = m.get("value");
            String value = valueNode == null || valueNode.isNull() ? "" : valueNode.string();
            if (mismatch.isEmpty()) {
                out.add(new String[] {name.toLowerCase(Locale.ROOT), value.isEmpty() ? null : value});
            }
        }
        return out;
    }

}
