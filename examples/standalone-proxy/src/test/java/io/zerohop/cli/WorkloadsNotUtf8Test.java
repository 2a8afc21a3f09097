package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code --workloads} file saved in Latin-1 (one accented comment) is an input file's content: exit 1 naming the file,
 * line and byte, as {@code --config}, {@code --policies} and {@code --mesh-config} name theirs. Until h416's new-user pass
 * (7 December) both commands printed the JDK decoder's {@code Input length = 1} alone, naming no file.
 */
class WorkloadsNotUtf8Test {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    @DisplayName("zerohop proxy and policy check: a --workloads file that is not UTF-8 is named with its line and byte, exit 1")
    void aWorkloadsFileThatIsNotUtf8IsNamed(@TempDir Path dir) throws Exception {
        Path w = Files.write(dir.resolve("workloads.yaml"), "nodes:\n# caf\u00e9\n  - {name: node-a}\n".getBytes(StandardCharsets.ISO_8859_1));
        String named = w + ":2: not UTF-8 text (byte 0xE9 is no UTF-8 sequence): save the file as UTF-8";
        assertThat(std.run("proxy", "--in-memory-ca", "--node", "node-a", "--workloads", w.toString(),
                "--inbound", "127.0.220.20:56520", "--metrics", "127.0.220.20:56521", "--readiness", "127.0.220.20:56522",
                "--admin", "127.0.220.20:56523"))
                .isEqualTo("exit 1: zerohop proxy: " + named);
        Path policies = Files.createDirectory(dir.resolve("policies"));
        assertThat(std.run("policy", "check", "--policies", policies.toString(), "--workloads", w.toString(),
                "--source", "spiffe://cluster.local/ns/a/sa/b", "--dest", "a/b:80"))
                .isEqualTo("exit 1: zerohop policy check: " + named);
    }
}
