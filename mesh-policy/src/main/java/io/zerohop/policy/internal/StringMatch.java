package io.zerohop.policy.internal;

import com.google.re2j.Pattern;

/**
 * Istio string match: {@code exact}, {@code prefix*}, {@code *suffix}, or {@code *} (presence:
 * any non-empty value). Matches a region of a string so callers can test the namespace inside a
 * SPIFFE ID without cutting it out.
 */
final class StringMatch {

    enum Kind { EXACT, PREFIX, SUFFIX, PRESENCE }

    final Kind kind;
    final String value;
    final boolean ignoreCase;
    /**
     * {@code spiffe://} + value for a case-sensitive exact match: a principal (always a SPIFFE ID)
     * is then compared whole with the intrinsic {@link String#equals} instead of region by region.
     */
    private final String spiffeExact;
    /**
     * For a namespace written with a {@code *} that is not one leading or one trailing {@code *}
     * ({@code te*t}, {@code *dev*}): the regex istiod's {@code srcNamespaceGenerator} gives Envoy
     * ({@code .*}/ns/ + the value with every {@code *} as {@code .*} + /{@code .*}, matched against the
     * whole principal), which is what a waypoint evaluates (L7); null otherwise. At L4 the value is
     * ztunnel's {@code stringToMatch} form ({@link #kind}), in which such a {@code *} is literal.
     */
    private final Pattern envoyNamespace;

    private StringMatch(Kind kind, String value, boolean ignoreCase) {
        this(kind, value, ignoreCase, null);
    }

    private StringMatch(Kind kind, String value, boolean ignoreCase, Pattern envoyNamespace) {
        this.kind = kind;
        this.value = value;
        this.ignoreCase = ignoreCase;
        // Interned: mesh-core's peer principals are (WorkloadStrings.text), so a match usually ends at the identity check.
        this.spiffeExact = kind == Kind.EXACT && !ignoreCase ? (Peer.SPIFFE_SCHEME + value).intern() : null;
        this.envoyNamespace = envoyNamespace;
    }

    /**
     * This match as a namespace value: the same at L4, with {@link #envoyNamespaceGlob} set when the
     * written value ({@link #toString}) has a {@code *} Envoy reads differently from ztunnel.
     */
    StringMatch asNamespace() {
        String written = toString();
        int stars = written.length() - written.replace("*", "").length();
        boolean glob = stars > 1 || stars == 1 && !written.startsWith("*") && !written.endsWith("*");
        if (!glob) {
            return this;
        }
        String[] literals = written.split("\\*", -1);
        StringBuilder rx = new StringBuilder(".*/ns/");
        for (int i = 0; i < literals.length; i++) {
            rx.append(i == 0 ? "" : ".*").append(Pattern.quote(literals[i]));
        }
        rx.append("/.*");
        return new StringMatch(kind, value, ignoreCase, Pattern.compile(rx.toString()));
    }

    /** Whether Envoy reads this namespace value as a regex other than ztunnel's match (see {@link #asNamespace}). */
    boolean envoyNamespaceGlob() {
        return envoyNamespace != null;
    }

    /** Envoy's regex for this namespace value against the whole principal; only when {@link #envoyNamespaceGlob}. */
    boolean matchesEnvoyNamespace(String principal) {
        return principal != null && envoyNamespace.matches(principal);
    }

    private static boolean needsNamespaceGlob(StringMatch[] ms) {
        for (StringMatch m : ms) {
            if (m.asNamespace() != m) {
                return true;
            }
        }
        return false;
    }

    /** Envoy's namespace regex for any entry, built on first use ({@link #matchesEnvoyNamespaceRegex}). */
    private volatile Pattern envoyNamespaceRegex;

    /**
     * Whether {@code principal} matches the regex istiod's {@code srcNamespaceGenerator} gives Envoy for
     * this namespace value, whatever its form ({@code .*}/ns/ + the value with every {@code *} as
     * {@code .*} + /{@code .*}, over the whole principal): how a principal Istio cannot cut into parts
     * ({@link Peer#irregular}) is matched.
     */
    boolean matchesEnvoyNamespaceRegex(String principal) {
        if (principal == null) {
            return false;
        }
        Pattern rx = envoyNamespace != null ? envoyNamespace : envoyNamespaceRegex;
        if (rx == null) {
            String[] literals = toString().split("\\*", -1);
            StringBuilder b = new StringBuilder(".*/ns/");
            for (int i = 0; i < literals.length; i++) {
                b.append(i == 0 ? "" : ".*").append(Pattern.quote(literals[i]));
            }
            envoyNamespaceRegex = rx = Pattern.compile(b.append("/.*").toString());
        }
        return rx.matches(principal);
    }

    /** Whether one of {@code ms} {@link #matchesEnvoyNamespaceRegex}. */
    static boolean anyEnvoyNamespaceRegex(StringMatch[] ms, String principal) {
        for (StringMatch m : ms) {
            if (m.matchesEnvoyNamespaceRegex(principal)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code ms} has an entry that {@link #envoyNamespaceGlob}. */
    static boolean anyEnvoyNamespaceGlob(StringMatch[] ms) {
        for (StringMatch m : ms) {
            if (m.envoyNamespace != null) {
                return true;
            }
        }
        return false;
    }

    /** Each of {@code ms} {@link #asNamespace}. */
    static StringMatch[] asNamespaces(StringMatch[] ms) {
        if (!needsNamespaceGlob(ms)) {
            return ms;
        }
        StringMatch[] out = ms.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] = out[i].asNamespace();
        }
        return out;
    }

    /** An exact, case-sensitive match: {@link #value} compared character for character. */
    boolean exactCaseSensitive() {
        return kind == Kind.EXACT && !ignoreCase;
    }

    static StringMatch parse(String s) {
        return parse(s, false);
    }

    /** A case-sensitive match of {@code kind} on {@code value} ({@code ""} for {@link Kind#PRESENCE}), as istiod builds one. */
    static StringMatch of(Kind kind, String value) {
        return new StringMatch(kind, kind == Kind.PRESENCE ? "" : value, false);
    }

    static StringMatch parse(String s, boolean ignoreCase) {
        if (s.equals("*")) {
            return new StringMatch(Kind.PRESENCE, "", ignoreCase);
        }
        // Leading '*' wins, as in istiod: "*foo*" is a suffix match on "foo*".
        if (s.startsWith("*")) {
            return new StringMatch(Kind.SUFFIX, s.substring(1), ignoreCase);
        }
        if (s.endsWith("*")) {
            return new StringMatch(Kind.PREFIX, s.substring(0, s.length() - 1), ignoreCase);
        }
        return new StringMatch(Kind.EXACT, s, ignoreCase);
    }

    boolean matches(String s) {
        return s != null && matches(s, 0, s.length());
    }

    /** Matches {@code s[from, to)}. */
    boolean matches(String s, int from, int to) {
        int len = to - from;
        int vlen = value.length();
        switch (kind) {
            case PRESENCE:
                return len > 0;
            case EXACT:
                return len == vlen && regionMatches(s, from, value, vlen);
            case PREFIX:
                return len >= vlen && regionMatches(s, from, value, vlen);
            case SUFFIX:
                return len >= vlen && regionMatches(s, to - vlen, value, vlen);
            default:
                return false;
        }
    }

    /**
     * {@code s[from, from + n)} equal to {@code value[0, n)}; with {@link #ignoreCase}, as Envoy's {@code ignore_case}
     * string matcher compares (absl {@code EqualsIgnoreCase}, {@code StartsWithIgnoreCase}, {@code EndsWithIgnoreCase}):
     * ASCII letters only. Java's {@link String#regionMatches(boolean, int, String, int, int)} folds Unicode too, so
     * the Kelvin sign (U+212A) matched {@code k}, U+017F {@code s} and U+0131 {@code i}: until 6 December an ALLOW on
     * {@code hosts: [kube.example]} admitted a Host {@code \u212Aube.example} that Envoy's matcher does not.
     */
    private boolean regionMatches(String s, int from, String v, int n) {
        if (!ignoreCase) {
            return s.regionMatches(from, v, 0, n);
        }
        for (int i = 0; i < n; i++) {
            char a = s.charAt(from + i);
            char b = v.charAt(i);
            if (a != b && asciiLower(a) != asciiLower(b)) {
                return false;
            }
        }
        return true;
    }

    private static char asciiLower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
    }

    static boolean any(StringMatch[] ms, String s) {
        if (s == null) {
            return false;
        }
        for (StringMatch m : ms) {
            // A whole-string exact match is String.equals (an intrinsic), not a region loop.
            if (m.kind == Kind.EXACT ? (m.ignoreCase ? m.value.length() == s.length() && m.matches(s, 0, s.length()) : m.value.equals(s))
                    : m.matches(s, 0, s.length())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether one of {@code ms} matches {@code principal} without its scheme; {@code principal}
     * non-null and starting with {@code spiffe://} (as {@code AccessRequest} guarantees).
     */
    static boolean anyPrincipal(StringMatch[] ms, String principal) {
        for (StringMatch m : ms) {
            if (m.spiffeExact != null ? m.spiffeExact.equals(principal)
                    : m.matches(principal, Peer.SCHEME, principal.length())) {
                return true;
            }
        }
        return false;
    }

    static boolean any(StringMatch[] ms, String s, int from, int to) {
        for (StringMatch m : ms) {
            if (m.matches(s, from, to)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case PRESENCE -> "*";
            case EXACT -> value;
            case PREFIX -> value + "*";
            case SUFFIX -> "*" + value;
        };
    }
}
