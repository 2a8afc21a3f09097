package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.zerohop.policy.PolicyLoadException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The size limit names the file and the line on which it is reached (the real limit is 64 MiB; a small one here). */
class YamlDocumentsTest {

    @Test
    void sizeLimitNamesFileAndLine() {
        String yaml = "a: 1\nb: 2\nc: 3333333333\nd: 4\n";
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("big.yaml", yaml, 12));
        assertThat(e.getMessage()).isEqualTo("big.yaml:3: too large: " + yaml.length()
                + " characters (limit 12); the limit is reached on this line");
    }

    @Test
    void underTheLimitParses() throws Exception {
        assertThat(YamlDocuments.parse("ok.yaml", "a: 1\n", 12)).hasSize(1);
    }

    /**
     * A misaligned key is compared with the block key before it, not with a flow mapping's key: in
     * {@code matchLabels: {app: checkout}} "app" sits at column 28, and the hint named it ("is at column 28").
     */
    @Test
    void aMisalignedKeyIsComparedWithTheBlockKeyBeforeIt() {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow, namespace: prod}
                spec:
                  selector:
                    matchLabels: {app: checkout}
                 action: ALLOW
                """;
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("p.yaml", yaml));
        assertThat(e.line()).isEqualTo(7);
        assertThat(e.problem()).endsWith("(line 7 starts \"action:\" at column 2; the key before it, spec.selector.matchLabels"
                + " on line 6, is at column 5: keys of one mapping start in the same column, a nested one further right)");
    }

    /**
     * SnakeYAML refuses a tab inside a line (after {@code key:}, after a flow list's comma) where kubectl's reader takes
     * it: still refused (nothing is read differently from what was meant), but named as where it is, not as
     * indentation (a new-user pass, 3 December: {@code action:<TAB>DENY} was "a tab character in the indentation").
     */
    @Test
    void aTabInsideALineIsNamedSo() {
        for (String line : new String[] {"  action:\tDENY", "  rules: [{from: [{source: {namespaces: [\"a\",\t\"b\"]}}]}]"}) {
            String yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: prod}\nspec:\n" + line + "\n";
            PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("t.yaml", yaml));
            assertThat(e).as(line).isNotNull();
            assertThat(e.line()).as(line).isEqualTo(5);
            assertThat(e.problem()).as(line).contains("a tab character (\\t) inside the line").doesNotContain("indentation");
        }
    }

    /** A sink that streams the items of every list whose kind ends in "List", recording what it was asked and given. */
    private static final class Recording implements YamlDocuments.Sink {
        final List<String> asked = new ArrayList<>();
        final List<YNode> items = new ArrayList<>();
        final List<YNode> docs = new ArrayList<>();
        final List<String> order = new ArrayList<>();

        @Override
        public void accept(YNode document) {
            docs.add(document);
            order.add("doc");
        }

        @Override
        public boolean streamsItems(String kind, String apiVersion) {
            asked.add(kind + " " + apiVersion);
            return kind != null && kind.endsWith("List");
        }

        @Override
        public void item(YNode item) {
            items.add(item);
            order.add(item.path());
        }
    }

    /**
     * A root {@code items} list goes to the sink one item at a time, before its document, when the sink asks for it
     * (the policy loader does for the lists kubectl applies): a {@code kind: List} of 20,000 policies held whole did
     * not fit the node proxy's heap. kubectl writes {@code items} before {@code kind}: the kind is read ahead. Paths,
     * lines and anchors are those of the list held whole.
     */
    @Test
    void aListsItemsAreStreamedWithTheKindReadAhead() throws Exception {
        String yaml = """
                apiVersion: v1
                items:
                - kind: A
                  metadata: &m {name: one}
                - kind: B
                  metadata: *m
                kind: List
                metadata: {resourceVersion: ""}
                ---
                {"apiVersion": "v1", "items": [{"kind": "C"}, {"kind": "D"}], "kind": "List"}
                ---
                kind: Other
                items: [{kind: E}]
                """;
        Recording r = new Recording();
        assertThat(YamlDocuments.parse("l.yaml", yaml, r)).isEqualTo(3);
        assertThat(r.asked).containsExactly("List v1", "List v1", "Other null");
        assertThat(r.order).containsExactly("items[0]", "items[1]", "doc", "items[0]", "items[1]", "doc", "doc");
        assertThat(r.items).extracting(i -> i.get("kind").scalar()).containsExactly("A", "B", "C", "D");
        assertThat(r.items).extracting(YNode::line).containsExactly(3, 5, 10, 10);
        assertThat(r.items.get(1).get("metadata").text("name", "")).isEqualTo("one"); // the alias of item 0's anchor
        assertThat(r.items.get(1).get("metadata").path()).isEqualTo("items[1].metadata");
        assertThat(r.docs.get(0).get("items").items()).isEmpty();
        assertThat(r.docs.get(0).text("kind", "")).isEqualTo("List");
        // Not streamed: the sink said no, so the document holds its items.
        assertThat(r.docs.get(2).get("items").items()).singleElement().extracting(i -> i.get("kind").scalar()).isEqualTo("E");
    }

    /**
     * An anchored items list is streamed too, and not kept: an alias of it is an error at the alias (held whole, a
     * 20,000-item anchored list ran the proxy out of memory). A second items key's items are read and dropped, not
     * handed on, before its duplicate-key error.
     */
    @Test
    void anAnchoredOrRepeatedItemsListIsStreamedAndNotKept() throws Exception {
        Recording anchored = new Recording();
        PolicyLoadException alias = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("a.yaml",
                "kind: List\napiVersion: v1\nitems: &all [{kind: A}]\nagain: *all\n", anchored));
        assertThat(alias.line()).isEqualTo(4);
        assertThat(alias.field()).isEqualTo("again");
        assertThat(alias.problem()).startsWith("*all is an alias of the items list, which is read one item at a time and not kept");
        assertThat(anchored.items).hasSize(1);

        Recording twice = new Recording();
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("d.yaml",
                "kind: List\napiVersion: v1\nitems: [{kind: A}]\nitems: [{kind: B}]\n", twice));
        assertThat(e.line()).isEqualTo(4);
        assertThat(e.problem()).contains("duplicate key \"items\"");
        assertThat(twice.items).extracting(i -> i.get("kind").scalar()).containsExactly("A");
    }

    /**
     * A syntax error after the items stops the read-ahead (the kind is then unknown to the sink, which holds the
     * items whole) and is reported where it is, as without streaming.
     */
    @Test
    void aSyntaxErrorAheadIsReportedWhereItIs() {
        String yaml = "apiVersion: v1\nitems:\n- kind: A\nmetadata: {name: [x}\nkind: List\n";
        Recording r = new Recording();
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("s.yaml", yaml, r));
        assertThat(e.line()).isEqualTo(4);
        assertThat(r.asked).containsExactly("null v1");
        assertThat(r.items).isEmpty();
    }

    /**
     * A flow list or mapping never closed is named on the line it opened, with the bracket to add. SnakeYAML fails at
     * the next line's key or at the end of the text (a line past the last one), and the hint compared key columns that
     * already lined up (a new-user pass, 3 December). A missing comma inside a list written over several lines is
     * still reported where it is.
     */
    @Test
    void anUnclosedFlowCollectionIsNamedWhereItOpened() {
        String head = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: prod}\nspec:\n";
        String rules = "  rules: [{from: [{source: {principals: [\"a\"]}}]}\n";
        PolicyLoadException atEnd = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("p.yaml", head + rules));
        assertThat(atEnd.line()).isEqualTo(5);
        assertThat(atEnd.field()).isEqualTo("spec.rules");
        assertThat(atEnd.problem()).startsWith("invalid YAML: the flow list '[' opened at column 10 is not closed at the end of the text:"
                + " add the missing ']'");

        PolicyLoadException noNewline = catchThrowableOfType(PolicyLoadException.class,
                () -> YamlDocuments.parse("p.yaml", head + rules.strip()));
        assertThat(noNewline.line()).isEqualTo(5);
        assertThat(noNewline.problem()).contains("is not closed at the end of the text: add the missing ']'");

        PolicyLoadException beforeKey = catchThrowableOfType(PolicyLoadException.class,
                () -> YamlDocuments.parse("p.yaml", head + rules + "  action: DENY\n"));
        assertThat(beforeKey.line()).isEqualTo(5);
        assertThat(beforeKey.field()).isEqualTo("spec.rules");
        assertThat(beforeKey.problem()).contains("is not closed before line 6: add the missing ']'").doesNotContain("same column");

        PolicyLoadException map = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("p.yaml",
                head.replace("namespace: prod}", "namespace: prod") + "  action: DENY\n"));
        assertThat(map.line()).isEqualTo(3);
        assertThat(map.field()).isEqualTo("metadata");
        assertThat(map.problem()).contains("the flow mapping '{' opened at column 11 is not closed before line 4: add the missing '}'");

        PolicyLoadException comma = catchThrowableOfType(PolicyLoadException.class, () -> YamlDocuments.parse("p.yaml",
                head + "  rules: [\n    {from: []},\n    {to: []} {from: []}\n  ]\n"));
        assertThat(comma.line()).isEqualTo(7);
        assertThat(comma.problem()).doesNotContain("not closed");
    }

    /**
     * Short values repeated across documents share one String (20,000 policies: 3.7 MB less live heap, 77,000 fewer
     * Strings, policylist-b26af6f1.md); long ones are read as they are.
     */
    @Test
    void repeatedShortValuesShareOneString() throws Exception {
        String doc = "kind: AuthorizationPolicy\nmetadata: {namespace: prod}\nspec: {action: ALLOW, note: %s}\n---\n";
        String longText = "x".repeat(65);
        List<YNode> docs = YamlDocuments.parse("s.yaml", doc.formatted(longText) + doc.formatted(longText));
        assertThat(docs.get(1).get("spec").get("action").scalar()).isSameAs(docs.get(0).get("spec").get("action").scalar());
        assertThat(docs.get(1).get("metadata").get("namespace").scalar()).isSameAs(docs.get(0).get("metadata").get("namespace").scalar());
        assertThat(docs.get(1).map.keySet().iterator().next()).isSameAs(docs.get(0).map.keySet().iterator().next());
        assertThat(docs.get(1).get("spec").get("note").scalar()).isEqualTo(longText)
                .isNotSameAs(docs.get(0).get("spec").get("note").scalar());
    }
}
