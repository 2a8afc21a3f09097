package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A rejected policy object (invalid, or valid upstream but not enforceable by zerohop) fails closed
 * for what it selects: its stand-in, under its own name, refuses the workloads' callers until the
 * object is fixed; fixing it restores access. Objects go through fabric8's CRUD mock API server
 * (real list/watch protocol), decisions through {@link PolicyEngine#evaluate}.
 */
class KubernetesFailClosedTest {
    static final WorkloadRef BACKEND = KubernetesPoliciesTest.BACKEND;
    static final WorkloadRef FRONTEND = KubernetesPoliciesTest.FRONTEND;
    static final WorkloadRef OLD = KubernetesPoliciesTest.OLD;

    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();

    @BeforeEach
    void start() throws Exception {
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").policies(engine));
    }

    /** {@code src} calling {@code dst} on {@code port}. */
    Decision call(WorkloadRef src, WorkloadRef dst, int port) {
        return engine.evaluate(AccessRequest.builder()
                .sourcePrincipal("spiffe://cluster.local/ns/" + src.namespace() + "/sa/" + src.serviceAccount())
                .sourceAddress("10.0.9.9").destinationAddress("10.0.1.2").destinationPort(port)
                .destination(dst).sourceWorkload(src).build());
    }

    boolean allowed(WorkloadRef src, WorkloadRef dst, int port) {
        return call(src, dst, port).allowed();
    }

    static final String BAD_DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules: [{to: [{operation: {ports: ["70000"]}}]}]
            """;

    @Test
    @DisplayName("a rejected DENY policy denies every caller of the workloads it selects (istio/istio pilot/pkg/serviceregistry/ambient "
            + "authorization_test.go: 'DENY policy with mixed L4 and L7 attributes is enforced without HTTP rules'); fixed, access is back")
    void rejectedDenyDeniesItsWorkloads() throws Exception {
        assertThat(allowed(FRONTEND, BACKEND, 8080)).isTrue();
        k8s.apply(BAD_DENY);
        await(d, "stand-in in force", () -> !allowed(FRONTEND, BACKEND, 8080));
        Decision dec = call(FRONTEND, BACKEND, 8080);
        assertThat(dec.outcome()).isEqualTo(Decision.Outcome.DENIED_BY_RULE);
        assertThat(dec.policy().qualifiedName()).as("the denial names the rejected object").isEqualTo("prod/deny-admin");
        assertThat(d.rejectedPolicies()).containsKey("AuthorizationPolicy/prod/deny-admin");
        assertThat(d.rejectedPolicyCount()).isEqualTo(1);
        assertThat(allowed(OLD, BACKEND, 9090)).isFalse();
        // Exactly its selector: the other workloads of the namespace stay open.
        assertThat(allowed(BACKEND, FRONTEND, 8080)).isTrue();

        k8s.apply(BAD_DENY.replace("70000", "7000"));
        await(d, "fixed DENY only denies port 7000", () -> allowed(FRONTEND, BACKEND, 8080));
        assertThat(allowed(FRONTEND, BACKEND, 7000)).isFalse();
        assertThat(d.rejectedPolicies()).isEmpty();
    }

    static final String BAD_ALLOW = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-allow-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {ports: ["80800"]}}]
            """;

    @Test
    @DisplayName("a rejected ALLOW policy, the only one selecting the workload, allows nothing (istiod omits ALLOW rules it cannot "
            + "translate: pilot/pkg/serviceregistry/ambient authorization.go 'more restrictive than requested'); other ALLOWs still allow")
    void rejectedAllowAllowsNothing() throws Exception {
        assertThat(allowed(FRONTEND, BACKEND, 8080)).isTrue();
        k8s.apply(BAD_ALLOW);
        await(d, "workload in default deny", () -> !allowed(FRONTEND, BACKEND, 8080));
        Decision dec = call(FRONTEND, BACKEND, 8080);
        assertThat(dec.outcome()).isEqualTo(Decision.Outcome.DENIED_DEFAULT);
        assertThat(dec.policy().qualifiedName()).isEqualTo("prod/backend-allow-frontend");
        assertThat(allowed(OLD, BACKEND, 8080)).isFalse();
        assertThat(allowed(BACKEND, FRONTEND, 8080)).as("not selected").isTrue();

        // As with an omitted rule upstream, another ALLOW policy on the same workload still allows its callers.
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: backend-allow-legacy, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  rules: [{from: [{source: {namespaces: ["legacy"]}}]}]
                """);
        await(d, "legacy allowed by its own policy", () -> allowed(OLD, BACKEND, 8080));
        assertThat(allowed(FRONTEND, BACKEND, 8080)).isFalse();

        k8s.apply(BAD_ALLOW.replace("80800", "8080"));
        await(d, "fixed ALLOW lets the frontend in", () -> allowed(FRONTEND, BACKEND, 8080));
        assertThat(allowed(FRONTEND, BACKEND, 9090)).isFalse();
        assertThat(d.rejectedPolicies()).isEmpty();
    }

    static final String KAFKA = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: rule1, namespace: prod}
            spec:
              endpointSelector: {matchLabels: {app: backend}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: frontend}}]
                toPorts:
                - ports: [{port: "9092", protocol: TCP}]
                  rules:
                    kafka:
                    - apiKey: "apiversions"
                    - apiKey: "produce"
                      topic: "deathstar-plans"
            """;

    @Test
    @DisplayName("a CiliumNetworkPolicy with rules.kafka (cilium/cilium examples/policies/l7/kafka/kafka.yaml), valid in Cilium but "
            + "not enforceable by zerohop, puts its endpoints in default deny with nothing allowed; without the kafka rules it applies")
    void ciliumKafkaFailsClosed() throws Exception {
        k8s.apply(KAFKA);
        await(d, "endpoints in default deny", () -> d.rejectedPolicies().containsKey("CiliumNetworkPolicy/prod/rule1")
                && !allowed(FRONTEND, BACKEND, 9092));
        assertThat(d.rejectedPolicies().get("CiliumNetworkPolicy/prod/rule1")).contains("kafka");
        assertThat(call(FRONTEND, BACKEND, 9092).policy().qualifiedName()).isEqualTo("prod/rule1");
        assertThat(allowed(OLD, BACKEND, 9092)).isFalse();
        assertThat(allowed(BACKEND, FRONTEND, 9092)).as("not selected").isTrue();

        k8s.apply(KAFKA.substring(0, KAFKA.indexOf("      rules:")));
        await(d, "L4 policy in force", () -> allowed(FRONTEND, BACKEND, 9092));
        assertThat(allowed(OLD, BACKEND, 9092)).isFalse();
        assertThat(d.rejectedPolicies()).isEmpty();
    }

    @Test
    @DisplayName("a Cilium policy with ingressDeny it cannot enforce (fromRequires) denies every caller of its endpoints, even those "
            + "another policy allows; fixed, only what it names is denied")
    void ciliumIngressDenyFailsClosed() throws Exception {
        k8s.apply("""
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: backend-from-all, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingress: [{fromEntities: [all]}]
                """);
        String deny = """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: deny-unless-prod, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingressDeny: [{fromRequires: [{matchLabels: {env: prod}}]}]
                """;
        k8s.apply(deny);
        await(d, "ingressDeny stand-in", () -> d.rejectedPolicies().containsKey("CiliumNetworkPolicy/prod/deny-unless-prod")
                && !allowed(FRONTEND, BACKEND, 8080));
        Decision dec = call(FRONTEND, BACKEND, 8080);
        assertThat(dec.outcome()).isEqualTo(Decision.Outcome.DENIED_BY_RULE);
        assertThat(dec.policy().qualifiedName()).isEqualTo("prod/deny-unless-prod");
        assertThat(allowed(BACKEND, FRONTEND, 8080)).as("not selected").isTrue();
        k8s.apply(deny.replace("fromRequires: [{matchLabels: {env: prod}}]", "fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: legacy}}]"));
        await(d, "fixed", () -> allowed(FRONTEND, BACKEND, 8080));
        assertThat(allowed(OLD, BACKEND, 8080)).isFalse();
        assertThat(d.rejectedPolicies()).isEmpty();
    }

    @Test
    @DisplayName("an unreadable selector: the rejected policy denies its whole namespace; a clusterwide Cilium policy every endpoint")
    void unreadableSelectorWidensTheScope() throws Exception {
        String bad = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-admin, namespace: prod}
                spec:
                  selector: {matchLabels: "app=backend"}
                  action: DENY
                  rules: [{to: [{operation: {ports: ["7000"]}}]}]
                """;
        k8s.apply(bad);
        await(d, "namespace denied", () -> !allowed(OLD, FRONTEND, 8080));
        assertThat(allowed(OLD, BACKEND, 8080)).isFalse();
        assertThat(call(OLD, FRONTEND, 8080).policy().qualifiedName()).isEqualTo("prod/deny-admin");
        assertThat(allowed(FRONTEND, OLD, 8080)).as("another namespace").isTrue();
        k8s.apply(bad.replace("\"app=backend\"", "{app: backend}"));
        await(d, "fixed", () -> allowed(OLD, FRONTEND, 8080) && allowed(OLD, BACKEND, 8080));
        assertThat(allowed(OLD, BACKEND, 7000)).isFalse();

        String ccnp = """
                apiVersion: cilium.io/v2
                kind: CiliumClusterwideNetworkPolicy
                metadata: {name: backend-from-old}
                spec:
                  endpointSelector: {matchExpressions: [{key: app, operator: Bogus, values: [backend]}]}
                  ingress: [{fromEndpoints: [{matchLabels: {app: old}}]}]
                """;
        k8s.apply(ccnp);
        await(d, "every endpoint in default deny", () -> !allowed(FRONTEND, OLD, 8080));
        assertThat(allowed(OLD, BACKEND, 8080)).as("nothing allowed, not even what the rule meant").isFalse();
        assertThat(call(FRONTEND, OLD, 8080).policy().qualifiedName()).isEqualTo("backend-from-old");
        k8s.apply(ccnp.replace("operator: Bogus", "operator: In"));
        await(d, "fixed", () -> allowed(FRONTEND, OLD, 8080) && allowed(OLD, BACKEND, 8080));
        assertThat(allowed(FRONTEND, BACKEND, 8080)).isFalse();
        assertThat(d.rejectedPolicies()).isEmpty();
    }

    @Test
    @DisplayName("a rejected PeerAuthentication is STRICT for its selector (the fail-closed reading); fixed, its mode applies")
    void rejectedPeerAuthenticationIsStrict() throws Exception {
        String bad = """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: backend, namespace: prod}
                spec: {selector: {matchLabels: {app: backend}}, mtls: {mode: PERMISIVE}}
                """;
        k8s.apply(bad);
        await(d, "STRICT", () -> engine.mtlsMode(BACKEND, 8080) == MtlsMode.STRICT);
        assertThat(engine.mtlsMode(FRONTEND, 8080)).isEqualTo(MtlsMode.PERMISSIVE);
        assertThat(d.rejectedPolicies()).containsKey("PeerAuthentication/prod/backend");
        k8s.apply(bad.replace("PERMISIVE", "DISABLE"));
        await(d, "fixed", () -> engine.mtlsMode(BACKEND, 8080) == MtlsMode.DISABLE);
    }

    @Test
    @DisplayName("objects that cannot restrict a caller (an invalid AUDIT policy, an egress-only Cilium rule) are listed, not stood in for;"
            + " a host policy is skipped with a warning (mesh-policy), neither rejected nor applied to pods")
    void nothingToNarrow() throws Exception {
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: audit, namespace: prod}
                spec:
                  action: AUDIT
                  rules: [{to: [{operation: {ports: ["70000"]}}]}]
                """);
        k8s.apply("""
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: egress-only, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  egress: [{toPorts: [{ports: [{port: "99999"}]}]}]
                """);
        k8s.apply("""
                apiVersion: cilium.io/v2
                kind: CiliumClusterwideNetworkPolicy
                metadata: {name: host-fw}
                spec:
                  nodeSelector: {matchLabels: {role: worker}}
                  ingress: [{fromEntities: [cluster]}]
                """);
        // Valid objects after them in each watch: once these are in, the invalid ones were seen.
        k8s.apply("""
                apiVersion: cilium.io/v2
                kind: CiliumClusterwideNetworkPolicy
                metadata: {name: old-from-cluster}
                spec:
                  endpointSelector: {matchLabels: {app: old}}
                  ingress: [{fromEntities: [cluster]}]
                """);
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-9090, namespace: legacy}
                spec: {action: DENY, rules: [{to: [{operation: {ports: ["9090"]}}]}]}
                """);
        k8s.apply("""
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: old-from-all, namespace: legacy}
                spec:
                  endpointSelector: {}
                  ingress: [{fromEntities: [all]}]
                """);
        await(d, "sentinels in, both invalid objects rejected", () -> engine.policies().size() == 3 && d.rejectedPolicies().size() == 2);
        assertThat(d.rejectedPolicies().toString()).doesNotContain("host-fw");
        assertThat(allowed(FRONTEND, BACKEND, 8080)).isTrue();
        assertThat(allowed(FRONTEND, BACKEND, 9090)).isTrue();
    }

    @Test
    @DisplayName("a CiliumNetworkPolicy an older Cilium CRD let through with a matchLabels value no label can have (\"*\") is refused as "
            + "today's CRD refuses it (cilium/cilium pkg/k8s/slim/k8s/apis/meta/v1/types.go MatchLabelsValue) and its ingressDeny fails "
            + "closed for its endpointSelector; fixed, access is back")
    void ciliumLabelValueOutsideTheCrdPatternFailsClosed() throws Exception {
        String bad = """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: deny-any-app, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: backend}}
                  ingressDeny: [{fromEndpoints: [{matchLabels: {app: "*", "k8s:io.kubernetes.pod.namespace": legacy}}]}]
                  ingress: [{fromEntities: [cluster]}]
                """;
        assertThat(allowed(FRONTEND, BACKEND, 8080)).isTrue();
        k8s.apply(bad);
        // Loaded as written (before 1 December), "*" matched no label: this deny denied nobody.
        await(d, "stand-in in force", () -> !allowed(FRONTEND, BACKEND, 8080));
        assertThat(call(FRONTEND, BACKEND, 8080).policy().qualifiedName()).isEqualTo("prod/deny-any-app");
        assertThat(d.rejectedPolicies().get("CiliumNetworkPolicy/prod/deny-any-app"))
                .contains("spec.ingressDeny[0].fromEndpoints[0].matchLabels.app").contains("Invalid value: \"*\"");
        assertThat(allowed(FRONTEND, OLD, 8080)).as("other endpoints are not selected").isTrue();
        k8s.apply(bad.replace("app: \"*\"", "app: old"));
        await(d, "fixed", () -> allowed(FRONTEND, BACKEND, 8080) && d.rejectedPolicies().isEmpty());
        assertThat(allowed(OLD, BACKEND, 8080)).isFalse();
    }
}
