package io.zerohop.policy.internal;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;

/**
 * The Cilium step of {@link CompiledPolicies#evaluate}: the passes over the Cilium policies selecting
 * a destination (deny, missing mutual auth, allow, default-deny enforcement, explanation).
 */
final class CiliumStep {
    private static final int C_DENY = 0;
    private static final int C_AUTH_MISSING = 1;
    private static final int C_ALLOW = 2;
    private static final int C_ENFORCING = 3;
    private static final int C_EXPLAIN = 4;

    /** {@link LabelIndex#flags} of a Cilium index: which passes its policies can answer. */
    static final int CF_DENY = 1;
    static final int CF_AUTH = 2;
    static final int CF_INGRESS = 4;
    static final int CF_ENFORCING = 8;
    /**
     * A policy with {@code enableDefaultDeny.ingress: false} and an ingress rule with {@code rules.http}: Cilium still
     * sends the peers and ports of that rule through its L7 proxy, which since 1.17 allows every request there (the HTTP
     * rules end with the allow-all, {@link CiliumPolicy.Rule#l7Open}); an L4-only check waits for the request.
     */
    static final int CF_L7_OPEN = 16;
    /**
     * An ingress rule with {@code authentication.mode: test-always-fail}: its auth pass runs for an authenticated peer
     * too, since no identity meets that mode.
     */
    static final int CF_AUTH_FAILS = 32;

    static int ciliumFlags(CiliumPolicy p) {
        int f = 0;
        if (p.ingressDeny.length > 0) {
            f |= CF_DENY;
        }
        if (p.ingress.length > 0) {
            f |= CF_INGRESS;
        }
        for (CiliumPolicy.Rule rule : p.ingress) {
            if (rule.authRequired) {
                f |= CF_AUTH;
            }
            if (rule.authAlwaysFails) {
                f |= CF_AUTH_FAILS;
            }
        }
        if (p.ingressDefaultDeny) {
            f |= CF_ENFORCING;
        } else {
            for (CiliumPolicy.Rule rule : p.ingress) {
                if (rule.l7Open) {
                    f |= CF_L7_OPEN;
                }
            }
        }
        return f;
    }

    private static int ciliumFlag(int mode) {
        return switch (mode) {
            case C_DENY -> CF_DENY;
            case C_AUTH_MISSING -> CF_AUTH;
            case C_ENFORCING -> CF_ENFORCING;
            default -> CF_INGRESS;
        };
    }

    /** Cilium step; null when no Cilium policy selects the destination for ingress enforcement. */
    static Decision decide(AccessRequest r, CompiledPolicies.Selected sel) {
        return decide(r, sel, Peer.UNKNOWN);
    }

    /** {@code parts}: {@link Peer#parts} of the principal, or {@link Peer#UNKNOWN}. */
    static Decision decide(AccessRequest r, CompiledPolicies.Selected sel, long parts) {
        return decide(r, sel, parts, false);
    }

    /**
     * {@link #decide(AccessRequest, CompiledPolicies.Selected, long)}, {@code plainPath} true when
     * {@link PathNormalizer#plain} said so of the request's path (the allow pass then reads it as sent).
     */
    static Decision decide(AccessRequest r, CompiledPolicies.Selected sel, long parts, boolean plainPath) {
        if (!sel.ciliumInScope) {
            return null;
        }
        CiliumPolicy[] n = sel.ciliumNs;
        CiliumPolicy[] c = sel.ciliumCw;
        int flags = sel.ciliumFlags;
        String principal = r.sourcePrincipal();
        Decision denied = denyPasses(r, sel, parts);
        if (denied != null) {
            return denied;
        }
        if ((flags & CF_INGRESS) != 0) {
            Decision d = allowScan(n, r, principal, parts, plainPath);
            if (d == null) {
                d = allowScan(c, r, principal, parts, plainPath);
            }
            if (d != null) {
                return d;
            }
        }
        if ((flags & CF_ENFORCING) == 0) {
            return openDecision(r, sel, parts);
        }
        Decision enforcing = ciliumScan(n, r, C_ENFORCING, parts);
        if (enforcing == null) {
            enforcing = ciliumScan(c, r, C_ENFORCING, parts);
        }
        if (enforcing == null) {
            return null;
        }
        Decision why = null;
        if ((flags & CF_INGRESS) != 0) {
            why = ciliumScan(n, r, C_EXPLAIN, parts);
            if (why == null) {
                why = ciliumScan(c, r, C_EXPLAIN, parts);
            }
        }
        return why != null ? why : enforcing;
    }

    /**
     * The endpoint is selected, but no selecting policy turns on ingress default deny ({@code enableDefaultDeny.ingress:
     * false} in each): Cilium's {@code computePolicyEnforcementAndRules} (pkg/policy/repository.go) then adds an
     * allow-all rule ({@code fromEntities: [all]}, no ports). A peer and port that some ingress rule with
     * {@code rules.http} selects still go through the proxy, whose rules end with the allow-all there
     * ({@code ensureWildcard}, since Cilium 1.17): the allow pass has allowed any request of it already, and an L4-only
     * check of it waits for the request. Null only when no selecting policy has an ingress section (all are open anyway).
     */
    private static Decision openDecision(AccessRequest r, CompiledPolicies.Selected sel, long parts) {
        if ((sel.ciliumFlags & CF_L7_OPEN) != 0) {
            Decision d = l7Scan(sel.ciliumNs, r, parts);
            if (d == null) {
                d = l7Scan(sel.ciliumCw, r, parts);
            }
            if (d != null) {
                return d;
            }
        }
        CiliumPolicy first = sel.ciliumNs.length > 0 ? sel.ciliumNs[0] : sel.ciliumCw.length > 0 ? sel.ciliumCw[0] : null;
        return first == null ? null : first.openAllowed;
    }

    private static Decision l7Scan(CiliumPolicy[] selecting, AccessRequest r, long parts) {
        if (r.http() != null) {
            return null; // the allow pass allowed any request such a rule selects (its HTTP rules end with the allow-all)
        }
        for (CiliumPolicy p : selecting) {
            if ((p.flags & CF_L7_OPEN) == 0) {
                continue;
            }
            for (CiliumPolicy.Rule rule : p.ingress) {
                if (rule.l7Open && rule.coversPortWithHttp(r) && rule.matchesPeer(r, parts)) {
                    return rule.needsL7;
                }
            }
        }
        return null;
    }

    /**
     * Deny, then missing mutual auth: the passes before the allow pass, which no HTTP data can change (Cilium's
     * {@code ingressDeny} has no L7 rules); a pass no selecting policy can answer is skipped (auth also when the
     * peer is authenticated). The denial, or null.
     */
    private static Decision denyPasses(AccessRequest r, CompiledPolicies.Selected sel, long parts) {
        int flags = sel.ciliumFlags;
        String principal = r.sourcePrincipal();
        boolean authPass = (flags & CF_AUTH) != 0 && (principal == null || (flags & CF_AUTH_FAILS) != 0);
        if ((flags & CF_DENY) == 0 && !authPass) {
            return null;
        }
        for (int mode = C_DENY; mode <= C_AUTH_MISSING; mode++) {
            if ((flags & ciliumFlag(mode)) == 0 || (mode == C_AUTH_MISSING && !authPass)) {
                continue;
            }
            Decision d = ciliumScan(sel.ciliumNs, r, mode, parts);
            if (d == null) {
                d = ciliumScan(sel.ciliumCw, r, mode, parts);
            }
            if (d != null) {
                return d;
            }
        }
        return null;
    }

    /**
     * For an L4 request whose HTTP data is not read yet ({@code CompiledPolicies.denialBeforeHttp}): the Cilium
     * denial every request with these L4 attributes would get, or null. The deny passes decide alone; a default
     * deny holds only when no ingress rule that matches the peer and the port through {@code rules.http}
     * ({@link CiliumPolicy#PORT_NEEDS_L7}) could accept the peer's authentication, since its HTTP rule may match.
     */
    static Decision certainDenial(AccessRequest r, CompiledPolicies.Selected sel, long parts) {
        if (!sel.ciliumInScope) {
            return null;
        }
        Decision denied = denyPasses(r, sel, parts);
        if (denied != null) {
            return denied;
        }
        Decision d = decide(r, sel, parts);
        if (d == null || d.allowed() || mayAllowWithHttp(sel.ciliumNs, r, parts) || mayAllowWithHttp(sel.ciliumCw, r, parts)) {
            return null;
        }
        return d;
    }

    private static boolean mayAllowWithHttp(CiliumPolicy[] selecting, AccessRequest r, long parts) {
        String principal = r.sourcePrincipal();
        for (CiliumPolicy p : selecting) {
            for (CiliumPolicy.Rule rule : p.ingress) {
                if (rule.matchesPeer(r, parts) && rule.matchesPort(r) == CiliumPolicy.PORT_NEEDS_L7
                        && (!rule.authRequired || (principal != null && rule.spiffeAccepts(principal)))) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The allow pass over one index's selecting policies. */
    private static Decision allowScan(CiliumPolicy[] selecting, AccessRequest r, String principal, long parts,
                                      boolean plainPath) {
        for (CiliumPolicy p : selecting) {
            if ((p.flags & CF_INGRESS) != 0) {
                Decision d = allow(p, r, principal, parts, plainPath);
                if (d != null) {
                    return d;
                }
            }
        }
        return null;
    }

    private static Decision ciliumScan(CiliumPolicy[] selecting, AccessRequest r, int mode, long parts) {
        for (CiliumPolicy p : selecting) {
            Decision d = mode == C_ALLOW ? ((p.flags & CF_INGRESS) == 0 ? null : allow(p, r, r.sourcePrincipal(), parts, false))
                    : ciliumCheck(p, r, mode, parts);
            if (d != null) {
                return d;
            }
        }
        return null;
    }

    private static Decision ciliumCheck(CiliumPolicy p, AccessRequest r, int mode, long parts) {
        // A policy without rules for this pass answers nothing. Its selector was matched when the
        // destination's policies were selected.
        if ((p.flags & ciliumFlag(mode)) == 0) {
            return null;
        }
        String principal = r.sourcePrincipal();
        switch (mode) {
            case C_DENY:
                for (CiliumPolicy.Rule rule : p.ingressDeny) {
                    int port = rule.matchesPort(r);
                    if (port != CiliumPolicy.PORT_MATCH && port != CiliumPolicy.PORT_NAME_UNKNOWN) {
                        continue;
                    }
                    if (rule.matchesPeer(r, parts)) {
                        // A named port on a destination whose container ports are unknown may be this port: fail closed.
                        return port == CiliumPolicy.PORT_MATCH ? rule.matched : rule.namedPortUnknownDenied;
                    }
                    Decision unknown = rule.unknownPeer(r, parts);
                    if (unknown != null) {
                        return unknown;
                    }
                }
                return null;
            case C_AUTH_MISSING:
                // One unmet mode of a rule that matches the peer and the port denies, whatever broader or narrower rule
                // allows the same flow: "required" for a peer without a SPIFFE identity, test-always-fail for every peer.
                // Cilium picks one policy-map entry per identity and port and keeps an explicit mode of the one it picks
                // (pkg/policy/mapstate.go authPreferredInsert, bpf/lib/policy.h), a broader key's mode reaching only keys of
                // the same identity, so where the peer's own entry wins there without a mode (a rule on its identity beside a
                // fromEntities [all] required: Test_MergeL3 case 5) or with "disabled", this is stricter, never wider
                // (mesh-policy README, "authentication").
                // The entry is per port, not per request: a rule's rules.http do not narrow it (Cilium drops the flow
                // before its L7 proxy), and a named port the destination may have is taken to be this port (fail closed).
                // A test-always-fail rule that may select a peer whose labels are unknown denies it, as an ingressDeny does.
                for (CiliumPolicy.Rule rule : p.ingress) {
                    if (!rule.authRequired || principal != null && !rule.authAlwaysFails) {
                        continue;
                    }
                    int covers = rule.portCoverage(r);
                    if (covers == CiliumPolicy.COVERS_NO) {
                        continue;
                    }
                    if (rule.matchesPeer(r, parts)) {
                        if (covers == CiliumPolicy.COVERS_YES) {
                            return principal == null ? rule.authMissing : rule.spiffeRejected;
                        }
                        return principal == null ? rule.authMissingNamedPort : rule.spiffeRejectedNamedPort;
                    }
                    Decision unknown = rule.unknownPeer(r, parts);
                    if (unknown != null) {
                        return unknown;
                    }
                }
                return null;
            case C_ALLOW:
                return allow(p, r, principal, parts, false);
            case C_ENFORCING:
                return p.ingressDefaultDeny ? p.defaultDeny(r) : null;
            default:
                for (CiliumPolicy.Rule rule : p.ingress) {
                    if (!rule.matchesPeer(r, parts)) {
                        continue;
                    }
                    int port = rule.matchesPort(r);
                    // An identity the rule's authentication refuses is the reason whatever HTTP data would show: named
                    // first (a new-user pass read "no HTTP attributes were given" for a caller that sent HTTP and was
                    // refused for its identity, the seed article's point).
                    if ((port == CiliumPolicy.PORT_MATCH || port == CiliumPolicy.PORT_NEEDS_L7
                            || port == CiliumPolicy.PORT_NO_MATCH && r.http() != null && rule.coversPortWithHttp(r))
                            && rule.authRequired && principal != null && !rule.spiffeAccepts(principal)) {
                        // Also before "the request matches none of its rules.http" (a GET where only POST is allowed):
                        // no request of this identity passes the rule, whatever its method or path.
                        return rule.spiffeRejected;
                    }
                    if (port == CiliumPolicy.PORT_NEEDS_L7) {
                        return rule.needsL7;
                    }
                }
                return null;
        }
    }

    /** The allow pass, the one every allowed request runs: small enough for the JIT to inline. */
    private static Decision allow(CiliumPolicy p, AccessRequest r, String principal, long parts, boolean plainPath) {
        for (CiliumPolicy.Rule rule : p.ingress) {
            if (rule.matchesPeer(r, parts) && rule.matchesPort(r, plainPath) == CiliumPolicy.PORT_MATCH
                    && (!rule.authRequired || (principal != null && rule.spiffeAccepts(principal)))) {
                return rule.matched;
            }
        }
        return null;
    }

    private CiliumStep() {}
}
