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

    IstioPolicy(PolicyRef ref, String namespace, int action, String provider, boolean dryRun, String[] selectorKeys,
                String[] selectorValues, List<String> targetRefs, Rule[] rules, Decision noMatch) {
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
    }

    boolean selects(WorkloadRef w) {
        if (hasTargetRefs) {
            // targetRefs attach to waypoints and gateways; ztunnel never enforces them on a workload.
            return false;
        }
        if (selectorKeys == null) {
            return true;
        }
        for (int i = 0; i < selectorKeys.length; i++) {
            if (!selectorValues[i].equals(w.labels().get(selectorKeys[i]))) {
                return false;
            }
        }
        return true;
    }

    /** The matching rule, or null. */
    Rule firstMatch(AccessRequest r) {
        return firstMatch(r, r.http() == null ? null : PathNormalizer.forIstio(r.http().path()));
    }

    /** As {@link #firstMatch(AccessRequest)}, {@code path} being {@link PathNormalizer#forIstio} of the request's path. */
    Rule firstMatch(AccessRequest r, String path) {
        boolean l4 = r.http() == null;
        for (Rule rule : rules) {
            if (l4 ? rule.matchesL4(r, action) : rule.matchesL7(r, path)) {
                return rule;
            }
        }
        return null;
    }

    static final class Rule {
        final int index;
        final Source[] from;
        final Operation[] to;
        final Condition[] when;
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
        /** Decision when the rule matches with every field evaluated. */
        Decision decision;
        /** Decision when the rule matches at L4 with its HTTP attributes omitted (DENY only). */
        Decision l4Decision;
        /** CUSTOM only: decision when an external authorizer said no. */
        Decision customDenied;

        Rule(int index, Source[] from, Operation[] to, Condition[] when) {
            this.index = index;
            this.from = from;
            this.to = to;
            this.when = when;
            boolean any = false;
            for (Source s : from) {
                any |= s.http;
            }
            for (Operation o : to) {
                any |= o.http;
            }
            for (Condition c : when) {
                any |= !c.l4;
            }
            this.http = any;
            boolean td = false;
            for (Source s : from) {
                td |= s.trustDomains.length + s.notTrustDomains.length > 0;
            }
            this.trustDomains = td;
            this.l7 = any;
        }

        /** Whether ztunnel could ever match this rule (istiod's {@code hasEffectiveRules}, per rule). */
        boolean effectiveAtL4(int action) {
            if (action == ALLOW && (http || trustDomains)) {
                return false;
            }
            if (from.length > 0) {
                boolean any = false;
                for (Source s : from) {
                    any |= !s.l4Empty;
                }
                if (!any) {
                    return false;
                }
            }
            if (to.length > 0) {
                boolean any = false;
                for (Operation o : to) {
                    any |= !o.l4Empty;
                }
                if (!any) {
                    return false;
                }
            }
            for (Condition c : when) {
                if (!c.l4) {
                    return false;
                }
            }
            return true;
        }

        boolean matchesL4(AccessRequest r, int action) {
            if (action == ALLOW && (http || trustDomains)) {
                // istiod: "Within an ALLOW policy, rules matching HTTP attributes are omitted".
                return false;
            }
            if (from.length > 0) {
                boolean any = false;
                for (Source s : from) {
                    // ztunnel skips an empty match: a source with only HTTP fields never matches.
                    if (!s.l4Empty && s.matchesL4(r)) {
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
                for (Operation o : to) {
                    if (!o.l4Empty && o.matchesPorts(r)) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            }
            for (Condition c : when) {
                // Each when entry is its own clause; a key ztunnel lacks is an empty match: never.
                if (!c.l4 || !c.matches(r, null)) {
                    return false;
                }
            }
            return true;
        }

        boolean matchesL7(AccessRequest r, String path) {
            if (from.length > 0) {
                boolean any = false;
                for (Source s : from) {
                    if (s.matchesL4(r) && s.matchesL7Only(r)) {
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
                for (Operation o : to) {
                    if (o.matchesPorts(r) && o.matchesHttp(r.http(), path)) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            }
            for (Condition c : when) {
                if (!c.matches(r, path)) {
                    return false;
                }
            }
            return true;
        }

        Decision decisionFor(AccessRequest r) {
            return r.http() == null ? l4Decision : decision;
        }
    }

    static final class Source {
        StringMatch[] principals = NO_STRINGS;
        StringMatch[] notPrincipals = NO_STRINGS;
        StringMatch[] namespaces = NO_STRINGS;
        StringMatch[] notNamespaces = NO_STRINGS;
        String[] saNamespace = NO_TEXT;
        String[] saName = NO_TEXT;
        String[] notSaNamespace = NO_TEXT;
        String[] notSaName = NO_TEXT;
        StringMatch[] trustDomains = NO_STRINGS;
        StringMatch[] notTrustDomains = NO_STRINGS;
        Cidr[] ipBlocks = NO_CIDRS;
        Cidr[] notIpBlocks = NO_CIDRS;
        Cidr[] remoteIpBlocks = NO_CIDRS;
        Cidr[] notRemoteIpBlocks = NO_CIDRS;
        StringMatch[] requestPrincipals = NO_STRINGS;
        StringMatch[] notRequestPrincipals = NO_STRINGS;
        /** Has an HTTP attribute: remoteIpBlocks, requestPrincipals or their not* forms. */
        boolean http;
        /** Same as {@link #http}; the earlier name, kept for code written against it. */
        boolean l7;
        /** Nothing ztunnel receives (istiod's conversion has no trust-domain field either). */
        boolean l4Empty;

        void finish() {
            http = remoteIpBlocks.length + notRemoteIpBlocks.length + requestPrincipals.length
                    + notRequestPrincipals.length > 0;
            l7 = http;
            l4Empty = principals.length + notPrincipals.length + namespaces.length + notNamespaces.length
                    + saName.length + notSaName.length + ipBlocks.length + notIpBlocks.length == 0;
        }

        /** The fields ztunnel evaluates. */
        boolean matchesL4(AccessRequest r) {
            String p = r.sourcePrincipal();
            if (principals.length > 0 && !principalAny(principals, p)) {
                return false;
            }
            if (notPrincipals.length > 0 && principalAny(notPrincipals, p)) {
                return false;
            }
            if (namespaces.length > 0 && !namespaceAny(namespaces, p)) {
                return false;
            }
            if (notNamespaces.length > 0 && namespaceAny(notNamespaces, p)) {
                return false;
            }
            if (saName.length > 0 && !serviceAccountAny(saNamespace, saName, p)) {
                return false;
            }
            if (notSaName.length > 0 && serviceAccountAny(notSaNamespace, notSaName, p)) {
                return false;
            }
            if (ipBlocks.length > 0 && !Cidr.any(ipBlocks, r.sourceAddress())) {
                return false;
            }
            return notIpBlocks.length == 0 || !Cidr.any(notIpBlocks, r.sourceAddress());
        }

        /** The fields only Envoy evaluates. */
        boolean matchesL7Only(AccessRequest r) {
            String p = r.sourcePrincipal();
            if (trustDomains.length > 0 && !trustDomainAny(trustDomains, p)) {
                return false;
            }
            if (notTrustDomains.length > 0 && trustDomainAny(notTrustDomains, p)) {
                return false;
            }
            // Without X-Forwarded-For handling the remote address is the peer address, as Envoy's default.
            if (remoteIpBlocks.length > 0 && !Cidr.any(remoteIpBlocks, r.sourceAddress())) {
                return false;
            }
            if (notRemoteIpBlocks.length > 0 && Cidr.any(notRemoteIpBlocks, r.sourceAddress())) {
                return false;
            }
            // No request authentication (JWT) is performed, so the request principal is absent.
            return requestPrincipals.length == 0;
        }
    }

    /** Istio principals are SPIFFE IDs without the scheme; a peer without one never matches. */
    static boolean principalAny(StringMatch[] ms, String principal) {
        if (principal == null) {
            return false;
        }
        return StringMatch.anyPrincipal(ms, principal);
    }

    static boolean namespaceAny(StringMatch[] ms, String principal) {
        int s = Peer.nsStart(principal);
        int e = Peer.nsEnd(principal, s);
        if (e < 0) {
            return false;
        }
        return StringMatch.any(ms, principal, s, e);
    }

    /** istiod's trust-domain generator: the SPIFFE ID's authority, wildcards within it only. */
    static boolean trustDomainAny(StringMatch[] ms, String principal) {
        if (principal == null) {
            return false;
        }
        int end = Peer.tdEnd(principal);
        if (end >= principal.length()) {
            return false;
        }
        return StringMatch.any(ms, principal, Peer.SCHEME, end);
    }

    static boolean serviceAccountAny(String[] nss, String[] sas, String principal) {
        int s = Peer.nsStart(principal);
        int e = Peer.nsEnd(principal, s);
        if (e < 0) {
            return false;
        }
        int saStart = e + 4;
        for (int i = 0; i < sas.length; i++) {
            if (Peer.regionEquals(principal, s, e, nss[i]) && Peer.regionEquals(principal, saStart, principal.length(), sas[i])) {
                return true;
            }
        }
        return false;
    }

    static boolean portIn(int[] ports, int port) {
        for (int p : ports) {
            if (p == port) {
                return true;
            }
        }
        return false;
    }

    static final class Operation {
        int[] ports = NO_PORTS;
        int[] notPorts = NO_PORTS;
        StringMatch[] hosts = NO_STRINGS;
        StringMatch[] notHosts = NO_STRINGS;
        StringMatch[] methods = NO_STRINGS;
        StringMatch[] notMethods = NO_STRINGS;
        PathMatch[] paths = NO_PATHS;
        PathMatch[] notPaths = NO_PATHS;
        boolean http;
        /** Same as {@link #http}; the earlier name, kept for code written against it. */
        boolean l7;
        boolean l4Empty;

        void finish() {
            l7 = hosts.length + notHosts.length + methods.length + notMethods.length + paths.length + notPaths.length > 0;
            http = hosts.length + notHosts.length + methods.length + notMethods.length + paths.length + notPaths.length > 0;
            l4Empty = ports.length + notPorts.length == 0;
        }

        boolean matchesPorts(AccessRequest r) {
            int port = r.destinationPort();
            if (ports.length > 0 && !portIn(ports, port)) {
                return false;
            }
            return notPorts.length == 0 || !portIn(notPorts, port);
        }

        /** {@code path}: the request path normalised as Envoy does for Istio, null if it cannot be. */
        boolean matchesHttp(HttpAttributes h, String path) {
            if (hosts.length > 0 && !StringMatch.any(hosts, h.host())) {
                return false;
            }
            if (notHosts.length > 0 && StringMatch.any(notHosts, h.host())) {
                return false;
            }
            // Methods are compared as sent: "post" is not POST.
            if (methods.length > 0 && !StringMatch.any(methods, h.method())) {
                return false;
            }
            if (notMethods.length > 0 && StringMatch.any(notMethods, h.method())) {
                return false;
            }
            if (paths.length > 0 && !PathMatch.any(paths, path)) {
                return false;
            }
            return notPaths.length == 0 || (path != null && !PathMatch.any(notPaths, path));
        }
    }

    /** A {@code when} condition. Keys are resolved to an int at compile time. */
    static final class Condition {
        static final int SOURCE_IP = 0;
        static final int SOURCE_NAMESPACE = 1;
        static final int SOURCE_PRINCIPAL = 2;
        static final int DESTINATION_IP = 3;
        static final int DESTINATION_PORT = 4;
        static final int REMOTE_IP = 5;
        static final int CONNECTION_SNI = 6;
        static final int REQUEST_HEADER = 7;
        /** request.auth.*, experimental.envoy.filters.*: no JWT or filter metadata here, so always absent. */
        static final int ABSENT = 8;
        static final int SOURCE_SERVICE_ACCOUNT = 9;
        static final int SOURCE_TRUST_DOMAIN = 10;

        final int key;
        final String header;
        /** One of the five keys istiod's ambient conversion passes to ztunnel. */
        final boolean l4;
        /** {@code !l4}; the earlier name, kept for code written against it. */
        final boolean l7;
        StringMatch[] values = NO_STRINGS;
        StringMatch[] notValues = NO_STRINGS;
        Cidr[] cidrs = NO_CIDRS;
        Cidr[] notCidrs = NO_CIDRS;
        int[] ports = NO_PORTS;
        int[] notPorts = NO_PORTS;
        String[] saNamespace = NO_TEXT;
        String[] saName = NO_TEXT;
        String[] notSaNamespace = NO_TEXT;
        String[] notSaName = NO_TEXT;
        boolean hasValues;
        boolean hasNotValues;

        Condition(int key, String header) {
            this.key = key;
            this.header = header;
            this.l4 = key == SOURCE_IP || key == SOURCE_NAMESPACE || key == SOURCE_PRINCIPAL
                    || key == DESTINATION_IP || key == DESTINATION_PORT;
            this.l7 = !l4;
        }

        boolean matches(AccessRequest r, String path) {
            if (hasValues && !test(r, false)) {
                return false;
            }
            return !hasNotValues || !test(r, true);
        }

        private boolean test(AccessRequest r, boolean negative) {
            StringMatch[] sm = negative ? notValues : values;
            switch (key) {
                case SOURCE_IP:
                case REMOTE_IP:
                    return Cidr.any(negative ? notCidrs : cidrs, r.sourceAddress());
                case DESTINATION_IP:
                    return Cidr.any(negative ? notCidrs : cidrs, r.destinationAddress());
                case DESTINATION_PORT:
                    return portIn(negative ? notPorts : ports, r.destinationPort());
                case SOURCE_NAMESPACE:
                    return namespaceAny(sm, r.sourcePrincipal());
                case SOURCE_PRINCIPAL:
                    return principalAny(sm, r.sourcePrincipal());
                case SOURCE_TRUST_DOMAIN:
                    return trustDomainAny(sm, r.sourcePrincipal());
                case SOURCE_SERVICE_ACCOUNT:
                    return negative ? serviceAccountAny(notSaNamespace, notSaName, r.sourcePrincipal())
                            : serviceAccountAny(saNamespace, saName, r.sourcePrincipal());
                case CONNECTION_SNI:
                    return StringMatch.any(sm, r.sni());
                case REQUEST_HEADER:
                    return r.http() != null && StringMatch.any(sm, r.http().header(header));
                default:
                    return false;
            }
        }
    }
}
