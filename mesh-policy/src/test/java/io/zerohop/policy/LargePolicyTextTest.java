package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A large policy text loads in a small heap: the loader compiles each document as it is read instead of holding every
 * document's tree first. 10,000 AuthorizationPolicies (one per workload, each with a principal, a method and two
 * ports: 3.5 MB of YAML) compile to ~30 MB; until 3 December their trees were all held at once, and
 * {@code zerohop proxy} (launched with {@code -Xmx128m}) died of OutOfMemoryError loading them. Here a child JVM with
 * a 96 MB heap loads them.
 */
class LargePolicyTextTest {

    static final int POLICIES = 10_000;

    /** The text: one AuthorizationPolicy per workload, as a namespace of 10,000 services would have. */
    static String policies(int n) {
        StringBuilder sb = new StringBuilder(n * 360);
        for (int i = 0; i < n; i++) {
            sb.append("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-").append(i)
                    .append(", namespace: bench}\nspec:\n  selector: {matchLabels: {app: svc-").append(i).append("}}\n")
                    .append("  rules:\n  - from: [{source: {principals: [\"cluster.local/ns/bench/sa/client-").append(i)
                    .append("\"]}}]\n    to: [{operation: {ports: [\"8080\"], methods: [GET]}}]\n  - to: [{operation: {ports: [\"9090\"]}}]\n---\n");
        }
        return sb.toString();
    }

    /** The child JVM: loads the text quietly, checks one decision, prints how many policies it holds. */
    public static void main(String[] args) throws Exception {
        PolicySet set = PolicyLoader.fromStringQuietly("large.yaml", policies(POLICIES));
        PolicyEngine engine = PolicyEngine.builder().policies(set).build();
        AccessRequest r = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/bench/sa/client-4321")
                .sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(8080)
                .destination(new WorkloadRef("bench", "svc-4321", "svc-4321", java.util.Map.of("app", "svc-4321")))
                .http(HttpAttributes.of("GET", "/")).build();
        System.out.println("loaded " + set.size() + " allowed " + engine.evaluate(r).allowed());
    }

    @Test
    void tenThousandPoliciesLoadIn96MegabytesOfHeap(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx96m", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), LargePolicyTextTest.class.getName());
        Path log = dir.resolve("child.log");
        // Output to a file, so that a child that hangs fails the wait below instead of blocking a read.
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        String out = java.nio.file.Files.readString(log);
        assertThat(p.isAlive()).as("the child still running after 120 s: %s", out).isFalse();
        assertThat(out).as("the child's output").contains("loaded " + POLICIES + " allowed true").doesNotContain("OutOfMemoryError");
        assertThat(p.exitValue()).isZero();
    }

    /** Each document is compiled as it is read, so an error in an early document is reported before a later syntax error. */
    @Test
    void theFirstErrorInTheTextIsReported() {
        String text = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: bench}\n"
                + "spec: {action: SOMETIMES}\n---\n"
                + "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: b, namespace: bench}\n"
                + "spec:\n\tselector: {}\n";
        assertThatThrownBy(() -> PolicyLoader.fromStringQuietly("p.yaml", text)).isInstanceOf(PolicyLoadException.class)
                .hasMessageContaining("p.yaml:4").hasMessageContaining("SOMETIMES");
    }
}
