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
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Compiles {@code security.istio.io} AuthorizationPolicy specs, validating as istiod does
 * ({@code pkg/config/validation/validation.go} ValidateAuthorizationPolicy and
 * {@code pkg/config/security/security.go}), and reporting the warnings istiod's ambient conversion
 * ({@code pilot/pkg/serviceregistry/ambient/authorization.go}) sets as policy status.
 */
final class IstioCompiler {

    private static final Set<String> SPEC_KEYS = Set.of("selector", "targetRef", "targetRefs", "action", "provider", "rules");
    private static final Set<String> RULE_KEYS = Set.of("from", "to", "when");
    private static final Set<String> SOURCE_KEYS = Set.of("principals", "notPrincipals", "requestPrincipals",
            "notRequestPrincipals", "namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts",
            "trustDomains", "notTrustDomains", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks");
    private static final Set<String> OPERATION_KEYS = Set.of("hosts", "notHosts", "ports", "notPorts",
            "methods", "notMethods", "paths", "notPaths");
    private static final Set<String> CONDITION_KEYS = Set.of("key", "values", "notValues");
    private static final Set<String> CUSTOM_FORBIDDEN_SOURCE = Set.of("namespaces", "notNamespaces", "serviceAccounts",
            "notServiceAccounts", "trustDomains", "notTrustDomains", "principals", "notPrincipals", "requestPrincipals",
            "notRequestPrincipals");
    /** RFC 3986 pchar, which istiod requires of every literal segment of a path template. */
    private static final Pattern VALID_LITERAL = Pattern.compile("[a-zA-Z0-9-._~%!$&'()+,;:@=]+");

    static final String HTTP_RULE_FMT = "ztunnel does not support HTTP attributes (found: %s). "
            + "In ambient mode you must use a waypoint proxy to enforce HTTP rules. %s"
            // istiod's words, then what they mean here: zerohop is its own waypoint on HTTP ports.
            + " (zerohop: this is the policy at L4, on opaque TCP; on ports it parses as HTTP, zerohop enforces the"
            + " HTTP attributes per request.)";
    static final String HTTP_DENY_NO_EFFECT = "After omitting unsupported HTTP attributes, this DENY policy has no "
            + "enforceable rules at ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to "
            + "enforce this policy.";
    static final String HTTP_DENY_MIXED = "DENY policy with HTTP attributes is enforced without the HTTP rules. "
            + "This will be more restrictive than requested.";
    static final String HTTP_ALLOW = "Within an ALLOW policy, rules matching HTTP attributes are omitted. "
            + "This will be more restrictive than requested.";

    private IstioCompiler() {
    }

    /** @param dryRunNode the {@code istio.io/dry-run} annotation, or null */
    static IstioPolicy authorizationPolicy(PolicyRef base, String namespace, YNode spec, YNode dryRunNode,
                                           List<String> warnings) throws PolicyLoadException {
        if (spec == null) {
            // An empty spec is an ALLOW policy without rules: it selects the namespace and allows nothing.
            spec = YNode.map(base.name(), 0, "spec");
        }
        spec.onlyKeys(SPEC_KEYS);
        YNode actionNode = spec.get("action");
        String actionText = actionNode == null ? "ALLOW" : actionNode.string();
        int action = switch (actionText) {
            case "ALLOW" -> IstioPolicy.ALLOW;
            case "DENY" -> IstioPolicy.DENY;
            case "AUDIT" -> IstioPolicy.AUDIT;
            case "CUSTOM" -> IstioPolicy.CUSTOM;
            default -> throw actionNode.error("unknown action \"" + actionText + "\" (ALLOW, DENY, AUDIT, CUSTOM)");
        };
        boolean dryRun = dryRun(dryRunNode, actionText);
        YNode rulesNode = spec.get("rules");
        List<YNode> ruleItems = rulesNode == null ? List.of() : rulesNode.items();
        if ((action == IstioPolicy.DENY || action == IstioPolicy.CUSTOM) && ruleItems.isEmpty()) {
            throw (rulesNode == null ? spec : rulesNode).error(actionText + " action without `rules` is meaningless as it "
                    + "will never be triggered, add an empty rule `{}` if you want it be triggered for every request");
        }
        String provider = null;
        YNode providerNode = spec.get("provider");
        if (action == IstioPolicy.CUSTOM) {
            if (providerNode == null || providerNode.onlyKeys(Set.of("name")).string("name", "").isEmpty()) {
                throw (providerNode == null ? spec : providerNode).error("`provider.name` must not be empty");
            }
            provider = providerNode.string("name", "");
        } else if (providerNode != null) {
            throw providerNode.error("`provider` must not be with non CUSTOM action, found " + actionText);
        }
        PolicyRef ref = new PolicyRef(base.kind(), base.namespace(), base.name(), actionText);

        String[] selKeys = null;
        String[] selValues = null;
        YNode selector = spec.get("selector");
        if (selector != null) {
            Map<String, String> labels = workloadSelector(selector, ref, warnings);
            selKeys = labels.keySet().toArray(new String[0]);
            selValues = labels.values().toArray(new String[0]);
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
        int kinds = (selector != null ? 1 : 0) + (single != null ? 1 : 0) + (many != null && !many.items().isEmpty() ? 1 : 0);
        if (kinds > 1) {
            throw spec.error("only one of targetRefs or workloadSelector can be set");
        }

        List<IstioPolicy.Rule> rules = new ArrayList<>();
        TreeSet<String> httpFound = new TreeSet<>();
        for (int i = 0; i < ruleItems.size(); i++) {
            rules.add(rule(i, ruleItems.get(i), namespace, ref, action, provider, httpFound, warnings));
        }
        if (targetRefs.isEmpty()) {
            ambientWarnings(ref, action, rules, httpFound, warnings);
            if (action == IstioPolicy.ALLOW) {
                for (IstioPolicy.Rule r : rules) {
                    if (r.trustDomains && !r.http) {
                        warnings.add(ref + ": rule " + r.index + ": trustDomains are not sent to ztunnel by istiod; zerohop "
                                + "omits this ALLOW rule on L4 connections rather than admit other trust domains "
                                + "(enforced per HTTP request)");
                    }
                }
            }
        }
        Decision noMatch = new Decision(false, Outcome.DENIED_DEFAULT, ref, -1,
                rules.isEmpty() ? "ALLOW policy without rules allows nothing"
                        : "ALLOW policies apply and none matched");
        return new IstioPolicy(ref, namespace, action, provider, dryRun, selKeys, selValues, List.copyOf(targetRefs),
                rules.toArray(new IstioPolicy.Rule[0]), noMatch);
    }

    /** istiod's checkDryRunAnnotation: Go's strconv.ParseBool, and only on ALLOW and DENY. */
    private static boolean dryRun(YNode n, String action) throws PolicyLoadException {
        if (n == null) {
            return false;
        }
        String v = n.string();
        if (!action.equals("ALLOW") && !action.equals("DENY")) {
            throw n.error("the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found action " + action);
        }
        return switch (v) {
            case "1", "t", "T", "TRUE", "true", "True" -> true;
            case "0", "f", "F", "FALSE", "false", "False" -> false;
            default -> throw n.error("annotation istio.io/dry-run with invalid value (" + v + ")");
        };
    }

    /** The status messages istiod's ambient conversion gives this policy, as load warnings. */
    private static void ambientWarnings(PolicyRef ref, int action, List<IstioPolicy.Rule> rules, TreeSet<String> httpFound,
                                        List<String> warnings) {
        if (action == IstioPolicy.CUSTOM || action == IstioPolicy.AUDIT) {
            warnings.add(ref + ": ztunnel does not support the " + ref.action() + " action"
                    + (action == IstioPolicy.CUSTOM
                    ? "; not enforced on L4 connections unless a CustomAuthorizer is configured (enforced per HTTP request)"
                    : ""));
            return;
        }
        if (httpFound.isEmpty()) {
            return;
        }
        String boilerplate;
        if (action == IstioPolicy.DENY) {
            boolean effective = false;
            for (IstioPolicy.Rule r : rules) {
                effective |= r.effectiveAtL4(action);
            }
            boilerplate = effective ? HTTP_DENY_MIXED : HTTP_DENY_NO_EFFECT;
        } else {
            boilerplate = HTTP_ALLOW;
        }
        warnings.add(ref + ": " + String.format(HTTP_RULE_FMT, String.join(", ", httpFound), boilerplate));
    }

    /** istiod's validateWorkloadSelector. */
    static Map<String, String> workloadSelector(YNode selector, PolicyRef ref, List<String> warnings)
            throws PolicyLoadException {
        selector.onlyKeys(Set.of("matchLabels"));
        YNode ml = selector.get("matchLabels");
        Map<String, String> labels = Fields.stringMap(ml);
        for (Map.Entry<String, String> e : labels.entrySet()) {
            YNode at = ml.map.get(e.getKey());
            if (e.getKey().isEmpty()) {
                throw at.error("empty key is not supported in selector: \"" + e.getKey() + "=" + e.getValue() + "\"");
            }
            if (e.getKey().contains("*") || e.getValue().contains("*")) {
                throw at.error("wildcard is not supported in selector: \"" + e.getKey() + "=" + e.getValue() + "\"");
            }
        }
        if (labels.isEmpty()) {
            warnings.add(ref + ": workload selector specified without labels");
        }
        return labels;
    }

    private static String targetRef(YNode t) throws PolicyLoadException {
        t.onlyKeys(Set.of("group", "kind", "name", "namespace"));
        String kind = t.string("kind", "");
        String name = t.string("name", "");
        if (name.isEmpty()) {
            throw t.error("targetRef name must be set");
        }
        if (kind.isEmpty()) {
            throw t.error("targetRef kind must be set");
        }
        if (!t.string("namespace", "").isEmpty()) {
            throw t.get("namespace").error("targetRef namespace must not be set; cross namespace referencing is not supported");
        }
        String group = t.string("group", "");
        boolean allowed = switch (kind) {
            case "Service" -> group.isEmpty() || group.equals("core");
            case "ServiceEntry" -> group.equals("networking.istio.io");
            case "Gateway", "GatewayClass" -> group.equals("gateway.networking.k8s.io");
            default -> false;
        };
        if (!allowed) {
            throw t.error("targetRef must be to one of Service, networking.istio.io/ServiceEntry, "
                    + "gateway.networking.k8s.io/Gateway or GatewayClass but was " + group + "/" + kind);
        }
        return kind + "/" + name;
    }

    private static IstioPolicy.Rule rule(int index, YNode n, String namespace, PolicyRef ref, int action, String provider,
                                         TreeSet<String> httpFound, List<String> warnings) throws PolicyLoadException {
        if (n.isNull()) {
            throw n.error("`rule` must not be nil, found at rule " + index);
        }
        n.onlyKeys(RULE_KEYS);
        List<String> parts = new ArrayList<>();
        List<String> l7Parts = new ArrayList<>();
        IstioPolicy.Source[] from = new IstioPolicy.Source[0];
        IstioPolicy.Operation[] to = new IstioPolicy.Operation[0];
        IstioPolicy.Condition[] when = new IstioPolicy.Condition[0];
        YNode fromNode = n.get("from");
        if (fromNode != null) {
            List<YNode> items = fromNode.items();
            if (items.isEmpty()) {
                throw fromNode.error("`from` must not be empty, found at rule " + index);
            }
            from = new IstioPolicy.Source[items.size()];
            for (int i = 0; i < from.length; i++) {
                YNode f = items.get(i);
                if (f.isNull()) {
                    throw f.error("`from` must not be nil, found at rule " + index);
                }
                YNode src = f.onlyKeys(Set.of("source")).get("source");
                if (src == null) {
                    throw f.error("`from.source` must not be nil, found at rule " + index);
                }
                from[i] = source(src.onlyKeys(SOURCE_KEYS), namespace, action, index, parts, l7Parts, httpFound);
                for (String key : new String[] {"principals", "notPrincipals"}) {
                    for (String p : values(src, key)) {
                        if (p.startsWith("spiffe://")) {
                            // Valid for istiod, but compared with the ID *without* its scheme: never equal.
                            warnings.add(src.get(key).file + ":" + src.get(key).line + ": " + ref + ": " + key + " \"" + p
                                    + "\" never matches: Istio principals are SPIFFE IDs without spiffe://"
                                    + (key.equals("notPrincipals") ? " (so this exclusion excludes nobody)" : ""));
                        }
                    }
                }
            }
        }
        YNode toNode = n.get("to");
        if (toNode != null) {
            List<YNode> items = toNode.items();
            if (items.isEmpty()) {
                throw toNode.error("`to` must not be empty, found at rule " + index);
            }
            to = new IstioPolicy.Operation[items.size()];
            for (int i = 0; i < to.length; i++) {
                YNode t = items.get(i);
                if (t.isNull()) {
                    throw t.error("`to` must not be nil, found at rule " + index);
                }
                YNode op = t.onlyKeys(Set.of("operation")).get("operation");
                if (op == null) {
                    throw t.error("`to.operation` must not be nil, found at rule " + index);
                }
                to[i] = operation(op.onlyKeys(OPERATION_KEYS), index, parts, l7Parts, httpFound);
            }
        }
        YNode whenNode = n.get("when");
        if (whenNode != null) {
            List<YNode> items = whenNode.items();
            when = new IstioPolicy.Condition[items.size()];
            for (int i = 0; i < when.length; i++) {
                YNode c = items.get(i);
                if (c.isNull()) {
                    throw c.error(action == IstioPolicy.CUSTOM ? "when field cannot be nil" : "`key` must not be empty");
                }
                when[i] = condition(c.onlyKeys(CONDITION_KEYS), namespace, action, parts, l7Parts, httpFound);
            }
        }
        IstioPolicy.Rule rule = new IstioPolicy.Rule(index, from, to, when);
        String all = describe(parts, l7Parts);
        boolean deny = action == IstioPolicy.DENY || action == IstioPolicy.CUSTOM;
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
                        + " (" + String.join(", ", l7Parts) + " omitted at L4, as ztunnel)" + suffix);
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

    /** A list of non-empty strings (istiod's CheckEmptyValues; quoted as the CRD's string type requires). */
    static List<String> values(YNode parent, String key) throws PolicyLoadException {
        YNode n = parent.get(key);
        if (n == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (YNode item : n.items()) {
            String v = item.string();
            if (v.isEmpty()) {
                throw item.error("empty value not allowed, found in " + capitalize(key));
            }
            out.add(v);
        }
        return out;
    }

    private static String capitalize(String key) {
        return Character.toUpperCase(key.charAt(0)) + key.substring(1);
    }

    private static StringMatch[] matches(List<String> values, boolean ignoreCase) {
        StringMatch[] out = new StringMatch[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = StringMatch.parse(values.get(i), ignoreCase);
        }
        return out;
    }

    private static StringMatch[] field(YNode parent, String key, String attribute, boolean ignoreCase,
                                       List<String> describe) throws PolicyLoadException {
        List<String> values = values(parent, key);
        if (values.isEmpty()) {
            return IstioPolicy.NO_STRINGS;
        }
        describe.add(part(attribute, values, key.startsWith("not")));
        return matches(values, ignoreCase);
    }

    /** istiod's CheckWildcardValues. */
    private static void wildcards(YNode parent, String key) throws PolicyLoadException {
        YNode n = parent.get(key);
        if (n == null) {
            return;
        }
        for (YNode item : n.items()) {
            String v = item.string();
            int count = v.length() - v.replace("*", "").length();
            if (count > 1) {
                throw item.error("at most one wildcard is allowed, found in " + capitalize(key) + ": \"" + v + "\"");
            }
            if (count == 1 && !v.equals("*") && !v.startsWith("*") && !v.endsWith("*")) {
                throw item.error("wildcard is only allowed at the start or end, found in " + capitalize(key) + ": \"" + v + "\"");
            }
        }
    }

    private static void trustDomainValues(YNode parent, String key) throws PolicyLoadException {
        wildcards(parent, key);
        YNode n = parent.get(key);
        if (n != null) {
            for (YNode item : n.items()) {
                if (item.string().contains("/")) {
                    throw item.error("trust domain must not contain '/', found in " + capitalize(key) + ": \""
                            + item.string() + "\"");
                }
            }
        }
    }

    private static IstioPolicy.Source source(YNode src, String namespace, int action, int ruleIndex, List<String> parts,
                                              List<String> l7, TreeSet<String> httpFound) throws PolicyLoadException {
        boolean any = false;
        for (String key : SOURCE_KEYS) {
            any |= src.get(key) != null && !src.get(key).items().isEmpty();
        }
        if (!any) {
            throw src.error("`from.source` must not be empty, found at rule " + ruleIndex);
        }
        if (action == IstioPolicy.CUSTOM) {
            for (String key : CUSTOM_FORBIDDEN_SOURCE) {
                if (src.get(key) != null && !src.get(key).items().isEmpty()) {
                    throw src.get(key).error("From." + capitalize(key) + " is currently not supported with CUSTOM action");
                }
            }
        }
        int pn = values(src, "principals").size() + values(src, "notPrincipals").size()
                + values(src, "namespaces").size() + values(src, "notNamespaces").size();
        int sn = src.get("serviceAccounts") == null ? 0 : src.get("serviceAccounts").items().size();
        sn += src.get("notServiceAccounts") == null ? 0 : src.get("notServiceAccounts").items().size();
        if (pn > 0 && sn > 0) {
            throw src.error("cannot set serviceAccounts with namespaces or principals, found at rule " + ruleIndex);
        }
        IstioPolicy.Source s = new IstioPolicy.Source();
        s.principals = field(src, "principals", "source.principal", false, parts);
        s.notPrincipals = field(src, "notPrincipals", "source.principal", false, parts);
        s.namespaces = field(src, "namespaces", "source.namespace", false, parts);
        s.notNamespaces = field(src, "notNamespaces", "source.namespace", false, parts);
        String[][] sa = serviceAccounts(src, "serviceAccounts", namespace, parts);
        s.saNamespace = sa[0];
        s.saName = sa[1];
        String[][] notSa = serviceAccounts(src, "notServiceAccounts", namespace, parts);
        s.notSaNamespace = notSa[0];
        s.notSaName = notSa[1];
        trustDomainValues(src, "trustDomains");
        trustDomainValues(src, "notTrustDomains");
        s.trustDomains = field(src, "trustDomains", "source.trustDomain", false, l7);
        s.notTrustDomains = field(src, "notTrustDomains", "source.trustDomain", false, l7);
        s.ipBlocks = cidrs(src, "ipBlocks", "source.ip", parts);
        s.notIpBlocks = cidrs(src, "notIpBlocks", "source.ip", parts);
        s.remoteIpBlocks = cidrs(src, "remoteIpBlocks", "remote.ip", l7);
        s.notRemoteIpBlocks = cidrs(src, "notRemoteIpBlocks", "remote.ip", l7);
        s.requestPrincipals = field(src, "requestPrincipals", "request.auth.principal", false, l7);
        s.notRequestPrincipals = field(src, "notRequestPrincipals", "request.auth.principal", false, l7);
        s.finish();
        for (String key : new String[] {"remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals"}) {
            if (src.get(key) != null && !src.get(key).items().isEmpty()) {
                httpFound.add(key);
            }
        }
        return s;
    }

    private static Cidr[] cidrs(YNode parent, String key, String attribute, List<String> describe) throws PolicyLoadException {
        List<String> values = values(parent, key);
        if (values.isEmpty()) {
            return IstioPolicy.NO_CIDRS;
        }
        Cidr[] out = new Cidr[values.size()];
        List<YNode> items = parent.get(key).items();
        for (int i = 0; i < out.length; i++) {
            out[i] = ipOrCidr(items.get(i));
        }
        describe.add(part(attribute, values, key.startsWith("not")));
        return out;
    }

    /** istiod's ValidateIPs: Go's netip parsing, so no leading zeros ({@code 010.0.0.1} is refused). */
    static Cidr ipOrCidr(YNode n) throws PolicyLoadException {
        String v = n.string();
        Cidr c = Cidr.parse(v);
        if (c == null) {
            throw n.error(v.contains("/") ? "bad CIDR range (" + v + ")" : "bad IP address (" + v + ")");
        }
        return c;
    }

    /** istiod's CheckServiceAccount; entries are {@code name} (the policy's namespace) or {@code ns/name}. */
    private static String[][] serviceAccounts(YNode src, String key, String namespace, List<String> describe)
            throws PolicyLoadException {
        YNode n = src.get(key);
        if (n == null || n.items().isEmpty()) {
            return new String[][] {IstioPolicy.NO_TEXT, IstioPolicy.NO_TEXT};
        }
        List<YNode> items = n.items();
        if (items.size() > 16) {
            throw n.error("may not have more than 16 values");
        }
        String[] nss = new String[items.size()];
        String[] names = new String[items.size()];
        List<String> texts = new ArrayList<>();
        String field = capitalize(key);
        for (int i = 0; i < items.size(); i++) {
            YNode item = items.get(i);
            String v = item.string();
            if (v.isEmpty()) {
                throw item.error("empty value not allowed, found in " + field);
            }
            if (v.contains("*")) {
                throw item.error("wildcard not allowed, found in " + field);
            }
            int slashes = v.length() - v.replace("/", "").length();
            if (slashes > 1) {
                throw item.error("expected format 'serviceAccount' or 'namespace/serviceAccount', found \"" + v + "\" in " + field);
            }
            if (v.length() > 320) {
                throw item.error("value cannot exceed 320 characters, found \"" + v + "\" in " + field);
            }
            int slash = v.indexOf('/');
            if (slash == 0) {
                throw item.error("expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace \""
                        + v + "\" in " + field);
            }
            if (slash == v.length() - 1) {
                throw item.error("expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount \""
                        + v + "\" in " + field);
            }
            nss[i] = slash < 0 ? namespace : v.substring(0, slash);
            names[i] = slash < 0 ? v : v.substring(slash + 1);
            texts.add(nss[i] + "/" + names[i]);
        }
        describe.add(part("source.serviceAccount", texts, key.startsWith("not")));
        return new String[][] {nss, names};
    }

    /** istiod's ValidatePorts: a decimal 0..65535 given as a string. */
    private static int[] ports(YNode parent, String key, String field) throws PolicyLoadException {
        YNode n = parent.get(key);
        if (n == null) {
            return IstioPolicy.NO_PORTS;
        }
        List<YNode> items = n.items();
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++) {
            YNode item = items.get(i);
            String v = item.string();
            if (v.isEmpty()) {
                throw item.error("empty value not allowed, found in " + field);
            }
            long p = -1;
            if (v.length() <= 10 && v.chars().allMatch(c -> c >= '0' && c <= '9')) {
                p = Long.parseLong(v);
            }
            if (p < 0 || p > 65535) {
                throw item.error("bad port (" + v + ")");
            }
            out[i] = (int) p;
        }
        return out;
    }

    private static IstioPolicy.Operation operation(YNode op, int ruleIndex, List<String> parts, List<String> l7,
                                                   TreeSet<String> httpFound) throws PolicyLoadException {
        boolean any = false;
        for (String key : OPERATION_KEYS) {
            any |= op.get(key) != null && !op.get(key).items().isEmpty();
        }
        if (!any) {
            throw op.error("`to.operation` must not be empty, found at rule " + ruleIndex);
        }
        IstioPolicy.Operation o = new IstioPolicy.Operation();
        o.ports = ports(op, "ports", "Ports");
        o.notPorts = ports(op, "notPorts", "NotPorts");
        if (o.ports.length > 0) {
            parts.add(part("destination.port", values(op, "ports"), false));
        }
        if (o.notPorts.length > 0) {
            parts.add(part("destination.port", values(op, "notPorts"), true));
        }
        // Hosts compare case-insensitively, as istiod generates for Envoy.
        o.hosts = field(op, "hosts", "request.host", true, l7);
        o.notHosts = field(op, "notHosts", "request.host", true, l7);
        o.methods = field(op, "methods", "request.method", false, l7);
        o.notMethods = field(op, "notMethods", "request.method", false, l7);
        o.paths = paths(op, "paths", l7);
        o.notPaths = paths(op, "notPaths", l7);
        o.finish();
        for (String key : new String[] {"hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"}) {
            if (op.get(key) != null && !op.get(key).items().isEmpty()) {
                httpFound.add(key);
            }
        }
        return o;
    }

    private static PathMatch[] paths(YNode op, String key, List<String> describe) throws PolicyLoadException {
        List<String> values = values(op, key);
        if (values.isEmpty()) {
            return IstioPolicy.NO_PATHS;
        }
        List<YNode> items = op.get(key).items();
        PathMatch[] out = new PathMatch[values.size()];
        for (int i = 0; i < out.length; i++) {
            validPathTemplate(items.get(i), capitalize(key));
            out[i] = PathMatch.parse(values.get(i));
        }
        describe.add(part("request.path", values, key.startsWith("not")));
        return out;
    }

    /** istiod's CheckValidPathTemplate. */
    private static void validPathTemplate(YNode item, String field) throws PolicyLoadException {
        String path = item.string();
        boolean template = path.contains("{*}") || path.contains("{**}");
        String trimmed = path.replaceAll("^/+", "").replaceAll("/+$", "");
        boolean anySeen = false;
        for (String glob : trimmed.split("/", -1)) {
            if (glob.equals("{*}") && !anySeen) {
                continue;
            } else if (glob.equals("{**}") && !anySeen) {
                anySeen = true;
                continue;
            } else if ((glob.equals("{**}") || glob.equals("{*}")) && anySeen) {
                throw item.error("invalid or unsupported path " + trimmed + ", found in " + field + ". {**} is not the last operator");
            }
            if (glob.contains("{") || glob.contains("}")) {
                throw item.error("invalid or unsupported path " + trimmed + ", found in " + field
                        + ". Contains '{' or '}' beyond a supported path template");
            }
            if (template && !VALID_LITERAL.matcher(glob).matches()) {
                throw item.error("invalid or unsupported path " + trimmed + ", found in " + field
                        + ". Contains segment " + glob + " with invalid string literal");
            }
        }
    }

    /** istiod's validateMapKey: {@code a[b]} with a non-empty b. */
    private static boolean validMapKey(String key) {
        int open = key.indexOf('[');
        return key.endsWith("]") && open > 0 && open < key.length() - 2;
    }

    private static IstioPolicy.Condition condition(YNode n, String namespace, int action, List<String> parts,
                                                   List<String> l7, TreeSet<String> httpFound) throws PolicyLoadException {
        YNode keyNode = n.get("key");
        String key = keyNode == null ? "" : keyNode.string();
        if (key.isEmpty()) {
            throw n.error("`key` must not be empty");
        }
        List<String> values = values(n, "values");
        List<String> notValues = values(n, "notValues");
        if (values.isEmpty() && notValues.isEmpty()) {
            throw n.error("at least one of `values` or `notValues` must be set for key " + key);
        }
        if (action == IstioPolicy.CUSTOM && (key.equals("source.namespace") || key.equals("source.serviceAccount")
                || key.equals("source.trustDomain") || key.equals("source.principal") || key.startsWith("request.auth."))) {
            throw keyNode.error(key + " is currently not supported with CUSTOM action");
        }
        int kind;
        String header = null;
        if (key.startsWith("request.headers")) {
            if (!validMapKey(key)) {
                throw keyNode.error("bad key (" + key + "): should have format a[b]");
            }
            kind = IstioPolicy.Condition.REQUEST_HEADER;
            header = key.substring(key.indexOf('[') + 1, key.length() - 1).toLowerCase(Locale.ROOT);
        } else if (key.startsWith("request.auth.claims") || key.startsWith("experimental.envoy.filters.")) {
            if (!validMapKey(key)) {
                throw keyNode.error("bad key (" + key + "): should have format a[b]");
            }
            kind = IstioPolicy.Condition.ABSENT;
        } else {
            kind = switch (key) {
                case "source.ip" -> IstioPolicy.Condition.SOURCE_IP;
                case "remote.ip" -> IstioPolicy.Condition.REMOTE_IP;
                case "source.namespace" -> IstioPolicy.Condition.SOURCE_NAMESPACE;
                case "source.principal" -> IstioPolicy.Condition.SOURCE_PRINCIPAL;
                case "source.serviceAccount" -> IstioPolicy.Condition.SOURCE_SERVICE_ACCOUNT;
                case "source.trustDomain" -> IstioPolicy.Condition.SOURCE_TRUST_DOMAIN;
                case "destination.ip" -> IstioPolicy.Condition.DESTINATION_IP;
                case "destination.port" -> IstioPolicy.Condition.DESTINATION_PORT;
                case "connection.sni" -> IstioPolicy.Condition.CONNECTION_SNI;
                case "request.auth.principal", "request.auth.audiences", "request.auth.presenter" ->
                        IstioPolicy.Condition.ABSENT;
                case "destination.namespace" -> throw keyNode.error("attribute " + key + " is replaced by the metadata.namespace");
                case "destination.name", "destination.user" ->
                        throw keyNode.error("deprecated attribute " + key + ": only supported in v1alpha1");
                default -> {
                    if (key.startsWith("destination.labels")) {
                        throw keyNode.error("attribute " + key + " is replaced by the workload selector");
                    }
                    throw keyNode.error("unknown attribute: " + key);
                }
            };
        }
        IstioPolicy.Condition c = new IstioPolicy.Condition(kind, header);
        c.hasValues = !values.isEmpty();
        c.hasNotValues = !notValues.isEmpty();
        switch (kind) {
            case IstioPolicy.Condition.SOURCE_IP, IstioPolicy.Condition.REMOTE_IP, IstioPolicy.Condition.DESTINATION_IP -> {
                c.cidrs = cidrs(n, "values", key, new ArrayList<>());
                c.notCidrs = cidrs(n, "notValues", key, new ArrayList<>());
            }
            case IstioPolicy.Condition.DESTINATION_PORT -> {
                c.ports = ports(n, "values", key);
                c.notPorts = ports(n, "notValues", key);
            }
            case IstioPolicy.Condition.SOURCE_SERVICE_ACCOUNT -> {
                String[][] sa = serviceAccounts(n, "values", namespace, new ArrayList<>());
                c.saNamespace = sa[0];
                c.saName = sa[1];
                String[][] notSa = serviceAccounts(n, "notValues", namespace, new ArrayList<>());
                c.notSaNamespace = notSa[0];
                c.notSaName = notSa[1];
            }
            default -> {
                if (kind == IstioPolicy.Condition.SOURCE_TRUST_DOMAIN) {
                    wildcards(n, "values");
                    wildcards(n, "notValues");
                }
                c.values = matches(values, false);
                c.notValues = matches(notValues, false);
            }
        }
        if (!c.l4) {
            httpFound.add(key);
        }
        List<String> target = c.l4 ? parts : l7;
        if (!values.isEmpty()) {
            target.add(part(key, values, false));
        }
        if (!notValues.isEmpty()) {
            target.add(part(key, notValues, true));
        }
        return c;
    }
}
