package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * RequestAuthentication loading and validation, each case a real file on disk read by {@link PolicyLoader}. The cases
 * are istio/istio pkg/config/validation/validation_test.go {@code TestValidateRequestAuthentication} (its names
 * quoted), then the CRD's schema rules (manifests/charts/base/files/crd-all.gen.yaml, RequestAuthentication), which the
 * API server applies before istiod's webhook.
 */
class RequestAuthenticationValidationTest {

    @TempDir
    Path dir;

    private static final String JWKS_OK = "{ \"keys\":[ {\"e\":\"AQAB\",\"kid\":\"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ\","
            + "\"kty\":\"RSA\",\"n\":\"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX\"}]}";

    /** A RequestAuthentication {@code ns/name} whose spec is {@code spec} (indented by the caller), as a file. */
    private Path file(String spec) throws Exception {
        Path f = dir.resolve("ra.yaml");
        Files.writeString(f, "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: ra\n"
                + "  namespace: foo\nspec:\n" + spec);
        return f;
    }

    private PolicySet load(String spec) throws Exception {
        return PolicyLoader.fromFile(file(spec));
    }

    private PolicyLoadException refused(String spec) throws Exception {
        Path f = file(spec);
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromFile(f));
        assertThat(e).as("refused: %s", spec).isNotNull();
        assertThat(e.file()).isEqualTo(f.toString());
        return e;
    }

    private static List<JwtRule> rules(PolicySet set) {
        return PolicyEngine.builder().policies(set).build().jwtRules(new WorkloadRef("foo", "w", "sa", java.util.Map.of("app", "a")));
    }

    @Test
    void emptySpecsAreValid() throws Exception {
        // "empty spec", "another empty spec" (selector without labels: valid, with istiod's warning)
        Path f = dir.resolve("ra.yaml");
        Files.writeString(f, "apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: ra, namespace: foo}\n");
        assertThat(PolicyLoader.fromFile(f).policies()).containsExactly(
                new PolicyRef(PolicyRef.Kind.REQUEST_AUTHENTICATION, "foo", "ra", ""));
        assertThat(load("  selector: {}\n").warnings()).anySatisfy(w -> assertThat(w)
                .contains("ra.yaml:7: RequestAuthentication foo/ra: spec.selector: workload selector specified without labels"));
    }

    @Test
    void dryRunAnnotationIsNotSupported() throws Exception {
        // "dry run annotation not supported"
        Path f = dir.resolve("ra.yaml");
        Files.writeString(f, "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: ra\n  namespace: foo\n"
                + "  annotations: {istio.io/dry-run: \"true\"}\nspec: {}\n");
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromFile(f));
        assertThat(e.getMessage()).contains("RequestAuthentication has unsupported annotation istio.io/dry-run");
    }

    @Test
    void issuerOrJwksUriIsRequired() throws Exception {
        // "empty jwt rule", "empty issuer and jwksUri"
        PolicyLoadException e = refused("  jwtRules:\n  - {}\n");
        assertThat(e.line()).isEqualTo(8);
        assertThat(e.field()).isEqualTo("spec.jwtRules[0]");
        assertThat(e.problem()).isEqualTo("issuer or jwksUri must be non-empty string");
        // An explicit empty issuer is the CRD's minLength first.
        assertThat(refused("  jwtRules:\n  - issuer: \"\"\n").problem()).contains("minLength on issuer");
    }

    @Test
    void jwksUriWithoutIssuerIsValid() throws Exception {
        // "empty issuer and set jwksUri": valid for istiod; the rule takes a token of any issuer its keys verify (Envoy's
        // provider without issuer). Until 7 December zerohop refused it ("issuer is required by zerohop").
        List<JwtRule> rules = rules(load("  jwtRules:\n  - jwksUri: https://foo.com/cert\n"));
        assertThat(rules).extracting(JwtRule::issuer, JwtRule::jwksUri).containsExactly(org.assertj.core.groups.Tuple.tuple("", "https://foo.com/cert"));
    }

    @Test
    void spaceDelimitedClaimsAreCarriedByTheRule() throws Exception {
        // istio/api JWTRule space_delimited_claims: istiod adds them to scope and permission (buildSpaceDelimitedClaims);
        // the rule carries them as written for mesh-core's normalisation. Until 7 December a warning said they were ignored.
        PolicySet set = load("  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com/cert\n"
                + "    spaceDelimitedClaims: [roles, groups]\n");
        assertThat(set.warnings()).noneMatch(w -> w.contains("spaceDelimitedClaims"));
        assertThat(rules(set)).singleElement().extracting(JwtRule::spaceDelimitedClaims).isEqualTo(List.of("roles", "groups"));
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    spaceDelimitedClaims: [\"\"]\n").problem())
                .contains("minLength on spaceDelimitedClaims");
    }

    @Test
    void pemAndX509KeySetsAreRefusedAsIstiodRefusesThem() throws Exception {
        // istiod's jwk.Parse (lestrrat-go/jwx, no WithPEM) reads neither a PEM key nor jwt_verify_lib's X.509 form
        // {"<kid>": "<certificate>"}: "jwks parse error", so no Envoy under istiod gets one inline (Envoy's local key set
        // is parsed as Jwks::JWKS only, jwks_cache.cc). Pins the reading that zerohop, too, accepts only JWKS.
        String x509 = "{\"kid1\": \"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\"}";
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    jwks: '" + x509 + "'\n").problem()).startsWith("jwks parse error");
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    jwks: |\n      -----BEGIN PUBLIC KEY-----\n      MFkw\n"
                + "      -----END PUBLIC KEY-----\n").problem()).startsWith("jwks parse error");
    }

    @Test
    void jwksUriMustBeAnHttpUrl() throws Exception {
        // "bad JwksUri - no protocol", "bad JwksUri - invalid port"
        PolicyLoadException noScheme = refused("  jwtRules:\n  - issuer: foo.com\n    jwksUri: foo.com\n");
        assertThat(noScheme.line()).isEqualTo(9);
        assertThat(noScheme.field()).isEqualTo("spec.jwtRules[0].jwksUri");
        assertThat(noScheme.problem()).contains("url must have scheme http:// or https://");
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    jwksUri: \"https://foo.com:not-a-number\"\n").problem())
                .contains("invalid port \":not-a-number\" after host");
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    jwksUri: ftp://foo.com/keys\n").problem())
                .contains("URI scheme \"ftp\" is not supported");
        assertThat(rules(load("  jwtRules:\n  - issuer: foo.com\n    jwksUri: \"HTTPS://foo.com:8443/cert\"\n")))
                .extracting(JwtRule::jwksUri).containsExactly("HTTPS://foo.com:8443/cert");
    }

    @Test
    void jwksAndJwksUriTogetherAreRefused() throws Exception {
        // The CRD's rule on jwtRules items: "only one of jwks or jwksUri can be set" (jwks_uri is the other spelling).
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com/cert\n    jwks: '" + JWKS_OK + "'\n")
                .problem()).startsWith("only one of jwks or jwksUri can be set");
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com/cert\n    jwks_uri: https://foo.com/cert\n")
                .problem()).startsWith("only one of jwks or jwksUri can be set");
        assertThat(rules(load("  jwtRules:\n  - issuer: foo.com\n    jwks_uri: https://foo.com/cert\n")))
                .extracting(JwtRule::jwksUri).containsExactly("https://foo.com/cert");
    }

    @Test
    void selectorAndTargetRefRulesAreAuthorizationPolicys() throws Exception {
        String rule = "  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com/cert\n";
        // "empty value": a label with an empty value is valid
        assertThat(load("  selector:\n    matchLabels: {app: \"\"}\n" + rule).size()).isEqualTo(1);
        // "bad workload selector - empty key"
        assertThat(refused("  selector:\n    matchLabels: {\"\": httpbin}\n" + rule).problem())
                .startsWith("empty key is not supported in selector");
        // "good targetRef": valid, applied by the gateway, not here
        PolicySet good = load("  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}\n" + rule);
        assertThat(good.warnings()).anySatisfy(w -> assertThat(w).contains("targetRefs Gateway/foo: applied by the gateway"));
        assertThat(rules(good)).isEmpty();
        // "bad targetRef - empty name", "- non-empty namespace", "- wrong group", "- wrong kind"
        assertThat(refused("  targetRef: {group: gateway.networking.k8s.io, kind: Gateway}\n" + rule).problem())
                .startsWith("targetRef name must be set");
        assertThat(refused("  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo, namespace: bar}\n" + rule)
                .problem()).startsWith("targetRef namespace must not be set");
        assertThat(refused("  targetRef: {group: wrong-group, kind: Gateway, name: foo}\n" + rule).problem())
                .startsWith("targetRef must be to one of");
        assertThat(refused("  targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}\n" + rule).problem())
                .contains("but was gateway.networking.k8s.io/wrong-kind");
        // "targetRef and selector cannot both be set"
        assertThat(refused("  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}\n"
                + "  selector:\n    matchLabels: {app: httpbin}\n" + rule).problem())
                .startsWith("only one of targetRefs or workloadSelector can be set");
    }

    @Test
    void tokenLocationsMustBeNamed() throws Exception {
        String head = "  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com\n";
        // "bad header location"
        PolicyLoadException header = refused(head + "    fromHeaders:\n    - name: \"\"\n      prefix: \"Bearer \"\n");
        assertThat(header.field()).isEqualTo("spec.jwtRules[0].fromHeaders[0].name");
        assertThat(header.problem()).isEqualTo("location header name must be non-empty string");
        // "bad param location", "bad cookie location"
        assertThat(refused(head + "    fromParams: [\"\"]\n").problem()).startsWith("location query must be non-empty string");
        assertThat(refused(head + "    fromCookies: [\"\", foo]\n").problem()).startsWith("cookie name must be non-empty string");
        // "good"
        JwtRule r = rules(load(head + "    fromHeaders:\n    - name: x-foo\n      prefix: \"Bearer \"\n")).get(0);
        assertThat(r.fromHeaders()).containsExactly(new JwtRule.FromHeader("x-foo", "Bearer "));
        assertThat(r.fromParams()).isEmpty();
        assertThat(r.fromCookies()).isEmpty();
    }

    @Test
    void inlineJwksIsParsed() throws Exception {
        String head = "  jwtRules:\n  - issuer: foo.com\n";
        // "jwks ok"
        assertThat(rules(load(head + "    jwks: '" + JWKS_OK + "'\n")).get(0).jwks()).isEqualTo(JWKS_OK);
        // "jwks error"
        PolicyLoadException e = refused(head + "    jwks: foo\n");
        assertThat(e.field()).isEqualTo("spec.jwtRules[0].jwks");
        assertThat(e.problem()).startsWith("jwks parse error");
        // "jwks with private RSA key warns": accepted, with istiod's warning
        String priv = JWKS_OK.replace("\"kty\":\"RSA\"", "\"kty\":\"RSA\",\"d\":\"jJVKLOMXjlSnICzfP\"");
        assertThat(load(head + "    jwks: '" + priv + "'\n").warnings()).anySatisfy(w -> assertThat(w)
                .contains("jwks key at index 0 contains private key material; only public keys are used for verification"));
    }

    @Test
    void outputClaimToHeadersNeedHeaderAndClaim() throws Exception {
        String head = "  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com\n";
        // "null outputClaimToHeader", "null claim value ...", "null header value ...", "invalid header value ..."
        assertThat(refused(head + "    outputClaimToHeaders: [{}]\n").problem())
                .isEqualTo("outputClaimToHeaders header and claim value must be non-empty string");
        assertThat(refused(head + "    outputClaimToHeaders:\n    - {header: x-jwt-claim, claim: \"\"}\n").problem())
                .isEqualTo("outputClaimToHeaders header and claim value must be non-empty string");
        assertThat(refused(head + "    outputClaimToHeaders:\n    - {header: \"\", claim: sub}\n").problem())
                .isEqualTo("outputClaimToHeaders header and claim value must be non-empty string");
        PolicyLoadException bad = refused(head + "    outputClaimToHeaders:\n    - {header: \"abc%123\", claim: sub}\n");
        assertThat(bad.line()).isEqualTo(11);
        assertThat(bad.field()).isEqualTo("spec.jwtRules[0].outputClaimToHeaders[0].header");
        assertThat(bad.problem()).startsWith("header name abc%123 is not a valid header name");
        assertThat(rules(load(head + "    outputClaimToHeaders:\n    - {header: x-sub, claim: sub}\n")).get(0).outputClaimToHeaders())
                .containsExactly(new JwtRule.ClaimToHeader("x-sub", "sub"));
    }

    @Test
    void timeoutIsAProtobufDurationOfAtLeastOneMillisecond() throws Exception {
        String head = "  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com\n";
        assertThat(rules(load(head + "    timeout: 1.5s\n")).get(0).timeout()).isEqualTo(Duration.ofMillis(1500));
        assertThat(rules(load(head)).get(0).timeout()).isNull();
        assertThat(refused(head + "    timeout: 0.0005s\n").problem()).startsWith("duration must be greater than 1ms");
        assertThat(refused(head + "    timeout: 1.0005s\n").problem()).isEqualTo("only durations to ms precision are supported");
    }

    /**
     * istiod decodes {@code timeout} with istio/api's {@code *_json.gen.go} unmarshaler, golang/protobuf v1.5.4
     * {@code jsonpb/decode.go} ({@code unmarshalMessage}, case "Duration"), which reads a google.protobuf.Duration with
     * Go's {@code time.ParseDuration}, not protojson's seconds-only form; the CRD's CEL {@code duration(self)} reads the
     * same syntax. Then validation.go {@code validateJwtRule} applies agent.ValidateDuration (at least 1ms, whole ms).
     * Until 7 December (helper 399) zerohop read only {@code "<seconds>s"}: it refused {@code 1m}, {@code 500ms}, which
     * istiod accepts, and accepted {@code 315576000001s}, which overflows Go's duration and istiod refuses.
     */
    @Test
    void timeoutIsReadWithGoDurationSyntaxAsIstiodsJsonpbReadsIt() throws Exception {
        String head = "  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://foo.com\n";
        java.util.Map<String, Duration> accepted = new java.util.LinkedHashMap<>();
        accepted.put("1m", Duration.ofMinutes(1));
        accepted.put("500ms", Duration.ofMillis(500));
        accepted.put("1h1m", Duration.ofSeconds(3660));
        accepted.put("1m30.5s", Duration.ofMillis(90_500));
        accepted.put("+2s", Duration.ofSeconds(2));
        accepted.put(".5s", Duration.ofMillis(500));
        accepted.put("1.s", Duration.ofSeconds(1));
        accepted.put("1500000us", Duration.ofMillis(1500));
        accepted.put("2000000000ns", Duration.ofSeconds(2));
        accepted.put("1.0000000001s", Duration.ofSeconds(1));
        accepted.put("9223372036.854s", Duration.ofMillis(9_223_372_036_854L));
        for (var c : accepted.entrySet()) {
            assertThat(rules(load(head + "    timeout: \"" + c.getKey() + "\"\n")).get(0).timeout()).as(c.getKey())
                    .isEqualTo(c.getValue());
        }
        // time.ParseDuration's errors, as jsonpb wraps them ("bad Duration: time: ...").
        assertThat(refused(head + "    timeout: \"9223372036.855s\"\n").problem()).startsWith("bad Duration: time: invalid duration");
        assertThat(refused(head + "    timeout: \"315576000001s\"\n").problem()).startsWith("bad Duration: time: invalid duration");
        assertThat(refused(head + "    timeout: \"2562048h\"\n").problem()).startsWith("bad Duration: time: invalid duration");
        assertThat(refused(head + "    timeout: \"1\"\n").problem()).startsWith("bad Duration: time: missing unit in duration \"1\"");
        assertThat(refused(head + "    timeout: \"1x\"\n").problem()).startsWith("bad Duration: time: unknown unit \"x\" in duration");
        assertThat(refused(head + "    timeout: \"1s \"\n").problem()).startsWith("bad Duration: time: unknown unit \"s \" in duration");
        assertThat(refused(head + "    timeout: \".s\"\n").problem()).startsWith("bad Duration: time: invalid duration");
        assertThat(refused(head + "    timeout: \"\"\n").problem()).startsWith("bad Duration: time: invalid duration");
        // agent.ValidateDuration after decoding.
        assertThat(refused(head + "    timeout: \"1001us\"\n").problem()).isEqualTo("only durations to ms precision are supported");
        assertThat(refused(head + "    timeout: \"999\u00b5s\"\n").problem()).startsWith("duration must be greater than 1ms");
        assertThat(refused(head + "    timeout: \"0\"\n").problem()).startsWith("duration must be greater than 1ms");
        assertThat(refused(head + "    timeout: \"-1m\"\n").problem()).startsWith("duration must be greater than 1ms");
        PolicyLoadException e = refused(head + "    timeout: 1q\n");
        assertThat(e.line()).isEqualTo(10);
        assertThat(e.field()).isEqualTo("spec.jwtRules[0].timeout");
    }

    @Test
    void everyFieldIsRead() throws Exception {
        PolicySet set = load("""
                  jwtRules:
                  - issuer: "https://accounts.example.com"
                    audiences: [bookstore, "orders"]
                    jwksUri: https://accounts.example.com/.well-known/jwks.json
                    fromHeaders:
                    - name: x-jwt-assertion
                    fromParams: [my_token]
                    fromCookies: [session]
                    outputPayloadToHeader: x-jwt-payload
                    forwardOriginalToken: true
                    outputClaimToHeaders:
                    - header: x-email
                      claim: email
                    timeout: 3s
                """);
        assertThat(rules(set)).containsExactly(new JwtRule("https://accounts.example.com", List.of("bookstore", "orders"),
                "https://accounts.example.com/.well-known/jwks.json", null, List.of(new JwtRule.FromHeader("x-jwt-assertion", "")),
                List.of("my_token"), List.of("session"), "x-jwt-payload", true, List.of(new JwtRule.ClaimToHeader("x-email", "email")),
                Duration.ofSeconds(3), "foo/ra"));
    }

    @Test
    void unknownFieldsAreRefusedAndPresenceRequiredIsWarned() throws Exception {
        PolicyLoadException typo = refused("  jwtRules:\n  - issuer: foo.com\n    jwksURI: https://foo.com\n");
        assertThat(typo.line()).isEqualTo(9);
        assertThat(typo.problem()).contains("did you mean jwksUri?");
        assertThat(refused("  jwtRules:\n  - issuer: foo.com\n    presence: ALWAYS\n").problem()).contains("supported values");
        assertThat(load("  jwtRules:\n  - issuer: foo.com\n    presence: REQUIRED\n").warnings())
                .anySatisfy(w -> assertThat(w).contains("presence: REQUIRED has no effect"));
    }

    @Test
    void aRepeatedIssuerIsWarned() throws Exception {
        PolicySet set = load("  jwtRules:\n  - issuer: foo.com\n    jwksUri: https://a.example/keys\n"
                + "  - issuer: foo.com\n    jwksUri: https://b.example/keys\n");
        assertThat(set.warnings()).anySatisfy(w -> assertThat(w).contains("ra.yaml:10:").contains("spec.jwtRules[1]: issuer \"foo.com\""
                + " is also the issuer of spec.jwtRules[0]"));
        assertThat(rules(set)).hasSize(2);
    }

    @Test
    void aRequestAuthenticationListLoadsEveryItem() throws Exception {
        Path f = dir.resolve("list.yaml");
        Files.writeString(f, """
                apiVersion: security.istio.io/v1
                kind: RequestAuthenticationList
                items:
                - apiVersion: security.istio.io/v1
                  kind: RequestAuthentication
                  metadata: {name: a, namespace: foo}
                  spec: {jwtRules: [{issuer: a.example}]}
                - apiVersion: security.istio.io/v1beta1
                  kind: RequestAuthentication
                  metadata: {name: b, namespace: foo}
                  spec: {jwtRules: [{issuer: b.example, jwksUri: "http://b.example/keys"}]}
                """);
        PolicySet set = PolicyLoader.fromDirectory(dir);
        assertThat(rules(set)).extracting(JwtRule::issuer).containsExactly("a.example", "b.example");
    }
}
