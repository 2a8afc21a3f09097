package io.zerohop.core.internal;

import io.micrometer.core.instrument.MeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.hbone.internal.DurationLimit;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyEngine;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The settings {@code Mesh.Builder} collects: their defaults and their validation (each setter
 * throws {@link IllegalArgumentException} naming the setting and the value), then the
 * {@link MeshConfig} they make. {@code Mesh.Builder} documents each; it only delegates here. Not
 * thread-safe.
 */
public final class MeshSettings {
    private String trustDomain = "cluster.local";
    private java.util.List<String> trustDomainAliases = java.util.List.of();
    /** trustDomain or trustDomainAliases was called: the policy engine gets them at {@link #config}. */
    private boolean trustDomainsSet;
    private IdentityProvider provider;
    private SpiffeId identity;
    private PolicyEngine policy;
    private WorkloadRegistry registry;
    private String node;
    private InetSocketAddress inbound;
    private boolean inboundTransparent;
    private final InboundEndpoints.Builder inboundEndpoints = new InboundEndpoints.Builder();
    private MeterRegistry meterRegistry;
    private Consumer<TunnelResult> onTunnelClosed;
    private int threads = Math.max(2, Runtime.getRuntime().availableProcessors());
    private int maxStreamsPerConnection = 100;
    private Duration idleTimeout = Duration.ofMinutes(5);
    private Duration drain = defaultDrain();
    private Duration metricsInterval = Duration.ofSeconds(5);
    private boolean passthroughUnknown;
    private String clusterId = TrafficLabels.DEFAULT_CLUSTER;
    private boolean acceptHttp10;
    private boolean pilotHttp10;
    private boolean federation;
    /** Null: the HBONE builders' defaults. */
    private io.zerohop.hbone.internal.H2Config http2;
    /** Null: the HBONE builders' default. */
    private io.zerohop.hbone.TcpKeepalive keepalive;

    public void trustDomain(String td) {
        // Without the check, null became the string "null", a valid trust domain name.
        Objects.requireNonNull(td, "trust domain");
        checkTrustDomain("trust domain", td);
        this.trustDomain = td;
        this.trustDomainsSet = true;
    }

    public void trustDomainAliases(java.util.List<String> aliases) {
        Objects.requireNonNull(aliases, "trust domain aliases");
        for (String a : aliases) {
            if (a == null) {
                throw new IllegalArgumentException("invalid trust domain alias null in " + aliases);
            }
            checkTrustDomain("trust domain alias", a);
        }
        this.trustDomainAliases = java.util.List.copyOf(aliases);
        this.trustDomainsSet = true;
    }

    /** {@code name} as a SPIFFE trust domain (a SPIFFE ID's authority, so no path), else an error naming {@code what} and it. */
    private static void checkTrustDomain(String what, String name) {
        try {
            SpiffeIds.trustDomain(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replaceFirst("^invalid trust domain", "invalid " + what), e.getCause());
        }
    }

    public void identityProvider(IdentityProvider p) {
        this.provider = Objects.requireNonNull(p, "identity provider");
    }

    public void identity(SpiffeId id) {
        this.identity = id;
    }

    public void policies(PolicyEngine engine) {
        this.policy = engine;
    }

    public void workloads(WorkloadRegistry r) {
        this.registry = r;
    }

    public void node(String name) {
        if (name != null && name.isBlank()) {
            // A library-user pass: node("") was taken, matched no workload's node and served nothing, silently.
            throw new IllegalArgumentException("node: \"" + name + "\" is blank, which is no workload's node; leave it unset (null)"
                    + " to serve the workloads with an address of this host");
        }
        this.node = name;
    }

    public void inbound(InetSocketAddress address) {
        if (address != null && address.isUnresolved()) {
            throw new IllegalArgumentException("inbound address " + address + " is unresolved: give an IP (0.0.0.0 for every address)");
        }
        if (address != null) {
            // inboundEndpoint's check: start() bound 224.0.0.1 and 255.255.255.255 (a new-user pass), where no peer can dial.
            InboundEndpoints.Builder.requireUnicast("inbound address", address);
        }
        this.inbound = address;
    }

    public void inboundEndpoint(InetSocketAddress target, InetSocketAddress endpoint) {
        inboundEndpoints.put(target, endpoint);
    }

    public void inboundTransparent(boolean on) {
        this.inboundTransparent = on;
    }

    public void meterRegistry(MeterRegistry r) {
        this.meterRegistry = r;
    }

    public void onTunnelClosed(Consumer<TunnelResult> c) {
        this.onTunnelClosed = c;
    }

    /**
     * At most this many event-loop threads. Neither Netty nor ztunnel bounds the count (ztunnel's
     * {@code ZTUNNEL_WORKER_THREADS} takes any number, or a percentage of the cores: istio/ztunnel src/config.rs
     * {@code parse_worker_threads}), but each epoll loop holds three file descriptors and a thread: 100000 failed
     * in build() with "Too many open files" that did not name the setting (newuser23).
     */
    public static final int MAX_THREADS = 1024;

    public void threads(int n) {
        if (n < 1 || n > MAX_THREADS) {
            throw new IllegalArgumentException("threads must be 1-" + MAX_THREADS + " (event-loop threads; default max(2, processors) = "
                    + Math.max(2, Runtime.getRuntime().availableProcessors()) + "), got " + n);
        }
        this.threads = n;
    }

    /** Where the mesh's HBONE connections are dialled from; null: the kernel's choice. */
    private java.net.InetAddress localAddress;

    public void localAddress(java.net.InetAddress address) {
        if (address != null && (address.isAnyLocalAddress() || address.isMulticastAddress())) {
            throw new IllegalArgumentException("localAddress " + address.getHostAddress() + " is a "
                    + (address.isAnyLocalAddress() ? "wildcard" : "multicast") + " address: give one of this host's IPs (null: the"
                    + " kernel's choice)");
        }
        this.localAddress = address;
    }

    /** Where a workload's hostname is looked up; null: resolv.conf's servers. */
    private java.util.List<InetSocketAddress> dnsServers;
    private java.nio.file.Path crlPath;

    public void crlPath(java.nio.file.Path path) {
        this.crlPath = path;
    }

    /** ztunnel's {@code ENABLE_RESPONSE_BAGGAGE}, default true as there. */
    private boolean responseBaggage = true;

    public void responseBaggage(boolean on) {
        this.responseBaggage = on;
    }

    public void dnsServers(java.util.List<InetSocketAddress> servers) {
        if (servers != null) {
            for (InetSocketAddress s : servers) {
                if (s == null || s.isUnresolved() || s.getAddress().isAnyLocalAddress() || s.getPort() == 0) {
                    throw new IllegalArgumentException("dnsServers: " + s + " is no DNS server address (an IP and a port, such as"
                            + " 10.96.0.10:53)");
                }
            }
        }
        this.dnsServers = servers == null || servers.isEmpty() ? null : java.util.List.copyOf(servers);
    }

    public void http2(int streamWindow, int connectionWindow, int maxFrameSize) {
        io.zerohop.hbone.internal.H2Config h2;
        try {
            // The HBONE builders' checks, here rather than at start, where the server is built.
            h2 = new io.zerohop.hbone.internal.H2Config(streamWindow, connectionWindow, maxFrameSize, 64 * 1024);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("http2: " + e.getMessage(), e);
        }
        if (streamWindow > Outbound.INBOUND_SHARE) {
            // A lone tunnel may always fill its window: the server's and the clients' unread-bytes budgets refuse a stream
            // window above them (HboneServer.Builder.inboundBudget), and that refusal came only at start.
            throw new IllegalArgumentException("http2: stream window " + streamWindow + " bytes is above the mesh's unread-bytes"
                    + " budget per peer (" + Outbound.INBOUND_SHARE + " bytes, a quarter of Netty's direct memory), which one tunnel may fill");
        }
        this.http2 = h2;
    }

    public void tcpKeepalive(io.zerohop.hbone.TcpKeepalive k) {
        this.keepalive = Objects.requireNonNull(k, "tcpKeepalive");
    }

    public void maxStreamsPerConnection(int n) {
        this.maxStreamsPerConnection = atLeastOne(n, "maxStreamsPerConnection");
    }

    public void idleTimeout(Duration d) {
        // Zero is "never", as HboneClient.Builder.idleTimeout and HboneServer.Builder.idleTimeout take it.
        Objects.requireNonNull(d, "idleTimeout");
        if (d.isNegative()) {
            throw new IllegalArgumentException("idleTimeout must not be negative, got " + io.zerohop.hbone.internal.LogText.duration(d));
        }
        this.idleTimeout = DurationLimit.atMost(d, "idleTimeout");
    }

    public void metricsInterval(Duration d) {
        this.metricsInterval = positive(d, "metricsInterval");
    }

    public void federation(boolean on) {
        this.federation = on;
    }

    /**
     * The system property zerohop-testing's {@code @ZerohopTest} sets (to {@code PT0S}) while a test class runs, so that
     * a mesh a test builds without {@code drain(...)} closes at once instead of waiting 10 s for an idle keep-alive
     * connection's tunnel; an ISO-8601 duration. Read when a builder is made; {@code drain(...)} wins.
     */
    public static final String TEST_DRAIN_PROPERTY = "io.zerohop.test.drain";

    private static Duration defaultDrain() {
        String v = System.getProperty(TEST_DRAIN_PROPERTY);
        if (v == null) {
            return Duration.ofSeconds(10);
        }
        try {
            Duration d = Duration.parse(v);
            if (!d.isNegative()) {
                return d;
            }
        } catch (java.time.format.DateTimeParseException e) {
            // named below
        }
        throw new IllegalArgumentException("system property " + TEST_DRAIN_PROPERTY + "=" + v + " is not a duration >= 0 such as PT0S");
    }

    public void drain(Duration d) {
        Objects.requireNonNull(d, "drain");
        if (d.isNegative()) {
            throw new IllegalArgumentException("drain must not be negative, got " + io.zerohop.hbone.internal.LogText.exactDuration(d));
        }
        // ChronoUnit.FOREVER was accepted, then close() threw ArithmeticException and left the listener open.
        this.drain = DurationLimit.atMost(d, "drain");
    }

    public void passthroughUnknown(boolean on) {
        this.passthroughUnknown = on;
    }

    public void acceptHttp10(boolean on) {
        this.acceptHttp10 = on;
    }

    public void pilotHttp10(boolean on) {
        this.pilotHttp10 = on;
    }

    public void clusterId(String id) {
        Objects.requireNonNull(id, "cluster id");
        if (id.isEmpty() || !clusterIdChars(id)) {
            throw new IllegalArgumentException("cluster id must be printable ASCII without white space, ',', ';' or '=': \"" + id + "\"");
        }
        this.clusterId = id;
    }

    /**
     * Printable ASCII without white space, ',', ';' or '='. A loop, not {@code id.chars().allMatch(..)}: every proxy
     * checks its cluster id at start, and that stream was the only use of IntStream's pipeline there (~12 classes,
     * benchmarks/results/classes-*.md).
     */
    private static boolean clusterIdChars(String id) {
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c <= ' ' || c >= 127 || c == ',' || c == ';' || c == '=') {
                return false;
            }
        }
        return true;
    }

    /**
     * @throws IllegalArgumentException when the provider refuses {@code identity} outright (another
     *     trust domain than an in-memory CA's or the fallback CA's, another identity than a PEM
     *     file's): such a mesh used to build and start, then stay not ready with one WARN line
     */
    public MeshConfig config() {
        if (identity != null) {
            requireServable(identity);
        }
        warnOnTrustDomainMismatch();
        if (policy != null && trustDomainsSet) {
            // istiod rewrites AuthorizationPolicy principals for its mesh's trust domain and aliases (bundle.go); the
            // engine does at L7 for these. An engine set to others (its builder, another mesh) is refused by it.
            try {
                policy.trustDomains(trustDomain, trustDomainAliases);
            } catch (IllegalStateException e) {
                throw new IllegalArgumentException("policies(engine): " + e.getMessage() + " (the mesh's trust domain "
                        + trustDomain + (trustDomainAliases.isEmpty() ? "" : ", aliases " + trustDomainAliases) + ")", e);
            }
        }
        return new MeshConfig(provider, trustDomain, identity, policy, registry != null ? registry : WorkloadRegistry.empty(), node,
                inbound, inboundTransparent, meterRegistry, onTunnelClosed, threads, maxStreamsPerConnection, idleTimeout, drain,
                metricsInterval, passthroughUnknown, clusterId, acceptHttp10 || pilotHttp10, pilotHttp10,
                inboundEndpoints.build(inbound, inboundTransparent), federation, localAddress, dnsServers, http2, keepalive, crlPath,
                responseBaggage);
    }

    /**
     * A trust domain set here that is not the identity provider's: no SVID of the mesh's trust domain can be
     * issued or accepted. A WARN, not a refusal, as {@code zerohop proxy} warns for the same mismatch between its
     * workloads and its CA (ProxyCommand: "... (give the same trust domain to both)"); the wording is the CLI's.
     */
    private void warnOnTrustDomainMismatch() {
        if (!trustDomainsSet || provider == null) {
            return;
        }
        String source = provider instanceof io.zerohop.identity.InMemoryCa ca ? ca.trustDomain().getName()
                : provider.defaultIdentity().map(id -> id.getTrustDomain().getName()).orElse(null);
        if (source != null && !source.equals(trustDomain)) {
            org.slf4j.LoggerFactory.getLogger(io.zerohop.core.Mesh.class).warn("trustDomain {}, but the identity provider ({}) is of {}:"
                    + " no SVID is issued or accepted for identities of {} (give the same trust domain to both)", trustDomain,
                    provider.getClass().getSimpleName(), source, trustDomain);
        }
    }

    private void requireServable(SpiffeId id) {
        if (provider == null) {
            if (!id.getTrustDomain().getName().equals(trustDomain)) {
                throw new IllegalArgumentException("identity " + id + " is not in trust domain " + trustDomain
                        + " of the fallback in-memory CA (set trustDomain(...) or identityProvider(...))");
            }
            return;
        }
        // Only a refusal the provider gives at once counts: a SPIRE agent or a CA may answer later, and
        // waiting for them is start()'s readiness, not the builder's.
        var svid = provider.svid(id);
        if (svid.isCompletedExceptionally()) {
            String why;
            try {
                svid.getNow(null);
                why = "refused";
            } catch (java.util.concurrent.CompletionException | java.util.concurrent.CancellationException e) {
                why = e.getCause() != null ? e.getCause().getMessage() : e.toString();
            }
            throw new IllegalArgumentException("identity " + id + " cannot be served by the identity provider: " + why);
        }
    }

    private static int atLeastOne(int n, String name) {
        if (n < 1) {
            throw new IllegalArgumentException(name + " must be >= 1, got " + n);
        }
        return n;
    }

    private static Duration positive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(name + " must be positive, got " + io.zerohop.hbone.internal.LogText.duration(d));
        }
        // Run as nanoseconds (timers): a longer one threw ArithmeticException from build() (metricsInterval, leaking the
        // event loops) or from connect (idleTimeout) instead of here.
        return DurationLimit.atMost(d, name);
    }
}
