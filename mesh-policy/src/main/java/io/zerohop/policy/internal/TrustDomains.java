package io.zerohop.policy.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * The principals Envoy matches for a principal value of an AuthorizationPolicy, after istiod's trust-domain
 * migration: istiod's builder passes every {@code principals}, {@code notPrincipals} and {@code when
 * source.principal} value of a sidecar's or waypoint's policy through {@code Bundle.ReplaceTrustDomainAliases}
 * (istio/istio pilot/pkg/security/trustdomain/bundle.go, util.go; called by authz/model MigrateTrustDomain for
 * every rule, whatever the mesh config). ztunnel gets the values unchanged (ambient authorization.go
 * handleRule), so this is the L7 view only.
 *
 * <p>The bundle is the mesh's trust domain followed by its aliases. zerohop has no mesh config, so it uses
 * istiod's default, {@link #DEFAULT} ({@code cluster.local}, no alias): the migration then changes only a value
 * whose trust-domain segment is a prefix pattern of {@code cluster.local} ({@code cluster*}, {@code c*}), which
 * becomes {@code cluster.local} exactly.
 */
final class TrustDomains {

    /** istiod's default mesh trust domain ({@code constants.DefaultClusterLocalDomain}), without aliases. */
    static final List<String> DEFAULT = List.of("cluster.local");

    private TrustDomains() {
    }

    /**
     * {@code ReplaceTrustDomainAliases} of one value: a principal written {@code TD/ns/NS/sa/SA} (five
     * segments, {@code TD} not {@code *}) whose trust domain matches the bundle (or is {@code cluster.local}) gives
     * one principal per trust domain of the bundle; any other value is returned as written.
     */
    static List<String> migrate(String principal, List<String> bundle) {
        String[] parts = principal.split("/", -1);
        if (parts.length != 5 || parts[0].equals("*")) {
            return List.of(principal);
        }
        String td = parts[0];
        if (!matchesAny(td, bundle) && !td.equals("cluster.local")) {
            return List.of(principal);
        }
        String rest = principal.substring(td.length());
        List<String> out = new ArrayList<>();
        for (String each : bundle) {
            // A value whose trust domain is a suffix pattern matching this one (*local for cluster.local) stays
            // as written; otherwise the trust domain is replaced.
            String migrated = suffixMatch(each, td) ? principal : each + rest;
            if (!out.contains(migrated)) {
                out.add(migrated);
            }
        }
        return out;
    }

    /** Every value migrated ({@link #migrate}), in order; the input itself when nothing changes. */
    static List<String> migrateAll(List<String> principals, List<String> bundle) {
        List<String> out = new ArrayList<>();
        boolean changed = false;
        for (String p : principals) {
            List<String> m = migrate(p, bundle);
            changed |= m.size() != 1 || !m.get(0).equals(p);
            out.addAll(m);
        }
        return changed ? out : principals;
    }

    /** istiod's stringMatch: exact, or either side a {@code *}, prefix or suffix pattern of the other. */
    private static boolean matchesAny(String a, List<String> list) {
        for (String s : list) {
            if (a.equals(s) || s.equals("*") || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a)) {
                return true;
            }
        }
        return false;
    }

    private static boolean prefixMatch(String a, String pattern) {
        return pattern.endsWith("*") && a.startsWith(pattern.substring(0, pattern.length() - 1));
    }

    private static boolean suffixMatch(String a, String pattern) {
        return pattern.startsWith("*") && a.endsWith(pattern.substring(1));
    }
}
