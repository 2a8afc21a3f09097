package io.zerohop.core.internal;

import io.netty.channel.EventLoopGroup;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.internal.Inspect;
import io.zerohop.hbone.internal.LatencyMode;
import io.zerohop.hbone.internal.LogText;
import io.zerohop.hbone.internal.LoopPoll;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.PolicyEngine;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a {@code Mesh} runs, as ztunnel's {@code Proxy} (src/proxy.rs) runs its inbound, inbound
 * passthrough and outbound parts: it builds the parts from a {@link MeshConfig} and the state they
 * share (event loops, {@link LocalWorkloads}, {@link OwnPorts}, metrics and access log, the open
 * tunnel count, readiness), starts the HBONE listener and drains everything at shutdown.
 */
public final class MeshRuntime {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.core.Mesh");

    private final RateLimitedLog refusals = new RateLimitedLog(log, "refusal (denied, self call, plaintext refused)",
            "refusals (denied, self calls, plaintext refused)", 20,
            Duration.ofSeconds(10));
    /**
     * Untrusted forwarded claims have their own budget: an allowed tunnel whose claim is not believed is no refusal, and in
     * the refusals' budget 20 such lines hid the next real denial's WARN and were summed up as "more refusals" (a day-2
     * pass, 5 December: 400 allowed tunnels, "380 more refusals ... not logged", none refused).
     */
    private final RateLimitedLog claims = new RateLimitedLog(log, "untrusted forwarded claim", "untrusted forwarded claims", 20,
            Duration.ofSeconds(10));
    private final MeshConfig cfg;
    private final IdentityProvider provider;
    private final boolean ownsProvider;
    private final MeshTls tls;
    /** The CRL file enforced on mesh TLS (Mesh.Builder.crlPath), or null; closed with the runtime. */
    private final io.zerohop.identity.CrlFile crl;
    private final WorkloadRegistry registry;
    private final SpiffeId identity;
    private final EventLoopGroup group;
    /** The group's polling strategy in latency mode ({@code zerohop.hbone.loopPollMicros}); null when off. */
    private final LoopPoll loopPoll;
    private final LocalWorkloads local;
    private final OwnPorts ownPorts = new OwnPorts();
    private final TunnelObserver observer;
    private final TunnelCount tunnels = new TunnelCount();
    private final LiveAuthorization live;
    private final Readiness readiness = new Readiness();
    private final Runnable listenersReady = readiness.register("listeners");
    /** Set by the first {@link #shutdown()}; every later call returns it. */
    private volatile CompletableFuture<Void> shutdown;
    private final Listeners listeners;
    private final Outbound outbound;
    private final Inbound inbound;
    private final PlaintextInbound plaintext;
    /** The HTTP/1 and HTTP/2 filters of parsed connections: told of the drain ({@link HttpEnforcement#drainConnections}). */
    private final HttpEnforcement http;
    private volatile HboneServer server;
    /** Fetches and retries the served identities' SVIDs; null before {@link #start()}. */
    private volatile CertFetcher certs;
    private volatile AutoCloseable policyChanges;
    /** Re-decides plaintext-inbound connections on a policy change; null without a policy engine. */
    private final AutoCloseable plaintextPolicyChanges;
    /**
     * The policies that select no workload of the registry, logged at each load as {@code zerohop proxy} logs them
     * ({@link io.zerohop.core.SelectorCheck}); null without an engine. Attached also to a registry empty at build: the
     * check skips an empty registry, and runs at the first load or replace after the registry gained workloads (a
     * registry that fills gradually, as Kubernetes discovery fills the proxy's, is the caller's to
     * {@link io.zerohop.core.SelectorCheck#disable}, as {@code zerohop proxy --kubernetes} does).
     */
    private final AutoCloseable selectorCheck;
    /** This mesh's sources of the socket gauges, which it leaves once stopped (a registry may outlive it). */
    private final java.util.List<AutoCloseable> socketGauges = new java.util.ArrayList<>(2);

    /**
     * @throws IllegalArgumentException when mesh-hbone's latency-mode property
     *     {@code zerohop.hbone.loopPollMicros} is malformed (read here, for the mesh's event loop group)
     */
    public MeshRuntime(MeshConfig cfg) {
        this.cfg = cfg;
        // Read first: a malformed value then fails the build before anything needs closing.
        long pollNanos = LatencyMode.pollNanos();
        this.ownsProvider = cfg.provider() == null;
        this.provider = ownsProvider ? InMemoryCa.create(cfg.trustDomain()) : cfg.provider();
        if (ownsProvider) {
            log.warn("no identity provider configured: using an in-memory CA for {} (development only)", cfg.trustDomain());
        }
        EventLoopGroup loops = null;
        java.util.List<AutoCloseable> made = new java.util.ArrayList<>();
        try {
            // Mesh.Builder.federation, passed through (off by default, as MeshTls's): without it a Mesh could not accept
            // the federated bundles its provider serves, and the handshake error named an option a Mesh user cannot reach.
            // Mesh.Builder.crlPath (ztunnel's CRL_PATH): read now, so a file that does not parse fails the build, naming it.
            this.crl = cfg.crlPath() == null ? null : io.zerohop.identity.CrlFile.load(cfg.crlPath());
            if (crl != null) {
                made.add(crl::close);
            }
            this.tls = MeshTls.builder(provider).federation(cfg.federation()).crl(crl).build();
            made.add(tls::close);
            if (crl != null && cfg.meterRegistry() != null) {
                io.micrometer.core.instrument.MeterRegistry reg = cfg.meterRegistry();
                // ztunnel's crl_policy_rejections (src/proxy/metrics.rs record_crl_rejection): handshakes refused and live
                // connections closed for a revoked certificate, by reporter, a series from its first count as ztunnel's.
                tls.onRevoked(role -> io.micrometer.core.instrument.Counter.builder("istio.crl.policy.rejections")
                        .description("The total number of connections rejected due to CRL certificate revocation (unstable).")
                        .tags("reporter", role == io.zerohop.identity.SvidVerifier.Purpose.CLIENT_AUTH ? "destination" : "source")
                        .register(reg).increment());
                // ztunnel's crl_untracked_connections (record_crl_untracked_connection, from RevocationIndex::register): a
                // connection MeshTls.closeWhenRevoked could not keep under the CRLs (its peer chain unreadable), so a reload
                // cannot close it. zerohop tracks every other connection, so this stays at no series on a healthy proxy; it
                // counts real events, as ztunnel's, never a constant (mesh-core README, "Metrics").
                tls.onUntracked(role -> io.micrometer.core.instrument.Counter.builder("istio.crl.untracked.connections")
                        .description("The total number of connections not tracked for CRL enforcement (unstable).")
                        .tags("reporter", role == io.zerohop.identity.SvidVerifier.Purpose.CLIENT_AUTH ? "destination" : "source")
                        .register(reg).increment());
            }
            this.registry = cfg.registry();
            this.identity = cfg.identity() != null ? cfg.identity() : provider.defaultIdentity().orElse(null);
            // mesh-hbone's group (epoll, else NIO) with its opt-in latency mode: the node proxy and an
            // embedded Mesh run every listener and client on this one group, and HboneClient and
            // HboneServer apply the mode only to groups they make themselves.
            this.loopPoll = pollNanos > 0 ? new LoopPoll(pollNanos) : null;
            loops = Transports.newGroup(cfg.threads(), "zerohop", loopPoll);
            this.group = loops;
            this.local = new LocalWorkloads(registry, cfg.node(), cfg.clusterId());
            cfg.inboundEndpoints().warnUnknownTargets(log, registry);
            MicrometerSink sink = cfg.meterRegistry() == null ? null : new MicrometerSink(cfg.meterRegistry());
            this.observer = new TunnelObserver(registry, sink, cfg.onTunnelClosed(), cfg.clusterId());
            observer.drainDeadline(tunnels::deadlinePassed);
            observer.readBaggage(cfg.responseBaggage());
            group.next().scheduleAtFixedRate(refusals::flush, 10, 10, TimeUnit.SECONDS);
            group.next().scheduleAtFixedRate(claims::flush, 10, 10, TimeUnit.SECONDS);
            if (sink != null) {
                long every = cfg.metricsInterval().toNanos();
                group.next().scheduleAtFixedRate(observer::flush, every, every, TimeUnit.NANOSECONDS);
            }
            PolicyEngine policy = cfg.policy();
            HttpEnforcement http = new HttpEnforcement(policy, group, cfg.meterRegistry(),
                    // No sniff timeout (0), as istiod's default MeshConfig protocolDetectionTimeout (0s since Istio 1.8,
                    // istio/istio pkg/config/mesh/mesh.go; Envoy's listener_filters_timeout 0 disables it): until 7 December
                    // 5 s, after which a silent client's connection was taken as not HTTP (Sniffer).
                    new TunnelSource(registry, claims, cfg.node(), local::hostHas), 0, cfg.clusterId());
            http.acceptHttp10(cfg.acceptHttp10());
            if (cfg.keepalive() != null) {
                http.tcpKeepalive(cfg.keepalive());
            }
            http.sniffHttp10(cfg.sniffHttp10());
            http.readBaggage(cfg.responseBaggage());
            http.reportDenials(new HttpEnforcement.Denials() {
                @Override
                public void tunnel(io.zerohop.hbone.TunnelInfo t, io.zerohop.policy.Decision d, String why) {
                    observer.denied(t, ZtunnelAccessLog.rejection(PolicyAuthorizer.rejection(d), d.explain()),
                            d.explain() + " (not parsed as HTTP: " + why + ")");
                }
            });
            http.logRefusals(refusals, observer::logsRefusals);
            this.http = http;
            PolicyAuthorizer authorizer = policy == null ? null : new PolicyAuthorizer(policy, registry, refusals, observer::logsRefusals,
                    new TunnelSource(registry, claims, cfg.node(), local::hostHas));
            this.listeners = new Listeners(group, ownPorts, tunnels, cfg.keepalive());
            this.outbound = new Outbound(tls, group, local, identity, ownPorts, cfg.passthroughUnknown(), new FanOut(observer, tunnels),
                    observer, refusals, cfg.maxStreamsPerConnection(), cfg.idleTimeout(), cfg.localAddress(), cfg.dnsServers(), cfg.http2(),
                    cfg.keepalive());
            this.inbound = new Inbound(local, identity, ownPorts, http, authorizer, cfg.inboundEndpoints());
            inbound.responseBaggage(cfg.responseBaggage());
            this.plaintext = new PlaintextInbound(local, ownPorts, policy, authorizer, http, observer, refusals, cfg.inboundEndpoints(),
                    cfg.keepalive());
            this.live = new LiveAuthorization(inbound::reauthorize, observer::lateDenied);
            // ztunnel's PolicyWatcher covers its plaintext passthrough too (inbound_passthrough.rs assert_rbac).
            UnparsedHttpRules unparsed = policy == null ? null : new UnparsedHttpRules(local, policy);
            this.plaintextPolicyChanges = policy == null ? null : policy.addChangeListener(set -> {
                plaintext.live().reauthorize();
                // Open HTTP/2 requests of both paths (HBONE inbound and plaintext): beyond ztunnel's PolicyWatcher, per request.
                http.redecideRequests();
                unparsed.check();
            });
            if (plaintextPolicyChanges != null) {
                made.add(plaintextPolicyChanges);
            }
            if (unparsed != null) {
                unparsed.check();
            }
            this.selectorCheck = policy == null ? null
                    : io.zerohop.core.SelectorCheck.attach(policy, registry, "the workload registry");
            if (selectorCheck != null) {
                made.add(selectorCheck);
            }
            if (sink != null) {
                socketGauges.add(sink.socketsOpen("source", () -> listeners.openSockets(false)));
                made.add(socketGauges.get(0));
                socketGauges.add(sink.socketsOpen("destination", () -> {
                    HboneServer s = server;
                    return listeners.openSockets(true) + (s == null ? 0 : s.openConnections());
                }));
                made.add(socketGauges.get(1));
            }
        } catch (RuntimeException | Error e) {
            // A build that fails part-way must not leave what it made: 50 failed builds (an ArithmeticException at
            // the metrics timer, a new-user pass) left 50 loop threads and ~300 fds, the group never closed.
            abandon(e, loops, made);
            throw e;
        }
    }

    /**
     * Releases what a failed constructor made: change listeners on the caller's policy engine and gauges on its meter
     * registry (newest first), the event loops (their threads end within {@link #LOOP_SHUTDOWN}, not waited for), the
     * TLS contexts and the fallback CA. A failure here is added to {@code cause} as suppressed: it must not hide why
     * the build failed.
     */
    private void abandon(Throwable cause, EventLoopGroup loops, java.util.List<AutoCloseable> made) {
        java.util.List<AutoCloseable> all = new java.util.ArrayList<>(made);
        java.util.Collections.reverse(all); // tls::close, added first, ends last
        if (loops != null) {
            all.add(all.size() - 1, () -> io.zerohop.hbone.internal.Transports.shutdown(loops, LOOP_SHUTDOWN.toMillis()));
        }
        if (ownsProvider) {
            all.add(provider::close);
        }
        for (AutoCloseable c : all) {
            try {
                c.close();
            } catch (Throwable t) {
                cause.addSuppressed(t);
            }
        }
    }

    /**
     * Binds the HBONE listener, if configured, and fetches the SVIDs of the identities the mesh serves
     * (its own and its local HBONE workloads'). Readiness ({@code identity}) waits until each of them
     * is fetched or no local workload has it any more; a failed fetch is retried on ztunnel's backoff
     * (1 s doubling to 150 s) until it succeeds ({@link CertFetcher}). ztunnel's readiness does not wait
     * for workload certificates (istio/ztunnel src/app.rs); zerohop's does, as its readiness says the
     * served workloads' connections will not fail for want of a certificate.
     */
    public CompletableFuture<Void> start() {
        requireOpen("start");
        String node = cfg.node();
        java.util.List<io.zerohop.core.Workload> all = cfg.registry().all();
        if (node != null && !all.isEmpty() && all.stream().noneMatch(w -> node.equals(w.node()))) {
            // A misspelt node serves nothing and captures nothing; its callers only see 400 "not served".
            java.util.List<String> nodes = all.stream().map(io.zerohop.core.Workload::node).filter(java.util.Objects::nonNull)
                    .distinct().sorted().limit(10).toList();
            // No node at all printed "(its workloads' nodes: [])", an empty list and no way out (as the CLI's same warning).
            log.warn("node \"{}\": no workload of the registry is on it, so this mesh serves none ({})", node, nodes.isEmpty()
                    ? "none of its workloads has a node: give each the node of the mesh that serves it, or leave node() unset to"
                    + " serve those whose address is on this host" : "its workloads' nodes: " + nodes);
        }
        Set<SpiffeId> started = local.servedIdentities(identity);
        io.netty.channel.EventLoop certLoop = group.next();
        CertFetcher certs = new CertFetcher(local, provider, identity, started, certLoop, this::whyServed);
        this.certs = certs;
        if (!started.isEmpty()) {
            certs.warmUp(readiness.register("identity"));
        }
        if (provider.defaultIdentity().isEmpty()) {
            certLoop.scheduleWithFixedDelay(() -> {
                try {
                    certs.check();
                    outbound.retireIdle(certs.held());
                } catch (RuntimeException e) {
                    log.warn("certificate prefetch check failed: {}", e.toString(), e);
                }
            }, 1, 1, TimeUnit.SECONDS);
        }
        if (cfg.inbound() == null) {
            warnServedWithoutInbound();
            listenersReady.run();
            return CompletableFuture.completedFuture(null);
        }
        HboneServer.Builder sb = HboneServer.builder();
        if (cfg.keepalive() != null) {
            sb.tcpKeepalive(cfg.keepalive());
        }
        if (cfg.http2() != null) {
            sb.streamWindow(cfg.http2().streamWindow()).connectionWindow(cfg.http2().connectionWindow()).maxFrameSize(cfg.http2().maxFrameSize());
        }
        HboneServer s = sb
                .tls(tls)
                .bind(cfg.inbound())
                .transparent(cfg.inboundTransparent())
                .eventLoopGroup(group)
                .identitySelector(inbound)
                .destinations(inbound)
                .authorizer(inbound)
                .listener(new FanOut(observer, live, tunnels))
                // Half of the unread-bytes room the server's default takes: the clients' inbound budget has the other half.
                .inboundBudget(Outbound.INBOUND_SHARE, Outbound.INBOUND_SHARE)
                .build();
        this.server = s;
        if (cfg.policy() != null) {
            // ztunnel's PolicyWatcher: every policy change re-decides the open inbound tunnels.
            StrictReachable strict = cfg.inboundTransparent() ? null : new StrictReachable(local, cfg.policy(), cfg.inboundEndpoints());
            policyChanges = cfg.policy().addChangeListener(set -> {
                live.reauthorize();
                if (strict != null) {
                    strict.check();
                }
            });
            if (strict != null) {
                strict.check();
            }
        }
        return s.start().thenRun(() -> {
            ownPorts.addListener(cfg.inbound(), s.localAddress(), cfg.inboundTransparent());
            listenersReady.run();
        });
    }

    /** Whether {@link #start()} has run. */
    public boolean started() {
        return certs != null;
    }

    /**
     * {@code serve(...)} handlers in a mesh without an HBONE listener ({@code Mesh.Builder.inbound}) can never get a tunnel:
     * said at {@link #start()} and at a later {@code serve}, where it was silent (a new-user pass).
     */
    public void warnServedWithoutInbound() {
        java.util.List<String> served = inbound.served();
        if (cfg.inbound() == null && !served.isEmpty()) {
            log.warn("serve({}): this mesh has no HBONE listener (Mesh.Builder.inbound), so no tunnel can reach the handler",
                    String.join(", ", served));
        }
    }

    /**
     * Why a single-identity provider (PEM files, SPIRE) was asked for another identity: a registry
     * workload with it has an address of this host (the mesh serves every local workload, as ztunnel
     * serves its node's pods), so readiness waits for an SVID that provider can never give.
     */
    private String whyServed(SpiffeId id) {
        if (provider.defaultIdentity().isEmpty() || id.equals(identity)) {
            return "";
        }
        for (io.zerohop.core.Workload w : registry.all()) {
            if (local.isLocal(w) && w.protocol() == io.zerohop.core.Workload.Protocol.HBONE && id.equals(w.identity())) {
                String where = cfg.node() != null ? "runs on node " + cfg.node()
                        : "has an address of this host (" + w.addresses().stream().map(java.net.InetAddress::getHostAddress)
                                .collect(java.util.stream.Collectors.joining(", ")) + ")";
                return " (the mesh serves registry workload " + w.namespace() + "/" + w.name() + " because it " + where
                        + ", and this identity provider holds only " + provider.defaultIdentity().get()
                        + ": give the mesh node(...) naming the node whose workloads it serves, use a node-mode provider"
                        + " (the Istio CA, an in-memory CA), or leave that workload out of the registry; readiness waits until then)";
            }
        }
        return "";
    }

    /**
     * ztunnel's drain (istio/ztunnel src/drain.rs {@code run_with_drain}): readiness says
     * {@code draining}, listeners stop accepting, GOAWAY on every HBONE connection, open tunnels and
     * accepted capture/plaintext connections get until the deadline, the rest are reset
     * ({@link TunnelCount}, which also resets whatever opens after the deadline); then everything
     * closes. Completes once the event loops have terminated, so that a process exiting right after
     * cannot end a socket the loops still held with a FIN: bounded by the drain plus
     * {@link #ABORT_GRACE}, up to 1 s more for the HBONE connections' lingering close after their
     * GOAWAY, up to {@link #LOOP_SHUTDOWN} for the HTTP endpoints and their connections to close,
     * plus the loops' {@link #LOOP_SHUTDOWN}, when every reset is delivered.
     */
    public CompletableFuture<Void> shutdown() {
        synchronized (this) {
            if (shutdown != null) {
                // A second close (try-with-resources around an explicitly closed mesh) waits for the first.
                return shutdown.copy();
            }
            shutdown = new CompletableFuture<>();
        }
        CompletableFuture<Void> drained;
        try {
            outbound.closing();
            drained = drain();
        } catch (RuntimeException | Error e) {
            // Mesh.close() never throws, and a drain that failed half-way (drain(FOREVER)'s ArithmeticException, a
            // new-user pass) left the mesh counted as closed with its HBONE listener accepting and its loops running.
            log.error("drain failed ({}): closing everything now", e.toString(), e);
            drained = closeNow();
        }
        drained.whenComplete((x, e) -> {
            for (AutoCloseable g : socketGauges) {
                try {
                    g.close();
                } catch (Exception ignored) {
                    // a set removal: nothing to fail
                }
            }
            shutdown.complete(null);
        });
        return shutdown.copy();
    }

    /** @throws IllegalStateException once {@link #shutdown()} was called, naming {@code what} was asked */
    public void requireOpen(String what) {
        if (shutdown != null) {
            throw new IllegalStateException(what + ": this mesh is closed (or closing)");
        }
    }

    private CompletableFuture<Void> drain() {
        readiness.register("draining");
        readiness.closing();
        Duration drain = cfg.drain();
        drainStart(log, drain, tunnels.open(), tunnels.connections());
        HboneServer s = server;
        for (AutoCloseable changes : new AutoCloseable[] {policyChanges, plaintextPolicyChanges, selectorCheck}) {
            if (changes != null) {
                try {
                    changes.close();
                } catch (Exception e) {
                    log.debug("policy change listener close failed", e);
                }
            }
        }
        listeners.stopAccepting();
        // Parsed HTTP/1 connections between requests end now, cleanly, and those with a request in progress after its
        // response (Envoy's connection manager drains a draining listener's connections: see Http1Filter.drain), rather
        // than waiting for the deadline's reset with nothing in progress.
        http.drainConnections();
        // The deadline's warning is logged before the resets it announces, whose access lines follow it.
        CompletableFuture<TunnelCount.Left> left = tunnels.awaitIdle(drain, ABORT_GRACE, group.next(), eventsUnderWay(group),
                deadlineWarning(log, drain));
        // The server's own deadline comes later, so that it finds the tunnels already aborted (its
        // connections then close as soon as their last stream has gone).
        CompletableFuture<Void> serverDrained = s == null ? CompletableFuture.completedFuture(null)
                : s.shutdownGracefully(drain.plus(ABORT_GRACE).plusSeconds(1));
        // "drained" follows the server's GOAWAY line, in the order things happen (listener closed,
        // connections told, then the tunnels finished), as ztunnel's drain logs its end once its
        // listeners stopped and its connections drained (src/drain.rs run_with_drain). With nothing
        // open the count reaches zero at once, before the GOAWAYs are out (a PING's round trip
        // later), and it logged first. The deadline's warning is not held: it says what is being
        // done at the deadline (logged above, before the resets).
        CompletableFuture<Void> goAwaySent = s == null ? CompletableFuture.completedFuture(null) : Inspect.goAwaySent(s);
        left.thenAccept(n -> {
            if (n.none()) {
                goAwaySent.thenRun(() -> log.info("drained: every tunnel finished"));
            }
        });
        CompletableFuture<Void> done = new CompletableFuture<>();
        CompletableFuture.allOf(serverDrained, left).whenComplete((x, e) -> {
            // The HTTP endpoints' connections (an admin client's keep-alive one) close before the loops
            // end: ending the loops alone once left such a connection open (HttpEndpointServerTest).
            // Bounded: a close that cannot complete must not hold the stop.
            // The pooled client connections too: a loop asked to stop with no quiet period from one of
            // its own tasks (this callback usually runs on a loop) ends without closing the channels
            // still registered on it (Netty 4.2.18 SingleThreadIoEventLoop.run calls prepareToDestroy
            // only in an iteration begun after the request, and confirmShutdown ends it at once), so
            // a connection in its lingering close kept its file descriptor for the process's life.
            CompletableFuture<Void> httpClosed = CompletableFuture.completedFuture(null);
            try {
                httpClosed = CompletableFuture.allOf(listeners.closeHttp(), outbound.close())
                        .completeOnTimeout(null, LOOP_SHUTDOWN.toMillis(), TimeUnit.MILLISECONDS);
                CertFetcher c = certs;
                if (c != null) {
                    c.close();
                }
                tls.close();
                if (crl != null) {
                    crl.close();
                }
                if (ownsProvider) {
                    provider.close();
                }
            } finally {
                // Every tunnel and accepted connection is reset by now (or is reset as it opens): what
                // the loops close as they stop is listeners and idle HBONE connections. Waiting for
                // the loops is what lets the caller exit without cutting anything else.
                httpClosed.whenComplete((y, f) -> io.zerohop.hbone.internal.Transports.shutdown(group, LOOP_SHUTDOWN.toMillis())
                        .addListener(g -> done.complete(null)));
            }
        });
        return done;
    }

    /**
     * What the drain ends with, without the drain: each step on its own, as any of them may be what failed. Listeners
     * stop at once and HBONE connections get no deadline (their tunnels are reset); completes once the loops ended.
     */
    private CompletableFuture<Void> closeNow() {
        java.util.List<AutoCloseable> steps = new java.util.ArrayList<>();
        for (AutoCloseable changes : new AutoCloseable[] {policyChanges, plaintextPolicyChanges, selectorCheck}) {
            if (changes != null) {
                steps.add(changes);
            }
        }
        steps.add(listeners::stopAccepting);
        HboneServer s = server;
        if (s != null) {
            steps.add(() -> s.shutdownGracefully(Duration.ZERO));
        }
        steps.add(listeners::closeHttp);
        steps.add(outbound::close);
        CertFetcher c = certs;
        if (c != null) {
            steps.add(c::close);
        }
        steps.add(tls::close);
        if (ownsProvider) {
            steps.add(provider::close);
        }
        for (AutoCloseable step : steps) {
            try {
                step.close();
            } catch (Throwable t) {
                log.warn("closing after a failed drain: {}", t.toString(), t);
            }
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            io.zerohop.hbone.internal.Transports.shutdown(group, LOOP_SHUTDOWN.toMillis()).addListener(g -> done.complete(null));
        } catch (Throwable t) {
            log.warn("closing after a failed drain: {}", t.toString(), t);
            done.complete(null);
        }
        return done;
    }

    /**
     * The INFO that starts the drain: {@code drain} in the largest unit that holds it exactly, as the CLI's
     * {@code draining for up to 10s} line ({@code --drain 60s} as {@code 1m}), counts with the noun that agrees
     * ({@code 1 tunnel open}).
     */
    static void drainStart(Logger log, Duration drain, long tunnels, long connections) {
        log.info("draining for up to {}: closing listeners, then GOAWAY on every HBONE connection; {} open, {}",
                LogText.duration(drain), LogText.count(tunnels, "tunnel", "tunnels"),
                LogText.count(connections, "captured or plaintext connection", "captured or plaintext connections"));
    }

    /**
     * The WARN that announces the resets at the drain deadline ({@link TunnelCount#awaitIdle}'s
     * {@code atDeadline}, called before anything is cut); {@code drain} the deadline, in the largest unit that holds it exactly.
     */
    static java.util.function.Consumer<TunnelCount.Left> deadlineWarning(Logger log, Duration drain) {
        return n -> log.warn("drain deadline of {} reached: resetting {} still open, {}", LogText.duration(drain),
                LogText.count(n.tunnels(), "tunnel", "tunnels"),
                LogText.count(n.connections(), "captured or plaintext connection", "captured or plaintext connections"));
    }

    /**
     * Completes once every loop of {@code group} has run a task queued now, so once every event-loop task under way
     * has finished: a tunnel's open event runs in the task that completed its connect's future, after it, so a caller
     * that closed the mesh as soon as the future completed did so before the tunnel was counted (TunnelCount).
     */
    static CompletableFuture<Void> eventsUnderWay(EventLoopGroup group) {
        java.util.List<CompletableFuture<Void>> all = new java.util.ArrayList<>();
        for (io.netty.util.concurrent.EventExecutor loop : group) {
            CompletableFuture<Void> ran = new CompletableFuture<>();
            try {
                loop.execute(() -> ran.complete(null));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                ran.complete(null); // a loop that stopped runs nothing more
            }
            all.add(ran);
        }
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
    }

    /** How long tunnels and connections reset at the deadline get to close. */
    static final Duration ABORT_GRACE = Duration.ofSeconds(2);
    /** The event loops' shutdown bound (no quiet period). */
    static final Duration LOOP_SHUTDOWN = Duration.ofSeconds(2);

    /** The admin {@code /config_dump} JSON. */
    public String configDump(Map<String, Object> extra) throws Exception {
        Map<String, Object> more = new java.util.LinkedHashMap<>();
        more.put("services", ConfigDump.services(registry));
        more.putAll(extra);
        return ConfigDump.render(registry.all(), cfg.policy(), provider, local.servedIdentities(identity), outbound.clients(),
                tunnels.open(), ownPorts.snapshot(), readiness.pending(), more);
    }

    /** The HBONE listener's bound address, or null before start or without inbound. */
    public InetSocketAddress inboundAddress() {
        HboneServer s = server;
        return s == null ? null : s.localAddress();
    }

    public MeshTls tls() {
        return tls;
    }

    /** The mesh's own identity, or null. */
    public SpiffeId identity() {
        return identity;
    }

    /** @throws IllegalStateException when this mesh has no identity of its own */
    public SpiffeId requireIdentity() {
        if (identity == null) {
            throw new IllegalStateException("this mesh has no default identity: pass a source identity, "
                    + "or configure Mesh.builder().identity(...) or a single-workload identity provider");
        }
        return identity;
    }

    /** The one event loop group of this mesh (tests). */
    EventLoopGroup eventLoopGroup() {
        return group;
    }

    /** Its loops' polling strategy in latency mode, null when the mode is off (tests). */
    LoopPoll loopPoll() {
        return loopPoll;
    }

    public Readiness readiness() {
        return readiness;
    }

    public OwnPorts ownPorts() {
        return ownPorts;
    }

    public Listeners listeners() {
        return listeners;
    }

    public Outbound outbound() {
        return outbound;
    }

    public Inbound inbound() {
        return inbound;
    }

    public PlaintextInbound plaintext() {
        return plaintext;
    }
}
