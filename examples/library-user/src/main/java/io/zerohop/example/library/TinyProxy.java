package io.zerohop.example.library;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneServer;
import io.zerohop.identity.MeshTls;
import io.zerohop.policy.AccessRequest;
import io.zerohop.policy.Decision;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A custom inbound proxy from the modules alone, without mesh-core's {@code Mesh}: mesh-hbone's
 * {@link HboneServer} terminates HBONE, a fixed table names the upstream of each served target, and
 * mesh-policy's {@link PolicyEngine} decides each CONNECT at L4 before any byte moves (a deny is
 * ztunnel's 401). What this leaves out, which {@code Mesh} adds: PeerAuthentication, L7 rules,
 * metrics and the access log; and {@code Mesh} re-authorizes open tunnels after a policy change for you. A proxy
 * like this one can do that with the public API: keep the {@link io.zerohop.hbone.TunnelCounters} of
 * {@link io.zerohop.hbone.HboneEvents#tunnelOpened(io.zerohop.hbone.TunnelInfo, io.zerohop.hbone.TunnelCounters)},
 * and in {@link PolicyEngine#addChangeListener} (called on {@code replace} and on a reload of {@code watch(dir)})
 * {@code abort()} those the policy now denies: mesh-hbone's README, "Re-authorizing open tunnels"
 * ({@code ReauthorizeOpenTunnelsTest}).
 */
public final class TinyProxy {
    private TinyProxy() {}

    /**
     * A served target: tunnels whose CONNECT target is a key of {@code upstreams} are spliced to its
     * value over TCP, as {@code workload} (the policy's destination).
     */
    public record Service(WorkloadRef workload, Map<InetSocketAddress, InetSocketAddress> upstreams) {
        public Service {
            upstreams = Map.copyOf(upstreams);
        }
    }

    /** Starts the proxy on {@code bind} as {@code self}; completes once it listens. */
    public static CompletableFuture<HboneServer> start(MeshTls tls, SpiffeId self, InetSocketAddress bind, Service service,
                                                       PolicyEngine policy) {
        return HboneServer.builder()
                .tls(tls)
                .identity(self)
                .bind(bind)
                .threads(1)
                .destinations((target, localId, local) -> {
                    InetSocketAddress upstream = service.upstreams().get(target);
                    return upstream == null ? Destination.notServed() : Destination.proxy(upstream);
                })
                .authorizer(r -> decide(policy, service.workload(), r))
                .build()
                .start();
    }

    /** The L4 decision for one CONNECT, with the policy's explanation as the deny reason. */
    static AuthzDecision decide(PolicyEngine policy, WorkloadRef workload, AuthzRequest r) {
        Decision d = policy.evaluate(AccessRequest.builder()
                .sourcePrincipal(r.peer().toString())
                .sourceAddress(r.peerAddress().getAddress())
                .destinationAddress(r.destination().getAddress())
                .destinationPort(r.destination().getPort())
                .destination(workload)
                .build());
        return d.allowed() ? AuthzDecision.allow() : AuthzDecision.deny(d.explain());
    }
}
