package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.netty.CapturedStderr;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A watched directory's reload logs the load warnings of the files that changed (or are new), not again those of every
 * file: a new-user pass found every file's warnings repeated at every reload of {@code zerohop proxy --policies DIR},
 * where Kubernetes mode logs an object's warnings once, when it changes (mesh-kubernetes PolicyInstallLogOrderTest).
 * A refused reload logs its error at every attempt and keeps the set in force. The lines are read from this JVM's
 * stderr, where slf4j-simple writes them (the Loader logs at INFO in tests, the engine at WARN and above), through
 * zerohop-testing-netty's {@link CapturedStderr}, which counts complete lines only; each line counted names a file of
 * this test's own temporary directory, so other tests' lines cannot be counted.
 */
class ReloadWarningsTest {

    private static String audit(String name, String comment) {
        return comment + """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: %s, namespace: prod}
                spec: {action: AUDIT, rules: [{}]}
                """.formatted(name);
    }

    private static final String BROKEN = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: broken, namespace: prod}
            spec: {action: ALOW, rules: [{}]}
            """;

    @Test
    @Timeout(120)
    @DisplayName("a reload logs the warnings of changed and new files only; a refused one logs its error each time and keeps the set")
    void aReloadLogsOnlyTheWarningsOfChangedFiles(@TempDir Path dir, @TempDir Path scratch) throws Exception {
        Path a = dir.resolve("a.yaml");
        Path b = dir.resolve("b.yaml");
        Files.writeString(a, audit("audit-a", ""));
        Files.writeString(b, audit("audit-b", ""));
        Files.writeString(dir.resolve("notes.txt"), "not a policy\n");
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        java.util.concurrent.atomic.AtomicInteger failures = new java.util.concurrent.atomic.AtomicInteger();
        PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(new ReloadListener() {
            @Override
            public void reloaded(PolicySet policies) {
                events.add("reloaded " + policies.size());
            }

            @Override
            public void failed(PolicyLoadException error) {
                failures.incrementAndGet();
                events.add("failed " + error.getMessage());
            }
        }).build();
        String auditA = a + ":4: AuthorizationPolicy prod/audit-a: ztunnel does not support the AUDIT action";
        String auditB = b + ":4: AuthorizationPolicy prod/audit-b: ztunnel does not support the AUDIT action";
        String auditBMoved = b + ":5: AuthorizationPolicy prod/audit-b: ztunnel does not support the AUDIT action";
        String notes = dir.resolve("notes.txt") + ": skipped: not a policy file";
        try (CapturedStderr err = new CapturedStderr(); AutoCloseable watcher = e.watch(dir)) {
            assertThat(events.poll(20, TimeUnit.SECONDS)).isEqualTo("reloaded 2");
            assertThat(err.count(auditA)).as(err.text()).isEqualTo(1);
            assertThat(err.count(auditB)).as(err.text()).isEqualTo(1);
            assertThat(err.count(notes)).as(err.text()).isEqualTo(1);

            // A new file without warnings: nothing of a.yaml's or b.yaml's, nor the listing's line, again.
            write(scratch, dir.resolve("c.yaml"), ReloadLogOrderTest.ALLOW);
            awaitEvent(events, "reloaded 3");
            assertThat(err.count(auditA)).as(err.text()).isEqualTo(1);
            assertThat(err.count(auditB)).as(err.text()).isEqualTo(1);
            assertThat(err.count(notes)).as(err.text()).isEqualTo(1);

            // b.yaml edited: its warning again, at its new line; a.yaml's still once.
            write(scratch, b, audit("audit-b", "# moved down a line\n"));
            awaitEvent(events, "reloaded 3");
            assertThat(err.count(auditBMoved)).as(err.text()).isEqualTo(1);
            assertThat(err.count(auditA)).as(err.text()).isEqualTo(1);
            assertThat(err.count(auditB)).as(err.text()).isEqualTo(1);

            // A refused file: its error at each attempt, the set in force kept, no warning of the others again.
            Path d = dir.resolve("d.yaml");
            write(scratch, d, BROKEN);
            awaitEvent(events, "failed " + d + ":4: spec.action");
            write(scratch, d, "# still wrong\n" + BROKEN);
            awaitEvent(events, "failed " + d + ":5: spec.action");
            assertThat(err.count("policy reload failed, keeping the 3 policies in force: " + d)).as(err.text())
                    .isGreaterThanOrEqualTo(2).isEqualTo(failures.get());
            assertThat(e.policies().size()).isEqualTo(3);
            assertThat(e.policies().policies()).extracting(PolicyRef::name).containsExactly("audit-a", "audit-b", "allow-all");

            // Fixed by removing it, then b.yaml removed: its warning leaves the set's warnings; nothing is logged again.
            Files.delete(d);
            awaitEvent(events, "reloaded 3");
            Files.delete(b);
            awaitEvent(events, "reloaded 2");
            assertThat(e.policies().warnings()).noneMatch(w -> w.contains(b.toString())).anyMatch(w -> w.startsWith(auditA));
            assertThat(err.count(auditA)).as(err.text()).isEqualTo(1);
            assertThat(err.count(auditBMoved)).as(err.text()).isEqualTo(1);
            assertThat(err.count(notes)).as(err.text()).isEqualTo(1);
        }
    }

    /** {@code zerohop proxy --policies FILE}: the same rule for a watched file rewritten with the same text, then edited. */
    @Test
    @Timeout(120)
    void aWatchedFileRewrittenUnchangedLogsNothingAgain(@TempDir Path dir, @TempDir Path scratch) throws Exception {
        Path a = dir.resolve("a.yaml");
        Files.writeString(a, audit("audit-a", ""));
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(new ReloadListener() {
            @Override
            public void reloaded(PolicySet policies) {
                events.add("reloaded " + policies.size());
            }
        }).build();
        String auditA = a + ":4: AuthorizationPolicy prod/audit-a: ztunnel does not support the AUDIT action";
        String moved = a + ":5: AuthorizationPolicy prod/audit-a: ztunnel does not support the AUDIT action";
        try (CapturedStderr err = new CapturedStderr(); AutoCloseable watcher = e.watch(a)) {
            awaitEvent(events, "reloaded 1");
            write(scratch, a, audit("audit-a", ""));
            awaitEvent(events, "reloaded 1");
            assertThat(err.count(auditA)).as(err.text()).isEqualTo(1);
            write(scratch, a, audit("audit-a", "# moved\n"));
            awaitEvent(events, "reloaded 1");
            assertThat(err.count(moved)).as(err.text()).isEqualTo(1);
        }
    }

    /** Writes {@code to} in one step (a rename), so that the watcher sees the whole text in one change. */
    private static void write(Path scratch, Path to, String text) throws java.io.IOException {
        Path tmp = Files.writeString(scratch.resolve(to.getFileName()), text);
        Files.move(tmp, to, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** The next event starting with {@code prefix}, skipping others (a watcher may reload twice for one change). */
    private static String awaitEvent(BlockingQueue<String> events, String prefix) throws InterruptedException {
        StringBuilder seen = new StringBuilder();
        for (String ev; (ev = events.poll(20, TimeUnit.SECONDS)) != null; ) {
            if (ev.startsWith(prefix)) {
                return ev;
            }
            seen.append(ev).append('\n');
        }
        throw new AssertionError("no event starting with \"" + prefix + "\" within 20 s; saw:\n" + seen);
    }
}
