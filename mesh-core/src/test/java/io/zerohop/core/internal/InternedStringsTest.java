package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Workload;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The strings the policy engine compares per connection are interned on both sides (it interns its selectors' labels and
 * rules' principals), so a match ends at the identity check: a workload's labels, once per workload, and a peer's
 * principal text, once per identity. What PolicyBenchmark's shared-strings cases model.
 */
class InternedStringsTest {
    @Test
    void aWorkloadsLabelsAreInterned() {
        Map<String, String> labels = Map.of(new String("app"), new String("backend"), new String("tier"), new String("db"));
        Workload w = new Workload("prod", "backend", "backend", labels, List.of(), Workload.Protocol.HBONE, null, "cluster.local",
                Map.of());
        assertThat(w.labels()).isEqualTo(Map.of("app", "backend", "tier", "db"));
        assertThat(w.labels().get("app")).isSameAs("backend");
        assertThat(w.labels().keySet()).allSatisfy(k -> assertThat(k).isSameAs(k.intern()));
        assertThat(w.ref().labels()).isSameAs(w.labels());
        Workload rebuilt = new Workload(w.namespace(), w.name(), w.serviceAccount(), w.labels(), List.of(), w.protocol(), "n",
                w.trustDomain(), Map.of());
        assertThat(rebuilt.labels()).as("a workload rebuilt from another keeps its map").isSameAs(w.labels());
    }

    @Test
    void aPrincipalsTextIsInterned() {
        SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/prod/sa/frontend-interned-test");
        String text = WorkloadStrings.text(id);
        assertThat(text).isEqualTo("spiffe://cluster.local/ns/prod/sa/frontend-interned-test")
                .isSameAs("spiffe://cluster.local/ns/prod/sa/frontend-interned-test")
                .isSameAs(WorkloadStrings.text(SpiffeId.parse(id.toString())));
    }
}
