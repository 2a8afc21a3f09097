package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Paths only an API caller can pass (mesh-core's codecs refuse them first), decided as Envoy's canonicaliser reads them, from
 * a break-it pass on 4 December: each was allowed where Envoy denies.
 */
class PathEdgeCaseDecisionTest {
    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));
    static final String FRONTEND = "spiffe://cluster.local/ns/prod/sa/frontend";

    static Decision decide(String policy, String path) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                """ + policy)).build().evaluate(AccessRequest.builder().sourcePrincipal(FRONTEND).sourceAddress("10.0.0.9")
                .destinationAddress("10.0.0.1").destinationPort(8080).destination(BACKEND).http("GET", path).build());
    }

    /** No rule reads the path, so only the refusal check runs: it must refuse what normalisation refuses. */
    @Test
    void anUnpairedSurrogateIsRefusedWhenNoRuleReadsPaths() throws Exception {
        String allow = "  rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/frontend]}}]}]\n";
        assertThat(decide(allow, "/ok").allowed()).isTrue();
        Decision d = decide(allow, "/x\ud83d");
        assertThat(d.allowed()).as("%s", d).isFalse();
        assertThat(d.reason()).as("the reason names what was refused, not only %%00").contains("unpaired surrogate");
        assertThat(HttpAttributes.normalizedTarget("/x\ud83d")).isNull();
    }

    @Test
    void fullwidthDigitsAreNoEscape() throws Exception {
        String allow = "  rules: [{to: [{operation: {paths: [/public]}}]}]\n";
        assertThat(decide(allow, "/public").allowed()).isTrue();
        Decision d = decide(allow, "/%\uFF17\uFF10ublic");
        assertThat(d.allowed()).as("Envoy reads /%%%%EF%%BC%%97%%EF%%BC%%90ublic: %s", d).isFalse();
    }

    @Test
    void aRelativePathIsReadWithItsLeadingSlash() throws Exception {
        String deny = "  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]\n";
        for (String p : new String[] {"..;/admin", "../admin", "admin", "/admin"}) {
            Decision d = decide(deny, p);
            assertThat(d.allowed()).as("%s: %s", p, d).isFalse();
        }
        assertThat(decide(deny, "other").allowed()).isTrue();
    }
}
