package io.zerohop.identity;

import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.spiffeid.TrustDomain;
import java.util.Optional;

/**
 * What java-spiffe's {@link SpiffeId} lacks for a mesh: Istio's identity layout
 * ({@code spiffe://TD/ns/NS/sa/SA}) and the principal form policies use ({@code TD/ns/NS/sa/SA}).
 */
public final class SpiffeIds {
    private static final String SCHEME = "spiffe://";

    private SpiffeIds() {}

    /**
     * The Istio workload identity {@code spiffe://td/ns/namespace/sa/serviceAccount}.
     *
     * @param trustDomain a trust domain name in canonical form, as {@link #trustDomain} reads it ({@code Cluster.Local} or
     *                    {@code spiffe://cluster.local} is refused, as the CA, the providers and the builders refuse it)
     * @throws IllegalArgumentException when a part is null, empty or has characters a SPIFFE ID
     *                                  cannot hold, or the trust domain is not in canonical form, naming the parts
     */
    public static SpiffeId istio(String trustDomain, String namespace, String serviceAccount) {
        String missing = trustDomain == null ? "trustDomain" : namespace == null ? "namespace" : serviceAccount == null
                ? "serviceAccount" : null;
        if (missing != null) {
            throw new IllegalArgumentException("invalid Istio identity: " + missing + " must not be null");
        }
        // Until 5 December java-spiffe's TrustDomain.parse read "Cluster.Local" and "spiffe://cluster.local" here (a new-user
        // pass); every other entry point refused them.
        TrustDomain td;
        try {
            td = trustDomain(trustDomain);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid Istio identity (trust domain \"" + trustDomain + "\", namespace \""
                    + namespace + "\", service account \"" + serviceAccount + "\"): " + e.getMessage(), e);
        }
        try {
            return SpiffeId.fromSegments(td, "ns", namespace, "sa", serviceAccount);
        } catch (RuntimeException e) {
            // java-spiffe's InvalidSpiffeIdException is no IllegalArgumentException and names no input.
            throw new IllegalArgumentException("invalid Istio identity (trust domain \"" + trustDomain + "\", namespace \""
                    + namespace + "\", service account \"" + serviceAccount + "\"): " + e.getMessage(), e);
        }
    }

    /**
     * Parses a SPIFFE ID, naming the input in the error (java-spiffe's messages do not). A trust
     * domain's own ID without a path ({@code spiffe://cluster.local}) is a valid SPIFFE ID and is
     * returned; it names no workload, and a certificate carrying it is refused in every handshake
     * (spiffe/spiffe {@code standards/X509-SVID.md} §2: a leaf's ID has a path).
     *
     * @throws IllegalArgumentException for anything else that is not a SPIFFE ID in canonical form
     *                                  (scheme and trust domain lower case), null included, naming the input
     */
    public static SpiffeId parse(String id) {
        try {
            SpiffeId parsed = SpiffeId.parse(id);
            // java-spiffe folds case in the trust domain; the SPIFFE spec says it must already be lower case.
            if (!parsed.toString().equals(id)) {
                // java-spiffe also takes the scheme in any case ("SPIFFE://"): name the part that is not lower case.
                String td = parsed.getTrustDomain().getName();
                boolean tdLower = id.regionMatches(9, td, 0, td.length());
                throw new IllegalArgumentException(id.startsWith("spiffe://") ? "not in canonical form (trust domain must be lower case)"
                        : tdLower ? "not in canonical form (the scheme must be lower case: spiffe://)"
                        : "not in canonical form (scheme and trust domain must be lower case)");
            }
            return parsed;
        } catch (RuntimeException e) {
            // java-spiffe throws its own unchecked types; callers get one type that names the input.
            throw new IllegalArgumentException("invalid SPIFFE ID \"" + id + "\": " + e.getMessage(), e);
        }
    }

    /**
     * A trust domain name in canonical form ({@code cluster.local}), as {@link #parse} reads one in an ID: java-spiffe's
     * {@link TrustDomain#parse} folds case and takes {@code spiffe://td}, so {@code Cluster.Local} would name a trust
     * domain the rest of the mesh refuses.
     *
     * @throws IllegalArgumentException {@code invalid trust domain "NAME": REASON}, for null, a {@code '/'}, characters a
     *                                  SPIFFE trust domain cannot hold, or upper case
     */
    public static TrustDomain trustDomain(String name) {
        if (name == null) {
            // "spiffe://" + null is spiffe://null, a valid trust domain.
            throw new IllegalArgumentException("invalid trust domain: null (a trust domain name is required, e.g. cluster.local)");
        }
        if (name.indexOf('/') >= 0) {
            // spiffe://example.org/x would parse as an ID with a path.
            throw new IllegalArgumentException("invalid trust domain \"" + name + "\": a trust domain has no '/' (write the name alone,"
                    + " e.g. example.org)");
        }
        try {
            return parse(SCHEME + name).getTrustDomain();
        } catch (IllegalArgumentException e) {
            // Said as a trust domain: the SPIFFE ID it was checked as is not what the caller wrote.
            String m = String.valueOf(e.getMessage());
            int i = m.indexOf("\": ");
            throw new IllegalArgumentException("invalid trust domain \"" + name + "\": " + (i >= 0 ? m.substring(i + 3) : m), e);
        }
    }

    /**
     * Accepts both {@code spiffe://td/path} and the principal form {@code td/path}.
     *
     * @throws IllegalArgumentException as {@link #parse}, null included
     */
    public static SpiffeId fromPrincipal(String principal) {
        if (principal == null) {
            throw new IllegalArgumentException("invalid principal: null");
        }
        return parse(principal.startsWith(SCHEME) ? principal : SCHEME + principal);
    }

    /** The principal form Istio policies match on: the SPIFFE ID without {@code spiffe://}. */
    public static String principal(SpiffeId id) {
        return id.toString().substring(SCHEME.length());
    }

    /** The namespace of an Istio-layout identity, if the path has that layout. */
    public static Optional<String> namespace(SpiffeId id) {
        String[] s = istioSegments(id);
        return s == null ? Optional.empty() : Optional.of(s[1]);
    }

    /** The service account of an Istio-layout identity, if the path has that layout. */
    public static Optional<String> serviceAccount(SpiffeId id) {
        String[] s = istioSegments(id);
        return s == null ? Optional.empty() : Optional.of(s[3]);
    }

    /** True when the path is exactly {@code /ns/NS/sa/SA}. */
    public static boolean isIstioLayout(SpiffeId id) {
        return istioSegments(id) != null;
    }

    private static String[] istioSegments(SpiffeId id) {
        String path = id.getPath();
        if (path.isEmpty()) {
            return null;
        }
        String[] s = path.substring(1).split("/", -1);
        return s.length == 4 && s[0].equals("ns") && s[2].equals("sa") ? s : null;
    }
}
