package io.zerohop.core;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.spiffe.spiffeid.SpiffeId;
import io.netty.channel.Channel;
import io.zerohop.core.internal.Baggage;
import io.zerohop.core.internal.CaptureListener;
import io.zerohop.core.internal.OutboundHeaders;
import io.zerohop.core.internal.ConfigDump;
import io.zerohop.core.internal.HttpEndpointServer;
import io.zerohop.core.internal.RateLimitedLog;
import io.zerohop.core.internal.Readiness;
import io.zerohop.core.internal.TunnelCount;
import io.zerohop.core.internal.FanOut;
import io.zerohop.core.internal.LiveAuthorization;
import io.zerohop.core.internal.MicrometerSink;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.core.internal.TunnelObserver;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.AccessRequest;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.policy.Decision;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import javax.net.SocketFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mesh for one process: identity + policy + HBONE transport, wired.
 *
 * <p>Outbound, {@link #connect} and {@link #socketFactory} look the destination up in the
 * {@link WorkloadRegistry}, expect its SPIFFE identity and dial its HBONE endpoint; destinations the
 * registry does not know are refused unless the caller passes a {@link Route}. Inbound, the HBONE
 * listener presents the SVID of the workload that was dialled, authorizes every CONNECT with the
 * {@link PolicyEngine} (ztunnel's 401 on deny), and delivers the stream to an in-process handler
 * ({@link #serve}) or to the workload's TCP port on this node.
 */
public final class Mesh implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Mesh.class);
    /** Refusals a peer can trigger at will: 20 lines per 10 s, then a count (issue 11 item 8). */
    private final RateLimitedLog refusals = new RateLimitedLog(log, "refusals (denied, self calls, plaintext refused)", 20,
            Duration.ofSeconds(10));

    private final IdentityProvider provider;
    private final boolean ownsProvider;
    private final MeshTls tls;
    private final PolicyEngine policy;
    private final WorkloadRegistry registry;
    private final SpiffeId identity;
    private final String node;
    private final InetSocketAddress inbound;
    private final boolean inboundTransparent;
    private final EventLoopGroup group;
    private final TunnelObserver observer;
    private final LiveAuthorization live;
    private final TunnelCount tunnels = new TunnelCount();
    private final Readiness readiness = new Readiness();
    private final Runnable listenersReady = readiness.register("listeners");
    private final java.util.List<Channel> httpServers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile java.util.concurrent.ExecutorService httpExecutor;
    private volatile AutoCloseable policyChanges;
    private final int maxStreamsPerConnection;
    private final Duration idleTimeout;
    private final Duration drain;
    private final Map<SpiffeId, HboneClient> clients = new ConcurrentHashMap<>();
    private final Map<InetSocketAddress, StreamHandler> embedded = new ConcurrentHashMap<>();
    private final java.util.List<Channel> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final boolean passthroughUnknown;
    /**
     * The proxy's own ports (ztunnel's {@code illegal_ports}, src/config.rs): 15008, 15006, 15001 and
     * 15080 always, plus every port our listeners actually bound and what {@link #addOwnPort} adds.
     */
    private final Set<Integer> ownPorts = ConcurrentHashMap.newKeySet();
    private volatile HboneServer server;
    private final HttpEnforcement http;
    /** The CONNECT {@link #resolve} just handed to L7 enforcement; the authorizer, called next on this thread, defers to it. */
    private final ThreadLocal<InetSocketAddress> l7Connect = new ThreadLocal<>();

    private Mesh(Builder b) {
        this.ownsProvider = b.provider == null;
        this.provider = b.provider != null ? b.provider : InMemoryCa.create(b.trustDomain);
        if (ownsProvider) {
            log.warn("no identity provider configured: using an in-memory CA for {} (development only)", b.trustDomain);
        }
        this.tls = MeshTls.builder(provider).build();
        this.policy = b.policy;
        this.registry = b.registry != null ? b.registry : WorkloadRegistry.empty();
        this.identity = b.identity != null ? b.identity : provider.defaultIdentity().orElse(null);
        this.node = b.node;
        this.inbound = b.inbound;
        this.inboundTransparent = b.inboundTransparent;
        IoHandlerFactory io = Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.group = new MultiThreadIoEventLoopGroup(b.threads, new DefaultThreadFactory("zerohop", true), io);
        TunnelObserver.Sink sink = b.meterRegistry == null ? null : new MicrometerSink(b.meterRegistry);
        this.observer = new TunnelObserver(registry, sink, b.onTunnelClosed);
        group.next().scheduleAtFixedRate(refusals::flush, 10, 10, TimeUnit.SECONDS);
        this.live = new LiveAuthorization(this::liveDecision, observer::lateDenied);
        if (sink != null) {
            long every = b.metricsInterval.toNanos();
            group.next().scheduleAtFixedRate(observer::flush, every, every, TimeUnit.NANOSECONDS);
        }
        this.maxStreamsPerConnection = b.maxStreamsPerConnection;
        this.idleTimeout = b.idleTimeout;
        this.drain = b.drain;
        this.passthroughUnknown = b.passthroughUnknown;
        ownPorts.addAll(Set.of(15008, 15006, 15001, 15080));
        this.http = new HttpEnforcement(policy, group, b.meterRegistry, a -> registry.byAddress(a).map(Workload::ref).orElse(null), 5_000);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Starts the inbound listener, if one was configured. */
    public CompletableFuture<Mesh> start() {
        awaitIdentities();
        if (inbound == null) {
            listenersReady.run();
            return CompletableFuture.completedFuture(this);
        }
        HboneServer s = HboneServer.builder()
                .tls(tls)
                .bind(inbound)
                .transparent(inboundTransparent)
                .eventLoopGroup(group)
                .identitySelector(this::selectIdentity)
                .destinations(this::resolve)
                .authorizer(authorizer())
                .listener(new FanOut(observer, live, tunnels))
                .build();
        this.server = s;
        if (policy != null) {
            // ztunnel's PolicyWatcher: every policy change re-decides the open inbound tunnels.
            policyChanges = policy.addChangeListener(set -> live.reauthorize());
        }
        return s.start().thenApply(x -> {
            addOwnPort(s.localAddress().getPort());
            listenersReady.run();
            return this;
        });
    }

    /** Readiness waits until the SVIDs of the identities this mesh serves are issued. */
    private void awaitIdentities() {
        Set<SpiffeId> ids = servedIdentities();
        if (ids.isEmpty()) {
            return;
        }
        Runnable done = readiness.register("identity");
        CompletableFuture.allOf(ids.stream().map(provider::svid).toArray(CompletableFuture[]::new)).whenComplete((x, e) -> {
            if (e == null) {
                done.run();
            } else {
                log.warn("identity not ready: {}", e.toString());
            }
        });
    }

    /** This process's own identity and those of the registry workloads it serves. */
    private Set<SpiffeId> servedIdentities() {
        Set<SpiffeId> ids = new java.util.LinkedHashSet<>();
        if (identity != null) {
            ids.add(identity);
        }
        for (Workload w : registry.all()) {
            if (w.protocol() == Workload.Protocol.HBONE && isLocal(w)) {
                ids.add(w.identity());
            }
        }
        return ids;
    }

    /**
     * Registers a task readiness waits for (e.g. {@code "policies"} until the first load, as
     * ztunnel's {@code Ready::register_task}); run the result once it is done.
     */
    public Runnable readinessTask(String task) {
        return readiness.register(Objects.requireNonNull(task, "task"));
    }

    /**
     * ztunnel's {@code /healthz/ready}: 200 {@code ready}, or 500 {@code not ready, pending: ...}
     * while identity, listeners or registered tasks are pending (and {@code draining} once shutdown
     * began).
     */
    public HttpEndpoint.Handler readinessHandler() {
        return readiness::answer;
    }

    /**
     * The admin {@code /config_dump} as JSON: workloads, policies, certificates (state, serial,
     * expiry), client pools, open tunnels, own ports, readiness; {@code extra} entries are added at the
     * top level (e.g. the last policy reload result, which the policy's owner knows).
     */
    public String configDump(Map<String, Object> extra) throws Exception {
        return ConfigDump.render(registry.all(), policy, provider, servedIdentities(), Map.copyOf(clients), tunnels.open(),
                ownPorts, readiness.pending(), extra);
    }

    /**
     * Binds a small HTTP/1.1 server for the proxy's own endpoints (admin, metrics, readiness) on this
     * mesh's event loops; handlers run on one admin thread. Its port joins {@link #ownPorts()}; it
     * closes after the drain.
     */
    public InetSocketAddress serveHttp(InetSocketAddress bind, Map<String, HttpEndpoint.Handler> routes) throws InterruptedException {
        java.util.concurrent.ExecutorService ex;
        synchronized (httpServers) {
            ex = httpExecutor;
            if (ex == null) {
                ex = java.util.concurrent.Executors.newSingleThreadExecutor(new DefaultThreadFactory("zerohop-admin", true));
                httpExecutor = ex;
            }
        }
        Channel ch = HttpEndpointServer.bind(group, bind, routes, ex);
        httpServers.add(ch);
        InetSocketAddress local = (InetSocketAddress) ch.localAddress();
        addOwnPort(local.getPort());
        return local;
    }

    /** The HBONE listener's bound address (after {@link #start()}), or null without inbound. */
    public InetSocketAddress inboundAddress() {
        HboneServer s = server;
        return s == null ? null : s.localAddress();
    }

    public WorkloadRegistry workloads() {
        return registry;
    }

    public Optional<PolicyEngine> policy() {
        return Optional.ofNullable(policy);
    }

    public MeshTls tls() {
        return tls;
    }

    /** The identity this process presents by default (the embedded app's own), if any. */
    public Optional<SpiffeId> identity() {
        return Optional.ofNullable(identity);
    }

    // ---- outbound ----

    /** A tunnel to {@code target} as this process's own identity. */
    public CompletableFuture<HboneStream> connect(InetSocketAddress target) {
        return connect(requireIdentity(), target);
    }

    /** A tunnel to a registry workload, as {@code source} (node proxies act for many sources). */
    public CompletableFuture<HboneStream> connect(SpiffeId source, InetSocketAddress target) {
        Route route;
        try {
            route = route(target);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        return connect(source, target, route);
    }

    /** A tunnel along an explicit route (for destinations outside the registry). */
    public CompletableFuture<HboneStream> connect(SpiffeId source, InetSocketAddress target, Route route) {
        Route r = withDefaultHeaders(source, route, null);
        return client(source).connect(target, r.expectedIdentities(), r.hboneAddress(), r.headers());
    }

    /**
     * ztunnel's default CONNECT headers (baggage of the source workload, traceparent, and for a
     * captured app {@code forwarded: for=}), under the route's own. See {@link OutboundHeaders}.
     */
    private Route withDefaultHeaders(SpiffeId source, Route route, InetSocketAddress client) {
        Baggage baggage = null;
        for (Workload w : registry.all()) {
            if (w.identity().equals(source) && isLocal(w)) {
                baggage = Baggage.of(w);
                break;
            }
        }
        return new Route(route.hboneAddress(), route.expectedIdentities(),
                OutboundHeaders.withDefaults(route.headers(), baggage, client, null));
    }

    /**
     * Where a registry workload is reached: its HBONE endpoint and identity.
     *
     * @throws UnknownDestinationException when the registry does not know the address or the
     *                                     workload is not in the mesh (plaintext)
     */
    public Route route(InetSocketAddress target) {
        Workload w = registry.byAddress(target.getAddress()).orElseThrow(() -> new UnknownDestinationException(
                "destination " + Addresses.authority(target) + " is not a known mesh workload; its identity cannot be verified"
                        + " (add it to the workload registry or pass an explicit Route)"));
        if (w.protocol() != Workload.Protocol.HBONE) {
            throw new UnknownDestinationException("destination " + w + " (" + Addresses.authority(target)
                    + ") is a plaintext workload, not reachable over HBONE");
        }
        return new Route(registry.hboneAddress(w, target.getAddress()), w.identity());
    }

    /** Sockets that tunnel through HBONE: hand it to OkHttp, Apache HttpClient, JDBC drivers... */
    public SocketFactory socketFactory() {
        return socketFactory(requireIdentity());
    }

    public SocketFactory socketFactory(SpiffeId source) {
        return client(source).socketFactory(t -> withDefaultHeaders(source, route(t), null));
    }

    private HboneClient client(SpiffeId source) {
        return clients.computeIfAbsent(source, id -> HboneClient.builder()
                .tls(tls)
                .identity(id)
                .eventLoopGroup(group)
                .listener(new FanOut(observer, tunnels))
                .maxStreamsPerConnection(maxStreamsPerConnection)
                .idleTimeout(idleTimeout)
                .build());
    }

    private SpiffeId requireIdentity() {
        if (identity == null) {
            throw new IllegalStateException("this mesh has no default identity: pass a source identity, "
                    + "or configure Mesh.builder().identity(...) or a single-workload identity provider");
        }
        return identity;
    }

    // ---- node proxy: capture listeners ----

    /**
     * Binds an outbound capture listener: connections it accepts are tunnelled as the identity of
     * the source workload (looked up by source IP; the mesh's own identity when the source is not
     * a registry workload). Returns the bound address; the listener closes with the mesh.
     */
    public InetSocketAddress capture(Capture capture) throws InterruptedException {
        Channel ch = CaptureListener.bind(group, capture, this::openOutbound);
        listeners.add(ch);
        addOwnPort(((InetSocketAddress) ch.localAddress()).getPort());
        return (InetSocketAddress) ch.localAddress();
    }

    /**
     * Declares a port of a listener this proxy runs besides the mesh's own (admin, metrics,
     * readiness): HBONE CONNECTs to it get 503 and captured connections to it are dropped, as
     * ztunnel treats its {@code illegal_ports}.
     */
    public void addOwnPort(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port must be 1-65535, got " + port);
        }
        ownPorts.add(port);
    }

    /** The proxy's own ports right now (see {@link #addOwnPort}). */
    public Set<Integer> ownPorts() {
        return Set.copyOf(ownPorts);
    }

    private CompletableFuture<Relay.End> openOutbound(InetSocketAddress source, InetSocketAddress target) {
        // ztunnel's outbound drops a loopback destination on one of its own ports (src/proxy/outbound.rs
        // proxy_to, Error::SelfCall). We also drop this host's own addresses: our capture listeners
        // bind them, so a connection straight to the listener would otherwise be relayed to itself.
        if (ownPorts.contains(target.getPort()) && hostHas(target.getAddress())) {
            refusals.warn("self call {} -> {} dropped: one of this proxy's own ports", Addresses.authority(source),
                    Addresses.authority(target));
            return CompletableFuture.failedFuture(new IllegalStateException("self call: " + Addresses.authority(target)
                    + " is one of this proxy's own ports, dropped"));
        }
        SpiffeId src = registry.byAddress(source.getAddress()).filter(this::isLocal).map(Workload::identity).orElse(identity);
        if (src == null) {
            return CompletableFuture.failedFuture(new IllegalStateException("source " + Addresses.authority(source)
                    + " is not a workload of this node and the proxy has no identity of its own"));
        }
        Route route;
        try {
            route = route(target);
        } catch (UnknownDestinationException e) {
            if (passthroughUnknown && registry.byAddress(target.getAddress()).isEmpty()
                    || registry.byAddress(target.getAddress()).map(w -> w.protocol() == Workload.Protocol.TCP).orElse(false)) {
                log.debug("passthrough {} -> {}: {}", source, target, e.getMessage());
                return CaptureListener.connectTcp(group, target)
                        .thenApply(end -> observer.plain(end, "passthrough", false, source, target, null));
            }
            return CompletableFuture.failedFuture(e);
        }
        // The captured app's address travels as `Forwarded: for=` (ztunnel's build_forwarded): both
        // access-log lines then name the app beside the proxy's socket. Policy never reads it.
        return connect(src, target, withDefaultHeaders(src, route, source)).thenApply(Relay::tunnel);
    }

    /**
     * Binds a listener for plaintext arriving at this node's workloads (ztunnel's 15006): a
     * workload whose PeerAuthentication is STRICT refuses it (TCP reset); otherwise the policy
     * decides with no peer identity, and allowed connections are relayed to the workload. Use
     * {@link Capture#transparent} behind TPROXY, or {@link Capture#forward} for one workload port.
     */
    public InetSocketAddress plaintextInbound(Capture capture) throws InterruptedException {
        if (capture.mode() == Capture.Mode.SOCKS5) {
            throw new IllegalArgumentException("plaintext inbound takes TRANSPARENT or FORWARD capture, not SOCKS5");
        }
        Channel ch = CaptureListener.bind(group, capture, this::openPlaintextInbound);
        listeners.add(ch);
        addOwnPort(((InetSocketAddress) ch.localAddress()).getPort());
        return (InetSocketAddress) ch.localAddress();
    }

    private CompletableFuture<Relay.End> openPlaintextInbound(InetSocketAddress source, InetSocketAddress target) {
        // ztunnel's inbound_passthrough.rs: any destination port of its own is an illegal call.
        if (ownPorts.contains(target.getPort())) {
            refusals.warn("self call {} -> {} dropped: one of this proxy's own ports", Addresses.authority(source),
                    Addresses.authority(target));
            return CompletableFuture.failedFuture(new IllegalStateException("self call: " + Addresses.authority(target)
                    + " is one of this proxy's own ports, dropped"));
        }
        Workload w = registry.byAddress(target.getAddress()).filter(this::isLocal).orElse(null);
        if (w == null) {
            return CompletableFuture.failedFuture(new IllegalStateException("plaintext to " + Addresses.authority(target)
                    + ": not a workload of this node"));
        }
        AppProtocol proto = w.appProtocol(target.getPort());
        boolean l7 = http.enforces(w.ref(), proto, target.getPort());
        MtlsMode mode = mtlsMode(w, target.getPort());
        if (!mode.allowsPlaintext()) {
            refusals.warn("plaintext {} -> {} ({}) refused: PeerAuthentication {} requires mTLS", Addresses.authority(source),
                    Addresses.authority(target), w.identity(), mode);
            return CompletableFuture.failedFuture(new IllegalStateException("PeerAuthentication " + mode + " for " + w
                    + " port " + target.getPort() + " refuses plaintext"));
        }
        if (policy != null && !l7) {
            Decision d = policy.evaluate(AccessRequest.builder().sourceAddress(source.getAddress())
                    .destinationAddress(target.getAddress()).destinationPort(target.getPort()).destination(w.ref())
                    .sourceWorkload(registry.byAddress(source.getAddress()).map(Workload::ref).orElse(null)).build());
            if (!d.allowed()) {
                refusals.warn("plaintext {} -> {} ({}) denied: {}", Addresses.authority(source), Addresses.authority(target),
                        w.identity(), d.explain());
                return CompletableFuture.failedFuture(new IllegalStateException(d.explain()));
            }
        }
        return CaptureListener.connectTcp(group, target).thenApply(end -> l7
                ? http.plaintext(end, source, target, w.ref(), w.identity(), proto)
                : observer.plain(end, "plaintext-inbound", true, source, target, w.identity()));
    }

    // ---- inbound ----

    /**
     * Tunnels whose CONNECT target is {@code destination} are handed to {@code handler} in-process
     * (after authorization) instead of being proxied to a TCP port.
     */
    public void serve(InetSocketAddress destination, StreamHandler handler) {
        embedded.put(Objects.requireNonNull(destination), Objects.requireNonNull(handler));
    }

    /** The effective PeerAuthentication mode for plaintext arriving at {@code w}:{@code port}. */
    public MtlsMode mtlsMode(Workload w, int port) {
        return policy == null ? MtlsMode.PERMISSIVE : policy.mtlsMode(w.ref(), port);
    }

    private SpiffeId selectIdentity(InetSocketAddress local) {
        Optional<Workload> w = registry.byAddress(local.getAddress());
        if (w.isPresent() && isLocal(w.get())) {
            return w.get().identity();
        }
        return identity;
    }

    /**
     * Whether {@code w} runs here. A node proxy knows its node's name. Without one (embedded, single
     * host) a workload is ours when one of its addresses is this host's: a replica elsewhere that
     * shares the identity is never proxied to (ztunnel only serves the local pod IPs).
     */
    private boolean isLocal(Workload w) {
        if (node != null) {
            return node.equals(w.node());
        }
        for (java.net.InetAddress a : w.addresses()) {
            if (hostHas(a)) {
                return true;
            }
        }
        return false;
    }

    /** Host addresses as first seen (an interface lookup per address, then cached). */
    private final ConcurrentHashMap<java.net.InetAddress, Boolean> hostAddresses = new ConcurrentHashMap<>();

    private boolean hostHas(java.net.InetAddress a) {
        return hostAddresses.computeIfAbsent(a, x -> {
            if (x.isLoopbackAddress() || x.isAnyLocalAddress()) {
                return true;
            }
            try {
                return java.net.NetworkInterface.getByInetAddress(x) != null;
            } catch (java.net.SocketException e) {
                return false;
            }
        });
    }

    private static final Decision DECIDED_PER_REQUEST = Decision.allowNoPolicy(
            "decided per HTTP request: every request meets the policies in force");

    /**
     * What keeps an open inbound tunnel after a policy change. On a port declared http, http2 or
     * grpc that has HTTP rules, each request is decided on its own against the current policies, so
     * the tunnel stays (an L4 verdict would close every tunnel whose ALLOW rules name HTTP fields).
     * An {@code auto} port may have fallen back to opaque bytes, so it is re-decided at L4: that can
     * close a parsed tunnel (the client reconnects), never keep a denied one open.
     */
    private Decision liveDecision(TunnelInfo t) {
        InetSocketAddress dst = t.destination();
        Optional<Workload> w = registry.byAddress(dst.getAddress());
        AppProtocol proto = w.map(x -> x.appProtocol(dst.getPort())).orElse(AppProtocol.AUTO);
        WorkloadRef ref = w.map(Workload::ref).orElseGet(() -> refOf(t.localIdentity()));
        if (proto != AppProtocol.AUTO && http.enforces(ref, proto, dst.getPort())) {
            return DECIDED_PER_REQUEST;
        }
        return policy.evaluate(accessRequest(new AuthzRequest(t.peerIdentity(), t.peerAddress(), t.localIdentity(),
                dst, t.headers())));
    }

    private Destination resolve(InetSocketAddress dst, SpiffeId localIdentity, InetSocketAddress local) {
        l7Connect.remove();
        StreamHandler h = embedded.get(dst);
        if (h != null) {
            Optional<Workload> ew = registry.byAddress(dst.getAddress());
            WorkloadRef ref = ew.map(Workload::ref).orElseGet(() -> refOf(localIdentity));
            AppProtocol proto = ew.map(x -> x.appProtocol(dst.getPort())).orElse(AppProtocol.AUTO);
            if (http.enforces(ref, proto, dst.getPort())) {
                l7Connect.set(dst);
                return Destination.embedded(http.embedded(h, ref, proto));
            }
            return Destination.embedded(h);
        }
        Workload w = registry.byAddress(dst.getAddress()).orElse(null);
        if (w == null || !isLocal(w)) {
            return Destination.notServed();
        }
        if (!w.identity().equals(localIdentity)) {
            // The client verified the identity we presented; tunnelling it to another workload would
            // let it reach something it never authenticated.
            return Destination.refuse(400, "destination " + w + " is " + w.identity() + ", but this connection presented " + localIdentity);
        }
        if (ownPorts.contains(dst.getPort())) {
            // ztunnel's inbound.rs find_inbound_upstream: `cfg.illegal_ports.contains(&dest.port())`
            // is Error::SelfCall, answered 503 (SERVICE_UNAVAILABLE), after the 400 checks.
            return Destination.refuse(503, "self call: port " + dst.getPort() + " is one of this proxy's own ports");
        }
        AppProtocol proto = w.appProtocol(dst.getPort());
        if (http.enforces(w.ref(), proto, dst.getPort())) {
            l7Connect.set(dst);
            return Destination.embedded(http.proxy(dst, w.ref(), proto));
        }
        return Destination.proxy(dst);
    }

    private Authorizer authorizer() {
        if (policy == null) {
            return Authorizer.allowAll();
        }
        return r -> {
            if (r.destination().equals(l7Connect.get())) {
                // An HTTP port with HTTP rules: every request is decided instead (README "L7 enforcement").
                l7Connect.remove();
                return AuthzDecision.allow();
            }
            Decision d = policy.evaluate(accessRequest(r));
            if (d.allowed()) {
                return AuthzDecision.allow();
            }
            refusals.warn("denied {} -> {} ({}): {}", r.peer(), Addresses.authority(r.destination()), r.localIdentity(), d.explain());
            return AuthzDecision.deny(d.explain());
        };
    }

    private AccessRequest accessRequest(AuthzRequest r) {
        WorkloadRef dst = registry.byAddress(r.destination().getAddress()).map(Workload::ref)
                .orElseGet(() -> refOf(r.localIdentity()));
        WorkloadRef src = registry.byAddress(r.peerAddress().getAddress()).map(Workload::ref).orElse(null);
        return AccessRequest.builder()
                .sourcePrincipal(r.peer().toString())
                .sourceAddress(r.peerAddress().getAddress())
                .destinationAddress(r.destination().getAddress())
                .destinationPort(r.destination().getPort())
                .destination(dst)
                .sourceWorkload(src)
                .build();
    }

    /** A workload known only by its identity: namespace and service account from the SPIFFE ID. */
    private static WorkloadRef refOf(SpiffeId id) {
        String sa = SpiffeIds.serviceAccount(id).orElse("default");
        return new WorkloadRef(SpiffeIds.namespace(id).orElse("default"), sa, sa, Map.of());
    }

    // ---- lifecycle ----

    /**
     * Drains, as ztunnel does on SIGTERM: stops accepting (HBONE and capture listeners), sends GOAWAY
     * on every HBONE connection so peers open no new tunnels here, lets open tunnels (both
     * directions) finish until the drain deadline, then resets those still open and closes. Logs the
     * start and the outcome. Completes when everything is closed.
     */
    public CompletableFuture<Void> shutdown() {
        readiness.register("draining");
        log.info("draining for up to {} ms: listeners closed, GOAWAY on every HBONE connection, {} tunnels open",
                drain.toMillis(), tunnels.open());
        HboneServer s = server;
        AutoCloseable changes = policyChanges;
        if (changes != null) {
            try {
                changes.close();
            } catch (Exception e) {
                log.debug("policy change listener close failed", e);
            }
        }
        listeners.forEach(Channel::close);
        CompletableFuture<Integer> left = tunnels.awaitIdle(drain, Duration.ofSeconds(2), group.next());
        // The server's own deadline comes later, so that it finds the tunnels already aborted (its
        // connections then close as soon as their last stream has gone).
        CompletableFuture<Void> serverDrained = s == null ? CompletableFuture.completedFuture(null)
                : s.shutdownGracefully(drain.plusSeconds(3));
        left.thenAccept(n -> {
            if (n == 0) {
                log.info("drained: every tunnel finished");
            } else {
                log.warn("drain deadline of {} ms reached: resetting {} tunnels still open", drain.toMillis(), n);
            }
        });
        CompletableFuture<Void> drained = CompletableFuture.allOf(serverDrained, left);
        return drained.whenComplete((x, e) -> {
            httpServers.forEach(Channel::close);
            java.util.concurrent.ExecutorService ex = httpExecutor;
            if (ex != null) {
                ex.shutdownNow();
            }
            clients.values().forEach(HboneClient::close);
            tls.close();
            if (ownsProvider) {
                provider.close();
            }
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        });
    }

    @Override
    public void close() {
        shutdown().orTimeout(drain.toMillis() + 8_000, TimeUnit.MILLISECONDS).exceptionally(e -> null).join();
    }

    /** The destination is not in the registry (or not in the mesh), so its identity is unknown. */
    public static final class UnknownDestinationException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        public UnknownDestinationException(String message) {
            super(message);
        }
    }

    public static final class Builder {
        private String trustDomain = "cluster.local";
        private IdentityProvider provider;
        private SpiffeId identity;
        private PolicyEngine policy;
        private WorkloadRegistry registry;
        private String node;
        private InetSocketAddress inbound;
        private boolean inboundTransparent;
        private io.micrometer.core.instrument.MeterRegistry meterRegistry;
        private Consumer<io.zerohop.hbone.TunnelResult> onTunnelClosed;
        private int threads = Math.max(2, Runtime.getRuntime().availableProcessors());
        private int maxStreamsPerConnection = 100;
        private Duration idleTimeout = Duration.ofMinutes(5);
        private Duration drain = Duration.ofSeconds(10);
        private Duration metricsInterval = Duration.ofSeconds(5);
        private boolean passthroughUnknown;

        private Builder() {}

        public Builder trustDomain(String td) {
            SpiffeIds.parse("spiffe://" + td); // validates, naming the input
            this.trustDomain = td;
            return this;
        }

        public Builder identityProvider(IdentityProvider p) {
            this.provider = Objects.requireNonNull(p);
            return this;
        }

        /** The identity this process presents (embedded apps); default: the provider's. */
        public Builder identity(SpiffeId id) {
            this.identity = id;
            return this;
        }

        /** Authorization; without one every authenticated peer is allowed (Istio with no policy). */
        public Builder policies(PolicyEngine engine) {
            this.policy = engine;
            return this;
        }

        public Builder workloads(WorkloadRegistry r) {
            this.registry = r;
            return this;
        }

        /** Node proxies: serve inbound only for workloads on this node. */
        public Builder node(String name) {
            this.node = name;
            return this;
        }

        /** Bind an HBONE listener (ztunnel: {@code :15008}); none by default. */
        public Builder inbound(InetSocketAddress address) {
            this.inbound = address;
            return this;
        }

        /**
         * Node proxies in the host network namespace: make the HBONE listener {@code IP_TRANSPARENT}
         * (default false) so that a TPROXY rule can deliver tunnels peers dial to a local pod's
         * {@code POD_IP:15008} (ztunnel listens in each pod's namespace instead). The SVID presented
         * is the one of the workload at the dialled address, as without it. Linux epoll and
         * CAP_NET_ADMIN only: {@link Mesh#start()} fails otherwise. See
         * {@link io.zerohop.hbone.HboneServer.Builder#transparent(boolean)}.
         */
        public Builder inboundTransparent(boolean on) {
            this.inboundTransparent = on;
            return this;
        }

        /**
         * ztunnel's {@code istio_tcp_*} metrics into {@code registry} (null: no metrics). Micrometer is
         * an optional dependency of mesh-core: callers of this method have it; a mesh built without
         * it never loads a Micrometer class.
         */
        public Builder meterRegistry(io.micrometer.core.instrument.MeterRegistry registry) {
            this.meterRegistry = registry;
            return this;
        }

        /** Called once per closed tunnel (after metrics and the access log). */
        public Builder onTunnelClosed(Consumer<io.zerohop.hbone.TunnelResult> c) {
            this.onTunnelClosed = c;
            return this;
        }

        public Builder threads(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("threads must be >= 1, got " + n);
            }
            this.threads = n;
            return this;
        }

        public Builder maxStreamsPerConnection(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxStreamsPerConnection must be >= 1, got " + n);
            }
            this.maxStreamsPerConnection = n;
            return this;
        }

        public Builder idleTimeout(Duration d) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("idleTimeout must be positive, got " + d);
            }
            this.idleTimeout = d;
            return this;
        }

        /** How long {@link Mesh#shutdown()} lets open tunnels finish. */
        /**
         * How often open tunnels' bytes are added to the byte counters (with a meter registry);
         * default 5 s, so counters grow while long tunnels run. The rest is added at close.
         */
        public Builder metricsInterval(Duration d) {
            if (d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException("metricsInterval must be positive, got " + d);
            }
            this.metricsInterval = d;
            return this;
        }

        public Builder drain(Duration d) {
            if (d.isNegative()) {
                throw new IllegalArgumentException("drain must not be negative, got " + d);
            }
            this.drain = d;
            return this;
        }

        /**
         * Capture listeners relay destinations the registry does not know as plain TCP (ztunnel's
         * passthrough) instead of refusing them. Off by default: unknown means unauthenticated.
         */
        public Builder passthroughUnknown(boolean on) {
            this.passthroughUnknown = on;
            return this;
        }

        public Mesh build() {
            return new Mesh(this);
        }
    }
}
