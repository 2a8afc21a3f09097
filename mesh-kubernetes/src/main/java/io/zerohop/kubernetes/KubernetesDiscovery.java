package io.zerohop.kubernetes;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.kubernetes.internal.Debouncer;
import io.zerohop.kubernetes.internal.Informers;
import io.zerohop.kubernetes.internal.PeerLookup;
import io.zerohop.kubernetes.internal.PodConversion;
import io.zerohop.kubernetes.internal.PolicyState;
import io.zerohop.kubernetes.internal.SourceAddressCheck;
import io.zerohop.kubernetes.internal.WorkloadState;
import io.zerohop.policy.PolicyEngine;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Workloads and policies from the Kubernetes API server, fed into a {@link WorkloadRegistry} and a
 * {@link PolicyEngine} by fabric8 informers (list, then watch; re-list on {@code 410 Gone}; watches
 * re-established with back-off after a drop; periodic resync).
 *
 * <ul>
 *   <li>Pods become {@link Workload}s (addresses from {@code status.podIPs}, dual stack; service
 *       account; labels; node; HBONE or TCP as istiod and istio-cni decide, see
 *       {@link PodConversion#inMesh}); Services give each pod's per-port {@link io.zerohop.core.AppProtocol};
 *       Namespaces give {@code istio.io/dataplane-mode}.</li>
 *   <li>{@code networking.istio.io} v1 and v1beta1 {@code ServiceEntry} and {@code WorkloadEntry}, as istiod's
 *       ambient index builds them: each ServiceEntry host a registry {@link io.zerohop.core.Service} whose endpoints are
 *       the pods and WorkloadEntries it selects and its inline IP endpoints; each WorkloadEntry a {@link Workload}.
 *       What zerohop cannot do (hostname endpoints, CIDR addresses, another network) is left out with
 *       one WARN (module README, "ServiceEntry and WorkloadEntry").</li>
 *   <li>{@code gateway.networking.k8s.io/v1} {@code Gateway}s with {@code status.addresses} (and their
 *       {@code GatewayClass}) are waypoints; the {@code istio.io/use-waypoint} labels of pods, Services,
 *       ServiceEntries, WorkloadEntries and namespaces set {@link Workload#waypoint()} and
 *       {@link io.zerohop.core.Service#waypoint()} as istiod's ambient index does (module README, "Waypoints").</li>
 *   <li>{@code security.istio.io} v1 and v1beta1 {@code AuthorizationPolicy},
 *       {@code PeerAuthentication} and {@code RequestAuthentication} (whose JWT rules
 *       {@link PolicyEngine#jwtRules} answers; a rejected one has no stand-in), {@code cilium.io/v2} {@code CiliumNetworkPolicy} and
 *       {@code CiliumClusterwideNetworkPolicy} are read as generic resources, each validated alone
 *       by {@link io.zerohop.policy.PolicyLoader}; an invalid (or unenforceable) object is logged
 *       naming kind, namespace, name and field ({@link #rejectedPolicies()}) and fails closed: a
 *       stand-in under its name denies what it could have restricted (its ALLOW rules allow nothing,
 *       its DENY rules deny everything, a PeerAuthentication is STRICT, for its selector, else its
 *       namespace); everything is installed with one {@link PolicyEngine#replace}. A kind whose CRD is not installed counts as empty and is
 *       picked up once it is.</li>
 *   <li>Bursts of events are coalesced ({@link Builder#debounce}); nothing is installed before the
 *       first full sync of every informer ({@link #synced()}), so a half-listed policy set never
 *       decides anything.</li>
 * </ul>
 *
 * <p>Two shapes: {@link #forNode} (the node proxy: every namespace; inbound serves only pods of its
 * node, all pods stay known for outbound) and {@link #forPod} (embedded in an application pod:
 * its own namespace, the root namespace's policies and cluster-wide Cilium policies; peers in other
 * namespaces looked up by address on demand through a bounded cache, {@link #lookup}).
 *
 * <p>Thread-safe. Close it to stop the informers; the client stays open (it is the caller's).
 */
public final class KubernetesDiscovery implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KubernetesDiscovery.class);

    private final KubernetesClient client;
    private final WorkloadRegistry registry;
    private final PolicyEngine engine;
    private final String node;
    private final String namespace;
    private final String podName;
    private final String rootNamespace;
    private final WorkloadState workloads;
    private final PolicyState policies;
    private final ScheduledThreadPoolExecutor executor;
    private final Debouncer debouncer;
    /**
     * How long a change of a pod of this node waits at most before it is applied, however busy the cluster (the other
     * changes wait up to the debounce cap, 10 s by default): the node proxy's capture set follows the registry.
     */
    static final java.time.Duration URGENT_MAX = java.time.Duration.ofMillis(500);
    private final Informers informers;
    private final PeerLookup peers;
    /** A node proxy's check that it dials other nodes' pods from an address its pods report (null embedded). */
    private final SourceAddressCheck sourceCheck;
    private final CompletableFuture<Void> synced = new CompletableFuture<>();
    private final List<Runnable> installListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean initialSyncDone;
    private volatile boolean closed;

    private KubernetesDiscovery(Builder b) {
        this.client = b.client;
        this.registry = b.registry != null ? b.registry : WorkloadRegistry.empty();
        this.rootNamespace = b.rootNamespace != null ? b.rootNamespace
                : b.engine != null ? b.engine.rootNamespace() : "istio-system";
        this.engine = b.engine != null ? b.engine : PolicyEngine.builder().rootNamespace(rootNamespace).build();
        this.node = b.node;
        this.namespace = b.namespace;
        this.podName = b.podName;
        this.workloads = new WorkloadState(registry, b.trustDomain, b.clusterDomain, b.nodeAddresses);
        workloads.serviceEntryVisibility(b.serviceEntryVisibility);
        this.policies = b.meterRegistry == null ? new PolicyState(engine)
                : new PolicyState(engine, io.zerohop.kubernetes.internal.RejectedObjectsMeter.of(b.meterRegistry));
        this.executor = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "zerohop-kubernetes");
            t.setDaemon(true);
            return t;
        });
        this.executor.setRemoveOnCancelPolicy(true);
        this.debouncer = new Debouncer(executor, b.debounce, b.debounceMax, URGENT_MAX, this::install);
        String local = node;
        // A node proxy's own pods are applied within URGENT_MAX even while the cluster keeps changing (Debouncer), and so is
        // a Namespace, whose istio.io/dataplane-mode label enrols or releases its pods (this node's among them), as
        // istio-cni reconciles a namespace's pods at its event (cni/pkg/nodeagent/informers.go); until 5 December a
        // namespace's label waited up to the 10 s cap on a busy cluster (an operator pass: 6.7-8.1 s). Namespaces change
        // seldom, so this costs nothing.
        this.informers = new Informers(client, b.resync.toMillis(), workloads, policies, debouncer::trigger,
                o -> local != null && (o instanceof io.fabric8.kubernetes.api.model.Namespace
                        || o instanceof io.fabric8.kubernetes.api.model.Pod pod && pod.getSpec() != null
                        && local.equals(pod.getSpec().getNodeName())), debouncer::triggerUrgent);
        this.sourceCheck = node == null || !b.nodeAddresses ? null : new SourceAddressCheck(node);
        this.peers = namespace == null ? null
                : new PeerLookup(client, workloads, b.peerCacheSize, b.peerCacheTtl, debouncer::trigger);
    }

    /**
     * The node proxy's view: pods, Services and policies of every namespace. {@link #applyTo} sets
     * the mesh's node, so inbound serves only {@code nodeName}'s pods while the others stay in the
     * registry for outbound routing.
     *
     * @param nodeName this node's name ({@code spec.nodeName} of the pods it serves), required
     */
    public static Builder forNode(KubernetesClient client, String nodeName) {
        if (nodeName == null || nodeName.isBlank()) {
            throw new IllegalArgumentException("node name is required (--node, or NODE_NAME from the downward API)");
        }
        Builder b = new Builder(client);
        b.node = nodeName;
        return b;
    }

    /**
     * For a client built only for {@link #forNode} ({@code KubernetesClientBuilder.withKubernetesSerialization}):
     * fabric8's serialization with the fields the informers' strip drops (module README, "Memory") skipped
     * while parsing instead of parsed and dropped: managedFields of every kind, a pod's spec beyond its
     * containers' ports and the few fields kept, its container statuses; and a kind mapping of Pod,
     * Service, Namespace and Status only (fabric8's default loads every kind it knows). The objects the
     * informers keep are the same; fewer model classes load (their metadata stays resident) and each
     * pod makes less garbage. Not for a client that reads or writes whole Pods, Containers or PodSpecs (a Deployment's
     * template) elsewhere: it would see them without those fields.
     */
    public static io.fabric8.kubernetes.client.utils.KubernetesSerialization nodeProxySerialization() {
        return io.zerohop.kubernetes.internal.StrippedParsing.create();
    }

    /**
     * An application pod's view: pods and Services of {@code namespace}, Istio policies of
     * {@code namespace} and the root namespace, Cilium policies of {@code namespace} and cluster-wide
     * ones, all namespaces' labels, all Gateways, and other namespaces' waypoint Services and pods (by label, so a
     * waypoint elsewhere is reached). Other peers elsewhere are fetched by address on demand ({@link #lookup}).
     *
     * @param namespace the pod's namespace (downward API {@code metadata.namespace}), required
     * @param podName   the pod's name (downward API {@code metadata.name}), required; see {@link #self()}
     */
    public static Builder forPod(KubernetesClient client, String namespace, String podName) {
        if (namespace == null || namespace.isBlank() || podName == null || podName.isBlank()) {
            throw new IllegalArgumentException("namespace and pod name are required (downward API metadata.namespace, metadata.name)");
        }
        Builder b = new Builder(client);
        b.namespace = namespace;
        b.podName = podName;
        return b;
    }

    /** Starts every informer; returns at once. See {@link #synced()}. */
    public KubernetesDiscovery start() {
        informers.start(namespace, rootNamespace).whenCompleteAsync((x, e) -> {
            if (e != null) {
                synced.completeExceptionally(e);
                return;
            }
            initialSyncDone = true;
            install();
            synced.complete(null);
            executor.scheduleWithFixedDelay(this::checkWatches, WATCH_CHECK_SECONDS, WATCH_CHECK_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
            notifyInstalled();
            LOG.info("Kubernetes sync complete: {}, {} ({} rejected)",
                    PolicyState.count(registry.all().size(), "workload", "workloads"),
                    PolicyState.count(engine.policies().size(), "policy", "policies"),
                    PolicyState.count(policies.rejectedObjects().size(), "object", "objects"));
        }, executor);
        return this;
    }

    /**
     * Completes once every informer has listed its kind and the result is installed in the
     * registry and the policy engine; until then nothing is installed. A node proxy reports ready
     * ({@code /healthz/ready} on 15021) only after this, as ztunnel waits for its first full xDS
     * push. Never completes while the API server refuses a list (RBAC, network): it keeps retrying.
     */
    public CompletableFuture<Void> synced() {
        return synced.copy();
    }

    public WorkloadRegistry registry() {
        return registry;
    }

    public PolicyEngine policyEngine() {
        return engine;
    }

    /**
     * Whether every informer has a watch open right now. False while the API server is out of
     * reach; the informers keep retrying (re-listing when the server answers {@code 410 Gone}).
     */
    public boolean watching() {
        return informers.watching();
    }

    /** How often, after the first sync, the informers' watches are looked at ({@link #checkWatches}). */
    static final long WATCH_CHECK_SECONDS = 5;
    /** Checks in a row without every watch open; a WARN at the second (a normal re-watch takes less). */
    private int watchMisses;

    /**
     * After the first sync, one WARN line when the API server's watches are lost (two checks in a row,
     * so a watch the server ends and the informer reopens at once says nothing) and one INFO line when
     * they are all open again. fabric8 reports a lost watch only through its own loggers (a stack trace
     * per informer and retry; `zerohop proxy` sets them to ERROR): a new-user pass that stopped the API
     * server after the sync read 800 lines of them and none of its own (mesh-kubernetes README, "An API server out of reach"). What was
     * installed stays in force meanwhile, as ztunnel keeps its last xDS state. Runs on the executor.
     */
    private void checkWatches() {
        if (informers.watching()) {
            if (watchMisses >= 2) {
                LOG.info("Kubernetes API server {}: every watch is open again", client.getMasterUrl());
            }
            watchMisses = 0;
        } else if (++watchMisses == 2) {
            // The kinds, so that an operator can tell a lost connection (every kind) from one kind refused (RBAC): the
            // cause is the list/watch failure line when the server answers (an operator pass read this line alone).
            LOG.warn("Kubernetes API server {}: lost the watch of {} after the first sync; the informers re-watch with"
                    + " back-off (re-listing if the server answers 410 Gone), and what is installed stays in force meanwhile",
                    client.getMasterUrl(), String.join(", ", informers.notWatching()));
        }
    }

    /** The node this discovery serves, for {@link #forNode}; empty for {@link #forPod}. */
    public Optional<String> node() {
        return Optional.ofNullable(node);
    }

    /** Phase, readiness and node of a known pod (informer-watched, or a looked-up peer). */
    public Optional<PodState> podState(String namespace, String name) {
        return workloads.podState(namespace, name);
    }

    /** The application pod itself ({@link #forPod}), once listed. */
    public Optional<Workload> self() {
        return podName == null ? Optional.empty() : registry.byName(namespace, podName);
    }

    /**
     * Policy objects rejected right now (each in force as its fail-closed stand-in, or left out when
     * it cannot restrict access): {@code Kind/namespace/name} → the loader's error (file:line: field: problem).
     */
    public Map<String, String> rejectedPolicies() {
        return policies.rejectedObjects();
    }

    /** How many times an object was rejected since start (a counter: a later fix does not lower it). */
    public long rejectedPolicyCount() {
        return policies.rejectedTotal();
    }

    /**
     * The workload at {@code address}: from the registry; in the {@link #forPod} shape, a miss is
     * looked up on the API server ({@code fieldSelector=status.podIP=ADDRESS} over all namespaces),
     * cached in a bounded cache ({@link Builder#peerCache}, misses too) and added to the registry,
     * so {@code Mesh.connect} to it then works. Blocks for one API call on a miss: never call it on
     * an event loop.
     */
    public Optional<Workload> lookup(InetAddress address) {
        Objects.requireNonNull(address, "address");
        Optional<Workload> w = registry.byAddress(address);
        if (w.isPresent() || peers == null) {
            return w;
        }
        Optional<Pod> pod;
        try {
            pod = peers.get(address);
        } catch (CompletionException | KubernetesClientException e) {
            LOG.warn("looking up the pod at {} failed: {}", address.getHostAddress(), e.getMessage());
            return Optional.empty();
        }
        if (pod.isPresent() && initialSyncDone && workloads.flush()) {
            notifyInstalled();
        }
        return registry.byAddress(address);
    }

    /**
     * Points {@code mesh} at this discovery's registry and policy engine (and, for a node proxy, its
     * node). mesh-core knows nothing of Kubernetes; this is the whole wiring.
     */
    public Mesh.Builder applyTo(Mesh.Builder mesh) {
        mesh.workloads(registry).policies(engine);
        if (node != null) {
            mesh.node(node);
        }
        return mesh;
    }

    @Override
    public void close() {
        closed = true;
        informers.close();
        executor.shutdownNow();
        if (peers != null) {
            peers.invalidateAll();
        }
    }

    // ---- installing ----

    private void install() {
        if (!initialSyncDone || closed) {
            return;
        }
        boolean changed = workloads.flush();
        if (sourceCheck != null) {
            // This proxy's own route to other nodes' pods stands for every node's: one CNI runs the
            // cluster. From an overlay address, other proxies' claims would come from addresses no
            // pod reports either, and binding them would deny every cross-node label rule.
            boolean overlay = !sourceCheck.check(registry, workloads.computedAddresses(node)).isEmpty();
            if (workloads.bindNodes(!overlay)) {
                changed |= workloads.flush();
                if (!overlay) {
                    LOG.info("this node's proxy reaches other nodes' pods from an address of its node again: "
                            + "forwarded claims are bound to the claimed pod's node");
                }
            }
        }
        changed |= policies.flush();
        if (changed) {
            notifyInstalled();
        }
    }

    private void notifyInstalled() {
        for (Runnable l : installListeners) {
            try {
                l.run();
            } catch (RuntimeException e) {
                LOG.error("install listener failed", e);
            }
        }
    }

    /**
     * The nodes the cluster's pods are scheduled on ({@code spec.nodeName}), as the informers know them now: host-network
     * pods included (a node proxy's own pod is one), which are no workloads of the registry. Empty before the first
     * sync, and for {@link #forPod} (it lists no pods). For a node proxy's check of its node name: a name that is no
     * pod's serves and captures nothing.
     *
     * @return a new sorted set; never null
     */
    public java.util.SortedSet<String> podNodes() {
        return workloads.podNodes();
    }

    /**
     * Calls {@code listener} after every change installed into the registry or the policy engine
     * (on the discovery's own thread, or a {@link #lookup} caller's; it must not block).
     *
     * @return closing it removes the listener
     */
    public AutoCloseable onInstalled(Runnable listener) {
        installListeners.add(Objects.requireNonNull(listener, "listener"));
        return () -> installListeners.remove(listener);
    }

    /** The cluster DNS domain of {@link Builder#clusterDomain} by default: istiod's {@code --domain} default and ztunnel's. */
    public static final String DEFAULT_CLUSTER_DOMAIN = PodConversion.DEFAULT_CLUSTER_DOMAIN;

    /**
     * {@code domain} if {@link Builder#clusterDomain} takes it (a lowercase RFC 1123 DNS name, no trailing dot), for a
     * caller that checks its settings before it has a client.
     *
     * @throws IllegalArgumentException saying why, starting {@code clusterDomain }
     */
    public static String requireClusterDomain(String domain) {
        return PodConversion.clusterDomain(domain);
    }

    /** Validates and collects options for a {@link KubernetesDiscovery}. */
    public static final class Builder {
        private final KubernetesClient client;
        private WorkloadRegistry registry;
        private PolicyEngine engine;
        private String trustDomain = "cluster.local";
        private String clusterDomain = PodConversion.DEFAULT_CLUSTER_DOMAIN;
        private ServiceEntryVisibility serviceEntryVisibility = ServiceEntryVisibility.UNSET;
        private String rootNamespace;
        private String node;
        private String namespace;
        private String podName;
        private Duration debounce = Duration.ofMillis(100);
        private Duration debounceMax = Duration.ofSeconds(10);
        private Duration resync = Duration.ofMinutes(5);
        private io.micrometer.core.instrument.MeterRegistry meterRegistry;
        private long peerCacheSize = 10_000;
        private Duration peerCacheTtl = Duration.ofMinutes(1);
        private boolean nodeAddresses = true;

        private Builder(KubernetesClient client) {
            this.client = Objects.requireNonNull(client, "client");
        }

        /** The registry to fill (default: a new empty one). Its content is replaced: Kubernetes owns it. */
        public Builder workloads(WorkloadRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /**
         * The engine whose policy set is replaced (default: a new one with the root namespace below and Cilium 1.19's
         * {@link io.zerohop.policy.CiliumOptions#defaults()}). The cluster's Cilium policies are read with the engine's
         * {@link PolicyEngine#ciliumOptions()}: for a Cilium running {@code policy-default-local-cluster: false} (1.18's
         * default) give an engine built with {@code ciliumOptions(CiliumOptions.builder().policyDefaultLocalCluster(false).build())}.
         */
        public Builder policies(PolicyEngine engine) {
            this.engine = Objects.requireNonNull(engine, "engine");
            return this;
        }

        /** Trust domain of the workloads' SPIFFE IDs, default {@code cluster.local} (Istio's). */
        public Builder trustDomain(String trustDomain) {
            SpiffeIds.parse("spiffe://" + trustDomain);
            this.trustDomain = trustDomain;
            return this;
        }

        /**
         * The cluster's DNS domain (default {@code cluster.local}): every Kubernetes Service is named
         * {@code NAME.NS.svc.DOMAIN}, as istiod names it with its {@code --domain} flag (istio/istio
         * pilot/cmd/pilot-discovery/app/cmd.go, {@code KubeOptions.DomainSuffix}) and ztunnel's {@code CLUSTER_DOMAIN}
         * (src/config.rs) says; give the one istiod runs with. A waypoint named by hostname, the
         * {@code destination_service} labels and {@code forwarded: host=} use it. Not the trust domain
         * ({@link #trustDomain}), which only defaults to the same string. Refused unless a lowercase RFC 1123 DNS name.
         */
        public Builder clusterDomain(String domain) {
            this.clusterDomain = PodConversion.clusterDomain(domain);
            return this;
        }

        /**
         * MeshConfig's {@code serviceEntryVisibility} (default {@link ServiceEntryVisibility#UNSET}: every ServiceEntry
         * visible to every namespace), which istiod applies to each ServiceEntry by its namespace's labels: a
         * {@code NAMESPACE} entry's hosts resolve for clients of its namespace only, a {@code NONE} entry is not
         * published. zerohop reads no MeshConfig; give the one istiod runs with (module README, "ServiceEntries").
         */
        public Builder serviceEntryVisibility(ServiceEntryVisibility visibility) {
            this.serviceEntryVisibility = java.util.Objects.requireNonNull(visibility, "serviceEntryVisibility");
            return this;
        }

        /** Istio root namespace (default: the engine's, else {@code istio-system}). */
        public Builder rootNamespace(String rootNamespace) {
            if (rootNamespace == null || rootNamespace.isBlank()) {
                throw new IllegalArgumentException("rootNamespace must not be empty");
            }
            this.rootNamespace = rootNamespace;
            return this;
        }

        /**
         * Quiet period before a burst of changes is installed (default 100 ms, istiod's
         * {@code PILOT_DEBOUNCE_AFTER}) and the longest a burst is held (default 10 s,
         * {@code PILOT_DEBOUNCE_MAX}).
         */
        public Builder debounce(Duration after, Duration max) {
            if (after.isNegative() || max.isNegative() || max.compareTo(after) < 0) {
                throw new IllegalArgumentException("debounce needs 0 <= after <= max, got " + after + ", " + max);
            }
            this.debounce = after;
            this.debounceMax = max;
            return this;
        }

        /** How often informers replay their cache as updates (default 5 min; 0 disables). */
        public Builder resync(Duration resync) {
            if (resync.isNegative()) {
                throw new IllegalArgumentException("resync must not be negative, got " + resync);
            }
            this.resync = resync;
            return this;
        }

        /** {@link #forPod} only: at most {@code size} peers by address, each kept {@code ttl} (default 10,000, 1 min). */
        public Builder peerCache(long size, Duration ttl) {
            if (size < 1 || ttl.isNegative() || ttl.isZero()) {
                throw new IllegalArgumentException("peerCache needs size >= 1 and a positive ttl, got " + size + ", " + ttl);
            }
            this.peerCacheSize = size;
            this.peerCacheTtl = ttl;
            return this;
        }

        /**
         * Counts rejected policy objects in {@code registry} as
         * {@code zerohop_kubernetes_rejected_objects_total{group, version, kind, reason}} (reason
         * {@code invalid}: the loader refused it; {@code error}: the loader failed), the labels of
         * istiod's {@code galley_validation_failed} with the kind; the log line names the object and field.
         */
        public Builder meterRegistry(io.micrometer.core.instrument.MeterRegistry registry) {
            this.meterRegistry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /**
         * Whether each node's addresses come from its pods' {@code status.hostIPs} (default true), which
         * binds a {@code forwarded: for=} claim to the claimed pod's node (module README, "Node
         * addresses"). A node proxy still installs none while its own route to other nodes' pods
         * leaves from an address that is not its node's (an overlay pod network, whose claims the
         * binding would all refuse), and says so in one WARN. False leaves every node without an
         * address always, so claims are believed on the peer's identity alone, as before the
         * binding; it widens what a claim is believed from; say so where it is set.
         */
        public Builder nodeAddresses(boolean fromPodHostIps) {
            this.nodeAddresses = fromPodHostIps;
            return this;
        }

        /** Builds and {@link KubernetesDiscovery#start() starts} it. */
        public KubernetesDiscovery start() {
            return new KubernetesDiscovery(this).start();
        }
    }
}