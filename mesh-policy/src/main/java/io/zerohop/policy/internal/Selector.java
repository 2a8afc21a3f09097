package io.zerohop.policy.internal;

import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.WorkloadRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A Cilium endpoint selector (Kubernetes LabelSelector). Label keys lose their {@code k8s:} /
 * {@code any:} source prefix; the pseudo-labels for namespace and service account are resolved
 * from the workload (destination) or from the verified SPIFFE ID (peer).
 */
public final class Selector {

    static final String NAMESPACE_KEY = "io.kubernetes.pod.namespace";
    static final String SERVICE_ACCOUNT_KEY = "io.cilium.k8s.policy.serviceaccount";
    /**
     * The label Cilium puts on every endpoint with its cluster's name (pkg/k8s/apis/cilium.io/const.go
     * {@code PolicyLabelCluster}); an endpoint whose labels do not carry it is taken to be in
     * {@link #DEFAULT_CLUSTER}, the cluster name Cilium uses when none is configured ({@code --cluster-name}).
     */
    static final String CLUSTER_KEY = "io.cilium.k8s.policy.cluster";
    static final String DEFAULT_CLUSTER = "default";
    /**
     * Cilium gives each endpoint its namespace's labels under this prefix (cilium/cilium
     * pkg/k8s/apis/cilium.io/const.go {@code PodNamespaceMetaLabels}); mesh-kubernetes adds them to a workload's labels.
     */
    static final String NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels.";
    /**
     * The namespace's {@code kubernetes.io/metadata.name} label, which the API server sets to the namespace's name
     * and nobody can change: the peer's namespace, known from its SPIFFE ID even when its workload is not.
     */
    static final String NAMESPACE_NAME_KEY = NAMESPACE_LABELS_PREFIX + "kubernetes.io/metadata.name";
    /** Cilium's reserved identities' labels ({@code reserved:host}, {@code reserved:world}...): no pod carries one. */
    static final String RESERVED_PREFIX = "reserved:";

    static final int IN = 0;
    static final int NOT_IN = 1;
    static final int EXISTS = 2;
    static final int DOES_NOT_EXIST = 3;

    final String[] keys;
    final String[] values;
    final String[] exprKeys;
    final int[] exprOps;
    final String[][] exprValues;
    final String text;
    private final int[] keyKinds;
    private final int[] exprKinds;
    /** {@link #usesPodLabels()}, computed once. */
    private final boolean podLabels;
    /** Tests the namespace or the service account (implicitly too: a CNP's "this namespace"). */
    private final boolean identityLabels;
    /**
     * {@code matchLabels} has the key {@code reserved:all}: Cilium's EndpointSelector.Matches (pkg/policy/api/selector.go)
     * then answers true for every identity, whatever the value and the other requirements (it is how
     * {@code fromEntities: [all]} selects everything).
     */
    final boolean all;

    /**
     * A peer selector to which Cilium adds {@code k8s:io.cilium.k8s.policy.cluster=<local cluster>} (pkg/k8s/apis/cilium.io/utils
     * {@code getEndpointSelector}, {@code addClusterFilterByDefault}, under {@code policy-default-local-cluster}, on by
     * default since Cilium 1.19): it selects only peers of the destination's cluster, never world or a node (their
     * identities have no cluster label). Not for a selector that names the cluster or a {@code reserved:} label.
     */
    final boolean localCluster;

    private Selector(String[] keys, String[] values, String[] exprKeys, int[] exprOps, String[][] exprValues, String text,
                     boolean localCluster) {
        this.localCluster = localCluster;
        // Interned: label keys read by Jackson (the Kubernetes client) and Java literals are interned too, and mesh-core
        // interns its workloads' labels (Workload), so the labels map's key comparison and the value's usually end at the
        // identity check.
        for (int i = 0; i < keys.length; i++) {
            keys[i] = keys[i].intern();
            if (values[i] != null) {
                values[i] = values[i].intern();
            }
        }
        for (int i = 0; i < exprKeys.length; i++) {
            exprKeys[i] = exprKeys[i].intern();
        }
        this.keys = keys;
        this.values = values;
        this.exprKeys = exprKeys;
        this.exprOps = exprOps;
        this.exprValues = exprValues;
        this.text = text;
        this.keyKinds = ciliumKindsOf(keys);
        this.exprKinds = ciliumKindsOf(exprKeys);
        boolean pod = false;
        for (int k : keyKinds) {
            pod |= k == KIND_LABEL || k == KIND_CLUSTER;
        }
        for (int k : exprKinds) {
            pod |= k == KIND_LABEL || k == KIND_CLUSTER;
        }
        this.podLabels = pod;
        boolean id = false;
        for (int k : keyKinds) {
            id |= k == KIND_NAMESPACE || k == KIND_SERVICE_ACCOUNT;
        }
        for (int k : exprKinds) {
            id |= k == KIND_NAMESPACE || k == KIND_SERVICE_ACCOUNT;
        }
        this.identityLabels = id;
        boolean a = false;
        for (String k : keys) {
            a |= k.equals(RESERVED_ALL);
        }
        this.all = a;
    }

    static final String RESERVED_ALL = "reserved:all";

    /** Where Cilium refuses a selector, for the errors below. */
    private static final String SANITIZE = " (Cilium refuses the policy: EndpointSelector.sanitize, pkg/policy/api/selector.go,"
            + " Kubernetes' ValidateLabelSelector; no endpoint can carry such a label)";

    /**
     * Why Cilium's EndpointSelector.sanitize refuses selector key {@code key}, in its words, or null: the part after a
     * source prefix ({@code k8s:}, {@code any:}; alphanumeric) must be a Kubernetes label key (cilium/cilium
     * pkg/k8s/slim/k8s/apis/labels validation IsValidCiliumLabelKey, apimachinery's IsQualifiedName). What follows an
     * '=' is left out, as Cilium's GetExtendedKeyFrom drops it before that check in the versions that rewrite keys.
     */
    static String keyProblem(String key) {
        String k = key.startsWith("$") ? key.substring(1) : key;
        if (k.indexOf('=') >= 0) {
            k = k.substring(0, k.indexOf('='));
        }
        String[] parts = k.split(":", -1);
        if (parts.length > 2) {
            return "a valid label key only support ':' character as a source separator with non empty value";
        }
        if (parts.length == 2 && !parts[0].matches("[A-Za-z0-9]+")) {
            return "label source should be a non empty string with only alphanumeric characters";
        }
        return Fields.labelKeyProblem(parts[parts.length - 1]);
    }

    /** Cilium's error for a selector key that is no label key, naming the form it checked. */
    private static String invalidKey(String field, String key, String problem) {
        return "invalid label selector: " + field + ": Invalid value: \"" + key + "\": " + problem + SANITIZE;
    }

    /**
     * A selector key as Cilium keys it (pkg/policy/api/selector.go EndpointSelector.UnmarshalJSON, which rewrites every
     * matchLabels and matchExpressions key with pkg/labels GetExtendedKeyFrom): a leading {@code $} is the reserved source
     * ({@code $world} is {@code reserved:world}, ParseSource), and an {@code =} after the source ends the key
     * ({@code app=x} is {@code app}; labels_test.go TestGetExtendedKeyFrom: "key1=value1" is any.key1, "$world=value1"
     * reserved.world). Then the {@code k8s:} and {@code any:} sources, which every label zerohop knows matches, are dropped.
     * Until 5 December both forms were kept as written, a key no endpoint has: an ingressDeny on {@code $world} or
     * {@code app=x} denied nobody, and an endpointSelector on {@code app=x} left its endpoints open (helper 260).
     */
    public static String normalizeKey(String key) {
        String k = key.startsWith("$") ? RESERVED_PREFIX + key.substring(1) : key;
        int eq = k.indexOf('=', k.indexOf(':') + 1);
        if (eq >= 0) {
            k = k.substring(0, eq);
        }
        if (k.startsWith("k8s:")) {
            return k.substring(4);
        }
        if (k.startsWith("any:")) {
            return k.substring(4);
        }
        return k;
    }

    /**
     * Compiles an {@code endpointSelector}; {@code implicitNamespace} (non-null) is added unless the selector
     * names a namespace.
     */
    static Selector compile(YNode n, String implicitNamespace) throws PolicyLoadException {
        return compile(n, implicitNamespace, false);
    }

    /**
     * Compiles a peer selector ({@code fromEndpoints}, {@code toEndpoints}, {@code fromRequires}); as Cilium's
     * {@code getEndpointSelector} (pkg/k8s/apis/cilium.io/utils/utils.go), {@code implicitNamespace} is not added
     * when the selector names a namespace or tests a namespace label ({@code io.cilium.k8s.namespace.labels.*}):
     * such a selector of a CiliumNetworkPolicy reaches other namespaces. Unless it names
     * {@code io.cilium.k8s.policy.cluster} or tests a {@code reserved:} label, the selector is {@link #localCluster}
     * (Cilium 1.19's default {@code policy-default-local-cluster}, {@code addClusterFilterByDefault}).
     */
    static Selector compilePeer(YNode n, String implicitNamespace) throws PolicyLoadException {
        return compile(n, implicitNamespace, true, true);
    }

    /**
     * As {@link #compilePeer(YNode, String)}; {@code defaultLocalCluster} false is Cilium's
     * {@code policy-default-local-cluster: false} (Cilium 1.18's default; before 1.18 always): no selector is {@link #localCluster},
     * as {@code getEndpointSelector} adds no cluster for the empty cluster name ({@code PolicyAnyCluster}).
     */
    static Selector compilePeer(YNode n, String implicitNamespace, boolean defaultLocalCluster) throws PolicyLoadException {
        return compile(n, implicitNamespace, true, defaultLocalCluster);
    }

    private static Selector compile(YNode n, String implicitNamespace, boolean peer) throws PolicyLoadException {
        return compile(n, implicitNamespace, peer, true);
    }

    private static Selector compile(YNode n, String implicitNamespace, boolean peer, boolean defaultLocalCluster)
            throws PolicyLoadException {
        Map<String, String> labels = new TreeMap<>();
        List<String> ek = new ArrayList<>();
        List<Integer> eo = new ArrayList<>();
        List<String[]> ev = new ArrayList<>();
        List<String> text = new ArrayList<>();
        if (n != null) {
            n.onlyKeys(Set.of("matchLabels", "matchExpressions"));
            Map<String, String> written = Fields.stringMap(n.get("matchLabels"));
            Fields.labelValues(n.get("matchLabels"), written, true);
            for (String k : written.keySet()) {
                String problem = keyProblem(k);
                if (problem != null) {
                    throw Fields.keyError(n.get("matchLabels"), k, invalidKey("matchLabels", k, problem));
                }
            }
            for (Map.Entry<String, String> e : written.entrySet()) {
                String key = normalizeKey(e.getKey());
                // Cilium keeps a label's source in its key (pkg/policy/api/selector.go UnmarshalJSON, GetExtendedKeyFrom):
                // `app` is any.app, `k8s:app` is k8s.app, two requirements that must both hold. Every label zerohop
                // knows is a Kubernetes one, which any.* matches too, so they test one label: a second value on it is
                // kept as a requirement beside the first, not written over it (a review pass found `app: nobody` and
                // `k8s:app: frontend` selecting frontend).
                // ParseToCiliumRule (pkg/k8s/apis/cilium.io/utils/utils.go) replaces only k8s.io.kubernetes.pod.namespace
                // in a CiliumNetworkPolicy's endpointSelector; an any.* namespace match stays, as a requirement.
                boolean kept = !peer && implicitNamespace != null && key.equals(NAMESPACE_KEY) && !e.getKey().startsWith("k8s:");
                String first = kept ? null : labels.putIfAbsent(key, e.getValue());
                if (kept || (first != null && !first.equals(e.getValue()))) {
                    ek.add(key);
                    eo.add(IN);
                    ev.add(new String[] {e.getValue()});
                    text.add(key + "=" + e.getValue());
                }
            }
            YNode exprs = n.get("matchExpressions");
            if (exprs != null) {
                for (YNode x : exprs.items()) {
                    x.onlyKeys(Set.of("key", "operator", "values"));
                    String key = x.get("key") == null ? "" : x.get("key").string(); // a string, as LabelSelectorRequirement declares it
                    if (key.isEmpty()) {
                        throw x.error("matchExpressions entry needs a key");
                    }
                    YNode opNode = x.get("operator");
                    String opText = opNode == null ? "" : opNode.text();
                    int op = switch (opText) {
                        case "In" -> IN;
                        case "NotIn" -> NOT_IN;
                        case "Exists" -> EXISTS;
                        case "DoesNotExist" -> DOES_NOT_EXIST;
                        default -> throw (opNode == null ? x : opNode).error(
                                "unknown operator \"" + opText + "\" (In, NotIn, Exists, DoesNotExist)");
                    };
                    String problem = keyProblem(key);
                    if (problem != null) {
                        throw x.get("key").error(invalidKey("matchExpressions[" + ek.size() + "].key", key, problem));
                    }
                    List<String> vals = Fields.strings(x, "values");
                    for (int i = 0; i < vals.size(); i++) {
                        String bad = Fields.labelValueProblem(vals.get(i));
                        if (bad != null) {
                            // AllowInvalidLabelValueInSelector false: In/NotIn values are label values.
                            throw x.get("values").list.get(i).error("invalid label selector: matchExpressions[" + ek.size()
                                    + "].values[" + i + "]: Invalid value: \"" + vals.get(i) + "\": " + bad + SANITIZE);
                        }
                    }
                    if ((op == IN || op == NOT_IN) && vals.isEmpty()) {
                        throw x.error("operator " + opText + " needs values");
                    }
                    if ((op == EXISTS || op == DOES_NOT_EXIST) && !vals.isEmpty()) {
                        throw x.error("operator " + opText + " takes no values");
                    }
                    ek.add(normalizeKey(key));
                    eo.add(op);
                    ev.add(vals.toArray(new String[0]));
                    text.add(normalizeKey(key) + " " + opText + (vals.isEmpty() ? "" : " " + vals));
                }
            }
        }
        boolean namespaceLabels = false;
        boolean reservedKey = false;
        for (String k : labels.keySet()) {
            reservedKey |= k.startsWith(RESERVED_PREFIX);
        }
        for (String k : ek) {
            reservedKey |= k.startsWith(RESERVED_PREFIX);
        }
        if (peer) {
            for (String k : labels.keySet()) {
                namespaceLabels |= k.startsWith(NAMESPACE_LABELS_PREFIX);
            }
            for (String k : ek) {
                namespaceLabels |= k.startsWith(NAMESPACE_LABELS_PREFIX);
            }
        }
        boolean namesNamespace = labels.containsKey(NAMESPACE_KEY) || ek.contains(NAMESPACE_KEY);
        // getEndpointSelector then adds the local cluster (policy-default-local-cluster, Cilium's default since 1.19)
        // unless the selector names io.cilium.k8s.policy.cluster (k8s: or any: source), after the reserved: early return.
        boolean localCluster = peer && defaultLocalCluster && !reservedKey && !labels.containsKey(CLUSTER_KEY) && !ek.contains(CLUSTER_KEY);
        if (!peer && implicitNamespace != null) {
            // ParseToCiliumRule: a CNP's endpointSelector always selects in the policy's namespace; a namespace the
            // user wrote is replaced (utils_test.go "parse-in-namespace-with-ns-selector").
            labels.put(NAMESPACE_KEY, implicitNamespace);
        } else if (peer && !namesNamespace && !reservedKey) {
            // (getEndpointSelector returns a selector on a reserved: label unchanged: no namespace, no Exists.)
            if (implicitNamespace == null) {
                // getEndpointSelector, clusterwide: only endpoints with a namespace, i.e. Kubernetes pods
                // ("wildcard-to-from-endpoints-with-ccnp").
                ek.add(NAMESPACE_KEY);
                eo.add(EXISTS);
                ev.add(new String[0]);
            } else if (!namespaceLabels) {
                labels.put(NAMESPACE_KEY, implicitNamespace);
            }
        }
        List<String> all = new ArrayList<>();
        for (Map.Entry<String, String> e : labels.entrySet()) {
            if (!e.getKey().equals(NAMESPACE_KEY) || implicitNamespace == null || !e.getValue().equals(implicitNamespace)) {
                all.add(e.getKey() + "=" + e.getValue());
            }
        }
        all.addAll(text);
        int[] ops = new int[eo.size()];
        for (int i = 0; i < ops.length; i++) {
            ops[i] = eo.get(i);
        }
        return new Selector(labels.keySet().toArray(new String[0]), labels.values().toArray(new String[0]),
                ek.toArray(new String[0]), ops, ev.toArray(new String[0][]), all.isEmpty() ? "{}" : String.join(",", all), localCluster);
    }

    /**
     * Whether this selector is Cilium's kube-apiserver identity alone: {@code reserved:kube-apiserver} required, in
     * {@code matchLabels} or by a {@code matchExpressions} {@code Exists} (or {@code In} with the empty value), and
     * otherwise only {@code reserved:remote-node} or {@code reserved:host} so required: what a node that runs the API
     * server carries (cilium/cilium#17714), so an {@code ingressDeny} with it is read as
     * {@code fromEntities: [kube-apiserver]} is (CiliumCompiler).
     */
    boolean isKubeApiServerIdentity() {
        boolean apiServer = false;
        for (int i = 0; i < keys.length; i++) {
            if (!nodeIdentityKey(keys[i]) || !values[i].isEmpty()) {
                return false;
            }
            apiServer |= keys[i].equals("reserved:kube-apiserver");
        }
        for (int i = 0; i < exprKeys.length; i++) {
            boolean required = exprOps[i] == EXISTS || exprOps[i] == IN && java.util.Arrays.asList(exprValues[i]).contains("");
            if (!nodeIdentityKey(exprKeys[i]) || !required) {
                return false;
            }
            apiServer |= exprKeys[i].equals("reserved:kube-apiserver");
        }
        return apiServer;
    }

    /**
     * The {@code reserved:world-ipv4} / {@code reserved:world-ipv6} label this selector requires (in {@code matchLabels},
     * or by a {@code matchExpressions} {@code Exists} or {@code In} with the empty value), or null: labels a Cilium that
     * does not run dual-stack gives no peer (pkg/labels {@code AddWorldLabel}: every peer outside the cluster is
     * {@code reserved:world}), so such a selector selects nobody there. Null for a selector with {@code reserved:all},
     * which selects every peer whatever else it says.
     */
    String worldFamilyRequired() {
        if (all) {
            return null;
        }
        for (int i = 0; i < keys.length; i++) {
            if (worldFamilyKey(keys[i])) {
                return keys[i];
            }
        }
        for (int i = 0; i < exprKeys.length; i++) {
            if (worldFamilyKey(exprKeys[i]) && (exprOps[i] == EXISTS
                    || exprOps[i] == IN && java.util.Arrays.asList(exprValues[i]).contains(""))) {
                return exprKeys[i];
            }
        }
        return null;
    }

    private static boolean worldFamilyKey(String key) {
        return key.equals("reserved:world-ipv4") || key.equals("reserved:world-ipv6");
    }

    private static boolean nodeIdentityKey(String key) {
        return key.equals("reserved:kube-apiserver") || key.equals("reserved:remote-node") || key.equals("reserved:host");
    }

    /** Whether it tests a pod label, as opposed to only the namespace and service account, which a SPIFFE ID also carries. */
    boolean usesPodLabels() {
        return podLabels && !all;
    }

    static final int KIND_LABEL = 0;
    static final int KIND_NAMESPACE = 1;
    static final int KIND_SERVICE_ACCOUNT = 2;
    static final int KIND_RESERVED = 3;
    /** {@link #CLUSTER_KEY}: known for every workload (its label, else {@link #DEFAULT_CLUSTER}), unknown for a peer without one. */
    static final int KIND_CLUSTER = 4;

    /** How {@link #destLabel(WorkloadRef, String, int)} resolves {@code key}; decided once, at compile time. */
    static int kindOf(String key) {
        if (key.equals(NAMESPACE_KEY) || key.equals(NAMESPACE_NAME_KEY)) {
            return KIND_NAMESPACE;
        }
        if (key.startsWith(RESERVED_PREFIX)) {
            return KIND_RESERVED;
        }
        if (key.equals(CLUSTER_KEY)) {
            return KIND_CLUSTER;
        }
        return key.equals(SERVICE_ACCOUNT_KEY) ? KIND_SERVICE_ACCOUNT : KIND_LABEL;
    }

    /**
     * Whether the source is of the destination's cluster, as Cilium's {@code cluster} entity selects
     * ({@code io.cilium.k8s.policy.cluster=<the agent's cluster name>}, pkg/policy/api/entity.go InitEntities): by the
     * two workloads' cluster labels ({@link #clusterOf}; a destination not known is in {@link #DEFAULT_CLUSTER}). A peer
     * without a known workload (a SPIFFE identity only) has no cluster label: it is taken to be of the cluster when its
     * trust domain is one of {@code trustDomains} (the mesh's bundle, for an allow rule), or whatever it is when
     * {@code trustDomains} is null (a deny rule: fail closed). mesh-policy README, "fromEntities".
     */
    static boolean sameCluster(AccessRequest r, java.util.List<String> trustDomains) {
        WorkloadRef source = r.sourceWorkload();
        if (source == null) {
            if (trustDomains == null) {
                return true;
            }
            String p = r.sourcePrincipal();
            int end = Peer.tdEnd(p);
            for (int i = 0; i < trustDomains.size(); i++) {
                if (Peer.regionEquals(p, Peer.SCHEME, end, trustDomains.get(i))) {
                    return true;
                }
            }
            return false;
        }
        WorkloadRef dest = r.destination();
        return clusterOf(source).equals(dest == null ? DEFAULT_CLUSTER : clusterOf(dest));
    }

    /** A workload's Cilium cluster label: its own, else {@link #DEFAULT_CLUSTER}. */
    static String clusterOf(WorkloadRef w) {
        String v = w.labels().get(CLUSTER_KEY);
        return v == null ? DEFAULT_CLUSTER : v;
    }

    /**
     * A pod label Cilium leaves out of security identities ({@link #isIdentityLabel}): no endpoint's identity carries
     * it, so a selector sees it absent on every workload and peer.
     */
    static final int KIND_NOT_IDENTITY = 5;

    /** {@link #kindOf}, with pod labels Cilium's default label filter drops as {@link #KIND_NOT_IDENTITY}. */
    private static int[] ciliumKindsOf(String[] keys) {
        int[] kinds = new int[keys.length];
        for (int i = 0; i < keys.length; i++) {
            int k = kindOf(keys[i]);
            kinds[i] = k == KIND_LABEL && !isIdentityLabel(keys[i]) ? KIND_NOT_IDENTITY : k;
        }
        return kinds;
    }

    /**
     * Cilium's default label filter (pkg/labelsfilter/filter.go {@code defaultLabelPrefixCfg}): each pattern is a
     * regular expression matched at the start of the key; a key is left out of the identity when an ignore pattern
     * matches it and no include pattern matches a longer part of it.
     */
    private static final java.util.regex.Pattern[] IDENTITY_INCLUDE = patterns(
            "io\\.kubernetes\\.pod\\.namespace", "io\\.cilium\\.k8s\\.namespace\\.labels", "app\\.kubernetes\\.io",
            "io\\.cilium\\.k8s\\.policy\\.cluster");
    private static final java.util.regex.Pattern[] IDENTITY_IGNORE = patterns(
            "io\\.kubernetes", "kubernetes\\.io", "statefulset\\.kubernetes\\.io/pod-name", "apps\\.kubernetes\\.io/pod-index",
            "batch\\.kubernetes\\.io/job-completion-index", ".*beta\\.kubernetes\\.io", "k8s\\.io", "pod-template-generation",
            "pod-template-hash", "controller-revision-hash", "annotation.*", "etcd_node");

    private static java.util.regex.Pattern[] patterns(String... regexes) {
        java.util.regex.Pattern[] out = new java.util.regex.Pattern[regexes.length];
        for (int i = 0; i < regexes.length; i++) {
            out[i] = java.util.regex.Pattern.compile(regexes[i]);
        }
        return out;
    }

    /** Length of the longest (include) or shortest (ignore) match at the start of {@code key}, 0 for none. */
    private static int matchedLength(java.util.regex.Pattern[] patterns, String key, boolean longest) {
        int best = 0;
        for (java.util.regex.Pattern p : patterns) {
            java.util.regex.Matcher m = p.matcher(key);
            // Go's FindStringIndex: the leftmost match, which counts only when it starts the key.
            if (m.find() && m.start() == 0 && m.end() > 0 && (best == 0 || (longest ? m.end() > best : m.end() < best))) {
                best = m.end();
            }
        }
        return best;
    }

    /**
     * Whether Cilium puts the pod label {@code key} into security identities under its default label filter:
     * {@code pod-template-hash}, {@code controller-revision-hash}, {@code statefulset.kubernetes.io/pod-name},
     * {@code kubernetes.io/*}, {@code *beta.kubernetes.io*}... are not, so Cilium's selectors never see them.
     */
    static boolean isIdentityLabel(String key) {
        int ignored = matchedLength(IDENTITY_IGNORE, key, false);
        return ignored == 0 || matchedLength(IDENTITY_INCLUDE, key, true) > ignored;
    }

    /** The keys this selector tests that Cilium leaves out of identities (for the load warning). */
    List<String> nonIdentityKeys() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < keys.length; i++) {
            if (keyKinds[i] == KIND_NOT_IDENTITY) {
                out.add(keys[i]);
            }
        }
        for (int i = 0; i < exprKeys.length; i++) {
            if (exprKinds[i] == KIND_NOT_IDENTITY && !out.contains(exprKeys[i])) {
                out.add(exprKeys[i]);
            }
        }
        return out;
    }

    static String destLabel(WorkloadRef w, String key) {
        return destLabel(w, key, kindOf(key));
    }

    /** {@code kind}: {@link #kindOf}({@code key}). */
    static String destLabel(WorkloadRef w, String key, int kind) {
        if (kind == KIND_NAMESPACE) {
            return w.namespace();
        }
        if (kind == KIND_SERVICE_ACCOUNT) {
            return w.serviceAccount().isEmpty() ? null : w.serviceAccount();
        }
        if (kind == KIND_CLUSTER) {
            return clusterOf(w);
        }
        if (kind == KIND_NOT_IDENTITY) {
            return null;
        }
        return w.labels().get(key);
    }

    boolean matchesDestination(WorkloadRef w) {
        if (all) {
            return true;
        }
        for (int i = 0; i < keys.length; i++) {
            if (!values[i].equals(destLabel(w, keys[i], keyKinds[i]))) {
                return false;
            }
        }
        for (int i = 0; i < exprKeys.length; i++) {
            String v = destLabel(w, exprKeys[i], exprKinds[i]);
            if (!expr(exprOps[i], exprValues[i], v != null, v)) {
                return false;
            }
        }
        return true;
    }

    private static boolean expr(int op, String[] vals, boolean present, String v) {
        switch (op) {
            case EXISTS:
                return present;
            case DOES_NOT_EXIST:
                return !present;
            case IN:
                return present && contains(vals, v);
            default:
                return !present || !contains(vals, v);
        }
    }

    private static boolean contains(String[] vals, String v) {
        for (String s : vals) {
            if (s.equals(v)) {
                return true;
            }
        }
        return false;
    }

    /** Peer side: only a known cluster endpoint has labels at all. */
    boolean matchesPeer(AccessRequest r) {
        return matchesPeer(r, Peer.UNKNOWN);
    }

    /** {@code parts}: {@link Peer#parts} of the principal, or {@link Peer#UNKNOWN}. */
    boolean matchesPeer(AccessRequest r, long parts) {
        return matchesPeer(r, parts, false);
    }

    /**
     * For a {@link #localCluster} selector and a cluster endpoint: whether it would select {@code r}'s source were the
     * source of the destination's cluster, i.e. whether the implicit local cluster is what left it out (the default
     * deny's explanation, a denial path).
     */
    boolean selectsButForCluster(AccessRequest r) {
        return localCluster && Peer.isClusterEndpoint(r) && matchesPeer(r, Peer.UNKNOWN, true);
    }

    private boolean matchesPeer(AccessRequest r, long parts, boolean anyCluster) {
        if (all) {
            return true;
        }
        if (!Peer.isClusterEndpoint(r)) {
            // Outside the cluster a peer has no pod labels and no namespace, only a reserved world identity's labels, and
            // is matched against those as Cilium matches every identity: a NotIn or DoesNotExist on a key it lacks selects
            // it (pkg/k8s/slim/k8s/apis/labels/selector.go Requirement.Matches), so a selector on the namespace written
            // with NotIn, to which getEndpointSelector adds no namespace of its own, selects world (a Cilium pass found
            // zerohop's ingressDeny of that form let world through until 4 December).
            // The implicit local cluster is a label such a peer lacks (policy-default-local-cluster).
            return !localCluster && matches(r, parts, false);
        }
        // Of another cluster (its workload's cluster label): the implicit local cluster does not select it. A peer
        // known by its SPIFFE ID only has no known cluster: CiliumPolicy.Rule#matchesPeer decides by its trust domain.
        if (localCluster && !anyCluster && r.sourceWorkload() != null && !sameCluster(r, null)) {
            return false;
        }
        // A peer known by its SPIFFE ID only: its labels are unknown, not absent, so no selector on them
        // matches it (else NotIn / DoesNotExist would admit it whatever its labels are). See mayMatchPeer.
        if (podLabels && r.sourceWorkload() == null) {
            return false;
        }
        // Likewise the namespace and service account of a SPIFFE ID with no single reading of them (Peer.irregular).
        if (identityLabels && Peer.identityUnknown(r)) {
            return false;
        }
        return matches(r, parts, false);
    }

    /** Whether it tests the namespace or service account, which a peer with an irregular SPIFFE ID leaves unknown. */
    boolean usesIdentityLabels() {
        return identityLabels && !all;
    }

    /**
     * For a deny rule and a peer known by its SPIFFE ID only ({@code sourceWorkload} null): whether the peer
     * could be selected, the pod labels it might carry taken as satisfied and the namespace and service
     * account (from the SPIFFE ID) checked. Cilium always knows a peer's labels; zerohop fails closed.
     */
    boolean mayMatchPeer(AccessRequest r, long parts) {
        return all || Peer.isClusterEndpoint(r) && matches(r, parts, true);
    }

    private boolean matches(AccessRequest r, long parts, boolean skipPodLabels) {
        boolean skipIdentity = skipPodLabels && Peer.identityUnknown(r);
        for (int i = 0; i < keys.length; i++) {
            if (skipPodLabels && (keyKinds[i] == KIND_LABEL || keyKinds[i] == KIND_CLUSTER)) {
                continue;
            }
            if (skipIdentity && (keyKinds[i] == KIND_NAMESPACE || keyKinds[i] == KIND_SERVICE_ACCOUNT)) {
                continue;
            }
            if (!peerIs(r, keys[i], keyKinds[i], values[i], parts)) {
                return false;
            }
        }
        for (int i = 0; i < exprKeys.length; i++) {
            String key = exprKeys[i];
            int kind = exprKinds[i];
            if (skipPodLabels && (kind == KIND_LABEL || kind == KIND_CLUSTER)) {
                continue;
            }
            if (skipIdentity && (kind == KIND_NAMESPACE || kind == KIND_SERVICE_ACCOUNT)) {
                continue;
            }
            int op = exprOps[i];
            boolean present = peerHas(r, key, kind);
            boolean in = false;
            if (present && (op == IN || op == NOT_IN)) {
                for (String v : exprValues[i]) {
                    if (peerIs(r, key, kind, v, parts)) {
                        in = true;
                        break;
                    }
                }
            }
            boolean ok = switch (op) {
                case EXISTS -> present;
                case DOES_NOT_EXIST -> !present;
                case IN -> in;
                default -> !in;
            };
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /**
     * The value of a {@code reserved:} label of the peer, or null when it has none: a peer that is no cluster
     * endpoint is {@code world} (and {@code world-ipv4} or {@code world-ipv6} by its address), or {@code host} /
     * {@code remote-node} when {@link AccessRequest#sourceNode} says its address is a node's; the other reserved
     * identities (health, init, kube-apiserver, ingress, unmanaged) never reach a tunnel.
     */
    private static String reservedValue(AccessRequest r, String key) {
        if (Peer.isClusterEndpoint(r)) {
            return null;
        }
        if (r.sourceNode() != null) {
            // A node's address is reserved:host (the enforcing node's) or reserved:remote-node, never world.
            return switch (key) {
                case "reserved:host" -> r.sourceNode() == AccessRequest.SourceNode.HOST ? "" : null;
                case "reserved:remote-node" -> r.sourceNode() == AccessRequest.SourceNode.REMOTE_NODE ? "" : null;
                default -> null;
            };
        }
        return switch (key) {
            case "reserved:world" -> "";
            case "reserved:world-ipv4" -> r.sourceAddress() instanceof java.net.Inet4Address ? "" : null;
            case "reserved:world-ipv6" -> r.sourceAddress() instanceof java.net.Inet6Address ? "" : null;
            default -> null;
        };
    }

    private static boolean peerIs(AccessRequest r, String key, int kind, String v, long parts) {
        if (kind == KIND_RESERVED) {
            return v.equals(reservedValue(r, key));
        }
        if (kind == KIND_NAMESPACE) {
            return Peer.namespaceIs(r, v, parts);
        }
        if (kind == KIND_SERVICE_ACCOUNT) {
            return Peer.serviceAccountIs(r, v);
        }
        WorkloadRef w = r.sourceWorkload();
        if (kind == KIND_CLUSTER) {
            return w != null && v.equals(clusterOf(w));
        }
        if (kind == KIND_NOT_IDENTITY) {
            return false;
        }
        return w != null && v.equals(w.labels().get(key));
    }

    private static boolean peerHas(AccessRequest r, String key, int kind) {
        if (kind == KIND_RESERVED) {
            return reservedValue(r, key) != null;
        }
        if (kind == KIND_NAMESPACE) {
            return Peer.hasNamespace(r);
        }
        if (kind == KIND_SERVICE_ACCOUNT) {
            return Peer.hasServiceAccount(r);
        }
        WorkloadRef w = r.sourceWorkload();
        if (kind == KIND_CLUSTER) {
            return w != null;
        }
        if (kind == KIND_NOT_IDENTITY) {
            return false;
        }
        return w != null && w.labels().containsKey(key);
    }

    @Override
    public String toString() {
        return text;
    }
}
