package io.zerohop.core;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.internal.TopologyLabels;
import io.zerohop.policy.PolicyLoadException;
import io.zerohop.policy.WorkloadRef;
import io.zerohop.policy.internal.YNode;
import io.zerohop.policy.internal.YamlDocuments;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.events.ScalarEvent;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;

/**
 * Address → workload, and node → HBONE address. Lookups read an immutable snapshot; updates swap
 * the whole snapshot, so a lookup never sees half an update.
 *
 * <p>YAML form (also what {@code zerohop proxy --workloads FILE} reads):
 * <pre>
 * trustDomain: cluster.local
 * nodes:
 *   - {name: node-a}                                 # tunnels dial the workload IP:15008
 *   - {name: node-b, hboneAddress: "10.0.0.2:15008"} # tunnels dial this address
 *   - {name: node-c, addresses: [10.0.0.3, "fd00::3"]} # where node-c's proxy dials from
 * workloads:
 *   - {namespace: prod, name: backend, serviceAccount: backend, addresses: [10.0.1.2],
 *      labels: {app: backend}, protocol: HBONE, node: node-b,
 *      ports: {8080: http, 9090: grpc, 5432: tcp}}   # appProtocol per port; unlisted ports: auto
 *   - {namespace: prod, name: db, addresses: [10.0.1.3],
 *      waypoint: {address: 10.0.1.50}}               # optional: its traffic goes through this waypoint
 * services:                                          # optional: Service VIPs outbound connections resolve
 *   - {namespace: prod, name: backend, addresses: [10.96.0.20, "fd00:10:96::14"],
 *      ports: {80: 8080, 9000: http}, selector: {app: backend}}  # target port: a number or a container port name
 *   - {namespace: prod, name: near, addresses: [10.96.0.21], ports: {80: 8080}, selector: {app: backend},
 *      trafficDistribution: PreferClose}             # optional, as a Kubernetes Service's: same zone first
 *   - {namespace: prod, name: web, addresses: [10.96.0.22], ports: {80: 8080},
 *      waypoint: {namespace: prod, hostname: waypoint.prod.svc.cluster.local, hboneMtlsPort: 15008}}
 * </pre>
 *
 * <p>{@code waypoint} ({@link GatewayAddress}): {@code {address: IP}} or {@code {namespace: NS, hostname: H}}, with an
 * optional {@code hboneMtlsPort} (default 15008); connections to the workload's addresses or the Service's VIPs go
 * through it as ztunnel sends them (mesh-core README, "Waypoints"). A waypoint Service lists {@code hboneMtlsPort} among
 * its {@code ports}.
 *
 * <p>Services ({@link Service}): a VIP → Service index ({@link #serviceAt}), the endpoints each selects
 * ({@link #endpoints}: the workloads whose {@link Workload#services()} name it), and ztunnel's endpoint pick
 * ({@link #pickEndpoint}). A {@code services:} entry's {@code selector} attaches the Service to the matching workloads of its
 * namespace ({@link Workload#services()}, which inbound telemetry reads too); {@code hostname} defaults to
 * {@code NAME.NAMESPACE.svc.DOMAIN}, DOMAIN the cluster domain given to {@link #load(Path, String)} ({@code cluster.local} by
 * default, as ztunnel's {@code CLUSTER_DOMAIN}); a port's value is a target port number, a container port name, or empty (the port);
 * {@code internalTrafficPolicy: Local} is {@link Service.LoadBalancing#NODE_LOCAL}, else {@code trafficDistribution}
 * ({@code PreferClose}, {@code PreferSameZone}, {@code PreferSameNode}) is {@link Service.LoadBalancing#ofTrafficDistribution}
 * (another value is an error naming file, line and field).
 */
public final class WorkloadRegistry {
    /** Where a workload's HBONE tunnel ends when no node says otherwise (ztunnel's inbound port). */
    public static final int HBONE_PORT = 15008;

    /**
     * {@code ids}: each workload's {@link Workload#identity()}, built once per replace (one instance per
     * identity), keyed by the workload object itself, so an outbound open finds it without building
     * a SpiffeId (~400 B) or hashing the workload's labels. {@code nodeAddresses}: per node, the
     * addresses its proxy dials from (declared ones, then the IP of its {@code hboneAddress}).
     */
    private record Snapshot(Map<InetAddress, Workload> byAddress, Map<String, InetSocketAddress> nodes, List<Workload> all,
                            IdentityHashMap<Workload, SpiffeId> ids, Map<String, List<InetAddress>> nodeAddresses,
                            Map<InetAddress, String> nodeByAddress, List<Service> services, Map<InetAddress, Service[]> byVip,
                            IdentityHashMap<Service, Workload[]> endpoints, IdentityHashMap<Service, WorkloadService> descriptions,
                            Map<String, Service[]> serviceByHost, Map<String, Workload[]> workloadsByHost) {}

    private static final Workload[] NO_WORKLOADS = new Workload[0];

    /** The domain a file's {@code services:} without {@code hostname} end with ({@link #load(Path, String)}). */
    private volatile String clusterDomain = "cluster.local";

    private volatile Snapshot snapshot = new Snapshot(Map.of(), Map.of(), List.of(), new IdentityHashMap<>(), Map.of(), Map.of(),
            List.of(), Map.of(), new IdentityHashMap<>(), new IdentityHashMap<>(), Map.of(), Map.of());

    /** A registry with no workload, node or Service; fill it with {@link #replace} or {@link #put}. */
    public static WorkloadRegistry empty() {
        return new WorkloadRegistry();
    }

    /**
     * A registry holding {@code workloads} and {@code nodes}, as {@link #replace(List, Map)} installs them.
     *
     * @param nodes node name to where tunnels to its workloads are dialled ({@link #hboneAddress}); empty for none
     * @throws NullPointerException     naming {@code workloads} or {@code nodes} when it is null
     * @throws IllegalArgumentException when two workloads claim one address, naming it and both
     */
    public static WorkloadRegistry of(List<Workload> workloads, Map<String, InetSocketAddress> nodes) {
        WorkloadRegistry r = new WorkloadRegistry();
        r.replace(workloads, nodes);
        return r;
    }

    /**
     * The workload that has {@code address} among its addresses, if any, whether or not a Service has it as a VIP too
     * (ztunnel's {@code find_address} looks at the workloads first); a connection dialled at such an address goes to the
     * Service ({@link #serviceAt}).
     */
    public Optional<Workload> byAddress(InetAddress address) {
        return Optional.ofNullable(snapshot.byAddress.get(address));
    }

    /** The workload named {@code namespace}/{@code name}, if any; names compare exactly (case-sensitively). */
    public Optional<Workload> byName(String namespace, String name) {
        for (Workload w : snapshot.all) {
            if (w.namespace().equals(namespace) && w.name().equals(name)) {
                return Optional.of(w);
            }
        }
        return Optional.empty();
    }

    /**
     * {@code w.identity()}, the same instance for every call while {@code w} is in the registry (and
     * for every workload of that identity), so asking allocates nothing; a workload no longer (or
     * never) in the registry gets a fresh {@code w.identity()}. Compare a peer with
     * {@link Workload#hasIdentity} instead where no SpiffeId is needed. Null for a workload without identity
     * ({@link Workload#hasKnownIdentity}: an EndpointSlice endpoint's).
     */
    public SpiffeId identityOf(Workload w) {
        SpiffeId id = snapshot.ids.get(w);
        return id != null ? id : w.identity();
    }

    /**
     * The addresses node {@code node}'s proxy is known to dial from: the node's declared
     * {@code addresses}, then the IP of its {@code hboneAddress} (where it listens); empty when the node
     * is null, undeclared, or declares neither. A forwarded claim naming a pod of that node is believed
     * only from one of these when one is of the tunnel's address family ({@code TunnelSource}).
     */
    public List<InetAddress> nodeAddresses(String node) {
        List<InetAddress> a = node == null ? null : snapshot.nodeAddresses.get(node);
        return a == null ? List.of() : a;
    }

    /**
     * The node whose {@link #nodeAddresses} hold {@code address}, if any (the first declared, should two nodes name it):
     * plaintext from it is a node's own traffic, which Cilium's policies see as {@code host} or {@code remote-node}.
     */
    public Optional<String> nodeAt(InetAddress address) {
        return Optional.ofNullable(snapshot.nodeByAddress.get(address));
    }

    /** Every workload, in the order installed; an unmodifiable snapshot, never null. */
    public List<Workload> all() {
        return snapshot.all;
    }

    /** The Services installed with the workloads ({@link #replace(List, Map, Map, List)}), in the order given; never null. */
    public List<Service> services() {
        return snapshot.services;
    }

    /**
     * {@link #serviceAt(InetAddress, String)} for a client of no known namespace: no Service is filtered out by its
     * {@link Service#visibility}, the {@link Service#canonical} one of several is preferred, else the first.
     */
    public Optional<Service> serviceAt(InetAddress address) {
        return serviceAt(address, null);
    }

    /**
     * The Service for a client of {@code clientNamespace} among those one of whose {@link Service#vips()} is
     * {@code address}, if any: ztunnel's {@code ServiceStore::get_best_by_vip} (istio/ztunnel src/state/service.rs), which
     * {@code find_upstream} (src/state.rs) asks with the source workload's namespace, before the workloads' addresses.
     * Several Services may share a VIP, one per namespace (ServiceEntries of one address in several namespaces): those
     * not {@link Service#visibleTo} the client are skipped, then the one of the client's namespace is taken, else the
     * {@link Service#canonical} one (the last of several, as ztunnel's {@code ServiceMatch::find_best_match}), else the
     * first in the order installed. ztunnel's {@code preferred_service_namespace} and its CIDR VIPs
     * ({@code get_best_by_cidr_vip}) are not modelled. A VIP may also be a workload's address: connections dialled at it
     * ask this first, so the Service wins there, as ztunnel's {@code find_upstream}; {@link #byAddress} still finds the
     * workload (ztunnel's {@code find_address}, workload first).
     * A map lookup and a walk of that VIP's Services; no allocation beyond the Optional.
     *
     * @param clientNamespace the source workload's namespace; null: none known (nothing filtered, nothing preferred)
     */
    public Optional<Service> serviceAt(InetAddress address, String clientNamespace) {
        return Optional.ofNullable(best(snapshot.byVip.get(address), clientNamespace));
    }

    /**
     * ztunnel's {@code ServiceMatch::find_best_match} over the candidates visible to {@code ns} (istio/ztunnel
     * src/state/service.rs): the one of namespace {@code ns} at once, else the last canonical one, else the first.
     */
    private static Service best(Service[] candidates, String ns) {
        if (candidates == null) {
            return null;
        }
        Service canonical = null;
        Service first = null;
        for (Service s : candidates) {
            if (!s.visibleTo(ns)) {
                continue;
            }
            if (s.namespace().equals(ns)) {
                return s;
            }
            if (s.canonical()) {
                canonical = s;
            } else if (first == null && canonical == null) {
                first = s;
            }
        }
        return canonical != null ? canonical : first;
    }

    /**
     * The endpoints of {@code service}: the registry workloads it {@link Service#selects} as a healthy endpoint
     * ({@link WorkloadService#healthy}), in registry order; empty for a Service not installed (or not this snapshot's
     * instance) or one that selects none. An immutable list.
     */
    public List<Workload> endpoints(Service service) {
        Workload[] e = snapshot.endpoints.get(service);
        return e == null ? List.of() : List.of(e);
    }

    /**
     * {@link #serviceByHostname(String, String)} for a client of no known namespace.
     */
    public WorkloadService serviceByHostname(String hostname) {
        return serviceByHostname(hostname, null);
    }

    /**
     * The Service named {@code hostname} for a client of {@code clientNamespace} ({@link #bestService}), as telemetry
     * describes it ({@link Service#description()}), or null: how an outbound tunnel's {@code destination_service} is
     * found again from the {@code forwarded: …;host=} it carries. Allocates nothing.
     */
    public WorkloadService serviceByHostname(String hostname, String clientNamespace) {
        Service s = hostname == null ? null : best(snapshot.serviceByHost.get(hostname), clientNamespace);
        return s == null ? null : snapshot.descriptions.get(s);
    }

    /**
     * The Service of {@code hostname} for a client of {@code clientNamespace}, if any: ztunnel's
     * {@code ServiceStore::get_best_by_host} (istio/ztunnel src/state/service.rs; src/state.rs
     * {@code find_service_by_hostname}, src/proxy/inbound.rs with the local workload's namespace). Several Services may
     * share a hostname, one per namespace (Istio ServiceEntries define one host in several namespaces); they are picked as
     * {@link #serviceAt(InetAddress, String)} picks among a VIP's.
     *
     * @param clientNamespace the client workload's namespace; null: none known (nothing filtered, nothing preferred)
     */
    public Optional<Service> bestService(String hostname, String clientNamespace) {
        return Optional.ofNullable(hostname == null ? null : best(snapshot.serviceByHost.get(hostname), clientNamespace));
    }

    /**
     * The Service of {@code hostname} in {@code namespace}, if any: ztunnel's {@code services.get_by_namespaced_host}
     * (istio/ztunnel src/state/service.rs; src/state.rs {@code find_hostname}), how a waypoint named by hostname
     * ({@link GatewayAddress}) is found: that namespace's Service of the name only, never another namespace's of the same
     * name. A map lookup and a walk of that hostname's Services (one per namespace); names compare exactly.
     */
    public Optional<Service> service(String namespace, String hostname) {
        Service[] ss = hostname == null ? null : snapshot.serviceByHost.get(hostname);
        if (ss != null) {
            for (Service s : ss) {
                if (s.namespace().equals(namespace)) {
                    return Optional.of(s);
                }
            }
        }
        return Optional.empty();
    }

    /**
     * The workload of {@code hostname} ({@link Workload#hostname()}) in {@code namespace}, if any: the fallback of
     * ztunnel's {@code find_hostname} (istio/ztunnel src/state.rs) when no Service has that name, by which a waypoint named
     * by hostname ({@link GatewayAddress}) may be a workload. Names compare exactly, as {@link #service(String, String)}.
     * Several workloads of one name in one namespace (two ServiceEntries' endpoints): the first in the registry's order,
     * where ztunnel takes whichever its map yields first. ztunnel scans every workload ("uncommon path ... not worth the
     * memory cost to index"); zerohop keeps a map of the workloads that have a hostname, built with each replace and empty
     * when none has one, since the lookup runs per connection through such a waypoint.
     */
    public Optional<Workload> workloadByHostname(String namespace, String hostname) {
        Workload[] ws = hostname == null ? null : snapshot.workloadsByHost.get(hostname);
        if (ws != null) {
            for (Workload w : ws) {
                if (w.namespace().equals(namespace)) {
                    return Optional.of(w);
                }
            }
        }
        return Optional.empty();
    }

    /**
     * ztunnel's {@code load_balance} and {@code find_upstream_from_service} (istio/ztunnel src/state.rs) for a connection
     * dialled at {@code vip}:{@code port} of {@code service} from a source of no node and no locality (a Service's
     * {@link Service#loadBalancing} ranks the endpoints for it: {@link #pickEndpoint(Service, int, InetAddress, String, Map)};
     * without one every eligible endpoint is equally likely, as {@code choose_weighted} over equal capacities): null when {@code port} is no service
     * port ("service does not have port") or no endpoint is eligible ("has no healthy endpoints"); else one endpoint
     * picked at random ({@link java.util.concurrent.ThreadLocalRandom}) among the endpoints that have an address and, for
     * a named target port, a container port of that name. The port is mapped as ztunnel's: the service's numbered target
     * port, else the endpoint's own port of the target's name. The address is the endpoint's first of {@code vip}'s
     * family, else its first (ztunnel's {@code pick_workload_destination_or_resolve}). Allocates the result only.
     *
     * <p>Only healthy endpoints are candidates ({@link #endpoints}, {@link WorkloadService#healthy}), as ztunnel's
     * Service holds only endpoints istiod reports healthy.
     *
     * @param vip the address dialled (one of the service's VIPs), or null (then the endpoint's first address)
     */
    public Service.Endpoint pickEndpoint(Service service, int port, InetAddress vip) {
        return pickEndpoint(service, port, vip, null);
    }

    /**
     * {@link #pickEndpoint(Service, int, InetAddress, String, Map)} for a source on node {@code sourceNode} without
     * topology labels: for a {@link Service#nodeLocal} Service only endpoints whose {@link Workload#node()} is
     * {@code sourceNode} are eligible (ztunnel's strict {@code Node} scope, {@code src.node == wl.node}: a null source
     * node matches endpoints without a node only).
     */
    public Service.Endpoint pickEndpoint(Service service, int port, InetAddress vip, String sourceNode) {
        return pickEndpoint(service, port, vip, sourceNode, null);
    }

    /**
     * {@link #pickEndpoint(Service, int, InetAddress)} for a source on node {@code sourceNode} whose topology labels are
     * {@code sourceLabels}, with the Service's {@link Service#loadBalancing} applied as ztunnel's {@code load_balance}
     * (istio/ztunnel src/state.rs): each eligible endpoint is ranked by the Service's scopes in order, one point per
     * scope it shares with the source, stopping at the first it does not share; when the first scope is
     * {@code NETWORK}, a network mismatch does not stop the count (the other scopes are still counted) and a network
     * match adds {@code scopes - 1} more, so an endpoint of the source's network outranks every endpoint of another.
     * {@code STRICT}: only endpoints that share every scope are eligible. {@code FAILOVER}: only endpoints of the best rank
     * present. Then one of those, each equally likely (ztunnel's {@code choose_weighted} over equal capacities; zerohop has
     * no capacities). Without a {@code loadBalancing} no ranking: any eligible endpoint.
     *
     * <p>A scope's value is, for the source and each endpoint alike: {@code REGION} the label
     * {@code topology.kubernetes.io/region}, {@code ZONE} {@code topology.kubernetes.io/zone}, {@code SUBZONE}
     * {@code topology.istio.io/subzone}, {@code CLUSTER} {@code topology.istio.io/cluster}, {@code NETWORK}
     * {@code topology.istio.io/network}, {@code NODE} the node name. Absent and empty are equal to each other and to
     * nothing else, as ztunnel's strings that default to "". (istiod gives a pod its Node's region, zone and subzone;
     * zerohop reads the workload's own labels: the registry knows no Node localities.)
     *
     * <p>Runs per connection: no allocation but the result (two passes over the endpoints, the rank computed in each).
     *
     * @param sourceNode   the source's node name, or null (none)
     * @param sourceLabels the source's labels, of which only the topology labels above are read; null: none
     */
    public Service.Endpoint pickEndpoint(Service service, int port, InetAddress vip, String sourceNode,
                                         Map<String, String> sourceLabels) {
        return pick(service, port, vip, sourceNode, sourceLabels, false);
    }

    /**
     * {@link #pickEndpoint(Service, int, InetAddress, String, Map)} among the endpoints in the mesh only
     * ({@link Workload.Protocol#HBONE}): what a caller that must never dial in plaintext ({@code Mesh.connect},
     * {@code Mesh.route}, {@code Mesh.socketFactory}) picks from. ztunnel has no such pick: it serves captured traffic,
     * and relays a {@code protocol: TCP} endpoint it picked as plain TCP (the capture path here does the same, with
     * {@link #pickEndpoint(Service, int, InetAddress, String, Map)}). A zerohop decision: a Service whose endpoints are
     * partly outside the mesh is reached over HBONE through its meshed ones, never refused by chance of the draw.
     *
     * @return null as {@link #pickEndpoint(Service, int, InetAddress, String, Map)}, and also when no eligible endpoint is
     *         in the mesh
     */
    public Service.Endpoint pickMeshEndpoint(Service service, int port, InetAddress vip, String sourceNode,
                                             Map<String, String> sourceLabels) {
        return pick(service, port, vip, sourceNode, sourceLabels, true);
    }

    private Service.Endpoint pick(Service service, int port, InetAddress vip, String sourceNode,
                                  Map<String, String> sourceLabels, boolean meshOnly) {
        Service.Port p = service.port(port);
        if (p == null) {
            return null;
        }
        Snapshot snap = snapshot;
        Workload[] eps = snap.endpoints.get(service);
        if (eps == null && vip != null) {
            // A Service of an earlier snapshot (serviceAt read before a replace, which makes new instances on every
            // Kubernetes pod change): this snapshot's Service of the same VIP and name stands for it. A new-user pass saw
            // 261 of 71 million picks refused as "no healthy upstream" while services were replaced every millisecond.
            Service now = null;
            Service[] at = snap.byVip.get(vip);
            if (at != null) {
                for (Service c : at) {
                    if (c.namespace().equals(service.namespace())) {
                        now = c; // one per namespace on a VIP (replace)
                        break;
                    }
                }
            }
            if (now != null && now.name().equals(service.name()) && now.hostname().equals(service.hostname())) {
                service = now;
                p = now.port(port);
                if (p == null) {
                    return null;
                }
                eps = snap.endpoints.get(now);
            }
        }
        if (eps == null || eps.length == 0) {
            return null;
        }
        Service.LoadBalancing lb = service.loadBalancing();
        Map<String, String> src = sourceLabels == null ? Map.of() : sourceLabels;
        // Pass 1: the best rank among eligible endpoints and how many have it (ztunnel collects the ranks in a Vec; two
        // passes allocate nothing).
        int best = -1;
        int count = 0;
        for (Workload w : eps) {
            int r = meshOnly && w.protocol() != Workload.Protocol.HBONE ? -1 : rank(service, lb, p, w, sourceNode, src);
            if (r > best) {
                best = r;
                count = 1;
            } else if (r == best && r >= 0) {
                count++;
            }
        }
        if (best < 0) {
            return null;
        }
        int k = count == 1 ? 0 : java.util.concurrent.ThreadLocalRandom.current().nextInt(count);
        for (Workload w : eps) {
            if ((!meshOnly || w.protocol() == Workload.Protocol.HBONE) && rank(service, lb, p, w, sourceNode, src) == best
                    && k-- == 0) {
                // A workload with a hostname: its address is looked up per connection by the caller (ztunnel's
                // pick_workload_destination_or_resolve), never here, which may run on an event loop.
                return new Service.Endpoint(service, w, w.resolvedOnDemand()
                        ? InetSocketAddress.createUnresolved(w.hostname(), service.targetOn(p, w))
                        : new InetSocketAddress(addressFor(w, vip), service.targetOn(p, w)));
            }
        }
        throw new IllegalStateException("unreachable");
    }

    /**
     * ztunnel's rank of endpoint {@code w} for a source of node {@code srcNode} and labels {@code src}
     * ({@code load_balance}, istio/ztunnel src/state.rs): -1 when {@code w} is not eligible at all (no address, no port
     * of {@code p}'s target, or under STRICT not sharing every scope); 0 for any eligible endpoint without {@code lb}.
     */
    private static int rank(Service service, Service.LoadBalancing lb, Service.Port p, Workload w, String srcNode,
                            Map<String, String> src) {
        if (w.addresses().isEmpty() && !w.resolvedOnDemand() || service.targetOn(p, w) <= 0) {
            return -1;
        }
        if (lb == null) {
            return 0;
        }
        List<Service.LoadBalancing.Scope> scopes = lb.scopes();
        boolean networkPreferred = scopes.get(0) == Service.LoadBalancing.Scope.NETWORK;
        int rank = 0;
        int adjust = 0;
        for (int i = 0; i < scopes.size(); i++) {
            Service.LoadBalancing.Scope s = scopes.get(i);
            boolean matches = switch (s) {
                case REGION -> sameLabel(src, w, TopologyLabels.REGION);
                case ZONE -> sameLabel(src, w, TopologyLabels.ZONE);
                case SUBZONE -> sameLabel(src, w, TopologyLabels.SUBZONE);
                case NODE -> same(srcNode, w.node());
                case CLUSTER -> sameLabel(src, w, TopologyLabels.CLUSTER);
                case NETWORK -> sameLabel(src, w, TopologyLabels.NETWORK);
            };
            if (s == Service.LoadBalancing.Scope.NETWORK && networkPreferred) {
                if (!matches) {
                    continue; // ztunnel: "try the other scopes"
                }
                adjust = scopes.size() - 1;
            }
            if (!matches) {
                break;
            }
            rank++;
        }
        if (lb.mode() == Service.LoadBalancing.Mode.STRICT && rank != scopes.size()) {
            return -1;
        }
        return rank + adjust;
    }

    private static boolean sameLabel(Map<String, String> src, Workload w, String key) {
        return same(src.get(key), w.labels().get(key));
    }

    /** Equal as ztunnel's strings that default to "": null and empty are the same value. */
    private static boolean same(String a, String b) {
        boolean aNone = a == null || a.isEmpty();
        boolean bNone = b == null || b.isEmpty();
        return aNone || bNone ? aNone && bNone : a.equals(b);
    }


    /** {@code w}'s first address of {@code vip}'s family, else its first. */
    private static InetAddress addressFor(Workload w, InetAddress vip) {
        List<InetAddress> a = w.addresses();
        if (vip != null) {
            for (int i = 0; i < a.size(); i++) {
                if (a.get(i).getClass() == vip.getClass()) {
                    return a.get(i);
                }
            }
        }
        return a.get(0);
    }

    /**
     * Where to open the HBONE tunnel for a destination workload: its node's proxy when the node
     * declares an {@code hboneAddress}, else the workload address itself on 15008 (ztunnel). The
     * receiving proxy picks the SVID it presents from the address dialled, so a node proxy serving
     * several workloads (one SVID each) needs the latter; a node address suits a proxy presenting a
     * single identity.
     */
    public InetSocketAddress hboneAddress(Workload w, InetAddress dialled) {
        if (w.node() != null) {
            InetSocketAddress node = snapshot.nodes.get(w.node());
            if (node != null) {
                return node;
            }
        }
        return new InetSocketAddress(dialled, HBONE_PORT);
    }

    /** Replaces everything at once; rejects two workloads claiming one address. Nodes declare no source addresses. */
    public synchronized void replace(List<Workload> workloads, Map<String, InetSocketAddress> nodes) {
        replace(workloads, nodes, Map.of());
    }

    /**
     * Replaces everything at once; rejects two workloads claiming one address.
     *
     * @param nodes         node name → where tunnels to its workloads are dialled ({@link #hboneAddress})
     * @param nodeAddresses node name → the addresses its proxy dials from (a node's other interfaces,
     *                      the other address family); a node's {@code hboneAddress} IP counts too
     */
    public synchronized void replace(List<Workload> workloads, Map<String, InetSocketAddress> nodes,
                                     Map<String, List<InetAddress>> nodeAddresses) {
        replace(workloads, nodes, nodeAddresses, snapshot.services);
    }

    /**
     * Replaces everything at once, Services too: rejects two workloads claiming one address, two Services of one
     * namespace and name, two Services of one namespace on one VIP or of one hostname (ztunnel's {@code ServiceStore}
     * holds one per namespace: its {@code insert} replaces that namespace's). A VIP may also be a workload's address.
     * Services of different namespaces may share VIPs and hostnames, as ztunnel's ({@code by_vip}, {@code by_host}: Istio
     * ServiceEntries may define one host and address in several namespaces); {@link #serviceAt(InetAddress, String)} and
     * {@link #bestService} pick among them by the client's namespace.
     *
     * @param services the Services whose VIPs outbound connections resolve ({@link #serviceAt}); their endpoints are
     *                 the workloads each {@link Service#selects}
     * @throws IllegalArgumentException naming the address or hostname and both claimants
     */
    public synchronized void replace(List<Workload> workloads, Map<String, InetSocketAddress> nodes,
                                     Map<String, List<InetAddress>> nodeAddresses, List<Service> services) {
        Objects.requireNonNull(workloads, "workloads");
        Objects.requireNonNull(nodes, "nodes");
        Objects.requireNonNull(nodeAddresses, "nodeAddresses");
        Objects.requireNonNull(services, "services");
        Map<InetAddress, Workload> byAddress = new HashMap<>();
        IdentityHashMap<Workload, SpiffeId> ids = new IdentityHashMap<>();
        Map<SpiffeId, SpiffeId> shared = new HashMap<>();
        for (Workload w : workloads) {
            for (InetAddress a : w.addresses()) {
                Workload prev = byAddress.putIfAbsent(a, w);
                if (prev != null) {
                    throw new IllegalArgumentException("address " + a.getHostAddress() + " claimed by both " + prev + " and " + w);
                }
            }
            if (!w.hasKnownIdentity()) {
                continue; // no identity to memoize: identityOf answers null
            }
            SpiffeId id;
            try {
                id = w.identity();
            } catch (RuntimeException e) {
                // A name java-spiffe refuses as a path segment: no memo, so identityOf fails where
                // identity() always did (at use), and the rest of the update still installs.
                continue;
            }
            ids.put(w, shared.computeIfAbsent(id, k -> k));
        }
        Map<String, List<InetAddress>> from = new HashMap<>();
        for (Map.Entry<String, List<InetAddress>> e : nodeAddresses.entrySet()) {
            from.put(e.getKey(), new ArrayList<>(e.getValue()));
        }
        for (Map.Entry<String, InetSocketAddress> e : nodes.entrySet()) {
            InetAddress ip = e.getValue().getAddress();
            // An unresolved or wildcard hboneAddress names no interface the proxy dials from.
            if (ip != null && !ip.isAnyLocalAddress()) {
                List<InetAddress> l = from.computeIfAbsent(e.getKey(), k -> new ArrayList<>());
                if (!l.contains(ip)) {
                    l.add(ip);
                }
            }
        }
        Map<String, List<InetAddress>> frozen = new HashMap<>();
        Map<InetAddress, String> nodeByAddress = new HashMap<>();
        from.forEach((k, v) -> {
            frozen.put(k, List.copyOf(v));
            for (InetAddress a : v) {
                nodeByAddress.putIfAbsent(a, k);
            }
        });
        // Service → its endpoints through the workloads' own lists: once over the workloads, not per Service.
        Map<String, List<Workload>> selected = services.isEmpty() ? null : new HashMap<>();
        if (selected != null) {
            for (Workload w : workloads) {
                for (WorkloadService ws : w.services()) {
                    if (!ws.healthy()) {
                        continue; // ztunnel's should_include_endpoint: an unhealthy endpoint is not in the set
                    }
                    for (String key : new String[] {ws.namespace() + "/" + ws.name(), ws.namespace() + "/" + ws.name() + "/" + ws.hostname()}) {
                        List<Workload> l = selected.computeIfAbsent(key, k -> new ArrayList<>());
                        if (l.isEmpty() || l.get(l.size() - 1) != w) {
                            l.add(w);
                        }
                    }
                }
            }
        }
        Map<InetAddress, Service[]> byVip = new HashMap<>();
        Map<String, Service[]> serviceByHost = new HashMap<>();
        IdentityHashMap<Service, WorkloadService> descriptions = new IdentityHashMap<>();
        IdentityHashMap<Service, Workload[]> endpoints = new IdentityHashMap<>();
        // Endpoints are found by namespace/name, as a Kubernetes Service's. Services may share one (istiod names every host
        // of a ServiceEntry after the entry, and an entry may be named as a Kubernetes Service of its namespace): such a
        // Service's endpoints are the workloads whose membership names its hostname too, as ztunnel keys Services by
        // namespace/hostname. Until 7 December two of one name were refused (a new-user pass: each sent to both's pods).
        Map<String, Integer> named = new HashMap<>();
        for (Service s : services) {
            named.merge(s.namespace() + "/" + s.name(), 1, Integer::sum);
        }
        for (Service s : services) {
            for (InetAddress vip : s.vips()) {
                Service prev = sameNamespace(byVip.get(vip), s);
                if (prev != null) {
                    throw new IllegalArgumentException("service address " + io.netty.util.NetUtil.toAddressString(vip) + " claimed by both services "
                            + prev + " and " + s + " (one namespace: Services of different namespaces may share it)");
                }
                // A VIP may also be a workload's address (a ServiceEntry address a WorkloadEntry has too): ztunnel keeps
                // both, and which wins is the lookup's (serviceAt for connections dialled at it, byAddress for the
                // workload there). Refused until 7 December.
                byVip.merge(vip, new Service[] {s}, WorkloadRegistry::append);
            }
            Service d = sameNamespace(serviceByHost.get(s.hostname()), s);
            if (d != null) {
                // istiod sends one Service per namespace and hostname (services.go keeps the best of a namespace's).
                throw new IllegalArgumentException("service hostname " + s.hostname() + " claimed by both services "
                        + d + " and " + s + " (one namespace: Services of different namespaces may share it)");
            }
            serviceByHost.merge(s.hostname(), new Service[] {s}, WorkloadRegistry::append);
            descriptions.put(s, s.description());
            String key = s.namespace() + "/" + s.name();
            List<Workload> eps = selected == null ? null : selected.get(named.get(key) > 1 ? key + "/" + s.hostname() : key);
            endpoints.put(s, eps == null ? NO_WORKLOADS : eps.toArray(NO_WORKLOADS));
        }
        snapshot = new Snapshot(Map.copyOf(byAddress), Map.copyOf(nodes), List.copyOf(workloads), ids, Map.copyOf(frozen),
                Map.copyOf(nodeByAddress), List.copyOf(services), Map.copyOf(byVip), endpoints, descriptions,
                Map.copyOf(serviceByHost), workloadsByHost(workloads));
    }

    /** The one of {@code in} of {@code s}'s namespace, or null. */
    private static Service sameNamespace(Service[] in, Service s) {
        if (in != null) {
            for (Service x : in) {
                if (x.namespace().equals(s.namespace())) {
                    return x;
                }
            }
        }
        return null;
    }

    private static Service[] append(Service[] a, Service[] b) {
        Service[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /**
     * The workloads that have a {@link Workload#hostname()}, by it, in the registry's order; empty (and nothing built)
     * when none has one, as in a registry of pods only.
     */
    private static Map<String, Workload[]> workloadsByHost(List<Workload> workloads) {
        Map<String, List<Workload>> m = null;
        for (Workload w : workloads) {
            if (w.hostname() != null) {
                (m == null ? m = new HashMap<>() : m).computeIfAbsent(w.hostname(), k -> new ArrayList<>(1)).add(w);
            }
        }
        if (m == null) {
            return Map.of();
        }
        Map<String, Workload[]> out = new HashMap<>();
        m.forEach((k, v) -> out.put(k, v.toArray(NO_WORKLOADS)));
        return Map.copyOf(out);
    }

    /** Adds or replaces one workload (same namespace/name) at runtime. */
    public synchronized void put(Workload w) {
        List<Workload> next = new ArrayList<>();
        for (Workload x : snapshot.all) {
            if (!(x.namespace().equals(w.namespace()) && x.name().equals(w.name()))) {
                next.add(x);
            }
        }
        next.add(w);
        replace(next, snapshot.nodes, snapshot.nodeAddresses);
    }

    /** Removes the workload {@code namespace/name} (a pod that left); false when there was none. */
    public synchronized boolean remove(String namespace, String name) {
        List<Workload> next = new ArrayList<>();
        for (Workload x : snapshot.all) {
            if (!(x.namespace().equals(namespace) && x.name().equals(name))) {
                next.add(x);
            }
        }
        if (next.size() == snapshot.all.size()) {
            return false;
        }
        replace(next, snapshot.nodes, snapshot.nodeAddresses);
        return true;
    }

    // ---- YAML ----

    record NodeYaml(String name, String hboneAddress, List<String> addresses) {}

    record WorkloadYaml(String namespace, String name, String serviceAccount, Map<String, String> labels,
                        List<String> addresses, Workload.Protocol protocol, String node,
                        Map<Integer, String> ports, Map<String, Integer> namedPorts, GatewayAddress waypoint, String hostname) {}

    record ServiceYaml(String namespace, String name, String hostname, List<String> addresses, Map<Integer, String> ports,
                       Map<String, String> selector, String internalTrafficPolicy, String trafficDistribution,
                       GatewayAddress waypoint, String canonical, String visibility) {}

    record FileYaml(String trustDomain, List<NodeYaml> nodes, List<WorkloadYaml> workloads, List<ServiceYaml> services) {}

    /**
     * The reader, a class of its own: SnakeYAML's event parser (mesh-policy's YAML parser)
     * into mesh-policy's located tree ({@code YamlDocuments}, {@code YNode}; that package is exported to
     * this module only), bound here by hand. It replaced Jackson databind and jackson-dataformat-yaml,
     * which loaded ~780 classes and, through {@code StdDateFormat}, the JDK's locale data: 8.5 MB of an
     * idle {@code --workloads} proxy (issue 14, benchmarks/results/workloads-82cda97.md; ConfigFileTest.aWorkloadsStartLoadsNoJacksonClass).
     * The format is the one the Jackson binding accepted: every document after the first, an alias and a
     * merge key ({@code <<}, which Jackson read as an unknown field) are refused; a repeated key, an
     * unknown field and a value of the wrong shape are errors; a scalar where a string is expected is
     * taken as written ({@code version: 1} is the label value "1", as Jackson coerced it). One tightening: a
     * number is no {@code protocol} (Jackson took it as the enum's index: {@code protocol: 1} was TCP, plaintext).
     */
    private static final class Yaml {
        private static final java.util.Set<String> FILE_KEYS = java.util.Set.of("trustDomain", "nodes", "workloads", "services");
        private static final java.util.Set<String> SERVICE_KEYS = java.util.Set.of("namespace", "name", "hostname", "addresses",
                "ports", "selector", "internalTrafficPolicy", "trafficDistribution", "waypoint", "canonical", "visibility");
        private static final java.util.Set<String> NODE_KEYS = java.util.Set.of("name", "hboneAddress", "addresses");
        private static final java.util.Set<String> WORKLOAD_KEYS = java.util.Set.of("namespace", "name", "serviceAccount",
                "labels", "addresses", "protocol", "node", "ports", "namedPorts", "waypoint", "hostname");
        private static final java.util.Set<String> WAYPOINT_KEYS = java.util.Set.of("address", "namespace", "hostname",
                "hboneMtlsPort");

        /** Reads {@code file}; null for a file with no document or only a null one. Errors: {@code file:line: path: reason}. */
        static FileYaml read(Path file) throws IOException {
            String text = Files.readString(file);
            List<YNode> docs = tree(file, text);
            if (docs.isEmpty()) {
                return null; // an empty file: reload names it
            }
            Binder b = new Binder(file);
            YNode root = docs.get(0);
            if (root.type() != YNode.Type.MAP) {
                throw b.error(root, "expected a mapping (trustDomain, nodes, workloads, services), found " + root.description());
            }
            b.onlyKeys(root, FILE_KEYS);
            List<NodeYaml> nodes = b.list(root, "nodes", n -> {
                b.onlyKeys(b.map(n), NODE_KEYS);
                return new NodeYaml(b.string(n, "name"), b.string(n, "hboneAddress"), b.strings(n, "addresses"));
            });
            List<WorkloadYaml> workloads = b.list(root, "workloads", w -> {
                b.onlyKeys(b.map(w), WORKLOAD_KEYS);
                return new WorkloadYaml(b.string(w, "namespace"), b.string(w, "name"), b.string(w, "serviceAccount"),
                        b.stringMap(w, "labels"), b.strings(w, "addresses"), b.protocol(w), b.string(w, "node"), b.ports(w),
                        b.namedPorts(w), b.waypoint(w), b.string(w, "hostname"));
            });
            List<ServiceYaml> services = b.list(root, "services", v -> {
                b.onlyKeys(b.map(v), SERVICE_KEYS);
                return new ServiceYaml(b.string(v, "namespace"), b.string(v, "name"), b.string(v, "hostname"),
                        b.strings(v, "addresses"), b.ports(v), b.stringMap(v, "selector"), b.string(v, "internalTrafficPolicy"),
                        b.string(v, "trafficDistribution"), b.waypoint(v), b.string(v, "canonical"), b.string(v, "visibility"));
            });
            return new FileYaml(b.string(root, "trustDomain"), nodes, workloads, services);
        }

        /**
         * The file's documents as located trees (null documents dropped). Refused before the tree is
         * built, in the order they appear: a syntax error (worded by mesh-policy's reader, as a policy
         * file's), an alias and a merge key ({@code YamlDocuments} would expand them silently); then a
         * second document.
         */
        static List<YNode> tree(Path file, String text) {
            LoaderOptions options = new LoaderOptions();
            options.setCodePointLimit(Integer.MAX_VALUE);
            ParserImpl parser = new ParserImpl(new StreamReader(new java.io.StringReader(text)), options);
            java.util.ArrayDeque<Open> open = new java.util.ArrayDeque<>();
            java.util.Set<String> anchors = new java.util.HashSet<>();
            int documents = 0;
            int secondAt = 0;
            try {
                while (true) {
                    Event e = parser.getEvent();
                    if (e == null || e.is(Event.ID.StreamEnd)) {
                        break;
                    }
                    int line = e.getStartMark() == null ? 0 : e.getStartMark().getLine() + 1;
                    switch (e.getEventId()) {
                        case DocumentStart -> documents++;
                        case Alias, Scalar, MappingStart, SequenceStart -> {
                            if (documents > 1 && secondAt == 0) {
                                secondAt = line; // the second document's first value, where Jackson named it
                            }
                            Open top = open.peek();
                            boolean key = top != null && top.map && top.expectKey;
                            String at = top == null ? "" : top.childPath();
                            if (e instanceof AliasEvent a) {
                                // Named as the binder names a field (file:line: path: reason), whether its anchor
                                // exists or not: SnakeYAML's parser leaves an undefined one to the composer.
                                throw new IllegalArgumentException(file + ":" + line + ": " + (at.isEmpty() ? "" : at + ": ")
                                        + "an alias (*" + a.getAnchor() + (anchors.contains(a.getAnchor()) ? "" : ", no anchor &"
                                        + a.getAnchor() + " before it") + "): the registry does not expand YAML aliases; write the value itself");
                            }
                            if (key && e instanceof ScalarEvent s && s.isPlain() && s.getValue().equals("<<") && s.getTag() == null) {
                                throw new IllegalArgumentException(file + ":" + line + ": " + (top.path.isEmpty() ? "" : top.path + ": ")
                                        + "a merge key (<<): the registry does not merge YAML mappings; write the keys themselves");
                            }
                            if (e instanceof org.yaml.snakeyaml.events.NodeEvent n && n.getAnchor() != null) {
                                anchors.add(n.getAnchor());
                            }
                            if (top != null) {
                                top.advance(key && e instanceof ScalarEvent s ? s.getValue() : null);
                            }
                            if (e.is(Event.ID.MappingStart)) {
                                open.push(new Open(at, true));
                            } else if (e.is(Event.ID.SequenceStart)) {
                                open.push(new Open(at, false));
                            }
                        }
                        case MappingEnd, SequenceEnd -> open.pop();
                        default -> { }
                    }
                }
            } catch (YAMLException syntax) {
                // mesh-policy's reader runs the same parser, so it stops at the same mark and words it as a
                // policy file's error (the field placed by indentation, a tab named as one).
                try {
                    YamlDocuments.parse(file.toString(), text);
                } catch (PolicyLoadException p) {
                    throw new IllegalArgumentException(p.getMessage(), syntax);
                }
                throw new IllegalArgumentException(file + ": invalid YAML: " + syntax.getMessage(), syntax);
            }
            if (documents > 1) {
                // Jackson read the first and dropped the rest's workloads before this was an error.
                throw new IllegalArgumentException(file + ":" + secondAt
                        + ": a second YAML document: the registry is one mapping (trustDomain, nodes, workloads, services)");
            }
            try {
                return YamlDocuments.parse(file.toString(), text);
            } catch (PolicyLoadException p) {
                if (p.problem().startsWith("duplicate key ")) {
                    // The words the registry has always used (README, tests), with the path and the first line added.
                    String key = p.field().substring(p.field().lastIndexOf('.') + 1);
                    throw new IllegalArgumentException(file + ":" + p.line() + ": repeated key '" + key + "' ("
                            + p.field() + "; " + p.problem().substring(p.problem().indexOf('(') + 1), p);
                }
                throw new IllegalArgumentException(p.getMessage(), p);
            }
        }

        /**
         * An open collection while {@link #tree} reads events: its path as {@link YNode#path()} spells it, and where
         * its next node goes (a mapping's key or value, a list's index), so an alias or a merge key is named by its field.
         */
        private static final class Open {
            final String path;
            final boolean map;
            boolean expectKey = true;
            String lastKey = "?";
            int index;

            Open(String path, boolean map) {
                this.path = path;
                this.map = map;
            }

            /** The path of the node about to be read (a key's own path is its mapping's). */
            String childPath() {
                if (!map) {
                    return path + "[" + index + "]";
                }
                return expectKey ? path : path.isEmpty() ? lastKey : path + "." + lastKey;
            }

            /** Past one node; {@code key} is the scalar key just read, if it was one. */
            void advance(String key) {
                if (!map) {
                    index++;
                } else {
                    if (expectKey) {
                        lastKey = key == null ? "?" : key;
                    }
                    expectKey = !expectKey;
                }
            }
        }

        /**
         * The line of the value at {@code path} ({@code workloads[0].ports.8080}) in {@code text}: a scalar's own
         * line, else its key's (a block mapping or list starts on the line after it), a list item's own line;
         * 0 when there is no such path (the file changed meanwhile) or the text no longer reads. Only called for an error.
         */
        static int lineAt(Path file, String text, String path) {
            try {
                for (YNode doc : tree(file, text)) {
                    int line = lineAt(doc, path);
                    if (line > 0) {
                        return line;
                    }
                }
            } catch (RuntimeException e) {
                return 0;
            }
            return 0;
        }

        private static int lineAt(YNode n, String path) {
            if (n.path().equals(path)) {
                return Binder.lineOf(n);
            }
            if (!path.startsWith(n.path())) {
                return 0;
            }
            Iterable<YNode> children = n.entries() != null ? n.entries().values() : n.elements() != null ? n.elements() : List.of();
            for (YNode c : children) {
                int line = lineAt(c, path);
                if (line > 0) {
                    return line;
                }
            }
            return 0;
        }

        /** Binds located nodes to the records; each failure names {@code file:line: path}. */
        private record Binder(Path file) {
            interface Item<T> {
                T bind(YNode n);
            }

            /** A scalar's own line; a mapping's or list's key line (it starts on the next line in block style); a list item's own. */
            static int lineOf(YNode n) {
                return n.type() == YNode.Type.SCALAR || n.keyLine() == 0 ? n.line() : n.keyLine();
            }

            IllegalArgumentException error(YNode n, String problem) {
                return new IllegalArgumentException(file + ":" + lineOf(n) + ": " + n.path() + ": " + problem);
            }

            /** A child, or null when absent or null. */
            static YNode child(YNode parent, String key) {
                YNode n = parent.entries().get(key);
                return n == null || n.type() == YNode.Type.NULL ? null : n;
            }

            YNode map(YNode n) {
                if (n.type() != YNode.Type.MAP) {
                    throw error(n, "expected a mapping (key: value), found " + (n.type() == YNode.Type.SCALAR ? "a single value" : n.description()));
                }
                return n;
            }

            void onlyKeys(YNode n, java.util.Set<String> allowed) {
                for (Map.Entry<String, YNode> e : n.entries().entrySet()) {
                    if (!allowed.contains(e.getKey())) {
                        YNode v = e.getValue();
                        boolean manifest = n.path().isEmpty() && (e.getKey().equals("apiVersion") || e.getKey().equals("kind"));
                        // The policy loader's "did you mean" (its YNode.onlyKeys), from the same helper: a mistyped key
                        // (trustdomain, hboneAdress) is named with the one meant.
                        String near = manifest ? null : io.zerohop.policy.Suggestions.nearest(e.getKey(), new java.util.TreeSet<>(allowed));
                        throw new IllegalArgumentException(file + ":" + (v.keyLine() > 0 ? v.keyLine() : v.line()) + ": " + v.path()
                                + ": unknown field (expected one of " + String.join(", ", new java.util.TreeSet<>(allowed)) + ")"
                                + (near == null ? "" : "; did you mean " + near + "?" + (near.equalsIgnoreCase(e.getKey())
                                        ? " (field names are case-sensitive)" : ""))
                                + (manifest ? "; this is a Kubernetes manifest, not a workload registry (mesh-core/README.md, Workload registry)" : ""));
                    }
                }
            }

            /** A scalar's text as written (a number or boolean too, as Jackson coerced it); null for a YAML null. */
            String text(YNode n) {
                return switch (n.type()) {
                    case NULL -> null;
                    case SCALAR -> n.scalar();
                    default -> throw error(n, "expected a single value, found " + n.description());
                };
            }

            String string(YNode parent, String key) {
                YNode n = child(parent, key);
                return n == null ? null : text(n);
            }

            <T> List<T> list(YNode parent, String key, Item<T> item) {
                YNode n = child(parent, key);
                if (n == null) {
                    return null;
                }
                if (n.type() != YNode.Type.LIST) {
                    throw error(n, n.type() == YNode.Type.SCALAR ? "expected a list, found a single value (write [" + n.scalar() + "])"
                            : "expected a list, found " + n.description());
                }
                List<T> out = new ArrayList<>();
                for (YNode e : n.elements()) {
                    out.add(item.bind(e));
                }
                return out;
            }

            List<String> strings(YNode parent, String key) {
                return list(parent, key, this::text);
            }

            private static final java.util.regex.Pattern LABEL_VALUE =
                    java.util.regex.Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?");

            Map<String, String> stringMap(YNode parent, String key) {
                YNode n = child(parent, key);
                if (n == null) {
                    return null;
                }
                Map<String, String> out = new java.util.LinkedHashMap<>();
                map(n).entries().forEach((k, v) -> {
                    String t = text(v);
                    if (t == null) {
                        // Jackson handed Workload a null label value, whose Map.copyOf threw a bare NullPointerException.
                        throw error(v, "no value (a label value is a string: write \"\" for an empty one)");
                    }
                    if (!LABEL_VALUE.matcher(t).matches()) {
                        // As the API server checks it (k8s.io/apimachinery IsValidLabelValue): a value with "," or "=" went
                        // into the baggage headers whole, and a ztunnel reader took the last of two namespaces (a new-user
                        // pass, helper 257).
                        throw error(v, "\"" + t + "\" is no Kubernetes label value (at most 63 characters: letters, digits,"
                                + " '-', '_' and '.', starting and ending with a letter or digit, or empty)");
                    }
                    out.put(k, t);
                });
                return out;
            }

            Workload.Protocol protocol(YNode parent) {
                YNode n = child(parent, "protocol");
                String s = n == null ? null : text(n);
                if (s == null) {
                    return null;
                }
                for (Workload.Protocol p : Workload.Protocol.values()) {
                    if (p.name().equals(s)) {
                        return p;
                    }
                }
                throw error(n, "unknown value \"" + s + "\" (one of " + java.util.Arrays.stream(Workload.Protocol.values())
                        .map(Object::toString).collect(java.util.stream.Collectors.joining(", ")) + ")");
            }

            /**
             * Container port name → TCP port ({@code namedPorts: {http: 8080}}); null when absent (the workload's named ports are
             * then not known). A value that is no integer is refused here; names and range are checked by install.
             */
            Map<String, Integer> namedPorts(YNode parent) {
                YNode n = child(parent, "namedPorts");
                if (n == null) {
                    return null;
                }
                Map<String, Integer> out = new java.util.LinkedHashMap<>();
                for (Map.Entry<String, YNode> e : map(n).entries().entrySet()) {
                    String v = text(e.getValue());
                    try {
                        out.put(e.getKey(), Integer.parseInt(v == null ? "" : v));
                    } catch (NumberFormatException notANumber) {
                        throw error(e.getValue(), "\"" + v + "\" is not a port number (1-65535)");
                    }
                }
                return out;
            }

            /**
             * A {@code waypoint:} ({@link GatewayAddress}): {@code {address: IP}} or {@code {namespace: NS, hostname: H}},
             * each with an optional {@code hboneMtlsPort} (default 15008); null when absent. Every error names its field
             * and line: a field of both forms, neither, half of the hostname form, an address that is no IP literal (or
             * the wildcard, or multicast), a namespace or hostname that is no DNS name, a port that is no number 1-65535.
             */
            GatewayAddress waypoint(YNode parent) {
                YNode n = child(parent, "waypoint");
                if (n == null) {
                    return null;
                }
                if (n.type() == YNode.Type.SCALAR) {
                    // New-user pass: "found a single value" said nothing of what to write.
                    String v = n.scalar();
                    throw error(n, "expected a mapping (key: value), found a single value (write waypoint: "
                            + (io.netty.util.NetUtil.isValidIpV4Address(v) || io.netty.util.NetUtil.isValidIpV6Address(v)
                            ? "{address: " + v + "})" : "{namespace: NS, hostname: " + v + "}, NS the namespace of the waypoint's"
                            + " Service, or waypoint: {address: IP})"));
                }
                onlyKeys(map(n), WAYPOINT_KEYS);
                YNode a = child(n, "address");
                YNode ns = child(n, "namespace");
                YNode h = child(n, "hostname");
                YNode p = child(n, "hboneMtlsPort");
                int port = GatewayAddress.HBONE_MTLS_PORT;
                if (p != null) {
                    String t = text(p);
                    port = t != null && t.matches("[0-9]{1,5}") ? Integer.parseInt(t) : 0;
                    if (port < 1 || port > 65535) {
                        throw error(p, "\"" + t + "\" is not a port number (1-65535)");
                    }
                }
                if (a != null) {
                    if (ns != null || h != null) {
                        throw error(ns != null ? ns : h, "a waypoint is given by address or by namespace and hostname, not both");
                    }
                    String t = text(a);
                    InetAddress ip;
                    try {
                        ip = Addresses.parseIp(t, a.path());
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(file + ":" + lineOf(a) + ": " + e.getMessage() + " (a waypoint named"
                                + " by its Service's hostname is {namespace: NS, hostname: NAME.NS.svc.cluster.local})", e);
                    }
                    if (ip.isAnyLocalAddress() || ip.isMulticastAddress()) {
                        throw error(a, "address " + t + " is a " + (ip.isAnyLocalAddress() ? "wildcard" : "multicast")
                                + " address, no waypoint's");
                    }
                    return new GatewayAddress(ip, null, null, port);
                }
                if (ns == null && h == null) {
                    throw error(n, "a waypoint needs an address, or a namespace and a hostname (its Service's)");
                }
                if (h == null || ns == null) {
                    throw error(h == null ? ns : h, "a waypoint by hostname needs both namespace and hostname (" + (h == null
                            ? "hostname" : "namespace") + " is missing)");
                }
                String namespace = text(ns);
                String hostname = text(h);
                if (!namespace.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
                    throw error(ns, "\"" + namespace + "\" is no namespace (a DNS-1123 label)");
                }
                if (hostname.length() > 253 || !hostname.matches(
                        "[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*")) {
                    throw error(h, "\"" + hostname + "\" is no DNS name (labels of letters, digits and '-', joined by '.')");
                }
                return new GatewayAddress(null, namespace, hostname, port);
            }

            /** Port → protocol name; a key that is no integer is refused here, the range is checked by install. */
            Map<Integer, String> ports(YNode parent) {
                YNode n = child(parent, "ports");
                if (n == null) {
                    return null;
                }
                Map<Integer, String> out = new java.util.LinkedHashMap<>();
                for (Map.Entry<String, YNode> e : map(n).entries().entrySet()) {
                    int port;
                    try {
                        port = Integer.parseInt(e.getKey());
                    } catch (NumberFormatException notANumber) {
                        YNode v = e.getValue();
                        throw new IllegalArgumentException(file + ":" + (v.keyLine() > 0 ? v.keyLine() : v.line()) + ": " + v.path()
                                + ": \"" + e.getKey() + "\" is not a port number (1-65535)");
                    }
                    out.put(port, text(e.getValue()));
                }
                return out;
            }
        }
    }

    /**
     * Loads a registry file; errors name the file, line and field.
     *
     * @throws IOException when the file cannot be read
     * @throws IllegalArgumentException when it does not hold a valid registry (the message names file, line and field)
     */
    public static WorkloadRegistry load(Path file) throws IOException {
        return load(file, "cluster.local");
    }

    /**
     * As {@link #load(Path)}, a {@code services:} entry without {@code hostname} named {@code NAME.NS.svc.clusterDomain}
     * (this load and each {@link #reload}), as istiod names a Kubernetes Service with its {@code --domain} and ztunnel's
     * {@code CLUSTER_DOMAIN}; so a waypoint named by hostname in that domain finds it.
     *
     * @param clusterDomain a DNS name without trailing dot, checked by the caller (zerohop's {@code --cluster-domain})
     * @throws IllegalArgumentException when {@code clusterDomain} is null, blank or ends in a dot
     */
    public static WorkloadRegistry load(Path file, String clusterDomain) throws IOException {
        if (clusterDomain == null || clusterDomain.isBlank() || clusterDomain.endsWith(".")) {
            throw new IllegalArgumentException("clusterDomain \"" + clusterDomain + "\": a DNS name without trailing dot is required");
        }
        WorkloadRegistry r = new WorkloadRegistry();
        r.clusterDomain = clusterDomain;
        r.reload(file);
        return r;
    }

    /**
     * Re-reads {@code file}; on any error the registry is left as it was.
     *
     * @throws IllegalArgumentException {@code file:line: path: reason} (an empty file: {@code file: empty
     *         workload registry}); the line is the offending value's, or its key's
     */
    public void reload(Path file) throws IOException {
        FileYaml f = Yaml.read(file);
        if (f == null) {
            throw new IllegalArgumentException(file + ": empty workload registry");
        }
        try {
            install(f);
        } catch (FieldError e) {
            // Only now is the text read again for the line: a good file costs nothing more.
            int line = Yaml.lineAt(file, Files.readString(file), e.path);
            throw new IllegalArgumentException(file + (line > 0 ? ":" + line : "") + ": " + e.getMessage(), e.getCause());
        }
    }

    /**
     * A check after parsing failed at {@code path} ({@code workloads[0].ports.8080}); the message
     * starts with the path. A class of zerohop's own, so the catch in {@link #reload} loads no Jackson class.
     */
    private static final class FieldError extends IllegalArgumentException {
        final String path;

        FieldError(String path, String message, Throwable cause) {
            super(message, cause);
            this.path = path;
        }

        FieldError(String path, String reason) {
            this(path, path + ": " + reason, null);
        }

        /** Re-throws an {@link Addresses} error (whose message starts with {@code path}) as one at {@code path}. */
        static FieldError of(String path, IllegalArgumentException e) {
            return new FieldError(path, e.getMessage(), e);
        }
    }

    private void install(FileYaml f) {
        String td = f.trustDomain() == null ? "cluster.local" : f.trustDomain();
        if (f.trustDomain() != null) {
            // As --trust-domain and Mesh.Builder.trustDomain check it, in their words: java-spiffe's TrustDomain.parse
            // lower-cases "Cluster.Local" silently (0.8.17), where the SPIFFE ID spec allows lower case only and
            // go-spiffe's TrustDomainFromString (spiffeid/trustdomain.go) and ztunnel refuse it.
            try {
                io.zerohop.identity.SpiffeIds.parse("spiffe://" + td);
            } catch (IllegalArgumentException e) {
                String m = e.getMessage();
                throw new FieldError("trustDomain", "trustDomain: invalid trust domain \"" + td + "\": "
                        + m.substring(m.indexOf("\": ") + 3), e);
            }
        }
        Map<String, InetSocketAddress> nodes = new HashMap<>();
        Map<String, List<InetAddress>> nodeAddresses = new HashMap<>();
        java.util.Set<String> nodeNames = new java.util.HashSet<>();
        if (f.nodes() != null) {
            for (int i = 0; i < f.nodes().size(); i++) {
                NodeYaml n = f.nodes().get(i);
                nodeNames.add(n.name());
                // Without hboneAddress, tunnels to the node's workloads dial the workload's own IP on
                // 15008 (ztunnel's way), so a node proxy holding many SVIDs can pick the dialled one.
                if (n.hboneAddress() != null) {
                    String where = "nodes[" + i + "].hboneAddress";
                    try {
                        nodes.put(n.name(), Addresses.parseHostPort(n.hboneAddress(), where));
                    } catch (IllegalArgumentException e) {
                        throw FieldError.of(where, e);
                    }
                }
                if (n.addresses() != null) {
                    List<InetAddress> from = new ArrayList<>();
                    for (int j = 0; j < n.addresses().size(); j++) {
                        String where = "nodes[" + i + "].addresses[" + j + "]";
                        InetAddress a;
                        try {
                            a = Addresses.parseIp(n.addresses().get(j), where);
                        } catch (IllegalArgumentException e) {
                            throw FieldError.of(where, e);
                        }
                        if (a.isAnyLocalAddress()) {
                            // No tunnel comes from the wildcard: the node's claims would never be believed.
                            throw new FieldError(where, "the wildcard address is no address a proxy dials from");
                        }
                        from.add(a);
                    }
                    nodeAddresses.put(n.name(), from);
                }
            }
        }
        List<Workload> out = new ArrayList<>();
        // replace() refuses a shared address too, but knows no path; here the second claimant's entry is named.
        Map<InetAddress, Workload> claimedBy = new HashMap<>();
        Map<String, Workload> byName = new HashMap<>();
        if (f.workloads() != null) {
            for (int i = 0; i < f.workloads().size(); i++) {
                WorkloadYaml w = f.workloads().get(i);
                String where = "workloads[" + i + "]";
                List<InetAddress> addrs = new ArrayList<>();
                if (w.addresses() != null) {
                    for (int j = 0; j < w.addresses().size(); j++) {
                        String at = where + ".addresses[" + j + "]";
                        InetAddress a;
                        try {
                            a = Addresses.parseIp(w.addresses().get(j), at);
                        } catch (IllegalArgumentException e) {
                            throw FieldError.of(at, e);
                        }
                        if (a.isAnyLocalAddress() || a.isMulticastAddress()) {
                            // No workload listens there: 0.0.0.0 as a workload's address made every connection to this
                            // host's wildcard look like it (a new-user pass).
                            throw new FieldError(at, "address " + io.netty.util.NetUtil.toAddressString(a) + " is a " + (a.isAnyLocalAddress() ? "wildcard"
                                    : "multicast") + " address, no workload's: give the workload's IP");
                        }
                        addrs.add(a);
                    }
                }
                if (w.node() != null && !nodeNames.contains(w.node())) {
                    throw new FieldError(where + ".node", "unknown node \"" + w.node() + "\" (declare it under nodes:)");
                }
                Map<Integer, AppProtocol> ports = new HashMap<>();
                if (w.ports() != null) {
                    for (Map.Entry<Integer, String> p : w.ports().entrySet()) {
                        if (p.getKey() == null || p.getKey() < 1 || p.getKey() > 65535) {
                            // Workload refuses it too, but its message knows no path.
                            throw new FieldError(where + ".ports." + p.getKey(), "port out of range 1-65535");
                        }
                        AppProtocol proto = AppProtocol.parse(p.getValue());
                        if (proto == AppProtocol.AUTO && p.getValue() != null && !p.getValue().equalsIgnoreCase("auto")) {
                            // A typo must not silently become "sniff": say which names are known.
                            throw new FieldError(where + ".ports." + p.getKey(), "unknown application protocol \""
                                    + p.getValue() + "\" (tcp, http, http2, grpc, auto, or an Istio protocol name)");
                        }
                        ports.put(p.getKey(), proto);
                    }
                }
                if (w.namedPorts() != null) {
                    for (Map.Entry<String, Integer> p : w.namedPorts().entrySet()) {
                        try {
                            WorkloadRef.checkNamedPorts(Map.of(p.getKey(), p.getValue()));
                        } catch (IllegalArgumentException e) {
                            throw new FieldError(where + ".namedPorts." + p.getKey(), e.getMessage());
                        }
                    }
                }
                try {
                    // Kubernetes' name rules (mesh-policy's WorkloadRef, apimachinery's wording), each named at its own
                    // field and line: a new-user pass got "workloads[1]: name ..." at the entry's line, and for the
                    // service account wording of its own. The API server refuses such a ServiceAccount
                    // (ValidateServiceAccountName: a DNS-1123 subdomain), so no workload runs as it.
                    WorkloadRef.checkNames(w.namespace() == null ? "" : w.namespace(), w.name(),
                            w.serviceAccount() == null ? "default" : w.serviceAccount());
                } catch (IllegalArgumentException e) {
                    String m = e.getMessage();
                    // Its message starts with the field's name: namespace, name or serviceAccount.
                    String field = m.substring(0, m.indexOf(' '));
                    if (w.namespace() != null && List.of("namespace", "name", "serviceAccount").contains(field)) {
                        throw new FieldError(where + "." + field, m.substring(field.length() + 1));
                    }
                }
                Workload made;
                try {
                    made = new Workload(w.namespace(), w.name(), w.serviceAccount() == null ? "default" : w.serviceAccount(),
                            w.labels(), addrs, w.protocol(), w.node(), td, ports, w.namedPorts()).withWaypoint(w.waypoint());
                } catch (IllegalArgumentException e) {
                    // Which field the constructor refused is in its message; the line is the entry's.
                    throw new FieldError(where, where + ": " + e.getMessage(), e);
                }
                try {
                    made = made.withHostname(w.hostname());
                } catch (IllegalArgumentException e) {
                    throw new FieldError(where + ".hostname", where + ".hostname: " + e.getMessage(), e);
                }
                Workload sameName = byName.putIfAbsent(made.namespace() + "/" + made.name(), made);
                if (sameName != null) {
                    // byName and put() take namespace/name as the workload's key, as Kubernetes does: the second entry was
                    // kept beside the first and never found by name (a new-user pass).
                    throw new FieldError(where + ".name", "workload " + made.namespace() + "/" + made.name()
                            + " is declared twice (a namespace and a name identify one workload)");
                }
                for (int j = 0; j < addrs.size(); j++) {
                    Workload prev = claimedBy.putIfAbsent(addrs.get(j), made);
                    if (prev != null) {
                        throw new FieldError(where + ".addresses[" + j + "]", "address " + addrs.get(j).getHostAddress()
                                + " claimed by both " + prev + " and " + made);
                    }
                }
                out.add(made);
            }
        }
        List<Service> services = new ArrayList<>();
        if (f.services() != null) {
            // A workload's address by InetAddress; a Service's VIP by "namespace/address" (one per namespace).
            Map<Object, String> vipOf = new HashMap<>();
            claimedBy.forEach((a, w) -> vipOf.put(a, "workload " + w));
            // Keyed by namespace too: Services of different namespaces may share a hostname and VIPs (replace).
            Map<String, String> hostnames = new HashMap<>();
            Map<String, String> named = new HashMap<>();
            for (int i = 0; i < f.services().size(); i++) {
                ServiceYaml v = f.services().get(i);
                String where = "services[" + i + "]";
                for (String[] field : new String[][] {{"namespace", v.namespace()}, {"name", v.name()}}) {
                    if (field[1] == null || field[1].isBlank()) {
                        throw new FieldError(where, where + "." + field[0] + ": is required", null);
                    }
                }
                String prevNamed = named.putIfAbsent(v.namespace() + "/" + v.name(), where);
                if (prevNamed != null) {
                    // Endpoints are found by namespace/name: both would send to both's pods (a new-user pass).
                    throw new FieldError(where + ".name", "service " + v.namespace() + "/" + v.name() + " is already " + prevNamed);
                }
                String host = v.hostname() != null ? v.hostname()
                        : v.name() + "." + v.namespace() + ".svc." + clusterDomain;
                String prevHost = hostnames.putIfAbsent(v.namespace() + "/" + host, v.namespace() + "/" + v.name());
                if (prevHost != null) {
                    String at = v.hostname() != null ? where + ".hostname" : where;
                    throw new FieldError(at, "hostname " + host + " is already service " + prevHost + "'s (one namespace:"
                            + " Services of different namespaces may share it)");
                }
                List<InetAddress> vips = new ArrayList<>();
                if (v.addresses() != null) {
                    for (int j = 0; j < v.addresses().size(); j++) {
                        String at = where + ".addresses[" + j + "]";
                        InetAddress a;
                        try {
                            a = Addresses.parseIp(v.addresses().get(j), at);
                        } catch (IllegalArgumentException e) {
                            throw FieldError.of(at, e);
                        }
                        if (a.isAnyLocalAddress()) {
                            throw new FieldError(at, "the wildcard address is no service address");
                        }
                        String prev = vipOf.get(a);
                        if (prev == null) {
                            prev = vipOf.get(v.namespace() + "/" + a.getHostAddress());
                        }
                        if (prev != null) {
                            throw new FieldError(at, "address " + io.netty.util.NetUtil.toAddressString(a) + " is already " + prev + "'s"
                                    + (prev.startsWith("service ") ? " (one namespace: Services of different namespaces may share it)" : ""));
                        }
                        vipOf.put(v.namespace() + "/" + a.getHostAddress(), "service " + v.namespace() + "/" + v.name());
                        vips.add(a);
                    }
                }
                List<Service.Port> ports = new ArrayList<>();
                if (v.ports() != null) {
                    for (Map.Entry<Integer, String> p : v.ports().entrySet()) {
                        String at = where + ".ports." + p.getKey();
                        if (p.getKey() < 1 || p.getKey() > 65535) {
                            throw new FieldError(at, "port out of range 1-65535");
                        }
                        String t = p.getValue();
                        try {
                            if (t == null) {
                                ports.add(Service.Port.of(p.getKey(), p.getKey())); // Kubernetes: targetPort defaults to port
                            } else if (!t.isEmpty() && t.chars().allMatch(c -> c >= '0' && c <= '9')) {
                                int n = t.length() > 5 ? 0 : Integer.parseInt(t);
                                if (n < 1 || n > 65535) {
                                    throw new FieldError(at, "target port " + t + " is out of range 1-65535");
                                }
                                ports.add(Service.Port.of(p.getKey(), n));
                            } else {
                                WorkloadRef.checkNamedPorts(Map.of(t, 1));
                                ports.add(Service.Port.named(p.getKey(), t));
                            }
                        } catch (FieldError e) {
                            throw e;
                        } catch (IllegalArgumentException e) {
                            throw new FieldError(at, "target port: " + e.getMessage());
                        }
                    }
                }
                String itp = v.internalTrafficPolicy();
                if (itp != null && !itp.equals("Cluster") && !itp.equals("Local")) {
                    throw new FieldError(where + ".internalTrafficPolicy", "unknown value \"" + itp + "\" (Cluster or Local,"
                            + " as a Kubernetes Service's spec.internalTrafficPolicy)");
                }
                String dist = v.trafficDistribution();
                Service.LoadBalancing lb = Service.LoadBalancing.ofTrafficDistribution(dist);
                if (dist != null && lb == null) {
                    throw new FieldError(where + ".trafficDistribution", "unknown value \"" + dist + "\" (PreferClose,"
                            + " PreferSameZone or PreferSameNode, as a Kubernetes Service's spec.trafficDistribution)");
                }
                if ("Local".equals(itp)) {
                    // istiod's constructService: internalTrafficPolicy Local wins over any traffic distribution.
                    lb = Service.LoadBalancing.NODE_LOCAL;
                }
                String canonical = v.canonical();
                if (canonical != null && !canonical.equals("true") && !canonical.equals("false")) {
                    throw new FieldError(where + ".canonical", "unknown value \"" + canonical + "\" (true or false)");
                }
                Service.Visibility visibility = Service.Visibility.PUBLIC;
                if (v.visibility() != null) {
                    try {
                        visibility = Service.Visibility.valueOf(v.visibility());
                    } catch (IllegalArgumentException e) {
                        throw new FieldError(where + ".visibility", "unknown value \"" + v.visibility() + "\" (PUBLIC or"
                                + " NAMESPACE, as istio/api workload.proto's Service.Visibility)");
                    }
                }
                Service made;
                try {
                    made = new Service(v.namespace(), v.name(), host, vips, ports, lb, v.waypoint(), "true".equals(canonical),
                            visibility);
                } catch (IllegalArgumentException e) {
                    throw new FieldError(where, where + ": " + e.getMessage(), e);
                }
                services.add(made);
                if (v.selector() != null && !v.selector().isEmpty()) {
                    // Its endpoints: the workloads of its namespace its selector selects (a Kubernetes Service's
                    // spec.selector); each gets the Service in Workload.services, which inbound telemetry reads too.
                    for (int k = 0; k < out.size(); k++) {
                        Workload w = out.get(k);
                        if (w.namespace().equals(v.namespace()) && w.labels().entrySet().containsAll(v.selector().entrySet())) {
                            out.set(k, withService(w, made));
                        }
                    }
                }
            }
        }
        replace(out, nodes, nodeAddresses, services);
    }

    /** {@code w} with {@code s} appended to its services, targeting the ports {@code s} maps to on it. */
    private static Workload withService(Workload w, Service s) {
        java.util.Set<Integer> targets = new java.util.TreeSet<>();
        for (Service.Port p : s.ports()) {
            int t = p.targetOn(w);
            if (t > 0) {
                targets.add(t);
            }
        }
        List<WorkloadService> list = new ArrayList<>(w.services());
        list.add(new WorkloadService(s.name(), s.namespace(), s.hostname(), targets));
        return new Workload(w.namespace(), w.name(), w.serviceAccount(), w.labels(), w.addresses(), w.protocol(), w.node(),
                w.trustDomain(), w.appProtocols(), w.namedPorts(), w.workloadName(), list, w.waypoint(), w.hostname());
    }
}
