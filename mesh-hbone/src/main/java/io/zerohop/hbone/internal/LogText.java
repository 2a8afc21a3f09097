package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.HumanText;
import java.time.Duration;

/** How log lines and messages write values a person reads (mesh-identity's {@link HumanText}, for mesh-hbone and mesh-core). */
public final class LogText {
    private LogText() {}

    /**
     * {@code d} as the options that set it are written ({@code 10s}, {@code 20s}, {@code 1500ms}, {@code 5m}),
     * the largest unit that holds it exactly, not ISO-8601's {@code PT10S} (newuser21).
     */
    public static String duration(Duration d) {
        return HumanText.duration(d);
    }

    /** {@code d} exactly, for a message refusing it ({@link HumanText#exactDuration}). */
    public static String exactDuration(Duration d) {
        return HumanText.exactDuration(d);
    }

    /** {@code n} and the noun that agrees with it: {@code 1 tunnel}, {@code 2 tunnels} (not {@code 1 tunnels}). */
    public static String count(long n, String one, String many) {
        return HumanText.count(n, one, many);
    }

    /**
     * {@code s} for a log line, in double quotes: {@code "}, {@code \}, control characters (C0, DEL, C1) and the
     * Unicode line and paragraph separators (U+2028, U+2029) written as {@code \xNN} (two hex digits) or a backslash,
     * {@code u} and four hex digits, so that text a peer or an
     * application chose (an authorizer's deny reason, a resolver's refusal) cannot end the line and forge another
     * (log forging, CWE-117). Escapes as mesh-core's HTTP access line writes {@code reason="..."}; {@code null} is {@code -}.
     */
    public static String quoted(String s) {
        return s == null ? "-" : "\"" + escape(s) + "\"";
    }

    /** {@link #quoted}'s escaping without the quotes; {@code s} itself when nothing needs escaping. */
    public static String escape(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean bad = c == '"' || c == '\\' || c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029';
            if (bad && b == null) {
                b = new StringBuilder(s.length() + 8).append(s, 0, i);
            }
            if (bad) {
                b.append(c <= 0xff ? String.format("\\x%02x", (int) c) : String.format("\\u%04x", (int) c));
            } else if (b != null) {
                b.append(c);
            }
        }
        return b == null ? s : b.toString();
    }
}
