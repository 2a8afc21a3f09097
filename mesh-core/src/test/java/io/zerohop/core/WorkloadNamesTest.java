package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A workload's namespace and name are held to Kubernetes' rules where the workload is defined ({@link Workload}'s
 * constructor, through mesh-policy's WorkloadRef: DNS-1123 label and subdomain, k8s.io/apimachinery
 * pkg/util/validation), so a {@code --workloads} file names the entry's line, not a tunnel failing later when
 * {@link Workload#ref()} is made for it. A new-user pass had {@code namespace: Prod} loaded: no policy of
 * {@code prod} selects it.
 */
class WorkloadNamesTest {
    private static final String FILE = """
            trustDomain: cluster.local
            workloads:
              - {namespace: prod, name: backend, addresses: [10.0.1.2]}
              - {namespace: NS, name: NAME, addresses: [10.0.1.3]}
            """;

    @Test
    void theWorkloadsFileNamesTheField(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("w.yaml"), FILE.replace("NS", "Prod").replace("NAME", "web"));
        assertThatThrownBy(() -> WorkloadRegistry.load(f)).hasMessageStartingWith(f + ":4: workloads[1].namespace: \"Prod\": a lowercase"
                + " RFC 1123 label");
        Path g = Files.writeString(dir.resolve("w.yaml"), FILE.replace("NS", "prod").replace("NAME", "web_1"));
        assertThatThrownBy(() -> WorkloadRegistry.load(g)).hasMessageStartingWith(g + ":4: workloads[1].name: \"web_1\": a lowercase"
                + " RFC 1123 subdomain");
        Path ok = Files.writeString(dir.resolve("w.yaml"), FILE.replace("NS", "prod").replace("NAME", "web-7f9c.v1"));
        assertThat(WorkloadRegistry.load(ok).byName("prod", "web-7f9c.v1")).isPresent();
    }

    @Test
    void theConstructorRefusesWhatRefWouldRefuse() throws Exception {
        List<InetAddress> at = List.of(InetAddress.getByName("10.0.1.2"));
        assertThatThrownBy(() -> new Workload("prod", "Web", "web", Map.of(), at, Workload.Protocol.HBONE, null, "cluster.local"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("name \"Web\": ");
        assertThat(new Workload("prod", "web", "web", Map.of(), at, Workload.Protocol.HBONE, null, "cluster.local").ref().name())
                .isEqualTo("web");
    }
}
