package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code policy check} labels each load warning as the proxy's log level for it says: the note that zerohop enforces a
 * policy's HTTP attributes itself is logged at INFO by the proxy and printed as {@code note:}; a real warning (WARN in
 * the proxy's log), such as ztunnel's missing AUDIT support, stays {@code warning:}. A new-user pass read
 * {@code warning:} from policy check for the line the proxy logs at INFO.
 */
class PolicyCheckNoteTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void theHttpAttributesNoteIsANoteAndRealWarningsStayWarnings(@TempDir Path dir) throws Exception {
        Path deny = Files.writeString(dir.resolve("deny.yaml"), CliTest.HTTP_ONLY_DENY);
        Path audit = Files.writeString(dir.resolve("audit.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: audit-all, namespace: prod}
                spec: {action: AUDIT, rules: [{}]}
                """);
        std.run("policy", "check", "--policies", dir.toString(), "--dest", "prod/web:8080");
        List<String> lines = std.err.toString().lines().toList();
        assertThat(lines).as(std.err.toString())
                .anyMatch(l -> l.startsWith("note: " + deny + ":7: AuthorizationPolicy prod/deny-admin: spec.rules[0].to[0].operation.paths: HTTP attributes (paths):"
                        + " zerohop enforces them itself"))
                .anyMatch(l -> l.equals("warning: " + audit + ":4: AuthorizationPolicy prod/audit-all: ztunnel does not support the AUDIT"
                        + " action"))
                .noneMatch(l -> l.startsWith("warning: ") && l.contains("zerohop enforces them itself"))
                .noneMatch(l -> l.startsWith("note: ") && l.contains("AUDIT"));
    }
}
