package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * {@link PolicyEngine#evaluateUnparsed}: a connection to a port decided per HTTP request that could not
 * be parsed. A DENY rule's HTTP fields are taken as matched there, as a sidecar's TCP filter reads a DENY
 * (istio/istio pilot/pkg/security/authz/builder: for TCP, a DENY rule's HTTP-only fields are dropped, so it
 * denies more; the istio.io authorization-policy reference: "if we were to remove the ports match, all TCP
 * traffic would be denied"), not omitted as ztunnel omits them. Before 1 December such a connection was
 * decided by {@link PolicyEngine#evaluate} alone, so {@code DENY paths: [/admin]} did not apply to it.
 */
class UnparsedConnectionTest {
    static PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    static PolicyEngine deny(String rules) throws Exception {
        return engine(ConformanceTest.ap("prod", "deny", "{action: DENY, rules: [" + rules + "]}"));
    }

    @Test
    void aDenyOnHttpFieldsDeniesAnUnparsedConnection() throws Exception {
        PolicyEngine e = deny("{to: [{operation: {paths: [/admin]}}]}");
        AccessRequest l4 = r().build();
        assertThat(e.evaluate(l4).allowed()).as("ztunnel's reading: no effect at L4").isTrue();
        Decision d = e.evaluateUnparsed(l4);
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains("prod/deny").contains("could not be parsed as HTTP");
    }

    @Test
    void theDenysL4FieldsStillDecide() throws Exception {
        PolicyEngine e = deny("{from: [{source: {principals: [cluster.local/ns/legacy/sa/old]}}], "
                + "to: [{operation: {methods: [POST], ports: [\"8080\"]}}]}, "
                + "{when: [{key: \"request.headers[x-debug]\", values: [\"1\"]}, {key: destination.port, values: [\"9090\"]}]}");
        assertThat(e.evaluateUnparsed(r().principal("spiffe://cluster.local/ns/legacy/sa/old").port(8080).build()).allowed()).isFalse();
        assertThat(e.evaluateUnparsed(r().principal("spiffe://cluster.local/ns/prod/sa/frontend").port(8080).build()).allowed())
                .as("another source").isTrue();
        assertThat(e.evaluateUnparsed(r().principal("spiffe://cluster.local/ns/legacy/sa/old").port(8081).build()).allowed())
                .as("another port").isTrue();
        assertThat(e.evaluateUnparsed(r().port(9090).build()).allowed()).as("header unknown, port matches").isFalse();
    }

    @Test
    void allowsAndOtherDecisionsAreEvaluatesOwn() throws Exception {
        PolicyEngine allow = engine(ConformanceTest.ap("prod", "allow",
                "{rules: [{to: [{operation: {paths: [/api/*]}}]}, {to: [{operation: {ports: [\"9090\"]}}]}]}"));
        assertThat(allow.evaluateUnparsed(r().port(8080).build()).allowed()).as("ALLOW on paths: nothing at L4").isFalse();
        assertThat(allow.evaluateUnparsed(r().port(9090).build()).allowed()).isTrue();
        assertThat(PolicyEngine.builder().build().evaluateUnparsed(r().build()).allowed()).isTrue();
    }

    static final String CUSTOM_ADMIN = ConformanceTest.ap("prod", "ext", "{action: CUSTOM, provider: {name: opa}, rules: ["
            + "{to: [{operation: {ports: [\"8080\"], paths: [/admin]}}]}]}");

    /**
     * CUSTOM on an unparsed connection, as istiod builds it for a sidecar's TCP filter chain
     * (istio/istio pilot/pkg/security/authz/builder/builder.go {@code build}: CUSTOM policies are generated
     * with {@code rbacpb.RBAC_DENY}, so model.go {@code checkError} drops their HTTP-only fields and they
     * match more; a provider Envoy cannot use becomes deny rules, {@code getBadCustomDenyRules}). zerohop
     * without an authorizer is that provider-less case: the connection is denied where the rule's L4 fields
     * match. Before, {@code evaluateUnparsed} skipped CUSTOM, so the connection passed.
     */
    @Test
    void aCustomRuleDeniesAnUnparsedConnectionWithoutAnAuthorizer() throws Exception {
        PolicyEngine e = engine(CUSTOM_ADMIN);
        AccessRequest old = r().build();
        assertThat(e.evaluate(old).allowed()).as("at L4, as at ztunnel: istiod never sends CUSTOM there").isTrue();
        Decision d = e.evaluateUnparsed(old);
        assertThat(d.allowed()).isFalse();
        assertThat(d.outcome()).isEqualTo(Decision.Outcome.DENIED_CUSTOM);
        assertThat(d.explain()).contains("prod/ext").contains("CUSTOM").contains("could not be parsed as HTTP").contains("\"opa\"");
        assertThat(e.evaluateUnparsed(r().port(8081).build()).allowed()).as("the rule's L4 field does not match port 8081").isTrue();
        // Request with the path, parsed: the same rule denies; another path passes.
        assertThat(e.evaluate(r().http("GET", "/admin").build()).allowed()).isFalse();
        assertThat(e.evaluate(r().http("GET", "/x").build()).allowed()).isTrue();
        // A CUSTOM rule without HTTP fields was skipped as well (evaluate skips CUSTOM at L4 without an authorizer).
        PolicyEngine l4Only = engine(ConformanceTest.ap("prod", "ext", "{action: CUSTOM, provider: {name: opa}, rules: ["
                + "{to: [{operation: {ports: [\"8080\"]}}]}]}"));
        assertThat(l4Only.evaluateUnparsed(old).allowed()).isFalse();
    }

    /**
     * With an authorizer, it is asked for the connection without HTTP attributes (as a gRPC provider's
     * network {@code ext_authz} filter is asked on a TCP filter chain), and once: a policy {@code evaluate}
     * already put to it at L4 is not asked again.
     */
    @Test
    void aCustomRuleOnAnUnparsedConnectionAsksTheAuthorizerOnce() throws Exception {
        java.util.List<String> asked = new java.util.ArrayList<>();
        boolean[] answer = {false};
        String pathOnly = ConformanceTest.ap("prod", "ext", "{action: CUSTOM, provider: {name: opa}, rules: ["
                + "{to: [{operation: {paths: [/admin]}}]}]}");
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", pathOnly))
                .customAuthorizer((provider, req) -> {
                    asked.add(provider + " " + req.sourcePrincipal() + " " + req.http());
                    return answer[0];
                }).build();
        AccessRequest l4 = r().build();
        assertThat(e.evaluate(l4).allowed()).as("at L4 a paths-only entry is empty: the rule never matches").isTrue();
        assertThat(asked).isEmpty();
        Decision d = e.evaluateUnparsed(l4);
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains("CUSTOM provider \"opa\" denied it");
        assertThat(asked).containsExactly("opa spiffe://cluster.local/ns/prod/sa/frontend null");
        answer[0] = true;
        assertThat(e.evaluateUnparsed(l4).allowed()).isTrue();
        assertThat(asked).hasSize(2);

        asked.clear();
        PolicyEngine withPort = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", CUSTOM_ADMIN))
                .customAuthorizer((provider, req) -> asked.add(provider)).build();
        assertThat(withPort.evaluateUnparsed(l4).allowed()).isTrue();
        assertThat(asked).as("the port matched at L4: evaluate asked, the unparsed pass does not again").containsExactly("opa");
    }
}
