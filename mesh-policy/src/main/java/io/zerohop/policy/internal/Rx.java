package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * An anchored regular expression as Cilium's HTTP rules use them (Envoy full match). Literal and
 * literal-prefix patterns ({@code /api/.*}) are answered without a Matcher, so the common cases
 * do not allocate per request.
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
        String s = n.text();
        Pattern p;
        try {
            p = Pattern.compile(s);
        } catch (PatternSyntaxException e) {
            throw n.error("bad regex \"" + s + "\": " + e.getDescription());
        }
        if (isLiteral(s)) {
            return new Rx(s, s, false, p);
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
        if (s == null) {
            return false;
        }
        if (literal != null) {
            return prefix ? s.startsWith(literal) : s.equals(literal);
        }
        return pattern.matcher(s).matches();
    }

    @Override
    public String toString() {
        return source;
    }
}
