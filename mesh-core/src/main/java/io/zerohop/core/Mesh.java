package io.zerohop.core;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.internal.MeshConfig;
import io.zerohop.core.internal.MeshRuntime;
import io.zerohop.core.internal.MeshSettings;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import javax.net.SocketFactory;

/**
 * The mesh for one process: identity + policy + HBONE transport, wired. A facade over its parts,
 * laid out as ztunnel's {@code src/proxy}: outbound routing and capture ({@code internal.Outbound},
 * ztunnel's {@code outbound.rs}), the HBONE server side ({@code internal.Inbound}, {@code inbound.rs}),
 * plaintext inbound ({@code internal.PlaintextInbound}, {@code inbound_passthrough.rs}) and the policy
 * adapter ({@code internal.PolicyAuthorizer}).
 *
 * <p>Outbound, {@link #connect} and {@link #socketFactory} look the destination up in the
 * {@link WorkloadRegistry}, expect its SPIFFE identity and dial its HBONE endpoint; destinations the
 * registry does not know are refused unless the caller passes a {@link Route}. Inbound, the HBONE
 * listener presents the SVID of the workload that was dialled, authorizes every CONNECT with the
 * {@link PolicyEngine} (ztunnel's 401 on deny), and delivers the stream to an in-process handler
 * ({@link #serve}) or to the workload's TCP port on this node.
 *
 * <p>Addresses are resolved IPs with ports (logged in {@code :authority} form, IPv6 in brackets);
 * durations are {@link Duration}s. Arguments are non-null unless a method says otherwise. Methods
 * are thread-safe. Returned futures may complete on an event-loop thread: never block in their
 * callbacks. Once {@link #shutdown()} or {@link #close()} was called, {@link #start()},
 * {@link #serve}, {@link #serveHttp}, {@link #capture}, {@link #plaintextInbound} and {@link #readinessTask} throw
 * {@link IllegalStateException} saying the mesh is closed, {@link #connect} returns a future failed at once with
 * one, and sockets of a {@link #socketFactory} (made before or after) throw a {@link java.net.SocketException}
 * saying so from their connect.
 */
public final class Mesh implements AutoCloseable {
    private final MeshConfig cfg;
    private final MeshRuntime runtime;
    /** The first {@link #start()}'s future; guarded by this. */
    private CompletableFuture<Mesh> started;

    private Mesh(MeshConfig cfg) {
        this.cfg = cfg;
        this.runtime = new MeshRuntime(cfg);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Starts the inbound listener, if one was configured; readiness then also waits for the SVIDs of
     * the identities this mesh serves. Completes with this mesh once bound, or exceptionally when
     * binding fails (e.g. the port is taken: an {@link java.io.IOException} naming the address, or
     * {@code inboundTransparent} without CAP_NET_ADMIN). Starts once: a later call returns the
     * first call's future (a second listener on port 0 would bind another port and never close).
     * After {@link #shutdown()} or {@link #close()} it throws {@link IllegalStateException}, started before or not.
     * Outbound calls ({@link #connect}, {@link #socketFactory}) do not need it: a mesh without inbound
     * can call out right after {@code build()}.
     */
    public CompletableFuture<Mesh> start() {
        // Closed first: a mesh started before its close returned its old, completed future here (a library-user pass).
        runtime.requireOpen("start");
        synchronized (this) {
            if (started == null) {
                started = runtime.start().thenApply(x -> this);
            }
            return started;
        }
    }

    /**
     * Registers a task readiness waits for (e.g. {@code "policies"} until the first load, as
     * ztunnel's {@code Ready::register_task}); run the result once it is done.
     *
     * @param task the name {@link #pendingReadiness()} lists until it is done; not null
     * @throws NullPointerException  naming {@code task} when it is null
     * @throws IllegalStateException once {@link #shutdown()} or {@link #close()} was called (a closed mesh never becomes
     *                               ready again, and the task showed up in its readiness answer next to {@code draining})
     */
    public Runnable readinessTask(String task) {
        Objects.requireNonNull(task, "task");
        runtime.requireOpen("readinessTask");
        return runtime.readiness().register(task);
    }

    /**
     * Completes the first time this mesh is ready: {@link #readinessHandler()} would answer 200 (no
     * identity, listener or registered task pending). Never completes while one stays pending, e.g.
     * an SVID the identity provider cannot issue; {@code pendingReadiness()} says which. Completes on
     * whichever thread finished the last task: do not block in its callbacks. Once {@link #shutdown()}
     * or {@link #close()} began before the mesh was ready, it completes exceptionally with an
     * {@link IllegalStateException} naming what was pending (it would never complete otherwise).
     */
    public CompletableFuture<Void> ready() {
        return runtime.readiness().firstReady();
    }

    /** What readiness still waits for right now ({@code identity}, {@code listeners}, registered tasks), sorted; empty when ready. */
    public Set<String> pendingReadiness() {
        return runtime.readiness().pending();
    }

    /**
     * ztunnel's {@code /healthz/ready}: 200 {@code ready}, or 500 {@code not ready, pending: ...}
     * while identity, listeners or registered tasks are pending (and {@code draining} once shutdown
     * began).
     */
    public HttpEndpoint.Handler readinessHandler() {
        return runtime.readiness()::answer;
    }

    /**
     * The admin {@code /config_dump} as JSON: workloads, policies, certificates (state, serial,
     * expiry), client pools, open tunnels, own ports, readiness; {@code extra} entries are added at the
     * top level (e.g. the last policy reload result, which the policy's owner knows). The certificates
     * are every one the provider lists ({@link io.zerohop.identity.IdentityProvider#certificateStates}; else those of the
     * identities served, by {@link io.zerohop.identity.IdentityProvider#certificateState}): building the dump
     * starts no certificate fetch, as ztunnel's dump only reads its SecretManager's state.
     *
     * @param extra entries to add; not null ({@link Map#of()} for none)
     * @throws NullPointerException naming {@code extra} when it is null
     */
    public String configDump(Map<String, Object> extra) throws Exception {
        return runtime.configDump(Objects.requireNonNull(extra, "extra"));
    }

    /**
     * Binds a small HTTP/1.1 server for the proxy's own endpoints (admin, metrics, readiness) on this
     * mesh's event loops; handlers run on one admin thread. Its port joins {@link #ownPorts()}; it
     * and the connections it accepted close after the drain. A response's
     * {@linkplain HttpEndpoint.Response#thenRun after-sent action} runs once the response is
     * written (admin {@code /quitquitquit} stops the proxy there). Returns the bound address.
     *
     * @param bind   where to listen: a resolved IP ({@code 0.0.0.0} for every address) and port (0: a free one,
     *               which the result names); not null
     * @param routes path to handler; not null
     * @throws NullPointerException     naming {@code bind} or {@code routes} when it is null
     * @throws IllegalArgumentException naming {@code bind} when it is unresolved (a host name)
     * @throws IllegalStateException    once the mesh is closed
     * @throws java.io.UncheckedIOException naming the address when it cannot bind ("cannot bind HTTP endpoint to
     *     127.0.0.1:15020: ..."), the kernel's error as its cause
     */
    public InetSocketAddress serveHttp(InetSocketAddress bind, Map<String, HttpEndpoint.Handler> routes) throws InterruptedException {
        return serveHttp(bind, routes, HttpEndpoint.Compression.NONE);
    }

    /**
     * As {@link #serveHttp(InetSocketAddress, Map)}, with the answers' bodies encoded as {@code compression} says:
     * {@link HttpEndpoint.Compression#NEGOTIATED} for a metrics endpoint, as ztunnel's {@code :15020} compresses
     * (the encoding runs on the admin thread, never on an event loop).
     *
     * @throws NullPointerException     naming {@code bind}, {@code routes} or {@code compression} when it is null
     * @throws IllegalArgumentException naming {@code bind} when it is unresolved (a host name)
     * @throws IllegalStateException    once the mesh is closed
     * @throws java.io.UncheckedIOException naming the address when it cannot bind ("cannot bind HTTP endpoint to
     *     127.0.0.1:15020: ..."), the kernel's error as its cause
     */
    public InetSocketAddress serveHttp(InetSocketAddress bind, Map<String, HttpEndpoint.Handler> routes,
                                       HttpEndpoint.Compression compression) throws InterruptedException {
        // Checked here: they failed inside the bind, with a JDK NullPointerException about an internal variable and an
        // UnresolvedAddressException with no message (a new-user pass).
        Objects.requireNonNull(bind, "bind");
        Objects.requireNonNull(routes, "routes");
        Objects.requireNonNull(compression, "compression");
        if (bind.isUnresolved()) {
            throw new IllegalArgumentException("serveHttp: bind " + bind.getHostString() + ":" + bind.getPort()
                    + " is unresolved: give an IP (0.0.0.0 for every address)");
        }
        runtime.requireOpen("serveHttp");
        return runtime.listeners().bindHttp(bind, routes, compression);
    }

    /**
     * The HBONE listener's bound address (after {@link #start()}), or null without inbound (or before start). After
     * {@link #close()} it is still the address the listener had, for a log line or a test; nothing listens there.
     */
    public InetSocketAddress inboundAddress() {
        return runtime.inboundAddress();
    }

    public WorkloadRegistry workloads() {
        return cfg.registry();
    }

    public Optional<PolicyEngine> policy() {
        return Optional.ofNullable(cfg.policy());
    }

    public MeshTls tls() {
        return runtime.tls();
    }

    /** The identity this process presents by default (the embedded app's own), if any. */
    public Optional<SpiffeId> identity() {
        return Optional.ofNullable(runtime.identity());
    }

    // ---- outbound ----

    /**
     * A tunnel to {@code target} as this process's own identity.
     *
     * @throws IllegalStateException when this mesh has no identity of its own
     * @throws IllegalArgumentException when {@code target} is unresolved (a host name): zerohop routes by workload IP
     */
    public CompletableFuture<HboneStream> connect(InetSocketAddress target) {
        resolved(target);
        return connect(runtime.requireIdentity(), target);
    }

    /**
     * {@code target}, checked: not null, and a resolved IP (zerohop routes by workload address; an unresolved one failed
     * the future with a JDK NullPointerException about an internal comparison, a new-user pass).
     */
    private static InetSocketAddress resolved(InetSocketAddress target) {
        Objects.requireNonNull(target, "target");
        if (target.isUnresolved()) {
            throw new IllegalArgumentException("target " + target.getHostString() + ":" + target.getPort() + " is unresolved: zerohop"
                    + " routes by workload IP address, so resolve it first (new InetSocketAddress(InetAddress.getByName(host), port))");
        }
        return target;
    }

    /**
     * A tunnel to a registry workload, as {@code source} (node proxies act for many sources). A {@code target} that is a
     * {@link Service} VIP ({@link WorkloadRegistry#serviceAt}) is resolved as ztunnel's outbound resolves it (istio/ztunnel
     * src/state.rs {@code find_upstream}): one endpoint picked ({@link WorkloadRegistry#pickEndpoint}), the tunnel opened
     * to it with its address and target port as the CONNECT target ({@code stream.info().destination()}), and
     * {@code forwarded: host=} the Service's hostname (ztunnel's {@code build_forwarded}; no {@code for=}, as this
     * process is the client itself), which the destination's metrics report as {@code destination_service}. The
     * future fails with {@link UnknownDestinationException} when {@link #route} does (for the endpoint), with one
     * saying "no healthy upstream" when a VIP's port is no service port or the Service has no endpoint with that port,
     * and with the transport's error (e.g. {@code HboneRefusedException} for a non-200 answer) when the tunnel
     * does not open. A target whose {@link Service#waypoint()} (a VIP) or {@link Workload#waypoint()} (a workload address,
     * unless {@code source} is that waypoint's local workload) is set goes through the waypoint as ztunnel sends it: to
     * the waypoint, its identity required, {@code target} the CONNECT target; one the registry cannot resolve fails with
     * an {@link UnknownDestinationException} saying "unknown waypoint", never sent direct (mesh-core README, "Waypoints").
     */
    public CompletableFuture<HboneStream> connect(SpiffeId source, InetSocketAddress target) {
        return runtime.outbound().connect(Objects.requireNonNull(source, "source"), resolved(target));
    }

    /**
     * A tunnel along an explicit route (for destinations outside the registry), with ztunnel's default
     * CONNECT headers ({@code baggage}, {@code traceparent}) under the route's own; the CONNECT target is the route's
     * {@link Route#target()} when it has one (a {@link #route} to a {@link Service} VIP), else {@code target}.
     */
    public CompletableFuture<HboneStream> connect(SpiffeId source, InetSocketAddress target, Route route) {
        return runtime.outbound().connect(Objects.requireNonNull(source, "source"), resolved(target),
                Objects.requireNonNull(route, "route"));
    }

    /**
     * Where a registry workload is reached: its HBONE endpoint and identity. For a {@link Service} VIP, one endpoint
     * picked as {@link #connect(SpiffeId, InetSocketAddress)} picks it (each call picks again), its HBONE endpoint and
     * identity, and its address on the target port as {@link Route#target()}, the CONNECT target (ztunnel's
     * {@code hbone_target_destination}); so {@link #socketFactory()} sockets reach a Service by its ClusterIP. Until
     * 5 December a VIP was refused here.
     *
     * <p>For a VIP the endpoint is picked among the Service's endpoints in the mesh ({@code protocol: HBONE}) only
     * ({@link WorkloadRegistry#pickMeshEndpoint}); a capture picks among all, as ztunnel, and relays a plaintext one as
     * plain TCP. A target with a waypoint is routed to it as {@link #connect(SpiffeId, InetSocketAddress)} says
     * ({@link Route#target()} the target itself).
     *
     * @throws UnknownDestinationException when the registry does not know the address, the
     *                                     workload is not in the mesh (plaintext), or the address is a {@link Service}
     *                                     VIP without a healthy upstream ("no healthy upstream": the port is no service
     *                                     port, no endpoint has it, or none of those is in the mesh), or the endpoint
     *                                     picked or the waypoint is a workload reached at a hostname looked up per
     *                                     connection (a Route is kept and reused: an address looked up into it would
     *                                     outlive its DNS answer; {@link #connect(SpiffeId, InetSocketAddress)} and
     *                                     socket factories reach it)
     * @throws IllegalArgumentException when {@code target} is unresolved (a host name)
     */
    public Route route(InetSocketAddress target) {
        return runtime.outbound().route(resolved(target));
    }

    /**
     * Sockets that tunnel through HBONE as this process's own identity: hand it to OkHttp, Apache HttpClient, JDBC
     * drivers... As {@link #socketFactory(SpiffeId)} otherwise.
     *
     * @throws IllegalStateException when this mesh has no identity of its own ({@link Builder#identity}, or a
     *                               single-workload provider's: an {@code InMemoryCa} alone gives none); use
     *                               {@link #socketFactory(SpiffeId)} then
     */
    public SocketFactory socketFactory() {
        return socketFactory(runtime.requireIdentity());
    }

    /**
     * Sockets that tunnel as {@code source}; connecting one to a destination {@link #route} does not
     * know throws a {@link java.net.ConnectException} (an {@code IOException}, as every user of a
     * {@link SocketFactory} expects) whose cause is its {@link UnknownDestinationException}, and never
     * dials in plaintext. A Service endpoint or waypoint reached at a workload's hostname (mesh-core README, "Endpoints
     * with a hostname") is looked up in the socket's {@code connect}, the calling thread waiting for the answer (never an
     * event loop's: such a connect is refused there); a failed lookup is a {@link java.net.ConnectException} with
     * ztunnel's {@code no ip addresses were resolved for workload} text.
     */
    public SocketFactory socketFactory(SpiffeId source) {
        return runtime.outbound().socketFactory(Objects.requireNonNull(source, "source"));
    }

    // ---- node proxy: capture listeners ----

    /**
     * Binds an outbound capture listener: connections it accepts are tunnelled as the identity of
     * the source workload (looked up by source IP; the mesh's own identity when the source is not
     * a registry workload). Returns the bound address; the listener closes with the mesh.
     *
     * @throws java.io.UncheckedIOException naming the address when it cannot bind (the port taken: "cannot bind capture
     *     listener to 127.0.0.1:15001: bind(..) failed with error(-98): Address already in use"), the kernel's error as
     *     its cause
     * @throws IllegalStateException once the mesh is closed
     */
    public InetSocketAddress capture(Capture capture) throws InterruptedException {
        Objects.requireNonNull(capture, "capture");
        runtime.requireOpen("capture");
        return runtime.listeners().bindCapture(capture, runtime.outbound(), false);
    }

    /**
     * Declares a port of a listener this proxy runs besides the mesh's own (admin, metrics,
     * readiness): HBONE CONNECTs to it get 503 and captured connections to it are dropped, as
     * ztunnel treats its {@code illegal_ports}.
     *
     * @throws IllegalArgumentException when {@code port} is not 1-65535
     * @throws IllegalStateException    when this mesh is closed (or closing): it has no listeners left to protect
     */
    public void addOwnPort(int port) {
        runtime.requireOpen("addOwnPort");
        runtime.ownPorts().add(port);
    }

    /**
     * The proxy's own ports right now (see {@link #addOwnPort}), an immutable sorted snapshot. It
     * includes the ports of listeners bound on port 0, which count as self calls only at their bound
     * address (a wildcard-bound one at every address of this host), not at every address as the
     * others do: an application elsewhere may have been given the same number.
     */
    public Set<Integer> ownPorts() {
        return runtime.ownPorts().snapshot();
    }

    /**
     * Binds a listener for plaintext arriving at this node's workloads (ztunnel's 15006): a
     * workload whose PeerAuthentication is STRICT refuses it (TCP reset); otherwise the policy
     * decides with no peer identity, and allowed connections are relayed to the workload. Use
     * {@link Capture#transparent} behind TPROXY, or {@link Capture#forward} for one workload port. With an
     * {@link Builder#inboundEndpoint} for that port, {@code Capture.forward(ip:port, ip:port)} listens on the very port
     * the application left for loopback, as a sidecar's redirect to its 15006 does: the endpoint is what a connection
     * is dialled at, so neither it nor the tunnels to {@code ip:port} are self calls.
     *
     * @throws IllegalArgumentException for a {@link Capture.Mode#SOCKS5} capture
     * @throws java.io.UncheckedIOException naming the address when it cannot bind, as {@link #capture}
     */
    public InetSocketAddress plaintextInbound(Capture capture) throws InterruptedException {
        Objects.requireNonNull(capture, "capture");
        runtime.requireOpen("plaintextInbound");
        if (capture.mode() == Capture.Mode.SOCKS5) {
            throw new IllegalArgumentException("plaintext inbound takes TRANSPARENT or FORWARD capture, not SOCKS5");
        }
        return runtime.listeners().bindCapture(capture, runtime.plaintext(), true);
    }

    // ---- inbound ----

    /**
     * Tunnels whose CONNECT target is {@code destination} are handed to {@code handler} in-process
     * (after authorization) instead of being proxied to a TCP port. Callable before or after
     * {@link #start()}; a later call for the same destination replaces its handler (tunnels already
     * delivered stay with the old one). The handler stays the caller's: closing the mesh ends its
     * tunnels but does not close the handler (an {@code HboneServerSocket}'s {@code accept()} keeps
     * waiting until the caller closes it).
     *
     * @param destination the exact IP and port callers name (their CONNECT {@code :authority}); port 1-65535
     * @param handler     not null
     * @throws NullPointerException     naming {@code destination} or {@code handler} when it is null
     * @throws IllegalArgumentException when {@code destination} is unresolved: a CONNECT names an IP
     *                                  literal, so a host name would never match and tunnels to the
     *                                  address would be proxied to TCP instead; when its port is 0, which
     *                                  is no port a peer can dial, so no tunnel would ever reach the handler; or when
     *                                  it is a wildcard ({@code 0.0.0.0}, {@code ::}), multicast or broadcast address,
     *                                  which no CONNECT names
     * @throws IllegalStateException    once the mesh is closed
     */
    public void serve(InetSocketAddress destination, StreamHandler handler) {
        runtime.requireOpen("serve");
        if (Objects.requireNonNull(destination, "destination").isUnresolved()) {
            throw new IllegalArgumentException("serve needs a resolved IP and port, got unresolved " + destination);
        }
        if (destination.getPort() == 0) {
            // Not a bind: the handler serves what peers dial, and nobody dials port 0 (a new-user pass: it was accepted).
            throw new IllegalArgumentException("serve: destination " + Addresses.authority(destination)
                    + " has port 0, which no peer can dial: give the port callers connect to");
        }
        if (destination.getAddress().isAnyLocalAddress()) {
            // Java's "port 8080 on any address" (new InetSocketAddress(8080)): a CONNECT names one IP, so no tunnel ever
            // matched it, and tunnels to the workload's IP went to whatever plaintext listener held the port (a new-user pass).
            throw new IllegalArgumentException("serve: destination " + Addresses.authority(destination) + " is a wildcard"
                    + " address, which no CONNECT names: give the workload's IP callers connect to (a serve call per address)");
        }
        io.zerohop.core.internal.InboundEndpoints.requireUnicast("serve: destination", destination);
        runtime.inbound().serve(destination, Objects.requireNonNull(handler, "handler"));
        if (runtime.started()) {
            runtime.warnServedWithoutInbound();
        }
    }

    /**
     * The effective PeerAuthentication mode for plaintext arriving at {@code workload}:{@code port}.
     *
     * @param workload not null
     * @throws NullPointerException naming {@code workload} when it is null (the answer was PERMISSIVE without a
     *                              policy engine: a null must never read as a mode that lets plaintext in)
     */
    public MtlsMode mtlsMode(Workload workload, int port) {
        return runtime.plaintext().mtlsMode(Objects.requireNonNull(workload, "workload"), port);
    }

    // ---- lifecycle ----

    /**
     * Drains, as ztunnel does on SIGTERM: stops accepting (HBONE and capture listeners), sends GOAWAY
     * on every HBONE connection so peers open no new tunnels here, lets open tunnels (both
     * directions) finish until the drain deadline, then resets those still open and closes. Logs the
     * start and the outcome. Completes when everything is closed, the event loops included. A
     * second call starts nothing and returns (a copy of) the first call's future. A drain that fails part-way is
     * logged (ERROR) and everything is closed at once instead: the future still completes once the loops ended.
     */
    public CompletableFuture<Void> shutdown() {
        return runtime.shutdown();
    }

    /**
     * {@link #shutdown()} and wait for it, at most the drain plus 8 s, then for the access lines still
     * queued for standard output ({@link LogOutput#flush}, at most 1 s); never throws: whatever fails inside is logged,
     * and the listeners and event loops are stopped all the same. On a Netty event
     * loop thread (a callback of this mesh or of any other Netty code) it starts the shutdown and
     * returns without waiting, as {@code HboneClient.close()} does: the drain needs the loops, maybe
     * that one, so waiting there held it for the whole bound.
     */
    @Override
    public void close() {
        try {
            CompletableFuture<Void> done = shutdown();
            if (io.netty.util.internal.ThreadExecutorMap.currentExecutor() != null) {
                return;
            }
            // The builder bounds the drain (Builder#drain), so this cannot overflow; saturated all the same, as close()
            // must not throw where it waits.
            long wait = cfg.drain().compareTo(MAX_CLOSE_WAIT) > 0 ? Long.MAX_VALUE : cfg.drain().toMillis() + 8_000;
            done.orTimeout(wait, TimeUnit.MILLISECONDS).exceptionally(e -> null).join();
        } catch (RuntimeException e) {
            // shutdown() stops what a failed drain left running; nothing here is worth an exception to a closer.
            org.slf4j.LoggerFactory.getLogger(Mesh.class).warn("close: {}", e.toString(), e);
        }
        LogOutput.flush(LogOutput.STOP_FLUSH);
    }

    /** A drain longer than this waits without a bound in {@link #close()} (its millis plus 8 s would overflow). */
    private static final Duration MAX_CLOSE_WAIT = Duration.ofMillis(Long.MAX_VALUE - 8_000);

    /** The destination is not in the registry (or not in the mesh), so its identity is unknown. */
    public static final class UnknownDestinationException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        public UnknownDestinationException(String message) {
            super(message);
        }
    }

    /**
     * Settings of a {@link Mesh}; every setter validates at once and names what is wrong
     * ({@link IllegalArgumentException}; defaults and checks live in {@code internal.MeshSettings}). Setters that take an object accept null only where they
     * say so. Not thread-safe.
     */
    public static final class Builder {
        private final MeshSettings settings = new MeshSettings();

        private Builder() {}

        /**
         * The mesh's trust domain, istiod's {@code meshConfig.trustDomain}; default {@code cluster.local}. It is the
         * trust domain of the fallback in-memory CA used when no {@link #identityProvider} is set, and, once set (or
         * {@link #trustDomainAliases} is), {@link #build()} gives it with the aliases to the {@link #policies} engine
         * ({@link PolicyEngine#trustDomains(String, java.util.List)}): at L7 an AuthorizationPolicy principal
         * {@code TD/ns/N/sa/S} whose {@code TD} is this trust domain, an alias or {@code cluster.local} matches the same
         * {@code ns/N/sa/S} in each of them, as istiod rewrites it for a sidecar or waypoint
         * (pilot/pkg/security/trustdomain/bundle.go); at L4 principals match as written, as at ztunnel.
         *
         * <p>With an {@link #identityProvider} of another trust domain (an {@code InMemoryCa}'s, or a single-identity
         * provider's SVID's), {@link #build()} logs a WARN naming both: no SVID of this trust domain can be issued or
         * accepted (as {@code zerohop proxy} warns for its workloads and CA).
         *
         * @throws IllegalArgumentException when {@code td} is not a valid SPIFFE trust domain, naming it
         */
        public Builder trustDomain(String td) {
            settings.trustDomain(td);
            return this;
        }

        /**
         * The mesh's trust domain aliases, istiod's {@code meshConfig.trustDomainAliases} (trust domains the mesh
         * treats as its own, e.g. the one it migrates from); default none. See {@link #trustDomain}: {@link #build()}
         * gives them to the policy engine. {@link #build()} throws {@link IllegalArgumentException} when that engine's
         * trust domains were set to others (its builder's, another mesh's).
         *
         * @param aliases not null; each a SPIFFE trust domain name, e.g. {@code old-td}
         * @throws IllegalArgumentException naming the first alias that is not a valid SPIFFE trust domain
         */
        public Builder trustDomainAliases(java.util.List<String> aliases) {
            settings.trustDomainAliases(aliases);
            return this;
        }

        /**
         * Source of SVIDs and bundles; not closed by the mesh. Default: an in-memory CA for
         * {@link #trustDomain}, with a WARN "development only".
         */
        public Builder identityProvider(IdentityProvider p) {
            settings.identityProvider(p);
            return this;
        }

        /**
         * The identity this process presents (embedded apps); null or unset: the provider's default, if
         * any. {@link #build()} throws {@link IllegalArgumentException} when the provider refuses it at
         * once (another trust domain than its CA's, another identity than its PEM files').
         */
        public Builder identity(SpiffeId id) {
            settings.identity(id);
            return this;
        }

        /**
         * Authorization. Unset: every authenticated peer is allowed (Istio with no policy), every mode PERMISSIVE; to
         * say so explicitly, give an engine of {@link io.zerohop.policy.PolicySet#empty()}.
         *
         * @param engine not null: a null (a field not yet set, a lookup that found nothing) would allow every peer
         *               without a word, so it fails here, as {@link #identityProvider} does for its argument
         * @throws NullPointerException naming {@code policies} when {@code engine} is null
         */
        public Builder policies(PolicyEngine engine) {
            settings.policies(Objects.requireNonNull(engine, "policies: null engine (leave policies unset to allow every"
                    + " authenticated peer)"));
            return this;
        }

        /** Address to workload, node to HBONE address; null or unset: {@link WorkloadRegistry#empty()}. */
        public Builder workloads(WorkloadRegistry r) {
            settings.workloads(r);
            return this;
        }

        /**
         * Node proxies: only workloads whose {@code node} is {@code name} are local (served inbound,
         * sources of captured traffic). Null or unset: the workloads with an address of this host.
         * {@link #start()} logs a WARN when the registry has workloads and none is on {@code name} (a
         * misspelt node serves nothing).
         *
         * @throws IllegalArgumentException when {@code name} is blank
         */
        public Builder node(String name) {
            settings.node(name);
            return this;
        }

        /**
         * Bind an HBONE listener (ztunnel: {@code :15008}; port 0: a free port, see
         * {@link Mesh#inboundAddress()}); null or unset: none, outbound only.
         *
         * @param address an IP of this host, or the wildcard ({@code 0.0.0.0}, {@code ::}) for every address; null: none
         * @throws IllegalArgumentException when {@code address} is unresolved, or a multicast or the broadcast
         *     ({@code 255.255.255.255}) address, which no peer can dial (the same check as {@link #inboundEndpoint}'s)
         */
        public Builder inbound(InetSocketAddress address) {
            settings.inbound(address);
            return this;
        }
        /**
         * Node proxies in the host network namespace: make the HBONE listener {@code IP_TRANSPARENT}
         * (default false) so that a TPROXY rule can deliver tunnels peers dial to a local pod's
         * {@code POD_IP:15008} (ztunnel listens in each pod's namespace instead). The SVID presented
         * is the one of the workload at the dialled address, as without it. Linux epoll and
         * CAP_NET_ADMIN only: {@link Mesh#start()} fails otherwise. See
         * {@link io.zerohop.hbone.HboneServer.Builder#transparent(boolean)}. With it {@link #build()} refuses a
         * loopback {@link #inboundEndpoint} endpoint: in the host's network namespace that is the host's loopback.
         */
        public Builder inboundTransparent(boolean on) {
            settings.inboundTransparent(on);
            return this;
        }

        /**
         * Delivers inbound connections to the workload address {@code target} (an {@code ip:port} peers dial over
         * HBONE, and plaintext inbound's destination) to {@code endpoint} instead, the socket the application binds,
         * e.g. {@code inboundEndpoint(10.0.1.2:8080, 127.0.0.1:8080)}: Istio's {@code Sidecar.ingress[].defaultEndpoint}
         * for a sidecar. Policy, logs and metrics still name {@code target}; L7 enforcement dials {@code endpoint} too.
         * Without an entry a connection is dialled at the address it names, as ztunnel's (istio/ztunnel
         * src/proxy/inbound.rs {@code build_inbound_request}).
         *
         * <p>Why: ztunnel refuses plaintext to a PeerAuthentication STRICT workload because the CNI redirects every
         * inbound connection of the pod to it (src/proxy/inbound_passthrough.rs). An application that embeds this mesh
         * and binds the workload address itself can be reached there in plaintext, which zerohop never sees; bound to
         * loopback only, with this entry, it is reachable from other hosts through the mesh only. {@link Mesh#start()}
         * logs a WARN when a STRICT workload is served without one (README "Enforcement").
         *
         * <p>Several calls add several entries; the same entry twice is one. {@link #build()} logs one WARN per
         * {@code target} that no workload of the {@link #workloads registry} has then (a typo in the address); not an
         * error, as the registry may gain it later.
         *
         * <p>With {@link #inboundTransparent} the mesh runs in the host's network namespace for other pods, where a
         * loopback address is the host's, not the workload's: {@link #build()} refuses a loopback {@code endpoint}
         * then; another address works with it.
         *
         * @param target   the workload's {@code ip:port}, an IP literal (not a wildcard, multicast or broadcast address)
         *                 and a port 1..65535; not null
         * @param endpoint where the application listens, same rules, not {@code target} and not the HBONE listener
         *                 ({@link #inbound}; checked by {@link #build()}); not null
         * @throws NullPointerException     when either is null
         * @throws IllegalArgumentException naming the argument and its value when either is unresolved, a wildcard
         *     ({@code 0.0.0.0}, {@code ::}), multicast or broadcast ({@code 255.255.255.255}) address or has port 0,
         *     when they are equal, or when {@code target} already has another endpoint
         */
        public Builder inboundEndpoint(InetSocketAddress target, InetSocketAddress endpoint) {
            settings.inboundEndpoint(target, endpoint);
            return this;
        }

        /**
         * ztunnel's {@code istio_tcp_*} metrics into {@code registry} (null: no metrics). Micrometer is
         * an optional dependency of mesh-core: callers of this method have it; a mesh built without
         * it never loads a Micrometer class.
         */
        public Builder meterRegistry(io.micrometer.core.instrument.MeterRegistry registry) {
            settings.meterRegistry(registry);
            return this;
        }

        /**
         * Called once per closed tunnel (after metrics and the access log), on an event loop; null: none. Only a tunnel
         * that opened (its CONNECT answered 200, inbound or outbound) is closed: a CONNECT denied by policy (401, 403),
         * refused (400, 503) or that failed to open gets no call, and shows in the metrics
         * ({@code istio_tcp_connections_failed_total}) and the access log instead, as ztunnel counts it. Never
         * block in it. An exception it throws is logged (WARN, logger {@code io.zerohop.core.internal.TunnelObserver},
         * naming {@code onTunnelClosed}; at most 20 lines per 10 s) and otherwise ignored: the tunnel is still
         * closed, counted and forgotten by the mesh (the drain does not wait for it, a policy update does not
         * re-decide it).
         */
        public Builder onTunnelClosed(Consumer<TunnelResult> c) {
            settings.onTunnelClosed(c);
            return this;
        }

        /**
         * Threads of the one event loop group shared by every listener and client; default max(2, processors).
         *
         * @throws IllegalArgumentException when {@code n} is not 1-1024
         */
        public Builder threads(int n) {
            settings.threads(n);
            return this;
        }

        /**
         * The IP this mesh's HBONE connections are dialled from (bound, any port), as {@code HboneClient.Builder.localAddress}
         * and ztunnel's {@code freebind_connect}; null (the default): the kernel picks it from the route. Give the workload's
         * own address when this host has several: the destination's proxy finds the caller's registry workload by the
         * connection's source address (its labels for a Cilium {@code fromEndpoints}, its address for {@code ipBlocks} and
         * {@code source.ip}), and a connection from another address of the host names no workload, so such rules deny it (a
         * new-user pass: an embedded client at 127.0.82.53 dialled from 127.0.0.1 and got 401). An address this host does not
         * have fails each dial ("Cannot assign requested address").
         *
         * @param address a unicast IP of this host, or null
         * @throws IllegalArgumentException when it is a wildcard or multicast address
         */
        public Builder localAddress(java.net.InetAddress address) {
            settings.localAddress(address);
            return this;
        }

        /**
         * The DNS servers a workload's {@link Workload#hostname()} is looked up in, when a connection is sent to it (ztunnel's
         * on-demand DNS of a ServiceEntry's host: {@code resolve_on_demand_dns}), asked in order; none given (the default):
         * the servers of the system's {@code /etc/resolv.conf}, as ztunnel's {@code read_system_conf}. Its search domains,
         * {@code ndots} and {@code /etc/hosts} apply either way. The lookup never blocks an event loop (Netty's DNS resolver).
         *
         * @throws IllegalArgumentException when one is unresolved, a wildcard address, or port 0
         */
        public Builder dnsServers(java.net.InetSocketAddress... servers) {
            settings.dnsServers(servers == null ? null : java.util.Arrays.asList(servers));
            return this;
        }

        /**
         * HBONE's HTTP/2 receive windows and {@code SETTINGS_MAX_FRAME_SIZE}, for the listener and every client, as ztunnel's
         * {@code HTTP2_STREAM_WINDOW_SIZE}, {@code HTTP2_CONNECTION_WINDOW_SIZE} and {@code HTTP2_FRAME_SIZE} set both its
         * h2 server and client (istio/ztunnel src/proxy/h2/server.rs, client.rs); defaults 4 MiB, 16 MiB and 1 MiB, ztunnel's.
         * The connection window granted grows to one stream window per admitted stream, as without this call
         * ({@code HboneServer.Builder.connectionWindow}).
         *
         * @throws IllegalArgumentException naming {@code http2} when a window is below 65535 bytes, the frame size outside
         *     16384-16777215 (RFC 9113 6.5.2), or the stream window above the mesh's unread-bytes budget per peer (a quarter
         *     of Netty's direct memory, at least 8 MiB), which one tunnel may always fill
         */
        public Builder http2(int streamWindow, int connectionWindow, int maxFrameSize) {
            settings.http2(streamWindow, connectionWindow, maxFrameSize);
            return this;
        }

        /**
         * TCP keepalive of every socket the mesh dials (HBONE connections, the workload's and passthrough dials) and of
         * the connections its listeners accept (capture and plaintext-inbound ones but SOCKS5's, as ztunnel's
         * {@code Listener::accept}; the HBONE listener's, which ztunnel leaves alone), as ztunnel's {@code KEEPALIVE_*} and
         * {@code USER_TIMEOUT_ENABLED} set its sockets (src/proxy.rs {@code setup_socket}); default
         * {@link io.zerohop.hbone.TcpKeepalive#DEFAULT}
         * (on, 180 s idle, the kernel's interval and probe count).
         *
         * @throws NullPointerException naming {@code tcpKeepalive} when {@code k} is null
         */
        public Builder tcpKeepalive(io.zerohop.hbone.TcpKeepalive k) {
            settings.tcpKeepalive(k);
            return this;
        }

        /** Streams (tunnels) per pooled HBONE connection of each client; default 100. */
        public Builder maxStreamsPerConnection(int n) {
            settings.maxStreamsPerConnection(n);
            return this;
        }

        /**
         * How long an unused pooled client connection stays open; default 5 min (ztunnel's pool). {@link Duration#ZERO}
         * disables it, as {@code HboneClient.Builder.idleTimeout} takes it: a pooled connection then stays until the
         * peer, a failed keepalive, its source identity's SVID being withdrawn (the workload left the node) or
         * {@link Mesh#close()} ends it.
         *
         * @param d zero or positive, at most 36500 days (100 years); not null
         * @throws IllegalArgumentException naming {@code idleTimeout} when {@code d} is negative or longer than
         *     36500 days: refused, not clamped (nothing promises a clamp, and past about 292 years it cannot be held in
         *     nanoseconds: {@link Mesh#connect} threw {@link ArithmeticException})
         */
        public Builder idleTimeout(Duration d) {
            settings.idleTimeout(d);
            return this;
        }

        /**
         * How often open tunnels' bytes are added to the byte counters (with a meter registry);
         * default 5 s, so counters grow while long tunnels run. The rest is added at close.
         *
         * @param d positive, at most 36500 days (100 years); not null
         * @throws IllegalArgumentException naming {@code metricsInterval} when {@code d} is zero, negative or longer
         *     than 36500 days: refused, not clamped (past about 292 years it cannot be held in nanoseconds, and
         *     {@link #build()} threw {@link ArithmeticException})
         */
        public Builder metricsInterval(Duration d) {
            settings.metricsInterval(d);
            return this;
        }

        /**
         * How long {@link Mesh#shutdown()} lets open tunnels finish; default 10 s, zero allowed. In a zerohop-testing
         * {@code @ZerohopTest} class the default is zero (system property {@code io.zerohop.test.drain}).
         *
         * @param d zero or positive, at most 36500 days (100 years); not null
         * @throws IllegalArgumentException naming {@code drain} when {@code d} is negative or longer than 36500 days:
         *     refused, not clamped ({@code ChronoUnit.FOREVER}'s duration cannot be held in the nanoseconds the drain
         *     deadline runs in; {@link Mesh#close()} threw {@link ArithmeticException} with it)
         */
        public Builder drain(Duration d) {
            settings.drain(d);
            return this;
        }

        /**
         * Capture listeners relay destinations the registry does not know as plain TCP (ztunnel's
         * passthrough) instead of refusing them. Off by default: unknown means unauthenticated.
         */
        public Builder passthroughUnknown(boolean on) {
            settings.passthroughUnknown(on);
            return this;
        }

        /**
         * Whether HTTP/1.0 requests are accepted where requests are parsed (L7 enforcement), as Envoy's
         * {@code accept_http_10}, which istiod sets on a proxy when {@code PILOT_HTTP10} is on ({@link #pilotHttp10})
         * or the proxy's {@code ISTIO_META_HTTP10} metadata is {@code "1"} (istio/istio pilot/pkg/networking/core,
         * {@code enableHTTP10}); this is the metadata's switch. Default off, as Istio's. Off, every request line whose
         * version is not HTTP/1.1 gets 426 and a close. On, an HTTP/1.0 request (any {@code HTTP/}DIGIT{@code .}DIGIT
         * but 1.1) is decided as any other and forwarded as HTTP/1.1; its response goes back as HTTP/1.0 without
         * chunking, the connection closed after it unless the client sent {@code Connection: keep-alive} and the
         * response has a {@code content-length}; one without {@code Host} (and HTTP/0.9, which has no headers) gets
         * 400, as Envoy with {@code default_host_for_http_10} unset, which istiod never sets. On an {@code auto} port
         * it changes nothing: without {@link #pilotHttp10} an HTTP/1.0 client there is decided and relayed as TCP,
         * as Istio's filter-chain match sends {@code http/1.0} to the TCP chain. The {@code zerohop proxy} CLI reads
         * it from {@code ISTIO_META_HTTP10}.
         */
        public Builder acceptHttp10(boolean on) {
            settings.acceptHttp10(on);
            return this;
        }

        /**
         * istiod's {@code PILOT_HTTP10}: {@link #acceptHttp10} on, and, on {@code auto} ports, a request line with
         * another version than HTTP/1.1 (Envoy's {@code http_inspector} reports {@code http/1.0} for all of them)
         * parsed as HTTP, as istiod then lists {@code http/1.0} in the HTTP chain's match (istio/istio
         * pilot/pkg/networking/core/match/match.go {@code NewAppProtocol}, listener.go {@code plaintextHTTPALPNs}).
         * Default off: there such a connection is decided as one that cannot be parsed
         * ({@code PolicyEngine.evaluateUnparsed}) and relayed as bytes. The {@code zerohop proxy} CLI reads it
         * from {@code PILOT_HTTP10}.
         */
        public Builder pilotHttp10(boolean on) {
            settings.pilotHttp10(on);
            return this;
        }

        /**
         * The cluster of the registry's workloads that have no {@code topology.istio.io/cluster}
         * label, in the {@code source_cluster}/{@code destination_cluster} metric labels and the
         * {@code k8s.cluster.name} of the {@code baggage} this mesh sends; default {@code Kubernetes}.
         * ztunnel takes a workload's cluster from istiod, which gives its own cluster's workloads its
         * {@code CLUSTER_ID} (default {@code Kubernetes}), and reads an empty one as {@code Kubernetes}
         * (istio/ztunnel src/state/workload.rs); a peer outside the registry stays {@code unknown}.
         *
         * @throws IllegalArgumentException when {@code id} is empty or has white space, {@code ,},
         *     {@code ;} or {@code =} (which would break the {@code baggage} header)
         */
        public Builder clusterId(String id) {
            settings.clusterId(id);
            return this;
        }

        /**
         * Accept peers of other trust domains whose bundles the identity provider serves (SPIFFE federation:
         * {@code InMemoryCa.federate}, {@code PemFileIdentityProvider.Builder.federatedBundle}), inbound and outbound;
         * passed to {@link MeshTls.Builder#federation(boolean)}. Off by default, as there: a peer must belong to the
         * trust domain of the identity it talks to, even when the provider also carries federated bundles (a
         * federated bundle never silently widens access). Authorization still applies to a federated peer: its
         * identity is matched by policy principals as any other.
         */
        public Builder federation(boolean on) {
            settings.federation(on);
            return this;
        }

        /**
         * Enforce the certificate revocation lists in {@code path} on every mesh TLS connection, inbound and outbound, as
         * ztunnel with {@code CRL_PATH} set (istio/ztunnel {@code src/tls/crl.rs}): a peer whose leaf or intermediate a
         * CRL revokes fails its handshake, the file is reloaded when it changes (Kubernetes ConfigMap and Secret volume
         * swaps included), and live HBONE connections whose peer a reload revokes are closed. See
         * {@code io.zerohop.identity.CrlFile} for the file and the checks. A file missing at build is a warning (nothing
         * revoked until it appears, as ztunnel); one that does not parse fails {@link #build()}, naming it (ztunnel logs
         * and runs without CRLs: zerohop does not fail open). Null: none (the default).
         */
        public Builder crlPath(java.nio.file.Path path) {
            settings.crlPath(path);
            return this;
        }

        /**
         * ztunnel's {@code ENABLE_RESPONSE_BAGGAGE} ({@code enable_enhanced_baggage} in istio/ztunnel src/config.rs, on by
         * default, as here). On, the 200 answering a CONNECT to a registry workload carries that workload's {@code baggage}
         * (ztunnel's {@code build_response}), and an inbound CONNECT's {@code baggage} labels a source this mesh has no
         * workload for (metrics and access log: ztunnel's derived source). Off, the 200 is the status alone and such a
         * source is labelled from its SPIFFE ID only, as ztunnel's {@code test_build_response_baggage_feature_gate} and
         * {@code test_incoming_baggage_parsing_feature_gate} (src/proxy/inbound.rs) have it. The request baggage this mesh
         * sends is not switched, as ztunnel's outbound is not. The {@code zerohop proxy} CLI reads it from
         * {@code ENABLE_RESPONSE_BAGGAGE}.
         */
        public Builder responseBaggage(boolean on) {
            settings.responseBaggage(on);
            return this;
        }

        /**
         * Creates the TLS contexts and the event loop group; binds nothing (see {@link Mesh#start()}). A build that
         * fails part-way has released what it made (event loops, TLS contexts, listeners on the policy engine and
         * gauges on the meter registry) before it throws.
         *
         * @throws IllegalArgumentException when the identity provider refuses {@link #identity} at once, or the
         *     {@link #crlPath} file exists and does not parse as CRLs (the message names it and the CRL)
         */
        public Mesh build() {
            return new Mesh(settings.config());
        }
    }
}
