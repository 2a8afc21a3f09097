package io.zerohop.kubernetes.internal;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;

/**
 * An immutable map of a few entries kept in one array, in the order given: what {@link ObjectStrip}
 * keeps of an informer object's labels and annotations. A LinkedHashMap of 7 labels is ~420 bytes (the
 * map, its table, an entry object per label); this is 16 + 8 per entry plus its own 16. Lookups scan
 * the array (maps of at most {@link #MAX} entries). Every mutator throws
 * {@code UnsupportedOperationException} (AbstractMap's); null keys and values are not held (the
 * caller keeps such a map as it is).
 */
final class ArrayMap<K, V> extends AbstractMap<K, V> {
    /** Larger maps stay as they are: a scan stops paying. */
    static final int MAX = 16;

    private final Object[] kv; // k0, v0, k1, v1, ...

    private ArrayMap(Object[] kv) {
        this.kv = kv;
    }

    /** A copy of {@code map} in its iteration order; null when it holds a null key or value or more than {@link #MAX} entries. */
    static <K, V> Map<K, V> copyOf(Map<K, V> map) {
        if (map.size() > MAX) {
            return null;
        }
        Object[] kv = new Object[map.size() * 2];
        int i = 0;
        for (Map.Entry<K, V> e : map.entrySet()) {
            if (e.getKey() == null || e.getValue() == null || i == kv.length) {
                return null;
            }
            kv[i++] = e.getKey();
            kv[i++] = e.getValue();
        }
        return i == kv.length ? new ArrayMap<>(kv) : null;
    }

    @Override
    public int size() {
        return kv.length / 2;
    }

    @Override
    public boolean containsKey(Object key) {
        return indexOf(key) >= 0;
    }

    @Override
    @SuppressWarnings("unchecked")
    public V get(Object key) {
        int i = indexOf(key);
        return i < 0 ? null : (V) kv[i + 1];
    }

    private int indexOf(Object key) {
        for (int i = 0; i < kv.length; i += 2) {
            if (Objects.equals(kv[i], key)) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public Set<Map.Entry<K, V>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public int size() {
                return kv.length / 2;
            }

            @Override
            public Iterator<Map.Entry<K, V>> iterator() {
                return new Iterator<>() {
                    private int i;

                    @Override
                    public boolean hasNext() {
                        return i < kv.length;
                    }

                    @Override
                    @SuppressWarnings("unchecked")
                    public Map.Entry<K, V> next() {
                        if (i >= kv.length) {
                            throw new NoSuchElementException();
                        }
                        Map.Entry<K, V> e = new AbstractMap.SimpleImmutableEntry<>((K) kv[i], (V) kv[i + 1]);
                        i += 2;
                        return e;
                    }
                };
            }
        };
    }
}
