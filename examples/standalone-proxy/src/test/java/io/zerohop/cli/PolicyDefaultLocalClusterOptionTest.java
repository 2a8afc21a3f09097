package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.CiliumOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code --policy-default-local-cluster}, named as Cilium's agent option (cilium/cilium pkg/clustermesh/types/option.go;
 * Helm {@code clustermesh.policyDefaultLocalCluster}): true by default (Cilium 1.19), false for a cluster on Cilium 1.18 or
 * earlier, where a fromEndpoints selector naming no cluster reaches every cluster (utils.go {@code addClusterFilterByDefault}
 * adds nothing for the empty cluster name, utils_test.go {@code TestAddClusterFilterByDefault}).
 */
class PolicyDefaultLocalClusterOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @TempDir
    Path dir;

    static final String WORKLOADS = """
            workloads:
              - {namespace: prod, name: web, serviceAccount: web, addresses: [10.0.0.2], labels: {app: web}}
              - {namespace: prod, name: client, serviceAccount: client, addresses: [10.0.0.1],
                 labels: {app: client, io.cilium.k8s.policy.cluster: eu}}
            """;

    static final String POLICY = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: from-client, namespace: prod}
            spec:
              endpointSelector: {matchLabels: {app: web}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: client}}]
            """;

    private int check(String... extra) throws Exception {
        Path p = Files.createDirectories(dir.resolve("policies"));
        Files.writeString(p.resolve("p.yaml"), POLICY);
        Path w = Files.writeString(dir.resolve("workloads.yaml"), WORKLOADS);
        std.out.reset();
        std.err.reset();
        String[] base = {"policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/client", "--source-ip", "10.0.0.1", "--dest", "prod/web:8080"};
        String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return Zerohop.run(args);
    }

    @Test
    void policyCheckFollowsTheOption() throws Exception {
        assertThat(check()).as(std.out.toString()).isEqualTo(3);
        assertThat(std.out.toString()).contains("policy-default-local-cluster");
        assertThat(check("--policy-default-local-cluster", "true")).as(std.out.toString()).isEqualTo(3);
        assertThat(check("--policy-default-local-cluster=false")).as(std.out.toString()).isZero();
        assertThat(check("--policy-default-local-cluster", "false")).as(std.out.toString()).isZero();
        assertThat(check("--policy-default-local-cluster=maybe")).isEqualTo(2);
    }

    @Test
    void theProxyOptionAndItsConfigFileKey() throws Exception {
        CommandLine.ParseResult dflt = new CommandLine(new Zerohop()).parseArgs("proxy", "--in-memory-ca");
        ProxyCommand proxy = (ProxyCommand) dflt.subcommand().commandSpec().userObject();
        assertThat(proxy.ciliumOptions()).isEqualTo(CiliumOptions.defaults());
        CommandLine.ParseResult off = new CommandLine(new Zerohop()).parseArgs("proxy", "--in-memory-ca",
                "--policy-default-local-cluster=false");
        assertThat(((ProxyCommand) off.subcommand().commandSpec().userObject()).ciliumOptions().policyDefaultLocalCluster()).isFalse();
        Path f = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\npolicy-default-local-cluster: false\n");
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString()}, ConfigFileTest.PROXY))
                .contains("--policy-default-local-cluster=false");
    }
}
