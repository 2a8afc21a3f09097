package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The workloads file's {@code namedPorts} ({@code {http: 8080}}): a workload's TCP container ports by name, for Cilium's
 * named {@code toPorts}. Absent means not known (a named allow port then reaches nothing and a named ingressDeny port
 * denies); names are checked as Kubernetes checks a container port's name.
 */
class CiliumNamedPortsRegistryTest {

    static final String FILE = """
            workloads:
              - namespace: prod
                name: web
                addresses: [10.0.1.2]
                namedPorts: {http: 8080, metrics: 9090}
              - namespace: prod
                name: db
                addresses: [10.0.1.3]
            """;

    @Test
    void namedPortsReachTheRefAndAbsentMeansUnknown(@TempDir Path dir) throws Exception {
        WorkloadRegistry r = WorkloadRegistry.load(Files.writeString(dir.resolve("w.yaml"), FILE));
        Workload web = r.all().stream().filter(w -> w.name().equals("web")).findFirst().orElseThrow();
        Workload db = r.all().stream().filter(w -> w.name().equals("db")).findFirst().orElseThrow();
        assertThat(web.namedPorts()).isEqualTo(Map.of("http", 8080, "metrics", 9090));
        assertThat(web.ref().namedPorts()).isEqualTo(Map.of("http", 8080, "metrics", 9090));
        assertThat(db.namedPorts()).isNull();
        assertThat(db.ref().namedPorts()).isNull();
    }

    @Test
    void aBadNameOrPortIsNamedWithItsLine(@TempDir Path dir) throws Exception {
        for (String[] c : new String[][] {{"HTTP: 8080", "workloads[0].namedPorts.HTTP: named port \"HTTP\": must contain only"},
                {"http: 0", "workloads[0].namedPorts.http: named port \"http\": port 0 is out of range 1-65535"},
                {"http: web", "workloads[0].namedPorts.http: \"web\" is not a port number"},
                {"8080: 8080", "workloads[0].namedPorts.8080: named port \"8080\": must contain at least one letter"}}) {
            Path f = Files.writeString(dir.resolve("w.yaml"), FILE.replace("http: 8080, metrics: 9090", c[0]));
            assertThatThrownBy(() -> WorkloadRegistry.load(f)).as(c[0]).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith(f + ":5: ").hasMessageContaining(c[1]);
        }
    }
}
