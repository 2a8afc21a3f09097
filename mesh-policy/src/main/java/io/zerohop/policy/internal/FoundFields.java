package io.zerohop.policy.internal;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The HTTP attribute names a policy's rules use (sorted, as istiod lists them in its status), with where each was
 * first written, so that a load warning about them names that field's {@code file:line} and path rather than the
 * policy's (a new-user pass: the note on {@code methods} pointed at {@code spec:}).
 */
final class FoundFields extends TreeSet<String> {
    private static final long serialVersionUID = 1L;

    /** Attribute name to the node it was written at, in document order (first occurrence only). */
    private final Map<String, YNode> first = new LinkedHashMap<>();

    /** Records {@code key} written at {@code at} (the field's node; null: unknown). */
    void add(String key, YNode at) {
        add(key);
        if (at != null) {
            first.putIfAbsent(key, at);
        }
    }

    /**
     * {@code file:line: } of the earliest written of {@code keys}, then {@code ref}, then the paths of all of them
     * ({@code p.yaml:17: AuthorizationPolicy prod/x (DENY): spec.rules[0].to[0].operation.methods}); {@code fallback}
     * ({@code file:line: ref}) when none was recorded.
     */
    String where(Iterable<String> keys, String ref, String fallback) {
        YNode earliest = null;
        List<String> paths = new ArrayList<>();
        for (YNode n : first.values()) {
            for (String k : keys) {
                if (first.get(k) == n) {
                    if (earliest == null || line(n) < line(earliest)) {
                        earliest = n;
                    }
                    paths.add(n.path);
                }
            }
        }
        if (earliest == null) {
            return fallback;
        }
        return earliest.file + ":" + line(earliest) + ": " + ref + ": " + String.join(", ", paths);
    }

    /** The key's line: a block list starts on the line after its key. */
    private static int line(YNode n) {
        return n.keyLine > 0 ? n.keyLine : n.line;
    }
}
