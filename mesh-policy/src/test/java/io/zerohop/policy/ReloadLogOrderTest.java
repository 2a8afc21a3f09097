package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A hot reload's own line ("reloaded N policies from DIR", or the WARN of a reload that lost policies) comes before
 * the lines its change listeners log: mesh-core's listener re-authorizes open connections on the reloading thread
 * and logs a WARN line for each one the new set cuts, so a reload line logged after the swap put every cut before
 * its cause (the session's closing note). The lines are read from a child JVM with slf4j-simple at INFO (this
 * module's tests log at WARN, and the INFO line is the common case: a stricter policy cuts without losing one);
 * the change listener stands in for mesh-core's (which sits above this module) by logging a WARN line from it.
 */
class ReloadLogOrderTest {
    static final String ALLOW = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-all, namespace: prod}
            spec: {action: ALLOW, rules: [{}]}
            """;
    private static final String DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-all, namespace: prod}
            spec: {action: DENY, rules: [{}]}
            """;

    @Test
    @Timeout(120)
    @DisplayName("a reload's line (INFO, and the WARN of a reload that lost a policy) is logged before the lines its change listeners log")
    void theReloadLineComesBeforeTheCutsItCauses(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a.yaml"), ALLOW);
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-cp", System.getProperty("java.class.path"), Child.class.getName(),
                dir.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        List<String> lines = out.lines().toList();
        // A DENY added: INFO, no policy lost.
        assertThat(index(lines, "INFO io.zerohop.policy.PolicyEngine - reloaded 2 policies from " + dir))
                .as(out).isNotNegative().isLessThan(index(lines, "WARN cut - cut by a set of 2 policies"));
        // The ALLOW's file deleted: the reload's WARN names it.
        assertThat(index(lines, "WARN io.zerohop.policy.PolicyEngine - reloaded 1 policy from " + dir + " (was 2); no longer loaded: a.yaml (deleted or renamed: its policies dropped)"))
                .as(out).isNotNegative().isLessThan(index(lines, "WARN cut - cut by a set of 1 policies"));
    }

    /** The index of the first line containing {@code text}, or -1. */
    private static int index(List<String> lines, String text) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains(text)) {
                return i;
            }
        }
        return -1;
    }

    /** Watches {@code args[0]}, adds a DENY, then deletes the ALLOW; a change listener logs a WARN line per reload. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            Path dir = Path.of(args[0]);
            Logger cut = LoggerFactory.getLogger("cut");
            BlockingQueue<Integer> changes = new LinkedBlockingQueue<>();
            PolicyEngine engine = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).build();
            java.util.concurrent.atomic.AtomicBoolean first = new java.util.concurrent.atomic.AtomicBoolean(true);
            engine.addChangeListener(set -> {
                // The first load (watch) has nothing open to cut and logs no reload line.
                if (!first.getAndSet(false)) {
                    cut.warn("cut by a set of {} policies", set.size());
                }
                changes.add(set.size());
            });
            try (AutoCloseable watch = engine.watch(dir)) {
                await(changes, 1);
                Files.writeString(dir.resolve("b.yaml"), DENY);
                await(changes, 2);
                Files.delete(dir.resolve("a.yaml"));
                await(changes, 1);
            }
            System.out.flush();
            System.err.flush();
        }

        private static void await(BlockingQueue<Integer> changes, int size) throws InterruptedException, IOException {
            List<Integer> seen = new ArrayList<>();
            for (Integer n; (n = changes.poll(30, TimeUnit.SECONDS)) != null; ) {
                seen.add(n);
                if (n == size) {
                    return;
                }
            }
            throw new IOException("no change to a set of " + size + " policies within 30 s; saw " + seen);
        }
    }
}
