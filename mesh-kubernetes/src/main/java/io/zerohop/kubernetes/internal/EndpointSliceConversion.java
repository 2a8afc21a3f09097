package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.ObjectReference;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.zerohop.core.Addresses;
import io.zerohop.core.WorkloadService;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * EndpointSlice to the endpoints of a Service that selects no pod, as istiod's ambient index builds them: istio/istio
 * pilot/pkg/serviceregistry/ambient/workloads.go {@code endpointSlicesBuilder} (endpoints that name no pod) and
 * {@code endpointSliceAddressIndex} / {@code matchingServicesWithoutSelectors} (endpoints that name a pod, which then
 * counts among the Service's endpoints). Pure functions; {@link WorkloadState} turns their results into registry
 * workloads (and decides what happens when one address is claimed twice).
 *
 * <p>A slice counts only when it carries the label {@code kubernetes.io/service-name} naming a Service of its namespace
 * that is in the ambient index (not {@code ExternalName}: pilot/pkg/serviceregistry/ambient/services.go
 * {@code serviceServiceBuilder} leaves those out), and its {@code addressType} is not {@code FQDN}. Otherwise it is "an
 * arbitrary bag of IP addresses" (istiod's words) and gives nothing.
 */
public final class EndpointSliceConversion {
    /** {@code discovery.LabelServiceName}: the Service a slice belongs to. */
    public static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";
    /** {@code discovery.LabelManagedBy}: which controller wrote the slice. */
    public static final String MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
    /**
     * The EndpointSlice controller's {@code managed-by} value. It writes slices only for Services with a selector, and only
     * endpoints that name their pod ({@code targetRef} kind Pod), all of which the pods' own conversion covers; so the
     * informer leaves these slices out (most of a cluster's slices) and reads the mirrored and hand-written ones.
     */
    public static final String ENDPOINTSLICE_CONTROLLER = "endpointslice-controller.k8s.io";

    private EndpointSliceConversion() {
    }

    /**
     * One endpoint of a slice that names no pod: what istiod makes a {@code Workload} of (name the slice's, network mode
     * {@code HOST_NETWORK}, no service account, no labels, status from the endpoint's {@code ready}).
     *
     * @param namespace the slice's namespace
     * @param slice     the slice's name, istiod's workload {@code Name}
     * @param address   the endpoint's first address (istiod: "We currently only support 1 address")
     * @param service   its membership of the slice's Service: healthy when {@code conditions.ready} is absent or true,
     *                  {@link WorkloadService#ports} the slice's ports joined to the Service's by name
     */
    public record SliceEndpoint(String namespace, String slice, InetAddress address, WorkloadService service) {}

    /** The Service {@code slice} belongs to, when the slice counts at all (see the class comment); else null. */
    static Service serviceOf(EndpointSlice slice, Map<String, Service> servicesOfNamespace) {
        Map<String, String> labels = slice.getMetadata().getLabels();
        String name = labels == null ? null : labels.get(SERVICE_NAME_LABEL);
        if (name == null || "FQDN".equals(slice.getAddressType())) {
            return null;
        }
        Service s = servicesOfNamespace == null ? null : servicesOfNamespace.get(name);
        if (s == null || s.getSpec() == null || "ExternalName".equals(s.getSpec().getType())) {
            return null;
        }
        return s;
    }

    /**
     * The endpoints of {@code slice} that name no pod, in slice order, as {@code endpointSlicesBuilder} builds them: an
     * endpoint whose {@code targetRef} is a Pod is skipped (the pod is a workload of its own, and joins the Service
     * through {@link #podRefs}); one without addresses is skipped; only its first address is read; an address seen before
     * in the same slice is skipped with a warning; an address that is not an IP literal skips the endpoint (logged once).
     * Empty when the slice does not count ({@link #serviceOf} null).
     *
     * @param servicesOfNamespace the Kubernetes Services of the slice's namespace, by name
     */
    public static List<SliceEndpoint> endpoints(EndpointSlice slice, Map<String, Service> servicesOfNamespace) {
        return endpoints(slice, servicesOfNamespace, PodConversion.DEFAULT_CLUSTER_DOMAIN);
    }

    /** {@link #endpoints(EndpointSlice, Map)} with the Service's hostname in {@code clusterDomain} ({@link PodConversion#hostname}). */
    public static List<SliceEndpoint> endpoints(EndpointSlice slice, Map<String, Service> servicesOfNamespace, String clusterDomain) {
        Service svc = serviceOf(slice, servicesOfNamespace);
        if (svc == null || slice.getEndpoints() == null) {
            return List.of();
        }
        String ns = slice.getMetadata().getNamespace();
        String sliceName = slice.getMetadata().getName();
        Map<Integer, Integer> ports = ports(slice, svc);
        Set<Integer> targets = new TreeSet<>(ports.values());
        String svcName = svc.getMetadata().getName();
        String hostname = PodConversion.hostname(svcName, ns, clusterDomain);
        Set<String> seen = new HashSet<>();
        List<SliceEndpoint> out = new ArrayList<>();
        for (Endpoint ep : slice.getEndpoints()) {
            if (ep == null || isPod(ep.getTargetRef())) {
                continue;
            }
            if (ep.getAddresses() == null || ep.getAddresses().isEmpty()) {
                continue;
            }
            String key = ep.getAddresses().get(0);
            if (!seen.add(key)) {
                PodConversion.warnOnce("IP address " + key + " seen twice in EndpointSlice " + ns + "/" + sliceName);
                continue;
            }
            InetAddress a;
            try {
                a = Addresses.parseIp(key, "EndpointSlice/" + ns + "/" + sliceName + ": endpoints[].addresses");
            } catch (IllegalArgumentException e) {
                PodConversion.warnOnce("skipping an endpoint of " + e.getMessage());
                continue;
            }
            Boolean ready = ep.getConditions() == null ? null : ep.getConditions().getReady();
            boolean healthy = ready == null || ready;
            out.add(new SliceEndpoint(ns, sliceName, a, new WorkloadService(svcName, ns, hostname, targets, healthy, ports)));
        }
        return out;
    }

    /**
     * The slice's ports as istiod translates them: each port with a name and a number whose protocol is TCP (an absent
     * protocol is skipped, as istiod does: the API server defaults it to TCP, so only a hand-built object lacks it),
     * joined by name to the first port of the Service with that name (the slice's port name is the service port's name,
     * its number the target port): service port → the slice's port. A slice port no Service port is named like maps
     * nothing. Ports outside 1-65535 are skipped (the API server refuses them).
     */
    static Map<Integer, Integer> ports(EndpointSlice slice, Service svc) {
        Map<Integer, Integer> out = new TreeMap<>();
        if (slice.getPorts() == null || svc.getSpec().getPorts() == null) {
            return out;
        }
        for (EndpointPort p : slice.getPorts()) {
            if (p == null || p.getName() == null || p.getPort() == null || !"TCP".equals(p.getProtocol())
                    || p.getPort() < 1 || p.getPort() > 65535) {
                continue;
            }
            for (ServicePort sp : svc.getSpec().getPorts()) {
                String spName = sp.getName() == null ? "" : sp.getName();
                if (!spName.equals(p.getName())) {
                    continue;
                }
                if (sp.getPort() != null && sp.getPort() >= 1 && sp.getPort() <= 65535) {
                    out.putIfAbsent(sp.getPort(), p.getPort());
                }
                break;
            }
        }
        return out;
    }

    /**
     * The pods {@code slice} names by {@code targetRef} (kind Pod), as {@code endpointSliceAddressIndex} keys them:
     * {@link #podKey} of the reference's namespace, name and uid. Empty when the slice does not count.
     */
    public static List<String> podRefs(EndpointSlice slice, Map<String, Service> servicesOfNamespace) {
        if (serviceOf(slice, servicesOfNamespace) == null || slice.getEndpoints() == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (Endpoint ep : slice.getEndpoints()) {
            ObjectReference r = ep == null ? null : ep.getTargetRef();
            if (isPod(r)) {
                out.add(podKey(r.getNamespace(), r.getName(), r.getUid()));
            }
        }
        return out;
    }

    /**
     * The key a pod and a slice's {@code targetRef} are matched on, istiod's {@code TargetRef}: namespace, name and uid,
     * each compared exactly (an absent one is empty; a hand-written reference without a uid names no pod that has one).
     */
    public static String podKey(String namespace, String name, String uid) {
        return (namespace == null ? "" : namespace) + "/" + (name == null ? "" : name) + "/" + (uid == null ? "" : uid);
    }

    private static boolean isPod(ObjectReference r) {
        return r != null && "Pod".equals(r.getKind());
    }
}
