package io.zerohop.policy;

import java.util.Map;
import java.util.Objects;

/**
 * A workload as policy sees it: namespace, name, service account and pod labels.
 *
 * @param namespace      Kubernetes namespace, required
 * @param name           workload name (used in explanations only), may be empty
 * @param serviceAccount service account, may be empty
 * @param labels         pod labels; copied, never null
 */
public record WorkloadRef(String namespace, String name, String serviceAccount, Map<String, String> labels) {

    public WorkloadRef {
        Objects.requireNonNull(namespace, "namespace");
        if (namespace.isEmpty()) {
            throw new IllegalArgumentException("namespace must not be empty");
        }
        name = name == null ? "" : name;
        serviceAccount = serviceAccount == null ? "" : serviceAccount;
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }

    public static WorkloadRef of(String namespace, String name, Map<String, String> labels) {
        return new WorkloadRef(namespace, name, "", labels);
    }

    @Override
    public String toString() {
        return namespace + "/" + name;
    }
}
