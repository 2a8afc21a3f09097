package io.zerohop.cli;

import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.PolicySet;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * changes which policies apply.
 */
final class RootNamespaceCheck implements Consumer<PolicySet> {
    private static final Logger LOG = LoggerFactory.getLogger(RootNamespaceCheck.class);

    private final String root;
    private final String option;
    private String last;

    /**
     * @param root   the configured root namespace
     * @param option how the configuration names it, e.g. {@code --root-namespace}
     */
    RootNamespaceCheck(String root, String option) {
        this.root = root;
        this.option = option;
    }

    /** Logs the warning for {@code policies} when it differs from the last one logged (every reload calls this). */
    @Override
    public synchronized void accept(PolicySet policies) {
        String w = warning(policies.policies(), root, option);
        if (w != null && !w.equals(last)) {
            LOG.warn(w);
        }
        last = w;
    }

    /** The warning for {@code policies} under root namespace {@code root}, or null when nothing looks mistyped. */
    static String warning(java.util.List<PolicyRef> policies, String root, String option) {
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
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()] <= max;
    }
}
