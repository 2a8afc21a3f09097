package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Three of a new-user pass's findings on {@code policy check}'s messages (newuser16, 2 December). */
class PolicyCheckMessagesTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    static final String WORKLOADS = """
            trustDomain: new-td
            workloads:
            - {namespace: prod, name: web, serviceAccount: web, labels: {app: web}, addresses: [10.1.0.2], ports: {8080: tcp}}
            """;

    /** istio.io's authz-td-migration task: workloads of new-td checked under the default --trust-domain, unsaid. */
    @Test
    void aWorkloadsFileOfAnotherTrustDomainIsAWarning(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("w.yaml"), WORKLOADS);
        Path p = Files.writeString(dir.resolve("p.yaml"), CliTest.HTTP_ONLY_DENY);
        std.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(), "--dest", "prod/web:8080",
                "--source", "spiffe://new-td/ns/prod/sa/client");
        assertThat(std.err.toString()).contains("warning: " + w + ": trustDomain new-td, but --trust-domain is cluster.local:");
        std.err.reset();
        std.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(), "--dest", "prod/web:8080",
                "--source", "spiffe://new-td/ns/prod/sa/client", "--trust-domain", "new-td");
        assertThat(std.err.toString()).doesNotContain("but --trust-domain is");
    }

    /**
     * A dry-run policy's decision was printed twice: the engine's INFO log line and the command's own, from the decision
     * and again from the one for a connection that is not HTTP (an auto port a policy has HTTP fields for; newuser18).
     */
    @Test
    void aDryRunDecisionIsPrintedOnce(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("allow.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-frontend, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]}]
                """);
        Files.writeString(dir.resolve("dry.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: dry-deny
                  namespace: prod
                  annotations: {"istio.io/dry-run": "true"}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: dry-http
                  namespace: prod
                  annotations: {"istio.io/dry-run": "true"}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
                """);
        // The engine's logger at INFO, as in the proxy (the tests' default level is WARN): its line would show here.
        org.slf4j.simple.SimpleLogger engineLog = (org.slf4j.simple.SimpleLogger) org.slf4j.LoggerFactory.getLogger(
                io.zerohop.policy.PolicyEngine.class.getName());
        java.lang.reflect.Field level = org.slf4j.simple.SimpleLogger.class.getDeclaredField("currentLogLevel");
        level.setAccessible(true);
        int before = level.getInt(engineLog);
        level.setInt(engineLog, 20);
        try {
            std.run("policy", "check", "--policies", dir.toString(), "--dest", "prod/backend:9000",
                    "--source", "spiffe://cluster.local/ns/prod/sa/frontend");
        } finally {
            level.setInt(engineLog, before);
        }
        assertThat(std.out.toString() + std.err.toString()).as("stdout and stderr").doesNotContain("dry-run: spiffe://");
        assertThat(std.out.toString()).contains("would DENY by prod/dry-deny");
    }

    /** "(principals as written, as ztunnel)" was printed for decisions with no trust-domain alias in play (a Cilium one). */
    @Test
    void thePrincipalsNoteIsOnlyForAliases(@TempDir Path dir) throws Exception {
        Path p = Files.writeString(dir.resolve("p.yaml"), """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: web, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: web}}
                  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
                """);
        std.run("policy", "check", "--policies", p.toString(), "--dest", "prod/web:8080", "--source", "spiffe://cluster.local/ns/prod/sa/client",
                "--method", "GET");
        assertThat(std.err.toString()).contains("note: no policy has HTTP fields for port 8080").doesNotContain("principals as written");
    }

    /** newuser20: on an http port whose DENY methods: [POST] the proxy enforces, only "ALLOW by default" was printed. */
    @Test
    void anAllowedL4AnswerOnAParsedPortHintsAtThePerRequestDecision(@TempDir Path dir) throws Exception {
        Path w = Files.writeString(dir.resolve("w.yaml"), WORKLOADS.replace("trustDomain: new-td", "trustDomain: cluster.local")
                .replace("{8080: tcp}", "{8081: http}"));
        Path p = Files.writeString(dir.resolve("p.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-post, namespace: prod}
                spec:
                  selector: {matchLabels: {app: web}}
                  action: DENY
                  rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/client]}}], to: [{operation: {methods: [POST]}}]}]
                """);
        std.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(), "--dest", "prod/web:8081",
                "--source", "spiffe://cluster.local/ns/prod/sa/client");
        assertThat(std.out.toString()).startsWith("ALLOW").contains("an HTTP request: decided per request on port 8081");
    }
}
