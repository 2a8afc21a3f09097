package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * {@code from:} with nothing after it is a null, which Kubernetes drops, so istiod sees a rule without {@code from} (it
 * rejects only {@code from: []}, pkg/config/validation validation.go): the rule matches every source. zerohop decides the
 * same and says so at the key's line (newuser21: an ALLOW for everyone, without a word).
 */
class NullRuleFieldTest {
    @Test
    void aNullFromLoadsAsUpstreamWithAWarningAtItsLine() throws Exception {
        PolicySet set = PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-some, namespace: prod}
                spec:
                  action: ALLOW
                  rules:
                  - from:
                    to: [{operation: {ports: ["8080"]}}]
                """);
        assertThat(set.size()).isEqualTo(1);
        assertThat(set.warnings()).anySatisfy(w -> assertThat(w).startsWith("p.yaml:7: AuthorizationPolicy prod/allow-some: spec.rules[0].from:"
                + " `from:` has no value (null): Kubernetes drops it, so this rule matches every source"));
    }

    @Test
    void aRuleWithoutTheKeyHasNoSuchWarning() throws Exception {
        PolicySet set = PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-some, namespace: prod}
                spec:
                  action: ALLOW
                  rules:
                  - to: [{operation: {ports: ["8080"]}}]
                """);
        assertThat(set.warnings()).noneMatch(w -> w.contains("has no value (null)"));
    }
}
