package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/**
 * A selector key or value no Kubernetes label can have is named, with file, line and the entry
 * ({@code spec.selector.matchLabels["app name"]}), in apimachinery's words (k8s.io/apimachinery
 * pkg/util/validation/validation.go IsQualifiedName, IsValidLabelValue). A new-user pass loaded a DENY on
 * {@code "app name"} without a word: it selects no pod, so it denied nobody.
 *
 * <p>Istio: istiod accepts such a selector (istio/istio pkg/config/validation/validation.go validateWorkloadSelector
 * checks only an empty key and '*'; istio/api type/v1beta1/selector.proto's CEL rules the same), and it then applies to no
 * workload, since no pod (API server) and no WorkloadEntry (pkg/config/labels Instance.Validate, called for
 * WorkloadEntry labels) can carry the label: zerohop loads it as istiod does and warns at the entry (in Kubernetes mode a
 * refused object would be replaced by a fail-closed stand-in that denies a whole namespace where upstream the policy does
 * nothing). Cilium refuses it itself:
 * cilium/cilium pkg/policy/api/rule_validation.go Rule.Sanitize calls EndpointSelector.sanitize
 * (pkg/policy/api/selector.go) for endpointSelector, fromEndpoints and fromRequires, which runs Kubernetes'
 * ValidateLabelSelector with Cilium's key rule (pkg/k8s/slim/k8s/apis/labels IsValidCiliumLabelKey: an alphanumeric source
 * prefix and ':', then a Kubernetes label key) and, AllowInvalidLabelValueInSelector false, In/NotIn values as label values.
 */
class SelectorLabelSyntaxTest {
    private static final String ISTIO = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-legacy, namespace: prod}
            spec:
              action: DENY
              selector:
                matchLabels:
                  KEY: VALUE
              rules:
              - from:
                - source: {principals: ["cluster.local/ns/legacy/sa/old"]}
            """;

    private static String istio(String key, String value) {
        return ISTIO.replace("KEY", key).replace("VALUE", value);
    }

    /** The one warning of an Istio policy loaded from {@code text} (it loads: istiod accepts it). */
    private static String warning(String file, String text) throws Exception {
        PolicySet set = PolicyLoader.fromString(file, text);
        assertThat(set.size()).as("istiod accepts the policy; it applies to no workload").isEqualTo(1);
        assertThat(set.warnings()).as(set.warnings().toString()).filteredOn(w -> w.contains("invalid label")).hasSize(1);
        return set.warnings().stream().filter(w -> w.contains("invalid label")).findFirst().orElseThrow();
    }

    @Test
    void anIstioKeyNoPodCanCarryIsWarnedAtItsLine() throws Exception {
        assertThat(warning("p.yaml", istio("\"app name\"", "backend")))
                .startsWith("p.yaml:8: AuthorizationPolicy prod/deny-legacy: spec.selector.matchLabels[\"app name\"]: invalid label key"
                        + " \"app name\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end"
                        + " with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is"
                        + " '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
                .contains("so this policy applies to no workload, as istiod, which accepts it, applies it to none");
        assertThat(warning("p.yaml", istio("Example.com/app", "backend")))
                .contains("spec.selector.matchLabels[\"Example.com/app\"]: invalid label key \"Example.com/app\": prefix part a"
                        + " lowercase RFC 1123 subdomain must consist of");
        assertThat(warning("p.yaml", istio("a/b/c", "backend"))).contains("invalid label key \"a/b/c\": a qualified name must consist of");
        assertThat(warning("p.yaml", istio("/app", "backend"))).contains("invalid label key \"/app\": prefix part must be non-empty");
        assertThat(warning("p.yaml", istio("-app", "backend"))).contains("invalid label key \"-app\": name part must consist of");
        assertThat(warning("p.yaml", istio("a".repeat(64), "backend"))).contains("name part must be no more than 63 characters");
    }

    @Test
    void anIstioValueNoPodCanCarryIsWarnedAtItsLine() throws Exception {
        assertThat(warning("p.yaml", istio("app", "\"back end\"")))
                .startsWith("p.yaml:8: AuthorizationPolicy prod/deny-legacy: spec.selector.matchLabels[\"app\"]: invalid label value"
                        + " \"back end\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.',"
                        + " and must start and end with an alphanumeric character");
        assertThat(warning("p.yaml", istio("app", "backend-"))).contains("invalid label value \"backend-\"");
    }

    /** PeerAuthentication's selector is the same WorkloadSelector (validateWorkloadSelector in both validators). */
    @Test
    void aPeerAuthenticationSelectorIsHeldToTheSameRules() throws Exception {
        String pa = """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict, namespace: prod}
                spec:
                  selector:
                    matchLabels: {"app name": backend}
                  mtls: {mode: STRICT}
                """;
        assertThat(warning("pa.yaml", pa)).startsWith("pa.yaml:6: PeerAuthentication prod/strict: spec.selector.matchLabels[\"app name\"]:"
                + " invalid label key \"app name\"");
    }

    @Test
    void validKeysAndValuesStillLoad() throws Exception {
        for (String[] kv : new String[][] {{"app", "backend"}, {"app.kubernetes.io/name", "Back_end.v1"}, {"x", "\"\""},
                {"example.com/a-b", "a".repeat(63)}, {"a".repeat(63), "b"}}) {
            assertThat(PolicyLoader.fromString("p.yaml", istio(kv[0], kv[1])).size()).as(kv[0]).isEqualTo(1);
        }
    }

    private static final String CILIUM = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: cnp, namespace: prod}
            spec:
              endpointSelector:
                matchLabels:
                  ESKEY: backend
              ingress:
              - fromEndpoints:
                - matchLabels:
                    FROMKEY: frontend
                  matchExpressions:
                  - {key: EXPRKEY, operator: In, values: [EXPRVALUE]}
            """;

    private static String cilium(String es, String from, String exprKey, String exprValue) {
        return CILIUM.replace("ESKEY", es).replace("FROMKEY", from).replace("EXPRKEY", exprKey).replace("EXPRVALUE", exprValue);
    }

    @Test
    void ciliumRefusesAKeyNoEndpointCanCarryAsItsSanitizeDoes() throws Exception {
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", cilium("\"app name\"", "app", "tier", "web")))
                .hasMessageStartingWith("c.yaml:7: spec.endpointSelector.matchLabels[\"app name\"]: invalid label selector:"
                        + " matchLabels: Invalid value: \"app name\": name part must consist of alphanumeric characters")
                .hasMessageContaining("EndpointSelector.sanitize");
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", cilium("app", "\"k8s:app name\"", "tier", "web")))
                .hasMessageStartingWith("c.yaml:11: spec.ingress[0].fromEndpoints[0].matchLabels[\"k8s:app name\"]: invalid label"
                        + " selector: matchLabels: Invalid value: \"k8s:app name\": name part must consist of");
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", cilium("app", "app", "\"ti er\"", "web")))
                .hasMessageStartingWith("c.yaml:13: spec.ingress[0].fromEndpoints[0].matchExpressions[0].key: invalid label"
                        + " selector: matchExpressions[0].key: Invalid value: \"ti er\": name part must consist of");
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", cilium("app", "app", "tier", "\"w b\"")))
                .hasMessageStartingWith("c.yaml:13: spec.ingress[0].fromEndpoints[0].matchExpressions[0].values[0]: invalid label"
                        + " selector: matchExpressions[0].values[0]: Invalid value: \"w b\": a valid label must be an empty string");
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", cilium("app", "\"a:b:c\"", "tier", "web")))
                .hasMessageContaining("only support ':' character as a source separator");
        // Cilium's source prefixes and its own label keys pass.
        assertThat(PolicyLoader.fromString("c.yaml", cilium("k8s:app", "any:app.kubernetes.io/name",
                "k8s:io.kubernetes.pod.namespace", "prod")).size()).isEqualTo(1);
        assertThat(PolicyLoader.fromString("c.yaml", cilium("app", "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name",
                "io.cilium.k8s.policy.serviceaccount", "web")).size()).isEqualTo(1);
    }

    /**
     * A null label value in a Cilium selector: the API server prunes it (apiextensions prunenulls.go), so the cluster's
     * copy selects without the label. Read as "" (until 5 December) the endpointSelector selected almost no endpoint, which
     * left the endpoints the cluster's copy puts under default deny open; refused, as the Istio selectors are
     * ({@code CrdSchemaRulesTest}).
     */
    @Test
    void aNullLabelValueInACiliumSelectorIsRefusedAtItsLine() {
        String ep = CILIUM.replace("ESKEY: backend", "app: backend\n      tier:").replace("FROMKEY", "app")
                .replace("EXPRKEY", "tier").replace("EXPRVALUE", "web");
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", ep))
                .hasMessageStartingWith("c.yaml:8: spec.endpointSelector.matchLabels[\"tier\"]: null label value (the API server"
                        + " prunes a null, so the cluster's copy of this selector has no label tier");
        String from = cilium("app", "app", "tier", "web").replace("app: frontend", "app: ~");
        assertThatThrownBy(() -> PolicyLoader.fromString("c.yaml", from))
                .hasMessageStartingWith("c.yaml:11: spec.ingress[0].fromEndpoints[0].matchLabels[\"app\"]: null label value");
    }

    /**
     * An Istio selector key under Cilium's prefix {@code io.cilium.k8s} selects no workload (istiod matches the pod's own
     * labels, istio/istio pilot/pkg/serviceregistry/ambient/workloads.go buildWorkloadPolicies; zerohop's labels there are
     * Cilium's endpoint labels), with a warning at the entry; the same workload is selected by its own label. mesh-kubernetes
     * IstioSelectorPodLabelsTest has the end-to-end cases.
     */
    @Test
    void anIstioKeyUnderCiliumsPrefixSelectsNoWorkload() throws Exception {
        String deny = istio("io.cilium.k8s.namespace.labels.team", "pay");
        PolicySet set = PolicyLoader.fromString("p.yaml", deny);
        assertThat(set.warnings()).filteredOn(w -> w.contains("Cilium's prefix")).singleElement().asString()
                .startsWith("p.yaml:8: AuthorizationPolicy prod/deny-legacy: spec.selector.matchLabels[\"io.cilium.k8s.namespace.labels.team\"]:"
                        + " label key \"io.cilium.k8s.namespace.labels.team\" is under Cilium's prefix io.cilium.k8s")
                .endsWith("so this selector selects no workload");
        WorkloadRef dest = new WorkloadRef("prod", "web-1", "web", java.util.Map.of("app", "web",
                "io.cilium.k8s.namespace.labels.team", "pay"));
        AccessRequest fromOld = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/legacy/sa/old")
                .sourceAddress("127.0.147.99").destinationAddress("127.0.147.1").destination(dest).destinationPort(8080).build();
        assertThat(PolicyEngine.builder().policies(set).build().evaluate(fromOld).allowed()).isTrue();
        PolicySet own = PolicyLoader.fromString("p.yaml", istio("app", "web"));
        assertThat(PolicyEngine.builder().policies(own).build().evaluate(fromOld).allowed()).isFalse();
    }
}
