package io.zerohop.cli;

import java.time.Instant;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.event.LoggingEvent;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.simple.SimpleLogger;
import org.slf4j.simple.SimpleLoggerFactory;

/**
 * The shape of the proxy's own log lines. With {@code --access-log-format zerohop} (the default) they are
 * slf4j-simple's, on stderr. With {@code ztunnel} / {@code ztunnel-json} stdout is ztunnel's log stream, and ztunnel
 * writes every line there in one shape (istio/ztunnel src/telemetry.rs {@code IstioFormat}:
 * {@code TIME\tLEVEL\tSCOPE\tMESSAGE}; {@code IstioJsonFormat}: {@code {"level":..,"time":..,"scope":..,"message":..}}),
 * access lines and its own alike: so from {@link #use} on, the proxy's slf4j lines and its start-up warnings go there
 * too, in that shape, and a log shipper parsing ztunnel's format meets no other line on stdout. Stderr keeps stack
 * traces and a start that fails (a port in use, an unreadable policy, an unreachable CA: one plain line and the exit
 * status, as ztunnel's {@code Error: ...} at exit). Until
 * 4 December they stayed zerohop's, on stderr (an operator pass: a collector reading both streams, as Kubernetes'
 * does, met two shapes).
 *
 * <p>TIME is RFC 3339 UTC with microseconds (ztunnel's {@code SystemTime}), LEVEL lower case, SCOPE the logger's name
 * without {@code io.zerohop.} (as ztunnel drops {@code ztunnel::} from its targets: {@code access},
 * {@code core.internal.MeshRuntime}; another library's logger keeps its whole name) or {@code zerohop} for the
 * proxy's own lines. A throwable becomes an {@code error} field ({@code \terror="..."} in the text shape, as tracing
 * writes a field; a JSON member) and its stack trace stays on stderr, since ztunnel's lines never span lines. Lines
 * logged before the options are read (the first start-up lines) keep slf4j-simple's shape on stderr. The proxy's own
 * stdout lines ({@link #stdoutLine}: the ready line too) take the shape as well: until 4 December the waiting, syncing,
 * listening and ready lines stayed plain there.
 */
final class LogShape {
    /** {@code zerohop}, {@code ztunnel} or {@code ztunnel-json}. */
    private static volatile String format = "zerohop";

    private LogShape() {}

    /** From now on, the lines of this process in {@code accessLogFormat}'s shape (see the class comment). */
    static void use(String accessLogFormat) {
        format = accessLogFormat;
    }

    /** Whether lines go to stdout in ztunnel's shape. */
    static boolean ztunnel() {
        return !format.equals("zerohop");
    }

    /**
     * One of the proxy's own warnings or notices ({@code zerohop proxy: warning: ...}): on stderr as given, or, in a
     * ztunnel shape, on stdout as a {@code level} line of scope {@code zerohop} keeping the text.
     */
    static void proxyLine(String level, String text) {
        if (format.equals("zerohop")) {
            System.err.println(text);
        } else {
            own(level, text);
        }
    }

    /**
     * A line of scope {@code zerohop} in a ztunnel shape, through the slf4j logger {@code zerohop}, so that its level
     * applies as ztunnel's filter does to its own lines ({@code RUST_LOG=warn} drops the info lines, the ready line too;
     * {@code RUST_LOG=warn,zerohop=info} keeps them): these lines ignored the level until 4 December. Written directly
     * where slf4j's logger is not this class's (a proxy run inside an application with another back end).
     */
    private static void own(String level, String text) {
        Logger own = org.slf4j.LoggerFactory.getLogger(OWN_SCOPE);
        if (own instanceof Shaped) {
            switch (level) {
                case "error" -> own.error(text);
                case "warn" -> own.warn(text);
                default -> own.info(text);
            }
        } else {
            // One queued line: System.out.println queues the text and its newline apart, and an access line written
            // between them (mesh-core writes those with LogOutput.println) merged two lines (a break-it pass).
            io.zerohop.core.LogOutput.println(System.out, line(format, level, OWN_SCOPE, text, null, Instant.now()));
        }
    }

    /** The scope, and slf4j logger name, of the proxy's own lines. */
    static final String OWN_SCOPE = "zerohop";

    /**
     * One of the proxy's own lines on stdout (waiting for an SVID, syncing, listening, ready, draining, stopped): as
     * given in zerohop's shape, else an {@code info} line of scope {@code zerohop} keeping the text, so that a search for
     * {@code zerohop proxy ready:} still finds it (in the message, not at the line's start), at that scope's level (so
     * not at {@code RUST_LOG=warn}, as ztunnel's own info lines are not). Flushed: scripts wait for these lines.
     */
    static void stdoutLine(String text) {
        if (format.equals("zerohop")) {
            System.out.println(text);
            System.out.flush();
        } else {
            own("info", text);
        }
    }

    /**
     * A line in {@code format}'s shape: {@code message} itself for {@code zerohop}, else ztunnel's text or JSON line.
     *
     * @param error a field {@code error} after the message, or null for none
     */
    static String line(String format, String level, String scope, String message, String error, Instant now) {
        if (format.equals("zerohop")) {
            return message;
        }
        String time = Time.FORMAT.format(now);
        if (format.equals("ztunnel")) {
            StringBuilder b = new StringBuilder(time.length() + scope.length() + message.length() + 16)
                    .append(time).append('\t').append(level).append('\t');
            // ztunnel writes its message raw; here a control character in it (a newline or a tab from a file name, a
            // node name, a policy's value) is escaped, so that one entry stays one line of four fields (a break-it pass).
            plain(b, scope);
            b.append('\t');
            plain(b, message);
            if (error != null) {
                b.append("\terror=\""); // fields after a tab, as IstioFormat writes them
                escape(b, error);
                b.append('"');
            }
            return b.toString();
        }
        StringBuilder b = new StringBuilder("{\"level\":\"").append(level).append("\",\"time\":\"").append(time)
                .append("\",\"scope\":\"");
        escape(b, scope);
        b.append("\",\"message\":\"");
        escape(b, message);
        if (error != null) {
            b.append("\",\"error\":\"");
            escape(b, error);
        }
        return b.append("\"}").toString();
    }

    /** JSON string escaping (also what the text shape's quoted field needs: quote, backslash, control characters). */
    private static void escape(StringBuilder b, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
    }

    /** {@code s} with control characters written as JSON writes them ({@code \n}, {@code \t}, {@code \u0001}). */
    private static void plain(StringBuilder b, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 0x20) {
                b.append(c);
            } else if (c == '\n') {
                b.append("\\n");
            } else if (c == '\t') {
                b.append("\\t");
            } else if (c == '\r') {
                b.append("\\r");
            } else {
                b.append(String.format("\\u%04x", (int) c));
            }
        }
    }

    static String scope(String loggerName) {
        return loggerName.startsWith("io.zerohop.") ? loggerName.substring("io.zerohop.".length()) : loggerName;
    }

    /**
     * In a holder: building the formatter loads ~45 java.time.format classes that a proxy logging in zerohop's shape
     * never needs (as mesh-core's ZtunnelAccessLog keeps its own).
     */
    private static final class Time {
        static final java.time.format.DateTimeFormatter FORMAT =
                java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").withZone(java.time.ZoneOffset.UTC);
    }

    /** slf4j-simple's factory, with loggers that write in {@link LogShape}'s shape once {@link #use} chose ztunnel's. */
    static final class Factory extends SimpleLoggerFactory {
        @Override
        protected Logger createLogger(String name) {
            return new Shaped(name);
        }
    }

    /** slf4j-simple's logger (its levels, as {@link LogLevels} sets them), writing ztunnel's shape when chosen. */
    static final class Shaped extends SimpleLogger {
        private static final long serialVersionUID = 1L;

        Shaped(String name) {
            super(name);
        }

        @Override
        protected void handleNormalizedLoggingCall(Level level, Marker marker, String messagePattern, Object[] arguments,
                                                   Throwable throwable) {
            if (!ztunnel()) {
                super.handleNormalizedLoggingCall(level, marker, messagePattern, arguments, throwable);
                return;
            }
            write(level, MessageFormatter.basicArrayFormat(messagePattern, arguments), throwable);
        }

        /** slf4j's fluent API ({@code atInfo()...log()}) comes here, not through {@link #handleNormalizedLoggingCall}. */
        @Override
        public void log(LoggingEvent event) {
            if (!ztunnel()) {
                super.log(event);
                return;
            }
            // slf4j-simple's levels are slf4j's (LOG_LEVEL_INFO is Level.INFO.toInt(), ...).
            if (isLevelEnabled(event.getLevel().toInt())) {
                Object[] args = event.getArgumentArray();
                write(event.getLevel(), args == null ? event.getMessage() : MessageFormatter.basicArrayFormat(event.getMessage(), args),
                        event.getThrowable());
            }
        }

        private void write(Level level, String message, Throwable throwable) {
            String f = format;
            io.zerohop.core.LogOutput.println(System.out, line(f, level.toString().toLowerCase(Locale.ROOT), scope(getName()),
                    message == null ? "null" : message, throwable == null ? null : throwable.toString(), Instant.now()));
            if (throwable != null && (throwable.getStackTrace().length > 0 || throwable.getCause() != null)) {
                // The trace, which no ztunnel line can hold, where the proxy's traces always were. A throwable without
                // one (Netty's native I/O errors) would only repeat the error field there, without time or context.
                throwable.printStackTrace(System.err);
            }
        }
    }
}
