package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static io.zerohop.policy.ConformanceTest.cnp;
import static io.zerohop.policy.ConformanceTest.pa;
import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link PolicyEngine#denialBeforeHttp}: on a port whose protocol is sniffed, the denial no HTTP data can change,
 * known before a byte is read. Each denial is checked against the decisions the data would have given: every
 * sample request ({@link PolicyEngine#evaluate} with HTTP attributes) and the connection read as opaque bytes
 * ({@link PolicyEngine#evaluateUnparsed}) deny too, so only the moment changes. Each null names a request the
 * data would allow (or a DENY it would not trigger), so answering sooner would have changed the outcome.
 *
 * <p>Upstream: istiod builds a DENY rule without HTTP fields into the TCP filter chain's network RBAC and the HTTP
 * chain's HTTP RBAC alike, and a rule with HTTP fields only into the HTTP chain for ALLOW (for DENY, into the TCP
 * chain with its HTTP fields dropped) (istio/istio pilot/pkg/security/authz/builder/builder.go {@code build},
 * model/model.go {@code checkError}); ztunnel decides the L4 part at the CONNECT (src/rbac.rs).
 */
class DenialBeforeHttpTest {
    static final List<HttpAttributes> SAMPLES = List.of(HttpAttributes.of("GET", "/api/x"), HttpAttributes.of("GET", "/admin"),
            HttpAttributes.of("POST", "/"), new HttpAttributes("GET", "/api/x", "backend", Map.of("x-debug", "1")));

    static PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    static final String API_ONLY = ap("prod", "api-only", "{selector: {matchLabels: {app: backend}}, rules: [{to: [{operation: {paths: [/api/*]}}]}]}");

    /** Denied before the data, by {@code policy}; and so by every sample and the opaque reading. */
    static void denied(String yaml, R l4, String policy) throws Exception {
        PolicyEngine e = engine(yaml);
        Decision d = e.denialBeforeHttp(l4.build());
        assertThat(d).as(yaml).isNotNull();
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains(policy);
        assertThat(e.evaluateUnparsed(l4.build()).allowed()).as("opaque bytes").isFalse();
        for (HttpAttributes sample : SAMPLES) {
            AccessRequest req = l4.build().withHttp(sample);
            assertThat(e.evaluate(req).allowed()).as(sample.method() + " " + sample.path()).isFalse();
        }
    }

    /** Not decidable before the data: {@code allowedOnceRead} is allowed when read. */
    static void open(String yaml, R l4, R allowedOnceRead) throws Exception {
        PolicyEngine e = engine(yaml);
        assertThat(e.denialBeforeHttp(l4.build())).as(yaml).isNull();
        assertThat(e.evaluate(allowedOnceRead.build()).allowed()).as(allowedOnceRead.toString()).isTrue();
    }

    @Test
    void anIstioDenyWithoutHttpFieldsThatMatchesDecidesAtOnce() throws Exception {
        denied(API_ONLY + ap("prod", "deny-port", "{action: DENY, rules: [{to: [{operation: {ports: [\"8080\"]}}]}]}"),
                r(), "DENY by prod/deny-port (AuthorizationPolicy DENY, rule 0)");
        denied(ap("prod", "deny-legacy", "{action: DENY, rules: [{from: [{source: {namespaces: [legacy]}}]}]}"),
                r().principal("spiffe://cluster.local/ns/legacy/sa/old"), "prod/deny-legacy");
        // Another port, another source: the DENY does not match, the request may be allowed.
        open(API_ONLY + ap("prod", "deny-port", "{action: DENY, rules: [{to: [{operation: {ports: [\"9090\"]}}]}]}"),
                r(), r().http("GET", "/api/x"));
    }

    /**
     * The entries of a clause are ORed: one {@code to} entry with a path and another with the port alone deny all of the
     * port, as two rules would; the rule has HTTP fields, but not the entry that matches (a new-user pass found a policy
     * change that left parsed connections open under such a DENY, 2 December). Likewise a {@code from} entry.
     */
    @Test
    void aDenyEntryWithoutHttpFieldsDecidesAtOnceBesideOneWithThem() throws Exception {
        denied(API_ONLY + ap("prod", "deny-or", "{action: DENY, rules: [{to: [{operation: {paths: [/zzz]}}, {operation: {ports: [\"8080\"]}}]}]}"),
                r(), "DENY by prod/deny-or (AuthorizationPolicy DENY, rule 0)");
        denied(ap("prod", "deny-or-from", "{action: DENY, rules: [{from: [{source: {requestPrincipals: [\"*\"]}}, "
                + "{source: {namespaces: [legacy]}}]}]}"), r().principal("spiffe://cluster.local/ns/legacy/sa/old"), "prod/deny-or-from");
        // Both entries need the request: not decidable before it.
        open(ap("prod", "deny-both", "{action: DENY, rules: [{to: [{operation: {paths: [/zzz]}}, {operation: {ports: [\"8080\"], methods: [DELETE]}}]}]}"),
                r(), r().http("GET", "/api/x"));
    }

    @Test
    void aDenyWhoseMatchNeedsTheRequestWaitsForIt() throws Exception {
        // Ports and a path: denies only /admin once parsed (its TCP-chain reading denies all, but so do the data).
        open(ap("prod", "deny-admin", "{action: DENY, rules: [{to: [{operation: {ports: [\"8080\"], paths: [/admin]}}]}]}"),
                r(), r().http("GET", "/api/x"));
        open(ap("prod", "deny-debug", "{action: DENY, rules: [{when: [{key: \"request.headers[x-debug]\", values: [\"1\"]}]}]}"),
                r(), r().http("GET", "/api/x"));
        // A dry-run DENY never decides; a CUSTOM provider may read the request (here it allows any HTTP request).
        open("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: dry, namespace: prod, annotations: {istio.io/dry-run: "true"}}
                spec: {action: DENY, rules: [{to: [{operation: {ports: ["8080"]}}]}]}
                """, r(), r().http("GET", "/admin"));
        PolicyEngine custom = PolicyEngine.builder().customAuthorizer((provider, request) -> request.http() != null)
                .policies(PolicyLoader.fromString("p.yaml", ap("prod", "ext",
                        "{action: CUSTOM, provider: {name: opa}, rules: [{to: [{operation: {ports: [\"8080\"]}}]}]}"))).build();
        assertThat(custom.denialBeforeHttp(r().build())).isNull();
        assertThat(custom.evaluate(r().http("GET", "/admin").build()).allowed()).isTrue();
    }

    @Test
    void allowPoliciesNoRuleOfWhichCanMatchDecideAtOnce() throws Exception {
        String adminTeam = ap("prod", "admin-team", "{selector: {matchLabels: {app: backend}}, rules: [{from: [{source: "
                + "{principals: [cluster.local/ns/prod/sa/admin]}}], to: [{operation: {paths: [/admin]}}]}]}");
        denied(adminTeam, r(), "DENY by prod/admin-team (AuthorizationPolicy ALLOW, default deny)");
        denied(ap("prod", "other-port", "{rules: [{to: [{operation: {ports: [\"9090\"], notPaths: [/admin]}}]}]}"), r(), "prod/other-port");
        // A rule whose L4 part matches may match the request: wait for it.
        open(adminTeam, r().principal("spiffe://cluster.local/ns/prod/sa/admin"),
                r().principal("spiffe://cluster.local/ns/prod/sa/admin").http("GET", "/admin"));
        open(adminTeam + API_ONLY, r(), r().http("GET", "/api/x"));
        open(ap("prod", "not-admin", "{rules: [{to: [{operation: {notPaths: [/admin]}}]}]}"), r(), r().http("GET", "/x"));
    }

    @Test
    void plaintextUnderStrictIsDeniedAtOnce() throws Exception {
        denied(API_ONLY + pa("prod", "strict", "{mtls: {mode: STRICT}}"), r().plaintext(), "STRICT");
        open(API_ONLY, r().plaintext(), r().plaintext().http("GET", "/api/x"));
    }

    @Test
    void ciliumDeniesAtOnceUnlessAnHttpRuleCouldAllow() throws Exception {
        String http = cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEndpoints: "
                + "[{matchLabels: {app: frontend}}], toPorts: [{ports: [{port: '8080', protocol: TCP}], rules: {http: [{method: GET, path: '/api/.*'}]}}]}]}");
        open(http, r(), r().http("GET", "/api/x"));
        // Another source's labels: no rule can match it, the endpoint's default deny decides.
        denied(http, r().principal("spiffe://cluster.local/ns/prod/sa/batch").sourceLabels("prod", Map.of("app", "batch")), "prod/c");
        denied(cnp("prod", "c", "{endpointSelector: {}, ingress: [{fromEndpoints: [{}], toPorts: [{ports: [{port: '8080', protocol: TCP}], "
                + "rules: {http: [{method: GET}]}}]}], ingressDeny: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]}"), r(), "prod/c");
    }
}
