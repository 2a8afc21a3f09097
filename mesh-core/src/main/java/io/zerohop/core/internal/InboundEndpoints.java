package io.zerohop.core.internal;

import io.zerohop.core.Addresses;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Where inbound connections to a workload address are delivered ({@code Mesh.Builder.inboundEndpoint}): the
 * application's own socket when it is not the workload address the tunnel names, as Istio's
 * {@code Sidecar.ingress[].defaultEndpoint} ({@code 127.0.0.1:PORT}) for a sidecar. Immutable once built; an address
 * without an entry is delivered to itself, as ztunnel does (istio/ztunnel src/proxy/inbound.rs
 * {@code build_inbound_request}: the upstream is the CONNECT's {@code :authority}).
 */
public final class InboundEndpoints {
    static final InboundEndpoints NONE = new InboundEndpoints(Map.of());

    private final Map<InetSocketAddress, InetSocketAddress> endpoints;

    private InboundEndpoints(Map<InetSocketAddress, InetSocketAddress> endpoints) {
        this.endpoints = endpoints;
    }

    /** The address a connection to {@code target} is dialled at: its endpoint, else {@code target} itself. */
    public InetSocketAddress of(InetSocketAddress target) {
        InetSocketAddress e = endpoints.get(target);
        return e == null ? target : e;
    }

    /** Workload address to endpoint, every entry. */
    Map<InetSocketAddress, InetSocketAddress> all() {
        return endpoints;
    }

    /**
     * One WARN per target no workload of {@code registry} has at {@code build()}: a typo in the workload address leaves
     * the real one delivered to itself. Not an error: a registry changes (a workload added later makes the entry work).
     */
    void warnUnknownTargets(org.slf4j.Logger log, io.zerohop.core.WorkloadRegistry registry) {
        for (Map.Entry<InetSocketAddress, InetSocketAddress> e : endpoints.entrySet()) {
            if (registry.byAddress(e.getKey().getAddress()).isEmpty()) {
                log.warn("inboundEndpoint: target {} (delivered to {}) is no address of a workload in the registry: tunnels to it"
                        + " are refused (400, not served) until a workload has it; a typo leaves the workload's real address"
                        + " delivered to itself",
                        Addresses.authority(e.getKey()), Addresses.authority(e.getValue()));
            }
        }
    }

    /** {@link Builder#requireUnicast}, for {@code Mesh.serve}'s destination. */
    public static void requireUnicast(String what, InetSocketAddress a) {
        Builder.requireUnicast(what, a);
    }

    /** Validates one entry as {@code Mesh.Builder.inboundEndpoint} documents, and collects them. */
    static final class Builder {
        private final Map<InetSocketAddress, InetSocketAddress> endpoints = new LinkedHashMap<>();

        void put(InetSocketAddress target, InetSocketAddress endpoint) {
            Objects.requireNonNull(target, "inboundEndpoint: null target (the workload ip:port peers dial)");
            Objects.requireNonNull(endpoint, "inboundEndpoint: null endpoint (the ip:port the application listens on)");
            check("target", target);
            check("endpoint", endpoint);
            if (target.equals(endpoint)) {
                throw new IllegalArgumentException("inboundEndpoint: target and endpoint are both " + Addresses.authority(target)
                        + ": give the address the application listens on instead, e.g. 127.0.0.1:" + target.getPort());
            }
            InetSocketAddress before = endpoints.putIfAbsent(target, endpoint);
            if (before != null && !before.equals(endpoint)) {
                // One address delivered two ways is a typo in one of them; the later call winning would hide it.
                throw new IllegalArgumentException("inboundEndpoint: " + Addresses.authority(target) + " is already delivered to "
                        + Addresses.authority(before) + ", not " + Addresses.authority(endpoint));
            }
        }

        private static void check(String what, InetSocketAddress a) {
            if (a.isUnresolved()) {
                throw new IllegalArgumentException("inboundEndpoint: " + what + " " + a + " is unresolved: give an IP literal");
            }
            if (a.getAddress().isAnyLocalAddress()) {
                throw new IllegalArgumentException("inboundEndpoint: " + what + " " + Addresses.authority(a)
                        + " is a wildcard address: give one IP (" + ("target".equals(what)
                        ? "the workload address peers dial" : "the one the application binds, e.g. 127.0.0.1") + ")");
            }
            requireUnicast("inboundEndpoint: " + what, a);
            if (a.getPort() == 0) {
                throw new IllegalArgumentException("inboundEndpoint: " + what + " " + Addresses.authority(a) + " has port 0: give the port");
            }
        }

        /**
         * Refuses a multicast or the broadcast address, which a TCP socket can neither bind for accepting nor dial:
         * {@code inboundEndpoint}'s check, also {@code inbound}'s (which took both, and {@code start()} bound them).
         *
         * @param what how the message names the argument, e.g. {@code "inbound address"}
         * @throws IllegalArgumentException {@code "<what> <ip:port> is a multicast address: give one host's IP"}, or
         *     {@code "... is the broadcast address: ..."}
         */
        static void requireUnicast(String what, InetSocketAddress a) {
            if (a.getAddress().isMulticastAddress()) {
                // A TCP connection has one peer: a group address can be neither dialled nor named by a CONNECT.
                throw new IllegalArgumentException(what + " " + Addresses.authority(a) + " is a multicast address: give one host's IP");
            }
            if (!io.zerohop.hbone.internal.Authority.isUnicast(a.getAddress())) {
                throw new IllegalArgumentException(what + " " + Addresses.authority(a) + " is the broadcast address: give one host's IP");
            }
        }


        /**
         * @param transparent {@code Mesh.Builder.inboundTransparent}: the mesh runs in the host's network namespace for
         *                    other pods, where a loopback endpoint is the host's loopback, not the pod's
         * @throws IllegalArgumentException when an endpoint is the HBONE listener itself (each tunnel would dial it
         *     again), or a loopback address with {@code transparent}
         */
        InboundEndpoints build(InetSocketAddress inbound, boolean transparent) {
            if (endpoints.isEmpty()) {
                return NONE;
            }
            if (transparent) {
                for (Map.Entry<InetSocketAddress, InetSocketAddress> e : endpoints.entrySet()) {
                    if (e.getValue().getAddress().isLoopbackAddress()) {
                        throw new IllegalArgumentException("inboundEndpoint: endpoint " + Addresses.authority(e.getValue()) + " (for target "
                                + Addresses.authority(e.getKey()) + ") is a loopback address, and inboundTransparent(true) runs the mesh"
                                + " in the host's network namespace, where it is the host's loopback, not the workload's: give an"
                                + " address of the workload, or drop inboundTransparent (an application that embeds the mesh)");
                    }
                }
            }
            if (inbound != null) {
                for (InetSocketAddress e : endpoints.values()) {
                    // A wildcard listener takes its port on every address: an endpoint there is the listener too.
                    if (e.equals(inbound) || inbound.getAddress().isAnyLocalAddress() && e.getPort() == inbound.getPort()) {
                        throw new IllegalArgumentException("inboundEndpoint: endpoint " + Addresses.authority(e)
                                + " is the HBONE listener (inbound " + Addresses.authority(inbound) + "): tunnels would be delivered back to it");
                    }
                }
            }
            return new InboundEndpoints(Map.copyOf(endpoints));
        }
    }
}
