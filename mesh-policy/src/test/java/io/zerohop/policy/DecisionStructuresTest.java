package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static io.zerohop.policy.ConformanceTest.cnp;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The structures evaluation precomputes (zerohop's own, see the module README "Performance") never
 * change a decision: long exact value lists answered from a hash set, the per-destination passes
 * split by action with their no-match answer, the path read only when a rule in scope has paths,
 * and the per-destination selection found again for a new but equal {@link WorkloadRef}. Each case
 * is checked against a plain reading of Istio's string match (exact, {@code prefix*},
 * {@code *suffix}, {@code *} = non-empty; istio {@code pilot/pkg/security/authz/matcher/string.go}).
 */
class DecisionStructuresTest {

    /** Istio's string match, written out as the reference. */
    private static boolean istioMatch(String pattern, String v) {
        if (v == null) {
            return false;
        }
        if (pattern.equals("*")) {
            return !v.isEmpty();
        }
        if (pattern.startsWith("*")) {
            return v.endsWith(pattern.substring(1));
        }
        if (pattern.endsWith("*")) {
            return v.startsWith(pattern.substring(0, pattern.length() - 1));
        }
        return v.equals(pattern);
    }

    private static boolean anyMatch(List<String> patterns, String v) {
        for (String p : patterns) {
            if (istioMatch(p, v)) {
                return true;
            }
        }
        return false;
    }

    /** The namespace of {@code spiffe://td/ns/NS/sa/SA}, null for another form. */
    private static String namespaceOf(String principal) {
        int ns = principal.indexOf("/ns/", "spiffe://".length());
        int sa = ns < 0 ? -1 : principal.indexOf("/sa/", ns + 4);
        return sa < 0 ? null : principal.substring(ns + 4, sa);
    }

    private static String yamlList(List<String> values) {
        StringBuilder sb = new StringBuilder("[");
        for (String v : values) {
            sb.append(sb.length() == 1 ? "" : ", ").append('"').append(v).append('"');
        }
        return sb.append(']').toString();
    }

    /** {@code size} values: mostly exact names, some {@code prefix*}, {@code *suffix}, a case variant and a duplicate. */
    private static List<String> values(Random rnd, int size, String shape) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            int k = rnd.nextInt(40);
            String name = shape.formatted("n" + k);
            int kind = rnd.nextInt(10);
            out.add(kind == 0 ? name.substring(0, Math.max(1, name.length() - 2)) + "*"
                    : kind == 1 ? "*" + name.substring(Math.min(name.length() - 1, 3))
                    : kind == 2 ? name.toUpperCase(java.util.Locale.ROOT) : name);
        }
        if (size > 1) {
            out.add(out.get(0));
        }
        return out;
    }

    private static List<String> queries(String shape) {
        List<String> q = new ArrayList<>();
        for (int k = 0; k < 45; k++) {
            q.add(shape.formatted("n" + k));
        }
        q.add(shape.formatted("N1"));
        // No empty name: a principal with an empty segment (.../ns//sa/x, .../sa/) is no peer's SPIFFE ID, and
        // AccessRequest refuses it as java-spiffe does (AccessRequestTest).
        return q;
    }

    private static AccessRequest request(String principal) {
        return AccessRequest.builder().sourcePrincipal(principal).sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                .destinationPort(8080).destination(new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend")))
                .build();
    }

    @ParameterizedTest(name = "{0} principals")
    @ValueSource(ints = {1, 7, 8, 9, 64, 300})
    void principalListsDecideAsAScan(int size) throws Exception {
        Random rnd = new Random(size);
        for (int round = 0; round < 5; round++) {
            List<String> allow = values(rnd, size, "cluster.local/ns/prod/sa/%s");
            List<String> notDeny = values(rnd, size, "cluster.local/ns/prod/sa/%s");
            PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                    ap("prod", "allow", "{rules: [{from: [{source: {principals: " + yamlList(allow) + "}}]}]}")
                            + ap("prod", "deny", "{action: DENY, rules: [{from: [{source: {notPrincipals: "
                            + yamlList(notDeny) + "}}]}]}"))).build();
            for (String id : queries("cluster.local/ns/prod/sa/%s")) {
                Decision d = e.evaluate(request("spiffe://" + id));
                boolean denied = !anyMatch(notDeny, id);
                assertThat(d.allowed()).as("%s (allow %s, deny notPrincipals %s)", id, allow, notDeny)
                        .isEqualTo(!denied && anyMatch(allow, id));
                assertThat(d.explain()).contains(denied ? "prod/deny" : anyMatch(allow, id) ? "prod/allow" : "prod/allow");
            }
        }
    }

    @ParameterizedTest(name = "{0} namespaces")
    @ValueSource(ints = {1, 7, 8, 9, 64})
    void namespaceListsDecideAsAScan(int size) throws Exception {
        Random rnd = new Random(100 + size);
        for (int round = 0; round < 5; round++) {
            List<String> allow = values(rnd, size, "%s");
            List<String> notDeny = values(rnd, size, "%s");
            notDeny.add("n0");
            PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                    ap("prod", "allow", "{rules: [{from: [{source: {namespaces: " + yamlList(allow) + "}}]}]}")
                            + ap("prod", "deny", "{action: DENY, rules: [{from: [{source: {notNamespaces: "
                            + yamlList(notDeny) + "}}]}]}"))).build();
            List<String> principals = new ArrayList<>();
            for (String ns : queries("%s")) {
                principals.add("spiffe://cluster.local/ns/" + ns + "/sa/client");
                principals.add("spiffe://other.td/ns/" + ns + "/sa/sa/x");
            }
            principals.add("spiffe://example.org/workload/vm-1");
            principals.add("spiffe://cluster.local/ns/n0");
            for (String p : principals) {
                String ns = namespaceOf(p);
                boolean denied = !anyMatch(notDeny, ns);
                assertThat(e.evaluate(request(p)).allowed()).as("%s (allow %s, deny notNamespaces %s)", p, allow, notDeny)
                        .isEqualTo(!denied && anyMatch(allow, ns));
            }
        }
    }

    @Test
    void aLongListWithAWildcardStillMatchesEveryone() throws Exception {
        List<String> allow = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            allow.add("cluster.local/ns/prod/sa/s" + i);
        }
        allow.add("*");
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                ap("prod", "allow", "{rules: [{from: [{source: {principals: " + yamlList(allow) + "}}]}]}"))).build();
        assertThat(e.evaluate(request("spiffe://elsewhere/x")).allowed()).isTrue();
        // A plaintext peer has no principal: even "*" does not match it (ztunnel's tests).
        assertThat(e.evaluate(request("spiffe://cluster.local/ns/prod/sa/s3")).allowed()).isTrue();
        AccessRequest plain = AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                .destinationPort(8080).destination(new WorkloadRef("prod", "backend", "backend", Map.of())).build();
        assertThat(e.evaluate(plain).allowed()).isFalse();
    }

    @Test
    void denyBeforeAllowAndTheDefaultDenyOfAnAllowWithLongLists() throws Exception {
        List<String> allow = new ArrayList<>();
        List<String> deny = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            allow.add("cluster.local/ns/prod/sa/s" + i);
            if (i % 5 == 0) {
                deny.add("cluster.local/ns/prod/sa/s" + i);
            }
        }
        deny.addAll(List.of("cluster.local/ns/prod/sa/x1", "cluster.local/ns/prod/sa/x2", "cluster.local/ns/prod/sa/x3"));
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                ap("prod", "allow", "{rules: [{from: [{source: {principals: " + yamlList(allow) + "}}]}]}")
                        + ap("prod", "deny", "{action: DENY, rules: [{from: [{source: {principals: " + yamlList(deny) + "}}]}]}")))
                .build();
        Decision denied = e.evaluate(request("spiffe://cluster.local/ns/prod/sa/s10"));
        assertThat(denied.outcome()).isEqualTo(Decision.Outcome.DENIED_BY_RULE);
        assertThat(denied.explain()).contains("prod/deny");
        assertThat(e.evaluate(request("spiffe://cluster.local/ns/prod/sa/s11")).outcome()).isEqualTo(Decision.Outcome.ALLOWED_BY_RULE);
        Decision none = e.evaluate(request("spiffe://cluster.local/ns/prod/sa/s50"));
        assertThat(none.outcome()).isEqualTo(Decision.Outcome.DENIED_DEFAULT);
        assertThat(none.explain()).contains("prod/allow");
    }

    @Test
    void anEncodedNulIsRefusedWhereNoRuleReadsThePathAndAQueryIsNoPathChange() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                ap("prod", "allow", "{rules: [{to: [{operation: {methods: [GET]}}]}]}"))).build();
        AccessRequest base = request("spiffe://cluster.local/ns/prod/sa/a");
        assertThat(e.evaluate(base.withHttp(HttpAttributes.of("GET", "/a%00b"))).allowed()).isFalse();
        assertThat(e.evaluate(base.withHttp(HttpAttributes.of("GET", "/a%00b"))).explain()).contains("%00");
        assertThat(e.evaluate(base.withHttp(HttpAttributes.of("GET", "/a?q=%00"))).allowed()).isTrue();
        assertThat(e.evaluate(base.withHttp(HttpAttributes.of("GET", "/a/../b%2F?x=1#f"))).allowed()).isTrue();
        assertThat(e.evaluate(base.withHttp(HttpAttributes.of("POST", "/a"))).allowed()).isFalse();
        // With a paths rule in scope the path is normalised first (query dropped, dot segments removed).
        PolicyEngine p = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                ap("prod", "allow", "{rules: [{to: [{operation: {paths: [/b]}}]}]}"))).build();
        assertThat(p.evaluate(base.withHttp(HttpAttributes.of("GET", "/a/../b?x=1"))).allowed()).isTrue();
        assertThat(p.evaluate(base.withHttp(HttpAttributes.of("GET", "/b%00"))).allowed()).isFalse();
    }

    @Test
    void refsSharingALabelsMapAreSelectedByNamespaceAndServiceAccountToo() throws Exception {
        Map<String, String> labels = Map.of("app", "backend");
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                ap("prod", "allow", "{selector: {matchLabels: {app: backend}}, rules: [{from: [{source: {namespaces: [prod]}}]}]}")
                        + cnp("staging", "only-sa-a", "{endpointSelector: {matchLabels: {io.cilium.k8s.policy.serviceaccount: a}}, "
                        + "ingress: [{fromEntities: [world]}]}"))).build();
        String outsider = "spiffe://cluster.local/ns/other/sa/x";
        for (int i = 0; i < 3; i++) {
            // Same labels instance, different namespaces and service accounts: each its own selection.
            assertThat(e.evaluate(at(outsider, new WorkloadRef("prod", "b", "a", labels))).allowed()).isFalse();
            assertThat(e.evaluate(at(outsider, new WorkloadRef("staging", "b", "a", labels))).allowed()).isFalse();
            assertThat(e.evaluate(at(outsider, new WorkloadRef("staging", "b", "b", labels))).allowed()).isTrue();
            assertThat(e.evaluate(at(outsider, new WorkloadRef("test", "b", "a", labels))).allowed()).isTrue();
            // Label-less refs share Map.of()'s instance.
            assertThat(e.evaluate(at(outsider, new WorkloadRef("staging", "b", "a", Map.of()))).allowed()).isFalse();
            assertThat(e.evaluate(at(outsider, new WorkloadRef("staging", "b", "c", Map.of()))).allowed()).isTrue();
            assertThat(e.evaluate(at(outsider, new WorkloadRef("prod", "b", "a", Map.of()))).allowed()).isTrue();
            // Equal labels in another map instance.
            assertThat(e.evaluate(at(outsider, new WorkloadRef("prod", "b", "a", new java.util.HashMap<>(labels)))).allowed()).isFalse();
        }
    }

    private static AccessRequest at(String principal, WorkloadRef dest) {
        return AccessRequest.builder().sourcePrincipal(principal).sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                .destinationPort(8080).destination(dest).build();
    }

    @Test
    void ciliumDefaultDenyAndDryRunAreUnchangedByTheSplitPasses() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                ap("prod", "dry-deny", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/a]}}]}]}")
                        .replace("metadata: {", "metadata: {annotations: {istio.io/dry-run: \"true\"}, ")
                        + ap("prod", "dry-allow", "{rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/b]}}]}]}")
                        .replace("metadata: {", "metadata: {annotations: {istio.io/dry-run: \"true\"}, ")
                        + cnp("prod", "cnp", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEntities: [cluster], "
                        + "toPorts: [{ports: [{port: \"9090\"}]}]}]}"))).build();
        AccessRequest a = request("spiffe://cluster.local/ns/prod/sa/a");
        // Dry-run policies never decide: only Cilium's default deny on 8080 does.
        Decision d = e.evaluate(a);
        assertThat(d.allowed()).isFalse();
        assertThat(d.explain()).contains("prod/cnp");
        assertThat(d.dryRun()).isNotNull();
        assertThat(d.explain()).contains("would DENY by prod/dry-deny");
        AccessRequest on9090 = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/c").sourceAddress("10.0.0.1")
                .destinationAddress("10.0.0.2").destinationPort(9090).destination(a.destination()).build();
        Decision c = e.evaluate(on9090);
        assertThat(c.allowed()).isTrue();
        // The dry-run ALLOW would have applied, and matched nothing for sa/c.
        assertThat(c.explain()).contains("would DENY by prod/dry-allow");
    }

    @Test
    void theNamespaceFoundOnceAnswersCiliumAndIstioAsEachCheckAlone() throws Exception {
        // An Istio namespace source and a Cilium "this namespace" selector on one destination: both read
        // the peer's namespace found once per decision (Peer.parts).
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml",
                ap("prod", "deny-legacy", "{action: DENY, rules: [{from: [{source: {namespaces: [legacy]}}]}]}")
                        + cnp("prod", "same-ns", "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{fromEndpoints: [{}]}]}")))
                .build();
        Map<String, Boolean> cases = new java.util.LinkedHashMap<>();
        cases.put("spiffe://cluster.local/ns/prod/sa/x", true);
        // Six segments: no single namespace and service account, unknown to Cilium's "this namespace" (fail
        // closed, IrregularSpiffeIdTest); until 1 December the first /ns/ to the first /sa/ made it prod.
        cases.put("spiffe://other.td/ns/prod/sa/sa/x", false);
        cases.put("spiffe://cluster.local/ns/prodx/sa/x", false);
        cases.put("spiffe://cluster.local/ns/pro/sa/x", false);
        cases.put("spiffe://cluster.local/ns/prod", false);
        cases.put("spiffe://cluster.local/workload/prod", false);
        // Not spiffe://TD/ns/NS/sa/SA: istiod's namespace regex (.*/ns/legacy/.*) matches it, so the DENY
        // applies (IrregularSpiffeIdTest); until 1 December only the first /ns/ was read and it was allowed.
        cases.put("spiffe://cluster.local/ns/prod/sa/x/ns/legacy/sa/y", false);
        cases.put("spiffe://cluster.local/ns/legacy/sa/prod", false);
        for (Map.Entry<String, Boolean> c : cases.entrySet()) {
            Decision d = e.evaluate(request(c.getKey()));
            assertThat(d.allowed()).as(c.getKey() + ": " + d.explain()).isEqualTo(c.getValue());
        }
        assertThat(e.evaluate(request("spiffe://cluster.local/ns/legacy/sa/prod")).explain()).contains("prod/deny-legacy");
        // Plaintext: the registry's workload namespace (no principal to read it from).
        AccessRequest.Builder plain = AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                .destinationPort(8080).destination(new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend")));
        assertThat(e.evaluate(plain.sourceWorkload(new WorkloadRef("prod", "w", "w", Map.of())).build()).allowed()).isTrue();
        assertThat(e.evaluate(plain.sourceWorkload(new WorkloadRef("staging", "w", "w", Map.of())).build()).allowed()).isFalse();
    }

    /** The Cilium :path is copied only when its path part changes: a query string alone costs no allocation. */
    @Test
    void ciliumPathIsTheSameStringUnlessItsPathPartChanges() {
        for (String raw : List.of("/api/v1?x=1&y=/z/../w", "/a/b", "/", "/a.b/c?d")) {
            assertThat(io.zerohop.policy.internal.PathNormalizer.forCilium(raw)).isSameAs(raw);
        }
        assertThat(io.zerohop.policy.internal.PathNormalizer.forCilium("/a/../b?q=1")).isEqualTo("/b?q=1");
        assertThat(io.zerohop.policy.internal.PathNormalizer.forCilium("//a%2Fb#frag")).isEqualTo("/a/b");
    }
}
