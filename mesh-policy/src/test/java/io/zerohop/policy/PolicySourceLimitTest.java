package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One load reads at most a twenty-fourth of the heap's maximum of policy files: a new-user pass moved a 21 MB file of 100,000
 * AuthorizationPolicies into a running proxy's directory, and the proxy (128 MB heap, -XX:+ExitOnOutOfMemoryError) ended
 * with an OutOfMemoryError, where a refused load keeps the set in force.
 */
class PolicySourceLimitTest {
    @Test
    void filesOverTheLimitAreRefusedNamingTheLargestAndNothingIsLoaded(@TempDir Path dir) throws Exception {
        Path small = Files.writeString(dir.resolve("a.yaml"), ap("prod", "a", "{action: DENY, rules: [{}]}"));
        Path big = Files.writeString(dir.resolve("b.yaml"), ap("prod", "b", "{action: DENY, rules: [{from: [{source: {principals: ["
                + "\"" + "x".repeat(2000) + "\"]}}]}]}"));
        long total = Files.size(small) + Files.size(big);
        assertThatThrownBy(() -> PolicyLoader.load(List.of(small, big), List.of(), dir.toString(), null, total - 1))
                .isInstanceOf(PolicyLoadException.class).hasMessageStartingWith(big + ": the policy files of " + dir + " hold ")
                .hasMessageContaining("could exhaust the heap").hasMessageContaining("-Xmx");
        assertThat(PolicyLoader.load(List.of(small, big), List.of(), dir.toString(), null, total).policies()).hasSize(2);
    }

    @Test
    void theLimitIsATwentyFourthOfTheMaximumHeap() {
        assertThat(PolicyLoader.sourceLimit(128L << 20)).isEqualTo((128L << 20) / 24);
        assertThat(PolicyLoader.sourceLimit(Long.MAX_VALUE)).isEqualTo(Long.MAX_VALUE);
    }

    /**
     * A load keeps at most 10,000 warnings and counts the rest in one more line: 250,000 principals that could never
     * match, one warning of ~330 characters each, held ~80 MB and ran a 128 MB proxy out of heap (a new-user pass).
     */
    @Test
    void aLoadKeepsAtMostTenThousandWarnings() throws Exception {
        StringBuilder principals = new StringBuilder();
        for (int i = 0; i < 10_050; i++) {
            principals.append(i == 0 ? "" : ", ").append("p").append(i);
        }
        PolicySet set = PolicyLoader.fromStringQuietly("many.yaml", ap("prod", "many", "{action: DENY, rules: [{from: [{source:"
                + " {principals: [" + principals + "]}}]}]}"));
        assertThat(set.warnings()).hasSize(10_001);
        assertThat(set.warnings().get(10_000)).matches("\\d+ more warnings not kept \\(only the first 10000 of a load are\\).*");
    }

    /**
     * An explanation names at most ten values of a list and counts the rest: it is written into every access line its rule
     * decides, and a DENY of 100,000 principals wrote ~3 MB per denied tunnel (a new-user pass ran a proxy out of heap
     * with a stalled log reader).
     */
    @Test
    void anExplanationNamesAtMostTenValuesOfAList() throws Exception {
        StringBuilder principals = new StringBuilder();
        for (int i = 0; i < 15; i++) {
            principals.append(i == 0 ? "" : ", ").append("cluster.local/ns/a/sa/s").append(i);
        }
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("deny.yaml", ap("prod", "deny-many",
                "{action: DENY, rules: [{from: [{source: {principals: [" + principals + "]}}]}]}"))).build();
        Decision d = e.evaluate(R.r().principal("spiffe://cluster.local/ns/a/sa/s3").build());
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo("source.principal in [cluster.local/ns/a/sa/s0, cluster.local/ns/a/sa/s1,"
                + " cluster.local/ns/a/sa/s2, cluster.local/ns/a/sa/s3, cluster.local/ns/a/sa/s4, cluster.local/ns/a/sa/s5,"
                + " cluster.local/ns/a/sa/s6, cluster.local/ns/a/sa/s7, cluster.local/ns/a/sa/s8, cluster.local/ns/a/sa/s9,"
                + " ... 5 more] matched");
    }
}
