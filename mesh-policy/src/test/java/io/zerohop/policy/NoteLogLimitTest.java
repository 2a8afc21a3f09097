package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A load logs at most 100 notes, then one line counting the rest: each policy with HTTP attributes gets a note, and a
 * 20,000-policy export logged 19,990 INFO lines at start (a new-user pass, 3 December). The warnings keep every one, and
 * WARN lines are never held back. In a child JVM, whose slf4j-simple writes to its stderr.
 */
class NoteLogLimitTest {

    /** {@code n} ALLOW policies with a method (a note each) and one selecting a label that is not one (a WARN). */
    static String policies(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: get-").append(i)
                    .append(", namespace: prod}\nspec: {rules: [{to: [{operation: {methods: [GET]}}]}]}\n---\n");
        }
        return sb.append("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: bad-principal}\n")
                .append("spec: {rules: [{from: [{source: {principals: [\"a b\"]}}]}]}\n").toString();
    }

    public static void main(String[] args) throws Exception {
        PolicySet set = PolicyLoader.fromString("p.yaml", policies(150));
        System.err.println("warnings " + set.warnings().size());
    }

    @Test
    @Timeout(120)
    void aHundredNotesAreLoggedThenACount() throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-cp", System.getProperty("java.class.path"), NoteLogLimitTest.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out.lines().filter(l -> l.contains(" INFO ") && l.contains("HTTP attributes (methods)"))).as(out).hasSize(100);
        assertThat(out).contains("50 more notes of this load not logged (100 are, per load;");
        assertThat(out.lines().filter(l -> l.contains(" WARN ") && l.contains("never matches"))).as(out).hasSize(1);
        assertThat(out).contains("warnings ");
        int warnings = Integer.parseInt(out.lines().filter(l -> l.startsWith("warnings ")).findFirst().orElseThrow().substring(9));
        assertThat(warnings).isGreaterThanOrEqualTo(151);
    }
}
