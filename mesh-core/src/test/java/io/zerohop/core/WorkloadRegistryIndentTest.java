package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A YAML syntax error in a {@code --workloads} file names the file, the line and the field, as a policy
 * file's does (mesh-policy's SeedIndentTest, whose reader, YamlDocuments, the registry reuses for the
 * wording). Before, a tab read {@code w.yaml:3: invalid YAML: found character '\t(TAB)' that cannot
 * start any token} and a dedented key SnakeYAML's {@code expected <block end>, but found '<block mapping
 * start>'}: a line, no field, no hint. Every indented line of the README's registry example gets a tab,
 * then one space more and one less; each variant loads, or is refused with file:line and, for a
 * syntax error, the field typed on the line.
 */
class WorkloadRegistryIndentTest {
    /** mesh-core/README.md's workload registry, block style throughout so that every key has a line of its own. */
    static final String EXAMPLE = """
            trustDomain: example.org
            nodes:
              - name: node-b
                hboneAddress: "10.0.0.2:15008"
            workloads:
              - namespace: prod
                name: backend
                serviceAccount: backend
                addresses:
                  - 10.0.1.2
                  - "fd00::2"
                labels:
                  app: backend
                  tier: api
                protocol: HBONE
                ports:
                  8080: http
                  9090: grpc
                node: node-b
              - namespace: prod
                name: db
                addresses: [10.0.1.3]
                protocol: TCP
            """;

    /** mesh-core/README.md's example as printed there (flow style for short lists and mappings), comments dropped. */
    static final String README_EXAMPLE = """
            trustDomain: cluster.local
            nodes:
              - {name: node-a}
              - {name: node-b, hboneAddress: "10.0.0.2:15008"}
              - {name: node-c, addresses: [10.0.0.3, "fd00::3"]}
            workloads:
              - namespace: prod
                name: backend
                serviceAccount: backend
                addresses: [10.0.1.2, "fd00::2"]
                labels: {app: backend}
                protocol: HBONE
                ports: {8080: http, 9090: grpc}
                namedPorts: {http: 8080}
                node: node-b
            services:
              - namespace: prod
                name: backend
                hostname: backend.prod.svc.cluster.local
                addresses: [10.96.0.20, "fd00:10:96::14"]
                ports: {80: 8080, 9000: http, 7070: }
                selector: {app: backend}
                internalTrafficPolicy: Cluster
                trafficDistribution: PreferClose
            """;

    private static final Pattern KEY = Pattern.compile("^\\s*(?:- )?\"?([A-Za-z0-9]+)\"?:(?:\\s|$)");

    @TempDir
    Path dir;

    static Stream<Arguments> variants() {
        List<Arguments> out = new ArrayList<>();
        List<String> lines = EXAMPLE.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            int indent = l.length() - l.stripLeading().length();
            if (indent == 0) {
                continue;
            }
            out.add(Arguments.of(i + 1, "tab for the first indentation step", "\t" + l.substring(Math.min(2, indent))));
            out.add(Arguments.of(i + 1, "tab before the text", l.substring(0, indent) + "\t" + l.substring(indent)));
            out.add(Arguments.of(i + 1, "one space more", " " + l));
            out.add(Arguments.of(i + 1, "one space less", l.substring(1)));
        }
        assertThat(out).as("the example's indented lines").hasSizeGreaterThan(70);
        return out.stream();
    }

    @Test
    void theExamplesLoad() throws Exception {
        assertThat(WorkloadRegistry.load(Files.writeString(dir.resolve("w.yaml"), EXAMPLE)).all()).hasSize(2);
        WorkloadRegistry readme = WorkloadRegistry.load(Files.writeString(dir.resolve("r.yaml"), README_EXAMPLE));
        assertThat(readme.all()).hasSize(1);
        Service backend = readme.services().get(0);
        assertThat(readme.endpoints(backend)).hasSize(1);
        assertThat(backend.loadBalancing()).isSameAs(Service.LoadBalancing.PREFER_SAME_ZONE);
        assertThat(readme.pickEndpoint(backend, 9000, java.net.InetAddress.getByName("10.96.0.20")).address())
                .isEqualTo(new java.net.InetSocketAddress(java.net.InetAddress.getByName("10.0.1.2"), 8080));
    }

    @ParameterizedTest(name = "line {0}: {1}")
    @MethodSource("variants")
    void aTabOrABadIndentNamesFileLineAndField(int line, String what, String replacement) throws Exception {
        List<String> lines = new ArrayList<>(EXAMPLE.lines().toList());
        lines.set(line - 1, replacement);
        Path f = Files.writeString(dir.resolve("w.yaml"), String.join("\n", lines) + "\n");
        IllegalArgumentException e = catchThrowableOfType(IllegalArgumentException.class, () -> WorkloadRegistry.load(f));
        if (replacement.contains("\t")) {
            // YAML forbids tabs in indentation (YAML 1.2 §6.1); go-yaml (kubectl) refuses them too.
            assertThat(e).as("a tab in the indentation of line %d must fail to load", line).isNotNull();
            assertThat(e.getMessage()).startsWith(f + ":" + line + ": ")
                    .contains(": invalid YAML: a tab character (\\t) in the indentation: YAML indents with spaces only; replace the tab with spaces");
        }
        if (e == null) {
            return; // still a valid registry (YAML allows a list or a mapping indented differently)
        }
        Matcher m = Pattern.compile(Pattern.quote(f.toString()) + ":(\\d+): (.*)").matcher(e.getMessage());
        assertThat(m.matches()).as(e.getMessage()).isTrue();
        if (!m.group(2).contains("invalid YAML: ")) {
            return; // parsed, then refused by the registry (an unknown field, a scalar where a list goes): its own file:line: field: reason
        }
        int at = Integer.parseInt(m.group(1));
        assertThat(m.group(2)).as("SnakeYAML's words are not the message").doesNotContain("(TAB)");
        Matcher key = KEY.matcher(lines.get(at - 1));
        String field = m.group(2).substring(0, m.group(2).indexOf(": invalid YAML: "));
        assertThat(field).as(e.getMessage()).isNotEmpty();
        if (key.find() && m.group(2).contains("reads as any of")) {
            // A tab of unknown width that several levels read: each reading named, under the path they share.
            assertThat(m.group(2)).as(e.getMessage()).containsPattern("[.\\]]" + key.group(1) + "[ ,)]");
            assertThat(m.group(2)).as(e.getMessage()).contains(": invalid YAML: a tab character");
        } else if (key.find(0)) {
            assertThat(field).as(e.getMessage()).satisfiesAnyOf(
                    x -> assertThat(x).endsWith("." + key.group(1)),
                    x -> assertThat(x).isEqualTo(key.group(1)));
        }
    }

    /** The new-user case (WorkloadRegistryTest's tab): the field and what to do, in the words policy files use. */
    @Test
    void theTabOfTheNewUserPassNamesItsField() throws Exception {
        Path tab = Files.writeString(dir.resolve("tab.yaml"), "workloads:\n  - namespace: prod\n\tname: backend\n");
        assertThatThrownBy(() -> WorkloadRegistry.load(tab)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(tab + ":3: workloads[0].name: invalid YAML: a tab character (\\t) in the indentation: YAML indents"
                        + " with spaces only; replace the tab with spaces");
        // mesh-core/README.md's example writes labels in flow style: the columns compared are the block keys',
        // not {app: backend}'s (it was "the key before it, workloads[0].labels.app on line 11, is at column 14").
        Path dedent = Files.writeString(dir.resolve("dedent.yaml"), README_EXAMPLE.replace("    protocol: HBONE", "   protocol: HBONE"));
        assertThatThrownBy(() -> WorkloadRegistry.load(dedent)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(dedent + ":12: workloads[0].protocol: invalid YAML: while parsing a block collection: expected <block end>,"
                        + " but found '<block mapping start>' (line 12 starts \"protocol:\" at column 4; the key before it,"
                        + " workloads[0].labels on line 11, is at column 5: keys of one mapping start in the same column,"
                        + " a nested one further right)");
    }
}
