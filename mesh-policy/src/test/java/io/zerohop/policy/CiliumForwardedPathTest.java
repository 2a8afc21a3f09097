package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Which proxy's path handling a destination gets, and Cilium's. Cilium runs its Envoy's HTTP connection
 * manager with {@code normalize_path}, {@code merge_slashes} and {@code path_with_escaped_slashes_action:
 * UNESCAPE_AND_REDIRECT} (cilium/cilium pkg/envoy/xds_server.go {@code getHttpFilterChainProto}, under
 * {@code http-normalize-path}, on by default), so what it forwards is the path its rules matched, slashes
 * merged, and a path with {@code %2F}/{@code %5C} is redirected, never forwarded. Istio's Envoy merges no
 * slashes and keeps escaped slashes ({@code BASE}). Before 1 December a destination only Cilium's rules
 * decide got Istio's forwarding: {@code /public//x} went to the application unmerged though the rule
 * matched {@code /public/x}, and {@code /x%2F..%2Fpublic/y}, matched as {@code /public/y}, went as sent.
 */
class CiliumForwardedPathTest {
    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));
    static final String CNP = ConformanceTest.cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: "
            + "[{toPorts: [{ports: [{port: '8080', protocol: TCP}], rules: {http: [{method: GET, path: '/public/.*'}]}}]}]}");

    static PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    @Test
    void aDestinationCiliumHttpRulesApplyToIsCiliumHttp() throws Exception {
        PolicyEngine cilium = engine(CNP);
        assertThat(cilium.ciliumHttp(BACKEND, 8080)).isTrue();
        assertThat(cilium.ciliumHttp(BACKEND, 8081)).as("no HTTP rule there: not parsed at all").isFalse();
        assertThat(cilium.ciliumHttp(new WorkloadRef("prod", "other", "other", Map.of("app", "other")), 8080)).isFalse();
        for (String action : new String[] {"ALLOW", "DENY", "AUDIT"}) {
            PolicyEngine both = engine(CNP + ConformanceTest.ap("prod", "a", "{selector: {matchLabels: {app: backend}}, action: "
                    + action + ", rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/x]}}]}]}"));
            // Cilium's Envoy is in front whatever else applies (until 2 December an AuthorizationPolicy switched it off).
            assertThat(both.ciliumHttp(BACKEND, 8080)).as("an AuthorizationPolicy " + action + " selects it too").isTrue();
        }
        assertThat(engine("").ciliumHttp(BACKEND, 8080)).isFalse();
    }

    /** Envoy's pipeline (path_utility.cc unescapeSlashes, canonicalPath, mergeSlashes), the query kept. */
    @Test
    void ciliumsForwardedTargetMergesSlashesAfterNormalising() {
        assertThat(HttpAttributes.ciliumTarget("/public/x")).isEqualTo("/public/x");
        assertThat(HttpAttributes.ciliumTarget("/public//x")).isEqualTo("/public/x");
        assertThat(HttpAttributes.normalizedTarget("/public//x")).as("Istio's BASE keeps them").isEqualTo("/public//x");
        assertThat(HttpAttributes.ciliumTarget("//public/./a/../x?q=//1")).isEqualTo("/public/x?q=//1");
        assertThat(HttpAttributes.ciliumTarget("/x%2F..%2Fpublic/y")).isEqualTo("/public/y");
        assertThat(HttpAttributes.normalizedTarget("/x%2F..%2Fpublic/y")).isEqualTo("/x%2F..%2Fpublic/y");
        assertThat(HttpAttributes.ciliumTarget("/a%5c..%5Cpublic")).isEqualTo("/public");
        assertThat(HttpAttributes.ciliumTarget("/a%00")).isNull();
    }

    @Test
    void escapedSlashesAreFoundInThePathOnly() {
        assertThat(HttpAttributes.hasEscapedSlash("/a%2Fb")).isTrue();
        assertThat(HttpAttributes.hasEscapedSlash("/a%2fb")).isTrue();
        assertThat(HttpAttributes.hasEscapedSlash("/a%5cb")).isTrue();
        assertThat(HttpAttributes.hasEscapedSlash("/a%5Cb")).isTrue();
        assertThat(HttpAttributes.hasEscapedSlash("/a%2Eb")).isFalse();
        assertThat(HttpAttributes.hasEscapedSlash("/a?b=%2F")).as("in the query").isFalse();
        assertThat(HttpAttributes.hasEscapedSlash("/a%2")).isFalse();
    }

    /**
     * A port's {@code rules.http} list of several entries, over two ports: the path is normalised once per decision and
     * read by every entry with a path (until 3 December each entry normalised it again), an entry for another method
     * skipped before that, and a path Envoy rejects ({@code %00}) matched by no entry, whatever the method.
     */
    @Test
    void everyEntryOfAnHttpListReadsTheOnePathCiliumsEnvoySees() throws Exception {
        PolicyEngine e = engine(ConformanceTest.cnp("prod", "c", "{endpointSelector: {matchLabels: {app: backend}}, ingress: "
                + "[{toPorts: [{ports: [{port: '8080', protocol: TCP}], rules: {http: [{method: PUT, path: '/avatar'}, "
                + "{method: GET, path: '/public/.*'}, {method: GET, path: '/private', headers: ['X-Admin: yes']}]}}, "
                + "{ports: [{port: '8080', protocol: TCP}], rules: {http: [{method: DELETE}, {path: '/health'}]}}]}]}"));
        String[][] cases = {
            // method, path, header X-Admin (or null), allowed
            {"GET", "/public//x", null, "true"},
            {"GET", "/x%2F..%2Fpublic/y", null, "true"},
            {"GET", "/public/x%00", null, "false"},
            {"PUT", "//avatar", null, "true"},
            {"PUT", "/public/x", null, "false"},
            {"GET", "/private/../private", "yes", "true"},
            {"GET", "/private", null, "false"},
            {"POST", "/./health", null, "true"},
            {"POST", "/health%00", null, "false"},
            {"DELETE", "/anything", null, "true"},
            {"POST", "/avatar", null, "false"},
        };
        for (String[] c : cases) {
            HttpAttributes h = c[2] == null ? HttpAttributes.of(c[0], c[1])
                    : new HttpAttributes(c[0], c[1], "backend", Map.of("x-admin", c[2]));
            AccessRequest r = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/x").sourceAddress("10.0.0.1")
                    .destinationAddress("10.0.0.2").destinationPort(8080).destination(BACKEND).http(h).build();
            assertThat(e.evaluate(r).allowed()).as("%s %s", c[0], c[1]).isEqualTo(Boolean.parseBoolean(c[3]));
        }
    }
}
