package io.zerohop.policy.internal;

/**
 * A SPIFFE ID as the data path hands it to policy: in canonical form, as zerohop's verifier takes a peer's (mesh-identity
 * {@code SpiffeIds.parse}: java-spiffe's {@code SpiffeId.parse}, whose rules follow spiffe/spiffe standards/SPIFFE-ID.md
 * 2.1–2.2, and then scheme and trust domain already in lower case, as the standard requires). An {@code AccessRequest}
 * built by hand is refused where that peer's handshake would be: {@code spiffe://cluster.local/ns/a/sa/b/} was taken as
 * written before 5 December, and a DENY for {@code cluster.local/ns/a/sa/b} did not match it; an upper-case trust domain
 * was folded, for a peer no handshake admits (a new-user pass, helper 257). Written here rather than through
 * mesh-identity's {@code SpiffeIds.parse}, which does the same: mesh-policy depends on no identity or TLS module (its
 * module-info: SnakeYAML, RE2J, Caffeine, SLF4J), and an embedder deciding policies alone should not pull java-spiffe in;
 * {@code AccessRequestTest} holds it to java-spiffe's own {@code SpiffeIdTest} cases.
 */
public final class SpiffeIdSyntax {
    private SpiffeIdSyntax() {
    }

    /**
     * {@code id} itself when it is a SPIFFE ID in canonical form, or null when its scheme is not {@code spiffe} (any case)
     * or nothing follows {@code ://}, for the caller's own message.
     *
     * @throws IllegalArgumentException with java-spiffe's reason (its {@code SpiffeId} messages), or zerohop's for a scheme
     *                                  or trust domain not in lower case (mesh-identity's {@code SpiffeIds.parse})
     */
    public static String canonical(String id) {
        int sep = id.indexOf("://");
        if (sep != 6 || !id.regionMatches(true, 0, "spiffe", 0, 6) || id.length() == sep + 3) {
            return null;
        }
        int start = sep + 3;
        boolean tdLower = true;
        int i = start;
        for (; i < id.length() && id.charAt(i) != '/'; i++) {
            char c = id.charAt(i);
            char l = Character.toLowerCase(c);
            if (!(l >= 'a' && l <= 'z' || l >= '0' && l <= '9' || l == '.' || l == '-' || l == '_')) {
                throw new IllegalArgumentException(
                        "Trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores");
            }
            tdLower &= c == l;
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
        boolean schemeLower = id.startsWith("spiffe");
        if (!schemeLower || !tdLower) {
            throw new IllegalArgumentException(schemeLower ? "not in canonical form (trust domain must be lower case)"
                    : tdLower ? "not in canonical form (the scheme must be lower case: spiffe://)"
                    : "not in canonical form (scheme and trust domain must be lower case)");
        }
        return id;
    }
}
