package io.zerohop.core;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.WorkloadRef;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A workload the mesh knows: where it listens, who it is, and how to reach it. The constructor
 * throws {@link IllegalArgumentException} naming the workload when {@code namespace}, {@code name} or
 * {@code serviceAccount} is blank, a port is outside 1-65535, or {@code trustDomain},
 * {@code namespace} and {@code serviceAccount} make no SPIFFE ID ({@link #identity()}); and
 * {@link IllegalArgumentException} naming the field and the value when a name breaks Kubernetes' name rules
 * ({@link WorkloadRef#checkNames}: the namespace a DNS-1123 label, the name and service account DNS-1123 subdomains);
 * {@link NullPointerException} for a null {@code trustDomain}. Null labels, addresses and protocols
 * mean none, none and {@link Protocol#HBONE}.
 *
 * <p><b>A workload without identity.</b> A {@link Protocol#TCP} workload may have a null {@code serviceAccount}: an
 * endpoint whose identity nobody knows, such as an address of a Kubernetes EndpointSlice that names no pod (istiod's
 * {@code endpointSlicesBuilder} sends it with {@code ServiceAccount: ""}, "Unknown"). It has no {@link #identity()}
 * (null), {@link #hasIdentity} is false for every peer, so no tunnel's {@code forwarded: for=} claim of its address is
 * believed, and {@link #ref()} has an empty service account, which mesh-policy never matches as a principal, a
 * {@code serviceAccounts} selector or Cilium's service-account label. Such a workload is never served by a mesh
 * ({@code LocalWorkloads} does not count it as local) and is reached only by plain TCP from the capture path; no telemetry
 * names a principal for it. Rather than a made-up service account, which would be a SPIFFE ID a real pod could hold (a
 * Kubernetes ServiceAccount may have any name this record accepts), and so a principal a policy could match.
 *
 * @param labels   its pod labels, kept as an immutable map whose keys and values are interned (the policy engine
 *                 interns a selector's, so a label compared per connection matches at the identity check); a null key
 *                 or value throws {@link NullPointerException}
 * @param protocol {@link Protocol#HBONE} when its node runs an HBONE endpoint (traffic to it is
 *                 tunnelled), {@link Protocol#TCP} for plaintext workloads outside the mesh
 * @param node     name of the node whose proxy terminates HBONE for it (null: the workload's own
 *                 address on port 15008, as ztunnel does in the pod network namespace)
 * @param appProtocols per destination port, the application protocol it speaks (never null; a port
 *                 not listed is {@link AppProtocol#AUTO})
 * @param namedPorts its TCP container ports by name, which Cilium's named {@code toPorts} resolve against
 *                 ({@link WorkloadRef#namedPorts}: Kubernetes port names, ports 1-65535); null when not known (then a
 *                 named allow port never reaches it and a named {@code ingressDeny} port denies every port)
 * @param workloadName what telemetry calls it, ztunnel's {@code workload_name} ({@code source_workload},
 *                 {@code destination_workload}, the access log's {@code workload}, {@code baggage}'s
 *                 {@code k8s.deployment.name}, and {@link #ref()}'s name): a Kubernetes pod's controller as istiod
 *                 names it (its Deployment, CronJob..., {@code mesh-kubernetes}), where {@code name} stays the pod's
 *                 own, unique, name; null or blank: {@code name}
 * @param services the Services that select it, in the order an inbound connection's {@code destination_service} is
 *                 guessed from ({@link WorkloadService#forPort}); null: none. A registry {@link Service} of the same
 *                 namespace and name counts it among its endpoints ({@link WorkloadRegistry#endpoints}), which
 *                 connections to the Service's VIPs reach
 * @param waypoint the waypoint that connections addressed to this workload's own addresses go through (istiod's
 *                 {@code Workload.waypoint}: the {@code istio.io/use-waypoint} of its pod or namespace, for a waypoint
 *                 whose {@code istio.io/waypoint-for} is {@code workload} or {@code all}); null: none, connections go
 *                 to it directly. Connections addressed to a Service's VIP follow {@link Service#waypoint()} instead
 * @param hostname a DNS name to resolve when a connection is sent to this workload, in place of {@code addresses} (istiod's
 *                 {@code Workload.hostname}: a ServiceEntry's host with {@code resolution: DNS} and no endpoints, an
 *                 endpoint or WorkloadEntry whose {@code address} is no IP; ztunnel's
 *                 {@code pick_workload_destination_or_resolve} looks it up on demand); null: none. Used only when the
 *                 workload has no addresses, as ztunnel (istiod sends one or the other); such a workload is only ever
 *                 reached as a Service's endpoint, never found by an address dialled ({@link WorkloadRegistry#byAddress})
 */
public record Workload(String namespace, String name, String serviceAccount, Map<String, String> labels,
                       List<InetAddress> addresses, Protocol protocol, String node, String trustDomain,
                       Map<Integer, AppProtocol> appProtocols, Map<String, Integer> namedPorts, String workloadName,
                       List<WorkloadService> services, GatewayAddress waypoint, String hostname) {

    /** A workload reached at its addresses (no hostname). */
    public Workload(String namespace, String name, String serviceAccount, Map<String, String> labels,
                    List<InetAddress> addresses, Protocol protocol, String node, String trustDomain,
                    Map<Integer, AppProtocol> appProtocols, Map<String, Integer> namedPorts, String workloadName,
                    List<WorkloadService> services, GatewayAddress waypoint) {
        this(namespace, name, serviceAccount, labels, addresses, protocol, node, trustDomain, appProtocols, namedPorts,
                workloadName, services, waypoint, null);
    }

    /** A workload without a waypoint. */
    public Workload(String namespace, String name, String serviceAccount, Map<String, String> labels,
                    List<InetAddress> addresses, Protocol protocol, String node, String trustDomain,
                    Map<Integer, AppProtocol> appProtocols, Map<String, Integer> namedPorts, String workloadName,
                    List<WorkloadService> services) {
        this(namespace, name, serviceAccount, labels, addresses, protocol, node, trustDomain, appProtocols, namedPorts,
                workloadName, services, null);
    }

    /** This workload with {@code waypoint} (null: none) in place of its own. */
    public Workload withWaypoint(GatewayAddress waypoint) {
        return java.util.Objects.equals(waypoint, this.waypoint) ? this : new Workload(namespace, name, serviceAccount,
                labels, addresses, protocol, node, trustDomain, appProtocols, namedPorts, workloadName, services, waypoint,
                hostname);
    }

    /** This workload with {@code hostname} (null: none) in place of its own. */
    public Workload withHostname(String hostname) {
        return java.util.Objects.equals(hostname, this.hostname) ? this : new Workload(namespace, name, serviceAccount,
                labels, addresses, protocol, node, trustDomain, appProtocols, namedPorts, workloadName, services, waypoint,
                hostname);
    }

    /** A workload whose telemetry name is its {@code name}, selected by no Service. */
    public Workload(String namespace, String name, String serviceAccount, Map<String, String> labels,
                    List<InetAddress> addresses, Protocol protocol, String node, String trustDomain,
                    Map<Integer, AppProtocol> appProtocols, Map<String, Integer> namedPorts) {
        this(namespace, name, serviceAccount, labels, addresses, protocol, node, trustDomain, appProtocols, namedPorts, null, null);
    }

    /** A workload whose ports are all {@link AppProtocol#AUTO}. */
    public Workload(String namespace, String name, String serviceAccount, Map<String, String> labels,
                    List<InetAddress> addresses, Protocol protocol, String node, String trustDomain) {
        this(namespace, name, serviceAccount, labels, addresses, protocol, node, trustDomain, Map.of());
    }

    /** A workload whose named ports are not known. */
    public Workload(String namespace, String name, String serviceAccount, Map<String, String> labels,
                    List<InetAddress> addresses, Protocol protocol, String node, String trustDomain,
                    Map<Integer, AppProtocol> appProtocols) {
        this(namespace, name, serviceAccount, labels, addresses, protocol, node, trustDomain, appProtocols, null);
    }

    public enum Protocol { HBONE, TCP }

    public Workload {
        requireName("namespace", namespace);
        requireName("name", name);
        protocol = protocol == null ? Protocol.HBONE : protocol;
        if (serviceAccount != null || protocol != Protocol.TCP) {
            // Only a plaintext workload may be of unknown identity: an HBONE one is reached through a tunnel whose peer
            // must present its identity.
            requireName("serviceAccount", serviceAccount);
        }
        labels = interned(labels);
        // Names the Kubernetes API server would refuse fail here, where the workload is defined (the --workloads loader
        // names the entry's line); ref(), made per connection, then checks nothing.
        WorkloadRef.checkNames(namespace, name, serviceAccount);
        addresses = List.copyOf(addresses == null ? List.of() : addresses);
        Objects.requireNonNull(trustDomain, "trustDomain");
        try {
            // identity() builds it on every call: a trust domain, namespace or service account that
            // makes no SPIFFE ID must fail here, where the workload is defined, not while a tunnel is routed.
            SpiffeIds.istio(trustDomain, namespace, serviceAccount == null ? "default" : serviceAccount);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("workload " + namespace + "/" + name + ": " + e.getMessage(), e);
        }
        appProtocols = Map.copyOf(appProtocols == null ? Map.of() : appProtocols);
        for (Integer port : appProtocols.keySet()) {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("workload port " + port + " is out of range 1-65535");
            }
        }
        if (namedPorts != null) {
            // One immutable map, checked here once: ref() hands it to every WorkloadRef unchanged.
            namedPorts = Map.copyOf(namedPorts);
            WorkloadRef.checkNamedPorts(namedPorts);
        }
        workloadName = workloadName == null || workloadName.isBlank() ? name : workloadName;
        services = services == null ? List.of() : List.copyOf(services);
        hostname = hostname == null || hostname.isEmpty() ? null : checkHostname(hostname, namespace, name);
    }

    /**
     * {@code hostname} as a DNS name to look up: letters, digits, '-' and '.', labels of 1-63 characters, at most 253 in all,
     * not an IP literal (istiod sends an IP as an address, never as a hostname).
     */
    private static String checkHostname(String hostname, String namespace, String name) {
        String h = hostname.endsWith(".") ? hostname.substring(0, hostname.length() - 1) : hostname;
        if (h.length() > 253 || !h.matches("([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*")
                || io.netty.util.NetUtil.isValidIpV4Address(h)) {
            throw new IllegalArgumentException("workload " + namespace + "/" + name + ": hostname \"" + hostname
                    + "\" is no DNS name (letters, digits, '-' and '.', labels of at most 63 characters, 253 in all)");
        }
        return hostname.toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Whether this workload is reached at what its {@link #hostname()} resolves to, looked up per connection: it has a
     * hostname and no addresses (ztunnel's {@code pick_workload_destination_or_resolve}: its IPs first).
     */
    public boolean resolvedOnDemand() {
        return hostname != null && addresses.isEmpty();
    }

    /**
     * {@code labels} immutable, keys and values interned: the policy engine interns a selector's, so a label it compares
     * per connection usually matches at the identity check, not by its characters. Once per workload, never per connection.
     */
    private static Map<String, String> interned(Map<String, String> labels) {
        if (labels == null || labels.isEmpty()) {
            return Map.of();
        }
        Map<String, String> copy = Map.copyOf(labels);
        boolean already = true;
        for (Map.Entry<String, String> e : copy.entrySet()) {
            already &= e.getKey().intern() == e.getKey() && e.getValue().intern() == e.getValue();
        }
        if (already) {
            // A workload rebuilt from another (an address change) keeps its labels map: the policy engine's per-destination
            // entries are found by that map's identity first.
            return copy;
        }
        Map<String, String> interned = new java.util.HashMap<>();
        copy.forEach((k, v) -> interned.put(k.intern(), v.intern()));
        return Map.copyOf(interned);
    }

    /** The application protocol of {@code port}: as declared, else {@link AppProtocol#AUTO}. */
    public AppProtocol appProtocol(int port) {
        return appProtocols.getOrDefault(port, AppProtocol.AUTO);
    }

    private static void requireName(String field, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("workload " + field + " is required");
        }
    }

    /**
     * The Istio-layout SPIFFE ID this workload presents: {@code spiffe://TD/ns/NS/sa/SA}; null for a workload without
     * identity (a null {@code serviceAccount}: see the class comment).
     */
    public SpiffeId identity() {
        return serviceAccount == null ? null : SpiffeIds.istio(trustDomain, namespace, serviceAccount);
    }

    /** Whether this workload has an identity: false only for a {@link Protocol#TCP} one with a null {@code serviceAccount}. */
    public boolean hasKnownIdentity() {
        return serviceAccount != null;
    }

    /**
     * Whether {@code id} is {@link #identity()}, compared without building that ID (which parses the
     * trust domain and allocates ~400 B): inbound tunnels ask this of every peer.
     *
     * @param id a SPIFFE ID, or null (never this workload's)
     */
    public boolean hasIdentity(SpiffeId id) {
        if (id == null || serviceAccount == null || !id.getTrustDomain().getName().equalsIgnoreCase(trustDomain)) {
            return false;
        }
        // "/ns/" + namespace + "/sa/" + serviceAccount, as SpiffeIds.istio builds it.
        String p = id.getPath();
        int n = namespace.length();
        return p.length() == 8 + n + serviceAccount.length() && p.startsWith("/ns/") && p.startsWith(namespace, 4)
                && p.startsWith("/sa/", 4 + n) && p.startsWith(serviceAccount, 8 + n);
    }

    /**
     * The form mesh-policy evaluates against; its name is {@link #workloadName} (policy never reads it; logs and metrics do).
     * A workload without identity has an empty service account there, which no policy matches.
     */
    public WorkloadRef ref() {
        return new WorkloadRef(namespace, workloadName, serviceAccount, labels, namedPorts);
    }

    @Override
    public String toString() {
        return namespace + "/" + name;
    }

    // equals and hashCode written out with the generated ones' meaning (component by component, null-safe): the
    // generated ones bootstrap java.lang.runtime.ObjectMethods (~50-160 hidden classes, ~0.25-0.5 MB per process,
    // benchmarks/results/records-48bf3ae2.md), and mesh-kubernetes compares the registry's workloads and Services on
    // every rebuild (WorkloadState.refresh: the snapshot is installed only when it changed).
    @Override
    public boolean equals(Object other) {
        return other == this || other instanceof Workload o
                && java.util.Objects.equals(namespace, o.namespace)
                && java.util.Objects.equals(name, o.name)
                && java.util.Objects.equals(serviceAccount, o.serviceAccount)
                && java.util.Objects.equals(labels, o.labels)
                && java.util.Objects.equals(addresses, o.addresses)
                && java.util.Objects.equals(protocol, o.protocol)
                && java.util.Objects.equals(node, o.node)
                && java.util.Objects.equals(trustDomain, o.trustDomain)
                && java.util.Objects.equals(appProtocols, o.appProtocols)
                && java.util.Objects.equals(namedPorts, o.namedPorts)
                && java.util.Objects.equals(workloadName, o.workloadName)
                && java.util.Objects.equals(services, o.services)
                && java.util.Objects.equals(waypoint, o.waypoint)
                && java.util.Objects.equals(hostname, o.hostname);
    }

    @Override
    public int hashCode() {
        int h = java.util.Objects.hashCode(namespace);
        h = 31 * h + java.util.Objects.hashCode(name);
        h = 31 * h + java.util.Objects.hashCode(serviceAccount);
        h = 31 * h + java.util.Objects.hashCode(labels);
        h = 31 * h + java.util.Objects.hashCode(addresses);
        h = 31 * h + java.util.Objects.hashCode(protocol);
        h = 31 * h + java.util.Objects.hashCode(node);
        h = 31 * h + java.util.Objects.hashCode(trustDomain);
        h = 31 * h + java.util.Objects.hashCode(appProtocols);
        h = 31 * h + java.util.Objects.hashCode(namedPorts);
        h = 31 * h + java.util.Objects.hashCode(workloadName);
        h = 31 * h + java.util.Objects.hashCode(services);
        h = 31 * h + java.util.Objects.hashCode(waypoint);
        h = 31 * h + java.util.Objects.hashCode(hostname);
        return h;
    }
}
