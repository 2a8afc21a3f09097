package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class LoaderTest {

    private static final String AP_HEAD = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: foo
              namespace: prod
            spec:
            """;

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of(AP_HEAD + """
                          action: PERMIT
                        """, 7, "spec.action", "unknown action \"PERMIT\""),
                Arguments.of(AP_HEAD + """
                          rules:
                          - to:
                            - operation:
                                ports: ["8080", "70000"]
                        """, 10, "spec.rules[0].to[0].operation.ports[1]", "bad port (70000)"),
                Arguments.of(AP_HEAD + """
                          rules:
                          - from:
                            - source:
                                ipBlocks:
                                - 10.0.0.0/33
                        """, 11, "spec.rules[0].from[0].source.ipBlocks[0]", "bad CIDR range (10.0.0.0/33)"),
                Arguments.of(AP_HEAD + """
                          rules:
                          - from:
                            - source:
                                principals:
                                - ""
                        """, 11, "spec.rules[0].from[0].source.principals[0]", "empty value not allowed, found in Principals"),
                Arguments.of(AP_HEAD + """
                          action: CUSTOM
                          provider: {name: opa}
                          rules:
                          - from:
                            - source:
                                principals: ["cluster.local/ns/a/sa/b"]
                        """, 12, "spec.rules[0].from[0].source.principals", "From.Principals is currently not supported with CUSTOM action"),
                Arguments.of(AP_HEAD + """
                          rules:
                          - from:
                            - source:
                                principles: ["cluster.local/ns/a/sa/b"]
                        """, 10, "spec.rules[0].from[0].source.principles", "unknown field"),
                Arguments.of(AP_HEAD + """
                          rules:
                          - when:
                            - key: request.colour
                              values: [red]
                        """, 9, "spec.rules[0].when[0].key", "unknown attribute: request.colour"),
                Arguments.of(AP_HEAD + """
                          action: CUSTOM
                        """, 7, "spec", "CUSTOM action without `rules` is meaningless"),
                Arguments.of("""
                        apiVersion: cilium.io/v2
                        kind: CiliumNetworkPolicy
                        metadata: {name: c, namespace: prod}
                        spec:
                          endpointSelector: {}
                          ingress:
                          - toPorts:
                            - ports: [{port: "8080"}]
                              rules:
                                http:
                                - path: "/api/(v1"
                        """, 11, "spec.ingress[0].toPorts[0].rules.http[0].path", "bad regex"),
                Arguments.of("""
                        apiVersion: cilium.io/v2
                        kind: CiliumNetworkPolicy
                        metadata: {name: c, namespace: prod}
                        spec:
                          endpointSelector: {}
                          ingress:
                          - authentication:
                              mode: optional
                        """, 8, "spec.ingress[0].authentication.mode", "unknown authentication mode"),
                Arguments.of("""
                        apiVersion: cilium.io/v2
                        kind: CiliumNetworkPolicy
                        metadata: {name: c, namespace: prod}
                        spec:
                          endpointSelector:
                            matchExpressions:
                            - {key: app, operator: Like, values: [x]}
                        """, 7, "spec.endpointSelector.matchExpressions[0].operator", "unknown operator"),
                Arguments.of("""
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: p, namespace: prod}
                        spec:
                          mtls: {mode: SOMETIMES}
                        """, 5, "spec.mtls.mode", "unknown mTLS mode"),
                Arguments.of("""
                        apiVersion: security.istio.io/v1
                        kind: PeerAuthentication
                        metadata: {name: p, namespace: prod}
                        spec:
                          selector: {matchLabels: {app: a}}
                          portLevelMtls:
                            "0": {mode: STRICT}
                        """, 7, "spec.portLevelMtls.0", "bad port \"0\""),
                Arguments.of("""
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {namespace: prod}
                        spec: {}
                        """, 3, "metadata", "metadata.name is required"));
    }

    @ParameterizedTest(name = "{2}: {3}")
    @MethodSource("invalid")
    void rejectsWithFileLineAndField(String yaml, int line, String field, String problem) {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("policies/foo.yaml", yaml));
        assertThat(e).as("load must fail").isNotNull();
        assertThat(e.file()).isEqualTo("policies/foo.yaml");
        assertThat(e.field()).isEqualTo(field);
        assertThat(e.line()).as(e.getMessage()).isEqualTo(line);
        assertThat(e.getMessage()).startsWith("policies/foo.yaml:" + line + ": " + field + ": ").contains(problem);
    }

    @Test
    void messageFormatMatchesTheDocumentedExample() {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("policies/foo.yaml",
                AP_HEAD + "  rules:\n  - to:\n    - operation:\n        ports: [\"80\", \"70000\"]\n"));
        assertThat(e.getMessage()).isEqualTo(
                "policies/foo.yaml:10: spec.rules[0].to[0].operation.ports[1]: bad port (70000)");
    }

    @Test
    void lineNumbersCountAcrossDocuments() {
        String yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n" + AP_HEAD + "  action: NOPE\n";
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("m.yaml", yaml));
        assertThat(e.line()).isEqualTo(11);
    }

    @Test
    void anUnknownTopLevelKeyIsOfferedOnlyItsOwnKindsKeys() {
        // New-user pass: an Istio policy's misspelt "spec" was offered Cilium's "specs" among the expected keys.
        PolicyLoadException istio = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("p.yaml",
                "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: prod}\nspex: {}\n"));
        assertThat(istio).hasMessage("p.yaml:4: spex: unknown field (expected one of apiVersion, kind, metadata, spec, status); did you mean spec?");
        PolicyLoadException specs = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("p.yaml",
                "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: prod}\nspecs: []\n"));
        assertThat(specs).hasMessage("p.yaml:4: specs: unknown field (expected one of apiVersion, kind, metadata, spec, status); did you mean spec?");
        // Cilium's kinds have specs (a list of rules), so it is offered there.
        PolicyLoadException cilium = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("p.yaml",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a, namespace: prod}\nspex: {}\n"));
        assertThat(cilium).hasMessage("p.yaml:4: spex: unknown field (expected one of apiVersion, kind, metadata, spec, specs, status); did you mean spec?");
    }

    @Test
    void invalidYamlNamesTheLine() {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("bad.yaml", "kind: AuthorizationPolicy\nspec: [unclosed\n"));
        assertThat(e.getMessage()).startsWith("bad.yaml:").contains("invalid YAML");
        assertThat(e.line()).isGreaterThan(0);
    }

    @Test
    void unknownKindsAreSkippedWithOneWarningEach() throws Exception {
        String yaml = """
                apiVersion: v1
                kind: Service
                metadata: {name: a}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: b}
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: c}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: d, namespace: prod}
                spec: {}
                """;
        PolicySet set = PolicyLoader.fromString("mixed.yaml", yaml);
        assertThat(set.size()).isEqualTo(1);
        assertThat(set.policies().get(0).qualifiedName()).isEqualTo("prod/d");
        assertThat(set.warnings()).hasSize(2);
        assertThat(set.warnings().get(0)).contains("v1 Service");
    }

    @Test
    void duplicateObjectsAreRejected() {
        String doc = AP_HEAD + "  action: ALLOW\n---\n";
        assertThatThrownBy(() -> PolicyLoader.fromString("dup.yaml", doc + doc))
                .isInstanceOf(PolicyLoadException.class).hasMessageContaining("duplicate AuthorizationPolicy prod/foo")
                // newuser18: the message named only the second copy; the first is where to look too.
                .hasMessageEndingWith("duplicate AuthorizationPolicy prod/foo (first at dup.yaml:4)");
    }

    @Test
    void directoryLoadsEveryYamlFileInNameOrderAndNamesTheFailingFile(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a.yaml"), AP_HEAD + "  action: DENY\n  rules: [{}]\n");
        Files.writeString(dir.resolve("b.yml"), AP_HEAD.replace("name: foo", "name: bar") + "  rules: [{}]\n");
        Files.writeString(dir.resolve("notes.txt"), "not policy");
        Files.writeString(dir.resolve(".hidden.yaml.swp"), "garbage: [");
        PolicySet set = PolicyLoader.fromDirectory(dir);
        assertThat(set.policies()).extracting(PolicyRef::name).containsExactly("foo", "bar");

        Files.writeString(dir.resolve("c.yaml"), AP_HEAD.replace("name: foo", "name: baz") + "  action: MAYBE\n");
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromDirectory(dir));
        assertThat(e.file()).isEqualTo(dir.resolve("c.yaml").toString());
        assertThat(e.line()).isEqualTo(7);
    }

    /**
     * istiod accepts {@code methods: [post]}, and Envoy compares {@code :method} case-sensitively, so
     * such a DENY denies no POST (the decision stays upstream's); the load warns, naming the line
     * (a typo that silently widens access, found by the new-user pass).
     */
    @Test
    void aMethodNotInUpperCaseIsWarnedAndDecidedAsEnvoyDecides() throws Exception {
        PolicySet set = PolicyLoader.fromString("deny.yaml", AP_HEAD + """
                  action: DENY
                  rules: [{to: [{operation: {methods: [post], notMethods: [Get]}}]}]
                """);
        assertThat(set.warnings()).contains(
                "deny.yaml:8: AuthorizationPolicy prod/foo: spec.rules[0].to[0].operation.methods[0] \"post\" never matches a request in upper case (POST): "
                        + "HTTP methods compare case-sensitively, as Envoy compares them",
                "deny.yaml:8: AuthorizationPolicy prod/foo: spec.rules[0].to[0].operation.notMethods[0] \"Get\" never matches a request in upper case (GET): "
                        + "HTTP methods compare case-sensitively, as Envoy compares them (so this exclusion excludes nothing)");
        PolicyEngine engine = PolicyEngine.builder().policies(set).build();
        assertThat(engine.evaluate(R.r().http("POST", "/").build()).allowed()).isTrue();
        assertThat(PolicyLoader.fromString("ok.yaml", AP_HEAD + """
                  action: DENY
                  rules: [{to: [{operation: {methods: [POST]}}]}]
                """).warnings()).noneMatch(w -> w.contains("never matches a request in upper case"));
    }

    /**
     * An IPv4-mapped IPv6 block is an IPv6 prefix (Go's netip; the README's "Addresses and prefixes"), so a
     * DENY on {@code ::ffff:10.0.0.1} denies no IPv4 peer; the load warns, naming the line and the IPv4 form
     * (new-user pass: a DENY written so denied nothing, silently). The decision stays upstream's.
     */
    @Test
    void anIpv4MappedBlockIsWarnedAndDecidedAsUpstream() throws Exception {
        PolicySet set = PolicyLoader.fromString("deny.yaml", AP_HEAD + """
                  action: DENY
                  rules: [{from: [{source: {ipBlocks: ['::ffff:10.0.0.1', '::FFFF:10.1.0.0/112'], notIpBlocks: ['::ffff:a00:2']}}]}]
                """);
        assertThat(set.warnings()).contains(
                "deny.yaml:8: AuthorizationPolicy prod/foo: spec.rules[0].from[0].source.ipBlocks[0] \"::ffff:10.0.0.1\" never matches: an IPv4-mapped IPv6 address is an "
                        + "IPv6 prefix, as Go's netip reads it, and no peer is one (an IPv4 peer is IPv4); write 10.0.0.1",
                "deny.yaml:8: AuthorizationPolicy prod/foo: spec.rules[0].from[0].source.ipBlocks[1] \"::FFFF:10.1.0.0/112\" never matches: an IPv4-mapped IPv6 address is "
                        + "an IPv6 prefix, as Go's netip reads it, and no peer is one (an IPv4 peer is IPv4); write 10.1.0.0/16",
                "deny.yaml:8: AuthorizationPolicy prod/foo: spec.rules[0].from[0].source.notIpBlocks[0] \"::ffff:a00:2\" never matches: an IPv4-mapped IPv6 address is "
                        + "an IPv6 prefix, as Go's netip reads it, and no peer is one (an IPv4 peer is IPv4); write 10.0.0.2 "
                        + "(so this exclusion excludes nobody)");
        PolicyEngine engine = PolicyEngine.builder().policies(set).build();
        assertThat(engine.evaluate(R.r().src("10.0.0.1").build()).allowed()).isTrue();
        assertThat(PolicyLoader.fromString("ok.yaml", AP_HEAD + """
                  action: DENY
                  rules: [{from: [{source: {ipBlocks: ['10.0.0.1', '::/0', '::ffff:0:0/95', 'fd00::1']}}]}]
                """).warnings()).noneMatch(w -> w.contains("IPv4-mapped"));
        PolicySet cilium = PolicyLoader.fromString("cnp.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: c, namespace: prod}
                spec:
                  endpointSelector: {}
                  ingressDeny:
                  - fromCIDR: ["10.0.0.9/32", "::ffff:10.0.0.1/128"]
                  - fromCIDRSet: [{cidr: "::ffff:10.2.0.0/112"}, {cidr: "10.3.0.0/16"}]
                """);
        assertThat(cilium.warnings()).containsExactly(
                "cnp.yaml:7: CiliumNetworkPolicy prod/c: spec.ingressDeny[0].fromCIDR[1] \"::ffff:10.0.0.1/128\" never matches: an IPv4-mapped IPv6 address is an "
                        + "IPv6 prefix, as Go's netip reads it, and no peer is one (an IPv4 peer is IPv4); write 10.0.0.1/32",
                "cnp.yaml:8: CiliumNetworkPolicy prod/c: spec.ingressDeny[1].fromCIDRSet[0].cidr \"::ffff:10.2.0.0/112\" never matches: an IPv4-mapped IPv6 address "
                        + "is an IPv6 prefix, as Go's netip reads it, and no peer is one (an IPv4 peer is IPv4); write 10.2.0.0/16");
    }

    @Test
    void kubectlListIsExpanded() throws Exception {
        String yaml = """
                apiVersion: v1
                kind: List
                items:
                - apiVersion: security.istio.io/v1beta1
                  kind: AuthorizationPolicy
                  metadata: {name: one, namespace: prod}
                  spec: {}
                """;
        assertThat(PolicyLoader.fromString("list.yaml", yaml).size()).isEqualTo(1);
    }

    /**
     * The API server's list endpoints answer a typed list (kubectl get --raw
     * /apis/security.istio.io/v1/namespaces/prod/authorizationpolicies), and kubectl apply -f expands it:
     * client-go's discovery RESTMapper maps Kind + "List" and List in every served group version
     * (k8s.io/client-go restmapper/discovery.go, NewDiscoveryRESTMapper). A new-user pass found these
     * skipped with a warning: the DENY inside was dropped and prod/backend was open to legacy/sa/old.
     */
    /** A list item: prod/deny-legacy denies cluster.local/ns/legacy/sa/old. */
    static final String DENY_LEGACY_ITEM = """
            - apiVersion: security.istio.io/v1
              kind: AuthorizationPolicy
              metadata: {name: deny-legacy, namespace: prod}
              spec:
                action: DENY
                rules: [{from: [{source: {principals: ["cluster.local/ns/legacy/sa/old"]}}]}]
            """;

    @Test
    void typedListsAreExpandedAsKubectlApplyDoes() throws Exception {
        String deny = DENY_LEGACY_ITEM;
        for (String head : new String[] {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicyList\n",
                "apiVersion: security.istio.io/v1beta1\nkind: List\n"}) {
            PolicySet set = PolicyLoader.fromString("list.yaml", head + "items:\n" + deny);
            assertThat(set.size()).as(head).isEqualTo(1);
            assertThat(set.warnings()).as(head).isEmpty();
            PolicyEngine e = PolicyEngine.builder().policies(set).build();
            assertThat(e.evaluate(R.r().principal("spiffe://cluster.local/ns/legacy/sa/old").build()).allowed()).as(head).isFalse();
            assertThat(e.evaluate(R.r().build()).allowed()).as(head).isTrue();
        }
        PolicySet cilium = PolicyLoader.fromString("cnp.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicyList
                items:
                - apiVersion: cilium.io/v2
                  kind: CiliumNetworkPolicy
                  metadata: {name: only-frontend, namespace: prod}
                  spec:
                    endpointSelector: {matchLabels: {app: backend}}
                    ingress: [{fromEndpoints: [{matchLabels: {app: frontend}}]}]
                """);
        PolicyEngine e = PolicyEngine.builder().policies(cilium).build();
        assertThat(e.evaluate(R.r().sourceLabels("prod", java.util.Map.of("app", "other")).build()).allowed()).isFalse();
        assertThat(e.evaluate(R.r().build()).allowed()).isTrue();

        // A typed list in a version its group does not serve is the same error as its items' kind there.
        PolicyLoadException bad = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("bad.yaml",
                "apiVersion: security.istio.io/v1beta\nkind: AuthorizationPolicyList\nitems:\n" + deny));
        assertThat(bad.line()).isEqualTo(1);
        assertThat(bad.getMessage()).contains("unknown version \"security.istio.io/v1beta\"");
        // A List without apiVersion is refused (kubectl: "apiVersion not set"), not skipped with its items.
        PolicyLoadException noVersion = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("nv.yaml",
                "kind: List\nitems:\n" + deny));
        assertThat(noVersion.getMessage()).contains("apiVersion is required for kind List");
        // Another product's list of the same name stays skipped, with the warning.
        PolicySet linkerd = PolicyLoader.fromString("l.yaml", "apiVersion: policy.linkerd.io/v1beta3\nkind: AuthorizationPolicyList\nitems: []\n");
        assertThat(linkerd.size()).isZero();
        assertThat(linkerd.warnings()).singleElement().asString().contains("skipped unsupported kind policy.linkerd.io/v1beta3 AuthorizationPolicyList");
    }

    /**
     * {@code kubectl get authorizationpolicies -A -o yaml} writes {@code apiVersion, items, kind, metadata}: the kind
     * comes after the items. Each item is compiled as it is read (the kind read ahead), so that a list of 20,000 loads
     * in the node proxy's heap (LargePolicyTextTest), and the first error in the text is the one named, even with a
     * syntax error further down (before 3 December the list was held whole and the syntax error won).
     */
    @Test
    void aListInKubectlsOrderIsCompiledItemByItem() throws Exception {
        String items = "apiVersion: v1\nitems:\n" + DENY_LEGACY_ITEM + """
                - apiVersion: security.istio.io/v1
                  kind: AuthorizationPolicy
                  metadata: {name: allow-all, namespace: prod}
                  spec:
                    action: %s
                    rules: [{}]
                kind: List
                metadata:
                  resourceVersion: ""
                """;
        PolicySet set = PolicyLoader.fromString("list.yaml", items.formatted("ALLOW"));
        assertThat(set.size()).isEqualTo(2);
        PolicyEngine e = PolicyEngine.builder().policies(set).build();
        assertThat(e.evaluate(R.r().principal("spiffe://cluster.local/ns/legacy/sa/old").build()).allowed()).isFalse();
        assertThat(e.evaluate(R.r().build()).allowed()).isTrue();

        PolicyLoadException first = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("list.yaml",
                items.formatted("SOMETIMES") + "  broken: [\n"));
        assertThat(first.line()).isEqualTo(13);
        assertThat(first.getMessage()).contains("items[1].spec.action").contains("SOMETIMES");
    }

    /**
     * The typed list of a kind zerohop skips in our groups (what {@code kubectl get --raw} of CiliumNodes returns, and
     * kubectl applies) is skipped with one warning, as each of its objects is; it was refused as an unknown list kind
     * until 4 December. An item naming another kind is an error (skipping the list would drop it), and the policies
     * beside the list load. A RequestAuthenticationList is loaded since 6 December (skipped before).
     */
    @Test
    void aTypedListOfASkippedKindIsSkipped() throws Exception {
        String ra = "apiVersion: security.istio.io/v1\nkind: RequestAuthenticationList\nitems:\n- apiVersion: security.istio.io/v1\n"
                + "  kind: RequestAuthentication\n  metadata: {name: jwt, namespace: prod}\n  spec: {jwtRules: [{issuer: x}]}\n";
        String nodes = "apiVersion: cilium.io/v2\nkind: CiliumNodeList\nitems:\n- metadata: {name: node-1}\n  spec: {}\n";
        PolicySet set = PolicyLoader.fromString("l.yaml", ra + "---\n" + nodes + "---\napiVersion: v1\nkind: List\nitems:\n" + DENY_LEGACY_ITEM);
        assertThat(set.size()).isEqualTo(2);
        assertThat(set.policies()).anyMatch(r -> r.kind() == PolicyRef.Kind.REQUEST_AUTHENTICATION && r.name().equals("jwt"));
        assertThat(set.warnings()).noneMatch(w -> w.contains("RequestAuthenticationList"))
                .anyMatch(w -> w.contains("l.yaml:9: skipped unsupported kind cilium.io/v2 CiliumNodeList"));
        PolicyLoadException mixed = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("l.yaml",
                "apiVersion: cilium.io/v2\nkind: CiliumNodeList\nitems:\n- kind: CiliumNetworkPolicy\n  metadata: {name: n}\n"));
        assertThat(mixed).isNotNull();
        assertThat(mixed.getMessage()).startsWith("l.yaml:4:").contains("a CiliumNodeList holds CiliumNode objects, not CiliumNetworkPolicy");
        PolicyLoadException typo = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("l.yaml",
                "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicesList\nitems: []\n"));
        assertThat(typo).as("a network policy's list misspelt is not a skipped kind's").isNotNull();
    }

    /**
     * A list whose kind or apiVersion is misspelt is an error, as a misspelt policy kind is: skipped with a warning, a
     * 10,000-item export lost every DENY in it (a new-user pass, 3 December; kubectl refuses these too, "no matches for
     * kind"). Its items, before its kind as kubectl writes them, are read one at a time and dropped. List in another
     * group is expanded: kubectl's discovery mapper maps List in every group version it serves, and applies each item.
     */
    @Test
    void aMisspeltListKindIsAnError() throws Exception {
        String[][] cases = {
            {"v1", "Lsit", "unknown kind \"Lsit\" in the core group: did you mean List?"},
            {"v1", "list", "did you mean List?"},
            {"v2", "List", "unknown version \"v2\" for kind List (v1)"},
            {"v1", "AuthorizationPolicyList", "kind AuthorizationPolicyList is not in the core group (security.istio.io/v1 or"},
            {"", "AuthorizationPolicyList", "apiVersion is required for kind AuthorizationPolicyList"},
            {"security.istio.io/v1", "AuthorizationPolicyLst", "did you mean AuthorizationPolicyList?"},
            {"security.istio.io/v1", "AuthorizationPolicylist", "did you mean AuthorizationPolicyList?"},
            {"cilium.io/v2", "CiliumNetworkPolicyLst", "did you mean CiliumNetworkPolicyList?"},
            {"v1", "CiliumNetworkPolicyList", "kind CiliumNetworkPolicyList is not in the core group (cilium.io/v2)"},
            // A second new-user pass: a list kind of our group that is none of ours, however far from one.
            {"security.istio.io/v1", "AuthorizationList", "unknown list kind \"AuthorizationList\" in security.istio.io (List,"},
        };
        for (String[] c : cases) {
            String text = "items:\n" + DENY_LEGACY_ITEM + (c[0].isEmpty() ? "" : "apiVersion: " + c[0] + "\n") + "kind: " + c[1] + "\n";
            PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("l.yaml", text));
            assertThat(e).as("%s %s", c[0], c[1]).isNotNull();
            assertThat(e.getMessage()).as("%s %s", c[0], c[1]).contains(c[2]);
        }
        PolicyLoadException noKind = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("l.yaml",
                "apiVersion: v1\nitems:\n" + DENY_LEGACY_ITEM));
        assertThat(noKind.getMessage()).contains("kind is required: a list (items:) needs kind: List");

        // A misspelt items: left a list of nothing, and its DENYs dropped with a "no policy loaded" warning.
        PolicyLoadException itmes = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("l.yaml",
                "apiVersion: v1\nitmes:\n" + DENY_LEGACY_ITEM + "kind: List\n"));
        assertThat(itmes.line()).isEqualTo(2);
        assertThat(itmes.getMessage()).contains("itmes: unknown field").contains("did you mean items?");

        PolicySet apps = PolicyLoader.fromString("l.yaml", "apiVersion: apps/v1\nitems:\n" + DENY_LEGACY_ITEM + "kind: List\n");
        assertThat(apps.size()).isEqualTo(1);
        assertThat(PolicyEngine.builder().policies(apps).build()
                .evaluate(R.r().principal("spiffe://cluster.local/ns/legacy/sa/old").build()).allowed()).isFalse();
    }

    /**
     * A policy repeated through an alias is named where the alias is: a copy keeps its anchor's lines, and the duplicate
     * named the anchor's line twice ("list.yaml:7: ... duplicate AuthorizationPolicy prod/a (first at list.yaml:7)", a
     * new-user pass). Any other error in a copy says which alias made it.
     */
    @Test
    void aDuplicateThroughAnAliasIsNamedAtTheAlias() {
        String head = """
                apiVersion: v1
                kind: List
                items:
                - &p
                  apiVersion: security.istio.io/v1
                  kind: AuthorizationPolicy
                  metadata: {name: a, namespace: prod}
                  spec: {action: DENY, rules: [{from: [{source: {namespaces: [legacy]}}]}]}
                """;
        PolicyLoadException dup = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("list.yaml", head + "- *p\n"));
        assertThat(dup.getMessage()).isEqualTo("list.yaml:9: items[1].metadata.name: duplicate AuthorizationPolicy prod/a"
                + " (first at list.yaml:7): the alias on this line copies it");

        PolicyLoadException copied = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: a, namespace: prod, labels: &l {app: x}}
                spec:
                  selector:
                    matchLabels: *l
                  rules:
                  - from: [{source: *l}]
                """));
        assertThat(copied.line()).isEqualTo(3);
        assertThat(copied.field()).isEqualTo("spec.rules[0].from[0].source.app");
        assertThat(copied.problem()).startsWith("unknown field").endsWith("(copied here by the alias on line 8)");
    }

    /**
     * kubectl apply refuses an object without kind ("Object 'Kind' is missing"). A new-user pass found such a
     * document (a policy whose apiVersion and kind lines were lost in a copy) skipped with a warning, its DENY
     * dropped; a workload registry given as --policies read as "ALLOW by default".
     */
    @Test
    void aDocumentWithoutKindIsAnError() {
        PolicyLoadException headless = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("p.yaml", """
                metadata: {name: deny-legacy, namespace: prod}
                spec:
                  action: DENY
                  rules: [{from: [{source: {principals: ["cluster.local/ns/legacy/sa/old"]}}]}]
                """));
        assertThat(headless).isNotNull();
        assertThat(headless.line()).isEqualTo(1);
        assertThat(headless.getMessage()).contains("kind is required");
        PolicyLoadException registry = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("w.yaml",
                "trustDomain: cluster.local\nworkloads: [{namespace: prod, name: backend}]\n"));
        assertThat(registry).isNotNull();
        assertThat(registry.getMessage()).contains("kind is required (kubectl apply refuses an object without one)");
    }
}
