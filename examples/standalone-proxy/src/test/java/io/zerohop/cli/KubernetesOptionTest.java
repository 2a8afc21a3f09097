package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code zerohop proxy --kubernetes}: option errors a person can act on, before any API call. */
class KubernetesOptionTest {
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldErr;

    @BeforeEach
    void capture() {
        oldErr = System.err;
        System.setErr(new PrintStream(err, true));
    }

    @AfterEach
    void restore() {
        System.setErr(oldErr);
    }

    @Test
    void kubernetesExcludesFileSources(@TempDir Path dir) {
        int code = Zerohop.run("proxy", "--kubernetes", "--node", "node-a", "--policies", dir.toString(), "--in-memory-ca");
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("--kubernetes reads workloads and policies from the API server; drop --workloads/--policies");
    }

    @Test
    void kubernetesNeedsANodeName() {
        assumeTrue(System.getenv("NODE_NAME") == null, "NODE_NAME is set in this environment");
        int code = Zerohop.run("proxy", "--kubernetes", "--in-memory-ca");
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("--kubernetes needs --node NAME (or NODE_NAME from the downward API: spec.nodeName)");
    }
}
