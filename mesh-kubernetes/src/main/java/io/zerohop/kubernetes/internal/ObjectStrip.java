package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
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
            pod.getStatus().setContainerStatuses(new ArrayList<>());
            pod.getStatus().setInitContainerStatuses(new ArrayList<>());
        }
        share(pod);
        return pod;
    }

    /**
     * Makes the pod's strings that repeat across pods share one instance ({@link String#intern}: the
     * JVM's string table, which holds its strings weakly): label and annotation keys and values,
     * namespace, owner kind and name, service account, node, port names and protocols, phase, QoS
     * class, condition types and statuses, host IPs; and {@code status.podIPs[0]} the instance of
     * {@code status.podIP} (one value in two fields). As parsed, each pod had its own copy of each:
     * ~50 strings of ~60 bytes per pod. Values unique to a pod (name, uid, IPs, timestamps) are left
     * alone, so the table grows only with the cluster's distinct labels, nodes and owners.
     */
    private static void share(Pod pod) {
        ObjectMeta m = pod.getMetadata();
        if (m != null) {
            m.setNamespace(intern(m.getNamespace()));
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
