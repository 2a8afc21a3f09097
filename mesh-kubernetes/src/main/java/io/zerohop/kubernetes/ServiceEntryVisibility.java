package io.zerohop.kubernetes;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * MeshConfig's {@code serviceEntryVisibility}, which istiod resolves once per ServiceEntry from the labels of the entry's
 * namespace (istio/istio pilot/pkg/model/serviceentry_visibility.go {@code ServiceEntryVisibilityMatcher.VisibilityFor}:
 * the first policy whose matching rules all match, else {@code defaultVisibility}) and sends ztunnel as the entry's
 * Services' {@code visibility} (pilot/pkg/serviceregistry/ambient/services.go {@code serviceEntriesInfo},
 * {@code wdsVisibility}); {@code NONE} publishes no Service of it. zerohop reads no MeshConfig: give
 * {@link KubernetesDiscovery.Builder#serviceEntryVisibility} what the mesh config says. Kubernetes Services are always
 * {@code PUBLIC}, as istiod sends them (its ambient index reads no {@code exportTo}: {@code constructService} sets no
 * visibility).
 *
 * @param defaultVisibility what an entry whose namespace no policy matches gets
 * @param policies          in order; the first that matches wins
 */
public record ServiceEntryVisibility(Visibility defaultVisibility, List<Policy> policies) {
    /** istio/api mesh/v1alpha1 {@code ServiceEntryVisibility.Visibility} ({@code UNSPECIFIED} is {@code PUBLIC}). */
    public enum Visibility {
        /** Visible to every namespace: istiod's default when nothing is configured. */
        PUBLIC,
        /** Visible to clients of the entry's own namespace only (registry {@code Service.Visibility.NAMESPACE}). */
        NAMESPACE,
        /** Not published at all: its hosts are not routed, its endpoints carry no Service of it. */
        NONE
    }

    /**
     * One policy: {@code visibility} for entries in a namespace that every rule matches (no rules: every namespace). Each
     * rule is a {@code namespaceSelector}, the only matcher istiod implements (a Kubernetes label selector on the
     * namespace's labels).
     */
    public record Policy(Visibility visibility, List<LabelSelector> namespaceSelectors) {
        public Policy {
            Objects.requireNonNull(visibility, "visibility");
            Objects.requireNonNull(namespaceSelectors, "namespaceSelectors");
            for (int j = 0; j < namespaceSelectors.size(); j++) {
                if (namespaceSelectors.get(j) == null) {
                    throw new IllegalArgumentException("matchingRules[" + j + "].namespaceSelector: missing");
                }
            }
            namespaceSelectors = List.copyOf(namespaceSelectors);
        }
    }

    /** Nothing configured: every ServiceEntry {@code PUBLIC}, as istiod without {@code serviceEntryVisibility}. */
    public static final ServiceEntryVisibility UNSET = new ServiceEntryVisibility(Visibility.PUBLIC, List.of());

    /**
     * Refuses what istiod could not compile ({@code LabelSelectorAsSelector}: an unknown operator, values with
     * {@code Exists}/{@code DoesNotExist}, none with {@code In}/{@code NotIn}) with the field named: istiod keeps its last
     * good matcher then, which a start has not got.
     */
    public ServiceEntryVisibility {
        Objects.requireNonNull(defaultVisibility, "serviceEntryVisibility.defaultVisibility");
        policies = List.copyOf(Objects.requireNonNull(policies, "serviceEntryVisibility.policies"));
        for (int i = 0; i < policies.size(); i++) {
            List<LabelSelector> rules = policies.get(i).namespaceSelectors();
            for (int j = 0; j < rules.size(); j++) {
                String where = "serviceEntryVisibility.policies[" + i + "].matchingRules[" + j + "].namespaceSelector";
                LabelSelector s = rules.get(j);
                if (s == null) {
                    throw new IllegalArgumentException(where + ": missing");
                }
                List<LabelSelectorRequirement> exprs = s.getMatchExpressions() == null ? List.of() : s.getMatchExpressions();
                for (int k = 0; k < exprs.size(); k++) {
                    LabelSelectorRequirement r = exprs.get(k);
                    String at = where + ".matchExpressions[" + k + "]";
                    List<String> values = r.getValues() == null ? List.of() : r.getValues();
                    if (r.getKey() == null || r.getKey().isEmpty()) {
                        throw new IllegalArgumentException(at + ".key: missing");
                    }
                    switch (String.valueOf(r.getOperator())) {
                        case "In", "NotIn" -> {
                            if (values.isEmpty()) {
                                throw new IllegalArgumentException(at + ".values: " + r.getOperator() + " needs at least one value");
                            }
                        }
                        case "Exists", "DoesNotExist" -> {
                            if (!values.isEmpty()) {
                                throw new IllegalArgumentException(at + ".values: " + r.getOperator() + " takes no values");
                            }
                        }
                        default -> throw new IllegalArgumentException(at + ".operator: \"" + r.getOperator()
                                + "\" is none of In, NotIn, Exists, DoesNotExist");
                    }
                }
            }
        }
    }

    /**
     * The {@code serviceEntryVisibility} of a MeshConfig YAML document: the file istiod reads ({@code --meshConfig},
     * default {@code ./etc/istio/config/mesh}, the {@code mesh} key of the {@code istio} ConfigMap), its other keys
     * skipped. Absent or empty: {@link #UNSET}.
     *
     * @param source what errors name (a file path)
     * @throws IllegalArgumentException naming {@code source:line:} and the field ({@code serviceEntryVisibility.policies[0]
     *                                  .visibility: "NAMESPCE" is none of ...}): an unknown field, a bad visibility or
     *                                  selector, a rule without {@code namespaceSelector}
     */
    public static ServiceEntryVisibility fromMeshConfig(String yaml, String source) {
        return io.zerohop.kubernetes.internal.MeshConfigVisibility.parse(Objects.requireNonNull(yaml, "yaml"), source);
    }

    /** A builder: {@code defaultVisibility} PUBLIC and no policies until set. */
    public static Builder builder() {
        return new Builder();
    }

    /** What an entry of a namespace labelled {@code namespaceLabels} (null: unknown, no labels) gets. */
    public Visibility visibilityFor(Map<String, String> namespaceLabels) {
        Map<String, String> labels = namespaceLabels == null ? Map.of() : namespaceLabels;
        for (Policy p : policies) {
            boolean all = true;
            for (LabelSelector s : p.namespaceSelectors()) {
                if (!matches(s, labels)) {
                    all = false;
                    break;
                }
            }
            if (all) {
                return p.visibility();
            }
        }
        return defaultVisibility;
    }

    /** {@code metav1.LabelSelectorAsSelector(s).Matches(labels)}: every matchLabels pair and every expression. */
    private static boolean matches(LabelSelector s, Map<String, String> labels) {
        if (s.getMatchLabels() != null) {
            for (Map.Entry<String, String> e : s.getMatchLabels().entrySet()) {
                if (!Objects.equals(e.getValue(), labels.get(e.getKey()))) {
                    return false;
                }
            }
        }
        if (s.getMatchExpressions() != null) {
            for (LabelSelectorRequirement r : s.getMatchExpressions()) {
                String v = labels.get(r.getKey());
                boolean ok = switch (r.getOperator()) {
                    case "In" -> v != null && r.getValues().contains(v);
                    case "NotIn" -> v == null || !r.getValues().contains(v);
                    case "Exists" -> v != null;
                    default -> v == null; // DoesNotExist; the others are refused when built
                };
                if (!ok) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Builds a {@link ServiceEntryVisibility} as a MeshConfig's {@code serviceEntryVisibility} reads. */
    public static final class Builder {
        private Visibility defaultVisibility = Visibility.PUBLIC;
        private final List<Policy> policies = new ArrayList<>();

        private Builder() {}

        /** {@code defaultVisibility} (default PUBLIC). */
        public Builder defaultVisibility(Visibility v) {
            this.defaultVisibility = Objects.requireNonNull(v, "defaultVisibility");
            return this;
        }

        /** Appends a policy: {@code v} for namespaces every selector matches (none: every namespace). */
        public Builder policy(Visibility v, LabelSelector... namespaceSelectors) {
            policies.add(new Policy(v, java.util.Arrays.asList(namespaceSelectors)));
            return this;
        }

        public ServiceEntryVisibility build() {
            return new ServiceEntryVisibility(defaultVisibility, policies);
        }
    }
}
