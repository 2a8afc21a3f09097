package io.zerohop.cli;

import io.zerohop.core.Addresses;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/**
 * Option values checked before a command starts anything. Each mistake is a usage error (picocli's
 * {@link ParameterException}: one line, the {@code --help} hint, exit 2) that names the option as the
 * user gave it: {@code --inbound} on the command line, {@code file:line: inbound} when the
 * {@code --config} file supplied it ({@link ConfigFile.Origins}).
 */
final class Usage {
    /** What a path option must name. */
    enum Kind {
        FILE("a file"), DIRECTORY("a directory"), FILE_OR_DIRECTORY("a file or a directory");

        private final String text;

        Kind(String text) {
            this.text = text;
        }
    }

    private final CommandSpec spec;
    private final ConfigFile.Origins origins;

    /**
     * A usage error (exit 2) caused by an environment variable alone ({@code $CONNECTION_TERMINATION_DEADLINE},
     * {@code $CLUSTER_ID}, {@code $SECRET_TTL}, {@code $CA_HEADER_*}, {@code $RUST_LOG}, {@code PILOT_HTTP10}...): its
     * message names the variable, as ztunnel's {@code Error::EnvVar} does (istio/ztunnel src/config.rs), and it ends
     * there, without the {@code --help} hint every other usage error ends with: the command's help describes its
     * options, and no option was wrong (until 6 December it ended with the hint). It is one line whatever the value: a
     * control character in it (a template's trailing newline) is shown escaped, {@code \n}, {@code \r}, {@code \t}, else as a
     * backslash, {@code u} and the hex code in braces (ESC: {@code u{1b}} after the backslash), as Rust's {@code {:?}} shows one; it was printed as it was, and the error ran over two lines.
     */
    static final class EnvironmentError extends ParameterException {
        private static final long serialVersionUID = 1L;

        EnvironmentError(picocli.CommandLine cmd, String message) {
            super(cmd, oneLine(message));
        }

        static String oneLine(String message) {
            StringBuilder b = null;
            for (int i = 0; i < message.length(); i++) {
                char ch = message.charAt(i);
                if (ch >= 0x20 && ch != 0x7f && ch != 0x85 && ch != 0x2028 && ch != 0x2029) {
                    if (b != null) {
                        b.append(ch);
                    }
                    continue;
                }
                if (b == null) {
                    b = new StringBuilder(message.length() + 8).append(message, 0, i);
                }
                b.append(switch (ch) {
                    case '\n' -> "\\n";
                    case '\r' -> "\\r";
                    case '\t' -> "\\t";
                    default -> "\\u{" + Integer.toHexString(ch) + "}";
                });
            }
            return b == null ? message : b.toString();
        }
    }

    /** Checks every comma-list option of {@code spec}'s command ({@link #refuseEmptyElements}) first. */
    Usage(CommandSpec spec, ConfigFile.Origins origins) {
        this.spec = spec;
        this.origins = origins;
        refuseEmptyElements();
    }

    /**
     * Refuses a value of any comma-list option ({@code split = ","}: {@code --trust-domain-aliases},
     * {@code --forward}, {@code --expect}) that has an empty element, wherever the stray comma is, with one message.
     * picocli drops trailing empty elements and keeps the others: {@code "old-td,"} was taken silently as
     * {@code old-td} while {@code "a,,b"} met the element's own check as {@code ""} (a new-user pass). The values are
     * read as given ({@code originalStringValues}), before picocli splits them.
     */
    private void refuseEmptyElements() {
        for (picocli.CommandLine.Model.OptionSpec o : spec.options()) {
            if (!",".equals(o.splitRegex())) {
                continue;
            }
            for (String raw : o.originalStringValues()) {
                if (java.util.Arrays.asList(raw.split(",", -1)).contains("")) {
                    String label = o.paramLabel();
                    throw error(o.longestName().substring(2), raw, "\"" + raw + "\" has an empty element (a comma at the start,"
                            + " at the end or doubled): write " + label + "[," + label + "...]");
                }
            }
        }
    }

    /** A usage error about option {@code key} (long name without dashes) and its {@code value}. */
    ParameterException error(String key, String value, String problem) {
        return new ParameterException(spec.commandLine(), origins.label(key) + ": " + problem, spec.findOption("--" + key), value);
    }

    /** {@code ip:port}, {@code [v6]:port} or {@code :port} ({@link Addresses#parseHostPort}). */
    InetSocketAddress hostPort(String key, String value) {
        try {
            return Addresses.parseHostPort(value, origins.label(key));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage(), spec.findOption("--" + key), value);
        }
    }

    /** A listener address, or null for {@code off}. */
    InetSocketAddress listener(String key, String value) {
        if ("false".equals(value) || "no".equals(value)) {
            // "metrics: false" in a config file, as "transparent: false" reads (new-user pass): say the word that works.
            throw error(key, value, "\"" + value + "\" is not ip:port: write off to turn the listener off");
        }
        if (SWITCH_WORDS.contains(value.toLowerCase(java.util.Locale.ROOT))) {
            // "--socks5 true" (a new-user pass) got the generic "is not ip:port": the option takes an address, and the
            // switch is the flag alone or the config file's "socks5: true", which expands to it (ConfigFile).
            picocli.CommandLine.Model.OptionSpec o = spec.findOption("--" + key);
            boolean optional = o != null && o.arity().min() == 0 && !o.fallbackValue().isEmpty();
            throw error(key, value, "\"" + value + "\" is not an address: this option takes an address (host:port) or off"
                    + (optional ? "; to turn it on at its default address (" + o.fallbackValue() + "), give --" + key
                    + " without a value, or write \"" + key + ": true\" in the --config file" : ""));
        }
        if (value.matches("[0-9]{1,5}")) {
            // "--admin 15100" (a new-user pass moving a second proxy's admin port) got "is not ip:port" alone: the address
            // to write is the option's default one on that port (":15100" would be 0.0.0.0, a warning for --admin).
            picocli.CommandLine.Model.OptionSpec o = spec.findOption("--" + key);
            String def = o == null ? null : o.defaultValue() != null ? o.defaultValue() : o.fallbackValue();
            if (def != null && def.lastIndexOf(':') > 0) {
                String example = def.substring(0, def.lastIndexOf(':')) + ":" + value;
                boolean inFile = !origins.label(key).startsWith("--");
                throw error(key, value, "\"" + value + "\" is not ip:port: a port alone; give the address too, e.g. "
                        + (inFile ? key + ": " : "--" + key + " ") + example + " (its default address)");
            }
        }
        return "off".equals(value) ? null : hostPort(key, value);
    }

    /** Words that mean "on" (YAML 1.1's booleans, and what a script may pass), which no address is. */
    private static final java.util.Set<String> SWITCH_WORDS = java.util.Set.of("true", "yes", "on", "y");

    /**
     * {@code parse}'s result; its {@link IllegalArgumentException} (an invalid SPIFFE ID, trust domain,
     * IP literal...) as a usage error about option {@code key}.
     */
    static <T> T parse(Usage u, String key, String value, java.util.function.Supplier<T> parse) {
        return parse(u, key, value, null, parse);
    }

    /**
     * {@link #parse(Usage, String, String, java.util.function.Supplier)} of a value checked by a library setter whose
     * messages start with its own name ({@code "inboundEndpoint: target 224.0.0.1:80 is a multicast address"}): that
     * prefix is dropped, so the error names the option and not a Java method the user never called.
     */
    static <T> T parse(Usage u, String key, String value, String setter, java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            if (m.startsWith("--" + key + ": ")) {
                m = m.substring(key.length() + 4);
            } else if (setter != null && m.startsWith(setter + ": ")) {
                m = m.substring(setter.length() + 2);
            }
            throw u.error(key, value, m);
        }
    }

    /**
     * {@code value} when it is a Kubernetes namespace name (DNS-1123 label), as istiod requires of its root
     * namespace; otherwise a usage error naming {@code key}. {@code proxy} and {@code policy check} alike: the
     * latter took {@code Istio-System} and decided as if no policy were mesh-wide (new-user pass).
     */
    String namespace(String key, String value) {
        if (!value.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
            throw error(key, value, "\"" + value + "\" is not a namespace name (lower-case DNS label, e.g. istio-system)");
        }
        return value;
    }

    /** {@link Cli#duration} with the option named. */
    Duration duration(String key, String value) {
        try {
            return Cli.duration(value);
        } catch (Cli.RefusedException e) {
            throw error(key, value, e.getMessage());
        }
    }

    /**
     * {@code dir}, created with its parents when missing: a directory the command writes into. When it
     * cannot be, a usage error saying why ({@code "afile is not a directory"}, {@code "Permission denied"});
     * the JDK's exceptions carry only the path ("zerohop ca issue: afile").
     */
    Path outputDirectory(String key, Path dir) {
        refuseEmpty(key, dir);
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw error(key, dir.toString(), dir + " is not a directory");
        }
        try {
            Files.createDirectories(dir);
        } catch (java.nio.file.FileSystemException e) {
            String why = e.getReason() != null ? e.getReason()
                    : e instanceof java.nio.file.FileAlreadyExistsException ? e.getFile() + " is not a directory" : e.getClass().getSimpleName();
            throw error(key, dir.toString(), "cannot create directory " + dir + ": " + why);
        } catch (java.io.IOException e) {
            throw error(key, dir.toString(), "cannot create directory " + dir + ": " + Cli.describe(e));
        }
        if (!Files.isWritable(dir)) {
            throw error(key, dir.toString(), dir + " is not writable (permission denied)");
        }
        return dir;
    }

    /**
     * An empty path ({@code --policies "$POLICY_DIR"} with the variable unset, {@code policies: ""}) names
     * the working directory to the JDK: a new-user pass got the proxy loading the working directory's
     * YAML files as its policies. Refused as a usage error.
     */
    private void refuseEmpty(String key, Path path) {
        if (path.toString().isEmpty()) {
            throw error(key, "", "an empty path (write \".\" for the working directory)");
        }
    }

    /**
     * A file that may appear later ({@code --crl-path}: ztunnel's CRL manager waits for a missing file, and so does
     * {@code CrlFile}), so only what can never become it is refused: an empty path (the working directory to the JDK) or
     * a directory. {@code what} says what the file holds. Null stays null.
     */
    Path fileOrMissing(String key, Path path, String what) {
        if (path == null) {
            return null;
        }
        refuseEmpty(key, path);
        if (Files.isDirectory(path)) {
            throw error(key, path.toString(), path + " is not a file (" + what + ")");
        }
        return path;
    }

    /**
     * {@code path} unchanged (null stays null) when it exists, is of {@code kind} and is readable;
     * otherwise a usage error saying which of the three it is not. Checked up front because the
     * JDK's own exceptions carry only the path ("nope: cannot read: nope").
     */
    Path path(String key, Path path, Kind kind) {
        if (path == null) {
            return null;
        }
        refuseEmpty(key, path);
        if (!Files.exists(path)) {
            // The deepest part that does exist says why: a file where a directory was meant, or a missing parent.
            Path existing = path.toAbsolutePath().getParent();
            while (existing != null && !Files.exists(existing)) {
                existing = existing.getParent();
            }
            String why = existing != null && !Files.isDirectory(existing) ? " (" + existing + " is not a directory)" : "";
            throw error(key, path.toString(), path + " does not exist" + why);
        }
        boolean dir = Files.isDirectory(path);
        if (kind == Kind.FILE && dir || kind == Kind.DIRECTORY && !dir) {
            throw error(key, path.toString(), path + " is not " + kind.text);
        }
        if (!Files.isReadable(path) || dir && !Files.isExecutable(path)) {
            throw error(key, path.toString(), path + " is not readable (permission denied)");
        }
        return path;
    }
}
