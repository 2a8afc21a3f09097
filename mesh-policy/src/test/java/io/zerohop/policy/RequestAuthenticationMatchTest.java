package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * AuthorizationPolicy request-authentication attributes matched on {@link HttpAttributes#auth()}, as the RBAC config
 * istiod generates matches Envoy's jwt_authn payload metadata: istio/istio pilot/pkg/security/authz/model
 * generator_test.go {@code TestRequestPrincipal} (each input, a token it matches and one it does not), the
 * {@code request.auth.*} conditions of pilot/pkg/security/authz/builder/testdata/http/allow-full-rule-in.yaml (their
 * out.yaml: a metadata matcher on {@code payload.<claims...>}, a list matched by any element, a string directly), and
 * the istio.io tasks/security/authorization/authz-jwt policies. Policies are real files on disk.
 */
class RequestAuthenticationMatchTest {

    @TempDir
    Path dir;

    private static final WorkloadRef HTTPBIN = new WorkloadRef("foo", "httpbin", "httpbin", Map.of("app", "httpbin"));

    private PolicyEngine engine(String policies) throws Exception {
        Files.writeString(dir.resolve("p.yaml"), policies);
        return PolicyEngine.builder().policies(PolicyLoader.fromDirectory(dir)).build();
    }

    private static String allow(String rule) {
        return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: foo}\nspec:\n"
                + "  selector: {matchLabels: {app: httpbin}}\n  action: ALLOW\n  rules:\n" + rule;
    }

    private static RequestAuth token(Object... kv) {
        Map<String, Object> claims = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            claims.put((String) kv[i], kv[i + 1]);
        }
        Object iss = claims.get("iss");
        Object sub = claims.get("sub");
        return new RequestAuth(iss instanceof String && sub instanceof String ? iss + "/" + sub : null,
                claims.get("aud") instanceof String a ? List.of(a) : List.of(), null, claims);
    }

    private static boolean allowed(PolicyEngine e, RequestAuth auth) {
        AccessRequest r = AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(8000)
                .destination(HTTPBIN).http(new HttpAttributes("GET", "/headers", "httpbin", Map.of()).withAuth(auth)).build();
        return e.evaluate(r).allowed();
    }

    private void principal(String value, RequestAuth match, RequestAuth noMatch) throws Exception {
        PolicyEngine e = engine(allow("  - from:\n    - source:\n        requestPrincipals: [\"" + value + "\"]\n"));
        assertThat(allowed(e, match)).as("%s matches %s", value, match.claims()).isTrue();
        assertThat(allowed(e, noMatch)).as("%s does not match %s", value, noMatch.claims()).isFalse();
        assertThat(allowed(e, null)).as("%s without a JWT", value).isFalse();
        PolicyEngine cond = engine(allow("  - when:\n    - key: request.auth.principal\n      values: [\"" + value + "\"]\n"));
        assertThat(allowed(cond, match)).as("when request.auth.principal %s", value).isTrue();
        assertThat(allowed(cond, noMatch)).isFalse();
    }

    @Test
    void requestPrincipalsAsIstiodsGenerator() throws Exception {
        // TestRequestPrincipal: "*" is iss .+ and sub .+
        principal("*", token("iss", "a", "sub", "b"), token("iss", "a", "sub", ""));
        // "foo*": iss prefix foo, sub .+
        principal("foo*", token("iss", "foo-bar", "sub", "x"), token("iss", "bar-foo", "sub", "x"));
        // "foo/*": iss exactly foo, any sub
        principal("foo/*", token("iss", "foo", "sub", "anything/at/all"), token("iss", "foo2", "sub", "x"));
        // "foo/bar*": iss exactly foo, sub prefix bar
        principal("foo/bar*", token("iss", "foo", "sub", "bar-1"), token("iss", "foo", "sub", "1-bar"));
        // "*foo": any iss, sub suffix foo
        principal("*foo", token("iss", "x", "sub", "my-foo"), token("iss", "my-foo", "sub", "x"));
        // "*/foo": any iss, sub exactly foo
        principal("*/foo", token("iss", "https://a.example", "sub", "foo"), token("iss", "https://a.example", "sub", "foo2"));
        // "*bar/foo": iss suffix bar, sub exactly foo
        principal("*bar/foo", token("iss", "https://x.bar", "sub", "foo"), token("iss", "https://bar.x", "sub", "foo"));
        // "foo/bar": both exact; the cut is at the last '/', so an issuer URL works
        principal("foo/bar", token("iss", "foo", "sub", "bar"), token("iss", "foo", "sub", "baz"));
        principal("https://example.com/path/user-1", token("iss", "https://example.com/path", "sub", "user-1"),
                token("iss", "https://example.com", "sub", "path/user-1"));
        // allow-full-rule-in.yaml's "requestPrincipals" (no '/'): iss exactly it, sub exactly ""
        principal("requestPrincipals", token("iss", "requestPrincipals", "sub", ""), token("iss", "requestPrincipals", "sub", "x"));
    }

    @Test
    void requestPrincipalsNeedStringIssAndSub() throws Exception {
        PolicyEngine e = engine(allow("  - from:\n    - source:\n        requestPrincipals: [\"*\"]\n"));
        assertThat(allowed(e, token("iss", "a"))).isFalse();
        assertThat(allowed(e, token("iss", "a", "sub", 42L))).isFalse();
        assertThat(allowed(e, token("iss", "a", "sub", "b"))).isTrue();
    }

    @Test
    void aStarIsEnvoysRegexDotPlusWhichNoLineFeedMatches() throws Exception {
        // istiod generates StringMatcherRegex(".+") for a "*" (generator.go requestPrincipalGenerator); RE2's '.' does
        // not match '\n', so a signed iss or sub with a line feed matches no "*" in Envoy.
        PolicyEngine e = engine(allow("  - from:\n    - source:\n        requestPrincipals: [\"*\"]\n"));
        assertThat(allowed(e, token("iss", "a", "sub", "b\nc"))).isFalse();
        assertThat(allowed(e, token("iss", "a\n", "sub", "b"))).isFalse();
        PolicyEngine anySub = engine(allow("  - from:\n    - source:\n        requestPrincipals: [\"foo/*\"]\n"));
        assertThat(allowed(anySub, token("iss", "foo", "sub", "x\n"))).isFalse();
        assertThat(allowed(anySub, token("iss", "foo", "sub", "x"))).isTrue();
    }

    @Test
    void notRequestPrincipalsStarDeniesRequestsWithoutAToken() throws Exception {
        // istio.io tasks/security/authentication/authn-policy: DENY notRequestPrincipals ["*"] requires a token.
        PolicyEngine e = engine("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: require-jwt, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  action: DENY
                  rules:
                  - from:
                    - source:
                        notRequestPrincipals: ["*"]
                """);
        assertThat(allowed(e, null)).isFalse();
        assertThat(allowed(e, token("iss", "testing@secure.istio.io", "sub", "testing@secure.istio.io"))).isTrue();
    }

    @Test
    void theAuthzJwtTask() throws Exception {
        // istio.io tasks/security/authorization/authz-jwt: jwt-example + require-jwt (with its groups claim step).
        PolicyEngine e = engine("""
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt-example, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  jwtRules:
                  - issuer: "testing@secure.istio.io"
                    jwksUri: "https://raw.githubusercontent.com/istio/istio/master/security/tools/jwt/samples/jwks.json"
                ---
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
                    when:
                    - key: request.auth.claims[groups]
                      values: ["group1"]
                """);
        assertThat(e.jwtRules(HTTPBIN)).extracting(JwtRule::issuer).containsExactly("testing@secure.istio.io");
        RequestAuth group1 = token("iss", "testing@secure.istio.io", "sub", "testing@secure.istio.io", "groups", List.of("group1", "group2"));
        RequestAuth noGroups = token("iss", "testing@secure.istio.io", "sub", "testing@secure.istio.io");
        assertThat(allowed(e, group1)).isTrue();
        assertThat(allowed(e, noGroups)).isFalse();
        assertThat(allowed(e, null)).isFalse();
        // The load note says the attributes are matched, not that they are absent: the namespace has a RequestAuthentication.
        assertThat(PolicyLoader.fromDirectory(dir).warnings()).noneSatisfy(w -> assertThat(w).contains("no RequestAuthentication"))
                .anySatisfy(w -> assertThat(w).contains("(request.auth.claims[groups], requestPrincipals): zerohop matches them on the"
                        + " JWT it verifies per request").satisfies(x -> assertThat(PolicyLoader.isNote(x)).isTrue()));
    }

    @Test
    void claimsAreListsOrStringsNestedThroughObjects() throws Exception {
        // allow-full-rule-in.yaml: request.auth.claims[nested1][nested2] → path payload.nested1.nested2, listMatch oneOf
        // or the value itself.
        PolicyEngine e = engine(allow("  - when:\n    - key: request.auth.claims[nested1][nested2]\n"
                + "      values: [\"nested\", \"nested-prefix-*\", \"*-suffix-nested\"]\n"));
        assertThat(allowed(e, token("nested1", Map.of("nested2", "nested")))).isTrue();
        assertThat(allowed(e, token("nested1", Map.of("nested2", "nested-prefix-x")))).isTrue();
        assertThat(allowed(e, token("nested1", Map.of("nested2", List.of("a", "x-suffix-nested"))))).isTrue();
        assertThat(allowed(e, token("nested1", Map.of("nested2", List.of("a", "b"))))).isFalse();
        assertThat(allowed(e, token("nested1", List.of(Map.of("nested2", "nested"))))).as("a list is not walked into").isFalse();
        assertThat(allowed(e, token("nested1", "nested"))).isFalse();
        assertThat(allowed(e, token("nested2", "nested"))).isFalse();
        // extractNameInNestedBrackets: [a.b] is one claim named a.b
        PolicyEngine dotted = engine(allow("  - when:\n    - key: request.auth.claims[a.b]\n      values: [\"v\"]\n"));
        assertThat(allowed(dotted, token("a.b", "v"))).isTrue();
        assertThat(allowed(dotted, token("a", Map.of("b", "v")))).isFalse();
    }

    @Test
    void nonStringClaimsNeverMatch() throws Exception {
        // Envoy's string_match matches a string value only; the payload keeps JSON's number and boolean types.
        PolicyEngine e = engine(allow("  - when:\n    - key: request.auth.claims[admin]\n      values: [\"true\", \"*\"]\n"));
        assertThat(allowed(e, token("admin", Boolean.TRUE))).isFalse();
        assertThat(allowed(e, token("admin", 1L))).isFalse();
        assertThat(allowed(e, token("admin", List.of(Boolean.TRUE, 1.5d)))).isFalse();
        assertThat(allowed(e, token("admin", "true"))).isTrue();
        PolicyEngine not = engine(allow("  - when:\n    - key: request.auth.claims[admin]\n      notValues: [\"*\"]\n"));
        assertThat(allowed(not, token("admin", Boolean.TRUE))).as("notValues on a boolean claim").isTrue();
        assertThat(allowed(not, token("admin", "yes"))).isFalse();
        assertThat(allowed(not, null)).isTrue();
    }

    @Test
    void audiencesPresenterAndSpaceDelimitedScope() throws Exception {
        PolicyEngine aud = engine(allow("  - when:\n    - key: request.auth.audiences\n      values: [\"bookstore\"]\n"));
        assertThat(allowed(aud, token("aud", "bookstore"))).isTrue();
        assertThat(allowed(aud, token("aud", List.of("other", "bookstore")))).isTrue();
        assertThat(allowed(aud, token("aud", "other"))).isFalse();
        assertThat(allowed(aud, null)).isFalse();
        PolicyEngine azp = engine(allow("  - when:\n    - key: request.auth.presenter\n      values: [\"client-*\"]\n"));
        assertThat(allowed(azp, token("azp", "client-1"))).isTrue();
        assertThat(allowed(azp, token("azp", "server"))).isFalse();
        // Envoy's NormalizePayload splits scope and permission at spaces (istiod's buildSpaceDelimitedClaims default).
        PolicyEngine scope = engine(allow("  - when:\n    - key: request.auth.claims[scope]\n      values: [\"write\"]\n"));
        assertThat(allowed(scope, token("scope", "read write"))).isTrue();
        assertThat(allowed(scope, token("scope", List.of("read", "write")))).isTrue();
        assertThat(allowed(scope, token("scope", "read"))).isFalse();
        PolicyEngine whole = engine(allow("  - when:\n    - key: request.auth.claims[scope]\n      values: [\"read write\"]\n"));
        assertThat(allowed(whole, token("scope", "read write"))).as("split, the whole string is no element").isFalse();
        PolicyEngine other = engine(allow("  - when:\n    - key: request.auth.claims[roles]\n      values: [\"write\"]\n"));
        assertThat(allowed(other, token("roles", "read write"))).as("another claim is not split").isFalse();
    }

    @Test
    void withoutATokenValuesNeverMatchAndNotValuesAlwaysDo() throws Exception {
        PolicyEngine e = engine(allow("  - when:\n    - key: request.auth.presenter\n      notValues: [\"bad\"]\n"));
        assertThat(allowed(e, null)).isTrue();
        assertThat(allowed(e, token("azp", "bad"))).isFalse();
        assertThat(allowed(e, token("azp", "good"))).isTrue();
    }

    /**
     * Deciding requestPrincipals, notRequestPrincipals and request.auth.* allocates nothing, with a token and without one
     * (auth null, today's path): bytes the JVM counts for this thread, as TrustDomainAliasTest's check; one object per
     * decision would be at least 16 bytes each, 320,000 for these 20,000 decisions.
     */
    @Test
    void decidingAllocatesNothing() throws Exception {
        PolicyEngine e = engine("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny, namespace: foo}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source: {notRequestPrincipals: ["*"]}
                    to:
                    - operation: {paths: ["/admin*"]}
                  - when:
                    - key: request.auth.claims[scope]
                      values: ["blocked"]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow, namespace: foo}
                spec:
                  action: ALLOW
                  rules:
                  - from:
                    - source: {requestPrincipals: ["https://issuer.example/*"]}
                    when:
                    - key: request.auth.claims[org][team]
                      values: ["pay*"]
                  - to:
                    - operation: {paths: ["/public*"]}
                """);
        RequestAuth auth = token("iss", "https://issuer.example", "sub", "u1", "scope", "read write", "org", Map.of("team", List.of("x", "payments")));
        AccessRequest.Builder b = AccessRequest.builder().sourceAddress("10.0.0.1").destinationAddress("10.0.0.2")
                .destinationPort(8000).destination(HTTPBIN);
        AccessRequest withToken = b.http(new HttpAttributes("GET", "/api", "httpbin", Map.of(), auth)).build();
        AccessRequest noToken = b.http(new HttpAttributes("GET", "/public/x", "httpbin", Map.of())).build();
        Object mx = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
        java.lang.reflect.Method allocated = Class.forName("com.sun.management.ThreadMXBean").getMethod("getCurrentThreadAllocatedBytes");
        int n = 10_000;
        boolean sink = false;
        for (int i = 0; i < 5 * n; i++) {
            sink ^= e.evaluate(withToken).allowed() ^ e.evaluate(noToken).allowed();
        }
        long before = (long) allocated.invoke(mx);
        for (int i = 0; i < n; i++) {
            sink ^= e.evaluate(withToken).allowed() ^ e.evaluate(noToken).allowed();
        }
        long bytes = (long) allocated.invoke(mx) - before;
        assertThat(e.evaluate(withToken).allowed()).isTrue();
        assertThat(e.evaluate(noToken).allowed()).isTrue();
        assertThat(bytes).as("bytes allocated by %d decisions (sink %s)", 2 * n, sink).isLessThan(n);
    }
}
