package io.zerohop.core.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.Addresses;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Objects;

/**
 * The adapter between mesh-policy and mesh-hbone (the two do not know each other): an HBONE
 * CONNECT's {@link AuthzRequest} becomes an {@link AccessRequest} (ztunnel's {@code rbac::Connection}:
 * peer principal, source address and workload, destination address, port and workload) and the
 * engine's {@link Decision} becomes {@link AuthzDecision#allow()}, or {@link AuthzDecision#deny(String, AuthzDecision.PolicyRejection)}
 * (401, ztunnel's status for an RBAC deny) with {@link Decision#explain()} as the reason and ztunnel's
 * kind of rejection ({@link #rejection}). A dry-run
 * verdict ({@code istio.io/dry-run}) never changes the outcome; it travels in the reason.
 *
 * <p>Deciding a tunnel per HTTP request instead of per CONNECT is not this class's choice: see
 * {@link Inbound}. Thread-safe; called on event loops, never blocks.
 */
public final class PolicyAuthorizer implements Authorizer {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(PolicyAuthorizer.class);
    private final PolicyEngine policy;
    private final WorkloadRegistry registry;
    private final RateLimitedLog refusals;
    private final TunnelSource sources;
    private final java.util.function.BooleanSupplier accessLogsDenials;

    /**
     * @param refusals where denials and untrusted {@code forwarded} claims are logged (a peer can cause
     *                 them at will, so rate-limited)
     */
    public PolicyAuthorizer(PolicyEngine policy, WorkloadRegistry registry, RateLimitedLog refusals) {
        this(policy, registry, refusals, () -> false);
    }

    /**
     * @param accessLogsDenials whether the access log writes a line for each refused CONNECT now
     *                          ({@link TunnelObserver#logsRefusals}): that line carries the
     *                          explanation, so the denial's WARN here goes to DEBUG (one line per
     *                          denial, as ztunnel's one access line; its policy match is DEBUG too,
     *                          istio/ztunnel src/state.rs {@code authpol_log!})
     */
    public PolicyAuthorizer(PolicyEngine policy, WorkloadRegistry registry, RateLimitedLog refusals,
                            java.util.function.BooleanSupplier accessLogsDenials) {
        this(policy, registry, refusals, accessLogsDenials, (String) null);
    }

    /** @param localNode the node this proxy runs on ({@link TunnelSource#plaintextNode}), or null */
    public PolicyAuthorizer(PolicyEngine policy, WorkloadRegistry registry, RateLimitedLog refusals,
                            java.util.function.BooleanSupplier accessLogsDenials, String localNode) {
        this(policy, registry, refusals, accessLogsDenials, localNode, a -> false);
    }

    /** @param onThisHost without a {@code localNode}: whether an address is this host's ({@link TunnelSource#plaintextNode}) */
    public PolicyAuthorizer(PolicyEngine policy, WorkloadRegistry registry, RateLimitedLog refusals,
                            java.util.function.BooleanSupplier accessLogsDenials, String localNode,
                            java.util.function.Predicate<java.net.InetAddress> onThisHost) {
        this(policy, registry, refusals, accessLogsDenials, new TunnelSource(registry, refusals, localNode, onThisHost));
    }

    /** @param sources how a tunnel's source is read, with its own log for untrusted forwarded claims (not the refusals') */
    public PolicyAuthorizer(PolicyEngine policy, WorkloadRegistry registry, RateLimitedLog refusals,
                            java.util.function.BooleanSupplier accessLogsDenials, TunnelSource sources) {
        this.accessLogsDenials = Objects.requireNonNull(accessLogsDenials, "accessLogsDenials");
        this.policy = Objects.requireNonNull(policy, "policy");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.refusals = Objects.requireNonNull(refusals, "refusals");
        this.sources = Objects.requireNonNull(sources, "sources");
    }

    @Override
    public AuthzDecision authorize(AuthzRequest r) {
        // The CONNECT's one decision: an untrusted source claim is logged here, not on re-decisions.
        Decision d = policy.evaluate(accessRequest(r, true));
        return d.allowed() ? AuthzDecision.allow() : denied(r, d);
    }

    /**
     * The CONNECT's decision on an {@code auto} port that will be sniffed ({@link PolicyEngine#denialBeforeHttp}):
     * denied at once, logged and answered as {@link #authorize} denies, when no HTTP data can change the outcome;
     * else allowed, its requests (or its bytes, if they are not HTTP) to be decided once read.
     */
    public AuthzDecision authorizeBeforeSniff(AuthzRequest r) {
        Decision d = policy.denialBeforeHttp(accessRequest(r, true));
        return d == null ? AuthzDecision.allow() : denied(r, d);
    }

    /**
     * The CONNECT's decision for a tunnel to a port whose requests should be parsed and that this path never parses
     * (HTTP/2 to an embedded handler): {@link PolicyEngine#evaluateUnparsed}, denied as {@link #authorize} denies.
     */
    public AuthzDecision authorizeUnparsed(AuthzRequest r) {
        Decision d = policy.evaluateUnparsed(accessRequest(r, true));
        return d.allowed() ? AuthzDecision.allow() : denied(r, d);
    }

    /**
     * {@link PolicyEngine#denialBeforeHttp} for plaintext from {@code source} to the local workload
     * {@code destination} at {@code target}, an {@code auto} port: the denial, or null.
     */
    public Decision plaintextDenialBeforeSniff(InetSocketAddress source, Workload destination, InetSocketAddress target) {
        return policy.denialBeforeHttp(plaintextRequest(source, destination, target));
    }

    private AuthzDecision denied(AuthzRequest r, Decision d) {
        if (accessLogsDenials.getAsBoolean()) {
            log.debug("denied {} -> {} ({}): {}", r.peer(), Addresses.authority(r.destination()), r.localIdentity(), d.explain());
        } else {
            refusals.warn("denied {} -> {} ({}): {}", r.peer(), Addresses.authority(r.destination()), r.localIdentity(), d.explain());
        }
        return AuthzDecision.deny(d.explain(), rejection(d));
    }

    /**
     * A deny's kind in ztunnel's terms (istio/ztunnel src/state.rs {@code assert_rbac}): allow
     * policies in scope and none matched is {@code NotAllowed}; any other deny names its policy as
     * {@code ExplicitlyDenied} (a DENY rule, and zerohop's denials ztunnel has no kind for: a CUSTOM
     * policy without an external authorizer, Cilium's authentication).
     */
    static AuthzDecision.PolicyRejection rejection(Decision d) {
        return d.outcome() == Decision.Outcome.DENIED_DEFAULT || d.policy() == null ? AuthzDecision.PolicyRejection.NOT_ALLOWED
                : AuthzDecision.PolicyRejection.explicitlyDenied(d.policy().namespace(), d.policy().name());
    }

    /** The engine's L4 decision for an HBONE tunnel (also what a policy change re-decides). */
    public Decision decide(AuthzRequest r) {
        return policy.evaluate(accessRequest(r, false));
    }

    /**
     * The decision of an HBONE tunnel relayed as bytes to a port whose requests should be parsed:
     * {@link PolicyEngine#evaluateUnparsed} (a DENY's or CUSTOM's HTTP fields taken as matched).
     */
    public Decision decideUnparsed(AuthzRequest r) {
        return policy.evaluateUnparsed(accessRequest(r, false));
    }

    /**
     * {@link #decidePlaintext} for a plaintext connection relayed as bytes to a port whose requests should be
     * parsed: {@link PolicyEngine#evaluateUnparsed}.
     */
    public Decision decidePlaintextUnparsed(InetSocketAddress source, Workload destination, InetSocketAddress target) {
        return policy.evaluateUnparsed(plaintextRequest(source, destination, target));
    }

    /**
     * The L4 decision for plaintext (no peer identity) from {@code source} to the local workload
     * {@code destination} at {@code target}.
     */
    public Decision decidePlaintext(InetSocketAddress source, Workload destination, InetSocketAddress target) {
        return policy.evaluate(plaintextRequest(source, destination, target));
    }

    private AccessRequest plaintextRequest(InetSocketAddress source, Workload destination, InetSocketAddress target) {
        return AccessRequest.builder()
                .sourceAddress(source.getAddress())
                .destinationAddress(target.getAddress())
                .destinationPort(target.getPort())
                .destination(destination.ref())
                .sourceWorkload(ref(sources.plaintext(source.getAddress())))
                .sourceNode(sources.plaintextNode(source.getAddress(), destination.node()))
                .build();
    }

    /**
     * What the engine sees for a CONNECT. The destination is the registry workload at the target
     * address, else one known only by the identity this connection presented; the source workload is
     * {@link TunnelSource}'s (the registry workload of the peer's identity at the peer address or
     * named by the {@code forwarded} header), else none (known by its SPIFFE ID only). The source
     * address (Istio's {@code source.ip}, {@code ipBlocks}) is {@link TunnelSource.Source#address}:
     * the pod's address when the {@code forwarded} claim named the source workload, which is what
     * ztunnel's {@code conn.src} is (in-pod ztunnel dials from the pod's address; istio/ztunnel
     * src/rbac.rs 126-131 match {@code source_ips} against {@code conn.src.ip()}), else the TCP peer's.
     */
    public AccessRequest accessRequest(AuthzRequest r) {
        return accessRequest(r, false);
    }

    private AccessRequest accessRequest(AuthzRequest r, boolean report) {
        TunnelSource.Source source = sources.source(r.peer(), r.peerAddress(), r.headers(), report);
        return AccessRequest.builder()
                .sourcePrincipal(WorkloadStrings.text(r.peer()))
                .sourceAddress(source.address())
                .destinationAddress(r.destination().getAddress())
                .destinationPort(r.destination().getPort())
                .destination(destinationRef(r.destination(), r.localIdentity()))
                .sourceWorkload(ref(source.workload()))
                .build();
    }

    private static WorkloadRef ref(Workload w) {
        return w == null ? null : w.ref();
    }

    /** The registry workload at {@code dst}, else {@link #refOf} the identity that was presented. */
    public WorkloadRef destinationRef(InetSocketAddress dst, SpiffeId localIdentity) {
        return registry.byAddress(dst.getAddress()).map(Workload::ref).orElseGet(() -> refOf(localIdentity));
    }

    /**
     * A workload known only by its identity: namespace and service account from the SPIFFE ID
     * ({@code default} when absent), name = service account, no labels (so selectors never match it).
     */
    public static WorkloadRef refOf(SpiffeId id) {
        String sa = SpiffeIds.serviceAccount(id).orElse("default");
        return new WorkloadRef(SpiffeIds.namespace(id).orElse("default"), sa, sa, Map.of());
    }
}
