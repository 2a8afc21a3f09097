package io.zerohop.policy.internal;

/**
 * A SPIFFE ID as the data path hands it to policy: java-spiffe's {@code SpiffeId.parse}, which reads every peer's ID
 * from its certificate, accepts the scheme and trust domain in any case and gives them in lower case, and refuses the
 * rest of what spiffe/spiffe standards/SPIFFE-ID.md 2.1–2.2 forbids. An {@code AccessRequest} built by hand takes the same
 * form, so it is decided as that peer's connection would be: {@code spiffe://cluster.local/ns/a/sa/b/} is no peer's ID
 * (before 5 December it was taken as written, and a DENY for {@code cluster.local/ns/a/sa/b} did not match it).
 */
public final class SpiffeIdSyntax {
    private SpiffeIdSyntax() {
    }

    /**
     * {@code id} in its canonical form (the same instance when it already is), or null when its scheme is not
     * {@code spiffe} (any case) or nothing follows {@code ://}, for the caller's own message.
     *
     * @throws IllegalArgumentException with java-spiffe's reason (its {@code SpiffeId} messages) for any other fault
     */
    public static String canonical(String id) {
        int sep = id.indexOf("://");
        if (sep != 6 || !id.regionMatches(true, 0, "spiffe", 0, 6) || id.length() == sep + 3) {
            return null;
        }
        int start = sep + 3;
        boolean lower = id.startsWith("spiffe");
        int i = start;
        for (; i < id.length() && id.charAt(i) != '/'; i++) {
            char c = id.charAt(i);
            char l = Character.toLowerCase(c);
            if (!(l >= 'a' && l <= 'z' || l >= '0' && l <= '9' || l == '.' || l == '-' || l == '_')) {
                throw new IllegalArgumentException(
                        "Trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores");
            }
            lower &= c == l;
        }
        if (i == start) {
            throw new IllegalArgumentException("Trust domain is missing");
        }
        int segment = i;
        for (int j = i; j <= id.length(); j++) {
            if (j == id.length() || id.charAt(j) == '/') {
                if (j == segment) {
                    continue; // the trust domain's end
                }
                int len = j - segment - 1;
                if (len == 0) {
                    throw new IllegalArgumentException(j == id.length() ? "Path cannot have a trailing slash" : "Path cannot contain empty segments");
                }
                if (len <= 2 && id.charAt(segment + 1) == '.' && (len == 1 || id.charAt(segment + 2) == '.')) {
                    throw new IllegalArgumentException("Path cannot contain dot segments");
                }
                segment = j;
                continue;
            }
            char c = id.charAt(j);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_')) {
                throw new IllegalArgumentException("Path segment characters are limited to letters, numbers, dots, dashes, and underscores");
            }
        }
        return lower ? id : "spiffe://" + id.substring(start, i).toLowerCase(java.util.Locale.ROOT) + id.substring(i);
    }
}
