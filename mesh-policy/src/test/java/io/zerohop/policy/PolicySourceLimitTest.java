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
 * One load reads at most a twelfth of the heap's maximum of policy files: a new-user pass moved a 21 MB file of 100,000
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
    void theLimitIsATwelfthOfTheMaximumHeap() {
        assertThat(PolicyLoader.sourceLimit(128L << 20)).isEqualTo((128L << 20) / 12);
        assertThat(PolicyLoader.sourceLimit(Long.MAX_VALUE)).isEqualTo(Long.MAX_VALUE);
    }
}
