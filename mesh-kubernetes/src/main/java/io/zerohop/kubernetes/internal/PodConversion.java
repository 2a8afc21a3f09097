package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HostIP;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.zerohop.core.Addresses;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Workload;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Pod (+ its namespace's labels and the Services selecting it) to {@link Workload}, as istiod builds ambient workloads. */
public final class PodConversion {
    private static final Logger LOG = LoggerFactory.getLogger(PodConversion.class);

    /** istio/api label {@code networking.istio.io/tunnel}: a comma-separated list; {@code http} means HBONE. */
    public static final String TUNNEL_LABEL = "networking.istio.io/tunnel";
    /** istio/api label {@code istio.io/dataplane-mode} ({@code ambient}, {@code none}). */
    public static final String DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode";
    /** Set to {@code enabled} by istio-cni once it redirected the pod to the node proxy. */
    public static final String AMBIENT_REDIRECTION_ANNOTATION = "ambient.istio.io/redirection";
    /** Present on pods with an injected sidecar. */
    public static final String SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status";

    private PodConversion() {
    }

    /**
     * Logs {@code message} at WARN once while its cause lasts, kind "Kubernetes object" ({@link #warnOnce(String, String)}).
     * Every install converts every object again, and the same WARN came every few seconds.
     */
    static void warnOnce(String message) {
        warnOnce("Kubernetes object", message);
    }

    /**
     * Logs {@code message} at WARN the first time it is seen while its cause lasts (a changed value is a new message), at
     * most {@link OnceWarnings#BURST} lines of {@code kind} a minute, the others counted in one summary line
     * ({@link OnceWarnings}).
     */
    static void warnOnce(String kind, String message) {
        OnceWarnings.current().warn(kind, message);
    }

    /**
     * The workload for {@code pod}, or empty when istiod would build none: a terminal pod
     * (Succeeded/Failed, {@code kubeutil.CheckPodTerminal}), a pod without IPs, or unparsable IPs
     * ({@code podWorkloadBuilder} in istio/istio pilot/pkg/serviceregistry/ambient/workloads.go).
     * Host-network pods are left out too: they share the node's address, so no address lookup can
     * tell them apart, and istio-cni never captures them.
     *
     * @param namespaceLabels labels of the pod's namespace (empty when the namespace is not known yet)
     * @param services        Services of the pod's namespace
     */
    public static Optional<Workload> toWorkload(Pod pod, Map<String, String> namespaceLabels,
                                                Collection<Service> services, String trustDomain) {
        return toWorkload(pod, namespaceLabels, services, trustDomain, List.of());
    }

    /**
     * {@link #toWorkload(Pod, Map, Collection, String)} with {@code sliceServices}: the Services whose EndpointSlices name
     * the pod by {@code targetRef} (istiod's {@code matchingServicesWithoutSelectors}: a Service without a selector whose
     * hand-written or mirrored slice lists the pod), which the pod joins as it joins the Services selecting it (its
     * target ports from the Service's, its health its own), after them; one that also selects it counts once.
     */
    public static Optional<Workload> toWorkload(Pod pod, Map<String, String> namespaceLabels,
                                                Collection<Service> services, String trustDomain,
                                                Collection<Service> sliceServices) {
        return toWorkload(pod, namespaceLabels, services, trustDomain, sliceServices, DEFAULT_CLUSTER_DOMAIN);
    }

    /**
     * {@link #toWorkload(Pod, Map, Collection, String, Collection)} in a cluster whose DNS domain is {@code clusterDomain}
     * ({@link #clusterDomain}): the Services' hostnames end with it.
     */
    public static Optional<Workload> toWorkload(Pod pod, Map<String, String> namespaceLabels,
                                                Collection<Service> services, String trustDomain,
                                                Collection<Service> sliceServices, String clusterDomain) {
        if (isTerminal(pod) || (pod.getSpec() != null && Boolean.TRUE.equals(pod.getSpec().getHostNetwork()))) {
            return Optional.empty();
        }
        String ns = pod.getMetadata().getNamespace();
        String name = pod.getMetadata().getName();
        List<InetAddress> addresses = addresses(pod);
        if (addresses.isEmpty()) {
            return Optional.empty();
        }
        Map<String, String> labels = withNamespaceLabels(pod.getMetadata().getLabels(), namespaceLabels);
        String sa = pod.getSpec() == null || blank(pod.getSpec().getServiceAccountName()) ? "default"
                : pod.getSpec().getServiceAccountName();
        String node = pod.getSpec() == null || blank(pod.getSpec().getNodeName()) ? null : pod.getSpec().getNodeName();
        Workload.Protocol protocol = inMesh(pod, namespaceLabels) ? Workload.Protocol.HBONE : Workload.Protocol.TCP;
        return Optional.of(new Workload(ns, name, sa, labels, addresses, protocol, node, trustDomain,
                appProtocols(pod, services), namedPorts(pod), workloadName(pod), services(pod, services, sliceServices, clusterDomain)));
    }

    /**
     * The Services of {@code services} that select {@code pod}, by name, each with the pod ports its ports target (a named
     * {@code targetPort} resolved through the pod's container ports; one that names no port of the pod targets none) and
     * whether the pod is a healthy endpoint of it (Ready and not being deleted, or the Service publishes not-ready
     * addresses: {@link io.zerohop.core.WorkloadService#healthy}),
     * for an inbound connection's {@code destination_service} ({@link io.zerohop.core.WorkloadService#forPort}). The
     * hostname is istiod's for a Kubernetes Service, {@code NAME.NAMESPACE.svc.DOMAIN} ({@link #hostname}), here with the
     * default domain.
     */
    static List<io.zerohop.core.WorkloadService> services(Pod pod, Collection<Service> services) {
        return services(pod, services, List.of(), DEFAULT_CLUSTER_DOMAIN);
    }

    /**
     * {@link #services(Pod, Collection)}, then the Services of {@code sliceServices} (sorted by namespace and name) not
     * already among them: those whose EndpointSlices name the pod ({@link #toWorkload(Pod, Map, Collection, String,
     * Collection)}).
     */
    static List<io.zerohop.core.WorkloadService> services(Pod pod, Collection<Service> services, Collection<Service> sliceServices,
                                                          String clusterDomain) {
        List<Service> sorted = selecting(pod, services);
        if (sliceServices != null && !sliceServices.isEmpty()) {
            List<Service> extra = new ArrayList<>(sliceServices);
            extra.sort(java.util.Comparator.comparing((Service s) -> String.valueOf(s.getMetadata().getNamespace()))
                    .thenComparing(s -> s.getMetadata().getName()));
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (Service s : sorted) {
                seen.add(s.getMetadata().getNamespace() + "/" + s.getMetadata().getName());
            }
            for (Service s : extra) {
                if (s.getSpec() != null && !"ExternalName".equals(s.getSpec().getType())
                        && seen.add(s.getMetadata().getNamespace() + "/" + s.getMetadata().getName())) {
                    sorted.add(s);
                }
            }
        }
        List<io.zerohop.core.WorkloadService> out = new ArrayList<>();
        // istiod's workload status (pilot/pkg/serviceregistry/ambient/workloads.go): HEALTHY when the pod is Ready and
        // not being deleted; a Service with publishNotReadyAddresses takes every pod (services.go: HealthPolicy ALLOW_ALL).
        boolean healthy = isReady(pod) && pod.getMetadata().getDeletionTimestamp() == null;
        Map<String, Integer> cilium = null;
        for (Service s : sorted) {
            if (s.getSpec().getPorts() == null) {
                continue;
            }
            java.util.Set<Integer> targets = new java.util.TreeSet<>();
            Map<Integer, Integer> own = new HashMap<>();
            for (ServicePort sp : s.getSpec().getPorts()) {
                // A UDP or SCTP port is no TCP port of the pod's, as the registry Service leaves it out (serviceOf).
                Integer target = blank(sp.getProtocol()) || "TCP".equals(sp.getProtocol()) ? targetPort(pod, sp) : null;
                if (target != null && target >= 1 && target <= 65535) {
                    targets.add(target);
                    IntOrString t = sp.getTargetPort();
                    if (t != null && t.getIntVal() == null && !blank(t.getStrVal()) && sp.getPort() != null) {
                        // The registry Service resolves a named target through the endpoint's named ports, Cilium's (spec.
                        // containers only); istiod sends each pod's own mapping (FindPortName): kept here where they differ,
                        // as for a native sidecar's port (a review pass, helper 256).
                        cilium = cilium != null ? cilium : namedPorts(pod);
                        if (!target.equals(cilium.get(t.getStrVal().toLowerCase(java.util.Locale.ROOT)))) {
                            own.put(sp.getPort(), target);
                        }
                    }
                }
            }
            String name = s.getMetadata().getName();
            String ns = s.getMetadata().getNamespace() == null ? pod.getMetadata().getNamespace() : s.getMetadata().getNamespace();
            out.add(new io.zerohop.core.WorkloadService(name, ns, hostname(name, ns, clusterDomain), targets,
                    healthy || Boolean.TRUE.equals(s.getSpec().getPublishNotReadyAddresses()), own));
        }
        return out;
    }

    /**
     * The registry Service for a Kubernetes Service, as istiod's ambient index builds ztunnel's (istio/istio
     * pilot/pkg/serviceregistry/ambient/services.go {@code serviceServiceBuilder}, {@code constructServiceVIPs} and
     * {@code constructServicePorts}), or empty for an ExternalName Service, which istiod leaves out. VIPs:
     * {@code spec.clusterIPs}, else {@code spec.clusterIP}; a headless Service's {@code None} (and an unparsable address,
     * logged once) is none. Ports: each TCP port (a port without protocol is TCP; zerohop relays TCP only, and a UDP port
     * may repeat a TCP port's number) with its {@code targetPort}: a number, a container port name each endpoint
     * resolves ({@code io.zerohop.core.Service.Port#named}), or absent, the port itself. A port the API server would
     * refuse (out of range, a bad name) is skipped and logged once. Hostname {@code NAME.NAMESPACE.svc.cluster.local}
     * ({@link #toService(Service, Map, String)} for another cluster domain).
     * Load balancing ({@link io.zerohop.core.Service#loadBalancing}): {@link #loadBalancing}.
     * {@code spec.externalIPs} and LoadBalancer ingress IPs are no VIPs, as in istiod's ambient index (istio/istio
     * pilot/pkg/serviceregistry/ambient/services.go {@code getVIPs}: the cluster IPs only, 86c9f01f, August 2026).
     * The Service's namespace's annotations are not consulted: {@link #toService(Service, Map)} takes them.
     */
    public static Optional<io.zerohop.core.Service> toService(Service s) {
        return toService(s, null);
    }

    /**
     * {@link #toService(Service)} with {@code namespaceAnnotations}, the annotations of the Service's namespace (null:
     * none), of which {@code networking.istio.io/traffic-distribution} is read when neither the Service's
     * {@code spec.trafficDistribution} nor its own annotation decides ({@link #loadBalancing}).
     */
    public static Optional<io.zerohop.core.Service> toService(Service s, Map<String, String> namespaceAnnotations) {
        return toService(s, namespaceAnnotations, DEFAULT_CLUSTER_DOMAIN);
    }

    /** {@link #toService(Service, Map)} in a cluster whose DNS domain is {@code clusterDomain}: hostname {@link #hostname}. */
    public static Optional<io.zerohop.core.Service> toService(Service s, Map<String, String> namespaceAnnotations,
                                                              String clusterDomain) {
        if (s.getSpec() == null || "ExternalName".equals(s.getSpec().getType())) {
            return Optional.empty();
        }
        String ns = s.getMetadata().getNamespace();
        String name = s.getMetadata().getName();
        String where = "Service/" + ns + "/" + name;
        List<String> ips = s.getSpec().getClusterIPs() != null && !s.getSpec().getClusterIPs().isEmpty()
                ? s.getSpec().getClusterIPs() : s.getSpec().getClusterIP() == null ? List.of() : List.of(s.getSpec().getClusterIP());
        List<InetAddress> vips = new ArrayList<>();
        for (int i = 0; i < ips.size(); i++) {
            String ip = ips.get(i);
            if (blank(ip) || "None".equals(ip)) {
                continue;
            }
            try {
                InetAddress a = Addresses.parseIp(ip, where + ": spec.clusterIPs[" + i + "]");
                if (!a.isAnyLocalAddress() && !vips.contains(a)) {
                    vips.add(a);
                }
            } catch (IllegalArgumentException e) {
                warnOnce("skipping an address of " + e.getMessage());
            }
        }
        List<io.zerohop.core.Service.Port> ports = new ArrayList<>();
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        if (s.getSpec().getPorts() != null) {
            for (ServicePort sp : s.getSpec().getPorts()) {
                if (sp.getPort() == null || (sp.getProtocol() != null && !"TCP".equals(sp.getProtocol())) || !seen.add(sp.getPort())) {
                    continue;
                }
                IntOrString t = sp.getTargetPort();
                try {
                    if (t == null || (t.getIntVal() == null && blank(t.getStrVal()))) {
                        ports.add(io.zerohop.core.Service.Port.of(sp.getPort(), sp.getPort()));
                    } else if (t.getIntVal() != null) {
                        ports.add(io.zerohop.core.Service.Port.of(sp.getPort(), t.getIntVal()));
                    } else {
                        io.zerohop.policy.WorkloadRef.checkNamedPorts(Map.of(t.getStrVal(), 1));
                        ports.add(io.zerohop.core.Service.Port.named(sp.getPort(), t.getStrVal()));
                    }
                } catch (IllegalArgumentException e) {
                    warnOnce(where + ": skipping port " + sp.getPort() + ": " + e.getMessage());
                }
            }
        }
        return Optional.of(new io.zerohop.core.Service(ns, name, hostname(name, ns, clusterDomain), vips, ports,
                loadBalancing(s, namespaceAnnotations)));
    }

    /** istio/api annotation {@code networking.istio.io/traffic-distribution} ({@code annotation.NetworkingTrafficDistribution}). */
    public static final String TRAFFIC_DISTRIBUTION_ANNOTATION = "networking.istio.io/traffic-distribution";

    /**
     * The load balancing istiod sends for {@code s} (istio/istio pilot/pkg/serviceregistry/ambient/services.go
     * {@code constructService}, 86c9f01f): {@code internalTrafficPolicy: Local} is
     * {@link io.zerohop.core.Service.LoadBalancing#NODE_LOCAL} (STRICT [NODE]), whatever the traffic distribution; else the
     * traffic distribution as {@code model.GetTrafficDistribution} (pilot/pkg/model/service.go) finds it:
     * {@code spec.trafficDistribution} when it is {@code PreferClose} or {@code PreferSameZone}
     * ({@link io.zerohop.core.Service.LoadBalancing#PREFER_SAME_ZONE}, FAILOVER [NETWORK, REGION, ZONE]) or
     * {@code PreferSameNode} ({@link io.zerohop.core.Service.LoadBalancing#PREFER_SAME_NODE}, FAILOVER [NETWORK, REGION,
     * ZONE, SUBZONE, NODE]), exact case; another value falls through, as in istiod; then the Service's
     * {@code networking.istio.io/traffic-distribution} annotation, any case: those values, or, for any other non-empty value,
     * none (istiod logs "Unknown traffic distribution annotation" and stops there); then the namespace's annotation, read
     * the same way; else none (null). {@code publishNotReadyAddresses} (istiod's health policy ALLOW_ALL) is not part of
     * it: it decides which pods are endpoints ({@link io.zerohop.core.WorkloadService#healthy}).
     *
     * @param namespaceAnnotations the Service's namespace's annotations; null: none
     */
    public static io.zerohop.core.Service.LoadBalancing loadBalancing(Service s, Map<String, String> namespaceAnnotations) {
        if (s.getSpec() != null && "Local".equals(s.getSpec().getInternalTrafficPolicy())) {
            return io.zerohop.core.Service.LoadBalancing.NODE_LOCAL;
        }
        io.zerohop.core.Service.LoadBalancing spec = io.zerohop.core.Service.LoadBalancing.ofTrafficDistribution(
                s.getSpec() == null ? null : s.getSpec().getTrafficDistribution());
        if (spec != null) {
            return spec;
        }
        Map<String, String> own = s.getMetadata().getAnnotations();
        String v = own == null ? null : own.get(TRAFFIC_DISTRIBUTION_ANNOTATION);
        if (v == null || v.isEmpty()) {
            v = namespaceAnnotations == null ? null : namespaceAnnotations.get(TRAFFIC_DISTRIBUTION_ANNOTATION);
        }
        if (v == null || v.isEmpty()) {
            return null;
        }
        return switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "preferclose", "prefersamezone" -> io.zerohop.core.Service.LoadBalancing.PREFER_SAME_ZONE;
            case "prefersamenode" -> io.zerohop.core.Service.LoadBalancing.PREFER_SAME_NODE;
            default -> null; // istiod: TrafficDistributionAny, with a warning
        };
    }

    /**
     * istiod's {@code constants.DefaultClusterLocalDomain} (its {@code --domain} default), ztunnel's
     * {@code DEFAULT_CLUSTER_DOMAIN} (istio/ztunnel src/config.rs).
     */
    public static final String DEFAULT_CLUSTER_DOMAIN = "cluster.local";

    /**
     * A Kubernetes Service's hostname as istiod names it: {@code NAME.NS.svc.DOMAIN}, the domain its {@code --domain}
     * flag ({@code KubeOptions.DomainSuffix}; pilot/pkg/serviceregistry/kube/conversion.go {@code ServiceHostname},
     * pkg/config/kube {@code ServiceHostname}), which the waypoint controller also writes into a waypoint Gateway's
     * {@code status.addresses}.
     */
    static String hostname(String name, String namespace, String clusterDomain) {
        return name + "." + namespace + ".svc." + clusterDomain;
    }

    private static final java.util.regex.Pattern DNS_LABEL = java.util.regex.Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

    /**
     * {@code domain} if it is a cluster domain, as the kubelet's {@code --cluster-domain} must be (a lowercase RFC 1123
     * subdomain: Kubernetes' {@code IsDNS1123Subdomain}, without the trailing dot), else an error naming
     * {@code clusterDomain}: a Service hostname built from a bad one would match no waypoint or ServiceEntry host.
     */
    public static String clusterDomain(String domain) {
        if (domain == null || domain.isEmpty()) {
            throw new IllegalArgumentException("clusterDomain must not be empty (default " + DEFAULT_CLUSTER_DOMAIN + ")");
        }
        if (domain.length() > 253) {
            throw new IllegalArgumentException("clusterDomain \"" + domain + "\" is longer than 253 characters");
        }
        for (String label : domain.split("\\.", -1)) {
            if (!DNS_LABEL.matcher(label).matches()) {
                throw new IllegalArgumentException("clusterDomain \"" + domain + "\" is no DNS name: \"" + label + "\" is no"
                        + " lowercase RFC 1123 label (a-z, 0-9 and '-', 1 to 63 characters, a letter or digit at each end;"
                        + " no trailing dot)");
            }
        }
        return domain;
    }

    /** A CronJob's Job: its name ends with {@code -} and a timestamp of 8 to 10 digits (istio/istio pkg/kube/util.go). */
    private static final java.util.regex.Pattern CRON_JOB = java.util.regex.Pattern.compile("(.+)-\\d{8,10}");

    /**
     * The name telemetry gives the pod's workload, as istiod's {@code workloadName} (pilot/pkg/serviceregistry/ambient
     * workloads.go → pkg/kube/util.go {@code GetWorkloadMetaFromPod}): the {@code service.istio.io/workload-name} label
     * when set; else, for a pod with a {@code generateName} and a controller owner, the owner's name, with a
     * ReplicaSet's {@code -<pod-template-hash>} (a Deployment) or {@code -<rollouts-pod-template-hash>} (an Argo
     * Rollout) trimmed, a ReplicationController's pod the {@code deploymentconfig} label (OpenShift), and a Job named
     * {@code NAME-<8 to 10 digits>} the CronJob {@code NAME}; else the pod's name. Pod labels only: the namespace's
     * are not the pod's.
     */
    public static String workloadName(Pod pod) {
        ObjectMeta m = pod.getMetadata();
        Map<String, String> labels = m.getLabels() == null ? Map.of() : m.getLabels();
        String override = labels.get("service.istio.io/workload-name");
        if (override != null) {
            return override;
        }
        String name = m.getName();
        if (blank(m.getGenerateName()) || m.getOwnerReferences() == null) {
            return name;
        }
        for (var ref : m.getOwnerReferences()) {
            if (!Boolean.TRUE.equals(ref.getController())) {
                continue;
            }
            String owner = ref.getName();
            String hash = labels.get("pod-template-hash");
            String rollout = labels.get("rollouts-pod-template-hash");
            if ("ReplicaSet".equals(ref.getKind()) && !blank(hash) && owner.endsWith(hash)) {
                owner = trimSuffix(owner, "-" + hash);
            } else if ("ReplicaSet".equals(ref.getKind()) && !blank(rollout) && owner.endsWith(rollout)) {
                owner = trimSuffix(owner, "-" + rollout);
            } else if ("ReplicationController".equals(ref.getKind()) && !blank(labels.get("deploymentconfig"))) {
                owner = labels.get("deploymentconfig");
            } else if ("Job".equals(ref.getKind())) {
                java.util.regex.Matcher cron = CRON_JOB.matcher(owner);
                if (cron.matches()) {
                    owner = cron.group(1);
                }
            }
            return blank(owner) ? name : owner;
        }
        return name;
    }

    /** Go's {@code strings.TrimSuffix}: {@code s} without {@code suffix} when it ends with it, else {@code s}. */
    private static String trimSuffix(String s, String suffix) {
        return s.endsWith(suffix) ? s.substring(0, s.length() - suffix.length()) : s;
    }

    /**
     * The pod's TCP container ports by name, as Cilium collects an endpoint's named ports (pkg/k8s/watchers
     * {@code GetPodMetadata}: {@code spec.containers} only, not init containers; each named port through
     * pkg/policy/types {@code NamedPortMap.AddPort}: the name lower-cased, an empty protocol TCP, a later container's
     * port of the same name replacing an earlier one; a port that fails those checks is skipped with a warning, as Cilium
     * logs "Adding named port failed"). A name whose last port is UDP or SCTP is left out: Cilium resolves a name only
     * for the protocol it was declared with, and HBONE carries TCP. Never null: a pod's named ports are known, if none.
     */
    static Map<String, Integer> namedPorts(Pod pod) {
        if (pod.getSpec() == null || pod.getSpec().getContainers() == null) {
            return Map.of();
        }
        Map<String, Integer> tcp = new HashMap<>();
        for (Container c : pod.getSpec().getContainers()) {
            if (c.getPorts() == null) {
                continue;
            }
            for (ContainerPort cp : c.getPorts()) {
                if (blank(cp.getName())) {
                    continue;
                }
                String portName = cp.getName().toLowerCase(java.util.Locale.ROOT);
                Integer number = cp.getContainerPort();
                String proto = cp.getProtocol();
                try {
                    io.zerohop.policy.WorkloadRef.checkNamedPorts(Map.of(portName, number == null ? 0 : number));
                } catch (IllegalArgumentException e) {
                    warnOnce("Pod/" + pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName() + ": skipping " + e.getMessage());
                    continue;
                }
                if (blank(proto) || proto.equalsIgnoreCase("TCP")) {
                    tcp.put(portName, number);
                } else {
                    tcp.remove(portName); // this name's port is now UDP or SCTP
                }
            }
        }
        return Map.copyOf(tcp);
    }

    /** The prefix under which Cilium gives an endpoint its namespace's labels (cilium/cilium pkg/k8s/apis/cilium.io/const.go). */
    static final String CILIUM_NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels.";

    /** The prefix of the labels Cilium owns (cilium/cilium pkg/k8s/apis/cilium.io/const.go {@code LabelPrefix}). */
    static final String CILIUM_LABEL_PREFIX = "io.cilium.k8s";

    /**
     * The pod's labels plus its namespace's labels as Cilium labels an endpoint ({@code PodNamespaceMetaLabels}:
     * {@code io.cilium.k8s.namespace.labels.<key>}), so that a Cilium selector on namespace labels
     * ({@code k8s:io.cilium.k8s.namespace.labels.team: a}) can select the workload as source or destination.
     * The pod's own labels under Cilium's prefix {@code io.cilium.k8s} are dropped first, as Cilium's
     * {@code SanitizePodLabels} / {@code filterPodLabels} drop them (pkg/k8s/utils/utils.go; GHSA-gj2r-phwg-6rww): a pod
     * can set any label on itself, and {@code io.cilium.k8s.namespace.labels.team: trusted} or
     * {@code io.cilium.k8s.policy.cluster: other} written by the pod passed selectors meant for its namespace's labels or
     * another cluster's endpoints (an operator pass; until 5 December they were kept, and kept whole when the namespace
     * had no labels). The cluster label is then absent, Cilium's default cluster {@code default} in mesh-policy.
     */
    static Map<String, String> withNamespaceLabels(Map<String, String> podLabels, Map<String, String> namespaceLabels) {
        boolean owned = false;
        if (podLabels != null) {
            for (String k : podLabels.keySet()) {
                owned |= k.startsWith(CILIUM_LABEL_PREFIX);
            }
        }
        if (!owned && (namespaceLabels == null || namespaceLabels.isEmpty())) {
            return podLabels == null ? Map.of() : podLabels;
        }
        Map<String, String> out = new java.util.HashMap<>();
        if (podLabels != null) {
            podLabels.forEach((k, v) -> {
                if (!k.startsWith(CILIUM_LABEL_PREFIX)) {
                    out.put(k, v);
                }
            });
        }
        if (namespaceLabels != null) {
            namespaceLabels.forEach((k, v) -> out.put(CILIUM_NAMESPACE_LABELS + k, v));
        }
        return Map.copyOf(out);
    }

    /**
     * A host-network pod as an endpoint of the Services selecting it: istiod keeps such a pod in the ambient index with
     * {@code NetworkMode HOST_NETWORK} (pilot/pkg/serviceregistry/ambient/workloads.go {@code podWorkloadBuilder}), so a
     * captured pod dialling the Service's VIP reaches it in plaintext at the node's address. One endpoint per pod address
     * and Service, as an EndpointSlice endpoint that names no pod is one ({@link WorkloadState} gives them the same
     * treatment: no identity, no labels, never a plaintext source's workload, one workload per address); its memberships
     * map each TCP service port to the pod's port (a named {@code targetPort} resolved here, since the address's workload
     * has no named ports). Empty for any other pod, a terminal one, or one without an address. Until 5 December such
     * pods were left out, and a Service of them (node-exporter, a host-network ingress controller) refused every
     * connection from a captured pod, "no healthy upstream" (a review pass, helper 256).
     */
    static List<EndpointSliceConversion.SliceEndpoint> hostNetworkEndpoints(Pod pod, Collection<Service> services) {
        return hostNetworkEndpoints(pod, services, DEFAULT_CLUSTER_DOMAIN);
    }

    /** {@link #hostNetworkEndpoints(Pod, Collection)} with the Services' hostnames in {@code clusterDomain}. */
    static List<EndpointSliceConversion.SliceEndpoint> hostNetworkEndpoints(Pod pod, Collection<Service> services,
                                                                            String clusterDomain) {
        if (pod.getSpec() == null || !Boolean.TRUE.equals(pod.getSpec().getHostNetwork()) || isTerminal(pod)) {
            return List.of();
        }
        String ns = pod.getMetadata().getNamespace();
        String name = pod.getMetadata().getName();
        List<InetAddress> addresses = addresses(pod);
        if (addresses.isEmpty()) {
            return List.of();
        }
        boolean ready = isReady(pod) && pod.getMetadata().getDeletionTimestamp() == null;
        List<EndpointSliceConversion.SliceEndpoint> out = new ArrayList<>();
        for (Service s : selecting(pod, services)) {
            if (s.getSpec().getPorts() == null) {
                continue;
            }
            Map<Integer, Integer> ports = new java.util.TreeMap<>();
            for (ServicePort sp : s.getSpec().getPorts()) {
                Integer target = blank(sp.getProtocol()) || "TCP".equals(sp.getProtocol()) ? targetPort(pod, sp) : null;
                if (target != null && target >= 1 && target <= 65535 && sp.getPort() != null && sp.getPort() >= 1 && sp.getPort() <= 65535) {
                    ports.putIfAbsent(sp.getPort(), target);
                }
            }
            if (ports.isEmpty()) {
                continue;
            }
            String svc = s.getMetadata().getName();
            io.zerohop.core.WorkloadService ws = new io.zerohop.core.WorkloadService(svc, ns, hostname(svc, ns, clusterDomain),
                    new java.util.TreeSet<>(ports.values()), ready || Boolean.TRUE.equals(s.getSpec().getPublishNotReadyAddresses()), ports);
            for (InetAddress a : addresses) {
                out.add(new EndpointSliceConversion.SliceEndpoint(ns, name, a, ws));
            }
        }
        return out;
    }

    /** The pod's addresses ({@link #podIps}), or none when one does not parse (logged once): the pod is then skipped. */
    private static List<InetAddress> addresses(Pod pod) {
        List<InetAddress> addresses = new ArrayList<>();
        try {
            for (String ip : podIps(pod)) {
                addresses.add(Addresses.parseIp(ip, "Pod/" + pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName()
                        + ": status.podIPs"));
            }
        } catch (IllegalArgumentException e) {
            warnOnce("skipping " + e.getMessage());
            return List.of();
        }
        return addresses;
    }

    /** The Services of {@code services} that select {@code pod} ({@link #selectsPod}), by name. */
    private static List<Service> selecting(Pod pod, Collection<Service> services) {
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        List<Service> sorted = new ArrayList<>();
        for (Service s : services) {
            if (s.getSpec() != null && selectsPod(s, labels)) {
                sorted.add(s);
            }
        }
        sorted.sort((a, b) -> a.getMetadata().getName().compareTo(b.getMetadata().getName()));
        return sorted;
    }

    /** {@code status.podIPs} (dual stack), else {@code status.podIP}: {@code getPodIPs} in istiod's workloads.go. */
    static List<String> podIps(Pod pod) {
        return pod.getStatus() == null ? new ArrayList<>()
                : ips(pod.getStatus().getPodIPs(), PodIP::getIp, pod.getStatus().getPodIP());
    }

    /**
     * The addresses of the pod's node as the kubelet reports them in the pod's status:
     * {@code status.hostIPs} (both families of a dual-stack node; Kubernetes 1.28+, on by default from
     * 1.29), else {@code status.hostIP} (the primary family only); empty while the pod is pending
     * without them. The kubelet rewrites both from its node's addresses at every status update
     * ({@code generateAPIPodStatus}, pkg/kubelet/kubelet_pods.go: {@code getHostIPsAnyWay}, the node's
     * first InternalIP, else ExternalIP, per family), so they follow a node whose address changes.
     * Strings as the API gives them, unparsed.
     */
    static List<String> hostIps(Pod pod) {
        return pod.getStatus() == null ? new ArrayList<>()
                : ips(pod.getStatus().getHostIPs(), HostIP::getIp, pod.getStatus().getHostIP());
    }

    /** The non-blank IPs of a status list ({@code podIPs}, {@code hostIPs}), else its single-address field when non-blank. */
    private static <T> List<String> ips(List<T> list, java.util.function.Function<T, String> ip, String single) {
        List<String> out = new ArrayList<>();
        if (list != null) {
            for (T t : list) {
                String s = t == null ? null : ip.apply(t);
                if (!blank(s)) {
                    out.add(s);
                }
            }
        }
        if (out.isEmpty() && !blank(single)) {
            out.add(single);
        }
        return out;
    }

    /** Phase Succeeded or Failed (istio/istio pkg/kube/util.go {@code CheckPodTerminal}). */
    public static boolean isTerminal(Pod pod) {
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return "Succeeded".equals(phase) || "Failed".equals(phase);
    }

    /** The {@code Ready} condition is {@code True} (istiod's {@code IsPodReady}, copied from Kubernetes). */
    public static boolean isReady(Pod pod) {
        if (pod.getStatus() == null || pod.getStatus().getConditions() == null) {
            return false;
        }
        for (PodCondition c : pod.getStatus().getConditions()) {
            if ("Ready".equals(c.getType())) {
                return "True".equals(c.getStatus());
            }
        }
        return false;
    }

    /**
     * Whether traffic to the pod is tunnelled (HBONE). As istiod's {@code setTunnelProtocol}
     * (pilot/pkg/serviceregistry/ambient/workloads.go): the {@code ambient.istio.io/redirection: enabled}
     * annotation, or {@code networking.istio.io/tunnel} listing {@code http}. A pod not yet annotated
     * is enrolled as istio-cni would enrol it, since zerohop's node proxy is what captures it: the
     * default enablement selectors (manifests/charts/istio-cni/values.yaml) and
     * {@code CompiledEnablementSelectors.Matches} (cni/pkg/util/enablement_selector.go): never a
     * host-network pod, one with a sidecar or one in {@code kube-system} (the chart's {@code excludeNamespaces}); the pod
     * labelled {@code istio.io/dataplane-mode: ambient}, or its namespace labelled so and the pod not labelled {@code none}.
     * An annotation left by an istio-cni no longer running is honoured as istiod honours it (istio-cni would remove it
     * once its selectors stop matching); recreate the pod or remove the annotation to opt it out.
     */
    public static boolean inMesh(Pod pod, Map<String, String> namespaceLabels) {
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        return supportsTunnel(labels, "http") || captured(pod, namespaceLabels);
    }

    /**
     * Whether the node proxy captures the pod, as istio-cni decides which pods ztunnel's redirection takes: its
     * {@code ambient.istio.io/redirection: enabled} annotation, else {@code CompiledEnablementSelectors.Matches}
     * (cni/pkg/util/enablement_selector.go) with the default selectors, as {@link #inMesh} says. The
     * {@code networking.istio.io/tunnel} label is not enrolment: it says the pod terminates HBONE itself
     * (istiod's {@code setTunnelProtocol} only), and such a pod outside these selectors is not captured.
     */
    public static boolean captured(Pod pod, Map<String, String> namespaceLabels) {
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        Map<String, String> annotations = pod.getMetadata().getAnnotations() == null ? Map.of() : pod.getMetadata().getAnnotations();
        if ("enabled".equals(annotations.get(AMBIENT_REDIRECTION_ANNOTATION))) {
            return true;
        }
        // Enrolled by zerohop's reading of istio-cni's defaults, which exclude kube-system (manifests/charts/istio-cni/
        // values.yaml excludeNamespaces; cni/pkg/nodeagent/informers.go reconcilePod: shouldBeEnabled = matchesSelector &&
        // !namespaceExcluded). An istio-cni configured otherwise annotates what it enrolls, which the line above honours.
        if (EXCLUDED_NAMESPACES.contains(pod.getMetadata().getNamespace())) {
            return false;
        }
        if (pod.getSpec() != null && Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            return false;
        }
        if (annotations.containsKey(SIDECAR_STATUS_ANNOTATION)) {
            return false;
        }
        String podMode = labels.get(DATAPLANE_MODE_LABEL);
        if ("ambient".equals(podMode)) {
            return true;
        }
        String nsMode = namespaceLabels == null ? null : namespaceLabels.get(DATAPLANE_MODE_LABEL);
        return "ambient".equals(nsMode) && !"none".equals(podMode);
    }

    /** istio-cni's default {@code excludeNamespaces}: pods there are never enrolled in ambient. */
    static final java.util.Set<String> EXCLUDED_NAMESPACES = java.util.Set.of("kube-system");

    /** istio/istio pilot/pkg/model/service.go {@code SupportsTunnel}: the label is a comma-separated list. */
    static boolean supportsTunnel(Map<String, String> labels, String tunnelType) {
        String tl = labels.get(TUNNEL_LABEL);
        return tl != null && (tl.equals(tunnelType) || Arrays.asList(tl.split(",")).contains(tunnelType));
    }

    /**
     * Per target port, the application protocol of the Services selecting the pod:
     * {@link AppProtocol#of(String, String)} on each port's {@code appProtocol} and name. A named
     * {@code targetPort} resolves through the pod's container ports; no {@code targetPort} means the
     * Service port. When two Services disagree on a port, the first by name that declares more than
     * {@code auto} wins.
     */
    static Map<Integer, AppProtocol> appProtocols(Pod pod, Collection<Service> services) {
        Map<Integer, AppProtocol> out = new HashMap<>();
        for (Service s : selecting(pod, services)) {
            if (s.getSpec().getPorts() == null) {
                continue;
            }
            for (ServicePort sp : s.getSpec().getPorts()) {
                if (!blank(sp.getProtocol()) && !"TCP".equals(sp.getProtocol())) {
                    continue; // istiod: UDP (ConvertProtocol); neither UDP nor SCTP reaches a TCP listener of the pod
                }
                Integer target = targetPort(pod, sp);
                if (target == null || target < 1 || target > 65535) {
                    continue;
                }
                AppProtocol p = AppProtocol.of(sp.getPort() == null ? 0 : sp.getPort(), sp.getAppProtocol(), sp.getName());
                AppProtocol prev = out.get(target);
                if (prev == null || prev == AppProtocol.AUTO) {
                    out.put(target, p);
                }
            }
        }
        return out;
    }

    /**
     * Whether Service {@code s} counts for a pod with {@code labels}: its selector selects them, and it is no ExternalName
     * Service, which istiod leaves out of the ambient index ("not implemented by ambient", pilot/pkg/serviceregistry/
     * ambient/services.go serviceServiceBuilder) whatever selector it carries (a review pass).
     */
    static boolean selectsPod(Service s, Map<String, String> labels) {
        // A Service without a selector selects no pod (its endpoints are managed by hand).
        return !"ExternalName".equals(s.getSpec().getType()) && ServiceEntryConversion.selects(s.getSpec().getSelector(), labels);
    }

    private static Integer targetPort(Pod pod, ServicePort sp) {
        IntOrString t = sp.getTargetPort();
        if (t == null || (t.getIntVal() == null && blank(t.getStrVal()))) {
            return sp.getPort();
        }
        if (t.getIntVal() != null) {
            return t.getIntVal();
        }
        if (pod.getSpec() == null) {
            return null;
        }
        Integer found = namedPort(pod.getSpec().getContainers(), t.getStrVal(), sp.getProtocol(), false);
        return found != null ? found : namedPort(pod.getSpec().getInitContainers(), t.getStrVal(), sp.getProtocol(), true);
    }

    /**
     * A named {@code targetPort} as Kubernetes resolves it (k8s.io/endpointslice utils.go {@code findPort}, and istiod's
     * pilot/pkg/serviceregistry/ambient/helpers.go {@code FindPortName}): a container port of that name and of the Service
     * port's protocol (TCP when unset), in {@code spec.containers}, then in native sidecars (init containers with
     * {@code restartPolicy: Always}). Until 5 December only containers were read and the protocol was not compared, so a
     * Service port naming a native sidecar's port reached nothing (a review pass, helper 256).
     */
    private static Integer namedPort(List<Container> containers, String name, String protocol, boolean sidecarsOnly) {
        if (containers == null) {
            return null;
        }
        String want = blank(protocol) ? "TCP" : protocol;
        for (Container c : containers) {
            if (c.getPorts() == null || sidecarsOnly && !"Always".equals(c.getRestartPolicy())) {
                continue;
            }
            for (ContainerPort cp : c.getPorts()) {
                if (name.equals(cp.getName()) && want.equals(blank(cp.getProtocol()) ? "TCP" : cp.getProtocol())) {
                    return cp.getContainerPort();
                }
            }
        }
        return null;
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
