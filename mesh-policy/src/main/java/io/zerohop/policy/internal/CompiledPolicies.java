package io.zerohop.policy.internal;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.CustomAuthorizer;
import io.zerohop.policy.Decision;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.WorkloadRef;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An immutable, indexed policy snapshot and the evaluation over it. Not API: use
 * {@code io.zerohop.policy.PolicyEngine}. Evaluation allocates nothing: every Decision it can
 * return was built at compile time.
 */
public final class CompiledPolicies {

    static final Decision ISTIO_OPEN = Decision.allowNoPolicy(
            "no ALLOW AuthorizationPolicy applies and no DENY policy matched");
    static final Decision NO_POLICY = Decision.allowNoPolicy("no policy selects the destination");

    public static final CompiledPolicies EMPTY = new CompiledPoliciesBuilder().build();

    private final Map<String, LabelIndex> istio;
    private final Map<String, LabelIndex> cilium;
    /** Namespace → {Istio index, Cilium index} (either may be null): one lookup per decision for both steps. */
    private final Map<String, LabelIndex[]> byNamespace;
    private final LabelIndex ciliumClusterwide;
    private final Map<String, PeerAuthn> namespacePeerAuthn;
    private final Map<String, PeerAuthn[]> workloadPeerAuthn;
    private final List<PolicyRef> refs;
    private final List<String> warnings;
    /** Namespaces holding an istio.io/dry-run AuthorizationPolicy. */
    private final java.util.Set<String> dryRunNamespaces;
    /** The istio.io/dry-run AuthorizationPolicies: loaded, never enforced. */
    private final java.util.Set<PolicyRef> dryRunRefs;
    private final List<io.zerohop.policy.PolicySelector> selectors;
    private final List<io.zerohop.policy.SourceNamespace> sourceNamespaces;
    /** Kind/namespace/name to the {@code file:line} of its metadata.name; empty for an assembled text (Kubernetes mode). */
    private final Map<String, String> origins;
    /** Namespace → its RequestAuthentications in load order; shared by the {@link #withTrustDomains} copies. */
    private Map<String, RequestAuthn[]> requestAuthn = Map.of();
    /** {@link #jwtRules} per workload, for this snapshot: a reload makes a new snapshot and so a new cache. */
    private final java.util.concurrent.ConcurrentHashMap<JwtKey, List<io.zerohop.policy.JwtRule>> jwtCache =
            new java.util.concurrent.ConcurrentHashMap<>();

    CompiledPolicies(Map<String, LabelIndex> istio, Map<String, LabelIndex> cilium, LabelIndex ciliumClusterwide,
                             Map<String, PeerAuthn> namespacePeerAuthn, Map<String, PeerAuthn[]> workloadPeerAuthn,
                             List<PolicyRef> refs, List<String> warnings, java.util.Set<String> dryRunNamespaces,
                             java.util.Set<PolicyRef> dryRunRefs, List<io.zerohop.policy.PolicySelector> selectors,
                             List<io.zerohop.policy.SourceNamespace> sourceNamespaces, Map<String, String> origins) {
        this.selectors = selectors;
        this.sourceNamespaces = sourceNamespaces;
        this.origins = origins;
        this.dryRunNamespaces = dryRunNamespaces;
        this.dryRunRefs = dryRunRefs;
        this.istio = istio;
        this.cilium = cilium;
        Map<String, LabelIndex[]> both = new HashMap<>();
        istio.forEach((ns, idx) -> both.computeIfAbsent(ns, k -> new LabelIndex[2])[0] = idx);
        cilium.forEach((ns, idx) -> both.computeIfAbsent(ns, k -> new LabelIndex[2])[1] = idx);
        this.byNamespace = both;
        this.ciliumClusterwide = ciliumClusterwide;
        this.namespacePeerAuthn = namespacePeerAuthn;
        this.workloadPeerAuthn = workloadPeerAuthn;
        this.refs = refs;
        this.warnings = warnings;
    }

    /**
     * These policies as the sidecars and waypoints of a mesh with trust domain bundle {@code bundle} (its trust domain,
     * then its aliases: {@link TrustDomains#bundle}) match them at L7: every AuthorizationPolicy principal and trust
     * domain value rewritten as istiod's {@code MigrateTrustDomain} rewrites it ({@link TrustDomains}), and Cilium allow
     * rules' {@code cluster} entity taking a SPIFFE-only peer of the bundle to be of the cluster. The L4 view (ztunnel's:
     * values as written), other Cilium rules and PeerAuthentications are shared with this snapshot. Itself for
     * {@link TrustDomains#DEFAULT}, which compilation applies already. Done once per snapshot, never per decision.
     *
     * @param bundle a list {@link TrustDomains#bundle} made, not null
     */
    public CompiledPolicies withTrustDomains(List<String> bundle) {
        if (bundle.equals(TrustDomains.DEFAULT)) {
            return this;
        }
        Map<String, LabelIndex> i = new HashMap<>();
        boolean[] changed = {false};
        istio.forEach((ns, idx) -> {
            LabelIndex m = idx.map(p -> ((IstioPolicy) p).withTrustDomains(bundle));
            changed[0] |= m != idx;
            i.put(ns, m);
        });
        // The cluster entity of Cilium's allow rules: a SPIFFE-only peer of the bundle is of the destination's cluster.
        java.util.function.UnaryOperator<Object> ciliumFor = p -> ((CiliumPolicy) p).withTrustDomains(bundle);
        Map<String, LabelIndex> c = new HashMap<>();
        cilium.forEach((ns, idx) -> {
            LabelIndex m = idx.map(ciliumFor);
            changed[0] |= m != idx;
            c.put(ns, m);
        });
        LabelIndex cw = ciliumClusterwide.map(ciliumFor);
        changed[0] |= cw != ciliumClusterwide;
        if (!changed[0]) {
            return this;
        }
        return new CompiledPolicies(i, c, cw, namespacePeerAuthn, workloadPeerAuthn, refs, warnings,
                dryRunNamespaces, dryRunRefs, selectors, sourceNamespaces, origins).withRequestAuthn(requestAuthn);
    }

    /** Sets the RequestAuthentications (at build, before the snapshot is shared); returns this. */
    CompiledPolicies withRequestAuthn(Map<String, RequestAuthn[]> byNamespace) {
        this.requestAuthn = byNamespace;
        return this;
    }

    /** What {@link #jwtRules} depends on: the workload's namespace and labels (and the root namespace). */
    private record JwtKey(String namespace, Map<String, String> labels, String rootNamespace) {
        // Written out, with the generated methods' meaning (null-safe, component by component): the generated ones
        // bootstrap java.lang.runtime.ObjectMethods (~0.5 MB per process, benchmarks/results/mem10k-7a61d72.md) on
        // the first request a RequestAuthentication applies to (jwtCache's key).
        @Override
        public boolean equals(Object other) {
            return other == this || other instanceof JwtKey o && java.util.Objects.equals(namespace, o.namespace)
                    && java.util.Objects.equals(labels, o.labels) && java.util.Objects.equals(rootNamespace, o.rootNamespace);
        }

        @Override
        public int hashCode() {
            int h = java.util.Objects.hashCode(namespace);
            h = 31 * h + java.util.Objects.hashCode(labels);
            return 31 * h + java.util.Objects.hashCode(rootNamespace);
        }

        @Override
        public String toString() {
            return "JwtKey[namespace=" + namespace + ", labels=" + labels + ", rootNamespace=" + rootNamespace + "]";
        }
    }

    /** {@link #jwtCache} is cleared past this many workloads (label sets), so it never grows without bound. */
    private static final int JWT_CACHE_MAX = 4096;

    /**
     * See {@code PolicyEngine.jwtRules}: the rules of the RequestAuthentications of {@code w}'s namespace, then of the
     * root namespace, that select {@code w} (istio/istio pilot/pkg/model/authentication.go {@code getConfigsForWorkload},
     * each namespace's in creation order: load order here), flattened and then sorted by issuer, stably, as istiod's
     * pilot/pkg/security/authn/policy_applier.go {@code newPolicyApplier} orders them for the proxy. Cached per
     * namespace and labels for this snapshot; the empty list without allocating when neither namespace has one.
     */
    public List<io.zerohop.policy.JwtRule> jwtRules(WorkloadRef w, String rootNamespace) {
        RequestAuthn[] own = requestAuthn.get(w.namespace());
        RequestAuthn[] root = w.namespace().equals(rootNamespace) ? null : requestAuthn.get(rootNamespace);
        if (own == null && root == null) {
            return List.of();
        }
        JwtKey key = new JwtKey(w.namespace(), w.labels(), rootNamespace);
        List<io.zerohop.policy.JwtRule> cached = jwtCache.get(key);
        if (cached != null) {
            return cached;
        }
        List<io.zerohop.policy.JwtRule> out = new ArrayList<>();
        for (RequestAuthn[] scope : new RequestAuthn[][] {own, root}) {
            if (scope != null) {
                for (RequestAuthn ra : scope) {
                    if (ra.selects(w)) {
                        out.addAll(ra.rules);
                    }
                }
            }
        }
        // Go's cmp.Compare on strings compares bytes: UTF-8 byte order is code point order.
        out.sort((a, b) -> compareCodePoints(a.issuer(), b.issuer()));
        List<io.zerohop.policy.JwtRule> result = List.copyOf(out);
        if (jwtCache.size() >= JWT_CACHE_MAX) {
            jwtCache.clear();
        }
        jwtCache.put(key, result);
        return result;
    }

    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    /** Whether any RequestAuthentication is loaded in {@code namespace}. */
    boolean hasRequestAuthn(String namespace) {
        return requestAuthn.containsKey(namespace);
    }

    public List<PolicyRef> refs() {
        return refs;
    }

    /** Where {@code ref} was loaded from ({@code file:line} of its metadata.name), or null when unknown. */
    public String origin(PolicyRef ref) {
        return origins.get(originKey(ref.kind(), ref.namespace(), ref.name()));
    }

    /** The key {@link #origin} looks up: the Loader's duplicate key. */
    static String originKey(PolicyRef.Kind kind, String namespace, String name) {
        return kind + "/" + namespace + "/" + name;
    }

    /** See {@code PolicyEngine.httpPolicy}. */
    public PolicyRef httpPolicy(WorkloadRef w, int port, String rootNamespace) {
        return HttpRules.httpPolicy(istio, cilium, ciliumClusterwide, w, port, rootNamespace);
    }

    /** {@link io.zerohop.policy.PolicySet#selectors()}. */
    public List<io.zerohop.policy.PolicySelector> selectors() {
        return selectors;
    }

    /** {@link io.zerohop.policy.PolicySet#sourceNamespaces()}. */
    public List<io.zerohop.policy.SourceNamespace> sourceNamespaces() {
        return sourceNamespaces;
    }

    /** The loaded {@code istio.io/dry-run} policies, which never change a decision. */
    public java.util.Set<PolicyRef> dryRunRefs() {
        return dryRunRefs;
    }

    public List<String> warnings() {
        return warnings;
    }

    // ---------------------------------------------------------------- evaluation

    static final Decision PATH_REJECTED = new Decision(false, Decision.Outcome.DENIED_DEFAULT, null, -1,
            "request path contains %00, a control character or an unpaired surrogate, which Envoy rejects (400) before any"
                    + " AuthorizationPolicy");

    /**
     * Decides {@code r}. When an {@code istio.io/dry-run} policy is in scope, the decision also
     * carries what it would have been with the dry-run policies enforced (only then does this allocate).
     */
    public Decision evaluate(AccessRequest r, String rootNamespace, CustomAuthorizer custom) {
        Decision d = evaluate(r, rootNamespace, custom, false);
        if (!dryRunNamespaces.isEmpty() && (dryRunNamespaces.contains(rootNamespace)
                || dryRunNamespaces.contains(r.destination().namespace()))) {
            Decision wouldBe = evaluate(r, rootNamespace, custom, true);
            if (wouldBe != d) {
                return d.withDryRun(wouldBe.explain());
            }
        }
        return d;
    }

    /**
     * {@code actual} (an unparsed connection's decision, {@code PolicyEngine.evaluateUnparsed}) carrying what it would
     * be with the {@code istio.io/dry-run} policies in scope enforced: their DENY rules' HTTP fields taken as matched and
     * their ALLOW rules' as not, as {@code evaluateUnparsed} reads enforced ones. Without it a dry-run DENY with HTTP
     * fields previewed nothing for a non-HTTP connection on an auto port, which its enforced form resets (a new-user
     * pass). {@code actual} itself when no dry-run policy is in scope or the verdict would be the same.
     */
    public Decision withUnparsedDryRun(Decision actual, AccessRequest r, String rootNamespace, CustomAuthorizer custom) {
        if (dryRunNamespaces.isEmpty() || !(dryRunNamespaces.contains(rootNamespace)
                || dryRunNamespaces.contains(r.destination().namespace()))) {
            return actual;
        }
        // The L4 preview evaluate attached is replaced by the unparsed reading's.
        actual = actual.dryRun() == null ? actual : actual.withDryRun(null);
        Decision wouldBe = evaluate(r, rootNamespace, custom, true);
        if (wouldBe.allowed()) {
            Decision c = unparsedCustom(r, rootNamespace, custom);
            Decision d = c != null ? c : unparsedDeny(r, rootNamespace, true);
            wouldBe = d != null ? d : wouldBe;
        }
        if (wouldBe.allowed() == actual.allowed() && wouldBe.outcome() == actual.outcome()
                && java.util.Objects.equals(wouldBe.policy(), actual.policy()) && wouldBe.ruleIndex() == actual.ruleIndex()) {
            return actual;
        }
        return actual.withDryRun(wouldBe.explain());
    }

    /**
     * For an L4 request ({@code r.http()} null) on a connection that should have been parsed as HTTP and
     * could not be: the decision of the first enforced DENY rule with HTTP fields that may match it
     * ({@link IstioPolicy.Rule#matchesUnparsed}), or null. Rules without HTTP fields were decided by
     * {@link #evaluate} already. Built per call: this path is rare.
     */
    public Decision unparsedDeny(AccessRequest r, String rootNamespace) {
        return unparsedDeny(r, rootNamespace, false);
    }

    /** {@link #unparsedDeny(AccessRequest, String)}, with {@code dryRun} the dry-run DENY policies too. */
    private Decision unparsedDeny(AccessRequest r, String rootNamespace, boolean dryRun) {
        Selected sel = selected(r.destination(), rootNamespace);
        if (!sel.istioInScope) {
            return null;
        }
        for (IstioPolicy p : dryRun ? sel.denyWithDryRun : sel.denyEnforced) {
            for (IstioPolicy.Rule rule : p.rules) {
                if (rule.http && rule.matchesUnparsed(r)) {
                    return new Decision(false, Decision.Outcome.DENIED_BY_RULE, p.ref, rule.index,
                            "the connection could not be parsed as HTTP, so this DENY rule's HTTP fields could not be checked"
                                    + " (fail closed, as a sidecar's TCP filter reads it)");
                }
            }
        }
        return null;
    }

    /**
     * For an L4 request ({@code r.http()} null) on a connection that should have been parsed as HTTP and
     * could not be: the decision of the first enforced CUSTOM policy with a rule that may match it
     * ({@link IstioPolicy.Rule#matchesUnparsed}, every rule, with or without HTTP fields), or null. istiod
     * builds CUSTOM for a TCP filter chain with the DENY action, so a rule's HTTP-only fields are dropped and
     * it matches more (pilot/pkg/security/authz/builder/builder.go {@code build}, {@code rbacpb.RBAC_DENY};
     * model.go {@code checkError}); a provider Envoy cannot call there becomes RBAC DENY rules
     * ({@code getBadCustomDenyRules}). Without {@code custom}, zerohop has no provider to call, so such a
     * match is denied; with one, the authorizer is asked (as the network {@code ext_authz} filter of a gRPC
     * provider is), unless {@link #evaluate} asked it already for this policy. Built per call: this path is rare.
     */
    public Decision unparsedCustom(AccessRequest r, String rootNamespace, CustomAuthorizer custom) {
        Selected sel = selected(r.destination(), rootNamespace);
        if (!sel.istioInScope) {
            return null;
        }
        for (IstioPolicy p : sel.custom) {
            if (p.dryRun || (custom != null && !sel.customProviders && p.firstMatch(r, null) != null)) {
                // A dry-run policy never decides; a policy matched at L4 was put to the authorizer by evaluate.
                continue;
            }
            for (IstioPolicy.Rule rule : p.rules) {
                if (!rule.matchesUnparsed(r)) {
                    continue;
                }
                if (sel.customProviders) {
                    return rule.customConflict;
                }
                if (custom == null) {
                    return new Decision(false, Decision.Outcome.DENIED_CUSTOM, p.ref, rule.index,
                            "the connection could not be parsed as HTTP, so this CUSTOM rule's HTTP fields could not be checked,"
                                    + " and no external authorizer is configured for provider \"" + p.provider
                                    + "\" (fail closed, as istiod's deny rules for a CUSTOM provider Envoy cannot call)");
                }
                if (!custom.check(p.provider, r)) {
                    return new Decision(false, Decision.Outcome.DENIED_CUSTOM, p.ref, rule.index,
                            "the connection could not be parsed as HTTP; CUSTOM provider \"" + p.provider
                                    + "\" denied it without HTTP attributes");
                }
                break;
            }
        }
        return null;
    }

    /**
     * For an L4 request ({@code r.http()} null) on a connection whose HTTP data is not read yet (an {@code auto}
     * port before its sniff): the denial that {@link #evaluate} of every HTTP request with these L4 attributes and
     * {@code PolicyEngine.evaluateUnparsed} of the connection itself would all give, or null when the data may
     * change the outcome. Denied here, in the order {@link #evaluate} takes its steps: PeerAuthentication STRICT
     * for plaintext; an enforced Istio DENY rule that matches whatever the HTTP data (per {@code from}/{@code to}
     * entry: one with no HTTP field and no trust domain that matches at L4,
     * {@link IstioPolicy.Rule#matchesWhateverTheRequest}); Istio ALLOW policies of which no rule can match whatever
     * the HTTP data (each HTTP field taken as matched, {@link IstioPolicy.Rule#matchesUnparsed}); a Cilium denial that no
     * ingress rule's {@code rules.http} could lift ({@link CiliumStep#certainDenial}). CUSTOM policies never
     * decide here (their provider may read the request). Dry-run policies are left out, as they never decide.
     */
    public Decision denialBeforeHttp(AccessRequest r, String rootNamespace) {
        if (r.sourcePrincipal() == null) {
            PeerAuthn.Result m = mtls(r.destination(), r.destinationPort(), rootNamespace);
            if (m.plaintextDenied() != null) {
                return m.plaintextDenied();
            }
        }
        Selected sel = selected(r.destination(), rootNamespace);
        long parts = !sel.peerParts ? Peer.UNKNOWN : r.sourcePrincipal() == null ? Peer.NONE : Peer.parts(r.sourcePrincipal());
        if (sel.istioInScope) {
            for (IstioPolicy p : sel.denyEnforced) {
                for (IstioPolicy.Rule rule : p.rules) {
                    if (rule.matchesWhateverTheRequest(r, parts)) {
                        return rule.decision;
                    }
                }
            }
            if (sel.allowEnforced.length > 0 && !anyMayMatch(sel.allowEnforced, r)) {
                return sel.allowNoMatchEnforced;
            }
        }
        return CiliumStep.certainDenial(r, sel, parts);
    }

    /** Whether a rule of {@code policies} can match some request with {@code r}'s L4 attributes. */
    private static boolean anyMayMatch(IstioPolicy[] policies, AccessRequest r) {
        for (IstioPolicy p : policies) {
            for (IstioPolicy.Rule rule : p.rules) {
                if (rule.matchesUnparsed(r)) {
                    return true;
                }
            }
        }
        return false;
    }

    private Decision evaluate(AccessRequest r, String rootNamespace, CustomAuthorizer custom, boolean dryRun) {
        if (r.sourcePrincipal() == null) {
            PeerAuthn.Result m = mtls(r.destination(), r.destinationPort(), rootNamespace);
            if (m.plaintextDenied() != null) {
                return m.plaintextDenied();
            }
        }
        Selected sel = selected(r.destination(), rootNamespace);
        String principal = r.sourcePrincipal();
        long parts = !sel.peerParts ? Peer.UNKNOWN : principal == null ? Peer.NONE : Peer.parts(principal);
        // One scan of the path for both steps when it is read as sent, as nearly every path is.
        boolean plainPath = sel.readsPath && r.http() != null && PathNormalizer.plain(r.http().path());
        Decision i = istio(r, custom, dryRun, sel, parts, plainPath);
        if (i != null && !i.allowed()) {
            return i;
        }
        Decision c = CiliumStep.decide(r, sel, parts, plainPath);
        if (c != null && !c.allowed()) {
            return c;
        }
        if (i != null && i.outcome() == Decision.Outcome.ALLOWED_BY_RULE) {
            return i;
        }
        if (c != null) {
            return c;
        }
        return i != null ? i : noPolicy(r.destination(), r.destinationPort(), rootNamespace);
    }

    /**
     * {@link #NO_POLICY}, or when a PeerAuthentication selects the destination, the same decision saying so: "no policy
     * selects the destination" read as false beside a PeerAuthentication that does (a new-user pass, {@code mtls: {}}).
     * A PeerAuthentication decides mTLS only, never access (istio.io PeerAuthentication reference). One decision per
     * PeerAuthentication and effective mode, built once.
     */
    private Decision noPolicy(WorkloadRef w, int port, String rootNamespace) {
        if (namespacePeerAuthn.isEmpty() && workloadPeerAuthn.isEmpty()) {
            return NO_POLICY;
        }
        PeerAuthn pa = selectingPeerAuthn(w, rootNamespace);
        if (pa == null) {
            return NO_POLICY;
        }
        MtlsMode mode = mtls(w, port, rootNamespace).mode();
        Decision[] byMode = pa.noAuthorization;
        Decision d = byMode[mode.ordinal()];
        if (d == null) {
            d = Decision.allowNoPolicy("no authorization policy selects the destination; " + pa.ref + " selects it and "
                    + (pa.result == null && pa.forPort(port) == null ? "leaves mtls.mode unset (inherited: " + mode + ")"
                    : "sets mTLS mode " + mode) + ", which decides mTLS only, not access");
            byMode[mode.ordinal()] = d;
        }
        return d;
    }

    /** The PeerAuthentication whose settings apply to {@code w} (workload, else namespace, else mesh), or null: none. */
    private PeerAuthn selectingPeerAuthn(WorkloadRef w, String rootNamespace) {
        String ns = w.namespace();
        if (!ns.equals(rootNamespace)) {
            PeerAuthn[] workload = workloadPeerAuthn.get(ns);
            if (workload != null) {
                for (PeerAuthn pa : workload) {
                    if (pa.selects(w)) {
                        return pa;
                    }
                }
            }
            PeerAuthn nsPolicy = namespacePeerAuthn.get(ns);
            if (nsPolicy != null) {
                return nsPolicy;
            }
        }
        PeerAuthn mesh = namespacePeerAuthn.get(rootNamespace);
        if (mesh != null && mesh.meshInstead != null && !ns.equals(rootNamespace)) {
            mesh = mesh.meshInstead;
        }
        return mesh;
    }

    public PeerAuthn.Result mtls(WorkloadRef w, int port, String rootNamespace) {
        PeerAuthn.Result res = PeerAuthn.DEFAULT;
        PeerAuthn mesh = namespacePeerAuthn.get(rootNamespace);
        String ns = w.namespace();
        if (mesh != null && mesh.meshInstead != null && !ns.equals(rootNamespace)) {
            mesh = mesh.meshInstead;
        }
        if (mesh != null && mesh.result != null) {
            res = mesh.result;
        }
        if (ns.equals(rootNamespace)) {
            // istiod never treats a root-namespace policy with a selector as a workload policy.
            return res;
        }
        PeerAuthn nsPolicy = namespacePeerAuthn.get(ns);
        if (nsPolicy != null && nsPolicy.result != null) {
            res = nsPolicy.result;
        }
        PeerAuthn[] workload = workloadPeerAuthn.get(ns);
        if (workload != null) {
            for (PeerAuthn pa : workload) {
                if (pa.selects(w)) {
                    if (pa.result != null) {
                        res = pa.result;
                    }
                    PeerAuthn.Result port0 = pa.overrides(port, res);
                    if (port0 != null) {
                        res = port0;
                    } else if (res.mode() != MtlsMode.STRICT && pa.ambientMergedStrict != null
                            && pa.ambientMergesStrict(noSelector(nsPolicy), noSelector(namespacePeerAuthn.get(rootNamespace)))) {
                        res = pa.ambientMergedStrict;
                    }
                    break;
                }
            }
        }
        return res;
    }

    /**
     * The first policy without selector of the namespace whose first namespace-wide policy is {@code first}: itself, or,
     * when it was written with {@code selector: {}}, the first one without selector loaded after it; null when none.
     */
    private static PeerAuthn noSelector(PeerAuthn first) {
        return first == null ? null : first.emptySelector ? first.meshInstead : first;
    }

    /** Whether a policy in scope for {@code w}:{@code port} has a rule enforceable only on HTTP ({@link HttpRules}). */
    public boolean requiresHttp(WorkloadRef w, int port, String rootNamespace) {
        return HttpRules.requiresHttp(istio, cilium, ciliumClusterwide, w, port, rootNamespace);
    }

    /** See {@code PolicyEngine.ciliumHttp}: a Cilium HTTP rule applies to {@code w}'s port. */
    public boolean ciliumHttp(WorkloadRef w, int port) {
        return HttpRules.ciliumRequiresHttp(cilium, ciliumClusterwide, w, port);
    }

    public MtlsMode mtlsMode(WorkloadRef w, int port, String rootNamespace) {
        return mtls(w, port, rootNamespace).mode();
    }

    /** The index of the root namespace, remembered for the root name last asked for (evaluation passes the same one). */
    private static final class RootIndex {
        final String root;
        final LabelIndex index;

        RootIndex(String root, LabelIndex index) {
            this.root = root;
            this.index = index;
        }
    }

    /** Racy on purpose: an immutable holder, at worst recomputed; saves a hash lookup per decision. */
    private RootIndex rootIndex;

    private LabelIndex istioRoot(String root) {
        RootIndex c = rootIndex;
        if (c != null && (c.root == root || c.root.equals(root))) {
            return c.index;
        }
        LabelIndex idx = istio.get(root);
        rootIndex = new RootIndex(root, idx);
        return idx;
    }

    /**
     * The policies that select one destination workload, per index and in scan order (unindexed,
     * then the first key's bucket, then the other keys' buckets), with the OR of their flags so a
     * pass none of them can answer is skipped. Selectors depend only on the destination's namespace,
     * service account and labels, so they are matched once per destination and policy set, not
     * per decision: ztunnel likewise holds each workload's policy list (istiod's
     * {@code Workload.authorization_policies}) rather than matching selectors per connection.
     */
    static final class Selected {
        /** The key: what selection reads of the destination (never its name), and the root namespace. */
        final String namespace;
        final String serviceAccount;
        final Map<String, String> labels;
        /** {@code labels.hashCode()}: another workload's map in the same set is told apart without {@code Map.equals}. */
        final int labelsHash;
        final String root;
        /** Whether any AuthorizationPolicy is in scope (root or destination namespace index exists). */
        final boolean istioInScope;
        /**
         * The selecting AuthorizationPolicies of the root namespace then the destination's, one array
         * per action, each in scan order (root before namespace, as two passes would see them): a pass
         * walks only the policies that can answer it, so every decision is unchanged. {@code enforced}
         * leaves out {@code istio.io/dry-run} policies, {@code withDryRun} keeps them (the would-be decision).
         */
        final IstioPolicy[] custom;
        /**
         * The enforced CUSTOM policies in {@link #custom} name more than one provider: istiod (without
         * {@code PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS}, off by default) then calls none and denies what any
         * CUSTOM rule matches ({@link IstioPolicy.Rule#customConflict}).
         */
        final boolean customProviders;
        final IstioPolicy[] denyEnforced;
        final IstioPolicy[] denyWithDryRun;
        final IstioPolicy[] allowEnforced;
        final IstioPolicy[] allowWithDryRun;
        /** How many AUDIT policies select the destination (they never decide; an Envoy runs for them all the same). */
        final int audit;
        /** "An ALLOW policy applies and nothing matched": the first of each allow array's no-match decision, or null. */
        final Decision allowNoMatchEnforced;
        final Decision allowNoMatchWithDryRun;
        /** Some selecting AuthorizationPolicy has {@code paths} or {@code notPaths}: only then is the path normalised. */
        final boolean istioPaths;
        /**
         * A selecting policy compares the peer's namespace (an Istio source's {@code namespaces}, a Cilium
         * selector): only then is the namespace found in the principal, once per decision ({@link Peer#parts}).
         */
        final boolean peerParts;
        /** Whether any Cilium policy could be in scope (namespace index or a clusterwide one exists). */
        final boolean ciliumInScope;
        final CiliumPolicy[] ciliumNs;
        final CiliumPolicy[] ciliumCw;
        final int ciliumFlags;
        /** Some step reads the request's path: only then is {@link PathNormalizer#plain} asked, once per decision. */
        final boolean readsPath;

        Selected(WorkloadRef dest, String root, boolean istioInScope, IstioPolicy[] istioRoot, IstioPolicy[] istioNs,
                 boolean ciliumInScope, CiliumPolicy[] ciliumNs, CiliumPolicy[] ciliumCw) {
            this.namespace = dest.namespace();
            this.serviceAccount = dest.serviceAccount();
            this.labels = dest.labels();
            this.labelsHash = labels.hashCode();
            this.root = root;
            this.istioInScope = istioInScope;
            List<IstioPolicy> all = new ArrayList<>(List.of(istioRoot));
            all.addAll(List.of(istioNs));
            this.custom = pass(all, IstioPolicy.CUSTOM, true);
            String provider = null;
            boolean several = false;
            for (IstioPolicy p : custom) {
                if (!p.dryRun) {
                    several |= provider != null && !provider.equals(p.provider);
                    provider = provider == null ? p.provider : provider;
                }
            }
            this.customProviders = several;
            this.denyEnforced = pass(all, IstioPolicy.DENY, false);
            this.denyWithDryRun = pass(all, IstioPolicy.DENY, true);
            this.allowEnforced = withoutBareSelectors(pass(all, IstioPolicy.ALLOW, false));
            this.allowWithDryRun = withoutBareSelectors(pass(all, IstioPolicy.ALLOW, true));
            this.audit = pass(all, IstioPolicy.AUDIT, true).length;
            this.allowNoMatchEnforced = allowEnforced.length == 0 ? null : allowEnforced[0].noMatch;
            this.allowNoMatchWithDryRun = allowWithDryRun.length == 0 ? null : allowWithDryRun[0].noMatch;
            boolean paths = false;
            for (IstioPolicy p : all) {
                paths |= p.usesPaths();
            }
            this.istioPaths = paths;
            boolean namespaces = ciliumNs.length + ciliumCw.length > 0;
            for (IstioPolicy p : all) {
                namespaces |= p.usesNamespaces();
            }
            this.peerParts = namespaces;
            this.ciliumInScope = ciliumInScope;
            this.ciliumNs = ciliumNs;
            this.ciliumCw = ciliumCw;
            int f = 0;
            boolean ciliumPaths = false;
            for (CiliumPolicy p : ciliumNs) {
                f |= p.flags;
                ciliumPaths |= p.usesPaths();
            }
            for (CiliumPolicy p : ciliumCw) {
                f |= p.flags;
                ciliumPaths |= p.usesPaths();
            }
            this.ciliumFlags = f;
            // The Istio step checks every request's path (Envoy's 400s), the Cilium step only for a path rule.
            this.readsPath = istioInScope || ciliumPaths;
        }

        /** Whether this entry answers for {@code dest} under {@code root}; identity first, as the same workload's refs share their parts. */
        boolean isFor(WorkloadRef dest, String root) {
            Map<String, String> l = dest.labels();
            // Another workload's entry may share the set: its map differs by hash (string hashes are
            // cached), so Map.equals, which walks the entries and may allocate an entry set (1.5 B per
            // decision in PolicyBenchmark.mixed when two of its destinations shared a set), runs only
            // for an equal map that is another instance.
            return (l == labels || (l.hashCode() == labelsHash && l.equals(labels))) && namespace.equals(dest.namespace())
                    && serviceAccount.equals(dest.serviceAccount()) && (this.root == root || this.root.equals(root));
        }
    }

    /**
     * {@code allow} without its ALLOW policies written {@code selector: {}} (no {@code matchLabels}) when another ALLOW
     * policy applies too. istiod's ambient index attaches such a policy to no workload (pilot/pkg/serviceregistry/ambient/
     * workloads.go {@code buildWorkloadPolicies} keeps a selector policy only when {@code GetLabelSelector() != nil}; its
     * scope is {@code WORKLOAD_SELECTOR}, which ztunnel's {@code src/state/policy.rs} looks up only through the workload),
     * so ztunnel decides by the other ALLOW policies alone; a sidecar's Envoy applies it to the whole namespace. Beside
     * another ALLOW, its rules would admit callers ztunnel denies: until 6 December they did (helper 293). Alone, it is
     * kept as the object and a sidecar read it (its callers only; ztunnel would leave the workload open).
     */
    private static IstioPolicy[] withoutBareSelectors(IstioPolicy[] allow) {
        int bare = 0;
        for (IstioPolicy p : allow) {
            bare += p.bareSelector ? 1 : 0;
        }
        if (bare == 0 || bare == allow.length) {
            return allow;
        }
        IstioPolicy[] out = new IstioPolicy[allow.length - bare];
        int i = 0;
        for (IstioPolicy p : allow) {
            if (!p.bareSelector) {
                out[i++] = p;
            }
        }
        return out;
    }

    private static IstioPolicy[] pass(List<IstioPolicy> policies, int action, boolean withDryRun) {
        List<IstioPolicy> l = new ArrayList<>();
        for (IstioPolicy p : policies) {
            if (p.action == action && (withDryRun || !p.dryRun)) {
                l.add(p);
            }
        }
        return l.toArray(new IstioPolicy[0]);
    }

    private static final int SELECTED_SLOTS = 4096;
    /** Each destination may sit in any of this many consecutive slots (a set), so two or three colliding ones do not evict each other. */
    private static final int SELECTED_WAYS = 4;
    /**
     * Set-associative by the identity of the destination's labels map (a workload's refs share one
     * immutable map, as {@code Map.copyOf} keeps it; label-less refs by namespace and service
     * account instead), compared by value: a caller that builds a new {@link WorkloadRef} per
     * connection from the same workload (as mesh-core does) still finds its entry. Racy on purpose:
     * entries are immutable, a slot lost to a race or an eviction is recomputed. Steady-state
     * decisions allocate nothing.
     */
    private final Selected[] selected = new Selected[SELECTED_SLOTS];
    /** Which way of a full set the next new entry replaces; racy, any value is fine. */
    private int victim;

    Selected selected(WorkloadRef dest, String root) {
        Map<String, String> labels = dest.labels();
        int h = System.identityHashCode(labels);
        if (labels.isEmpty()) {
            // Every label-less ref shares Map.of()'s one instance: spread them by what else selection reads.
            h ^= dest.namespace().hashCode() * 31 + dest.serviceAccount().hashCode();
        }
        int set = (h ^ (h >>> 12)) & (SELECTED_SLOTS - SELECTED_WAYS);
        Selected[] table = selected;
        for (int i = set; i < set + SELECTED_WAYS; i++) {
            Selected s = table[i];
            if (s == null) {
                s = select(dest, root);
                table[i] = s;
                return s;
            }
            if (s.isFor(dest, root)) {
                return s;
            }
        }
        Selected s = select(dest, root);
        int v = victim;
        victim = v + 1;
        table[set + (v & (SELECTED_WAYS - 1))] = s;
        return s;
    }

    private Selected select(WorkloadRef dest, String root) {
        String ns = dest.namespace();
        LabelIndex[] both = byNamespace.get(ns);
        LabelIndex g = istioRoot(root);
        LabelIndex n = ns.equals(root) || both == null ? null : both[0];
        LabelIndex cn = both == null ? null : both[1];
        return new Selected(dest, root, g != null || n != null, istioSelecting(g, dest), istioSelecting(n, dest),
                cn != null || !ciliumClusterwide.isEmpty(), ciliumSelecting(cn, dest), ciliumSelecting(ciliumClusterwide, dest));
    }

    private static IstioPolicy[] istioSelecting(LabelIndex idx, WorkloadRef dest) {
        List<IstioPolicy> out = new ArrayList<>();
        for (Object o : candidates(idx, dest)) {
            IstioPolicy p = (IstioPolicy) o;
            if (p.selects(dest)) {
                out.add(p);
            }
        }
        return out.toArray(new IstioPolicy[0]);
    }

    private static CiliumPolicy[] ciliumSelecting(LabelIndex idx, WorkloadRef dest) {
        List<CiliumPolicy> out = new ArrayList<>();
        for (Object o : candidates(idx, dest)) {
            CiliumPolicy p = (CiliumPolicy) o;
            if (p.endpointSelector.matchesDestination(dest)) {
                out.add(p);
            }
        }
        return out.toArray(new CiliumPolicy[0]);
    }

    /** An index's candidates for {@code dest} in scan order: unindexed, the first key's bucket, the other keys' buckets. */
    private static List<Object> candidates(LabelIndex idx, WorkloadRef dest) {
        List<Object> out = new ArrayList<>();
        if (idx == null) {
            return out;
        }
        java.util.Collections.addAll(out, idx.unindexed);
        for (int i = 0; i < idx.keys.length; i++) {
            Object[] bucket = idx.bucket(i, dest);
            if (bucket != null) {
                java.util.Collections.addAll(out, bucket);
            }
        }
        return out;
    }

    /** Istio step; null when no AuthorizationPolicy is in scope at all. */
    private static Decision istio(AccessRequest r, CustomAuthorizer custom, boolean dryRun, Selected sel, long parts,
                                  boolean plainPath) {
        if (!sel.istioInScope) {
            return null;
        }
        String path = null;
        if (r.http() != null) {
            String raw = r.http().path();
            // Normalised only when a rule in scope reads it; Envoy refuses %00 (400) whatever the rules.
            path = sel.istioPaths ? PathNormalizer.forIstio(raw) : plainPath || !PathNormalizer.rejects(raw) ? raw : null;
            if (path == null) {
                return PATH_REJECTED;
            }
        }
        Decision d;
        if (sel.custom.length > 0) {
            d = istioScanAll(sel.custom, r, path, IstioPolicy.CUSTOM, custom, dryRun, sel.customProviders);
            if (d != null) {
                return d;
            }
        }
        d = firstMatch(dryRun ? sel.denyWithDryRun : sel.denyEnforced, r, path, parts);
        if (d != null) {
            return d;
        }
        IstioPolicy[] allow = dryRun ? sel.allowWithDryRun : sel.allowEnforced;
        if (allow.length == 0) {
            return ISTIO_OPEN;
        }
        d = firstMatch(allow, r, path, parts);
        // Istio: once any ALLOW policy applies to the workload, unmatched requests are denied.
        return d != null ? d : dryRun ? sel.allowNoMatchWithDryRun : sel.allowNoMatchEnforced;
    }

    /** A DENY or ALLOW pass: the decision of the first matching rule of the first policy with one, or null. */
    private static Decision firstMatch(IstioPolicy[] policies, AccessRequest r, String path, long parts) {
        for (IstioPolicy p : policies) {
            IstioPolicy.Rule rule = p.firstMatch(r, path, parts);
            if (rule != null) {
                return rule.decisionFor(r);
            }
        }
        return null;
    }

    /** The CUSTOM pass (rare): every check of {@link #istioCheck}. */
    private static Decision istioScanAll(IstioPolicy[] selecting, AccessRequest r, String path, int action,
                                         CustomAuthorizer custom, boolean dryRun, boolean customProviders) {
        for (IstioPolicy p : selecting) {
            Decision d = istioCheck(p, r, path, action, custom, dryRun, customProviders);
            if (d != null) {
                return d;
            }
        }
        return null;
    }

    /** {@code action} negative: "does an ALLOW policy apply?", answered with its no-match decision. */
    private static Decision istioCheck(IstioPolicy p, AccessRequest r, String path, int action, CustomAuthorizer custom,
                                       boolean dryRun, boolean customProviders) {
        // The selector was matched when the destination's policies were selected.
        if (p.action != (action < 0 ? -action : action) || (p.dryRun && !dryRun)) {
            return null;
        }
        if (p.action == IstioPolicy.CUSTOM && custom == null && r.http() == null) {
            // istiod never sends CUSTOM policies to ztunnel: without an external authorizer, no effect at L4.
            return null;
        }
        if (action < 0) {
            return p.noMatch;
        }
        IstioPolicy.Rule rule = p.firstMatch(r, path);
        if (rule == null) {
            return null;
        }
        if (action == IstioPolicy.CUSTOM && customProviders) {
            // Where a provider would be called (L7, or L4 with an authorizer), none is: the rule denies.
            return rule.customConflict;
        }
        if (action == IstioPolicy.CUSTOM && custom != null) {
            return custom.check(p.provider, r) ? null : rule.customDenied;
        }
        return rule.decisionFor(r);
    }
}
