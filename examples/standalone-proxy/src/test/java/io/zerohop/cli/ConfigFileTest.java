package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/** {@code zerohop proxy --config FILE}: keys become flags, command-line flags win, mistakes name file and line. */
class ConfigFileTest {
    static final CommandSpec PROXY = new CommandLine(new Zerohop()).getSubcommands().get("proxy").getCommandSpec();

    static Path write(Path dir, String yaml) throws Exception {
        Path f = dir.resolve("proxy.yaml");
        Files.writeString(f, yaml);
        return f;
    }

    @Test
    void keysBecomeFlagsAndTheCommandLineWins(@TempDir Path dir) throws Exception {
        Path f = write(dir, """
                ca: /etc/zerohop/ca
                node: node-a
                inbound: 0.0.0.0:15008
                transparent: true
                socks5: 127.0.0.1:1080
                passthrough-unknown: false
                forward:
                  - 127.0.0.1:8080=10.0.1.2:8080
                  - 127.0.0.1:8081=10.0.1.3:8080
                metrics: "off"
                """);
        String[] args = ConfigFile.expand(new String[] {"--config", f.toString(), "--node", "node-b", "--in-memory-ca"}, PROXY);
        assertThat(args).containsExactly(
                "--inbound=0.0.0.0:15008", "--transparent", "--socks5=127.0.0.1:1080",
                "--forward=127.0.0.1:8080=10.0.1.2:8080", "--forward=127.0.0.1:8081=10.0.1.3:8080", "--metrics=off",
                "--config", f.toString(), "--node", "node-b", "--in-memory-ca");
        // The expanded line parses: no identity conflict, node from the command line.
        CommandLine.ParseResult parsed = parseProxy(args);
        assertThat(parsed.matchedOptionValue("--node", "")).isEqualTo("node-b");
        assertThat(parsed.matchedOptionValue("--forward", java.util.List.of())).hasSize(2);
    }

    /** The DaemonSet's Istio CA variant (deploy/node-proxy/configmap-istio.yaml) as a config file. */
    @Test
    void istioCaKeysParseAndAnIdentityFlagOnTheCommandLineReplacesThemAll(@TempDir Path dir) throws Exception {
        Path f = write(dir, """
                istio-ca: istiod.istio-system.svc:15012
                istio-ca-root: /var/run/secrets/istio/root-cert.pem
                token-file: /var/run/secrets/tokens/istio-token
                cluster-id: Kubernetes
                """);
        String[] args = ConfigFile.expand(new String[] {"--config", f.toString()}, PROXY);
        CommandLine.ParseResult parsed = parseProxy(args);
        assertThat(parsed.matchedOptionValue("--istio-ca", "")).isEqualTo("istiod.istio-system.svc:15012");
        assertThat(parsed.matchedOptionValue("--token-file", (Path) null)).isEqualTo(Path.of("/var/run/secrets/tokens/istio-token"));
        // cluster-id is not the CA's (ztunnel's CLUSTER_ID is read whatever the CA): it stays.
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString(), "--in-memory-ca"}, PROXY))
                .containsExactly("--cluster-id=Kubernetes", "--config", f.toString(), "--in-memory-ca");
        // --istio-ca without its root and token is a usage error, not a CA that fails later.
        assertThat(Zerohop.run("proxy", "--istio-ca", "istiod.istio-system.svc:15012")).isEqualTo(2);
    }

    /** The expanded arguments parsed as {@code zerohop proxy}'s, as the CLI parses them. */
    static CommandLine.ParseResult parseProxy(String[] args) {
        String[] line = new String[args.length + 1];
        line[0] = "proxy";
        System.arraycopy(args, 0, line, 1, args.length);
        return new CommandLine(new Zerohop()).parseArgs(line).subcommand();
    }

    @Test
    void noConfigLeavesArgumentsAlone() {
        String[] args = {"--in-memory-ca", "--inbound", "off"};
        assertThat(ConfigFile.expand(args, PROXY)).isSameAs(args);
    }

    @Test
    void unknownKeyNamesFileAndLine(@TempDir Path dir) throws Exception {
        Path f = write(dir, "ca: /x\nnode: a\nworkload: w.yaml\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config=" + f}, PROXY))
                .hasMessage(f + ":3: workload: unknown option; did you mean workloads? (keys are the long options of `zerohop proxy --help`"
                        + " without dashes)");
        // The new user's typo, which as a flag gets picocli's suggestion; nothing near: no suggestion.
        Path typo = write(dir, "inbund: 127.0.0.1:1\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config=" + typo}, PROXY))
                .hasMessage(typo + ":1: inbund: unknown option; did you mean inbound? (keys are the long options of `zerohop proxy --help`"
                        + " without dashes)");
        Path far = write(dir, "colour: blue\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config=" + far}, PROXY))
                .hasMessage(far + ":1: colour: unknown option (keys are the long options of `zerohop proxy --help` without dashes)");
    }

    @Test
    void nestedMappingAndBadSwitchAreRefused(@TempDir Path dir) throws Exception {
        Path nested = write(dir, "ca: /x\nforward:\n  local: 127.0.0.1:1\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", nested.toString()}, PROXY))
                .hasMessageStartingWith(nested + ":3: forward: takes a value or a list of values, not a nested mapping");
        Path badSwitch = write(dir, "in-memory-ca: yes please\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", badSwitch.toString()}, PROXY))
                .hasMessage(badSwitch + ":1: in-memory-ca: a switch: true or false, not \"yes please\"");
    }

    @Test
    @DisplayName("a key that is a list or a mapping, and a file that is not UTF-8, are named with their line")
    void aNonScalarKeyAndANonUtf8FileAreNamed(@TempDir Path dir) throws Exception {
        // Jackson's reader said "invalid YAML: Expected a field name (Scalar value in YAML), got this instead:
        // <org.yaml.snakeyaml.events.SequenceStartEvent(anchor=null, tag=null, implicit=true)>".
        Path listKey = write(dir, "ca: /x\n[a]: b\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", listKey.toString()}, PROXY))
                .hasMessage(listKey + ":2: expected option: value, found a list as a key");
        // And "invalid YAML: java.nio.charset.MalformedInputException: Input length = 1" on line 1 whatever the line.
        Path latin1 = dir.resolve("latin1.yaml");
        Files.write(latin1, "ca: /x\nnode: caf\u00e9\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", latin1.toString()}, PROXY))
                .hasMessage(latin1 + ":2: invalid YAML: not UTF-8 text (byte 0xE9 is no UTF-8 sequence): save the file as UTF-8");
        // The values are the scalars as written; a quoted ~ is text, a plain one no value.
        Path quoted = write(dir, "ca: \"~\"\nnode: 'null'\n");
        assertThat(ConfigFile.expand(new String[] {"--config", quoted.toString()}, PROXY)).containsExactly("--ca=~", "--node=null",
                "--config", quoted.toString());
    }

    @Test
    @DisplayName("\"transparent: false\" leaves an optional-value listener off, as false does for a switch")
    void falseLeavesAnOptionalListenerOff(@TempDir Path dir) throws Exception {
        Path f = write(dir, "ca: /x\ntransparent: false\nsocks5: false\nplaintext-inbound: true\n");
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString()}, PROXY))
                .containsExactly("--ca=/x", "--plaintext-inbound", "--config", f.toString());
    }

    @Test
    @DisplayName("a YAML syntax error names the file, the line and the problem in one line")
    void aYamlSyntaxErrorNamesItsLine(@TempDir Path dir) throws Exception {
        // An unclosed [ is named by the option whose value it opened; the line is where SnakeYAML found the problem.
        Path f = write(dir, "ca: /x\nforward: [127.0.0.1:1=10.0.0.1:1\nnode: a\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", f.toString()}, PROXY))
                .hasMessageStartingWith(f + ":3: forward: invalid YAML: ")
                .hasMessageNotContaining("\n");
        // New-user pass: a tab named the line only; it names the option and what to do, as policy files do.
        Path tab = write(dir, "ca: /x\n\tnode: a\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", tab.toString()}, PROXY))
                .hasMessage(tab + ":2: node: invalid YAML: a tab character (\\t) in the indentation: YAML indents with"
                        + " spaces only; replace the tab with spaces");
        // New-user pass: a line indented by one space got SnakeYAML's words only; now the columns to compare, in
        // the words a policy file's error uses (mesh-policy's YamlDocuments reads the text again).
        Path indent = write(dir, "ca: /x\nnode: a\n metrics: \"off\"\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", indent.toString()}, PROXY))
                .hasMessage(indent + ":3: metrics: invalid YAML: mapping values are not allowed here (line 3 starts"
                        + " \"metrics:\" at column 2; the key before it, node on line 2, is at column 1: keys of one mapping"
                        + " start in the same column, a nested one further right)");
    }

    @Test
    void theCliReportsConfigMistakesInOneLineWithExitCode2(@TempDir Path dir) throws Exception {
        Path f = write(dir, "in-memory-ca: true\ninbund: :15008\n");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true));
        try {
            assertThat(Zerohop.run("proxy", "--config", f.toString())).isEqualTo(2);
        } finally {
            System.setErr(old);
        }
        assertThat(err.toString().lines().toList()).hasSize(2).first().asString().startsWith("zerohop proxy: " + f + ":2: inbund: unknown option");
        assertThat(err.toString().lines().toList()).last().isEqualTo("Run 'zerohop proxy --help' for usage.");
        assertThat(Zerohop.run("proxy", "--config", dir.resolve("missing.yaml").toString())).isEqualTo(2);
    }

    /** Exit code and stderr of {@code zerohop proxy --config FILE} with a file whose last lines are {@code yaml}. */
    private static String proxyWith(Path f, String... more) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true));
        int code;
        try {
            String[] args = new String[more.length + 3];
            args[0] = "proxy";
            args[1] = "--config";
            args[2] = f.toString();
            System.arraycopy(more, 0, args, 3, more.length);
            code = Zerohop.run(args);
        } finally {
            System.setErr(old);
        }
        return "exit " + code + ": " + err.toString().lines().findFirst().orElse("");
    }

    /** Listeners "off" so that a run that wrongly got past the checks fails on nothing else. */
    private static final String QUIET = "in-memory-ca: true\nmetrics: \"off\"\nreadiness: \"off\"\nadmin: \"off\"\n";

    /** {@code yaml} as the config file is refused with exit 2 and a first stderr line starting {@code file + where}. */
    private static void refused(Path dir, String yaml, String where, String... more) throws Exception {
        Path f = write(dir, yaml);
        assertThat(proxyWith(f, more)).startsWith("exit 2: zerohop proxy: " + f + where);
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a bad value in the config file is a usage error naming file:line: key, as the policy loader names file:line: field")
    void aBadValueInTheFileNamesFileLineAndKey(@TempDir Path dir) throws Exception {
        refused(dir, QUIET + "inbound: 127.0.0.1:99999\n", ":5: inbound: port 99999 out of range 0..65535");
        refused(dir, QUIET + "inbound: 127.0.0.1:0\ndrain: 10x\n", ":6: drain: bad duration \"10x\" (examples: 500ms, 90s, 15m, 24h, 7d)");
        refused(dir, QUIET + "forward: [\"127.0.0.1:0=10.0.0.1:80\", \"127.0.0.1:0\"]\n", ":5: forward: must be LOCAL=TARGET, got \"127.0.0.1:0\"");
        refused(dir, QUIET + "policies: " + dir.resolve("nope") + "\n", ":5: policies: " + dir.resolve("nope") + " does not exist");
        // The same value on the command line is named by its flag, and wins over the file's.
        assertThat(proxyWith(write(dir, QUIET + "policies: " + dir.resolve("nope") + "\n"), "--policies", dir.resolve("gone").toString()))
                .isEqualTo("exit 2: zerohop proxy: --policies: " + dir.resolve("gone") + " does not exist");
        // Checked where the Istio CA provider is built, after parsing: still the file's line.
        Path emptyRoot = Files.writeString(dir.resolve("root-cert.pem"), "");
        String istio = "istio-ca-root: " + emptyRoot + "\ntoken-file: " + Files.writeString(dir.resolve("istio-token"), "t") + "\n";
        refused(dir, "istio-ca: istiod\n" + istio, ":1: istio-ca: \"istiod\" is not HOST:PORT");
        refused(dir, "istio-ca: istiod:15012\n" + istio, ":2: istio-ca-root: " + emptyRoot + ": no CERTIFICATE block found");
        // picocli's own conversion error (a NUL in a path) gets the file's place in front.
        refused(dir, QUIET + "workloads: \"a\\0b\"\n", ":5: workloads: Invalid value for option '--workloads'");
    }

    @Test
    @org.junit.jupiter.api.DisplayName("a key given twice, a list for a one-value option, two identity sources: file:line: key, exit 2")
    void theFilesOwnContradictionsNameBothLines(@TempDir Path dir) throws Exception {
        refused(dir, QUIET + "inbound: 127.0.0.1:0\ninbound: 127.0.0.1:1\n", ":6: inbound: repeated key (first on line 5)");
        refused(dir, QUIET + "inbound: [127.0.0.1:0, 127.0.0.1:1]\n", ":5: inbound: takes one value, not a list");
        // A one-item or empty list too: "node: [a]" was taken as node a, and "policies: []" as no policies at all (allow all).
        refused(dir, QUIET + "node: [node-a]\n", ":5: node: takes one value, not a list");
        refused(dir, QUIET + "policies: []\n", ":5: policies: takes one value, not a list");
        String pem = "cert: c.pem\nkey: k.pem\ntrust-bundle: b.pem\n";
        refused(dir, pem + "spire-socket: /run/spire.sock\n", ":4: spire-socket: a second identity source (\"cert\" on line 1); give one of them");
        // A switch set false is no identity source (newuser21: "in-memory-ca: false" beside "ca:" was "a second identity source").
        Path off = write(dir, "in-memory-ca: false\nspire-socket: /run/spire.sock\n");
        assertThat(ConfigFile.expand(new String[] {"--config", off.toString()}, PROXY)).contains("--spire-socket=/run/spire.sock").doesNotContain("--in-memory-ca");
        // cert, key and trust-bundle are one source together; an identity flag on the command line replaces them.
        Path f = write(dir, pem + "spire-socket: /run/spire.sock\n");
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString(), "--in-memory-ca"}, PROXY))
                .containsExactly("--config", f.toString(), "--in-memory-ca");
        // A flag of the same source replaces its own key only: a new bundle during a root rotation keeps the file's cert
        // and key (a new-user pass: they were dropped, and the error named them as missing).
        Path same = write(dir, pem);
        String[] rotated = ConfigFile.expand(new String[] {"--config", same.toString(), "--trust-bundle", "new.pem"}, PROXY);
        assertThat(rotated).containsExactly("--cert=c.pem", "--key=k.pem", "--config", same.toString(), "--trust-bundle", "new.pem");
        CommandLine.ParseResult parsed = parseProxy(rotated);
        assertThat(parsed.matchedOptionValue("--trust-bundle", (Object) null)).hasToString("new.pem");
        assertThat(parsed.matchedOptionValue("--cert", (Object) null)).hasToString("c.pem");
    }

    @Test
    @DisplayName("spiffe-id goes with spire-socket: no second identity source beside it, replaced one by one by the same source's"
            + " flags, dropped with it by another source's flag; the --spiffe-id flag drops no key of the file")
    void spiffeIdGoesWithSpireSocket(@TempDir Path dir) throws Exception {
        String id = "spiffe://cluster.local/ns/zerohop-system/sa/zerohop-node";
        Path f = write(dir, "spire-socket: /run/spire.sock\nspiffe-id: " + id + "\n");
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString()}, PROXY))
                .containsExactly("--spire-socket=/run/spire.sock", "--spiffe-id=" + id, "--config", f.toString());
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString(), "--spire-socket", "/other.sock"}, PROXY))
                .containsExactly("--spiffe-id=" + id, "--config", f.toString(), "--spire-socket", "/other.sock");
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString(), "--spiffe-id", "spiffe://cluster.local/b"}, PROXY))
                .containsExactly("--spire-socket=/run/spire.sock", "--config", f.toString(), "--spiffe-id", "spiffe://cluster.local/b");
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString(), "--in-memory-ca"}, PROXY))
                .containsExactly("--config", f.toString(), "--in-memory-ca");
        // Not a source of its own: beside ca it is no "second identity source", and its flag keeps the file's ca; the
        // proxy's own check then refuses it, naming both (SpiffeIdOptionTest).
        Path ca = write(dir, "ca: /etc/zerohop/ca\nspiffe-id: " + id + "\n");
        assertThat(ConfigFile.expand(new String[] {"--config", ca.toString()}, PROXY))
                .containsExactly("--ca=/etc/zerohop/ca", "--spiffe-id=" + id, "--config", ca.toString());
        Path caOnly = write(dir, "ca: /etc/zerohop/ca\n");
        assertThat(ConfigFile.expand(new String[] {"--config", caOnly.toString(), "--spiffe-id", id}, PROXY))
                .containsExactly("--ca=/etc/zerohop/ca", "--config", caOnly.toString(), "--spiffe-id", id);
    }

    /**
     * Jackson reads one YAML document and hands an alias over as its anchor's name. A new-user pass found
     * a config file whose policies: sat in a second document start a proxy with "policies none (allow
     * all)", and {@code node: *n} read as the node "n".
     */
    @Test
    @DisplayName("a second YAML document or an alias in the config file is refused with its line, never dropped or read as the anchor's name")
    void aSecondDocumentOrAnAliasIsRefused(@TempDir Path dir) throws Exception {
        Path f = write(dir, QUIET + "inbound: 127.0.0.1:0\n---\npolicies: " + dir + "\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", f.toString()}, PROXY))
                .isInstanceOf(ConfigFile.ConfigException.class)
                .hasMessage(f + ":7: a second YAML document: the config file is one mapping of option: value");
        Path a = write(dir, QUIET + "root-namespace: &root istio-system\nnode: *root\n");
        assertThatThrownBy(() -> ConfigFile.expand(new String[] {"--config", a.toString()}, PROXY))
                .isInstanceOf(ConfigFile.ConfigException.class)
                .hasMessage(a + ":6: node: an alias (*root): write the value itself");
        assertThat(proxyWith(a)).isEqualTo("exit 2: zerohop proxy: " + a + ":6: node: an alias (*root): write the value itself");
    }

    /**
     * A new-user pass (newuser3) started {@code zerohop proxy --config} with {@code policies:} left
     * empty (a template whose variable was unset) and with an empty file: both ran as "policies none
     * (allow all)", the empty value dropped without a word. Both are refused now.
     */
    @Test
    @DisplayName("a key without a value and an empty config file are refused with file:line, never read as the defaults (allow all)")
    void anEmptyValueOrAnEmptyFileIsRefused(@TempDir Path dir) throws Exception {
        // "--drain x" after the file: were the file accepted, the run ends on that flag's error instead
        // of starting a proxy that never returns.
        refused(dir, QUIET + "policies:\n", ":5: policies: no value (write the value, or delete the line)", "--drain", "x");
        refused(dir, QUIET + "node: ~\n", ":5: node: no value (write the value, or delete the line)", "--drain", "x");
        refused(dir, QUIET + "transparent:\n", ":5: transparent: no value (write the value, true or false, or delete the line)", "--drain", "x");
        refused(dir, QUIET + "forward: [127.0.0.1:0=10.0.0.1:80, ~]\n", ":5: forward: no value", "--drain", "x");
        refused(dir, "", ": empty: no option set (the config file is one mapping of option: value)", "--in-memory-ca", "--drain", "x");
        refused(dir, "# proxy.yaml, all commented out\n# policies: /etc/zerohop/policies\n", ": empty: no option set",
                "--in-memory-ca", "--drain", "x");
        // A listener with a default address is turned off with "off", not false: named, not "not ip:port" alone.
        refused(dir, QUIET.replace("metrics: \"off\"", "metrics: false"), ":2: metrics: \"false\" is not ip:port: write off to turn the listener off");
        // The control: an explicit false or an empty list is a value, and leaves the option off.
        Path f = write(dir, QUIET + "transparent: false\nforward: []\n");
        assertThat(ConfigFile.expand(new String[] {"--config", f.toString()}, PROXY)).doesNotContain("--transparent")
                .noneMatch(a -> a.startsWith("--forward"));
    }

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy` start without --config loads no Jackson class (footprint-5771f1d.md: nine did)")
    void aStartWithoutConfigLoadsNoJacksonClass(@TempDir Path dir) throws Exception {
        assertThat(jacksonClassesUntilReady(dir, "plain")).as("Jackson classes loaded by a start without --config").isEmpty();
    }

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy --config` start loads no Jackson class: the file is read with SnakeYAML's parser events")
    void aConfigStartLoadsNoJacksonClass(@TempDir Path dir) throws Exception {
        // Jackson's YAML parser reading the file loaded 80 Jackson classes into every proxy given --config
        // (benchmarks/results/config-8f1fe3e.md). The file sets options a start reads (so it was read and applied).
        Path f = write(dir, "in-memory-ca: true\ndrain: 0s\nforward: []\n");
        List<String> loaded = ProxyStartClasses.untilReady(dir, "config", List.of(), "--config", f.toString());
        assertThat(loaded).as("the config file was read by its reader").contains("io.zerohop.cli.ConfigFile$Yaml");
        assertThat(loaded.stream().filter(c -> c.startsWith("com.fasterxml.")).toList()).as("Jackson classes loaded by a --config start").isEmpty();
        assertThat(loaded).as("locale data").doesNotContain("sun.util.cldr.CLDRLocaleProviderAdapter", "java.text.DateFormatSymbols");
    }

    /** A workloads file of one workload, prod/backend (app=backend); its addresses are never bound. */
    private static final String WORKLOADS = """
            trustDomain: cluster.local
            nodes:
              - {name: node-a, hboneAddress: "127.0.55.40:15008", addresses: [127.0.55.40]}
            workloads:
              - {namespace: prod, name: backend, serviceAccount: backend, addresses: [127.0.55.41],
                 labels: {app: backend, version: 1}, protocol: HBONE, node: node-a, ports: {8080: http}}
            """;

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy --workloads` start loads no Jackson class and no locale data (the registry reads its file with SnakeYAML)")
    void aWorkloadsStartLoadsNoJacksonClass(@TempDir Path dir) throws Exception {
        // Jackson databind's ObjectMapper reading the file loaded ~780 classes, and StdDateFormat's initialiser
        // the JDK's CLDR locale data: ~10 MB of an idle node proxy (benchmarks/results/idle-d8652c1.md).
        Path w = Files.writeString(dir.resolve("workloads.yaml"), WORKLOADS);
        List<String> loaded = ProxyStartClasses.untilReady(dir, "workloads", List.of(), "--in-memory-ca", "--workloads", w.toString());
        assertThat(loaded).as("the registry was read (its reader's classes loaded)")
                .contains("io.zerohop.policy.internal.YamlDocuments", "io.zerohop.core.WorkloadRegistry$Yaml");
        assertThat(loaded.stream().filter(c -> c.startsWith("com.fasterxml.")).toList()).as("Jackson classes loaded by a --workloads start").isEmpty();
        assertThat(loaded).as("locale data").doesNotContain("sun.util.cldr.CLDRLocaleProviderAdapter", "java.text.DateFormatSymbols");
    }

    @Test
    @Timeout(180)
    @DisplayName("a `zerohop proxy --workloads --policies` start loads no Jackson class: the selector warning reads the selectors the loader parsed")
    void aWorkloadsAndPoliciesStartLoadsNoJacksonClass(@TempDir Path dir) throws Exception {
        // SelectorCheck read each policy file again with Jackson's YAML ObjectMapper: ~550 classes and the JDK's
        // locale data in every node proxy given both files.
        Path w = Files.writeString(dir.resolve("workloads.yaml"), WORKLOADS);
        // A DENY whose label is mistyped: the check has a line to log, so it ran (its Effect class is loaded).
        Path p = Files.writeString(dir.resolve("policies.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-all, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backnd}}
                  action: DENY
                  rules: [{}]
                ---
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: cnp, namespace: prod}
                spec:
                  endpointSelector: {matchLabels: {"k8s:app": backnd}}
                  ingress: [{fromEndpoints: [{}]}]
                """);
        List<String> loaded = ProxyStartClasses.untilReady(dir, "policies", List.of(), "--in-memory-ca", "--workloads", w.toString(),
                "--policies", p.toString());
        assertThat(loaded).as("the selector check ran and had a line to log").contains("io.zerohop.core.SelectorCheck$Effect");
        assertThat(loaded.stream().filter(c -> c.startsWith("com.fasterxml.")).toList())
                .as("Jackson classes loaded by a --workloads --policies start").isEmpty();
        assertThat(loaded).as("locale data").doesNotContain("sun.util.cldr.CLDRLocaleProviderAdapter", "java.text.DateFormatSymbols");
    }

    /** The com.fasterxml classes a {@code zerohop proxy} start loads until ready. */
    private static List<String> jacksonClassesUntilReady(Path dir, String name, String... extra) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("--in-memory-ca"));
        args.addAll(List.of(extra));
        return ProxyStartClasses.untilReady(dir, name, List.of(), args.toArray(String[]::new)).stream().filter(c -> c.startsWith("com.fasterxml.")).toList();
    }
}
