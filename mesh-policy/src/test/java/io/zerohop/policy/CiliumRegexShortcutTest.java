package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.re2j.Pattern;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A Cilium {@code rules.http} path is an RE2 regex matched against the whole path (Envoy's {@code safe_regex}).
 * zerohop answers a literal and a literal followed by {@code .*} without running the regex; this asks RE2J itself
 * for every pair of rule and path and requires the engine's verdict to be RE2's. RE2's {@code .} does not match a
 * line feed without the {@code s} flag (google/re2 doc/syntax.txt: {@code s} "let . match \n", default false), so {@code /api/.*} does not match {@code /api/x\ny}: until 3 December the shortcut's
 * {@code startsWith} allowed it (Netty's HTTP/2 decoder does not refuse a line feed in {@code :path}).
 */
class CiliumRegexShortcutTest {
    static final WorkloadRef BACKEND = new WorkloadRef("prod", "backend", "backend", Map.of("app", "backend"));

    @Test
    void everyVerdictIsRe2s() throws Exception {
        List<String> rules = List.of("/api/.*", "/api/orders", "/api/v[0-9]+/.*", "/a.c", "/api/x.*", ".*");
        List<String> paths = List.of("/api/orders", "/api/", "/api", "/api/x\ny", "/api/x\n", "/api/v1/z", "/abc",
                "/a\nc", "/other", "/api/orders\n", "/api/xyz");
        int checked = 0;
        for (String rule : rules) {
            PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromStringQuietly("p.yaml", ConformanceTest.cnp("prod", "c",
                    "{endpointSelector: {matchLabels: {app: backend}}, ingress: [{toPorts: [{ports: [{port: '8080', protocol: TCP}],"
                            + " rules: {http: [{path: '" + rule + "'}]}}]}]}"))).build();
            for (String path : paths) {
                AccessRequest r = AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/client")
                        .sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(8080).destination(BACKEND)
                        .http(HttpAttributes.of("GET", path)).build();
                boolean re2 = Pattern.compile(rule).matches(path);
                assertThat(e.evaluate(r).allowed()).as("rule %s, path %s", rule, path.replace("\n", "\\n")).isEqualTo(re2);
                checked++;
            }
        }
        assertThat(checked).isEqualTo(66);
    }
}
