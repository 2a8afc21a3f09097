package io.zerohop.policy.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * The exact, case-sensitive entries of a long Istio value list ({@code principals},
 * {@code namespaces} and their {@code not*} forms) as an open-addressing hash table, so that a
 * source listing hundreds of identities is answered with one hash of the peer's region and one or
 * two comparisons instead of a scan. The answer is the scan's: "some exact entry equals the region".
 * Lists shorter than {@link #MIN_ENTRIES} stay scans (hashing the region costs about as much as
 * comparing a few strings). Lookups allocate nothing.
 */
final class ExactSet {

    /** Below this many exact entries a scan is as fast as hashing the peer's region. */
    static final int MIN_ENTRIES = 8;

    private final String[] values;
    private final int[] hashes;
    private final int mask;

    private ExactSet(List<String> exact) {
        int size = Integer.highestOneBit(Math.max(exact.size() * 2 - 1, 1)) * 2;
        values = new String[size];
        hashes = new int[size];
        mask = size - 1;
        for (String v : exact) {
            int h = hash(v, 0, v.length());
            for (int i = h & mask; ; i = (i + 1) & mask) {
                if (values[i] == null) {
                    values[i] = v;
                    hashes[i] = h;
                    break;
                }
                if (values[i].equals(v)) {
                    break;
                }
            }
        }
    }

    /** The set of {@code ms}' exact case-sensitive entries, or null when there are fewer than {@link #MIN_ENTRIES}. */
    static ExactSet of(StringMatch[] ms) {
        List<String> exact = new ArrayList<>();
        for (StringMatch m : ms) {
            if (m.exactCaseSensitive()) {
                exact.add(m.value);
            }
        }
        return exact.size() < MIN_ENTRIES ? null : new ExactSet(exact);
    }

    /** The entries of {@code ms} that {@code set} does not hold (all of them when {@code set} is null), in order. */
    static StringMatch[] rest(StringMatch[] ms, ExactSet set) {
        if (set == null) {
            return ms;
        }
        List<StringMatch> rest = new ArrayList<>();
        for (StringMatch m : ms) {
            if (!m.exactCaseSensitive()) {
                rest.add(m);
            }
        }
        return rest.toArray(new StringMatch[0]);
    }

    /** Whether an entry equals {@code s[from, to)}. */
    boolean contains(String s, int from, int to) {
        int h = hash(s, from, to);
        int len = to - from;
        for (int i = h & mask; ; i = (i + 1) & mask) {
            String v = values[i];
            if (v == null) {
                return false;
            }
            if (hashes[i] == h && v.length() == len && s.regionMatches(from, v, 0, len)) {
                return true;
            }
        }
    }

    /** {@link String#hashCode()} of the region, spread so that the low bits index the table. */
    private static int hash(String s, int from, int to) {
        int h = 0;
        for (int i = from; i < to; i++) {
            h = 31 * h + s.charAt(i);
        }
        return h ^ (h >>> 16);
    }

    int size() {
        int n = 0;
        for (String v : values) {
            n += v == null ? 0 : 1;
        }
        return n;
    }
}
