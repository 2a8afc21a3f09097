package io.zerohop.hbone.internal;

import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

final class Headers {
    private Headers() {}

    /**
     * Regular (non-pseudo) headers, lower-case names, repeated values joined with ", ", as an
     * immutable {@link HeaderMap} ({@link io.zerohop.hbone.TunnelInfo} keeps it without a copy). An
     * HBONE CONNECT without headers makes no map and no string (issue 14, per-tunnel garbage). A
     * {@code traceparent} in its canonical form is kept as its numbers ({@link HeaderMap.Traceparent}:
     * 40 bytes, not a 96-byte string), and reads back as the same text.
     *
     * <p>With {@code memo} (one per connection), a name or value equal to the one the connection's
     * previous CONNECT carried is that same {@code String}, not a copy: every tunnel from one
     * workload carries the same {@code baggage} (ztunnel's src/proxy/outbound.rs), and an inbound
     * proxy holding 10,000 tunnels kept 10,000 copies of it (issue 14; {@code traceparent} is fresh
     * per tunnel and is not shared). The names array is shared too while the names come in the same
     * order.
     */
    static Map<String, String> plain(Http2Headers h, Memo memo) {
        String[] names = null;
        Object[] values = null;
        int n = 0;
        boolean joined = false;
        Map<String, Integer> index = null;
        for (Map.Entry<CharSequence, CharSequence> e : h) {
            CharSequence name = e.getKey();
            if (name.length() > 0 && name.charAt(0) == ':') {
                continue;
            }
            if (names == null) {
                names = new String[Math.max(4, h.size())];
                values = new Object[names.length];
            }
            String nm;
            Object v;
            int slot = memo == null ? -1 : memo.slot(name);
            nm = slot >= 0 ? memo.names[slot] : name.toString().toLowerCase(Locale.ROOT);
            HeaderMap.Traceparent tp = nm.equals(TRACEPARENT) ? HeaderMap.Traceparent.parse(e.getValue()) : null;
            if (tp != null) {
                v = tp;
                if (slot < 0 && memo != null) {
                    memo.add(nm, "");
                }
            } else if (slot >= 0) {
                v = memo.value(slot, e.getValue());
            } else {
                v = e.getValue().toString();
                if (memo != null) {
                    memo.add(nm, (String) v);
                }
            }
            int j;
            if (index != null) {
                Integer at = index.get(nm);
                j = at == null ? -1 : at;
            } else {
                j = indexOf(names, n, nm);
            }
            if (j >= 0) {
                // One builder per repeated name: joining into a new String at every repeat copied the value so far,
                // quadratic in the repeats (1,900 fields named "a", ~30 KB on the wire, allocated ~15 MB; helper 281).
                if (values[j] instanceof StringBuilder sb) {
                    sb.append(", ").append(v);
                } else {
                    values[j] = new StringBuilder().append(values[j]).append(", ").append(v);
                    joined = true;
                }
            } else {
                names[n] = nm;
                values[n++] = v;
                if (index != null) {
                    index.put(nm, n - 1);
                } else if (n == LINEAR_LOOKUP) {
                    // Past a CONNECT's usual few names, a hash lookup: a scan per field was quadratic in the names.
                    index = new HashMap<>();
                    for (int i = 0; i < n; i++) {
                        index.put(names[i], i);
                    }
                }
            }
        }
        if (n == 0) {
            return Map.of();
        }
        if (joined) {
            for (int i = 0; i < n; i++) {
                if (values[i] instanceof StringBuilder sb) {
                    values[i] = sb.toString();
                }
            }
        }
        if (memo != null && memo.lastNames != null && Arrays.equals(memo.lastNames, 0, memo.lastNames.length, names, 0, n)) {
            names = memo.lastNames;
        } else {
            names = Arrays.copyOf(names, n);
            if (memo != null) {
                memo.lastNames = names;
            }
        }
        return HeaderMap.of(names, values.length == n ? values : Arrays.copyOf(values, n));
    }

    /**
     * Why a CONNECT cannot carry {@code extra} as its request headers, or null when it can: the fields Netty's HTTP/2
     * header validation refuses ({@code DefaultHttp2Headers}, which threw on the event loop while the stream was
     * started, so the open failed only at its CONNECT response timeout, a new-user pass), checked before anything is
     * dialled. A name must be a non-empty HTTP token (RFC 9110 section 5.6.2; Netty's {@code validateToken}), and not a
     * pseudo-header; upper-case letters are allowed, as the name is sent lower-cased (RFC 9113 section 8.2.1). A value
     * must not contain a control character other than HTAB (NUL, CR and LF: RFC 9113 section 8.2.1; the others and DEL:
     * Netty's {@code validateValidHeaderValue}), nor start or end with SP or HTAB (RFC 9113 section 8.2.1; Netty
     * refuses a leading one), nor hold a character past U+00FF (HPACK carries octets: Netty wrote {@code '?'} for it).
     *
     * @throws NullPointerException when a name or a value is null
     */
    static IllegalArgumentException invalid(Map<String, String> extra) {
        for (Map.Entry<String, String> e : extra.entrySet()) {
            String name = e.getKey();
            String value = e.getValue();
            if (name == null || value == null) {
                throw new NullPointerException("headers must not contain a null name or value"
                        + (name == null ? "" : " (" + LogText.quoted(name) + ")"));
            }
            String why = nameProblem(name);
            if (why != null) {
                return new IllegalArgumentException("CONNECT header name " + LogText.quoted(name) + " " + why);
            }
            why = valueProblem(value);
            if (why != null) {
                return new IllegalArgumentException("CONNECT header " + LogText.quoted(name) + ": its value " + why);
            }
        }
        return null;
    }

    private static String nameProblem(String name) {
        if (name.isEmpty()) {
            return "is empty: a header needs a name";
        }
        if (name.charAt(0) == ':') {
            return "is a pseudo-header: it cannot be set (the client sends :method and :authority itself)";
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!tchar(c)) {
                return "is not an HTTP token (RFC 9110 section 5.6.2): " + charName(c) + " at index " + i
                        + "; a name is ASCII letters, digits and !#$%&'*+-.^_`|~";
            }
        }
        return null;
    }

    private static String valueProblem(String value) {
        if (value.isEmpty()) {
            return null;
        }
        char first = value.charAt(0);
        char last = value.charAt(value.length() - 1);
        if (first == ' ' || first == '\t' || last == ' ' || last == '\t') {
            return "starts or ends with a space or tab (RFC 9113 section 8.2.1): trim it";
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return "contains " + charName(c) + " at index " + i
                        + ": HTTP/2 field values must not contain NUL, CR, LF or another control character but tab (RFC 9113 section 8.2.1)";
            }
            if (c > 0xff) {
                return "contains " + charName(c) + " at index " + i
                        + ": HTTP/2 sends a field value as octets, up to U+00FF (encode other text, e.g. percent-encoded UTF-8)";
            }
        }
        return null;
    }

    /** RFC 9110 section 5.6.2 {@code tchar}. */
    private static boolean tchar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }

    private static String charName(char c) {
        String code = String.format("U+%04X", (int) c);
        return switch (c) {
            case 0 -> "NUL (" + code + ")";
            case '\r' -> "CR (" + code + ")";
            case '\n' -> "LF (" + code + ")";
            case '\t' -> "tab (" + code + ")";
            case ' ' -> "a space (" + code + ")";
            case 0x7f -> "DEL (" + code + ")";
            default -> c < 0x20 || (c >= 0x7f && c <= 0x9f) ? "a control character (" + code + ")"
                    : c < 0x7f ? "'" + c + "' (" + code + ")" : code;
        };
    }

    private static final String TRACEPARENT = "traceparent";
    /** Distinct names found by a scan; from this many on, by a hash table ({@link #plain}). */
    static final int LINEAR_LOOKUP = 8;

    private static int indexOf(String[] names, int n, String name) {
        for (int i = 0; i < n; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    static Map<String, String> plain(Http2Headers h) {
        return plain(h, null);
    }

    /**
     * The names and last values of one connection's CONNECT headers, up to {@link #MAX} names (a
     * peer sending more distinct names gets copies, never unbounded memory). Event loop only.
     */
    static final class Memo {
        static final int MAX = 8;
        private final String[] names = new String[MAX];
        private final String[] values = new String[MAX];
        private int size;
        /** The names of the connection's previous CONNECT, in order: the next one with the same names shares the array. */
        private String[] lastNames;

        private int slot(CharSequence name) {
            for (int i = 0; i < size; i++) {
                if (AsciiString.contentEqualsIgnoreCase(names[i], name)) {
                    return i;
                }
            }
            return -1;
        }

        private String value(int slot, CharSequence value) {
            String last = values[slot];
            if (AsciiString.contentEquals(last, value)) {
                return last;
            }
            String v = value.toString();
            values[slot] = v;
            return v;
        }

        private void add(String name, String value) {
            if (size < MAX) {
                names[size] = name;
                values[size] = value;
                size++;
            }
        }
    }
}
