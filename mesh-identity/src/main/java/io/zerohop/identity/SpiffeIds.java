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

    /** The Istio workload identity {@code spiffe://td/ns/namespace/sa/serviceAccount}. */
    public static SpiffeId istio(String trustDomain, String namespace, String serviceAccount) {
        return SpiffeId.fromSegments(TrustDomain.parse(trustDomain), "ns", namespace, "sa", serviceAccount);
    }

    /** Parses a SPIFFE ID, naming the input in the error (java-spiffe's messages do not). */
    public static SpiffeId parse(String id) {
        try {
            SpiffeId parsed = SpiffeId.parse(id);
            // java-spiffe folds case in the trust domain; the SPIFFE spec says it must already be lower case.
            if (!parsed.toString().equals(id)) {
                throw new IllegalArgumentException("not in canonical form (trust domain must be lower case)");
            }
            return parsed;
        } catch (RuntimeException e) {
            // java-spiffe throws its own unchecked types; callers get one type that names the input.
            throw new IllegalArgumentException("invalid SPIFFE ID \"" + id + "\": " + e.getMessage(), e);
        }
    }

    /** Accepts both {@code spiffe://td/path} and the principal form {@code td/path}. */
    public static SpiffeId fromPrincipal(String principal) {
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
