package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A null entry in a Cilium list of objects ({@code - } with nothing after it, {@code - ~}): the API server does not prune
 * a null list entry (k8s.io/apiextensions-apiserver pkg/apiserver/schema/defaulting/prunenulls.go drops null fields only),
 * and the CRD's entries are {@code type: object}, not nullable, so its type validator (k8s.io/kube-openapi
 * pkg/validation/validate/type.go) answers {@code must be of type object: "null"} and {@code kubectl apply} fails. zerohop
 * read such an entry under {@code fromEndpoints} as {@code {}} (every endpoint of the namespace, as Cilium's
 * {@code EndpointSelector.UnmarshalJSON} would), and under {@code ingress}/{@code ingressDeny}/{@code egress} as an empty
 * rule, where {@code toPorts}, {@code ports}, {@code fromCIDRSet} and {@code rules.http} already refused it (a Cilium
 * review, helper 333). A null field ({@code fromEndpoints: ~}) is still absent, as the API server prunes it.
 */
class CiliumNullEntryTest {

    private static final WorkloadRef DEST = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));

    private static String cnp(String rules) {
        return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\n  namespace: prod\nspec:\n"
                + "  endpointSelector:\n    matchLabels:\n      app: backend\n" + rules;
    }

    @Test
    void aNullFromEndpointsEntryIsRefusedAtItsLineNotReadAsTheWholeNamespace() {
        // The author commented out a selector: the cluster refuses the object; zerohop admitted every pod of prod.
        String yaml = cnp("""
                  ingress:
                  - fromEndpoints:
                    - # matchLabels: {app: admin}
                    - matchLabels: {app: frontend}
                """);
        assertThatThrownBy(() -> PolicyLoader.fromString("p.yaml", yaml)).isInstanceOf(PolicyLoadException.class)
                .hasMessageContaining("p.yaml:12")
                .hasMessageContaining("spec.ingress[0].fromEndpoints[0]")
                .hasMessageContaining("a null entry (a dash with nothing after it), which the API server refuses (\"must be of"
                        + " type object: null\": the CRD's entries are objects), so kubectl apply fails");
    }

    @Test
    void aNullRuleIsRefusedInEveryRuleList() {
        for (String rules : new String[] {"  ingress: [null]\n", "  ingress:\n  - ~\n",
                "  ingress:\n  - fromEntities: [all]\n  ingressDeny: [null]\n", "  ingress: [{}]\n  egress: [null]\n",
                "  ingress: [{}]\n  egressDeny: [null]\n", "  ingress: [{}]\n  egress:\n  - toEndpoints: [null]\n"}) {
            assertThatThrownBy(() -> PolicyLoader.fromString("p.yaml", cnp(rules))).as(rules)
                    .isInstanceOf(PolicyLoadException.class).hasMessageContaining("a null entry");
        }
    }

    @Test
    void aNullFieldIsStillAbsentAndAnEmptySelectorStillTheNamespace() throws Exception {
        // fromEndpoints: ~ is pruned: the rule has only toPorts and admits every peer on the port (Cilium's wildcard).
        PolicyEngine pruned = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", cnp("""
                  ingress:
                  - fromEndpoints: ~
                    toPorts: [{ports: [{port: '8080', protocol: TCP}]}]
                """))).build();
        AccessRequest other = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/other/sa/x")
                .sourceWorkload(new WorkloadRef("other", "x", "x", Map.of("app", "x"))).sourceAddress("10.0.0.3")
                .destinationAddress("10.0.0.2").destinationPort(8080).destination(DEST).build();
        assertThat(pruned.evaluate(other).allowed()).isTrue();
        PolicyEngine empty = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", cnp("""
                  ingress:
                  - fromEndpoints: [{}]
                """))).build();
        assertThat(empty.evaluate(other).allowed()).as("{} is the policy's namespace only").isFalse();
    }
}
