package io.zerohop.policy.internal;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.WorkloadRef;
import java.util.List;

/** A compiled Istio AuthorizationPolicy. Immutable once built. */
final class IstioPolicy {

    static final int CUSTOM = 0;
    static final int DENY = 1;
    static final int ALLOW = 2;
    static final int AUDIT = 3;

    static final StringMatch[] NO_STRINGS = new StringMatch[0];
    static final Cidr[] NO_CIDRS = new Cidr[0];
    static final int[] NO_PORTS = new int[0];
    static final String[] NO_TEXT = new String[0];

    final PolicyRef ref;
    final String namespace;
    final int action;
    final String provider;
    /** Sorted matchLabels; null for a namespace-wide (or root-namespace, mesh-wide) policy. */
    final String[] selectorKeys;
    final String[] selectorValues;
    final List<String> targetRefs;
    final Rule[] rules;
    /** For ALLOW policies: what to say when this policy applies and nothing matched. */
    final Decision noMatch;

    IstioPolicy(PolicyRef ref, String namespace, int action, String provider, String[] selectorKeys,
                String[] selectorValues, List<String> targetRefs, Rule[] rules, Decision noMatch) {
        this.ref = ref;
        this.namespace = namespace;
        this.action = action;
        this.provider = provider;
        this.selectorKeys = selectorKeys;
        this.selectorValues = selectorValues;
        this.targetRefs = targetRefs;
        this.rules = rules;
        this.noMatch = noMatch;
    }

    boolean selects(WorkloadRef w) {
        if (!targetRefs.isEmpty()) {
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
        boolean l4 = r.http() == null;
        for (Rule rule : rules) {
            if (l4 && rule.l7 && action == ALLOW) {
                // ztunnel: an ALLOW rule with HTTP attributes is dropped, so it matches nothing.
                continue;
            }
            if (rule.matches(r, l4)) {
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
        final boolean l7;
        /** Decision when the rule matches with every field evaluated. */
        Decision decision;
        /** Decision when a DENY/CUSTOM rule with HTTP fields matches at L4 (fields ignored). */
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
                any |= s.l7;
            }
            for (Operation o : to) {
                any |= o.l7;
            }
            for (Condition c : when) {
                any |= c.l7;
            }
            this.l7 = any;
        }

        boolean matches(AccessRequest r, boolean l4) {
            if (from.length > 0) {
                boolean any = false;
                for (Source s : from) {
                    if (s.matches(r, l4)) {
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
                    if (o.matches(r, l4)) {
                        any = true;
                        break;
                    }
                }
                if (!any) {
                    return false;
                }
            }
            for (Condition c : when) {
                if (!c.matches(r, l4)) {
                    return false;
                }
            }
            return true;
        }

        Decision decisionFor(AccessRequest r) {
            return r.http() == null && l7 ? l4Decision : decision;
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
        Cidr[] ipBlocks = NO_CIDRS;
        Cidr[] notIpBlocks = NO_CIDRS;
        Cidr[] remoteIpBlocks = NO_CIDRS;
        Cidr[] notRemoteIpBlocks = NO_CIDRS;
        StringMatch[] requestPrincipals = NO_STRINGS;
        StringMatch[] notRequestPrincipals = NO_STRINGS;
        boolean l7;

        boolean matches(AccessRequest r, boolean l4) {
            if (principals.length > 0 && !principalAny(principals, r.sourcePrincipal())) {
                return false;
            }
            if (notPrincipals.length > 0 && principalAny(notPrincipals, r.sourcePrincipal())) {
                return false;
            }
            if (namespaces.length > 0 && !namespaceAny(namespaces, r.sourcePrincipal())) {
                return false;
            }
            if (notNamespaces.length > 0 && namespaceAny(notNamespaces, r.sourcePrincipal())) {
                return false;
            }
            if (saName.length > 0 && !serviceAccountAny(saNamespace, saName, r.sourcePrincipal())) {
                return false;
            }
            if (notSaName.length > 0 && serviceAccountAny(notSaNamespace, notSaName, r.sourcePrincipal())) {
                return false;
            }
            if (ipBlocks.length > 0 && !Cidr.any(ipBlocks, r.sourceAddress())) {
                return false;
            }
            if (notIpBlocks.length > 0 && Cidr.any(notIpBlocks, r.sourceAddress())) {
                return false;
            }
            if (l4) {
                // Only DENY/CUSTOM rules get here with L7 fields: ignoring them denies more (fail closed).
                return true;
            }
            // Without X-Forwarded-For handling the remote address is the peer address, as Envoy's default.
            if (remoteIpBlocks.length > 0 && !Cidr.any(remoteIpBlocks, r.sourceAddress())) {
                return false;
            }
            if (notRemoteIpBlocks.length > 0 && Cidr.any(notRemoteIpBlocks, r.sourceAddress())) {
                return false;
            }
            // No request authentication (JWT) is performed, so the request principal is absent.
            if (requestPrincipals.length > 0) {
                return false;
            }
            return true;
        }
    }

    /** Istio principals are SPIFFE IDs without the scheme; a peer without one never matches. */
    static boolean principalAny(StringMatch[] ms, String principal) {
        if (principal == null) {
            return false;
        }
        return StringMatch.any(ms, principal, Peer.SCHEME, principal.length());
    }

    static boolean namespaceAny(StringMatch[] ms, String principal) {
        int s = Peer.nsStart(principal);
        int e = Peer.nsEnd(principal, s);
        if (e < 0) {
            return false;
        }
        return StringMatch.any(ms, principal, s, e);
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
        StringMatch[] paths = NO_STRINGS;
        StringMatch[] notPaths = NO_STRINGS;
        boolean l7;

        boolean matches(AccessRequest r, boolean l4) {
            int port = r.destinationPort();
            if (ports.length > 0 && !portIn(ports, port)) {
                return false;
            }
            if (notPorts.length > 0 && portIn(notPorts, port)) {
                return false;
            }
            if (l4) {
                return true;
            }
            HttpAttributes h = r.http();
            if (hosts.length > 0 && !StringMatch.any(hosts, h.host())) {
                return false;
            }
            if (notHosts.length > 0 && StringMatch.any(notHosts, h.host())) {
                return false;
            }
            if (methods.length > 0 && !StringMatch.any(methods, h.method())) {
                return false;
            }
            if (notMethods.length > 0 && StringMatch.any(notMethods, h.method())) {
                return false;
            }
            if (paths.length > 0 && !StringMatch.any(paths, h.path())) {
                return false;
            }
            return notPaths.length == 0 || !StringMatch.any(notPaths, h.path());
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
        /** request.auth.*: no JWT authentication is done, so always absent. */
        static final int REQUEST_AUTH = 8;

        final int key;
        final String header;
        final boolean l7;
        StringMatch[] values = NO_STRINGS;
        StringMatch[] notValues = NO_STRINGS;
        Cidr[] cidrs = NO_CIDRS;
        Cidr[] notCidrs = NO_CIDRS;
        int[] ports = NO_PORTS;
        int[] notPorts = NO_PORTS;
        boolean hasValues;
        boolean hasNotValues;

        Condition(int key, String header) {
            this.key = key;
            this.header = header;
            this.l7 = !(key == SOURCE_IP || key == SOURCE_NAMESPACE || key == SOURCE_PRINCIPAL
                    || key == DESTINATION_IP || key == DESTINATION_PORT);
        }

        boolean matches(AccessRequest r, boolean l4) {
            if (l4 && l7) {
                return true;
            }
            if (hasValues && !test(r, false)) {
                return false;
            }
            return !hasNotValues || !test(r, true);
        }

        private boolean test(AccessRequest r, boolean negative) {
            StringMatch[] sm = negative ? notValues : values;
            switch (key) {
                case SOURCE_IP:
                    return Cidr.any(negative ? notCidrs : cidrs, r.sourceAddress());
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
                case CONNECTION_SNI:
                    return StringMatch.any(sm, r.sni());
                case REQUEST_HEADER:
                    return StringMatch.any(sm, r.http().header(header));
                default:
                    return false;
            }
        }
    }

}
