package io.zerohop.cli;

import io.zerohop.core.HttpEndpoint;
import java.lang.reflect.Field;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.simple.SimpleLogger;
import org.slf4j.simple.SimpleLoggerFactory;

/**
 * The admin {@code /logging} endpoint as ztunnel's (src/admin.rs {@code handle_logging}, mirroring
 * Envoy's): {@code POST /logging} shows the levels, {@code POST /logging?level=LEVEL} sets the default,
 * {@code POST /logging?level=NAME:LEVEL,NAME2:LEVEL2} sets logger-name prefixes (e.g.
 * {@code io.zerohop.access:warn}); levels {@code error|warn|info|debug|trace|off}; other methods get 405,
 * a bad level 400. slf4j-simple has no runtime API: this sets its loggers' level field, and a system
 * property for loggers created later.
 */
final class LogLevels {
    private static final Map<String, Integer> LEVELS = Map.of("trace", 0, "debug", 10, "info", 20, "warn", 30, "error", 40, "off", 50);
    private static final Map<String, String> set = new TreeMap<>();

    private LogLevels() {}

    static synchronized HttpEndpoint.Response handle(HttpEndpoint.Request r) throws ReflectiveOperationException {
        if (!r.method().equals("POST")) {
            return HttpEndpoint.Response.text(405, "Invalid HTTP method\n" + HELP);
        }
        String level = r.query().get("level");
        if (level != null && !level.isEmpty()) {
            for (String clause : level.split(",")) {
                String[] p = clause.split("[:=]", 2);
                String lvl = (p.length == 2 ? p[1] : p[0]).trim().toLowerCase(java.util.Locale.ROOT);
                if (!LEVELS.containsKey(lvl) || p.length == 2 && p[0].isBlank()) {
                    return HttpEndpoint.Response.text(400, "Invalid level provided: " + level + "\n" + HELP);
                }
            }
            if (!(LoggerFactory.getILoggerFactory() instanceof SimpleLoggerFactory)) {
                return HttpEndpoint.Response.text(501, "log levels can be changed only with slf4j-simple\n");
            }
            for (String clause : level.split(",")) {
                String[] p = clause.split("[:=]", 2);
                String name = p.length == 2 ? p[0].trim() : "";
                String lvl = (p.length == 2 ? p[1] : p[0]).trim().toLowerCase(java.util.Locale.ROOT);
                apply(name, lvl);
                set.put(name.isEmpty() ? "default" : name, lvl);
            }
        }
        StringBuilder sb = new StringBuilder("current log level is ");
        sb.append(set.getOrDefault("default", System.getProperty(SimpleLogger.DEFAULT_LOG_LEVEL_KEY, "info")));
        set.forEach((k, v) -> {
            if (!k.equals("default")) {
                sb.append(',').append(k).append('=').append(v);
            }
        });
        return HttpEndpoint.Response.text(200, sb.append('\n').toString());
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

    @SuppressWarnings("unchecked")
    private static void apply(String prefix, String level) throws ReflectiveOperationException {
        Field map = SimpleLoggerFactory.class.getDeclaredField("loggerMap");
        map.setAccessible(true);
        Field current = SimpleLogger.class.getDeclaredField("currentLogLevel");
        current.setAccessible(true);
        ConcurrentMap<String, Logger> loggers = (ConcurrentMap<String, Logger>) map.get(LoggerFactory.getILoggerFactory());
        for (Map.Entry<String, Logger> e : loggers.entrySet()) {
            String n = e.getKey();
            if (e.getValue() instanceof SimpleLogger l && (prefix.isEmpty() || n.equals(prefix) || n.startsWith(prefix + "."))) {
                current.setInt(l, LEVELS.get(level));
            }
        }
        if (!prefix.isEmpty()) {
            System.setProperty("org.slf4j.simpleLogger.log." + prefix, level);
        }
    }

    private static final String HELP = """
            usage: POST /logging\t\t\t\t(To list current level)
            usage: POST /logging?level=<level>\t\t(To change global levels)
            usage: POST /logging?level={name1}:{level1},{name2}:{level2}\t(To change specific loggers' levels)
            hint: loglevel:\terror|warn|info|debug|trace|off
            hint: name:\ta logger name prefix, e.g. io.zerohop.access
            """;
}
