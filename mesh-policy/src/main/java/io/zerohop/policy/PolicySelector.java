package io.zerohop.policy;

import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The workloads a loaded AuthorizationPolicy or Cilium policy is written to apply to, as its file names them (what
 * the loader read, before compiling): for tools that tell a user a policy selects nothing, such as the CLI's
 * selector warning (Istio's analyzer IST0127 NoMatchingWorkloadsFound, istio/istio
 * pkg/config/analysis/analyzers/authz/authorizationpolicies.go). The decision never reads this; {@link PolicyEngine}
 * matches the compiled selectors.
 *
 * @param policy           the policy; for an AuthorizationPolicy with its {@code spec.action} as written ({@code ALLOW}
 *                         when absent), for a Cilium policy with an empty action. Non-null.
 * @param field            the field the selector was read from: {@code "selector"} (Istio {@code spec.selector}),
 *                         {@code "targetRefs"} (Istio {@code spec.targetRef} or {@code spec.targetRefs}, which ztunnel
 *                         does not enforce), {@code "endpointSelector"} (Cilium {@code spec.endpointSelector}),
 *                         {@code "specs[i].endpointSelector"} (entry {@code i} of Cilium's {@code specs}: a policy has
 *                         one PolicySelector per rule, {@code spec} first); {@code ""} for an AuthorizationPolicy with
 *                         none of them (it applies to its whole namespace, or the mesh in the root namespace). Non-null.
 *                         Cilium's {@code nodeSelector} never appears: the loader skips host rules (with a warning).
 * @param matchLabels      {@code matchLabels} as written, in key order: Cilium keys keep their {@code k8s:} /
 *                         {@code any:} prefix, and a written {@code io.kubernetes.pod.namespace} stays (the compiled
 *                         selector replaces it by the policy's namespace). Non-null, unmodifiable, empty for
 *                         {@code targetRefs}, for {@code ""} and for a selector without labels.
 * @param matchExpressions whether the selector has a non-empty {@code matchExpressions} (Cilium only: istiod refuses
 *                         it in an AuthorizationPolicy's selector, and so does the loader)
 * @param file             the file the policy was read from, as the loader's other messages name it; null for a policy
 *                         built in memory
 * @param line             the 1-based line of the selector's {@code matchLabels} in {@code file} (where a mistyped label
 *                         is; the selector's own line without them; for {@code ""} the policy's {@code metadata.namespace},
 *                         else its name, or a Cilium rule's entry), 0 for a policy built in memory: a tool's line about the selector starts with
 *                         {@code file:line:}, as every loader message does
 */
public record PolicySelector(PolicyRef policy, String field, Map<String, String> matchLabels, boolean matchExpressions,
                             String file, int line) {

    public PolicySelector {
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(field, "field");
        matchLabels = java.util.Collections.unmodifiableMap(new TreeMap<>(matchLabels));
    }

    /** A selector of a policy built in memory: no file, line 0. */
    public PolicySelector(PolicyRef policy, String field, Map<String, String> matchLabels, boolean matchExpressions) {
        this(policy, field, matchLabels, matchExpressions, null, 0);
    }

    /** {@code file:line: } for a policy read from a file, else "": the prefix of a tool's line about it. */
    public String place() {
        return file == null ? "" : file + ":" + line + ": ";
    }

    /**
     * A Cilium {@code matchLabels} or {@code matchExpressions} key as the engine (and Cilium) reads it: a leading
     * {@code $} is the {@code reserved:} source ({@code $world} is {@code reserved:world}), an {@code =} after the source
     * ends the key ({@code app=x} is {@code app}), then the {@code k8s:} and {@code any:} sources are dropped (cilium/cilium
     * pkg/labels {@code GetExtendedKeyFrom}, as pkg/policy/api/selector.go {@code EndpointSelector.UnmarshalJSON} applies
     * it). For tools that compare {@link #matchLabels} with workload labels, such as the selector warning.
     *
     * @param written a key as written; non-null
     * @return the key a workload's label is compared under; never null
     */
    public static String ciliumKey(String written) {
        return io.zerohop.policy.internal.Selector.normalizeKey(Objects.requireNonNull(written, "written"));
    }
}
