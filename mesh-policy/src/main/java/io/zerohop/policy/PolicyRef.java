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
}
