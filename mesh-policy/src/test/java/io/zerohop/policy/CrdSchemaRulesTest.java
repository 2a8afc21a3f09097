package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The checks Istio makes only in its CRDs' schema (istio/api kubernetes/customresourcedefinitions.gen.yaml at
 * b8f8791d9653b2edc77a071d48887e582cfe84bf, generated from the kubebuilder markers of
 * security/v1beta1/authorization_policy.proto, peer_authentication.proto and type/v1beta1/selector.proto): the API
 * server refuses such an object before istiod's webhook sees it, so a file holding one is refused too, naming file,
 * line and field, with the CRD rule's own message. The cases are istio/api's CRD tests (tests/testdata/*-invalid.yaml,
 * TestCRDs; RequestAuthentication's targetRef cases moved to an AuthorizationPolicy, which embeds the same
 * PolicyTargetReference and the same one-of rule) and each rule's boundary; the YAML is ours, in block style so that
 * the line is the field's own.
 */
class CrdSchemaRulesTest {

    static Stream<Arguments> refused() {
        return Stream.of(
                // AuthorizationPolicy spec: "oneof(self.selector, self.targetRef, self.targetRefs)", which CEL's has()
                // reads as presence: an empty list counts (istiod, which counts only a non-empty targetRefs, accepts these).
                Arguments.of("selector beside an empty targetRefs (has() counts it; was: loaded)", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          selector:
                            matchLabels: {app: a}
                          targetRefs: []
                          rules: [{}]
                        """, 5, "spec", "only one of targetRefs or selector can be set"),
                Arguments.of("targetRef beside an empty targetRefs (was: loaded)", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          targetRef: {group: "", kind: Service, name: foo}
                          targetRefs: []
                          rules: [{}]
                        """, 5, "spec", "only one of targetRefs or selector can be set"),
                // reqauth-invalid.yaml "ref-and-selector" (istiod refuses it too; the CRD's message is added).
                Arguments.of("reqauth-invalid ref-and-selector", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: ref-and-selector, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              a: b
                          targetRef:
                            group: ""
                            kind: Service
                            name: foo
                        """, 5, "spec", "only one of targetRefs or selector can be set"),
                // Source: "Cannot set serviceAccounts with namespaces or principals", with has(): presence.
                Arguments.of("authz-invalid service-account-and-namespace", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: service-account-and-namespace, namespace: prod}
                        spec:
                          rules:
                            - from:
                                - source:
                                    serviceAccounts: ["bar/sa"]
                                    namespaces: ["bar"]
                        """, 8, "spec.rules[0].from[0].source", "Cannot set serviceAccounts with namespaces or principals"),
                Arguments.of("authz-invalid service-account-and-namespace-principal", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: service-account-and-namespace-principal, namespace: prod}
                        spec:
                          rules:
                            - from:
                                - source:
                                    serviceAccounts: ["baz/sa"]
                                    principals: ["bar"]
                        """, 8, "spec.rules[0].from[0].source", "Cannot set serviceAccounts with namespaces or principals"),
                Arguments.of("serviceAccounts beside an empty principals (has() counts it; was: loaded)", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          rules:
                          - from:
                            - source:
                                serviceAccounts: [frontend]
                                principals: []
                        """, 8, "spec.rules[0].from[0].source", "Cannot set serviceAccounts with namespaces or principals"),
                Arguments.of("an empty notServiceAccounts beside namespaces (was: loaded)", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          rules:
                          - from:
                            - source:
                                notServiceAccounts: []
                                namespaces: [legacy]
                        """, 9, "spec.rules[0].from[0].source", "Cannot set serviceAccounts with namespaces or principals"),
                // WorkloadSelector.matchLabels: MaxProperties=4096 (was: loaded), and the three CEL rules.
                Arguments.of("matchLabels with 4097 entries (maxProperties 4096; was: loaded)", labels("AuthorizationPolicy", 4097),
                        6, "spec.selector.matchLabels", "Too many: 4097: must have at most 4096 items"),
                Arguments.of("PeerAuthentication matchLabels with 4097 entries (was: loaded)", labels("PeerAuthentication", 4097),
                        6, "spec.selector.matchLabels", "Too many: 4097: must have at most 4096 items"),
                Arguments.of("wildcard in a label key", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: p, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              "app*": web
                        """, 7, "spec.selector.matchLabels.app*", "wildcard not allowed in label key match"),
                Arguments.of("wildcard in a label value", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              app: "web-*"
                        """, 7, "spec.selector.matchLabels.app", "wildcard not allowed in label value match"),
                Arguments.of("empty label key", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              "": web
                        """, 7, "spec.selector.matchLabels.", "key must not be empty"),
                // A null label value: the API server prunes it (prunenulls.go), so the cluster's copy selects without the
                // label; read as "" (until 4 December) this DENY denied nobody that copy denies.
                Arguments.of("null label value (pruned by the API server; was: read as an empty value)", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          selector:
                            matchLabels:
                              app: web
                              tier:
                          rules: [{}]
                        """, 9, "spec.selector.matchLabels[\"tier\"]", "null label value"),
                Arguments.of("PeerAuthentication null label value", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: p, namespace: prod}
                        spec:
                          selector:
                            matchLabels: {app: ~}
                          mtls: {mode: DISABLE}
                        """, 6, "spec.selector.matchLabels[\"app\"]", "null label value"),
                // PolicyTargetReference (reqauth-invalid.yaml's cases, and name's maxLength).
                Arguments.of("reqauth-invalid bad-target-name", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: bad-target-name, namespace: prod}
                        spec:
                          action: DENY
                          rules: [{}]
                          targetRef:
                            group: ""
                            kind: Service
                        """, 8, "spec.targetRef", "spec.targetRef.name: Required value"),
                Arguments.of("reqauth-invalid bad-target-namespace", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: bad-target-namespace, namespace: prod}
                        spec:
                          action: DENY
                          rules: [{}]
                          targetRef:
                            group: ""
                            kind: Service
                            name: foo
                            namespace: bar
                        """, 11, "spec.targetRef.namespace", "cross namespace referencing is not currently supported"),
                Arguments.of("reqauth-invalid bad-target-group", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: bad-target-group, namespace: prod}
                        spec:
                          action: DENY
                          rules: [{}]
                          targetRef:
                            group: "__"
                            kind: Service
                            name: foo
                        """, 8, "spec.targetRef.group", "should match '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"),
                Arguments.of("reqauth-invalid bad-target-kind", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: bad-target-kind, namespace: prod}
                        spec:
                          action: DENY
                          rules: [{}]
                          targetRefs:
                          - group: ""
                            kind: Serv_ice
                            name: foo
                        """, 9, "spec.targetRefs[0].kind", "should match '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$'"),
                Arguments.of("targetRefs name of 254 characters (maxLength 253; was: loaded)", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          rules: [{}]
                          targetRefs:
                          - group: ""
                            kind: Service
                            name: NAME
                        """.replace("NAME", "s".repeat(254)), 10, "spec.targetRefs[0].name",
                        "Too long: may not be more than 253 characters (the CRD's maxLength), found 254"),
                Arguments.of("targetRef with an empty name (minLength 1)", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          rules: [{}]
                          targetRef:
                            kind: Service
                            name: ""
                        """, 9, "spec.targetRef.name", "should be at least 1 chars long"),
                // Condition: required: [key].
                Arguments.of("when entry without key", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          rules:
                          - when:
                            - values: [a]
                        """, 7, "spec.rules[0].when[0]", "spec.rules[0].when[0].key: Required value"),
                // action's enum.
                Arguments.of("action not in the enum", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: PERMIT
                        """, 5, "spec.action", "Unsupported value: \"PERMIT\""),
                // PeerAuthentication: peerauth-invalid.yaml, case by case. A bad port is placed on its key's line (line 9),
                // not on the `mode:` line under it (line 10 until 6 December).
                Arguments.of("peerauth-invalid bad-mode", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: bad-mode, namespace: prod}
                        spec:
                          mtls:
                            mode: BLAH
                        """, 6, "spec.mtls.mode", "Unsupported value: \"BLAH\""),
                Arguments.of("peerauth-invalid bad-port", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: bad-port, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              foo: bar
                          portLevelMtls:
                            "acd":
                              mode: STRICT
                        """, 9, "spec.portLevelMtls.acd", "type conversion error from"),
                Arguments.of("peerauth-invalid port-level-global", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: port-level-global, namespace: prod}
                        spec:
                          portLevelMtls:
                            "80":
                              mode: STRICT
                        """, 6, "spec.portLevelMtls", "portLevelMtls requires selector"),
                Arguments.of("portLevelMtls beside selector: {} (no matchLabels)", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: p, namespace: prod}
                        spec:
                          selector: {}
                          portLevelMtls:
                            "80":
                              mode: STRICT
                        """, 7, "spec.portLevelMtls", "portLevelMtls requires selector"),
                Arguments.of("peerauth-invalid empty-port-level", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: empty-port-level, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              foo: bar
                          portLevelMtls: {}
                        """, 8, "spec.portLevelMtls", "spec.portLevelMtls should have at least 1 properties"),
                Arguments.of("peerauth-invalid zero-port", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: zero-port, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              foo: bar
                          portLevelMtls:
                            "0":
                              mode: STRICT
                        """, 9, "spec.portLevelMtls.0", "port must be between 1-65535"),
                Arguments.of("peerauth-invalid high-port", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: high-port, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              foo: bar
                          portLevelMtls:
                            "42949672":
                              mode: STRICT
                        """, 9, "spec.portLevelMtls.42949672", "port must be between 1-65535"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refused")
    void refusedWithFileLineFieldAndTheCrdMessage(String name, String yaml, int line, String field, String message) {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("policies/p.yaml", yaml));
        assertThat(e).as("load must fail").isNotNull();
        assertThat(e.file()).isEqualTo("policies/p.yaml");
        assertThat(e.field()).as(e.getMessage()).isEqualTo(field);
        assertThat(e.line()).as(e.getMessage()).isEqualTo(line);
        assertThat(e.getMessage()).startsWith("policies/p.yaml:" + line + ": " + field + ": ").contains(message);
    }

    static Stream<Arguments> accepted() {
        return Stream.of(
                // authz-valid.yaml "service-account-and-namespace-principal-split": the fields in separate sources.
                Arguments.of("authz-valid service-account-and-namespace-principal-split", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: split, namespace: prod}
                        spec:
                          rules:
                            - from:
                                - source:
                                    serviceAccounts: ["baz/sa", "sa"]
                                - source:
                                    principals: ["bar"]
                                - source:
                                    namespaces: ["bar"]
                        """),
                // peerauth-valid.yaml, both documents.
                Arguments.of("peerauth-valid full", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: full, namespace: prod}
                        spec:
                          selector:
                            matchLabels:
                              foo: bar
                          mtls:
                            mode: PERMISSIVE
                          portLevelMtls:
                            "80":
                              mode: STRICT
                        """),
                Arguments.of("peerauth-valid partial-selector (weird but valid)", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: partial-selector, namespace: prod}
                        spec:
                          selector: {}
                        """),
                // A null is pruned by the API server and absent for CEL's has(): it counts for neither rule.
                Arguments.of("selector: null beside targetRefs", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          selector: null
                          targetRefs: [{group: "", kind: Service, name: foo}]
                          rules: [{}]
                        """),
                Arguments.of("an empty targetRefs alone", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          targetRefs: []
                        """),
                Arguments.of("principals: null beside serviceAccounts", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          rules:
                          - from:
                            - source:
                                serviceAccounts: [frontend]
                                principals: ~
                        """),
                Arguments.of("targetRefs name of 253 characters and an empty namespace", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          action: DENY
                          rules: [{}]
                          targetRefs:
                          - group: ""
                            kind: Service
                            name: NAME
                            namespace: ""
                        """.replace("NAME", "s".repeat(253))),
                Arguments.of("matchLabels with 4096 entries", labels("AuthorizationPolicy", 4096)),
                Arguments.of("an empty label value, quoted", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: p, namespace: prod}
                        spec:
                          selector:
                            matchLabels: {app: web, tier: ""}
                        """),
                Arguments.of("PeerAuthentication mode UNSET (in the enum)", """
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: p, namespace: prod}
                        spec:
                          mtls: {mode: UNSET}
                        """));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("accepted")
    void accepted(String name, String yaml) throws Exception {
        PolicyLoader.fromString("policies/p.yaml", yaml);
    }

    /**
     * istio/api tests/testdata/authz-valid.yaml "full": every Source, Operation and Condition field with exact, prefix,
     * suffix and presence values, which the CRD accepts; istiod accepts it too, so it loads (with zerohop's warnings).
     */
    @Test
    void authzValidFullLoads() throws Exception {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: full, namespace: prod}
                spec:
                  selector:
                    matchLabels:
                      app: httpbin
                  rules:
                    - from:
                        - source:
                            principals: ["principal", "principal-prefix-*", "*-suffix-principal", "*"]
                            requestPrincipals: ["requestPrincipals", "requestPrincipals-prefix-*", "*-suffix-requestPrincipals", "*"]
                            namespaces: ["ns", "ns-prefix-*", "*-ns-suffix", "*"]
                            ipBlocks: ["1.2.3.4", "5.6.0.0/16"]
                            remoteIpBlocks: ["1.2.3.4", "5.6.0.0/16"]
                            notPrincipals: ["not-principal", "not-principal-prefix-*", "*-not-suffix-principal", "*"]
                            notRequestPrincipals: ["not-requestPrincipals", "not-requestPrincipals-prefix-*", "*-not-suffix-requestPrincipals", "*"]
                            notNamespaces: ["not-ns", "not-ns-prefix-*", "*-not-ns-suffix", "*"]
                            notIpBlocks: ["9.0.0.1", "9.2.0.0/16"]
                            notRemoteIpBlocks: ["9.0.0.1", "9.2.0.0/16"]
                            trustDomains: ["cluster.local", "cluster-prefix-*", "*-suffix-cluster", "*"]
                            notTrustDomains: ["not-cluster.local", "not-cluster-prefix-*", "*-not-suffix-cluster", "*"]
                      to:
                        - operation:
                            methods: ["method", "method-prefix-*", "*-suffix-method", "*"]
                            hosts: ["exact.com", "*.suffix.com", "prefix.*", "*"]
                            ports: ["80", "90"]
                            paths: ["/exact", "/prefix/*", "*/suffix", "*", "/path/template/{*}", "/{**}/path/template"]
                            notMethods: ["not-method", "not-method-prefix-*", "*-not-suffix-method", "*"]
                            notHosts: ["not-exact.com", "*.not-suffix.com", "not-prefix.*", "*"]
                            notPorts: ["8000", "9000"]
                            notPaths: ["/not-exact", "/not-prefix/*", "*/not-suffix", "*", "/not-path/template/{*}", "/{**}/not-path/template"]
                      when:
                        - key: "request.headers[X-header]"
                          values: ["header", "header-prefix-*", "*-suffix-header", "*"]
                          notValues: ["not-header", "not-header-prefix-*", "*-not-suffix-header", "*"]
                        - key: "source.ip"
                          values: ["10.10.10.10", "192.168.10.0/24"]
                          notValues: ["90.10.10.10", "90.168.10.0/24"]
                        - key: "remote.ip"
                          values: ["10.10.10.10", "192.168.10.0/24"]
                          notValues: ["90.10.10.10", "90.168.10.0/24"]
                        - key: "source.namespace"
                          values: ["ns", "ns-prefix-*", "*-ns-suffix", "*"]
                          notValues: ["not-ns", "not-ns-prefix-*", "*-not-ns-suffix", "*"]
                        - key: "source.principal"
                          values: ["principal", "principal-prefix-*", "*-suffix-principal", "*"]
                          notValues: ["not-principal", "not-principal-prefix-*", "*-not-suffix-principal", "*"]
                        - key: "request.auth.principal"
                          values: ["requestPrincipals", "requestPrincipals-prefix-*", "*-suffix-requestPrincipals", "*", "https://example.com/*"]
                          notValues: ["not-requestPrincipals", "not-requestPrincipals-prefix-*", "*-not-suffix-requestPrincipals", "*"]
                        - key: "request.auth.audiences"
                          values: ["audiences", "audiences-prefix-*", "*-suffix-audiences", "*"]
                          notValues: ["not-audiences", "not-audiences-prefix-*", "*-not-suffix-audiences", "*"]
                        - key: "request.auth.presenter"
                          values: ["presenter", "presenter-prefix-*", "*-suffix-presenter", "*"]
                          notValues: ["not-presenter", "not-presenter-prefix-*", "*-not-suffix-presenter", "*"]
                        - key: "request.auth.claims[iss]"
                          values: ["iss", "iss-prefix-*", "*-suffix-iss", "*"]
                          notValues: ["not-iss", "not-iss-prefix-*", "*-not-suffix-iss", "*"]
                        - key: "request.auth.claims[nested1][nested2]"
                          values: ["nested", "nested-prefix-*", "*-suffix-nested", "*"]
                          notValues: ["not-nested", "not-nested-prefix-*", "*-not-suffix-nested", "*"]
                        - key: "destination.ip"
                          values: ["10.10.10.10", "192.168.10.0/24"]
                          notValues: ["90.10.10.10", "90.168.10.0/24"]
                        - key: "destination.port"
                          values: ["91", "92"]
                          notValues: ["9001", "9002"]
                        - key: "connection.sni"
                          values: ["exact.com", "*.suffix.com", "prefix.*", "*"]
                          notValues: ["not-exact.com", "*.not-suffix.com", "not-prefix.*", "*"]
                        - key: "source.trustDomain"
                          values: ["cluster.local", "cluster-prefix-*", "*-suffix-cluster", "*"]
                          notValues: ["not-cluster.local", "not-cluster-prefix-*", "*-not-suffix-cluster", "*"]
                        - key: "experimental.envoy.filters.a.b[c]"
                          values: ["exact", "prefix-*", "*-suffix", "*"]
                          notValues: ["not-exact", "not-prefix-*", "*-not-suffix", "*"]
                """;
        assertThat(PolicyLoader.fromString("policies/p.yaml", yaml).size()).isEqualTo(1);
    }

    /** A block-style selector of {@code n} labels: the {@code matchLabels} key is on line 6. */
    static String labels(String kind, int n) {
        StringBuilder b = new StringBuilder("apiVersion: security.istio.io/v1\nkind: " + kind
                + "\nmetadata: {name: p, namespace: prod}\nspec:\n  selector:\n    matchLabels:\n");
        for (int i = 0; i < n; i++) {
            b.append("      k").append(i).append(": v\n");
        }
        return b.toString();
    }
}
