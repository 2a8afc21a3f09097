package io.zerohop.cli;

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
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.events.NodeEvent;
import org.yaml.snakeyaml.events.ScalarEvent;
import org.yaml.snakeyaml.nodes.NodeId;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;
import org.yaml.snakeyaml.resolver.Resolver;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.OverwrittenOptionException;
import picocli.CommandLine.ParameterException;

/**
 * {@code --config FILE}: a flat YAML mapping whose keys are a command's long option names without
 * the dashes, turned into the flags they stand for. Flags given on the command line win, and the
 * identity source counts as one setting: an identity flag on the command line drops every identity
 * key of the file that belongs to another source, so the two never combine into a mutually exclusive
 * pair; keys of the same source (cert, key and trust-bundle; the istio-ca options; spire-socket and spiffe-id) are
 * overridden one by one.
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
    /**
     * Keys that qualify one identity source without being one (spiffe-id picks one of spire-socket's SVIDs): dropped
     * with their source's keys when the command line names another source, kept when it names theirs, and never
     * a source of their own, neither in the file (no "second identity source") nor as a flag (which drops no key).
     */
    private static final Map<String, String> OF_SOURCE = Map.of("spiffe-id", "spire-socket");

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
        // The identity sources the command line names. A file key of another source is dropped (the two would be a
        // mutually exclusive pair); a file key of the same source stays unless given itself, so `--trust-bundle new.pem`
        // beside a file's cert and key replaces the bundle alone (a new-user pass: it dropped the file's cert and key,
        // and the error then named them as missing).
        Set<Object> cliSources = new java.util.HashSet<>();
        for (String g : given) {
            if (IDENTITY.contains(g)) {
                cliSources.add(identitySourceOf(spec, g));
            }
        }
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
            String sourceKey = OF_SOURCE.getOrDefault(s.key(), s.key());
            if (given.contains(s.key()) || (!cliSources.isEmpty() && IDENTITY.contains(sourceKey)
                    && !cliSources.contains(identitySourceOf(spec, sourceKey)))) {
                continue;
            }
            // Any sequence, not only a longer one: "node: [a]" was read as node a, and "policies: []" as no --policies at
            // all, a proxy that allowed everything (a final new-user pass).
            if (s.list() && !option.isMultiValue()) {
                throw new ConfigException(file + ":" + s.line() + ": " + s.key() + ": takes one value, not a list");
            }
            boolean switchedOff = s.values().size() == 1 && "false".equals(s.values().get(0))
                    && (option.arity().max() == 0 || option.arity().min() == 0);
            if (IDENTITY.contains(s.key()) && !switchedOff) {
                // A switch set false ("in-memory-ca: false") is no source (newuser21: it was the "second identity source"). One identity source: the options of a non-exclusive subgroup (cert, key, trust-bundle)
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
        if (option == null) {
            return key;
        }
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
    /** One key of the file: its values, and whether they were written as a YAML sequence (even of one or none). */
    record Setting(String key, int line, List<String> values, boolean list) {}

    /**
     * The YAML reading: SnakeYAML's parser events (the library mesh-policy reads policy files with, and the
     * workload registry its file), no tree and no binding. Jackson's streaming YAML parser, which this used
     * (itself on SnakeYAML), loaded 80 Jackson classes and ~1.8 MB of RSS into every proxy started with
     * {@code --config} (benchmarks/results/config-8f1fe3e.md; {@code ConfigFileTest.aConfigStartLoadsNoJacksonClass});
     * the format and the errors are the same. A
     * class of its own so that a start without {@code --config} loads no SnakeYAML class for it.
     */
    static final class Yaml {
        private Yaml() {}

        /** YAML 1.1's implicit null (empty, {@code ~}, {@code null}), as Jackson's YAML parser and kubectl read a plain scalar. */
        private static final Resolver RESOLVER = new Resolver();

        static List<Setting> read(Path file) {
            String text;
            try {
                text = utf8(file, Files.readAllBytes(file));
            } catch (NoSuchFileException e) {
                throw new ConfigException("config file " + file + " does not exist");
            } catch (IOException e) {
                throw new ConfigException(file + ": " + Cli.describe(e));
            }
            List<Setting> settings = new ArrayList<>();
            Map<String, Integer> seen = new HashMap<>();
            LoaderOptions options = new LoaderOptions();
            options.setCodePointLimit(Integer.MAX_VALUE);
            ParserImpl p = new ParserImpl(new StreamReader(new java.io.StringReader(text)), options);
            try {
                Event e = skipToNode(p);
                if (e == null) {
                    // An empty file (a ConfigMap key mounted empty, a truncated write) started a proxy on the
                    // defaults: no policies, allowing everything. As the workload registry, an empty file is an error.
                    throw new ConfigException(file + ": empty: no option set (the config file is one mapping of option: value)");
                }
                if (!e.is(Event.ID.MappingStart)) {
                    throw new ConfigException(file + ":" + line(e) + ": expected a mapping of option: value");
                }
                while (!(e = p.getEvent()).is(Event.ID.MappingEnd)) {
                    String key = e instanceof ScalarEvent s ? s.getValue() : e instanceof AliasEvent a ? a.getAnchor() : "";
                    int line = line(e);
                    if (!(e instanceof ScalarEvent)) {
                        throw new ConfigException(file + ":" + line + ": expected option: value, found "
                                + (e instanceof AliasEvent ? "an alias (*" + key + ")" : "a " + (e.is(Event.ID.MappingStart) ? "mapping" : "list"))
                                + " as a key");
                    }
                    Integer first = seen.putIfAbsent(key, line);
                    if (first != null) {
                        // YAML forbids repeated keys (YAML 1.2 3.2.1.1), and kubectl refuses them: the file
                        // would say two things and only one would count.
                        throw new ConfigException(file + ":" + line + ": " + key + ": repeated key (first on line " + first + ")");
                    }
                    List<String> values = new ArrayList<>();
                    Event v = p.getEvent();
                    boolean list = v.is(Event.ID.SequenceStart);
                    if (list) {
                        while (!(v = p.getEvent()).is(Event.ID.SequenceEnd)) {
                            values.add(scalar(p, v, file, key));
                        }
                    } else {
                        values.add(scalar(p, v, file, key));
                    }
                    settings.add(new Setting(key, line, values, list));
                }
                // One document: a second one ("---") after the mapping would be dropped without a word, and with it,
                // say, its policies: line (the proxy then allowed everything).
                Event next = skipToNode(p);
                if (next != null) {
                    throw new ConfigException(file + ":" + line(next) + ": a second YAML document: the config file is one mapping of option: value");
                }
            } catch (MarkedYAMLException m) {
                // A YAML syntax error: the line and SnakeYAML's problem, as the policy loader names them.
                String problem = m.getProblem() != null ? m.getProblem() : m.getMessage().lines().findFirst().orElse("unreadable");
                Mark mark = m.getProblemMark() != null ? m.getProblemMark() : m.getContextMark();
                int line = mark == null ? -1 : mark.getLine() + 1;
                // The option as well, as policy files name their field (new-user pass: a tab named only a line): the
                // key typed on that line, or for an unclosed [ or { the key whose value it opened.
                boolean flow = m.getContext() != null && m.getContext().contains("flow") && m.getContextMark() != null;
                // An unclosed [ or { is named below by the key it opened; YamlDocuments names the line's own key.
                String worded = flow ? null : policyWorded(file, text, line);
                if (worded != null) {
                    throw new ConfigException(worded);
                }
                String key = keyOn(text, flow ? m.getContextMark().getLine() + 1 : line);
                if (problem.contains("(TAB)")) {
                    // SnakeYAML: "found character '\t(TAB)' that cannot start any token. (Do not use \t(TAB) for indentation)".
                    problem = "a tab character (\\t) in the indentation: YAML indents with spaces only; replace the tab with spaces";
                }
                throw new ConfigException(file + (line > 0 ? ":" + line : "") + ": " + (key == null ? "" : key + ": ")
                        + "invalid YAML: " + problem);
            } catch (YAMLException e) {
                throw new ConfigException(file + ": invalid YAML: " + e.getMessage().lines().findFirst().orElse("unreadable"));
            }
            return settings;
        }

        /**
         * {@code bytes} as UTF-8 (YAML's encoding here, as the policy loader's); a malformed sequence is named with its line,
         * where Jackson's reader said {@code invalid YAML: java.nio.charset.MalformedInputException: Input length = 1}.
         */
        private static String utf8(Path file, byte[] bytes) {
            try {
                return Utf8Text.decode(file, bytes);
            } catch (IllegalArgumentException e) {
                String m = e.getMessage();
                int colon = m.indexOf(": not UTF-8 text");
                throw new ConfigException(m.substring(0, colon) + ": invalid YAML" + m.substring(colon));
            }
        }

        /** The first node event of the next document, or null at the end of the stream. */
        private static Event skipToNode(ParserImpl p) {
            while (true) {
                Event e = p.getEvent();
                if (e.is(Event.ID.StreamEnd)) {
                    return null;
                }
                if (e instanceof NodeEvent) {
                    return e;
                }
            }
        }

        private static int line(Event e) {
            return e.getStartMark() == null ? -1 : e.getStartMark().getLine() + 1;
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
        private static String policyWorded(Path file, String text, int line) {
            try {
                io.zerohop.policy.PolicyLoader.checkYaml(file.toString(), text);
                return null;
            } catch (io.zerohop.policy.PolicyLoadException p) {
                return p.line() == line && p.problem().startsWith("invalid YAML: ") ? p.getMessage() : null;
            } catch (RuntimeException e) {
                return null;
            }
        }

        /** The option name at the start of line {@code line} (1-based) of {@code text}, or null. */
        private static String keyOn(String text, int line) {
            List<String> lines = text.lines().toList();
            if (line < 1 || line > lines.size()) {
                return null;
            }
            java.util.regex.Matcher k = java.util.regex.Pattern.compile("^[ \\t]*([A-Za-z][A-Za-z0-9-]*)[ \\t]*:(?:[ \\t]|$)")
                    .matcher(lines.get(line - 1));
            return k.find() ? k.group(1) : null;
        }

        private static String scalar(ParserImpl p, Event v, Path file, String key) {
            if (v.is(Event.ID.MappingStart) || v.is(Event.ID.SequenceStart)) {
                throw new ConfigException(file + ":" + line(v) + ": " + key
                        + ": takes a value or a list of values, not a nested " + (v.is(Event.ID.MappingStart) ? "mapping" : "list"));
            }
            if (v instanceof AliasEvent a) {
                throw new ConfigException(file + ":" + line(v) + ": " + key + ": an alias (*" + a.getAnchor() + "): write the value itself");
            }
            ScalarEvent s = (ScalarEvent) v;
            // A plain empty, ~ or null is no value (load refuses it); quoted, it is the text.
            return s.isPlain() && RESOLVER.resolve(NodeId.scalar, s.getValue(), true) == Tag.NULL ? null : s.getValue();
        }
    }
}
