package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Why a Cilium policy that selects the destination leaves it open: newuser17 read "(enableDefaultDeny.ingress
 * false)" for an egress-only policy, which sets no such field; it has no ingress rule, so it turns on no ingress
 * default deny (Cilium's {@code len(r.Ingress) > 0 || len(r.IngressDeny) > 0}, pkg/policy/rule.go).
 */
class CiliumOpenReasonTest {
    static final WorkloadRef WEB = new WorkloadRef("prod", "web", "web", Map.of("app", "web"));

    static Decision decide(String spec) throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromStringQuietly("p.yaml", ConformanceTest.cnp("prod", "c", spec)))
                .build();
        return e.evaluate(AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/client")
                .sourceAddress(InetAddress.getByName("10.0.0.1")).destinationAddress(InetAddress.getByName("10.0.0.2"))
                .destinationPort(8080).destination(WEB).build());
    }

    @Test
    void anEgressOnlyPolicyLeavesIngressOpenForThatReason() throws Exception {
        Decision d = decide("{endpointSelector: {matchLabels: {app: web}}, egress: [{toEntities: [world]}]}");
        assertThat(d.allowed()).isTrue();
        assertThat(d.explain()).contains("(this one has no ingress or ingressDeny rule)").doesNotContain("enableDefaultDeny");
    }

    @Test
    void enableDefaultDenyOffSaysSo() throws Exception {
        Decision d = decide("{endpointSelector: {matchLabels: {app: web}}, enableDefaultDeny: {ingress: false},"
                + " ingress: [{fromEndpoints: [{matchLabels: {app: other}}]}]}");
        assertThat(d.allowed()).isTrue();
        assertThat(d.explain()).contains("(enableDefaultDeny.ingress false)");
    }
}
