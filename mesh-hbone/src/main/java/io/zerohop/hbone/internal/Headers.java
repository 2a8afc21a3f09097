package io.zerohop.hbone.internal;

import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

final class Headers {
    private Headers() {}

    /**
     * Regular (non-pseudo) headers, lower-case names, repeated values joined with ", ", as an
     * immutable map ({@link io.zerohop.hbone.TunnelInfo} keeps it without a copy). An HBONE CONNECT
     * without headers makes no map and no string (issue 14, per-tunnel garbage).
     *
     * <p>With {@code memo} (one per connection), a name or value equal to the one the connection's
     * previous CONNECT carried is that same {@code String}, not a copy: every tunnel from one
     * workload carries the same {@code baggage} (ztunnel's src/proxy/outbound.rs), and an inbound
     * proxy holding 10,000 tunnels kept 10,000 copies of it (issue 14; {@code traceparent} is fresh
     * per tunnel and is not shared).
     */
    static Map<String, String> plain(Http2Headers h, Memo memo) {
        Map<String, String> out = null;
        for (Map.Entry<CharSequence, CharSequence> e : h) {
            CharSequence name = e.getKey();
            if (name.length() > 0 && name.charAt(0) == ':') {
                continue;
            }
            if (out == null) {
                out = new LinkedHashMap<>();
            }
            String n;
            String v;
            int slot = memo == null ? -1 : memo.slot(name);
            if (slot >= 0) {
                n = memo.names[slot];
                v = memo.value(slot, e.getValue());
            } else {
                n = name.toString().toLowerCase(Locale.ROOT);
                v = e.getValue().toString();
                if (memo != null) {
                    memo.add(n, v);
                }
            }
            out.merge(n, v, (a, b) -> a + ", " + b);
        }
        return out == null ? Map.of() : Map.copyOf(out);
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
