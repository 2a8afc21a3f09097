package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PolicyEngine#jwtRules}: which RequestAuthentications select a workload, as istio/istio
 * pilot/pkg/model/authentication_test.go {@code TestGetPoliciesForWorkload} (its fixture, {@code createTestConfigs}, and
 * its non-gateway, non-waypoint cases, quoted by name), and in which order: istiod flattens the rules and sorts them by
 * issuer (pilot/pkg/security/authn/policy_applier.go {@code newPolicyApplier}). Each RequestAuthentication's one rule
 * has the issuer {@code <namespace>.<name>}, so the answer names the objects selected.
 */
class RequestAuthenticationSelectionTest {

    @TempDir
    Path dir;
    private PolicyEngine engine;

    private static String ra(String ns, String name, String scope) {
        return "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: " + name + ", namespace: " + ns
                + "}\nspec:\n" + scope + "  jwtRules:\n  - issuer: " + ns + "." + name + "\n---\n";
    }

    @BeforeEach
    void fixture() throws Exception {
        // createTestConfigs: rootNamespace istio-config. Its "with-targetref" of bar, which has a selector and a targetRef,
        // is left out: istiod's own validation refuses it ("only one of targetRefs or workloadSelector can be set").
        Files.writeString(dir.resolve("root.yaml"), ra("istio-config", "default", "")
                + ra("istio-config", "global-with-selector", "  selector: {matchLabels: {app: httpbin}}\n")
                + ra("istio-config", "global-with-ref", "  targetRef: {group: gateway.networking.k8s.io, kind: GatewayClass,"
                + " name: istio-waypoint}\n"));
        Files.writeString(dir.resolve("foo.yaml"), ra("foo", "default", "")
                + ra("foo", "with-selector", "  selector: {matchLabels: {app: httpbin, version: v1}}\n")
                + ra("foo", "with-targetref", "  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: my-gateway}\n")
                + ra("foo", "ignored-gateway-selector", "  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: my-gateway}}\n"));
        Files.writeString(dir.resolve("bar.yaml"), ra("bar", "default", "")
                + ra("bar", "with-targetref-service", "  targetRef: {kind: Service, name: target-service-bar}\n"));
        engine = PolicyEngine.builder().rootNamespace("istio-config").policies(PolicyLoader.fromDirectory(dir)).build();
    }

    private List<String> issuers(String ns, Map<String, String> labels) {
        return engine.jwtRules(new WorkloadRef(ns, "w", "sa", labels)).stream().map(JwtRule::issuer).toList();
    }

    @Test
    void emptyWorkloadLabels() {
        assertThat(issuers("foo", Map.of())).containsExactly("foo.default", "istio-config.default");
        assertThat(issuers("bar", Map.of())).containsExactly("bar.default", "istio-config.default");
        assertThat(issuers("baz", Map.of())).containsExactly("istio-config.default");
    }

    @Test
    void matchWorkloadLabels() {
        // "Match workload labels in foo": foo/default, foo/with-selector, istio-config/default, istio-config/global-with-selector
        assertThat(issuers("foo", Map.of("app", "httpbin", "version", "v1", "other", "labels")))
                .containsExactly("foo.default", "foo.with-selector", "istio-config.default", "istio-config.global-with-selector");
        assertThat(issuers("bar", Map.of("app", "httpbin", "version", "v1")))
                .containsExactly("bar.default", "istio-config.default", "istio-config.global-with-selector");
        // "Partial match workload labels in foo"
        assertThat(issuers("foo", Map.of("app", "httpbin")))
                .containsExactly("foo.default", "istio-config.default", "istio-config.global-with-selector");
    }

    @Test
    void targetRefsAttachToNoWorkload() {
        // A workload is no gateway or waypoint here: "with-targetref", "global-with-ref" and "with-targetref-service"
        // never apply (ShouldAttachPolicy: "if targetRef is specified, ignore the policy altogether").
        assertThat(issuers("foo", Map.of("gateway.networking.k8s.io/gateway-name", "my-gateway")))
                .doesNotContain("foo.with-targetref", "istio-config.global-with-ref")
                .contains("foo.ignored-gateway-selector");
        assertThat(issuers("bar", Map.of("app", "target-service-bar"))).doesNotContain("bar.with-targetref-service");
    }

    @Test
    void rulesAreSortedByIssuerAcrossPolicies() throws Exception {
        // istiod sorts the flattened rules by issuer, whatever their policy: the root namespace's "a.example" first.
        Files.writeString(dir.resolve("order.yaml"), """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: two, namespace: qux}
                spec:
                  jwtRules:
                  - issuer: c.example
                  - issuer: b.example
                ---
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: mesh, namespace: istio-config}
                spec:
                  selector: {matchLabels: {tier: web}}
                  jwtRules:
                  - issuer: a.example
                  - issuer: b.example
                    jwksUri: https://root.example/keys
                """);
        PolicyEngine e = PolicyEngine.builder().rootNamespace("istio-config").policies(PolicyLoader.fromDirectory(dir)).build();
        List<JwtRule> rules = e.jwtRules(new WorkloadRef("qux", "w", "sa", Map.of("tier", "web")));
        assertThat(rules).extracting(JwtRule::issuer)
                .containsExactly("a.example", "b.example", "b.example", "c.example", "istio-config.default");
        // One issuer twice: the workload namespace's rule before the root's (a stable sort of namespace, then root).
        assertThat(rules.get(1).origin()).isEqualTo("qux/two");
        assertThat(rules.get(2).origin()).isEqualTo("istio-config/mesh");
        assertThat(rules.get(2).jwksUri()).isEqualTo("https://root.example/keys");
        assertThat(rules).isUnmodifiable();
    }

    @Test
    void aWorkloadInTheRootNamespaceGetsItsRulesOnce() {
        assertThat(issuers("istio-config", Map.of("app", "httpbin")))
                .containsExactly("istio-config.default", "istio-config.global-with-selector");
    }

    @Test
    void aReloadChangesTheRules() throws Exception {
        LinkedBlockingQueue<PolicySet> swaps = new LinkedBlockingQueue<>();
        PolicyEngine e = PolicyEngine.builder().rootNamespace("istio-config").pollInterval(Duration.ofMillis(100)).build();
        e.addChangeListener(swaps::add);
        try (AutoCloseable watcher = e.watch(dir)) {
            swaps.poll(10, TimeUnit.SECONDS);
            WorkloadRef w = new WorkloadRef("foo", "w", "sa", Map.of());
            assertThat(e.jwtRules(w)).extracting(JwtRule::issuer).containsExactly("foo.default", "istio-config.default");
            Files.writeString(dir.resolve("foo.yaml"), ra("foo", "default", "").replace("foo.default", "foo.rotated"));
            PolicySet next = swaps.poll(30, TimeUnit.SECONDS);
            assertThat(next).as("a reload after the edit").isNotNull();
            assertThat(e.jwtRules(w)).extracting(JwtRule::issuer).containsExactly("foo.rotated", "istio-config.default");
            Files.delete(dir.resolve("foo.yaml"));
            assertThat(swaps.poll(30, TimeUnit.SECONDS)).isNotNull();
            assertThat(e.jwtRules(w)).extracting(JwtRule::issuer).containsExactly("istio-config.default");
        }
    }

    @Test
    void noRequestAuthenticationMeansNoRules() throws Exception {
        PolicyEngine e = PolicyEngine.builder().build();
        assertThat(e.jwtRules(new WorkloadRef("foo", "w", "sa", Map.of()))).isEmpty();
    }
}
