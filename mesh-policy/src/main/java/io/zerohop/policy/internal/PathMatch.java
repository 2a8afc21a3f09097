package io.zerohop.policy.internal;

import com.google.re2j.Pattern;

/**
 * An Istio {@code paths} entry: exact, {@code prefix*}, {@code *suffix}, {@code *}, or a path
 * template with {@code {*}} (one segment) and {@code {**}} (any rest, last), which istiod turns
 * into Envoy's {@code uri_template} matcher. Matched against the normalised path.
 */
final class PathMatch {

    /**
     * Envoy's uri_template literal characters (envoyproxy/envoy source/extensions/path/uri_template_lib/
     * uri_template_internal.cc {@code kLiteral}): RFC 3986 pchar without '/', with '=' ("user included \"=\" allowed")
     * and, since Envoy 1.35.0 (envoyproxy/envoy#39169, runtime guard {@code uri_template_match_on_asterisk}, on by
     * default and not changed by istiod), '*'. {@code {*}} is one or more of them, {@code {**}} any of them and '/'.
     * '*' was never one here, and from 5 to 6 December '=' was not either (read from an Envoy source older than both), so
     * a DENY on {@code /admin/{**}} passed {@code /admin/a*b}, and then {@code /admin/x=1}, which Envoy denies.
     */
    private static final String SEGMENT = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=*]+";
    private static final String REST = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=*/]*";

    private final StringMatch plain;
    private final Pattern template;

    private PathMatch(StringMatch plain, Pattern template) {
        this.plain = plain;
        this.template = template;
    }

    static PathMatch parse(String s) {
        if (s.contains("{*}") || s.contains("{**}")) {
            StringBuilder rx = new StringBuilder();
            int i = 0;
            while (i < s.length()) {
                if (s.startsWith("{**}", i)) {
                    rx.append(REST);
                    i += 4;
                } else if (s.startsWith("{*}", i)) {
                    rx.append(SEGMENT);
                    i += 3;
                } else {
                    int next = s.indexOf('{', i);
                    if (next < 0) {
                        next = s.length();
                    }
                    rx.append(Pattern.quote(s.substring(i, next)));
                    i = next;
                }
            }
            return new PathMatch(null, Pattern.compile(rx.toString()));
        }
        return new PathMatch(StringMatch.parse(s), null);
    }

    boolean matches(String path) {
        if (path == null) {
            return false;
        }
        return plain != null ? plain.matches(path) : template.matches(path);
    }

    static boolean any(PathMatch[] ms, String path) {
        for (PathMatch m : ms) {
            if (m.matches(path)) {
                return true;
            }
        }
        return false;
    }
}
