package io.zerohop.core.internal.http;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Addresses;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Workload;
import io.zerohop.core.internal.LivePlaintext;
import io.zerohop.core.internal.TunnelSource;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.hbone.internal.TunnelCodec;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.HttpAttributes;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * L7 enforcement for the inbound paths of a {@code Mesh}: decides which connections are parsed as
 * HTTP ({@link #enforces}) and builds the handlers that do it for the node proxy's relay to a local
 * workload ({@link #proxy}), embedded {@code Mesh.serve} handlers ({@link #embedded}) and plaintext
 * inbound ({@link #plaintext}).
 *
 * <p>On such a connection the CONNECT (or plaintext accept) is not decided at L4: as Envoy in a
 * waypoint, the connection is accepted and every request is authorized with all its attributes,
 * L4 ones included, and a denied request gets {@code 403 RBAC: access denied}. Two exceptions, decided at the
 * CONNECT by the callers ({@link #sniffs}, {@link #decidedUnparsed}): on an {@code auto} port a denial no HTTP
 * data can change ({@code PolicyEngine.denialBeforeHttp}), and HTTP/2 to an embedded handler, never parsed. An {@code auto} port
 * whose first bytes are not HTTP/1.x (or are the HTTP/2 preface, not parsed yet) falls back to the
 * L4 decision the CONNECT would have got: ALLOW rules with HTTP fields match nothing there, and DENY
 * rules with HTTP fields deny it if their other fields match ({@code PolicyEngine.evaluateUnparsed}),
 * so it fails closed.
 */
public final class HttpEnforcement {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.core.Mesh");

    private final PolicyEngine policy;
    private final EventLoopGroup group;
    private final TunnelSource sources;
    private final HttpObserver observer;
    private final long sniffTimeoutMillis;
    /**
     * How long a parsed client connection may stay without a request or stream in progress before it ends: Envoy's
     * {@code common_http_protocol_options.idle_timeout} for a connection manager, 1 h when unset
     * (envoyproxy/envoy {@code api/envoy/config/core/v3/protocol.proto} {@code HttpProtocolOptions.idle_timeout};
     * docs faq/configuration/timeouts.rst), which istiod leaves unset on a sidecar's inbound and a waypoint's listeners
     * unless the proxy's {@code ISTIO_META_IDLE_TIMEOUT} metadata sets it (istio/istio
     * {@code pilot/pkg/networking/core/listener_builder.go} {@code buildHTTPConnectionManager}). A stream or request in
     * progress has no timeout: istiod sets {@code stream_idle_timeout} to 0 there (same function; istio/istio#7428,
     * "Fix 300s timeout for grpc streams") and its inbound route's timeout to 0 ({@code route.go}
     * {@code BuildDefaultHTTPInboundRoute}).
     */
    static final long CONNECTION_IDLE_TIMEOUT_MILLIS = java.util.concurrent.TimeUnit.HOURS.toMillis(1);
    /**
     * How long an application connection of a parsed HTTP/2 client connection ({@link H2AppConnection}) may stay without
     * a stream before it is closed: Envoy's cluster {@code idle_timeout} ({@code common_http_protocol_options} of the
     * cluster's {@code HttpProtocolOptions}), 1 h when unset (docs faq/configuration/timeouts.rst), which istiod sets on
     * an inbound cluster only from a DestinationRule's {@code connectionPool.http.idleTimeout} (istio/istio
     * {@code pilot/pkg/networking/core/cluster_traffic_policy.go}; istio/istio#41328). An HTTP/1 application connection
     * is one per client connection and ends with it ({@link #CONNECTION_IDLE_TIMEOUT_MILLIS}).
     */
    static final long APPLICATION_IDLE_TIMEOUT_MILLIS = java.util.concurrent.TimeUnit.HOURS.toMillis(1);
    /** {@link #APPLICATION_IDLE_TIMEOUT_MILLIS} unless a test shortens it ({@link #applicationIdleTimeout}). */
    private volatile long applicationIdleMillis = APPLICATION_IDLE_TIMEOUT_MILLIS;
    /** {@link #CONNECTION_IDLE_TIMEOUT_MILLIS} unless a test shortens it ({@link #connectionIdleTimeout}). */
    private volatile long connectionIdleMillis = CONNECTION_IDLE_TIMEOUT_MILLIS;
    /**
     * System properties (milliseconds, read when an instance is made) by which a test that builds a whole mesh shortens
     * an HTTP/2 connection's drain: the time from its shutdown notice to its final GOAWAY (Envoy's {@code drain_timeout},
     * 5000 ms: {@code H2ConnectionEnds.Drain.DRAIN_TIMEOUT_MILLIS}) and the bound on waiting for the client's end after
     * ours (30 s: {@code H2ConnectionEnds.Drain.TIMEOUT_SECONDS}), which a test would otherwise wait out. Unset: those
     * defaults; a test in this package calls {@link #h2DrainTimes} instead.
     */
    public static final String TEST_H2_DRAIN_TIMEOUT_PROPERTY = "io.zerohop.test.h2.drainTimeoutMillis";
    /** See {@link #TEST_H2_DRAIN_TIMEOUT_PROPERTY}. */
    public static final String TEST_H2_CLOSE_BOUND_PROPERTY = "io.zerohop.test.h2.closeBoundMillis";
    /**
     * A system property (milliseconds, read when an instance is made) by which a test that builds a whole mesh shortens
     * how long the sniff waits after a prefix only a lenient HTTP parser skips ({@code Sniffer.LENIENT_PREFIX_MILLIS},
     * 5 s) before it takes the connection as not HTTP. Unset: 5 s.
     */
    public static final String TEST_LENIENT_PREFIX_PROPERTY = "io.zerohop.test.sniff.lenientPrefixMillis";
    private final long lenientPrefixMillis = Long.getLong(TEST_LENIENT_PREFIX_PROPERTY, Sniffer.LENIENT_PREFIX_MILLIS);
    /** The HTTP/2 drain's times of connections parsed afterwards, but the idle timeout ({@link #connectionIdleMillis}). */
    private volatile H2ConnectionEnds.Drain.Times h2DrainTimes = new H2ConnectionEnds.Drain.Times(0,
            Long.getLong(TEST_H2_DRAIN_TIMEOUT_PROPERTY, H2ConnectionEnds.Drain.DRAIN_TIMEOUT_MILLIS),
            Long.getLong(TEST_H2_CLOSE_BOUND_PROPERTY, java.util.concurrent.TimeUnit.SECONDS.toMillis(H2ConnectionEnds.Drain.TIMEOUT_SECONDS)));
    /** Envoy's {@code accept_http_10} for every HTTP/1 connection this parses ({@link #acceptHttp10(boolean)}). */
    private volatile boolean acceptHttp10;
    private volatile io.zerohop.hbone.TcpKeepalive keepalive = io.zerohop.hbone.TcpKeepalive.DEFAULT;
    /** istiod's {@code PILOT_HTTP10} listener match: a sniffed HTTP/1.0 request line is HTTP ({@link #sniffHttp10(boolean)}). */
    private volatile boolean sniffHttp10;
    /** What the HTTP/1 and HTTP/2 filters ask of the policy per request. */
    private final Requests requests = new Requests();
    /**
     * How each open tunnel this class delivers ({@link #proxy}, {@link #embedded}) is decided, by its
     * {@link TunnelInfo} instance (the one the HBONE server reports at open and close), and each plaintext
     * connection ({@link #plaintext}) by its client's channel (the application is dialled later, if ever): a {@link Sniffing} or {@link Parsed} (its
     * L4 request), or the {@link AccessRequest} {@link PolicyEngine#evaluateUnparsed} decided when
     * it fell back to L4. {@link #redecide} reads it on a policy change; removed when the stream closes.
     */
    private final Map<Object, Object> decided = java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());
    /** Still being sniffed: {@code request} is the connection's L4 request, for {@link PolicyEngine#denialBeforeHttp}. */
    private record Sniffing(AccessRequest request) {}
    /** Parsed as HTTP: {@code request} is the connection's L4 request, for {@link PolicyEngine#denialBeforeHttp}. */
    private record Parsed(AccessRequest request) {}
    private static final Decision KEPT_PER_REQUEST = Decision.allowNoPolicy(
            "decided per HTTP request: every request meets the policies in force");
    private static final Decision KEPT_SNIFFING = Decision.allowNoPolicy(
            "its first bytes are not read yet: decided by the policies in force once they are");

    /**
     * Who reports a connection this class closes for a policy decision taken after its start (an {@code auto}
     * port's fallback to L4, {@code evaluateUnparsed}) as the denial it is: counted {@code DENY} and logged with
     * ztunnel's rejection, not as the clean close or reset the wire shows. Called on the event loop, before the
     * connection is reset; must not block. A plaintext connection's denial is no report: its attribute
     * ({@link #DENIED_UNPARSED}) is read at its close, which counts and logs it once.
     */
    public interface Denials {
        /** {@code tunnel}, open (200 sent), is denied by {@code decision}; {@code why} it was not parsed (its first bytes). */
        void tunnel(TunnelInfo tunnel, Decision decision, String why);
    }

    private static final Denials UNREPORTED = new Denials() {
        @Override
        public void tunnel(TunnelInfo tunnel, Decision decision, String why) {
        }
    };

    /** Set once by the mesh before it accepts connections ({@link #reportDenials}). */
    private volatile Denials denials = UNREPORTED;

    /**
     * A plaintext connection denied after the sniff ({@code evaluateUnparsed}): {@code decision}, and {@code why} it was
     * not parsed (its first bytes). Set on the client connection before it is reset, for its access line
     * ({@code ParsedPlaintextLog}).
     */
    public record UnparsedDenial(Decision decision, String why) {}

    /**
     * Whether an HTTP filter reset the client connection {@code ch} (an abort: a request a policy change denied after its
     * response started, a malformed response, the application closing mid-response): its access line says
     * {@code end=reset}, as the client saw it, not the clean end a close without error reads as.
     */
    public static boolean resetHere(Channel ch) {
        return Boolean.TRUE.equals(ch.attr(Downstream.RESET).get());
    }

    /** Where a plaintext connection's {@link UnparsedDenial} is kept (on its client connection). */
    public static final io.netty.util.AttributeKey<UnparsedDenial> DENIED_UNPARSED = io.netty.util.AttributeKey.valueOf("zerohop.plaintext.deniedUnparsed");

    /** The WARN budget shared with the other refusals a peer can cause ({@link #logRefusals}); null: unlimited (tests). */
    private volatile io.zerohop.core.internal.RateLimitedLog refusals;
    /** Whether the access log writes a line that carries a plaintext denial's explanation now ({@link #logRefusals}). */
    private volatile java.util.function.BooleanSupplier accessLogCarries = () -> false;

    /**
     * Where the {@code denied … (not parsed as HTTP: …)} WARN goes: through {@code refusals}, the budget of the other
     * refusals a peer can cause at will (20 lines per 10 s, then a count), since a client that sends junk in a loop
     * would flood the log (until 2 December every one was written); DEBUG while {@code accessLogCarries} (the
     * connection's access line then names the same decision in its {@code reason}, as a refused tunnel's does).
     */
    public void logRefusals(io.zerohop.core.internal.RateLimitedLog refusals, java.util.function.BooleanSupplier accessLogCarries) {
        this.refusals = java.util.Objects.requireNonNull(refusals, "refusals");
        this.accessLogCarries = java.util.Objects.requireNonNull(accessLogCarries, "accessLogCarries");
    }

    /** Where denials taken after a connection's start are reported (see {@link Denials}); not null. */
    public void reportDenials(Denials d) {
        this.denials = java.util.Objects.requireNonNull(d, "denials");
    }

    /**
     * @param policy        the engine; null means no enforcement at all ({@link #enforces} is false)
     * @param meterRegistry a Micrometer {@code MeterRegistry}, or null
     * @param sources       who a connection comes from (plaintext: the registry workload at its
     *                      address; a tunnel: {@link TunnelSource#of}), or null: nobody known
     * @param sniffTimeoutMillis how long the sniff of an {@code auto} port waits for the protocol to show ({@link Sniffer});
     *                      0 or less: for ever, istiod's default (MeshConfig {@code protocolDetectionTimeout} 0s)
     */
    public HttpEnforcement(PolicyEngine policy, EventLoopGroup group, Object meterRegistry,
                           TunnelSource sources, long sniffTimeoutMillis) {
        this(policy, group, meterRegistry, sources, sniffTimeoutMillis, io.zerohop.core.internal.TrafficLabels.DEFAULT_CLUSTER);
    }

    /** @param clusterId the cluster of registry workloads without a {@code topology.istio.io/cluster} label (metric labels) */
    public HttpEnforcement(PolicyEngine policy, EventLoopGroup group, Object meterRegistry,
                           TunnelSource sources, long sniffTimeoutMillis, String clusterId) {
        this.policy = policy;
        this.group = group;
        this.sources = sources;
        this.observer = new HttpObserver(meterRegistry == null ? null : new HttpMeters(meterRegistry, clusterId));
        this.sniffTimeoutMillis = sniffTimeoutMillis;
        this.jwks = new JwksCache(JwksCache::defaultClient, group);
        this.jwt = new JwtAuthn(jwks, () -> System.currentTimeMillis() / 1000);
    }

    /** The keys of the JWT rules, fetched ones cached and refreshed for the mesh's life (timers on its event loops). */
    private final JwksCache jwks;
    /** The RequestAuthentication step of every request ({@link JwtAuthn}). */
    private final JwtAuthn jwt;

    JwksCache jwks() {
        return jwks;
    }

    /** Sets the connection idle timeout of connections parsed afterwards ({@link #CONNECTION_IDLE_TIMEOUT_MILLIS}); 0: none. Tests. */
    void connectionIdleTimeout(long millis) {
        this.connectionIdleMillis = millis;
    }

    /**
     * Sets, for HTTP/2 connections parsed afterwards, the time from the drain's notice to its final GOAWAY and the bound
     * on waiting for the client's end after ours ({@link #TEST_H2_DRAIN_TIMEOUT_PROPERTY}). Tests.
     */
    void h2DrainTimes(long drainTimeoutMillis, long closeBoundMillis) {
        this.h2DrainTimes = new H2ConnectionEnds.Drain.Times(0, drainTimeoutMillis, closeBoundMillis);
    }

    /** The drain's times of an HTTP/2 connection parsed now. */
    private H2ConnectionEnds.Drain.Times h2Times() {
        H2ConnectionEnds.Drain.Times t = h2DrainTimes;
        return new H2ConnectionEnds.Drain.Times(connectionIdleMillis, t.drainTimeoutMillis(), t.closeBoundMillis());
    }

    /** Sets the idle timeout of HTTP/2 application connections dialled afterwards ({@link #APPLICATION_IDLE_TIMEOUT_MILLIS}); 0: none. Tests. */
    void applicationIdleTimeout(long millis) {
        this.applicationIdleMillis = millis;
    }

    /** Where the JWT rules of a destination come from: the engine's {@code jwtRules} unless {@link #jwtRules(java.util.function.Function)}. */
    private volatile java.util.function.Function<WorkloadRef, java.util.List<io.zerohop.policy.JwtRule>> jwtRuleSource;

    /**
     * Takes the JWT rules of each destination from {@code source} instead of the engine: the tests of the JWT step,
     * with rules they build, independently of how RequestAuthentications are loaded and selected (mesh-policy).
     */
    void jwtRules(java.util.function.Function<WorkloadRef, java.util.List<io.zerohop.policy.JwtRule>> source) {
        this.jwtRuleSource = source;
    }

    /** The JWT rules of {@code c}'s destination ({@code PolicyEngine.jwtRules}); none for a destination no workload is. */
    private java.util.List<io.zerohop.policy.JwtRule> jwtRules(Conn c) {
        java.util.function.Function<WorkloadRef, java.util.List<io.zerohop.policy.JwtRule>> source = jwtRuleSource;
        if (c.target() == null) {
            return java.util.List.of();
        }
        if (source != null) {
            return source.apply(c.target());
        }
        return policy == null ? java.util.List.of() : policy.jwtRules(c.target());
    }

    /**
     * Envoy's {@code accept_http_10}, as istiod sets it on a proxy under {@code PILOT_HTTP10} or its {@code HTTP10}
     * metadata (istio/istio pilot/pkg/networking/core/listener_waypoint.go, listener.go {@code enableHTTP10}): on,
     * HTTP/1.0 requests are decided and forwarded ({@link Http1Decoder#Http1Decoder(boolean)}); off (the default),
     * answered 426. Applies to connections accepted afterwards.
     */
    public void acceptHttp10(boolean on) {
        this.acceptHttp10 = on;
    }

    /**
     * TCP keepalive of the upstream dials of parsed tunnels, as of every other dial (ztunnel's socket factory sets it on
     * every socket: src/proxy.rs {@code setup_socket}); default {@code TcpKeepalive.DEFAULT}. Applies to dials afterwards.
     */
    public void tcpKeepalive(io.zerohop.hbone.TcpKeepalive k) {
        this.keepalive = java.util.Objects.requireNonNull(k, "tcpKeepalive");
    }

    /**
     * Whether an {@code auto} port whose first bytes are a request line with another version than HTTP/1.1 (Envoy's
     * {@code http_inspector} reports {@code http/1.0} for all of them) is parsed as HTTP. istiod's filter-chain match
     * lists {@code http/1.0} only when istiod itself runs with {@code PILOT_HTTP10} (istio/istio
     * pilot/pkg/networking/core/match/match.go {@code NewAppProtocol}, listener.go {@code plaintextHTTPALPNs}); the
     * proxy's {@code HTTP10} metadata does not change it. Off (the default), such a connection takes the TCP chain:
     * decided by {@link PolicyEngine#evaluateUnparsed}, as non-HTTP bytes, and relayed as bytes. Applies to
     * connections sniffed afterwards.
     */
    public void sniffHttp10(boolean on) {
        this.sniffHttp10 = on;
    }

    /** ztunnel's {@code ENABLE_RESPONSE_BAGGAGE}: whether a tunnel's {@code baggage} labels its requests' source. */
    private volatile boolean readBaggage = true;

    /**
     * Off, the request metrics label a source with no workload from its identity, as the tunnel's
     * ({@code TunnelObserver.readBaggage}), never from the CONNECT's {@code baggage}. Applies to tunnels opened afterwards.
     */
    public void readBaggage(boolean on) {
        this.readBaggage = on;
    }

    private String baggage(TunnelInfo t) {
        return readBaggage ? t.headers().get("baggage") : null;
    }

    /**
     * Whether connections to {@code target}:{@code port} are parsed and decided per request: the
     * port may speak HTTP ({@code http}, {@code http2}, {@code grpc}, or {@code auto} pending the
     * sniff) and a policy has an HTTP-level rule for it. Where a connection then cannot be parsed
     * (an embedded handler on an HTTP/2 port, non-HTTP bytes on an {@code auto} port) it is decided
     * at L4, which fails closed for ALLOW rules with HTTP fields.
     */
    public boolean enforces(WorkloadRef target, AppProtocol protocol, int port) {
        // A RequestAuthentication alone makes a sidecar's Envoy check every HTTP request's JWT (its jwt_authn filter is in
        // every inbound HTTP chain, istio/istio pilot/pkg/networking/core/listener_builder.go): parsed for it too.
        return policy != null && protocol != AppProtocol.TCP && (policy.requiresHttp(target, port) || !policy.jwtRules(target).isEmpty());
    }

    /**
     * Whether {@code destination} is one of this class's deliveries ({@link #proxy}, {@link #embedded}),
     * whose requests are each decided on their own, so the CONNECT carries no L4 verdict.
     */
    public static boolean decidesPerRequest(Destination destination) {
        return destination instanceof Destination.Embedded e && e.handler() instanceof PerRequest;
    }

    /**
     * Whether {@code destination} is one of this class's deliveries to an {@code auto} port, whose protocol is
     * sniffed from the first bytes: what needs no HTTP data is decided before that ({@code PolicyEngine.denialBeforeHttp}).
     */
    public static boolean sniffs(Destination destination) {
        return destination instanceof Destination.Embedded e && e.handler() instanceof PerRequest p
                && p.protocol == AppProtocol.AUTO;
    }

    /**
     * Whether {@code destination} is one of this class's deliveries that can never parse the tunnel: HTTP/2 or gRPC
     * to an embedded {@code Mesh.serve} handler. Its whole decision is the L4 one ({@code PolicyEngine.evaluateUnparsed}),
     * known at the CONNECT.
     */
    public static boolean decidedUnparsed(Destination destination) {
        return destination instanceof Destination.Embedded e && e.handler() instanceof PerRequest p && !p.parsesH2
                && (p.protocol == AppProtocol.HTTP2 || p.protocol == AppProtocol.GRPC);
    }

    /** The deliveries that parse a tunnel's requests; they start reading once the filter is installed. */
    private abstract static class PerRequest implements StreamHandler {
        final AppProtocol protocol;
        /** Whether HTTP/2 is parsed on this path (only where the application is reached over TCP). */
        final boolean parsesH2;

        PerRequest(AppProtocol protocol, boolean parsesH2) {
            this.protocol = protocol;
            this.parsesH2 = parsesH2;
        }

        /**
         * Whether the CONNECT's own decision ({@code PolicyAuthorizer.authorizeBeforeSniff} on an {@code auto} port,
         * {@code authorizeUnparsed} for HTTP/2 never parsed; see {@link #sniffs}, {@link #decidedUnparsed}) already
         * logged the tunnel's untrusted {@code forwarded} claim: then {@link #conn} does not log it again (a new-user
         * pass saw it twice per tunnel on an auto port).
         */
        boolean claimLoggedAtConnect() {
            return protocol == AppProtocol.AUTO || (!parsesH2 && (protocol == AppProtocol.HTTP2 || protocol == AppProtocol.GRPC));
        }

        @Override
        public boolean autoRead() {
            return false;
        }
    }

    /** Node proxy: requests on the tunnel go to {@code upstream} over TCP. */
    public StreamHandler proxy(InetSocketAddress upstream, WorkloadRef target, AppProtocol protocol) {
        return new PerRequest(protocol, true) {
            @Override
            public void initStream(Channel stream, TunnelInfo tunnel) {
                Conn conn = conn(stream, tunnel, target, !claimLoggedAtConnect());
                track(stream, tunnel, conn);
                // HTTP: the application is dialled for the first allowed request, not here (TcpUpstream, H2AppConnection):
                // a denial never depends on it being up, and its being down is that request's 503, not the tunnel's reset.
                whenHttp(stream, protocol, conn, tunnel,
                        installed -> {
                            install(stream, conn, f -> new TcpUpstream(f, stream.eventLoop(), () -> dial(stream, upstream), AppDialRetry.retries(protocol)));
                            installed.accept(true);
                        },
                        installed -> {
                            H2Proxy.install(stream, () -> dial(stream, upstream), conn, requests, observer, h2Times(), applicationIdleMillis,
                                    AppDialRetry.retries(protocol));
                            installed.accept(true);
                        },
                        installed -> {
                            install(stream, conn, f -> new H2Upstream(f, stream.eventLoop(), () -> dial(stream, upstream), AppDialRetry.retries(protocol)));
                            installed.accept(true);
                        },
                        // Not parsed (an auto port's bytes that are not HTTP): relayed as bytes, the 200 already sent, so an
                        // application that is down resets the tunnel, as a relay's failed connection does.
                        installed -> connectThen(stream, upstream, tcp -> {
                            Relay.join(Relay.tunnel(stream), Relay.tcp((DuplexChannel) tcp));
                            installed.accept(false);
                        }));
            }

        };
    }

    /** Embedded: requests on the tunnel go to the application's own stream handlers. */
    public StreamHandler embedded(StreamHandler app, WorkloadRef target, AppProtocol protocol) {
        return new PerRequest(protocol, false) {
            @Override
            public void initStream(Channel stream, TunnelInfo tunnel) {
                Conn conn = conn(stream, tunnel, target, !claimLoggedAtConnect());
                track(stream, tunnel, conn);
                whenHttp(stream, protocol, conn, tunnel, installed -> {
                    Http1Filter filter = install(stream, conn, AppBridge::new);
                    stream.pipeline().addLast("zerohop-http-app", (AppBridge) filter.upstream());
                    initApp(app, stream, tunnel);
                    installed.accept(true);
                }, null, null, installed -> {
                    initApp(app, stream, tunnel);
                    installed.accept(app.autoRead());
                });
            }

        };
    }

    /**
     * Plaintext inbound under PERMISSIVE/DISABLE: the returned end, joined from the accepted connection {@code client},
     * parses it (no peer identity: XFCC is removed, never set). The application is dialled with {@code dial} (called on
     * {@code client}'s event loop, completing with a connection on that loop) for the first allowed request, as on the
     * node proxy's tunnels ({@link #proxy}): a denial never depends on the application being up, an allowed request it
     * cannot be reached for (after its retries, {@link AppDialRetry}) gets Envoy's 503 with {@code URX,UF} ({@link UpstreamFailure}) and the connection goes on, its next
     * allowed request dialling again. Bytes an {@code auto} port's sniff does not take for HTTP are relayed after a dial
     * made then; that dial failing resets the client, counted as ztunnel's failed dial is ({@link #DIAL_FAILED}).
     * The end is {@code client} itself until then: it is tracked (here and in {@code LivePlaintext}) by that channel.
     */
    public Relay.End plaintext(Channel client, java.util.function.Supplier<java.util.concurrent.CompletableFuture<Relay.End>> dial,
                               InetSocketAddress source, InetSocketAddress destination, WorkloadRef target,
                               SpiffeId targetId, AppProtocol protocol) {
        Conn conn = new Conn("plaintext-inbound", null, null, source, source, destination, target,
                lookup(source.getAddress()), targetId);
        return new Relay.End() {
            @Override
            public Channel channel() {
                return client;
            }

            @Override
            public void shutdownOutput() {
                // Nothing dialled before the join: the application's connection, once made, ends with the parser's.
            }

            @Override
            public void reset() {
                HttpEnforcement.reset(client);
            }

            @Override
            public void close() {
                client.close();
            }

            @Override
            public void joinFrom(Relay.End c) {
                Channel ch = c.channel();
                track(ch, ch, conn);
                whenHttp(ch, protocol, conn, ch, installed -> {
                    install(ch, conn, f -> new TcpUpstream(f, ch.eventLoop(), () -> dialPlain(ch, dial, destination), AppDialRetry.retries(protocol)));
                    installed.accept(true);
                }, installed -> {
                    H2Proxy.install(ch, () -> dialPlain(ch, dial, destination), conn, requests, observer, h2Times(), applicationIdleMillis,
                            AppDialRetry.retries(protocol));
                    installed.accept(true);
                }, installed -> {
                    install(ch, conn, f -> new H2Upstream(f, ch.eventLoop(), () -> dialPlain(ch, dial, destination), AppDialRetry.retries(protocol)));
                    installed.accept(true);
                }, installed -> dialPlain(ch, dial, destination).addListener(f -> {
                    if (f.isSuccess()) {
                        Relay.join(c, Relay.tcp((DuplexChannel) f.getNow()));
                        installed.accept(false);
                    } else if (ch.isActive()) {
                        // ztunnel's plaintext passthrough dials before it reads: its failure there is Error::ConnectionFailed,
                        // a reset client. Here the sniff read first, so the same end comes after it (ParsedPlaintextLog).
                        String cause = io.zerohop.hbone.internal.DialErrors.describe(f.cause());
                        log.debug("upstream {} unreachable for a plaintext connection relayed as bytes after its sniff: {}",
                                Addresses.authority(destination), cause);
                        ch.attr(DIAL_FAILED).set(cause);
                        HttpEnforcement.reset(ch);
                    }
                }));
            }
        };
    }

    /**
     * On a plaintext connection relayed as bytes after its sniff whose dial failed: that failure's text (as ztunnel's
     * {@code connection failed: } error prints it), for its access line and {@code CONNECT} flag ({@code ParsedPlaintextLog}).
     */
    public static final io.netty.util.AttributeKey<String> DIAL_FAILED = io.netty.util.AttributeKey.valueOf("zerohop.plaintext.dialFailed");

    /**
     * A connection to the application for the plaintext connection {@code client}, by {@code dial}; a failure fails the
     * future only. It ends as {@code client} does: reset when a policy change cut {@code client}
     * ({@link LivePlaintext#DENIED_BY_POLICY}: a FIN would read as a complete request), else closed.
     */
    private static io.netty.util.concurrent.Future<Channel> dialPlain(Channel client,
                                                                      java.util.function.Supplier<java.util.concurrent.CompletableFuture<Relay.End>> dial,
                                                                      InetSocketAddress upstream) {
        io.netty.util.concurrent.Promise<Channel> dialled = client.eventLoop().newPromise();
        dial.get().whenComplete((end, e) -> client.eventLoop().execute(() -> {
            if (e != null) {
                Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
                log.debug("upstream {} unreachable for plaintext: {}", Addresses.authority(upstream), cause.toString());
                dialled.setFailure(cause);
                return;
            }
            Channel up = end.channel();
            if (!client.isActive()) {
                end.reset();
                dialled.setFailure(new java.nio.channels.ClosedChannelException());
                return;
            }
            io.netty.util.concurrent.GenericFutureListener<io.netty.util.concurrent.Future<? super Void>> ends = x -> {
                if (LivePlaintext.deniedByPolicy(client)) {
                    end.reset();
                } else {
                    // Its HTTP/2 streams still open reset first: this runs before the client's streams learn of the close.
                    H2AppConnection.closeResettingStreams(up);
                }
            };
            client.closeFuture().addListener(ends);
            // An application connection that closes first (its keep-alive timeout, Connection: close: the client's goes
            // on and the next request dials anew) takes its listener off the client's: one per dial would pile up on a
            // long-lived client connection.
            up.closeFuture().addListener(x -> client.closeFuture().removeListener(ends));
            dialled.setSuccess(up);
        }));
        return dialled;
    }

    // ---------------------------------------------------------------- wiring

    /** Installs handlers (maybe after a connect), then says whether the downstream should auto-read. */
    private interface Step {
        void run(java.util.function.Consumer<Boolean> installed);
    }

    /**
     * Picks the handling for the port: HTTP/1 ({@code http} or {@code grpc-web} unless its first bytes are HTTP/2's, or an
     * {@code auto} sniff that sees a request line), HTTP/2 (the magic on an {@code http}, {@code http2} or {@code grpc}
     * port, the preface on an {@code auto} one; {@code h2} null where HTTP/2 cannot be parsed), HTTP/1 to an HTTP/2
     * application ({@code http1ToH2}: an {@code http2} or {@code grpc} port whose first bytes are not the magic), else
     * the L4 decision the CONNECT would have got, and {@code opaque} only when that allows.
     */
    private void whenHttp(Channel ch, AppProtocol protocol, Conn conn, Object tunnel, Step http1, Step h2, Step http1ToH2, Step opaque) {
        java.util.function.Consumer<Boolean> direct = autoRead -> {
            if (autoRead) {
                ch.config().setAutoRead(true);
            }
        };
        if (protocol == AppProtocol.HTTP || protocol == AppProtocol.GRPC_WEB) {
            markParsed(tunnel);
            if (h2 == null) {
                http1.run(direct);
                return;
            }
            // Envoy's AUTO codec, as istiod configures an http port: h2c with prior knowledge is HTTP/2 there too.
            autoCodec(ch, h2, http1, direct);
            return;
        }
        if (protocol == AppProtocol.HTTP2 || protocol == AppProtocol.GRPC) {
            if (h2 != null) {
                markParsed(tunnel);
                // The same AUTO codec on an http2 or grpc port: HTTP/1 is served there too, each request going to the
                // application over HTTP/2 (H2Upstream), as Istio's cluster for such a port speaks HTTP/2 (cluster_builder.go
                // setUpstreamProtocol). Until 6 December only h2c was read here: an HTTP/1 client met Netty's HTTP/2 codec,
                // its SETTINGS and a GOAWAY.
                autoCodec(ch, h2, http1ToH2, direct);
            } else {
                atL4(ch, conn, tunnel, opaque, direct, protocol + " is not parsed on this path");
            }
            return;
        }
        Sniffer[] holder = new Sniffer[1];
        java.util.function.Consumer<Boolean> installed = autoRead -> {
            holder[0].release();
            direct.accept(autoRead);
        };
        holder[0] = new Sniffer(sniffTimeoutMillis, lenientPrefixMillis, result -> {
            if (result == Sniffer.Result.HTTP1 || (result == Sniffer.Result.HTTP10 && sniffHttp10)) {
                markParsed(tunnel);
                http1.run(installed);
            } else if (result == Sniffer.Result.HTTP2 && h2 != null) {
                markParsed(tunnel);
                h2.run(installed);
            } else {
                // HTTP10 without PILOT_HTTP10 too: Istio's match sends http/1.0 to the TCP chain (match.go NewAppProtocol).
                atL4(ch, conn, tunnel, opaque, installed, result == Sniffer.Result.HTTP10
                        ? "first bytes: an HTTP/1.0 request line, which Istio's auto-port match takes as TCP without PILOT_HTTP10"
                        : "first bytes: " + result);
            }
        });
        ch.pipeline().addLast("zerohop-sniff", holder[0]);
        // Later, not now: the HBONE server opens the stream for reading only after initStream returns.
        ch.eventLoop().execute(ch::read);
    }

    /**
     * Envoy's {@code AUTO} codec, which istiod sets on every inbound HTTP connection manager (istio/istio
     * pilot/pkg/networking/core/listener_builder.go {@code buildHTTPConnectionManager}): {@code h2} when the first bytes
     * are HTTP/2's preface ({@link Sniffer#codec}), else {@code http1}.
     */
    private void autoCodec(Channel ch, Step h2, Step http1, java.util.function.Consumer<Boolean> direct) {
        Sniffer[] codec = new Sniffer[1];
        java.util.function.Consumer<Boolean> chosen = autoRead -> {
            codec[0].release();
            direct.accept(autoRead);
        };
        // Envoy's connection manager creates its codec on the first data however late (ConnectionManagerImpl::onData);
        // what bounds a silent client there is the connection idle timer it starts with the connection
        // (initializeReadFilterCallbacks). Without a sniff timeout (istiod's default) the choice waits that long here,
        // then the HTTP/1 codec's own idle timeout runs: a silent client is closed after twice it, where Envoy closes at once.
        long codecTimeout = sniffTimeoutMillis > 0 ? sniffTimeoutMillis : connectionIdleMillis;
        codec[0] = Sniffer.codec(codecTimeout, result -> (result == Sniffer.Result.HTTP2 ? h2 : http1).run(chosen));
        ch.pipeline().addLast("zerohop-sniff", codec[0]);
        ch.eventLoop().execute(ch::read);
    }

    /** The connection cannot be parsed: decided as the CONNECT would have been at L4 (fail closed). */
    private void atL4(Channel ch, Conn conn, Object tunnel, Step opaque, java.util.function.Consumer<Boolean> installed,
                      String why) {
        if (tunnel instanceof Channel client && LivePlaintext.deniedByPolicy(client)) {
            // Already cut and reported by the policy change (plaintext's joinFrom): not a second denial.
            reset(ch);
            return;
        }
        AccessRequest request = l4(conn);
        // Marked before deciding: a policy swap either is seen by this decision or finds the mark (redecide).
        mark(tunnel, request);
        // A DENY rule's HTTP fields cannot be checked here: taken as matched (fail closed), not omitted as ztunnel does.
        Decision d = policy.evaluateUnparsed(request);
        if (!d.allowed()) {
            Object who = conn.peer() == null ? "plaintext " + Addresses.authority(conn.source()) : conn.peer();
            io.zerohop.core.internal.RateLimitedLog budget = refusals;
            if (accessLogCarries.getAsBoolean()) {
                log.debug("denied {} -> {} ({}): {} (not parsed as HTTP: {})", who, Addresses.authority(conn.destination()), conn.localId(),
                        d.explain(), why);
            } else if (budget != null) {
                budget.warn("denied {} -> {} ({}): {} (not parsed as HTTP: {})", who, Addresses.authority(conn.destination()), conn.localId(),
                        d.explain(), why);
            } else {
                log.warn("denied {} -> {} ({}): {} (not parsed as HTTP: {})", who, Addresses.authority(conn.destination()), conn.localId(),
                        d.explain(), why);
            }
            if (tunnel instanceof TunnelInfo t) {
                denials.tunnel(t, d, why);
            } else {
                // Counted and logged at its close, with the connection's other ends (ParsedPlaintextLog).
                ch.attr(DENIED_UNPARSED).set(new UnparsedDenial(d, why));
            }
            reset(ch);
            return;
        }
        opaque.run(installed);
    }

    /** Starts tracking {@code tunnel} (a TunnelInfo, or a plaintext connection's client channel) as {@link Sniffing} until a {@link #mark} or {@code stream}'s close. */
    private void track(Channel stream, Object tunnel, Conn conn) {
        decided.put(tunnel, new Sniffing(l4(conn)));
        stream.closeFuture().addListener(x -> decided.remove(tunnel));
    }

    /** {@code tunnel}, tracked as {@link Sniffing}, is now parsed per request; its L4 request is kept for {@link #redecide}. */
    private void markParsed(Object tunnel) {
        if (tunnel != null) {
            decided.computeIfPresent(tunnel, (k, how) -> how instanceof Sniffing s ? new Parsed(s.request()) : how);
        }
    }

    /** {@code how}: the unparsed connection's request. */
    private void mark(Object tunnel, Object how) {
        if (tunnel != null) {
            decided.replace(tunnel, how);
        }
    }

    /**
     * The decision that keeps or closes an open tunnel after a policy change (ztunnel's {@code PolicyWatcher}),
     * made as its open was: a tunnel parsed as HTTP is denied by what needs no HTTP data
     * ({@link PolicyEngine#denialBeforeHttp}: a DENY on its peer or port alone, no ALLOW left that any of its
     * requests could match) and else kept (its next request meets the new policies), one still being sniffed is denied by what needs no HTTP data ({@link PolicyEngine#denialBeforeHttp}, as at its
     * CONNECT) and else kept (the sniff decides with the policies in force then), and one that fell back to
     * L4 is decided again by {@link PolicyEngine#evaluateUnparsed} on the request it was first decided on,
     * never by {@link PolicyEngine#evaluate}, which omits a DENY's HTTP fields and skips CUSTOM, and so would
     * keep a connection the same policy refuses at open.
     *
     * @param tunnel a tunnel's {@link TunnelInfo}, or a parsed plaintext connection's client channel
     * @return the decision, or null when {@code tunnel} is not one of this class's deliveries (relayed as
     *         bytes and decided at its CONNECT or accept), or has closed
     */
    public Decision redecide(Object tunnel) {
        Object how = decided.get(tunnel);
        if (how == null) {
            return null;
        }
        if (how instanceof AccessRequest unparsed) {
            return policy.evaluateUnparsed(unparsed);
        }
        if (how instanceof Sniffing sniffing) {
            // What no HTTP data can change is decided now, as at the CONNECT; the rest waits for the sniff.
            Decision denied = policy.denialBeforeHttp(sniffing.request());
            return denied != null ? denied : KEPT_SNIFFING;
        }
        if (how instanceof Parsed parsed) {
            // ztunnel re-runs assert_rbac on every tracked connection: a denial that no request can escape (a DENY
            // on the peer or port alone, no ALLOW left that can match) cuts the connection now, not at its next
            // request, which a long response, a stream or an upgraded connection may never send.
            Decision denied = policy.denialBeforeHttp(parsed.request());
            return denied != null ? denied : KEPT_PER_REQUEST;
        }
        return null;
    }

    private Http1Filter install(Channel ch, Conn conn, Function<Http1Filter, Upstream> upstream) {
        Http1Filter filter = new Http1Filter(conn, requests, observer, upstream);
        filter.idleTimeout(connectionIdleMillis);
        // Before the codecs: what the connection carries for each request (istio_request_bytes, istio_response_bytes).
        ch.pipeline().addLast("zerohop-http-wire", new Http1WireBytes());
        ch.pipeline().addLast("zerohop-http-decoder", new Http1Decoder(acceptHttp10));
        ch.pipeline().addLast("zerohop-http-encoder", new HeadAnswer.Encoder());
        ch.pipeline().addLast("zerohop-http-filter", filter);
        return filter;
    }

    private static void initApp(StreamHandler app, Channel stream, TunnelInfo tunnel) {
        try {
            app.initStream(stream, tunnel);
        } catch (Exception e) {
            log.warn("stream handler failed for {}, resetting the tunnel", tunnel, e);
            reset(stream);
        }
    }

    /**
     * Connects to the workload on the stream's event loop; the tunnel is reset when it cannot be reached. Only for a
     * tunnel relayed as bytes after the sniff: a parsed one dials per request ({@link #dial}).
     */
    private void connectThen(Channel stream, InetSocketAddress upstream, java.util.function.Consumer<Channel> then) {
        dial(stream, upstream).addListener(f -> {
            if (f.isSuccess()) {
                then.accept((Channel) f.getNow());
            } else if (stream.isActive()) {
                log.warn("upstream {} unreachable for a tunnel relayed as bytes after its sniff: {}", Addresses.authority(upstream),
                        f.cause().toString());
                reset(stream);
            }
        });
    }

    /**
     * A connection to the application for {@code stream}, ended as the tunnel ends ({@link #endUpstream}); a failure
     * fails the future only (logged at DEBUG: the request it was for gets 503 and an access line saying why). A parsed
     * tunnel dials this way for its first allowed request and again after a failed or ended connection
     * ({@link TcpUpstream}, {@link H2AppConnection}); {@link #connectThen}'s, for bytes, resets the tunnel instead.
     */
    private io.netty.util.concurrent.Future<Channel> dial(Channel stream, InetSocketAddress upstream) {
        io.netty.util.concurrent.Promise<Channel> dialled = stream.eventLoop().newPromise();
        // In a task, never inside the batch of epoll events the request came in: a dial there can take the descriptor
        // number of a connection closed earlier in the batch, whose event still in it then reaches the connecting
        // channel as the end of its input (mesh-hbone's InboundTunnel.proxy says how; a chaos pass, helper 229).
        try {
            stream.eventLoop().execute(() -> dial(stream, upstream, dialled));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            dialled.tryFailure(e);
        }
        return dialled;
    }

    private void dial(Channel stream, InetSocketAddress upstream, io.netty.util.concurrent.Promise<Channel> dialled) {
        ChannelFuture connecting = new Bootstrap().group(stream.eventLoop())
                .channel(Epoll.isAvailable() ? EpollSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                .handler(io.zerohop.hbone.internal.Transports.Dialling.INSTANCE)
                .connect(upstream);
        if (connecting.channel().isOpen()) {
            io.zerohop.hbone.internal.Transports.keepalive(connecting.channel(), keepalive);
        }
        connecting.addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                log.debug("upstream {} unreachable for an L7 tunnel: {}", Addresses.authority(upstream), f.cause().toString());
                dialled.setFailure(f.cause());
                return;
            }
            if (!stream.isActive()) {
                f.channel().close();
                dialled.setFailure(new java.nio.channels.ClosedChannelException());
                return;
            }
            f.channel().pipeline().remove(io.zerohop.hbone.internal.Transports.Dialling.INSTANCE);
            Channel up = f.channel();
            io.netty.util.concurrent.GenericFutureListener<io.netty.util.concurrent.Future<? super Void>> ends =
                    x -> endUpstream(stream, up);
            stream.closeFuture().addListener(ends);
            // As for plaintext: an application connection that closes first takes its listener off the tunnel's.
            up.closeFuture().addListener(x -> stream.closeFuture().removeListener(ends));
            dialled.setSuccess(f.channel());
        });
    }

    /**
     * The upstream goes as the tunnel went: closed after a complete tunnel (the filter or relay has
     * ended it by then), reset after a cut one (the drain's deadline aborts it, a peer resets it):
     * a FIN there read as a complete request to the application (an HTTP/1.1 body cut short, or a
     * keep-alive connection between requests), where the byte path's relay resets it (L7DrainTest).
     */
    private static void endUpstream(Channel stream, Channel upstream) {
        TunnelCodec codec = stream.pipeline().get(TunnelCodec.class);
        if (codec != null && codec.completed()) {
            H2AppConnection.closeResettingStreams(upstream);
        } else {
            reset(upstream);
        }
    }

    static void reset(Channel ch) {
        if (ch instanceof DuplexChannel d) {
            Relay.tcp(d).reset();
        } else {
            ch.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR));
            ch.close();
        }
    }

    // ---------------------------------------------------------------- decisions

    /**
     * Once per tunnel, at its start: where an untrusted {@code forwarded} claim is logged ({@code report}) for an
     * {@code http} port, whose CONNECT is allowed without a decision; elsewhere the CONNECT's decision logged it.
     */
    private Conn conn(Channel stream, TunnelInfo t, WorkloadRef target, boolean report) {
        String cert = ClientCertDetails.of(stream);
        if (sources == null) {
            return new Conn("inbound", t.peerIdentity(), t.localIdentity(), t.peerAddress(), t.peerAddress(), t.destination(),
                    target, null, t.localIdentity(), baggage(t), t.peerAddress().getAddress(), cert);
        }
        TunnelSource.Source source = sources.source(t.peerIdentity(), t.peerAddress(), t.headers(), report);
        Workload w = source.workload();
        return new Conn("inbound", t.peerIdentity(), t.localIdentity(), t.peerAddress(), t.peerAddress(), t.destination(),
                target, w == null ? null : w.ref(), t.localIdentity(), baggage(t), source.address(), cert);
    }

    private WorkloadRef lookup(InetAddress a) {
        Workload w = sources == null ? null : sources.plaintext(a);
        return w == null ? null : w.ref();
    }

    private AccessRequest l4(Conn c) {
        return AccessRequest.builder()
                .sourcePrincipal(io.zerohop.core.internal.WorkloadStrings.text(c.peer()))
                .sourceAddress(c.sourceIp())
                .destinationAddress(c.destination().getAddress())
                .destinationPort(c.destination().getPort())
                .destination(c.target())
                .sourceWorkload(c.sourceRef())
                .sourceNode(c.peer() == null && c.sourceRef() == null && sources != null ? sources.plaintextNode(c.sourceIp(),
                        sources.nodeOf(c.destination().getAddress())) : null)
                .build();
    }

    /**
     * One request: method, the request target as sent (the engine strips the query and normalizes,
     * as Envoy's RBAC with Istio's settings), Host, every header (names lower case, repeated
     * values joined with {@code ","} as Envoy's header matcher sees them), plus the connection's
     * L4 attributes.
     */
    Decision authorize(Conn c, HttpRequest req, String scheme) {
        return authorize(c, req, scheme, null);
    }

    /** The same with the request's verified JWT ({@code auth}, null for none). */
    Decision authorize(Conn c, HttpRequest req, String scheme, io.zerohop.policy.RequestAuth auth) {
        Map<String, String> headers = new HashMap<>();
        for (Map.Entry<String, String> e : req.headers()) {
            headers.merge(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue(), (a, b) -> a + "," + b);
        }
        // Envoy's connection manager removes the hop-by-hop headers before any filter (mutateRequestHeaders): RBAC never
        // reads Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, nor a TE other than trailers. The request
        // forwarded keeps its framing; until 6 December a rule on request.headers[keep-alive] matched here.
        io.zerohop.core.HeaderValidation.removeHopByHop(headers);
        headers.put(":scheme", scheme);
        String host = req.headers().get(io.netty.handler.codec.http.HttpHeaderNames.HOST, "");
        return authorize(c, req.method().name(), req.uri(), host, headers, auth);
    }

    /** The per-request questions, for both filters: the decision, and whose Envoy normalises the path. */
    private final class Requests implements RequestAdmission.Authorizer, H2Proxy.Authorizer {
        @Override
        public Decision authorize(Conn conn, HttpRequest request, String scheme) {
            return HttpEnforcement.this.authorize(conn, request, scheme);
        }

        @Override
        public Decision authorize(Conn conn, String method, String path, String authority, Map<String, String> headers) {
            return HttpEnforcement.this.authorize(conn, method, path, authority, headers, null);
        }

        @Override
        public Decision authorize(Conn conn, HttpRequest request, String scheme, io.zerohop.policy.RequestAuth auth) {
            return HttpEnforcement.this.authorize(conn, request, scheme, auth);
        }

        @Override
        public Decision authorize(Conn conn, String method, String path, String authority, Map<String, String> headers,
                                  io.zerohop.policy.RequestAuth auth) {
            return HttpEnforcement.this.authorize(conn, method, path, authority, headers, auth);
        }

        @Override
        public JwtAuthn.Outcome authenticate(Conn conn, JwtAuthn.Message request, String scheme, String authority) {
            // Per request, on the policies in force, as ciliumPaths.
            return jwt.authenticate(conn, jwtRules(conn), request, scheme, authority);
        }

        @Override
        public JwtAuthn.Outcome authenticate(Conn conn, JwtAuthn.Message request, String scheme, String authority, JwtAuthn.Hold after) {
            return jwt.authenticate(conn, jwtRules(conn), request, scheme, authority, after);
        }

        @Override
        public boolean ciliumPaths(Conn conn) {
            // Per request, on the policies in force: a stale answer could forward a path no policy decided on.
            return policy.ciliumHttp(conn.target(), conn.destination().getPort());
        }

        @Override
        public boolean connectionDenied(Conn conn) {
            return policy.denialBeforeHttp(l4(conn)) != null;
        }

        @Override
        public boolean draining() {
            return draining;
        }

        @Override
        public void track(LiveRequest r) {
            live.add(r);
        }

        @Override
        public void untrack(LiveRequest r) {
            live.remove(r);
        }
    }

    /**
     * Set by {@link #drainConnections}: a connection whose HTTP parser starts later (an HTTP port's first bytes, which
     * tell HTTP/1 from HTTP/2, came during the drain) is drained from its start. Envoy's connection manager asks its
     * drain decision on every response ({@code conn_manager_impl.cc ActiveStream::encodeHeaders},
     * {@code drain_close_.drainClose()} then {@code startDrainSequence}), whenever the connection began; until
     * 6 December such a connection never learnt of the drain: keep-alive answers, and open until the deadline's reset.
     */
    private volatile boolean draining;

    /** The open, allowed requests this class forwards (HTTP/2 streams, HTTP/1 connections), for {@link #redecideRequests}. */
    private final java.util.Set<LiveRequest> live = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * After a policy change: every open request forwarded to an application (an HTTP/2 stream: a gRPC call, a long
     * response; an HTTP/1 request in progress or the one that upgraded its connection) is decided again, on its own
     * event loop, on what it was decided on at its start, and ended when that now denies (see {@code H2Proxy},
     * {@code Http1Filter}; beyond Envoy, which decides a request once). Returns how many were handed to their loops
     * (HTTP/1 connections count whether or not a request is in progress, HTTP/2 connections too, for which it is
     * nothing: their streams count on their own); the decisions follow there.
     */
    public int redecideRequests() {
        int n = 0;
        for (LiveRequest r : live.toArray(new LiveRequest[0])) {
            r.redecide();
            n++;
        }
        return n;
    }

    /**
     * The mesh began to drain: every HTTP/1 connection this class parses is ended cleanly once nothing is in progress
     * on it ({@code Http1Filter}), and every HTTP/2 connection gets GOAWAY and ends once its streams are done
     * ({@code H2ConnectionEnds.Drain#meshDraining}), as Envoy's connection manager drains the connections of a draining
     * listener. Returns how many open requests and connections were told; each acts on its own event loop.
     */
    public int drainConnections() {
        // Before the filters are listed: one made after the list reads it when it starts (Http1Filter, H2Proxy), one
        // made before is told below.
        draining = true;
        int n = 0;
        for (LiveRequest r : live.toArray(new LiveRequest[0])) {
            r.drain();
            n++;
        }
        return n;
    }

    /**
     * The same for an HTTP/2 request: {@code :method}, {@code :path}, {@code :authority} as the host; {@code auth} the
     * request's verified JWT ({@link JwtAuthn}), null for none, which {@code requestPrincipals} and {@code request.auth.*}
     * match.
     */
    Decision authorize(Conn c, String method, String path, String host, Map<String, String> headers, io.zerohop.policy.RequestAuth auth) {
        Decision d = policy.evaluate(l4(c).withHttp(new HttpAttributes(method, path, host, headers, auth)));
        if (!d.allowed()) {
            log.debug("denied {} {} {} -> {}: {}", c.peer(), method, path, Addresses.authority(c.destination()), d.explain());
        }
        return d;
    }
}
