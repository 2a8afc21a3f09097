package io.zerohop.policy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.zerohop.policy.PolicyLoadException;
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
}
