package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * istio/istio pkg/config/validation/testdata/crds/reqauth-invalid.yaml and reqauth-valid.yaml (read by
 * pkg/config/validation/openapi_test.go {@code TestCRDs} against the CRDs' schema and CEL rules), every document as
 * upstream wrote it, in upstream's order, with its {@code _err} (the API server's message for it). Each document is
 * loaded alone; its {@code _err} line is kept as a comment so a line number here is the line in upstream's document.
 * The valid one must load; each invalid one must be refused naming file, line and field (the project's rule), and its
 * message is shown beside upstream's. Until this sweep only six of these twenty documents (the targetRef ones, in
 * {@link CrdSchemaRulesTest}) were replayed, each rewritten as an AuthorizationPolicy.
 */
class IstiodCrdTestdataTest {

    static final String SOURCE = "istio/istio pkg/config/validation/testdata/crds/";

    /** reqauth-invalid.yaml, as upstream wrote it (its leading comment: "Invalid JWKS (not feasible with CEL)"). */
    static final String REQAUTH_INVALID = """
            _err: only one of targetRefs or selector can be set
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: multi-refs
            spec:
              targetRefs:
              - group: ""
                kind: Service
                name: foo
                namespace: bar
              targetRef:
                group: ""
                kind: Service
                name: foo
                namespace: bar
            ---
            _err: only one of targetRefs or selector can be set
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: ref-and-selector
            spec:
              selector:
                matchLabels:
                  a: b
              targetRef:
                group: ""
                kind: Service
                name: foo
            ---
            _err: "spec.targetRef.name: Required value"
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: bad-target-name
            spec:
              targetRef:
                group: ""
                kind: Service
            ---
            _err: cross namespace referencing is not currently supported
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: bad-target-namespace
            spec:
              targetRef:
                group: ""
                kind: Service
                name: foo
                namespace: bar
            ---
            _err: spec.targetRef.group in body should match
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: bad-target-group
            spec:
              targetRef:
                group: "__"
                kind: Service
                name: foo
                namespace: bar
            ---
            _err: spec.targetRef.kind in body should match
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: bad-target-kind
            spec:
              targetRef:
                group: ""
                kind: Serv_ice
                name: foo
                namespace: bar
            ---
            _err: 'spec.jwtRules[0] in body must be of type object'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: no-issuer
            spec:
              jwtRules:
              -
            ---
            _err: 'audiences[0] in body should be at least 1 chars long'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: empty-aud
            spec:
              jwtRules:
              - issuer: example
                audiences:
                - ""
            ---
            _err: url must have scheme
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-jwks
            spec:
              jwtRules:
              - issuer: example
                jwksUri: "hTPp\\\\\\blah"
            ---
            _err: 'spec.jwtRules[0].fromHeaders[0].name: Required value'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-from-headers-no-name
            spec:
              jwtRules:
              - issuer: example
                fromHeaders:
                - prefix: baz
            ---
            _err: 'spec.jwtRules[0].fromHeaders[0].name in body should be at least 1 chars long'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-from-headers-empty-name
            spec:
              jwtRules:
              - issuer: example
                fromHeaders:
                - name: ""
                  prefix: baz
            ---
            _err: 'fromParams[0] in body should be at least 1 chars long'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-from-params
            spec:
              jwtRules:
              - issuer: example
                fromParams:
                - ""
            ---
            _err: 'fromCookies[0] in body should be at least 1 chars long'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-from-cookies
            spec:
              jwtRules:
              - issuer: example
                fromCookies:
                - ""
            ---
            _err: 'spec.jwtRules[0].outputClaimToHeaders[0] in body must be of type object'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-claim-to-header-unset
            spec:
              jwtRules:
              - issuer: example
                outputClaimToHeaders:
                  - ~
            ---
            _err: 'spec.jwtRules[0].outputClaimToHeaders[0].claim in body should be at least 1 chars long'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-claim-to-header-claim-empty
            spec:
              jwtRules:
              - issuer: example
                outputClaimToHeaders:
                  - claim: ""
                    header: "h"
            ---
            _err: 'header in body should be at least 1 chars long'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-claim-to-header-header-empty
            spec:
              jwtRules:
              - issuer: example
                outputClaimToHeaders:
                  - claim: "x"
                    header: ""
            ---
            _err: 'header in body should match'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-claim-to-header-bad-header
            spec:
              jwtRules:
              - issuer: example
                outputClaimToHeaders:
                  - claim: "x"
                    header: ":authority"
            ---
            _err: must be a valid duration greater than
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: bad-timeout
            spec:
              jwtRules:
              - issuer: example
                timeout: "apple"
            ---
            _err: 'spaceDelimitedClaims[0] in body should be at least 1 chars long'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-space-delimited-claims
            spec:
              jwtRules:
              - issuer: example
                spaceDelimitedClaims:
                - ""
            ---
            _err: 'Unsupported value: "MANDATORY"'
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: invalid-presence-value
            spec:
              jwtRules:
              - issuer: example
                presence: MANDATORY
            """;

    /** reqauth-valid.yaml, as upstream wrote it. */
    static final String REQAUTH_VALID = """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: full
            spec:
              targetRefs:
              - group: ""
                kind: Service
                name: foo
              jwtRules:
              - issuer: "example.com"
                jwksUri: https://example.com/.well-known/jwks.json
                forwardOriginalToken: true
                fromCookies: [foo]
                fromHeaders:
                  - name: foo
                    prefix: baz
                outputClaimToHeaders:
                - claim: abc
                  header: def
                timeout: 5s
                outputPayloadToHeader: header
                spaceDelimitedClaims:
                - "custom_scope"
                - "provider.login.scope"
                presence: REQUIRED
            """;

    /** One document: its name, its text (the {@code _err} line made a comment), upstream's {@code _err} or null. */
    record Doc(String name, String yaml, String err) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<Doc> docs(String file) {
        List<Doc> out = new ArrayList<>();
        for (String d : file.split("(?m)^---\n")) {
            String err = null;
            String name = null;
            for (String line : d.split("\n")) {
                if (line.startsWith("_err: ")) {
                    err = line.substring(6).replaceAll("^['\"]|['\"]$", "");
                } else if (line.startsWith("  name: ")) {
                    name = line.substring(8);
                }
            }
            out.add(new Doc(name, d.replaceFirst("(?m)^_err: ", "# _err: "), err));
        }
        return out;
    }

    static Stream<Arguments> invalid() {
        return docs(REQAUTH_INVALID).stream().map(Arguments::of);
    }

    @ParameterizedTest(name = "reqauth-invalid.yaml {0}")
    @MethodSource("invalid")
    void everyInvalidDocumentIsRefusedNamingLineAndField(Doc doc) {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("reqauth-invalid.yaml", doc.yaml()));
        assertThat(e).as("%s%s %s must be refused (upstream: %s)", SOURCE, "reqauth-invalid.yaml", doc, doc.err()).isNotNull();
        System.out.println("reqauth-invalid.yaml " + doc + ": upstream \"" + doc.err() + "\"; zerohop \"" + e.getMessage() + "\"");
        assertThat(e.file()).isEqualTo("reqauth-invalid.yaml");
        assertThat(e.line()).as("line: %s", e.getMessage()).isGreaterThan(5);
        assertThat(e.field()).as("field: %s", e.getMessage()).startsWith("spec");
    }

    @ParameterizedTest(name = "reqauth-valid.yaml {0}")
    @MethodSource("valid")
    void theValidDocumentLoads(Doc doc) throws Exception {
        PolicySet set = PolicyLoader.fromString("reqauth-valid.yaml", doc.yaml());
        assertThat(set.policies()).extracting(PolicyRef::name).containsExactly(doc.name());
    }

    static Stream<Arguments> valid() {
        return docs(REQAUTH_VALID).stream().map(Arguments::of);
    }
}
