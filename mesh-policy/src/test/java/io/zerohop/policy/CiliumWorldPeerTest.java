package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Cilium cases a Cilium pass found on 4 December, each taken from Cilium's sources:
 * <ul>
 * <li>a peer outside the cluster (world) is matched against its identity's labels as every identity is: a
 * {@code NotIn}/{@code DoesNotExist} on a key it lacks selects it (pkg/k8s/slim/k8s/apis/labels/selector.go
 * {@code Requirement.Matches}: "DoesNotExist or NotIn and Labels does not have the Requirement's key"), and
 * getEndpointSelector (pkg/k8s/apis/cilium.io/utils/utils.go) adds no namespace to a selector that names the namespace
 * key or, in a CNP, a namespace-labels key. zerohop's ingressDeny of that form let world through;
 * <li>a peer known only by its SPIFFE ID, at an address an ingressDeny's world entity or CIDR selects: Cilium
 * identifies a peer by its address, so such a peer may be world there; zerohop denies it (fail closed);
 * <li>since Cilium 1.19 ({@code policy-default-local-cluster}, on by default) getEndpointSelector also adds
 * {@code k8s:io.cilium.k8s.policy.cluster=<local cluster>} to a peer selector that does not name the cluster (and is not on
 * a {@code reserved:} label), a label world lacks: such a selector no longer selects world (a Cilium pass, 6 December);
 * the selectors below that still do name the cluster key;
 * <li>rules.http header rules on pseudo-headers ({@code :authority}, {@code :method}, {@code :path}): getHTTPRule
 * (pkg/envoy/xds_server.go) gives Envoy a HeaderMatcher by that name, which Envoy's header map answers; they never matched.
 * </ul>
 */
class CiliumWorldPeerTest {

    private static final WorkloadRef DEST = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));
    private static final WorkloadRef FRONT = new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend"));
    private static final String SEL = "  endpointSelector:\n    matchLabels:\n      app: backend\n";
    private static final String ALLOW_ALL = "  ingress:\n  - fromEntities: [all]\n";

    private static String cnp(String spec) {
        return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\n  namespace: prod\nspec:\n" + spec;
    }

    private static String ccnp(String spec) {
        return "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata:\n  name: p\nspec:\n" + spec;
    }

    private static Decision decide(String yaml, AccessRequest r) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromStringQuietly("p.yaml", yaml)).build().evaluate(r);
    }

    private static AccessRequest.Builder to8080() {
        return AccessRequest.builder().destinationAddress("10.0.0.2").destinationPort(8080).destination(DEST);
    }

    /** A plaintext client outside the cluster: Cilium's world identity. */
    private static final AccessRequest WORLD = to8080().sourceAddress("8.8.8.8").build();
    /** A pod of namespace prod. */
    private static final AccessRequest POD = to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend")
            .sourceWorkload(FRONT).sourceAddress("10.0.0.1").build();
    /** A pod of another namespace. */
    private static final AccessRequest OTHER_POD = to8080().sourcePrincipal("spiffe://cluster.local/ns/other/sa/x")
            .sourceWorkload(new WorkloadRef("other", "x", "x", Map.of("app", "x"))).sourceAddress("10.0.0.3").build();

    private static String denyFrom(String expression) {
        return "  ingressDeny:\n  - fromEndpoints:\n    - matchExpressions:\n      - " + expression + "\n";
    }

    /** A selector term naming the cluster key, so Cilium adds no local cluster: world lacks the key, NotIn selects it. */
    private static final String ANY_CLUSTER = "\n      - {key: io.cilium.k8s.policy.cluster, operator: NotIn, values: [none]}";

    @Test
    void sinceCilium119TheImplicitLocalClusterLeavesWorldOutOfSuchSelectors() throws Exception {
        // The same selectors without the cluster key: world has no cluster label (was: denied, pre-1.19 semantics).
        String notIn = cnp(SEL + ALLOW_ALL + denyFrom("{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [prod]}"));
        Decision world = decide(notIn, WORLD);
        assertThat(world.allowed()).as(world.explain()).isTrue();
        assertThat(decide(notIn, OTHER_POD).allowed()).isFalse();
        assertThat(decide(ccnp(SEL + ALLOW_ALL + denyFrom("{key: io.kubernetes.pod.namespace, operator: DoesNotExist}")), WORLD)
                .allowed()).isTrue();
        assertThat(decide(cnp(SEL + ALLOW_ALL + denyFrom("{key: k8s:io.cilium.k8s.namespace.labels.team, operator: NotIn, values: [a]}")),
                WORLD).allowed()).isTrue();
        String allow = cnp(SEL + "  ingress:\n  - fromEndpoints:\n    - matchExpressions:\n"
                + "      - {key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}\n");
        assertThat(decide(allow, WORLD).allowed()).isFalse();
        assertThat(decide(allow, POD).allowed()).isTrue();
    }

    @Test
    void anIngressDenyOnTheNamespaceWithNotInDeniesWorld() throws Exception {
        String p = cnp(SEL + ALLOW_ALL + denyFrom("{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [prod]}" + ANY_CLUSTER));
        Decision world = decide(p, WORLD);
        assertThat(world.allowed()).as(world.explain()).isFalse();
        assertThat(world.outcome()).isEqualTo(Decision.Outcome.DENIED_BY_RULE);
        assertThat(decide(p, OTHER_POD).allowed()).isFalse();
        assertThat(decide(p, POD).allowed()).isTrue();
    }

    @Test
    void aClusterwideDenyOnAMissingNamespaceDeniesWorld() throws Exception {
        String p = ccnp(SEL + ALLOW_ALL + denyFrom("{key: io.kubernetes.pod.namespace, operator: DoesNotExist}" + ANY_CLUSTER));
        assertThat(decide(p, WORLD).allowed()).isFalse();
        assertThat(decide(p, POD).allowed()).isTrue();
    }

    @Test
    void aNamespaceLabelNotInDeniesWorldInACnp() throws Exception {
        String p = cnp(SEL + ALLOW_ALL + denyFrom("{key: k8s:io.cilium.k8s.namespace.labels.team, operator: NotIn, values: [a]}" + ANY_CLUSTER));
        assertThat(decide(p, WORLD).allowed()).isFalse();
    }

    @Test
    void selectorsThatGetANamespaceOrTestAPresentKeyStillLeaveWorldAlone() throws Exception {
        // A pod-label NotIn in a CNP gets the policy's namespace (getEndpointSelector), which world lacks.
        assertThat(decide(cnp(SEL + ALLOW_ALL + denyFrom("{key: app, operator: NotIn, values: [frontend]}")), WORLD).allowed())
                .isTrue();
        // In and Exists need the key.
        assertThat(decide(cnp(SEL + ALLOW_ALL + denyFrom("{key: k8s:io.kubernetes.pod.namespace, operator: In, values: [prod]}")),
                WORLD).allowed()).isTrue();
        assertThat(decide(ccnp(SEL + ALLOW_ALL + denyFrom("{key: io.kubernetes.pod.namespace, operator: Exists}")), WORLD)
                .allowed()).isTrue();
    }

    @Test
    void theAllowSideAdmitsWorldThroughTheSameSelector() throws Exception {
        String p = cnp(SEL + "  ingress:\n  - fromEndpoints:\n    - matchExpressions:\n"
                + "      - {key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}" + ANY_CLUSTER + "\n");
        Decision world = decide(p, WORLD);
        assertThat(world.allowed()).as(world.explain()).isTrue();
        assertThat(decide(p, POD).allowed()).isTrue();
    }

    @Test
    void aPeerKnownOnlyByItsSpiffeIdAtADeniedAddressIsDenied() throws Exception {
        String p = cnp(SEL + ALLOW_ALL + "  ingressDeny:\n  - fromCIDR: [8.8.8.0/24]\n");
        AccessRequest svidOnly = to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").sourceAddress("8.8.8.8").build();
        Decision d = decide(p, svidOnly);
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains("fromCIDR [8.8.8.0/24] may select the source").contains("world (fail closed)");
        // Elsewhere, or with its workload known (a pod's own identity), it is not.
        assertThat(decide(p, to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").sourceAddress("9.9.9.9").build())
                .allowed()).isTrue();
        assertThat(decide(p, to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").sourceWorkload(FRONT)
                .sourceAddress("8.8.8.8").build()).allowed()).isTrue();
        // A selector world matches ("every other namespace") alike: a SPIFFE-only peer claiming prod may be world there.
        String otherNs = cnp(SEL + ALLOW_ALL + denyFrom("{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [prod]}"
                + ANY_CLUSTER));
        Decision claimed = decide(otherNs, to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/vm").sourceAddress("203.0.113.6").build());
        assertThat(claimed.allowed()).isFalse();
        assertThat(claimed.explain()).contains("world (fail closed)");
        assertThat(decide(otherNs, POD).allowed()).isTrue();
        // A selector world does not match adds nothing for such a peer (a pod-label one denies it already: labels unknown).
        assertThat(decide(cnp(SEL + ALLOW_ALL + denyFrom("{key: k8s:io.kubernetes.pod.namespace, operator: In, values: [other]}")),
                to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/vm").sourceAddress("203.0.113.6").build()).allowed()).isTrue();
        // A CIDR alike, by address family (fromCIDR ::/0 stays IPv6; the world-ipv6 entity this case used is no entity a
        // CiliumNetworkPolicy can name: the CRD's enum lacks it).
        String world = cnp(SEL + ALLOW_ALL + "  ingressDeny:\n  - fromCIDR: [\"::/0\"]\n");
        assertThat(decide(world, svidOnly).allowed()).isTrue();
        assertThat(decide(world, to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").sourceAddress("2001:db8::1")
                .build()).allowed()).isFalse();
    }

    private static AccessRequest http(String method, String path, String host) {
        return to8080().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend").sourceAddress("10.0.0.1").sourceWorkload(FRONT)
                .http(new HttpAttributes(method, path, host, Map.of())).build();
    }

    private static String httpRule(String body) {
        return cnp(SEL + "  ingress:\n  - toPorts:\n    - ports:\n      - port: \"8080\"\n        protocol: TCP\n      rules:\n        http:\n"
                + body);
    }

    @Test
    void headerRulesReadPseudoHeaders() throws Exception {
        String authority = httpRule("        - headers: [\":authority example.com\"]\n");
        assertThat(decide(authority, http("GET", "/", "example.com")).allowed()).isTrue();
        assertThat(decide(authority, http("GET", "/", "other.com")).allowed()).isFalse();
        assertThat(decide(httpRule("        - headers: [\"Host: example.com\"]\n"), http("GET", "/", "example.com")).allowed()).isTrue();
        String method = httpRule("        - headers: [\":method GET\"]\n");
        assertThat(decide(method, http("GET", "/", "")).allowed()).isTrue();
        assertThat(decide(method, http("POST", "/", "")).allowed()).isFalse();
        // :path as Cilium's Envoy sees it, normalised, query kept.
        String path = httpRule("        - headerMatches:\n          - name: \":path\"\n            value: /bar\n");
        assertThat(decide(path, http("GET", "/bar", "")).allowed()).isTrue();
        assertThat(decide(path, http("GET", "/x/../bar", "")).allowed()).isTrue();
        assertThat(decide(path, http("GET", "/bar?q=1", "")).allowed()).isFalse();
        assertThat(decide(path, http("GET", "/baz", "")).allowed()).isFalse();
    }
}
