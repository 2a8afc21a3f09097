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

    static final LabelIndex EMPTY = new LabelIndex(new Object[0], new String[0], newMaps(0));

    final Object[] unindexed;
    final String[] keys;
    final Map<String, Object[]>[] byValue;

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Map<String, Object[]>[] newMaps(int n) {
        return new Map[n];
    }

    private LabelIndex(Object[] unindexed, String[] keys, Map<String, Object[]>[] byValue) {
        this.unindexed = unindexed;
        this.keys = keys;
        this.byValue = byValue;
    }

    boolean isEmpty() {
        return unindexed.length == 0 && keys.length == 0;
    }

    /** Candidate bucket for index key {@code i} given the destination, or null. */
    Object[] bucket(int i, WorkloadRef w) {
        String v = Selector.destLabel(w, keys[i]);
        return v == null ? null : byValue[i].get(v);
    }

    static final class Builder {
        private final List<Object> unindexed = new ArrayList<>();
        private final Map<String, Map<String, List<Object>>> indexed = new LinkedHashMap<>();

        /** {@code key}/{@code value} null when the selector cannot be indexed (empty, or expressions only). */
        void add(Object policy, String key, String value) {
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
            return new LabelIndex(unindexed.toArray(), keys, maps);
        }
    }
}
