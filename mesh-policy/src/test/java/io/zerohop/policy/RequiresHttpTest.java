package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static io.zerohop.policy.ConformanceTest.ccnp;
import static io.zerohop.policy.ConformanceTest.cnp;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link PolicyEngine#requiresHttp}: which destination ports need an HTTP parser. The attribute list
 * is the one istiod's ambient conversion reports as L7 when it drops or downgrades a rule for
 * ztunnel (istio/istio pilot/pkg/model/authorization.go, ambient "rule with HTTP fields"), and
 * Cilium's L7 redirect condition: a toPorts entry with rules.http (cilium/cilium pkg/policy/l4.go,
 * IsRedirect).
 */
class RequiresHttpTest {

    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));
    static final WorkloadRef OTHER = new WorkloadRef("prod", "db", "db", Map.of("app", "db"));

    static PolicyEngine engine(String yaml) throws PolicyLoadException {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    @Test
    void noPolicyNoParsing() {
        assertThat(PolicyEngine.builder().build().requiresHttp(BACKEND, 8080)).isFalse();
    }

    @Test
    @DisplayName("Istio L4-only rules (principals, ports, ipBlocks, namespaces) never need HTTP")
    void istioL4Only() throws Exception {
        PolicyEngine e = engine(ap("prod", "l4", "{selector: {matchLabels: {app: backend}}, action: ALLOW, rules: [{from: "
                + "[{source: {principals: [cluster.local/ns/prod/sa/frontend], ipBlocks: [10.0.0.0/8]}}], to: [{operation: {ports: [\"8080\"]}}],"
                + " when: [{key: source.namespace, values: [prod]}]}]}"));
        assertThat(e.requiresHttp(BACKEND, 8080)).isFalse();
    }

    @Test
    @DisplayName("Istio methods/paths/hosts and not* forms, when request.headers: HTTP on the ports they apply to")
    void istioHttpFields() throws Exception {
        for (String op : new String[] {"methods: [GET]", "paths: [/api/*]", "hosts: [a.example]", "notMethods: [DELETE]",
                "notPaths: [/admin]", "notHosts: [b.example]"}) {
            PolicyEngine e = engine(ap("prod", "l7", "{selector: {matchLabels: {app: backend}}, action: ALLOW, rules: [{to: [{operation: {"
                    + op + "}}]}]}"));
            assertThat(e.requiresHttp(BACKEND, 8080)).as(op).isTrue();
            assertThat(e.requiresHttp(OTHER, 8080)).as("selector excludes db: " + op).isFalse();
        }
        PolicyEngine when = engine(ap("prod", "hdr", "{action: DENY, rules: [{when: [{key: \"request.headers[x-debug]\", values: [\"1\"]}]}]}"));
        assertThat(when.requiresHttp(OTHER, 9000)).as("namespace-wide DENY with request.headers").isTrue();
    }

    @Test
    @DisplayName("operation.ports / notPorts and when destination.port limit which ports need HTTP")
    void istioPortScoping() throws Exception {
        PolicyEngine e = engine(ap("prod", "l7", "{action: ALLOW, rules: [{to: [{operation: {ports: [\"8080\"], methods: [GET]}}]},"
                + " {to: [{operation: {notPorts: [\"9090\", \"8080\"], paths: [/x]}}]},"
                + " {to: [{operation: {hosts: [h]}}], when: [{key: destination.port, values: [\"7070\"]}]}]}"));
        assertThat(e.requiresHttp(BACKEND, 8080)).isTrue();
        assertThat(e.requiresHttp(BACKEND, 9090)).isFalse();
        assertThat(e.requiresHttp(BACKEND, 7070)).isTrue();
        assertThat(e.requiresHttp(BACKEND, 6060)).isTrue();
        PolicyEngine only = engine(ap("prod", "l7", "{action: ALLOW, rules: [{to: [{operation: {ports: [\"8080\"], methods: [GET]}}]}]}"));
        assertThat(only.requiresHttp(BACKEND, 6060)).isFalse();
    }

    @Test
    @DisplayName("root-namespace policies apply mesh-wide; AUDIT never needs HTTP")
    void rootNamespaceAndAudit() throws Exception {
        assertThat(engine(ap("istio-system", "g", "{action: DENY, rules: [{to: [{operation: {methods: [TRACE]}}]}]}"))
                .requiresHttp(BACKEND, 80)).isTrue();
        assertThat(engine(ap("prod", "a", "{action: AUDIT, rules: [{to: [{operation: {methods: [GET]}}]}]}"))
                .requiresHttp(BACKEND, 80)).isFalse();
        assertThat(engine(ap("other", "o", "{action: DENY, rules: [{to: [{operation: {methods: [GET]}}]}]}"))
                .requiresHttp(BACKEND, 80)).as("another namespace's policy").isFalse();
    }

    @Test
    @DisplayName("Cilium toPorts.rules.http on the port (the seed's manifest); plain toPorts never")
    void cilium() throws Exception {
        PolicyEngine seed = PolicyEngine.builder()
                .policies(PolicyLoader.fromDirectory(Path.of("src/test/resources/seed").toAbsolutePath())).build();
        // The article's CiliumClusterwideNetworkPolicy selects app: checkout; its Istio policy has no HTTP fields.
        WorkloadRef checkout = new WorkloadRef("e-commerce", "checkout", "checkout", Map.of("app", "checkout"));
        assertThat(seed.requiresHttp(checkout, 8080)).isTrue();
        assertThat(seed.requiresHttp(checkout, 8081)).isFalse();
        assertThat(seed.requiresHttp(BACKEND, 8080)).as("a workload the policy does not select").isFalse();
        PolicyEngine l4 = engine(cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEndpoints: [{}],"
                + " toPorts: [{ports: [{port: \"8080\", protocol: TCP}]}]}]}"));
        assertThat(l4.requiresHttp(BACKEND, 8080)).isFalse();
        PolicyEngine range = engine(ccnp("c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{toPorts: [{ports: "
                + "[{port: \"8000\", endPort: 8100, protocol: TCP}], rules: {http: [{method: POST}]}}]}]}"));
        assertThat(range.requiresHttp(BACKEND, 8080)).isTrue();
        assertThat(range.requiresHttp(BACKEND, 8101)).isFalse();
        assertThat(range.requiresHttp(OTHER, 8080)).isFalse();
    }
}
