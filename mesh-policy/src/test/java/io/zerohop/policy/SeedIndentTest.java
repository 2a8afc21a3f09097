package io.zerohop.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * YAML syntax errors in the seed article's two manifests name the file, the line and the field, as
 * every other malformed-policy error does ({@code file:line: field: reason}). A new-user pass put a tab
 * into the seed ({@code \taction: ALLOW}) and got {@code p.yaml:19: invalid YAML: while scanning for the
 * next token: found character '\t(TAB)' ...}, and a dedented {@code description:} got SnakeYAML's
 * {@code expected <block end>, but found '<block mapping start>'}: a line, no field. Every indented line
 * of both manifests gets a tab, then one space more and one less; each variant either still parses
 * (YAML allows it: a label map indented differently) or is refused as a whole naming the key typed on
 * the error's line, placed by indentation under the keys above it.
 */
class SeedIndentTest {
    private static final Pattern KEY = Pattern.compile("^\\s*(?:- )?\"?([A-Za-z]+)\"?:");

    static Stream<Arguments> variants() throws Exception {
        List<Arguments> out = new ArrayList<>();
        for (String file : new String[] {"istio-ambient-e-commerce.yaml", "cilium-enforce-mtls-checkout.yaml"}) {
            List<String> lines = Files.readAllLines(SeedManifestTest.seed(file));
            for (int i = 0; i < lines.size(); i++) {
                String l = lines.get(i);
                int indent = l.length() - l.stripLeading().length();
                if (indent == 0) {
                    continue;
                }
                out.add(Arguments.of(file, i + 1, "tab for the first indentation step", "\t" + l.substring(Math.min(2, indent))));
                out.add(Arguments.of(file, i + 1, "tab for the whole indentation", "\t" + l.substring(indent)));
                out.add(Arguments.of(file, i + 1, "tab before the text", l.substring(0, indent) + "\t" + l.substring(indent)));
                out.add(Arguments.of(file, i + 1, "one space more", " " + l));
                out.add(Arguments.of(file, i + 1, "one space less", l.substring(1)));
            }
        }
        assertThat(out).as("both manifests' indented lines").hasSizeGreaterThan(150);
        return out.stream();
    }

    @ParameterizedTest(name = "{0}:{1}: {2}")
    @MethodSource("variants")
    void aTabOrABadIndentNamesFileLineAndField(String file, int line, String what, String replacement) throws Exception {
        List<String> lines = new ArrayList<>(Files.readAllLines(SeedManifestTest.seed(file)));
        lines.set(line - 1, replacement);
        PolicyLoadException e = catchThrowableOfType(PolicyLoadException.class,
                () -> PolicyLoader.fromString(file, String.join("\n", lines) + "\n"));
        if (replacement.contains("\t")) {
            // YAML forbids tabs in indentation (YAML 1.2 §6.1); go-yaml (kubectl) refuses them too.
            assertThat(e).as("a tab in the indentation of line %d must fail to load", line).isNotNull();
            assertThat(e.line()).as(e.getMessage()).isEqualTo(line);
            assertThat(e.problem()).as(e.getMessage()).startsWith("invalid YAML: a tab character (\\t) in the indentation");
        }
        if (e == null) {
            return; // still valid YAML, which SeedManifestTest's decisions do not cover: only syntax errors are checked here
        }
        assertThat(e.file()).isEqualTo(file);
        assertThat(e.problem()).startsWith("invalid YAML: ");
        assertThat(e.field()).as(e.getMessage()).isNotEmpty();
        Matcher key = KEY.matcher(lines.get(e.line() - 1));
        if (key.find() && e.problem().contains("reads as any of")) {
            assertThat(e.problem()).as(e.getMessage()).containsPattern("[.\\]]" + key.group(1) + "[ ,)]");
        } else if (key.find(0)) {
            assertThat(e.field()).as(e.getMessage()).satisfiesAnyOf(
                    f -> assertThat(f).endsWith("." + key.group(1)),
                    f -> assertThat(f).isEqualTo(key.group(1)));
        }
        String truth = pathOf(Files.readAllLines(SeedManifestTest.seed(file)), line - 1);
        if (what.equals("tab for the whole indentation") && truth != null) {
            // The tab's width is unknown: the field is the line's own, or the message offers it among the readings.
            assertThat(e.field().equals(truth) || e.problem().matches(".* reads as any of (.*, )?" + Pattern.quote(truth) + "[ ,)].*"))
                    .as("%s: the line is %s", e.getMessage(), truth).isTrue();
        }
        assertThat(e.getMessage()).startsWith(file + ":" + e.line() + ": " + e.field() + ": invalid YAML: ");
    }

    @Test
    void theNewUsersTabIsNamedWithEachFieldItCanBe() throws Exception {
        // A tab's width is unknown: after "app: checkout" the line can close one, two or no mappings.
        assertThat(refusal("istio-ambient-e-commerce.yaml", 19, "  action: ALLOW", "\taction: ALLOW"))
                .hasMessage("p.yaml:19: spec: invalid YAML: a tab character (\\t) in the indentation: YAML indents"
                        + " with spaces only; replace the tab with spaces (the tab's width is unknown, and the line reads as"
                        + " any of spec.action (tab stops of 2), spec.selector.action (tab stops of 4),"
                        + " spec.selector.matchLabels.action)");
    }

    @Test
    void aDedentedKeyNamesItsFieldAndTheColumnsToCompare() throws Exception {
        // SnakeYAML's own words stay (what a search for the error finds); the columns say what to fix.
        assertThat(refusal("cilium-enforce-mtls-checkout.yaml", 7, "  endpointSelector:", " endpointSelector:"))
                .hasMessage("p.yaml:7: spec.endpointSelector: invalid YAML: while parsing a block mapping: expected"
                        + " <block end>, but found '<block mapping start>' (line 7 starts \"endpointSelector:\" at column 2;"
                        + " the key before it, spec.description on line 6, is at column 3: keys of one mapping start in the"
                        + " same column, a nested one further right)");
    }

    @Test
    void aTabForAWholeIndentationNamesTheFieldTheStructureFits() throws Exception {
        // New-user pass: sed '18s/^ */\t/' gave spec.app (the tab counted as one indentation step). The line
        // after matchLabels: (which opens a block) is its child with tab stops of 4 or 8.
        assertThat(refusal("istio-ambient-e-commerce.yaml", 18, "      app: checkout", "\tapp: checkout").field())
                .isEqualTo("spec.selector.matchLabels.app");
        assertThat(refusal("cilium-enforce-mtls-checkout.yaml", 25, "      mode: \"required\"", "\tmode: \"required\"").field())
                .isEqualTo("spec.ingress[0].authentication.mode");
        // The new-user's Cilium case: after trustDomain: the line may close any open mapping; each reading named.
        PolicyLoadException e = refusal("cilium-enforce-mtls-checkout.yaml", 28,
                "        identity: \"spiffe://cluster.local/ns/production/sa/frontend-service-account\"",
                "\tidentity: \"spiffe://cluster.local/ns/production/sa/frontend-service-account\"");
        assertThat(e.field()).isEqualTo("spec");
        assertThat(e.problem()).contains("spec.ingress[0].authentication.spiffe.identity (tab stops of 8)");
    }

    /**
     * The dotted path (as the loader names fields) of the key on line {@code index} (0-based) of a manifest indented
     * with spaces, by an indentation count independent of YamlDocuments; null if the line holds no key.
     */
    static String pathOf(List<String> lines, int index) {
        Pattern p = Pattern.compile("^( *)(- )?\"?([A-Za-z]+)\"?:");
        List<Object[]> stack = new ArrayList<>(); // {column, path, item?}
        java.util.Map<String, Integer> items = new java.util.HashMap<>();
        String path = null;
        for (int i = 0; i <= index; i++) {
            String l = lines.get(i);
            if (l.startsWith("---")) {
                stack.clear();
                items.clear();
                continue;
            }
            Matcher m = p.matcher(l);
            path = null;
            if (l.isBlank() || l.strip().startsWith("#") || !m.find()) {
                continue;
            }
            int indent = m.group(1).length();
            if (m.group(2) != null) {
                while (!stack.isEmpty() && ((int) stack.get(stack.size() - 1)[0] > indent
                        || ((int) stack.get(stack.size() - 1)[0] == indent && (boolean) stack.get(stack.size() - 1)[2]))) {
                    stack.remove(stack.size() - 1);
                }
                String list = (String) stack.get(stack.size() - 1)[1];
                int n = items.merge(list, 1, Integer::sum) - 1;
                stack.add(new Object[] {indent, list + "[" + n + "]", true});
                indent += 2;
            }
            while (!stack.isEmpty() && (int) stack.get(stack.size() - 1)[0] >= indent) {
                stack.remove(stack.size() - 1);
            }
            path = (stack.isEmpty() ? "" : stack.get(stack.size() - 1)[1] + ".") + m.group(3);
            stack.add(new Object[] {indent, path, false});
        }
        return path;
    }

    /** The seed manifest {@code file} loaded as {@code p.yaml} with line {@code line} (which reads {@code was}) replaced. */
    private static PolicyLoadException refusal(String file, int line, String was, String replacement) throws Exception {
        List<String> lines = new ArrayList<>(Files.readAllLines(SeedManifestTest.seed(file)));
        assertThat(lines.get(line - 1)).isEqualTo(was);
        lines.set(line - 1, replacement);
        return catchThrowableOfType(PolicyLoadException.class, () -> PolicyLoader.fromString("p.yaml", String.join("\n", lines) + "\n"));
    }
}
