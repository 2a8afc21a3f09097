package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link PolicySet#selectors()}: each policy's selector as its file wrote it, for the CLI's selector warning. */
class PolicySelectorTest {

    @Test
    void eachAuthorizationAndCiliumPolicyHasItsSelectorAsWritten() throws Exception {
        PolicySet set = PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny, namespace: prod}
                spec: {selector: {matchLabels: {version: v1, app: backend}}, action: DENY, rules: [{}]}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: ns-wide}
                spec: {}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: routed, namespace: prod}
                spec: {targetRefs: [{kind: Service, group: "", name: backend}], rules: [{}]}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: prod}
                spec: {mtls: {mode: STRICT}}
                ---
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: cnp, namespace: prod}
                spec:
                  endpointSelector:
                    matchLabels: {"k8s:app": backend, io.kubernetes.pod.namespace: other}
                    matchExpressions: [{key: tier, operator: Exists}]
                  ingress: [{fromEndpoints: [{}]}]
                ---
                apiVersion: cilium.io/v2
                kind: CiliumClusterwideNetworkPolicy
                metadata: {name: ccnp}
                specs:
                  - endpointSelector: {matchLabels: {app: backend}}
                    ingress: [{fromEndpoints: [{}]}]
                  - endpointSelector: {matchLabels: {app: frontend}}
                    ingress: [{fromEndpoints: [{}]}]
                """);
        List<PolicySelector> s = set.selectors();
        assertThat(s).extracting(x -> x.policy().toString()).containsExactly("AuthorizationPolicy prod/deny",
                "AuthorizationPolicy default/ns-wide", "AuthorizationPolicy prod/routed", "CiliumNetworkPolicy prod/cnp",
                "CiliumClusterwideNetworkPolicy ccnp", "CiliumClusterwideNetworkPolicy ccnp");
        assertThat(s.get(0)).isEqualTo(new PolicySelector(s.get(0).policy(), "selector", Map.of("app", "backend", "version", "v1"), false,
                "p.yaml", 4));
        assertThat(s.get(0).policy().action()).isEqualTo("DENY");
        assertThat(s.get(0).matchLabels().keySet()).containsExactly("app", "version");
        // istiod's default action; no selector: the namespace.
        assertThat(s.get(1).policy().action()).isEqualTo("ALLOW");
        assertThat(s.get(1).field()).isEmpty();
        assertThat(s.get(1).matchLabels()).isEmpty();
        // Where a tool's line about it points (a new-user pass: "selects no workload" named no file): no metadata.namespace,
        // so its name; a Cilium selector's matchLabels line, where a mistyped label is.
        assertThat(s.get(1).place()).isEqualTo("p.yaml:8: ");
        assertThat(s.get(3).place()).isEqualTo("p.yaml:26: ");
        assertThat(s.get(2).field()).isEqualTo("targetRefs");
        // Cilium: keys as written (the compiled selector drops k8s: and replaces the namespace).
        assertThat(s.get(3).field()).isEqualTo("endpointSelector");
        assertThat(s.get(3).matchLabels()).isEqualTo(Map.of("k8s:app", "backend", "io.kubernetes.pod.namespace", "other"));
        assertThat(s.get(3).matchExpressions()).isTrue();
        // specs: one selector per rule, named by its entry (until 2 December none was carried).
        assertThat(s.get(4)).isEqualTo(new PolicySelector(s.get(4).policy(), "specs[0].endpointSelector", Map.of("app", "backend"), false,
                "p.yaml", 34));
        assertThat(s.get(5)).isEqualTo(new PolicySelector(s.get(5).policy(), "specs[1].endpointSelector", Map.of("app", "frontend"), false,
                "p.yaml", 36));
        assertThatThrownBy(() -> s.get(0).matchLabels().put("x", "y")).isInstanceOf(UnsupportedOperationException.class);
        assertThat(PolicySet.empty().selectors()).isEmpty();
    }

    @Test
    void suggestionsAndYamlCheckAreTheLoaders() {
        assertThat(Suggestions.nearest("prdo", List.of("default", "prod"))).isEqualTo("prod");
        assertThat(Suggestions.nearest("prod", List.of("prod"))).isNull();
        assertThatThrownBy(() -> PolicyLoader.checkYaml("c.yaml", "a: 1\nb: c: d\n")).isInstanceOf(PolicyLoadException.class)
                .satisfies(e -> {
                    PolicyLoadException p = (PolicyLoadException) e;
                    assertThat(p.line()).isEqualTo(2);
                    assertThat(p.problem()).startsWith("invalid YAML: ");
                    assertThat(p.getMessage()).startsWith("c.yaml:2: ");
                });
        assertThat(PolicyLoader.LOGGER).isEqualTo(io.zerohop.policy.internal.Loader.class.getName());
    }
}
