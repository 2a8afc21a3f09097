package io.zerohop.policy.internal;

import static io.zerohop.policy.internal.IstioPolicy.NO_CIDRS;
import static io.zerohop.policy.internal.IstioPolicy.NO_STRINGS;

import io.zerohop.policy.AccessRequest;

/**
 * One {@code from.source} of an Istio AuthorizationPolicy rule, compiled, and the matching of
 * Istio's {@code source.*} attributes against a SPIFFE principal (as the principal, namespace,
 * service-account and trust-domain matchers istiod generates, {@code pilot/pkg/security/authz/model}
 * generator.go). {@link #matchesL4} covers the fields ztunnel receives ({@code src/rbac.rs}),
 * {@link #matchesL7Only} the rest, which only Envoy evaluates.
 */
final class IstioSource implements Cloneable {
    StringMatch[] principals = NO_STRINGS;
    StringMatch[] notPrincipals = NO_STRINGS;
    StringMatch[] namespaces = NO_STRINGS;
    StringMatch[] notNamespaces = NO_STRINGS;
    IstioServiceAccounts serviceAccounts = IstioServiceAccounts.NONE;
    IstioServiceAccounts notServiceAccounts = IstioServiceAccounts.NONE;
    StringMatch[] trustDomains = NO_STRINGS;
    StringMatch[] notTrustDomains = NO_STRINGS;
    Cidr[] ipBlocks = NO_CIDRS;
    Cidr[] notIpBlocks = NO_CIDRS;
    Cidr[] remoteIpBlocks = NO_CIDRS;
    Cidr[] notRemoteIpBlocks = NO_CIDRS;
    StringMatch[] requestPrincipals = NO_STRINGS;
    StringMatch[] notRequestPrincipals = NO_STRINGS;
    /** {@link #requestPrincipals} and {@link #notRequestPrincipals} as istiod's generator matches them ({@link RequestAuthMatch}). */
    RequestAuthMatch.Principal[] requestPrincipalMatch = RequestAuthMatch.NO_PRINCIPALS;
    RequestAuthMatch.Principal[] notRequestPrincipalMatch = RequestAuthMatch.NO_PRINCIPALS;
    /**
     * What Envoy matches for {@link #principals} and {@link #notPrincipals} after istiod's trust-domain migration
     * ({@link TrustDomains}), when that differs from the values as written (which ztunnel gets); null otherwise.
     */
    StringMatch[] principalsL7;
    StringMatch[] notPrincipalsL7;
    /** The values as written, which {@link #withTrustDomains} migrates for another bundle. */
    java.util.List<String> principalsWritten = java.util.List.of();
    java.util.List<String> notPrincipalsWritten = java.util.List.of();
    java.util.List<String> trustDomainsWritten = java.util.List.of();
    java.util.List<String> notTrustDomainsWritten = java.util.List.of();
    /** Has an HTTP attribute: remoteIpBlocks, requestPrincipals or their not* forms. */
    boolean http;
    /** Same as {@link #http}; the earlier name, kept for code written against it. */
    boolean l7;
    /** Nothing ztunnel receives (istiod's conversion has no trust-domain field either). */
    boolean l4Empty;
    /** Has a field {@link #matchesL7Only} checks; without one it is true and is skipped. */
    private boolean l7Fields;
    /**
     * A namespace or notNamespaces entry Envoy reads as a regex other than ztunnel's match
     * ({@link StringMatch#asNamespace}), or principals Envoy matches migrated ({@link #principalsL7}): at L7 the
     * slower {@link #matchesL7WithNamespaceGlobs} decides.
     */
    private boolean namespaceGlobs;
    /** Which L4 fields are set (bits {@code F_*}): one register test per field instead of two loads. */
    private int l4Fields;

    /** Long lists' exact entries as hash sets, the other entries in the {@code *Rest} arrays ({@link ExactSet}). */
    private ExactSet principalSet;
    private ExactSet principalL7Set;
    private ExactSet notPrincipalL7Set;
    private StringMatch[] principalL7Rest = NO_STRINGS;
    private StringMatch[] notPrincipalL7Rest = NO_STRINGS;
    private ExactSet notPrincipalSet;
    private ExactSet namespaceSet;
    private ExactSet notNamespaceSet;
    private StringMatch[] principalRest = NO_STRINGS;
    private StringMatch[] notPrincipalRest = NO_STRINGS;
    private StringMatch[] namespaceRest = NO_STRINGS;
    private StringMatch[] notNamespaceRest = NO_STRINGS;

    private static final int F_PRINCIPALS = 1;
    private static final int F_NOT_PRINCIPALS = 2;
    private static final int F_NAMESPACES = 4;
    private static final int F_NOT_NAMESPACES = 8;
    private static final int F_SERVICE_ACCOUNTS = 16;
    private static final int F_NOT_SERVICE_ACCOUNTS = 32;
    private static final int F_IP_BLOCKS = 64;
    private static final int F_NOT_IP_BLOCKS = 128;

    void finish() {
        http = remoteIpBlocks.length + notRemoteIpBlocks.length + requestPrincipals.length
                + notRequestPrincipals.length > 0;
        l7 = http;
        l7Fields = http || trustDomains.length + notTrustDomains.length > 0;
        l4Empty = principals.length + notPrincipals.length + namespaces.length + notNamespaces.length
                + serviceAccounts.size() + notServiceAccounts.size() + ipBlocks.length + notIpBlocks.length == 0;
        l4Fields = (principals.length > 0 ? F_PRINCIPALS : 0) | (notPrincipals.length > 0 ? F_NOT_PRINCIPALS : 0)
                | (namespaces.length > 0 ? F_NAMESPACES : 0) | (notNamespaces.length > 0 ? F_NOT_NAMESPACES : 0)
                | (serviceAccounts.size() > 0 ? F_SERVICE_ACCOUNTS : 0)
                | (notServiceAccounts.size() > 0 ? F_NOT_SERVICE_ACCOUNTS : 0)
                | (ipBlocks.length > 0 ? F_IP_BLOCKS : 0) | (notIpBlocks.length > 0 ? F_NOT_IP_BLOCKS : 0);
        namespaces = StringMatch.asNamespaces(namespaces);
        notNamespaces = StringMatch.asNamespaces(notNamespaces);
        migrate(TrustDomains.DEFAULT);
        principalSet = ExactSet.of(principals);
        principalRest = ExactSet.rest(principals, principalSet);
        notPrincipalSet = ExactSet.of(notPrincipals);
        notPrincipalRest = ExactSet.rest(notPrincipals, notPrincipalSet);
        namespaceSet = ExactSet.of(namespaces);
        namespaceRest = ExactSet.rest(namespaces, namespaceSet);
        notNamespaceSet = ExactSet.of(notNamespaces);
        notNamespaceRest = ExactSet.rest(notNamespaces, notNamespaceSet);
    }

    /**
     * The L7 view for {@code bundle} ({@link TrustDomains}): {@link #principalsL7} and {@link #notPrincipalsL7}
     * migrated from the values as written, {@link #trustDomains} and {@link #notTrustDomains} expanded. Called by
     * {@link #finish} with istiod's default bundle, and on a copy by {@link #withTrustDomains}.
     */
    private void migrate(java.util.List<String> bundle) {
        java.util.List<String> migrated = TrustDomains.migrateAll(principalsWritten, bundle);
        java.util.List<String> notMigrated = TrustDomains.migrateAll(notPrincipalsWritten, bundle);
        if (migrated != principalsWritten || notMigrated != notPrincipalsWritten) {
            principalsL7 = IstioValues.matches(migrated, false);
            notPrincipalsL7 = IstioValues.matches(notMigrated, false);
            principalL7Set = ExactSet.of(principalsL7);
            principalL7Rest = ExactSet.rest(principalsL7, principalL7Set);
            notPrincipalL7Set = ExactSet.of(notPrincipalsL7);
            notPrincipalL7Rest = ExactSet.rest(notPrincipalsL7, notPrincipalL7Set);
        } else {
            principalsL7 = null;
            notPrincipalsL7 = null;
        }
        java.util.List<String> tds = TrustDomains.expandAll(trustDomainsWritten, bundle);
        java.util.List<String> notTds = TrustDomains.expandAll(notTrustDomainsWritten, bundle);
        if (tds != trustDomainsWritten) {
            trustDomains = IstioValues.matches(tds, false);
        }
        if (notTds != notTrustDomainsWritten) {
            notTrustDomains = IstioValues.matches(notTds, false);
        }
        namespaceGlobs = StringMatch.anyEnvoyNamespaceGlob(namespaces) || StringMatch.anyEnvoyNamespaceGlob(notNamespaces)
                || principalsL7 != null;
    }

    /**
     * This source as Envoy matches it in a mesh whose trust domain bundle is {@code bundle} (the mesh's trust domain,
     * then its aliases): itself when it has no principal or trust-domain value, else a copy with the L7 view
     * {@link #migrate}d. Only for a source built with the default bundle ({@link #finish}).
     */
    IstioSource withTrustDomains(java.util.List<String> bundle) {
        if (principalsWritten.isEmpty() && notPrincipalsWritten.isEmpty() && trustDomainsWritten.isEmpty()
                && notTrustDomainsWritten.isEmpty()) {
            return this;
        }
        IstioSource c;
        try {
            c = (IstioSource) clone();
        } catch (CloneNotSupportedException e) {
            throw new AssertionError(e);
        }
        c.trustDomains = IstioValues.matches(trustDomainsWritten, false);
        c.notTrustDomains = IstioValues.matches(notTrustDomainsWritten, false);
        c.migrate(bundle);
        return c;
    }

    /**
     * At L4 ({@code l4}) the fields ztunnel receives, and ztunnel skips an empty match: a source
     * with only HTTP fields never matches. Otherwise every field, as Envoy.
     */
    boolean matches(AccessRequest r, boolean l4) {
        return matches(r, l4, Peer.UNKNOWN);
    }

    /** {@code parts}: {@link Peer#parts} of the principal, or {@link Peer#UNKNOWN}. */
    boolean matches(AccessRequest r, boolean l4, long parts) {
        if (l4) {
            return !l4Empty && matchesL4(r, parts);
        }
        return namespaceGlobs ? matchesL7WithNamespaceGlobs(r) : matchesL4(r, parts) && matchesL7Only(r);
    }

    /**
     * Every field as Envoy, for a source whose namespaces Envoy reads as regexes (istiod's
     * srcNamespaceGenerator); the other fields as in {@link #matchesL4} and {@link #matchesL7Only}.
     */
    private boolean matchesL7WithNamespaceGlobs(AccessRequest r) {
        String p = r.sourcePrincipal();
        if (principalsL7 != null) {
            if (principalsL7.length > 0 && !principalIn(principalL7Set, principalL7Rest, p)) {
                return false;
            }
            if (notPrincipalsL7.length > 0 && principalIn(notPrincipalL7Set, notPrincipalL7Rest, p)) {
                return false;
            }
        } else {
            if (principals.length > 0 && !principalIn(principalSet, principalRest, p)) {
                return false;
            }
            if (notPrincipals.length > 0 && principalIn(notPrincipalSet, notPrincipalRest, p)) {
                return false;
            }
        }
        if (namespaces.length > 0 && !namespaceL7(namespaces, p)) {
            return false;
        }
        if (notNamespaces.length > 0 && namespaceL7(notNamespaces, p)) {
            return false;
        }
        return matchesL4Rest(r, l4Fields, p) && matchesL7Only(r);
    }

    /**
     * Whether one of {@code ms} matches {@code principal}'s namespace as Envoy does: an entry with
     * {@link StringMatch#envoyNamespaceGlob} by its regex over the whole principal, the others on the
     * namespace segment ({@link #namespaceAny}).
     */
    static boolean namespaceL7(StringMatch[] ms, String principal) {
        if (principal == null) {
            return false;
        }
        if (Peer.irregular(principal)) {
            return StringMatch.anyEnvoyNamespaceRegex(ms, principal);
        }
        int s = Peer.nsStart(principal);
        int e = s < 0 ? -1 : Peer.nsEnd(principal, s);
        for (StringMatch m : ms) {
            if (m.envoyNamespaceGlob() ? m.matchesEnvoyNamespace(principal) : e >= 0 && m.matches(principal, s, e)) {
                return true;
            }
        }
        return false;
    }

    /**
     * On an unparsed connection: the fields ztunnel evaluates, the others as matched ({@link IstioPolicy.Rule#matchesUnparsed}).
     * Principals Envoy matches migrated ({@link #principalsL7}) match either way, as written (ztunnel's reading) or
     * migrated (a sidecar's TCP filter, or the HTTP request it might have been): what decided is unknown, so a DENY
     * denies what either denies, and an ALLOW is not ruled out before the data (an ALLOW written with an alias must not
     * deny the mesh's own trust domain on an {@code auto} port before its first request is read).
     */
    boolean matchesUnparsed(AccessRequest r) {
        if (matchesL4(r, Peer.UNKNOWN)) {
            return true;
        }
        if (principalsL7 == null) {
            return false;
        }
        String p = r.sourcePrincipal();
        if (principalsL7.length > 0 && !principalIn(principalL7Set, principalL7Rest, p)) {
            return false;
        }
        if (notPrincipalsL7.length > 0 && principalIn(notPrincipalL7Set, notPrincipalL7Rest, p)) {
            return false;
        }
        int f = l4Fields;
        if ((f & F_NAMESPACES) != 0 && !namespaceIn(namespaceSet, namespaceRest, namespaces, p, Peer.UNKNOWN)) {
            return false;
        }
        if ((f & F_NOT_NAMESPACES) != 0 && namespaceIn(notNamespaceSet, notNamespaceRest, notNamespaces, p, Peer.UNKNOWN)) {
            return false;
        }
        return matchesL4Rest(r, f, p);
    }

    /** The fields ztunnel evaluates. */
    boolean matchesL4(AccessRequest r) {
        return matchesL4(r, Peer.UNKNOWN);
    }

    boolean matchesL4(AccessRequest r, long parts) {
        int f = l4Fields;
        String p = r.sourcePrincipal();
        if ((f & F_PRINCIPALS) != 0 && !principalIn(principalSet, principalRest, p)) {
            return false;
        }
        if (f <= F_PRINCIPALS) {
            return true;
        }
        if ((f & F_NOT_PRINCIPALS) != 0 && principalIn(notPrincipalSet, notPrincipalRest, p)) {
            return false;
        }
        if ((f & F_NAMESPACES) != 0 && !namespaceIn(namespaceSet, namespaceRest, namespaces, p, parts)) {
            return false;
        }
        if ((f & F_NOT_NAMESPACES) != 0 && namespaceIn(notNamespaceSet, notNamespaceRest, notNamespaces, p, parts)) {
            return false;
        }
        return f < F_SERVICE_ACCOUNTS || matchesL4Rest(r, f, p);
    }

    /** Service accounts and IP blocks: the fields sources name less often, kept out of {@link #matchesL4} so it stays small. */
    private boolean matchesL4Rest(AccessRequest r, int f, String p) {
        if ((f & F_SERVICE_ACCOUNTS) != 0 && !serviceAccounts.any(p)) {
            return false;
        }
        if ((f & F_NOT_SERVICE_ACCOUNTS) != 0 && notServiceAccounts.any(p)) {
            return false;
        }
        if ((f & F_IP_BLOCKS) != 0 && !Cidr.any(ipBlocks, r.sourceAddress())) {
            return false;
        }
        return (f & F_NOT_IP_BLOCKS) == 0 || !Cidr.any(notIpBlocks, r.sourceAddress());
    }

    /** The fields only Envoy evaluates. */
    boolean matchesL7Only(AccessRequest r) {
        if (!l7Fields) {
            return true;
        }
        String p = r.sourcePrincipal();
        if (trustDomains.length > 0 && !trustDomainAny(trustDomains, p)) {
            return false;
        }
        if (notTrustDomains.length > 0 && trustDomainAny(notTrustDomains, p)) {
            return false;
        }
        // Envoy's remote address: the last X-Forwarded-For address, else the peer's (Cidr.remoteAddress).
        if (remoteIpBlocks.length > 0 && !Cidr.any(remoteIpBlocks, Cidr.remoteAddress(r))) {
            return false;
        }
        if (notRemoteIpBlocks.length > 0 && Cidr.any(notRemoteIpBlocks, Cidr.remoteAddress(r))) {
            return false;
        }
        // The request principal of the request's verified JWT, if any (RequestAuthMatch: none matches without one).
        if (requestPrincipalMatch.length > 0 && !RequestAuthMatch.anyPrincipal(requestPrincipalMatch, r.http() == null ? null : r.http().auth())) {
            return false;
        }
        return notRequestPrincipalMatch.length == 0
                || !RequestAuthMatch.anyPrincipal(notRequestPrincipalMatch, r.http() == null ? null : r.http().auth());
    }
    /** Istio principals are SPIFFE IDs without the scheme; a peer without one never matches. */
    static boolean principalAny(StringMatch[] ms, String principal) {
        if (principal == null) {
            return false;
        }
        return StringMatch.anyPrincipal(ms, principal);
    }

    /** {@link #principalAny} over a list split into {@code set} (its exact entries, or null) and {@code rest}. */
    static boolean principalIn(ExactSet set, StringMatch[] rest, String principal) {
        if (principal == null) {
            return false;
        }
        return (set != null && set.contains(principal, Peer.SCHEME, principal.length()))
                || (rest.length > 0 && StringMatch.anyPrincipal(rest, principal));
    }

    /** {@link #namespaceAny} over a list split into {@code set} (its exact entries, or null) and {@code rest}. */
    static boolean namespaceIn(ExactSet set, StringMatch[] rest, StringMatch[] all, String principal, long parts) {
        if (parts == Peer.UNKNOWN) {
            parts = principal == null ? Peer.NONE : Peer.parts(principal);
        }
        if (parts == Peer.IRREGULAR) {
            return StringMatch.anyEnvoyNamespaceRegex(all, principal);
        }
        if (parts < 0) {
            // No namespace: no entry matches (namespaceAny answers false for such a principal too).
            return false;
        }
        int s = (int) (parts >>> 32);
        int e = (int) parts;
        if (set != null && set.contains(principal, s, e)) {
            return true;
        }
        for (StringMatch m : rest) {
            if (m.exactCaseSensitive() ? Peer.regionEquals(principal, s, e, m.value) : m.matches(principal, s, e)) {
                return true;
            }
        }
        return false;
    }

    static boolean namespaceAny(StringMatch[] ms, String principal) {
        int s = Peer.nsStart(principal);
        if (s < 0) {
            return false;
        }
        if (Peer.irregular(principal)) {
            return StringMatch.anyEnvoyNamespaceRegex(ms, principal);
        }
        int e = -2;
        for (StringMatch m : ms) {
            if (m.exactCaseSensitive()) {
                // Equal to [s, nsEnd) iff equal from s and followed by the first "/sa/": nsEnd searched only then.
                if (Peer.namespaceEquals(principal, s, m.value)) {
                    return true;
                }
                continue;
            }
            if (e == -2) {
                e = Peer.nsEnd(principal, s);
            }
            if (e < 0) {
                return false;
            }
            if (m.matches(principal, s, e)) {
                return true;
            }
        }
        return false;
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
}
