package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * SPIFFE IDs that are not {@code spiffe://TD/ns/NS/sa/SA} (SPIRE issues such paths; zerohop accepts
 * any SPIFFE ID, where ztunnel refuses the peer) are read as istiod's generators make Envoy read them:
 * {@code serviceAccounts} by {@code serviceAccountRegex} ({@code spiffe://.+/ns/NS/(.+/|)sa/SA(/.+)?})
 * and {@code namespaces} by {@code srcNamespaceGenerator} ({@code .*}{@code /ns/NS/.*}), full matches over
 * the whole ID, at L4 and L7 alike. Before 1 December the first {@code /ns/} up to the first {@code /sa/}
 * was the namespace and the rest the service account, so a DENY on the namespace or the service
 * account missed the "attributes" rows below.
 */
class IrregularSpiffeIdTest {

    static PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    static PolicyEngine deny(String from) throws Exception {
        return engine(ConformanceTest.ap("prod", "deny", "{action: DENY, rules: [{from: [{source: {" + from + "}}]}]}"));
    }

    static boolean denied(PolicyEngine e, String id, boolean l7) {
        R req = r().principal(id);
        if (l7) {
            req.http("GET", "/");
        }
        return !e.evaluate(req.build()).allowed();
    }

    /** istio/istio pilot/pkg/security/authz/model/generator_test.go TestServiceAccount, every row the API can carry. */
    @ParameterizedTest(name = "{0}: {1}")
    @CsvSource({
        "standard, spiffe://cluster.local/ns/my-ns/sa/my-sa, true",
        "suffix attributes, spiffe://cluster.local/ns/my-ns/sa/my-sa/k/v, true",
        "prefix attributes, spiffe://cluster.local/k/v/ns/my-ns/sa/my-sa, true",
        "middle attributes, spiffe://cluster.local/ns/my-ns/k/v/sa/my-sa, true",
        "all attributes, spiffe://cluster.local/k1/v1/ns/my-ns/k2/v2/sa/my-sa/k3/v3, true",
        "sa suffix string, spiffe://cluster.local/ns/my-ns/sa/my-sa-suffix, false",
        "ns suffix string, spiffe://cluster.local/ns/my-ns-suffix/sa/my-sa, false",
        "invalid spiffe, spiffe://ns/my-ns/sa/my-sa, false",
        "missing sa, spiffe://cluster.local/ns/my-ns, false",
        "missing ns, spiffe://cluster.local/sa/my-sa, false",
        "weird keys, spiffe://cluster.local/k/ns/my-ns/something/bar/sa/my-sa/baz, true",
    })
    void serviceAccountsAsIstiodsRegex(String name, String id, boolean match) throws Exception {
        PolicyEngine sa = deny("serviceAccounts: [my-ns/my-sa]");
        assertThat(denied(sa, id, false)).as("L4").isEqualTo(match);
        assertThat(denied(sa, id, true)).as("L7").isEqualTo(match);
        PolicyEngine notSa = deny("notServiceAccounts: [my-ns/my-sa]");
        assertThat(denied(notSa, id, true)).as("notServiceAccounts").isEqualTo(!match);
    }

    /**
     * istiod's srcNamespaceGenerator ({@code .*}{@code /ns/NS/.*}, a {@code *} as {@code .*}), applied to the
     * generator_test.go identities: the namespace is any segment after an {@code ns} segment.
     */
    @ParameterizedTest(name = "{0} against {1}")
    @CsvSource({
        "my-ns, spiffe://cluster.local/ns/my-ns/sa/my-sa/k/v, true",
        "my-ns, spiffe://cluster.local/k/v/ns/my-ns/sa/my-sa, true",
        "my-ns, spiffe://cluster.local/ns/my-ns/k/v/sa/my-sa, true",
        "my-ns, spiffe://cluster.local/ns/my-ns, false",
        "my-ns, spiffe://cluster.local/ns/my-ns/x, true",
        "my-ns, spiffe://cluster.local/ns/other/sa/a/ns/my-ns/sa/b, true",
        "my-ns, spiffe://cluster.local/ns/my-ns-suffix/k/sa/a, false",
        "my-*, spiffe://cluster.local/ns/my-ns/k/v/sa/my-sa, true",
        "*-ns, spiffe://cluster.local/k/v/ns/my-ns/sa/my-sa, true",
        "*, spiffe://cluster.local/ns/my-ns/k/v/sa/my-sa, true",
        "*, spiffe://cluster.local/ns/my-ns, false",
    })
    void namespacesAsIstiodsRegex(String ns, String id, boolean match) throws Exception {
        PolicyEngine e = deny("namespaces: [\"" + ns + "\"]");
        assertThat(denied(e, id, false)).as("L4").isEqualTo(match);
        assertThat(denied(e, id, true)).as("L7").isEqualTo(match);
        PolicyEngine not = deny("notNamespaces: [\"" + ns + "\"]");
        assertThat(denied(not, id, false)).as("notNamespaces").isEqualTo(!match);
    }

    @Test
    @DisplayName("a when source.namespace condition reads an irregular ID as Envoy's regex too")
    void conditions() throws Exception {
        PolicyEngine e = engine(ConformanceTest.ap("prod", "deny", "{action: DENY, rules: [{when: [{key: source.namespace, values: [my-ns]}]}]}"));
        assertThat(denied(e, "spiffe://cluster.local/ns/my-ns/k/v/sa/my-sa", false)).isTrue();
        assertThat(denied(e, "spiffe://cluster.local/ns/my-ns/k/v/sa/my-sa", true)).isTrue();
        assertThat(denied(e, "spiffe://cluster.local/ns/other/sa/my-sa", true)).isFalse();
    }

    static AccessRequest spiffeOnly(String id) {
        return r().principal(id).source(null).build();
    }

    /**
     * Cilium's selectors test an endpoint's namespace and service account labels; zerohop reads them from
     * the peer's SPIFFE ID when it knows no workload of the peer. An ID with no single reading of them is
     * treated as unknown pod labels are (README "A peer known by its SPIFFE ID only"): no allow selector on
     * them matches, and a deny selector that may select the peer denies it. Before 1 December the first
     * {@code /ns/} up to the first {@code /sa/} was its namespace, so {@code prod/k/v} dodged an
     * {@code ingressDeny} on namespace {@code prod} and passed an allow on {@code NotIn [prod]}.
     */
    @Test
    @DisplayName("Cilium: an irregular SPIFFE ID's namespace is unknown: a deny on it applies, an allow on it does not")
    void ciliumFailsClosed() throws Exception {
        PolicyEngine deny = engine(ConformanceTest.ccnp("no-prod", "{endpointSelector: {matchLabels: {app: backend}}, "
                + "ingress: [{fromEntities: [all]}], ingressDeny: [{fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: prod}}]}]}"));
        Decision d = deny.evaluate(spiffeOnly("spiffe://cluster.local/ns/prod/k/v/sa/a"));
        assertThat(d.allowed()).as(d.explain()).isFalse();
        assertThat(d.explain()).contains("namespace and service account are unknown");
        assertThat(deny.evaluate(spiffeOnly("spiffe://cluster.local/ns/prod/sa/a")).allowed()).isFalse();
        assertThat(deny.evaluate(spiffeOnly("spiffe://cluster.local/ns/other/sa/a")).allowed()).isTrue();
        // A known workload (of the peer's identity, as mesh-core supplies it) says which namespace it is in.
        assertThat(deny.evaluate(r().principal("spiffe://cluster.local/ns/prod/k/v/sa/a")
                .source(new WorkloadRef("other", "w", "a", java.util.Map.of())).build()).allowed()).isTrue();
        assertThat(deny.evaluate(r().principal("spiffe://cluster.local/ns/prod/k/v/sa/a")
                .source(new WorkloadRef("prod", "w", "a", java.util.Map.of())).build()).allowed()).isFalse();

        PolicyEngine notIn = engine(ConformanceTest.ccnp("not-prod", "{endpointSelector: {matchLabels: {app: backend}}, ingress: "
                + "[{fromEndpoints: [{matchExpressions: [{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [prod]}]}]}]}"));
        assertThat(notIn.evaluate(spiffeOnly("spiffe://cluster.local/ns/prod/k/v/sa/a")).allowed()).isFalse();
        assertThat(notIn.evaluate(spiffeOnly("spiffe://cluster.local/ns/other/sa/a")).allowed()).isTrue();
        assertThat(notIn.evaluate(spiffeOnly("spiffe://cluster.local/ns/prod/sa/a")).allowed()).isFalse();
    }
}
