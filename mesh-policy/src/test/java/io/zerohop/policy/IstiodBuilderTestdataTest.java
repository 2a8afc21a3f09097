package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.policy.Decision.Outcome;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The cases of istio/istio pilot/pkg/security/authz/builder/builder_test.go ({@code TestGenerator_GenerateHTTP},
 * {@code TestGenerator_GenerateTCP}) that no other test here replayed, each with its {@code testdata/{http,tcp}/*-in.yaml}
 * as upstream wrote it, decided for the requests its {@code -out.yaml} (the Envoy RBAC istiod builds) tells apart. The
 * proxy of those tests is {@code node(nil)}: namespace foo, labels app=httpbin, version=v1.
 *
 * <p>HTTP cases go through {@link PolicyEngine#evaluate} with {@link HttpAttributes} (Envoy's HTTP RBAC filter). TCP
 * cases are what a sidecar's network RBAC filter builds for a port it does not parse as HTTP; zerohop's counterpart is
 * {@link PolicyEngine#evaluateUnparsed}, and an opaque connection ({@link PolicyEngine#evaluate} without HTTP
 * attributes) is decided as ztunnel decides it (istio/istio pilot/pkg/serviceregistry/ambient/authorization.go
 * {@code handleRule}), which differs for DENY: both readings are asserted.
 */
class IstiodBuilderTestdataTest {

    static final Map<String, String> HTTPBIN = Map.of("app", "httpbin", "version", "v1");

    static R foo() {
        return r().dest("foo", "httpbin", HTTPBIN);
    }

    static PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("in.yaml", yaml)).build();
    }

    static String decided(Decision d) {
        return d.policy() == null ? null : d.policy().qualifiedName();
    }

    /** http/allow-host-before-111-in.yaml. */
    static final String ALLOW_HOST_BEFORE_111 = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-1
              namespace: foo
            spec:
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              rules:
                - to:
                    - operation:
                        hosts: ["example.com", "prefix.example.*", "*.example.com", "*"]
                        notHosts: ["not-example.com", "prefix.not-example.*", "*.not-example.com", "*"]
            """;

    @Test
    void allowHostBefore111() throws Exception {
        // -out.yaml: hosts and notHosts are :authority matchers, case-insensitive ((?i) regexes), "*" a presence match.
        // notHosts "*" is present on every request, so the one rule matches none: every request is denied by default.
        PolicyEngine e = engine(ALLOW_HOST_BEFORE_111);
        for (String host : List.of("example.com", "PREFIX.example.org", "a.example.com", "other.org")) {
            Decision d = e.evaluate(foo().http("GET", "/", host, Map.of()).build());
            assertThat(d.allowed()).as("%s: %s", host, d).isFalse();
            assertThat(d.outcome()).isEqualTo(Outcome.DENIED_DEFAULT);
            assertThat(decided(d)).isEqualTo("foo/httpbin-1");
        }
        // The same rule without notHosts "*" shows each host form (ours: upstream's golden, matcher by matcher).
        PolicyEngine hosts = engine(ALLOW_HOST_BEFORE_111.replace(
                "notHosts: [\"not-example.com\", \"prefix.not-example.*\", \"*.not-example.com\", \"*\"]",
                "notHosts: [\"not-example.com\", \"prefix.not-example.*\", \"*.not-example.com\"]"));
        assertThat(hosts.evaluate(foo().http("GET", "/", "EXAMPLE.com", Map.of()).build()).allowed()).isTrue();
        assertThat(hosts.evaluate(foo().http("GET", "/", "other.org", Map.of()).build()).allowed()).as("hosts '*'").isTrue();
        assertThat(hosts.evaluate(foo().http("GET", "/", "Not-Example.com", Map.of()).build()).allowed()).isFalse();
        assertThat(hosts.evaluate(foo().http("GET", "/", "prefix.not-example.io", Map.of()).build()).allowed()).isFalse();
        assertThat(hosts.evaluate(foo().http("GET", "/", "a.NOT-example.com", Map.of()).build()).allowed()).isFalse();
    }

    /** http/audit-full-rule-in.yaml. */
    static final String AUDIT_FULL_RULE = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: audit-all
              namespace: foo
            spec:
              action: AUDIT
              rules:
                - {}
            """;

    @Test
    void auditFullRule() throws Exception {
        // -out.yaml: an RBAC filter with action LOG, which only marks the request for the access log: it decides nothing.
        Decision d = engine(AUDIT_FULL_RULE).evaluate(foo().http("GET", "/").build());
        assertThat(d.outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
    }

    /** http/custom-simple-http-in.yaml (also tcp/custom-only-http-in.yaml, the same two policies). */
    static final String CUSTOM_SIMPLE_HTTP = """
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
                name: default
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              rules:
                - to:
                    - operation:
                        paths: ["/httpbin2"]
            """;

    @Test
    void customGrpcAndHttpProvider() throws Exception {
        // custom-grpc-provider, custom-http-provider, custom-grpc-provider-no-namespace (-out1: shadow RBAC naming
        // istio-ext-authz-default-ns[foo]-policy[httpbin-N]-rule[0]; -out2: ext_authz enabled by that metadata): the
        // provider is asked for /httpbin1 and /httpbin2 only, and decides them.
        List<String> asked = new ArrayList<>();
        boolean[] answer = {false};
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("in.yaml", CUSTOM_SIMPLE_HTTP))
                .customAuthorizer((provider, request) -> {
                    asked.add(provider + " " + request.http().path());
                    return answer[0];
                }).build();
        Decision d1 = e.evaluate(foo().http("GET", "/httpbin1").build());
        assertThat(d1.outcome()).isEqualTo(Outcome.DENIED_CUSTOM);
        answer[0] = true;
        assertThat(e.evaluate(foo().http("GET", "/httpbin2").build()).allowed()).isTrue();
        assertThat(e.evaluate(foo().http("GET", "/other").build()).outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
        assertThat(asked).containsExactly("default /httpbin1", "default /httpbin2");
    }

    @Test
    void customBadInvalidConfig() throws Exception {
        // custom-bad-invalid-config (custom-bad-out.yaml): a provider Envoy cannot call makes each CUSTOM rule an RBAC DENY
        // rule ("...-deny-due-to-bad-CUSTOM-action"). zerohop without a CustomAuthorizer is that case.
        PolicyEngine e = engine(CUSTOM_SIMPLE_HTTP);
        for (String path : List.of("/httpbin1", "/httpbin2")) {
            Decision d = e.evaluate(foo().http("GET", path).build());
            assertThat(d.outcome()).as(path).isEqualTo(Outcome.DENIED_CUSTOM);
        }
        assertThat(e.evaluate(foo().http("GET", "/other").build()).outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
    }

    /** http/dry-run-allow-and-deny-in.yaml. */
    static final String DRY_RUN_ALLOW_AND_DENY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-1
              namespace: foo
              annotations:
                "istio.io/dry-run": "true"
            spec:
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              action: ALLOW
              rules:
                - to:
                    - operation:
                        paths: ["/allow"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-2
              namespace: foo
              annotations:
                "istio.io/dry-run": "true"
            spec:
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              action: DENY
              rules:
                - to:
                    - operation:
                        paths: ["/deny"]
            """;

    @Test
    void dryRunAllowAndDeny() throws Exception {
        // -out1 (DENY) and -out2 (ALLOW) hold only shadowRules: nothing is enforced, every request passes; the shadow
        // result is what the policies would have done.
        PolicyEngine e = engine(DRY_RUN_ALLOW_AND_DENY);
        Decision deny = e.evaluate(foo().http("GET", "/deny").build());
        assertThat(deny.outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
        assertThat(deny.dryRun()).startsWith("DENY by foo/httpbin-2");
        Decision other = e.evaluate(foo().http("GET", "/other").build());
        assertThat(other.outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
        assertThat(other.dryRun()).startsWith("DENY by foo/httpbin-1");
        Decision allow = e.evaluate(foo().http("GET", "/allow").build());
        assertThat(allow.outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
        // The shadow ALLOW matches /allow: istio_dry_run_allow_shadow_effective_policy_id names httpbin-1.
        assertThat(allow.dryRun()).startsWith("ALLOW by foo/httpbin-1");
    }

    /** http/multiple-policies-in.yaml. */
    static final String MULTIPLE_POLICIES = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-1
              namespace: foo
            spec:
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              rules:
              - to:
                - operation:
                    methods: ["GET", "POST"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-2
              namespace: foo
            spec:
              selector:
                matchLabels:
                  app: httpbin
              rules:
                - to:
                  - operation:
                      paths: ["/v1", "/v2"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-3
              namespace: foo
            spec:
              selector:
                matchLabels:
                  version: v1
              rules:
                - to:
                    - operation:
                        hosts: ["google.com", "httpbin.org"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-4
              namespace: foo
            spec:
              rules:
                - to:
                    - operation:
                        ports: ["80", "90"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-5
              namespace: foo
            spec:
              rules:
                - from:
                    - source:
                        principals: ["principals1", "principals2"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-6
              namespace: foo
            spec:
              rules:
                - from:
                    - source:
                        requestPrincipals: ["requestPrincipals1", "requestPrincipals2"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-7
              namespace: foo
            spec:
              rules:
                - from:
                    - source:
                        namespaces: ["namespaces1", "namespaces2"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-8
              namespace: foo
            spec:
              rules:
                - from:
                    - source:
                        ipBlocks: ["1.2.3.4", "5.6.7.0/24"]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-9
              namespace: foo
            spec:
              rules:
                - when:
                    - key: "request.headers[X-abc]"
                      values: ["abc1", "abc2"]
            ---
            """;

    @Test
    void multiplePolicies() throws Exception {
        // -out.yaml: one ALLOW RBAC filter with all nine policies' rule[0] (each selects app=httpbin,version=v1 in foo):
        // any one of them allows.
        PolicyEngine e = engine(MULTIPLE_POLICIES);
        R put = foo().src("10.9.9.9").principal("spiffe://cluster.local/ns/other/sa/x");
        Object[][] allowed = {
                {foo().http("POST", "/x"), "foo/httpbin-1"},
                {put.http("PUT", "/v2"), "foo/httpbin-2"},
                {foo().src("10.9.9.9").principal("spiffe://cluster.local/ns/other/sa/x").http("PUT", "/x", "HTTPBIN.org", Map.of()),
                        "foo/httpbin-3"},
                {foo().src("10.9.9.9").principal("spiffe://cluster.local/ns/other/sa/x").port(90).http("PUT", "/x"), "foo/httpbin-4"},
                {foo().src("10.9.9.9").principal("spiffe://principals2").http("PUT", "/x"), "foo/httpbin-5"},
                {foo().src("10.9.9.9").principal("spiffe://cluster.local/ns/namespaces1/sa/x").http("PUT", "/x"), "foo/httpbin-7"},
                {foo().src("5.6.7.8").principal("spiffe://cluster.local/ns/other/sa/x").http("PUT", "/x"), "foo/httpbin-8"},
                {foo().src("10.9.9.9").principal("spiffe://cluster.local/ns/other/sa/x").http("PUT", "/x", "", Map.of("x-abc", "abc2")),
                        "foo/httpbin-9"}};
        for (Object[] c : allowed) {
            Decision d = e.evaluate(((R) c[0]).build());
            assertThat(d.allowed()).as("%s: %s", c[0], d).isTrue();
            assertThat(decided(d)).as("%s", c[0]).isEqualTo(c[1]);
        }
        // None of the nine: no token (httpbin-6's requestPrincipals never match), no listed method, path, host, port,
        // principal, namespace, address or header.
        Decision none = e.evaluate(foo().src("10.9.9.9").principal("spiffe://cluster.local/ns/other/sa/x")
                .http("PUT", "/x", "", Map.of("x-abc", "abc3")).build());
        assertThat(none.outcome()).as("%s", none).isEqualTo(Outcome.DENIED_DEFAULT);
        // A workload with app=httpbin alone: httpbin-1 and httpbin-3 (version: v1) do not apply, httpbin-2 does.
        R v2 = r().dest("foo", "httpbin", Map.of("app", "httpbin")).src("10.9.9.9").principal("spiffe://cluster.local/ns/other/sa/x");
        assertThat(e.evaluate(v2.http("POST", "/x").build()).allowed()).isFalse();
        assertThat(decided(e.evaluate(v2.http("POST", "/v1").build()))).isEqualTo("foo/httpbin-2");
    }

    /** http/td-aliases-source-principal-in.yaml. */
    static final String TD_ALIASES_SOURCE_PRINCIPAL = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin
              namespace: foo
            spec:
              selector:
                matchLabels:
                  app: httpbin
                  version: v1
              rules:
                - from:
                    - source:
                        namespaces: ["istio-system"]
                  when:
                    - key: "source.principal"
                      values: ["*", "*/ns/foo/sa/all-td", "*-td/ns/foo/sa/prefix-td"]
            """;

    @Test
    void trustDomainAliasesInSourcePrincipal() throws Exception {
        // trust-domain-aliases-in-source-principal: NewBundle("new-td", ["old-td", "some-trustdomain"]). -out.yaml: the
        // from is ".*/ns/istio-system/.*", ANDed with the when's principals, "*" being ".+" (any authenticated peer), so
        // every peer of istio-system is allowed and no other; the aliases add spiffe://some-trustdomain/ns/foo/sa/prefix-td,
        // which the from still refuses.
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("in.yaml", TD_ALIASES_SOURCE_PRINCIPAL))
                .trustDomain("new-td").trustDomainAliases(List.of("old-td", "some-trustdomain")).build();
        for (String p : List.of("spiffe://new-td/ns/istio-system/sa/x", "spiffe://some-trustdomain/ns/istio-system/sa/y",
                "spiffe://elsewhere/ns/istio-system/sa/z")) {
            assertThat(e.evaluate(foo().principal(p).http("GET", "/").build()).allowed()).as(p).isTrue();
        }
        for (String p : List.of("spiffe://some-trustdomain/ns/foo/sa/prefix-td", "spiffe://new-td/ns/foo/sa/all-td")) {
            assertThat(e.evaluate(foo().principal(p).http("GET", "/").build()).outcome()).as(p).isEqualTo(Outcome.DENIED_DEFAULT);
        }
        assertThat(e.evaluate(foo().plaintext().http("GET", "/").build()).allowed()).as("plaintext").isFalse();
    }

    static R peer(String ns, int port) {
        return foo().principal("spiffe://cluster.local/ns/" + ns + "/sa/x").port(port);
    }

    /** tcp/allow-both-http-tcp-in.yaml. */
    static final String ALLOW_BOTH_HTTP_TCP = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-deny
              namespace: foo
            spec:
              action: ALLOW
              rules:
                - from:
                    - source:
                        requestPrincipals: ["id-1"]
                  to:
                    - operation:
                        methods: ["GET"]
                - from:
                    - source:
                        namespaces: ["ns-1"]
                  to:
                    - operation:
                        ports: ["8080"]
                        methods: ["GET"]
                - from:
                    - source:
                        namespaces: ["ns-2"]
                        requestPrincipals: ["id-2"]
                  to:
                    - operation:
                        ports: ["9090"]
                - from:
                    - source:
                        namespaces: ["ns-1"]
                  to:
                    - operation:
                        ports: ["80"]
            """;

    @Test
    void tcpAllowBothHttpTcp() throws Exception {
        // -out.yaml: only rule[3] (ns-1 to port 80) is built; a rule with any HTTP field is left out of an ALLOW, as
        // ztunnel's conversion leaves it out (handleRule: "L7 policies never match for ALLOW").
        PolicyEngine e = engine(ALLOW_BOTH_HTTP_TCP);
        for (boolean unparsed : List.of(true, false)) {
            Decision ok = decide(e, peer("ns-1", 80), unparsed);
            assertThat(ok.outcome()).isEqualTo(Outcome.ALLOWED_BY_RULE);
            assertThat(ok.ruleIndex()).isEqualTo(3);
            assertThat(decide(e, peer("ns-1", 8080), unparsed).outcome()).as("rule[1] has methods").isEqualTo(Outcome.DENIED_DEFAULT);
            assertThat(decide(e, peer("ns-2", 9090), unparsed).outcome()).as("rule[2] has requestPrincipals")
                    .isEqualTo(Outcome.DENIED_DEFAULT);
        }
    }

    static Decision decide(PolicyEngine e, R request, boolean unparsed) {
        return unparsed ? e.evaluateUnparsed(request.build()) : e.evaluate(request.build());
    }

    /** tcp/allow-only-http-in.yaml. */
    static final String ALLOW_ONLY_HTTP = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-deny
              namespace: foo
            spec:
              action: ALLOW
              rules:
              - from:
                - source:
                    requestPrincipals: ["id-1"]
                to:
                - operation:
                    methods: ["GET"]
              - from:
                - source:
                    namespaces: ["ns-1"]
                to:
                - operation:
                    hosts: ["example.com"]
            """;

    @Test
    void tcpAllowOnlyHttp() throws Exception {
        // -out.yaml: "rules: {}", an ALLOW filter without policies: every connection is denied.
        PolicyEngine e = engine(ALLOW_ONLY_HTTP);
        for (boolean unparsed : List.of(true, false)) {
            Decision d = decide(e, peer("ns-1", 80), unparsed);
            assertThat(d.outcome()).isEqualTo(Outcome.DENIED_DEFAULT);
            assertThat(decided(d)).isEqualTo("foo/httpbin-deny");
        }
        // At L7 the same policy allows what it names.
        assertThat(e.evaluate(peer("ns-1", 80).http("PUT", "/", "example.com", Map.of()).build()).allowed()).isTrue();
    }

    /** tcp/audit-both-http-tcp-in.yaml. */
    static final String AUDIT_BOTH_HTTP_TCP = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-audit
              namespace: foo
            spec:
              action: AUDIT
              rules:
              # rule[0] `from`: all fields, `to`: all fields, `when`: all fields.
              - from:
                - source:
                    principals: ["principal"]
                    requestPrincipals: ["requestPrincipals"]
                    namespaces: ["ns"]
                    ipBlocks: ["1.2.3.4"]
                    remoteIpBlocks: ["10.250.90.4"]
                    notPrincipals: ["not-principal"]
                    notRequestPrincipals: ["not-requestPrincipals"]
                    notNamespaces: ["not-ns"]
                    notIpBlocks: ["9.0.0.1"]
                    notRemoteIpBlocks: ["10.133.154.65"]
                to:
                - operation:
                    methods: ["method"]
                    hosts: ["exact.com"]
                    ports: ["80"]
                    paths: ["/exact"]
                    notMethods: ["not-method"]
                    notHosts: ["not-exact.com"]
                    notPorts: ["8000"]
                    notPaths: ["/not-exact"]
                when:
                  - key: "request.headers[X-header]"
                    values: ["header"]
                    notValues: ["not-header"]
                  - key: "source.ip"
                    values: ["10.10.10.10"]
                    notValues: ["90.10.10.10"]
                  - key: "remote.ip"
                    values: ["192.168.7.7"]
                    notValues: ["192.168.10.9"]
                  - key: "source.namespace"
                    values: ["ns"]
                    notValues: ["not-ns"]
                  - key: "source.principal"
                    values: ["principal"]
                    notValues: ["not-principal"]
                  - key: "request.auth.principal"
                    values: ["requestPrincipals"]
                    notValues: ["not-requestPrincipals"]
                  - key: "request.auth.audiences"
                    values: ["audiences"]
                    notValues: ["not-audiences"]
                  - key: "request.auth.presenter"
                    values: ["presenter"]
                    notValues: ["not-presenter"]
                  - key: "request.auth.claims[iss]"
                    values: ["iss"]
                    notValues: ["not-iss"]
                  - key: "destination.ip"
                    values: ["10.10.10.10"]
                    notValues: ["90.10.10.10"]
                  - key: "destination.port"
                    values: ["91"]
                    notValues: ["9001"]
                  - key: "connection.sni"
                    values: ["exact.com"]
                    notValues: ["not-exact.com"]
                  - key: "experimental.envoy.filters.a.b[c]"
                    values: ["exact"]
                    notValues: ["not-exact"]
            """;

    @Test
    void tcpAuditBothHttpTcp() throws Exception {
        // -out.yaml: action LOG, which decides nothing. Loads (every field and condition key is valid) and allows.
        PolicyEngine e = engine(AUDIT_BOTH_HTTP_TCP);
        R ns = foo().principal("spiffe://cluster.local/ns/ns/sa/principal").src("1.2.3.4").dst("10.10.10.10").port(80);
        assertThat(e.evaluateUnparsed(ns.build()).outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
        assertThat(e.evaluate(ns.build()).outcome()).isEqualTo(Outcome.ALLOWED_NO_POLICY);
    }

    /** tcp/custom-both-http-tcp-in.yaml. */
    static final String CUSTOM_BOTH_HTTP_TCP = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-deny
              namespace: foo
            spec:
              action: CUSTOM
              provider:
                name: default
              rules:
                # rule[0] `from`: nil, `to`: HTTP field.
                - to:
                    - operation:
                        methods: ["GET"]
                # rule[1] `from`: TCP field, `to`: HTTP field.
                - from:
                    - source:
                        ipBlocks: ["1.2.3.4"]
                  to:
                    - operation:
                        methods: ["GET"]
                # rule[2] `from`: TCP field, `to`: TCP field.
                - from:
                    - source:
                        ipBlocks: ["1.2.3.4"]
                  to:
                    - operation:
                        ports: ["80"]
                # rule[3] `from`: nil, `to`: nil, `when`: HTTP field.
                - when:
                    - key: "request.headers[:method]"
                      values: ["GET"]
                # rule[4] `from`: nil, `to`: nil, `when`: TCP field.
                - when:
                    - key: "destination.port"
                      values: ["80"]
                # rule[5] `from`: all fields, `to`: all fields, `when`: all fields.
                - from:
                    - source:
                        ipBlocks: ["1.2.3.4"]
                        remoteIpBlocks: ["172.18.4.0/22"]
                        notIpBlocks: ["9.0.0.1"]
                        notRemoteIpBlocks: ["192.168.244.139"]
                  to:
                    - operation:
                        methods: ["method"]
                        hosts: ["exact.com"]
                        ports: ["80"]
                        paths: ["/exact"]
                        notMethods: ["not-method"]
                        notHosts: ["not-exact.com"]
                        notPorts: ["8000"]
                        notPaths: ["/not-exact"]
                  when:
                    - key: "request.headers[X-header]"
                      values: ["header"]
                      notValues: ["not-header"]
            """;

    @Test
    void tcpCustomBothHttpTcp() throws Exception {
        // gRPC provider (meshConfigGRPC). -out1: shadow RBAC (DENY) with every rule, HTTP fields dropped, so rule[0] and
        // rule[3] are "any"; -out2: the network ext_authz filter. Every connection reaches the provider, which decides it.
        List<String> asked = new ArrayList<>();
        boolean[] answer = {false};
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("in.yaml", CUSTOM_BOTH_HTTP_TCP))
                .customAuthorizer((provider, request) -> {
                    asked.add(provider + (request.http() == null ? " tcp" : " http"));
                    return answer[0];
                }).build();
        R any = foo().src("10.9.9.9").port(9999);
        assertThat(e.evaluateUnparsed(any.build()).outcome()).isEqualTo(Outcome.DENIED_CUSTOM);
        answer[0] = true;
        assertThat(e.evaluateUnparsed(any.build()).allowed()).isTrue();
        assertThat(asked).containsExactly("default tcp", "default tcp");
        // Without a provider Envoy can call (custom-bad: deny rules), the same connection is denied.
        assertThat(engine(CUSTOM_BOTH_HTTP_TCP).evaluateUnparsed(any.build()).outcome()).isEqualTo(Outcome.DENIED_CUSTOM);
    }

    @Test
    void tcpCustomOnlyHttp() throws Exception {
        // custom-only-http (tcp/custom-only-http-in.yaml = http/custom-simple-http-in.yaml), HTTP provider
        // (meshConfigHTTP): want is no filter at all, since an HTTP ext_authz cannot sit on a TCP chain (builder.go
        // buildTCP: "ignored CUSTOM action with HTTP provider on TCP filter chain"), so Envoy passes the connection.
        // zerohop does not know a provider's kind: it asks the CustomAuthorizer with no HTTP attributes, which for an
        // HTTP provider answers as that chain would (true); without an authorizer it denies (fail closed, README
        // "Compared with upstream").
        List<String> asked = new ArrayList<>();
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("in.yaml", CUSTOM_SIMPLE_HTTP))
                .customAuthorizer((provider, request) -> asked.add(provider + (request.http() == null ? " tcp" : " http"))).build();
        assertThat(e.evaluateUnparsed(foo().build()).allowed()).isTrue();
        assertThat(asked).containsExactly("default tcp", "default tcp");
        assertThat(engine(CUSTOM_SIMPLE_HTTP).evaluateUnparsed(foo().build()).outcome()).isEqualTo(Outcome.DENIED_CUSTOM);
    }

    /** tcp/deny-both-http-tcp-in.yaml. */
    static final String DENY_BOTH_HTTP_TCP = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: httpbin-deny
              namespace: foo
            spec:
              action: DENY
              rules:
              # rule[0] `from`: HTTP field, `to`: HTTP field.
              - from:
                - source:
                    requestPrincipals: ["id-1"]
                to:
                - operation:
                    methods: ["GET"]
              # rule[1] `from`: nil, `to`: HTTP field.
              - to:
                - operation:
                    methods: ["GET"]
              # rule[2] `from`: HTTP field, `to`: nil.
              - from:
                - source:
                      requestPrincipals: ["id-1"]
              # rule[3] `from`: TCP field, `to`: HTTP field.
              - from:
                - source:
                    namespaces: ["ns-1"]
                to:
                - operation:
                      methods: ["GET"]
              # rule[4] `from`: HTTP field, `to`: TCP field.
              - from:
                - source:
                      requestPrincipals: ["id-1"]
                to:
                - operation:
                      ports: ["80"]
               # rule[5] `from`: HTTP field, `to`: HTTP + TCP field.
              - from:
                - source:
                      requestPrincipals: ["id-1"]
                to:
                - operation:
                      ports: ["8080"]
                      methods: ["GET"]
              # rule[6] `from`: HTTP field, `to`: HTTP + TCP field.
              - from:
                - source:
                      namespaces: ["ns-2"]
                      requestPrincipals: ["id-1"]
                to:
                - operation:
                      ports: ["8080"]
                      methods: ["GET"]
              # rule[7] `from`: TCP field, `to`: TCP field.
              - from:
                - source:
                    namespaces: ["ns-1"]
                to:
                - operation:
                    ports: ["80"]
              # rule[8] `from`: nil, `to`: nil, `when`: HTTP field.
              - when:
                - key: "request.headers[:method]"
                  values: ["GET"]
              # rule[9] `from`: nil, `to`: nil, `when`: TCP field.
              - when:
                - key: "destination.port"
                  values: ["80"]
              # rule[10] `from`: all fields, `to`: all fields, `when`: all fields.
              - from:
                - source:
                    principals: ["principal", "*principal-suffix", "principal-prefix*", "*"]
                    requestPrincipals: ["requestPrincipals"]
                    namespaces: ["ns", "*ns-suffix", "ns-prefix*", "*"]
                    ipBlocks: ["1.2.3.4"]
                    remoteIpBlocks: ["172.18.4.0/22"]
                    notPrincipals: ["not-principal", "*not-principal-suffix", "not-principal-prefix*", "*"]
                    notRequestPrincipals: ["not-requestPrincipals"]
                    notNamespaces: ["not-ns", "*not-ns-suffix", "not-ns-prefix*", "*"]
                    notIpBlocks: ["9.0.0.1"]
                    notRemoteIpBlocks: ["192.168.244.139"]
                to:
                - operation:
                    methods: ["method"]
                    hosts: ["exact.com"]
                    ports: ["80"]
                    paths: ["/exact"]
                    notMethods: ["not-method"]
                    notHosts: ["not-exact.com"]
                    notPorts: ["8000"]
                    notPaths: ["/not-exact"]
                when:
                  - key: "request.headers[X-header]"
                    values: ["header"]
                    notValues: ["not-header"]
                  - key: "source.ip"
                    values: ["10.10.10.10"]
                    notValues: ["90.10.10.10"]
                  - key: "remote.ip"
                    values: ["192.168.3.3"]
                    notValues: ["172.19.31.3"]
                  - key: "source.namespace"
                    values: ["ns", "*ns-suffix", "ns-prefix*", "*"]
                    notValues: ["not-ns", "*not-ns-suffix", "not-ns-prefix*", "*"]
                  - key: "source.principal"
                    values: ["principal", "*principal-suffix", "principal-prefix*", "*"]
                    notValues: ["not-principal", "*not-principal-suffix", "not-principal-prefix*", "*"]
                  - key: "request.auth.principal"
                    values: ["requestPrincipals"]
                    notValues: ["not-requestPrincipals"]
                  - key: "request.auth.audiences"
                    values: ["audiences"]
                    notValues: ["not-audiences"]
                  - key: "request.auth.presenter"
                    values: ["presenter"]
                    notValues: ["not-presenter"]
                  - key: "request.auth.claims[iss]"
                    values: ["iss"]
                    notValues: ["not-iss"]
                  - key: "destination.ip"
                    values: ["10.10.10.10"]
                    notValues: ["90.10.10.10"]
                  - key: "destination.port"
                    values: ["91"]
                    notValues: ["9001"]
                  - key: "connection.sni"
                    values: ["exact.com"]
                    notValues: ["not-exact.com"]
                  - key: "experimental.envoy.filters.a.b[c]"
                    values: ["exact"]
                    notValues: ["not-exact"]
            """;

    @Test
    void tcpDenyBothHttpTcp() throws Exception {
        // -out.yaml (a sidecar's TCP chain): HTTP fields dropped from each DENY rule, so rule[0], [1], [2] and [8] are
        // "any": every connection is denied. evaluateUnparsed reads DENY so.
        PolicyEngine e = engine(DENY_BOTH_HTTP_TCP);
        for (R c : List.of(foo().plaintext().src("10.9.9.9").port(9999), peer("ns-1", 8080), peer("ns-3", 9090))) {
            Decision d = e.evaluateUnparsed(c.build());
            assertThat(d.outcome()).as("%s", c).isEqualTo(Outcome.DENIED_BY_RULE);
            assertThat(decided(d)).isEqualTo("foo/httpbin-deny");
        }
        // ztunnel (ambient authorization.go handleRule): an entry left without L4 fields is an empty match, which
        // ztunnel skips, so rules [0]-[5] and [8] never match; [6] denies ns-2 on 8080, [7] ns-1 on 80, [9] port 80;
        // [10] never matches (notPrincipals "*" excludes every peer, principals "*" none without one).
        assertThat(e.evaluate(peer("ns-2", 8080).build()).ruleIndex()).isEqualTo(6);
        assertThat(e.evaluate(peer("ns-1", 80).build()).outcome()).isEqualTo(Outcome.DENIED_BY_RULE);
        assertThat(e.evaluate(foo().plaintext().port(80).build()).ruleIndex()).isEqualTo(9);
        for (R c : List.of(peer("ns-1", 8080), peer("ns-3", 9090), foo().plaintext().src("1.2.3.4").dst("10.10.10.10").port(91))) {
            assertThat(e.evaluate(c.build()).outcome()).as("%s", c).isEqualTo(Outcome.ALLOWED_NO_POLICY);
        }
    }

    @Test
    void ambientNoStatusPolicyIsFine() throws Exception {
        // istio/istio pilot/pkg/serviceregistry/ambient/authorization_test.go TestConvertAuthorizationPolicyStatus "no
        // status - policy is fine": principals ["trust/ns/echo-1234/"], ports ["http"]. The conversion test builds the
        // object in Go and never validates it; istiod's webhook refuses it (validation.go ValidateAuthorizationPolicy,
        // security.ValidatePorts: "http" is no port), so a file holding it is refused, at the port's line and field.
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: p
                  namespace: foo
                spec:
                  rules:
                  - from:
                    - source:
                        principals:
                        - trust/ns/echo-1234/
                    to:
                    - operation:
                        ports:
                        - http
                """;
        PolicyLoadException e = org.assertj.core.api.Assertions.catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("in.yaml", yaml));
        assertThat(e).isNotNull();
        assertThat(e.line()).as(e.getMessage()).isEqualTo(15);
        assertThat(e.field()).isEqualTo("spec.rules[0].to[0].operation.ports[0]");
        // With a numeric port it loads, and the principal's trailing '/' (no SPIFFE ID has one) is warned at its line.
        PolicySet ok = PolicyLoader.fromString("in.yaml", yaml.replace("- http", "- \"8080\""));
        assertThat(ok.warnings()).anySatisfy(w -> assertThat(w).startsWith("in.yaml:11: ")
                .contains("spec.rules[0].from[0].source.principals[0]"));
    }
}
