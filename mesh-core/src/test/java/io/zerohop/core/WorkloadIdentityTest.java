package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link Workload#hasIdentity} answers exactly as {@code identity().equals(id)}, without building the ID. */
class WorkloadIdentityTest {

    private static Workload workload(String ns, String sa) {
        return new Workload(ns, "w", sa, Map.of(), List.of(), Workload.Protocol.HBONE, null, "cluster.local");
    }

    @Test
    void agreesWithIdentityEquals() {
        List<Workload> workloads = List.of(workload("prod", "web"), workload("ab", "c"), workload("a", "bc"),
                workload("prod", "web-2"), workload("pro", "dweb"));
        List<String> ids = List.of("spiffe://cluster.local/ns/prod/sa/web", "spiffe://cluster.local/ns/ab/sa/c",
                "spiffe://cluster.local/ns/a/sa/bc", "spiffe://cluster.local/ns/prod/sa/web-2",
                "spiffe://cluster.local/ns/pro/sa/dweb", "spiffe://other.domain/ns/prod/sa/web",
                "spiffe://cluster.local/ns/prod/sa/we", "spiffe://cluster.local/ns/prod/sa/web/x",
                "spiffe://cluster.local/ns/prod/xa/web", "spiffe://cluster.local/xs/prod/sa/web",
                "spiffe://cluster.local/prod/web", "spiffe://cluster.local");
        int matches = 0;
        for (Workload w : workloads) {
            for (String text : ids) {
                SpiffeId id = SpiffeId.parse(text);
                boolean expected = w.identity().equals(id);
                assertThat(w.hasIdentity(id)).as("%s has %s", w.identity(), id).isEqualTo(expected);
                matches += expected ? 1 : 0;
            }
            assertThat(w.hasIdentity(null)).isFalse();
        }
        assertThat(matches).as("each workload matches its own ID").isEqualTo(workloads.size());
    }
}
