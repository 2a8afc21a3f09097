package io.zerohop.hbone.internal;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BiConsumer;

/**
 * The CONNECT headers a {@link io.zerohop.hbone.TunnelInfo} keeps for its tunnel's life, in the
 * smallest form that reads back exactly the same text: an immutable map over a names array (shared by
 * the tunnels that send or receive the same names) and its values (up to three in fields, more in an
 * array), each value a {@code String}
 * or an immutable object whose {@code toString()} is the value, rendered at each read (a
 * {@link Traceparent} is three longs instead of a 55-character string). Issue 14: with 10,000 open
 * tunnels each proxy kept a fresh {@code traceparent} and {@code forwarded} string, a hash table and
 * a key-set view per tunnel (~270 bytes; benchmarks/results/trim-*.md).
 *
 * <p>{@link io.zerohop.hbone.TunnelInfo} and {@link io.zerohop.hbone.Route} keep a {@code HeaderMap}
 * as it is; any other map they copy.
 */
public final class HeaderMap extends AbstractMap<String, String> {
    private static final HeaderMap EMPTY = new HeaderMap(new String[0], new Object[0]);
    /** Values kept in fields, not an array, up to this many (a tunnel's CONNECT carries 1-3). */
    private static final int INLINE = 3;
    private final String[] names;
    // Up to INLINE values in fields: 12 bytes where an array of three is 32 (issue 14); more in the array.
    private final Object v0;
    private final Object v1;
    private final Object v2;
    private final Object[] values;

    private HeaderMap(String[] names, Object[] values) {
        this.names = names;
        int n = values.length;
        this.v0 = n > 0 ? values[0] : null;
        this.v1 = n > 1 ? values[1] : null;
        this.v2 = n > 2 ? values[2] : null;
        this.values = n > INLINE ? values : null;
    }

    private Object value(int i) {
        if (values != null) {
            return values[i];
        }
        return i == 0 ? v0 : i == 1 ? v1 : v2;
    }

    /**
     * A map of {@code names[i]} to {@code values[i].toString()}. The names array is kept, not copied,
     * and so are more than three values (up to three are kept in fields): the caller never changes
     * them afterwards ({@code names} may be shared between maps).
     *
     * @param names  distinct header names (lower case as received or sent), no pseudo-headers
     * @param values as many non-null values: {@code String}s or immutable objects whose
     *               {@code toString()} is the value (computed at each read, so it must be pure)
     * @throws IllegalArgumentException when the lengths differ or a name or value is null
     */
    public static Map<String, String> of(String[] names, Object[] values) {
        if (names.length != values.length) {
            throw new IllegalArgumentException(names.length + " names but " + values.length + " values");
        }
        for (int i = 0; i < names.length; i++) {
            if (names[i] == null || values[i] == null) {
                throw new IllegalArgumentException("null header name or value at " + i + ": " + names[i]);
            }
        }
        return names.length == 0 ? EMPTY : new HeaderMap(names, values);
    }

    private int indexOf(Object name) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public String get(Object name) {
        int i = indexOf(name);
        return i < 0 ? null : value(i).toString();
    }

    @Override
    public boolean containsKey(Object name) {
        return indexOf(name) >= 0;
    }

    @Override
    public int size() {
        return names.length;
    }

    @Override
    public void forEach(BiConsumer<? super String, ? super String> action) {
        for (int i = 0; i < names.length; i++) {
            action.accept(names[i], value(i).toString());
        }
    }

    /** A view made per call: {@code AbstractMap} would keep it in a field for the map's life. */
    @Override
    public Set<String> keySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<String> iterator() {
                return Arrays.asList(names).iterator();
            }

            @Override
            public int size() {
                return names.length;
            }

            @Override
            public boolean contains(Object o) {
                return indexOf(o) >= 0;
            }
        };
    }

    @Override
    public java.util.Collection<String> values() {
        String[] text = new String[names.length];
        for (int i = 0; i < text.length; i++) {
            text[i] = value(i).toString();
        }
        return List.of(text);
    }

    @Override
    public Set<Entry<String, String>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Entry<String, String>> iterator() {
                return new Iterator<>() {
                    private int i;

                    @Override
                    public boolean hasNext() {
                        return i < names.length;
                    }

                    @Override
                    public Entry<String, String> next() {
                        if (i >= names.length) {
                            throw new NoSuchElementException();
                        }
                        Entry<String, String> e = new SimpleImmutableEntry<>(names[i], value(i).toString());
                        i++;
                        return e;
                    }
                };
            }

            @Override
            public int size() {
                return names.length;
            }
        };
    }

    /**
     * A W3C {@code traceparent} (version-traceid-parentid-flags) as its numbers: 40 bytes where the
     * string takes 96. {@link #toString()} is the header value, lower-case hex.
     */
    public static final class Traceparent {
        private final long traceHi;
        private final long traceLo;
        private final long parent;
        private final byte version;
        private final byte flags;

        private Traceparent(byte version, long traceHi, long traceLo, long parent, byte flags) {
            this.version = version;
            this.traceHi = traceHi;
            this.traceLo = traceLo;
            this.parent = parent;
            this.flags = flags;
        }

        /**
         * A fresh one as ztunnel's {@code TraceParent::new} (src/proxy/outbound.rs): version 00, a
         * random 128-bit trace id, a random 64-bit parent id, flags 00 (not sampled). All-zero ids
         * are invalid in the W3C format and never produced.
         */
        public static Traceparent random() {
            ThreadLocalRandom r = ThreadLocalRandom.current();
            long hi, lo, parent;
            do {
                hi = r.nextLong();
                lo = r.nextLong();
            } while (hi == 0 && lo == 0);
            do {
                parent = r.nextLong();
            } while (parent == 0);
            return new Traceparent((byte) 0, hi, lo, parent, (byte) 0);
        }

        /**
         * {@code value} as numbers when it is exactly {@code xx-<32 hex>-<16 hex>-xx} in lower-case
         * hex (so that {@link #toString()} gives it back unchanged); null otherwise, and the caller
         * keeps the text.
         */
        public static Traceparent parse(CharSequence value) {
            if (value.length() != 55 || value.charAt(2) != '-' || value.charAt(35) != '-' || value.charAt(52) != '-') {
                return null;
            }
            long version = hex(value, 0, 2);
            long hi = hex(value, 3, 19);
            long lo = hex(value, 19, 35);
            long parent = hex(value, 36, 52);
            long flags = hex(value, 53, 55);
            if (version < 0 || hi == -1 && !allF(value, 3, 19) || lo == -1 && !allF(value, 19, 35)
                    || parent == -1 && !allF(value, 36, 52) || flags < 0) {
                return null;
            }
            return new Traceparent((byte) version, hi, lo, parent, (byte) flags);
        }

        /** Lower-case hex digits [from, to) as a number; -1 when one is not (16 f's are -1 too, see allF). */
        private static long hex(CharSequence s, int from, int to) {
            long v = 0;
            for (int i = from; i < to; i++) {
                char c = s.charAt(i);
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0) {
                    return -1;
                }
                v = v << 4 | d;
            }
            return v;
        }

        private static boolean allF(CharSequence s, int from, int to) {
            for (int i = from; i < to; i++) {
                if (s.charAt(i) != 'f') {
                    return false;
                }
            }
            return true;
        }

        @Override
        public String toString() {
            char[] c = new char[55];
            put(c, 0, version, 2);
            c[2] = '-';
            put(c, 3, traceHi, 16);
            put(c, 19, traceLo, 16);
            c[35] = '-';
            put(c, 36, parent, 16);
            c[52] = '-';
            put(c, 53, flags, 2);
            return new String(c);
        }

        private static void put(char[] c, int at, long v, int digits) {
            for (int i = digits - 1; i >= 0; i--) {
                c[at + i] = Character.forDigit((int) (v & 0xf), 16);
                v >>>= 4;
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Traceparent t && t.version == version && t.traceHi == traceHi && t.traceLo == traceLo
                    && t.parent == parent && t.flags == flags;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(traceHi ^ traceLo ^ parent);
        }
    }
}
