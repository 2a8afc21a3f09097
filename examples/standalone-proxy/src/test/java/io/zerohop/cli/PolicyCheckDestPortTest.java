package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code policy check --dest NS/WORKLOAD} without a port decides for port 80, and says so in a {@code note:} on stderr, as
 * the check names the {@code --method GET} and {@code --path /} it fills in; the exit code is the decision's, unchanged. A
 * new-user pass checked {@code --dest prod/backend} against a policy on port 8080, read "ALLOW by default" / a DENY and
 * nothing said the decision was for port 80.
 */
class PolicyCheckDestPortTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    private static final String ALLOW_8080 = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-allow-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {ports: ["8080"]}}]
            """;

    @Test
    void aDestWithoutAPortIsDecidedForPort80AndTheNoteSaysSo(@TempDir Path dir) throws Exception {
        Path p = Files.writeString(dir.resolve("p.yaml"), ALLOW_8080);
        Path w = Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - {namespace: prod, name: backend, serviceAccount: backend, labels: {app: backend}, addresses: [10.0.1.2], ports: {8080: http}}
                """);
        String run = std.run("policy", "check", "--policies", p.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/prod/sa/frontend", "--dest", "prod/backend");
        assertThat(run).startsWith("exit 3: ");
        assertThat(std.out.toString()).startsWith("DENY by prod/backend-allow-frontend");
        assertThat(std.err.toString().lines()).as(std.err.toString()).contains("note: decided for port 80: --dest prod/backend"
                + " names no port (NS/WORKLOAD:PORT gives the port the caller dials); " + w + " declares port 8080 of prod/backend");
    }

    @Test
    void withoutWorkloadsTheNoteNamesThePortAlone(@TempDir Path dir) throws Exception {
        Path p = Files.writeString(dir.resolve("p.yaml"), ALLOW_8080);
        assertThat(std.run("policy", "check", "--policies", p.toString(), "--source", "spiffe://cluster.local/ns/prod/sa/frontend",
                "--dest", "prod/backend")).startsWith("exit 3: ");
        assertThat(std.err.toString().lines()).as(std.err.toString()).contains("note: decided for port 80: --dest prod/backend"
                + " names no port (NS/WORKLOAD:PORT gives the port the caller dials)");
    }

    @Test
    void aDestWithAPortHasNoSuchNote(@TempDir Path dir) throws Exception {
        Path p = Files.writeString(dir.resolve("p.yaml"), ALLOW_8080);
        assertThat(std.run("policy", "check", "--policies", p.toString(), "--source", "spiffe://cluster.local/ns/prod/sa/frontend",
                "--dest", "prod/backend:8080")).startsWith("exit 0: ");
        assertThat(std.err.toString()).doesNotContain("decided for port");
    }
}
