package io.zerohop.policy.internal;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.WorkloadRef;
import java.util.List;

/**
 * A compiled Istio AuthorizationPolicy. Immutable once built.
 *
 * <p>Two evaluations of one rule: at L7 (an {@link HttpAttributes} present) every field counts, as
 * in the Envoy RBAC istiod builds ({@code pilot/pkg/security/authz/model}); at L4 the rule is
 * what istiod's ambient conversion ({@code pilot/pkg/serviceregistry/ambient/authorization.go})
 * sends to ztunnel and ztunnel's {@code src/rbac.rs} evaluates: an ALLOW rule with an HTTP
 * attribute is dropped; otherwise each {@code from}/{@code to}/{@code when} entry keeps only its
 * L4 fields, an entry left empty never matches, and the clauses of a rule are ANDed.
 *
 * <p>This class holds the policy and its rules; a rule's entries are {@link IstioSource},
 * {@link IstioOperation} and {@link IstioCondition}, built by {@link IstioCompiler}.
 */
final class IstioPolicy {

    static final int CUSTOM = 0;
    static final int DENY = 1;
    static final int ALLOW = 2;
    static final int AUDIT = 3;

    static final StringMatch[] NO_STRINGS = new StringMatch[0];
    static final Cidr[] NO_CIDRS = new Cidr[0];
    static final int[] NO_PORTS = new int[0];
    static final String[] NO_TEXT = new String[0];
    static final PathMatch[] NO_PATHS = new PathMatch[0];

    final PolicyRef ref;
    final String namespace;
    final int action;
    final String provider;
    /** {@code istio.io/dry-run: "true"}: evaluated for the explanation and the log, never enforced. */
    final boolean dryRun;
    /** Sorted matchLabels; null for a namespace-wide (or root-namespace, mesh-wide) policy. */
    final String[] selectorKeys;
    final String[] selectorValues;
    final List<String> targetRefs;
    final Rule[] rules;
    /** For ALLOW policies: what to say when this policy applies and nothing matched. */
    final Decision noMatch;
    private final boolean hasTargetRefs;
    /** A selector key is under Cilium's prefix: it selects no workload ({@link IstioCompiler#ciliumOwned}). */
    private final boolean selectsNoPod;
    /**
     * Written {@code selector: {}}, without {@code matchLabels}: istiod's ambient index attaches it to no workload
     * ({@link CompiledPolicies} reads such an ALLOW only where no other ALLOW applies).
     */
    final boolean bareSelector;

    IstioPolicy(PolicyRef ref, String namespace, int action, String provider, boolean dryRun, String[] selectorKeys,
                String[] selectorValues, boolean bareSelector, List<String> targetRefs, Rule[] rules, Decision noMatch) {
        this.ref = ref;
        this.namespace = namespace;
        this.action = action;
        this.provider = provider;
        this.dryRun = dryRun;
        this.selectorKeys = selectorKeys;
        this.selectorValues = selectorValues;
        this.targetRefs = targetRefs;
        this.rules = rules;
        this.noMatch = noMatch;
        this.hasTargetRefs = !targetRefs.isEmpty();
        this.selectsNoPod = IstioCompiler.ciliumOwned(selectorKeys);
        this.bareSelector = bareSelector;
    }

    /**
     * This policy as a sidecar or waypoint of a mesh whose trust domain bundle is {@code bundle} matches it at L7
     * ({@link TrustDomains}): itself when no rule names a principal or trust domain, else a copy whose sources and
     * conditions are {@code withTrustDomains(bundle)}. The L4 view (ztunnel's, the values as written) is unchanged.
     */
    IstioPolicy withTrustDomains(List<String> bundle) {
        Rule[] out = null;
        for (int i = 0; i < rules.length; i++) {
            Rule r = rules[i].withTrustDomains(bundle);
            if (r != rules[i]) {
                if (out == null) {
                    out = rules.clone();
                }
                out[i] = r;
            }
        }
        return out == null ? this
                : new IstioPolicy(ref, namespace, action, provider, dryRun, selectorKeys, selectorValues, bareSelector, targetRefs, out,
                        noMatch);
    }

    boolean selects(WorkloadRef w) {
        if (hasTargetRefs) {
            // targetRefs attach to waypoints and gateways; ztunnel never enforces them on a workload.
            return false;
        }
        if (selectorKeys == null) {
            return true;
        }
        if (selectsNoPod) {
            return false;
        }
        for (int i = 0; i < selectorKeys.length; i++) {
            if (!selectorValues[i].equals(w.labels().get(selectorKeys[i]))) {
                return false;
            }
        }
        return true;
    }

    /** Whether a rule reads the request path ({@code paths} or {@code notPaths}). */
    boolean usesPaths() {
        for (Rule rule : rules) {
            for (IstioOperation o : rule.to) {
                if (o.paths.length + o.notPaths.length > 0) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether a rule's source names namespaces ({@code namespaces} or {@code notNamespaces}). */
    boolean usesNamespaces() {
        for (Rule rule : rules) {
            for (IstioSource s : rule.from) {
                if (s.namespaces.length + s.notNamespaces.length > 0) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The matching rule, or null. */
    Rule firstMatch(AccessRequest r) {
        return firstMatch(r, r.http() == null ? null : PathNormalizer.forIstio(r.http().path()));
    }

    /** As {@link #firstMatch(AccessRequest)}, {@code path} being {@link PathNormalizer#forIstio} of the request's path. */
    Rule firstMatch(AccessRequest r, String path) {
        return firstMatch(r, path, Peer.UNKNOWN);
    }

    /** {@code parts}: {@link Peer#parts} of the principal, or {@link Peer#UNKNOWN}. */
    Rule firstMatch(AccessRequest r, String path, long parts) {
        boolean l4 = r.http() == null;
        for (Rule rule : rules) {
            if (l4 ? rule.matchesL4(r, action, parts) : rule.matchesL7(r, path, parts)) {
                return rule;
            }
        }
        return null;
    }

    static final class Rule {
        final int index;
        final IstioSource[] from;
        final IstioOperation[] to;
        final IstioCondition[] when;
        /** istiod's ambient conversion found an HTTP attribute (or a when key ztunnel lacks) in this rule. */
        final boolean http;
        /**
         * A source names trust domains, which istiod's ambient conversion drops. For DENY that denies
         * more (as upstream); an ALLOW rule would admit other trust domains, so zerohop omits it at L4
         * instead (documented deviation: never wider than the policy says).
         */
        final boolean trustDomains;
        /** Same as {@link #http}; the earlier name, kept for code written against it. */
        final boolean l7;
        /** Some request could match at L4, whatever the action: no clause is left empty by omitting HTTP fields. */
        private final boolean l4Reachable;
        /** Decision when the rule matches with every field evaluated. */
        Decision decision;
        /** Decision when the rule matches at L4 with its HTTP attributes omitted (DENY only). */
        Decision l4Decision;
        /** CUSTOM only: decision when an external authorizer said no. */
        Decision customDenied;
        /**
         * CUSTOM only: decision when CUSTOM policies of more than one provider select the destination. istiod, with
         * {@code PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS} off (its default), then calls no provider and builds every
         * CUSTOM rule as a deny rule ({@code pilot/pkg/security/authz/builder/builder.go}, {@code getBadCustomDenyRules};
         * testdata {@code custom-bad-multiple-providers}).
         */
        Decision customConflict;

        Rule(int index, IstioSource[] from, IstioOperation[] to, IstioCondition[] when) {
            this.index = index;
            this.from = from;
            this.to = to;
            this.when = when;
            boolean any = false;
            boolean td = false;
            boolean fromAtL4 = from.length == 0;
            boolean toAtL4 = to.length == 0;
            boolean whenHttp = false;
            for (IstioSource s : from) {
                any |= s.http;
                td |= s.trustDomains.length + s.notTrustDomains.length > 0;
                fromAtL4 |= !s.l4Empty;
            }
            for (IstioOperation o : to) {
                any |= o.http;
                toAtL4 |= !o.l4Empty;
            }
            for (IstioCondition c : when) {
                whenHttp |= !c.l4;
            }
            any |= whenHttp;
            this.http = any;
            this.trustDomains = td;
            this.l7 = any;
            // A from (or to) whose every entry is empty at L4 never matches there; an absent one is no constraint.
            this.l4Reachable = fromAtL4 && toAtL4 && !whenHttp;
        }

        /** This rule with its sources and conditions for {@code bundle} ({@link IstioPolicy#withTrustDomains}); itself when unchanged. */
        Rule withTrustDomains(List<String> bundle) {
            IstioSource[] f = from.clone();
            IstioCondition[] w = when.clone();
            boolean changed = false;
            for (int i = 0; i < f.length; i++) {
                f[i] = from[i].withTrustDomains(bundle);
                changed |= f[i] != from[i];
            }
            for (int i = 0; i < w.length; i++) {
                w[i] = when[i].withTrustDomains(bundle);
                changed |= w[i] != when[i];
            }
            if (!changed) {
                return this;
            }
            Rule r = new Rule(index, f, to, w);
            // The L7 decision names the rewriting, since its text quotes the principals as written: "cluster.local/...
            // matched" for a peer of example.org read as a mistake. At L4 the values are matched as written.
            r.decision = decision == null ? null : new Decision(decision.allowed(), decision.outcome(), decision.policy(),
                    decision.ruleIndex(), decision.reason() + " (principals and trust domains read for the mesh's trust domains "
                    + String.join(", ", bundle) + ", as istiod rewrites them)", decision.dryRun());
            r.l4Decision = l4Decision;
            r.customDenied = customDenied;
            r.customConflict = customConflict;
            return r;
        }

        /** Whether ztunnel could ever match this rule (istiod's {@code hasEffectiveRules}, per rule). */
        boolean effectiveAtL4(int action) {
            return !omittedAtL4(action) && l4Reachable;
        }

        /** istiod: "Within an ALLOW policy, rules matching HTTP attributes are omitted" (and zerohop omits trustDomains). */
        private boolean omittedAtL4(int action) {
            return action == ALLOW && (http || trustDomains);
        }

        boolean matchesL4(AccessRequest r, int action) {
            return matchesL4(r, action, Peer.UNKNOWN);
        }

        boolean matchesL4(AccessRequest r, int action, long parts) {
            return !omittedAtL4(action) && matches(r, null, true, parts);
        }

        boolean matchesL7(AccessRequest r, String path) {
            return matchesL7(r, path, Peer.UNKNOWN);
        }

        boolean matchesL7(AccessRequest r, String path, long parts) {
            return matches(r, path, false, parts);
        }

        /**
         * The clauses ANDed, the entries of {@code from} and {@code to} ORed; at L4 ({@code l4}) each
         * entry evaluates only what ztunnel receives.
         */
        private boolean matches(AccessRequest r, String path, boolean l4, long parts) {
            if (from.length > 0) {
                boolean any = false;
                for (IstioSource s : from) {
                    if (s.matches(r, l4, parts)) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            }
            if (to.length > 0) {
                boolean any = false;
                for (IstioOperation o : to) {
                    if (o.matches(r, path, l4)) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            }
            for (IstioCondition c : when) {
                if (!c.matches(r, path, l4)) {
                    return false;
                }
            }
            return true;
        }

        /**
         * Whether this rule matches every request with {@code r}'s L4 attributes, whatever its HTTP data: some
         * {@code from} entry with no HTTP field and no trust domain, and some {@code to} entry with no HTTP field,
         * match at L4, and every {@code when} condition is one ztunnel evaluates and matches. Per entry, since the
         * entries of a clause are ORed: a DENY whose {@code to} is {@code [{paths: [/x]}, {ports: [8080]}]} denies all
         * of port 8080 (a rule-level "has HTTP fields" test missed it; new-user pass, 2 December). For
         * {@code CompiledPolicies.denialBeforeHttp}.
         */
        boolean matchesWhateverTheRequest(AccessRequest r, long parts) {
            if (from.length > 0) {
                boolean any = false;
                for (IstioSource s : from) {
                    // A principal Envoy matches migrated (another trust domain) must match both ways: at L4 as
                    // written (an opaque connection), at L7 migrated (an HTTP request).
                    if (!s.http && s.trustDomains.length + s.notTrustDomains.length == 0 && s.matches(r, true, parts)
                            && (s.principalsL7 == null || s.matches(r, false, parts))) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            }
            if (to.length > 0) {
                boolean any = false;
                for (IstioOperation o : to) {
                    if (!o.http && o.matches(r, null, true)) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            }
            for (IstioCondition c : when) {
                if (!c.l4 || !c.matches(r, null, true)
                        || (c.key == IstioCondition.SOURCE_PRINCIPAL && !c.matches(r, null, false))) {
                    return false;
                }
            }
            return true;
        }

        /**
         * Whether this rule (of a DENY policy) may match a connection to a port whose requests should have
         * been parsed as HTTP and could not be (TLS on an {@code auto} port, HTTP/2 to an embedded handler):
         * every field ztunnel evaluates as at L4, every HTTP field taken as matched, since what it would
         * have tested is unknown. A sidecar's TCP filter reads a DENY so (istiod drops a DENY rule's HTTP
         * fields for TCP, making it deny more); ztunnel's reading, which omits them and skips entries left
         * empty, would pass such a connection with the DENY unchecked.
         */
        boolean matchesUnparsed(AccessRequest r) {
            if (from.length > 0) {
                boolean any = false;
                for (IstioSource s : from) {
                    any |= s.matchesUnparsed(r);
                }
                if (!any) {
                    return false;
                }
            }
            if (to.length > 0) {
                boolean any = false;
                for (IstioOperation o : to) {
                    any |= o.matchesUnparsed(r);
                }
                if (!any) {
                    return false;
                }
            }
            for (IstioCondition c : when) {
                if (!c.matchesUnparsed(r)) {
                    return false;
                }
            }
            return true;
        }

        Decision decisionFor(AccessRequest r) {
            return r.http() == null ? l4Decision : decision;
        }
    }

    static boolean portIn(int[] ports, int port) {
        for (int p : ports) {
            if (p == port) {
                return true;
            }
        }
        return false;
    }
}
