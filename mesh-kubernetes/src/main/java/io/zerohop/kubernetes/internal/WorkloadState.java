package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.zerohop.core.Addresses;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.kubernetes.PodState;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods, namespaces and Services seen so far, and the registry built from them. Events only
 * record objects (cheap, any informer thread); {@link #flush} (the debouncer's thread) converts
 * and installs the whole set with one {@link WorkloadRegistry#replace}.
 *
 * <p>An address is owned by the pod that most recently got it: when pod A's IP is handed to pod B
 * before A's deletion arrives (or A lingers as a terminating pod), B gets the address and A keeps
 * only its others, so no update is ever refused for an address "claimed by both".
 *
 * <p>EndpointSlices of Services without a selector add their endpoints ({@link EndpointSliceConversion}, istio/istio
 * pilot/pkg/serviceregistry/ambient/workloads.go {@code endpointSlicesBuilder}): an endpoint that names a pod adds its
 * Service to the pod; one that names none becomes a plaintext workload without identity, unless its address is a pod's
 * (the pod keeps it and carries the Service) or a Service VIP (left out); one address in several slices is one workload
 * ({@code withSliceEndpoints}). A slice that fails to convert is skipped alone: an install never fails for one.
 *
 * <p>ServiceEntries and WorkloadEntries ({@link ServiceEntryConversion}; istiod's {@code serviceEntriesInfo},
 * {@code workloadEntryWorkloadBuilder}, {@code serviceEntryWorkloadBuilder}) add registry Services (one per host) and
 * workloads after the pods and the Kubernetes Services, so a pod keeps its address and a Service its VIP; an entry's
 * address that a workload also has is both, as istiod sends it ({@code withIstioEntries}); a hostname endpoint is a workload with a hostname, looked up on demand; what zerohop
 * cannot do (a Unix socket endpoint, another network) is left out with one WARN.
 *
 * <p>Each node's addresses (where its proxy dials from, which binds the {@code forwarded: for=}
 * claims of its pods in mesh-core's {@code TunnelSource}) are the {@code status.hostIPs} (else
 * {@code status.hostIP}) of the pods on it that are not terminal, host-network pods included: see
 * {@link #nodeAddresses} and the module README ("Node addresses").
 */
public final class WorkloadState {
    private static final Logger LOG = LoggerFactory.getLogger(WorkloadState.class);

    private record PodEntry(Pod pod, List<String> ips, long claimedAt) {}

    private final WorkloadRegistry registry;
    private final String trustDomain;
    /** The cluster's DNS domain, which every Kubernetes Service's hostname ends with ({@link PodConversion#hostname}). */
    private final String clusterDomain;
    /** The kinds (Gateway, GatewayClass) whose list is forbidden now ({@link #gatewaysForbidden}). */
    private final Set<String> gatewaysForbidden = ConcurrentHashMap.newKeySet();
    private final Map<String, PodEntry> pods = new ConcurrentHashMap<>();
    private final Map<String, Map<String, String>> namespaceLabels = new ConcurrentHashMap<>();
    /**
     * Per namespace, its {@code networking.istio.io/traffic-distribution} annotation when it has one: a Service without
     * its own inherits it (istiod's {@code GetTrafficDistribution}). Only that annotation is kept.
     */
    private final Map<String, Map<String, String>> namespaceTrafficDistribution = new ConcurrentHashMap<>();
    private final Map<String, Map<String, Service>> services = new ConcurrentHashMap<>();
    /** EndpointSlices by namespace and name: those the informer keeps (labelled with a Service, not the controller's). */
    private final Map<String, Map<String, EndpointSlice>> slices = new ConcurrentHashMap<>();
    private final Map<String, PodEntry> peers = new ConcurrentHashMap<>();
    /** ServiceEntries and WorkloadEntries by {@code ns/name}, then API version (the same object served at v1 and v1beta1). */
    private final Map<String, Map<String, GenericKubernetesResource>> serviceEntries = new ConcurrentHashMap<>();
    private final Map<String, Map<String, GenericKubernetesResource>> workloadEntries = new ConcurrentHashMap<>();
    /** Gateways by {@code ns/name} and GatewayClasses by name, stripped ({@link ObjectStrip#gateway}): the waypoints. */
    private final Map<String, GenericKubernetesResource> gateways = new ConcurrentHashMap<>();
    private final Map<String, GenericKubernetesResource> gatewayClasses = new ConcurrentHashMap<>();
    private final boolean nodeAddresses;
    /** This discovery's WARN lines of the conversion: once while their cause lasts, bounded (helper 392). */
    private final OnceWarnings warnings = new OnceWarnings(LoggerFactory.getLogger(PodConversion.class));
    /** Pod and value of each malformed host IP already logged (the API server validates them: few, if any). */
    private final Set<String> badHostIps = new HashSet<>();
    private long claims;
    private List<Workload> installed = List.of();
    private Map<String, List<InetAddress>> installedNodes = Map.of();
    private List<io.zerohop.core.Service> installedServices = List.of();
    /** Each node's addresses as last computed, installed or not (see {@link #bindNodes}). */
    private volatile Map<String, List<InetAddress>> computedNodes = Map.of();
    /** False while this node proxy's own source-address check says the pod network is an overlay. */
    private volatile boolean bindNodes = true;

    /** @param nodeAddresses false: install no node address at all (KubernetesDiscovery.Builder#nodeAddresses) */
    public WorkloadState(WorkloadRegistry registry, String trustDomain, boolean nodeAddresses) {
        this(registry, trustDomain, PodConversion.DEFAULT_CLUSTER_DOMAIN, nodeAddresses);
    }

    /** @param clusterDomain the cluster's DNS domain (KubernetesDiscovery.Builder#clusterDomain), checked there */
    public WorkloadState(WorkloadRegistry registry, String trustDomain, String clusterDomain, boolean nodeAddresses) {
        this.registry = registry;
        this.trustDomain = trustDomain;
        this.clusterDomain = clusterDomain;
        this.nodeAddresses = nodeAddresses;
    }

    /** MeshConfig's serviceEntryVisibility as the builder was given it (istiod's ServiceEntryVisibilityMatcher). */
    private volatile io.zerohop.kubernetes.ServiceEntryVisibility serviceEntryVisibility =
            io.zerohop.kubernetes.ServiceEntryVisibility.UNSET;

    /** Sets MeshConfig's {@code serviceEntryVisibility} (before the informers start). */
    public void serviceEntryVisibility(io.zerohop.kubernetes.ServiceEntryVisibility v) {
        this.serviceEntryVisibility = java.util.Objects.requireNonNull(v, "serviceEntryVisibility");
    }

    private static String key(String ns, String name) {
        return ns + "/" + name;
    }

    public synchronized void putPod(Pod p) {
        pods.put(key(p.getMetadata().getNamespace(), p.getMetadata().getName()), entry(pods, p));
    }

    /** The {@code spec.nodeName} of every pod known, host-network and terminal pods included (they are no workloads). */
    public java.util.TreeSet<String> podNodes() {
        java.util.TreeSet<String> out = new java.util.TreeSet<>();
        for (PodEntry e : pods.values()) {
            String node = e.pod.getSpec() == null ? null : e.pod.getSpec().getNodeName();
            if (node != null && !node.isEmpty()) {
                out.add(node);
            }
        }
        return out;
    }

    public void removePod(Pod p) {
        pods.remove(key(p.getMetadata().getNamespace(), p.getMetadata().getName()));
    }

    /** A pod learnt outside the informers (the embedded mode's address lookups). */
    public synchronized void putPeer(Pod p) {
        peers.put(key(p.getMetadata().getNamespace(), p.getMetadata().getName()), entry(peers, p));
    }

    public void removePeer(String namespace, String name) {
        peers.remove(key(namespace, name));
    }

    private PodEntry entry(Map<String, PodEntry> from, Pod p) {
        List<String> ips = PodConversion.podIps(p);
        PodEntry prev = from.get(key(p.getMetadata().getNamespace(), p.getMetadata().getName()));
        long at = prev != null && prev.ips.equals(ips) ? prev.claimedAt : ++claims;
        return new PodEntry(p, ips, at);
    }

    public void putNamespace(Namespace n) {
        Map<String, String> l = n.getMetadata().getLabels();
        namespaceLabels.put(n.getMetadata().getName(), l == null ? Map.of() : Map.copyOf(l));
        Map<String, String> a = n.getMetadata().getAnnotations();
        String td = a == null ? null : a.get(PodConversion.TRAFFIC_DISTRIBUTION_ANNOTATION);
        if (td != null) {
            namespaceTrafficDistribution.put(n.getMetadata().getName(), Map.of(PodConversion.TRAFFIC_DISTRIBUTION_ANNOTATION, td));
        } else {
            namespaceTrafficDistribution.remove(n.getMetadata().getName());
        }
    }

    public void removeNamespace(Namespace n) {
        namespaceLabels.remove(n.getMetadata().getName());
        namespaceTrafficDistribution.remove(n.getMetadata().getName());
    }

    public void putService(Service s) {
        services.computeIfAbsent(s.getMetadata().getNamespace(), k -> new ConcurrentHashMap<>()).put(s.getMetadata().getName(), s);
    }

    public void removeService(Service s) {
        Map<String, Service> m = services.get(s.getMetadata().getNamespace());
        if (m != null) {
            m.remove(s.getMetadata().getName());
        }
    }

    public void putSlice(EndpointSlice s) {
        slices.computeIfAbsent(s.getMetadata().getNamespace(), k -> new ConcurrentHashMap<>()).put(s.getMetadata().getName(), s);
    }

    public void removeSlice(EndpointSlice s) {
        Map<String, EndpointSlice> m = slices.get(s.getMetadata().getNamespace());
        if (m != null) {
            m.remove(s.getMetadata().getName());
        }
    }

    /** A Gateway or GatewayClass added or changed. */
    public void putGateway(GenericKubernetesResource r) {
        if ("GatewayClass".equals(r.getKind())) {
            gatewayClasses.put(r.getMetadata().getName(), r);
        } else {
            gateways.put(key(r.getMetadata().getNamespace(), r.getMetadata().getName()), r);
        }
    }

    public void removeGateway(GenericKubernetesResource r) {
        if ("GatewayClass".equals(r.getKind())) {
            gatewayClasses.remove(r.getMetadata().getName());
        } else {
            gateways.remove(key(r.getMetadata().getNamespace(), r.getMetadata().getName()));
        }
    }

    /**
     * Whether {@code kind} (Gateway or GatewayClass) cannot be listed (403) now: while Gateways cannot, a waypoint label is
     * not checked but kept as a reference; while GatewayClasses cannot, a Gateway relying on its class's traffic type is
     * for {@code all} traffic ({@link Waypoints#of(List, Map, boolean, boolean, String)}); never dropped.
     */
    public void gatewaysForbidden(String kind, boolean forbidden) {
        if (forbidden) {
            gatewaysForbidden.add(kind);
        } else {
            gatewaysForbidden.remove(kind);
        }
    }

    /** The waypoints of the Gateways and GatewayClasses kept now ({@link Waypoints}). */
    private Waypoints waypoints() {
        boolean unread = gatewaysForbidden.contains("Gateway");
        if (gateways.isEmpty() && !unread) {
            return Waypoints.NONE;
        }
        List<GenericKubernetesResource> all = new ArrayList<>(gateways.values());
        all.sort(Comparator.comparing((GenericKubernetesResource r) -> r.getMetadata().getNamespace())
                .thenComparing(r -> r.getMetadata().getName()));
        return Waypoints.of(all, Map.copyOf(gatewayClasses), unread,
                gatewaysForbidden.contains("GatewayClass"), clusterDomain);
    }

    /** A ServiceEntry or WorkloadEntry (any served version) added or changed. */
    public void putIstioEntry(GenericKubernetesResource r) {
        entries(r).computeIfAbsent(key(r.getMetadata().getNamespace(), r.getMetadata().getName()), k -> new ConcurrentHashMap<>())
                .put(r.getApiVersion(), r);
    }

    public void removeIstioEntry(GenericKubernetesResource r) {
        Map<String, GenericKubernetesResource> m = entries(r).get(key(r.getMetadata().getNamespace(), r.getMetadata().getName()));
        if (m != null) {
            m.remove(r.getApiVersion());
            if (m.isEmpty()) {
                entries(r).remove(key(r.getMetadata().getNamespace(), r.getMetadata().getName()), m);
            }
        }
    }

    private Map<String, Map<String, GenericKubernetesResource>> entries(GenericKubernetesResource r) {
        return "WorkloadEntry".equals(r.getKind()) ? workloadEntries : serviceEntries;
    }

    /** Each object once, its newest served version (v1 over v1beta1 over v1alpha3), by namespace and name. */
    private static List<GenericKubernetesResource> newest(Map<String, Map<String, GenericKubernetesResource>> from) {
        List<GenericKubernetesResource> out = new ArrayList<>();
        for (Map<String, GenericKubernetesResource> versions : from.values()) {
            GenericKubernetesResource pick = null;
            for (String v : List.of("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")) {
                if (pick == null) {
                    pick = versions.get(v);
                }
            }
            if (pick == null && !versions.isEmpty()) {
                pick = versions.values().iterator().next();
            }
            if (pick != null) {
                out.add(pick);
            }
        }
        out.sort(Comparator.comparing((GenericKubernetesResource r) -> r.getMetadata().getNamespace())
                .thenComparing(r -> r.getMetadata().getName()));
        return out;
    }

    /**
     * Every Service converted ({@link PodConversion#toService}), by namespace and name; a VIP that is a pod's address in
     * {@code podAddresses} or an earlier Service's (the API server allocates each once: only a stale view has two) is
     * left out and logged, as the registry would refuse the whole update.
     */
    private List<io.zerohop.core.Service> services(Set<InetAddress> podAddresses, Waypoints waypoints) {
        List<Service> all = new ArrayList<>();
        services.values().forEach(m -> all.addAll(m.values()));
        all.sort(Comparator.comparing((Service s) -> s.getMetadata().getNamespace()).thenComparing(s -> s.getMetadata().getName()));
        Set<InetAddress> vips = new HashSet<>();
        List<io.zerohop.core.Service> out = new ArrayList<>(all.size());
        for (Service k : all) {
            io.zerohop.core.Service s = PodConversion.toService(k,
                    namespaceTrafficDistribution.get(k.getMetadata().getNamespace()), clusterDomain).orElse(null);
            if (s == null) {
                continue;
            }
            s = s.withWaypoint(waypoints.forService("Service " + s.namespace() + "/" + s.name(), s.namespace(),
                    labelsOf(k.getMetadata().getLabels()), namespaceLabels.get(s.namespace())));
            List<InetAddress> free = new ArrayList<>();
            for (InetAddress a : s.vips()) {
                if (!podAddresses.contains(a) && vips.add(a)) {
                    free.add(a);
                } else {
                    LOG.debug("address {} of Service {} is a pod's or another Service's: left out", a.getHostAddress(), s);
                }
            }
            out.add(free.size() == s.vips().size() ? s : new io.zerohop.core.Service(s.namespace(), s.name(), s.hostname(), free, s.ports(),
                    s.loadBalancing(), s.waypoint()));
        }
        return out;
    }

    /** A ServiceEntry or WorkloadEntry as kept (its newest version); for tests. */
    Optional<GenericKubernetesResource> istioEntry(String kind, String namespace, String name) {
        Map<String, GenericKubernetesResource> versions = ("WorkloadEntry".equals(kind) ? workloadEntries : serviceEntries)
                .get(key(namespace, name));
        return versions == null ? Optional.empty() : newest(Map.of("", versions)).stream().findFirst();
    }

    /** The pod object as kept (from the informer, or a peer lookup); for tests. */
    Optional<Pod> pod(String namespace, String name) {
        PodEntry e = pods.get(key(namespace, name));
        return e == null ? Optional.empty() : Optional.of(e.pod);
    }

    public Optional<PodState> podState(String namespace, String name) {
        PodEntry e = pods.get(key(namespace, name));
        if (e == null) {
            e = peers.get(key(namespace, name));
        }
        if (e == null) {
            return Optional.empty();
        }
        Pod p = e.pod;
        Map<String, String> nsLabels = namespaceLabels.getOrDefault(namespace, Map.of());
        return Optional.of(new PodState(namespace, name, p.getSpec() == null ? null : p.getSpec().getNodeName(),
                p.getStatus() == null ? null : p.getStatus().getPhase(), PodConversion.isReady(p),
                PodConversion.inMesh(p, nsLabels), PodConversion.captured(p, nsLabels)));
    }

    /**
     * Converts everything and installs it when it differs from what is installed; true when it did. Its warnings are
     * said once while their cause lasts, bounded per kind ({@link OnceWarnings}): one conversion of everything is one
     * flush of {@link #warnings}.
     */
    public synchronized boolean flush() {
        return warnings.during(this::convertAndInstall);
    }

    private boolean convertAndInstall() {
        List<PodEntry> all = new ArrayList<>(pods.values());
        for (Map.Entry<String, PodEntry> e : peers.entrySet()) {
            if (!pods.containsKey(e.getKey())) {
                all.add(e.getValue());
            }
        }
        // A pod not being deleted first, then the newest claim, so it keeps a contested address. Claims are numbered in the
        // order this process saw them, which after a start (or for pods listed together) is the list's order, by name: a
        // pod still terminating with an address the kubelet has handed on (its node lost, its status stale) outranked the
        // live pod now holding it when its name sorted later, and the live pod's address was the terminating pod's
        // identity, labels and Services until that pod was gone (a review pass, helper 265; KubernetesWorkloadsTest).
        all.sort(Comparator.comparing((PodEntry e) -> e.pod.getMetadata().getDeletionTimestamp() != null)
                .thenComparing(Comparator.comparingLong((PodEntry e) -> e.claimedAt).reversed()));
        Set<InetAddress> claimed = new HashSet<>();
        List<Workload> out = new ArrayList<>(all.size());
        Waypoints waypoints = waypoints();
        List<EndpointSlice> allSlices = sortedSlices();
        Map<String, List<Service>> podSlices = podSliceServices(allSlices);
        for (PodEntry e : all) {
            String ns = e.pod.getMetadata().getNamespace();
            Collection<Service> svcs = services.getOrDefault(ns, Map.of()).values();
            Optional<Workload> w = PodConversion.toWorkload(e.pod, namespaceLabels.getOrDefault(ns, Map.of()), svcs, trustDomain,
                    podSlices.getOrDefault(EndpointSliceConversion.podKey(ns, e.pod.getMetadata().getName(),
                            e.pod.getMetadata().getUid()), List.of()), clusterDomain);
            if (w.isEmpty()) {
                continue;
            }
            Workload x = w.get().withWaypoint(waypoints.forWorkload("Pod " + ns + "/" + e.pod.getMetadata().getName(), ns,
                    labelsOf(e.pod.getMetadata().getLabels()), namespaceLabels.get(ns)));
            List<InetAddress> free = new ArrayList<>();
            for (InetAddress a : x.addresses()) {
                if (claimed.add(a)) {
                    free.add(a);
                } else {
                    LOG.debug("address {} of {} now belongs to a newer pod", a.getHostAddress(), x);
                }
            }
            if (free.isEmpty()) {
                continue;
            }
            if (free.size() != x.addresses().size()) {
                x = new Workload(x.namespace(), x.name(), x.serviceAccount(), x.labels(), free, x.protocol(), x.node(),
                        x.trustDomain(), x.appProtocols(), x.namedPorts(), x.workloadName(), x.services(), x.waypoint(), x.hostname());
            }
            out.add(x);
        }
        List<io.zerohop.core.Service> svcs = services(claimed, waypoints);
        if (!serviceEntries.isEmpty() || !workloadEntries.isEmpty()) {
            svcs = new ArrayList<>(svcs);
            out = withIstioEntries(out, svcs, claimed, waypoints);
        }
        List<EndpointSliceConversion.SliceEndpoint> hostNetwork = new ArrayList<>();
        List<PodEntry> byName = new ArrayList<>(all);
        byName.sort(Comparator.comparing((PodEntry e) -> e.pod.getMetadata().getNamespace()).thenComparing(e -> e.pod.getMetadata().getName()));
        for (PodEntry e : byName) {
            hostNetwork.addAll(PodConversion.hostNetworkEndpoints(e.pod,
                    services.getOrDefault(e.pod.getMetadata().getNamespace(), Map.of()).values(), clusterDomain));
        }
        out = withSliceEndpoints(out, allSlices, svcs, hostNetwork);
        out.sort(Comparator.comparing(Workload::namespace).thenComparing(Workload::name));
        Map<String, List<InetAddress>> computed = nodeAddresses ? nodeAddresses(all) : Map.of();
        computedNodes = computed;
        Map<String, List<InetAddress>> nodes = bindNodes ? computed : Map.of();
        if (out.equals(installed) && nodes.equals(installedNodes) && svcs.equals(installedServices)) {
            return false;
        }
        registry.replace(out, Map.of(), nodes, svcs);
        installed = List.copyOf(out);
        installedNodes = nodes;
        installedServices = svcs;
        LOG.debug("installed {} workloads", out.size());
        return true;
    }

    /** One host of a ServiceEntry that became a registry Service, under {@code registryName}. */
    private record SeHost(ServiceEntryConversion.Se se, String registryName, String host) {}

    /**
     * ServiceEntries and WorkloadEntries, as istiod's ambient index builds them (istio/istio
     * pilot/pkg/serviceregistry/ambient/services.go {@code serviceEntriesInfo}, {@code constructServiceEntries},
     * {@code selectWorkloadServices}; workloads.go {@code workloadEntryWorkloadBuilder}, {@code serviceEntryWorkloadBuilder}):
     * <ul>
     * <li>Each host of a ServiceEntry is a registry Service (added to {@code svcs}) with the entry's {@code spec.addresses}
     * that are single IPs as VIPs (a CIDR is left out: zerohop's VIPs are addresses), its ports (service port →
     * {@code targetPort}, else the port), hostname the host. A hostname a Kubernetes Service or an older ServiceEntry
     * already has is not taken again (istiod keeps the Kubernetes Service, else the oldest); a VIP another Service of the
     * namespace has is left out (one host gets a VIP several hosts list); one that a pod, a WorkloadEntry or an endpoint
     * has too is kept, as istiod's {@code constructServiceEntries} reads no workload (the registry then routes a
     * connection dialled there to the Service, ztunnel's {@code find_upstream}, and finds the workload by address,
     * {@code find_address}). {@code resolution: NONE} is passthrough in istiod
     * (the connection goes to the address dialled): the Service has no VIP, so such a connection goes to that address
     * as any other.</li>
     * <li>Its endpoints: the pods and WorkloadEntries of its namespace its {@code workloadSelector} selects (a pod's
     * {@link Workload#services()} gains each host), and its inline {@code spec.endpoints} with an IP address, each a
     * workload named {@code ENTRY-ADDRESS} ({@link #sliceWorkloadName}), labelled with the ServiceEntry's labels, telemetry
     * name the entry's, identity its {@code serviceAccount} (none: a TCP workload without identity).</li>
     * <li>A WorkloadEntry with an IP address is a workload of its name, its labels (spec, then metadata over them), its
     * service account, its {@code ports} as named ports, HBONE when istiod's {@code setTunnelProtocol} says so, carrying
     * the ServiceEntries and the Kubernetes Services of its namespace that select it.</li>
     * <li>An endpoint or WorkloadEntry whose address is no IP is a workload with that {@link Workload#hostname()} and no
     * address; a ServiceEntry with {@code resolution} DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS, no endpoints and no
     * workloadSelector has one such workload per host it serves, the host as its hostname ({@code ENTRY-HOST}, istiod's
     * {@code implicitEndpoints}). mesh-core looks the hostname up when a connection picks it (ztunnel's on-demand DNS).</li>
     * </ul>
     * What zerohop cannot do is left out with one WARN naming the object: a Unix socket endpoint, a hostname that is no
     * DNS name, an address a pod or an earlier entry already has (a VIP does not count), an endpoint on another network, an object that does not parse. An
     * HBONE endpoint without a service account has {@code default}'s identity, as in ztunnel.
     */
    private List<Workload> withIstioEntries(List<Workload> pods, List<io.zerohop.core.Service> svcs, Set<InetAddress> claimed,
                                            Waypoints waypoints) {
        List<ServiceEntryConversion.Se> ses = new ArrayList<>();
        for (GenericKubernetesResource r : newest(serviceEntries)) {
            try {
                ses.add(ServiceEntryConversion.serviceEntry(r));
            } catch (RuntimeException bad) {
                PodConversion.warnOnce("ServiceEntry " + r.getMetadata().getNamespace() + "/" + r.getMetadata().getName()
                        + " left out: " + bad.getMessage());
            }
        }
        // istiod's selectWorkloadServices: for a hostname, the oldest ServiceEntry wins (a Kubernetes Service always).
        ses.sort(Comparator.comparing((ServiceEntryConversion.Se x) -> x.created() == null ? "" : x.created())
                .thenComparing(ServiceEntryConversion.Se::namespace).thenComparing(ServiceEntryConversion.Se::name));
        // One Service per namespace and hostname or VIP, as istiod sends (selectWorkloadServices: a namespace's best) and
        // ztunnel's ServiceStore holds; other namespaces' entries of one host and address are kept, each its own.
        Set<String> hostnames = new HashSet<>();
        Set<String> canonicalTaken = new HashSet<>();
        Set<String> nsVips = new HashSet<>();
        for (io.zerohop.core.Service s : svcs) {
            hostnames.add(s.namespace() + "/" + s.hostname());
            canonicalTaken.add(s.hostname());
            s.vips().forEach(a -> nsVips.add(s.namespace() + "/" + a.getHostAddress()));
        }
        // An entry's VIPs are its spec.addresses whoever else has them (istiod's constructServiceEntries reads no workload):
        // one that is also a WorkloadEntry's, an endpoint's or a pod's address is both, and the registry keeps both (a
        // connection dialled there goes to the Service, ztunnel's find_upstream; a lookup by address finds the workload,
        // find_address). Only another Service of the same namespace keeps it from an entry, as ztunnel's ServiceStore
        // holds one per namespace and VIP. Until 7 December (h383's reading of find_address alone) such an address was
        // no VIP here, so a connection to it skipped the Service's port mapping and its other endpoints.
        List<SeHost> hosts = new ArrayList<>();
        for (ServiceEntryConversion.Se se : ses) {
            if (!se.cidrs().isEmpty()) {
                PodConversion.warnOnce(se.id() + ": addresses " + se.cidrs() + " are CIDRs, which zerohop does not route as"
                        + " VIPs (istiod sends them as prefixes): left out, the entry's single IPs kept");
            }
            // istiod's serviceEntriesInfo: the entry's visibility, resolved once from its namespace's labels; NONE
            // publishes none of its hosts (its endpoints stay workloads, members of nothing of it).
            io.zerohop.kubernetes.ServiceEntryVisibility.Visibility visibility =
                    serviceEntryVisibility.visibilityFor(namespaceLabels.get(se.namespace()));
            if (visibility == io.zerohop.kubernetes.ServiceEntryVisibility.Visibility.NONE) {
                continue;
            }
            boolean namespaceOnly = visibility == io.zerohop.kubernetes.ServiceEntryVisibility.Visibility.NAMESPACE;
            boolean passthrough = "NONE".equals(se.resolution());
            io.zerohop.core.GatewayAddress seWaypoint = waypoints.forService(se.id(), se.namespace(), se.labels(),
                    namespaceLabels.get(se.namespace()), namespaceOnly);
            for (int i = 0; i < se.hosts().size(); i++) {
                String host = se.hosts().get(i);
                if (!hostnames.add(se.namespace() + "/" + host)) {
                    PodConversion.warnOnce(se.id() + ": host " + host + " is already a Kubernetes Service's or an older"
                            + " ServiceEntry's of namespace " + se.namespace() + " (istiod keeps that one): left out");
                    continue;
                }
                String name = registryName(se.name());
                List<InetAddress> free = new ArrayList<>();
                if (!passthrough) {
                    for (InetAddress a : se.vips()) {
                        if (nsVips.add(se.namespace() + "/" + a.getHostAddress())) {
                            free.add(a);
                        } else {
                            PodConversion.warnOnce(se.id() + ": address " + a.getHostAddress() + " of host " + host
                                    + " is already another Service's of namespace " + se.namespace()
                                    + ": left out for this host");
                        }
                    }
                }
                List<io.zerohop.core.Service.Port> ports = new ArrayList<>();
                for (ServiceEntryConversion.SePort p : se.ports()) {
                    ports.add(new io.zerohop.core.Service.Port(p.number(), p.targetPort() != 0 ? p.targetPort() : p.number(), null));
                }
                try {
                    // istiod's canonical: a Kubernetes Service of the host, else its oldest ServiceEntry (ses are oldest first).
                    // A NAMESPACE-visible entry is never canonical and leaves the host's canonical to another
                    // (services.go: "case si.Service.GetVisibility() == workloadapi.Service_NAMESPACE: continue").
                    svcs.add(new io.zerohop.core.Service(se.namespace(), name, host, free, ports,
                            passthrough ? null : entryLoadBalancing(se), seWaypoint)
                            .withCanonical(!namespaceOnly && canonicalTaken.add(host))
                            .withVisibility(namespaceOnly ? io.zerohop.core.Service.Visibility.NAMESPACE
                                    : io.zerohop.core.Service.Visibility.PUBLIC));
                    hosts.add(new SeHost(se, name, host));
                } catch (RuntimeException bad) {
                    hostnames.remove(se.namespace() + "/" + host);
                    PodConversion.warnOnce(se.id() + ": host " + host + " left out: " + bad.getMessage());
                }
            }
        }
        List<Workload> out = new ArrayList<>(pods.size());
        Set<String> workloadNames = new HashSet<>();
        for (PodEntry e : allPodEntries()) {
            workloadNames.add(key(e.pod.getMetadata().getNamespace(), e.pod.getMetadata().getName()));
        }
        // Pods a ServiceEntry's workloadSelector selects carry its hosts (istiod's constructServices, ServiceEntry branch).
        for (Workload w : pods) {
            workloadNames.add(key(w.namespace(), w.name()));
            PodEntry e = pods(w.namespace(), w.name());
            List<io.zerohop.core.WorkloadService> extra = new ArrayList<>();
            if (e != null) {
                Map<String, String> labels = e.pod.getMetadata().getLabels() == null ? Map.of() : e.pod.getMetadata().getLabels();
                boolean healthy = PodConversion.isReady(e.pod) && e.pod.getMetadata().getDeletionTimestamp() == null;
                Map<String, Integer> named = w.namedPorts() == null ? Map.of() : w.namedPorts();
                for (SeHost h : hosts) {
                    if (h.se.namespace().equals(w.namespace()) && ServiceEntryConversion.selects(h.se.selector(), labels)) {
                        extra.add(ServiceEntryConversion.membership(h.se, h.registryName, h.host, named, healthy));
                    }
                }
            }
            out.add(extra.isEmpty() ? w : withServices(w, extra));
        }
        for (GenericKubernetesResource r : newest(workloadEntries)) {
            String id = "WorkloadEntry " + r.getMetadata().getNamespace() + "/" + r.getMetadata().getName();
            try {
                ServiceEntryConversion.We we = ServiceEntryConversion.workloadEntry(r);
                List<io.zerohop.core.WorkloadService> member = new ArrayList<>();
                for (SeHost h : hosts) {
                    if (h.se.namespace().equals(we.namespace()) && ServiceEntryConversion.selects(h.se.selector(), we.spec().labels())) {
                        member.add(ServiceEntryConversion.membership(h.se, h.registryName, h.host, we.spec().ports(), true));
                    }
                }
                List<Service> nsServices = new ArrayList<>(services.getOrDefault(we.namespace(), Map.of()).values());
                nsServices.sort(Comparator.comparing(x -> x.getMetadata().getName()));
                for (Service k : nsServices) {
                    if (k.getSpec() != null && !"ExternalName".equals(k.getSpec().getType())
                            && ServiceEntryConversion.selects(k.getSpec().getSelector(), we.spec().labels())) {
                        member.add(ServiceEntryConversion.serviceMembership(k, we.spec().ports(), clusterDomain));
                    }
                }
                Map<String, String> annotations = we.annotations();
                String workloadName = annotations.containsKey("istio.io/autoRegistrationGroup") ? annotations.get("istio.io/autoRegistrationGroup")
                        : we.spec().labels().getOrDefault("service.istio.io/workload-name", we.name());
                // istiod's computeWaypoint on the WorkloadEntry's labels as ConvertClientWorkloadEntry merged them.
                io.zerohop.core.GatewayAddress waypoint = waypoints.forWorkload(id, we.namespace(), we.spec().labels(),
                        namespaceLabels.get(we.namespace()));
                Workload w = entryWorkload(id, we.namespace(), we.name(), we.spec(), we.spec().labels(), annotations,
                        workloadName, member, claimed, workloadNames, waypoint);
                if (w != null) {
                    out.add(w);
                }
            } catch (RuntimeException bad) {
                PodConversion.warnOnce(id + " left out: " + bad.getMessage());
            }
        }
        // Inline endpoints (istiod's serviceEntryWorkloadBuilder): labels and tunnel from the ServiceEntry itself.
        for (ServiceEntryConversion.Se se : ses) {
            List<SeHost> own = hosts.stream().filter(h -> h.se == se).toList();
            for (int i = 0; i < se.endpoints().size(); i++) {
                ServiceEntryConversion.Endpoint ep = se.endpoints().get(i);
                String id = se.id() + " endpoint " + (ep.address().isEmpty() ? "spec.endpoints[" + i + "]" : ep.address());
                try {
                    List<io.zerohop.core.WorkloadService> member = new ArrayList<>();
                    for (SeHost h : own) {
                        member.add(ServiceEntryConversion.membership(se, h.registryName, h.host, ep.ports(), true));
                    }
                    InetAddress ip = ServiceEntryConversion.ipOrNull(ep.address());
                    String base = ip == null ? hostWorkloadName(se.name(), ep.address()) : sliceWorkloadName(se.name(), ip);
                    String name = base;
                    for (int n = 2; workloadNames.contains(key(se.namespace(), name)); n++) {
                        name = base + "-" + n;
                    }
                    // istiod's serviceEntryWorkloadBuilder: the endpoint's own labels (not the ServiceEntry's) in the
                    // ServiceEntry's namespace decide its waypoint.
                    io.zerohop.core.GatewayAddress waypoint = waypoints.forWorkload(id, se.namespace(), ep.labels(),
                            namespaceLabels.get(se.namespace()));
                    Workload w = entryWorkload(id, se.namespace(), name, ep, se.labels(), se.annotations(), se.name(), member,
                            claimed, workloadNames, waypoint);
                    if (w != null) {
                        out.add(w);
                    }
                } catch (RuntimeException bad) {
                    PodConversion.warnOnce(id + " left out: " + bad.getMessage());
                }
            }
            // istiod's serviceEntryWorkloadBuilder, implicitEndpoints: a DNS entry without endpoints nor workloadSelector has
            // one workload per host it serves, Hostname the host, a member of that host only, no waypoint of its own,
            // looked up on demand when a connection to the host's VIP picks it (mesh-core: Workload.hostname).
            boolean dns = "DNS".equals(se.resolution()) || "DNS_ROUND_ROBIN".equals(se.resolution())
                    || "DYNAMIC_DNS".equals(se.resolution());
            if (dns && se.endpoints().isEmpty() && se.selector() == null) {
                for (SeHost h : own) {
                    String id = se.id() + " host " + h.host;
                    try {
                        String base = hostWorkloadName(se.name(), h.host);
                        String name = base;
                        for (int n = 2; workloadNames.contains(key(se.namespace(), name)); n++) {
                            name = base + "-" + n;
                        }
                        Workload w = entryWorkload(id, se.namespace(), name,
                                new ServiceEntryConversion.Endpoint(h.host, Map.of(), null, Map.of(), null, null), se.labels(),
                                se.annotations(), se.name(),
                                List.of(ServiceEntryConversion.membership(se, h.registryName, h.host, Map.of(), true)),
                                claimed, workloadNames, null);
                        if (w != null) {
                            out.add(w);
                        }
                    } catch (RuntimeException bad) {
                        PodConversion.warnOnce(id + " left out: " + bad.getMessage());
                    }
                }
            }
        }
        return out;
    }

    /**
     * {@code ENTRY-HOST}, the registry name of a ServiceEntry's workload reached at a hostname (istiod names them all
     * after the entry and tells them apart by uid, {@code .../ServiceEntry/NS/NAME/HOST}; a registry name is unique): a DNS
     * subdomain, lower case, cut to 253 characters.
     */
    static String hostWorkloadName(String entry, String host) {
        String h = host.toLowerCase(java.util.Locale.ROOT);
        if (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);
        }
        String name = entry + "-" + h;
        return name.length() > 253 ? name.substring(0, 253) : name;
    }

    /**
     * The workload of a WorkloadEntry or a ServiceEntry endpoint, or null (logged once) when zerohop cannot have it: a
     * hostname address, an address a pod or an earlier entry has (a VIP may be it too), a name a pod has, another network.
     * {@code labels}/{@code annotations} decide HBONE as istiod's {@code setTunnelProtocol}.
     */
    private Workload entryWorkload(String id, String namespace, String name, ServiceEntryConversion.Endpoint ep,
                                   Map<String, String> labels, Map<String, String> annotations, String workloadName,
                                   List<io.zerohop.core.WorkloadService> services, Set<InetAddress> claimed,
                                   Set<String> workloadNames, io.zerohop.core.GatewayAddress waypoint) {
        if (ep.address().isEmpty()) {
            PodConversion.warnOnce(id + ": field spec.address: none, on network \"" + ep.network() + "\" (istiod reaches it"
                    + " through that network's east-west gateway, which zerohop does not use): left out");
            return null;
        }
        InetAddress ip = ServiceEntryConversion.ipOrNull(ep.address());
        if (ip == null && ep.address().startsWith("unix://")) {
            // istio.io's "Unix domain socket" example: a socket on the sidecar's own host, which only a sidecar reaches.
            PodConversion.warnOnce(id + ": address \"" + ep.address() + "\" is a Unix socket, which only the sidecar on its"
                    + " host reaches: left out (no endpoint there)");
            return null;
        }
        // An address that is no IP is a hostname (istiod: w.Hostname = address), looked up per connection (mesh-core's
        // on-demand DNS, as ztunnel's); the Workload refuses one that is no DNS name, and the caller leaves it out.
        boolean hbone = "enabled".equals(annotations.get(PodConversion.AMBIENT_REDIRECTION_ANNOTATION))
                || PodConversion.supportsTunnel(labels, "http");
        // istiod sends an entry without serviceAccount with an empty one, which ztunnel reads as "default" (src/state/
        // workload.rs, the Workload conversion): an HBONE peer there must present the namespace's default identity. A TCP
        // one keeps none: plaintext proves no identity, and without one it is never a local workload (LocalWorkloads).
        String sa = ep.serviceAccount() == null && hbone ? "default" : ep.serviceAccount();
        if (ip != null && sa != null
                && (ip.isLoopbackAddress() || ip.isAnyLocalAddress() || ip.isMulticastAddress() || ip.isLinkLocalAddress())) {
            // Such an address is every host's (or none's): an embedded mesh (no node) counts a workload with an identity
            // at a loopback address as its own (LocalWorkloads.isLocal), so an entry there would be served with its
            // identity. Without a service account it has none, and is never local (as an EndpointSlice endpoint).
            PodConversion.warnOnce(id + ": address " + ip.getHostAddress() + " is loopback, unspecified, link-local or"
                    + " multicast, no workload's own, and it has a service account: left out");
            return null;
        }
        // Only a workload's address keeps it out (the registry holds one workload per address); a VIP does not, as istiod's
        // workload builders read none: the address is then both (find_upstream takes the VIP, find_address the workload).
        if (ip != null && claimed.contains(ip)) {
            PodConversion.warnOnce(id + ": address " + ip.getHostAddress() + " is already a pod's or an earlier entry's:"
                    + " left out");
            return null;
        }
        if (workloadNames.contains(key(namespace, name))) {
            PodConversion.warnOnce(id + ": a pod of the namespace is named " + name + ": left out");
            return null;
        }
        String local = localNetwork();
        if (ep.network() != null && !ep.network().isEmpty() && !ep.network().equals(local)) {
            // ztunnel sends to a workload on another network only through that network's east-west gateway (double
            // HBONE), and refuses without one (outbound.rs build_request_through_gateway); zerohop has no gateway, and
            // dialling the address here could reach whatever holds it on this network (VM networks often reuse 10/8).
            PodConversion.warnOnce(id + ": field spec.network \"" + ep.network() + "\" is not this cluster's network (\""
                    + local + "\", istio-system's " + NETWORK_LABEL + " label): reachable only through that network's"
                    + " east-west gateway, which zerohop does not use: left out");
            return null;
        }
        Map<String, String> withLocality = labels;
        if (ep.locality() != null && !ep.locality().isEmpty()) {
            // istiod's getWorkloadEntryLocality (region/zone/subzone); zerohop ranks locality by these labels.
            String[] parts = ep.locality().split("/", 3);
            withLocality = new java.util.LinkedHashMap<>(labels);
            String[] keys = {"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"};
            for (int i = 0; i < parts.length; i++) {
                if (!parts[i].isEmpty()) {
                    withLocality.putIfAbsent(keys[i], parts[i]);
                }
            }
        }
        // As a pod's: its own labels under Cilium's io.cilium.k8s prefix dropped (an entry could label itself into a Cilium
        // selector meant for a trusted namespace or another cluster), its namespace's labels added in Cilium's form.
        withLocality = PodConversion.withNamespaceLabels(withLocality, namespaceLabels.getOrDefault(namespace, Map.of()));
        Workload w = new Workload(namespace, name, sa, withLocality, ip == null ? List.of() : List.of(ip),
                hbone ? Workload.Protocol.HBONE : Workload.Protocol.TCP, null, trustDomain, Map.of(),
                ep.ports().isEmpty() ? null : ep.ports(), workloadName, services, waypoint, ip == null ? ep.address() : null);
        if (ip != null) {
            claimed.add(ip);
        }
        workloadNames.add(key(namespace, name));
        return w;
    }

    /** Where istiod reads the cluster's network from (its system namespace's label; {@code networkGetter}). */
    static final String NETWORK_LABEL = "topology.istio.io/network";

    /**
     * The cluster's network as istiod names it: the {@value #NETWORK_LABEL} label of {@code istio-system} (istiod's
     * {@code networkGetter}: its system namespace's label), "" when unlabelled or not read (the embedded mode reads its
     * own namespace only: then an entry naming any network is left out, never dialled).
     */
    private String localNetwork() {
        String n = namespaceLabels.getOrDefault("istio-system", Map.of()).get(NETWORK_LABEL);
        return n == null ? "" : n;
    }

    private static Map<String, String> labelsOf(Map<String, String> labels) {
        return labels == null ? Map.of() : labels;
    }

    private PodEntry pods(String namespace, String name) {
        PodEntry e = pods.get(key(namespace, name));
        return e != null ? e : peers.get(key(namespace, name));
    }

    private static Workload withServices(Workload w, List<io.zerohop.core.WorkloadService> extra) {
        List<io.zerohop.core.WorkloadService> merged = new ArrayList<>(w.services());
        merged.addAll(extra);
        return new Workload(w.namespace(), w.name(), w.serviceAccount(), w.labels(), w.addresses(), w.protocol(), w.node(),
                w.trustDomain(), w.appProtocols(), w.namedPorts(), w.workloadName(), merged, w.waypoint(), w.hostname());
    }

    /**
     * The registry name of each host's Service of a ServiceEntry: the entry's name, as istiod names every one
     * (services.go {@code constructServiceEntries}, {@code Name: svc.Name}), so /config_dump and
     * {@code destination_service_name} show it; the registry tells them apart, and from a Kubernetes Service of that name,
     * by hostname (mesh-core {@code WorkloadRegistry}). Until 7 December the second host was {@code NAME-2} and a name a
     * Kubernetes Service had {@code NAME-se}. Made a DNS-1035 label, as a registry Service's name must be: dots as dashes,
     * {@code se-} before a leading digit, at most 63 characters (an entry's name is a DNS-1123 subdomain; the one
     * difference left).
     */
    static String registryName(String entry) {
        String base = entry.toLowerCase(java.util.Locale.ROOT).replace('.', '-');
        if (!base.isEmpty() && !Character.isLetter(base.charAt(0))) {
            base = "se-" + base;
        }
        return cut(base, "");
    }

    private static String cut(String base, String suffix) {
        String head = base.length() + suffix.length() > 63 ? base.substring(0, 63 - suffix.length()) : base;
        while (!head.isEmpty() && head.charAt(head.length() - 1) == '-') {
            head = head.substring(0, head.length() - 1);
        }
        return head + suffix;
    }

    /** istiod's {@code GetTrafficDistribution(nil, se.Annotations, nsAnnotations)}: the entry's annotation, else its namespace's. */
    private io.zerohop.core.Service.LoadBalancing entryLoadBalancing(ServiceEntryConversion.Se se) {
        String v = se.annotations().get(PodConversion.TRAFFIC_DISTRIBUTION_ANNOTATION);
        if (v == null || v.isEmpty()) {
            Map<String, String> ns = namespaceTrafficDistribution.get(se.namespace());
            v = ns == null ? null : ns.get(PodConversion.TRAFFIC_DISTRIBUTION_ANNOTATION);
        }
        if (v == null || v.isEmpty()) {
            return null;
        }
        return switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "preferclose", "prefersamezone" -> io.zerohop.core.Service.LoadBalancing.PREFER_SAME_ZONE;
            case "prefersamenode" -> io.zerohop.core.Service.LoadBalancing.PREFER_SAME_NODE;
            default -> null;
        };
    }

    /** The slices kept, by namespace then name (so the first slice of an address is always the same one). */
    private List<EndpointSlice> sortedSlices() {
        List<EndpointSlice> out = new ArrayList<>();
        slices.values().forEach(m -> out.addAll(m.values()));
        out.sort(Comparator.comparing((EndpointSlice s) -> s.getMetadata().getNamespace()).thenComparing(s -> s.getMetadata().getName()));
        return out;
    }

    /**
     * {@link EndpointSliceConversion#podKey} → the Services whose slices name that pod by {@code targetRef}
     * (istiod's {@code matchingServicesWithoutSelectors}). A slice that fails to convert is skipped alone, logged once.
     */
    private Map<String, List<Service>> podSliceServices(List<EndpointSlice> all) {
        Map<String, List<Service>> out = new HashMap<>();
        for (EndpointSlice es : all) {
            try {
                Map<String, Service> nsServices = services.get(es.getMetadata().getNamespace());
                Service svc = EndpointSliceConversion.serviceOf(es, nsServices);
                for (String key : EndpointSliceConversion.podRefs(es, nsServices)) {
                    List<Service> l = out.computeIfAbsent(key, k -> new ArrayList<>());
                    if (!l.contains(svc)) {
                        l.add(svc);
                    }
                }
            } catch (RuntimeException bad) {
                PodConversion.warnOnce("EndpointSlice " + es.getMetadata().getNamespace() + "/" + es.getMetadata().getName()
                        + " skipped: " + bad);
            }
        }
        return out;
    }

    /**
     * {@code pods} (the pod workloads, each address owned by one) plus the endpoints of the slices that name no pod
     * ({@link EndpointSliceConversion#endpoints}), as istiod's {@code endpointSlicesBuilder} adds them, each address given
     * to one workload so that the registry never refuses the update:
     * <ul>
     * <li>An address that is a pod's stays the pod's; the slice's Service membership (with the slice's ports and
     * readiness) is added to that pod's workload, so the Service's VIP still reaches the address, as upstream's
     * separate {@code HOST_NETWORK} workload at the pod's IP does (over HBONE when the pod is in the mesh, where ztunnel
     * would send plaintext: the same address and port, one tunnel stronger).</li>
     * <li>An address several slices list (two Services in front of one external IP) is one workload carrying each
     * Service; it is named after the first slice by namespace and name.</li>
     * <li>An address that is a Service VIP and no workload's is left out (logged once): the API server allocated the
     * VIP, the slice was written by hand. One that is also a workload's (a ServiceEntry address a WorkloadEntry has too)
     * is that workload's, as above.</li>
     * </ul>
     * Each remaining address becomes a {@link Workload.Protocol#TCP} workload without identity (null service account:
     * {@link Workload}'s class comment), no labels, no node, named {@code SLICE-ADDRESS} (the address with {@code :} as
     * {@code -}, so the name is a DNS subdomain and unique among slice workloads; a pod of that very name in the namespace
     * makes it {@code SLICE-ADDRESS-2}, ...: {@code KubernetesDiscovery} finds pods by name), its telemetry name
     * ({@link Workload#workloadName}) the slice's, istiod's workload name. A slice that fails to convert is skipped
     * alone, logged once; the other slices and every pod still install.
     */
    private List<Workload> withSliceEndpoints(List<Workload> pods, List<EndpointSlice> all, List<io.zerohop.core.Service> svcs,
                                              List<EndpointSliceConversion.SliceEndpoint> hostNetwork) {
        if (all.isEmpty() && hostNetwork.isEmpty()) {
            return pods;
        }
        Set<InetAddress> vips = new HashSet<>();
        for (io.zerohop.core.Service s : svcs) {
            vips.addAll(s.vips());
        }
        // A workload's address takes the slice's membership even when it is a VIP too (a ServiceEntry address a VM also
        // has): istiod's endpointSlicesBuilder reads no VIP, and the workload there is what a lookup by address finds.
        for (Workload w : pods) {
            w.addresses().forEach(vips::remove);
        }
        // Address → the memberships the slices give it, in slice order; and the first slice naming it.
        Map<InetAddress, List<io.zerohop.core.WorkloadService>> byAddress = new java.util.LinkedHashMap<>();
        Map<InetAddress, EndpointSliceConversion.SliceEndpoint> first = new HashMap<>();
        for (EndpointSlice es : all) {
            List<EndpointSliceConversion.SliceEndpoint> eps;
            try {
                eps = EndpointSliceConversion.endpoints(es, services.get(es.getMetadata().getNamespace()), clusterDomain);
            } catch (RuntimeException bad) {
                PodConversion.warnOnce("EndpointSlice " + es.getMetadata().getNamespace() + "/" + es.getMetadata().getName()
                        + " skipped: " + bad);
                continue;
            }
            addSliceEndpoints(eps, vips, byAddress, first);
        }
        // Host-network pods' memberships, after the slices (PodConversion.hostNetworkEndpoints): the same rules.
        addSliceEndpoints(hostNetwork, vips, byAddress, first);
        return withSliceWorkloads(pods, byAddress, first);
    }

    private static void addSliceEndpoints(List<EndpointSliceConversion.SliceEndpoint> eps, Set<InetAddress> vips,
                                          Map<InetAddress, List<io.zerohop.core.WorkloadService>> byAddress,
                                          Map<InetAddress, EndpointSliceConversion.SliceEndpoint> first) {
        for (EndpointSliceConversion.SliceEndpoint ep : eps) {
            if (vips.contains(ep.address())) {
                PodConversion.warnOnce("EndpointSlice " + ep.namespace() + "/" + ep.slice() + ": endpoint "
                        + ep.address().getHostAddress() + " is a Service's cluster IP, left out");
                continue;
            }
            List<io.zerohop.core.WorkloadService> l = byAddress.computeIfAbsent(ep.address(), k -> new ArrayList<>());
            if (l.stream().noneMatch(x -> x.namespace().equals(ep.service().namespace()) && x.name().equals(ep.service().name()))) {
                l.add(ep.service());
            }
            first.putIfAbsent(ep.address(), ep);
        }
    }

    private List<Workload> withSliceWorkloads(List<Workload> pods, Map<InetAddress, List<io.zerohop.core.WorkloadService>> byAddress,
                                              Map<InetAddress, EndpointSliceConversion.SliceEndpoint> first) {
        if (byAddress.isEmpty()) {
            return pods;
        }
        List<Workload> out = new ArrayList<>(pods.size() + byAddress.size());
        Set<String> names = new HashSet<>();
        for (Workload w : pods) {
            names.add(w.namespace() + "/" + w.name());
            List<io.zerohop.core.WorkloadService> extra = null;
            for (InetAddress a : w.addresses()) {
                List<io.zerohop.core.WorkloadService> l = byAddress.remove(a);
                if (l != null) {
                    extra = extra == null ? new ArrayList<>() : extra;
                    extra.addAll(l);
                }
            }
            if (extra == null) {
                out.add(w);
                continue;
            }
            List<io.zerohop.core.WorkloadService> merged = new ArrayList<>(w.services());
            for (io.zerohop.core.WorkloadService ws : extra) {
                if (merged.stream().noneMatch(x -> x.namespace().equals(ws.namespace()) && x.name().equals(ws.name()))) {
                    merged.add(ws);
                }
            }
            out.add(new Workload(w.namespace(), w.name(), w.serviceAccount(), w.labels(), w.addresses(), w.protocol(), w.node(),
                    w.trustDomain(), w.appProtocols(), w.namedPorts(), w.workloadName(), merged, w.waypoint(), w.hostname()));
        }
        for (PodEntry e : allPodEntries()) {
            names.add(e.pod.getMetadata().getNamespace() + "/" + e.pod.getMetadata().getName());
        }
        for (Map.Entry<InetAddress, List<io.zerohop.core.WorkloadService>> e : byAddress.entrySet()) {
            EndpointSliceConversion.SliceEndpoint ep = first.get(e.getKey());
            try {
                String base = sliceWorkloadName(ep.slice(), e.getKey());
                String name = base;
                for (int i = 2; !names.add(ep.namespace() + "/" + name); i++) {
                    name = base + "-" + i;
                }
                out.add(new Workload(ep.namespace(), name, null, Map.of(), List.of(e.getKey()), Workload.Protocol.TCP, null,
                        trustDomain, Map.of(), null, ep.slice(), e.getValue()));
            } catch (RuntimeException bad) {
                PodConversion.warnOnce("EndpointSlice " + ep.namespace() + "/" + ep.slice() + ": endpoint "
                        + e.getKey().getHostAddress() + " skipped: " + bad.getMessage());
            }
        }
        return out;
    }

    /** Every pod entry, informer pods and looked-up peers (names a slice workload must not take). */
    private List<PodEntry> allPodEntries() {
        List<PodEntry> out = new ArrayList<>(pods.values());
        out.addAll(peers.values());
        return out;
    }

    /**
     * {@code SLICE-ADDRESS}: the address with {@code :} as {@code -} (Java writes IPv6 uncompressed, so it begins and ends
     * with a hex digit), a DNS subdomain as {@link Workload} requires; a slice name that would make it longer than 253
     * characters is cut.
     */
    static String sliceWorkloadName(String slice, InetAddress a) {
        String ip = a.getHostAddress();
        int pct = ip.indexOf('%');
        ip = (pct < 0 ? ip : ip.substring(0, pct)).replace(':', '-');
        String head = slice.length() + 1 + ip.length() > 253 ? slice.substring(0, 253 - 1 - ip.length()) : slice;
        while (!head.isEmpty() && !Character.isLetterOrDigit(head.charAt(head.length() - 1))) {
            head = head.substring(0, head.length() - 1);
        }
        return head.isEmpty() ? ip : head + "-" + ip;
    }

    /**
     * Node name → the union of the host IPs ({@link PodConversion#hostIps}) of its pods that are not
     * terminal (Succeeded/Failed pods keep the hostIP of when they ran, which a node whose address
     * changed no longer has), host-network pods included (the node proxy's own pod is one, so every
     * node it runs on is known once it runs). Pending pods without a host IP add nothing; a node none
     * of whose pods reports one is absent. Each list is sorted (IPv4 first, then by bytes), so equal
     * sets compare equal and an unchanged set installs nothing. An address that is not an IP literal
     * is left out with a WARN (once per pod and value, not at every install): an address fewer can
     * only narrow what a claim may be believed from.
     */
    private Map<String, List<InetAddress>> nodeAddresses(List<PodEntry> entries) {
        Map<String, TreeSet<InetAddress>> byNode = new TreeMap<>();
        for (PodEntry e : entries) {
            Pod p = e.pod;
            String node = p.getSpec() == null ? null : p.getSpec().getNodeName();
            if (node == null || node.isBlank() || PodConversion.isTerminal(p)) {
                continue;
            }
            for (String ip : PodConversion.hostIps(p)) {
                try {
                    InetAddress a = Addresses.parseIp(ip, "Pod/" + p.getMetadata().getNamespace() + "/"
                            + p.getMetadata().getName() + ": status.hostIPs");
                    byNode.computeIfAbsent(node, k -> new TreeSet<>(BY_BYTES)).add(a);
                } catch (IllegalArgumentException bad) {
                    if (badHostIps.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName() + " " + ip)) {
                        LOG.warn("not a node address, left out: {}", bad.getMessage());
                    }
                }
            }
        }
        Map<String, List<InetAddress>> out = new TreeMap<>();
        byNode.forEach((node, set) -> out.put(node, List.copyOf(set)));
        return Collections.unmodifiableMap(out);
    }

    private static final Comparator<InetAddress> BY_BYTES = (x, y) -> {
        byte[] a = x.getAddress();
        byte[] b = y.getAddress();
        return a.length != b.length ? Integer.compare(a.length, b.length) : Arrays.compareUnsigned(a, b);
    };

    /** {@code node}'s addresses as last computed by {@link #flush}, whether installed or not; empty when unknown. */
    public List<InetAddress> computedAddresses(String node) {
        return computedNodes.getOrDefault(node, List.of());
    }

    /**
     * Whether the next {@link #flush} installs the node addresses (true, the default) or none, so that
     * claims are believed on the peer's identity alone. KubernetesDiscovery turns it off while this
     * node proxy reaches other nodes' pods from an address that is not its node's (an overlay network).
     *
     * @return whether the setting changed (the caller then flushes)
     */
    public boolean bindNodes(boolean on) {
        boolean was = bindNodes;
        bindNodes = on;
        return was != on;
    }

    /** Number of namespaces known (for tests and logs). */
    public int namespaces() {
        return namespaceLabels.size();
    }
}
