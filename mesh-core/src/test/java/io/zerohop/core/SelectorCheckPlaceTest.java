package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.PolicySet;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every line of the selector check starts with the policy's {@code file:line:}, as every other loader message does
 * ({@code p.yaml:8: PeerAuthentication ...}): a new-user pass read {@code AuthorizationPolicy prod/allow-frontend (ALLOW)
 * selects no workload in workloads.yaml ...} with a directory of policies and had to grep for the policy. The line is the
 * selector's {@code matchLabels} (Istio {@code spec.selector}, Cilium {@code endpointSelector}, in {@code spec} or an
 * entry of {@code specs}), where the mistyped label is; a selectorless policy's its {@code metadata.namespace}, and a source
 * namespace's the value's own.
 */
class SelectorCheckPlaceTest {
    private static final String POLICIES = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-frontend, namespace: prod}
            spec:
              selector:
                matchLabels: {app: checkuot}
              action: ALLOW
              rules: [{from: [{source: {namespaces: [prdo]}}]}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: deny-all
              namespace: prdo
            spec: {action: DENY, rules: [{}]}
            ---
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: two-rules, namespace: prod}
            specs:
            - endpointSelector: {matchLabels: {app: checkout}}
              ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
            - endpointSelector:
                matchLabels: {app: chekout}
              ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
            ---
            apiVersion: cilium.io/v2
            kind: CiliumClusterwideNetworkPolicy
            metadata: {name: enforce}
            spec:
              endpointSelector: {matchLabels: {app: nothing}}
              ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
            """;

    @Test
    void eachLineStartsWithItsFileAndLine() throws Exception {
        PolicySet set = PolicyLoader.fromStringQuietly("policies/p.yaml", POLICIES);
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(new Workload("prod", "checkout", "checkout", Map.of("app", "checkout"),
                List.of(InetAddress.getByName("10.0.1.2")), Workload.Protocol.HBONE, null, "cluster.local")), Map.of());
        List<String> lines = SelectorCheck.unselecting(set, registry, "workloads.yaml", "istio-system", null);
        assertThat(lines).hasSize(5);
        assertThat(lines.get(0)).startsWith("policies/p.yaml:6: AuthorizationPolicy prod/allow-frontend (ALLOW) selects no workload");
        assertThat(lines.get(1)).startsWith("policies/p.yaml:14: AuthorizationPolicy prdo/deny-all (DENY) applies to no workload");
        assertThat(lines.get(2)).startsWith("policies/p.yaml:24: CiliumNetworkPolicy prod/two-rules rule specs[1] selects no workload");
        assertThat(lines.get(3)).startsWith("policies/p.yaml:31: CiliumClusterwideNetworkPolicy enforce selects no workload");
        assertThat(lines.get(4)).startsWith("policies/p.yaml:8: AuthorizationPolicy prod/allow-frontend (ALLOW)"
                + " spec.rules[0].from[0].source.namespaces[0] names namespace prdo");
    }
}
