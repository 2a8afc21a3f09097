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
                + " spec.rules[1].when[0]: request authentication attributes (request.auth.claims[iss]): no RequestAuthentication in"
                + " namespace prod is loaded with this policy"));
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
        assertThat(warnings(empty)).anySatisfy(w -> assertThat(w).startsWith("p.yaml:8: AuthorizationPolicy prod/deny-admin:"
                + " spec.selector: workload selector specified without labels; "));
    }

    /*
     * istiod's ambient index: an AuthorizationPolicy's LabelSelector is NewSelector(spec.selector.matchLabels)
     * (pilot/pkg/serviceregistry/ambient/policies.go) and buildWorkloadPolicies (workloads.go) attaches a selector policy
     * only when GetLabelSelector() != nil, so "selector: {}" reaches no workload at ztunnel; "matchLabels: {}" (a non-nil
     * map) reaches every workload of the namespace, and a PeerAuthentication's "selector: {}" matches every workload
     * (fetchPeerAuthentications: labels.Instance(sel.MatchLabels).SubsetOf). A user holding such YAML read only istiod's
     * warning, while zerohop left the ALLOW out beside another ALLOW (CompiledPolicies.withoutBareSelectors): a DENY
     * naming the other policy, and nothing said why the selector: {} ALLOW did not admit its callers.
     */
    @Test
    void aBareSelectorWarningSaysWhatZtunnelAndZerohopDoWithIt() throws Exception {
        String allow = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-monitoring, namespace: prod}
                spec:
                  selector: {}
                  rules:
                  - from: [{source: {namespaces: [monitoring]}}]
                """;
        assertThat(warnings(allow)).anySatisfy(w -> assertThat(w).startsWith("p.yaml:5: AuthorizationPolicy prod/allow-monitoring:"
                + " spec.selector: workload selector specified without labels; ")
                .contains("selector: {} (no matchLabels)", "to no workload, so ztunnel never applies it",
                        "leaves it out on a workload another ALLOW policy applies to"));
        String deny = allow.replace("spec:\n", "spec:\n  action: DENY\n");
        assertThat(warnings(deny)).anySatisfy(w -> assertThat(w).startsWith("p.yaml:6: AuthorizationPolicy prod/allow-monitoring:"
                + " spec.selector: workload selector specified without labels; ").contains("to no workload, so ztunnel never applies it")
                .doesNotContain("leaves it out"));
        // An AUDIT policy decides nothing (CompiledPolicies counts it only): applying it everywhere is not "stricter".
        String audit = allow.replace("spec:\n", "spec:\n  action: AUDIT\n");
        assertThat(warnings(audit)).anySatisfy(w -> assertThat(w).startsWith("p.yaml:6: AuthorizationPolicy prod/allow-monitoring:"
                + " spec.selector: workload selector specified without labels; ").contains("to no workload, so ztunnel never applies it")
                .doesNotContain("stricter", "leaves it out"));
        // matchLabels: {} is attached upstream: istiod's warning alone, as before.
        assertThat(warnings(allow.replace("selector: {}", "selector: {matchLabels: {}}"))).anySatisfy(w -> assertThat(w)
                .isEqualTo("p.yaml:5: AuthorizationPolicy prod/allow-monitoring: spec.selector: workload selector specified without labels"));
        String pa = """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict, namespace: prod}
                spec:
                  selector: {}
                  mtls: {mode: STRICT}
                """;
        assertThat(warnings(pa)).anySatisfy(w -> assertThat(w)
                .isEqualTo("p.yaml:5: PeerAuthentication prod/strict: spec.selector: workload selector specified without labels"));
    }
}
