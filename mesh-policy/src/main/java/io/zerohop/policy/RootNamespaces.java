package io.zerohop.policy;

import io.zerohop.policy.internal.Loader;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A root namespace that is probably mistyped. Istio policies in the root namespace apply to the
 * whole mesh; anywhere else only to their own namespace. A typo that is still a valid namespace
 * name ({@code --root-namespace istio-sytem}, or {@code namespace: istio-sytem} in the YAML) is
 * accepted by istiod's validation and by zerohop's, and silently turns mesh-wide policies into
 * policies of one namespace: mesh-wide DENY rules and STRICT mTLS stop applying.
 *
 * <p>The rule, chosen to say nothing about a correct configuration: some AuthorizationPolicy or
 * PeerAuthentication lives in a namespace within a small edit distance of the configured root (2
 * for names of 8 characters or more, else 1), whether the root holds policies or not (one
 * mesh-wide policy typed into {@code istio-sytem} beside the others in {@code istio-system}); or
 * none lives in the root and some live in {@code istio-system} (Istio's default root).
 * Cilium policies are not counted: they have no root namespace. The check only warns; it never
 * changes which policies apply. Used by {@code zerohop proxy} at every load and by {@code zerohop policy check}.
 */
public final class RootNamespaces {

    private RootNamespaces() {
    }

    /**
     * The warning for {@code policies} under root namespace {@code root}, or null when nothing looks
     * mistyped (see the class comment).
     *
     * @param policies what a {@link PolicySet} holds ({@link PolicySet#policies()}); not null
     * @param root     the configured root namespace; not null
     * @param option   how the configuration names the root, quoted in the warning (e.g. {@code --root-namespace})
     */
    public static String mistypedWarning(List<PolicyRef> policies, String root, String option) {
        int inRoot = 0;
        Map<String, Integer> near = new TreeMap<>();
        int inIstioSystem = 0;
        for (PolicyRef p : policies) {
            if (p.kind() != PolicyRef.Kind.AUTHORIZATION_POLICY && p.kind() != PolicyRef.Kind.PEER_AUTHENTICATION) {
                continue;
            }
            if (p.namespace().equals(root)) {
                inRoot++;
            } else if (near(p.namespace(), root)) {
                near.merge(p.namespace(), 1, Integer::sum);
            } else if (p.namespace().equals("istio-system")) {
                inIstioSystem++;
            }
        }
        if (inRoot > 0) {
            // The root is right; a namespace an edit or two from it is a mesh-wide policy typed into a namespace of
            // its own (namespace: istio-sytem beside istio-system's other policies). istio-system itself may be a
            // namespace like any other under another root.
            return near.isEmpty() ? null : "root namespace " + root + " (" + option + ") holds " + inRoot
                    + " AuthorizationPolicy or PeerAuthentication, and " + where(near) + ", a name one or two edits away:"
                    + " those apply to their own namespace only, not mesh-wide; is their namespace mistyped?";
        }
        if (inIstioSystem > 0) {
            near.put("istio-system", inIstioSystem);
        }
        if (near.isEmpty()) {
            return null;
        }
        return "root namespace " + root + " (" + option + ") holds no AuthorizationPolicy or PeerAuthentication, but "
                + where(near) + ": those apply to their own namespace only, not mesh-wide; is the root namespace or their"
                + " namespace mistyped?";
    }

    /** {@code "1 in a, 2 in b"}. */
    private static String where(Map<String, Integer> byNamespace) {
        StringBuilder where = new StringBuilder();
        byNamespace.forEach((ns, n) -> where.append(where.length() == 0 ? "" : ", ").append(n).append(" in ").append(ns));
        return where.toString();
    }

    /** Within 2 edits for names of 8 characters or more, 1 for shorter ones (Levenshtein). */
    static boolean near(String a, String b) {
        if (a.equals(b)) {
            return false;
        }
        int max = Math.max(a.length(), b.length()) >= 8 ? 2 : 1;
        if (Math.abs(a.length() - b.length()) > max) {
            return false;
        }
        return Loader.editDistance(a, b) <= max;
    }
}
