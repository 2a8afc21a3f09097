package io.zerohop.core.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Addresses;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.core.internal.http.HttpEnforcement;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.IdentitySelector;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.policy.Decision;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The HBONE server side of a mesh, along ztunnel's {@code src/proxy/inbound.rs}. The HBONE server
 * validates each CONNECT (method, {@code :authority}) and then asks this class, in order:
 * <ol>
 *   <li><b>identity</b> ({@link #select}, once per connection): the SVID the handshake presents;
 *   <li><b>resolve</b> ({@link #resolve}): whether the target is served here and how it is
 *       delivered, or the refusal status (ztunnel's {@code build_inbound_request});
 *   <li><b>authorize</b> ({@link #authorize(AuthzRequest, Destination)}): the policy decision for
 *       the CONNECT, or none when the resolve phase chose per-request (L7) enforcement; the server
 *       passes the resolve phase's {@link Destination}, so the choice is never recomputed (which
 *       would race a policy change between the two calls and could admit a raw tunnel unchecked);

 *   <li><b>deliver</b>: the server dials {@link Destination.Proxy} or hands the stream to the
 *       {@link Destination.Embedded} handler chosen by resolve.
 * </ol>
 * Every phase is a pure function of its arguments and the state in force: nothing is carried
 * between calls.
 */
public final class Inbound implements IdentitySelector, DestinationResolver, Authorizer {
    private final LocalWorkloads local;
    private final SpiffeId identity;
    private final OwnPorts ownPorts;
    private final HttpEnforcement http;
    private final PolicyAuthorizer policy;
    private final InboundEndpoints endpoints;
    private final Map<InetSocketAddress, StreamHandler> embedded = new ConcurrentHashMap<>();
    /** ztunnel's {@code ENABLE_RESPONSE_BAGGAGE} ({@link #responseBaggage(boolean)}); on by default, as there. */
    private volatile boolean responseBaggage = true;
    /** In the IP-mismatch refusal, between the CONNECT's address and the dialled one (ZtunnelAccessLog reads both). */
    static final String WENT_TO = ", but this connection went to ";

    /**
     * @param identity the mesh's own identity, presented when the dialled address is no local
     *                 workload; may be null
     * @param policy   null: every authenticated peer is allowed (Istio with no policy)
     */
    public Inbound(LocalWorkloads local, SpiffeId identity, OwnPorts ownPorts, HttpEnforcement http, PolicyAuthorizer policy) {
        this(local, identity, ownPorts, http, policy, InboundEndpoints.NONE);
    }

    /** @param endpoints where a workload address's tunnels are dialled ({@code Mesh.Builder.inboundEndpoint}) */
    public Inbound(LocalWorkloads local, SpiffeId identity, OwnPorts ownPorts, HttpEnforcement http, PolicyAuthorizer policy,
                   InboundEndpoints endpoints) {
        this.endpoints = Objects.requireNonNull(endpoints, "endpoints");
        this.local = Objects.requireNonNull(local, "local");
        this.identity = identity;
        this.ownPorts = Objects.requireNonNull(ownPorts, "ownPorts");
        this.http = Objects.requireNonNull(http, "http");
        this.policy = policy;
    }

    /**
     * ztunnel's {@code ENABLE_RESPONSE_BAGGAGE} ({@code enable_enhanced_baggage}, istio/ztunnel src/config.rs, default true):
     * off, a 200 carries no {@code baggage} header ({@code build_response} in src/proxy/inbound.rs, test
     * {@code test_build_response_baggage_feature_gate}). The same switch stops the CONNECT's own baggage from labelling its
     * source ({@link TunnelObserver#readBaggage}). Applies to CONNECTs resolved afterwards.
     */
    public void responseBaggage(boolean on) {
        this.responseBaggage = on;
    }

    /** The destination workload's baggage for the 200, or null when {@link #responseBaggage(boolean)} is off. */
    private String baggageFor(Workload w) {
        return responseBaggage ? local.baggageOf(w, null).header() : null;
    }

    /** Tunnels to exactly {@code destination} go to {@code handler} in-process, before any other rule. */
    public void serve(InetSocketAddress destination, StreamHandler handler) {
        embedded.put(Objects.requireNonNull(destination, "destination"), Objects.requireNonNull(handler, "handler"));
    }

    /** The destinations {@link #serve} was given, as the log names them. */
    public java.util.List<String> served() {
        return embedded.keySet().stream().map(io.zerohop.core.Addresses::authority).sorted().toList();
    }

    // ---- phase 1: identity ----

    /**
     * The SVID of the local workload at the dialled address, else the mesh's own identity (null: refused before TLS). A
     * local workload outside the mesh ({@code protocol: TCP}) is refused before TLS: ztunnel has no HBONE endpoint there
     * (istio-cni enrols mesh pods only), and until 4 December its SVID completed a handshake that resolve then answered 400.
     */
    @Override
    public SpiffeId select(InetSocketAddress localAddress) {
        Workload w = local.at(localAddress.getAddress()).orElse(null);
        if (w == null) {
            return identity;
        }
        return w.protocol() == Workload.Protocol.HBONE ? w.identity() : null;
    }

    // ---- phase 2: resolve ----

    /**
     * ztunnel's {@code find_inbound_upstream} for {@code HboneAddress::SvcHostname} (src/proxy/inbound.rs): the Service of
     * that host name for the dialled workload's namespace ({@link WorkloadRegistry#bestService}: of several Services of
     * the name in several namespaces, that namespace's, else the canonical one, else the first), and the dialled workload's own address at the port the Service
     * maps {@code port} to there: the endpoint's own mapping or named container port when the workload is an endpoint of
     * it, else the numbered target port. Null (503) for no such Service, no such service port, a named target port on a
     * workload that is no endpoint (istiod sends ztunnel 0 for it: {@code NoPortForServices}), or a dialled address that
     * is no local workload. {@link #resolve} and the authorization then see the address as if the client had named it, as
     * ztunnel's RBAC sees the upstream address.
     */
    @Override
    public InetSocketAddress resolveHostname(String hostname, int port, SpiffeId localIdentity, InetSocketAddress localAddress) {
        if (localAddress == null) {
            return null;
        }
        Workload w = local.at(localAddress.getAddress()).orElse(null);
        if (w == null) {
            return null;
        }
        // ztunnel's find_service_by_hostname: get_best_by_host with the local workload's namespace.
        Service svc = local.registry().bestService(hostname, w.namespace()).orElse(null);
        Service.Port p = svc == null ? null : svc.port(port);
        if (p == null) {
            return null;
        }
        int target = svc.selects(w) ? svc.targetOn(p, w) : p.targetPort();
        return target == 0 ? null : new InetSocketAddress(localAddress.getAddress(), target);
    }

    /** The text of ztunnel's {@code NoPortForServices} in a refusal reason; {@link ZtunnelAccessLog} prints ztunnel's. */
    static final String NO_PORT = " found, but no port here for service port ";

    /**
     * Why {@link #resolveHostname} refused: ztunnel's {@code NoPortForServices} ({@code find_inbound_upstream}: a Service
     * of that name whose port resolves to none on this workload: no such service port, or a named target port the
     * workload has no number for) when the registry has a Service of the name and the dialled address is a local
     * workload; else null (the server's NoHostname text).
     */
    @Override
    public String hostnameRefusal(String hostname, int port, SpiffeId localIdentity, InetSocketAddress localAddress) {
        Workload w = localAddress == null ? null : local.at(localAddress.getAddress()).orElse(null);
        // The Service resolveHostname looked at: the one of the name for the dialled workload's namespace.
        if (w == null || local.registry().bestService(hostname, w.namespace()).isEmpty()) {
            return null;
        }
        return "service " + hostname + NO_PORT + port;
    }

    /** 400 for a destination of another identity than the one this connection presented (the client verified that one). */
    private Destination refuseOtherIdentity(Workload workload, SpiffeId localIdentity, InetSocketAddress localAddress,
                                            InetSocketAddress dst) {
        // Tunnelling to another workload would let the client reach something it never authenticated.
        // The reason says why and what to do: a new-user pass dialled one workload's address for another's.
        String dialled = localAddress == null ? null : localAddress.getAddress().getHostAddress();
        return Destination.refuse(400, "destination " + workload + " is " + workload.identity()
                + ", but this connection presented " + localIdentity
                + (dialled == null ? "" : local.at(localAddress.getAddress()).isPresent()
                        ? " (the SVID of the workload at " + dialled + ", the address dialled)"
                        : " (this proxy's own: " + dialled + ", the address dialled, is no local workload's)")
                + ": a connection reaches only workloads of the identity it presented; the client must dial "
                + dst.getAddress().getHostAddress() + " (" + workload + "'s own address) on the HBONE port");
    }

    /**
     * In order: 400 for a registry workload's address other than {@code localAddress}'s when that is a local workload's
     * own (ztunnel's {@code validate_destination}); a {@link #serve} registration for exactly {@code dst}, unless a
     * registry workload of another identity has that address (400); 400 for an IP that is no local workload, or one
     * outside the mesh ({@code protocol: TCP}); 400 for a local workload of another identity than the one presented (the
     * client verified that one); 503 for one of the proxy's own ports (ztunnel's {@code Error::SelfCall}, after its 400
     * checks); else the workload's TCP port, dialled at its {@link InboundEndpoints endpoint} when it has one (policy,
     * logs and metrics still name {@code dst}). On ports with HTTP rules the delivery parses requests and the result
     * {@link HttpEnforcement#decidesPerRequest decides per request}. {@code localAddress} (the listener's) chooses
     * nothing else; a refusal names it, as the address whose SVID the client got.
     */
    @Override
    public Destination resolve(InetSocketAddress dst, SpiffeId localIdentity, InetSocketAddress localAddress) {
        StreamHandler h = embedded.get(dst);
        // A workload without identity (an EndpointSlice's endpoint: the address of a VM behind a selectorless Service,
        // say) is no workload this proxy could serve or compare identities with: an address outside the registry here, so
        // a serve() handler at it is reached (a review pass: every tunnel to it was refused "destination ... is null").
        Optional<Workload> w = local.registry().byAddress(dst.getAddress()).filter(Workload::hasKnownIdentity);
        if (w.isPresent() && localAddress != null && !localAddress.getAddress().equals(dst.getAddress())) {
            Optional<Workload> dialled = local.at(localAddress.getAddress());
            if (dialled.isPresent()) {
                // ztunnel's validate_destination (src/proxy/inbound.rs, Error::IPMismatch, its test "to server ip
                // mismatch"): a connection to a workload's own address tunnels to that address only, even to a replica
                // of the same identity or an in-process handler at another workload's address; until 4 December zerohop
                // let it reach any local workload of the identity (a review pass). A serve() address outside the
                // registry is the embedder's own and stays reachable.
                return Destination.refuse(400, "destination " + w.get() + " is at " + dst.getAddress().getHostAddress()
                        + WENT_TO + localAddress.getAddress().getHostAddress() + " (" + dialled.get()
                        + "'s own address, whose SVID it presented): a connection to a workload's address tunnels to that"
                        + " address only, as ztunnel's validate_destination; the client must dial "
                        + dst.getAddress().getHostAddress() + " (" + w.get() + "'s own address) on the HBONE port");
            }
        }
        if (h != null && w.isPresent() && !w.get().hasIdentity(localIdentity)) {
            // An in-process handler at a workload's address serves it under that workload's identity, not the one this
            // connection presented (a review pass reached a handler at db's address over api's SVID).
            return refuseOtherIdentity(w.get(), localIdentity, localAddress, dst);
        }
        if (h != null) {
            WorkloadRef ref = w.map(Workload::ref).orElseGet(() -> PolicyAuthorizer.refOf(localIdentity));
            AppProtocol proto = w.map(x -> x.appProtocol(dst.getPort())).orElse(AppProtocol.AUTO);
            String baggage = w.map(this::baggageFor).orElse(null);
            return http.enforces(ref, proto, dst.getPort())
                    ? Destination.embedded(http.embedded(h, ref, proto), baggage)
                    : Destination.embedded(h, baggage);
        }
        if (w.isEmpty() || !local.isLocal(w.get())) {
            return Destination.notServed();
        }
        Workload workload = w.get();
        if (workload.protocol() != Workload.Protocol.HBONE) {
            // A workload outside the mesh has no HBONE endpoint in ztunnel (istio-cni enrolls only mesh pods,
            // src/inpod/statemanager.rs); a review pass tunnelled to one through this node's proxy.
            return Destination.refuse(400, "destination " + workload + " is not in the mesh (protocol TCP): it has no"
                    + " HBONE endpoint, so no tunnel reaches it; send it plaintext");
        }
        if (!workload.hasIdentity(localIdentity)) {
            return refuseOtherIdentity(workload, localIdentity, localAddress, dst);
        }
        InetSocketAddress upstream = endpoints.of(dst);
        if (upstream == dst && ownPorts.isSelf(dst, local::hostHas)) {
            // ztunnel's inbound.rs find_inbound_upstream: `cfg.illegal_ports.contains(&dest.port())`. It guards against
            // dialling the proxy itself; with an inboundEndpoint the endpoint is dialled and checked below instead, so
            // the workload's port may be a listener of this mesh (plaintext inbound on the port the application left).
            return Destination.refuse(503, "self call: port " + dst.getPort()
                    + " is one of this proxy's own ports (" + ownPorts.owner(dst.getPort()) + ")");
        }
        AppProtocol proto = workload.appProtocol(dst.getPort());
        if (upstream != dst && ownPorts.isSelf(upstream, local::hostHas)) {
            // An endpoint that is one of this mesh's own listeners (a capture forwarding back to the workload) would
            // open a tunnel per tunnel until descriptors run out (newuser24): the same self call, at the endpoint.
            return Destination.refuse(503, "self call: inboundEndpoint " + Addresses.authority(upstream) + " for "
                    + Addresses.authority(dst) + " is one of this proxy's own listeners (" + ownPorts.owner(upstream.getPort()) + ")");
        }
        // ztunnel answers the 200 with the destination workload's baggage (src/proxy/inbound.rs build_response, under
        // ENABLE_RESPONSE_BAGGAGE, on by default): a ztunnel client on a double-HBONE path takes its metrics' destination
        // labels from it. Until 5 December the 200 carried none, so such a client labelled every destination "unknown"
        // (a review pass, helper 255).
        String baggage = baggageFor(workload);
        return http.enforces(workload.ref(), proto, dst.getPort())
                ? Destination.embedded(http.proxy(upstream, workload.ref(), proto), baggage)
                : Destination.proxy(upstream, baggage);
    }

    // ---- phase 3: authorize ----

    /**
     * The CONNECT's decision: when the resolve phase chose a delivery that decides each request (README "L7
     * enforcement"), allowed without a verdict, except on an {@code auto} port, where a denial that no HTTP data
     * can change is given now ({@link PolicyAuthorizer#authorizeBeforeSniff}), and for HTTP/2 to an embedded handler,
     * which is never parsed ({@link PolicyAuthorizer#authorizeUnparsed}); else the policy's L4 decision.
     *
     * @param destination what {@link #resolve} returned for this CONNECT
     */
    @Override
    public AuthzDecision authorize(AuthzRequest request, Destination destination) {
        if (HttpEnforcement.decidesPerRequest(destination)) {
            // On an auto port what needs no HTTP data is decided now, before the sniff waits for bytes; a tunnel that
            // can never be parsed (HTTP/2 to an embedded handler) has no other decision than its L4 one.
            return policy == null ? AuthzDecision.allow()
                    : HttpEnforcement.sniffs(destination) ? policy.authorizeBeforeSniff(request)
                    : HttpEnforcement.decidedUnparsed(destination) ? policy.authorizeUnparsed(request)
                    : AuthzDecision.allow();
        }
        return authorize(request);
    }

    /** The policy's L4 decision, for a caller that does not know the delivery (never skips the policy). */
    @Override
    public AuthzDecision authorize(AuthzRequest request) {
        return policy == null ? AuthzDecision.allow() : policy.authorize(request);
    }

    /**
     * What keeps an open tunnel after a policy change (ztunnel's {@code PolicyWatcher}), decided as its open
     * was, never wider than a fresh decision. A tunnel delivered per request is {@link HttpEnforcement#redecide}'s:
     * parsed, it stays (every request is decided on its own; an L4 verdict would close it whenever ALLOW rules
     * name HTTP fields); fallen back to opaque bytes on an {@code auto} port, it is decided again by
     * {@code evaluateUnparsed}, as at its open. Any other tunnel is relayed as bytes: decided at L4, or, where the
     * port now has HTTP rules (a fresh connection would be parsed and this one cannot be), by
     * {@code evaluateUnparsed}. Before 1 December a fallen-back tunnel was re-decided by {@code evaluate}, so a
     * new DENY with HTTP fields kept it, and a tunnel relayed as bytes on a declared HTTP port was kept unchecked.
     */
    public Decision reauthorize(TunnelInfo t) {
        if (policy == null) {
            return Decision.allowNoPolicy("no policy engine: every authenticated peer is allowed");
        }
        Decision perRequest = http.redecide(t);
        if (perRequest != null) {
            return perRequest;
        }
        InetSocketAddress dst = t.destination();
        Optional<Workload> w = local.registry().byAddress(dst.getAddress());
        AppProtocol proto = w.map(x -> x.appProtocol(dst.getPort())).orElse(AppProtocol.AUTO);
        WorkloadRef ref = w.map(Workload::ref).orElseGet(() -> PolicyAuthorizer.refOf(t.localIdentity()));
        AuthzRequest request = new AuthzRequest(t.peerIdentity(), t.peerAddress(), t.localIdentity(), dst, t.headers());
        return http.enforces(ref, proto, dst.getPort()) ? policy.decideUnparsed(request) : policy.decide(request);
    }
}
