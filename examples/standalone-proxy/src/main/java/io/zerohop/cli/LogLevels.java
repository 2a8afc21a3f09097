package io.zerohop.cli;

import io.zerohop.core.HttpEndpoint;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.simple.SimpleLogger;
import org.slf4j.simple.SimpleLoggerFactory;

/**
 * The admin {@code /logging} endpoint as ztunnel's (src/admin.rs {@code handle_logging} and
 * src/telemetry.rs {@code set_level}, mirroring Envoy's). {@code POST /logging} shows the levels;
 * {@code POST /logging?level=LEVEL} sets the default; {@code POST /logging?level=NAME=LEVEL,NAME2=LEVEL2}
 * sets logger-name prefixes, e.g. {@code io.zerohop.access=warn}; ztunnel's target {@code access} names zerohop's
 * access log, {@code io.zerohop.access}, so {@code level=access=off} silences it as it does ztunnel's;
 * {@code POST /logging?reset} (with or without {@code level}) drops every change first, back to the
 * start-up levels. The parameter takes what ztunnel's takes ({@link #adminClauses}: a bare level in lower case,
 * {@code NAME=LEVEL} with tracing's level parsing, so {@code access=DEBUG} and {@code access=4}; not {@code INFO},
 * {@code NAME:LEVEL} or a bare name); anything else is answered 400 {@code Invalid level provided: ...} as ztunnel's;
 * other methods get 405.
 *
 * <p>As ztunnel's filter (tracing's {@code Targets}), the most specific name wins whatever the order of
 * the changes: {@code access=off} then {@code level=debug} leaves the access log off. The levels
 * apply to loggers created later too. slf4j-simple has no runtime API: this sets its loggers' level
 * field, its default level and the {@code org.slf4j.simpleLogger.log.NAME} system properties it reads
 * when it creates a logger, then recomputes each logger's level as slf4j-simple would.
 */
final class LogLevels {
    private static final Map<String, Integer> LEVELS = Map.of("trace", 0, "debug", 10, "info", 20, "warn", 30, "error", 40, "off", 50);
    /** ztunnel's tracing targets that have a zerohop logger of their own (ztunnel's {@code target: "access"}). */
    private static final Map<String, String> ZTUNNEL_TARGETS = Map.of("access", "io.zerohop.access");
    private static final String LOG_KEY = "org.slf4j.simpleLogger.log.";
    /** The levels set since start (or the last reset), by logger-name prefix. */
    private static final Map<String, String> named = new TreeMap<>();
    /** The named levels {@code RUST_LOG} started with ({@link #startWith}): listed, and kept by a reset. */
    private static final Map<String, String> startup = new TreeMap<>();
    /** The default level set since start (or the last reset); null: the start-up one. */
    private static String defaultLevel;
    /** What this class changed, as it was before, to undo on reset: system properties (null: unset). */
    private static final Map<String, String> savedProperties = new HashMap<>();
    private static Integer savedDefault;

    private static final Logger log = LoggerFactory.getLogger(LogLevels.class);

    private LogLevels() {}

    static synchronized HttpEndpoint.Response handle(HttpEndpoint.Request r) throws ReflectiveOperationException {
        if (!r.method().equals("POST")) {
            return HttpEndpoint.Response.plaintext(405, "Invalid HTTP method\n" + HELP);
        }
        String level = r.query().get("level");
        boolean reset = r.query().containsKey("reset");
        Map<String, String> clauses = adminClauses(level);
        if (clauses == null) {
            // ztunnel's answer to what its validate_log_level refuses (src/admin.rs change_log_level), its blank line too.
            return HttpEndpoint.Response.plaintext(400, "Invalid level provided: " + level + "\n\n" + HELP);
        }
        if ((reset || !clauses.isEmpty()) && !(LoggerFactory.getILoggerFactory() instanceof SimpleLoggerFactory)) {
            return HttpEndpoint.Response.plaintext(501, "log levels can be changed only with slf4j-simple\n");
        }
        if (reset) {
            undo();
        }
        clauses.forEach((name, lvl) -> {
            if (name == null) {
                defaultLevel = lvl;
            } else {
                named.put(name, lvl);
            }
        });
        if (reset || !clauses.isEmpty()) {
            // As ztunnel's set_level, one INFO line naming the new filter, written before it applies (so that a change
            // to warn still leaves its trace): an operator's runtime change is in the node's log (helper 262: nothing
            // said that /logging had turned debug on or the access log off).
            log.info("new log filter is {}", listing());
            apply();
        }
        return HttpEndpoint.Response.plaintext(200, "current log level is " + listing() + "\n");
    }

    /** The levels as {@code /logging} lists them: the default, then each named one ({@code info,io.zerohop.access=off}). */
    private static String listing() {
        StringBuilder sb = new StringBuilder();
        sb.append(defaultLevel != null ? defaultLevel : System.getProperty(SimpleLogger.DEFAULT_LOG_LEVEL_KEY, "info"));
        Map<String, String> listed = new TreeMap<>(startup);
        listed.putAll(named);
        listed.forEach((k, v) -> sb.append(',').append(k).append('=').append(v));
        return sb.toString();
    }

    /**
     * {@code /logging}'s {@code level} parameter as ztunnel takes it (istio/ztunnel src/admin.rs {@code validate_log_level},
     * then src/telemetry.rs {@code set_level}'s {@code filter::Targets::from_str}), comma-separated clauses, in order:
     * <ul>
     * <li>a bare level, exactly {@code off}, {@code error}, {@code warn}, {@code info}, {@code debug} or {@code trace}
     * (lower case, no spaces: ztunnel matches these strings; {@code INFO}, {@code 3} and an empty clause are refused),
     * the default level, under the key null;
     * <li>a clause with an {@code =}, read as tracing-subscriber 0.3's {@code StaticDirective::from_str}
     * ({@code src/filter/directive.rs}): exactly one {@code =}; before it a target, any text, even empty (tracing's
     * target {@code ""}, a prefix of every target: the key {@code ""}, which {@link #apply} reads as a default that a
     * bare level does not override), optionally with {@code [{FIELD,...}]} (kept in the name: no Java logger's name
     * has it, so it changes no level, as a field directive matches no event without that field); after it a level as
     * tracing-core's {@code LevelFilter::from_str} reads it ({@link #levelFilter}: any ASCII case, 0-5, empty for
     * {@code error}). ztunnel's target {@code access} is zerohop's access logger;
     * <li>anything else refused: a bare target ({@code access}) and {@code NAME:LEVEL} ({@code access:debug}) too,
     * which ztunnel's help text shows but its check refuses ({@code level ... is invalid}).
     * </ul>
     *
     * @return the clauses, empty for no or an empty parameter; null when ztunnel answers 400
     */
    static Map<String, String> adminClauses(String level) {
        Map<String, String> clauses = new LinkedHashMap<>();
        if (level == null || level.isEmpty()) {
            return clauses;
        }
        for (String clause : level.split(",", -1)) {
            if (LEVELS.containsKey(clause)) {
                clauses.put(null, clause);
                continue;
            }
            int eq = clause.indexOf('=');
            if (eq < 0 || clause.indexOf('=', eq + 1) >= 0) {
                return null; // no '=': ztunnel's "level {s} is invalid"; two: tracing's "too many '='"
            }
            String target = clause.substring(0, eq);
            String lvl = levelFilter(clause.substring(eq + 1));
            String fields = "";
            int open = target.indexOf("[{");
            if (open >= 0) {
                String list = target.substring(open + 2);
                if (list.contains("[{") || !list.endsWith("}]")) {
                    return null; // tracing: "too many '[{'", "expected fields list to end with '}]'"
                }
                // tracing trims every "}]" at the end and drops empty names: [{}] is no field list at all.
                while (list.endsWith("}]")) {
                    list = list.substring(0, list.length() - 2);
                }
                String kept = String.join(",", java.util.Arrays.stream(list.split(",")).filter(f -> !f.isEmpty()).toList());
                fields = kept.isEmpty() ? "" : "[{" + kept + "}]";
                target = target.substring(0, open);
            }
            if (lvl == null) {
                return null;
            }
            clauses.put(ZTUNNEL_TARGETS.getOrDefault(target, target) + fields, lvl);
        }
        return clauses;
    }

    /**
     * {@code s} as tracing-core 0.1's {@code LevelFilter::from_str} reads it ({@code src/metadata.rs}, the version
     * ztunnel's Cargo.lock holds): a number 0-5 as Rust's {@code usize} parses it (a {@code +} sign and leading zeros
     * allowed) for off, error, warn, info, debug, trace; the empty string for error; a level's name in any ASCII case.
     *
     * @return the level's lower-case name, or null
     */
    static String levelFilter(String s) {
        if (s.matches("\\+?[0-9]+")) {
            String digits = s.replaceFirst("^\\+?0*", "");
            int n = digits.isEmpty() ? 0 : digits.length() == 1 ? digits.charAt(0) - '0' : 6;
            return n <= 5 ? List.of("off", "error", "warn", "info", "debug", "trace").get(n) : null;
        }
        if (s.isEmpty()) {
            return "error";
        }
        StringBuilder lower = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            lower.append(c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c); // ASCII only, as Rust's eq_ignore_ascii_case
        }
        return LEVELS.containsKey(lower.toString()) ? lower.toString() : null;
    }

    /**
     * {@code RUST_LOG}'s directives, the name "" for the default; a target is split from its level at the last {@code =}
     * (or the last single {@code :}), so Rust module paths stay whole ({@code ztunnel::proxy=debug}: a name no Java logger
     * has, which changes nothing); a clause that is no level is a target at {@code trace}, as tracing's {@code Targets}
     * reads {@code RUST_LOG}'s {@code foo}. {@code /logging} reads its parameter with {@link #adminClauses} instead.
     *
     * @return null when a clause does not parse
     */
    static Map<String, String> rustLogClauses(String level) {
        Map<String, String> clauses = new LinkedHashMap<>();
        if (level != null && !level.isEmpty()) {
            for (String clause : level.split(",")) {
                if (clause.isBlank()) {
                    continue; // tracing skips an empty directive (debug,,access=off)
                }
                int at = clause.lastIndexOf('=');
                if (at < 0) {
                    int colon = clause.lastIndexOf(':');
                    at = colon > 0 && clause.charAt(colon - 1) != ':' ? colon : -1;
                }
                String name = at < 0 ? "" : clause.substring(0, at).trim();
                String lvl = clause.substring(at + 1).trim().toLowerCase(Locale.ROOT);
                // tracing-core's LevelFilter::from_str: 0-5 are off, error, warn, info, debug, trace; after "=" an
                // empty level is error (access= is access at error).
                lvl = lvl.length() == 1 && lvl.charAt(0) >= '0' && lvl.charAt(0) <= '5'
                        ? List.of("off", "error", "warn", "info", "debug", "trace").get(lvl.charAt(0) - '0')
                        : at >= 0 && lvl.isEmpty() ? "error" : lvl;
                if (at < 0 && !lvl.isEmpty() && !LEVELS.containsKey(lvl)) {
                    name = clause.trim();
                    lvl = "trace";
                }
                if (!LEVELS.containsKey(lvl) || at >= 0 && name.isEmpty()) {
                    return null;
                }
                clauses.put(ZTUNNEL_TARGETS.getOrDefault(name, name), lvl);
            }
        }
        return clauses;
    }

    /**
     * ztunnel's start-up filter, {@code RUST_LOG} (istio/ztunnel {@code src/telemetry.rs} {@code default_filter}: the
     * variable's directives, {@code off} for what they do not name ({@link #startupClauses}), else {@code info}), in
     * {@code /logging}'s syntax ({@code warn}, {@code info,access=off}):
     * the levels a process starts with, and what {@code /logging?reset} returns to, as ztunnel's reset returns to its
     * start-up filter. Without slf4j-simple nothing changes.
     *
     * @return null, or why {@code spec} does not parse (ztunnel does not start with a filter it cannot read either)
     */
    static synchronized String startWith(String spec) throws ReflectiveOperationException {
        Map<String, String> clauses = startupClauses(spec);
        if (clauses == null) {
            return "\"" + spec + "\" is not a list of LEVEL, TARGET or TARGET=LEVEL (levels trace, debug, info, warn, error, off)";
        }
        if (clauses.isEmpty() || !(LoggerFactory.getILoggerFactory() instanceof SimpleLoggerFactory)) {
            return null;
        }
        for (Map.Entry<String, String> c : clauses.entrySet()) {
            if (c.getKey().isEmpty()) {
                // Where slf4j-simple and the listing read the default, not one of /logging's saved changes.
                System.setProperty(SimpleLogger.DEFAULT_LOG_LEVEL_KEY, c.getValue());
                defaultLevelField().setInt(config(), LEVELS.get(c.getValue()));
            } else {
                System.setProperty(LOG_KEY + c.getKey(), c.getValue());
                startup.put(c.getKey(), c.getValue());
            }
        }
        apply();
        return null;
    }

    /**
     * {@code RUST_LOG}'s directives as {@link #rustLogClauses} reads them, with the default {@code off} when they
     * name targets only ({@code access=info}): tracing's {@code Targets} disables what no directive names, and ztunnel
     * adds no default to a variable that is set (istio/ztunnel src/telemetry.rs {@code default_filter} prefixes
     * {@code hickory_server::server=off,} only), so {@code RUST_LOG=access=info} prints access lines and nothing else.
     * Until 6 December zerohop kept its other lines at info (helper 262). An empty variable keeps info (README).
     *
     * @return null when {@code spec} does not parse
     */
    static Map<String, String> startupClauses(String spec) {
        Map<String, String> clauses = rustLogClauses(spec);
        if (clauses == null || clauses.isEmpty() || clauses.containsKey("")) {
            return clauses;
        }
        Map<String, String> withDefault = new LinkedHashMap<>();
        withDefault.put("", "off");
        withDefault.putAll(clauses);
        return withDefault;
    }

    /**
     * Runs {@code body} with logger {@code name} silenced, then restores its level: for a command
     * that prints what that logger would say in its own words (once). Without slf4j-simple it just runs.
     */
    static synchronized <T> T silenced(String name, java.util.concurrent.Callable<T> body) throws Exception {
        if (!(LoggerFactory.getLogger(name) instanceof SimpleLogger l)) {
            return body.call();
        }
        Field current = SimpleLogger.class.getDeclaredField("currentLogLevel");
        current.setAccessible(true);
        int before = current.getInt(l);
        current.setInt(l, LEVELS.get("off"));
        try {
            return body.call();
        } finally {
            current.setInt(l, before);
        }
    }

    /** Drops every change: system properties and the default level as they were, no level of ours. */
    private static void undo() throws ReflectiveOperationException {
        savedProperties.forEach((k, v) -> {
            if (v == null) {
                System.clearProperty(k);
            } else {
                System.setProperty(k, v);
            }
        });
        savedProperties.clear();
        if (savedDefault != null) {
            defaultLevelField().setInt(config(), savedDefault);
            savedDefault = null;
        }
        named.clear();
        defaultLevel = null;
    }

    /**
     * Writes the levels where slf4j-simple reads them (its default, one system property per name), then
     * gives every existing logger the level slf4j-simple computes for a new one: the longest name prefix
     * with a level, else the default.
     */
    @SuppressWarnings("unchecked")
    private static void apply() throws ReflectiveOperationException {
        Object config = config();
        Field defaultField = defaultLevelField();
        // tracing's target "" (level==debug) is a prefix of every target and more specific than a bare level: it is
        // the level of every logger for which no longer (more specific) name has one, whatever the bare level says.
        String effectiveDefault = named.getOrDefault("", defaultLevel);
        if (effectiveDefault != null) {
            if (savedDefault == null) {
                savedDefault = defaultField.getInt(config);
            }
            defaultField.setInt(config, LEVELS.get(effectiveDefault));
        }
        for (Map.Entry<String, String> e : named.entrySet()) {
            if (e.getKey().isEmpty()) {
                continue;
            }
            String key = LOG_KEY + e.getKey();
            if (!savedProperties.containsKey(key)) {
                savedProperties.put(key, System.getProperty(key));
            }
            System.setProperty(key, e.getValue());
        }
        Field map = SimpleLoggerFactory.class.getDeclaredField("loggerMap");
        map.setAccessible(true);
        Field current = SimpleLogger.class.getDeclaredField("currentLogLevel");
        current.setAccessible(true);
        Method compute = SimpleLogger.class.getDeclaredMethod("recursivelyComputeLevelString");
        compute.setAccessible(true);
        Method toLevel = config.getClass().getDeclaredMethod("stringToLevel", String.class);
        toLevel.setAccessible(true);
        ConcurrentMap<String, Logger> loggers = (ConcurrentMap<String, Logger>) map.get(LoggerFactory.getILoggerFactory());
        for (Logger logger : loggers.values()) {
            if (logger instanceof SimpleLogger l) {
                String s = (String) compute.invoke(l);
                current.setInt(l, s != null ? (int) toLevel.invoke(null, s) : defaultField.getInt(config));
            }
        }
    }

    private static Object config() throws ReflectiveOperationException {
        Field f = SimpleLogger.class.getDeclaredField("CONFIG_PARAMS");
        f.setAccessible(true);
        return f.get(null);
    }

    private static Field defaultLevelField() throws ReflectiveOperationException {
        Field f = config().getClass().getDeclaredField("defaultLogLevel");
        f.setAccessible(true);
        return f;
    }

    private static final String HELP = """
            usage: POST /logging\t\t\t\t(To list current level)
            usage: POST /logging?level=<level>\t\t(To change global levels)
            usage: POST /logging?level={name1}={level1},{name2}={level2}\t(To change specific loggers' levels)
            usage: POST /logging?reset[&level=...]\t(Back to the start-up levels, then apply level)
            hint: loglevel:\terror|warn|info|debug|trace|off (after name=, any case or 0-5 too)
            hint: name:\ta logger name prefix, e.g. io.zerohop.access; ztunnel's target access is io.zerohop.access
            """;
}
