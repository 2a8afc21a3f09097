package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code policy check} previews what an {@code istio.io/dry-run} policy with HTTP fields would do, enforced, to a
 * connection whose first bytes are not HTTP on an {@code auto} port: the proxy decides such a connection with
 * {@code PolicyEngine.evaluateUnparsed}, where an enforced DENY's HTTP fields count as matched (reset) and an ALLOW's as
 * not. istiod builds dry-run policies into shadow rules as it builds enforced ones, for the TCP chain too
 * (istio/istio pilot/pkg/security/authz/builder/builder.go {@code isDryRun}, {@code build(..., forTCP)}). A new-user pass
 * read only "ALLOW by default" and the hint to give --method for a dry-run DENY on {@code methods: [POST]}.
 */
class PolicyCheckDryRunTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private static final String DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: deny-post
              namespace: prod
              annotations: {istio.io/dry-run: "true"}
            spec:
              action: DENY
              rules:
              - to: [{operation: {methods: ["POST"]}}]
            """;

    private int check(Path dir, String yaml, String... more) throws Exception {
        Path p = Files.writeString(Files.createDirectories(dir.resolve("pol")).resolve("p.yaml"), yaml);
        String[] args = new String[more.length + 8];
        System.arraycopy(new String[] {"policy", "check", "--policies", p.toString(), "--dest", "prod/web:8080", "--source",
                "spiffe://cluster.local/ns/prod/sa/fe"}, 0, args, 0, 8);
        System.arraycopy(more, 0, args, 8, more.length);
        std.out.reset();
        std.err.reset();
        return Zerohop.run(args);
    }

    @Test
    void aDryRunDenyShowsTheResetOfANonHttpConnection(@TempDir Path dir) throws Exception {
        assertThat(check(dir, DENY)).isZero();
        assertThat(std.out.toString().lines().toList()).as(std.out.toString()).containsExactly(
                "ALLOW by default: no ALLOW AuthorizationPolicy applies and no DENY policy matched",
                "a connection whose first bytes are not HTTP: ALLOW by default: no ALLOW AuthorizationPolicy applies and no DENY"
                        + " policy matched [dry-run, not enforced: would DENY by prod/deny-post (AuthorizationPolicy DENY, rule 0):"
                        + " the connection could not be parsed as HTTP, so this DENY rule's HTTP fields could not be checked (fail"
                        + " closed, as a sidecar's TCP filter reads it)] (port 8080 is auto and a policy decides it per request;"
                        + " with the dry-run policies enforced, a connection it cannot parse as HTTP would be decided without HTTP"
                        + " fields, which a DENY rule's count as matched and an ALLOW rule's as not; give --method/--path for an"
                        + " HTTP request)");
    }

    @Test
    void aDryRunAllowShowsTheDenialOfANonHttpConnection(@TempDir Path dir) throws Exception {
        assertThat(check(dir, DENY.replace("deny-post", "allow-get").replace("DENY", "ALLOW").replace("POST", "GET"))).isZero();
        assertThat(std.out.toString()).contains("a connection whose first bytes are not HTTP: ALLOW by default: no ALLOW"
                + " AuthorizationPolicy applies and no DENY policy matched [dry-run, not enforced: would DENY by prod/allow-get"
                + " (AuthorizationPolicy ALLOW, default deny): ALLOW policies apply and none matched] (port 8080 is auto");
    }

    @Test
    void anHttpRequestKeepsItsOwnPreview(@TempDir Path dir) throws Exception {
        assertThat(check(dir, DENY, "--method", "POST")).isZero();
        assertThat(std.out.toString().lines().toList()).containsExactly("ALLOW by default: no ALLOW AuthorizationPolicy applies and"
                + " no DENY policy matched [dry-run, not enforced: would DENY by prod/deny-post (AuthorizationPolicy DENY, rule 0):"
                + " request.method POST matched]");
    }
}
