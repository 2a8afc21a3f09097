package io.zerohop.core;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A Service the registry knows by its virtual addresses (a Kubernetes Service's {@code spec.clusterIPs}), so that an
 * outbound connection dialled at {@code VIP:port} is sent to one of its endpoints, as ztunnel's does: istio/ztunnel
 * src/state/service.rs {@code Service} ({@code vips}, {@code ports}: service port → target port, 0 for a named one that
 * each endpoint resolves) and src/state.rs {@code find_upstream} / {@code find_upstream_from_service} /
 * {@code load_balance}. Its endpoints are the registry workloads whose {@link Workload#services()} name it (same
 * {@code namespace} and {@code name}): {@link WorkloadRegistry#endpoints}.
 *
 * <p>Throws {@link IllegalArgumentException} naming the service and the field when one is blank, the name is no
 * DNS-1035 label, the namespace no DNS-1123 label, the hostname no DNS name, a VIP is the wildcard or repeats, or a
 * service port repeats
 *
 * <p>Throws {@link NullPointerException} for a null VIP or port
 *
 * @param namespace its namespace; not blank
 * @param name      its name; not blank
 * @param hostname  its DNS name ({@code NAME.NAMESPACE.svc.cluster.local} for a Kubernetes Service), what
 *                  {@code destination_service} and the CONNECT's {@code forwarded: …;host=} carry; not blank
 * @param vips      its virtual addresses, IPv4 and IPv6 (never null; may be empty: a headless Service, found by no
 *                  address); none is the wildcard and none repeats. Immutable copy.
 * @param ports     its ports (never null; each service port once); immutable copy
 * @param loadBalancing how an endpoint is chosen by locality: istiod's {@code LoadBalancing} of the Service (istio/istio
 *                  pilot/pkg/serviceregistry/ambient/services.go {@code constructService}), ztunnel's {@code LoadBalancer}
 *                  (istio/ztunnel src/state/service.rs); null: none, every eligible endpoint equally likely (ztunnel's
 *                  {@code Standard} mode, what istiod sends for a Service with neither
 *                  {@code internalTrafficPolicy: Local} nor a {@code trafficDistribution}). {@link #nodeLocal()} tells
 *                  whether it is {@link LoadBalancing#NODE_LOCAL}
 * @param waypoint  the waypoint that connections addressed to its VIPs go through (istiod's {@code Service.waypoint}: the
 *                  {@code istio.io/use-waypoint} of the Service or its namespace, for a waypoint whose
 *                  {@code istio.io/waypoint-for} is {@code service} (the default) or {@code all}); null: none
 * @param canonical whether istiod marked it the canonical one of its hostname (workload.proto {@code Service.canonical}:
 *                  istio/istio pilot/pkg/serviceregistry/ambient/services.go marks one per hostname, a Kubernetes Service
 *                  before a ServiceEntry): among several Services of one VIP or hostname, none in the client's
 *                  namespace, it is preferred ({@link WorkloadRegistry#serviceAt(InetAddress, String)}); false by default
 * @param visibility who may resolve it ({@link Visibility}); {@link Visibility#PUBLIC} by default; not null
 */
public record Service(String namespace, String name, String hostname, List<InetAddress> vips, List<Port> ports,
                      LoadBalancing loadBalancing, GatewayAddress waypoint, boolean canonical, Visibility visibility) {

    /**
     * istio/api workload.proto {@code Service.Visibility}, as ztunnel keeps it (src/state/service.rs {@code Visibility},
     * {@code Service::visible_to}). istiod sets it from the mesh config's {@code serviceEntryVisibility}
     * (services.go {@code wdsVisibility}); a ServiceEntry's {@code exportTo} is not sent to ztunnel.
     */
    public enum Visibility {
        /** Visible to clients of every namespace (the default). */
        PUBLIC,
        /** Visible only to clients of its own namespace: a client elsewhere finds no Service at its VIP or hostname. */
        NAMESPACE
    }

    /** A Service of {@code waypoint}, not canonical, visible to every namespace. */
    public Service(String namespace, String name, String hostname, List<InetAddress> vips, List<Port> ports,
                   LoadBalancing loadBalancing, GatewayAddress waypoint) {
        this(namespace, name, hostname, vips, ports, loadBalancing, waypoint, false, Visibility.PUBLIC);
    }

    /**
     * Whether a client of {@code clientNamespace} may resolve it: ztunnel's {@code Service::visible_to}; a null namespace
     * (a client of no known workload) sees every Service, as ztunnel's lookups with no namespace do not filter.
     */
    public boolean visibleTo(String clientNamespace) {
        return visibility == Visibility.PUBLIC || clientNamespace == null || namespace.equals(clientNamespace);
    }

    /** This Service marked {@code canonical} or not. */
    public Service withCanonical(boolean canonical) {
        return canonical == this.canonical ? this
                : new Service(namespace, name, hostname, vips, ports, loadBalancing, waypoint, canonical, visibility);
    }

    /** This Service with {@code visibility} (not null). */
    public Service withVisibility(Visibility visibility) {
        return visibility == this.visibility ? this
                : new Service(namespace, name, hostname, vips, ports, loadBalancing, waypoint, canonical, visibility);
    }

    /** A Service without a waypoint. */
    public Service(String namespace, String name, String hostname, List<InetAddress> vips, List<Port> ports,
                   LoadBalancing loadBalancing) {
        this(namespace, name, hostname, vips, ports, loadBalancing, null);
    }

    /** This Service with {@code waypoint} (null: none) in place of its own. */
    public Service withWaypoint(GatewayAddress waypoint) {
        return Objects.equals(waypoint, this.waypoint) ? this
                : new Service(namespace, name, hostname, vips, ports, loadBalancing, waypoint, canonical, visibility);
    }

    /** A Service whose endpoints may be on any node ({@code internalTrafficPolicy: Cluster}, the default). */
    public Service(String namespace, String name, String hostname, List<InetAddress> vips, List<Port> ports) {
        this(namespace, name, hostname, vips, ports, (LoadBalancing) null);
    }

    /**
     * A Service without a locality preference, or with {@code nodeLocal} true a Kubernetes Service's
     * {@code internalTrafficPolicy: Local}: a connection takes only an endpoint on the source's own node, or none
     * ({@link LoadBalancing#NODE_LOCAL}, as istiod sends it: pilot/pkg/serviceregistry/ambient/services.go).
     */
    public Service(String namespace, String name, String hostname, List<InetAddress> vips, List<Port> ports,
                   boolean nodeLocal) {
        this(namespace, name, hostname, vips, ports, nodeLocal ? LoadBalancing.NODE_LOCAL : null);
    }

    /**
     * Whether this is a Kubernetes Service's {@code internalTrafficPolicy: Local}: its {@link #loadBalancing} is
     * {@link LoadBalancing#NODE_LOCAL} (mode {@code STRICT}, scopes {@code [NODE]}), so a connection takes only an
     * endpoint on the source's own node (ztunnel's {@code load_balance} drops one whose {@code node} is not the source's).
     */
    public boolean nodeLocal() {
        return LoadBalancing.NODE_LOCAL.equals(loadBalancing);
    }

    /**
     * The locality routing of a Service: istio/api workload.proto {@code LoadBalancing} ({@code mode},
     * {@code routing_preference}) as ztunnel keeps it ({@code LoadBalancer}, istio/ztunnel src/state/service.rs) and
     * applies it ({@code load_balance}, src/state.rs). Each endpoint is ranked by how many of {@code scopes}, in order, it
     * shares with the source workload, counting stops at the first it does not share ({@link WorkloadRegistry#pickEndpoint}
     * has the details, a leading {@code NETWORK} included). {@link Mode#STRICT}: only endpoints sharing every scope are
     * eligible, else there is no upstream; {@link Mode#FAILOVER}: only those of the best rank present are eligible.
     *
     * <p>Throws {@link NullPointerException} for a null mode, list or scope
     *
     * <p>Throws {@link IllegalArgumentException} for no scope or a scope listed twice
     *
     * @param mode   STRICT or FAILOVER; not null
     * @param scopes the routing preference, most important first; not empty, no scope twice; an immutable copy
     */
    public record LoadBalancing(Mode mode, List<Scope> scopes) {
        /** {@code internalTrafficPolicy: Local} as istiod sends it: STRICT [NODE] (services.go {@code constructService}). */
        public static final LoadBalancing NODE_LOCAL = new LoadBalancing(Mode.STRICT, List.of(Scope.NODE));
        /**
         * {@code trafficDistribution: PreferClose} or {@code PreferSameZone} as istiod sends it: FAILOVER [NETWORK, REGION,
         * ZONE] (services.go {@code preferSameZoneLoadBalancer}).
         */
        public static final LoadBalancing PREFER_SAME_ZONE = new LoadBalancing(Mode.FAILOVER,
                List.of(Scope.NETWORK, Scope.REGION, Scope.ZONE));
        /**
         * {@code trafficDistribution: PreferSameNode} as istiod sends it: FAILOVER [NETWORK, REGION, ZONE, SUBZONE, NODE]
         * (services.go {@code preferSameNodeLoadBalancer}).
         */
        public static final LoadBalancing PREFER_SAME_NODE = new LoadBalancing(Mode.FAILOVER,
                List.of(Scope.NETWORK, Scope.REGION, Scope.ZONE, Scope.SUBZONE, Scope.NODE));

        /** istio/api {@code LoadBalancing.Mode}, as ztunnel's {@code LoadBalancerMode} (no PASSTHROUGH: no such Service here). */
        public enum Mode {
            /** Only endpoints that share every scope with the source; none: no upstream. */
            STRICT,
            /** Endpoints of the best rank present; a worse rank only when no endpoint of a better one is eligible. */
            FAILOVER
        }

        /**
         * istio/api {@code LoadBalancing.Scope}, compared as ztunnel's {@code load_balance} does; an absent or empty value
         * equals another absent or empty one (ztunnel compares strings that default to ""). Workload values are read
         * from its labels, as {@link WorkloadRegistry#pickEndpoint} says.
         */
        public enum Scope {
            /** {@code topology.kubernetes.io/region}. */
            REGION,
            /** {@code topology.kubernetes.io/zone}. */
            ZONE,
            /** {@code topology.istio.io/subzone}. */
            SUBZONE,
            /** {@link Workload#node()}. */
            NODE,
            /** {@code topology.istio.io/cluster}. */
            CLUSTER,
            /** {@code topology.istio.io/network}. */
            NETWORK
        }

        public LoadBalancing {
            Objects.requireNonNull(mode, "mode");
            scopes = List.copyOf(Objects.requireNonNull(scopes, "scopes"));
            if (scopes.isEmpty()) {
                throw new IllegalArgumentException("load balancing " + mode + ": no scope (a routing preference needs one)");
            }
            if (java.util.EnumSet.copyOf(scopes).size() != scopes.size()) {
                throw new IllegalArgumentException("load balancing " + mode + ": a scope is listed twice in " + scopes);
            }
        }

        /**
         * What istiod sends for a Kubernetes Service's traffic distribution, as {@code model.GetTrafficDistribution}
         * (istio/istio pilot/pkg/model/service.go) reads {@code spec.trafficDistribution}: {@code PreferClose} and
         * {@code PreferSameZone} are {@link #PREFER_SAME_ZONE}, {@code PreferSameNode} {@link #PREFER_SAME_NODE}; null for
         * null or any other value (istiod: {@code TrafficDistributionAny}, no LoadBalancing). Case-sensitive, as the field is.
         */
        public static LoadBalancing ofTrafficDistribution(String value) {
            if (value == null) {
                return null;
            }
            return switch (value) {
                case "PreferClose", "PreferSameZone" -> PREFER_SAME_ZONE;
                case "PreferSameNode" -> PREFER_SAME_NODE;
                default -> null;
            };
        }

        // Written out, as Service's are (see there): Service.equals compares its LoadBalancing.
        @Override
        public boolean equals(Object other) {
            return other == this || other instanceof LoadBalancing o
                    && java.util.Objects.equals(mode, o.mode)
                    && java.util.Objects.equals(scopes, o.scopes);
        }

        @Override
        public int hashCode() {
            int h = java.util.Objects.hashCode(mode);
            h = 31 * h + java.util.Objects.hashCode(scopes);
            return h;
        }

        @Override
        public String toString() {
            return "LoadBalancing[mode=" + mode + ", scopes=" + scopes + "]";
        }
    }

    /**
     * The port on {@code endpoint} that service port {@code p} of this Service reaches, as ztunnel's {@code load_balance}
     * (istio/ztunnel src/state.rs) picks it: the endpoint's own mapping for this Service ({@link WorkloadService#ports},
     * an EndpointSlice endpoint's) when it has one for {@code p}, else {@link Port#targetOn}. 0 when neither gives one (the
     * endpoint is then skipped for that port). Runs per connection: a scan of the endpoint's few Services, allocating nothing.
     */
    public int targetOn(Port p, Workload endpoint) {
        // The membership of this hostname, else the first of this name: Services may share a name (a ServiceEntry's hosts).
        WorkloadService mine = null;
        for (WorkloadService ws : endpoint.services()) {
            if (!ws.ports().isEmpty() && ws.name().equals(name) && ws.namespace().equals(namespace)) {
                if (ws.hostname().equals(hostname)) {
                    mine = ws;
                    break;
                }
                if (mine == null) {
                    mine = ws;
                }
            }
        }
        if (mine != null) {
            Integer t = mine.ports().get(p.port());
            if (t != null) {
                return t;
            }
        }
        return p.targetOn(endpoint);
    }

    /**
     * One service port: ztunnel's {@code ports} entry ({@code service_port} → {@code target_port}), with the Kubernetes
     * target port's name kept where istiod sends 0 and a per-endpoint mapping.
     *
     * <p>Throws {@link IllegalArgumentException} naming the field for a port out of range, or not exactly one of {@code
     * targetPort} and {@code targetPortName}
     *
     * @param port           the service port clients dial, 1-65535
     * @param targetPort     the endpoint port it maps to, 1-65535; 0 when {@code targetPortName} names it instead
     * @param targetPortName a container port name ({@link Workload#namedPorts()}) each endpoint resolves, when
     *                       {@code targetPort} is 0; else null
     */
    public record Port(int port, int targetPort, String targetPortName) {
        public Port {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("service port " + port + " is out of range 1-65535");
            }
            if (targetPortName != null && targetPortName.isBlank()) {
                targetPortName = null;
            }
            if (targetPortName != null ? targetPort != 0 : targetPort < 1 || targetPort > 65535) {
                throw new IllegalArgumentException("service port " + port + ": targetPort " + (targetPortName != null
                        ? "is named \"" + targetPortName + "\" and numbered " + targetPort + " (one or the other)"
                        : targetPort + " is out of range 1-65535"));
            }
        }

        /** A port whose target is the number {@code targetPort}. */
        public static Port of(int port, int targetPort) {
            return new Port(port, targetPort, null);
        }

        /** A port whose target is the container port named {@code targetPortName} on each endpoint. */
        public static Port named(int port, String targetPortName) {
            return new Port(port, 0, Objects.requireNonNull(targetPortName, "targetPortName"));
        }

        /**
         * The port on {@code endpoint} this service port maps to: the numbered target, else the endpoint's container
         * port of that name; 0 when it names none of the endpoint's (ztunnel's {@code load_balance} then skips the
         * endpoint: "it does not have service port").
         */
        public int targetOn(Workload endpoint) {
            if (targetPortName == null) {
                return targetPort;
            }
            Integer p = endpoint.namedPorts() == null ? null : endpoint.namedPorts().get(targetPortName);
            return p == null ? 0 : p;
        }

        // Written out, as Service's are (see there): Service.equals compares its Port.
        @Override
        public boolean equals(Object other) {
            return other == this || other instanceof Port o
                    && port == o.port
                    && targetPort == o.targetPort
                    && java.util.Objects.equals(targetPortName, o.targetPortName);
        }

        @Override
        public int hashCode() {
            int h = Integer.hashCode(port);
            h = 31 * h + Integer.hashCode(targetPort);
            h = 31 * h + java.util.Objects.hashCode(targetPortName);
            return h;
        }

        @Override
        public String toString() {
            return "Port[port=" + port + ", targetPort=" + targetPort + ", targetPortName=" + targetPortName + "]";
        }
    }

    /**
     * The endpoint picked for a connection to a service ({@link WorkloadRegistry#pickEndpoint}).
     *
     * @param service  the Service dialled
     * @param workload the endpoint workload picked
     * @param address  where the connection goes: an address of {@code workload} (of the VIP's family when it has one)
     *                 on the target port the service port maps to
     */
    public record Endpoint(Service service, Workload workload, InetSocketAddress address) {}

    public Service {
        for (String[] f : new String[][] {{"namespace", namespace}, {"name", name}, {"hostname", hostname}}) {
            if (f[1] == null || f[1].isBlank()) {
                throw new IllegalArgumentException("service " + f[0] + " is required");
            }
        }
        // A Kubernetes Service's name is a DNS-1035 label and its namespace a DNS-1123 label (the API server's
        // ValidateServiceName, ValidateNamespaceName); the hostname goes into forwarded's host= and metric labels, so it
        // is a DNS name. A new-user pass loaded `name: Web` and `hostname: "bad host"`.
        if (!name.matches("[a-z]([-a-z0-9]{0,61}[a-z0-9])?")) {
            throw new IllegalArgumentException("service name \"" + name + "\" is no DNS-1035 label (lower-case letters, digits"
                    + " and '-', starting with a letter, at most 63 characters), as a Kubernetes Service's name must be");
        }
        if (!namespace.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
            throw new IllegalArgumentException("service namespace \"" + namespace + "\" is no DNS-1123 label");
        }
        if (hostname.length() > 253 || !hostname.matches("[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*")) {
            throw new IllegalArgumentException("service " + namespace + "/" + name + ": hostname \"" + hostname
                    + "\" is no DNS name (labels of letters, digits and '-', joined by '.')");
        }
        Objects.requireNonNull(visibility, "visibility");
        vips = List.copyOf(Objects.requireNonNull(vips, "vips"));
        Set<InetAddress> seen = new HashSet<>();
        for (InetAddress a : vips) {
            if (a.isAnyLocalAddress()) {
                throw new IllegalArgumentException("service " + namespace + "/" + name + ": vips: the wildcard address "
                        + io.netty.util.NetUtil.toAddressString(a) + " is no service address");
            }
            if (!seen.add(a)) {
                throw new IllegalArgumentException("service " + namespace + "/" + name + ": vips: " + io.netty.util.NetUtil.toAddressString(a)
                        + " is listed twice");
            }
        }
        ports = List.copyOf(Objects.requireNonNull(ports, "ports"));
        Set<Integer> numbers = new HashSet<>();
        for (Port p : ports) {
            if (!numbers.add(p.port())) {
                throw new IllegalArgumentException("service " + namespace + "/" + name + ": ports: port " + p.port()
                        + " is listed twice");
            }
        }
    }

    /** The port whose service port is {@code port}, or null (a small list: no map, no allocation). */
    public Port port(int port) {
        for (int i = 0; i < ports.size(); i++) {
            Port p = ports.get(i);
            if (p.port == port) {
                return p;
            }
        }
        return null;
    }

    /**
     * Whether {@code w} is an endpoint of this Service: one of its {@link Workload#services()} has this namespace, name
     * and hostname (Services may share a name: a ServiceEntry's hosts; {@link WorkloadRegistry#endpoints} matches the
     * hostname too when they do).
     */
    public boolean selects(Workload w) {
        List<WorkloadService> s = w.services();
        for (int i = 0; i < s.size(); i++) {
            if (s.get(i).name().equals(name) && s.get(i).namespace().equals(namespace) && s.get(i).hostname().equals(hostname)) {
                return true;
            }
        }
        return false;
    }

    /** What telemetry names it by: ztunnel's {@code ServiceDescription}, with the target ports its numbered ports name. */
    public WorkloadService description() {
        List<Integer> targets = new ArrayList<>();
        for (Port p : ports) {
            if (p.targetPort > 0) {
                targets.add(p.targetPort);
            }
        }
        return new WorkloadService(name, namespace, hostname, Set.copyOf(targets));
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
        return other == this || other instanceof Service o
                && java.util.Objects.equals(namespace, o.namespace)
                && java.util.Objects.equals(name, o.name)
                && java.util.Objects.equals(hostname, o.hostname)
                && java.util.Objects.equals(vips, o.vips)
                && java.util.Objects.equals(ports, o.ports)
                && java.util.Objects.equals(loadBalancing, o.loadBalancing)
                && java.util.Objects.equals(waypoint, o.waypoint)
                && canonical == o.canonical
                && visibility == o.visibility;
    }

    @Override
    public int hashCode() {
        int h = java.util.Objects.hashCode(namespace);
        h = 31 * h + java.util.Objects.hashCode(name);
        h = 31 * h + java.util.Objects.hashCode(hostname);
        h = 31 * h + java.util.Objects.hashCode(vips);
        h = 31 * h + java.util.Objects.hashCode(ports);
        h = 31 * h + java.util.Objects.hashCode(loadBalancing);
        h = 31 * h + java.util.Objects.hashCode(waypoint);
        h = 31 * h + Boolean.hashCode(canonical);
        h = 31 * h + visibility.hashCode();
        return h;
    }
}
