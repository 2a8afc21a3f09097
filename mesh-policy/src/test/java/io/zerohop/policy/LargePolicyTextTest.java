package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A large policy text loads in a small heap: the loader compiles each document, and each item of a list, as it is read
 * instead of holding every tree first. 10,000 AuthorizationPolicies (one per workload, each with a principal, a method
 * and two ports: 3.5 MB of YAML) compile to ~30 MB; until 3 December their trees were all held at once, and
 * {@code zerohop proxy} (launched with {@code -Xmx128m}) died of OutOfMemoryError loading them. The same held for the
 * items of one {@code kind: List} ({@code kubectl get -o yaml}: 20,000 items, 8.6 MB) and for any document written on
 * one line (JSON), whose keys the reader kept. Here a child JVM with a 96 MB heap loads each.
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

    /** Items of the {@code kind: List} texts: as many as kubectl lists for a large mesh. */
    static final int ITEMS = 20_000;

    /**
     * A {@code v1 List} of {@code n} AuthorizationPolicies as {@code kubectl get -o yaml} (block YAML) or {@code -o json}
     * piped through {@code jq -c} (one line) writes it: {@code apiVersion, items, kind, metadata}, the kind after the items.
     */
    static String list(int n, boolean oneLineJson) {
        StringBuilder sb = new StringBuilder(n * 450);
        sb.append(oneLineJson ? "{\"apiVersion\":\"v1\",\"items\":[" : "apiVersion: v1\nitems:\n");
        for (int i = 0; i < n; i++) {
            if (oneLineJson) {
                sb.append(i == 0 ? "" : ",").append("{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\",")
                        .append("\"metadata\":{\"name\":\"allow-").append(i).append("\",\"namespace\":\"bench\"},\"spec\":{")
                        .append("\"selector\":{\"matchLabels\":{\"app\":\"svc-").append(i).append("\"}},\"rules\":[{\"from\":[{")
                        .append("\"source\":{\"principals\":[\"cluster.local/ns/bench/sa/client-").append(i).append("\"]}}],")
                        .append("\"to\":[{\"operation\":{\"ports\":[\"8080\"],\"methods\":[\"GET\"]}}]}]}}");
            } else {
                sb.append("- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n  metadata:\n    name: allow-").append(i)
                        .append("\n    namespace: bench\n  spec:\n    selector:\n      matchLabels:\n        app: svc-").append(i)
                        .append("\n    rules:\n    - from:\n      - source:\n          principals:\n          - cluster.local/ns/bench/sa/client-")
                        .append(i).append("\n      to:\n      - operation:\n          ports:\n          - \"8080\"\n          methods:\n          - GET\n");
            }
        }
        sb.append(oneLineJson ? "],\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"}}\n"
                : "kind: List\nmetadata:\n  resourceVersion: \"\"\n");
        return sb.toString();
    }

    /**
     * The child JVM: loads the text its argument names ({@code documents}, {@code list-yaml}, {@code list-json})
     * quietly, checks one decision, prints how many policies it holds.
     */
    public static void main(String[] args) throws Exception {
        String text = switch (args[0]) {
            case "documents" -> policies(POLICIES);
            case "list-yaml", "reload" -> list(ITEMS, false);
            case "list-json" -> list(ITEMS, true);
            default -> throw new IllegalArgumentException(args[0]);
        };
        PolicySet set = PolicyLoader.fromStringQuietly("large.yaml", text);
        if (args[0].equals("reload")) {
            // A reload beside the set in force: each broken export must fail with its file and line, not run out of memory.
            String[][] broken = {
                {"\n    name: allow-15000\n", "\n\tname: allow-15000\n"},
                {"\nkind: List\n", "\nkind: Lsit\n"},
                {"        app: svc-15000\n", "        app: {svc-15000\n"},
            };
            for (String[] b : broken) {
                try {
                    PolicyLoader.fromStringQuietly("large.yaml", text.replace(b[0], b[1]));
                    System.out.println("reload loaded");
                } catch (PolicyLoadException e) {
                    System.out.println("reload refused: " + e.getMessage().lines().findFirst().orElse(""));
                }
            }
        }
        PolicyEngine engine = PolicyEngine.builder().policies(set).build();
        AccessRequest r = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/bench/sa/client-4321")
                .sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(8080)
                .destination(new WorkloadRef("bench", "svc-4321", "svc-4321", java.util.Map.of("app", "svc-4321")))
                .http(HttpAttributes.of("GET", "/")).build();
        System.out.println("loaded " + set.size() + " allowed " + engine.evaluate(r).allowed());
    }

    /** Runs {@link #main} with {@code mode} in a child JVM with a 96 MB heap and checks it loaded {@code expected} policies. */
    private static String loadsIn96Megabytes(Path dir, String mode, int expected) throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx96m", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), LargePolicyTextTest.class.getName(), mode);
        Path log = dir.resolve(mode + ".log");
        // Output to a file, so that a child that hangs fails the wait below instead of blocking a read.
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        String out = java.nio.file.Files.readString(log);
        assertThat(p.isAlive()).as("%s: the child still running after 120 s: %s", mode, out).isFalse();
        assertThat(out).as("%s: the child's output", mode).contains("loaded " + expected + " allowed true").doesNotContain("OutOfMemoryError");
        assertThat(p.exitValue()).as(mode).isZero();
        return out;
    }

    @Test
    void tenThousandPoliciesLoadIn96MegabytesOfHeap(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        loadsIn96Megabytes(dir, "documents", POLICIES);
    }

    @Test
    void aListOfTwentyThousandItemsLoadsIn96MegabytesOfHeap(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        loadsIn96Megabytes(dir, "list-yaml", ITEMS);
    }

    /**
     * A reload of a broken 20,000-item export, with the 20,000 policies in force beside it: a tab, a misspelt kind and
     * an unclosed mapping each fail with their line. Until 3 December each ran the node proxy out of memory instead (the
     * list was read whole when its kind was misspelt or behind the error, and the tab's width was tried by reading the
     * whole text again), and a DaemonSet with one typo crash-looped (a new-user pass).
     */
    @Test
    void aBrokenReloadBesideTwentyThousandPoliciesFailsWithItsLine(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        String out = loadsIn96Megabytes(dir, "reload", ITEMS);
        int line = (int) list(ITEMS, false).substring(0, list(ITEMS, false).indexOf("name: allow-15000")).chars().filter(c -> c == '\n').count() + 1;
        assertThat(out).contains("reload refused: large.yaml:" + line + ": items[15000].metadata.name: invalid YAML: a tab character")
                .contains("reload refused: large.yaml:").contains("unknown kind \"Lsit\" in the core group: did you mean List?")
                .contains("' opened at column 14 is not closed").doesNotContain("reload loaded");
    }

    @Test
    void aListWrittenOnOneLineLoadsIn96MegabytesOfHeap(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        loadsIn96Megabytes(dir, "list-json", ITEMS);
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
