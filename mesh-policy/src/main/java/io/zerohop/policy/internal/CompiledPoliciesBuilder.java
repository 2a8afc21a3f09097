package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyRef;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Collects compiled objects in load order; the first of conflicting PeerAuthentications wins. */
public final class CompiledPoliciesBuilder {
    private final Map<String, LabelIndex.Builder> istio = new LinkedHashMap<>();
    private final Map<String, LabelIndex.Builder> cilium = new LinkedHashMap<>();
    private final LabelIndex.Builder clusterwide = new LabelIndex.Builder();
    private boolean anyClusterwide;
    private final Map<String, PeerAuthn> namespacePeerAuthn = new HashMap<>();
    private final Map<String, List<PeerAuthn>> workloadPeerAuthn = new HashMap<>();
    /** Namespace → its RequestAuthentications in load order (Kubernetes mode loads them oldest first). */
    private final Map<String, List<RequestAuthn>> requestAuthn = new HashMap<>();
    private final List<PolicyRef> refs = new ArrayList<>();
    private final List<io.zerohop.policy.PolicySelector> selectors = new ArrayList<>();
    private final List<io.zerohop.policy.SourceNamespace> sourceNamespaces = new ArrayList<>();
    /** At most this many warnings are kept per load; the rest are counted (see {@link Warnings}). */
    static final int WARNINGS_KEPT = 10_000;
    private final Warnings warnings = new Warnings();

    /**
     * The load's warnings, the first {@link #WARNINGS_KEPT} kept and the rest counted: each is a few hundred characters,
     * and a list of 250,000 principals that could never match (one warning each) held ~80 MB and ran the proxy's 128 MB
     * heap out (a new-user pass). What is dropped is said in one more line at {@link #build}.
     */
    static final class Warnings extends java.util.AbstractList<String> {
        private final List<String> kept = new ArrayList<>();
        private long dropped;

        @Override
        public boolean add(String w) {
            if (kept.size() < WARNINGS_KEPT) {
                return kept.add(w);
            }
            dropped++;
            return false;
        }

        @Override
        public String get(int i) {
            return kept.get(i);
        }

        @Override
        public int size() {
            return kept.size();
        }

        /** Words the {@link IstioCompiler#JWT_PENDING} warnings, in place: a load's warning indexes stay as they were. */
        void resolveRequestAuth(java.util.function.Predicate<String> loaded) {
            for (int i = 0; i < kept.size(); i++) {
                if (kept.get(i).startsWith(IstioCompiler.JWT_PENDING)) {
                    kept.set(i, IstioCompiler.requestAuthWarning(kept.get(i), loaded));
                }
            }
        }

        List<String> all() {
            if (dropped == 0) {
                return List.copyOf(kept);
            }
            List<String> l = new ArrayList<>(kept);
            l.add(dropped + " more warnings not kept (only the first " + WARNINGS_KEPT + " of a load are): fix those above and"
                    + " load again to see the rest");
            return List.copyOf(l);
        }
    }
    private final java.util.Set<String> dryRunNamespaces = new java.util.HashSet<>();
    private final java.util.Set<PolicyRef> dryRunRefs = new java.util.HashSet<>();
    private Map<String, String> origins = Map.of();

    /** {@code CompiledPolicies.origin}'s map (the Loader's {@code file:line} per object). */
    void origins(Map<String, String> origins) {
        this.origins = origins;
    }

    void add(IstioPolicy p) {
        refs.add(p.ref);
        if (p.dryRun) {
            dryRunNamespaces.add(p.namespace);
            dryRunRefs.add(p.ref);
        }
        boolean indexed = p.selectorKeys != null && p.selectorKeys.length > 0;
        String key = indexed ? p.selectorKeys[0] : null;
        String value = indexed ? p.selectorValues[0] : null;
        istio.computeIfAbsent(p.namespace, k -> new LabelIndex.Builder()).add(p, key, value, 1 << p.action);
    }

    void add(CiliumPolicy p, boolean firstOfObject) {
        if (firstOfObject) {
            refs.add(p.ref);
        }
        String key = null;
        String value = null;
        Selector s = p.endpointSelector;
        // A reserved:all selector selects every workload: never bucketed under one of its labels.
        for (int i = 0; i < s.keys.length && !s.all; i++) {
            // Namespaced policies are already bucketed by namespace: prefer a real label.
            if (!s.keys[i].equals(Selector.NAMESPACE_KEY) || (p.namespace == null && key == null)) {
                key = s.keys[i];
                value = s.values[i];
                if (!key.equals(Selector.NAMESPACE_KEY)) {
                    break;
                }
            }
        }
        if (p.namespace == null) {
            anyClusterwide = true;
            clusterwide.add(p, key, value, p.flags);
        } else {
            cilium.computeIfAbsent(p.namespace, k -> new LabelIndex.Builder()).add(p, key, value, p.flags);
        }
    }

    void add(PeerAuthn pa) {
        refs.add(pa.ref);
        if (pa.isWorkloadLevel()) {
            workloadPeerAuthn.computeIfAbsent(pa.namespace, k -> new ArrayList<>()).add(pa);
        } else {
            PeerAuthn first = namespacePeerAuthn.putIfAbsent(pa.namespace, pa);
            if (first != null) {
                warnings.add(pa.ref + ": another namespace-wide PeerAuthentication in " + pa.namespace
                        + " was loaded first and wins (Istio: oldest wins)"
                        + (first.emptySelector && !pa.emptySelector && first.meshInstead == null
                        ? "; if " + pa.namespace + " is the root namespace, this one (no selector) is the mesh policy for "
                        + "workloads of other namespaces, as ztunnel's (istiod ignores root policies with selector: {} there)" : ""));
                if (first.emptySelector && !pa.emptySelector && first.meshInstead == null) {
                    first.meshInstead = pa;
                }
            }
        }
    }

    void add(RequestAuthn ra) {
        refs.add(ra.ref);
        requestAuthn.computeIfAbsent(ra.namespace, k -> new ArrayList<>()).add(ra);
    }

    void select(io.zerohop.policy.PolicySelector s) {
        selectors.add(s);
    }

    void sourceNamespace(io.zerohop.policy.SourceNamespace n) {
        sourceNamespaces.add(n);
    }

    void warn(String warning) {
        warnings.add(warning);
    }

    List<String> warnings() {
        return warnings;
    }

    public CompiledPolicies build() {
        Map<String, LabelIndex> i = new HashMap<>();
        istio.forEach((k, v) -> i.put(k, v.build()));
        Map<String, LabelIndex> c = new HashMap<>();
        cilium.forEach((k, v) -> c.put(k, v.build()));
        Map<String, PeerAuthn[]> w = new HashMap<>();
        workloadPeerAuthn.forEach((k, v) -> w.put(k, v.toArray(new PeerAuthn[0])));
        warnings.resolveRequestAuth(requestAuthn::containsKey);
        Map<String, RequestAuthn[]> ra = new HashMap<>();
        requestAuthn.forEach((k, v) -> ra.put(k, v.toArray(new RequestAuthn[0])));
        return new CompiledPolicies(i, c, anyClusterwide ? clusterwide.build() : LabelIndex.EMPTY,
                new HashMap<>(namespacePeerAuthn), w, List.copyOf(refs), warnings.all(),
                java.util.Set.copyOf(dryRunNamespaces), java.util.Set.copyOf(dryRunRefs), List.copyOf(selectors), List.copyOf(sourceNamespaces), Map.copyOf(origins))
                .withRequestAuthn(ra);
    }
}
