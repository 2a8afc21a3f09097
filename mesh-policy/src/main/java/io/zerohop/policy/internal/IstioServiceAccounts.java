package io.zerohop.policy.internal;

/**
 * A compiled list of service accounts ({@code from.source.serviceAccounts}, or the values of a
 * {@code source.serviceAccount} condition): namespace and name pairs, an entry without a namespace
 * having been given the policy's ({@link IstioValues#serviceAccounts}). A principal matches when its
 * {@code ns/<namespace>/sa/<name>} segments equal one pair, as the service-account principal istiod
 * generates ({@code pilot/pkg/security/authz/model} generator.go).
 */
record IstioServiceAccounts(String[] namespaces, String[] names) {

    static final IstioServiceAccounts NONE = new IstioServiceAccounts(IstioPolicy.NO_TEXT, IstioPolicy.NO_TEXT);

    int size() {
        return names.length;
    }

    boolean any(String principal) {
        int s = Peer.nsStart(principal);
        if (s < 0) {
            return false;
        }
        if (Peer.irregular(principal)) {
            for (int i = 0; i < names.length; i++) {
                if (istioRegex(namespaces[i], names[i]).matches(principal)) {
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
     * which Envoy matches against the whole principal: compiled per call, since only a principal Istio
     * cannot cut into parts ({@link Peer#irregular}) gets here. RE2J: linear in the principal's length.
     */
    private static com.google.re2j.Pattern istioRegex(String namespace, String name) {
        return com.google.re2j.Pattern.compile("spiffe://.+/ns/" + com.google.re2j.Pattern.quote(namespace) + "/(.+/|)sa/"
                + com.google.re2j.Pattern.quote(name) + "(/.+)?");
    }
}
