package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Drops, in place, the fields of informer objects that zerohop never reads, before the informer
 * caches them (see {@link StrippingItemStore}): the informers hold every Pod, Service and Namespace
 * of the cluster, and a Deployment's pod as served is ~9 KB of JSON, most of it managedFields,
 * container specs and container statuses.
 *
 * <p>Pods follow istiod's {@code StripPodUnusedFields} (istio/istio pkg/kube/util.go), which istiod
 * applies as its pod informer's transform: {@code metadata.managedFields} and the
 * {@code proxy.istio.io/overrides} annotation dropped; the spec reduced to the containers that have
 * ports (their ports only), the native-sidecar init containers ({@code restartPolicy: Always}) that have
 * ports (their ports and restart policy), {@code serviceAccountName}, {@code nodeName},
 * {@code hostNetwork}, {@code hostname} and {@code subdomain}; {@code status.containerStatuses} and
 * {@code status.initContainerStatuses} dropped. Everything else (labels, the other annotations,
 * creationTimestamp, resourceVersion, phase, conditions, podIP(s), hostIP(s)) stays: it is what
 * {@link PodConversion}, {@link WorkloadState}, {@link PeerLookup} and {@link SourceAddressCheck} read.
 *
 * <p>Beyond istiod, every kind (pods, Services, Namespaces, policy objects) also loses
 * {@code kubectl.kubernetes.io/last-applied-configuration}, which {@code kubectl apply} leaves and
 * which holds the whole object again as text; no zerohop code reads it ({@link PolicyState#yamlOf}
 * keeps only {@code istio.io/dry-run} and {@code internal.istio.io/*} annotations, and no spec).
 */
public final class ObjectStrip {
    /** istio/api annotation {@code proxy.istio.io/overrides} ({@code annotation.ProxyOverrides}), dropped by istiod. */
    static final String PROXY_OVERRIDES_ANNOTATION = "proxy.istio.io/overrides";
    /** Written by {@code kubectl apply}: the applied object as JSON. */
    static final String LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

    private ObjectStrip() {
    }

    /** Strips {@code pod} in place (see the class comment); returns it. A null spec or status stays null. */
    public static Pod pod(Pod pod) {
        meta(pod, PROXY_OVERRIDES_ANNOTATION);
        PodSpec old = pod.getSpec();
        if (old != null) {
            PodSpec spec = new PodSpec();
            spec.setContainers(withPorts(old.getContainers(), false));
            spec.setInitContainers(withPorts(old.getInitContainers(), true));
            spec.setServiceAccountName(old.getServiceAccountName());
            spec.setNodeName(old.getNodeName());
            spec.setHostNetwork(old.getHostNetwork());
            spec.setHostname(old.getHostname());
            spec.setSubdomain(old.getSubdomain());
            pod.setSpec(spec);
        }
        if (pod.getStatus() != null) {
            pod.getStatus().setContainerStatuses(List.of());
            pod.getStatus().setInitContainerStatuses(List.of());
        }
        share(pod);
        compact(pod);
        return pod;
    }

    /**
     * Strips {@code slice} in place to what {@link EndpointSliceConversion} reads, then compacts it; returns it.
     * Metadata: name, namespace, uid, resourceVersion and the {@code kubernetes.io/service-name} label (its other labels,
     * annotations, owner references and managedFields dropped); {@code addressType}; each endpoint's first address, its
     * {@code conditions.ready} and its {@code targetRef}'s kind, namespace, name and uid (hostname, nodeName, zone, hints,
     * the other conditions dropped); each port's name, port and protocol ({@code appProtocol} dropped). The informer
     * selects only slices that are not the EndpointSlice controller's, so few are kept at all.
     */
    public static io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice endpointSlice(
            io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice slice) {
        ObjectMeta m = slice.getMetadata();
        if (m != null) {
            ObjectMeta kept = new ObjectMeta();
            kept.setName(m.getName());
            kept.setNamespace(intern(m.getNamespace()));
            kept.setUid(m.getUid());
            kept.setResourceVersion(m.getResourceVersion());
            String svc = m.getLabels() == null ? null : m.getLabels().get(EndpointSliceConversion.SERVICE_NAME_LABEL);
            kept.setLabels(svc == null ? Map.of() : Map.of(EndpointSliceConversion.SERVICE_NAME_LABEL, svc));
            slice.setMetadata(kept);
        }
        slice.setAddressType(intern(slice.getAddressType()));
        if (slice.getEndpoints() != null) {
            List<io.fabric8.kubernetes.api.model.discovery.v1.Endpoint> eps = new ArrayList<>(slice.getEndpoints().size());
            for (var e : slice.getEndpoints()) {
                if (e == null) {
                    continue;
                }
                var out = new io.fabric8.kubernetes.api.model.discovery.v1.Endpoint();
                out.setAddresses(e.getAddresses() == null || e.getAddresses().isEmpty() ? List.of() : List.of(e.getAddresses().get(0)));
                if (e.getConditions() != null && e.getConditions().getReady() != null) {
                    var c = new io.fabric8.kubernetes.api.model.discovery.v1.EndpointConditions();
                    c.setReady(e.getConditions().getReady());
                    out.setConditions(c);
                }
                var r = e.getTargetRef();
                if (r != null) {
                    var ref = new io.fabric8.kubernetes.api.model.ObjectReference();
                    ref.setKind(intern(r.getKind()));
                    ref.setNamespace(intern(r.getNamespace()));
                    ref.setName(r.getName());
                    ref.setUid(r.getUid());
                    out.setTargetRef(ref);
                }
                eps.add(out);
            }
            slice.setEndpoints(eps);
        }
        if (slice.getPorts() != null) {
            List<io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort> ports = new ArrayList<>(slice.getPorts().size());
            for (var p : slice.getPorts()) {
                if (p == null) {
                    continue;
                }
                var out = new io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort();
                out.setName(intern(p.getName()));
                out.setPort(p.getPort());
                out.setProtocol(intern(p.getProtocol()));
                ports.add(out);
            }
            slice.setPorts(ports);
        }
        compact(slice);
        return slice;
    }

    /**
     * Strips a Service or Namespace's metadata ({@link #metadata}) and compacts it ({@link #compact});
     * returns {@code o}. Not for policy objects, whose text {@link PolicyState} serializes as served.
     */
    public static <T extends HasMetadata> T compacted(T o) {
        meta(o);
        compact(o);
        return o;
    }

    /**
     * Replaces, in place, the mutable collections of a fabric8 model object graph (classes of
     * {@code io.fabric8.kubernetes.api.model}) by immutable ones: an empty list or map by the shared
     * {@code List.of()} / {@code Map.of()}, a list by {@code List.copyOf} (exact size; kept as is when
     * it holds a null), a map of one entry by {@code Map.of(k, v)}, of up to 16 by an {@link ArrayMap}
     * (order kept); larger maps stay. fabric8 7.5.2 gives every model object its own {@code additionalProperties} LinkedHashMap
     * (56 bytes, almost always empty) and every list field its own ArrayList (24 bytes empty, 80 with
     * one element): a stripped pod is ~15 model objects with ~50 such collections, ~2.4 KB of a
     * pod's ~6 KB (benchmarks/results/k8scompact-2f9bc1c.md). Only the collections become immutable: the
     * objects' setters still work. Nothing that reads informer objects (fabric8's item store and
     * ProcessorStore, {@link PodConversion}, {@link WorkloadState}, {@link PeerLookup},
     * {@link SourceAddressCheck}) mutates their collections; one that did would now throw
     * {@code UnsupportedOperationException} ({@code ObjectStripTest}, {@code InformersStripTest}).
     */
    static void compact(Object o) {
        if (o == null || !isModel(o.getClass())) {
            return;
        }
        try {
            for (Field f : COLLECTION_FIELDS.get(o.getClass())) {
                Object v = f.get(o);
                if (v instanceof List<?> list) {
                    f.set(o, compactList(list));
                } else if (v instanceof Map<?, ?> map) {
                    f.set(o, compactMap(map));
                } else if (v != null) {
                    compact(v);
                }
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot compact " + o.getClass().getName(), e);
        }
    }

    private static List<?> compactList(List<?> list) {
        if (list.isEmpty()) {
            return List.of();
        }
        boolean nulls = false;
        for (Object e : list) {
            nulls |= e == null;
            compact(e);
        }
        return nulls ? list : List.copyOf(list);
    }

    private static Map<?, ?> compactMap(Map<?, ?> map) {
        if (map.isEmpty()) {
            return Map.of();
        }
        map.values().forEach(ObjectStrip::compact);
        if (map.size() == 1) {
            var e = map.entrySet().iterator().next();
            if (e.getKey() != null && e.getValue() != null) {
                return Map.of(e.getKey(), e.getValue());
            }
        }
        Map<?, ?> small = ArrayMap.copyOf(map);
        return small != null ? small : map;
    }

    private static boolean isModel(Class<?> c) {
        return c.getName().startsWith("io.fabric8.kubernetes.api.model.");
    }

    /** Per model class: its instance fields that hold a List, a Map or another model object. */
    private static final ClassValue<List<Field>> COLLECTION_FIELDS = new ClassValue<>() {
        @Override
        protected List<Field> computeValue(Class<?> type) {
            List<Field> out = new ArrayList<>();
            for (Class<?> c = type; c != null && isModel(c); c = c.getSuperclass()) {
                for (Field f : c.getDeclaredFields()) {
                    Class<?> t = f.getType();
                    if (Modifier.isStatic(f.getModifiers())
                            || !(t == List.class || t == Map.class || isModel(t) || t == Object.class)) {
                        continue;
                    }
                    if (!f.trySetAccessible()) {
                        // A model jar that does not open its package (a named module): leave its
                        // objects as fabric8 built them rather than fail the informer.
                        return List.of();
                    }
                    out.add(f);
                }
            }
            return List.copyOf(out);
        }
    };

    /**
     * Makes the pod's strings that repeat across pods share one instance ({@link String#intern}: the
     * JVM's string table, which holds its strings weakly): label and annotation keys and values,
     * namespace, owner kind and name, service account, node, port names and protocols, phase, QoS
     * class, condition types, statuses and reasons, host IPs; and {@code status.podIPs[0]} the instance of
     * {@code status.podIP} (one value in two fields). As parsed, each pod had its own copy of each:
     * ~50 strings of ~60 bytes per pod. Timestamps (creation, start, the conditions' transitions, one
     * second's resolution) are shared too: a pod's five conditions and its creation and start mostly
     * fall on two or three seconds, and the pods of one rollout on the same ones; the table grows by
     * at most one entry per second of the cluster's pod history. Values unique to a pod (name, uid,
     * resourceVersion, pod IPs) are left alone, so otherwise the table grows only with the cluster's
     * distinct labels, nodes and owners.
     */
    private static void share(Pod pod) {
        ObjectMeta m = pod.getMetadata();
        if (m != null) {
            m.setNamespace(intern(m.getNamespace()));
            m.setCreationTimestamp(intern(m.getCreationTimestamp()));
            m.setGenerateName(intern(m.getGenerateName()));
            m.setLabels(intern(m.getLabels()));
            m.setAnnotations(intern(m.getAnnotations()));
            if (m.getOwnerReferences() != null) {
                for (var o : m.getOwnerReferences()) {
                    o.setApiVersion(intern(o.getApiVersion()));
                    o.setKind(intern(o.getKind()));
                    o.setName(intern(o.getName()));
                }
            }
        }
        PodSpec spec = pod.getSpec();
        if (spec != null) {
            spec.setServiceAccountName(intern(spec.getServiceAccountName()));
            spec.setNodeName(intern(spec.getNodeName()));
            for (List<Container> cs : List.of(spec.getContainers(), spec.getInitContainers())) {
                for (Container c : cs) {
                    c.setRestartPolicy(intern(c.getRestartPolicy()));
                    for (var port : c.getPorts()) {
                        port.setName(intern(port.getName()));
                        port.setProtocol(intern(port.getProtocol()));
                        port.setHostIP(intern(port.getHostIP()));
                    }
                }
            }
        }
        var status = pod.getStatus();
        if (status != null) {
            status.setPhase(intern(status.getPhase()));
            status.setQosClass(intern(status.getQosClass()));
            status.setHostIP(intern(status.getHostIP()));
            status.setStartTime(intern(status.getStartTime()));
            if (status.getHostIPs() != null) {
                status.getHostIPs().forEach(h -> {
                    if (h != null) {
                        h.setIp(intern(h.getIp()));
                    }
                });
            }
            if (status.getPodIPs() != null) {
                status.getPodIPs().forEach(ip -> {
                    if (ip != null && ip.getIp() != null && ip.getIp().equals(status.getPodIP())) {
                        ip.setIp(status.getPodIP());
                    }
                });
            }
            if (status.getConditions() != null) {
                status.getConditions().forEach(c -> {
                    if (c != null) {
                        c.setType(intern(c.getType()));
                        c.setStatus(intern(c.getStatus()));
                        c.setReason(intern(c.getReason()));
                        c.setLastProbeTime(intern(c.getLastProbeTime()));
                        c.setLastTransitionTime(intern(c.getLastTransitionTime()));
                    }
                });
            }
        }
    }

    private static String intern(String s) {
        return s == null ? null : s.intern();
    }

    private static Map<String, String> intern(Map<String, String> map) {
        if (map == null || map.isEmpty()) {
            return map;
        }
        Map<String, String> out = new LinkedHashMap<>(map.size() * 4 / 3 + 1);
        map.forEach((k, v) -> out.put(intern(k), intern(v)));
        return out;
    }

    /**
     * Strips metadata only: {@code managedFields} and the last-applied-configuration annotation
     * (Services, Namespaces, policy objects); returns {@code o}.
     */
    /**
     * A ServiceEntry or WorkloadEntry: its metadata stripped ({@link #metadata}) and everything but its {@code spec} (what
     * istiod writes to {@code status}: a ServiceEntry's auto-allocated addresses and conditions, an auto-registered
     * WorkloadEntry's health conditions, none of it read here) dropped; returns {@code r}.
     */
    public static io.fabric8.kubernetes.api.model.GenericKubernetesResource entry(io.fabric8.kubernetes.api.model.GenericKubernetesResource r) {
        meta(r);
        Map<String, Object> props = r.getAdditionalProperties();
        if (props != null && (props.size() > 1 || !props.containsKey("spec"))) {
            Object spec = props.get("spec");
            r.setAdditionalProperties(spec == null ? new LinkedHashMap<>() : new LinkedHashMap<>(Map.of("spec", spec)));
        }
        return r;
    }

    /**
     * A Gateway ({@code gateway.networking.k8s.io/v1}) reduced to what {@link Waypoints} reads, as istiod's Waypoints
     * collection reads it: name, namespace, resourceVersion, labels ({@code istio.io/waypoint-for}) and the
     * {@code ambient.istio.io/waypoint-inbound-binding} annotation; {@code spec.gatewayClassName}; each listener's
     * {@code port}, {@code protocol} and {@code allowedRoutes.namespaces}; each {@code status.addresses} entry's
     * {@code type} and {@code value}. The rest (the listeners' hostnames, TLS and route kinds, status conditions and
     * listener statuses, which the gateway controller rewrites often) is dropped; returns {@code r}.
     */
    public static io.fabric8.kubernetes.api.model.GenericKubernetesResource gateway(io.fabric8.kubernetes.api.model.GenericKubernetesResource r) {
        gatewayMeta(r);
        Map<String, Object> props = r.getAdditionalProperties();
        Map<String, Object> kept = new LinkedHashMap<>();
        if (props != null && props.get("spec") instanceof Map<?, ?> spec) {
            Map<String, Object> s = new LinkedHashMap<>();
            if (spec.get("gatewayClassName") != null) {
                s.put("gatewayClassName", spec.get("gatewayClassName"));
            }
            if (spec.get("listeners") instanceof List<?> ls) {
                List<Object> listeners = new ArrayList<>();
                for (Object o : ls) {
                    if (o instanceof Map<?, ?> l) {
                        Map<String, Object> k = new LinkedHashMap<>();
                        copy(l, k, "port", "protocol");
                        if (l.get("allowedRoutes") instanceof Map<?, ?> routes && routes.get("namespaces") != null) {
                            k.put("allowedRoutes", Map.of("namespaces", routes.get("namespaces")));
                        }
                        listeners.add(k);
                    } else {
                        listeners.add(o); // not an object: kept so that Waypoints names the field
                    }
                }
                s.put("listeners", listeners);
            } else if (spec.get("listeners") != null) {
                s.put("listeners", spec.get("listeners"));
            }
            kept.put("spec", s);
        } else if (props != null && props.get("spec") != null) {
            kept.put("spec", props.get("spec"));
        }
        if (props != null && props.get("status") instanceof Map<?, ?> status && status.get("addresses") != null) {
            Object addresses = status.get("addresses");
            if (addresses instanceof List<?> as) {
                List<Object> out = new ArrayList<>();
                for (Object o : as) {
                    if (o instanceof Map<?, ?> a) {
                        Map<String, Object> k = new LinkedHashMap<>();
                        copy(a, k, "type", "value");
                        out.add(k);
                    } else {
                        out.add(o);
                    }
                }
                addresses = out;
            }
            kept.put("status", Map.of("addresses", addresses));
        } else if (props != null && props.get("status") != null && !(props.get("status") instanceof Map<?, ?>)) {
            kept.put("status", props.get("status"));
        }
        r.setAdditionalProperties(kept);
        return r;
    }

    /** A GatewayClass reduced to its name, resourceVersion, labels and inbound-binding annotation (its spec dropped). */
    public static io.fabric8.kubernetes.api.model.GenericKubernetesResource gatewayClass(io.fabric8.kubernetes.api.model.GenericKubernetesResource r) {
        gatewayMeta(r);
        r.setAdditionalProperties(new LinkedHashMap<>());
        return r;
    }

    private static void gatewayMeta(HasMetadata o) {
        ObjectMeta m = o.getMetadata();
        if (m == null) {
            return;
        }
        ObjectMeta kept = new ObjectMeta();
        kept.setName(m.getName());
        kept.setNamespace(m.getNamespace());
        kept.setUid(m.getUid());
        kept.setResourceVersion(m.getResourceVersion());
        kept.setLabels(m.getLabels() == null ? Map.of() : new LinkedHashMap<>(m.getLabels()));
        Map<String, String> ann = new LinkedHashMap<>();
        if (m.getAnnotations() != null) {
            m.getAnnotations().forEach((k, v) -> {
                if (Waypoints.KEPT_ANNOTATIONS.contains(k)) {
                    ann.put(k, v);
                }
            });
        }
        kept.setAnnotations(ann);
        o.setMetadata(kept);
    }

    private static void copy(Map<?, ?> from, Map<String, Object> to, String... keys) {
        for (String k : keys) {
            if (from.get(k) != null) {
                to.put(k, from.get(k));
            }
        }
    }

    public static <T extends HasMetadata> T metadata(T o) {
        meta(o);
        return o;
    }

    private static void meta(HasMetadata o, String... alsoAnnotations) {
        ObjectMeta m = o.getMetadata();
        if (m == null) {
            return;
        }
        if (m.getManagedFields() != null && !m.getManagedFields().isEmpty()) {
            m.setManagedFields(new ArrayList<>());
        }
        Map<String, String> ann = m.getAnnotations();
        if (ann == null || ann.isEmpty()) {
            return;
        }
        boolean drop = ann.containsKey(LAST_APPLIED_ANNOTATION);
        for (String a : alsoAnnotations) {
            drop |= ann.containsKey(a);
        }
        if (drop) {
            // A copy: the object's map may be one a caller built immutable.
            Map<String, String> kept = new LinkedHashMap<>(ann);
            kept.remove(LAST_APPLIED_ANNOTATION);
            for (String a : alsoAnnotations) {
                kept.remove(a);
            }
            m.setAnnotations(kept);
        }
    }

    /**
     * The containers that have ports, each reduced to its ports; for init containers only native
     * sidecars ({@code restartPolicy: Always}), which keep their restart policy too.
     */
    private static List<Container> withPorts(List<Container> containers, boolean init) {
        List<Container> out = new ArrayList<>();
        if (containers == null) {
            return out;
        }
        for (Container c : containers) {
            if (c == null || c.getPorts() == null || c.getPorts().isEmpty()) {
                continue;
            }
            if (init && !"Always".equals(c.getRestartPolicy())) {
                continue;
            }
            Container kept = new Container();
            kept.setPorts(c.getPorts());
            if (init) {
                kept.setRestartPolicy(c.getRestartPolicy());
            }
            out.add(kept);
        }
        return out;
    }
}
