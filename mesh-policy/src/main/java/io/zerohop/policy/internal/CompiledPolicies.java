package io.zerohop.policy.internal;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.CustomAuthorizer;
import io.zerohop.policy.Decision;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.WorkloadRef;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
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

    private static final int C_DENY = 0;
    private static final int C_AUTH_MISSING = 1;
    private static final int C_ALLOW = 2;
    private static final int C_ENFORCING = 3;
    private static final int C_EXPLAIN = 4;

    public static final CompiledPolicies EMPTY = new Builder().build();

    private final Map<String, LabelIndex> istio;
    private final Map<String, LabelIndex> cilium;
    private final LabelIndex ciliumClusterwide;
    private final Map<String, PeerAuthn> namespacePeerAuthn;
    private final Map<String, PeerAuthn[]> workloadPeerAuthn;
    private final List<PolicyRef> refs;
    private final List<String> warnings;
    /** Namespaces holding an istio.io/dry-run AuthorizationPolicy. */
    private final java.util.Set<String> dryRunNamespaces;

    private CompiledPolicies(Map<String, LabelIndex> istio, Map<String, LabelIndex> cilium, LabelIndex ciliumClusterwide,
                             Map<String, PeerAuthn> namespacePeerAuthn, Map<String, PeerAuthn[]> workloadPeerAuthn,
                             List<PolicyRef> refs, List<String> warnings, java.util.Set<String> dryRunNamespaces) {
        this.dryRunNamespaces = dryRunNamespaces;
        this.istio = istio;
        this.cilium = cilium;
        this.ciliumClusterwide = ciliumClusterwide;
        this.namespacePeerAuthn = namespacePeerAuthn;
        this.workloadPeerAuthn = workloadPeerAuthn;
        this.refs = refs;
        this.warnings = warnings;
    }

    public List<PolicyRef> refs() {
        return refs;
    }

    public List<String> warnings() {
        return warnings;
    }

    // ---------------------------------------------------------------- evaluation

    static final Decision PATH_REJECTED = new Decision(false, Decision.Outcome.DENIED_DEFAULT, null, -1,
            "request path contains %00, which Envoy rejects (400) before any AuthorizationPolicy");

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

    private Decision evaluate(AccessRequest r, String rootNamespace, CustomAuthorizer custom, boolean dryRun) {
        if (r.sourcePrincipal() == null) {
            PeerAuthn.Result m = mtls(r.destination(), r.destinationPort(), rootNamespace);
            if (m.plaintextDenied() != null) {
                return m.plaintextDenied();
            }
        }
        Decision i = istio(r, rootNamespace, custom, dryRun);
        if (i != null && !i.allowed()) {
            return i;
        }
        Decision c = cilium(r);
        if (c != null && !c.allowed()) {
            return c;
        }
        if (i != null && i.outcome() == Decision.Outcome.ALLOWED_BY_RULE) {
            return i;
        }
        if (c != null) {
            return c;
        }
        return i != null ? i : NO_POLICY;
    }

    public PeerAuthn.Result mtls(WorkloadRef w, int port, String rootNamespace) {
        PeerAuthn.Result res = PeerAuthn.DEFAULT;
        PeerAuthn mesh = namespacePeerAuthn.get(rootNamespace);
        if (mesh != null && mesh.result != null) {
            res = mesh.result;
        }
        String ns = w.namespace();
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
                    PeerAuthn.Result port0 = pa.forPort(port);
                    if (port0 != null) {
                        res = port0;
                    }
                    break;
                }
            }
        }
        return res;
    }

    /** Whether a policy in scope for {@code w}:{@code port} has a rule enforceable only on HTTP ({@link HttpRules}). */
    public boolean requiresHttp(WorkloadRef w, int port, String rootNamespace) {
        return HttpRules.requiresHttp(istio, cilium, ciliumClusterwide, w, port, rootNamespace);
    }

    public MtlsMode mtlsMode(WorkloadRef w, int port, String rootNamespace) {
        return mtls(w, port, rootNamespace).mode();
    }

    /** Istio step; null when no AuthorizationPolicy is in scope at all. */
    private Decision istio(AccessRequest r, String root, CustomAuthorizer custom, boolean dryRun) {
        String ns = r.destination().namespace();
        LabelIndex g = istio.get(root);
        LabelIndex n = ns.equals(root) ? null : istio.get(ns);
        if (g == null && n == null) {
            return null;
        }
        if (r.http() != null && PathNormalizer.forIstio(r.http().path()) == null) {
            return PATH_REJECTED;
        }
        Decision d = istioScan(g, r, IstioPolicy.CUSTOM, custom, dryRun);
        if (d == null) {
            d = istioScan(n, r, IstioPolicy.CUSTOM, custom, dryRun);
        }
        if (d != null) {
            return d;
        }
        d = istioScan(g, r, IstioPolicy.DENY, null, dryRun);
        if (d == null) {
            d = istioScan(n, r, IstioPolicy.DENY, null, dryRun);
        }
        if (d != null) {
            return d;
        }
        d = istioScan(g, r, IstioPolicy.ALLOW, null, dryRun);
        if (d == null) {
            d = istioScan(n, r, IstioPolicy.ALLOW, null, dryRun);
        }
        if (d != null) {
            return d;
        }
        // Istio: once any ALLOW policy applies to the workload, unmatched requests are denied.
        d = istioScan(g, r, -IstioPolicy.ALLOW, null, dryRun);
        if (d == null) {
            d = istioScan(n, r, -IstioPolicy.ALLOW, null, dryRun);
        }
        return d != null ? d : ISTIO_OPEN;
    }

    private static Decision istioScan(LabelIndex idx, AccessRequest r, int action, CustomAuthorizer custom, boolean dryRun) {
        if (idx == null) {
            return null;
        }
        for (Object o : idx.unindexed) {
            Decision d = istioCheck((IstioPolicy) o, r, action, custom, dryRun);
            if (d != null) {
                return d;
            }
        }
        for (int i = 0; i < idx.keys.length; i++) {
            Object[] bucket = idx.bucket(i, r.destination());
            if (bucket == null) {
                continue;
            }
            for (Object o : bucket) {
                Decision d = istioCheck((IstioPolicy) o, r, action, custom, dryRun);
                if (d != null) {
                    return d;
                }
            }
        }
        return null;
    }

    /** {@code action} negative: "does an ALLOW policy apply?", answered with its no-match decision. */
    private static Decision istioCheck(IstioPolicy p, AccessRequest r, int action, CustomAuthorizer custom,
                                       boolean dryRun) {
        if (p.action != (action < 0 ? -action : action) || (p.dryRun && !dryRun) || !p.selects(r.destination())) {
            return null;
        }
        if (p.action == IstioPolicy.CUSTOM && custom == null && r.http() == null) {
            // istiod never sends CUSTOM policies to ztunnel: without an external authorizer, no effect at L4.
            return null;
        }
        if (action < 0) {
            return p.noMatch;
        }
        IstioPolicy.Rule rule = p.firstMatch(r);
        if (rule == null) {
            return null;
        }
        if (action == IstioPolicy.CUSTOM && custom != null) {
            return custom.check(p.provider, r) ? null : rule.customDenied;
        }
        return rule.decisionFor(r);
    }

    /** Cilium step; null when no Cilium policy selects the destination for ingress enforcement. */
    private Decision cilium(AccessRequest r) {
        LabelIndex n = cilium.get(r.destination().namespace());
        LabelIndex c = ciliumClusterwide;
        if (n == null && c.isEmpty()) {
            return null;
        }
        for (int mode = C_DENY; mode <= C_ALLOW; mode++) {
            Decision d = ciliumScan(n, r, mode);
            if (d == null) {
                d = ciliumScan(c, r, mode);
            }
            if (d != null) {
                return d;
            }
        }
        Decision enforcing = ciliumScan(n, r, C_ENFORCING);
        if (enforcing == null) {
            enforcing = ciliumScan(c, r, C_ENFORCING);
        }
        if (enforcing == null) {
            return null;
        }
        Decision why = ciliumScan(n, r, C_EXPLAIN);
        if (why == null) {
            why = ciliumScan(c, r, C_EXPLAIN);
        }
        return why != null ? why : enforcing;
    }

    private static Decision ciliumScan(LabelIndex idx, AccessRequest r, int mode) {
        if (idx == null) {
            return null;
        }
        for (Object o : idx.unindexed) {
            Decision d = ciliumCheck((CiliumPolicy) o, r, mode);
            if (d != null) {
                return d;
            }
        }
        for (int i = 0; i < idx.keys.length; i++) {
            Object[] bucket = idx.bucket(i, r.destination());
            if (bucket == null) {
                continue;
            }
            for (Object o : bucket) {
                Decision d = ciliumCheck((CiliumPolicy) o, r, mode);
                if (d != null) {
                    return d;
                }
            }
        }
        return null;
    }

    private static Decision ciliumCheck(CiliumPolicy p, AccessRequest r, int mode) {
        if (!p.endpointSelector.matchesDestination(r.destination())) {
            return null;
        }
        String principal = r.sourcePrincipal();
        switch (mode) {
            case C_DENY:
                for (CiliumPolicy.Rule rule : p.ingressDeny) {
                    if (rule.matchesPeer(r) && rule.matchesPort(r) == CiliumPolicy.PORT_MATCH) {
                        return rule.matched;
                    }
                }
                return null;
            case C_AUTH_MISSING:
                // Cilium keeps the auth requirement when rules merge, so one unmet "required" denies.
                if (principal != null) {
                    return null;
                }
                for (CiliumPolicy.Rule rule : p.ingress) {
                    if (rule.authRequired && rule.matchesPeer(r) && rule.matchesPort(r) == CiliumPolicy.PORT_MATCH) {
                        return rule.authMissing;
                    }
                }
                return null;
            case C_ALLOW:
                for (CiliumPolicy.Rule rule : p.ingress) {
                    if (rule.matchesPeer(r) && rule.matchesPort(r) == CiliumPolicy.PORT_MATCH
                            && (!rule.authRequired || (principal != null && rule.spiffeAccepts(principal)))) {
                        return rule.matched;
                    }
                }
                return null;
            case C_ENFORCING:
                return p.ingressDefaultDeny ? p.defaultDeny : null;
            default:
                for (CiliumPolicy.Rule rule : p.ingress) {
                    if (!rule.matchesPeer(r)) {
                        continue;
                    }
                    int port = rule.matchesPort(r);
                    if (port == CiliumPolicy.PORT_NEEDS_L7) {
                        return rule.needsL7;
                    }
                    if (port == CiliumPolicy.PORT_MATCH && rule.authRequired && principal != null
                            && !rule.spiffeAccepts(principal)) {
                        return rule.spiffeRejected;
                    }
                }
                return null;
        }
    }

    // ---------------------------------------------------------------- building

    /** Collects compiled objects in load order; the first of conflicting PeerAuthentications wins. */
    public static final class Builder {
        private final Map<String, LabelIndex.Builder> istio = new LinkedHashMap<>();
        private final Map<String, LabelIndex.Builder> cilium = new LinkedHashMap<>();
        private final LabelIndex.Builder clusterwide = new LabelIndex.Builder();
        private boolean anyClusterwide;
        private final Map<String, PeerAuthn> namespacePeerAuthn = new HashMap<>();
        private final Map<String, List<PeerAuthn>> workloadPeerAuthn = new HashMap<>();
        private final List<PolicyRef> refs = new ArrayList<>();
        private final List<String> warnings = new ArrayList<>();
        private final java.util.Set<String> dryRunNamespaces = new java.util.HashSet<>();

        void add(IstioPolicy p) {
            refs.add(p.ref);
            if (p.dryRun) {
                dryRunNamespaces.add(p.namespace);
            }
            boolean indexed = p.selectorKeys != null && p.selectorKeys.length > 0;
            String key = indexed ? p.selectorKeys[0] : null;
            String value = indexed ? p.selectorValues[0] : null;
            istio.computeIfAbsent(p.namespace, k -> new LabelIndex.Builder()).add(p, key, value);
        }

        void add(CiliumPolicy p, boolean firstOfObject) {
            if (firstOfObject) {
                refs.add(p.ref);
            }
            String key = null;
            String value = null;
            Selector s = p.endpointSelector;
            for (int i = 0; i < s.keys.length; i++) {
                // Namespaced policies are already bucketed by namespace: prefer a real label.
                if (!s.keys[i].equals(Selector.NAMESPACE_KEY) || (p.namespace == null && key == null)) {
                    key = s.keys[i];
                    value = s.values[i];
                    if (!key.equals(Selector.NAMESPACE_KEY)) {
                        break;
                    }
                }
            }
            if (p.namespace == null) {
                anyClusterwide = true;
                clusterwide.add(p, key, value);
            } else {
                cilium.computeIfAbsent(p.namespace, k -> new LabelIndex.Builder()).add(p, key, value);
            }
        }

        void add(PeerAuthn pa) {
            refs.add(pa.ref);
            if (pa.isWorkloadLevel()) {
                workloadPeerAuthn.computeIfAbsent(pa.namespace, k -> new ArrayList<>()).add(pa);
            } else if (namespacePeerAuthn.putIfAbsent(pa.namespace, pa) != null) {
                warnings.add(pa.ref + ": another namespace-wide PeerAuthentication in " + pa.namespace
                        + " was loaded first and wins (Istio: oldest wins)");
            }
        }

        void warn(String warning) {
            warnings.add(warning);
        }

        List<String> warnings() {
            return warnings;
        }

        public CompiledPolicies build() {
            Map<String, LabelIndex> i = new HashMap<>();
            istio.forEach((k, v) -> i.put(k, v.build()));
            Map<String, LabelIndex> c = new HashMap<>();
            cilium.forEach((k, v) -> c.put(k, v.build()));
            Map<String, PeerAuthn[]> w = new HashMap<>();
            workloadPeerAuthn.forEach((k, v) -> w.put(k, v.toArray(new PeerAuthn[0])));
            return new CompiledPolicies(i, c, anyClusterwide ? clusterwide.build() : LabelIndex.EMPTY,
                    new HashMap<>(namespacePeerAuthn), w, List.copyOf(refs), List.copyOf(warnings),
                    java.util.Set.copyOf(dryRunNamespaces));
        }
    }
}
