package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The mesh's trust domain and aliases ({@link PolicyEngine.Builder#trustDomain}, {@link PolicyEngine.Builder#trustDomainAliases})
 * decide at L7 as istiod's builder makes Envoy decide (pilot/pkg/security/authz/builder/builder.go calls
 * authz/model MigrateTrustDomain with NewBundle(meshConfig.trustDomain, meshConfig.trustDomainAliases) for every rule:
 * pilot/pkg/security/trustdomain/bundle.go ReplaceTrustDomainAliases for principals, ExpandTrustDomainAliases for trust
 * domains), and at L4 as ztunnel decides, with the values as written (pilot/pkg/serviceregistry/ambient/authorization.go
 * handleRule passes principals through stringToMatch unchanged, and istio/ztunnel src/rbac.rs has no alias handling).
 * The first cases are istio/istio pilot/pkg/security/authz/builder/builder_test.go TestGenerator_GenerateHTTP's
 * trust-domain cases with their testdata (http/*-in.yaml and *-out.yaml), decided for the principals their golden
 * output lists; the testdata's names {@code rule[0]}, {@code from[1]}... are written {@code rule-0}, {@code from-1}
 * (a SPIFFE ID cannot carry brackets) and HTTP fields irrelevant to the principals are left out.
 */
class TrustDomainAliasTest {

    private static PolicyEngine engine(List<String> bundle, String yaml) throws PolicyLoadException {
        return PolicyEngine.builder().trustDomain(bundle.get(0)).trustDomainAliases(bundle.subList(1, bundle.size()))
                .policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    private static String policy(String ns, String action, String rules) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: " + ns + "}\n"
                + "spec: {selector: {matchLabels: {app: httpbin}}, action: " + action + ", rules: " + rules + "}\n";
    }

    private static R foo(String principal) {
        return r().dest("foo", "httpbin", Map.of("app", "httpbin")).principal(principal);
    }

    private static boolean l7(PolicyEngine e, String principal) {
        return e.evaluate(foo(principal).http("GET", "/").build()).allowed();
    }

    private static boolean l4(PolicyEngine e, String principal) {
        return e.evaluate(foo(principal).build()).allowed();
    }

    @Test
    void builderTestTrustDomainOneAlias() throws Exception {
        // trust-domain-one-alias: NewBundle("td1", ["cluster.local"]), simple-policy-td-aliases-in.yaml rule 0 from[0]:
        // the output lists spiffe://td1/ns/rule[0]/sa/from[0]-principal[0] and spiffe://cluster.local/....
        PolicyEngine e = engine(List.of("td1", "cluster.local"),
                policy("foo", "ALLOW", "[{from: [{source: {principals: ['cluster.local/ns/rule-0/sa/from-0-principal-0']}}]}]"));
        assertThat(l7(e, "spiffe://td1/ns/rule-0/sa/from-0-principal-0")).isTrue();
        assertThat(l7(e, "spiffe://cluster.local/ns/rule-0/sa/from-0-principal-0")).isTrue();
        assertThat(l7(e, "spiffe://td2/ns/rule-0/sa/from-0-principal-0")).isFalse();
        // ztunnel: as written.
        assertThat(l4(e, "spiffe://td1/ns/rule-0/sa/from-0-principal-0")).isFalse();
        assertThat(l4(e, "spiffe://cluster.local/ns/rule-0/sa/from-0-principal-0")).isTrue();
    }

    @Test
    void builderTestTrustDomainMultipleAliases() throws Exception {
        // trust-domain-multiple-aliases: NewBundle("td1", ["cluster.local", "some-td"]), simple-policy-multiple-td-aliases:
        // cluster.local/... and some-td/... each become td1, cluster.local and some-td (from[1]'s namespaces left out).
        PolicyEngine e = engine(List.of("td1", "cluster.local", "some-td"), policy("foo", "ALLOW",
                "[{from: [{source: {principals: ['cluster.local/ns/rule-0/sa/from-0-principal-0']}},"
                        + " {source: {principals: ['some-td/ns/rule-0/sa/from-1-principal-0']}}]}]"));
        for (String td : List.of("td1", "cluster.local", "some-td")) {
            assertThat(l7(e, "spiffe://" + td + "/ns/rule-0/sa/from-0-principal-0")).as(td).isTrue();
            assertThat(l7(e, "spiffe://" + td + "/ns/rule-0/sa/from-1-principal-0")).as(td).isTrue();
        }
        assertThat(l7(e, "spiffe://other-td/ns/rule-0/sa/from-0-principal-0")).isFalse();
        assertThat(l4(e, "spiffe://td1/ns/rule-0/sa/from-1-principal-0")).isFalse();
        assertThat(l4(e, "spiffe://some-td/ns/rule-0/sa/from-1-principal-0")).isTrue();
    }

    @Test
    void builderTestTrustDomainWildcardInPrincipal() throws Exception {
        // trust-domain-wildcard-in-principal: NewBundle("td1", ["foobar"]), simple-policy-principal-with-wildcard:
        // */ns/foo/sa/p0 stays a regex over any trust domain; *bar/ns/foo/sa/p1 gives exact spiffe://td1/... and keeps
        // the regex spiffe://.*bar/... (foobar ends in bar).
        PolicyEngine e = engine(List.of("td1", "foobar"), policy("foo", "ALLOW",
                "[{from: [{source: {principals: ['*/ns/foo/sa/rule-0-from-1-principal-0', '*bar/ns/foo/sa/rule-0-from-1-principal-1']}}]}]"));
        assertThat(l7(e, "spiffe://anything/ns/foo/sa/rule-0-from-1-principal-0")).isTrue();
        assertThat(l7(e, "spiffe://td1/ns/foo/sa/rule-0-from-1-principal-1")).isTrue();
        assertThat(l7(e, "spiffe://foobar/ns/foo/sa/rule-0-from-1-principal-1")).isTrue();
        assertThat(l7(e, "spiffe://xbar/ns/foo/sa/rule-0-from-1-principal-1")).isTrue();
        assertThat(l7(e, "spiffe://td2/ns/foo/sa/rule-0-from-1-principal-1")).isFalse();
        assertThat(l4(e, "spiffe://td1/ns/foo/sa/rule-0-from-1-principal-1")).isFalse();
    }

    /** The known gap this closes: trust domain example.org, alias old-td. */
    @Test
    void denyOfClusterLocalDeniesTheMeshTrustDomainAtL7AsAWaypointDoes() throws Exception {
        PolicyEngine e = engine(List.of("example.org", "old-td"),
                policy("foo", "DENY", "[{from: [{source: {principals: ['cluster.local/ns/legacy/sa/old']}}]}]"));
        // ReplaceTrustDomainAliases: cluster.local (the pointer to the local trust domain) becomes example.org and old-td.
        assertThat(l7(e, "spiffe://example.org/ns/legacy/sa/old")).isFalse();
        assertThat(l7(e, "spiffe://old-td/ns/legacy/sa/old")).isFalse();
        // ...and only those: cluster.local is not in the bundle, so Envoy no longer denies it.
        assertThat(l7(e, "spiffe://cluster.local/ns/legacy/sa/old")).isTrue();
        assertThat(l7(e, "spiffe://example.org/ns/legacy/sa/new")).isTrue();
        // ztunnel gets cluster.local/ns/legacy/sa/old as written.
        assertThat(l4(e, "spiffe://cluster.local/ns/legacy/sa/old")).isFalse();
        assertThat(l4(e, "spiffe://example.org/ns/legacy/sa/old")).isTrue();
        Decision d = e.evaluate(foo("spiffe://example.org/ns/legacy/sa/old").http("GET", "/").build());
        assertThat(d.explain()).isEqualTo("DENY by foo/p (AuthorizationPolicy DENY, rule 0): source.principal"
                + " cluster.local/ns/legacy/sa/old matched (principals and trust domains read for the mesh's trust domains"
                + " example.org, old-td, as istiod rewrites them)");
        assertThat(e.evaluate(foo("spiffe://cluster.local/ns/legacy/sa/old").build()).explain()).isEqualTo(
                "DENY by foo/p (AuthorizationPolicy DENY, rule 0): source.principal cluster.local/ns/legacy/sa/old matched");
        // Before any HTTP data, neither is denied for sure: each is denied at one level only.
        assertThat(e.denialBeforeHttp(foo("spiffe://example.org/ns/legacy/sa/old").build())).isNull();
        assertThat(e.denialBeforeHttp(foo("spiffe://cluster.local/ns/legacy/sa/old").build())).isNull();
        assertThat(e.denialBeforeHttp(foo("spiffe://old-td/ns/legacy/sa/old").build())).isNull();
    }

    /**
     * A connection to a port decided per request that is not HTTP ({@code evaluateUnparsed}; zerohop's fail-closed
     * reading, beyond ztunnel): a DENY's principal matches as written (ztunnel) or rewritten (a sidecar's TCP filter,
     * which istiod builds after MigrateTrustDomain too), so the legacy identity cannot dodge the DENY by not speaking
     * HTTP. And before any data ({@code denialBeforeHttp}), an ALLOW written with the alias is no reason to deny the
     * mesh's own identity: its first request may be allowed.
     */
    @Test
    void anUnparsedConnectionMatchesAPrincipalEitherWay() throws Exception {
        PolicyEngine e = engine(List.of("example.org", "old-td"), policy("foo", "DENY",
                "[{from: [{source: {principals: ['cluster.local/ns/legacy/sa/old']}}], to: [{operation: {paths: ['/*']}}]},"
                        + " {when: [{key: source.principal, values: ['cluster.local/ns/legacy/sa/older']}, {key: 'request.headers[x]', values: ['*']}]}]"));
        assertThat(e.evaluateUnparsed(foo("spiffe://example.org/ns/legacy/sa/old").build()).allowed()).isFalse();
        assertThat(e.evaluateUnparsed(foo("spiffe://cluster.local/ns/legacy/sa/old").build()).allowed()).isFalse();
        assertThat(e.evaluateUnparsed(foo("spiffe://example.org/ns/legacy/sa/older").build()).allowed()).isFalse();
        assertThat(e.evaluateUnparsed(foo("spiffe://example.org/ns/prod/sa/frontend").build()).allowed()).isTrue();
        PolicyEngine allow = engine(List.of("example.org", "old-td"), policy("foo", "ALLOW",
                "[{from: [{source: {principals: ['old-td/ns/prod/sa/frontend']}}], to: [{operation: {methods: ['GET']}}]}]"));
        assertThat(allow.denialBeforeHttp(foo("spiffe://example.org/ns/prod/sa/frontend").build())).isNull();
        assertThat(l7(allow, "spiffe://example.org/ns/prod/sa/frontend")).isTrue();
        assertThat(allow.denialBeforeHttp(foo("spiffe://example.org/ns/prod/sa/other").build())).isNotNull();
    }

    @Test
    void sourcePrincipalConditionAndNotPrincipalsAreMigratedToo() throws Exception {
        PolicyEngine when = engine(List.of("example.org", "old-td"), policy("foo", "DENY",
                "[{when: [{key: source.principal, values: ['old-td/ns/legacy/sa/old']}]}]"));
        assertThat(l7(when, "spiffe://example.org/ns/legacy/sa/old")).isFalse();
        assertThat(l4(when, "spiffe://example.org/ns/legacy/sa/old")).isTrue();
        PolicyEngine not = engine(List.of("example.org", "old-td"), policy("foo", "ALLOW",
                "[{from: [{source: {notPrincipals: ['cluster.local/ns/legacy/sa/old']}}]}]"));
        assertThat(l7(not, "spiffe://example.org/ns/legacy/sa/old")).isFalse();
        assertThat(l7(not, "spiffe://example.org/ns/prod/sa/web")).isTrue();
    }

    @Test
    void allowWrittenWithTheAliasAdmitsTheCurrentTrustDomainAtL7() throws Exception {
        PolicyEngine e = engine(List.of("example.org", "old-td"),
                policy("foo", "ALLOW", "[{from: [{source: {principals: ['old-td/ns/prod/sa/frontend']}}]}]"));
        assertThat(l7(e, "spiffe://example.org/ns/prod/sa/frontend")).isTrue();
        assertThat(l7(e, "spiffe://old-td/ns/prod/sa/frontend")).isTrue();
        assertThat(l7(e, "spiffe://cluster.local/ns/prod/sa/frontend")).isFalse();
        assertThat(l4(e, "spiffe://example.org/ns/prod/sa/frontend")).isFalse();
    }

    @Test
    void trustDomainValuesAreExpandedAtL7() throws Exception {
        // ExpandTrustDomainAliases, applied by MigrateTrustDomain to source.trustDomains and when source.trustDomain.
        PolicyEngine allow = engine(List.of("example.org", "old-td"),
                policy("foo", "ALLOW", "[{from: [{source: {trustDomains: ['old-td']}}]}]"));
        assertThat(l7(allow, "spiffe://example.org/ns/prod/sa/frontend")).isTrue();
        assertThat(l7(allow, "spiffe://cluster.local/ns/prod/sa/frontend")).isFalse();
        PolicyEngine deny = engine(List.of("example.org", "old-td"),
                policy("foo", "DENY", "[{when: [{key: source.trustDomain, values: ['old-td']}]}]"));
        assertThat(l7(deny, "spiffe://example.org/ns/prod/sa/frontend")).isFalse();
        assertThat(l7(deny, "spiffe://other.org/ns/prod/sa/frontend")).isTrue();
        PolicyEngine notTd = engine(List.of("example.org", "old-td"),
                policy("foo", "ALLOW", "[{from: [{source: {notTrustDomains: ['example.org']}}]}]"));
        assertThat(l7(notTd, "spiffe://old-td/ns/prod/sa/frontend")).isFalse();
        assertThat(l7(notTd, "spiffe://other.org/ns/prod/sa/frontend")).isTrue();
    }

    @Test
    void theDefaultIsIstiodsClusterLocalWithoutAliases() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                policy("foo", "DENY", "[{from: [{source: {principals: ['cluster.local/ns/legacy/sa/old']}}]}]"))).build();
        assertThat(e.trustDomains()).containsExactly("cluster.local");
        assertThat(l7(e, "spiffe://cluster.local/ns/legacy/sa/old")).isFalse();
        assertThat(l7(e, "spiffe://example.org/ns/legacy/sa/old")).isTrue();
    }

    @Test
    void settingTheTrustDomainsLaterRecompilesTheSetInForceAndTheNextOnes() throws Exception {
        String yaml = policy("foo", "DENY", "[{from: [{source: {principals: ['cluster.local/ns/legacy/sa/old']}}]}]");
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
        e.trustDomains("example.org", List.of("old-td"));
        assertThat(e.trustDomains()).containsExactly("example.org", "old-td");
        assertThat(l7(e, "spiffe://example.org/ns/legacy/sa/old")).isFalse();
        e.replace(PolicyLoader.fromString("q.yaml", yaml.replace("legacy", "other")));
        assertThat(l7(e, "spiffe://example.org/ns/other/sa/old")).isFalse();
        assertThat(l7(e, "spiffe://example.org/ns/legacy/sa/old")).isTrue();
        // The same again is a no-op; another bundle is refused (one engine cannot serve two readings).
        e.trustDomains("example.org", List.of("old-td"));
        assertThatThrownBy(() -> e.trustDomains("example.org", List.of()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("this policy engine's trust domains are example.org with aliases [old-td], set before; "
                        + "cannot change them to example.org without aliases");
        PolicyEngine built = PolicyEngine.builder().trustDomain("example.org").build();
        assertThatThrownBy(() -> built.trustDomains("other.org", List.of())).isInstanceOf(IllegalStateException.class);
    }

    /**
     * The rewriting happens once, when a set is installed (as istiod's, when it builds the filter): deciding with
     * aliases allocates nothing per request. Bytes counted by the JVM for this thread (exact, load-independent);
     * one object per decision would be at least 16 bytes each, 320,000 for these 20,000 decisions.
     */
    @Test
    void decidingWithAliasesAllocatesNothing() throws Exception {
        PolicyEngine e = engine(List.of("example.org", "old-td"), policy("foo", "DENY",
                "[{from: [{source: {principals: ['cluster.local/ns/legacy/sa/old', 'old-td/ns/legacy/sa/older']}}]},"
                        + " {when: [{key: source.principal, notValues: ['cluster.local/ns/prod/sa/web']}, {key: source.trustDomain, values: [old-td]}]}]"));
        AccessRequest denied = foo("spiffe://example.org/ns/legacy/sa/old").http("GET", "/").build();
        AccessRequest allowed = foo("spiffe://example.org/ns/prod/sa/web").http("GET", "/").build();
        // By reflection: the tests compile in module io.zerohop.policy, which reads neither java.management nor
        // jdk.management; they run on the class path, which reads both.
        Object mx = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
        java.lang.reflect.Method allocated = Class.forName("com.sun.management.ThreadMXBean").getMethod("getCurrentThreadAllocatedBytes");
        int n = 10_000;
        boolean sink = false;
        for (int i = 0; i < 5 * n; i++) {
            sink ^= e.evaluate(denied).allowed() ^ e.evaluate(allowed).allowed();
        }
        long before = (long) allocated.invoke(mx);
        for (int i = 0; i < n; i++) {
            sink ^= e.evaluate(denied).allowed() ^ e.evaluate(allowed).allowed();
        }
        long bytes = (long) allocated.invoke(mx) - before;
        assertThat(e.evaluate(denied).allowed()).isFalse();
        assertThat(e.evaluate(allowed).allowed()).isTrue();
        assertThat(bytes).as("bytes allocated by %d decisions (sink %s)", 2 * n, sink).isLessThan(n);
    }

    @Test
    void aBadNameIsRefusedNamingIt() {
        assertThatThrownBy(() -> PolicyEngine.builder().trustDomainAliases(List.of("old-td", "Old_TD")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid trust domain alias \"Old_TD\": character 'O' at 0");
        assertThatThrownBy(() -> PolicyEngine.builder().trustDomain("*.org"))
                .hasMessageStartingWith("invalid trust domain \"*.org\"");
        assertThatThrownBy(() -> PolicyEngine.builder().build().trustDomains("example.org", List.of("")))
                .hasMessage("invalid trust domain alias \"\": empty");
    }
}
