package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code policy check --dest NS/WORKLOAD} without {@code --workloads} holds NS and WORKLOAD to Kubernetes' name rules
 * (mesh-policy's WorkloadRef): a usage error naming {@code --dest} and what is wrong, not a decision for a workload
 * no API server could hold.
 */
class DestNamesTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void aDestKubernetesWouldRefuseIsAUsageError(@TempDir Path dir) {
        assertThat(std.run("policy", "check", "--policies", dir.toString(), "--dest", "prod/Web_1:8080"))
                .startsWith("exit 2: zerohop policy check: --dest: name \"Web_1\": a lowercase RFC 1123 subdomain");
        assertThat(std.run("policy", "check", "--policies", dir.toString(), "--dest", "prod/web:8080")).startsWith("exit 0");
    }
}
