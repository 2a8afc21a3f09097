package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link PolicyEngine#evaluateUnparsed}'s dry-run preview is the unparsed reading's: what a non-HTTP connection would
 * get with the {@code istio.io/dry-run} policies enforced. istiod builds a dry-run policy into shadow rules the same way
 * as an enforced one, for the TCP filter chain too (istio/istio pilot/pkg/security/authz/builder/builder.go
 * {@code build(..., forTCP)} and {@code isDryRun}: {@code providerShadowRules}), where a DENY rule's HTTP fields are
 * dropped (it matches more) and an ALLOW rule with only HTTP fields matches nothing. A new-user pass: a dry-run DENY on
 * {@code methods: [POST]} previewed nothing for such a connection, which its enforced form resets on an auto port.
 */
class DryRunUnparsedTest {
    private static final String DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: deny-post
              namespace: prod
              annotations: {istio.io/dry-run: "true"}
            spec:
              action: DENY
              rules:
              - to: [{operation: {methods: ["POST"]}}]
            """;

    private static AccessRequest l4() throws Exception {
        return AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/fe")
                .sourceAddress(InetAddress.getByName("10.0.0.1")).destinationAddress(InetAddress.getByName("10.0.0.2"))
                .destinationPort(8080).destination(WorkloadRef.checked("prod", "web", "web", Map.of("app", "web"))).build();
    }

    private static PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    @Test
    void aDryRunDenyWithHttpFieldsPreviewsTheResetOfANonHttpConnection() throws Exception {
        PolicyEngine e = engine(DENY);
        assertThat(e.requiresHttp(l4().destination(), 8080)).isTrue();
        // At L4 the dry-run DENY's HTTP fields match nothing: no preview there.
        assertThat(e.evaluate(l4()).dryRun()).isNull();
        Decision d = e.evaluateUnparsed(l4());
        assertThat(d.allowed()).isTrue();
        assertThat(d.explain()).isEqualTo("ALLOW by default: no ALLOW AuthorizationPolicy applies and no DENY policy matched"
                + " [dry-run, not enforced: would DENY by prod/deny-post (AuthorizationPolicy DENY, rule 0): the connection could"
                + " not be parsed as HTTP, so this DENY rule's HTTP fields could not be checked (fail closed, as a sidecar's TCP"
                + " filter reads it)]");
    }

    @Test
    void aDryRunAllowWithOnlyHttpFieldsPreviewsTheDefaultDeny() throws Exception {
        PolicyEngine e = engine(DENY.replace("deny-post", "allow-get").replace("DENY", "ALLOW").replace("POST", "GET"));
        Decision d = e.evaluateUnparsed(l4());
        assertThat(d.allowed()).isTrue();
        assertThat(d.dryRun()).isEqualTo("DENY by prod/allow-get (AuthorizationPolicy ALLOW, default deny): ALLOW policies apply"
                + " and none matched");
    }

    @Test
    void enforcedPoliciesCarryNoPreview() throws Exception {
        PolicyEngine e = engine(DENY.replace("  annotations: {istio.io/dry-run: \"true\"}\n", ""));
        Decision d = e.evaluateUnparsed(l4());
        assertThat(d.allowed()).isFalse();
        assertThat(d.dryRun()).isNull();
    }
}
