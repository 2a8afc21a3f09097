package io.zerohop.policy.internal;

import io.zerohop.policy.Decision;
import io.zerohop.policy.Decision.Outcome;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/** Compiles {@code security.istio.io} AuthorizationPolicy specs, validating as istiod does. */
final class IstioCompiler {

    private static final Set<String> SPEC_KEYS = Set.of("selector", "targetRef", "targetRefs", "action", "provider", "rules");
    private static final Set<String> RULE_KEYS = Set.of("from", "to", "when");
    private static final Set<String> SOURCE_KEYS = Set.of("principals", "notPrincipals", "requestPrincipals",
            "notRequestPrincipals", "namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts",
            "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks");
    private static final Set<String> OPERATION_KEYS = Set.of("hosts", "notHosts", "ports", "notPorts",
            "methods", "notMethods", "paths", "notPaths");
    private static final Set<String> CONDITION_KEYS = Set.of("key", "values", "notValues");
    private static final Pattern PRINCIPAL = Pattern.compile("[^/]+/ns/[^/]+/sa/[^/]+");
    private static final Pattern HEADER_KEY = Pattern.compile("request\\.headers\\[([^\\]]+)]");

    private IstioCompiler() {
    }

    static IstioPolicy authorizationPolicy(PolicyRef base, String namespace, YNode spec) throws PolicyLoadException {
        if (spec == null) {
            // An empty spec is an ALLOW policy without rules: it selects the namespace and allows nothing.
            spec = YNode.map(base.name(), 0, "spec");
        }
        spec.onlyKeys(SPEC_KEYS);
        YNode actionNode = spec.get("action");
        String actionText = actionNode == null ? "ALLOW" : actionNode.text();
        int action = switch (actionText) {
            case "ALLOW" -> IstioPolicy.ALLOW;
            case "DENY" -> IstioPolicy.DENY;
            case "AUDIT" -> IstioPolicy.AUDIT;
            case "CUSTOM" -> IstioPolicy.CUSTOM;
            default -> throw actionNode.error("unknown action \"" + actionText + "\" (ALLOW, DENY, AUDIT, CUSTOM)");
        };
        String provider = null;
        YNode providerNode = spec.get("provider");
        if (action == IstioPolicy.CUSTOM) {
            if (providerNode == null || providerNode.onlyKeys(Set.of("name")).text("name", "").isEmpty()) {
                throw (providerNode == null ? spec : providerNode).error("action CUSTOM requires provider.name");
            }
            provider = providerNode.text("name", "");
        } else if (providerNode != null) {
            throw providerNode.error("provider is only allowed with action CUSTOM");
        }
        PolicyRef ref = new PolicyRef(base.kind(), base.namespace(), base.name(), actionText);

        String[] selKeys = null;
        String[] selValues = null;
        YNode selector = spec.get("selector");
        if (selector != null) {
            selector.onlyKeys(Set.of("matchLabels"));
            Map<String, String> labels = Fields.stringMap(selector.get("matchLabels"));
            if (!labels.isEmpty()) {
                selKeys = labels.keySet().toArray(new String[0]);
                selValues = labels.values().toArray(new String[0]);
            }
        }
        List<String> targetRefs = new ArrayList<>();
        YNode single = spec.get("targetRef");
        if (single != null) {
            targetRefs.add(targetRef(single));
        }
        YNode many = spec.get("targetRefs");
        if (many != null) {
            for (YNode t : many.items()) {
                targetRefs.add(targetRef(t));
            }
        }
        if (!targetRefs.isEmpty() && selector != null) {
            throw selector.error("selector and targetRefs are mutually exclusive");
        }

        List<IstioPolicy.Rule> rules = new ArrayList<>();
        YNode rulesNode = spec.get("rules");
        if (rulesNode != null) {
            List<YNode> items = rulesNode.items();
            for (int i = 0; i < items.size(); i++) {
                rules.add(rule(i, items.get(i), namespace, ref, action, provider));
            }
        }
        Decision noMatch = new Decision(false, Outcome.DENIED_DEFAULT, ref, -1,
                rules.isEmpty() ? "ALLOW policy without rules allows nothing"
                        : "ALLOW policies apply and none matched");
        return new IstioPolicy(ref, namespace, action, provider, selKeys, selValues, List.copyOf(targetRefs),
                rules.toArray(new IstioPolicy.Rule[0]), noMatch);
    }

    private static String targetRef(YNode t) throws PolicyLoadException {
        t.onlyKeys(Set.of("group", "kind", "name", "namespace"));
        String kind = t.text("kind", "");
        String name = t.text("name", "");
        if (kind.isEmpty() || name.isEmpty()) {
            throw t.error("targetRef needs kind and name");
        }
        return kind + "/" + name;
    }

    private static IstioPolicy.Rule rule(int index, YNode n, String namespace, PolicyRef ref, int action, String provider)
            throws PolicyLoadException {
        List<String> parts = new ArrayList<>();
        List<String> l7Parts = new ArrayList<>();
        IstioPolicy.Source[] from = new IstioPolicy.Source[0];
        IstioPolicy.Operation[] to = new IstioPolicy.Operation[0];
        IstioPolicy.Condition[] when = new IstioPolicy.Condition[0];
        if (!n.isNull()) {
            n.onlyKeys(RULE_KEYS);
            List<YNode> fromItems = n.get("from") == null ? List.of() : n.get("from").items();
            from = new IstioPolicy.Source[fromItems.size()];
            for (int i = 0; i < from.length; i++) {
                YNode f = fromItems.get(i).onlyKeys(Set.of("source"));
                YNode src = f.get("source");
                if (src == null || src.requireMap().map.isEmpty()) {
                    throw f.error("from.source must not be empty");
                }
                from[i] = source(src.onlyKeys(SOURCE_KEYS), namespace, parts, l7Parts);
            }
            List<YNode> toItems = n.get("to") == null ? List.of() : n.get("to").items();
            to = new IstioPolicy.Operation[toItems.size()];
            for (int i = 0; i < to.length; i++) {
                YNode t = toItems.get(i).onlyKeys(Set.of("operation"));
                YNode op = t.get("operation");
                if (op == null || op.requireMap().map.isEmpty()) {
                    throw t.error("to.operation must not be empty");
                }
                to[i] = operation(op.onlyKeys(OPERATION_KEYS), parts, l7Parts);
            }
            List<YNode> whenItems = n.get("when") == null ? List.of() : n.get("when").items();
            when = new IstioPolicy.Condition[whenItems.size()];
            for (int i = 0; i < when.length; i++) {
                when[i] = condition(whenItems.get(i).onlyKeys(CONDITION_KEYS), parts, l7Parts);
            }
        }
        IstioPolicy.Rule rule = new IstioPolicy.Rule(index, from, to, when);
        String all = describe(parts, l7Parts);
        boolean deny = action != IstioPolicy.ALLOW && action != IstioPolicy.AUDIT;
        Outcome hit = switch (action) {
            case IstioPolicy.ALLOW, IstioPolicy.AUDIT -> Outcome.ALLOWED_BY_RULE;
            case IstioPolicy.CUSTOM -> Outcome.DENIED_CUSTOM;
            default -> Outcome.DENIED_BY_RULE;
        };
        String suffix = action == IstioPolicy.CUSTOM
                ? " (CUSTOM provider \"" + provider + "\": no external authorizer configured, denied)" : "";
        rule.decision = new Decision(!deny, hit, ref, index, all + suffix);
        rule.l4Decision = l7Parts.isEmpty() ? rule.decision
                : new Decision(!deny, hit, ref, index, (parts.isEmpty() ? "every connection matched" : describe(parts, List.of()))
                        + " (HTTP fields " + String.join(", ", l7Parts) + " ignored at L4: fails closed as ztunnel)" + suffix);
        if (action == IstioPolicy.CUSTOM) {
            rule.customDenied = new Decision(false, Outcome.DENIED_CUSTOM, ref, index,
                    all + " (CUSTOM provider \"" + provider + "\" denied)");
        }
        return rule;
    }

    private static String describe(List<String> parts, List<String> l7Parts) {
        List<String> all = new ArrayList<>(parts);
        all.addAll(l7Parts);
        return all.isEmpty() ? "empty rule matches everything" : String.join(", ", all) + " matched";
    }

    private static String part(String attribute, List<String> values, boolean negative) {
        String op = negative ? (values.size() == 1 ? "not " : "not in ") : (values.size() == 1 ? "" : "in ");
        return attribute + " " + op + (values.size() == 1 ? values.get(0) : values.toString());
    }

    private static StringMatch[] matches(YNode parent, String key, String attribute, boolean negative,
                                         boolean ignoreCase, List<String> describe) throws PolicyLoadException {
        List<String> values = Fields.strings(parent, key);
        if (values.isEmpty()) {
            return IstioPolicy.NO_STRINGS;
        }
        StringMatch[] out = new StringMatch[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = StringMatch.parse(values.get(i), ignoreCase);
        }
        describe.add(part(attribute, values, negative));
        return out;
    }

    private static StringMatch[] principals(YNode src, String key, List<String> describe) throws PolicyLoadException {
        YNode n = src.get(key);
        if (n != null) {
            for (YNode item : n.items()) {
                String p = item.text();
                if (p.startsWith("spiffe://")) {
                    throw item.error("principal \"" + p + "\" must not include spiffe:// (use td/ns/NS/sa/SA)");
                }
                boolean wildcard = p.startsWith("*") || p.endsWith("*");
                if (!wildcard && !PRINCIPAL.matcher(p).matches()) {
                    throw item.error("principal \"" + p + "\" is not in td/ns/NS/sa/SA form");
                }
            }
        }
        return matches(src, key, "source.principal", key.startsWith("not"), false, describe);
    }

    private static IstioPolicy.Source source(YNode src, String namespace, List<String> parts, List<String> l7)
            throws PolicyLoadException {
        IstioPolicy.Source s = new IstioPolicy.Source();
        s.principals = principals(src, "principals", parts);
        s.notPrincipals = principals(src, "notPrincipals", parts);
        s.namespaces = matches(src, "namespaces", "source.namespace", false, false, parts);
        s.notNamespaces = matches(src, "notNamespaces", "source.namespace", true, false, parts);
        List<String> sas = Fields.strings(src, "serviceAccounts");
        List<String> notSas = Fields.strings(src, "notServiceAccounts");
        if (!sas.isEmpty() || !notSas.isEmpty()) {
            if (src.has("principals") || src.has("notPrincipals")) {
                throw src.error("serviceAccounts cannot be combined with principals");
            }
        }
        String[][] sa = serviceAccounts(src, "serviceAccounts", namespace);
        s.saNamespace = sa[0];
        s.saName = sa[1];
        String[][] notSa = serviceAccounts(src, "notServiceAccounts", namespace);
        s.notSaNamespace = notSa[0];
        s.notSaName = notSa[1];
        if (!sas.isEmpty()) {
            parts.add(part("source.serviceAccount", sas, false));
        }
        if (!notSas.isEmpty()) {
            parts.add(part("source.serviceAccount", notSas, true));
        }
        s.ipBlocks = Fields.cidrs(src, "ipBlocks");
        s.notIpBlocks = Fields.cidrs(src, "notIpBlocks");
        s.remoteIpBlocks = Fields.cidrs(src, "remoteIpBlocks");
        s.notRemoteIpBlocks = Fields.cidrs(src, "notRemoteIpBlocks");
        addText(parts, src, "ipBlocks", "source.ip", false);
        addText(parts, src, "notIpBlocks", "source.ip", true);
        addText(l7, src, "remoteIpBlocks", "remote.ip", false);
        addText(l7, src, "notRemoteIpBlocks", "remote.ip", true);
        s.requestPrincipals = matches(src, "requestPrincipals", "request.auth.principal", false, false, l7);
        s.notRequestPrincipals = matches(src, "notRequestPrincipals", "request.auth.principal", true, false, l7);
        s.l7 = s.remoteIpBlocks.length > 0 || s.notRemoteIpBlocks.length > 0 || s.requestPrincipals.length > 0
                || s.notRequestPrincipals.length > 0;
        return s;
    }

    private static void addText(List<String> parts, YNode parent, String key, String attribute, boolean negative)
            throws PolicyLoadException {
        List<String> values = Fields.strings(parent, key);
        if (!values.isEmpty()) {
            parts.add(part(attribute, values, negative));
        }
    }

    private static String[][] serviceAccounts(YNode src, String key, String namespace) throws PolicyLoadException {
        YNode n = src.get(key);
        if (n == null) {
            return new String[][] {IstioPolicy.NO_TEXT, IstioPolicy.NO_TEXT};
        }
        List<YNode> items = n.items();
        String[] nss = new String[items.size()];
        String[] names = new String[items.size()];
        for (int i = 0; i < items.size(); i++) {
            String v = items.get(i).text();
            int slash = v.indexOf('/');
            if (v.isEmpty() || v.indexOf('*') >= 0 || (slash >= 0 && (slash == 0 || slash == v.length() - 1
                    || v.indexOf('/', slash + 1) >= 0))) {
                throw items.get(i).error("service account \"" + v + "\" must be NAME or NAMESPACE/NAME, without wildcards");
            }
            nss[i] = slash < 0 ? namespace : v.substring(0, slash);
            names[i] = slash < 0 ? v : v.substring(slash + 1);
        }
        return new String[][] {nss, names};
    }

    private static IstioPolicy.Operation operation(YNode op, List<String> parts, List<String> l7) throws PolicyLoadException {
        IstioPolicy.Operation o = new IstioPolicy.Operation();
        o.ports = Fields.ports(op, "ports");
        o.notPorts = Fields.ports(op, "notPorts");
        addText(parts, op, "ports", "destination.port", false);
        addText(parts, op, "notPorts", "destination.port", true);
        // Hosts compare case-insensitively, as Istio generates for Envoy.
        o.hosts = matches(op, "hosts", "request.host", false, true, l7);
        o.notHosts = matches(op, "notHosts", "request.host", true, true, l7);
        o.methods = matches(op, "methods", "request.method", false, false, l7);
        o.notMethods = matches(op, "notMethods", "request.method", true, false, l7);
        for (String key : new String[] {"paths", "notPaths"}) {
            YNode n = op.get(key);
            if (n != null) {
                for (YNode item : n.items()) {
                    if (item.text().indexOf('{') >= 0) {
                        throw item.error("path templates ({*}, {**}) are not supported: \"" + item.text() + "\"");
                    }
                }
            }
        }
        o.paths = matches(op, "paths", "request.path", false, false, l7);
        o.notPaths = matches(op, "notPaths", "request.path", true, false, l7);
        o.l7 = o.hosts.length + o.notHosts.length + o.methods.length + o.notMethods.length
                + o.paths.length + o.notPaths.length > 0;
        return o;
    }

    private static IstioPolicy.Condition condition(YNode n, List<String> parts, List<String> l7) throws PolicyLoadException {
        YNode keyNode = n.get("key");
        if (keyNode == null || keyNode.text().isEmpty()) {
            throw n.error("when.key must not be empty");
        }
        String key = keyNode.text();
        int kind;
        String header = null;
        switch (key) {
            case "source.ip" -> kind = IstioPolicy.Condition.SOURCE_IP;
            case "remote.ip" -> kind = IstioPolicy.Condition.REMOTE_IP;
            case "source.namespace" -> kind = IstioPolicy.Condition.SOURCE_NAMESPACE;
            case "source.principal" -> kind = IstioPolicy.Condition.SOURCE_PRINCIPAL;
            case "destination.ip" -> kind = IstioPolicy.Condition.DESTINATION_IP;
            case "destination.port" -> kind = IstioPolicy.Condition.DESTINATION_PORT;
            case "connection.sni" -> kind = IstioPolicy.Condition.CONNECTION_SNI;
            case "request.auth.principal", "request.auth.audiences", "request.auth.presenter" ->
                    kind = IstioPolicy.Condition.REQUEST_AUTH;
            default -> {
                var m = HEADER_KEY.matcher(key);
                if (m.matches()) {
                    kind = IstioPolicy.Condition.REQUEST_HEADER;
                    header = m.group(1).toLowerCase(Locale.ROOT);
                } else if (key.startsWith("request.auth.claims[")) {
                    kind = IstioPolicy.Condition.REQUEST_AUTH;
                } else {
                    throw keyNode.error("unknown when key \"" + key + "\"");
                }
            }
        }
        IstioPolicy.Condition c = new IstioPolicy.Condition(kind, header);
        List<String> values = Fields.strings(n, "values");
        List<String> notValues = Fields.strings(n, "notValues");
        if (values.isEmpty() && notValues.isEmpty()) {
            throw n.error("when condition needs values or notValues");
        }
        c.hasValues = !values.isEmpty();
        c.hasNotValues = !notValues.isEmpty();
        switch (kind) {
            case IstioPolicy.Condition.SOURCE_IP, IstioPolicy.Condition.REMOTE_IP, IstioPolicy.Condition.DESTINATION_IP -> {
                c.cidrs = Fields.cidrs(n, "values");
                c.notCidrs = Fields.cidrs(n, "notValues");
            }
            case IstioPolicy.Condition.DESTINATION_PORT -> {
                c.ports = Fields.ports(n, "values");
                c.notPorts = Fields.ports(n, "notValues");
            }
            default -> {
                if (kind == IstioPolicy.Condition.SOURCE_PRINCIPAL) {
                    principals(n, "values", new ArrayList<>());
                    principals(n, "notValues", new ArrayList<>());
                }
                c.values = matches(n, "values", key, false, false, new ArrayList<>());
                c.notValues = matches(n, "notValues", key, true, false, new ArrayList<>());
            }
        }
        List<String> target = c.l7 ? l7 : parts;
        if (!values.isEmpty()) {
            target.add(part(key, values, false));
        }
        if (!notValues.isEmpty()) {
            target.add(part(key, notValues, true));
        }
        return c;
    }
}
