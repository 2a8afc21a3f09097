package io.zerohop.policy;

import io.zerohop.policy.internal.CompiledPolicies;
import java.util.List;

/**
 * An immutable, compiled set of policies. Build one with {@link PolicyLoader}; hand it to a
 * {@link PolicyEngine}. Swapping sets is atomic, so decisions in flight finish on the set they
 * started with.
 */
public final class PolicySet {

    private static final PolicySet EMPTY = new PolicySet(CompiledPolicies.EMPTY, "empty");

    private final CompiledPolicies compiled;
    private final String source;

    PolicySet(CompiledPolicies compiled, String source) {
        this.compiled = compiled;
        this.source = source;
    }

    public static PolicySet empty() {
        return EMPTY;
    }

    /** Every loaded policy object, in load order. */
    public List<PolicyRef> policies() {
        return compiled.refs();
    }

    public int size() {
        return compiled.refs().size();
    }

    /** Non-fatal findings of the load (skipped kinds, ignored egress rules, PeerAuthentication conflicts). */
    public List<String> warnings() {
        return compiled.warnings();
    }

    /** Where it was loaded from: a directory, file or in-memory name. */
    public String source() {
        return source;
    }

    CompiledPolicies compiled() {
        return compiled;
    }

    @Override
    public String toString() {
        return "PolicySet[" + source + ", " + size() + " policies]";
    }
}
