package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code zerohop proxy --kubernetes}: option errors a person can act on, before any API call. */
class KubernetesOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void kubernetesExcludesFileSources(@TempDir Path dir) {
        int code = Zerohop.run("proxy", "--kubernetes", "--node", "node-a", "--policies", dir.toString(), "--in-memory-ca");
        assertThat(code).as("a usage error (new-user pass: it was 1)").isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop proxy: --policies: --kubernetes reads workloads and policies from the API server; "
                + "drop --policies");
    }

    @Test
    void deployConfigMapNamesOnlyRealOptions(@TempDir Path dir) throws Exception {
        // deploy/node-proxy/configmap.yaml's proxy.yaml is what the DaemonSet passes to --config.
        var cm = new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                .readTree(Path.of("..", "..", "deploy", "node-proxy", "configmap.yaml").toFile());
        Path file = java.nio.file.Files.writeString(dir.resolve("proxy.yaml"), cm.path("data").path("proxy.yaml").asText());
        String[] args = ConfigFile.expand(new String[] {"--config", file.toString(), "--spire-socket", "unix:/run/spire/sockets/agent.sock"},
                new picocli.CommandLine(new ProxyCommand()).getCommandSpec());
        assertThat(args).contains("--kubernetes", "--inbound-transparent", "--transparent=0.0.0.0:15001", "--readiness=0.0.0.0:15021", "--metrics=0.0.0.0:15020",
                "--access-log-format=ztunnel");
        picocli.CommandLine.ParseResult parsed = new picocli.CommandLine(new ProxyCommand()).parseArgs(args);
        assertThat(parsed.hasMatchedOption("--kubernetes")).isTrue();
        assertThat(parsed.hasMatchedOption("--inbound-transparent")).as("inbound tunnels to pod IPs reach the node proxy").isTrue();
    }

    /** Both DaemonSets' container args (SPIRE and Istio CA) with the ConfigMap's proxy.yaml parse as the CLI reads them. */
    @Test
    void deployDaemonSetArgsParse(@TempDir Path dir) throws Exception {
        var yaml = new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory());
        var cm = yaml.readTree(Path.of("..", "..", "deploy", "node-proxy", "configmap.yaml").toFile());
        Path file = java.nio.file.Files.writeString(dir.resolve("proxy.yaml"), cm.path("data").path("proxy.yaml").asText());
        for (String ds : new String[] {"node-proxy", "node-proxy-istio"}) {
            var container = yaml.readTree(Path.of("..", "..", "deploy", ds, "daemonset.yaml").toFile())
                    .at("/spec/template/spec/containers/0/args");
            java.util.List<String> args = new java.util.ArrayList<>();
            container.forEach(a -> args.add(a.asText().equals("/etc/zerohop/proxy.yaml") ? file.toString() : a.asText()));
            assertThat(args.remove(0)).isEqualTo("proxy");
            String[] expanded = ConfigFile.expand(args.toArray(String[]::new), new picocli.CommandLine(new ProxyCommand()).getCommandSpec());
            picocli.CommandLine.ParseResult parsed = new picocli.CommandLine(new ProxyCommand()).parseArgs(expanded);
            assertThat(parsed.hasMatchedOption("--kubernetes")).as(ds).isTrue();
            assertThat(parsed.hasMatchedOption(ds.endsWith("istio") ? "--istio-ca" : "--spire-socket")).as(ds).isTrue();
        }
    }

    @Test
    void inboundTransparentNeedsAnInboundListener() {
        int code = Zerohop.run("proxy", "--inbound", "off", "--inbound-transparent", "--in-memory-ca");
        assertThat(code).as("a usage error").isEqualTo(2);
        assertThat(std.err.toString()).contains("--inbound-transparent: needs an HBONE listener, but --inbound is off");
    }

    @Test
    void kubernetesNeedsANodeName() {
        assumeTrue(System.getenv("NODE_NAME") == null, "NODE_NAME is set in this environment");
        int code = Zerohop.run("proxy", "--kubernetes", "--in-memory-ca");
        assertThat(code).as("a usage error (new-user pass: it was 1)").isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop proxy: --kubernetes: needs --node NAME (or NODE_NAME from the downward API: spec.nodeName)");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("--spire-socket takes /path as --help says (new-user pass: java-spiffe refused it); anything else is a usage error")
    void spireSocketTakesAPathOrAUri() {
        int code = Zerohop.run("proxy", "--spire-socket", "agent.sock", "--inbound", "off", "--metrics", "off", "--readiness", "off",
                "--admin", "off");
        assertThat(code).isEqualTo(2);
        assertThat(std.err.toString()).startsWith("zerohop proxy: --spire-socket: \"agent.sock\" is not unix:/path, tcp://ip:port or /path");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a --spire-socket with a scheme that java-spiffe's address check refuses is a usage error, before the wait (it was exit 1 after \"waiting for an SVID\")")
    void aSpireSocketJavaSpiffeRefusesIsAUsageError() {
        for (String a : new String[] {"unix:agent.sock", "UNIX://host/run/agent.sock", "tcp://localhost:8081"}) {
            std.out.reset();
            std.err.reset();
            int code = Zerohop.run("proxy", "--spire-socket", a, "--inbound", "off", "--metrics", "off", "--readiness", "off",
                    "--admin", "off");
            assertThat(code).as(a + ": " + std.err).isEqualTo(2);
            assertThat(std.err.toString()).as(a).startsWith("zerohop proxy: --spire-socket: invalid Workload API address \"");
            assertThat(std.err.toString()).as(a).contains("Run 'zerohop proxy --help' for usage.");
            assertThat(std.out.toString()).as(a + ": nothing waits for an address that cannot work").doesNotContain("waiting for an SVID");
        }
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a bare socket path reaches a real SPIFFE Workload API server and the proxy gets ready on its SVID")
    void aBareSpireSocketPathWorks(@TempDir Path dir) throws Exception {
        readyOnSpire(dir, socket -> socket.toString(), socket -> "unix:" + socket);
    }

    @Test
    @org.junit.jupiter.api.DisplayName("--spire-socket takes the scheme in any case (RFC 3986 3.1, as go-spiffe's addr_test.go); it said \"is not unix:/path\"")
    void aSpireSocketSchemeInUpperCaseWorks(@TempDir Path dir) throws Exception {
        readyOnSpire(dir, socket -> "UNIX://" + socket, socket -> "unix://" + socket);
    }

    private void readyOnSpire(Path dir, java.util.function.Function<Path, String> option,
                              java.util.function.Function<Path, String> shown) throws Exception {
        try (var ca = io.zerohop.identity.InMemoryCa.create("cluster.local");
             var spire = new io.zerohop.testing.WorkloadApiServer(dir.resolve("agent.sock"))) {
            spire.serve(ca.issue(io.zerohop.identity.SpiffeIds.istio("cluster.local", "zerohop-system", "zerohop-node")), ca.bundle());
            var out = std.out;
            var proxy = java.util.concurrent.CompletableFuture.supplyAsync(() -> Zerohop.run("proxy",
                    "--spire-socket", option.apply(spire.socket()), "--inbound", "127.0.0.1:0", "--metrics", "off",
                    "--readiness", "off", "--admin", "127.0.0.1:0", "--drain", "0s"));
            io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND, () -> out.toString().contains("zerohop proxy ready") || proxy.isDone());
            var admin = java.util.regex.Pattern.compile("admin (127\\.0\\.0\\.1:\\d+);").matcher(out.toString());
            assertThat(admin.find()).as(out + " / " + std.err).isTrue();
            assertThat(out.toString()).contains("identity source SPIRE " + shown.apply(spire.socket()));
            AdminQuit.quit(admin.group(1));
            assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
        }
    }
}
