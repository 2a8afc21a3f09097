package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cilium host policies: a CiliumClusterwideNetworkPolicy rule with {@code nodeSelector} selects nodes, and Cilium
 * applies it to each selected node's host endpoint, never to a pod (cilium/cilium pkg/policy/rule.go: "NodeSelector
 * can only match nodes, EndpointSelector only pods"). zerohop protects pods, so it enforces none: in Kubernetes mode
 * such a rule is ignored (mesh-kubernetes README, FailClosed), and in a policy file it made the whole file fail
 * ({@code spec.nodeSelector: host policies (nodeSelector) are not supported}, a new-user pass), so an exported Cilium
 * policy set with host-firewall policies did not load. Now skipped with a warning naming file:line. Each entry of
 * {@code specs} is a rule of its own (cilium.io/v2 CiliumClusterwideNetworkPolicy.Parse: Spec and each Specs entry),
 * so a host rule beside pod rules skips itself only. What Cilium refuses stays refused: both selectors in one rule
 * (pkg/policy/api rule_validation.go Sanitize) and a nodeSelector in a CiliumNetworkPolicy (cnp_types.go Parse).
 */
class CiliumHostPolicyTest {

    static final String HOST_FW = """
            apiVersion: cilium.io/v2
            kind: CiliumClusterwideNetworkPolicy
            metadata: {name: host-fw}
            spec:
              nodeSelector: {matchLabels: {role: worker}}
              ingressDeny:
              - fromEntities: [world]
            """;

    /** A pod carrying the node selector's labels: a host rule must not reach it. */
    static final WorkloadRef WORKER_POD = new WorkloadRef("prod", "b", "b", Map.of("app", "b", "role", "worker"));

    static Decision evaluate(PolicySet set, String principal) {
        return PolicyEngine.builder().policies(set).build().evaluate(AccessRequest.builder().sourcePrincipal(principal)
                .sourceAddress("203.0.113.9").destinationAddress("10.0.1.2").destinationPort(8080).destination(WORKER_POD).build());
    }

    @Test
    void aHostPolicyIsSkippedWithAWarningAndAppliesToNoPod(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("host-fw.yaml"), HOST_FW);
        Files.writeString(dir.resolve("deny.yaml"), ap("prod", "deny-legacy",
                "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/legacy/sa/old]}}]}]}"));
        PolicySet set = PolicyLoader.fromDirectory(dir);
        assertThat(set.policies()).extracting(PolicyRef::name).containsExactly("deny-legacy");
        assertThat(set.warnings()).contains(dir.resolve("host-fw.yaml") + ":5: CiliumClusterwideNetworkPolicy host-fw:"
                + " spec.nodeSelector: host policy skipped: zerohop does not enforce host policies (Cilium applies a nodeSelector"
                + " rule to the selected nodes' host endpoints; zerohop protects pods, and applies it to none)");
        // Its ingressDeny from world, applied to a pod, would deny this plaintext world peer.
        Decision d = evaluate(set, null);
        assertThat(d.allowed()).as(d.explain()).isTrue();
        assertThat(d.outcome()).isEqualTo(Decision.Outcome.ALLOWED_NO_POLICY);
        assertThat(PolicyLoader.fromString("p.yaml", HOST_FW.replace("nodeSelector: {matchLabels: {role: worker}}",
                "nodeSelector: {}")).warnings()).as("nodeSelector: {} (every node)").anyMatch(w -> w.contains("host policy skipped"));
    }

    @Test
    void aHostRuleInSpecsSkipsOnlyItself() throws Exception {
        PolicySet set = PolicyLoader.fromString("mixed.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumClusterwideNetworkPolicy
                metadata: {name: mixed}
                specs:
                - nodeSelector: {matchLabels: {role: worker}}
                  ingress:
                  - fromNodes: [{matchLabels: {role: control-plane}}]
                - endpointSelector: {matchLabels: {app: b}}
                  ingressDeny:
                  - fromEntities: [world]
                """);
        assertThat(set.warnings()).anyMatch(w -> w.startsWith("mixed.yaml:5: CiliumClusterwideNetworkPolicy mixed:"
                + " specs[0].nodeSelector: host policy skipped"));
        assertThat(set.policies()).extracting(PolicyRef::name).containsExactly("mixed");
        Decision d = evaluate(set, null);
        assertThat(d.allowed()).as("the pod rule's ingressDeny from world applies").isFalse();
        assertThat(d.policy().name()).isEqualTo("mixed");
        // Host rules only: the object loads, with nothing in force.
        PolicySet hostOnly = PolicyLoader.fromString("h.yaml", HOST_FW.replace("spec:\n  ", "specs:\n- "));
        assertThat(hostOnly.size()).isZero();
    }

    @Test
    void whatCiliumRefusesStaysRefused() {
        PolicyLoadException both = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("b.yaml",
                HOST_FW.replace("spec:\n", "spec:\n  endpointSelector: {}\n")));
        assertThat(both.line()).isEqualTo(6);
        assertThat(both.field()).isEqualTo("spec.nodeSelector");
        assertThat(both.problem()).contains("rule cannot have both EndpointSelector and NodeSelector");
        PolicyLoadException cnp = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("c.yaml",
                HOST_FW.replace("CiliumClusterwideNetworkPolicy", "CiliumNetworkPolicy").replace("{name: host-fw}",
                        "{name: host-fw, namespace: prod}")));
        assertThat(cnp.line()).isEqualTo(5);
        assertThat(cnp.problem()).contains("Invalid CiliumNetworkPolicy spec: rule cannot have NodeSelector");
    }

    /**
     * A skipped host rule is still read as Cilium reads a rule (pkg/policy/api rule_validation.go Sanitize; the CRD's
     * schema for unknown fields): a typo, a CIDR no prefix is or an unknown entity is refused naming file, line and field.
     * Its nodeSelector is a label selector, and {@code fromNodes}/{@code toNodes}, which only a host rule has, are taken.
     * A final new-user pass loaded each of these with only the "skipped" warning.
     */
    @Test
    void aHostRuleIsStillCheckedAsCiliumChecksIt() throws Exception {
        PolicyLoadException typo = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("t.yaml",
                HOST_FW.replace("ingressDeny:", "ingresDeny:")));
        assertThat(typo.line()).isEqualTo(6);
        assertThat(typo.field()).endsWith("ingresDeny");
        assertThat(typo.problem()).contains("did you mean ingressDeny?");
        PolicyLoadException cidr = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("c.yaml",
                HOST_FW.replace("fromEntities: [world]", "fromCIDR: [10.0.0.0/33]")));
        assertThat(cidr.line()).isEqualTo(7);
        PolicyLoadException entity = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("e.yaml",
                HOST_FW.replace("[world]", "[wrld]")));
        assertThat(entity.line()).isEqualTo(7);
        assertThat(entity.problem()).contains("wrld");
        assertThat(PolicyLoader.fromString("n.yaml", HOST_FW.replace("- fromEntities: [world]",
                "- fromNodes: [{matchLabels: {role: edge}}]")).warnings()).anyMatch(w -> w.contains("host policy skipped"));
    }
}
