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
            if (a.getPort() == 0) {
                throw new IllegalArgumentException("inboundEndpoint: " + what + " " + Addresses.authority(a) + " has port 0: give the port");
            }
        }

        /** @throws IllegalArgumentException when an endpoint is the HBONE listener itself (each tunnel would dial it again) */
        InboundEndpoints build(InetSocketAddress inbound) {
            if (endpoints.isEmpty()) {
                return NONE;
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
