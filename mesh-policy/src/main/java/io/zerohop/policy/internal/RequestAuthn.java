package io.zerohop.policy.internal;

import io.zerohop.policy.JwtRule;
import io.zerohop.policy.PolicyRef;
import io.zerohop.policy.WorkloadRef;
import java.util.List;

/**
 * A compiled RequestAuthentication: its scope and its JWT rules. Which workloads it applies to follows istiod's
 * {@code WorkloadPolicyMatcher.ShouldAttachPolicy} (istio/istio pilot/pkg/model/policyattachment.go) for a workload
 * that is no Kubernetes Gateway (zerohop serves pods, never a gateway's or a waypoint's proxy): with targetRefs, none
 * (they attach to gateways and waypoints only); without a selector, every workload of its namespace (of the mesh in
 * the root namespace); with one, those whose labels hold every {@code matchLabels} entry ({@code selector: {}} too:
 * istiod's {@code isSelected} reads a selector without labels as the empty subset).
 */
final class RequestAuthn {
    final PolicyRef ref;
    final String namespace;
    /** Null when there is no selector. */
    final String[] selectorKeys;
    final String[] selectorValues;
    final boolean hasTargetRefs;
    /** A selector key under Cilium's prefix: it selects no pod ({@link IstioCompiler#ciliumOwned}). */
    private final boolean selectsNoPod;
    final List<JwtRule> rules;

    RequestAuthn(PolicyRef ref, String namespace, String[] selectorKeys, String[] selectorValues, boolean hasTargetRefs,
                 List<JwtRule> rules) {
        this.ref = ref;
        this.namespace = namespace;
        this.selectorKeys = selectorKeys;
        this.selectorValues = selectorValues;
        this.hasTargetRefs = hasTargetRefs;
        this.selectsNoPod = IstioCompiler.ciliumOwned(selectorKeys);
        this.rules = List.copyOf(rules);
    }

    /** Whether it applies to {@code w}, a workload of its namespace or, for a root-namespace one, of any namespace. */
    boolean selects(WorkloadRef w) {
        if (hasTargetRefs || selectsNoPod) {
            return false;
        }
        if (selectorKeys == null) {
            return true;
        }
        for (int i = 0; i < selectorKeys.length; i++) {
            if (!selectorValues[i].equals(w.labels().get(selectorKeys[i]))) {
                return false;
            }
        }
        return true;
    }
}
