package io.zerohop.policy.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The values Envoy matches for the principal and trust-domain values of an AuthorizationPolicy, after istiod's
 * trust-domain migration: istiod's builder passes every {@code principals}, {@code notPrincipals} and
 * {@code when source.principal} value of a sidecar's or waypoint's policy through
 * {@code Bundle.ReplaceTrustDomainAliases}, and every {@code trustDomains}, {@code notTrustDomains} and
 * {@code when source.trustDomain} value through {@code Bundle.ExpandTrustDomainAliases} (istio/istio
 * pilot/pkg/security/trustdomain/bundle.go, util.go; called by authz/model {@code MigrateTrustDomain} for every rule,
 * pilot/pkg/security/authz/builder/builder.go, whatever the mesh config). ztunnel gets the values unchanged (ambient
 * authorization.go {@code handleRule}), so this is the L7 view only.
 *
 * <p>A bundle is a list of trust domains: the mesh's ({@code meshConfig.trustDomain}) first, then its
 * {@code trustDomainAliases}, as {@code NewBundle} builds it. {@link #DEFAULT} is istiod's default mesh config.
 */
public final class TrustDomains {

    /** istiod's default mesh trust domain ({@code constants.DefaultClusterLocalDomain}), without aliases. */
    public static final List<String> DEFAULT = List.of("cluster.local");

    private TrustDomains() {
    }

    /**
     * {@code NewBundle}: {@code trustDomain} followed by {@code aliases}, as given (duplicates are harmless: both
     * rewrites drop duplicated results).
     *
     * @param trustDomain the mesh's trust domain, not null; {@link #check}ed
     * @param aliases     its aliases, not null, each {@link #check}ed
     * @throws IllegalArgumentException naming the bad value
     */
    public static List<String> bundle(String trustDomain, List<String> aliases) {
        Objects.requireNonNull(aliases, "trust domain aliases");
        List<String> out = new ArrayList<>();
        out.add(check("trust domain", trustDomain));
        for (String a : aliases) {
            out.add(check("trust domain alias", a));
        }
        return List.copyOf(out);
    }

    /**
     * A trust domain name as a SPIFFE ID may carry one (lower-case letters, digits, {@code .}, {@code -}, {@code _};
     * at most 255 characters): a name no peer can present, or a {@code *} pattern, would match nothing and is a mistake.
     *
     * @param what how the error names the value, e.g. "trust domain alias"
     * @return {@code name}
     * @throws IllegalArgumentException {@code invalid <what> "<name>": <reason>}
     */
    public static String check(String what, String name) {
        if (name == null) {
            throw new IllegalArgumentException("invalid " + what + " null: a trust domain name is required");
        }
        if (name.isEmpty()) {
            throw new IllegalArgumentException("invalid " + what + " \"\": empty");
        }
        if (name.length() > 255) {
            throw new IllegalArgumentException("invalid " + what + " \"" + name + "\": longer than 255 characters");
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_')) {
                throw new IllegalArgumentException("invalid " + what + " \"" + name + "\": character '" + c
                        + "' at " + i + " (a SPIFFE trust domain has lower-case letters, digits, '.', '-' and '_' only)");
            }
        }
        return name;
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

    /**
     * {@code ExpandTrustDomainAliases}: a value equal to a trust domain of the bundle (exactly: a {@code *} pattern is
     * kept as written) becomes every trust domain of the bundle; duplicates are dropped, the first kept. The input
     * itself when nothing changes.
     */
    static List<String> expandAll(List<String> values, List<String> bundle) {
        List<String> out = new ArrayList<>();
        for (String v : values) {
            for (String each : bundle.contains(v) ? bundle : List.of(v)) {
                if (!out.contains(each)) {
                    out.add(each);
                }
            }
        }
        return out.equals(values) ? values : out;
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
