package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import com.google.re2j.Pattern;
import com.google.re2j.PatternSyntaxException;

/**
 * An anchored regular expression as Cilium's HTTP rules use them: RE2 syntax, full match (Envoy's
 * {@code safe_regex}), run by RE2J in time linear in the input, so no pattern can overflow the
 * stack or backtrack for ever; syntax RE2 refuses (lookaround, backreferences) fails the load. Literal and
 * literal-prefix patterns ({@code /api/.*}) are answered without a Matcher, so the common cases
 * do not allocate per request; the same answers as RE2 ({@code CiliumRegexShortcutTest}). A pattern beyond Go's parser
 * limits ({@link GoRegexLimits}: nested counted repetitions past 1000 copies, a program past 3,355,443 instructions, a
 * tree past 1000 levels) fails the load, as Cilium's {@code regexp.Compile} refuses it.
 */
final class Rx {

    private static final String META = "\\^$.|?*+()[]{}";

    private final String source;
    private final String literal;
    private final boolean prefix;
    private final Pattern pattern;

    private Rx(String source, String literal, boolean prefix, Pattern pattern) {
        this.source = source;
        this.literal = literal;
        this.prefix = prefix;
        this.pattern = pattern;
    }

    static Rx compile(YNode n) throws PolicyLoadException {
        String s = n.string();
        // Go's parser limits, which Cilium's regexp.Compile applies and RE2J does not: checked first, as RE2J would build
        // the whole program of such a pattern (ten million instructions ran the heap out).
        String limit = GoRegexLimits.exceeded(s);
        if (limit != null) {
            throw n.error("bad regex \"" + (s.length() > 80 ? s.substring(0, 80) + "..." : s) + "\" (RE2 syntax): " + limit
                    + " (Go's regexp/syntax limits, which Cilium's regexp.Compile applies: nested counted repetitions multiply to at"
                    + " most 1000, at most " + GoRegexLimits.MAX_SIZE + " instructions, a parse tree at most "
                    + GoRegexLimits.MAX_HEIGHT + " deep)");
        }
        Pattern p;
        try {
            p = Pattern.compile(s);
        } catch (PatternSyntaxException e) {
            throw n.error("bad regex \"" + s + "\" (RE2 syntax): " + e.getDescription());
        }
        if (isLiteral(s)) {
            // Interned: a method Netty parsed is one of HttpMethod's constants, a literal, so equals ends at the identity check.
            return new Rx(s, s.intern(), false, p);
        }
        if (s.endsWith(".*") && isLiteral(s.substring(0, s.length() - 2))) {
            return new Rx(s, s.substring(0, s.length() - 2), true, p);
        }
        return new Rx(s, null, false, p);
    }

    private static boolean isLiteral(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (META.indexOf(s.charAt(i)) >= 0) {
                return false;
            }
        }
        return true;
    }

    boolean matches(String s) {
        return matches(s, false);
    }

    /** {@link #matches(String)}, {@code noLineFeed} true when the caller knows {@code s} has none (no search for one). */
    boolean matches(String s, boolean noLineFeed) {
        if (s == null) {
            return false;
        }
        if (literal != null) {
            // RE2's "." matches anything but a line feed (no (?s) here), so neither may ".*".
            return prefix ? s.startsWith(literal) && (noLineFeed || s.indexOf('\n', literal.length()) < 0) : s.equals(literal);
        }
        return pattern.matches(s);
    }

    @Override
    public String toString() {
        return source;
    }
}
