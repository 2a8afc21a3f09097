package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.policy.Decision.Outcome;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineTest {

    private static final String DENY_LEGACY = ap("prod", "deny-legacy",
            "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/legacy/sa/old]}}]}]}");
    private static final String DENY_ALL = ap("prod", "deny-all", "{action: DENY, rules: [{}]}");

    @Test
    void explainsInOneLine() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", DENY_LEGACY)).build();
        Decision d = e.evaluate(r().principal("spiffe://cluster.local/ns/legacy/sa/old").build());
        assertThat(d.explain()).isEqualTo(
                "DENY by prod/deny-legacy (AuthorizationPolicy DENY, rule 0): source.principal cluster.local/ns/legacy/sa/old matched");
        assertThat(d.toString()).isEqualTo(d.explain());
        assertThat(e.evaluate(r().build()).explain()).isEqualTo(
                "ALLOW by default: no ALLOW AuthorizationPolicy applies and no DENY policy matched");
        assertThat(PolicyEngine.builder().build().evaluate(r().build()).explain())
                .isEqualTo("ALLOW by default: no policy selects the destination");
    }

    /**
     * A root namespace no Kubernetes namespace could have is refused: with it, every mesh-wide policy (a DENY in
     * istio-system) silently stopped applying (a new-user pass: "Istio-System" allowed what "istio-system" denied).
     */
    @Test
    void aRootNamespaceThatIsNoNamespaceNameIsRefused() throws Exception {
        for (String bad : List.of("Istio-System", "istio_system", "istio-system ", "-istio")) {
            assertThatThrownBy(() -> PolicyEngine.builder().rootNamespace(bad)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("rootNamespace \"" + bad + "\": ")
                    .hasMessageContaining("IsDNS1123Label");
        }
        assertThatThrownBy(() -> PolicyEngine.builder().rootNamespace("Istio-System")).hasMessageContaining("write \"istio-system\"?");
        PolicyEngine e = PolicyEngine.builder().rootNamespace("mesh-root").policies(PolicyLoader.fromString("p.yaml",
                ap("mesh-root", "deny-legacy", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/legacy/sa/old]}}]}]}")))
                .build();
        assertThat(e.evaluate(r().principal("spiffe://cluster.local/ns/legacy/sa/old").build()).allowed()).isFalse();
    }

    /**
     * Entries of {@code from} (and of {@code to}) are alternatives, one is enough (Istio's AuthorizationPolicy reference:
     * "If not set, any source is allowed"; a rule matches when any of its sources matches and any of its operations):
     * the explanation joins them with "or", its fields within one entry with ", " (until 5 December it wrote every field
     * of every entry as matched).
     */
    @Test
    void explainsAlternativeSourcesAndOperationsWithOr() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", ap("prod", "two", "{action: DENY,"
                + " rules: [{from: [{source: {principals: [cluster.local/ns/a/sa/x]}},"
                + " {source: {namespaces: [b], ipBlocks: [10.0.0.0/8]}}], to: [{operation: {ports: ['80']}},"
                + " {operation: {ports: ['81']}}]}]}"))).build();
        Decision d = e.evaluate(r().principal("spiffe://cluster.local/ns/a/sa/x").port(80).build());
        assertThat(d.explain()).isEqualTo("DENY by prod/two (AuthorizationPolicy DENY, rule 0): source.principal"
                + " cluster.local/ns/a/sa/x or (source.namespace b, source.ip 10.0.0.0/8), destination.port 80 or"
                + " destination.port 81 matched");
    }

    @Test
    void decisionsAreSharedNotAllocatedPerCall() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", DENY_LEGACY)).build();
        AccessRequest legacy = r().principal("spiffe://cluster.local/ns/legacy/sa/old").build();
        assertThat(e.evaluate(legacy)).isSameAs(e.evaluate(legacy));
    }

    @Test
    void customAuthorizerDecidesCustomPolicies() throws Exception {
        PolicySet set = PolicyLoader.fromString("c.yaml",
                ap("prod", "ext", "{action: CUSTOM, provider: {name: opa}, rules: [{}]}"));
        List<String> asked = new CopyOnWriteArrayList<>();
        PolicyEngine yes = PolicyEngine.builder().policies(set).customAuthorizer((p, req) -> asked.add(p)).build();
        assertThat(yes.evaluate(r().build()).allowed()).isTrue();
        assertThat(asked).containsExactly("opa");
        PolicyEngine no = PolicyEngine.builder().policies(set).customAuthorizer((p, req) -> false).build();
        Decision d = no.evaluate(r().build());
        assertThat(d.outcome()).isEqualTo(Outcome.DENIED_CUSTOM);
        assertThat(d.reason()).contains("provider \"opa\" denied");
    }

    @Test
    void decisionCacheIsDroppedOnReplace() throws Exception {
        PolicyEngine e = PolicyEngine.builder().decisionCacheSize(100).build();
        AccessRequest req = r().build();
        assertThat(e.evaluate(req).allowed()).isTrue();
        e.replace(PolicyLoader.fromString("d.yaml", DENY_ALL));
        assertThat(e.evaluate(req).allowed()).isFalse();
    }

    @Test
    void failedLoadKeepsThePreviousSet() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("d.yaml", DENY_ALL)).build();
        PolicySet before = e.policies();
        assertThatThrownBy(() -> e.replace(PolicyLoader.fromString("bad.yaml", DENY_LEGACY + ap("prod", "x", "{action: NOPE}"))))
                .isInstanceOf(PolicyLoadException.class);
        assertThat(e.policies()).isSameAs(before);
        assertThat(e.evaluate(r().build()).allowed()).isFalse();
    }

    @Test
    void watchReloadsAndKeepsOldOnFailure(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("policy.yaml"), DENY_LEGACY);
        List<PolicySet> loaded = new CopyOnWriteArrayList<>();
        List<PolicyLoadException> failed = new CopyOnWriteArrayList<>();
        PolicyEngine e = PolicyEngine.builder().pollInterval(Duration.ofMillis(100)).reloadListener(new ReloadListener() {
            @Override
            public void reloaded(PolicySet policies) {
                loaded.add(policies);
            }

            @Override
            public void failed(PolicyLoadException error) {
                failed.add(error);
            }
        }).build();
        AccessRequest frontend = r().build();
        try (AutoCloseable watcher = e.watch(dir)) {
            assertThat(watcher).isNotNull();
            assertThat(e.evaluate(frontend).allowed()).isTrue();

            Files.writeString(dir.resolve("policy.yaml"), DENY_ALL);
            await(() -> !e.evaluate(frontend).allowed());
            assertThat(e.evaluate(frontend).policy().name()).isEqualTo("deny-all");

            Files.writeString(dir.resolve("zz-broken.yaml"), ap("prod", "broken", "{action: SOMETIMES}"));
            await(() -> !failed.isEmpty());
            assertThat(failed.get(0).file()).endsWith("zz-broken.yaml");
            assertThat(e.evaluate(frontend).policy().name()).as("old set stays in force").isEqualTo("deny-all");

            Files.delete(dir.resolve("zz-broken.yaml"));
            Files.writeString(dir.resolve("policy.yaml"), ap("prod", "allow-all", "{rules: [{}]}"));
            await(() -> e.evaluate(frontend).allowed() && e.evaluate(frontend).policy() != null);
            assertThat(e.evaluate(frontend).policy().name()).isEqualTo("allow-all");
        }
        assertThat(loaded.size()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void watchFailsUpFrontOnABadDirectory(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("p.yaml"), ap("prod", "x", "{action: NOPE}"));
        PolicyEngine e = PolicyEngine.builder().build();
        assertThatThrownBy(() -> e.watch(dir)).isInstanceOf(PolicyLoadException.class);
        assertThat(e.policies().size()).isZero();
    }

    @Test
    void requestValidation() {
        assertThatThrownBy(() -> r().principal("cluster.local/ns/a/sa/b").build()).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> r().port(0).build()).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> r().src("example.com").build()).isInstanceOf(IllegalArgumentException.class);
    }

    /** Polls a condition until a deadline: the only waiting these tests do. */
    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 20s");
            }
            Thread.sleep(20);
        }
    }

    @Test
    void changeListenersHearEverySwapUntilRemoved() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().build();
        java.util.List<PolicySet> seen = new java.util.ArrayList<>();
        AutoCloseable handle = engine.addChangeListener(seen::add);
        PolicySet next = PolicyLoader.fromString("mem", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-all, namespace: prod}
                spec: {}
                """);
        engine.replace(next);
        handle.close();
        engine.replace(PolicySet.empty());
        org.assertj.core.api.Assertions.assertThat(seen).containsExactly(next);
    }
}
