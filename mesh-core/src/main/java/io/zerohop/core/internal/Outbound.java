package io.zerohop.core.internal;

import io.zerohop.hbone.internal.Relay;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Addresses;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.SocketFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client side of a mesh, along ztunnel's {@code src/proxy/outbound.rs}: a destination is routed
 * ({@link #route}, and for captured connections {@link #buildRequest}, ztunnel's {@code build_request})
 * to an HBONE tunnel, plain TCP passthrough or a refusal, then opened ({@link #open}, ztunnel's
 * {@code proxy_to_hbone} / {@code proxy_to_tcp}). Tunnels go through one {@link HboneClient} (and
 * pool) per source identity, created on first use and kept until {@link #close()}, or, in node mode,
 * until its identity has left the node and its last connection closed ({@link #retireIdle}). Every CONNECT
 * carries ztunnel's default headers ({@link OutboundHeaders}) under the route's own.
 */
public final class Outbound implements CaptureListener.Opener {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.core.Mesh");

    /** What {@link #buildRequest} decided for a captured connection (ztunnel's {@code OutboundProtocol}). */
    public sealed interface Request {
        /**
         * A tunnel as {@code source} along {@code route}, whose headers already carry the defaults, to {@code target}
         * (the CONNECT authority): the address dialled, or for a Service VIP the endpoint picked, on its target port.
         */
        record Hbone(SpiffeId source, Route route, InetSocketAddress target) implements Request {
            /** A tunnel to the address dialled. */
            public Hbone(SpiffeId source, Route route) {
                this(source, route, null);
            }
        }

        /**
         * Plain TCP to {@code destination}: a {@code protocol: TCP} workload (for a Service VIP, the endpoint picked, on
         * its target port, and {@code serviceHost} the Service's hostname for its labels), or unknown with passthrough on;
         * null {@code destination}: the address dialled; null {@code serviceHost}: no Service.
         */
        record Passthrough(String why, InetSocketAddress destination, String serviceHost) implements Request {
            public Passthrough(String why) {
                this(why, null, null);
            }
        }

        /**
         * Sent nowhere; {@code error} is what the capture listener logs, except a self call, which {@link #open} logs;
         * {@code ztunnelError} the {@code error} field of ztunnel's early-deny line for it (its {@code Error}'s text where
         * ztunnel has one, else zerohop's message), never null.
         */
        record Refused(RuntimeException error, boolean selfCall, String ztunnelError) implements Request {
            public Refused(RuntimeException error, boolean selfCall) {
                this(error, selfCall, selfCall ? PlaintextInbound.SELF_CALL : error.getMessage());
            }
        }

        /**
         * A Service endpoint whose workload has a {@link Workload#hostname()}: {@link #open} looks it up (ztunnel's
         * {@code pick_workload_destination_or_resolve}), then sends the connection as for an endpoint of that address;
         * {@code from}, {@code source}, {@code client} as {@link #buildRequest} had them.
         */
        record Resolve(io.zerohop.core.Service.Endpoint endpoint, Workload from, SpiffeId source, InetSocketAddress client)
                implements Request {}

        /**
         * A tunnel through a waypoint whose workload ({@code waypoint}, named by hostname or an endpoint of the waypoint
         * Service) has a hostname and no address: {@code request}'s route dials that hostname unresolved; {@link #open}
         * looks it up (ztunnel's {@code fetch_waypoint} → {@code finalize_upstream} →
         * {@code pick_workload_destination_or_resolve}) and opens {@code request} dialling the address found on the same
         * port. {@code from} as {@link #buildRequest} had it.
         */
        record ResolveWaypoint(Workload waypoint, Hbone request, Workload from) implements Request {}
    }

    /**
     * A quarter of Netty's direct-memory limit (at most 512 MiB, at least two stream windows): the client side's inbound
     * budget here, and the HBONE server's (MeshRuntime), so that the two directions of unread bytes take half of it
     * together, as the server's default alone did (node proxy, 64 MiB: 16 MiB each, where the server had 32 MiB; with its
     * outbound budget, 16 MiB, and its closing connections', 8 MiB, 56 MiB in all as before).
     */
    public static final long INBOUND_SHARE = Math.max(2L * io.zerohop.hbone.internal.H2Config.DEFAULT_STREAM_WINDOW,
            Math.min(512L << 20, io.netty.util.internal.PlatformDependent.maxDirectMemory() / 4));

    private final MeshTls tls;
    private final EventLoopGroup group;
    private final LocalWorkloads local;
    private final SpiffeId identity;
    private final OwnPorts ownPorts;
    private final boolean passthroughUnknown;
    private final HboneEvents events;
    private final TunnelObserver observer;
    private final RateLimitedLog refusals;
    private final int maxStreamsPerConnection;
    private final Duration idleTimeout;
    private final io.zerohop.hbone.internal.H2Config http2;
    private final io.zerohop.hbone.TcpKeepalive keepalive;
    /** Where HBONE connections are dialled from ({@code Mesh.Builder.localAddress}); null: the kernel's choice. */
    private final java.net.InetAddress localAddress;
    /** Where a Service endpoint's hostname is looked up, per connection. */
    private final OnDemandDns dns;
    private final Map<SpiffeId, HboneClient> clients = new ConcurrentHashMap<>();
    /**
     * What the destinations sent that local workloads have not read yet, bounded for every client of this runtime
     * together (one client per source identity): {@link #INBOUND_SHARE} in all and per source identity. Without it each
     * tunnel held its stream window (4 MiB) and nothing bounded the sum: about 16 stalled downloads of any one workload
     * filled a node proxy's 64 MiB of direct memory, and every tunnel of the node failed its allocations (mesh-hbone
     * README, "Resource limits"). The unit is the source identity, the clients' own unit (ztunnel's pool is keyed by
     * it too, src/proxy/pool.rs {@code WorkloadKey}): over the total, only the identity holding the most is reset, so
     * one workload's slow readers do not reset another's tunnels.
     */
    private final io.zerohop.hbone.InboundBudget inboundBudget = io.zerohop.hbone.InboundBudget.of(INBOUND_SHARE, INBOUND_SHARE);
    /** Clients {@link #retireIdle} is closing now; with {@link #clients}, what tells an open to take a new client. */
    private final Set<HboneClient> retiring = ConcurrentHashMap.newKeySet();
    /** Identities a socket factory was handed out for: its client is bound to the factory, so it is never retired. */
    private final Set<SpiffeId> pinned = ConcurrentHashMap.newKeySet();
    /**
     * Set as the mesh's shutdown begins: the application's own calls out ({@link #connect}, socket factories) fail at
     * once from then on. Made after the event loops ended, a client for an identity not used before registered its
     * channel on a terminated group, and the open never completed (newuser23).
     */
    private volatile boolean closing;

    /**
     * @param identity the mesh's own identity (captured sources that are no local workload use it), or null
     * @param events   what every client reports to (metrics, access log, the drain's count)
     */
    public Outbound(MeshTls tls, EventLoopGroup group, LocalWorkloads local, SpiffeId identity, OwnPorts ownPorts,
                    boolean passthroughUnknown, HboneEvents events, TunnelObserver observer, RateLimitedLog refusals,
                    int maxStreamsPerConnection, Duration idleTimeout, java.net.InetAddress localAddress) {
        this(tls, group, local, identity, ownPorts, passthroughUnknown, events, observer, refusals, maxStreamsPerConnection,
                idleTimeout, localAddress, null);
    }

    /** @param dnsServers where a workload's hostname is looked up ({@link OnDemandDns}); null: resolv.conf's servers */
    public Outbound(MeshTls tls, EventLoopGroup group, LocalWorkloads local, SpiffeId identity, OwnPorts ownPorts,
                    boolean passthroughUnknown, HboneEvents events, TunnelObserver observer, RateLimitedLog refusals,
                    int maxStreamsPerConnection, Duration idleTimeout, java.net.InetAddress localAddress,
                    List<InetSocketAddress> dnsServers) {
        this(tls, group, local, identity, ownPorts, passthroughUnknown, events, observer, refusals, maxStreamsPerConnection,
                idleTimeout, localAddress, dnsServers, null, null);
    }

    /**
     * @param http2     the clients' HTTP/2 windows and frame size; null: HboneClient.Builder's defaults (ztunnel's)
     * @param keepalive the clients' TCP keepalive; null: HboneClient.Builder's default
     */
    public Outbound(MeshTls tls, EventLoopGroup group, LocalWorkloads local, SpiffeId identity, OwnPorts ownPorts,
                    boolean passthroughUnknown, HboneEvents events, TunnelObserver observer, RateLimitedLog refusals,
                    int maxStreamsPerConnection, Duration idleTimeout, java.net.InetAddress localAddress,
                    List<InetSocketAddress> dnsServers, io.zerohop.hbone.internal.H2Config http2,
                    io.zerohop.hbone.TcpKeepalive keepalive) {
        this.http2 = http2;
        this.keepalive = keepalive;
        this.dns = new OnDemandDns(group, dnsServers);
        this.tls = Objects.requireNonNull(tls, "tls");
        this.group = Objects.requireNonNull(group, "group");
        this.local = Objects.requireNonNull(local, "local");
        this.identity = identity;
        this.ownPorts = Objects.requireNonNull(ownPorts, "ownPorts");
        this.passthroughUnknown = passthroughUnknown;
        this.events = Objects.requireNonNull(events, "events");
        this.observer = Objects.requireNonNull(observer, "observer");
        this.refusals = Objects.requireNonNull(refusals, "refusals");
        this.maxStreamsPerConnection = maxStreamsPerConnection;
        this.idleTimeout = Objects.requireNonNull(idleTimeout, "idleTimeout");
        this.localAddress = localAddress;
    }

    /**
     * {@code Route(registry.hboneAddress(w, ip), registry.identityOf(w))} for the registry workload at
     * {@code target}'s IP.
     *
     * @throws Mesh.UnknownDestinationException when the IP is unknown or its workload is {@code protocol: TCP}, or the
     *         Service endpoint picked or the waypoint is reached at a hostname looked up per connection
     */
    public Route route(InetSocketAddress target) {
        return route(target, identity);
    }

    /** {@link #route(InetSocketAddress)} for a caller going out as {@code source}: a VIP's endpoint is picked for it. */
    private Route route(InetSocketAddress target, SpiffeId source) {
        return route(target, source, false, false);
    }

    /**
     * {@link #route(InetSocketAddress, SpiffeId)}, with {@code defaultHeaders} the default CONNECT headers added as
     * {@link #connect(SpiffeId, InetSocketAddress)} adds them: for a VIP, {@code forwarded: host=} its Service's hostname.
     *
     * @param lookup look a hostname (a waypoint's or a Service endpoint's without address) up now, blocking the caller
     *               until the answer ({@link #lookupBlocking}): a socket factory's socket, whose connect blocks by contract
     *               (and is refused on an event loop); without it such a destination is refused, as for
     *               {@link #route(InetSocketAddress)}: a Route is a value its caller keeps and reuses, and an address
     *               looked up into it would outlive the answer's TTL, where ztunnel looks the name up per connection
     */
    private Route route(InetSocketAddress target, SpiffeId source, boolean defaultHeaders, boolean lookup) {
        // One lookup of each kind per call, shared by the waypoint's check and the route; a VIP first, as ztunnel's
        // find_upstream, so a VIP that is also a workload's address goes to the Service.
        io.zerohop.core.Service svc = local.registry().serviceAt(target.getAddress(), callerNamespace(source)).orElse(null);
        Workload dst = svc == null ? local.registry().byAddress(target.getAddress()).orElse(null) : null;
        Via via = libraryWaypoint(svc, dst, target, source);
        if (via != null) {
            Route r = via.route();
            if (r.hboneAddress().isUnresolved()) {
                String what = "waypoint " + via.waypoint();
                r = resolvedHop(r, lookup ? lookupBlocking(via.waypoint(), target, source, what) : refuseLookup(target, what, via.waypoint()));
            }
            return defaultHeaders ? withDefaultHeaders(null, source, r, null, svc != null ? svc.hostname() : null) : r;
        }
        if (svc != null) {
            // ztunnel's find_upstream for a VIP: one endpoint, its address and target port as the CONNECT authority
            // (hbone_target_destination), carried by the route's target; each call picks again, among the meshed ones.
            io.zerohop.core.Service.Endpoint ep = serviceEndpoint(svc, target, null, source, true);
            Workload w = ep.workload();
            InetSocketAddress to = ep.address();
            if (to.isUnresolved()) {
                String what = "service " + ep.service() + " endpoint " + w;
                to = new InetSocketAddress(lookup ? lookupBlocking(w, target, source, what) : refuseLookup(target, what, w), to.getPort());
            }
            Route r = new Route(local.registry().hboneAddress(w, to.getAddress()), Set.of(local.registry().identityOf(w)),
                    Map.of(), to);
            return defaultHeaders ? withDefaultHeaders(null, source, r, null, ep.service().hostname()) : r;
        }
        Route r = workloadRoute(dst, target, callerNamespace(source));
        return defaultHeaders ? withDefaultHeaders(source, r, null) : r;
    }

    /**
     * The route to {@code w}, the registry workload at {@code target}'s address (null: none there).
     *
     * @param ns the caller's namespace, which Services it sees ({@link #unknown}); null: none known
     * @throws Mesh.UnknownDestinationException when {@code w} is null or {@code protocol: TCP}
     */
    private Route workloadRoute(Workload w, InetSocketAddress target, String ns) {
        if (w == null) {
            throw unknown(target, ns, "add it to the workload registry or pass an explicit Route", "pass an explicit Route");
        }
        if (w.protocol() != Workload.Protocol.HBONE) {
            throw new Mesh.UnknownDestinationException("destination " + w + " (" + Addresses.authority(target)
                    + ") is a plaintext workload, not reachable over HBONE");
        }
        // The registry's memo: w.identity() would build a SpiffeId (~400 B) per open.
        return new Route(local.registry().hboneAddress(w, target.getAddress()), local.registry().identityOf(w));
    }

    /**
     * For the library's own calls ({@link #connect(SpiffeId, InetSocketAddress)}, {@link #route}, socket factories), the
     * route through {@code target}'s waypoint, as {@link #buildRequest} takes it for a capture (ztunnel's
     * {@code build_request}): a Service VIP whose Service has a waypoint, or a workload address whose workload has one,
     * unless the caller is that waypoint (ztunnel's {@code check_from_waypoint}, the caller's address being that of a
     * local workload of the waypoint with the caller's identity: {@link LocalWorkloads#isLocal}), for a Service's
     * waypoint too (a zerohop decision: ztunnel never sees a waypoint's traffic to a Service); null when neither. The
     * route dials the waypoint, verifies its identity and keeps {@code target} as the CONNECT authority.
     *
     * @param svc the Service at {@code target}'s address, or null
     * @param dst the workload at it when no Service is, or null
     *
     * @throws Mesh.UnknownDestinationException ztunnel's {@code UnknownWaypoint}, also logged (rate-limited) with both
     *         ends and the waypoint: never sent to the destination directly
     */
    private Via libraryWaypoint(io.zerohop.core.Service svc, Workload dst, InetSocketAddress target, SpiffeId source) {
        io.zerohop.core.GatewayAddress gw;
        String of;
        if (svc != null) {
            gw = svc.waypoint();
            if (gw == null) {
                return null;
            }
            of = "service " + svc;
        } else {
            if (dst == null || dst.waypoint() == null) {
                return null;
            }
            gw = dst.waypoint();
            of = "workload " + dst;
        }
        if (source != null && Waypoints.isWaypoint(local.registry(), gw,
                w -> local.isLocal(w) && source.equals(local.registry().identityOf(w)))) {
            // The caller is that waypoint (check_from_waypoint: its identity, and a workload of it runs here, the caller's
            // address being this host's or node's): to the destination directly, for a Service too. ztunnel never sees
            // a waypoint's connection to a Service (its pod is not captured; Envoy dials the endpoint it picked), and a
            // waypoint relaying through these calls would otherwise send every connection back to itself.
            return null;
        }
        Workload src = local.workloadOf(source);
        try {
            Waypoints.Hop hop = Waypoints.resolve(local.registry(), gw, of, target, src != null ? src.node() : local.node(),
                    src != null ? src.labels() : null);
            return new Via(new Route(hop.address(), Set.of(hop.identity()), Map.of(), target), hop.workload());
        } catch (Mesh.UnknownDestinationException e) {
            refusals.info("outbound {} -> {} ({}) refused: {}", source, Addresses.authority(target), of, e.getMessage());
            throw e;
        }
    }

    /** The route through a waypoint and its workload; the route's HBONE address unresolved: its hostname, to look up. */
    private record Via(Route route, Workload waypoint) {}

    /**
     * {@code w}'s hostname looked up for a socket factory's connect, the caller's thread waiting for the answer (never an
     * event loop's: the socket's connect refuses to run on one, and this checks again), as the socket's own lookup of a
     * host name ({@link java.net.InetAddress#getByName}) blocks; counted as every lookup ({@code istio_on_demand_dns_total}).
     *
     * @throws OnDemandDns.LookupFailed naming {@code target}, {@code what} and ztunnel's error text, when the lookup fails,
     *         has no address or takes more than {@link #LOOKUP_WAIT_SECONDS}
     */
    private java.net.InetAddress lookupBlocking(Workload w, InetSocketAddress target, SpiffeId source, String what) {
        for (io.netty.util.concurrent.EventExecutor e : group) {
            if (e.inEventLoop()) {
                throw new IllegalStateException("destination " + Addresses.authority(target) + ": " + what + " has hostname "
                        + w.hostname() + ", which would be looked up on an event loop: use connect(source, target)");
            }
        }
        observer.onDemandDns(local.workloadOf(source), source, w.hostname());
        String prefix = "destination " + Addresses.authority(target) + ": " + what + ": ";
        try {
            return dns.resolve(w.hostname(), target.getAddress(), w.toString()).get(LOOKUP_WAIT_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new OnDemandDns.LookupFailed(prefix + e.getCause().getMessage());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new OnDemandDns.LookupFailed(prefix + "no ip addresses were resolved for workload: " + w + " (hostname "
                    + w.hostname() + ": no answer in " + LOOKUP_WAIT_SECONDS + " s)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OnDemandDns.LookupFailed(prefix + "interrupted while looking up " + w.hostname());
        }
    }

    /**
     * How long a socket factory's connect waits for a lookup: past the resolver's own give-up (Netty's query timeout, 5 s
     * per query), so that its answer, not this bound, is what the caller normally sees.
     */
    static final int LOOKUP_WAIT_SECONDS = 30;

    /** {@link #route(InetSocketAddress)}'s refusal of a destination reached at a hostname looked up per connection. */
    private static java.net.InetAddress refuseLookup(InetSocketAddress target, String what, Workload w) {
        throw new Mesh.UnknownDestinationException("destination " + Addresses.authority(target) + ": " + what + " has hostname "
                + w.hostname() + ", looked up per connection: connect(source, target), socket factories and a capture reach"
                + " it, route() does not (a Route is kept and reused; the address would outlive its DNS answer)");
    }

    /**
     * ztunnel's {@code build_request} through a waypoint: HBONE to the waypoint {@code gw} of {@code of} resolves to
     * ({@link Waypoints#resolve}), whatever the destination's own protocol ("Always use HBONE here"), its identity
     * required, {@code target} (the address dialled, a VIP's too) as the CONNECT authority
     * ({@code hbone_target_destination}), and {@code host} (the Service's hostname for a Service's waypoint, ztunnel's
     * {@code intended_destination_service}; null for a workload's) in {@code forwarded}. Unresolved: refused,
     * {@code Error::UnknownWaypoint}, never sent direct.
     */
    private Request viaWaypoint(io.zerohop.core.GatewayAddress gw, String of, Workload from, SpiffeId src,
                                InetSocketAddress source, InetSocketAddress target, String host) {
        Workload sw = from != null ? from : local.workloadOf(src);
        Waypoints.Hop hop;
        try {
            hop = Waypoints.resolve(local.registry(), gw, of, target, sw != null ? sw.node() : local.node(),
                    sw != null ? sw.labels() : null);
        } catch (Mesh.UnknownDestinationException e) {
            return new Request.Refused(e, false, Waypoints.ztunnelError(local.registry(), gw));
        }
        Route r = new Route(hop.address(), Set.of(hop.identity()), Map.of(), target);
        Request.Hbone h = new Request.Hbone(src, withDefaultHeaders(from, src, r, source, host), target);
        return hop.address().isUnresolved() ? new Request.ResolveWaypoint(hop.workload(), h, from) : h;
    }

    /**
     * {@code target} is no registry workload and no Service a client of namespace {@code ns} sees; {@code remedy} what
     * the caller can do about an address outside the registry, {@code otherwise} what it can do besides changing the
     * Services' visibility when the address is the VIP of Services hidden from it. Such a VIP is, for that client, no
     * Service, as ztunnel's {@code get_best_by_vip} filters it out ({@code Service::visible_to}, src/state/service.rs),
     * and {@code find_upstream} (src/state.rs) then looks for a workload at the address only: ztunnel's
     * {@code build_request} passes it through as an unknown destination (plain TCP), which zerohop does under
     * {@code passthroughUnknown} and refuses without. The refusal names those Services: "not a known mesh workload"
     * alone sent the operator to add to the registry an address that is already in it (h406).
     */
    private Mesh.UnknownDestinationException unknown(InetSocketAddress target, String ns, String remedy, String otherwise) {
        List<io.zerohop.core.Service> hidden = hiddenServices(target.getAddress(), ns);
        if (!hidden.isEmpty()) {
            String names = hidden.stream().map(io.zerohop.core.Service::toString).collect(java.util.stream.Collectors.joining(", "));
            return new Mesh.UnknownDestinationException("destination " + Addresses.authority(target) + " is a VIP of "
                    + (hidden.size() == 1 ? "service " + names + ", visible only to its own namespace"
                            : "services " + names + ", each visible only to its own namespace")
                    + " (visibility: NAMESPACE), not to a client in namespace " + ns
                    + ": no Service and no known mesh workload for it; its identity cannot be verified (make one of them"
                    + " visibility: PUBLIC, or " + otherwise + ")");
        }
        return new Mesh.UnknownDestinationException("destination " + Addresses.authority(target)
                + " is not a known mesh workload; its identity cannot be verified (" + remedy + ")");
    }

    /**
     * The Services one of whose VIPs is {@code vip}, in the order installed, when none is {@link
     * io.zerohop.core.Service#visibleTo} a client of {@code ns}; empty when one is, when there are none, or when
     * {@code ns} is null (such a client sees every Service). A walk of the registry's Services, on the refusal path only.
     */
    private List<io.zerohop.core.Service> hiddenServices(java.net.InetAddress vip, String ns) {
        if (ns == null) {
            return List.of();
        }
        List<io.zerohop.core.Service> hidden = new java.util.ArrayList<>();
        for (io.zerohop.core.Service s : local.registry().services()) {
            if (s.vips().contains(vip)) {
                if (s.visibleTo(ns)) {
                    return List.of();
                }
                hidden.add(s);
            }
        }
        return hidden;
    }

    /**
     * {@code route} with ztunnel's default CONNECT headers (baggage of the local workload with
     * identity {@code source}, traceparent, and for a captured app {@code forwarded: for=}) under its own.
     *
     * @param client the captured app, or null when this process is the client
     */
    public Route withDefaultHeaders(SpiffeId source, Route route, InetSocketAddress client) {
        return withDefaultHeaders(null, source, route, client);
    }

    /**
     * {@link #withDefaultHeaders(SpiffeId, Route, InetSocketAddress)} with the baggage of {@code from} when not null, and
     * for a connection to a Service ({@code host} its hostname, else null) ztunnel's {@code forwarded: for=…;host=HOSTNAME}
     * ({@code build_forwarded}; {@code host=HOSTNAME} alone when this process is the client, {@link OutboundHeaders#forwarded}),
     * from which this proxy's outbound telemetry and the destination's {@code guess_inbound_service} find the Service.
     */
    private Route withDefaultHeaders(Workload from, SpiffeId source, Route route, InetSocketAddress client, String host) {
        return new Route(route.hboneAddress(), route.expectedIdentities(),
                OutboundHeaders.withDefaults(route.headers(), local.baggageOf(from, source), client, host), route.target());
    }

    private Route withDefaultHeaders(Workload from, SpiffeId source, Route route, InetSocketAddress client) {
        return withDefaultHeaders(from, source, route, client, null);
    }

    /**
     * The endpoint of {@code svc}, the Service at {@code target}'s address, as ztunnel's {@code fetch_upstream} picks it
     * ({@link io.zerohop.core.WorkloadRegistry#pickEndpoint}) for the source workload: {@code from} (a captured
     * connection's), else the one local workload of identity {@code source} (the one whose baggage the tunnel carries:
     * {@link LocalWorkloads#workloadOf}), else this proxy itself: its node and no locality (zerohop knows none of its own).
     * Its node and topology labels are what a Service's {@code internalTrafficPolicy: Local} or {@code trafficDistribution}
     * ranks endpoints by (ztunnel's {@code load_balance}: {@code src.node}, {@code src.locality}, {@code src.network}).
     * Never null.
     *
     * @param source the identity the connection goes out as (the mesh's own when {@code from} is null and the caller
     *               lends it), or null
     * @param meshOnly pick among the {@code protocol: HBONE} endpoints only
     *                 ({@link io.zerohop.core.WorkloadRegistry#pickMeshEndpoint}): for the library's calls, which never dial
     *                 in plaintext; a capture picks among all, as ztunnel
     * @throws Mesh.UnknownDestinationException ztunnel's {@code Error::NoHealthyUpstream} ("no healthy upstream"), with
     *         zerohop's reason: the port is no service port, or no endpoint has an address and that port (with
     *         {@code meshOnly}: or none of those is in the mesh)
     */
    private io.zerohop.core.Service.Endpoint serviceEndpoint(io.zerohop.core.Service svc, InetSocketAddress target, Workload from,
                                                             SpiffeId source, boolean meshOnly) {
        Workload src = from != null ? from : local.workloadOf(source);
        // The source's node: its workload's, else (the mesh's own identity, no workload of its own) this proxy's.
        String node = src != null ? src.node() : local.node();
        Map<String, String> labels = src != null ? src.labels() : null;
        io.zerohop.core.Service.Endpoint ep = meshOnly
                ? local.registry().pickMeshEndpoint(svc, target.getPort(), target.getAddress(), node, labels)
                : local.registry().pickEndpoint(svc, target.getPort(), target.getAddress(), node, labels);
        if (ep == null && meshOnly
                && local.registry().pickEndpoint(svc, target.getPort(), target.getAddress(), node, labels) != null) {
            throw new Mesh.UnknownDestinationException("no healthy upstream: " + Addresses.authority(target) + ": service "
                    + svc + " has no endpoint in the mesh (protocol HBONE) eligible for port " + target.getPort()
                    + ", only plaintext ones: connect, route and socketFactory never dial in plaintext (a capture relays"
                    + " them as plain TCP)");
        }
        if (ep == null) {
            io.zerohop.core.Service.LoadBalancing lb = svc.loadBalancing();
            String why = svc.port(target.getPort()) == null
                    ? "port " + target.getPort() + " is not a port of service " + svc + " (" + portsText(svc) + ")"
                    : "service " + svc + " has no healthy endpoint" + (local.registry().endpoints(svc).isEmpty() ? ""
                            : svc.nodeLocal() ? " on node " + node + " (internalTrafficPolicy Local) with the port its port "
                            + target.getPort() + " targets"
                            : lb != null && lb.mode() == io.zerohop.core.Service.LoadBalancing.Mode.STRICT
                            ? " sharing the source's " + lb.scopes() + " (strict load balancing) with the port its port "
                            + target.getPort() + " targets"
                            : " with an address and the port its port " + target.getPort() + " targets");
            throw new Mesh.UnknownDestinationException("no healthy upstream: " + Addresses.authority(target) + ": " + why);
        }
        return ep;
    }

    private static String portsText(io.zerohop.core.Service svc) {
        if (svc.ports().isEmpty()) {
            return "it has none";
        }
        StringBuilder b = new StringBuilder("its ports: ");
        for (int i = 0; i < svc.ports().size(); i++) {
            b.append(i == 0 ? "" : ", ").append(svc.ports().get(i).port());
        }
        return b.toString();
    }

    /** From now on {@link #connect} and socket factories fail at once, saying the mesh is closed. */
    public void closing() {
        closing = true;
    }

    private IllegalStateException closed(String what) {
        return new IllegalStateException(what + ": this mesh is closed (or closing)");
    }

    /**
     * A tunnel to the registry workload at {@code target}, or for a Service VIP to the endpoint {@link #serviceEndpoint}
     * picks (CONNECT target: its address and target port); fails with {@link #route}'s exception when it throws, or
     * "no healthy upstream" for a VIP without one.
     */
    public CompletableFuture<HboneStream> connect(SpiffeId source, InetSocketAddress target) {
        if (closing) {
            return CompletableFuture.failedFuture(closed("connect"));
        }
        Route route;
        InetSocketAddress to = target;
        String host = null;
        try {
            io.zerohop.core.Service svc = local.registry().serviceAt(target.getAddress(), callerNamespace(source)).orElse(null);
            Workload dst = svc == null ? local.registry().byAddress(target.getAddress()).orElse(null) : null;
            Via via = libraryWaypoint(svc, dst, target, source);
            if (via != null) {
                if (closing) {
                    return CompletableFuture.failedFuture(closed("connect"));
                }
                Route r = withDefaultHeaders(null, source, via.route(), null, svc != null ? svc.hostname() : null);
                if (r.hboneAddress().isUnresolved()) {
                    Workload w = via.waypoint();
                    observer.onDemandDns(local.workloadOf(source), source, w.hostname());
                    return dns.resolve(w.hostname(), target.getAddress(), w.toString()).thenCompose(ip -> closing
                            ? CompletableFuture.failedFuture(closed("connect")) : tunnel(source, target, resolvedHop(r, ip)));
                }
                return tunnel(source, target, r);
            }
            if (svc != null) {
                io.zerohop.core.Service.Endpoint ep = serviceEndpoint(svc, target, null, source, true);
                if (ep.address().isUnresolved()) {
                    Workload w = ep.workload();
                    String h = ep.service().hostname();
                    observer.onDemandDns(local.workloadOf(source), source, w.hostname());
                    return dns.resolve(w.hostname(), target.getAddress(), w.toString()).thenCompose(ip -> {
                        if (closing) {
                            return CompletableFuture.failedFuture(closed("connect"));
                        }
                        InetSocketAddress resolved = new InetSocketAddress(ip, ep.address().getPort());
                        Route r = new Route(local.registry().hboneAddress(w, ip), Set.of(local.registry().identityOf(w)), Map.of(),
                                resolved);
                        return tunnel(source, resolved, withDefaultHeaders(null, source, r, null, h));
                    });
                }
                to = ep.address();
                host = ep.service().hostname();
                route = workloadRoute(ep.workload(), to, null);
            } else {
                route = workloadRoute(dst, target, callerNamespace(source));
            }
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (closing) {
            return CompletableFuture.failedFuture(closed("connect"));
        }
        return tunnel(source, to, withDefaultHeaders(null, source, route, null, host));
    }

    /** A tunnel to {@code target} as {@code source} along {@code route} (default headers added). */
    public CompletableFuture<HboneStream> connect(SpiffeId source, InetSocketAddress target, Route route) {
        if (closing) {
            return CompletableFuture.failedFuture(closed("connect"));
        }
        return tunnel(source, route.target() != null ? route.target() : target, withDefaultHeaders(source, route, null));
    }

    /** Sockets that tunnel as {@code source}; an unknown destination fails {@code createSocket}, never dialled in plaintext. */
    public SocketFactory socketFactory(SpiffeId source) {
        if (closing) {
            // No client on loops that are ending or ended: its sockets' connects would never complete.
            return new ClosedSocketFactory();
        }
        pinned.add(source);
        return client(source).socketFactory(t -> {
            if (closing) {
                // Thrown from the routes function: the socket's connect throws a ConnectException with this message.
                throw closed("createSocket");
            }
            return route(t, source, true, true);
        });
    }

    /** A socket factory of a closed mesh: every socket's connect throws a {@link java.net.SocketException} saying so. */
    private final class ClosedSocketFactory extends SocketFactory {
        private java.net.Socket fail() throws java.net.SocketException {
            throw new java.net.SocketException(closed("createSocket").getMessage());
        }

        @Override
        public java.net.Socket createSocket() throws java.net.SocketException {
            return new java.net.Socket() {
                @Override
                public void connect(java.net.SocketAddress endpoint, int timeout) throws java.io.IOException {
                    fail();
                }
            };
        }

        @Override
        public java.net.Socket createSocket(String host, int port) throws java.net.SocketException {
            return fail();
        }

        @Override
        public java.net.Socket createSocket(String host, int port, java.net.InetAddress localHost, int localPort) throws java.net.SocketException {
            return fail();
        }

        @Override
        public java.net.Socket createSocket(java.net.InetAddress host, int port) throws java.net.SocketException {
            return fail();
        }

        @Override
        public java.net.Socket createSocket(java.net.InetAddress address, int port, java.net.InetAddress localAddress, int localPort)
                throws java.net.SocketException {
            return fail();
        }
    }

    /**
     * ztunnel's {@code build_request} for a connection captured from {@code source} to {@code target},
     * in order: a self call (one of the proxy's own ports on this host) is dropped; the source
     * identity is the local workload's at the source IP (refused when that workload is {@code protocol: TCP}, outside the
     * mesh), else the mesh's own for a caller on this host (a loopback or one of this host's addresses, as a sidecar's
     * identity covers its pod), else refused; a
     * registry workload with {@code protocol: HBONE} gets a tunnel, a {@code protocol: TCP} one plain
     * TCP, an unknown IP plain TCP with passthrough on and a refusal without. A Service VIP is looked up before a workload
     * address (ztunnel's {@code find_upstream}): one endpoint is picked and the request is the one for that endpoint on its
     * target port ({@link Request.Hbone#target}, {@link Request.Passthrough#destination}), with the Service's hostname in
     * {@code forwarded}'s {@code host=}; a VIP without an upstream (no such service port, no endpoint) is refused,
     * ztunnel's {@code Error::NoHealthyUpstream}, never passed through. A VIP whose Service has a waypoint, before any
     * endpoint, and a workload address whose workload has one, unless the source is that waypoint, get a tunnel to the
     * waypoint ({@link #viaWaypoint}; ztunnel's {@code fetch_service_waypoint}, {@code fetch_workload_waypoint},
     * {@code check_from_waypoint}), or ztunnel's {@code UnknownWaypoint} refusal.
     */
    public Request buildRequest(InetSocketAddress source, InetSocketAddress target) {
        // ztunnel's outbound drops a loopback destination on one of its own ports (proxy_to,
        // Error::SelfCall). We also drop this host's own addresses: our capture listeners bind them,
        // so a connection straight to the listener would otherwise be relayed to itself.
        if (local.hostHas(target.getAddress()) && ownPorts.isSelf(target, local::hostHas)) {
            return new Request.Refused(new IllegalStateException("self call: " + Addresses.authority(target)
                    + " is one of this proxy's own ports, dropped"), true);
        }
        Workload from = local.at(source.getAddress()).orElse(null);
        if (from != null && from.protocol() != Workload.Protocol.HBONE) {
            // ztunnel proxies only for enrolled pods; lending such a pod its service account would enrol it by the back door.
            return new Request.Refused(new IllegalStateException("source " + Addresses.authority(source) + " is " + from
                    + ", a workload outside the mesh (protocol TCP): it gets no tunnel identity"), false);
        }
        SpiffeId src = from != null ? local.registry().identityOf(from) : identity;
        if (src == null) {
            return new Request.Refused(new IllegalStateException("source " + Addresses.authority(source)
                    + " is not a workload of this node and the proxy has no identity of its own"), false);
        }
        if (from == null && !local.hostHas(source.getAddress())) {
            // The mesh's own identity is a sidecar's: lent to what shares this host (its network namespace), never to a
            // remote caller of a capture bound to a routable address, which would be an open relay under this SVID.
            return new Request.Refused(new IllegalStateException("source " + Addresses.authority(source)
                    + " is not a workload of this node and not on this host: the proxy lends its own identity " + src
                    + " only to callers on this host (an address of its own network namespace: another container's is not)"), false);
        }
        // ztunnel's find_upstream asks get_best_by_vip with the source workload's namespace: of several Services of one
        // VIP (ServiceEntries of one address in several namespaces) its own namespace's.
        String ns = from != null ? from.namespace() : callerNamespace(src);
        io.zerohop.core.Service vipService = local.registry().serviceAt(target.getAddress(), ns).orElse(null);
        if (vipService != null && vipService.waypoint() != null) {
            // ztunnel's build_request: a Service's waypoint is looked up before any endpoint (fetch_service_waypoint).
            return viaWaypoint(vipService.waypoint(), "service " + vipService, from, src, source, target, vipService.hostname());
        }
        io.zerohop.core.Service.Endpoint ep;
        try {
            // ztunnel's find_upstream: a Service VIP first, then a workload address.
            ep = vipService != null ? serviceEndpoint(vipService, target, from, src, false) : null;
        } catch (Mesh.UnknownDestinationException e) {
            // ztunnel's build_request: a service-addressed connection without an upstream is Error::NoHealthyUpstream,
            // never passthrough (a VIP is no address to send plaintext to, and its endpoints may be meshed).
            return new Request.Refused(e, false, "no healthy upstream: " + Addresses.authority(target));
        }
        if (ep != null && ep.address().isUnresolved()) {
            return new Request.Resolve(ep, from, src, source);
        }
        if (ep != null) {
            return endpointRequest(ep, from, src, source);
        }
        Workload dst = local.registry().byAddress(target.getAddress()).orElse(null);
        if (dst != null && dst.waypoint() != null
                && !Waypoints.fromWaypoint(local.registry(), dst, src, List.of(source.getAddress()))) {
            // ztunnel's build_request: a workload-addressed destination's waypoint (fetch_workload_waypoint), whatever its
            // protocol, unless the source is that waypoint (check_from_waypoint: its identity and address).
            return viaWaypoint(dst.waypoint(), "workload " + dst, from, src, source, target, null);
        }
        Route route;
        try {
            route = workloadRoute(dst, target, ns);
        } catch (Mesh.UnknownDestinationException e) {
            if (dst == null ? passthroughUnknown : dst.protocol() == Workload.Protocol.TCP) {
                return new Request.Passthrough(e.getMessage());
            }
            // A captured connection has no Route to pass: its remedies are the registry or passthrough,
            // named as the CLI and the builder spell them.
            return new Request.Refused(dst != null ? e : unknown(target, ns, "add it to the workload registry, or relay destinations"
                    + " outside it as plain TCP: zerohop proxy --passthrough-unknown, Mesh.Builder.passthroughUnknown(true)",
                    "relay such destinations as plain TCP, as ztunnel does: zerohop proxy --passthrough-unknown,"
                    + " Mesh.Builder.passthroughUnknown(true)"), false);
        }
        // The captured app's address travels as `Forwarded: for=` (ztunnel's build_forwarded): both
        // access-log lines then name the app beside the proxy's socket. Policy never reads it.
        return new Request.Hbone(src, withDefaultHeaders(from, src, route, source));
    }

    /**
     * {@link #buildRequest}'s request for the Service endpoint {@code ep} (its address resolved): dropped when it is one
     * of this proxy's own ports, plain TCP to a {@code protocol: TCP} endpoint, else a tunnel to it.
     */
    private Request endpointRequest(io.zerohop.core.Service.Endpoint ep, Workload from, SpiffeId src, InetSocketAddress source) {
        Workload w = ep.workload();
        InetSocketAddress to = ep.address();
        if (local.hostHas(to.getAddress()) && ownPorts.isSelf(to, local::hostHas)) {
            // The self-call check in buildRequest saw the VIP; the endpoint picked is what is dialled. A plaintext endpoint on
            // one of this proxy's own listeners relayed every connection to itself until the fds ran out (a new-user
            // pass).
            return new Request.Refused(new IllegalStateException("self call: service " + ep.service() + " endpoint "
                    + Addresses.authority(to) + " is one of this proxy's own ports, dropped"), true);
        }
        if (w.protocol() != Workload.Protocol.HBONE) {
            // ztunnel's OutboundProtocol::TCP for an endpoint outside the mesh: plain TCP to the endpoint itself.
            return new Request.Passthrough("service " + ep.service() + " endpoint " + w + " is a plaintext workload",
                    ep.address(), ep.service().hostname());
        }
        Route r = new Route(local.registry().hboneAddress(w, ep.address().getAddress()), local.registry().identityOf(w));
        return new Request.Hbone(src, withDefaultHeaders(from, src, r, source, ep.service().hostname()), ep.address());
    }

    /** The capture listeners' opener: {@link #buildRequest}, then the tunnel or the plain TCP connection. */
    @Override
    public CompletableFuture<Relay.End> open(InetSocketAddress source, InetSocketAddress target, EventLoop loop) {
        Request r = buildRequest(source, target);
        if (r instanceof Request.Resolve rs) {
            io.zerohop.core.Service.Endpoint ep = rs.endpoint();
            Workload w = ep.workload();
            observer.onDemandDns(rs.from(), rs.source(), w.hostname());
            return lookup(w, "service " + ep.service() + " endpoint " + w, source, target, ip -> open(endpointRequest(
                    new io.zerohop.core.Service.Endpoint(ep.service(), w, new InetSocketAddress(ip, ep.address().getPort())),
                    rs.from(), rs.source(), rs.client()), source, target, loop));
        }
        if (r instanceof Request.ResolveWaypoint rw) {
            Workload w = rw.waypoint();
            Request.Hbone h = rw.request();
            observer.onDemandDns(rw.from(), h.source(), w.hostname());
            return lookup(w, "waypoint " + w, source, target, ip -> open(new Request.Hbone(h.source(),
                    resolvedHop(h.route(), ip), h.target()), source, target, loop));
        }
        return open(r, source, target, loop);
    }

    /**
     * Looks {@code w}'s hostname up for a captured connection, then {@code then} with the address found; a failed lookup
     * is ztunnel's {@code NoResolvedAddresses} / {@code EmptyResolvedAddresses}: refused, never passed through to the
     * target, with one line naming {@code what}.
     */
    private CompletableFuture<Relay.End> lookup(Workload w, String what, InetSocketAddress source, InetSocketAddress target,
                                                java.util.function.Function<java.net.InetAddress, CompletableFuture<Relay.End>> then) {
        return dns.resolve(w.hostname(), target.getAddress(), w.toString()).handle((ip, e) -> {
            if (e != null) {
                String why = (e instanceof java.util.concurrent.CompletionException && e.getCause() != null
                        ? e.getCause() : e).getMessage();
                // At WARN, as ztunnel's "dns lookup failed" (a host that stopped resolving is an outage, not a
                // policy's refusal); one line per connection, the capture listener adds none (LoggedRefusal).
                String msg = what + ": " + why;
                refusals.warn("{} refused: {}", ends(source, target), msg);
                observer.outboundEarlyDeny(source, target, why);
                return CompletableFuture.<Relay.End>failedFuture(new LoggedRefusal(msg));
            }
            return then.apply(ip);
        }).thenCompose(f -> f);
    }

    /** {@code route}, whose HBONE address is a waypoint's unresolved hostname, dialling {@code ip} on the same port. */
    private static Route resolvedHop(Route route, java.net.InetAddress ip) {
        return new Route(new InetSocketAddress(ip, route.hboneAddress().getPort()), route.expectedIdentities(), route.headers(),
                route.target());
    }

    /** {@link #open(InetSocketAddress, InetSocketAddress, EventLoop)} of the request {@code r} decided for it. */
    private CompletableFuture<Relay.End> open(Request r, InetSocketAddress source, InetSocketAddress target, EventLoop loop) {
        if (r instanceof Request.Hbone h) {
            // A failure to open is counted by mesh-hbone's tunnelFailed/tunnelRefused events (TunnelObserver).
            return tunnel(h.source(), h.target() != null ? h.target() : target, h.route()).thenApply(Relay::tunnel);
        }
        if (r instanceof Request.Passthrough p) {
            InetSocketAddress to = p.destination() != null ? p.destination() : target;
            log.debug("passthrough {} -> {}: {}", source, to, p.why());
            long start = System.nanoTime();
            // ztunnel's proxy_to_tcp builds the connection result before it dials: a failed dial counts
            // (Error::Io, CONNECT) and has its line. While the access log writes it, the failure is a
            // LoggedRefusal, so the capture listener adds no line of its own (as PlaintextInbound's dial).
            return CaptureListener.connectTcp(loop, to, true, keepalive == null ? io.zerohop.hbone.TcpKeepalive.DEFAULT : keepalive).handle((end, e) -> {
                if (e == null) {
                    return CompletableFuture.completedFuture(observer.plain(end, "passthrough", false, source, to, null, p.serviceHost()));
                }
                String cause = io.zerohop.hbone.internal.DialErrors.describe(e);
                observer.passthroughDialFailed(source, to, cause, start, p.serviceHost());
                return CompletableFuture.<Relay.End>failedFuture(observer.logsRefusals()
                        ? new LoggedRefusal("upstream " + Addresses.authority(to) + " unreachable: " + cause, e) : e);
            }).thenCompose(f -> f);
        }
        Request.Refused refused = (Request.Refused) r;
        if (refused.selfCall()) {
            // One line naming both ends, as a denial's; the capture listener does not log a LoggedRefusal again.
            refusals.warn("self call {} ({}) -> {} ({}) dropped: one of this proxy's own ports ({})", Addresses.authority(source),
                    sourceText(source.getAddress()), Addresses.authority(target),
                    identityText(local.registry().byAddress(target.getAddress())), ownPorts.owner(target.getPort()));
            observer.outboundEarlyDeny(source, target, refused.ztunnelError());
            return CompletableFuture.failedFuture(new LoggedRefusal(refused.error().getMessage()));
        }
        observer.outboundEarlyDeny(source, target, refused.ztunnelError());
        return CompletableFuture.failedFuture(refused.error());
    }

    /**
     * The refusal line's ends, as the self call's: the source with the identity its tunnel would
     * present, the destination with its workload's identity ({@code no workload} outside the registry).
     */
    @Override
    public String ends(InetSocketAddress source, InetSocketAddress destination) {
        Workload from = local.at(source.getAddress()).orElse(null);
        io.zerohop.core.Service svc = local.registry().serviceAt(destination.getAddress(),
                from != null ? from.namespace() : callerNamespace(identity)).orElse(null);
        return "outbound " + Addresses.authority(source) + " (" + sourceText(source.getAddress()) + ") -> "
                + Addresses.authority(destination) + " (" + (svc != null ? "service " + svc
                : local.registry().byAddress(destination.getAddress()).map(w -> w.hasKnownIdentity() ? local.registry().identityOf(w).toString() : "outside the mesh")
                .orElse("no workload")) + ")";
    }

    /**
     * The namespace a library caller of identity {@code source} (or a host caller lent the mesh's identity) picks a
     * Service of a shared VIP by, as ztunnel's source workload's: that of the local workload of that identity, else null
     * (none known: {@link io.zerohop.core.WorkloadRegistry#serviceAt(java.net.InetAddress, String)} filters and prefers
     * nothing).
     */
    private String callerNamespace(SpiffeId source) {
        Workload w = local.workloadOf(source);
        return w != null ? w.namespace() : null;
    }

    /**
     * What a tunnel from {@code source} would present, as {@link #buildRequest} decides it: the local workload's identity
     * ("outside the mesh" for a protocol TCP one), else the mesh's own for a caller on this host, else "no identity" (a
     * remote caller's refusal line named the mesh's identity, as if the caller had it; a new-user pass).
     */
    private String sourceText(java.net.InetAddress source) {
        Workload w = local.at(source).orElse(null);
        if (w != null) {
            return w.protocol() == Workload.Protocol.HBONE ? local.registry().identityOf(w).toString() : "outside the mesh";
        }
        return identity != null && local.hostHas(source) ? identity.toString() : "no identity";
    }

    /** The identity of {@code w}, else the mesh's own, else "no identity". */
    private String identityText(java.util.Optional<Workload> w) {
        if (w.isPresent() && !w.get().hasKnownIdentity()) {
            return "no identity"; // an EndpointSlice endpoint: never the mesh's own identity
        }
        SpiffeId id = w.map(local.registry()::identityOf).orElse(identity);
        return id == null ? "no identity" : id.toString();
    }

    /** The clients by source identity, for the admin dump (a snapshot). */
    public Map<SpiffeId, HboneClient> clients() {
        return Map.copyOf(clients);
    }

    /**
     * Closes every client; completes once their pooled connections are closed (after their GOAWAY and
     * the server's close, at most about 1 s: {@link HboneClient#closeAsync}).
     */
    public CompletableFuture<Void> close() {
        dns.close();
        return CompletableFuture.allOf(clients.values().stream().map(HboneClient::closeAsync).toArray(CompletableFuture[]::new));
    }

    private CompletableFuture<HboneStream> tunnel(SpiffeId source, InetSocketAddress target, Route route) {
        for (;;) {
            HboneClient c = client(source);
            CompletableFuture<HboneStream> f = c.connect(target, route.expectedIdentities(), route.hboneAddress(), route.headers());
            // An open that lost the race with retireIdle failed at once and recorded nothing: take the new client.
            if (!f.isCompletedExceptionally() || !(retiring.contains(c) || clients.get(source) != c)) {
                return f;
            }
        }
    }

    /**
     * Closes and drops the clients of identities no longer in {@code keep} once they hold no
     * connection (pooled connections close after the idle timeout), so a node proxy whose workloads
     * come and go does not keep one client per identity it ever served. The mesh's own identity and
     * identities a socket factory was made for stay. A later open from a dropped identity makes a new
     * client. zerohop's own bookkeeping: ztunnel's pool drops idle connections the same way, and
     * keeps no per-identity client object. Any thread; never blocks.
     *
     * @param keep the identities of the node's workloads now
     * @return how many clients were dropped
     */
    public int retireIdle(Set<SpiffeId> keep) {
        int n = 0;
        for (Map.Entry<SpiffeId, HboneClient> e : clients.entrySet()) {
            SpiffeId id = e.getKey();
            if (id.equals(identity) || keep.contains(id) || pinned.contains(id)) {
                continue;
            }
            HboneClient c = e.getValue();
            retiring.add(c);
            try {
                if (c.closeIfIdle()) {
                    clients.remove(id, c);
                    n++;
                    log.debug("dropped the HBONE client of {}: no local workload has it and its last connection closed", id);
                }
            } finally {
                retiring.remove(c);
            }
        }
        return n;
    }

    /** The budget every client of this runtime shares (tests read what it counts). */
    public io.zerohop.hbone.InboundBudget inboundBudget() {
        return inboundBudget;
    }

    private HboneClient client(SpiffeId source) {
        return clients.computeIfAbsent(source, id -> {
            HboneClient.Builder b = HboneClient.builder()
                    .tls(tls)
                    .identity(id)
                    .eventLoopGroup(group)
                    .listener(events)
                    .maxStreamsPerConnection(maxStreamsPerConnection)
                    .idleTimeout(idleTimeout)
                    .inboundBudget(inboundBudget);
            if (keepalive != null) {
                b.tcpKeepalive(keepalive);
            }
            if (http2 != null) {
                b.streamWindow(http2.streamWindow()).connectionWindow(http2.connectionWindow()).maxFrameSize(http2.maxFrameSize());
            }
            return (localAddress == null ? b : b.localAddress(localAddress)).build();
        });
    }
}
