package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A Cilium default deny names the peer selector of the ingress rule for the request's port and why it did not
 * select the source, as {@code matchesPeer} decided it (the decisions are upstream's and unchanged: CIDR rules and
 * world entities select peers outside the cluster only, cilium/cilium pkg/policy/api/cidr.go and entity.go; a peer
 * with a SPIFFE identity is a cluster endpoint). New-user pass: every denial of a policy with one fromEndpoints rule
 * said "the source has no known workload, so fromEndpoints selectors on pod labels cannot match it", also on a port
 * whose rule is fromCIDR or fromEntities.
 */
class CiliumDenialExplanationTest {
    static final WorkloadRef WEB = new WorkloadRef("prod", "web", "web", Map.of("app", "web"));
    static final String CNP = ConformanceTest.cnp("prod", "web-in", "{endpointSelector: {matchLabels: {app: web}}, ingress: ["
            + "{fromEndpoints: [{matchLabels: {app: admin}}], toPorts: [{ports: [{port: '9090', protocol: TCP}]}]},"
            + "{fromCIDR: [10.0.0.0/8], toPorts: [{ports: [{port: '8080', protocol: TCP}]}]},"
            + "{fromEntities: [world], toPorts: [{ports: [{port: '7070', protocol: TCP}]}]}]}");
    static final String HEAD = "DENY by prod/web-in (CiliumNetworkPolicy ingress, default deny): endpoint selected by app=web"
            + " for ingress and no ingress rule allowed";

    static String explain(String principal, String sourceIp, int port) throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", CNP)).build();
        Decision d = engine.evaluate(AccessRequest.builder().sourcePrincipal(principal).sourceAddress(sourceIp)
                .destinationAddress("10.0.1.2").destinationPort(port).destination(WEB).build());
        assertThat(d.allowed()).isFalse();
        return d.explain();
    }

    @Test
    void aCidrOrWorldRuleSaysTheSourceIsAClusterEndpoint() throws Exception {
        String spiffe = "spiffe://cluster.local/ns/other/sa/x";
        assertThat(explain(spiffe, "10.0.0.5", 8080)).isEqualTo(HEAD + "; ingress rule 1 for this port selects fromCIDR"
                + " [10.0.0.0/8], which matches peers outside the cluster only (Cilium gives a pod's address its endpoint's"
                + " identity, not a CIDR's), and the source is a cluster endpoint (it has a SPIFFE identity or a registry workload)");
        assertThat(explain(spiffe, "10.0.0.5", 7070)).isEqualTo(HEAD + "; ingress rule 2 for this port selects fromEntities"
                + " [world], which matches peers outside the cluster only, and the source is a cluster endpoint (it has a SPIFFE"
                + " identity or a registry workload)");
        // A plaintext peer outside the CIDR: the CIDR is why.
        assertThat(explain(null, "11.0.0.5", 8080)).isEqualTo(HEAD + "; ingress rule 1 for this port selects fromCIDR"
                + " [10.0.0.0/8], which does not contain the source address (or excepts it)");
    }

    @Test
    void theFromEndpointsWordingComesOnlyOnTheRulesOwnPort() throws Exception {
        String spiffe = "spiffe://cluster.local/ns/other/sa/x";
        assertThat(explain(spiffe, "10.0.0.5", 9090)).isEqualTo(HEAD
                + "; the source has no known workload, so fromEndpoints selectors on pod labels cannot match it");
        assertThat(explain(spiffe, "10.0.0.5", 6060)).isEqualTo(HEAD + "; no ingress rule's toPorts covers this port");
    }

    /**
     * A source workload with labels that the port's fromEndpoints rule does not select: the explanation named no rule
     * (the policy's head alone), where Istio's names the field that did not match (the session's closing note). The
     * decision is Cilium's and unchanged (pkg/policy/api/selector.go EndpointSelector.Matches).
     */
    @Test
    void aFromEndpointsRuleThatMissesALabelledSourceIsNamed() throws Exception {
        WorkloadRef frontend = new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend"));
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", CNP)).build();
        AccessRequest.Builder b = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend")
                .sourceWorkload(frontend).sourceAddress("10.0.0.5").destinationAddress("10.0.1.2").destinationPort(9090)
                .destination(WEB);
        Decision d = engine.evaluate(b.build());
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).isEqualTo(HEAD + "; ingress rule 0 for this port selects fromEndpoints app=admin, which does not"
                + " select the source workload (its namespace, service account or labels differ)");
        // The admin workload it names is allowed, and on another port the toPorts wording stays.
        assertThat(engine.evaluate(b.sourceWorkload(new WorkloadRef("prod", "admin", "admin", Map.of("app", "admin"))).build())
                .allowed()).isTrue();
        assertThat(engine.evaluate(b.sourceWorkload(frontend).destinationPort(6060).build()).explain())
                .isEqualTo(HEAD + "; no ingress rule's toPorts covers this port");
    }

    /**
     * New-user pass: the seed article's CCNP (POST /charge on 8080 from app=frontend) and GET /charge from the frontend
     * said "no ingress rule's toPorts covers this port" although 8080 is covered; its rules.http missed. The decision
     * is Cilium's (an HTTP request no rules.http entry matches is denied, pkg/policy/api/l7.go PortRuleHTTP) and unchanged.
     */
    @Test
    void aPortCoveredOnlyThroughRulesHttpSaysTheHttpRuleMissed() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromFile(
                SeedManifestTest.seed("cilium-enforce-mtls-checkout.yaml"))).build();
        WorkloadRef frontend = new WorkloadRef("production", "frontend", "frontend-service-account", Map.of("app", "frontend"));
        WorkloadRef checkout = new WorkloadRef("production", "checkout", "checkout", Map.of("app", "checkout"));
        AccessRequest.Builder b = AccessRequest.builder().sourcePrincipal(SeedManifestTest.CILIUM_ID).sourceWorkload(frontend)
                .sourceAddress("10.0.0.5").destinationAddress("10.0.1.2").destinationPort(8080).destination(checkout);
        Decision get = engine.evaluate(b.http("GET", "/charge").build());
        assertThat(get.allowed()).isFalse();
        assertThat(get.explain()).isEqualTo("DENY by enforce-mtls-checkout (CiliumClusterwideNetworkPolicy ingress, default"
                + " deny): endpoint selected by app=checkout for ingress and no ingress rule allowed; ingress rule 0"
                + " (toPorts 8080/TCP http POST /charge) selects the source on this port, but the request matches none of"
                + " its rules.http");
        assertThat(engine.evaluate(b.http("POST", "/charge").build()).allowed()).isTrue();
        // Another port: not covered.
        assertThat(engine.evaluate(b.destinationPort(9090).http("GET", "/charge").build()).explain())
                .endsWith("; no ingress rule's toPorts covers this port");
    }

    /**
     * The seed article's point: a workload labelled app=frontend with another identity (batch-jobs) is kept out by
     * authentication.spiffe. Decided without HTTP attributes (the CONNECT, or policy check without --method), the reason
     * is that identity, which no HTTP data can change; it read "no HTTP attributes were given" until 5 December (a
     * new-user pass; the caller had sent HTTP).
     */
    @Test
    void anIdentityTheRuleRefusesIsTheReasonWithoutHttpAttributes() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromFile(
                SeedManifestTest.seed("cilium-enforce-mtls-checkout.yaml"))).build();
        WorkloadRef batch = new WorkloadRef("production", "batch", "batch-jobs", Map.of("app", "frontend"));
        WorkloadRef checkout = new WorkloadRef("production", "checkout", "checkout", Map.of("app", "checkout"));
        AccessRequest.Builder b = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/production/sa/batch-jobs")
                .sourceWorkload(batch).sourceAddress("10.0.0.8").destinationAddress("10.0.1.2").destinationPort(8080)
                .destination(checkout);
        String identity = "peer SPIFFE identity not accepted by authentication.spiffe";
        Decision l4 = engine.evaluate(b.build());
        assertThat(l4.allowed()).isFalse();
        assertThat(l4.outcome()).isEqualTo(Decision.Outcome.DENIED_AUTHENTICATION);
        assertThat(l4.reason()).startsWith(identity);
        assertThat(engine.evaluate(b.http("POST", "/charge").build()).reason()).startsWith(identity);
        // A request the rule's rules.http would not take either: still the identity (a final new-user pass read "matches
        // none of its rules.http", as if POST /charge would pass).
        assertThat(engine.evaluate(b.http("GET", "/charge").build()).reason()).startsWith(identity);
        // The identity the rule accepts, without HTTP attributes: the HTTP rule is what is missing.
        assertThat(engine.evaluate(b.sourcePrincipal(SeedManifestTest.CILIUM_ID).http((io.zerohop.policy.HttpAttributes) null).build()).reason())
                .startsWith("port allowed only through rules.http");
    }

    /** New-user pass: a rules.http entry of host and headers alone read "http * *", as if it allowed every request. */
    @Test
    void anHttpRuleOfHostAndHeadersNamesThem() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", ConformanceTest.cnp("prod",
                "web-in", "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEntities: [cluster], toPorts: [{ports:"
                        + " [{port: '8080', protocol: TCP}], rules: {http: [{host: 'api\\.example', headers: ['X-Token: abc'],"
                        + " headerMatches: [{name: x-tenant, value: blue}, {name: x-trace}]}, {method: GET}]}}]}]}"))).build();
        AccessRequest.Builder b = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend")
                .sourceWorkload(new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend")))
                .sourceAddress("10.0.0.5").destinationAddress("10.0.1.2").destinationPort(8080).destination(WEB);
        Decision d = engine.evaluate(b.http("POST", "/").build());
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains("(toPorts 8080/TCP http * * host api\\.example header \"X-Token: abc\" header \"x-tenant: blue\""
                + " header \"x-trace\" | GET *)");
    }

    /** New-user pass: two ingress rules on one port (fromCIDR and fromEntities [world]) named rule 0's selector only. */
    @Test
    void severalRulesOnThePortAreEachNamed() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", ConformanceTest.cnp("prod",
                "web-in", "{endpointSelector: {matchLabels: {app: web}}, ingress: ["
                        + "{fromCIDR: [10.0.0.0/8], toPorts: [{ports: [{port: '8080', protocol: TCP}]}]},"
                        + "{fromEntities: [world], toPorts: [{ports: [{port: '8080', protocol: TCP}]}]}]}"))).build();
        AccessRequest.Builder b = AccessRequest.builder().sourceAddress("10.0.0.5").destinationAddress("10.0.1.2")
                .destinationPort(8080).destination(WEB);
        Decision endpoint = engine.evaluate(b.sourcePrincipal("spiffe://cluster.local/ns/other/sa/x").build());
        assertThat(endpoint.allowed()).isFalse();
        assertThat(endpoint.explain()).isEqualTo(HEAD + "; no ingress rule for this port selects the source: rule 0 fromCIDR"
                + " [10.0.0.0/8]: outside the cluster only, and the source is a cluster endpoint; rule 1 fromEntities [world]:"
                + " outside the cluster only, and the source is a cluster endpoint");
        // A plaintext IPv4 peer outside the CIDR is world: allowed by rule 1, as Cilium decides.
        assertThat(engine.evaluate(b.sourcePrincipal(null).sourceAddress("11.0.0.5").build()).allowed()).isTrue();
    }

    /**
     * {@code fromEntities: [world, host]} said "matches peers outside the cluster only", though host is the node itself
     * (a new-user pass): the text lists what each entity matches (cilium/cilium pkg/policy/api/entity.go: world is
     * reserved:world, host reserved:host, the local node). The decision is unchanged.
     */
    @Test
    void aWorldAndHostRuleSaysWhatEachEntityMatches() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", ConformanceTest.cnp("prod",
                "web-in", "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEntities: [world, host]}]}"))).build();
        Decision d = engine.evaluate(AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/other/sa/x")
                .sourceAddress("10.0.0.5").destinationAddress("10.0.1.2").destinationPort(8080).destination(WEB).build());
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).isEqualTo(HEAD + "; ingress rule 0 for this port selects fromEntities [world, host], which"
                + " matches peers outside the cluster (world) or the local node (host: its address, when the registry knows the"
                + " node) only, and the source is a cluster endpoint (it has a SPIFFE identity or a registry workload)")
                .doesNotContain("outside the cluster only");
        assertThat(engine.evaluate(AccessRequest.builder().sourceAddress("10.0.0.5").sourceNode(AccessRequest.SourceNode.HOST)
                .destinationAddress("10.0.1.2").destinationPort(8080).destination(WEB).build()).allowed()).as("host").isTrue();
    }

    /**
     * A fromEndpoints rule on another namespace only (no pod label) denied with the policy's head alone, where a rule on
     * pod labels names itself and "which does not select the source" (a new-user pass). The decision is Cilium's and
     * unchanged (pkg/policy/api/selector.go; a namespaced policy's fromEndpoints may name another namespace with
     * k8s:io.kubernetes.pod.namespace).
     */
    @Test
    void aFromEndpointsRuleOnAnotherNamespaceIsNamed() throws Exception {
        PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("c.yaml", ConformanceTest.cnp("prod",
                "web-in", "{endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEndpoints: [{matchLabels:"
                + " {k8s:io.kubernetes.pod.namespace: other}}]}]}"))).build();
        AccessRequest.Builder b = AccessRequest.builder().sourceAddress("10.0.0.5").destinationAddress("10.0.1.2")
                .destinationPort(8080).destination(WEB);
        Decision d = engine.evaluate(b.sourcePrincipal("spiffe://cluster.local/ns/prod/sa/a").build());
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).isEqualTo(HEAD + "; ingress rule 0 for this port selects fromEndpoints"
                + " io.kubernetes.pod.namespace=other, which does not select the source");
        assertThat(engine.evaluate(b.sourcePrincipal("spiffe://cluster.local/ns/other/sa/a").build()).allowed())
                .as("the namespace it names").isTrue();
    }
}

