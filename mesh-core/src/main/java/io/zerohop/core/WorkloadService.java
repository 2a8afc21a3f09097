package io.zerohop.core;

import java.util.Objects;
import java.util.Set;

/**
 * A Service that selects a {@link Workload}, as far as telemetry needs it: ztunnel's {@code ServiceDescription}
 * ({@code destination_service} = {@code hostname}, {@code destination_service_name}, {@code destination_service_namespace})
 * and the workload ports its service ports target, from which ztunnel guesses the Service of an inbound connection
 * ({@code guess_inbound_service}, src/proxy.rs: the first Service with a port targeting the connection's port).
 *
 * <p>Throws {@link IllegalArgumentException} naming the field when one is blank or a port is out of range
 *
 * @param name        the Service's name; not blank
 * @param namespace   its namespace; not blank
 * @param hostname    its DNS name, {@code NAME.NAMESPACE.svc.cluster.local} for a Kubernetes Service; not blank
 * @param targetPorts the workload's ports its service ports target (named target ports resolved), each 1-65535; never null
 * @param healthy     whether the workload is a healthy endpoint of the Service, ztunnel's endpoint {@code status}
 *                    (istio/ztunnel src/state/service.rs {@code should_include_endpoint}: only healthy endpoints enter a
 *                    Service's endpoint set, unless its load balancer's health policy is {@code AllowAll}): false leaves
 *                    it out of {@link WorkloadRegistry#endpoints}, so no connection to the Service's VIPs picks it; it
 *                    still names the Service for inbound telemetry ({@link #forPort}). istiod's is a pod's
 *                    {@code Ready} condition and no deletion begun, or any pod of a Service that
 *                    {@code publishNotReadyAddresses} ({@code HealthPolicy ALLOW_ALL}); an EndpointSlice endpoint's is
 *                    its {@code conditions.ready} (absent or true)
 * @param ports       this endpoint's own service port → target port mapping for the Service, ztunnel's per-workload
 *                    {@code PortList} (istio/ztunnel src/state.rs {@code load_balance}: the endpoint's port for a
 *                    service port wins over the Service's {@code targetPort}); empty (never null; null: empty): the
 *                    Service's own target ports apply ({@link Service#targetOn}). istiod sends it for an EndpointSlice
 *                    endpoint, whose slice names the port each service port reaches (mesh-kubernetes); each port 1-65535.
 *                    Immutable copy
 */
public record WorkloadService(String name, String namespace, String hostname, Set<Integer> targetPorts, boolean healthy,
                             java.util.Map<Integer, Integer> ports) {
    /** A healthy endpoint's membership. */
    public WorkloadService(String name, String namespace, String hostname, Set<Integer> targetPorts) {
        this(name, namespace, hostname, targetPorts, true);
    }

    /** A membership whose target ports are the Service's own ({@link #ports} empty). */
    public WorkloadService(String name, String namespace, String hostname, Set<Integer> targetPorts, boolean healthy) {
        this(name, namespace, hostname, targetPorts, healthy, java.util.Map.of());
    }

    public WorkloadService {
        for (String[] f : new String[][] {{"name", name}, {"namespace", namespace}, {"hostname", hostname}}) {
            if (f[1] == null || f[1].isBlank()) {
                throw new IllegalArgumentException("service " + f[0] + " is required");
            }
        }
        targetPorts = Set.copyOf(Objects.requireNonNull(targetPorts, "targetPorts"));
        for (int p : targetPorts) {
            if (p < 1 || p > 65535) {
                throw new IllegalArgumentException("service " + namespace + "/" + name + ": target port " + p + " is out of range 1-65535");
            }
        }
        ports = java.util.Map.copyOf(ports == null ? java.util.Map.of() : ports);
        for (java.util.Map.Entry<Integer, Integer> e : ports.entrySet()) {
            if (e.getKey() < 1 || e.getKey() > 65535 || e.getValue() < 1 || e.getValue() > 65535) {
                throw new IllegalArgumentException("service " + namespace + "/" + name + ": port " + e.getKey() + " -> "
                        + e.getValue() + " is out of range 1-65535");
            }
        }
    }

    /**
     * ztunnel's {@code guess_inbound_service} for a connection to {@code port}: the first of {@code services} with a port
     * targeting it, or null.
     */
    public static WorkloadService forPort(java.util.List<WorkloadService> services, int port) {
        return guess(services, null, port);
    }

    /**
     * ztunnel's whole {@code guess_inbound_service} (src/proxy.rs): the Service of {@code services} whose hostname is
     * {@code forwardedHost} (the {@code host=} of the CONNECT's {@code forwarded}, which the client's proxy sets for a
     * connection it resolved from a Service VIP: "the client told us what Service they were reaching", believed only
     * among the destination's own Services), else {@link #forPort}'s. Null when neither finds one.
     *
     * @param forwardedHost the forwarded header's {@code host=}, or null
     */
    public static WorkloadService guess(java.util.List<WorkloadService> services, String forwardedHost, int port) {
        if (forwardedHost != null) {
            for (WorkloadService s : services) {
                if (s.hostname.equals(forwardedHost)) {
                    return s;
                }
            }
        }
        for (WorkloadService s : services) {
            if (s.targetPorts.contains(port)) {
                return s;
            }
        }
        return null;
    }

    // equals and hashCode written out with the generated ones' meaning (component by component, null-safe): the
    // generated ones bootstrap java.lang.runtime.ObjectMethods (~50-160 hidden classes, ~0.25-0.5 MB per process,
    // benchmarks/results/records-48bf3ae2.md), and mesh-kubernetes compares the registry's workloads and Services on
    // every rebuild (WorkloadState.refresh: the snapshot is installed only when it changed).
    @Override
    public boolean equals(Object other) {
        return other == this || other instanceof WorkloadService o
                && java.util.Objects.equals(name, o.name)
                && java.util.Objects.equals(namespace, o.namespace)
                && java.util.Objects.equals(hostname, o.hostname)
                && java.util.Objects.equals(targetPorts, o.targetPorts)
                && healthy == o.healthy
                && java.util.Objects.equals(ports, o.ports);
    }

    @Override
    public int hashCode() {
        int h = java.util.Objects.hashCode(name);
        h = 31 * h + java.util.Objects.hashCode(namespace);
        h = 31 * h + java.util.Objects.hashCode(hostname);
        h = 31 * h + java.util.Objects.hashCode(targetPorts);
        h = 31 * h + Boolean.hashCode(healthy);
        h = 31 * h + java.util.Objects.hashCode(ports);
        return h;
    }

    @Override
    public String toString() {
        return "WorkloadService[name=" + name + ", namespace=" + namespace + ", hostname=" + hostname
                + ", targetPorts=" + targetPorts + ", healthy=" + healthy + ", ports=" + ports + "]";
    }
}
