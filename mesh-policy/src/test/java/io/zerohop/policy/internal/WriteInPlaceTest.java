package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * A policy file written in place is read once it has settled, never half-written when the writer's
 * pauses are shorter than the quiet time (newuser21: a 50 ms pause between two writes of one file
 * reloaded twice, and the first chunk, an ALLOW without its {@code to}, was in force in between), and
 * a file emptied by {@code cat > file} is not read as empty while the command that fills it has not
 * written yet. The quiet times here (1 s, 3 s) are the production ones scaled up so that a loaded
 * machine's scheduling cannot reach them; the writer's pauses stay 10 times shorter.
 */
class WriteInPlaceTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-old, namespace: prod}
            spec:
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/legacy/sa/old"]}}]
                to: [{operation: {ports: ["9090"]}}]
            """;

    @TempDir
    Path dir;

    /** What the file held each time the watcher called back. */
    final List<String> seen = new CopyOnWriteArrayList<>();

    DirectoryWatcher watch(Path file) throws IOException {
        return new DirectoryWatcher(dir, Duration.ofSeconds(30), Duration.ofSeconds(1), Duration.ofSeconds(3), () -> {
            try {
                seen.add(Files.readString(file));
            } catch (IOException e) {
                seen.add("unreadable: " + e);
            }
        });
    }

    static void writeInPlace(Path file, List<String> chunks, long pauseMillis) throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            for (int i = 0; i < chunks.size(); i++) {
                if (i > 0) {
                    Thread.sleep(pauseMillis);
                }
                ch.write(ByteBuffer.wrap(chunks.get(i).getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            }
        }
    }

    void awaitSeen(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (seen.size() < n && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(seen).as("reloads").hasSizeGreaterThanOrEqualTo(n);
    }

    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aFileWrittenInChunksIsReadWhole() throws Exception {
        Path file = dir.resolve("allow-old.yaml");
        Files.writeString(file, "# placeholder\n");
        try (DirectoryWatcher w = watch(file)) {
            int cut = POLICY.indexOf("    to:");
            writeInPlace(file, List.of(POLICY.substring(0, cut / 2), POLICY.substring(cut / 2, cut), POLICY.substring(cut)), 100);
            awaitSeen(1);
            Thread.sleep(2_000); // a second reload would come within the quiet time
            assertThat(seen).as("only the whole file, once").containsExactly(POLICY);
        }
    }

    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aFileEmptiedByItsWriterIsNotReadEmpty() throws Exception {
        Path file = dir.resolve("deny-admin.yaml");
        Files.writeString(file, POLICY);
        try (DirectoryWatcher w = watch(file)) {
            // cat > file: emptied at once, filled when the command producing it writes (here after 1.5 s: past the
            // 1 s quiet time, within the 3 s an emptied file waits more).
            writeInPlace(file, List.of("", POLICY.replace("allow-old", "allow-old-2")), 1_500);
            awaitSeen(1);
            Thread.sleep(2_000);
            assertThat(seen).as("never the empty file").containsExactly(POLICY.replace("allow-old", "allow-old-2"));
        }
    }

    /**
     * {@code helm template > file}: the generator writes its header ({@code ---} and {@code # Source:}) first and then
     * pauses; a file with no document is no policy to the loader, as an empty one, and waits as an emptied file does.
     */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aFileHoldingOnlyAHeaderIsNotReadAsNoPolicy() throws Exception {
        Path file = dir.resolve("deny-admin.yaml");
        Files.writeString(file, POLICY);
        try (DirectoryWatcher w = watch(file)) {
            // Past the 1 s quiet time, within the 3 s a file with no document waits more.
            writeInPlace(file, List.of("---\n# Source: zerohop-policies/templates/deny-admin.yaml\n\n",
                    POLICY.replace("allow-old", "allow-old-2")), 1_500);
            awaitSeen(1);
            Thread.sleep(2_000);
            assertThat(seen).as("never the header alone")
                    .containsExactly("---\n# Source: zerohop-policies/templates/deny-admin.yaml\n\n" + POLICY.replace("allow-old", "allow-old-2"));
        }
    }

    @Test
    void aStreamOfCommentsAndMarkersHoldsNoDocument() {
        assertThat(DirectoryWatcher.noDocument("---\n# Source: a/b.yaml\n  # indented\n\n...\n%YAML 1.2\n--- # next\n")).isTrue();
        assertThat(DirectoryWatcher.noDocument("\uFEFF# only a comment")).isTrue();
        assertThat(DirectoryWatcher.noDocument("---\nkind: AuthorizationPolicy\n")).isFalse();
        assertThat(DirectoryWatcher.noDocument("--- {kind: AuthorizationPolicy}")).isFalse();
        assertThat(DirectoryWatcher.noDocument("[]")).isFalse();
    }

    /** {@code rm f; generate > f}: the directory without the file is not read while the new one comes (newuser22). */
    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aFileDeletedAndWrittenAgainIsReadOnceWritten() throws Exception {
        Path file = dir.resolve("deny-admin.yaml");
        Files.writeString(file, POLICY);
        try (DirectoryWatcher w = watch(file)) {
            Files.delete(file);
            Thread.sleep(1_500);
            Files.writeString(file, POLICY.replace("allow-old", "allow-old-2"));
            awaitSeen(1);
            Thread.sleep(2_000);
            assertThat(seen).as("never the directory without it").containsExactly(POLICY.replace("allow-old", "allow-old-2"));
        }
    }

    @Test
    @Execution(ExecutionMode.CONCURRENT)
    void aFileLeftEmptyIsReadEmpty() throws Exception {
        Path file = dir.resolve("deny-admin.yaml");
        Files.writeString(file, POLICY);
        try (DirectoryWatcher w = watch(file)) {
            writeInPlace(file, List.of(""), 0);
            awaitSeen(1);
            assertThat(seen).as("an emptied file is in force once it stayed empty").containsExactly("");
        }
    }

    @Test
    void onlyAFileThatHadBytesCountsAsEmptied() {
        assertThat(DirectoryWatcher.emptiedFile("a.yaml:120:5;b.yaml:0:5;", "a.yaml:0:9;b.yaml:0:5;")).isTrue();
        assertThat(DirectoryWatcher.emptiedFile("a.yaml:120:5;b.yaml:0:5;", "a.yaml:120:5;b.yaml:0:9;")).isFalse();
        assertThat(DirectoryWatcher.emptiedFile("a.yaml:120:5;", "a.yaml:120:5;c.yaml:0:9;")).as("a new empty file").isFalse();
        assertThat(DirectoryWatcher.emptiedFile("a.yaml:120:5;b.yaml:80:5;", "a.yaml:120:5;")).as("a deleted file").isTrue();
    }
}
