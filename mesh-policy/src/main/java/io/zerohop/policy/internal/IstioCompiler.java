package io.zerohop.policy.internal;

import io.zerohop.policy.Decision;
import io.zerohop.policy.Decision.Outcome;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Compiles {@code security.istio.io} AuthorizationPolicy specs, validating as istiod does
 * ({@code pkg/config/validation/validation.go} ValidateAuthorizationPolicy and
 * {@code pkg/config/security/security.go}), and reporting the warnings istiod's ambient conversion
 * ({@code pilot/pkg/serviceregistry/ambient/authorization.go}) sets as policy status.
 *
 * <p>Its job is the policy as a whole: action, provider, dry-run, selector or targetRefs, and
 * the ambient warnings. Each rule is compiled by {@link IstioRules}, each {@code when} by
 * {@link IstioConditions}, each value list by {@link IstioValues}.
 */
final class IstioCompiler {

    private static final Set<String> SPEC_KEYS = Set.of("selector", "targetRef", "targetRefs", "action", "provider", "rules");

    /**
     * zerohop's behaviour first, then istiod's status text verbatim and quoted: new users read istiod's "you must use
     * a waypoint" as zerohop refusing the policy when it came first (new-user pass). Arguments: the HTTP attributes
     * found (twice), then istiod's action-specific sentence.
     */
    static final String HTTP_RULE_FMT = "HTTP attributes (%s): zerohop enforces them itself, per request, on ports it"
            + " parses as HTTP (no waypoint needed); on ports it does not parse (opaque TCP) it applies this policy at L4"
            + " as ztunnel does, where istiod's ambient status for it holds: \"ztunnel does not support HTTP attributes"
            + " (found: %s). In ambient mode you must use a waypoint proxy to enforce HTTP rules. %s\"";
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
            default -> throw actionNode.error("unknown action \"" + actionText + "\" (the CRD's enum: Unsupported value: \""
                    + actionText + "\": supported values: \"ALLOW\", \"DENY\", \"AUDIT\", \"CUSTOM\")");
        };
        boolean dryRun = dryRun(dryRunNode, actionText);
        YNode rulesNode = spec.get("rules");
        List<YNode> ruleItems = rulesNode == null ? List.of() : Fields.atMost(rulesNode, 512);
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
        if (dryRun) {
            warnings.add(dryRunNode.file + ":" + dryRunNode.line + ": " + ref + ": " + dryRunNode.path + ": "
                    + String.format(DRY_RUN_NOTE, base.namespace() + "/" + base.name()));
        }

        String[] selKeys = null;
        String[] selValues = null;
        YNode selector = spec.get("selector");
        if (selector != null) {
            Map<String, String> labels = workloadSelector(selector, ref, warnings,
                    selector.get("matchLabels") == null ? bareSelectorEffect(action) : "");
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
            for (YNode t : Fields.atMost(many, 16)) {
                targetRefs.add(targetRef(t));
            }
        }
        // The CRD's rule (istio/api security/v1beta1/authorization_policy.proto, XValidation "oneof(self.selector,
        // self.targetRef, self.targetRefs)") counts a field that is present, as CEL's has() does on the object the API
        // server holds: an empty `targetRefs: []` counts, a null does not (the API server prunes it; YNode.get skips it).
        // istiod's validateOneOfSelectorType, which sees the decoded proto, counts only a non-empty targetRefs, so a
        // `selector` beside `targetRefs: []` passes istiod but is refused by the API server; it is refused here too.
        int kinds = (selector != null ? 1 : 0) + (single != null ? 1 : 0) + (many != null ? 1 : 0);
        if (kinds > 1) {
            boolean istiod = (selector != null ? 1 : 0) + (single != null ? 1 : 0) + (many != null && !many.items().isEmpty() ? 1 : 0) > 1;
            throw spec.error(istiod
                    ? "only one of targetRefs or workloadSelector can be set" + Fields.crdRule("only one of targetRefs or selector can be set")
                    : "only one of targetRefs or selector can be set (the CRD's x-kubernetes-validations rule, which counts"
                    + " a field present even as an empty list: " + (selector != null ? "selector" : "targetRef") + " beside"
                    + " targetRefs: []; istiod alone would accept it, the API server refuses it; remove the empty targetRefs)");
        }

        if (!targetRefs.isEmpty()) {
            YNode at = single != null ? single : many;
            warnings.add(at.file + ":" + at.line + ": " + ref + ": " + targetRefWarning(targetRefs, action));
        }
        List<IstioPolicy.Rule> rules = new ArrayList<>();
        FoundFields httpFound = new FoundFields();
        for (int i = 0; i < ruleItems.size(); i++) {
            rules.add(IstioRules.rule(i, ruleItems.get(i), namespace, ref, action, provider, httpFound, warnings));
        }
        if (targetRefs.isEmpty()) {
            ambientWarnings(spec.file + ":" + spec.line + ": " + ref, ref, action, rules, httpFound, warnings);
            if (action == IstioPolicy.DENY) {
                for (IstioPolicy.Rule r : rules) {
                    // istiod says nothing here (trust domains are not among the HTTP fields it reports), yet a
                    // from entry with only trust domains becomes an empty match that ztunnel skips.
                    if (r.trustDomains && !r.http && !r.effectiveAtL4(action)) {
                        warnings.add(trustDomainsAt(ruleItems.get(r.index), ref) + ": rule " + r.index + ": trustDomains are not sent to ztunnel by istiod, which "
                                + "leaves this DENY rule nothing to match on L4 connections: it has no effect there, as at "
                                + "ztunnel (enforced per HTTP request)");
                    }
                }
            }
            if (action == IstioPolicy.ALLOW) {
                for (IstioPolicy.Rule r : rules) {
                    if (r.trustDomains && !r.http) {
                        warnings.add(trustDomainsAt(ruleItems.get(r.index), ref) + ": rule " + r.index + ": trustDomains are not sent to ztunnel by istiod; zerohop "
                                + "omits this ALLOW rule on L4 connections rather than admit other trust domains "
                                + "(enforced per HTTP request)");
                    }
                }
            }
        }
        Decision noMatch = new Decision(false, Outcome.DENIED_DEFAULT, ref, -1,
                rules.isEmpty() ? "ALLOW policy without rules allows nothing"
                        : "ALLOW policies apply and none matched");
        return new IstioPolicy(ref, namespace, action, provider, dryRun, selKeys, selValues,
                selector != null && selector.get("matchLabels") == null, List.copyOf(targetRefs),
                rules.toArray(new IstioPolicy.Rule[0]), noMatch);
    }

    /**
     * {@code file:line: ref: path} of the first {@code from[].source.trustDomains} (or {@code notTrustDomains}) of {@code rule} (the field a trust-domain
     * warning is about), or {@code ref} alone when there is none.
     */
    private static String trustDomainsAt(YNode rule, PolicyRef ref) throws PolicyLoadException {
        YNode from = rule.get("from");
        if (from != null) {
            for (YNode f : from.items()) {
                YNode src = f.get("source");
                YNode td = src == null ? null : src.get("trustDomains") != null ? src.get("trustDomains") : src.get("notTrustDomains");
                if (td != null) {
                    return td.file + ":" + (td.keyLine > 0 ? td.keyLine : td.line) + ": " + ref + ": " + td.path;
                }
            }
        }
        return ref.toString();
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

    /**
     * The status messages istiod's ambient conversion gives this policy, as load warnings; {@code where} is
     * {@code file:line: ref}. The HTTP-attribute ones are notes ({@link #isNote}): zerohop enforces them.
     */
    private static void ambientWarnings(String where, PolicyRef ref, int action, List<IstioPolicy.Rule> rules, FoundFields httpFound,
                                        List<String> warnings) {
        if (action == IstioPolicy.CUSTOM || action == IstioPolicy.AUDIT) {
            warnings.add(where + ": ztunnel does not support the " + (action == IstioPolicy.CUSTOM ? "CUSTOM" : "AUDIT") + " action"
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
        String found = String.join(", ", httpFound);
        TreeSet<String> enforced = new TreeSet<>();
        TreeSet<String> jwt = new TreeSet<>();
        for (String k : httpFound) {
            if (IstioConditions.unbuildable(k)) {
                continue; // zerohop enforces nothing of it either: IstioRules' own warning says what is dropped
            }
            (isRequestAuth(k) ? jwt : enforced).add(k);
        }
        if (!enforced.isEmpty()) {
            warnings.add(httpFound.where(enforced, ref.toString(), where) + ": "
                    + String.format(HTTP_RULE_FMT, String.join(", ", enforced), found, boilerplate));
        }
        if (!jwt.isEmpty()) {
            // Worded once the whole set is loaded (requestAuthWarning): a RequestAuthentication of the namespace may come
            // in a later file.
            warnings.add(JWT_PENDING + ref.namespace() + '\u0000' + httpFound.where(jwt, ref.toString(), where) + '\u0000'
                    + String.join(", ", jwt) + '\u0000' + (enforced.isEmpty() ? "; istiod's ambient status for ztunnel:"
                    + " \"ztunnel does not support HTTP attributes (found: " + found + "). In ambient mode you must use a"
                    + " waypoint proxy to enforce HTTP rules. " + boilerplate + "\"" : ""));
        }
    }

    /** Marks a request-authentication warning {@link #requestAuthWarning} words at the end of the load. */
    static final String JWT_PENDING = "\u0000jwt\u0000";

    /**
     * The final text of a {@link #JWT_PENDING} warning: a note ({@link #isNote}) when the set holds a RequestAuthentication
     * in the policy's namespace ({@code loaded}), whose JWTs zerohop verifies per request so that the attributes are
     * matched as a sidecar's Envoy matches them; else a warning that none is loaded beside it, with what the attributes
     * do for a request without a verified JWT. Until 6 December zerohop loaded no RequestAuthentication and every such
     * policy was told the attributes were always absent.
     */
    static String requestAuthWarning(String pending, java.util.function.Predicate<String> loaded) {
        String[] p = pending.substring(JWT_PENDING.length()).split("\u0000", -1);
        String namespace = p[0];
        if (loaded.test(namespace)) {
            return p[1] + ": " + String.format(REQUEST_AUTH_NOTE, p[2], namespace);
        }
        return p[1] + ": " + String.format(REQUEST_AUTH_FMT, p[2], namespace) + p[3];
    }

    /** Whether {@code w} is the {@link #REQUEST_AUTH_FMT} warning (no RequestAuthentication in the namespace). */
    static boolean isNoRequestAuthentication(String w) {
        return w.contains(REQUEST_AUTH_FMT.substring(REQUEST_AUTH_FMT.indexOf(')'), REQUEST_AUTH_FMT.indexOf("%s", 50)));
    }

    /**
     * A note: the attributes are matched on the JWT zerohop verified under the RequestAuthentications selecting the
     * workload (mesh-core, against {@code PolicyEngine.jwtRules}), as the RBAC matchers istiod generates on Envoy's
     * jwt_authn metadata (pilot/pkg/security/authz/model/generator.go). Arguments: the attributes, the namespace.
     */
    static final String REQUEST_AUTH_NOTE = "request authentication attributes (%s): zerohop matches them on the JWT it"
            + " verifies per request under the RequestAuthentications that select the workload (namespace %s holds some), as a"
            + " sidecar does; a request without a verified JWT matches no requestPrincipals or request.auth.* values and every"
            + " notRequestPrincipals and notValues";

    /**
     * The request-authentication attributes: requestPrincipals, notRequestPrincipals and the {@code when} keys
     * {@code request.auth.*}, which come from a validated JWT (Envoy's jwt_authn filter metadata).
     */
    private static boolean isRequestAuth(String key) {
        // A claims key istiod cannot build is dropped (IstioConditions.unbuildable), not read as an absent claim.
        return key.equals("requestPrincipals") || key.equals("notRequestPrincipals")
                || (key.startsWith("request.auth.") && !IstioConditions.unbuildable(key));
    }

    /**
     * No RequestAuthentication is loaded in the policy's namespace: a request to a workload that none selects (of its
     * namespace, or of the root namespace) carries no verified JWT, and Envoy's RBAC matchers on jwt_authn metadata then
     * find no payload (istio/istio pilot/pkg/security/authz/model/generator.go requestPrincipalGenerator and the
     * request.auth.claims generator): a positive match fails and a negative one holds. Arguments: the attributes found,
     * the namespace.
     */
    static final String REQUEST_AUTH_FMT = "request authentication attributes (%s): no RequestAuthentication in namespace %s"
            + " is loaded with this policy; a request to a workload that no RequestAuthentication selects (of its namespace,"
            + " or of the root namespace) carries no verified JWT, as for a sidecar that none selects: a rule needing"
            + " requestPrincipals or values of request.auth.* never matches it (an ALLOW rule allows nothing through it, a"
            + " DENY rule denies nothing through it); notRequestPrincipals and notValues on request.auth.* always match it"
            + " (a DENY with notRequestPrincipals: [\"*\"] denies every such request)";

    /**
     * What a dry-run policy does here, then istiod's ambient status for it, verbatim and quoted: istiod sends ztunnel no
     * dry-run policy unless {@code AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY} is set (pilot/pkg/features/ambient.go,
     * default false; pilot/pkg/serviceregistry/ambient/authorization.go {@code convertAuthorizationPolicy} returns this
     * message instead), and with it ztunnel 1.29+ evaluates the policy and only logs it (src/state.rs, the
     * {@code dry_run} partition). Decisions are the same either way (the policy is never enforced); from a file zerohop
     * logs as the enabled ztunnel does, while mesh-kubernetes drops such an object as istiod does by default
     * (PolicyState.validate), so the note says both: until 6 December (helper 327) it said zerohop logs per decision
     * in Kubernetes mode too, where nothing is logged. Until 6 December zerohop said nothing at load. A note
     * ({@link #isNote}). Argument: ns/name.
     */
    static final String DRY_RUN_NOTE = "dry-run: zerohop never enforces this policy (loaded from files, it logs, per decision,"
            + " what it would have decided, as ztunnel 1.29+ does when istiod sends it dry-run policies, with"
            + " AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY; read from Kubernetes, it is dropped, as istiod does by default)"
            + "; istiod's ambient status for it by default holds: \"found policy"
            + " \"%s\" using dry-run annotation, but support for ambient dry-run authorizationPolicies isn't enabled\" (ztunnel"
            + " then neither enforces nor logs it)";

    /**
     * Whether load warning {@code w} is the note that zerohop enforces a policy's HTTP attributes itself (istiod's
     * ambient status for ztunnel, with what zerohop does instead): logged at INFO, not WARN, since on every port
     * zerohop parses it is no problem (a new-user pass: every valid L7 policy logged a long WARN).
     */
    static boolean isNote(String w) {
        return w.contains(": " + HTTP_RULE_FMT.substring(0, HTTP_RULE_FMT.indexOf('%')))
                || w.contains(REQUEST_AUTH_NOTE.substring(REQUEST_AUTH_NOTE.indexOf(')'), REQUEST_AUTH_NOTE.indexOf("%s", 50)))
                || w.contains(": " + DRY_RUN_NOTE.substring(0, DRY_RUN_NOTE.indexOf(';')));
    }

    /** Why a selector on a label no pod can carry selects nothing, after apimachinery's words. */
    static final String NO_POD_LABEL = " (Kubernetes' label rules, k8s.io/apimachinery pkg/util/validation: no pod can carry"
            + " such a label, so this policy applies to no workload, as istiod, which accepts it, applies it to none)";

    /** istiod's validateWorkloadSelector, and Kubernetes' label syntax (beyond istiod: see {@link #NO_POD_LABEL}). */
    static Map<String, String> workloadSelector(YNode selector, PolicyRef ref, List<String> warnings)
            throws PolicyLoadException {
        return workloadSelector(selector, ref, warnings, "");
    }

    /**
     * What an AuthorizationPolicy written {@code selector: {}} (no {@code matchLabels}) does in ambient, appended to
     * istiod's "workload selector specified without labels": istiod's ambient index builds its label selector from
     * {@code spec.selector.matchLabels} (pilot/pkg/serviceregistry/ambient/policies.go {@code NewSelector}) and attaches a
     * selector policy only when that map is non-nil (workloads.go {@code buildWorkloadPolicies},
     * {@code GetLabelSelector() != nil}), so ztunnel never applies it; what zerohop does instead
     * ({@link CompiledPolicies}, {@code withoutBareSelectors}). {@code matchLabels: {}} is attached upstream and gets
     * istiod's warning alone, as does a PeerAuthentication's {@code selector: {}}, which selects every workload of its
     * namespace upstream (workloads.go {@code fetchPeerAuthentications}). An AUDIT policy decides nothing, so it is not
     * called stricter (until 6 December it was).
     */
    static String bareSelectorEffect(int action) {
        String head = "; istiod's ambient index attaches an AuthorizationPolicy written selector: {} (no matchLabels) to no"
                + " workload, so ztunnel never applies it";
        String fix = "; to cover the whole namespace delete the selector, to pick workloads give matchLabels";
        return action == IstioPolicy.ALLOW
                ? head + ": zerohop leaves it out on a workload another ALLOW policy applies to (one with matchLabels or without a"
                        + " selector: only that policy's callers are admitted there, as at ztunnel) and elsewhere applies it to"
                        + " every workload it covers, with any other selector: {} ALLOW there (stricter than ztunnel, which leaves"
                        + " them open)" + fix
                : action == IstioPolicy.AUDIT
                ? head + ": zerohop applies it to every workload it covers, where an AUDIT policy decides nothing" + fix
                : head + ": zerohop applies it to every workload it covers (stricter than ztunnel)" + fix;
    }

    /** {@link #workloadSelector(YNode, PolicyRef, List)}, {@code withoutLabels} appended to the no-labels warning. */
    static Map<String, String> workloadSelector(YNode selector, PolicyRef ref, List<String> warnings, String withoutLabels)
            throws PolicyLoadException {
        selector.onlyKeys(Set.of("matchLabels"));
        YNode ml = selector.get("matchLabels");
        Map<String, String> labels = Fields.stringMap(ml);
        // The CRD's maxProperties on matchLabels (istio/api type/v1beta1/selector.proto, MaxProperties=4096).
        Fields.atMostEntries(ml, 4096);
        for (Map.Entry<String, String> e : labels.entrySet()) {
            YNode at = ml.map.get(e.getKey());
            // istiod's messages (validateWorkloadSelector), then the CRD's x-kubernetes-validations rule that refuses the
            // same first at the API server (selector.proto: one rule each for an empty key, a '*' in a key, in a value).
            if (e.getKey().isEmpty()) {
                throw at.error("empty key is not supported in selector: \"" + e.getKey() + "=" + e.getValue() + "\""
                        + Fields.crdRule("key must not be empty"));
            }
            if (e.getKey().contains("*") || e.getValue().contains("*")) {
                throw at.error("wildcard is not supported in selector: \"" + e.getKey() + "=" + e.getValue() + "\""
                        + Fields.crdRule(e.getKey().contains("*") ? "wildcard not allowed in label key match"
                        : "wildcard not allowed in label value match"));
            }
        }
        // The CRD (istio/api) also bounds each value to 63 characters; no pod label is longer.
        Fields.labelValues(ml, labels, false);
        for (Map.Entry<String, String> e : labels.entrySet()) {
            // Beyond istiod, whose validateWorkloadSelector (pkg/config/validation/validation.go) checks only empty keys
            // and '*', and whose CRD only those and the values' length: a key or value no Kubernetes label can have
            // (the API server refuses such a pod, istiod such a WorkloadEntry: pkg/config/labels Instance.Validate)
            // selects no workload, so a DENY on "app name" denied nobody without a word (a new-user pass). A warning, not
            // an error: istiod accepts the policy, and in Kubernetes mode a refused object is replaced by a fail-closed
            // stand-in, which would deny a whole namespace where upstream the policy does nothing.
            String key = Fields.labelKeyProblem(e.getKey());
            String value = key == null ? Fields.labelValueProblem(e.getValue()) : null;
            if (key != null || value != null) {
                YNode v = ml.map.get(e.getKey());
                warnings.add(v.file + ":" + (v.keyLine > 0 ? v.keyLine : v.line) + ": " + ref + ": " + Fields.keyPath(ml, e.getKey()) + ": "
                        + (key != null ? "invalid label key \"" + e.getKey() + "\": " + key
                                : "invalid label value \"" + e.getValue() + "\": " + value) + NO_POD_LABEL);
            }
        }
        for (Map.Entry<String, String> e : labels.entrySet()) {
            if (ciliumOwned(e.getKey())) {
                YNode v = ml.map.get(e.getKey());
                warnings.add(v.file + ":" + (v.keyLine > 0 ? v.keyLine : v.line) + ": " + ref + ": " + Fields.keyPath(ml, e.getKey())
                        + ": " + CILIUM_OWNED_KEY.formatted(e.getKey()));
            }
        }
        if (labels.isEmpty()) {
            warnings.add(selector.file + ":" + (selector.keyLine > 0 ? selector.keyLine : selector.line) + ": " + ref + ": "
                    + selector.path + ": workload selector specified without labels" + withoutLabels);
        }
        return labels;
    }

    /** Cilium's label prefix (cilium/cilium pkg/k8s/apis/cilium.io/const.go {@code LabelPrefix}). */
    static final String CILIUM_LABEL_PREFIX = "io.cilium.k8s";

    /** Why an Istio selector on a key under Cilium's prefix selects nothing ({@link #ciliumOwned}). */
    static final String CILIUM_OWNED_KEY = "label key \"%s\" is under Cilium's prefix io.cilium.k8s: a workload's labels there"
            + " are Cilium's endpoint labels (its namespace's labels, its cluster), never the pod's own (mesh-kubernetes drops"
            + " those, as Cilium's SanitizePodLabels does), and istiod selects by the pod's own labels only, so this selector"
            + " selects no workload";

    /**
     * Whether {@code key} is under Cilium's prefix {@code io.cilium.k8s}. An Istio selector (AuthorizationPolicy,
     * PeerAuthentication) with such a key selects no workload: istiod matches a selector against the pod's own labels
     * (istio/istio pilot/pkg/serviceregistry/ambient/workloads.go {@code buildWorkloadPolicies} and
     * {@code fetchPeerAuthentications}, both given {@code p.Labels}), while zerohop's workload labels under that prefix are
     * the ones Cilium gives an endpoint ({@code io.cilium.k8s.namespace.labels.<key>} from the namespace,
     * {@code io.cilium.k8s.policy.cluster}) and a pod's own are dropped (mesh-kubernetes {@code withNamespaceLabels}).
     * Until 6 December such a selector matched those Cilium labels: a workload PERMISSIVE PeerAuthentication on
     * {@code io.cilium.k8s.namespace.labels.team: pay} admitted plaintext under its namespace's STRICT, and an ALLOW on it
     * widened the other ALLOW policies of the namespace's pods, where istiod selects no pod (helper 293).
     */
    static boolean ciliumOwned(String key) {
        return key.startsWith(CILIUM_LABEL_PREFIX);
    }

    /** {@link #ciliumOwned} for any of {@code keys} (null: none). */
    static boolean ciliumOwned(String[] keys) {
        if (keys != null) {
            for (String k : keys) {
                if (ciliumOwned(k)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Why a policy with targetRefs does nothing here, per kind as istiod attaches it ({@code pilot/pkg/model/
     * policyattachment.go} ShouldAttachPolicy: Service and ServiceEntry to the waypoint serving them, Gateway to that
     * gateway's proxy, GatewayClass istio-waypoint from the root namespace to every waypoint, any other GatewayClass to
     * nothing), never to ztunnel ({@code pilot/pkg/serviceregistry/ambient/authorization.go}: "TargetRef is not intended
     * for ztunnel"). A DENY or CUSTOM policy is worded as what it is: traffic it would deny is not denied here.
     */
    private static String targetRefWarning(List<String> targetRefs, int action) {
        List<String> where = new ArrayList<>();
        for (String t : targetRefs) {
            String kind = t.substring(0, t.indexOf('/'));
            String name = t.substring(t.indexOf('/') + 1);
            where.add(t + switch (kind) {
                case "Service" -> " (the waypoint that Service uses, istio.io/use-waypoint)";
                case "ServiceEntry" -> " (the waypoint that ServiceEntry uses, istio.io/use-waypoint)";
                case "Gateway" -> " (that Gateway's proxy: a waypoint or an ingress/egress gateway)";
                default -> name.equals("istio-waypoint") ? " (every waypoint, when the policy is in the root namespace;"
                        + " nothing otherwise)" : " (nothing: istiod attaches a GatewayClass only for istio-waypoint)";
            });
        }
        String head = "targetRefs " + String.join(", ", where) + ": enforced by that waypoint or gateway, not by zerohop"
                + " (istiod never sends a targetRefs policy to ztunnel: pilot/pkg/serviceregistry/ambient/authorization.go)";
        if (action == IstioPolicy.DENY || action == IstioPolicy.CUSTOM) {
            return head + "; traffic this " + (action == IstioPolicy.DENY ? "DENY" : "CUSTOM") + " policy would deny is NOT"
                    + " denied by zerohop, only where that waypoint or gateway handles it (add a selector-based policy to"
                    + " enforce it at the workload)";
        }
        return head;
    }

    /** The CRD's pattern for {@code targetRef.kind} (istio/api type/v1beta1/selector.proto PolicyTargetReference). */
    private static final String TARGET_KIND_PATTERN = "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$";
    /** The CRD's pattern for {@code targetRef.group}: empty, or a DNS-1123 subdomain (same source). */
    private static final String TARGET_GROUP_PATTERN = "^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    private static final java.util.regex.Pattern TARGET_KIND = java.util.regex.Pattern.compile(TARGET_KIND_PATTERN);
    private static final java.util.regex.Pattern TARGET_GROUP = java.util.regex.Pattern.compile(TARGET_GROUP_PATTERN);

    /**
     * One {@code targetRef} or {@code targetRefs} entry: first the CRD's schema for PolicyTargetReference (istio/api
     * type/v1beta1/selector.proto: kind and name required, name 1..253 characters, kind 1..63 matching
     * {@link #TARGET_KIND_PATTERN}, group at most 253 matching {@link #TARGET_GROUP_PATTERN}, namespace empty), which the
     * API server checks before istiod sees the object, then istiod's validatePolicyTargetReference (the kinds it
     * attaches). A name over 253 characters passed both checks here until 4 December; the others were refused by
     * istiod's allow-list, now with the CRD's words first.
     */
    static String targetRef(YNode t) throws PolicyLoadException {
        t.onlyKeys(Set.of("group", "kind", "name", "namespace"));
        String kind = t.string("kind", "");
        String name = t.string("name", "");
        YNode nameNode = t.get("name");
        YNode kindNode = t.get("kind");
        if (name.isEmpty()) {
            throw (nameNode == null ? t : nameNode).error("targetRef name must be set" + (nameNode == null
                    ? " (the CRD: " + t.path + ".name: Required value)" : " (the CRD's minLength: should be at least 1 chars long)"));
        }
        if (kind.isEmpty()) {
            throw (kindNode == null ? t : kindNode).error("targetRef kind must be set" + (kindNode == null
                    ? " (the CRD: " + t.path + ".kind: Required value)" : " (the CRD's minLength: should be at least 1 chars long)"));
        }
        Fields.atMostChars(nameNode, name, 253);
        Fields.atMostChars(kindNode, kind, 63);
        if (!TARGET_KIND.matcher(kind).matches()) {
            throw kindNode.error("should match '" + TARGET_KIND_PATTERN + "' (the CRD's pattern; found \"" + kind + "\")");
        }
        YNode groupNode = t.get("group");
        if (groupNode != null) {
            String g = groupNode.string();
            Fields.atMostChars(groupNode, g, 253);
            if (!TARGET_GROUP.matcher(g).matches()) {
                throw groupNode.error("should match '" + TARGET_GROUP_PATTERN + "' (the CRD's pattern: empty or a DNS-1123"
                        + " subdomain; found \"" + g + "\")");
            }
        }
        if (!t.string("namespace", "").isEmpty()) {
            throw t.get("namespace").error("targetRef namespace must not be set; cross namespace referencing is not supported"
                    + Fields.crdRule("cross namespace referencing is not currently supported"));
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
}
