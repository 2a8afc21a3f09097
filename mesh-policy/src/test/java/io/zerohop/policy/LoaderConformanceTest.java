package io.zerohop.policy;

import static io.zerohop.policy.R.r;
import static io.zerohop.policy.Upstream.CILIUM_CRD;
import static io.zerohop.policy.Upstream.ISTIO_CRD;
import static io.zerohop.policy.Upstream.YAML_KUBECTL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** YAML as kubectl reads it, the served API versions, and the limits of the loader. */
class LoaderConformanceTest extends UpstreamTable {

    static final Upstream T = new Upstream();

    static final String HEAD = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: prod}\n";

    static {
        yaml();
        apiVersions();
    }

    static void yaml() {
        String s = YAML_KUBECTL;
        String alias = HEAD + """
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals: &blocked ["cluster.local/ns/legacy/sa/old"]
                  - to:
                    - operation: {ports: ["9090"]}
                    from:
                    - source:
                        principals: *blocked
                """;
        T.decide(s, "an alias is the anchored list, not the anchor's name", alias, r().principal("spiffe://cluster.local/ns/legacy/sa/old"),
                false, "prod/p");
        T.decide(s, "the aliased rule keeps its other fields", alias,
                r().principal("spiffe://cluster.local/ns/prod/sa/frontend").port(9090), true, null);
        String scalar = HEAD + """
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals: [&old "cluster.local/ns/legacy/sa/old", "cluster.local/ns/a/sa/b", *old]
                """;
        T.decide(s, "a scalar alias", scalar, r().principal("spiffe://cluster.local/ns/legacy/sa/old"), false, "prod/p");
        String merge = HEAD + """
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source: &base
                        namespaces: [legacy]
                        ipBlocks: [10.0.0.0/8]
                  - from:
                    - source:
                        <<: *base
                        namespaces: [other]
                """;
        T.decide(s, "merge key: merged fields apply", merge, r().principal("spiffe://cluster.local/ns/legacy/sa/x"), false, "prod/p");
        T.decide(s, "merge key: explicit keys win over merged ones", merge,
                r().principal("spiffe://cluster.local/ns/other/sa/x").src("192.168.0.1"), true, null);
        String mergeList = HEAD + """
                x-a: &a {namespaces: [first]}
                x-b: &b {namespaces: [second], ipBlocks: [10.0.0.0/8]}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        <<: [*a, *b]
                """;
        T.invalid(s, "unknown top-level fields still fail", mergeList, "unknown field");
        String mergeList2 = HEAD + """
                spec:
                  action: DENY
                  rules:
                  - to: [{operation: {ports: ["1"]}}]
                    from:
                    - source: &a {namespaces: [first]}
                    - source: &b {namespaces: [second], ipBlocks: [10.0.0.0/8]}
                  - from:
                    - source:
                        <<: [*a, *b]
                """;
        T.decide(s, "merge list: the earlier mapping wins", mergeList2,
                r().principal("spiffe://cluster.local/ns/first/sa/x").src("192.168.0.1"), true, null);
        T.decide(s, "merge list: later mappings add missing keys", mergeList2,
                r().principal("spiffe://cluster.local/ns/first/sa/x").src("10.0.0.1"), false, "prod/p");
        T.invalid(s, "duplicate key", HEAD + "spec:\n  action: ALLOW\n  action: DENY\n", "duplicate key \"action\" (first at line 5)");
        T.invalid(s, "duplicate key in a flow mapping", HEAD + "spec: {rules: [{from: [{source: {principals: [a], principals: [b]}}]}]}\n",
                "duplicate key \"principals\"");
        T.invalid(s, "unknown alias", HEAD + "spec:\n  rules: *nothing\n", "nothing");
        StringBuilder laughs = new StringBuilder(HEAD).append("x0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
        for (int i = 1; i < 9; i++) {
            laughs.append("x").append(i).append(": &l").append(i).append(" [");
            for (int j = 0; j < 10; j++) {
                laughs.append(j == 0 ? "" : ", ").append("*l").append(i - 1);
            }
            laughs.append("]\n");
        }
        T.invalid(s, "billion laughs: expansion is bounded", laughs + "spec: {}\n", "too large after alias expansion");
        T.invalid(s, "nesting deeper than the limit names the line", HEAD + "spec:\n  rules: " + "[".repeat(100) + "]".repeat(100) + "\n",
                "nested deeper than 64 levels");
        T.invalid(s, "YAML 1.1 boolean where a string is expected", HEAD + "spec: {action: ALLOW, rules: [{to: [{operation: "
                + "{methods: [on]}}]}]}\n", "expected a string, found boolean on");
        T.valid(s, "JSON is YAML", "{\"apiVersion\": \"security.istio.io/v1\", \"kind\": \"AuthorizationPolicy\", \"metadata\": "
                + "{\"name\": \"p\", \"namespace\": \"prod\"}, \"spec\": {\"rules\": [{\"to\": [{\"operation\": {\"ports\": [\"80\"]}}]}]}}");
        T.invalid(s, "a tab where indentation is expected", HEAD + "spec:\n\taction: DENY\n", "invalid YAML");
    }

    static void apiVersions() {
        String ap = "kind: AuthorizationPolicy\nmetadata: {name: p, namespace: prod}\nspec: {action: DENY, rules: [{}]}\n";
        T.invalid(ISTIO_CRD, "v1beta (typo) on a known kind", "apiVersion: security.istio.io/v1beta\n" + ap,
                "unknown version \"security.istio.io/v1beta\" for kind AuthorizationPolicy");
        T.invalid(ISTIO_CRD, "v1alpha1 is not served", "apiVersion: security.istio.io/v1alpha1\n" + ap, "unknown version");
        T.invalid(ISTIO_CRD, "no apiVersion", ap, "apiVersion is required for kind AuthorizationPolicy");
        T.invalid(ISTIO_CRD, "core group", "apiVersion: v1\n" + ap, "kind AuthorizationPolicy is not in the core group");
        T.invalid(ISTIO_CRD, "the other group of ours", "apiVersion: cilium.io/v2\n" + ap, "kind AuthorizationPolicy is not in cilium.io");
        T.invalid(ISTIO_CRD, "kind missing in security.istio.io", "apiVersion: security.istio.io/v1\nmetadata: {name: p}\n", "kind is required");
        T.valid(ISTIO_CRD, "v1beta1 is served", "apiVersion: security.istio.io/v1beta1\n" + ap);
        T.warns(ISTIO_CRD, "another product's AuthorizationPolicy is skipped", "apiVersion: policy.linkerd.io/v1alpha1\n" + ap,
                "skipped unsupported kind policy.linkerd.io/v1alpha1 AuthorizationPolicy");
        // security.istio.io's third kind is loaded since 6 December (it was skipped as unsupported before).
        T.valid(ISTIO_CRD, "RequestAuthentication v1 is loaded", "apiVersion: security.istio.io/v1\nkind: "
                + "RequestAuthentication\nmetadata: {name: r, namespace: prod}\n");
        T.valid(ISTIO_CRD, "RequestAuthentication v1beta1 is loaded", "apiVersion: security.istio.io/v1beta1\nkind: "
                + "RequestAuthentication\nmetadata: {name: r, namespace: prod}\n");
        T.invalid(ISTIO_CRD, "RequestAuthentication v1alpha1 is not served", "apiVersion: security.istio.io/v1alpha1\nkind: "
                + "RequestAuthentication\nmetadata: {name: r, namespace: prod}\n", "unknown version");
        T.invalid(ISTIO_CRD, "a misspelt RequestAuthentication is refused", "apiVersion: security.istio.io/v1\nkind: "
                + "RequestAuthentications\nmetadata: {name: r, namespace: prod}\n", "did you mean RequestAuthentication?");
        String cnp = "kind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: prod}\nspec: {endpointSelector: {}, ingress: [{}]}\n";
        T.invalid(CILIUM_CRD, "cilium.io/v2alpha1 CiliumNetworkPolicy", "apiVersion: cilium.io/v2alpha1\n" + cnp, "unknown version");
        T.invalid(CILIUM_CRD, "cilium.io/v3", "apiVersion: cilium.io/v3\n" + cnp, "unknown version");
        T.invalid(CILIUM_CRD, "no apiVersion", cnp, "apiVersion is required for kind CiliumNetworkPolicy");
        T.warns(CILIUM_CRD, "another kind of cilium.io is skipped", "apiVersion: cilium.io/v2alpha1\nkind: CiliumCIDRGroup\n"
                + "metadata: {name: g}\n", "skipped unsupported kind cilium.io/v2alpha1 CiliumCIDRGroup");
        // A misspelt enforced kind in our groups would otherwise be skipped and its DENY lost (kubectl refuses
        // a kind its API server does not serve; zerohop has no API server to ask when reading files).
        String apBody = "\nmetadata: {name: p, namespace: prod}\nspec: {action: DENY, rules: [{}]}\n";
        T.invalid(ISTIO_CRD, "British spelling of AuthorizationPolicy", "apiVersion: security.istio.io/v1\nkind: AuthorisationPolicy" + apBody,
                "unknown kind \"AuthorisationPolicy\" in security.istio.io: did you mean AuthorizationPolicy?");
        T.invalid(ISTIO_CRD, "kind in the wrong case", "apiVersion: security.istio.io/v1\nkind: Authorizationpolicy" + apBody,
                "did you mean AuthorizationPolicy?");
        T.invalid(CILIUM_CRD, "a letter missing in CiliumNetworkPolicy", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolcy\n"
                + "metadata: {name: c, namespace: prod}\nspec: {endpointSelector: {}, ingress: [{}]}\n", "did you mean CiliumNetworkPolicy?");
        // A typo pass (3 December): each of these was skipped with one "skipped unsupported kind" warning, so a DENY in it
        // was lost and `policy check` allowed what it denies. kubectl refuses every one ("no matches for kind ... ensure
        // CRDs are installed first": k8s.io/cli-runtime pkg/resource/mapper.go), or, for kind: 8080, cannot decode it.
        String cnpBody = "\nmetadata: {name: c, namespace: prod}\nspec: {endpointSelector: {}, ingress: [{}]}\n";
        T.invalid(ISTIO_CRD, "a plural of AuthorizationPolicy (3 edits)", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicies"
                + apBody, "unknown kind \"AuthorizationPolicies\" in security.istio.io: did you mean AuthorizationPolicy?");
        T.invalid(ISTIO_CRD, "a kind security.istio.io does not have", "apiVersion: security.istio.io/v1\nkind: AccessPolicy" + apBody,
                "unknown kind \"AccessPolicy\" in security.istio.io");
        T.invalid(CILIUM_CRD, "a plural of CiliumNetworkPolicy", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicies" + cnpBody,
                "did you mean CiliumNetworkPolicy?");
        T.invalid(CILIUM_CRD, "Kubernetes' NetworkPolicy kind in cilium.io", "apiVersion: cilium.io/v2\nkind: NetworkPolicy" + cnpBody,
                "unknown kind \"NetworkPolicy\" in cilium.io: did you mean CiliumNetworkPolicy?");
        T.invalid(ISTIO_CRD, "the group in another case", "apiVersion: Security.istio.io/v1beta1\nkind: AuthorizationPolicy" + apBody,
                "kind AuthorizationPolicy is not in Security.istio.io (security.istio.io/v1 or security.istio.io/v1beta1)");
        T.invalid(ISTIO_CRD, "a blank before the group", "apiVersion: \" security.istio.io/v1\"\nkind: AuthorizationPolicy" + apBody,
                "kind AuthorizationPolicy is not in \" security.istio.io\"");
        T.invalid(ISTIO_CRD, "another Istio group", "apiVersion: networking.istio.io/v1\nkind: AuthorizationPolicy" + apBody,
                "kind AuthorizationPolicy is not in networking.istio.io");
        T.invalid(ISTIO_CRD, "a plural in a misspelt group", "apiVersion: Security.istio.io/v1\nkind: AuthorizationPolicies" + apBody,
                "did you mean AuthorizationPolicy?");
        T.invalid(CILIUM_CRD, "the group in another case", "apiVersion: Cilium.io/v2\nkind: CiliumNetworkPolicy" + cnpBody,
                "kind CiliumNetworkPolicy is not in Cilium.io (cilium.io/v2)");
        T.invalid(CILIUM_CRD, "cilium without .io", "apiVersion: cilium/v2\nkind: CiliumNetworkPolicy" + cnpBody,
                "kind CiliumNetworkPolicy is not in cilium (cilium.io/v2)");
        T.invalid(ISTIO_CRD, "a number as the kind", "apiVersion: security.istio.io/v1\nkind: 8080" + apBody,
                "kind: expected a string, found integer 8080 (quote it)");
        T.invalid(ISTIO_CRD, "a boolean as the kind", "apiVersion: security.istio.io/v1\nkind: true" + apBody, "kind: expected a string");
        // Still skipped: another product's kind of that name, another project's group, Istio's other groups' own kinds.
        T.warns(ISTIO_CRD, "Istio's networking kinds stay skipped", "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                + "metadata: {name: v}\n", "skipped unsupported kind networking.istio.io/v1 VirtualService");
        T.warns(CILIUM_CRD, "Cilium's egress gateway policy stays skipped", "apiVersion: cilium.io/v2\nkind: CiliumEgressGatewayPolicy\n"
                + "metadata: {name: e}\n", "skipped unsupported kind cilium.io/v2 CiliumEgressGatewayPolicy");
        T.warns(ISTIO_CRD, "Kubernetes' NetworkPolicy stays skipped", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                + "metadata: {name: n1}\n", "skipped unsupported kind networking.k8s.io/v1 NetworkPolicy");
        // ObjectMeta's strings: kubectl makes an unquoted on, 8080 or 1 a boolean or number and the API server refuses it.
        String apSpec = "\nspec: {action: DENY, rules: [{}]}\n";
        T.invalid(ISTIO_CRD, "metadata.namespace a YAML 1.1 boolean", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: p, namespace: on}" + apSpec, "metadata.namespace: expected a string, found boolean on (quote it)");
        T.invalid(ISTIO_CRD, "metadata.name a number", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: 8080, namespace: prod}" + apSpec, "metadata.name: expected a string, found integer 8080");
        T.invalid(ISTIO_CRD, "a label value a number", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: p, namespace: prod, labels: {version: 1}}" + apSpec, "metadata.labels.version: expected a string");
        T.invalid(ISTIO_CRD, "an annotation value a boolean", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: p, namespace: prod, annotations: {owner: yes}}" + apSpec, "metadata.annotations.owner: expected a string");
        T.invalid(CILIUM_CRD, "a matchExpressions key a number", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
                + "metadata: {name: c, namespace: prod}\nspec: {endpointSelector: {matchExpressions: [{key: 8080, operator: Exists}]},"
                + " ingress: [{}]}\n", "key: expected a string, found integer 8080");
        // A first line indented deeper than the rest (pasted so): kubectl's YAML reader fails at line 2; this said
        // "case.yaml:1: kind is required" (the document the syntax error cut short), now the syntax error itself.
        T.invalid(ISTIO_CRD, "a first line indented deeper than the rest", "  apiVersion: security.istio.io/v1\n"
                + "kind: AuthorizationPolicy\nmetadata: {name: p, namespace: prod}" + apSpec,
                "case.yaml:2: kind: invalid YAML: expected '<document start>', but found '<block mapping start>'");
        // What go-yaml v2 (kubectl) reads as a string although YAML 1.1 types it otherwise: a timestamp (decode.go keeps it a
        // string into interface{}), a sexagesimal number, a plain "<<" value. A regression pass found them refused here.
        T.valid(ISTIO_CRD, "a date, a timestamp, a base-60 number and << as plain label and annotation values",
                "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: 2024-01-15, namespace: prod, labels:"
                        + " {released: 2024-01-15}, annotations: {at: 2024-01-15 10:00:00 -05:00, window: 2:30, merge: <<}}" + apSpec);
        T.invalid(ISTIO_CRD, "a plain 1.5 stays a number", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: p, namespace: prod, labels: {version: 1.5}}" + apSpec, "metadata.labels.version: expected a string, found");
        // And what go-yaml v2 reads as a number although SnakeYAML's resolver leaves a string: resolve.go takes a plain
        // scalar with a leading digit or sign to strconv.ParseInt(s without '_', 0, 64) (Go's 0o prefix: 0o17 is 15), then
        // a float when yamlStyleFloat matches (08080 and 09, not octal, are floats). kubectl sends a JSON number; the API
        // server refuses it where the schema wants a string. Until 6 December these loaded as strings (ports: [08080] as
        // port 8080, a PeerAuthentication's DISABLE on matchLabels {version: 08} applied where the cluster has nothing).
        String goYaml = "go-yaml v2 resolve.go (as sigs.k8s.io/yaml, kubectl)";
        for (String v : List.of("08080", "09", "0o17", "-0o17", "0_8")) {
            T.invalid(goYaml, "a plain " + v + " is a number: a port", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                    + "metadata: {name: p, namespace: prod}\nspec: {rules: [{to: [{operation: {ports: [" + v + "]}}]}]}\n",
                    "case.yaml:4: spec.rules[0].to[0].operation.ports[0]: expected a string, found");
            T.invalid(goYaml, "a plain " + v + " is a number: a label value", "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                    + "metadata: {name: p, namespace: prod}\nspec: {selector: {matchLabels: {version: " + v + "}}, mtls: {mode: DISABLE}}\n",
                    "case.yaml:4: spec.selector.matchLabels.version: expected a string, found");
        }
        T.valid(goYaml, "what go-yaml v2 leaves a string: addresses, versions, 0x alone, a date", "apiVersion: security.istio.io/v1\n"
                + "kind: AuthorizationPolicy\nmetadata: {name: p, namespace: prod, annotations: {a: 1.2.3, b: 0x_, c: 08-15, d: 1-2, e: 0b2,"
                + " f: 1.2.3-rc1}}\nspec: {rules: [{from: [{source: {ipBlocks: [10.0.0.1, 10.0.0.0/8]}}]}]}\n");
        // A plain selector key too: go-yaml v2 types it as a value, and sigs.k8s.io/yaml convertToJSONableMapKey writes it
        // back (a bool as true/false, an int in decimal, a float as FormatFloat 'g' 32) or refuses it (a null). The
        // cluster's selector then has the label true=a for {y: a}; zerohop matched y=a (a DENY on pods the cluster's copy
        // does not select). Refused, as unquoted portLevelMtls keys are; quoted keys are the text.
        String sigsYaml = "sigs.k8s.io/yaml convertToJSONableMapKey (kubectl YAMLToJSON)";
        for (String[] k : new String[][] {{"y", "true"}, {"on", "true"}, {"No", "false"}, {"01", "1"}, {"1.0", "1"}, {"0x10", "16"}}) {
            T.invalid(sigsYaml, "a plain selector key " + k[0] + " is the label key " + k[1] + " in the cluster",
                    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: prod}\n"
                    + "spec: {action: DENY, selector: {matchLabels: {" + k[0] + ": a}}, rules: [{}]}\n",
                    "case.yaml:4: spec.selector.matchLabels[\"" + k[0] + "\"]: unquoted, kubectl reads this key as YAML 1.1 does"
                    + " (go-yaml v2, sigs.k8s.io/yaml) and sends the label key \"" + k[1] + "\"");
        }
        T.invalid(sigsYaml, "a plain null selector key: kubectl refuses it", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
                + "metadata: {name: c, namespace: prod}\nspec: {endpointSelector: {matchLabels: {~: a}}, ingress: [{}]}\n",
                "a null key, which kubectl refuses");
        T.decide(sigsYaml, "a quoted selector key is its text", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: p, namespace: prod}\nspec: {action: DENY, selector: {matchLabels: {'y': a, \"01\": b}}, rules: [{}]}\n",
                r().dest("prod", "web", java.util.Map.of("y", "a", "01", "b")), false, "prod/p");
        T.valid(ISTIO_CRD, "quoted, they are strings", "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                + "metadata: {name: \"p\", namespace: \"prod\", labels: {version: \"1\"}, annotations: {owner: \"yes\"}}" + apSpec);
    }

    static List<Upstream.Case> cases() {
        return T.cases;
    }

    @Test
    void countsPerSource() {
        T.counts().forEach((k, v) -> System.out.println("conformance cases: " + v + "  " + k));
    }

    @Test
    void duplicateKeyNamesFileLineAndField() {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("d.yaml", HEAD + "spec:\n  action: ALLOW\n  action: DENY\n"));
        assertThat(e.getMessage()).isEqualTo("d.yaml:6: spec.action: duplicate key \"action\" (first at line 5)");
    }

    @Test
    void depthLimitNamesFileAndLine() {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString("deep.yaml", HEAD + "spec:\n  rules:\n" + "  - ".repeat(1) + "[".repeat(80) + "]".repeat(80) + "\n"));
        assertThat(e.getMessage()).startsWith("deep.yaml:6: ").contains("nested deeper than 64 levels");
    }

    @Test
    void notUtf8NamesTheFileLineAndByte(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("latin1.yaml");
        byte[] head = (HEAD + "spec:\n  action: DENY\n  rules: [{from: [{source: {principals: [\"caf").getBytes(StandardCharsets.UTF_8);
        byte[] tail = "\"]}}]}]\n".getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[head.length + 1 + tail.length];
        System.arraycopy(head, 0, all, 0, head.length);
        all[head.length] = (byte) 0xE9;
        System.arraycopy(tail, 0, all, head.length + 1, tail.length);
        Files.write(f, all);
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromFile(f));
        assertThat(e.getMessage()).isEqualTo(f + ":6: not UTF-8 text (byte 0xe9 at offset " + head.length
                + "); policy files must be UTF-8");
    }

    @Test
    void aUtf8ByteOrderMarkIsFine(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bom.yaml");
        Files.writeString(f, "\uFEFF" + HEAD + "spec: {}\n");
        assertThat(PolicyLoader.fromFile(f).size()).isEqualTo(1);
    }

    @Test
    void customAuthorizerIsConsultedAtL4WhenConfigured() throws Exception {
        PolicySet set = PolicyLoader.fromString("c.yaml", HEAD.replace("name: p", "name: ext")
                + "spec: {action: CUSTOM, provider: {name: opa}, rules: [{to: [{operation: {ports: ['8080']}}]}]}\n");
        List<String> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        PolicyEngine e = PolicyEngine.builder().policies(set).customAuthorizer((provider, req) -> {
            asked.add(provider);
            return req.sourcePrincipal() != null && req.sourcePrincipal().endsWith("/frontend");
        }).build();
        assertThat(e.evaluate(r().build()).allowed()).isTrue();
        Decision denied = e.evaluate(r().principal("spiffe://cluster.local/ns/prod/sa/other").build());
        assertThat(denied.outcome()).isEqualTo(Decision.Outcome.DENIED_CUSTOM);
        assertThat(asked).containsExactly("opa", "opa");
        // Without an authorizer: skipped at L4 (ztunnel never receives CUSTOM), denied at L7.
        PolicyEngine none = PolicyEngine.builder().policies(set).build();
        assertThat(none.evaluate(r().principal("spiffe://cluster.local/ns/prod/sa/other").build()).allowed()).isTrue();
        assertThat(none.evaluate(r().http("GET", "/").build()).outcome()).isEqualTo(Decision.Outcome.DENIED_CUSTOM);
    }
}
