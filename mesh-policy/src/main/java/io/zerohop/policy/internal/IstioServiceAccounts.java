package io.zerohop.policy.internal;

/**
 * A compiled list of service accounts ({@code from.source.serviceAccounts}, or the values of a
 * {@code source.serviceAccount} condition): namespace and name pairs, an entry without a namespace
 * having been given the policy's ({@link IstioValues#serviceAccounts}). A principal matches when its
 * {@code ns/<namespace>/sa/<name>} segments equal one pair, as the service-account principal istiod
 * generates ({@code pilot/pkg/security/authz/model} generator.go).
 */
final class IstioServiceAccounts {

    static final IstioServiceAccounts NONE = new IstioServiceAccounts(IstioPolicy.NO_TEXT, IstioPolicy.NO_TEXT);

    private final String[] namespaces;
    private final String[] names;
    /**
     * istiod's regex for each pair, compiled on the first irregular principal and kept: a SPIRE
     * deployment whose IDs all have k/v segments would otherwise compile them at every decision.
     */
    private volatile com.google.re2j.Pattern[] regexes;

    IstioServiceAccounts(String[] namespaces, String[] names) {
        this.namespaces = namespaces;
        this.names = names;
    }

    int size() {
        return names.length;
    }

    boolean any(String principal) {
        int s = Peer.nsStart(principal);
        if (s < 0) {
            return false;
        }
        if (Peer.irregular(principal)) {
            for (com.google.re2j.Pattern rx : regexes()) {
                if (rx.matches(principal)) {
                    return true;
                }
            }
            return false;
        }
        int e = Peer.nsEnd(principal, s);
        if (e < 0) {
            return false;
        }
        int saStart = e + 4;
        for (int i = 0; i < names.length; i++) {
            if (Peer.regionEquals(principal, s, e, namespaces[i]) && Peer.regionEquals(principal, saStart, principal.length(), names[i])) {
                return true;
            }
        }
        return false;
    }

    /**
     * istiod's {@code serviceAccountRegex} (pilot/pkg/security/authz/model/generator.go) for one pair,
     * which Envoy matches against the whole principal: only a principal Istio cannot cut into parts
     * ({@link Peer#irregular}) gets here. RE2J: linear in the principal's length.
     */
    private com.google.re2j.Pattern[] regexes() {
        com.google.re2j.Pattern[] rx = regexes;
        if (rx == null) {
            rx = new com.google.re2j.Pattern[names.length];
            for (int i = 0; i < rx.length; i++) {
                rx[i] = istioRegex(namespaces[i], names[i]);
            }
            regexes = rx; // a race compiles twice, both results equal
        }
        return rx;
    }

    private static com.google.re2j.Pattern istioRegex(String namespace, String name) {
        return com.google.re2j.Pattern.compile("spiffe://.+/ns/" + com.google.re2j.Pattern.quote(namespace) + "/(.+/|)sa/"
                + com.google.re2j.Pattern.quote(name) + "(/.+)?");
    }
}
