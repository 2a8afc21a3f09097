package io.zerohop.policy.internal;

/**
 * The request path an Istio {@code paths}/{@code notPaths} rule sees under Istio's default
 * normalization ({@code BASE}, istio.io "Authorization Policy Normalization"): query and fragment
 * dropped, percent-encoded unreserved characters ({@code ALPHA DIGIT - . _ ~}) decoded once,
 * backslashes turned into slashes, and dot segments removed as RFC 3986 section 5.2.4 says.
 * Encoded slashes ({@code %2F}, {@code %5C}) stay encoded and repeated slashes are kept: those are
 * the non-default {@code DECODE_AND_MERGE_SLASHES} / {@code MERGE_SLASHES} options.
 *
 * <p>Three details of Envoy's canonicaliser ({@code normalize_path}; envoyproxy/envoy
 * source/common/chromium_url/url_canon_path.cc, Chromium's), each a way past a policy until 4 December (an L7 bypass
 * pass):
 * <ul>
 * <li>characters a path may not hold raw are percent-encoded, those {@code kPathCharLookup} marks {@code ESCAPE}: space,
 * {@code " < > ^ ` { | }} and every byte above 0x7F, so {@code /admin/users"} is {@code /admin/users%22}, which a
 * {@code /admin/{**}} template matches; a char below 0x100 is taken as the request's byte (Netty reads bytes as
 * ISO-8859-1), one above as a code point given through the API (its UTF-8 bytes; an unpaired surrogate is refused). A
 * control character is refused (null), as Envoy's codecs refuse it before any normalisation;
 * <li>a nested escape is not decoded into a new one ({@code CheckForNestedEscapes}): {@code %%36%31} is
 * {@code %2561}, not {@code %61}, which a second decoding would read as {@code a};
 * <li>a dot segment with path parameters is a dot segment ({@code /x/..;p/admin} is {@code /admin}), as Envoy resolves
 * it since CVE-2026-73551 (envoyproxy/envoy#47001; istio/istio#61478 changed its normalization test from
 * {@code /..;/admin} kept to {@code /admin}).
 * </ul>
 */
public final class PathNormalizer {

    private PathNormalizer() {
    }

    /**
     * @param raw a path, query and fragment as sent; one without its leading slash (only an API caller can pass one)
     *        is read with it, as Envoy's {@code DoPath} writes it first; {@code *} (OPTIONS) stays
     * @return the normalised path (the argument itself when nothing changes, so the common case
     *         allocates nothing), or null when Envoy would reject the request ({@code %00}: 400)
     */
    public static String forIstio(String raw) {
        if (simple(raw)) {
            return raw;
        }
        if (raw.isEmpty() || (raw.charAt(0) != '/' && raw.charAt(0) != '\\')) {
            // Envoy's DoPath writes the leading slash first unless one (IsURLSlash: a backslash too) is there; its codecs
            // refuse such a target before, an API caller may not.
            return raw.equals("*") ? raw : forIstio("/" + raw);
        }
        int end = raw.length();
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '?' || c == '#') {
                end = i;
                break;
            }
        }
        StringBuilder sb = new StringBuilder(end);
        // Output positions of a '%' that began no valid escape in the input (rare: at most a few per path).
        int[] lonePercents = null;
        int lone = 0;
        for (int i = 0; i < end; i++) {
            char c = raw.charAt(i);
            if (c == '%') {
                int h = i + 2 < end ? hexDigit(raw.charAt(i + 1)) : -1;
                int l = i + 2 < end ? hexDigit(raw.charAt(i + 2)) : -1;
                if (h >= 0 && l >= 0) {
                    int v = h * 16 + l;
                    if (v == 0) {
                        return null;
                    }
                    if (unreserved(v)) {
                        sb.append((char) v);
                        i += 2;
                        continue;
                    }
                } else {
                    if (lonePercents == null) {
                        lonePercents = new int[4];
                    } else if (lone == lonePercents.length) {
                        lonePercents = java.util.Arrays.copyOf(lonePercents, lone * 2);
                    }
                    lonePercents[lone++] = sb.length();
                }
                sb.append(c);
            } else if (c == '\\') {
                sb.append('/');
            } else if (c < 0x20 || c == 0x7F) {
                // Envoy never canonicalises it: its codecs refuse a control character in the request target (http-parser,
                // nghttp2's header value check), 400 or a reset stream; a raw NUL is invalid to its canonicaliser too.
                return null;
            } else if (Character.isSurrogate(c)) {
                // Only a String from the API can hold one (Netty reads a header's bytes as ISO-8859-1): a pair is one code
                // point, encoded as its UTF-8 bytes; an unpaired surrogate is no character at all and is refused.
                if (!Character.isHighSurrogate(c) || i + 1 >= end || !Character.isLowSurrogate(raw.charAt(i + 1))) {
                    return null;
                }
                percentEncode(sb, Character.toCodePoint(c, raw.charAt(++i)));
            } else if (escaped(c)) {
                percentEncode(sb, c);
            } else {
                sb.append(c);
            }
        }
        return removeDotSegments(stripDotSegmentParameters(lone == 0 ? sb : escapeNestedPercents(sb, lonePercents, lone)));
    }

    /**
     * {@code out} with each lone '%' (at the ascending output positions {@code at}) now followed by two hex digits, one of
     * them decoded, written as {@code %25}: it would otherwise be a new escape. One pass, however many there are.
     */
    private static StringBuilder escapeNestedPercents(StringBuilder out, int[] at, int count) {
        StringBuilder sb = null;
        int copied = 0;
        for (int k = 0; k < count; k++) {
            int p = at[k];
            if (p + 2 < out.length() && hexDigit(out.charAt(p + 1)) >= 0 && hexDigit(out.charAt(p + 2)) >= 0) {
                if (sb == null) {
                    sb = new StringBuilder(out.length() + 2 * (count - k));
                }
                sb.append(out, copied, p + 1).append("25");
                copied = p + 1;
            }
        }
        return sb == null ? out : sb.append(out, copied, out.length());
    }

    /**
     * The value of an ASCII hex digit, else -1: Envoy's {@code DecodeEscaped} reads bytes, so a fullwidth or Arabic-Indic
     * digit ({@link Character#digit} accepts them) begins no escape.
     */
    private static int hexDigit(char c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        char l = (char) (c | 0x20);
        return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
    }

    /** Characters Envoy's canonical path holds percent-encoded only (see the class comment). */
    private static boolean escaped(char c) {
        return c == ' ' || c > 0x7F || c == '"' || c == '<' || c == '>' || c == '^' || c == '`' || c == '{' || c == '|'
                || c == '}';
    }

    private static boolean control(char c) {
        return c < 0x20 || c == 0x7F;
    }

    /**
     * A char below 0x100 is one byte of the request (Netty's ISO-8859-1 reading of the bytes sent), encoded as that byte;
     * a code point above it can only come from a String given to the API, encoded as its UTF-8 bytes.
     */
    private static void percentEncode(StringBuilder sb, int codePoint) {
        if (codePoint < 0x100) {
            hex(sb, codePoint);
        } else {
            for (byte b : new String(Character.toChars(codePoint)).getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                hex(sb, b & 0xFF);
            }
        }
    }

    private static void hex(StringBuilder sb, int b) {
        sb.append('%').append(Character.toUpperCase(Character.forDigit(b >> 4, 16))).append(Character.toUpperCase(Character.forDigit(b & 15, 16)));
    }

    /** {@code .;p} and {@code ..;p} segments as {@code .} and {@code ..} (Envoy since CVE-2026-73551); one pass. */
    private static String stripDotSegmentParameters(StringBuilder sb) {
        if (sb.indexOf(";") < 0) {
            return sb.toString();
        }
        int n = sb.length();
        StringBuilder out = new StringBuilder(n);
        int start = 0;
        while (true) {
            int semi = -1;
            int segEnd = start;
            for (; segEnd < n && sb.charAt(segEnd) != '/'; segEnd++) {
                if (semi < 0 && sb.charAt(segEnd) == ';') {
                    semi = segEnd;
                }
            }
            int dots = semi - start;
            if (semi >= 0 && (dots == 1 || dots == 2) && sb.charAt(start) == '.' && sb.charAt(semi - 1) == '.') {
                out.append(sb, start, semi);
            } else {
                out.append(sb, start, segEnd);
            }
            if (segEnd == n) {
                return out.toString();
            }
            out.append('/');
            start = segEnd + 1;
        }
    }

    /**
     * The request target Envoy forwards after Istio's {@code BASE} normalization ({@code normalize_path}
     * rewrites {@code :path} before any filter, so the application receives what RBAC decided on):
     * the path part as {@link #forIstio} leaves it, the query as sent, a fragment dropped.
     *
     * @return {@code raw} itself when nothing changes, or null when Envoy would reject it ({@code %00})
     */
    public static String istioTarget(String raw) {
        if (simple(raw)) {
            return raw;
        }
        String path = forIstio(raw);
        if (path == null) {
            return null;
        }
        int q = raw.indexOf('?');
        int hash = raw.indexOf('#');
        String query = q >= 0 && (hash < 0 || q < hash) ? raw.substring(q, hash < 0 ? raw.length() : hash) : "";
        String target = path + query;
        return target.equals(raw) ? raw : target;
    }

    /**
     * The {@code :path} a Cilium HTTP rule sees: Cilium runs its Envoy with {@code http-normalize-path}
     * (on by default: pkg/option, pkg/envoy xds_server.go), i.e. {@code normalize_path}, {@code merge_slashes}
     * and {@code UNESCAPE_AND_REDIRECT} for {@code %2F}/{@code %5C}, whose redirect brings the client back
     * with those unescaped. So: {@code %2F} and {@code %5C} unescaped, then {@link #forIstio}'s
     * normalisation, then repeated slashes merged; the query is kept (the rule's regex sees it), a
     * fragment dropped.
     *
     * @return {@code raw} itself when its path part needs no change (no allocation), the normalised
     *         path and query otherwise, or null when Envoy would reject the request ({@code %00})
     */
    public static String forCilium(String raw) {
        int end = raw.length();
        boolean change = raw.isEmpty() || (raw.charAt(0) != '/' && raw.charAt(0) != '\\' && !raw.equals("*"));
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '?' || c == '#') {
                end = i;
                // A fragment, wherever it is, is dropped.
                change |= c == '#' || raw.indexOf('#', i + 1) >= 0;
                break;
            }
            if (c >= 128 ? true : (FLAGS[c] & CILIUM_CHANGE) != 0
                    && (c != '/' || (i + 1 < raw.length() && (raw.charAt(i + 1) == '.' || raw.charAt(i + 1) == '/')))) {
                change = true;
            }
        }
        if (!change) {
            return raw;
        }
        String path = raw.substring(0, end);
        if (!raw.equals("*") && (path.isEmpty() || (path.charAt(0) != '/' && path.charAt(0) != '\\'))) {
            // As forIstio reads a target without its slash; only a whole "*" is OPTIONS's, "*?x" is a path.
            path = "/" + path;
        }
        path = path.replace("%2F", "/").replace("%2f", "/").replace("%5C", "\\").replace("%5c", "\\");
        String normalised = forIstio(path);
        if (normalised == null) {
            return null;
        }
        normalised = normalised.replaceAll("/{2,}", "/");
        int hash = raw.indexOf('#', end);
        String query = end < raw.length() && raw.charAt(end) == '?' ? raw.substring(end, hash < 0 ? raw.length() : hash) : "";
        return normalised + query;
    }

    /**
     * Whether {@link #forIstio} would return null (Envoy answers 400), without building the
     * normalised path when it cannot: only a path with a {@code %}, a control character or a surrogate can be refused.
     */
    public static boolean rejects(String raw) {
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c < 128 ? (FLAGS[c] & MAY_REJECT) != 0 : Character.isSurrogate(c)) {
                return forIstio(raw) == null;
            }
        }
        return false;
    }

    /**
     * Whether both policy steps read {@code raw} as sent: {@link #rejects} is false, {@link #forCilium} returns
     * {@code raw} itself, and there is no line feed anywhere (so a Cilium regex's {@code .*} may span all of it).
     * One scan for what took two ({@link #rejects} in the Istio step, {@link #forCilium} in the Cilium step), for the
     * paths nearly every request has ({@code /api/orders?id=7}): a slash first, then in the path part nothing
     * {@link #forCilium} would change, in the query nothing that may be refused, no fragment, only ASCII. False sends
     * the caller to those two methods, so a false is never wrong, only slower.
     *
     * @param raw a request's path, query and fragment, not null
     */
    public static boolean plain(String raw) {
        int n = raw.length();
        if (n == 0 || raw.charAt(0) != '/') {
            return false;
        }
        boolean query = false;
        for (int i = 0; i < n; i++) {
            char c = raw.charAt(i);
            if (c >= 128) {
                return false;
            }
            int f = FLAGS[c];
            if (f == 0) {
                continue;
            }
            if ((f & MAY_REJECT) != 0 || c == '#') {
                return false;
            }
            if (c == '?') {
                query = true;
            } else if (!query && (f & CILIUM_CHANGE) != 0
                    && (c != '/' || (i + 1 < n && (raw.charAt(i + 1) == '.' || raw.charAt(i + 1) == '/')))) {
                return false;
            }
        }
        return true;
    }

    /** {@link #FLAGS}: a character that may start a change to the path ({@code ? # % \\ .}, a dot only after a slash). */
    private static final byte ISTIO_CHANGE = 1;
    /** {@link #FLAGS}: the same for {@link #forCilium}, whose scan stops at {@code ?}/{@code #} and merges {@code //}. */
    private static final byte CILIUM_CHANGE = 2;
    /** {@link #FLAGS}: a character that may make {@link #forIstio} return null ({@code %00}, a control character). */
    private static final byte MAY_REJECT = 4;
    /**
     * The scans' per-character questions for ASCII, one table lookup each (every char above 127 is percent-encoded, a
     * change; only a surrogate can be refused). The scans run on every request a policy reads the path of.
     */
    private static final byte[] FLAGS = new byte[128];

    static {
        for (char c = 0; c < 128; c++) {
            int f = 0;
            if ("?#%\\.".indexOf(c) >= 0 || escaped(c) || control(c)) {
                f |= ISTIO_CHANGE;
            }
            if ("%\\/".indexOf(c) >= 0 || escaped(c) || control(c)) {
                f |= CILIUM_CHANGE;
            }
            if (c == '%' || control(c)) {
                f |= MAY_REJECT;
            }
            FLAGS[c] = (byte) f;
        }
    }

    /** Whether normalisation leaves {@code raw} as it is: one table lookup per character. */
    private static boolean simple(String raw) {
        int n = raw.length();
        if (n == 0 || raw.charAt(0) != '/') {
            return raw.equals("*");
        }
        for (int i = 0; i < n; i++) {
            char c = raw.charAt(i);
            if (c >= 128 || (FLAGS[c] & ISTIO_CHANGE) != 0 && (c != '.' || (i > 0 && raw.charAt(i - 1) == '/'))) {
                return false;
            }
        }
        return true;
    }

    private static boolean unreserved(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '.' || c == '_' || c == '~';
    }

    /** RFC 3986 section 5.2.4. */
    static String removeDotSegments(String in) {
        StringBuilder out = new StringBuilder(in.length());
        int i = 0;
        int n = in.length();
        while (i < n) {
            if (in.startsWith("../", i)) {
                i += 3;
            } else if (in.startsWith("./", i)) {
                i += 2;
            } else if (in.startsWith("/./", i)) {
                i += 2;
            } else if (i + 2 == n && in.startsWith("/.", i)) {
                out.append('/');
                i = n;
            } else if (in.startsWith("/../", i)) {
                i += 3;
                dropLastSegment(out);
            } else if (i + 3 == n && in.startsWith("/..", i)) {
                dropLastSegment(out);
                out.append('/');
                i = n;
            } else if ((i + 1 == n && in.charAt(i) == '.') || (i + 2 == n && in.startsWith("..", i))) {
                i = n;
            } else {
                int next = in.indexOf('/', i + (in.charAt(i) == '/' ? 1 : 0));
                if (next < 0) {
                    next = n;
                }
                out.append(in, i, next);
                i = next;
            }
        }
        return out.toString();
    }

    private static void dropLastSegment(StringBuilder out) {
        int slash = out.lastIndexOf("/");
        out.setLength(Math.max(slash, 0));
    }
}
