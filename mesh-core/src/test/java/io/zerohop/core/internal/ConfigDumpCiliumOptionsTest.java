package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.CiliumOptions;
import io.zerohop.policy.PolicyEngine;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@code /config_dump}'s {@code policySet} names the Cilium agent option the policies are read with,
 * {@code policy-default-local-cluster} (cilium/cilium pkg/clustermesh/types/option.go; the agent shows its own in the
 * {@code cilium-config} ConfigMap, {@code policy-default-local-cluster: "true"}). An operator on Cilium 1.18 who set
 * {@code --policy-default-local-cluster=false} (or the {@code --config} key) had no way to see which reading a running
 * proxy used: no start line, no dump entry (a new-user pass, helper 298).
 */
class ConfigDumpCiliumOptionsTest {
    private static JsonNode policySet(PolicyEngine engine) throws Exception {
        try (InMemoryCa ca = InMemoryCa.create("cluster.local")) {
            String json = ConfigDump.render(List.of(), engine, ca, Set.of(), Map.of(), 0, Set.of(), Set.of(), Map.of());
            return new ObjectMapper().readTree(json).get("policySet");
        }
    }

    @Test
    void thePolicySetNamesPolicyDefaultLocalCluster() throws Exception {
        assertThat(policySet(PolicyEngine.builder().build()).at("/cilium/policyDefaultLocalCluster").isBoolean()).isTrue();
        assertThat(policySet(PolicyEngine.builder().build()).at("/cilium/policyDefaultLocalCluster").asBoolean()).isTrue();
        PolicyEngine off = PolicyEngine.builder().ciliumOptions(CiliumOptions.builder().policyDefaultLocalCluster(false).build()).build();
        assertThat(policySet(off).at("/cilium/policyDefaultLocalCluster").isBoolean()).isTrue();
        assertThat(policySet(off).at("/cilium/policyDefaultLocalCluster").asBoolean()).isFalse();
    }
}
