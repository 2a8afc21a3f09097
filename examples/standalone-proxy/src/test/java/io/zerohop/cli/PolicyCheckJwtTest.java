package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code policy check} names the RequestAuthentications whose JWT rules apply to {@code --dest}, says the decision is
 * the one of a request without a token, and prints their load errors with file and line (istio.io's authz-jwt task).
 * Until 6 December a RequestAuthentication was "skipped unsupported kind".
 */
class PolicyCheckJwtTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    void theRulesOfTheDestinationAreNamed(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("jwt.yaml"), requestAuthentication("jwt-example", """
                  - issuer: "testing@secure.istio.io"
                    jwksUri: "https://raw.githubusercontent.com/istio/istio/master/security/tools/jwt/samples/jwks.json"
                """) + requireJwt("testing@secure.istio.io/testing@secure.istio.io"));
        check(dir);
        assertThat(std.err.toString()).as(std.err.toString())
                .contains("note: RequestAuthentication applies to foo/httpbin: issuer testing@secure.istio.io (foo/jwt-example);"
                        + " the proxy verifies a request's JWT against these rules")
                .doesNotContain("skipped unsupported kind")
                .doesNotContain("no RequestAuthentication in namespace foo");
        assertThat(std.out.toString()).contains("DENY by foo/require-jwt");
    }

    /**
     * A new-user pass: for a policy whose only HTTP field is {@code requestPrincipals}, the hint said to give
     * --method/--path, which changes nothing; it now says the JWT decides those fields, and (since --jwt came) names
     * the option that gives it: until then it said "which the check has none of".
     */
    @Test
    void theHttpHintNamesJwtToGiveTheToken(@TempDir Path dir) throws Exception {
        String ra = requestAuthentication("jwt-example", """
                  - {issuer: "testing@secure.istio.io", jwks: '{"keys":[]}'}
                """);
        Files.writeString(dir.resolve("jwt.yaml"), ra + requireJwt("testing@secure.istio.io/*"));
        String hint = "give --method/--path (and --host/--header) for its decision; requestPrincipals and request.auth.* are"
                + " decided on the request's verified JWT: give it with --jwt TOKEN (without it the check decides a request"
                + " without a token)";
        std.run("policy", "check", "--policies", dir.toString(), "--dest", "foo/httpbin:8000", "--label", "app=httpbin");
        assertThat(std.out.toString()).as(std.out.toString()).contains(hint);
        // A RequestAuthentication alone makes the proxy parse the port (an invalid token is 401 there): the hint is given
        // too (it was not: "ALLOW by default" alone).
        Files.writeString(dir.resolve("jwt.yaml"), ra);
        std.out.reset();
        std.run("policy", "check", "--policies", dir.toString(), "--dest", "foo/httpbin:8000", "--label", "app=httpbin");
        assertThat(std.out.toString()).as(std.out.toString()).contains("ALLOW by default").contains(hint);
    }

    /**
     * A rule with jwksUri and no issuer (istiod's "empty issuer and set jwksUri", valid) takes a token of any issuer its
     * keys verify, as Envoy's provider without issuer: named so. Until 7 December it was a load error.
     */
    @Test
    void aRuleWithoutIssuerIsNamedAsAnyIssuer(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("jwt.yaml"), requestAuthentication("any-issuer", """
                  - jwksUri: "https://keys.example.com/jwks.json"
                """));
        check(dir);
        assertThat(std.err.toString()).as(std.err.toString()).contains("note: RequestAuthentication applies to foo/httpbin:"
                + " any issuer, keys https://keys.example.com/jwks.json (foo/any-issuer);");
        assertThat(std.out.toString()).contains("ALLOW by default");
    }

    /**
     * A RequestAuthentication {@code foo/name} selecting {@code app: httpbin}, its {@code jwtRules} list the given YAML
     * lines (indented as list items under it).
     */
    private static String requestAuthentication(String name, String jwtRules) {
        return """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: %s, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  jwtRules:
                """.formatted(name) + jwtRules;
    }

    /** istio.io's authz-jwt {@code foo/require-jwt}: ALLOW from {@code principal}; a {@code when:} may follow. */
    private static String requireJwt(String principal) {
        return """
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: require-jwt, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  action: ALLOW
                  rules:
                  - from: [{source: {requestPrincipals: ["%s"]}}]
                """.formatted(principal);
    }

    /** {@code policy check} of {@code GET /headers} to foo/httpbin:8000 ({@code app=httpbin}), stdout reset first. */
    private String check(Path dir, String... more) {
        std.out.reset();
        String[] base = {"policy", "check", "--policies", dir.toString(), "--dest", "foo/httpbin:8000", "--label", "app=httpbin",
                "--method", "GET", "--path", "/headers"};
        String[] all = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return std.run(all);
    }

    /** A token signed here with {@code key}, claims as given. */
    private static String token(com.nimbusds.jose.jwk.RSAKey key, String sub, long exp) throws Exception {
        com.nimbusds.jwt.JWTClaimsSet claims = new com.nimbusds.jwt.JWTClaimsSet.Builder().issuer("testing@secure.istio.io")
                .subject(sub).claim("groups", java.util.List.of("group1", "group2")).expirationTime(new java.util.Date(exp * 1000)).build();
        com.nimbusds.jwt.SignedJWT t = new com.nimbusds.jwt.SignedJWT(
                new com.nimbusds.jose.JWSHeader.Builder(com.nimbusds.jose.JWSAlgorithm.RS256).keyID(key.getKeyID()).build(), claims);
        t.sign(new com.nimbusds.jose.crypto.RSASSASigner(key));
        return t.serialize();
    }

    /**
     * {@code --jwt}: the token goes through the proxy's RequestAuthentication step (mesh-core JwtCheck), then the
     * AuthorizationPolicy reads its claims: istio.io's authz-jwt task (requestPrincipals, then a claim) offline. Until
     * 7 December the check had no token to give and decided every request as one without.
     */
    @Test
    void aTokenGivenWithJwtIsVerifiedThenItsClaimsDecide(@TempDir Path dir) throws Exception {
        com.nimbusds.jose.jwk.RSAKey key = new com.nimbusds.jose.jwk.gen.RSAKeyGenerator(2048).keyID("k1").generate();
        com.nimbusds.jose.jwk.RSAKey stranger = new com.nimbusds.jose.jwk.gen.RSAKeyGenerator(2048).keyID("k1").generate();
        String jwks = new com.nimbusds.jose.jwk.JWKSet(key.toPublicJWK()).toString();
        Files.writeString(dir.resolve("jwt.yaml"), requestAuthentication("jwt-example", """
                  - issuer: "testing@secure.istio.io"
                    jwks: '%s'
                """.formatted(jwks)) + requireJwt("testing@secure.istio.io/alice") + """
                    when: [{key: "request.auth.claims[groups]", values: ["group1"]}]
                """);
        long now = System.currentTimeMillis() / 1000;
        java.util.function.Function<String[], String> run = more -> check(dir, more);

        assertThat(run.apply(new String[] {"--jwt", token(key, "alice", now + 3600)})).as(std.err.toString())
                .startsWith("exit 0").contains("--jwt: verified, request.auth.principal testing@secure.istio.io/alice");
        assertThat(std.out.toString()).contains("ALLOW by foo/require-jwt");
        assertThat(run.apply(new String[] {"--jwt", token(key, "bob", now + 3600)})).startsWith("exit 3");
        assertThat(std.out.toString()).contains("DENY");
        assertThat(run.apply(new String[] {"--jwt", token(key, "alice", now - 3600)})).startsWith("exit 3");
        assertThat(std.out.toString()).contains("DENY: 401 Jwt is expired by RequestAuthentication foo/jwt-example");
        assertThat(run.apply(new String[] {"--jwt", token(stranger, "alice", now + 3600)})).startsWith("exit 3");
        assertThat(std.out.toString()).contains("DENY: 401 Jwt verification fails by RequestAuthentication foo/jwt-example");
        // The token once: --jwt is the authorization header.
        assertThat(run.apply(new String[] {"--jwt", "x", "--header", "authorization=Bearer y"})).startsWith("exit 2")
                .contains("give the token once");
    }

    /**
     * A token the request carries where the rules read it, given by {@code --header} rather than {@code --jwt}, goes
     * through the proxy's RequestAuthentication step as the proxy's every request does, and a RequestAuthentication
     * alone makes the port parsed (HttpEnforcement). A new-user pass (h358): {@code --header authorization=Bearer
     * deadbeef} under a RequestAuthentication alone read "ALLOW by default" and "the proxy does not parse HTTP there",
     * where the proxy answers 401; a valid token in a rule's {@code fromHeaders} header decided as none; and
     * {@code --jwt} there said "no token found" without naming where the rules read one.
     */
    @Test
    void aTokenInAHeaderTheRulesReadIsVerifiedAsTheProxyDoes(@TempDir Path dir) throws Exception {
        com.nimbusds.jose.jwk.RSAKey key = new com.nimbusds.jose.jwk.gen.RSAKeyGenerator(2048).keyID("k1").generate();
        String jwks = new com.nimbusds.jose.jwk.JWKSet(key.toPublicJWK()).toString();
        String ra = requestAuthentication("jwt-example", """
                  - issuer: "testing@secure.istio.io"
                    jwks: '%s'
                """.formatted(jwks));
        Files.writeString(dir.resolve("jwt.yaml"), ra);
        java.util.function.Function<String[], String> run = more -> check(dir, more);
        assertThat(run.apply(new String[] {"--header", "authorization=Bearer deadbeef"})).as(std.out.toString())
                .startsWith("exit 3");
        assertThat(std.out.toString()).contains("DENY: 401 Jwt is not in the form of Header.Payload.Signature");

        Files.writeString(dir.resolve("jwt.yaml"), ra + """
                    fromHeaders: [{name: x-jwt-assertion}]
                """ + requireJwt("testing@secure.istio.io/alice"));
        String token = token(key, "alice", System.currentTimeMillis() / 1000 + 3600);
        assertThat(run.apply(new String[] {"--header", "x-jwt-assertion=" + token})).as(std.out.toString())
                .startsWith("exit 0").contains("the request's token: verified, request.auth.principal testing@secure.istio.io/alice")
                .doesNotContain("decided here without a verified token");
        assertThat(std.out.toString()).contains("ALLOW by foo/require-jwt");
        assertThat(run.apply(new String[] {"--jwt", token})).startsWith("exit 3")
                .contains("--jwt: no token found where the rules read one (decided without one); they read it from"
                        + " --header x-jwt-assertion=TOKEN: give it there");
    }

    /**
     * {@code --jwt} with a rule's {@code jwksUri}: the keys are fetched as the proxy fetches them (a real JWKS server on
     * 127.0.210.1:63001), the token held for the first answer; a server that fails is the proxy's first request's
     * {@code 401 Jwks remote fetch is failed}.
     */
    @Test
    void aJwksUriIsFetchedForTheToken(@TempDir Path dir) throws Exception {
        com.nimbusds.jose.jwk.RSAKey key = new com.nimbusds.jose.jwk.gen.RSAKeyGenerator(2048).keyID("k1").generate();
        byte[] jwks = new com.nimbusds.jose.jwk.JWKSet(key.toPublicJWK()).toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.210.1", 63001), 0);
        server.createContext("/keys", x -> {
            x.sendResponseHeaders(200, jwks.length);
            x.getResponseBody().write(jwks);
            x.close();
        });
        server.createContext("/down", x -> {
            x.sendResponseHeaders(503, -1);
            x.close();
        });
        server.start();
        try {
            String policy = requestAuthentication("remote", """
                      - issuer: "testing@secure.istio.io"
                        jwksUri: "http://127.0.210.1:63001/%s"
                    """) + requireJwt("testing@secure.istio.io/alice");
            String token = token(key, "alice", System.currentTimeMillis() / 1000 + 3600);
            Files.writeString(dir.resolve("jwt.yaml"), policy.formatted("keys"));
            assertThat(check(dir, "--jwt", token)).as(std.out.toString()).startsWith("exit 0");
            assertThat(std.out.toString()).contains("ALLOW by foo/require-jwt");
            Files.writeString(dir.resolve("jwt.yaml"), policy.formatted("down"));
            assertThat(check(dir, "--jwt", token)).startsWith("exit 3");
            assertThat(std.out.toString()).contains("DENY: 401 Jwks remote fetch is failed by RequestAuthentication foo/remote");
        } finally {
            server.stop(0);
        }
    }

    @Test
    void aLoadErrorNamesFileLineAndField(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("jwt.yaml"), """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt-example, namespace: foo}
                spec:
                  jwtRules:
                  - issuer: "testing@secure.istio.io"
                    jwksUri: "raw.githubusercontent.com/jwks.json"
                """);
        std.run("policy", "check", "--policies", dir.toString(), "--dest", "foo/httpbin:8000");
        assertThat(std.err.toString()).as(std.err.toString())
                .contains(f + ":7: spec.jwtRules[0].jwksUri: URI scheme \"\" is not supported");
    }
}
