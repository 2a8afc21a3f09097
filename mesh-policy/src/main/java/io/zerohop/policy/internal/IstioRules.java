package io.zerohop.policy.internal;

import static io.zerohop.policy.internal.IstioValues.capitalize;
import static io.zerohop.policy.internal.IstioValues.cidrs;
import static io.zerohop.policy.internal.IstioValues.field;
import static io.zerohop.policy.internal.IstioValues.nonEmpty;
import static io.zerohop.policy.internal.IstioValues.part;
import static io.zerohop.policy.internal.IstioValues.ports;
import static io.zerohop.policy.internal.IstioValues.serviceAccounts;
import static io.zerohop.policy.internal.IstioValues.trustDomainValues;
import static io.zerohop.policy.internal.IstioValues.values;

import io.zerohop.policy.Decision;
import io.zerohop.policy.Decision.Outcome;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.IntFunction;
import java.util.regex.Pattern;

/**
 * Compiles one AuthorizationPolicy rule: its {@code from} sources and {@code to} operations,
 * validated as istiod's {@code pkg/config/validation/validation.go} (ValidateAuthorizationPolicy's
 * per-rule checks, CheckValidPathTemplate), and the rule's two decisions: every field evaluated
 * (the Envoy RBAC of {@code pilot/pkg/security/authz/model}) and its L4 part, which istiod's
 * ambient conversion ({@code pilot/pkg/serviceregistry/ambient/authorization.go}) sends to
 * ztunnel. {@code when} conditions are {@link IstioConditions}' job.
 */
final class IstioRules {

    private static final Set<String> RULE_KEYS = Set.of("from", "to", "when");
    private static final Set<String> SOURCE_KEYS = Set.of("principals", "notPrincipals", "requestPrincipals",
            "notRequestPrincipals", "namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts",
            "trustDomains", "notTrustDomains", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks");
    private static final Set<String> OPERATION_KEYS = Set.of("hosts", "notHosts", "ports", "notPorts",
            "methods", "notMethods", "paths", "notPaths");
    private static final Set<String> CONDITION_KEYS = Set.of("key", "values", "notValues");
    /** The message of the CRD's rule on Source (istio/api security/v1beta1/authorization_policy.proto). */
    private static final String SA_RULE = "Cannot set serviceAccounts with namespaces or principals";
    private static final Set<String> CUSTOM_FORBIDDEN_SOURCE = Set.of("namespaces", "notNamespaces", "serviceAccounts",
            "notServiceAccounts", "trustDomains", "notTrustDomains", "principals", "notPrincipals", "requestPrincipals",
            "notRequestPrincipals");
    /** RFC 3986 pchar, which istiod requires of every literal segment of a path template. */
    private static final Pattern VALID_LITERAL = Pattern.compile("[a-zA-Z0-9-._~%!$&'()+,;:@=]+");

    private IstioRules() {
    }

    static IstioPolicy.Rule rule(int index, YNode n, String namespace, PolicyRef ref, int action, String provider,
                                         FoundFields httpFound, List<String> warnings) throws PolicyLoadException {
        if (n.isNull()) {
            throw n.error("`rule` must not be nil, found at rule " + index);
        }
        n.onlyKeys(RULE_KEYS);
        for (String k : List.of("from", "to", "when")) {
            YNode raw = n.map.get(k);
            if (raw != null && raw.isNull()) {
                // Kubernetes drops a null field and istiod then sees no from/to/when (it rejects only an empty list):
                // the rule matches more than it reads as, e.g. an ALLOW for every source (newuser21). Same decision as
                // upstream, so a warning, not an error.
                warnings.add(raw.file + ":" + (raw.keyLine > 0 ? raw.keyLine : raw.line) + ": " + ref + ": " + raw.path + ": `" + k
                        + ":` has no value (null): Kubernetes drops it, so this rule matches every "
                        + (k.equals("from") ? "source" : k.equals("to") ? "operation" : "request (no condition)")
                        + "; write its entries or delete the key");
            }
        }
        List<String> parts = new ArrayList<>();
        List<String> l7Parts = new ArrayList<>();
        // Each entry's fields are described apart: entries of `from` (and of `to`) are alternatives, one matching is
        // enough, so the explanation joins them with "or" (until 5 December "A, B matched" read as if both had).
        List<List<String>> fromParts = new ArrayList<>();
        List<List<String>> fromL7 = new ArrayList<>();
        List<List<String>> toParts = new ArrayList<>();
        List<List<String>> toL7 = new ArrayList<>();
        IstioSource[] from = entries(n.get("from"), "from", "source", index, IstioSource[]::new, src -> {
            List<String> p = new ArrayList<>();
            List<String> l = new ArrayList<>();
            fromParts.add(p);
            fromL7.add(l);
            IstioSource compiled = source(src.onlyKeys(SOURCE_KEYS), namespace, action, index, p, l, httpFound);
            schemeWarnings(src, ref, warnings);
            principalCharacterWarnings(src, ref, warnings);
            namespaceWarnings(src, ref, warnings);
            trustDomainWarnings(src, ref, warnings);
            mappedAddressWarnings(src, ref, warnings);
            return compiled;
        });
        IstioOperation[] to = entries(n.get("to"), "to", "operation", index, IstioOperation[]::new,
                op -> {
                    List<String> p = new ArrayList<>();
                    List<String> l = new ArrayList<>();
                    toParts.add(p);
                    toL7.add(l);
                    IstioOperation compiled = operation(op.onlyKeys(OPERATION_KEYS), index, p, l, httpFound);
                    methodCaseWarnings(op, ref, warnings);
                    pathWarnings(op, ref, warnings);
                    return compiled;
                });
        alternatives(fromParts, parts);
        alternatives(fromL7, l7Parts);
        alternatives(toParts, parts);
        alternatives(toL7, l7Parts);
        IstioCondition[] when = new IstioCondition[0];
        YNode whenNode = n.get("when");
        if (whenNode != null) {
            List<YNode> items = whenNode.items();
            when = new IstioCondition[items.size()];
            for (int i = 0; i < when.length; i++) {
                YNode c = items.get(i);
                if (c.isNull()) {
                    throw c.error(action == IstioPolicy.CUSTOM ? "when field cannot be nil" : "`key` must not be empty");
                }
                when[i] = IstioConditions.condition(c.onlyKeys(CONDITION_KEYS), namespace, action, parts, l7Parts, httpFound);
                conditionWarnings(c, ref, warnings);
                if (when[i].key == IstioCondition.UNBUILDABLE) {
                    YNode k = c.get("key");
                    warnings.add(k.file + ":" + k.line + ": " + ref + ": " + k.path + " \"" + k.string() + "\": istiod accepts this key"
                            + " but cannot build it (the name's bracket must follow " + (k.string().startsWith("request.headers")
                            ? "request.headers" : "request.auth.claims") + " directly), so "
                            + (when[i].dropsRule ? "this ALLOW rule is dropped: it allows no request"
                            : "this condition is dropped: on ports zerohop parses as HTTP the rule matches whatever its other"
                            + " fields match; on ports declared tcp (never parsed) the rule never matches, as ztunnel skips a rule with a"
                            + " condition that is no L4 attribute")
                            + " (pilot/pkg/security/authz/model rule.checkError)");
                }
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
            rule.customConflict = new Decision(false, Outcome.DENIED_CUSTOM, ref, index,
                    all + " (CUSTOM policies naming more than one provider select this workload, so no provider is called:"
                            + " istiod turns every CUSTOM rule into a deny rule unless PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS"
                            + " is set, builder.go)");
        }
        return rule;
    }

    /**
     * The elements of the string list {@code parent.key} (none when absent), each read with {@link YNode#string} as
     * {@link IstioValues#values} reads them: a warning names the element's own line and field path
     * ({@code spec.rules[0].from[0].source.principals[1]}), not the line where its list starts.
     */
    private static List<YNode> items(YNode parent, String key) throws PolicyLoadException {
        YNode n = parent.get(key);
        return n == null ? List.of() : n.items();
    }

    /** Principals written with {@code spiffe://}: valid for istiod, but compared with the ID without its scheme, never equal. */
    private static void schemeWarnings(YNode src, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        for (String key : new String[] {"principals", "notPrincipals"}) {
            for (YNode item : items(src, key)) {
                String p = item.string();
                if (p.startsWith("spiffe://")) {
                    warn(item, ref, "Istio principals are SPIFFE IDs without spiffe://", key.equals("notPrincipals"), warnings);
                }
            }
        }
    }

    /**
     * Principals no SPIFFE ID can match (beyond istiod, which accepts any non-empty string): once one
     * leading or trailing {@code *} is taken as the wildcard, a character a SPIFFE ID never has (only
     * letters, digits, {@code . - _} and {@code /}: spiffe/spiffe standards/SPIFFE-ID.md 2.1, 2.2; a
     * {@code *} elsewhere is literal, as Envoy's and ztunnel's matchers read it), or an upper-case letter
     * in the trust domain of an exact or prefix value (trust domains are lower case; zerohop refuses a
     * peer whose is not). {@code principals: ["cluster.local/ns/*}{@code /sa/admin"]} is such a typo: as a
     * DENY it denies nobody. Warned, not changed.
     */
    private static void principalCharacterWarnings(YNode src, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        for (String key : new String[] {"principals", "notPrincipals"}) {
            for (YNode item : items(src, key)) {
                warn(item, ref, principalProblem(item.string()), key.startsWith("not"), warnings);
            }
        }
    }

    /** Why no peer's principal can match {@code p}, or null when one can (or {@link #schemeWarnings} says why). */
    private static String principalProblem(String p) {
        if (p.equals("*") || p.startsWith("spiffe://")) {
            return null;
        }
        boolean suffix = p.startsWith("*");
        String v = suffix ? p.substring(1) : p.endsWith("*") ? p.substring(0, p.length() - 1) : p;
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'
                    || c == '_' || c == '/')) {
                return c == '*' ? "only one leading or one trailing * is a wildcard, this one is a literal *, which no SPIFFE ID has"
                        : c == ' ' ? "a SPIFFE ID has no \" \": two values joined into one? In a flow list written over"
                                + " several lines, YAML joins words on separate lines that no comma parts, as kubectl reads them"
                        : "a SPIFFE ID has no \"" + c + "\" (only letters, digits, '.', '-', '_' and '/')";
            }
        }
        int slash = v.indexOf('/');
        String td = slash < 0 ? v : v.substring(0, slash);
        if (!suffix && !td.equals(td.toLowerCase(java.util.Locale.ROOT))) {
            return "a trust domain is lower case (" + td.toLowerCase(java.util.Locale.ROOT) + ")";
        }
        if (slash < 0 && !suffix && !p.endsWith("*")) {
            // A workload's SPIFFE ID always has a path (X509-SVID 4.1, SvidVerifier): a bare name is
            // most often a service account written alone (a new-user pass: principals: ["frontend"]).
            return "a principal is a SPIFFE ID without spiffe://, which always has a path: TRUST_DOMAIN/ns/NAMESPACE/sa/"
                    + "SERVICE_ACCOUNT for Istio's (\"cluster.local/ns/<namespace>/sa/" + v + "\"?), or use serviceAccounts";
        }
        return segmentProblem(v, !suffix && p.endsWith("*"), suffix);
    }

    /**
     * Why no SPIFFE ID can be, start with ({@code prefix}) or end with ({@code suffix}) {@code v}, for its path: a SPIFFE
     * ID's path segments are not empty, not {@code .} or {@code ..}, and it has no trailing {@code /} (spiffe/spiffe
     * standards/SPIFFE-ID.md 2.2; java-spiffe's SpiffeId.parse, which reads every peer's ID, refuses each), nor does its
     * trust domain start with {@code /}. Only what the wildcard cannot complete counts: the last segment of a prefix goes
     * on in the ID ({@code cluster.local/ns/.*} may be {@code .x}), the first of a suffix may end a longer one.
     */
    private static String segmentProblem(String v, boolean prefix, boolean suffix) {
        String path = v;
        if (!suffix) {
            int slash = v.indexOf('/');
            if (slash == 0) {
                return "a SPIFFE ID starts with its trust domain, not \"/\"";
            }
            if (slash < 0) {
                return null;
            }
            path = v.substring(slash);
        }
        String[] segments = path.split("/", -1);
        for (int i = 1; i < segments.length; i++) {
            boolean last = i == segments.length - 1;
            if (last && prefix) {
                break;
            }
            String s = segments[i];
            if (s.isEmpty()) {
                return last ? "a SPIFFE ID has no trailing \"/\"" + (prefix || suffix ? ""
                        : " (\"" + v.replaceAll("/+$", "") + "\"?)") : "a SPIFFE ID has no empty path segment (\"//\")";
            }
            if (s.equals(".") || s.equals("..")) {
                return "a SPIFFE ID has no \"" + s + "\" path segment";
            }
        }
        return null;
    }

    /** The "never matches" warning of {@code item} when {@code why} is not null; {@code negative}: a {@code not*} value. */
    private static void warn(YNode item, PolicyRef ref, String why, boolean negative, List<String> warnings) throws PolicyLoadException {
        if (why != null) {
            warnings.add(item.file + ":" + item.line + ": " + ref + ": " + item.path + " \"" + item.string() + "\" never matches: " + why
                    + (negative ? " (so this exclusion excludes nobody)" : ""));
        }
    }

    /**
     * Namespaces and service accounts no peer can have (valid for istiod, which checks only that a value is not empty, and
     * a service account's form): a Kubernetes namespace is a DNS-1123 label (lower-case letters, digits, {@code -}) and so
     * is the {@code ns/} segment of every Istio identity; a service account's name is a DNS-1123 subdomain (also
     * {@code .}). So {@code namespaces: [Shop]} (a new-user pass), {@code "legacy "}, {@code legacy/old}, two values YAML
     * joined into one ({@code "legacy legacy-batch"}: a flow list over two lines without a comma) or a {@code *} inside
     * the value ({@code team-*-legacy}: only a leading or trailing one is a wildcard) never match: a DENY that denies
     * nobody, a {@code not*} that excludes nobody (a typo pass). Warned, not changed.
     */
    private static void namespaceWarnings(YNode src, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        for (String key : new String[] {"namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts"}) {
            for (YNode item : items(src, key)) {
                warn(item, ref, namespaceProblem(item.string(), key.endsWith("erviceAccounts")), key.startsWith("not"), warnings);
            }
        }
    }

    /** Why no peer's namespace ({@code account}: service account) can match {@code v}, or null when one can. */
    private static String namespaceProblem(String v, boolean account) {
        String lower = v.toLowerCase(java.util.Locale.ROOT);
        if (!v.equals(lower)) {
            return (account ? "a service account" : "a Kubernetes namespace") + " is lower case (\"" + lower + "\"?)";
        }
        // A service account's own wildcards are refused at load (istiod); a namespace's leading or trailing * is one.
        String bare = account ? v : v.startsWith("*") ? v.substring(1) : v.endsWith("*") ? v.substring(0, v.length() - 1) : v;
        for (int i = 0; i < bare.length(); i++) {
            char c = bare.charAt(i);
            boolean ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || account && (c == '.' || c == '/');
            if (!ok) {
                return c == ' ' && (i == 0 || i == bare.length() - 1) ? "a namespace or service account has no leading or"
                        + " trailing blank (\"" + v.trim() + "\"?)"
                        : c == ' ' ? "a namespace or service account has no \" \": two values joined into one? In a flow list written"
                        + " over several lines, YAML joins words on separate lines that no comma parts, as kubectl reads them"
                        : c == '*' ? "only one leading or one trailing * is a wildcard, this one is a literal *, which no namespace has"
                        : (account ? "a service account (NAME or NAMESPACE/NAME)" : "a Kubernetes namespace") + " has no \"" + c
                                + "\" (only lower-case letters, digits, '-'" + (account ? ", '.'" : "") + ")";
            }
        }
        return null;
    }

    /**
     * Trust domains no peer has (valid for istiod, whose CheckTrustDomainValues refuses only an empty value, a misplaced
     * {@code *} and a {@code /}): a SPIFFE trust domain is lower-case letters, digits, {@code .}, {@code -} and {@code _}
     * (spiffe/spiffe standards/SPIFFE-ID.md 2.1; zerohop refuses a peer whose is not, see {@link SpiffeIdSyntax}), and
     * istiod's trust-domain matcher compares it case-sensitively. So {@code trustDomains: [Cluster.local]} or
     * {@code "spiffe:"} never match: a DENY that denies nobody, a {@code notTrustDomains} that excludes nobody. Warned,
     * not changed.
     */
    private static void trustDomainWarnings(YNode src, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        for (String key : new String[] {"trustDomains", "notTrustDomains"}) {
            for (YNode item : items(src, key)) {
                warn(item, ref, trustDomainProblem(item.string()), key.startsWith("not"), warnings);
            }
        }
    }

    /** Why no peer's trust domain can match {@code v} (one leading or trailing {@code *} being the wildcard), or null. */
    static String trustDomainProblem(String v) {
        String bare = v.startsWith("*") ? v.substring(1) : v.endsWith("*") ? v.substring(0, v.length() - 1) : v;
        String lower = bare.toLowerCase(java.util.Locale.ROOT);
        for (int i = 0; i < bare.length(); i++) {
            char c = lower.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_')) {
                return c == ' ' ? "a trust domain has no \" \" (\"" + v.trim() + "\"?)"
                        : c == '*' ? "only one leading or one trailing * is a wildcard, this one is a literal *, which no trust domain has"
                        : "a trust domain has no \"" + c + "\" (only lower-case letters, digits, '.', '-' and '_'"
                                + (c == ':' ? "; write it without spiffe://" : "") + ")";
            }
        }
        if (!bare.equals(lower)) {
            String fixed = v.toLowerCase(java.util.Locale.ROOT);
            return "a trust domain is lower case (\"" + fixed + "\"?)";
        }
        return null;
    }

    /**
     * A {@code when} condition's values that no peer has, read as the same fields of a source are ({@code values} as
     * {@code namespaces}, {@code notValues} as {@code notNamespaces}): on {@code source.namespace},
     * {@code source.principal} (a {@code spiffe://} value too, as {@link #schemeWarnings} says of principals),
     * {@code source.serviceAccount} and {@code source.trustDomain}.
     */
    private static void conditionWarnings(YNode c, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        String key = c.get("key") == null ? "" : c.get("key").string();
        if (key.startsWith("request.headers[:")) {
            String name = key.substring("request.headers[".length(), key.length() - 1).toLowerCase(java.util.Locale.ROOT);
            if (!name.equals(":authority") && !name.equals(":method") && !name.equals(":path") && !name.equals(":scheme")) {
                // Envoy's header map holds :protocol on an extended CONNECT too; zerohop's requests carry only these four
                // (mesh-core sets :scheme as Envoy's connection manager does, HeaderValidation.http1Scheme), so such a
                // condition is silently never met: said at load (a new-user pass).
                YNode k = c.get("key");
                warnings.add(k.file + ":" + k.line + ": " + ref + ": " + k.path + " \"" + key + "\": zerohop has no value for"
                        + " the pseudo-header " + name + " (only :authority, :method, :path and :scheme), so this condition never"
                        + " matches: an ALLOW rule allows nothing through it, a DENY rule denies nothing through it, where"
                        + " Envoy's header map has it");
            }
            return;
        }
        if (!key.equals("source.namespace") && !key.equals("source.principal") && !key.equals("source.serviceAccount")
                && !key.equals("source.trustDomain")) {
            return;
        }
        for (String field : new String[] {"values", "notValues"}) {
            for (YNode item : items(c, field)) {
                String v = item.string();
                String why = switch (key) {
                    case "source.namespace" -> namespaceProblem(v, false);
                    case "source.serviceAccount" -> namespaceProblem(v, true);
                    case "source.trustDomain" -> trustDomainProblem(v);
                    default -> v.startsWith("spiffe://") ? "Istio principals are SPIFFE IDs without spiffe://" : principalProblem(v);
                };
                warn(item, ref, why, field.equals("notValues"), warnings);
            }
        }
    }

    /**
     * Paths no request path can match (beyond istiod, which accepts them): an exact or prefix value, or a
     * template, that does not start with {@code /}, as every origin-form {@code :path} does
     * ({@code paths: [admin]} for {@code /admin}; as a DENY it denies nothing). Warned, not changed.
     */
    private static void pathWarnings(YNode op, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        for (String key : new String[] {"paths", "notPaths"}) {
            for (YNode item : items(op, key)) {
                String p = item.string();
                String unmatchable = unmatchablePart(p);
                if (!p.startsWith("/") && !p.startsWith("*")) {
                    warnings.add(item.file + ":" + item.line + ": " + ref + ": " + item.path + " \"" + p
                            + "\" never matches: a request path starts with / (\"/" + p + "\"?)"
                            + (key.equals("notPaths") ? " (so this exclusion excludes nothing)" : ""));
                } else if (unmatchable != null) {
                    warnings.add(item.file + ":" + item.line + ": " + ref + ": " + item.path + " \"" + p
                            + "\" never matches: " + unmatchable
                            + (key.equals("notPaths") ? " (so this exclusion excludes nothing)" : ""));
                } else if (innerStar(p)) {
                    // istiod's pathGenerator: not a template, so matcher.PathMatcher's exact match (only a leading or
                    // trailing * is a wildcard). A glob meant as such (a new-user pass) matches only a literal "*".
                    warnings.add(item.file + ":" + item.line + ": " + ref + ": " + item.path + " \"" + p
                            + "\": a * other than a leading or trailing one is literal, so this matches only a path with a \"*\" in it"
                            + (asTemplate(p).equals(p) ? " (Istio's path templates match a segment, {*}, or the rest, {**})"
                            : " (one path segment is Istio's path template {*}: \"" + asTemplate(p) + "\"?)"));
                }
            }
        }
    }

    /**
     * Why no request path can match {@code p}, for what Envoy does to a path before RBAC reads it, or null: its
     * {@code url_path} matcher reads the path without the query (envoyproxy/envoy source/common/common/matchers.cc
     * {@code PathMatcher::match}, {@code Http::PathUtil::removeQueryAndFragment}), and istiod's {@code BASE} normalization
     * (RFC 3986 section 6, {@code normalize_path}) leaves no {@code .} or {@code ..} segment. Istio accepts such a value
     * silently; a review pass (helper 251) found {@code /admin?x=1} and {@code /x/../admin} loaded without a word.
     */
    static String unmatchablePart(String p) {
        if (p.indexOf('{') >= 0) {
            return null; // a template (istiod's uriTemplate matcher) reads segments, not these literals
        }
        int q = p.indexOf('?');
        if (q >= 0) {
            return "a path is matched without its query (\"" + p.substring(0, q) + (p.endsWith("*") ? "*" : "") + "\"?)";
        }
        if (p.indexOf('#') >= 0) {
            return "a request path never has a fragment (\"#\": Envoy refuses such a request)";
        }
        boolean suffix = p.startsWith("*");
        boolean prefix = !suffix && p.endsWith("*");
        String core = suffix ? p.substring(1) : prefix ? p.substring(0, p.length() - 1) : p;
        String[] segments = core.split("/", -1);
        for (int i = 0; i < segments.length; i++) {
            boolean complete = (i > 0 || !suffix) && (i < segments.length - 1 || !prefix);
            // %2e is a dot to the normalization too (RFC 3986 section 2.3: an unreserved character's encoding is decoded
            // first), so /%2e%2e/admin never matches either (a new-user pass, helper 257).
            String dots = segments[i].replace("%2e", ".").replace("%2E", ".");
            if (complete && (dots.equals(".") || dots.equals(".."))) {
                return "a request path is normalized before it is matched (RFC 3986 dot segments removed), so it has no \""
                        + segments[i] + "\" segment";
            }
        }
        return null;
    }

    /** {@code p} with each segment that is a lone {@code *} written as Istio's one-segment template {@code {*}}. */
    private static String asTemplate(String p) {
        return String.join("/", java.util.Arrays.stream(p.split("/", -1)).map(seg -> seg.equals("*") ? "{*}" : seg).toList());
    }

    /** A {@code *} inside {@code p} (not its first or last character) outside a {@code {*}} or {@code {**}} template. */
    private static boolean innerStar(String p) {
        String plain = p.replace("{**}", "").replace("{*}", "");
        int star = plain.indexOf('*', 1);
        return star > 0 && star < plain.length() - 1;
    }

    /**
     * IPv4-mapped IPv6 blocks ({@code ::ffff:10.0.0.1}): valid for istiod, and an IPv6 prefix as Go's netip reads
     * it, so it never contains an IPv4 peer (the README's "Addresses and prefixes"): a DENY on it denies nobody
     * and, in a {@code not*} list, excludes nobody. Warned, not changed (new-user pass: no warning said so).
     */
    private static void mappedAddressWarnings(YNode src, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        for (String key : new String[] {"ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"}) {
            for (YNode item : items(src, key)) {
                String v = item.string();
                Cidr c = Cidr.parse(v);
                if (c != null && c.ipv4Mapped()) {
                    warn(item, ref, "an IPv4-mapped IPv6 address is an IPv6 prefix, as Go's netip reads it, and no peer is"
                            + " one (an IPv4 peer is IPv4); write " + c.ipv4Form(), key.startsWith("not"), warnings);
                }
            }
        }
    }

    /**
     * Methods not in upper case: valid for istiod, but Envoy compares {@code :method} case-sensitively
     * (istiod generates an exact header match), and clients send methods in upper case, so
     * {@code methods: [post]} never matches a POST (a DENY that denies nothing). Warned, not changed.
     */
    private static void methodCaseWarnings(YNode op, PolicyRef ref, List<String> warnings) throws PolicyLoadException {
        for (String key : new String[] {"methods", "notMethods"}) {
            for (YNode item : items(op, key)) {
                String m = item.string();
                if (!m.equals(m.toUpperCase(java.util.Locale.ROOT))) {
                    warnings.add(item.file + ":" + item.line + ": " + ref + ": " + item.path + " \"" + m
                            + "\" never matches a request in upper case (" + m.toUpperCase(java.util.Locale.ROOT)
                            + "): HTTP methods compare case-sensitively, as Envoy compares them"
                            + (key.equals("notMethods") ? " (so this exclusion excludes nothing)" : ""));
                }
            }
        }
    }

    /** Compiles the inner node of one {@code from} or {@code to} entry. */
    private interface EntryCompiler<T> {
        T compile(YNode inner) throws PolicyLoadException;
    }

    /**
     * A rule's {@code from} (each entry's {@code source}) or {@code to} (each entry's
     * {@code operation}), compiled entry by entry; none when {@code list} is absent. istiod requires
     * the list non-empty and each entry and its inner node non-nil.
     */
    private static <T> T[] entries(YNode list, String field, String inner, int ruleIndex, IntFunction<T[]> array,
                                   EntryCompiler<T> compiler) throws PolicyLoadException {
        if (list == null) {
            return array.apply(0);
        }
        // The CRD bounds `from` to 512 entries (`to` has no bound).
        List<YNode> items = field.equals("from") ? Fields.atMost(list, 512) : list.items();
        if (items.isEmpty()) {
            // istiod's message (validation_test.go "from-empty", "to-empty", built from a Go value). From a file the list
            // never reaches that check: the CRD has no minItems on it and istio/api's jsonpb decoder (golang/protobuf
            // jsonpb/decode.go) sets an empty JSON list as no list, so in a cluster the rule has no `from` (or `to`) and
            // matches every source (operation). Refused here, never read that way; the message says what the cluster does.
            String what = field.equals("from") ? "source" : "operation";
            throw list.error("`" + field + "` must not be empty, found at rule " + ruleIndex + " (in a cluster the API server"
                    + " keeps `" + field + ": []` and istiod decodes an empty list as none, so there this rule matches every "
                    + what + "; write its entries, or delete `" + field + "` to match every " + what + " on purpose)");
        }
        T[] out = array.apply(items.size());
        for (int i = 0; i < out.length; i++) {
            YNode entry = items.get(i);
            if (entry.isNull()) {
                throw entry.error("`" + field + "` must not be nil, found at rule " + ruleIndex);
            }
            YNode n = entry.onlyKeys(Set.of(inner)).get(inner);
            if (n == null) {
                throw entry.error("`" + field + "." + inner + "` must not be nil, found at rule " + ruleIndex);
            }
            out[i] = compiler.compile(n);
        }
        return out;
    }

    /**
     * Adds to {@code out} the description of a list of alternatives ({@code from} or {@code to} entries), each given as
     * its fields' parts: one entry with parts adds them as they are; several add one part, their groups joined by
     * {@code " or "}, a group of several fields in parentheses (e.g. {@code source.principal a or (source.namespace b,
     * source.ip 10.0.0.0/8)}).
     */
    private static void alternatives(List<List<String>> entries, List<String> out) {
        List<String> groups = new ArrayList<>();
        for (List<String> e : entries) {
            if (!e.isEmpty()) {
                groups.add(e.size() == 1 ? e.get(0) : "(" + String.join(", ", e) + ")");
            }
        }
        if (groups.size() == 1) {
            out.addAll(entries.stream().filter(e -> !e.isEmpty()).findFirst().orElseThrow());
        } else if (!groups.isEmpty()) {
            out.add(String.join(" or ", groups));
        }
    }

    private static String describe(List<String> parts, List<String> l7Parts) {
        List<String> all = new ArrayList<>(parts);
        all.addAll(l7Parts);
        return all.isEmpty() ? "empty rule matches everything" : String.join(", ", all) + " matched";
    }


    private static IstioSource source(YNode src, String namespace, int action, int ruleIndex, List<String> parts,
                                              List<String> l7, FoundFields httpFound) throws PolicyLoadException {
        boolean any = false;
        for (String key : SOURCE_KEYS) {
            any |= nonEmpty(src, key);
        }
        if (!any) {
            throw src.error("`from.source` must not be empty, found at rule " + ruleIndex);
        }
        if (action == IstioPolicy.CUSTOM) {
            for (String key : CUSTOM_FORBIDDEN_SOURCE) {
                if (nonEmpty(src, key)) {
                    throw src.get(key).error("From." + capitalize(key) + " is currently not supported with CUSTOM action");
                }
            }
        }
        int pn = values(src, "principals").size() + values(src, "notPrincipals").size()
                + values(src, "namespaces").size() + values(src, "notNamespaces").size();
        int sn = src.get("serviceAccounts") == null ? 0 : src.get("serviceAccounts").items().size();
        sn += src.get("notServiceAccounts") == null ? 0 : src.get("notServiceAccounts").items().size();
        if (pn > 0 && sn > 0) {
            throw src.error("cannot set serviceAccounts with namespaces or principals, found at rule " + ruleIndex
                    + Fields.crdRule(SA_RULE));
        }
        // The CRD's rule on Source (istio/api security/v1beta1/authorization_policy.proto, XValidation with has()) tests
        // presence, not length: a field written as an empty list counts, a null does not (the API server prunes it, and
        // YNode.get skips it). istiod counts values only, so `principals: []` beside serviceAccounts passes istiod but is
        // refused by the API server; refused here too (the empty list matches nothing either way: remove it).
        boolean saPresent = src.get("serviceAccounts") != null || src.get("notServiceAccounts") != null;
        String otherPresent = null;
        for (String k : new String[] {"principals", "notPrincipals", "namespaces", "notNamespaces"}) {
            if (otherPresent == null && src.get(k) != null) {
                otherPresent = k;
            }
        }
        if (saPresent && otherPresent != null) {
            String sa = src.get("serviceAccounts") != null ? "serviceAccounts" : "notServiceAccounts";
            String empty = sn > 0 ? otherPresent : sa; // pn and sn are not both > 0 here: one side is only empty lists
            throw src.error(SA_RULE + " (the CRD's x-kubernetes-validations rule, found at rule " + ruleIndex + ": it counts a"
                    + " field present even as an empty list, here " + empty + ": []; istiod alone would accept it, the API"
                    + " server refuses it; remove the empty " + empty + ")");
        }
        IstioSource s = new IstioSource();
        s.principals = field(src, "principals", "source.principal", false, parts);
        s.notPrincipals = field(src, "notPrincipals", "source.principal", false, parts);
        s.principalsWritten = List.copyOf(values(src, "principals"));
        s.notPrincipalsWritten = List.copyOf(values(src, "notPrincipals"));
        s.namespaces = field(src, "namespaces", "source.namespace", false, parts);
        s.notNamespaces = field(src, "notNamespaces", "source.namespace", false, parts);
        s.serviceAccounts = serviceAccounts(src, "serviceAccounts", namespace, parts);
        s.notServiceAccounts = serviceAccounts(src, "notServiceAccounts", namespace, parts);
        trustDomainValues(src, "trustDomains");
        trustDomainValues(src, "notTrustDomains");
        s.trustDomains = field(src, "trustDomains", "source.trustDomain", false, l7);
        s.notTrustDomains = field(src, "notTrustDomains", "source.trustDomain", false, l7);
        s.trustDomainsWritten = List.copyOf(values(src, "trustDomains"));
        s.notTrustDomainsWritten = List.copyOf(values(src, "notTrustDomains"));
        s.ipBlocks = cidrs(src, "ipBlocks", "source.ip", parts);
        s.notIpBlocks = cidrs(src, "notIpBlocks", "source.ip", parts);
        s.remoteIpBlocks = cidrs(src, "remoteIpBlocks", "remote.ip", l7);
        s.notRemoteIpBlocks = cidrs(src, "notRemoteIpBlocks", "remote.ip", l7);
        s.requestPrincipals = field(src, "requestPrincipals", "request.auth.principal", false, l7);
        s.notRequestPrincipals = field(src, "notRequestPrincipals", "request.auth.principal", false, l7);
        s.requestPrincipalMatch = RequestAuthMatch.principals(values(src, "requestPrincipals"));
        s.notRequestPrincipalMatch = RequestAuthMatch.principals(values(src, "notRequestPrincipals"));
        s.finish();
        for (String key : new String[] {"remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals"}) {
            if (nonEmpty(src, key)) {
                httpFound.add(key, src.get(key));
            }
        }
        return s;
    }


    private static IstioOperation operation(YNode op, int ruleIndex, List<String> parts, List<String> l7,
                                                   FoundFields httpFound) throws PolicyLoadException {
        boolean any = false;
        for (String key : OPERATION_KEYS) {
            any |= nonEmpty(op, key);
        }
        if (!any) {
            throw op.error("`to.operation` must not be empty, found at rule " + ruleIndex);
        }
        IstioOperation o = new IstioOperation();
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
            if (nonEmpty(op, key)) {
                httpFound.add(key, op.get(key));
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
        if (template) {
            envoyParsesTemplate(item, path);
        }
    }

    /** UriTemplateMatchConfig.path_template's {@code max_len} (envoyproxy/envoy uri_template_match.proto). */
    static final int MAX_ENVOY_TEMPLATE = 256;

    /**
     * A template istiod accepts but Envoy cannot parse. istiod checks the path with its slashes trimmed
     * ({@code CheckValidPathTemplate}), then hands it to Envoy as written, {@code {*}} and {@code {**}} replaced by
     * {@code *} and {@code **} (pilot/pkg/security/authz/matcher/template.go {@code sanitizePathTemplate}). Envoy's
     * parser (envoyproxy/envoy source/extensions/path/uri_template_lib/uri_template_internal.cc
     * {@code parseURLPatternSyntax}) wants a leading {@code /} ("Invalid pattern"; {@code "media"} is one of
     * uri_template_internal_test.cc's failure cases) and no empty segment but a single trailing {@code /}
     * ({@code consumeLiteral}: "Invalid literal"), so {@code //{*}}, {@code /{*}//} and {@code {*}/x} are refused:
     * the RBAC filter's {@code UriTemplateMatcher} takes the parser's status with {@code value()}
     * (source/extensions/filters/common/rbac/matchers.h), which throws, and the proxy rejects the whole listener update
     * carrying the policy, keeping its previous configuration. So does a template longer than 256 characters once
     * sanitized: the proto's {@code max_len}, which {@code UriTemplateMatcherFactory.createPathMatcher}
     * (source/extensions/path/match/uri_template/config.h) validates with {@code MessageUtil::downcastAndValidate}.
     * zerohop refuses the load the same way (the set in force stays); until 6 December it matched {@code //{*}}
     * against {@code //x} as a regex, enforcing a rule no proxy enforces, and loaded templates of any length.
     */
    private static void envoyParsesTemplate(YNode item, String path) throws PolicyLoadException {
        String envoy = path.replace("{**}", "**").replace("{*}", "*");
        String why;
        if (!path.startsWith("/")) {
            why = "it does not start with '/' (\"Invalid pattern\")";
        } else if (path.startsWith("//") || path.endsWith("//")) {
            why = "it has an empty segment (\"Invalid literal\"; one trailing '/' is allowed)";
        } else if (envoy.length() > MAX_ENVOY_TEMPLATE) {
            // api/envoy/extensions/path/match/uri_template/v3/uri_template_match.proto: path_template has
            // (validate.rules).string max_len 256, which UriTemplateMatcherFactory.createPathMatcher checks
            // (MessageUtil::downcastAndValidate) before it parses; istiod and the CRD set no length.
            throw item.error("path template \"" + path.substring(0, 32) + "...\" passes istiod's validation, but Envoy"
                    + " refuses the " + envoy.length() + "-character template it becomes: UriTemplateMatchConfig."
                    + "path_template is at most " + MAX_ENVOY_TEMPLATE + " characters (its proto validation), so a waypoint or"
                    + " sidecar rejects the configuration carrying this policy and never enforces it (zerohop refuses it"
                    + " too; shorten it, e.g. end it at an earlier {**})");
        } else {
            return;
        }
        String fixed = "/" + path.replaceAll("^/+", "").replaceAll("/+$", "") + (path.endsWith("/") && path.length() > 1 ? "/" : "");
        throw item.error("path template \"" + path + "\" passes istiod's validation, but Envoy's uri_template parser refuses"
                + " \"" + envoy + "\": " + why + ", so a waypoint or sidecar rejects the configuration carrying this policy"
                + " and never enforces it (zerohop refuses it too; write \"" + fixed + "\")");
    }

}
