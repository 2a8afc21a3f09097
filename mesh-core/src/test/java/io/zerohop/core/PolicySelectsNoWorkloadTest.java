package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * newuser23: {@code zerohop policy check --workloads} and {@code zerohop proxy} warned that a policy selects no
 * workload (a mistyped label leaves the workload it was written for open); an embedded mesh with the same
 * registry and policies said nothing. It logs the same line now, WARN, once per policy at the load that brings it.
 */
class PolicySelectsNoWorkloadTest {
    static final String MISTYPED_ALLOW = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-internal-only, namespace: e-commerce}
            spec:
              selector: {matchLabels: {app: paymnet}}
              action: ALLOW
              rules: [{from: [{source: {namespaces: [e-commerce]}}]}]
            """;
    static final String MISTYPED_DENY = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-batch, namespace: e-commerce}
            spec:
              selector: {matchLabels: {app: paymnet}}
              action: DENY
              rules: [{from: [{source: {namespaces: [batch]}}]}]
            """;

    @Test
    void theMeshWarnsOncePerPolicyAtTheLoadThatBringsIt() throws Exception {
        Workload payment = new Workload("e-commerce", "payment", "payment", Map.of("app", "payment"),
                List.of(InetAddress.getByName("127.0.0.2")), Workload.Protocol.HBONE, null, "cluster.local");
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW)).build();
        try (CapturedStderr err = new CapturedStderr();
             Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).policies(engine)
                     .workloads(WorkloadRegistry.of(List.of(payment), Map.of())).drain(Duration.ZERO).threads(1).build()) {
            String line = err.awaitLine("AuthorizationPolicy e-commerce/allow-internal-only (ALLOW) selects no workload in the workload registry");
            assertThat(line).contains("WARN io.zerohop.core.SelectorCheck", "(its selector app=paymnet)",
                    "leaves the workload it was written for open");
            engine.replace(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW + MISTYPED_DENY));
            err.awaitLine("AuthorizationPolicy e-commerce/deny-batch (DENY) selects no workload in the workload registry");
            assertThat(err.count("allow-internal-only (ALLOW) selects no workload")).as("lines for the policy already reported").isEqualTo(1);
        }
    }

    /**
     * A new-user pass: a RequestAuthentication with a mistyped selector ({@code app: httpbinn}) said nothing, and the
     * workload's tokens went unchecked. It gets the line an AuthorizationPolicy gets, with what a JWT rule fails to do.
     */
    @Test
    void aRequestAuthenticationThatSelectsNoWorkloadIsNamed() throws Exception {
        Workload payment = new Workload("e-commerce", "payment", "payment", Map.of("app", "payment"),
                List.of(InetAddress.getByName("127.0.0.2")), Workload.Protocol.HBONE, null, "cluster.local");
        String mistyped = """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt-example, namespace: e-commerce}
                spec:
                  selector: {matchLabels: {app: paymnet}}
                  jwtRules: [{issuer: "testing@secure.istio.io", jwks: '{"keys":[]}'}]
                ---
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt-right, namespace: e-commerce}
                spec:
                  selector: {matchLabels: {app: payment}}
                  jwtRules: [{issuer: "testing@secure.istio.io", jwks: '{"keys":[]}'}]
                """;
        List<String> lines = SelectorCheck.unselecting(PolicyLoader.fromString("ra.yaml", mistyped),
                WorkloadRegistry.of(List.of(payment), Map.of()), "the workload registry", "istio-system", null);
        assertThat(lines).singleElement().asString().startsWith(
                        "ra.yaml:5: RequestAuthentication e-commerce/jwt-example selects no workload in the workload registry (its selector app=paymnet)")
                .contains("checks no token", "JWTs unverified");
    }

    /** zerohop proxy --kubernetes disables the check for its engine: its registry fills as pods are scheduled. */
    @Test
    void aDisabledEngineIsNotChecked() throws Exception {
        Workload payment = new Workload("e-commerce", "payment", "payment", Map.of("app", "payment"),
                List.of(InetAddress.getByName("127.0.0.2")), Workload.Protocol.HBONE, null, "cluster.local");
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW)).build();
        SelectorCheck.disable(engine);
        try (CapturedStderr err = new CapturedStderr();
             Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).policies(engine)
                     .workloads(WorkloadRegistry.of(List.of(payment), Map.of())).drain(Duration.ZERO).threads(1).build()) {
            engine.replace(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW + MISTYPED_DENY));
            assertThat(err.text()).doesNotContain("selects no workload");
        }
    }

    /**
     * A registry empty at build() is not checked while it stays empty, and is checked at the first policy load after it
     * gained workloads, as zerohop proxy's check (SelectorCheck skips an empty registry at each load). Until 2 December
     * the mesh attached no check to it at all, so it never said anything.
     */
    @Test
    void aRegistryFilledAfterBuildIsCheckedAtTheNextLoad() throws Exception {
        Workload payment = new Workload("e-commerce", "payment", "payment", Map.of("app", "payment"),
                List.of(InetAddress.getByName("127.0.0.2")), Workload.Protocol.HBONE, null, "cluster.local");
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW)).build();
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(), Map.of());
        try (CapturedStderr err = new CapturedStderr();
             Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).policies(engine)
                     .workloads(registry).drain(Duration.ZERO).threads(1).build()) {
            engine.replace(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW));
            assertThat(err.text()).as("an empty registry is not checked").doesNotContain("selects no workload");
            registry.put(payment);
            engine.replace(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW + MISTYPED_DENY));
            err.awaitLine("AuthorizationPolicy e-commerce/deny-batch (DENY) selects no workload in the workload registry");
            err.awaitLine("AuthorizationPolicy e-commerce/allow-internal-only (ALLOW) selects no workload in the workload registry");
        }
    }

    /** A mesh without a registry (or with an empty one, to be filled later) has nothing to check against: no line. */
    @Test
    void noRegistryNoWarning() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW)).build();
        try (CapturedStderr err = new CapturedStderr();
             Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).policies(engine)
                     .drain(Duration.ZERO).threads(1).build()) {
            engine.replace(PolicyLoader.fromString("p.yaml", MISTYPED_ALLOW + MISTYPED_DENY));
            assertThat(err.text()).doesNotContain("selects no workload");
        }
    }
    /**
     * A rule's source namespace where no workload runs, as Istio's analyzer IST0101 ReferencedResourceNotFound reports one
     * no Namespace has (istio/istio pkg/config/analysis/analyzers/authz/authorizationpolicies.go analyzeNamespaceNotFound,
     * its namespaceMatch: "*", prefix and suffix patterns, the name in any case). A new-user pass found a DENY on
     * namespaces: ["legcy"] silently denying nothing, with no word from policy check --workloads or the proxy. Only a
     * near miss is named: callers' namespaces need no workload in the registry (istio-system, monitoring: no line).
     */
    @Test
    void aSourceNamespaceWhereNoWorkloadRunsIsNamed() throws Exception {
        List<Workload> registry = List.of(
                new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(InetAddress.getByName("127.0.0.2")),
                        Workload.Protocol.HBONE, null, "cluster.local"),
                new Workload("legacy", "old", "old", Map.of("app", "old"), List.of(InetAddress.getByName("127.0.0.3")),
                        Workload.Protocol.HBONE, null, "cluster.local"));
        String policies = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-legacy, namespace: prod}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source: {namespaces: [legcy]}
                    - source: {namespaces: ["leg*", "*acy", "*", LEGACY], notNamespaces: [prd]}
                  - from:
                    - source: {namespaces: [istio-system, monitoring]}
                """;
        List<String> lines = SelectorCheck.unselecting(PolicyLoader.fromString("p.yaml", policies), WorkloadRegistry.of(registry, Map.of()),
                "workloads.yaml", "istio-system", null);
        assertThat(lines).containsExactly(
                "p.yaml:8: AuthorizationPolicy prod/deny-legacy (DENY) spec.rules[0].from[0].source.namespaces[0] names namespace legcy,"
                        + " where no workload of workloads.yaml runs (did you mean legacy?): a mistyped namespace matches no caller, and"
                        + " leaves the sources it was written for without the denial (Istio's IST0101 ReferencedResourceNotFound:"
                        + " namespace \"legcy\")",
                "p.yaml:9: AuthorizationPolicy prod/deny-legacy (DENY) spec.rules[0].from[1].source.notNamespaces[0] names namespace prd,"
                        + " where no workload of workloads.yaml runs (did you mean prod?): a mistyped namespace excludes no source, and"
                        + " leaves the sources it was written to exclude denied too (Istio's IST0101 ReferencedResourceNotFound:"
                        + " namespace \"prd\")");
    }

    /**
     * The check reads a CiliumNetworkPolicy's endpointSelector as the engine and Cilium do: ParseToCiliumRule
     * (cilium/cilium pkg/k8s/apis/cilium.io/utils/utils.go) replaces k8s:io.kubernetes.pod.namespace with the policy's
     * namespace, so such a policy selects prod's workloads (a review pass found "selects no workload" beside a decision
     * that enforced it); a namespace without a source (any.io.kubernetes.pod.namespace) stays a requirement, and app beside
     * k8s:app with another value (any.app, k8s.app: pkg/policy/api/selector.go) selects nothing.
     */
    @Test
    void ciliumEndpointSelectorsAreReadAsTheEngineReadsThem() throws Exception {
        interface Cnp {
            List<String> apply(String selector) throws Exception;
        }
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"),
                List.of(InetAddress.getByName("127.0.0.2")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
        Cnp lines = selector -> SelectorCheck.unselecting(PolicyLoader.fromString("c.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: c, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: %s}
                  ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
                """.formatted(selector)), registry, "r.yaml", "istio-system", null);
        assertThat(lines.apply("{'k8s:io.kubernetes.pod.namespace': other, app: backend}")).as("replaced by prod").isEmpty();
        assertThat(lines.apply("{io.kubernetes.pod.namespace: prod, app: backend}")).isEmpty();
        assertThat(lines.apply("{io.kubernetes.pod.namespace: other, app: backend}")).singleElement().asString()
                .contains("CiliumNetworkPolicy prod/c selects no workload in r.yaml");
        assertThat(lines.apply("{app: other, 'k8s:app': backend}")).singleElement().asString()
                .contains("CiliumNetworkPolicy prod/c selects no workload in r.yaml");
        assertThat(lines.apply("{app: backend, 'k8s:app': backend}")).isEmpty();
        // Cilium's GetExtendedKeyFrom: an '=' after the source ends the key, as the engine reads it (helper 269).
        assertThat(lines.apply("{'app=x': backend}")).as("app=x is app").isEmpty();
        assertThat(lines.apply("{'k8s:app=x': backend}")).as("k8s:app=x is app").isEmpty();
        assertThat(lines.apply("{'app=x': other}")).singleElement().asString()
                .contains("CiliumNetworkPolicy prod/c selects no workload in r.yaml");
        assertThat(lines.apply("{'$host': ''}")).as("reserved: not the registry's to answer").isEmpty();
    }

    /**
     * An Istio selector on a key under Cilium's prefix selects no workload (mesh-policy's IstioCompiler, as istiod selects
     * by the pod's own labels: pilot/pkg/serviceregistry/ambient/workloads.go {@code buildWorkloadPolicies}); the check
     * says so even when the registry's workloads carry the key as a Cilium endpoint label (a namespace label), where it
     * was silent (helper 293).
     */
    @Test
    void anIstioSelectorOnACiliumKeySelectsNoWorkload() throws Exception {
        Workload backend = new Workload("prod", "backend", "backend",
                Map.of("app", "backend", "io.cilium.k8s.namespace.labels.team", "pay"),
                List.of(InetAddress.getByName("127.0.0.2")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
        interface Ap {
            List<String> apply(String selector) throws Exception;
        }
        Ap lines = selector -> SelectorCheck.unselecting(PolicyLoader.fromString("a.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: a, namespace: prod}
                spec:
                  selector: {matchLabels: %s}
                  action: ALLOW
                  rules: [{from: [{source: {namespaces: [prod]}}]}]
                """.formatted(selector)), registry, "r.yaml", "istio-system", null);
        assertThat(lines.apply("{app: backend}")).isEmpty();
        assertThat(lines.apply("{io.cilium.k8s.namespace.labels.team: pay}")).singleElement().asString()
                .contains("AuthorizationPolicy prod/a (ALLOW) selects no workload in r.yaml");
    }

    /**
     * The line for an Istio selector on a key under Cilium's prefix says why it selects nothing (mesh-policy's
     * IstioCompiler: istiod selects by the pod's own labels, pilot/pkg/serviceregistry/ambient/workloads.go
     * {@code buildWorkloadPolicies}), where it told a user whose destination carries that key as a Cilium endpoint label
     * that the destination "has none of those labels" and blamed "a mistyped selector label".
     */
    @Test
    void theLineForACiliumKeySaysWhyItSelectsNothing() throws Exception {
        Workload backend = new Workload("prod", "backend", "backend",
                Map.of("app", "backend", "io.cilium.k8s.namespace.labels.team", "pay"),
                List.of(InetAddress.getByName("127.0.0.2")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
        List<String> lines = SelectorCheck.unselecting(PolicyLoader.fromString("a.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: a, namespace: prod}
                spec:
                  selector: {matchLabels: {io.cilium.k8s.namespace.labels.team: pay}}
                  action: DENY
                  rules: [{from: [{source: {namespaces: [other]}}]}]
                """), registry, "r.yaml", "istio-system", backend);
        assertThat(lines).singleElement().asString()
                .contains("AuthorizationPolicy prod/a (DENY) selects no workload in r.yaml")
                .contains("io.cilium.k8s.namespace.labels.team is under Cilium's prefix io.cilium.k8s")
                .doesNotContain("has none of those labels", "mistyped");
    }
}
