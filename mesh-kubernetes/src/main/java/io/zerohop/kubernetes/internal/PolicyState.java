package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.policy.PolicySet;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Policy objects from the API server, each validated alone by {@link PolicyLoader} (the same
 * compiler and semantics as files); the valid ones are installed together with one
 * {@link PolicyEngine#replace}. An invalid object (or one zerohop cannot enforce) is logged, counted
 * and listed, never drops the others (as istiod keeps converting the rest), and is replaced by its
 * fail-closed stand-in ({@link FailClosed}): leaving it out could widen access.
 */
public final class PolicyState {
    private static final Logger LOG = LoggerFactory.getLogger(PolicyState.class);

    /** Istio's {@code istio.io/dry-run} annotation: the policy is evaluated in shadow only, never enforced. */
    public static final String DRY_RUN_ANNOTATION = "istio.io/dry-run";

    /**
     * One object as served at one API version: {@code yaml} is what is installed for it (its own text,
     * or for a rejected object its fail-closed stand-in, or null); {@code error} non-null when rejected.
     */
    private record Entry(String yaml, String error) {}

    /** kind/namespace/name → apiVersion → entry; v1 and v1beta1 of one Istio object are the same object. */
    private final Map<String, Map<String, Entry>> objects = new TreeMap<>();
    /**
     * kind/namespace/name → metadata.creationTimestamp ("" when absent): istiod lets the oldest PeerAuthentication win,
     * and orders a workload's RequestAuthentications by age before it sorts their rules by issuer.
     */
    private final Map<String, String> created = new java.util.HashMap<>();
    private final PolicyEngine engine;
    private final AtomicLong rejected = new AtomicLong();
    private final Rejections listener;
    private String installed;

    /** Told of every rejection: the object's {@code apiVersion} and {@code kind}, and why ({@code invalid} or {@code error}). */
    @FunctionalInterface
    public interface Rejections {
        void rejected(String apiVersion, String kind, String reason);
    }

    public PolicyState(PolicyEngine engine) {
        this(engine, (v, k, r) -> {});
    }

    public PolicyState(PolicyEngine engine, Rejections listener) {
        this.engine = engine;
        this.listener = listener;
    }

    private static String key(GenericKubernetesResource r) {
        String ns = r.getMetadata().getNamespace();
        return r.getKind() + "/" + (ns == null || ns.isEmpty() ? "" : ns + "/") + r.getMetadata().getName();
    }

    public void put(GenericKubernetesResource r) {
        String key = key(r);
        Entry e = validate(key, r);
        String ts = r.getMetadata().getCreationTimestamp();
        synchronized (this) {
            objects.computeIfAbsent(key, k -> new TreeMap<>()).put(r.getApiVersion(), e);
            created.put(key, ts == null ? "" : ts);
        }
    }

    public synchronized void remove(GenericKubernetesResource r) {
        String key = key(r);
        Map<String, Entry> versions = objects.get(key);
        if (versions != null) {
            versions.remove(r.getApiVersion());
            if (versions.isEmpty()) {
                objects.remove(key);
                created.remove(key);
            }
        }
    }

    private Entry validate(String key, GenericKubernetesResource r) {
        String yaml = yamlOf(r);
        String ns = r.getMetadata().getNamespace();
        String shown = r.getKind() + " " + (ns == null || ns.isEmpty() ? "" : ns + "/") + r.getMetadata().getName();
        String reason;
        String error;
        String problem;
        try {
            logWarnings(key, shown, PolicyLoader.fromStringQuietly(key, yaml, engine.ciliumOptions()).warnings());
            // Valid, so its dry-run annotation (if any) is Go's ParseBool of an ALLOW or DENY, as istiod reads it.
            Map<String, String> ann = r.getMetadata().getAnnotations();
            String dryRun = ann == null ? null : ann.get(DRY_RUN_ANNOTATION);
            if ("AuthorizationPolicy".equals(r.getKind()) && dryRun != null && PARSE_BOOL_TRUE.contains(dryRun)) {
                LOG.info("{}: {}={}, not enforced (Istio evaluates dry-run policies in shadow only)", shown, DRY_RUN_ANNOTATION, dryRun);
                return new Entry("", null);
            }
            return new Entry(yaml, null);
        } catch (PolicyLoadException e) {
            reason = "invalid";
            error = withoutPosition(key, shown, e.getMessage());
            problem = "field " + (e.field().isEmpty() ? "(object)" : e.field()) + ": " + e.problem();
        } catch (RuntimeException e) {
            // A loader bug must not take the informer down with it; the object fails closed as an invalid one.
            reason = "error";
            error = e.toString();
            problem = e.toString();
        }
        rejected.incrementAndGet();
        listener.rejected(r.getApiVersion(), r.getKind(), reason);
        List<FailClosed.StandIn> standIns = FailClosed.standIns(r);
        for (FailClosed.StandIn s : standIns) {
            try {
                PolicyLoader.fromString(key, s.yaml(), engine.ciliumOptions());
                LOG.warn("rejected {}: {} (in force as {} until fixed; the other policies stay in force)", shown, problem, s.what());
                return new Entry(s.yaml(), error);
            } catch (PolicyLoadException | RuntimeException next) {
                // This reading of the scope is itself unreadable: try the wider one.
                LOG.debug("{}: stand-in ({}) does not load: {}", key, s.what(), next.toString());
            }
        }
        if (standIns.isEmpty()) {
            LOG.warn("rejected {}: {} (left out: it cannot restrict access; the other policies stay in force)", shown, problem);
        } else {
            LOG.error("rejected {}: {} (no fail-closed stand-in loads; left out)", shown, problem);
        }
        return new Entry(null, error);
    }

    private static final Logger LOADER_LOG = LoggerFactory.getLogger(PolicyLoader.LOGGER);
    /** The "no RequestAuthentication in the namespace" warnings of the set installed last (logged when they appear). */
    private java.util.Set<String> noRequestAuthn = java.util.Set.of();

    /**
     * An object's load warnings, logged as the loader logs them (its logger, notes at INFO, the rest at WARN), but the
     * one saying no RequestAuthentication is loaded in the policy's namespace: checked alone, no object has one beside
     * it; {@link #flush} reports it from the whole cluster's set. The loader names a file position ({@code key:LINE:});
     * the object is one line of JSON here ({@link #yamlOf}), so the position says nothing and is left out, and the
     * object's name (which the loader's text mostly repeats as {@code Kind namespace/name:}) and the field path point
     * at what to fix: until 7 December every warning began {@code Kind/namespace/name:1: Kind namespace/name:}.
     */
    private static void logWarnings(String key, String shown, List<String> warnings) {
        for (String w : warnings) {
            if (PolicyLoader.isNoRequestAuthentication(w)) {
                continue;
            }
            w = withoutPosition(key, shown, w);
            if (PolicyLoader.isNote(w)) {
                LOADER_LOG.info(w);
            } else {
                LOADER_LOG.warn(w);
            }
        }
    }

    /** The loader's {@code key:1: } position taken off {@code text} (see {@link #logWarnings}), the object named once. */
    private static String withoutPosition(String key, String shown, String text) {
        String lineOne = key + ":1: ";
        if (!text.startsWith(lineOne)) {
            return text;
        }
        String rest = text.substring(lineOne.length());
        return rest.startsWith(shown + ":") ? rest : shown + ": " + rest;
    }

    /** Go's strconv.ParseBool true values: what istiod reads as {@code istio.io/dry-run: true}. */
    private static final java.util.Set<String> PARSE_BOOL_TRUE = java.util.Set.of("1", "t", "T", "TRUE", "true", "True");

    /**
     * The object as a policy file would hold it: apiVersion, kind, metadata.name/namespace, for Istio kinds the
     * annotations istiod validates ({@code istio.io/dry-run}, {@code internal.istio.io/*}: the loader checks them as
     * istiod's validateMetadata and checkDryRunAnnotation do), spec (and Cilium's specs). Server-owned fields
     * (status, managedFields, uid) and other annotations are dropped. Written as JSON (which the loader reads as YAML):
     * every key quoted, since the loader reads a plain key as kubectl does (go-yaml v2 then sigs.k8s.io/yaml
     * convertToJSONableMapKey: {@code on:} is the key "true"), and Jackson's YAML writer leaves keys such as {@code on},
     * {@code 01} or {@code ~} plain (it quotes by YAML 1.2's rules): a label key "on" the cluster holds read back as "true".
     */
    static String yamlOf(GenericKubernetesResource r) {
        Map<String, Object> doc = header(r);
        Map<String, String> ann = r.getMetadata().getAnnotations();
        if (ann != null && r.getApiVersion() != null && r.getApiVersion().startsWith("security.istio.io/")) {
            Map<String, String> kept = new TreeMap<>();
            ann.forEach((k, v) -> {
                if (k.equals(DRY_RUN_ANNOTATION) || k.startsWith("internal.istio.io/")) {
                    kept.put(k, v);
                }
            });
            if (!kept.isEmpty()) {
                @SuppressWarnings("unchecked")
                Map<String, Object> meta = (Map<String, Object>) doc.get("metadata");
                meta.put("annotations", kept);
            }
        }
        for (String k : List.of("spec", "specs")) {
            Object v = r.getAdditionalProperties().get(k);
            if (v != null) {
                doc.put(k, v);
            }
        }
        return Serialization.asJson(doc);
    }

    /** apiVersion, kind and metadata name/namespace of the object, in a mutable map. */
    static Map<String, Object> header(GenericKubernetesResource r) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("apiVersion", r.getApiVersion());
        doc.put("kind", r.getKind());
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("name", r.getMetadata().getName());
        if (r.getMetadata().getNamespace() != null) {
            meta.put("namespace", r.getMetadata().getNamespace());
        }
        doc.put("metadata", meta);
        return doc;
    }

    /** Objects now rejected (left out or in force as their fail-closed stand-in): {@code Kind/namespace/name} → the loader's message. */
    public synchronized Map<String, String> rejectedObjects() {
        Map<String, String> out = new TreeMap<>();
        objects.forEach((k, versions) -> {
            Entry e = preferred(versions);
            if (e.error != null) {
                out.put(k, e.error);
            }
        });
        return out;
    }

    /** Invalid objects seen since start (each rejected version of each object counts once per change). */
    public long rejectedTotal() {
        return rejected.get();
    }

    /** The newest API version wins (security.istio.io v1 over v1beta1). */
    private static Entry preferred(Map<String, Entry> versions) {
        Entry v1 = versions.get("security.istio.io/v1");
        return v1 != null ? v1 : versions.values().iterator().next();
    }

    /** Installs the valid objects' combined set when it changed; true when it did. */
    public boolean flush() {
        StringBuilder all = new StringBuilder();
        int count = 0;
        synchronized (this) {
            // Where two PeerAuthentications conflict, the one loaded first wins; istiod keeps the oldest:
            // sortConfigByCreationTime (pilot/pkg/model/config.go) orders by creation time, then name, then
            // namespace. RFC 3339 times in UTC, as the API server writes them, sort as text. RequestAuthentications
            // too: istiod reads them in that order (pilot/pkg/model/authentication.go initAuthenticationPolicies), which
            // orders the rules of one issuer (PolicyEngine.jwtRules).
            List<String> peerAuthns = new ArrayList<>();
            for (Map.Entry<String, Map<String, Entry>> o : objects.entrySet()) {
                if (o.getKey().startsWith("PeerAuthentication/") || o.getKey().startsWith("RequestAuthentication/")) {
                    peerAuthns.add(o.getKey());
                    continue;
                }
                count += append(all, preferred(o.getValue()));
            }
            peerAuthns.sort(java.util.Comparator.comparing((String k) -> created.getOrDefault(k, ""))
                    .thenComparing(k -> k.substring(k.lastIndexOf('/') + 1))
                    .thenComparing(k -> k.substring(0, k.lastIndexOf('/'))));
            for (String k : peerAuthns) {
                count += append(all, preferred(objects.get(k)));
            }
        }
        String text = all.toString();
        if (text.equals(installed)) {
            return false;
        }
        PolicySet set;
        try {
            // Quietly: each object's warnings were logged under its own name when it changed (validate); the
            // combined text would repeat every one on every install anywhere in the cluster (a new-user pass).
            set = text.isEmpty() ? PolicySet.empty() : PolicyLoader.fromStringQuietly("kubernetes", text, engine.ciliumOptions());
        } catch (PolicyLoadException e) {
            // Each object passed alone; together they can only clash on a name, which the keys
            // rule out. Keep what is in force rather than open up.
            LOG.error("combined Kubernetes policy set failed to load, keeping the {} in force: {}",
                    count(engine.policies().size(), "policy", "policies"), e.getMessage());
            return false;
        }
        // Logged before the replace: its change listeners cut the connections the new set denies, and
        // their WARN lines should follow their cause (as PolicyEngine.reload's line for files).
        LOG.info("installed {} policy objects from Kubernetes ({} rejected, in force as fail-closed stand-ins or left out)",
                count, rejectedObjects().size());
        // The whole set knows every RequestAuthentication: each policy's "none in its namespace" warning, logged once
        // when it appears, without the position in the assembled text ("kubernetes:LINE: ").
        java.util.Set<String> now = new java.util.HashSet<>();
        for (String w : set.warnings()) {
            if (PolicyLoader.isNoRequestAuthentication(w)) {
                String shown = w.replaceFirst("^kubernetes:\\d+: ", "");
                now.add(shown);
                if (!noRequestAuthn.contains(shown)) {
                    LOADER_LOG.warn(shown);
                }
            }
        }
        noRequestAuthn = now;
        engine.replace(set);
        installed = text;
        return true;
    }

    private static int append(StringBuilder all, Entry e) {
        if (e.yaml == null || e.yaml.isEmpty()) {
            return 0;
        }
        all.append(e.yaml.startsWith("---") ? "" : "---\n").append(e.yaml).append('\n');
        return 1;
    }

    /** For tests: the objects' keys now known. */
    public synchronized List<String> keys() {
        return new ArrayList<>(objects.keySet());
    }

    /**
     * {@code 1 policy}, {@code 2 policies}: as mesh-hbone's LogText says counts, which this module may not use (it reads
     * no other module's internal packages).
     */
    public static String count(long n, String one, String many) {
        return n + " " + (n == 1 ? one : many);
    }
}
