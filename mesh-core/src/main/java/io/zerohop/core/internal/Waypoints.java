package io.zerohop.core.internal;

import io.netty.util.NetUtil;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.GatewayAddress;
import io.zerohop.core.Mesh;
import io.zerohop.core.Service;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Waypoints as ztunnel finds them (istio/ztunnel src/state.rs {@code fetch_waypoint}, {@code fetch_service_waypoint},
 * {@code fetch_workload_waypoint}; src/proxy.rs {@code check_from_waypoint}, {@code check_gateway_address}), over the
 * registry: stateless, no allocation beyond the answer.
 */
final class Waypoints {
    private Waypoints() {}

    /**
     * A waypoint resolved: its workload, where its HBONE is dialled (ztunnel's {@code actual_destination}:
     * {@code waypoint.workload_socket_addr()}) and the identity it must present ({@code workload_and_services_san()}:
     * the workload's; zerohop's Services carry no SANs of their own).
     */
    record Hop(Workload workload, InetSocketAddress address, SpiffeId identity) {}

    /**
     * ztunnel's {@code fetch_waypoint}: by address, the registry's Service at it first, one endpoint picked as ztunnel's
     * {@code ServiceResolutionMode::Waypoint} picks it (the service port {@code hboneMtlsPort} must be one of the
     * Service's, its endpoint's target port is dialled), else the workload at it, dialled there on {@code hboneMtlsPort};
     * by hostname, the Service of that namespace and hostname ({@link WorkloadRegistry#service}), one endpoint picked
     * likewise, of the original destination's IP family, else (find_hostname's fallback) the workload of that namespace
     * and hostname ({@link WorkloadRegistry#workloadByHostname}), dialled on {@code hboneMtlsPort} at its address picked
     * as {@link #workloadAddress} picks it. The dial goes to the waypoint itself, never to its node's
     * {@code hboneAddress}: a waypoint terminates HBONE in its own pod, as ztunnel dials it. The hop's address is
     * unresolved when the waypoint workload (found by hostname, or the endpoint picked) has a hostname and no address:
     * the caller looks that hostname up for the connection ({@link OnDemandDns}), as ztunnel's {@code finalize_upstream}.
     *
     * @param of       what has the waypoint ("service prod/web", "workload prod/db"), for the error
     * @param original the connection's destination (its IP family picks the endpoint's address for a hostname)
     * @throws Mesh.UnknownDestinationException ztunnel's {@code Error::UnknownWaypoint}: nothing at the address, no
     *         Service or workload of that hostname, no healthy endpoint on that port, or a waypoint workload without identity; the
     *         message starts with {@link #ztunnelError}
     */
    static Hop resolve(WorkloadRegistry registry, GatewayAddress gw, String of, InetSocketAddress original, String sourceNode,
                       Map<String, String> sourceLabels) {
        int port = gw.hboneMtlsPort();
        Workload w;
        InetSocketAddress at;
        Service svc = serviceOf(registry, gw);
        if (svc != null) {
            InetAddress family = gw.address() != null ? gw.address() : original.getAddress();
            Service.Endpoint ep = registry.pickEndpoint(svc, port, family, sourceNode, sourceLabels);
            for (Service now; ep == null && (now = serviceOf(registry, gw)) != null && now != svc; ) {
                // A replace between the lookup and the pick (mesh-kubernetes makes new Service instances on every pod
                // change) left svc an instance the registry no longer knows the endpoints of; the registry's own retry
                // looks it up by the address given, which for a hostname is the destination's, not the waypoint's. ztunnel
                // reads one state under its lock. WaypointChurnTest: 1 in 10,000 connections refused as UnknownWaypoint.
                svc = now;
                ep = registry.pickEndpoint(svc, port, family, sourceNode, sourceLabels);
            }
            if (ep == null) {
                throw unknown(gw, of, svc.port(port) == null ? "its service " + svc + " has no port " + port
                        : "its service " + svc + " has no healthy endpoint with the port its port " + port + " targets");
            }
            w = ep.workload();
            at = ep.address();
        } else if (gw.address() != null) {
            w = registry.byAddress(gw.address()).orElseThrow(() -> unknown(gw, of, "no service or workload has address "
                    + NetUtil.toAddressString(gw.address())));
            at = new InetSocketAddress(gw.address(), port);
        } else {
            // find_hostname's fallback, only once no Service matched: the workload of that hostname, dialled on
            // hboneMtlsPort (fetch_waypoint's Address::Workload arm, UpstreamParts(w, hbone_mtls_port, None)).
            w = registry.workloadByHostname(gw.namespace(), gw.hostname()).orElseThrow(() -> unknown(gw, of,
                    "no service or workload of hostname " + gw.hostname() + " in namespace " + gw.namespace()));
            at = workloadAddress(w, original, port);
        }
        SpiffeId id = registry.identityOf(w);
        if (id == null) {
            throw unknown(gw, of, "its workload " + w + " has no identity to verify");
        }
        return new Hop(w, at, id);
    }

    /**
     * Where a waypoint workload named by hostname is dialled, as ztunnel's {@code finalize_upstream} /
     * {@code pick_workload_destination_or_resolve} pick it for the original destination {@code original}: that address
     * when it is one of the workload's, else its first of {@code original}'s family, else its first; a workload without
     * addresses (its hostname only) gets an unresolved address of that hostname, which the caller looks up per connection
     * ({@link OnDemandDns}, ztunnel's {@code resolve_on_demand_dns}).
     */
    private static InetSocketAddress workloadAddress(Workload w, InetSocketAddress original, int port) {
        List<InetAddress> as = w.addresses();
        if (as.isEmpty()) {
            return InetSocketAddress.createUnresolved(w.hostname(), port);
        }
        InetAddress dst = original.getAddress();
        if (as.contains(dst)) {
            return new InetSocketAddress(dst, port);
        }
        boolean v6 = dst instanceof java.net.Inet6Address;
        for (InetAddress a : as) {
            if ((a instanceof java.net.Inet6Address) == v6) {
                return new InetSocketAddress(a, port);
            }
        }
        return new InetSocketAddress(as.get(0), port);
    }

    /** ztunnel's {@code Error::UnknownWaypoint} text for {@code gw}: {@code unknown waypoint: waypoint GW not found}. */
    static String ztunnelError(GatewayAddress gw) {
        return "unknown waypoint: waypoint " + gw + " not found";
    }

    /**
     * The {@code error} of ztunnel's early-deny line for a waypoint {@link #resolve} refused: for a hostname that no Service
     * and no workload of its namespace has, {@code fetch_waypoint}'s own text, {@code unknown waypoint: waypoint HOSTNAME
     * not found} (the hostname alone); else {@link #ztunnelError(GatewayAddress)} (ztunnel prints its
     * {@code GatewayAddress} there, in Rust's debug form). Looks the name up again: a refusal's path only.
     */
    static String ztunnelError(WorkloadRegistry registry, GatewayAddress gw) {
        if (gw.hostname() != null && serviceOf(registry, gw) == null
                && registry.workloadByHostname(gw.namespace(), gw.hostname()).isEmpty()) {
            return "unknown waypoint: waypoint " + gw.hostname() + " not found";
        }
        return ztunnelError(gw);
    }

    private static Mesh.UnknownDestinationException unknown(GatewayAddress gw, String of, String why) {
        return new Mesh.UnknownDestinationException(ztunnelError(gw) + " (the waypoint of " + of + "): " + why
                + "; refused, never sent to the destination directly");
    }

    /**
     * ztunnel's {@code check_from_waypoint}: whether the source, of identity {@code source} at one of
     * {@code sourceAddresses}, is a workload of {@code upstream}'s waypoint, whose traffic then goes to {@code upstream}
     * directly (not through its waypoint again).
     */
    static boolean fromWaypoint(WorkloadRegistry registry, Workload upstream, SpiffeId source, List<InetAddress> sourceAddresses) {
        if (source == null || sourceAddresses.isEmpty()) {
            return false;
        }
        return isWaypoint(registry, upstream.waypoint(), wl -> source.equals(registry.identityOf(wl))
                && sourceAddresses.stream().anyMatch(wl.addresses()::contains));
    }

    /**
     * ztunnel's {@code check_gateway_address}: whether a workload {@code gw} names (the workload at its address, else an
     * endpoint of the Service at it or of its hostname) satisfies {@code p}. False for a null {@code gw}.
     */
    static boolean isWaypoint(WorkloadRegistry registry, GatewayAddress gw, Predicate<Workload> p) {
        if (gw == null) {
            return false;
        }
        if (gw.address() != null) {
            // fetch_destination: a workload's address first, then a Service's VIP.
            Workload w = registry.byAddress(gw.address()).orElse(null);
            if (w != null) {
                return p.test(w);
            }
        }
        Service svc = serviceOf(registry, gw);
        if (svc == null && gw.hostname() != null) {
            // fetch_destination → find_hostname: a workload of that hostname when no Service has it.
            Workload w = registry.workloadByHostname(gw.namespace(), gw.hostname()).orElse(null);
            return w != null && p.test(w);
        }
        while (svc != null) {
            List<Workload> eps = registry.endpoints(svc);
            for (Workload ep : eps) {
                if (p.test(ep)) {
                    return true;
                }
            }
            // No endpoints: an instance a replace has made stale (as in resolve) knows none. Without this the waypoint's
            // own connection was sent to itself 1 in 10,000 times under churn (WaypointChurnTest).
            Service now = eps.isEmpty() ? serviceOf(registry, gw) : svc;
            if (now == svc) {
                return false;
            }
            svc = now;
        }
        return false;
    }

    /** The registry Service {@code gw} names: by address the Service at it, by hostname that namespace's Service of it; or null. */
    private static Service serviceOf(WorkloadRegistry registry, GatewayAddress gw) {
        return gw.address() != null ? registry.serviceAt(gw.address()).orElse(null)
                : registry.service(gw.namespace(), gw.hostname()).orElse(null);
    }

    /**
     * The waypoint an outbound tunnel went through, for its telemetry (ztunnel's {@code actual_destination_workload}):
     * the workload at the address dialled ({@code hbone}), when the CONNECT target ({@code target}: a Service VIP or a
     * workload's address) has a waypoint that workload belongs to and it is not the target workload itself; else null.
     *
     * @param dst the registry workload at {@code target}'s address, which the caller has looked up already, or null: only
     *            then is a Service looked up (a VIP that is also a workload's address takes the workload's waypoint here), so a tunnel to a workload without a
     *            waypoint costs no lookup here
     */
    static Workload of(WorkloadRegistry registry, InetSocketAddress target, InetSocketAddress hbone, Workload dst) {
        if (target == null || hbone == null) {
            return null;
        }
        GatewayAddress gw;
        if (dst != null) {
            gw = dst.waypoint();
        } else {
            Service svc = registry.serviceAt(target.getAddress()).orElse(null);
            gw = svc != null ? svc.waypoint() : null;
        }
        if (gw == null) {
            return null;
        }
        Workload at = registry.byAddress(hbone.getAddress()).orElse(null);
        if (at == null) {
            // A waypoint workload of a hostname only was dialled at what its name resolved to, no registry address; a
            // tunnel to a target with that waypoint goes nowhere else (check_from_waypoint needs an address of it).
            return gw.hostname() != null && serviceOf(registry, gw) == null
                    ? registry.workloadByHostname(gw.namespace(), gw.hostname()).filter(Workload::resolvedOnDemand).orElse(null)
                    : null;
        }
        return at != dst && isWaypoint(registry, gw, w -> w.name().equals(at.name())
                && w.namespace().equals(at.namespace())) ? at : null;
    }
}
