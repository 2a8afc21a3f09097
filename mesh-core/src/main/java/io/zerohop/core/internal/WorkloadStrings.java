package io.zerohop.core.internal;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.spiffe.spiffeid.SpiffeId;
import java.util.function.Function;

/**
 * Strings that are the same for every tunnel of one workload (its baggage header value, the parsed
 * baggage, SPIFFE IDs as text), built once and shared by all its tunnels instead of once per
 * CONNECT: at 10,000 open tunnels of one workload the per-tunnel copies were ~0.5 KB each (issue 14,
 * benchmarks/results/footprint-xmn.md). Each table is bounded: keys can come from peers (a
 * {@code baggage} header is a claim of the peer), and an evicted entry costs only the sharing, never
 * correctness.
 */
public final class WorkloadStrings {
    /** Far above the workloads one node serves or talks to, small enough to never matter in memory. */
    static final int MAX_ENTRIES = 4096;

    private WorkloadStrings() {}

    private static final Table<Baggage, String> HEADERS = new Table<>();
    private static final Table<String, Baggage> PARSED = new Table<>();
    private static final Table<SpiffeId, String> IDS = new Table<>();

    /** {@link Baggage#header()} of {@code b}, the same instance for equal baggage. */
    static String header(Baggage b) {
        return HEADERS.get(b, Baggage::formatHeader);
    }

    /** {@link Baggage#parse} of {@code header}, the same instance for equal headers. */
    static Baggage parsed(String header) {
        return PARSED.get(header, Baggage::read);
    }

    /**
     * {@code id.toString()} (java-spiffe formats a new string on every call), the same instance for equal IDs: interned,
     * as the policy engine interns the principals its rules name, so a principal that matches one does so at the identity
     * check. An ID of a verified SVID only; the JVM's string table holds it weakly.
     */
    public static String text(SpiffeId id) {
        return id == null ? null : IDS.get(id, i -> i.toString().intern());
    }

    /**
     * A bounded memo (Caffeine, as the project's other caches): eviction runs on the calling thread,
     * so no pool thread is started for it; an evicted entry costs only its sharing.
     */
    static final class Table<K, V> {
        private final Cache<K, V> cache = Caffeine.newBuilder().maximumSize(MAX_ENTRIES).executor(Runnable::run).build();

        V get(K key, Function<K, V> compute) {
            return cache.get(key, compute);
        }

        long size() {
            cache.cleanUp();
            return cache.estimatedSize();
        }
    }
}
