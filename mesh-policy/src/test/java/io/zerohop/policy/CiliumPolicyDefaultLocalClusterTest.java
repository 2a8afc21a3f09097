package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static io.zerohop.policy.Upstream.ccnp;
import static io.zerohop.policy.Upstream.cnp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cilium's agent option {@code policy-default-local-cluster} ({@link CiliumOptions#policyDefaultLocalCluster()}): true,
 * Cilium 1.19's default, adds the local cluster to every fromEndpoints selector naming none; false, Cilium 1.18's
 * default (before 1.18 the only reading), passes the empty cluster name, and {@code addClusterFilterByDefault} adds nothing
 * (cilium/cilium pkg/k8s/apis/cilium.io/utils/utils_test.go {@code TestAddClusterFilterByDefault}, "Do not add cluster label
 * for emtpy cluster"; {@code TestGetEndpointSelector}, cluster ""). Each case is decided under both settings. Until
 * 6 December zerohop had true only.
 */
class CiliumPolicyDefaultLocalClusterTest extends UpstreamTable {

    static final Upstream T = new Upstream();
    static final String UTILS = "cilium/cilium pkg/k8s/apis/cilium.io/utils/utils.go + utils_test.go (TestAddClusterFilterByDefault,"
            + " TestGetEndpointSelector) + pkg/clustermesh/types/option.go (policy-default-local-cluster)";
    static final CiliumOptions OFF = CiliumOptions.builder().policyDefaultLocalCluster(false).build();
    static final CiliumOptions ON = CiliumOptions.defaults();

    static String ingress(String rule) {
        return cnp("prod", "c", "{endpointSelector: {}, ingress: [" + rule + "]}");
    }

    /** Decided with {@code options}, through the loader and the engine with the same options. */
    static Decision decide(String yaml, R request, CiliumOptions options) throws PolicyLoadException {
        return PolicyEngine.builder().ciliumOptions(options).policies(PolicyLoader.fromString("case.yaml", yaml, options)).build()
                .evaluate(request.build());
    }

    /** One case under both settings: allowed with the option off ({@code off}) and on ({@code on}). */
    static void both(String name, String yaml, Supplier<R> request, boolean off, boolean on) {
        T.add(UTILS, name + " [policy-default-local-cluster=false: " + (off ? "allowed" : "denied") + "]",
                () -> assertThat(decide(yaml, request.get(), OFF).allowed()).as("false").isEqualTo(off));
        T.add(UTILS, name + " [policy-default-local-cluster=true: " + (on ? "allowed" : "denied") + "]",
                () -> assertThat(decide(yaml, request.get(), ON).allowed()).as("true").isEqualTo(on));
    }

    static {
        Supplier<R> eu = () -> r().sourceLabels("prod", Map.of("app", "frontend", "io.cilium.k8s.policy.cluster", "eu"));
        // TestAddClusterFilterByDefault "Add cluster label when not present" / "Do not add cluster label for emtpy cluster".
        both("fromEndpoints app=frontend, a frontend of cluster eu", ingress("{fromEndpoints: [{matchLabels: {app: frontend}}]}"),
                eu, true, false);
        both("fromEndpoints [{}], a pod of cluster eu", ingress("{fromEndpoints: [{}]}"), eu, true, false);
        both("clusterwide fromEndpoints app=frontend, a frontend of cluster eu",
                ccnp("c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]}"), eu, true, false);
        // "Do not add cluster label when already present with k8s prefix (different cluster)": the same either way.
        both("a selector naming cluster eu", ingress("{fromEndpoints: [{matchLabels: {app: frontend, io.cilium.k8s.policy.cluster: eu}}]}"),
                eu, true, true);
        both("a selector naming cluster us", ingress("{fromEndpoints: [{matchLabels: {app: frontend, io.cilium.k8s.policy.cluster: us}}]}"),
                eu, false, false);
        // "Don't add namespace when (k8s) namespace label prefix is already present", cluster "" and "test-cluster".
        both("a namespace-labels selector, a pod of cluster eu", ingress("{fromEndpoints: [{matchLabels: "
                + "{io.cilium.k8s.namespace.labels.team: a}}]}"), () -> r().sourceLabels("prod", Map.of("app", "frontend",
                "io.cilium.k8s.policy.cluster", "eu", "io.cilium.k8s.namespace.labels.team", "a")), true, false);
        // The local cluster either way.
        both("a frontend of the destination's cluster", ingress("{fromEndpoints: [{matchLabels: {app: frontend}}]}"),
                () -> r(), true, true);
        // An ingressDeny selector reaches every cluster with the option off.
        both("ingressDeny fromEndpoints app=frontend, a frontend of cluster eu", cnp("prod", "c", "{endpointSelector: {}, ingress: "
                + "[{fromEntities: [all]}], ingressDeny: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]}"), eu, false, true);
        // World has no cluster label: without the added cluster, NotIn on the namespace selects it (Kubernetes' Requirement).
        Supplier<R> world = () -> r().plaintext().source(null).src("203.0.113.9");
        both("fromEndpoints NotIn [kube-system] on the namespace, a world peer", ingress("{fromEndpoints: [{matchExpressions: "
                + "[{key: 'k8s:io.kubernetes.pod.namespace', operator: NotIn, values: [kube-system]}]}]}"), world, true, false);
        both("ingressDeny NotIn [prod] on the namespace, a world peer", cnp("prod", "c", "{endpointSelector: {}, ingress: "
                + "[{fromEntities: [all]}], ingressDeny: [{fromEndpoints: [{matchExpressions: [{key: 'k8s:io.kubernetes.pod.namespace',"
                + " operator: NotIn, values: [prod]}]}]}]}"), world, false, true);
        // A SPIFFE-only peer of another trust domain: no cluster to test with the option off, its namespace matches.
        both("fromEndpoints [{}], a SPIFFE-only peer of another trust domain", ingress("{fromEndpoints: [{}]}"),
                () -> r().source(null).principal("spiffe://eu.example.org/ns/prod/sa/frontend"), true, false);
        // The cluster entity is no selector: the option does not change it.
        both("fromEntities [cluster], a frontend of cluster eu", ingress("{fromEntities: [cluster]}"), eu, false, false);

        T.add(UTILS, "the default deny names the implicit local cluster only with the option on", () -> {
            String yaml = ingress("{fromEndpoints: [{matchLabels: {app: frontend}}]}");
            R other = r().sourceLabels("prod", Map.of("app", "frontend", "io.cilium.k8s.policy.cluster", "eu")).port(9);
            assertThat(decide(yaml, eu.get(), ON).explain()).contains("policy-default-local-cluster");
            Decision off = decide(cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{matchLabels: {app: admin}}]}]}"),
                    eu.get(), OFF);
            assertThat(off.allowed()).isFalse();
            assertThat(off.explain()).doesNotContain("policy-default-local-cluster").contains("does not select the source");
            assertThat(decide(yaml, other, OFF).allowed()).isTrue();
        });
        // A new-user pass (helper 298): the denial said "of another cluster (its workload's io.cilium.k8s.policy.cluster)",
        // naming neither cluster nor how to read the selector as a Cilium with the option false (1.18's default) does.
        T.add(UTILS, "the default deny names both clusters and the option's false reading", () -> {
            String yaml = ingress("{fromEndpoints: [{matchLabels: {app: frontend}}]}");
            R west = eu.get().dest("prod", "backend", Map.of("app", "backend", "io.cilium.k8s.policy.cluster", "west"));
            assertThat(decide(yaml, west, ON).explain()).contains("the source is of cluster eu, the destination of cluster west")
                    .contains("policyDefaultLocalCluster(false)");
            assertThat(decide(yaml, eu.get(), ON).explain()).contains("the source is of cluster eu, the destination of cluster default");
        });
    }

    static List<Upstream.Case> cases() {
        return T.cases;
    }

    @Test
    void countsPerSource() {
        assertThat(T.counts()).as("cases per upstream source; a case lost from the table fails here").containsEntry(UTILS, 26);
    }

    @Test
    void aWatchedDirectoryIsLoadedWithTheEnginesOptions(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("p.yaml"), ingress("{fromEndpoints: [{matchLabels: {app: frontend}}]}"));
        R eu = r().sourceLabels("prod", Map.of("app", "frontend", "io.cilium.k8s.policy.cluster", "eu"));
        PolicyEngine off = PolicyEngine.builder().ciliumOptions(OFF).build();
        PolicyEngine on = PolicyEngine.builder().build();
        try (AutoCloseable a = off.watch(dir); AutoCloseable b = on.watch(dir)) {
            assertThat(off.policies().ciliumOptions()).isEqualTo(OFF);
            assertThat(off.evaluate(eu.build()).allowed()).as("false").isTrue();
            assertThat(on.evaluate(eu.build()).allowed()).as("true (the default)").isFalse();
        }
    }

    @Test
    void aSetLoadedWithOtherOptionsIsRefused() throws Exception {
        PolicySet defaults = PolicyLoader.fromString("c.yaml", ingress("{fromEndpoints: [{}]}"));
        assertThatThrownBy(() -> PolicyEngine.builder().ciliumOptions(OFF).policies(defaults).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("policy-default-local-cluster=true").hasMessageContaining("policy-default-local-cluster=false");
        PolicyEngine engine = PolicyEngine.builder().ciliumOptions(OFF).build();
        assertThatThrownBy(() -> engine.replace(defaults)).isInstanceOf(IllegalArgumentException.class);
        // Istio policies only, or none: the Cilium options do not matter.
        engine.replace(PolicyLoader.fromString("a.yaml", Upstream.ap("prod", "a", "{action: DENY, rules: [{}]}")));
        engine.replace(PolicySet.empty());
        engine.replace(PolicyLoader.fromString("c.yaml", ingress("{fromEndpoints: [{}]}"), OFF));
        assertThat(engine.ciliumOptions()).isEqualTo(OFF);
    }

    @Test
    void builder() {
        assertThat(CiliumOptions.defaults().policyDefaultLocalCluster()).isTrue();
        assertThat(CiliumOptions.builder().build()).isEqualTo(CiliumOptions.defaults());
        assertThat(CiliumOptions.builder().ciliumVersion("1.18").build().policyDefaultLocalCluster()).isFalse();
        assertThat(CiliumOptions.builder().ciliumVersion("v1.18.4").build().policyDefaultLocalCluster()).isFalse();
        assertThat(CiliumOptions.builder().ciliumVersion("1.19.0-rc.1").build().policyDefaultLocalCluster()).isTrue();
        assertThat(CiliumOptions.builder().ciliumVersion("1.20").build().policyDefaultLocalCluster()).isTrue();
        assertThat(CiliumOptions.builder().ciliumVersion("1.9").build().policyDefaultLocalCluster()).isFalse();
        for (String bad : List.of("", "1", "2.0", "1.x", "latest", " 1.18")) {
            assertThatThrownBy(() -> CiliumOptions.builder().ciliumVersion(bad)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("ciliumVersion");
        }
        assertThatThrownBy(() -> CiliumOptions.builder().ciliumVersion(null)).isInstanceOf(NullPointerException.class)
                .hasMessage("version");
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", "", null)).isInstanceOf(NullPointerException.class)
                .hasMessage("options");
        assertThatThrownBy(() -> PolicyEngine.builder().ciliumOptions(null)).isInstanceOf(NullPointerException.class)
                .hasMessage("options");
        assertThat(OFF.toString()).isEqualTo("CiliumOptions[policy-default-local-cluster=false]");
    }
}
