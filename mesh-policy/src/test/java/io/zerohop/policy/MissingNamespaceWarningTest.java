package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * A new-user pass: istio.io's tasks apply many policies with {@code kubectl apply -n foo} (authz-dry-run's
 * {@code deny-path-headers}, authz-custom's {@code ext-authz}), so their YAML has no metadata.namespace; zerohop,
 * as kubectl without -n, loads them into {@code default}, and nothing said so. A warning now names the line.
 */
class MissingNamespaceWarningTest {
    @Test
    void aNamespacedPolicyWithoutANamespaceIsLoadedIntoDefaultWithAWarning() throws Exception {
        PolicySet set = PolicyLoader.fromStringQuietly("deny-path-headers.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: deny-path-headers
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  action: DENY
                  rules: [{to: [{operation: {paths: ["/headers"]}}]}]
                """);
        assertThat(set.policies()).singleElement().extracting(PolicyRef::namespace).isEqualTo("default");
        assertThat(set.warnings()).anyMatch(w -> w.startsWith("deny-path-headers.yaml:4: AuthorizationPolicy deny-path-headers:"
                + " no metadata.namespace: loaded into \"default\""));
    }

    @Test
    void anExplicitNamespaceOrAClusterwidePolicyHasNone() throws Exception {
        PolicySet set = PolicyLoader.fromStringQuietly("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: a, namespace: default}
                spec: {action: DENY, rules: [{from: [{source: {namespaces: [legacy]}}]}]}
                ---
                apiVersion: cilium.io/v2
                kind: CiliumClusterwideNetworkPolicy
                metadata: {name: c}
                spec:
                  endpointSelector: {}
                  ingress: [{fromEntities: [cluster]}]
                """);
        assertThat(set.warnings()).noneMatch(w -> w.contains("no metadata.namespace"));
    }
}
