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
}
