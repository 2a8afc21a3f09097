package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Syntax errors a new-user pass found misplaced, each named where the mistake is (a platform engineer's files, 4
 * December). SnakeYAML's "while scanning a simple key: could not find expected ':'" (ScannerImpl
 * stalePossibleSimpleKeys) carries the word that needed a colon as its context mark and the later line where it gave
 * up as its problem mark; the loader named the later line and a field path placed from it
 * ({@code nocolon1.yaml:7: spec.endpointSelector[0].fromEndpoints}), never line 6. A quote left open inside a flow list
 * was reported as a missing ']'. And a stream of concatenated JSON objects, which kubectl reads
 * (k8s.io/apimachinery pkg/util/yaml decoder.go: a stream whose first non-space byte is '{' goes to Go's json.Decoder,
 * which decodes one value after another), failed with "expected '&lt;document start&gt;'".
 */
class SyntaxErrorPlacementTest {

    static PolicyLoadException refusal(String name, String text) {
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString(name, text));
        assertThat(e).as(text).isNotNull();
        return e;
    }

    @Test
    void aKeyWithoutItsColonIsNamedOnItsOwnLine() {
        PolicyLoadException e = refusal("nocolon1.yaml", """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: c, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {app: b}}
                  ingress
                  - fromEndpoints: [{matchLabels: {app: a}}]
                """);
        assertThat(e).hasMessage("nocolon1.yaml:6: spec: invalid YAML: \"ingress\" has no ':' after it (a key needs one; or, if"
                + " it is a value, indent it under its key)");
        assertThat(e.field()).isEqualTo("spec");
    }

    @Test
    void aNestedKeyWithoutItsColonIsNamedUnderItsRule() {
        PolicyLoadException e = refusal("nocolon2.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata:
                  name: p
                  namespace: prod
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals: ["cluster.local/ns/legacy/sa/old"]
                    to
                    - operation:
                        ports: ["8080"]
                """);
        assertThat(e).hasMessage("nocolon2.yaml:12: spec.rules[0]: invalid YAML: \"to\" has no ':' after it (a key needs one;"
                + " or, if it is a value, indent it under its key)");
    }

    @Test
    void aStrayWordAtTheTopLevelIsNamedWithNoField() {
        PolicyLoadException e = refusal("nocolon3.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: prod}
                spec:
                  action: DENY
                  rules: [{}]
                stray
                """);
        assertThat(e.line()).isEqualTo(7);
        assertThat(e.field()).isEmpty();
        assertThat(e.problem()).isEqualTo("invalid YAML: \"stray\" has no ':' after it (a key needs one; or, if it is a value,"
                + " indent it under its key)");
        // A word with a comment after it is named without the comment.
        assertThat(refusal("c.yaml", "metadata: {name: p}\nlabels  # the labels\n  app: x\n").problem())
                .startsWith("invalid YAML: \"labels\" has no ':' after it");
    }

    @Test
    void aQuoteLeftOpenInAFlowListIsNamedNotAMissingBracket() {
        PolicyLoadException e = refusal("quote.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: p, namespace: prod}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals: ["cluster.local/ns/legacy/sa/old]
                  - to:
                    - operation:
                        ports: ["8080"]
                """);
        assertThat(e.line()).isEqualTo(9);
        assertThat(e.field()).isEqualTo("spec.rules[0].from[0].source.principals");
        assertThat(e.problem()).startsWith("invalid YAML: the quote '\"' opened at line 9, column 22 is not closed on its line:"
                + " add the closing '\"'").doesNotContain("add the missing ']'");
        // The second of two values, and a single quote.
        assertThat(refusal("q.yaml", "spec:\n  principals: ['a', 'b]\n  other: ['c']\n").problem())
                .startsWith("invalid YAML: the quote \"'\" opened at line 2, column 21 is not closed on its line");
        // A bracket left open with its quotes closed is still the bracket.
        assertThat(refusal("u.yaml", "spec:\n  principals: [\"a\"\n  other: x\n").problem())
                .startsWith("invalid YAML: the flow list '[' opened at column 15 is not closed before line 3: add the missing ']'");
        // A quote never closed before the end of the text is named where it opened.
        PolicyLoadException end = refusal("e.yaml", "spec:\n  action: \"DENY\n  rules: [{}]\n");
        assertThat(end.line()).isEqualTo(2);
        assertThat(end.problem()).startsWith("invalid YAML: the quote '\"' opened at line 2, column 11 is not closed:");
    }

    static final String AP1 = "{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\",\"metadata\":{\"name\":\"p\","
            + "\"namespace\":\"prod\"},\n \"spec\":{\"action\":\"DENY\",\"rules\":[{\"from\":[{\"source\":{\"principals\":"
            + "[\"cluster.local/ns/legacy/sa/old\"]}}]}]}}";

    @Test
    void concatenatedJsonObjectsLoadAsKubectlReadsThem() throws Exception {
        String second = AP1.replace("\"name\":\"p\"", "\"name\":\"q\"");
        for (String sep : new String[] {"\n", "", " \n\n\t"}) {
            PolicySet s = PolicyLoader.fromString("p2.json", AP1 + sep + second + "\n");
            assertThat(s.policies()).as("separator %s", sep.replace("\n", "\\n")).extracting(PolicyRef::name)
                    .containsExactly("p", "q");
        }
        PolicySet three = PolicyLoader.fromString("p3.json", String.join("\n", List.of(AP1,
                AP1.replace("\"name\":\"p\"", "\"name\":\"q\""), AP1.replace("\"name\":\"p\"", "\"name\":\"r\""))));
        assertThat(three.size()).isEqualTo(3);
        // Errors in a later object name its own line and field, whether it starts a line or follows on the same one.
        PolicyLoadException bad = refusal("p2.json", AP1 + "\n" + second.replace("DENY", "DENNY"));
        assertThat(bad.line()).isEqualTo(4);
        assertThat(bad.field()).isEqualTo("spec.action");
        PolicyLoadException sameLine = refusal("p2.json", AP1 + second.replace("\"name\":\"q\"", "\"name\":\"q\",\"x\":1"));
        assertThat(sameLine.line()).isEqualTo(2);
        assertThat(sameLine.field()).isEqualTo("metadata.x");
        // The same name twice is the duplicate it is.
        assertThat(refusal("p2.json", AP1 + "\n" + AP1).problem()).startsWith("duplicate AuthorizationPolicy prod/p");
    }

    /**
     * JSON with a ',' left out at a line's end: SnakeYAML names the next line's key and "expected ',' or '}'", and the
     * loader named that line and key (or, where the next line lined up with the '{', told to add a '}'). It is the line
     * above, and the ',' (a final new-user pass).
     */
    @Test
    void aCommaMissingInJsonIsNamedOnItsLine() {
        String second = """
                {
                  "apiVersion": "security.istio.io/v1",
                  "kind": "AuthorizationPolicy",
                  "metadata": {"name": "q", "namespace": "prod"}
                  "spec": {"action": "DENY", "rules": [{}]}
                }
                """;
        PolicyLoadException e = refusal("p2.json", AP1 + "\n" + second);
        assertThat(e.line()).isEqualTo(6);
        assertThat(e.problem()).isEqualTo("invalid YAML: a ',' is missing at the end of the line, before \"spec\" on line 7 (or the '}'"
                + " that closes the mapping opened at line 3, column 1; SnakeYAML: expected ',' or '}', but got <scalar>)");
        assertThat(e.field()).as("the entry the comma ends, not the last key inside it").isEqualTo("metadata");
        // Keys in the column of the '{' (no indentation): was "the flow mapping '{' ... is not closed: add the missing '}'".
        PolicyLoadException flat = refusal("flat.json", "{\n\"kind\": \"AuthorizationPolicy\"\n\"spec\": {}\n}\n");
        assertThat(flat.line()).isEqualTo(2);
        assertThat(flat.problem()).startsWith("invalid YAML: a ',' is missing at the end of the line, before \"spec\" on line 3");
        assertThat(flat.field()).isEqualTo("kind");
        // Within a line, and in a list.
        PolicyLoadException inLine = refusal("l.json", "{\"kind\": \"AuthorizationPolicy\" \"spec\": {}}\n");
        assertThat(inLine.line()).isEqualTo(1);
        assertThat(inLine.problem()).startsWith("invalid YAML: a ',' is missing before \"spec\" (column 32)");
        PolicyLoadException inList = refusal("a.json", "{\"spec\": {\"rules\": [{\"from\": []}\n {\"to\": []}]}}\n");
        assertThat(inList.line()).isEqualTo(1);
        assertThat(inList.problem()).startsWith("invalid YAML: a ',' is missing at the end of the line, before the '{' on line 2"
                + " (or the ']' that closes the list opened at line 1, column 20;");
        // YAML keeps its reading: a flow mapping left open before the next block key is the bracket.
        assertThat(refusal("u.yaml", "metadata: {name: p\nspec: {}\n").problem()).startsWith("invalid YAML: the flow mapping '{'");
    }

    @Test
    void aSecondDocumentWithoutItsMarkerInYamlIsStillAnError() {
        // kubectl reads such a text as YAML (its first character is no '{'): a second document needs "---".
        String yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: prod}\n"
                + "spec: {}\n{\"apiVersion\": \"security.istio.io/v1\"}\n";
        assertThat(refusal("y.yaml", yaml).problem()).startsWith("invalid YAML: ");
    }
}
