package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Informable;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fabric8 informers of a {@code KubernetesDiscovery}: pods, Services, EndpointSlices (those of Services without a
 * selector: {@link #sliceFilter}), Namespaces, ServiceEntries, WorkloadEntries, Gateways and GatewayClasses (and, embedded,
 * other namespaces' waypoint Services and pods: {@link #informOtherWaypoints}) into a
 * {@link WorkloadState}, policy kinds (as generic resources) into a {@link PolicyState}; every event
 * then calls {@code changed} (the debouncer's trigger). Each informer's cache keeps its objects
 * stripped of the fields zerohop never reads ({@link ObjectStrip}, as istiod strips its pods).
 */
public final class Informers {
    private static final Logger LOG = LoggerFactory.getLogger("io.zerohop.kubernetes.KubernetesDiscovery");

    /** The policy kinds read, with their REST plural and scope. */
    private record Kind(String group, String version, String kind, String plural, boolean namespaced) {
        String apiVersion() {
            return group + "/" + version;
        }

        ResourceDefinitionContext context() {
            return new ResourceDefinitionContext.Builder().withGroup(group).withVersion(version).withKind(kind)
                    .withPlural(plural).withNamespaced(namespaced).build();
        }
    }

    private static final List<Kind> ISTIO_KINDS = List.of(
            new Kind("security.istio.io", "v1", "AuthorizationPolicy", "authorizationpolicies", true),
            new Kind("security.istio.io", "v1beta1", "AuthorizationPolicy", "authorizationpolicies", true),
            new Kind("security.istio.io", "v1", "PeerAuthentication", "peerauthentications", true),
            new Kind("security.istio.io", "v1beta1", "PeerAuthentication", "peerauthentications", true),
            // Watched since 6 December (skipped before): the JWT rules PolicyEngine.jwtRules answers with.
            new Kind("security.istio.io", "v1", "RequestAuthentication", "requestauthentications", true),
            new Kind("security.istio.io", "v1beta1", "RequestAuthentication", "requestauthentications", true));
    /**
     * ServiceEntries and WorkloadEntries (since 7 December), at v1 and v1beta1 as the policies are (an Istio before 1.22
     * serves no v1: 404, counted as not served); {@link WorkloadState} keeps one version of each object.
     */
    private static final List<Kind> ENTRY_KINDS = List.of(
            new Kind("networking.istio.io", "v1", "ServiceEntry", "serviceentries", true),
            new Kind("networking.istio.io", "v1beta1", "ServiceEntry", "serviceentries", true),
            new Kind("networking.istio.io", "v1", "WorkloadEntry", "workloadentries", true),
            new Kind("networking.istio.io", "v1beta1", "WorkloadEntry", "workloadentries", true));
    /**
     * Gateway API Gateways (since 7 December), whose {@code status.addresses} make them waypoints ({@link Waypoints}), and
     * GatewayClasses (their {@code istio.io/waypoint-for} label), at v1 only, as istiod reads them
     * ({@code gvr.KubernetesGateway}, {@code gvr.GatewayClass}).
     */
    private static final Kind GATEWAY = new Kind("gateway.networking.k8s.io", "v1", "Gateway", "gateways", true);
    private static final Kind GATEWAY_CLASS = new Kind("gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses", false);
    private static final Kind CNP = new Kind("cilium.io", "v2", "CiliumNetworkPolicy", "ciliumnetworkpolicies", true);
    private static final Kind CCNP = new Kind("cilium.io", "v2", "CiliumClusterwideNetworkPolicy", "ciliumclusterwidenetworkpolicies", false);

    /**
     * Pods are listed in pages of this many ({@code limit}/{@code continue}), as client-go's pager
     * ({@code defaultPageSize} 500, k8s.io/client-go/tools/pager) and {@code kubectl get --chunk-size}:
     * each page is stripped ({@link ObjectStrip}) as it is stored, so a start-up or re-list holds
     * one page of full pods at a time instead of the whole cluster's (~50 KB of heap per full pod:
     * 10,000 pods would not fit the launcher's -Xmx128m). The cost is on the API server: a paged
     * list is read from etcd rather than its watch cache. The other kinds are small and listed whole.
     */
    static final long POD_LIST_PAGE = 500;

    private final KubernetesClient client;
    private final long resyncMillis;
    private final WorkloadState workloads;
    private final PolicyState policies;
    private final Runnable changed;
    /** Whether an object's change is urgent (a pod of this node), and how to say so. */
    private final java.util.function.Predicate<Object> urgent;
    private final Runnable changedUrgently;
    private final List<SharedIndexInformer<?>> informers = new ArrayList<>();
    /** Each informer's kind, as the log lines name it. */
    private final java.util.Map<SharedIndexInformer<?>, String> kinds = new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * Informers whose kind the API server does not serve (404 before any list: the CRD is not installed), which
     * {@link #watching} leaves out until their list succeeds: an Istio-only cluster without Cilium's CRDs read as a lost
     * watch forever (a false WARN 10 s after the sync, and no WARN for a real outage later; an operator pass).
     */
    private final Set<SharedIndexInformer<?>> notServed = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final List<CompletableFuture<Void>> ready = new ArrayList<>();
    private volatile boolean closed;
    private final Failures failures;

    public Informers(KubernetesClient client, long resyncMillis, WorkloadState workloads, PolicyState policies,
            Runnable changed) {
        this(client, resyncMillis, workloads, policies, changed, o -> false, changed);
    }

    /**
     * @param urgent          whether a changed object is urgent (the node proxy: a pod of its node, which its capture set
     *                        waits for); then {@code changedUrgently} runs instead of {@code changed}
     */
    public Informers(KubernetesClient client, long resyncMillis, WorkloadState workloads, PolicyState policies,
            Runnable changed, java.util.function.Predicate<Object> urgent, Runnable changedUrgently) {
        this.client = client;
        this.resyncMillis = resyncMillis;
        this.workloads = workloads;
        this.policies = policies;
        this.changed = changed;
        this.urgent = urgent;
        this.changedUrgently = changedUrgently;
        Integer interval = client.getConfiguration().getWatchReconnectInterval();
        this.failures = new Failures(String.valueOf(client.getMasterUrl()), interval == null ? 1000 : interval);
    }

    /**
     * One WARN line per retry round of the informers' list/watch failures. With the API server out
     * of reach every informer (ten for a node proxy) fails at once and again at each of its
     * back-off retries; fabric8's Reflector logged each failure at WARN with its stack trace. A
     * failure is logged when no informer has reported its cause since it was last logged, or when
     * the informer that fails has already reported it (its next retry: a new round); the others'
     * failures of the same round go to DEBUG. No clock is involved: a round is what the informers'
     * own back-off makes it.
     */
    static final class Failures {
        private final String server;
        private final long firstRetryMillis;
        /** Cause → the informers that reported it since it was last logged at WARN. */
        private final java.util.Map<String, Set<String>> round = new java.util.HashMap<>();

        Failures(String server, long firstRetryMillis) {
            this.server = server;
            this.firstRetryMillis = firstRetryMillis;
        }

        /** Reports one informer's failure; true when it was the round's WARN line. */
        synchronized boolean failed(String what, Throwable t) {
            String cause = describe(t);
            if (round.size() > 32) {
                round.clear(); // causes that carry changing text (a resourceVersion) must not grow this without bound
            }
            Set<String> seen = round.computeIfAbsent(cause, k -> new java.util.HashSet<>());
            if (seen.isEmpty() || seen.contains(what)) {
                seen.clear();
                seen.add(what);
                // fabric8's Reflector retries with ExponentialBackoffIntervalCalculator: the watch reconnect
                // interval, doubling, at most 2^5 times it; the HTTP client retried each request before that.
                LOG.warn("Kubernetes API server {}: {} list/watch failed: {}; retrying with back-off ({} doubling up to {});"
                        + " the other kinds failing alike are not repeated", server, what, cause, duration(firstRetryMillis),
                        duration(firstRetryMillis * 32));
            } else {
                seen.add(what);
                LOG.debug("Kubernetes API server {}: {} list/watch failed: {}; retrying", server, what, cause);
            }
            if (LOG.isDebugEnabled()) {
                LOG.debug("Kubernetes API server " + server + ": " + what + " failed", t);
            }
            return seen.size() == 1 && seen.contains(what);
        }

        /**
         * The failure on one line: an HTTP status with the API server's message, or the innermost
         * cause that says something ({@code ConnectException} from the JDK HTTP client carries no
         * message for a refused connection).
         */
        static String describe(Throwable t) {
            Throwable last = t;
            for (Throwable x = t; x != null; x = x.getCause() == x ? null : x.getCause()) {
                last = x;
                if (x instanceof java.util.concurrent.CompletionException || x instanceof java.util.concurrent.ExecutionException) {
                    continue;
                }
                if (x instanceof KubernetesClientException k) {
                    if (k.getCode() > 0) {
                        String m = k.getStatus() != null && k.getStatus().getMessage() != null ? k.getStatus().getMessage() : firstLine(k.getMessage());
                        return "HTTP " + k.getCode() + (m == null ? "" : ": " + m);
                    }
                    if (k.getCause() != null) {
                        continue;
                    }
                }
                if (x.getMessage() != null && !x.getMessage().isBlank()) {
                    return x.getClass().getSimpleName() + ": " + firstLine(x.getMessage());
                }
                if (x instanceof java.net.ConnectException) {
                    return "cannot connect (" + x.getClass().getName() + ")";
                }
            }
            return last.getClass().getName();
        }

        private static String duration(long millis) {
            return millis % 1000 == 0 ? millis / 1000 + "s" : millis + "ms";
        }

        private static String firstLine(String s) {
            return s == null ? null : s.lines().findFirst().orElse("");
        }
    }

    /**
     * Starts every informer: of {@code namespace} (null: all namespaces) and, for Istio kinds, the root
     * namespace. The future completes once each has listed its kind (a kind not served counts as listed).
     */
    public CompletableFuture<Void> start(String namespace, String rootNamespace) {
        var slices = client.discovery().v1().endpointSlices();
        if (namespace == null) {
            inform("Pod", client.pods().inAnyNamespace().withLimit(POD_LIST_PAGE), ObjectStrip::pod, this::onPod);
            inform("Service", client.services().inAnyNamespace(), ObjectStrip::compacted, this::onService);
            informSlices(sliceFilter(slices.inAnyNamespace()));
        } else {
            inform("Pod", client.pods().inNamespace(namespace).withLimit(POD_LIST_PAGE), ObjectStrip::pod, this::onPod);
            inform("Service", client.services().inNamespace(namespace), ObjectStrip::compacted, this::onService);
            informSlices(sliceFilter(slices.inNamespace(namespace)));
            informOtherWaypoints(namespace);
        }
        inform("Namespace", client.namespaces(), ObjectStrip::compacted, this::onNamespace);
        Set<String> istioNamespaces = namespace == null ? null : new LinkedHashSet<>(List.of(namespace, rootNamespace));
        for (Kind k : ISTIO_KINDS) {
            informPolicies(k, istioNamespaces);
        }
        for (Kind k : ENTRY_KINDS) {
            informEntries(k, namespace);
        }
        informGateways();
        informPolicies(CNP, namespace == null ? null : Set.of(namespace));
        informPolicies(CCNP, null);
        return CompletableFuture.allOf(ready.toArray(CompletableFuture[]::new));
    }

    /**
     * Whether every informer has a watch open right now (false before any started); a kind the API server does not
     * serve counts as watched.
     */
    public boolean watching() {
        return notWatching().isEmpty() && !informers.isEmpty();
    }

    /** The kinds (as the log lines name them) whose informer has no watch open right now, in start order. */
    public List<String> notWatching() {
        List<String> out = new ArrayList<>();
        for (SharedIndexInformer<?> i : informers) {
            if (!i.isWatching() && !notServed.contains(i)) {
                out.add(kinds.getOrDefault(i, "?"));
            }
        }
        return out;
    }

    /** Stops every informer. */
    public void close() {
        closed = true;
        for (SharedIndexInformer<?> i : informers) {
            i.stop();
        }
    }

    /**
     * Starts one informer whose cache keeps each object as {@code strip} leaves it (and whose
     * handlers see it so: {@link StrippingItemStore}).
     */
    private <T extends HasMetadata> void inform(String what, Informable<T> source, UnaryOperator<T> strip, Consumer<Event<T>> sink) {
        inform(what, source, strip, sink, false);
    }

    /**
     * EndpointSlices, whose list an RBAC role from before 5 December forbids (403): then they count as listed and empty,
     * with one WARN, and are retried with the informer's back-off, so that a proxy or an embedded mesh upgraded without
     * its role re-applied still becomes ready. That fails closed: a Service without a selector keeps no endpoints, and a
     * connection to its VIP is refused, as before. Never for Pods, Services or the other policy kinds, whose absence would widen
     * access or hide workloads.
     */
    private void informSlices(Informable<io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> source) {
        inform("EndpointSlice", source, ObjectStrip::endpointSlice, this::onSlice, true);
    }

    private <T extends HasMetadata> void inform(String what, Informable<T> source, UnaryOperator<T> strip, Consumer<Event<T>> sink,
                                                boolean emptyWhenForbidden) {
        inform(what, source, strip, sink, emptyWhenForbidden, null);
    }

    /**
     * @param forbidden null, or told true when the list is forbidden (before the kind counts as listed) and false once a
     *                  list succeeds (then a reinstall is asked for: no object event may follow)
     */
    private <T extends HasMetadata> void inform(String what, Informable<T> source, UnaryOperator<T> strip, Consumer<Event<T>> sink,
                                                boolean emptyWhenForbidden, Consumer<Boolean> forbidden) {
        SharedIndexInformer<T> informer = source.runnableInformer(resyncMillis);
        informer.itemStore(new StrippingItemStore<>(strip));
        CompletableFuture<Void> listed = new CompletableFuture<>();
        ready.add(listed);
        FirstList first = new FirstList(informer, listed);
        informer.exceptionHandler((started, t) -> {
            if (!started && isNotFound(t)) {
                // The CRD is not installed: nothing of that kind exists. Keep retrying (with the
                // informer's back-off) so that it is picked up once it is installed.
                notServed.add(informer);
                if (listed.complete(null)) {
                    LOG.info("{} is not served by the API server (CRD not installed?); treating it as empty", what);
                }
            } else if (!started && emptyWhenForbidden && isForbidden(t)) {
                notServed.add(informer);
                if (forbidden != null) {
                    forbidden.accept(true);
                }
                if (listed.complete(null)) {
                    LOG.warn("{} list is forbidden (HTTP 403): the role of this service account lacks get/list/watch on {}"
                            + " (re-apply deploy/node-proxy/rbac.yaml, or the embedded Role); {} until it is granted (retrying)",
                            what, forbiddenGrant(what), forbiddenMeans(what));
                }
            } else {
                if (!isNotFound(t) && notServed.remove(informer)) {
                    // A kind not served at the first list (its CRD absent) that now answers otherwise (the CRD installed,
                    // and this role may not read it: 403) is no longer "watched": until 6 December it still counted as
                    // watched, so its objects (a CiliumNetworkPolicy default deny) went unenforced with no "lost the
                    // watch" WARN, where a 403 at the start blocks the sync (helper 265, KubernetesPoliciesTest).
                    LOG.debug("{} is served now but cannot be listed: counted as not watched", what);
                }
                if (!closed) {
                    failures.failed(what, t);
                }
            }
            return !closed;
        });
        informer.addEventHandler(new ResourceEventHandler<T>() {
            @Override
            public void onAdd(T obj) {
                sink.accept(new Event<>(obj, false));
                first.handled(obj);
                changed(obj);
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                sink.accept(new Event<>(newObj, false));
                first.handled(newObj);
                changed(newObj);
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
                sink.accept(new Event<>(obj, true));
                first.handled(obj);
                changed(obj);
            }
        });
        informers.add(informer);
        kinds.put(informer, what);
        informer.start().whenComplete((x, e) -> {
            if (e == null) {
                notServed.remove(informer); // listed: served now (a CRD installed later)
                first.stored();
                if (forbidden != null) {
                    forbidden.accept(false);
                    changed.run();
                }
            }
        });
    }

    /**
     * When an informer's first list has reached its handlers. fabric8 completes {@code start()} once
     * the list is in the informer's store, but hands the objects to the handlers afterwards, on its
     * own executor: a kind counted as listed then could be installed half-handled (a node proxy
     * reported ready with 23 of its node's 50 pods, and a policy set could have missed a DENY). So
     * the kind counts as listed once the handlers were given every key the store held when the list
     * was stored (or the key has left the store meanwhile: its delete may never be handed over).
     * Keys are kept only until then.
     */
    private final class FirstList {
        private final SharedIndexInformer<?> informer;
        private final CompletableFuture<Void> listed;
        /** Keys handed to the handlers before the first list was complete. */
        private final Set<String> handled = java.util.concurrent.ConcurrentHashMap.newKeySet();
        /** The stored list's keys not handed over yet; null until the list is stored. */
        private volatile Set<String> pending;

        FirstList(SharedIndexInformer<?> informer, CompletableFuture<Void> listed) {
            this.informer = informer;
            this.listed = listed;
        }

        void handled(HasMetadata obj) {
            if (listed.isDone()) {
                return;
            }
            String key = io.fabric8.kubernetes.client.informers.cache.Cache.metaNamespaceKeyFunc(obj);
            handled.add(key);
            Set<String> p = pending;
            if (p != null && p.remove(key) && p.isEmpty()) {
                done();
            }
        }

        void stored() {
            Set<String> p = java.util.concurrent.ConcurrentHashMap.newKeySet();
            p.addAll(informer.getStore().listKeys());
            pending = p;
            sweep();
        }

        /**
         * Drops the keys handed over meanwhile (a handler that ran between the store's listing and
         * {@code pending} being set) and those no longer in the store (deleted before their add was
         * handed over), then looks again every 50 ms until nothing is pending.
         */
        private void sweep() {
            Set<String> p = pending;
            if (listed.isDone() || closed) {
                return;
            }
            p.removeIf(k -> handled.contains(k) || informer.getStore().getByKey(k) == null);
            if (p.isEmpty()) {
                done();
            } else {
                CompletableFuture.delayedExecutor(50, java.util.concurrent.TimeUnit.MILLISECONDS).execute(this::sweep);
            }
        }

        private void done() {
            if (listed.complete(null)) {
                handled.clear();
            }
        }
    }

    private void informPolicies(Kind k, Set<String> namespaces) {
        var op = client.genericKubernetesResources(k.context());
        String what = k.kind + " (" + k.apiVersion() + ")";
        // RequestAuthentications are watched since 6 December: a role from before forbids them (403). Like
        // EndpointSlices they then count as empty (one WARN, retried), so that a proxy upgraded without its role
        // re-applied still becomes ready; that widens no access (a RequestAuthentication restricts no caller by itself,
        // and without one requestPrincipals match nothing).
        boolean emptyWhenForbidden = k.kind.equals("RequestAuthentication");
        if (namespaces == null || !k.namespaced) {
            inform(what, op.inAnyNamespace(), ObjectStrip::metadata, this::onPolicy, emptyWhenForbidden);
        } else {
            for (String ns : namespaces) {
                inform(what + " in " + ns, op.inNamespace(ns), ObjectStrip::metadata, this::onPolicy, emptyWhenForbidden);
            }
        }
    }

    /**
     * ServiceEntries and WorkloadEntries into the {@link WorkloadState}. A role from before 7 December forbids them (403):
     * like EndpointSlices they then count as listed and empty (one WARN, retried), which widens nothing: their hosts are
     * not routed and their workloads are not known, as before.
     */
    private void informEntries(Kind k, String namespace) {
        var op = client.genericKubernetesResources(k.context());
        String what = k.kind + " (" + k.apiVersion() + ")";
        inform(what, namespace == null ? op.inAnyNamespace() : op.inNamespace(namespace), ObjectStrip::entry, this::onEntry, true);
    }

    /**
     * Gateways and GatewayClasses of every namespace into the {@link WorkloadState}, in both shapes: a label may name a
     * waypoint of any namespace ({@code istio.io/use-waypoint-namespace}), and istiod, which reads them all, decides by
     * that waypoint whether the object has one. Until 7 December the embedded mode read its own namespace's only and
     * sent the traffic of an object whose waypoint lives elsewhere directly, past the waypoint's L7 policy. Absent (404:
     * Gateway API not installed) they count as listed and empty: no waypoint exists, objects are reached directly, as
     * istiod leaves them. Forbidden (403: a role from before this) they count as listed (one WARN, retried) but not as
     * empty: each label is kept as a reference to the waypoint's Service; GatewayClasses forbidden, a Gateway that does
     * not say its own traffic type is for all traffic ({@link WorkloadState#gatewaysForbidden}).
     */
    private void informGateways() {
        var op = client.genericKubernetesResources(GATEWAY.context());
        String what = GATEWAY.kind + " (" + GATEWAY.apiVersion() + ")";
        inform(what, op.inAnyNamespace(), ObjectStrip::gateway, this::onGateway, true,
                f -> workloads.gatewaysForbidden(GATEWAY.kind, f));
        var classes = client.genericKubernetesResources(GATEWAY_CLASS.context());
        inform(GATEWAY_CLASS.kind + " (" + GATEWAY_CLASS.apiVersion() + ")", classes.inAnyNamespace(), ObjectStrip::gatewayClass,
                this::onGateway, true, f -> workloads.gatewaysForbidden(GATEWAY_CLASS.kind, f));
    }

    /** The label istiod's deployment controller puts on a waypoint's Service (and Deployment). */
    static final String MANAGED_LABEL = "gateway.istio.io/managed";
    static final String MESH_CONTROLLER = "istio.io-mesh-controller";
    /** The label a Gateway's pods carry (the deployment controller's template: the waypoint's Service selects by it). */
    static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

    /**
     * The embedded mode ({@code forPod}): the waypoints of other namespaces, their Services (labelled
     * {@code gateway.istio.io/managed: istio.io-mesh-controller}) and their pods (labelled
     * {@code gateway.networking.k8s.io/gateway-name}), so that a label naming a waypoint elsewhere
     * ({@code istio.io/use-waypoint-namespace}) reaches it, as ztunnel does with istiod's full view. Until 7 December
     * (h410) such a connection was refused "unknown waypoint". The API server filters by label, so only waypoints are
     * kept; RBAC cannot grant by label, so the ClusterRole lets the application read every Service and watch every
     * pod (it could list every pod before: {@code lookup}). Its own namespace's are left to its namespace's informers,
     * so one object has one source (a filtered informer's delete when a label goes would drop a pod still there). A role
     * from before this (403 on Services) counts as listed and empty (one WARN, retried): such waypoints stay refused,
     * never direct.
     */
    private void informOtherWaypoints(String namespace) {
        inform("waypoint Service", client.services().inAnyNamespace().withLabel(MANAGED_LABEL, MESH_CONTROLLER),
                ObjectStrip::compacted, e -> {
                    if (!namespace.equals(e.object.getMetadata().getNamespace())) {
                        onService(e);
                    }
                }, true);
        inform("waypoint Pod", client.pods().inAnyNamespace().withLabel(GATEWAY_NAME_LABEL).withLimit(POD_LIST_PAGE),
                ObjectStrip::pod, e -> {
                    if (!namespace.equals(e.object.getMetadata().getNamespace())) {
                        onPod(e);
                    }
                }, true);
    }

    private void onGateway(Event<GenericKubernetesResource> e) {
        if (e.deleted) {
            workloads.removeGateway(e.object);
        } else {
            workloads.putGateway(e.object);
        }
    }

    private void onEntry(Event<GenericKubernetesResource> e) {
        if (e.deleted) {
            workloads.removeIstioEntry(e.object);
        } else {
            workloads.putIstioEntry(e.object);
        }
    }

    /** The grant a kind that may be forbidden (listed empty) needs, as its WARN names it. */
    private static String forbiddenGrant(String what) {
        if (what.startsWith("EndpointSlice")) {
            return "endpointslices in discovery.k8s.io";
        } else if (what.startsWith("ServiceEntry") || what.startsWith("WorkloadEntry")) {
            return "serviceentries and workloadentries in networking.istio.io";
        } else if (what.startsWith("Gateway")) {
            return "gateways and gatewayclasses in gateway.networking.k8s.io";
        } else if (what.startsWith("waypoint")) {
            return "services and pods in every namespace (the embedded ClusterRole)";
        }
        return "requestauthentications in security.istio.io";
    }

    /** What a kind listed empty because it is forbidden means, as its WARN says. */
    private static String forbiddenMeans(String what) {
        if (what.startsWith("EndpointSlice")) {
            return "Services without a selector have no endpoints";
        } else if (what.startsWith("ServiceEntry") || what.startsWith("WorkloadEntry")) {
            return "ServiceEntry hosts are not routed and WorkloadEntries are no workloads";
        } else if (what.startsWith("GatewayClass")) {
            return "a GatewayClass's istio.io/waypoint-for label is not read (a waypoint that does not say its own is taken"
                    + " for all traffic, workloads' too)";
        } else if (what.startsWith("waypoint")) {
            return "a waypoint of another namespace is not known: connections through it are refused (unknown waypoint),"
                    + " never sent directly";
        } else if (what.startsWith("Gateway")) {
            return "no waypoint can be checked: workloads and Services whose istio.io/use-waypoint label names one use the"
                    + " Service NAME.NS.svc.DOMAIN it names, or are refused, never reached directly";
        }
        return "no JWT is verified (requestPrincipals match nothing)";
    }

    private static boolean isForbidden(Throwable t) {
        for (Throwable x = t; x != null; x = x.getCause() == x ? null : x.getCause()) {
            if (x instanceof KubernetesClientException k && k.getCode() == 403) {
                return true;
            }
        }
        return false;
    }

    private static boolean isNotFound(Throwable t) {
        for (Throwable x = t; x != null; x = x.getCause() == x ? null : x.getCause()) {
            if (x instanceof KubernetesClientException k && k.getCode() == 404) {
                return true;
            }
        }
        return false;
    }

    private record Event<T>(T object, boolean deleted) {}

    private void changed(Object o) {
        if (urgent.test(o)) {
            changedUrgently.run();
        } else {
            changed.run();
        }
    }

    private void onPod(Event<Pod> e) {
        if (e.deleted) {
            workloads.removePod(e.object);
        } else {
            workloads.putPod(e.object);
        }
    }

    private void onService(Event<Service> e) {
        if (e.deleted) {
            workloads.removeService(e.object);
        } else {
            workloads.putService(e.object);
        }
    }

    /**
     * Only the slices that can matter, selected by the API server: labelled {@code kubernetes.io/service-name} (istiod
     * reads no other), and not written by the EndpointSlice controller, which writes them only for Services with a
     * selector and with only pod endpoints, which the pods' own conversion covers ({@link EndpointSliceConversion}).
     * What remains is the mirrored slices of selectorless Services' Endpoints and hand-written ones: few.
     */
    private static <L extends io.fabric8.kubernetes.client.dsl.Filterable<L>> L sliceFilter(L op) {
        return op.withLabel(EndpointSliceConversion.SERVICE_NAME_LABEL)
                .withoutLabel(EndpointSliceConversion.MANAGED_BY_LABEL, EndpointSliceConversion.ENDPOINTSLICE_CONTROLLER);
    }

    private void onSlice(Event<EndpointSlice> e) {
        if (e.deleted) {
            workloads.removeSlice(e.object);
        } else {
            workloads.putSlice(e.object);
        }
    }

    private void onNamespace(Event<Namespace> e) {
        if (e.deleted) {
            workloads.removeNamespace(e.object);
        } else {
            workloads.putNamespace(e.object);
        }
    }

    private void onPolicy(Event<GenericKubernetesResource> e) {
        if (e.deleted) {
            policies.remove(e.object);
        } else {
            policies.put(e.object);
        }
    }
}
