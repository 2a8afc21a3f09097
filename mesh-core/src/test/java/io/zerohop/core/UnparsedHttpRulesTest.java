package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.PolicySet;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass: a Cilium {@code rules.http} on a port the workloads declare {@code tcp} denied every
 * connection there (zerohop decides a tcp port at L4; Cilium's proxy would parse HTTP), and only
 * {@code zerohop policy check} said why. The proxy warns once per port, when the policy set that causes it
 * is installed, and again only after it went away and came back. Where a node is set, only its workloads.
 */
class UnparsedHttpRulesTest {
    static final String HTTP_RULE = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: web-get, namespace: prod}
            spec:
              endpointSelector: {matchLabels: {app: web}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: client}}]
                toPorts: [{ports: [{port: "8080", protocol: TCP}], rules: {http: [{method: GET}]}}]
            """;
    static final String L4_RULE = HTTP_RULE.replace(", rules: {http: [{method: GET}]}", "");

    @Test
    void aTcpPortWithHttpRulesIsOneWarningPerInstallThatCausesIt() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        Workload web = new Workload("prod", "web", "web", Map.of("app", "web"), List.of(InetAddress.getByName("127.0.105.21")),
                Workload.Protocol.HBONE, "node-a", "cluster.local", Map.of(8080, AppProtocol.TCP, 9090, AppProtocol.HTTP));
        Workload elsewhere = new Workload("prod", "web-b", "web", Map.of("app", "web"), List.of(InetAddress.getByName("127.0.105.22")),
                Workload.Protocol.HBONE, "node-b", "cluster.local", Map.of(8080, AppProtocol.TCP));
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", HTTP_RULE)).build();
        // Named with where it was loaded from (the line of its metadata.name): a new-user pass had to search for it.
        String warning = "port 8080 of prod/web is declared tcp, and CiliumNetworkPolicy prod/web-get (p.yaml:3) has rules that"
                + " need HTTP there";
        try (CapturedStderr err = new CapturedStderr();
                Mesh mesh = Mesh.builder().identityProvider(ca).identity(web.identity()).node("node-a")
                        .workloads(WorkloadRegistry.of(List.of(web, elsewhere), Map.of())).policies(policy).threads(1).build()) {
            err.awaitLine(warning);
            PolicySet same = PolicyLoader.fromString("p.yaml", HTTP_RULE);
            policy.replace(same);
            assertThat(err.count(warning)).as("an unchanged cause is not repeated").isEqualTo(1);
            assertThat(err.count("prod/web-b")).as("another node's workload").isZero();
            policy.replace(PolicyLoader.fromString("p.yaml", L4_RULE));
            policy.replace(PolicyLoader.fromString("p.yaml", HTTP_RULE));
            assertThat(err.count(warning)).as("gone and back: said again").isEqualTo(2);
        }
    }

    /** newuser18: an AuthorizationPolicy's HTTP rule warned first, and a Cilium rules.http added later was silent. */
    @Test
    void aCiliumRuleAfterAnIstioOneIsSaidToo() throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        Workload web = new Workload("prod", "web", "web", Map.of("app", "web"), List.of(InetAddress.getByName("127.0.105.23")),
                Workload.Protocol.HBONE, "node-a", "cluster.local", Map.of(8080, AppProtocol.TCP));
        String istio = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: get-only, namespace: prod}
                spec:
                  selector: {matchLabels: {app: web}}
                  rules: [{to: [{operation: {methods: [GET]}}]}]
                """;
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("i.yaml", istio)).build();
        try (CapturedStderr err = new CapturedStderr();
                Mesh mesh = Mesh.builder().identityProvider(ca).identity(web.identity()).node("node-a")
                        .workloads(WorkloadRegistry.of(List.of(web), Map.of())).policies(policy).threads(1).build()) {
            err.awaitLine("port 8080 of prod/web is declared tcp, and AuthorizationPolicy prod/get-only (i.yaml:3) has rules that"
                    + " need HTTP there");
            policy.replace(PolicyLoader.fromString("both.yaml", istio + "---\n" + HTTP_RULE));
            err.awaitLine("port 8080 of prod/web is declared tcp, and CiliumNetworkPolicy prod/web-get (both.yaml:10) has rules"
                    + " that need HTTP there");
        }
    }
}
