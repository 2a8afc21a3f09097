package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.Decision.Outcome;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * CUSTOM policies of more than one provider selecting one workload. istiod's builder
 * (istio/istio pilot/pkg/security/authz/builder/builder.go, {@code getBadCustomDenyRules}) then calls no
 * provider unless {@code PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS} is set (pilot/pkg/features/security.go, default
 * false): it logs an error and builds every CUSTOM rule as an RBAC DENY rule. The input and expected output are
 * builder_test.go's case {@code custom-bad-multiple-providers} (testdata/http/custom-bad-multiple-providers-in.yaml,
 * -out1.yaml, -out2.yaml: a DENY rule per CUSTOM rule, "deny-due-to-bad-CUSTOM-action"). Until 6 December zerohop
 * asked its {@link CustomAuthorizer} for each policy, so an authorizer that allowed let through what Envoy denies.
 */
class CustomProvidersTest {

    static final WorkloadRef HTTPBIN = new WorkloadRef("foo", "httpbin", "httpbin", Map.of("app", "httpbin", "version", "v1"));

    /** The two policies of custom-bad-multiple-providers-in.yaml, as its YAML writes them. */
    static final String TWO_PROVIDERS = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-1
              namespace: foo
            spec:
              action: CUSTOM
              provider:
                name: default
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              rules:
                - to:
                    - operation:
                        paths: ["/httpbin1"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-2
              namespace: foo
            spec:
              action: CUSTOM
              provider:
                name: another
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              rules:
                - to:
                    - operation:
                        paths: ["/httpbin2"]
            """;

    final List<String> asked = new ArrayList<>();

    PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("custom.yaml", yaml))
                .customAuthorizer((provider, request) -> asked.add(provider)).build();
    }

    static AccessRequest get(String path) {
        return r().dest("foo", "httpbin", Map.of("app", "httpbin", "version", "v1")).http("GET", path).build();
    }

    @Test
    void twoProvidersOnOneWorkloadDenyWhatEitherMatchesWithoutCallingOne() throws Exception {
        PolicyEngine e = engine(TWO_PROVIDERS);
        for (String path : List.of("/httpbin1", "/httpbin2")) {
            Decision d = e.evaluate(get(path));
            assertThat(d.allowed()).as("%s: %s", path, d.explain()).isFalse();
            assertThat(d.outcome()).isEqualTo(Outcome.DENIED_CUSTOM);
            assertThat(d.policy().qualifiedName()).isEqualTo(path.equals("/httpbin1") ? "foo/httpbin-1" : "foo/httpbin-2");
            assertThat(d.explain()).contains("more than one provider").contains("PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS");
        }
        assertThat(e.evaluate(get("/other")).allowed()).as("no CUSTOM rule matches: nothing denies").isTrue();
        assertThat(asked).as("no provider is called").isEmpty();
    }

    @Test
    void oneProviderIsStillAsked() throws Exception {
        PolicyEngine e = engine(TWO_PROVIDERS.replace("name: another", "name: default"));
        assertThat(e.evaluate(get("/httpbin1")).allowed()).isTrue();
        assertThat(e.evaluate(get("/httpbin2")).allowed()).isTrue();
        assertThat(asked).containsExactly("default", "default");
    }

    @Test
    void theConflictIsPerWorkload() throws Exception {
        // httpbin-2 selects version v2 only: on v1 one provider is in scope, and it is asked.
        PolicyEngine e = engine(TWO_PROVIDERS.replaceFirst("(?s)(name: another.*?version: )v1", "$1v2"));
        assertThat(e.evaluate(get("/httpbin1")).allowed()).isTrue();
        assertThat(asked).containsExactly("default");
        WorkloadRef v2 = new WorkloadRef("foo", "httpbin", "httpbin", Map.of("app", "httpbin", "version", "v2"));
        assertThat(e.evaluate(AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/frontend")
                .sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(8080).destination(v2)
                .http(HttpAttributes.of("GET", "/httpbin2")).build()).allowed()).isTrue();
        assertThat(asked).containsExactly("default", "another");
    }

    @Test
    void withoutAnAuthorizerTheL4ReadingIsUnchanged() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("custom.yaml", TWO_PROVIDERS)).build();
        AccessRequest l4 = r().dest("foo", "httpbin", Map.of("app", "httpbin", "version", "v1")).build();
        assertThat(e.evaluate(l4).allowed()).as("istiod sends no CUSTOM policy to ztunnel").isTrue();
        assertThat(e.evaluate(get("/httpbin2")).allowed()).isFalse();
        assertThat(e.evaluateUnparsed(l4).allowed()).as("a sidecar's TCP chain gets the deny rules too").isFalse();
    }

    @Test
    void anUnparsedConnectionIsDeniedWithoutAsking() throws Exception {
        PolicyEngine e = engine(TWO_PROVIDERS);
        Decision d = e.evaluateUnparsed(r().dest("foo", "httpbin", Map.of("app", "httpbin", "version", "v1")).build());
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains("more than one provider");
        assertThat(asked).isEmpty();
    }
}
