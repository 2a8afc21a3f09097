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
            "egress", "egressDeny", "labels", "description", "enableDefaultDeny");
    private static final Set<String> INGRESS_KEYS = Set.of("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet",
            "toPorts", "authentication", "fromRequires", "fromGroups", "fromNodes", "icmps");
    private static final Set<String> UNSUPPORTED_INGRESS = Set.of("fromRequires", "fromGroups", "fromNodes", "icmps");
    private static final Set<String> ENTITIES = Set.of("all", "cluster", "world", "host", "remote-node",
            "kube-apiserver", "health", "init", "ingress", "unmanaged");
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
        if (spec.has("egress") || spec.has("egressDeny")) {
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
                    String v = e.text();
                    if (!ENTITIES.contains(v)) {
                        throw e.error("unknown entity \"" + v + "\"");
                    }
                    rule.entityAll |= v.equals("all");
                    rule.entityCluster |= v.equals("cluster");
                    rule.entityWorld |= v.equals("world");
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
                    cidrs.add(Fields.cidr(c));
                    excepts.add(new Cidr[0]);
                }
                rule.hasL3 = true;
            }
            YNode cidrSet = n.get("fromCIDRSet");
            if (cidrSet != null) {
                for (YNode c : cidrSet.items()) {
                    c.onlyKeys(Set.of("cidr", "except", "cidrGroupRef", "cidrGroupSelector"));
                    if (c.get("cidr") == null) {
                        throw c.error("only cidr (with except) is supported in fromCIDRSet");
                    }
                    cidrs.add(Fields.cidr(c.get("cidr")));
                    excepts.add(Fields.cidrs(c, "except"));
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
        rule.spiffeRejected = new Decision(false, Outcome.DENIED_AUTHENTICATION, ref, index,
                "peer SPIFFE identity not accepted by authentication.spiffe"
                        + (rule.spiffeTrustDomain == null ? "" : " (trustDomain " + rule.spiffeTrustDomain + ")"));
        rule.needsL7 = new Decision(false, Outcome.DENIED_DEFAULT, ref, index,
                "port allowed only through rules.http and no HTTP attributes were given: L4-only check fails closed");
        return rule;
    }

    private static CiliumPolicy.Port[] ports(YNode toPorts, boolean deny, List<String> parts) throws PolicyLoadException {
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
            if (rules != null) {
                if (deny) {
                    throw rules.error("L7 rules are not allowed in ingressDeny");
                }
                rules.onlyKeys(Set.of("http", "dns", "kafka", "l7proto", "l7"));
                for (String key : new String[] {"dns", "kafka", "l7proto", "l7"}) {
                    if (rules.has(key)) {
                        throw rules.get(key).error(key + " rules are not supported by zerohop");
                    }
                }
                YNode httpNode = rules.get("http");
                if (httpNode != null) {
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
            for (YNode p : portItems) {
                p.onlyKeys(Set.of("port", "endPort", "protocol"));
                YNode portNode = p.get("port");
                int port = 0;
                if (portNode != null) {
                    String text = portNode.text();
                    if (!text.isEmpty() && !Character.isDigit(text.charAt(0))) {
                        throw portNode.error("named port \"" + text + "\" is not supported (use the port number)");
                    }
                    port = Fields.port(portNode, true);
                }
                int endPort = port == 0 ? 65535 : port;
                if (p.get("endPort") != null) {
                    endPort = Fields.port(p.get("endPort"), false);
                    if (endPort < port) {
                        throw p.get("endPort").error("endPort " + endPort + " is below port " + port);
                    }
                }
                String proto = p.text("protocol", "ANY").toUpperCase(Locale.ROOT);
                int protocol = switch (proto) {
                    case "ANY" -> CiliumPolicy.PROTO_ANY;
                    case "TCP" -> CiliumPolicy.PROTO_TCP;
                    case "UDP", "SCTP", "ICMP", "ICMPV6", "VRRP", "IGMP" -> CiliumPolicy.PROTO_OTHER;
                    default -> throw p.get("protocol").error("unknown protocol \"" + proto + "\" (TCP, UDP, SCTP, ANY)");
                };
                String text = (port == 0 ? "any" : port + (endPort != port ? "-" + endPort : "")) + "/" + proto;
                texts.add(text);
                out.add(new CiliumPolicy.Port(port, endPort, protocol, http, text));
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
            String h = headers.get(i);
            int colon = h.indexOf(':');
            names[i] = (colon < 0 ? h : h.substring(0, colon)).trim().toLowerCase(Locale.ROOT);
            values[i] = colon < 0 ? null : h.substring(colon + 1).trim();
            if (names[i].isEmpty()) {
                throw n.get("headers").items().get(i).error("empty header name");
            }
        }
        return new CiliumPolicy.Http(method, path, host, names, values);
    }

    private static void authentication(CiliumPolicy.Rule rule, YNode auth, List<String> parts) throws PolicyLoadException {
        auth.onlyKeys(Set.of("mode", "spiffe"));
        YNode modeNode = auth.get("mode");
        String mode = modeNode == null ? "" : modeNode.text();
        switch (mode) {
            case "required" -> rule.authRequired = true;
            case "disabled" -> rule.authRequired = false;
            default -> throw (modeNode == null ? auth : modeNode).error(
                    "unknown authentication mode \"" + mode + "\" (required, disabled)");
        }
        YNode spiffe = auth.get("spiffe");
        if (spiffe != null) {
            if (!rule.authRequired) {
                throw spiffe.error("authentication.spiffe needs mode: required");
            }
            spiffe.onlyKeys(Set.of("trustDomain", "identities"));
            String td = spiffe.text("trustDomain", null);
            if (td != null && (td.isEmpty() || td.indexOf('/') >= 0 || td.indexOf(':') >= 0)) {
                throw spiffe.get("trustDomain").error("bad trust domain \"" + td + "\"");
            }
            rule.spiffeTrustDomain = td;
            YNode ids = spiffe.get("identities");
            if (ids != null) {
                List<YNode> items = ids.items();
                rule.spiffeIdentities = new StringMatch[items.size()];
                for (int i = 0; i < items.size(); i++) {
                    String id = items.get(i).text();
                    boolean wildcard = id.startsWith("*") || id.endsWith("*");
                    if (!wildcard && !id.startsWith("spiffe://")) {
                        throw items.get(i).error("identity \"" + id + "\" must be a SPIFFE ID (spiffe://...)");
                    }
                    if (!wildcard && td != null && !id.startsWith("spiffe://" + td + "/")) {
                        throw items.get(i).error("identity \"" + id + "\" is outside trust domain " + td);
                    }
                    rule.spiffeIdentities[i] = StringMatch.parse(id);
                }
                parts.add("authentication spiffe " + Fields.strings(spiffe, "identities"));
            } else if (td != null) {
                parts.add("authentication spiffe trustDomain " + td);
            }
        }
        if (rule.authRequired && spiffe == null) {
            parts.add("authentication required");
        }
    }
}
