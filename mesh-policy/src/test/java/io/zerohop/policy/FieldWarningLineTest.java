package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A load warning about one field names that field's {@code file:line} and path, not the policy's {@code spec:} line
 * (a new-user pass: the HTTP-attributes note on a {@code methods} twelve lines down pointed at {@code spec:}). The
 * texts are istiod's ambient status messages (pilot/pkg/serviceregistry/ambient/authorization.go convertAuthorizationPolicy,
 * "ztunnel does not support HTTP attributes") and validateWorkloadSelector's warning (pkg/config/validation/validation.go
 * "workload selector specified without labels"), with what zerohop does; istiod reports them per object, without lines.
 */
class FieldWarningLineTest {
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: deny-admin
              namespace: prod
            spec:
              action: DENY
              rules:
              - from:
                - source:
                    principals: ["cluster.local/ns/legacy/sa/old"]
              - to:
                - operation:
                    ports: ["8080"]
                    methods: ["POST"]
                when:
                - key: request.auth.claims[iss]
                  values: ["https://issuer"]
                - key: request.headers[x-admin]
                  values: ["1"]
            """;

    private static List<String> warnings(String yaml) throws Exception {
        return PolicyLoader.fromString("p.yaml", yaml).warnings();
    }

    @Test
    void theHttpNoteNamesTheFirstHttpFieldsLineAndEveryPath() throws Exception {
        assertThat(warnings(POLICY)).anySatisfy(w -> assertThat(w).startsWith("p.yaml:15: AuthorizationPolicy prod/deny-admin:"
                + " spec.rules[1].to[0].operation.methods, spec.rules[1].when[1]: HTTP attributes (methods, request.headers[x-admin]):"
                + " zerohop enforces them itself"));
    }

    @Test
    void theRequestAuthNoteNamesItsCondition() throws Exception {
        assertThat(warnings(POLICY)).anySatisfy(w -> assertThat(w).startsWith("p.yaml:17: AuthorizationPolicy prod/deny-admin:"
                + " spec.rules[1].when[0]: request authentication attributes (request.auth.claims[iss]) are always absent"));
    }

    @Test
    void theTrustDomainsWarningNamesTheField() throws Exception {
        String td = POLICY.replace("principals: [\"cluster.local/ns/legacy/sa/old\"]", "trustDomains: [\"old.td\"]");
        assertThat(warnings(td)).anySatisfy(w -> assertThat(w).startsWith("p.yaml:11: AuthorizationPolicy prod/deny-admin:"
                + " spec.rules[0].from[0].source.trustDomains: rule 0: trustDomains are not sent to ztunnel"));
    }

    @Test
    void anEmptySelectorWarningNamesTheSelector() throws Exception {
        String empty = POLICY.replace("  action: DENY\n", "  action: DENY\n  selector: {}\n");
        assertThat(warnings(empty)).anySatisfy(w -> assertThat(w).isEqualTo("p.yaml:8: AuthorizationPolicy prod/deny-admin:"
                + " spec.selector: workload selector specified without labels"));
    }
}
