package io.zerohop.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.zerohop.kubernetes.internal.PolicyState;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.CiliumOptions;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CiliumNetworkPolicies of the API server are read with the engine's {@link CiliumOptions}, as a Cilium agent with
 * that {@code policy-default-local-cluster} reads them (cilium/cilium pkg/k8s/apis/cilium.io/utils/utils.go
 * {@code getEndpointSelector}, {@code addClusterFilterByDefault}; utils_test.go {@code TestAddClusterFilterByDefault}):
 * with false a frontend of another cluster passes {@code fromEndpoints: [{matchLabels: {app: frontend}}]}.
 */
class CiliumOptionsFromApiServerTest {
    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend-1", "backend", Map.of("app", "backend"));
    static final WorkloadRef EU_FRONTEND = new WorkloadRef("prod", "frontend-1", "frontend",
            Map.of("app", "frontend", "io.cilium.k8s.policy.cluster", "eu"));

    @ParameterizedTest(name = "policy-default-local-cluster {0}")
    @ValueSource(booleans = {true, false})
    void theClusterFilterFollowsTheEnginesOption(boolean localCluster) {
        PolicyEngine engine = PolicyEngine.builder()
                .ciliumOptions(CiliumOptions.builder().policyDefaultLocalCluster(localCluster).build()).build();
        PolicyState state = new PolicyState(engine);
        state.put(Serialization.unmarshal("""
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: frontend, namespace: prod}
                spec: {endpointSelector: {}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]}
                """, GenericKubernetesResource.class));
        state.flush();
        assertThat(state.rejectedObjects()).isEmpty();
        assertThat(engine.policies().size()).isEqualTo(1);
        boolean allowed = engine.evaluate(AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend")
                .sourceWorkload(EU_FRONTEND).sourceAddress("10.0.9.9").destinationAddress("10.0.1.2").destinationPort(8080)
                .destination(BACKEND).build()).allowed();
        assertThat(allowed).as("a frontend of cluster eu").isEqualTo(!localCluster);
    }
}
