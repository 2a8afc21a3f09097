package io.zerohop.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.OverwrittenOptionException;
import picocli.CommandLine.ParameterException;

/**
 * {@code --config FILE}: a flat YAML mapping whose keys are a command's long option names without
 * the dashes, turned into the flags they stand for. Flags given on the command line win, and the
 * identity source counts as one setting: any identity flag on the command line drops every identity
 * key of the file, so the two never combine into a mutually exclusive pair.
 *
 * <pre>
 * # proxy.yaml
 * ca: /etc/zerohop/ca
 * workloads: /etc/zerohop/workloads.yaml
 * policies: /etc/zerohop/policies
 * node: node-a
 * transparent: true          # the default address :15001
 * forward: ["127.0.0.1:8080=10.0.1.2:8080"]
 * </pre>
 *
 * Expanding flags rather than filling picocli default values keeps one code path for validation: a
 * bad value in the file gets the same check as the same flag typed by hand, and its error names
 * {@code file:line: key:} in place of {@code --key} ({@link Origins}, as the policy loader names
 * {@code file:line: field:}). The file's own mistakes (unknown or repeated key, a list for a
 * one-value option, a nested mapping, two identity sources, a key without a value, an empty file) are
 * reported with file and line here.
 */
final class ConfigFile {
    private static final Set<String> IDENTITY = Set.of("cert", "key", "trust-bundle", "spire-socket", "ca", "in-memory-ca",
            "istio-ca", "istio-ca-root", "token-file", "istio-ca-hostname");

    private ConfigFile() {}

    /** A mistake in the file, with its place. */
    static final class ConfigException extends RuntimeException {
        ConfigException(String message) {
            super(message);
        }
    }

    /**
     * Where each option's value came from: the config file's line for the keys it supplied (and the
     * command line did not override), the command line otherwise.
     */
    record Origins(Path file, Map<String, Integer> lines) {
        static final Origins NONE = new Origins(null, Map.of());

        /**
         * How an error names option {@code key} (long name without dashes): {@code file:line: key}
         * when the file supplied it, {@code --key} when the command line did.
         */
        String label(String key) {
            Integer line = lines.get(key);
            return line == null ? "--" + key : file + ":" + line + ": " + key;
        }

        /**
         * picocli's {@code message} about an option the file supplied, prefixed with the file's
         * {@code file:line: key}; unchanged when the option came from the command line or the
         * message already names the line.
         */
        String name(ParameterException e, String message) {
            ArgSpec arg = e instanceof OverwrittenOptionException o ? o.getOverwritten() : e.getArgSpec();
            if (!(arg instanceof OptionSpec option)) {
                return message;
            }
            String key = option.longestName().substring(2);
            String label = label(key);
            return lines.containsKey(key) && !message.startsWith(label) ? label + ": " + message : message;
        }
    }

    /** The expanded arguments and where each option came from. */
    record Expansion(String[] args, Origins origins) {}

    /**
     * The command's arguments with the file's settings added in front; {@code args} unchanged when it
     * names no {@code --config}.
     *
     * @param args the arguments after the subcommand name
     */
    static String[] expand(String[] args, CommandSpec spec) {
        return load(args, spec).args();
    }

    /** {@link #expand} with the file line of each option the file supplied. */
    static Expansion load(String[] args, CommandSpec spec) {
        Path file = configPath(args);
        if (file == null) {
            return new Expansion(args, Origins.NONE);
        }
        List<String> given = new ArrayList<>();
        for (String a : args) {
            if (a.startsWith("--")) {
                int eq = a.indexOf('=');
                given.add(eq < 0 ? a.substring(2) : a.substring(2, eq));
            }
        }
        boolean identityGiven = given.stream().anyMatch(IDENTITY::contains);
        List<String> out = new ArrayList<>();
        Map<String, Integer> lines = new LinkedHashMap<>();
        Map<Object, Setting> identitySources = new HashMap<>();
        for (Setting s : Yaml.read(file)) {
            OptionSpec option = spec.findOption("--" + s.key());
            if (option == null || s.key().equals("config") || s.key().equals("help") || s.key().equals("version")) {
                // The nearest key, as picocli suggests one for the same typo given as a flag.
                List<String> keys = spec.options().stream().map(OptionSpec::longestName).filter(n -> n.startsWith("--"))
                        .map(n -> n.substring(2)).filter(n -> !n.equals("config") && !n.equals("help") && !n.equals("version")).toList();
                String near = io.zerohop.policy.Suggestions.nearest(s.key(), keys);
                throw new ConfigException(file + ":" + s.line() + ": " + s.key() + ": unknown option"
                        + (near == null ? "" : "; did you mean " + near + "?") + " (keys are the long options of `zerohop "
                        + spec.name() + " --help` without dashes)");
            }
            if (given.contains(s.key()) || (identityGiven && IDENTITY.contains(s.key()))) {
                continue;
            }
            if (s.values().size() > 1 && !option.isMultiValue()) {
                throw new ConfigException(file + ":" + s.line() + ": " + s.key() + ": takes one value, not a list");
            }
            if (IDENTITY.contains(s.key())) {
                // One identity source: the options of a non-exclusive subgroup (cert, key, trust-bundle)
                // are one source together; every other identity option is a source of its own.
                Object source = identitySourceOf(spec, s.key());
                for (Map.Entry<Object, Setting> other : identitySources.entrySet()) {
                    if (!other.getKey().equals(source)) {
                        throw new ConfigException(file + ":" + s.line() + ": " + s.key() + ": a second identity source (\""
                                + other.getValue().key() + "\" on line " + other.getValue().line() + "); give one of them");
                    }
                }
                identitySources.putIfAbsent(source, s);
            }
            lines.put(s.key(), s.line());
            boolean flagOnly = option.arity().max() == 0;
            for (String v : s.values()) {
                if (v == null) {
                    // An empty value ("policies:" whose path a template left out) was dropped: the proxy
                    // started with "policies none (allow all)". What the line meant is unknown, so it is refused.
                    throw new ConfigException(file + ":" + s.line() + ": " + s.key() + ": no value (write the value"
                            + (flagOnly || option.arity().min() == 0 ? ", true or false" : "") + ", or delete the line)");
                }
                // "transparent: false" reads as the listener left off, as a switch's false does.
                if (v.equals("false") && (flagOnly || option.arity().min() == 0)) {
                    continue;
                }
                if (v.equals("true") && (flagOnly || option.arity().min() == 0)) {
                    out.add("--" + s.key());
                } else if (flagOnly) {
                    throw new ConfigException(file + ":" + s.line() + ": " + s.key() + ": a switch: true or false, not \"" + v + "\"");
                } else {
                    out.add("--" + s.key() + "=" + v);
                }
            }
        }
        out.addAll(Arrays.asList(args));
        return new Expansion(out.toArray(String[]::new), new Origins(file, Map.copyOf(lines)));
    }

    private static Object identitySourceOf(CommandSpec spec, String key) {
        OptionSpec option = spec.findOption("--" + key);
        return option.group() != null && !option.group().exclusive() ? option.group() : key;
    }

    private static Path configPath(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                return Path.of(args[i + 1]);
            }
            if (args[i].startsWith("--config=")) {
                return Path.of(args[i].substring("--config=".length()));
            }
        }
        return null;
    }

    /** One key of the file: its line and its value or values (null for an empty value, which {@link #load} refuses). */
    record Setting(String key, int line, List<String> values) {}

    /**
     * The YAML reading, the only code here that touches Jackson. A class of its own so that a start
     * without {@code --config} loads no Jackson class: the verifier of a method loads the classes
     * its catch handlers and calls need checked, so while this code sat in {@link ConfigFile} every
     * {@code zerohop proxy} start loaded nine Jackson/YAML classes (benchmarks/results/footprint-5771f1d.md;
     * {@code ConfigFileTest.aStartWithoutConfigLoadsNoJacksonClass}).
     */
    static final class Yaml {
        private Yaml() {}

        static List<Setting> read(Path file) {
            List<Setting> settings = new ArrayList<>();
            Map<String, Integer> seen = new HashMap<>();
            try (JsonParser p = new YAMLFactory().createParser(Files.newBufferedReader(file))) {
                JsonToken t = p.nextToken();
                if (t == null) {
                    // An empty file (a ConfigMap key mounted empty, a truncated write) started a proxy on the
                    // defaults: no policies, allowing everything. As the workload registry, an empty file is an error.
                    throw new ConfigException(file + ": empty: no option set (the config file is one mapping of option: value)");
                }
                if (t != JsonToken.START_OBJECT) {
                    throw new ConfigException(file + ":" + p.currentTokenLocation().getLineNr() + ": expected a mapping of option: value");
                }
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    int line = p.currentTokenLocation().getLineNr();
                    Integer first = seen.putIfAbsent(key, line);
                    if (first != null) {
                        // YAML forbids repeated keys (YAML 1.2 3.2.1.1), and kubectl refuses them: the file
                        // would say two things and only one would count.
                        throw new ConfigException(file + ":" + line + ": " + key + ": repeated key (first on line " + first + ")");
                    }
                    List<String> values = new ArrayList<>();
                    t = p.nextToken();
                    if (t == JsonToken.START_ARRAY) {
                        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                            values.add(scalar(p, t, file, key));
                        }
                    } else {
                        values.add(scalar(p, t, file, key));
                    }
                    settings.add(new Setting(key, line, values));
                }
                // Jackson reads a multi-document stream one document at a time: a second document ("---")
                // after the mapping was dropped without a word, and with it, say, its policies: line
                // (the proxy then allowed everything).
                if (p.currentToken() == JsonToken.END_OBJECT && p.nextToken() != null) {
                    throw new ConfigException(file + ":" + p.currentTokenLocation().getLineNr()
                            + ": a second YAML document: the config file is one mapping of option: value");
                }
            } catch (NoSuchFileException e) {
                throw new ConfigException("config file " + file + " does not exist");
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                // A YAML syntax error: the line and SnakeYAML's problem, as the policy loader names them
                // (Jackson's message spreads them over several lines, the first of which says neither).
                org.yaml.snakeyaml.error.MarkedYAMLException m = e.getCause() instanceof org.yaml.snakeyaml.error.MarkedYAMLException y
                        && y.getProblem() != null ? y : null;
                String problem = m != null ? m.getProblem() : e.getOriginalMessage().lines().findFirst().orElse("unreadable");
                // SnakeYAML's mark is where the problem is; Jackson's location can be the token before it.
                int line = m != null && m.getProblemMark() != null ? m.getProblemMark().getLine() + 1
                        : e.getLocation() == null ? -1 : e.getLocation().getLineNr();
                // The option as well, as policy files name their field (new-user pass: a tab named only a line): the
                // key typed on that line, or for an unclosed [ or { the key whose value it opened.
                boolean flow = m != null && m.getContext() != null && m.getContext().contains("flow") && m.getContextMark() != null;
                // An unclosed [ or { is named below by the key it opened; YamlDocuments names the line's own key.
                String worded = flow ? null : policyWorded(file, line);
                if (worded != null) {
                    throw new ConfigException(worded);
                }
                String key = keyOn(file, flow ? m.getContextMark().getLine() + 1 : line);
                if (problem.contains("(TAB)")) {
                    // SnakeYAML: "found character '\t(TAB)' that cannot start any token. (Do not use \t(TAB) for indentation)".
                    problem = "a tab character (\\t) in the indentation: YAML indents with spaces only; replace the tab with spaces";
                }
                throw new ConfigException(file + (line > 0 ? ":" + line : "") + ": " + (key == null ? "" : key + ": ")
                        + "invalid YAML: " + problem);
            } catch (IOException e) {
                throw new ConfigException(file + ": " + Cli.describe(e));
            }
            return settings;
        }

        /**
         * The syntax error on line {@code line} (1-based) of {@code file} as a policy file's reads
         * ({@code file:line: field: invalid YAML: reason}, with the columns to compare for a key that lines up
         * with none, and a tab's readings): mesh-policy's PolicyLoader.checkYaml reads the text again with the same
         * SnakeYAML parser, so both stop at the same mark. Null when it finds no syntax error on that line (the
         * readers disagree) or the file is unreadable: the caller's own wording stays. A new-user pass found
         * {@code cfg3.yaml:3: metrics: invalid YAML: mapping values are not allowed here} without the column
         * hint policy files get. Only called for an error.
         */
        private static String policyWorded(Path file, int line) {
            try {
                io.zerohop.policy.PolicyLoader.checkYaml(file.toString(), Files.readString(file));
                return null;
            } catch (io.zerohop.policy.PolicyLoadException p) {
                return p.line() == line && p.problem().startsWith("invalid YAML: ") ? p.getMessage() : null;
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }

        /** The option name at the start of line {@code line} (1-based) of {@code file}, or null. */
        private static String keyOn(Path file, int line) {
            try {
                List<String> lines = Files.readAllLines(file);
                if (line < 1 || line > lines.size()) {
                    return null;
                }
                java.util.regex.Matcher k = java.util.regex.Pattern.compile("^[ \\t]*([A-Za-z][A-Za-z0-9-]*)[ \\t]*:(?:[ \\t]|$)")
                        .matcher(lines.get(line - 1));
                return k.find() ? k.group(1) : null;
            } catch (IOException | RuntimeException e) {
                return null; // the message keeps the line; the file was readable a moment ago
            }
        }

        private static String scalar(JsonParser p, JsonToken t, Path file, String key) throws IOException {
            if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
                throw new ConfigException(file + ":" + p.currentTokenLocation().getLineNr() + ": " + key
                        + ": takes a value or a list of values, not a nested " + (t == JsonToken.START_OBJECT ? "mapping" : "list"));
            }
            if (p instanceof com.fasterxml.jackson.dataformat.yaml.YAMLParser y && y.isCurrentAlias()) {
                // Jackson hands an alias over as its anchor's name ("*ns" read as "ns"), not the anchored value.
                throw new ConfigException(file + ":" + p.currentTokenLocation().getLineNr() + ": " + key
                        + ": an alias (*" + p.getText() + "): write the value itself");
            }
            return t == JsonToken.VALUE_NULL ? null : p.getText();
        }
    }
}
