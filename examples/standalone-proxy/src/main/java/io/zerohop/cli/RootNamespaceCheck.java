package io.zerohop.cli;

import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.PolicySet;
import io.zerohop.policy.RootNamespaces;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs mesh-policy's warning for a probably mistyped root namespace ({@link RootNamespaces}) once
 * per change, at every policy load.
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

    /** The warning for {@code policies} under root namespace {@code root}, or null: {@link RootNamespaces#mistypedWarning}. */
    static String warning(java.util.List<PolicyRef> policies, String root, String option) {
        return RootNamespaces.mistypedWarning(policies, root, option);
    }
}
