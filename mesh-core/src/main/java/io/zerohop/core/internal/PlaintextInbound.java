package io.zerohop.core.internal;

import io.zerohop.hbone.internal.Relay;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.core.Addresses;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Workload;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.policy.Decision;
import io.zerohop.policy.MtlsMode;
import io.zerohop.policy.PolicyEngine;
import java.net.InetSocketAddress;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Plaintext arriving at this node's workloads, along ztunnel's {@code src/proxy/inbound_passthrough.rs}
 * (its port 15006). Phases, in order: a destination port of the proxy's own is a self call, dropped;
 * the destination must be a local workload; its PeerAuthentication must allow plaintext (STRICT
 * refuses); the policy decides with no peer identity, unless the port is decided per HTTP request (on an
 * {@code auto} port, then, only a denial no HTTP data can change: {@code PolicyEngine.denialBeforeHttp});
 * then the connection is relayed to the workload, dialled first, or, on such a port, parsed, the workload dialled for
 * its first allowed request ({@link #open(SocketChannel, InetSocketAddress, InetSocketAddress)}). A refusal fails the
 * returned future and the capture listener resets the connection; a refusal logged here (self call,
 * PeerAuthentication, policy) is a {@link LoggedRefusal}, which the listener does not log again.
 */
public final class PlaintextInbound implements CaptureListener.Opener {
    /**
     * What {@link #admit} decided: relay to {@code workload} (parsing requests when {@code perRequest}),
     * or refuse. A refusal with a {@code workload} is a denial (PeerAuthentication STRICT, a policy),
     * which ztunnel counts (its inbound_passthrough.rs builds the connection result before RBAC);
     * one without (a self call, a destination not served here) is its early deny, logged only. A refusal's
     * {@code reason} is zerohop's explanation (its access line), {@code rejection} ztunnel's error text (ztunnel's
     * format); both null for an admission.
     */
    public record Admission(Workload workload, boolean perRequest, RuntimeException refusal, String reason, String rejection) {
        public Admission(Workload workload, boolean perRequest, RuntimeException refusal) {
            this(workload, perRequest, refusal, null, null);
        }
    }

    private final LocalWorkloads local;
    private final OwnPorts ownPorts;
    private final PolicyEngine engine;
    private final PolicyAuthorizer policy;
    private final HttpEnforcement http;
    private final TunnelObserver observer;
    private final RateLimitedLog refusals;
    private final InboundEndpoints endpoints;
    private final io.zerohop.hbone.TcpKeepalive keepalive;
    private final LivePlaintext live = new LivePlaintext();
    private static final Decision NOT_PARSED_YET = Decision.allowNoPolicy(
            "decided per HTTP request, its parser not installed yet: its requests meet the policies in force");

    /** @param engine null: every mode is PERMISSIVE and every connection allowed (then {@code policy} is null too) */
    public PlaintextInbound(LocalWorkloads local, OwnPorts ownPorts, PolicyEngine engine,
                            PolicyAuthorizer policy, HttpEnforcement http, TunnelObserver observer, RateLimitedLog refusals) {
        this(local, ownPorts, engine, policy, http, observer, refusals, InboundEndpoints.NONE);
    }

    /** @param endpoints where a workload address's connections are dialled ({@code Mesh.Builder.inboundEndpoint}) */
    public PlaintextInbound(LocalWorkloads local, OwnPorts ownPorts, PolicyEngine engine, PolicyAuthorizer policy,
                            HttpEnforcement http, TunnelObserver observer, RateLimitedLog refusals, InboundEndpoints endpoints) {
        this(local, ownPorts, engine, policy, http, observer, refusals, endpoints, null);
    }

    /** @param keepalive of the workload's dialled socket (ztunnel's setup_socket on every dial); null: TcpKeepalive.DEFAULT */
    public PlaintextInbound(LocalWorkloads local, OwnPorts ownPorts, PolicyEngine engine, PolicyAuthorizer policy,
                            HttpEnforcement http, TunnelObserver observer, RateLimitedLog refusals, InboundEndpoints endpoints,
                            io.zerohop.hbone.TcpKeepalive keepalive) {
        this.keepalive = keepalive == null ? io.zerohop.hbone.TcpKeepalive.DEFAULT : keepalive;
        this.endpoints = Objects.requireNonNull(endpoints, "endpoints");
        this.local = Objects.requireNonNull(local, "local");
        this.ownPorts = Objects.requireNonNull(ownPorts, "ownPorts");
        this.engine = engine;
        this.policy = policy;
        this.http = Objects.requireNonNull(http, "http");
        this.observer = observer;
        this.refusals = Objects.requireNonNull(refusals, "refusals");
    }

    /** The effective PeerAuthentication mode for plaintext arriving at {@code w}:{@code port}. */
    public MtlsMode mtlsMode(Workload w, int port) {
        return engine == null ? MtlsMode.PERMISSIVE : engine.mtlsMode(w.ref(), port);
    }

    /** Every phase before the relay; refusals are logged here (rate-limited). */
    public Admission admit(InetSocketAddress source, InetSocketAddress target) {
        // ztunnel's inbound_passthrough.rs: any destination port of its own is an illegal call. What it guards is a
        // connection dialled back into the proxy, so with an inboundEndpoint the address checked is the endpoint: the
        // workload's port may then be this very listener (plaintext inbound on the port the application left).
        InetSocketAddress dialled = endpoints.of(target);
        if (ownPorts.isSelf(dialled, local::hostHas)) {
            String at = Addresses.authority(target) + (dialled == target ? "" : " (inboundEndpoint " + Addresses.authority(dialled) + ")");
            refusal("self call {} (plaintext, no identity) -> {} ({}) dropped: one of this proxy's own ports ({})",
                    Addresses.authority(source), at,
                    local.registry().byAddress(target.getAddress()).map(w -> w.hasKnownIdentity() ? local.registry().identityOf(w).toString()
                            : "no identity").orElse("no workload"),
                    ownPorts.owner(dialled.getPort()));
            return new Admission(null, false, new LoggedRefusal("self call: " + at
                    + " is one of this proxy's own ports, dropped"), SELF_CALL_REASON + " (" + ownPorts.owner(dialled.getPort()) + ")", SELF_CALL);
        }
        Workload w = local.at(target.getAddress()).orElse(null);
        if (w == null) {
            return new Admission(null, false, new IllegalStateException("plaintext to " + Addresses.authority(target)
                    + ": " + NOT_LOCAL), NOT_LOCAL, unknownDestination(target));
        }
        boolean perRequest = http.enforces(w.ref(), w.appProtocol(target.getPort()), target.getPort());
        MtlsMode mode = mtlsMode(w, target.getPort());
        if (!mode.allowsPlaintext()) {
            refusal("plaintext {} -> {} ({}) refused: PeerAuthentication {} requires mTLS", Addresses.authority(source),
                    Addresses.authority(target), w.identity(), mode);
            return new Admission(w, perRequest, new LoggedRefusal("PeerAuthentication " + mode + " for " + w
                    + " port " + target.getPort() + " refuses plaintext"), "PeerAuthentication " + mode + " requires mTLS",
                    ZtunnelAccessLog.strictRejection(engine.rootNamespace()));
        }
        if (policy != null) {
            // Per request on an auto port: what needs no HTTP data is decided now, before the sniff waits for bytes.
            Decision d = !perRequest ? policy.decidePlaintext(source, w, target)
                    : w.appProtocol(target.getPort()) == AppProtocol.AUTO ? policy.plaintextDenialBeforeSniff(source, w, target)
                    : null;
            if (d != null && !d.allowed()) {
                refusal("plaintext {} -> {} ({}) denied: {}", Addresses.authority(source), Addresses.authority(target),
                        w.identity(), d.explain());
                return new Admission(w, perRequest, new LoggedRefusal(d.explain()), d.explain(),
                        ZtunnelAccessLog.rejection(PolicyAuthorizer.rejection(d), d.explain()));
            }
        }
        return new Admission(w, perRequest, null);
    }

    /**
     * A denial's WARN, through the refusal budget; DEBUG while the access log writes the connection's line, which names
     * the same decision ({@link TunnelObserver#plainRefused}), as a refused tunnel's authorizer line is
     * ({@code PolicyAuthorizer}): one line per refused connection.
     */
    private void refusal(String format, Object... args) {
        if (observer != null && observer.logsRefusals()) {
            LOG.debug(format, args);
        } else {
            refusals.warn(format, args);
        }
    }

    /** The Display of ztunnel's {@code Error::SelfCall} (istio/ztunnel src/proxy.rs), its early deny's error. */
    static final String SELF_CALL = "attempted recursive call to ourselves";
    /** A self call's {@code reason} in zerohop's access line. */
    static final String SELF_CALL_REASON = "self call: one of this proxy's own ports";
    /** Plaintext to an address no local workload has: the refusal's words and its access line's {@code reason}. */
    static final String NOT_LOCAL = "not a workload of this node";

    /**
     * The Display of ztunnel's {@code Error::UnknownDestination(IpAddr)}, {@code unknown destination: IP}: what its shared
     * node mode's plaintext passthrough early-denied for an address without a workload (istio/ztunnel
     * src/proxy/inbound_passthrough.rs before commit 4de5e896, #1218, which made each pod's proxy fetch its own
     * workload instead; src/proxy.rs). The address as Rust prints an {@code IpAddr} (IPv6 compressed, RFC 5952).
     */
    static String unknownDestination(InetSocketAddress target) {
        return "unknown destination: " + io.netty.util.NetUtil.toAddressString(target.getAddress());
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger("io.zerohop.core.Mesh");

    /**
     * The capture listener's opener: {@link #admit}, then, for a port relayed as bytes, the TCP connection to the
     * workload, dialled on {@code loop} (the accepted connection's) so that the relay's two sides share it. A port decided
     * per request needs the accepted connection ({@link #open(SocketChannel, InetSocketAddress, InetSocketAddress)}).
     */
    @Override
    public CompletableFuture<Relay.End> open(InetSocketAddress source, InetSocketAddress target, EventLoop loop) {
        return open(null, loop, source, target);
    }

    /**
     * As {@link #open(InetSocketAddress, InetSocketAddress, EventLoop)}; a port decided per request is not dialled here:
     * its end parses {@code client} and dials the workload for the first allowed request ({@link HttpEnforcement#plaintext}),
     * as a waypoint's router asks for an upstream connection only once RBAC let a request through. So with the application
     * down a denied request still gets its 403 and its deny line, an allowed one Envoy's 503 ({@code URX,UF}, after retries), and the
     * connection goes on; until 2 December it was dialled here and its failure reset the client before any request.
     */
    @Override
    public CompletableFuture<Relay.End> open(SocketChannel client, InetSocketAddress source, InetSocketAddress target) {
        return open(client, client.eventLoop(), source, target);
    }

    private CompletableFuture<Relay.End> open(SocketChannel client, EventLoop loop, InetSocketAddress source, InetSocketAddress target) {
        // Before the decision: a policy change from here to the tracking below is re-decided at the tracking.
        long changes = live.changes();
        long start = System.nanoTime();
        Admission a = admit(source, target);
        if (a.refusal() != null) {
            if (a.workload() == null && a.rejection() != null && observer != null) {
                observer.plainEarlyDeny(source, target, local.registry().byAddress(target.getAddress()).map(local.registry()::identityOf)
                        .orElse(null), a.reason(), a.rejection());
                // The access line is the connection's one line: the capture listener adds none.
                return CompletableFuture.failedFuture(observer.logsRefusals() && !(a.refusal() instanceof LoggedRefusal)
                        ? new LoggedRefusal(a.refusal().getMessage()) : a.refusal());
            } else if (a.workload() != null && observer != null) {
                // ztunnel's istiod turns STRICT into an RBAC rule: both are AuthorizationPolicyDenied there.
                observer.plainRefused(source, target, local.registry().identityOf(a.workload()), a.reason(), a.rejection(), start);
            }
            return CompletableFuture.failedFuture(a.refusal());
        }
        Workload w = a.workload();
        AppProtocol proto = w.appProtocol(target.getPort());
        InetSocketAddress endpoint = endpoints.of(target);
        if (a.perRequest()) {
            if (client == null) {
                return CompletableFuture.failedFuture(new IllegalStateException("plaintext to " + Addresses.authority(target)
                        + " is parsed per request: open it with its accepted connection"));
            }
            Relay.End parsed = http.plaintext(client, () -> CaptureListener.connectTcp(client.eventLoop(), endpoint, false, keepalive), source, target,
                    w.ref(), local.registry().identityOf(w), proto);
            if (policy != null) {
                parsed = tracked(parsed, source, w, target, changes);
            }
            return CompletableFuture.completedFuture(observer == null ? parsed
                    : observer.plainParsed(parsed, source, target, local.registry().identityOf(w)));
        }
        return dialed(CaptureListener.connectTcp(loop, endpoint, true, keepalive), source, target, local.registry().identityOf(w), start).thenApply(end -> {
            if (policy != null) {
                live.track(end.channel(), source, target,
                        () -> redecide(source, target, w, end.channel(), false), changes);
            }
            return observer.plain(end, "plaintext-inbound", true, source, target, local.registry().identityOf(w));
        });
    }

    /**
     * {@code parsed}, tracked for policy changes by its client's connection from its join, before the parser is installed:
     * the application's connection may never exist (every request denied, or its dial failing).
     */
    private Relay.End tracked(Relay.End parsed, InetSocketAddress source, Workload w, InetSocketAddress target,
                              long changes) {
        return new Relay.ForwardingEnd(parsed) {
            @Override
            public void joinFrom(Relay.End client) {
                Channel ch = client.channel();
                live.track(ch, source, target, () -> redecide(source, target, w, ch, true), changes);
                end.joinFrom(client);
            }
        };
    }

    /**
     * What keeps an open plaintext connection after a policy change, decided as its admission was (as
     * {@code Inbound.reauthorize} for tunnels): parsed per request or still sniffed, cut only by a denial no
     * request can escape ({@code PolicyEngine.denialBeforeHttp}, PeerAuthentication STRICT included), else kept;
     * fallen back to L4 on an {@code auto} port, {@code evaluateUnparsed} again; relayed as bytes, {@code evaluate},
     * or {@code evaluateUnparsed} where the port now has HTTP rules.
     */
    private io.zerohop.policy.Decision redecide(InetSocketAddress source, InetSocketAddress target, Workload w,
                                                Channel tracked, boolean admittedPerRequest) {
        io.zerohop.policy.Decision perRequest = http.redecide(tracked);
        if (perRequest != null) {
            return perRequest;
        }
        if (admittedPerRequest) {
            // Joined, not yet handed to the parser (LivePlaintext.track runs first): decided as its admission was, never
            // by evaluateUnparsed, which would cut every connection an ALLOW with HTTP fields is yet to admit.
            io.zerohop.policy.Decision d = w.appProtocol(target.getPort()) == AppProtocol.AUTO
                    ? policy.plaintextDenialBeforeSniff(source, w, target) : null;
            return d != null ? d : NOT_PARSED_YET;
        }
        return http.enforces(w.ref(), w.appProtocol(target.getPort()), target.getPort())
                ? policy.decidePlaintextUnparsed(source, w, target) : policy.decidePlaintext(source, w, target);
    }

    /** The open plaintext connections, re-decided on a policy change. */
    public LivePlaintext live() {
        return live;
    }

    /**
     * The refusal line's ends, as this class's own refusal lines name them: plaintext inbound, the
     * source without identity, the destination with its workload's identity.
     */
    @Override
    public String ends(InetSocketAddress source, InetSocketAddress destination) {
        return "plaintext inbound " + Addresses.authority(source) + " (no identity) -> " + Addresses.authority(destination) + " ("
                + local.at(destination.getAddress()).map(w -> local.registry().identityOf(w).toString()).orElse("not a workload of this node")
                + ")";
    }

    /**
     * {@code dial}, whose failure is ztunnel's {@code Error::ConnectionFailed} (inbound_passthrough.rs
     * {@code freebind_connect(..).map_err(Error::ConnectionFailed)}, then {@code record(res)}): counted {@code CONNECT}
     * with the relay's labels and the connection's one access line ({@link TunnelObserver#plainDialFailed}); while the
     * access log writes it, the failure is a {@link LoggedRefusal}, so the capture listener adds no line of its own.
     */
    private CompletableFuture<Relay.End> dialed(CompletableFuture<Relay.End> dial, InetSocketAddress source, InetSocketAddress target,
                                                Object targetId, long start) {
        if (observer == null) {
            return dial;
        }
        return dial.handle((end, e) -> {
            if (e == null) {
                return CompletableFuture.completedFuture(end);
            }
            String cause = io.zerohop.hbone.internal.DialErrors.describe(e);
            observer.plainDialFailed(source, target, targetId, cause, start);
            return CompletableFuture.<Relay.End>failedFuture(observer.logsRefusals()
                    ? new LoggedRefusal("upstream " + Addresses.authority(target) + " unreachable: " + cause) : e);
        }).thenCompose(f -> f);
    }

}
