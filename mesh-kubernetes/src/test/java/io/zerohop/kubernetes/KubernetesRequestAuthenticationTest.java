package io.zerohop.kubernetes;

import static io.zerohop.kubernetes.MockCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.RequestAuth;
import io.zerohop.policy.WorkloadRef;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * RequestAuthentication read from fabric8's CRUD mock API server over its real list/watch protocol, as the other Istio
 * kinds: created, updated and deleted at v1 and v1beta1, its rules answering {@link PolicyEngine#jwtRules}, an
 * AuthorizationPolicy's requestPrincipals then matched on the verified JWT. Until 6 December the kind was not watched
 * (jwtRules stayed empty).
 */
class KubernetesRequestAuthenticationTest {
    static final WorkloadRef HTTPBIN = new WorkloadRef("foo", "httpbin-1", "httpbin", Map.of("app", "httpbin"));

    @RegisterExtension
    final MockCluster k8s = new MockCluster();
    KubernetesDiscovery d;
    final PolicyEngine engine = PolicyEngine.builder().rootNamespace("istio-system").build();

    @BeforeEach
    void start() throws Exception {
        d = k8s.startSynced(KubernetesDiscovery.forNode(k8s.client, "node-a").policies(engine));
    }

    List<String> issuers() {
        return engine.jwtRules(HTTPBIN).stream().map(JwtRule::issuer).toList();
    }

    static final String JWT_EXAMPLE = """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: jwt-example, namespace: foo}
            spec:
              selector: {matchLabels: {app: httpbin}}
              jwtRules:
              - issuer: "testing@secure.istio.io"
                jwksUri: "https://raw.githubusercontent.com/istio/istio/master/security/tools/jwt/samples/jwks.json"
            """;

    @Test
    void createUpdateDeleteAtBothVersions() throws Exception {
        assertThat(issuers()).isEmpty();
        k8s.apply(JWT_EXAMPLE);
        await(d, "RequestAuthentication installed", () -> issuers().equals(List.of("testing@secure.istio.io")));
        JwtRule rule = engine.jwtRules(HTTPBIN).get(0);
        assertThat(rule.origin()).isEqualTo("foo/jwt-example");
        assertThat(rule.jwksUri()).endsWith("/jwks.json");

        k8s.apply(JWT_EXAMPLE.replace("testing@secure.istio.io", "issuer.example"));
        await(d, "update", () -> issuers().equals(List.of("issuer.example")));

        k8s.apply("""
                apiVersion: security.istio.io/v1beta1
                kind: RequestAuthentication
                metadata: {name: mesh, namespace: istio-system}
                spec:
                  jwtRules:
                  - issuer: "a.example"
                """);
        await(d, "root-namespace v1beta1 one added, sorted by issuer", () -> issuers().equals(List.of("a.example", "issuer.example")));

        k8s.delete("security.istio.io/v1", "RequestAuthentication", "foo", "jwt-example");
        await(d, "deleted", () -> issuers().equals(List.of("a.example")));
        assertThat(d.rejectedPolicies()).isEmpty();
    }

    @Test
    void anInvalidOneIsRejectedAndLeftOut() throws Exception {
        k8s.apply(JWT_EXAMPLE.replace("jwksUri: \"https://", "jwksUri: \"ftp://"));
        await(d, "rejected", () -> !d.rejectedPolicies().isEmpty());
        assertThat(d.rejectedPolicies().toString()).contains("RequestAuthentication/foo/jwt-example")
                .contains("URI scheme \"ftp\" is not supported");
        assertThat(issuers()).isEmpty();
        k8s.apply(JWT_EXAMPLE);
        await(d, "fixed", () -> d.rejectedPolicies().isEmpty() && issuers().equals(List.of("testing@secure.istio.io")));
    }

    @Test
    void requestPrincipalsMatchTheVerifiedToken() throws Exception {
        k8s.apply(JWT_EXAMPLE);
        k8s.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: require-jwt, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  action: ALLOW
                  rules:
                  - from:
                    - source:
                        requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]
                """);
        await(d, "both installed", () -> engine.policies().size() == 2);
        RequestAuth token = new RequestAuth("testing@secure.istio.io/testing@secure.istio.io", List.of(), null,
                Map.of("iss", "testing@secure.istio.io", "sub", "testing@secure.istio.io"));
        AccessRequest.Builder b = AccessRequest.builder().sourceAddress("10.0.9.9").destinationAddress("10.0.1.2")
                .destinationPort(8000).destination(HTTPBIN);
        assertThat(engine.evaluate(b.http(new HttpAttributes("GET", "/headers", "httpbin", Map.of(), token)).build()).allowed()).isTrue();
        assertThat(engine.evaluate(b.http(new HttpAttributes("GET", "/headers", "httpbin", Map.of())).build()).allowed()).isFalse();
    }

    /**
     * Rules of one issuer keep istiod's creation order (pilot/pkg/model/authentication.go reads RequestAuthentications
     * sorted by creation time, then name; newPolicyApplier's sort by issuer leaves them so here): the older object's
     * rule first, whatever the names.
     */
    @Test
    void oneIssuersRulesKeepCreationOrder() {
        PolicyEngine e = PolicyEngine.builder().rootNamespace("istio-system").build();
        io.zerohop.kubernetes.internal.PolicyState state = new io.zerohop.kubernetes.internal.PolicyState(e);
        for (String[] o : new String[][] {{"aa-newer", "2026-06-01T00:00:00Z", "https://new.example/keys"},
                {"zz-older", "2026-01-01T00:00:00Z", "https://old.example/keys"}}) {
            state.put(io.fabric8.kubernetes.client.utils.Serialization.unmarshal("""
                    apiVersion: security.istio.io/v1
                    kind: RequestAuthentication
                    metadata: {name: %s, namespace: foo, creationTimestamp: "%s"}
                    spec: {jwtRules: [{issuer: same.example, jwksUri: "%s"}]}
                    """.formatted(o[0], o[1], o[2]), io.fabric8.kubernetes.api.model.GenericKubernetesResource.class));
        }
        state.flush();
        assertThat(e.jwtRules(HTTPBIN)).extracting(JwtRule::origin).containsExactly("foo/zz-older", "foo/aa-newer");
    }

    /**
     * A role from before RequestAuthentications were read (deploy/*: no {@code requestauthentications}): their list is
     * 403. The discovery still syncs (as for EndpointSlices), the other policies are enforced, and no JWT rule applies.
     */
    @Test
    void forbiddenRequestAuthenticationsCountAsEmpty() throws Exception {
        try (MockCluster cluster = new MockCluster()) {
            for (String version : List.of("v1", "v1beta1")) {
                for (String query : List.of("", "?resourceVersion=0")) {
                    cluster.server.expect().get().withPath("/apis/security.istio.io/" + version + "/requestauthentications" + query)
                            .andReturn(403, new io.fabric8.kubernetes.api.model.StatusBuilder().withCode(403).withReason("Forbidden")
                                    .withMessage("requestauthentications.security.istio.io is forbidden").build())
                            .always();
                }
            }
            cluster.apply(JWT_EXAMPLE.replace("RequestAuthentication", "AuthorizationPolicy").replace("jwt-example", "deny-all")
                    .replaceAll("(?s)  jwtRules:.*", "  action: DENY\n  rules: [{}]\n"));
            PolicyEngine e = PolicyEngine.builder().rootNamespace("istio-system").build();
            try (KubernetesDiscovery disc = KubernetesDiscovery.forNode(cluster.client, "node-a").policies(e)
                    .debounce(Duration.ofMillis(20), Duration.ofSeconds(1)).start()) {
                disc.synced().get(30, TimeUnit.SECONDS);
                await(disc, "the DENY installed", () -> e.policies().size() == 1);
                assertThat(e.jwtRules(HTTPBIN)).isEmpty();
            }
        }
    }
}
