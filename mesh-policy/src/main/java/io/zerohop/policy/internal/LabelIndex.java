package io.zerohop.policy.internal;

import io.zerohop.policy.WorkloadRef;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Policies of one scope bucketed by one label of their selector, so that evaluation looks at the
 * policies whose first label matches instead of scanning thousands of selectors. Every candidate
 * still has its full selector checked.
 */
final class LabelIndex {

    static final LabelIndex EMPTY = new LabelIndex(new Object[0], new String[0], newMaps(0), 0);

    final Object[] unindexed;
    final String[] keys;
    /** {@link Selector#kindOf} of each key, so a lookup does not compare the key with the pseudo-labels. */
    private final int[] keyKinds;
    final Map<String, Object[]>[] byValue;
    /** OR of the flags its policies were added with: lets evaluation skip a pass no policy here can answer. */
    final int flags;

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Map<String, Object[]>[] newMaps(int n) {
        return new Map[n];
    }

    private LabelIndex(Object[] unindexed, String[] keys, Map<String, Object[]>[] byValue, int flags) {
        this.unindexed = unindexed;
        this.keys = keys;
        this.byValue = byValue;
        this.flags = flags;
        this.keyKinds = new int[keys.length];
        for (int i = 0; i < keys.length; i++) {
            keyKinds[i] = Selector.kindOf(keys[i]);
        }
    }

    /** This index with each policy replaced by {@code f} of it (same buckets, same flags); itself when {@code f} changes none. */
    LabelIndex map(java.util.function.UnaryOperator<Object> f) {
        boolean[] changed = {false};
        java.util.function.Function<Object[], Object[]> each = a -> {
            Object[] out = a.clone();
            for (int i = 0; i < out.length; i++) {
                out[i] = f.apply(a[i]);
                changed[0] |= out[i] != a[i];
            }
            return out;
        };
        Object[] u = each.apply(unindexed);
        Map<String, Object[]>[] maps = newMaps(byValue.length);
        for (int i = 0; i < maps.length; i++) {
            Map<String, Object[]> m = new HashMap<>();
            byValue[i].forEach((k, v) -> m.put(k, each.apply(v)));
            maps[i] = m;
        }
        return changed[0] ? new LabelIndex(u, keys, maps, flags) : this;
    }

    /** Whether some policy here was added with one of {@code flag}'s bits. */
    boolean has(int flag) {
        return (flags & flag) != 0;
    }

    boolean isEmpty() {
        return unindexed.length == 0 && keys.length == 0;
    }

    /** Candidate bucket for index key {@code i} given the destination, or null. */
    Object[] bucket(int i, WorkloadRef w) {
        String v = Selector.destLabel(w, keys[i], keyKinds[i]);
        return v == null ? null : byValue[i].get(v);
    }

    /**
     * The bucket of the first key (the only one in the common case), looked up once per evaluation
     * and handed to every pass instead of hashing the destination's label again in each.
     */
    Object[] firstBucket(WorkloadRef w) {
        return keys.length == 0 ? null : bucket(0, w);
    }

    static final class Builder {
        private final List<Object> unindexed = new ArrayList<>();
        private final Map<String, Map<String, List<Object>>> indexed = new LinkedHashMap<>();
        private int flags;

        /** {@code key}/{@code value} null when the selector cannot be indexed (empty, or expressions only). */
        void add(Object policy, String key, String value) {
            add(policy, key, value, 0);
        }

        /** As {@link #add(Object, String, String)}; {@code flags} are OR-ed into {@link LabelIndex#flags}. */
        void add(Object policy, String key, String value, int flags) {
            this.flags |= flags;
            if (key == null) {
                unindexed.add(policy);
            } else {
                indexed.computeIfAbsent(key, k -> new HashMap<>()).computeIfAbsent(value, v -> new ArrayList<>()).add(policy);
            }
        }

        LabelIndex build() {
            String[] keys = indexed.keySet().toArray(new String[0]);
            Map<String, Object[]>[] maps = newMaps(keys.length);
            for (int i = 0; i < keys.length; i++) {
                Map<String, Object[]> m = new HashMap<>();
                for (Map.Entry<String, List<Object>> e : indexed.get(keys[i]).entrySet()) {
                    m.put(e.getKey(), e.getValue().toArray());
                }
                maps[i] = m;
            }
            return new LabelIndex(unindexed.toArray(), keys, maps, flags);
        }
    }
}
