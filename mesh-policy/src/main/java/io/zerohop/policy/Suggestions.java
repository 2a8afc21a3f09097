package io.zerohop.policy;

import io.zerohop.policy.internal.Loader;
import java.util.Collection;

/** The "did you mean" the loader gives a mistyped kind, for tools that suggest a name the same way. */
public final class Suggestions {

    private Suggestions() {
    }

    /**
     * The candidate closest to {@code word} by Levenshtein distance ignoring case (a case difference alone is
     * distance 0 and suggested), when within 2 edits, fewer edits than {@code word} has characters, and other than
     * {@code word} itself; the first of equally close ones in {@code candidates}' iteration order. Null when none
     * is; both arguments non-null.
     */
    public static String nearest(String word, Collection<String> candidates) {
        return Loader.nearest(word, candidates);
    }
}
