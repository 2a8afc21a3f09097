package io.zerohop.hbone.internal;

import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import java.util.Arrays;
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
            int j = indexOf(names, n, nm);
            if (j >= 0) {
                values[j] = values[j] + ", " + v;
            } else {
                names[n] = nm;
                values[n++] = v;
            }
        }
        if (n == 0) {
            return Map.of();
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

    private static final String TRACEPARENT = "traceparent";

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
