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
        Files.writeString(dir.resolve("jwt.yaml"), """
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
                  - from: [{source: {requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]}}]
                """);
        std.run("policy", "check", "--policies", dir.toString(), "--dest", "foo/httpbin:8000", "--label", "app=httpbin",
                "--method", "GET", "--path", "/headers");
        assertThat(std.err.toString()).as(std.err.toString())
                .contains("note: RequestAuthentication applies to foo/httpbin: issuer testing@secure.istio.io (foo/jwt-example);"
                        + " the proxy verifies a request's JWT against these rules")
                .doesNotContain("skipped unsupported kind")
                .doesNotContain("no RequestAuthentication in namespace foo");
        assertThat(std.out.toString()).contains("DENY by foo/require-jwt");
    }

    /**
     * A new-user pass: for a policy whose only HTTP field is {@code requestPrincipals}, the hint said to give
     * --method/--path, which changes nothing; it now says the JWT decides those fields and the check has none.
     */
    @Test
    void theHttpHintSaysTheJwtIsNotTheChecksToGive(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("jwt.yaml"), """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt-example, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  jwtRules: [{issuer: "testing@secure.istio.io", jwks: '{"keys":[]}'}]
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: require-jwt, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  action: ALLOW
                  rules:
                  - from: [{source: {requestPrincipals: ["testing@secure.istio.io/*"]}}]
                """);
        String hint = "give --method/--path (and --host/--header) for its decision; requestPrincipals and request.auth.* are"
                + " decided on the request's verified JWT, which the check has none of: it decides a request without a token";
        std.run("policy", "check", "--policies", dir.toString(), "--dest", "foo/httpbin:8000", "--label", "app=httpbin");
        assertThat(std.out.toString()).as(std.out.toString()).contains(hint);
        // A RequestAuthentication alone makes the proxy parse the port (an invalid token is 401 there): the hint is given
        // too (it was not: "ALLOW by default" alone).
        String text = Files.readString(dir.resolve("jwt.yaml"));
        Files.writeString(dir.resolve("jwt.yaml"), text.substring(0, text.indexOf("---")));
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
        Files.writeString(dir.resolve("jwt.yaml"), """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: any-issuer, namespace: foo}
                spec:
                  selector: {matchLabels: {app: httpbin}}
                  jwtRules:
                  - jwksUri: "https://keys.example.com/jwks.json"
                """);
        std.run("policy", "check", "--policies", dir.toString(), "--dest", "foo/httpbin:8000", "--label", "app=httpbin",
                "--method", "GET", "--path", "/headers");
        assertThat(std.err.toString()).as(std.err.toString()).contains("note: RequestAuthentication applies to foo/httpbin:"
                + " any issuer, keys https://keys.example.com/jwks.json (foo/any-issuer);");
        assertThat(std.out.toString()).contains("ALLOW by default");
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
