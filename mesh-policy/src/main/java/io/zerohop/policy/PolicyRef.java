package io.zerohop.policy;

import java.util.Objects;

/**
 * Names a loaded policy object.
 *
 * @param kind      which resource kind
 * @param namespace namespace, empty for cluster-wide kinds
 * @param name      metadata.name
 * @param action    the policy's action as written (ALLOW, DENY, CUSTOM, AUDIT for Istio;
 *                  {@code ingress} / {@code ingressDeny} for Cilium; mode for PeerAuthentication; empty for
 *                  RequestAuthentication)
 */
public record PolicyRef(Kind kind, String namespace, String name, String action) {

    public enum Kind {
        AUTHORIZATION_POLICY("AuthorizationPolicy"),
        PEER_AUTHENTICATION("PeerAuthentication"),
        /** {@code security.istio.io} RequestAuthentication: JWT rules ({@link PolicyEngine#jwtRules}); its action is empty. */
        REQUEST_AUTHENTICATION("RequestAuthentication"),
        CILIUM_NETWORK_POLICY("CiliumNetworkPolicy"),
        CILIUM_CLUSTERWIDE_NETWORK_POLICY("CiliumClusterwideNetworkPolicy");

        private final String displayName;

        Kind(String displayName) {
            this.displayName = displayName;
        }

        public String displayName() {
            return displayName;
        }
    }

    public PolicyRef {
        Objects.requireNonNull(kind, "kind");
        namespace = namespace == null ? "" : namespace;
        Objects.requireNonNull(name, "name");
        action = action == null ? "" : action;
    }

    /** {@code namespace/name}, or just {@code name} for cluster-wide objects. */
    public String qualifiedName() {
        return namespace.isEmpty() ? name : namespace + "/" + name;
    }

    @Override
    public String toString() {
        return kind.displayName() + " " + qualifiedName();
    }

    // equals and hashCode are written out (what a record generates, component by component): the generated ones are
    // invokedynamics whose first call bootstraps java.lang.runtime.ObjectMethods, ~50-160 hidden LambdaForm classes
    // (~0.5 MB of metaspace, class space and code per process, benchmarks/results/mem10k-7a61d72.md), and a policy
    // reload hashes every PolicyRef (PolicyEngine.lossWarning): the first reload of a running proxy paid it.
    @Override
    public boolean equals(Object other) {
        return other == this || other instanceof PolicyRef o
                && kind == o.kind && namespace.equals(o.namespace) && name.equals(o.name) && action.equals(o.action);
    }

    @Override
    public int hashCode() {
        int h = kind.hashCode();
        h = 31 * h + namespace.hashCode();
        h = 31 * h + name.hashCode();
        return 31 * h + action.hashCode();
    }
}
