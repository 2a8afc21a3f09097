package io.zerohop.policy.internal;

import io.zerohop.policy.Decision;
import io.zerohop.policy.Decision.Outcome;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Compiles {@code cilium.io/v2} CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy rules (ingress side). */
final class CiliumCompiler {

    private static final Set<String> SPEC_KEYS = Set.of("endpointSelector", "nodeSelector", "ingress", "ingressDeny",
            "egress", "egressDeny", "labels", "description", "enableDefaultDeny", "log");
    private static final Set<String> INGRESS_KEYS = Set.of("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet",
            "toPorts", "authentication", "fromRequires", "fromGroups", "fromNodes", "icmps");
    private static final Set<String> UNSUPPORTED_INGRESS = Set.of("fromRequires", "fromGroups", "fromNodes", "icmps");
    /** pkg/policy/api EntitySelectorMapping. Over HBONE only all, world*, cluster and cluster-mesh can match. */
    private static final Set<String> ENTITIES = Set.of("all", "cluster", "cluster-mesh", "world", "world-ipv4",
            "world-ipv6", "host", "remote-node", "kube-apiserver", "health", "init", "ingress", "unmanaged", "none");
    private static final String[] L3_INGRESS = {"fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", "fromNodes",
            "fromGroups"};
    private static final String[] L3_EGRESS = {"toCIDR", "toCIDRSet", "toEndpoints", "toEntities", "toServices", "toFQDNs",
            "toGroups", "toNodes"};
    private static final Set<String> EGRESS_KEYS = Set.of("toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toPorts",
            "toServices", "toFQDNs", "toGroups", "toNodes", "toRequires", "icmps", "authentication");
    private static final Set<String> L4_PROTOCOLS = Set.of("ANY", "TCP", "UDP", "SCTP", "ICMP", "ICMPV6", "VRRP", "IGMP");
    private static final Set<String> HTTP_KEYS = Set.of("method", "path", "host", "headers", "headerMatches");

    private CiliumCompiler() {
    }

    /** @param namespace null for clusterwide policies */
    static CiliumPolicy compile(PolicyRef ref, String namespace, YNode spec, List<String> warnings)
            throws PolicyLoadException {
        spec.onlyKeys(SPEC_KEYS);
        if (spec.has("nodeSelector")) {
            throw spec.get("nodeSelector").error("host policies (nodeSelector) are not supported");
        }
        YNode endpointSelector = spec.get("endpointSelector");
        if (endpointSelector == null) {
            throw spec.error("endpointSelector is required");
        }
        // A namespaced policy only ever selects endpoints of its own namespace.
        Selector selector = Selector.compile(endpointSelector, namespace);
        if (spec.get("ingress") == null && spec.get("ingressDeny") == null && spec.get("egress") == null
                && spec.get("egressDeny") == null) {
            throw spec.error("rule has neither ingress nor egress (ingress, ingressDeny, egress or egressDeny)");
        }
        YNode log = spec.get("log");
        if (log != null) {
            log.onlyKeys(Set.of("value"));
            log.string("value", "");
        }
        if (spec.has("egress") || spec.has("egressDeny")) {
            // Validated as Cilium does (a malformed egress is an error), then not enforced.
            for (String key : new String[] {"egress", "egressDeny"}) {
                if (spec.get(key) != null) {
                    for (YNode e : spec.get(key).items()) {
                        egress(e, namespace, key.equals("egressDeny"));
                    }
                }
            }
            warnings.add(ref + ": egress rules ignored (zerohop enforces ingress only)");
        }
        List<YNode> ingressItems = spec.get("ingress") == null ? List.of() : spec.get("ingress").items();
        List<YNode> denyItems = spec.get("ingressDeny") == null ? List.of() : spec.get("ingressDeny").items();
        boolean defaultDeny = !ingressItems.isEmpty() || !denyItems.isEmpty();
        YNode dd = spec.get("enableDefaultDeny");
        if (dd != null) {
            dd.onlyKeys(Set.of("ingress", "egress"));
            YNode in = dd.get("ingress");
            if (in != null) {
                String t = in.text();
                if (!t.equals("true") && !t.equals("false")) {
                    throw in.error("expected true or false, found \"" + t + "\"");
                }
                defaultDeny &= t.equals("true");
            }
        }
        PolicyRef allowRef = new PolicyRef(ref.kind(), ref.namespace(), ref.name(), "ingress");
        PolicyRef denyRef = new PolicyRef(ref.kind(), ref.namespace(), ref.name(), "ingressDeny");
        CiliumPolicy.Rule[] ingress = new CiliumPolicy.Rule[ingressItems.size()];
        for (int i = 0; i < ingress.length; i++) {
            ingress[i] = rule(i, ingressItems.get(i), namespace, allowRef, false);
        }
        CiliumPolicy.Rule[] deny = new CiliumPolicy.Rule[denyItems.size()];
        for (int i = 0; i < deny.length; i++) {
            deny[i] = rule(i, denyItems.get(i), namespace, denyRef, true);
        }
        Decision defaultDecision = new Decision(false, Outcome.DENIED_DEFAULT, allowRef, -1,
                "endpoint selected by " + selector + " for ingress and no ingress rule allowed");
        return new CiliumPolicy(ref, namespace, selector, defaultDeny, ingress, deny, defaultDecision);
    }

    private static CiliumPolicy.Rule rule(int index, YNode n, String namespace, PolicyRef ref, boolean deny)
            throws PolicyLoadException {
        CiliumPolicy.Rule rule = new CiliumPolicy.Rule(index);
        List<String> parts = new ArrayList<>();
        if (!n.isNull()) {
            n.onlyKeys(INGRESS_KEYS);
            l3Combination(n, L3_INGRESS);
            for (String key : UNSUPPORTED_INGRESS) {
                if (n.has(key)) {
                    throw n.get(key).error(key + " is not supported by zerohop");
                }
            }
            YNode from = n.get("fromEndpoints");
            if (from != null) {
                List<YNode> items = from.items();
                rule.fromEndpoints = new Selector[items.size()];
                for (int i = 0; i < items.size(); i++) {
                    // In a namespaced policy, a peer selector without a namespace label means "this namespace".
                    rule.fromEndpoints[i] = Selector.compile(items.get(i).isNull() ? null : items.get(i), namespace);
                }
                List<String> texts = new ArrayList<>();
                for (Selector s : rule.fromEndpoints) {
                    texts.add(s.toString());
                }
                parts.add("fromEndpoints " + String.join(" | ", texts));
                rule.hasL3 = true;
            }
            YNode entities = n.get("fromEntities");
            if (entities != null) {
                List<String> names = new ArrayList<>();
                for (YNode e : entities.items()) {
                    String v = entity(e);
                    rule.entityAll |= v.equals("all");
                    // Every HBONE peer with a workload identity is an endpoint of this cluster or of the mesh.
                    rule.entityCluster |= v.equals("cluster") || v.equals("cluster-mesh");
                    rule.entityWorld |= v.equals("world");
                    rule.entityWorldV4 |= v.equals("world-ipv4");
                    rule.entityWorldV6 |= v.equals("world-ipv6");
                    names.add(v);
                }
                parts.add("fromEntities " + names);
                rule.hasL3 = true;
            }
            List<Cidr> cidrs = new ArrayList<>();
            List<Cidr[]> excepts = new ArrayList<>();
            YNode cidrList = n.get("fromCIDR");
            if (cidrList != null) {
                for (YNode c : cidrList.items()) {
                    cidrs.add(cidr(c));
                    excepts.add(new Cidr[0]);
                }
                rule.hasL3 = true;
            }
            YNode cidrSet = n.get("fromCIDRSet");
            if (cidrSet != null) {
                for (YNode c : cidrSet.items()) {
                    Cidr[] pair = cidrRule(c);
                    cidrs.add(pair[0]);
                    excepts.add(java.util.Arrays.copyOfRange(pair, 1, pair.length));
                }
                rule.hasL3 = true;
            }
            if (!cidrs.isEmpty()) {
                rule.cidrs = cidrs.toArray(new Cidr[0]);
                rule.cidrExcept = excepts.toArray(new Cidr[0][]);
                parts.add("fromCIDR " + cidrs);
            }
            YNode toPorts = n.get("toPorts");
            if (toPorts != null) {
                rule.ports = ports(toPorts, deny, parts);
            }
            YNode auth = n.get("authentication");
            if (auth != null) {
                if (deny) {
                    throw auth.error("authentication is not allowed in ingressDeny");
                }
                authentication(rule, auth, parts);
            }
        }
        String what = parts.isEmpty() ? "empty rule selects no peer" : String.join(", ", parts) + " matched";
        Outcome outcome = deny ? Outcome.DENIED_BY_RULE : Outcome.ALLOWED_BY_RULE;
        rule.matched = new Decision(!deny, outcome, ref, index, what);
        rule.authMissing = new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                "authentication.mode required and the peer has no verified SPIFFE identity");
        rule.spiffeRejected = rule.authAlwaysFails ? new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                "authentication.mode test-always-fail: authentication never succeeds") : new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                "peer SPIFFE identity not accepted by authentication.spiffe"
                        + (rule.spiffeTrustDomain == null ? "" : " (trustDomain " + rule.spiffeTrustDomain + ")"));
        rule.needsL7 = new Decision(false, Outcome.DENIED_DEFAULT, ref, index,
                "port allowed only through rules.http and no HTTP attributes were given: L4-only check fails closed");
        return rule;
    }

    /** pkg/policy/api rule_validation.go: one kind of peer selector per rule. */
    private static void l3Combination(YNode n, String[] members) throws PolicyLoadException {
        for (String m1 : members) {
            for (String m2 : members) {
                if (!m1.equals(m2) && n.get(m1) != null && !n.get(m1).items().isEmpty() && n.get(m2) != null
                        && !n.get(m2).items().isEmpty()) {
                    throw n.get(m2).error("Combining " + m1 + " and " + m2 + " is not supported yet");
                }
            }
        }
    }

    private static String entity(YNode e) throws PolicyLoadException {
        String v = e.string();
        if (!ENTITIES.contains(v)) {
            throw e.error("unsupported entity: " + v);
        }
        return v;
    }

    /** api.CIDR: an address or a prefix (Go netip, no leading zeros). */
    private static Cidr cidr(YNode c) throws PolicyLoadException {
        String v = c.string();
        if (v.isEmpty()) {
            throw c.error("IP must be specified");
        }
        Cidr parsed = Cidr.parse(v);
        if (parsed == null) {
            throw c.error("unable to parse CIDR \"" + v + "\"");
        }
        return parsed;
    }

    /** api.CIDRRule: cidr in prefix notation, each except a prefix inside it. [0] = cidr, rest = excepts. */
    private static Cidr[] cidrRule(YNode c) throws PolicyLoadException {
        c.onlyKeys(Set.of("cidr", "except", "cidrGroupRef", "cidrGroupSelector"));
        if (c.get("cidr") == null) {
            throw c.error("only cidr (with except) is supported in CIDR sets by zerohop (cidrGroupRef needs the API server)");
        }
        YNode cn = c.get("cidr");
        String v = cn.string();
        Cidr cidr = v.contains("/") ? Cidr.parse(v) : null;
        if (cidr == null) {
            throw cn.error("Unable to parse CIDRRule \"" + v + "\" (address/prefix)");
        }
        List<Cidr> out = new ArrayList<>();
        out.add(cidr);
        YNode except = c.get("except");
        if (except != null) {
            for (YNode x : except.items()) {
                String xs = x.string();
                Cidr e = xs.contains("/") ? Cidr.parse(xs) : null;
                if (e == null) {
                    throw x.error("Unable to parse except \"" + xs + "\" (address/prefix)");
                }
                // Go: prefix.Contains(except.Addr()), the address as written (not masked).
                Cidr addr = Cidr.parse(xs.substring(0, xs.indexOf('/')));
                if (addr == null || !cidr.containsPrefixStart(addr)) {
                    throw x.error("allow CIDR prefix " + v + " does not contain exclude CIDR prefix " + xs);
                }
                out.add(e);
            }
        }
        return out.toArray(new Cidr[0]);
    }

    /** An egress rule, validated as pkg/policy/api does and otherwise unused (zerohop enforces ingress). */
    private static void egress(YNode n, String namespace, boolean deny) throws PolicyLoadException {
        if (n.isNull()) {
            return;
        }
        n.onlyKeys(EGRESS_KEYS);
        l3Combination(n, L3_EGRESS);
        if (n.get("toServices") != null && !n.get("toServices").items().isEmpty() && n.get("toPorts") != null
                && !n.get("toPorts").items().isEmpty()) {
            throw n.get("toServices").error("Combining toServices and ToPorts is not supported yet");
        }
        for (String key : new String[] {"toEndpoints", "toRequires"}) {
            if (n.get(key) != null) {
                for (YNode s : n.get(key).items()) {
                    Selector.compile(s.isNull() ? null : s, namespace);
                }
            }
        }
        if (n.get("toEntities") != null) {
            for (YNode e : n.get("toEntities").items()) {
                entity(e);
            }
        }
        if (n.get("toCIDR") != null) {
            for (YNode c : n.get("toCIDR").items()) {
                cidr(c);
            }
        }
        if (n.get("toCIDRSet") != null) {
            for (YNode c : n.get("toCIDRSet").items()) {
                cidrRule(c);
            }
        }
        if (n.get("toFQDNs") != null) {
            for (YNode f : n.get("toFQDNs").items()) {
                f.onlyKeys(Set.of("matchName", "matchPattern"));
                if (f.string("matchName", "").isEmpty() && f.string("matchPattern", "").isEmpty()) {
                    throw f.error("one of matchName or matchPattern is required");
                }
            }
        }
        if (n.get("icmps") != null && !n.get("icmps").items().isEmpty() && n.get("toPorts") != null
                && !n.get("toPorts").items().isEmpty()) {
            throw n.get("icmps").error("The ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts.");
        }
        if (n.get("toPorts") != null) {
            ports(n.get("toPorts"), deny, new ArrayList<>(), false);
        }
        if (n.get("authentication") != null) {
            authentication(new CiliumPolicy.Rule(0), n.get("authentication"), new ArrayList<>());
        }
    }

    private static CiliumPolicy.Port[] ports(YNode toPorts, boolean deny, List<String> parts) throws PolicyLoadException {
        return ports(toPorts, deny, parts, true);
    }

    private static CiliumPolicy.Port[] ports(YNode toPorts, boolean deny, List<String> parts, boolean ingress)
            throws PolicyLoadException {
        List<CiliumPolicy.Port> out = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        for (YNode pr : toPorts.items()) {
            pr.onlyKeys(Set.of("ports", "rules", "serverNames", "listener", "originatingTLS", "terminatingTLS"));
            for (String key : new String[] {"serverNames", "listener", "originatingTLS", "terminatingTLS"}) {
                if (pr.has(key)) {
                    throw pr.get(key).error(key + " is not supported by zerohop");
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
                if (types > 1) {
                    throw rules.error("multiple L7 protocol rule types specified in single rule");
                }
                hasL7 = types > 0;
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
                // A toPorts entry without ports only carries L7 rules: it applies to every port.
                out.add(new CiliumPolicy.Port(0, 65535, CiliumPolicy.PROTO_ANY, http, "any"));
                texts.add("any");
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
                if (isSvcName(text)) {
                    throw portNode.error("named port \"" + text + "\" is not supported by zerohop (use the port number)");
                }
                int port = parseUint16(text);
                if (port < 0) {
                    throw portNode.error("Unable to parse port \"" + text + "\"");
                }
                // Cilium: an endPort at or below port means the single port.
                int endPort = port == 0 ? 65535 : port;
                if (p.get("endPort") != null && port != 0) {
                    YNode ep = p.get("endPort");
                    if (!"int".equals(ep.tag)) {
                        throw ep.error("expected an integer, found " + ep.describe());
                    }
                    long e;
                    try {
                        e = Long.parseLong(ep.text());
                    } catch (NumberFormatException ex) {
                        throw ep.error("bad endPort " + ep.text());
                    }
                    if (e > 65535) {
                        throw ep.error("bad endPort " + e + " (0..65535)");
                    }
                    endPort = (int) Math.max(port, e);
                }
                String proto = p.string("protocol", "ANY").toUpperCase(Locale.ROOT);
                if (proto.isEmpty()) {
                    proto = "ANY";
                }
                if (!L4_PROTOCOLS.contains(proto)) {
                    throw p.get("protocol").error("invalid protocol \"" + proto + "\", must be { TCP | UDP | SCTP | ICMP | ICMPv6 | VRRP | IGMP | ANY }");
                }
                boolean dnsRules = rules != null && rules.get("dns") != null;
                if (hasL7 && !dnsRules && !proto.equals("TCP")) {
                    throw (p.get("protocol") == null ? p : p.get("protocol")).error(
                            "L7 rules can only apply to TCP (not " + proto + ") except for DNS rules");
                }
                if (hasL7 && port == 0) {
                    throw portNode.error("L7 rules can not be used when a port is 0");
                }
                int protocol = switch (proto) {
                    case "ANY" -> CiliumPolicy.PROTO_ANY;
                    case "TCP" -> CiliumPolicy.PROTO_TCP;
                    default -> CiliumPolicy.PROTO_OTHER;
                };
                String desc = (port == 0 ? "any" : port + (endPort != port ? "-" + endPort : "")) + "/" + proto;
                texts.add(desc);
                out.add(new CiliumPolicy.Port(port, endPort, protocol, http, desc));
            }
            if (http != null) {
                List<String> h = new ArrayList<>();
                for (YNode item : rules.get("http").items()) {
                    h.add((item.text("method", "*") + " " + item.text("path", "*")).trim());
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

    /** Go's strconv.ParseUint(s, 0, 16): decimal, or 0x / 0o / 0b prefixed, or leading-0 octal; -1 if invalid. */
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
            return v > 65535 ? -1 : (int) v;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static CiliumPolicy.Http http(YNode n) throws PolicyLoadException {
        n.onlyKeys(HTTP_KEYS);
        if (n.has("headerMatches")) {
            throw n.get("headerMatches").error("headerMatches is not supported by zerohop (use headers)");
        }
        Rx method = n.get("method") == null ? null : Rx.compile(n.get("method"));
        Rx path = n.get("path") == null ? null : Rx.compile(n.get("path"));
        Rx host = n.get("host") == null ? null : Rx.compile(n.get("host"));
        List<String> headers = Fields.strings(n, "headers");
        String[] names = new String[headers.size()];
        String[] values = new String[headers.size()];
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

    private static void authentication(CiliumPolicy.Rule rule, YNode auth, List<String> parts) throws PolicyLoadException {
        auth.onlyKeys(Set.of("mode", "spiffe"));
        YNode modeNode = auth.get("mode");
        String mode = modeNode == null ? "" : modeNode.string();
        switch (mode) {
            case "required" -> rule.authRequired = true;
            case "disabled" -> rule.authRequired = false;
            case "test-always-fail" -> {
                rule.authRequired = true;
                rule.authAlwaysFails = true;
                parts.add("authentication test-always-fail");
            }
            default -> throw (modeNode == null ? auth : modeNode).error(
                    "unknown authentication mode \"" + mode + "\" (disabled, required, test-always-fail)");
        }
        YNode spiffe = auth.get("spiffe");
        if (spiffe != null) {
            if (!rule.authRequired) {
                throw spiffe.error("authentication.spiffe needs mode: required");
            }
            spiffe.onlyKeys(Set.of("trustDomain", "identities", "identity"));
            String td = spiffe.string("trustDomain", null);
            if (td != null && (td.isEmpty() || td.indexOf('/') >= 0 || td.indexOf(':') >= 0)) {
                throw spiffe.get("trustDomain").error("bad trust domain \"" + td + "\"");
            }
            rule.spiffeTrustDomain = td;
            YNode ids = spiffe.get("identities");
            YNode one = spiffe.get("identity");
            if (ids != null && one != null) {
                throw one.error("set identity or identities, not both");
            }
            if (one != null) {
                // The seed article's singular form: one identity.
                one.string();
                ids = new YNode(YNode.Type.LIST, one.file, one.line, one.path, null, null, List.of(one));
            }
            if (ids != null) {
                List<YNode> items = ids.items();
                rule.spiffeIdentities = new StringMatch[items.size()];
                for (int i = 0; i < items.size(); i++) {
                    String id = items.get(i).string();
                    boolean wildcard = id.startsWith("*") || id.endsWith("*");
                    if (!wildcard && !id.startsWith("spiffe://")) {
                        throw items.get(i).error("identity \"" + id + "\" must be a SPIFFE ID (spiffe://...)");
                    }
                    if (!wildcard && td != null && !id.startsWith("spiffe://" + td + "/")) {
                        throw items.get(i).error("identity \"" + id + "\" is outside trust domain " + td);
                    }
                    rule.spiffeIdentities[i] = StringMatch.parse(id);
                }
                List<String> idTexts = new ArrayList<>();
                for (YNode item : items) {
                    idTexts.add(item.text());
                }
                parts.add("authentication spiffe " + idTexts);
            } else if (td != null) {
                parts.add("authentication spiffe trustDomain " + td);
            }
        }
        if (rule.authRequired && spiffe == null) {
            parts.add("authentication required");
        }
    }
}
