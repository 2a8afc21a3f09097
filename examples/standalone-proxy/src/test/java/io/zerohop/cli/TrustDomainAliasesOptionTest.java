package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code --trust-domain-aliases} (istiod's meshConfig.trustDomainAliases) of {@code zerohop proxy} and
 * {@code zerohop policy check}: comma-separated or repeated, under the same key in {@code --config}; a bad alias is a
 * usage error naming the option (or the file's line) and the value; and {@code policy check} decides as the proxy's
 * engine then does (the L7 rewriting itself: mesh-policy's TrustDomainAliasTest, mesh-core's
 * TrustDomainAliasEndToEndTest).
 */
class TrustDomainAliasesOptionTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private String run(String... args) {
        return std.run(args);
    }

    private static final String[] OFF = {"--inbound", "off", "--metrics", "off", "--readiness", "off", "--admin", "off"};

    private static String[] proxy(String... args) {
        String[] out = new String[1 + args.length + OFF.length];
        out[0] = "proxy";
        System.arraycopy(args, 0, out, 1, args.length);
        System.arraycopy(OFF, 0, out, 1 + args.length, OFF.length);
        return out;
    }

    @Test
    void commaSeparatedRepeatedAndFromTheConfigFile(@TempDir Path dir) throws Exception {
        CommandLine.ParseResult p = new CommandLine(new Zerohop()).parseArgs(
                "proxy", "--in-memory-ca", "--trust-domain-aliases", "old-td,td2", "--trust-domain-aliases", "td3").subcommand();
        assertThat(p.matchedOptionValue("--trust-domain-aliases", List.of())).isEqualTo(List.of("old-td", "td2", "td3"));
        Path f = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\ntrust-domain: example.org\ntrust-domain-aliases: [old-td, td2]\n");
        String[] args = ConfigFile.expand(new String[] {"--config", f.toString()}, ConfigFileTest.PROXY);
        assertThat(args).contains("--trust-domain-aliases=old-td", "--trust-domain-aliases=td2", "--trust-domain=example.org");
    }

    @Test
    void aBadAliasIsAUsageErrorNamingTheOptionAndTheValue(@TempDir Path dir) throws Exception {
        assertThat(run(proxy("--in-memory-ca", "--trust-domain-aliases", "old-td,Old_TD")))
                .isEqualTo("exit 2: zerohop proxy: --trust-domain-aliases: invalid trust domain alias \"Old_TD\": not in canonical form"
                        + " (trust domain must be lower case) | Run 'zerohop proxy --help' for usage.");
        assertThat(run(proxy("--in-memory-ca", "--trust-domain-aliases", "old-td/ns/a")))
                .isEqualTo("exit 2: zerohop proxy: --trust-domain-aliases: invalid trust domain alias \"old-td/ns/a\": a trust domain"
                        + " has no '/' (write the name alone, e.g. example.org) | Run 'zerohop proxy --help' for usage.");
        assertThat(run(proxy("--in-memory-ca", "--trust-domain-aliases", "old-td,,td2")))
                .startsWith("exit 2: zerohop proxy: --trust-domain-aliases: \"old-td,,td2\" has an empty element");
        Path f = Files.writeString(dir.resolve("proxy.yaml"), "in-memory-ca: true\ntrust-domain-aliases: [old-td, \"*-td\"]\n");
        assertThat(run(proxy("--config", f.toString())))
                .startsWith("exit 2: zerohop proxy: " + f + ":2: trust-domain-aliases: invalid trust domain alias \"*-td\": ");
        assertThat(run("policy", "check", "--policies", dir.toString(), "--dest", "prod/backend:8080", "--trust-domain-aliases", "A"))
                .startsWith("exit 2: zerohop policy check: --trust-domain-aliases: invalid trust domain alias \"A\": ");
    }

    /**
     * policy check decides as the proxy: per request, with the principals rewritten for the mesh's trust domains, on
     * a port a policy has HTTP fields for (the proxy parses it); at L4, with principals as written as at ztunnel, on
     * one without (the proxy's zero-parse path). A new-user pass got DENY from policy check for a request the proxy
     * served: a principal-only DENY of an alias's identity, where the proxy decided the connection at L4.
     */
    @Test
    void policyCheckDecidesWithTheMeshsTrustDomainsWhereTheProxyParses(@TempDir Path dir) throws Exception {
        String deny = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-legacy, namespace: prod}
                spec:
                  action: DENY
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/legacy/sa/old"]}}]
                """;
        Files.writeString(dir.resolve("deny.yaml"), deny + "    to: [{operation: {paths: [\"/admin*\"]}}]\n");
        String[] check = {"policy", "check", "--policies", dir.toString(), "--source", "spiffe://example.org/ns/legacy/sa/old",
                "--dest", "prod/backend:8080", "--method", "GET", "--path", "/admin/x"};
        assertThat(Zerohop.run(check)).isZero();
        String[] withTd = java.util.Arrays.copyOf(check, check.length + 4);
        System.arraycopy(new String[] {"--trust-domain", "example.org", "--trust-domain-aliases", "old-td"}, 0, withTd, check.length, 4);
        std.out.reset();
        assertThat(Zerohop.run(withTd)).isEqualTo(3);
        assertThat(std.out.toString()).startsWith("DENY by prod/deny-legacy (AuthorizationPolicy DENY, rule 0)");

        Files.writeString(dir.resolve("deny.yaml"), deny);
        std.out.reset();
        std.err.reset();
        assertThat(Zerohop.run(withTd)).as("no HTTP fields: decided at L4, principals as written").isZero();
        assertThat(std.err.toString()).contains("note: no policy has HTTP fields for port 8080 of prod/backend: the proxy does not parse"
                + " HTTP there, so --method/--path/--host/--header were left out and the connection decided at L4, as the proxy decides"
                + " it (principals as written, as ztunnel, not rewritten for the aliases)");
    }
}
