package io.zerohop.core;

import java.net.InetAddress;

/**
 * Where a waypoint is reached: istio/ztunnel src/state/workload.rs {@code GatewayAddress} (istio/api
 * {@code workload.proto} {@code GatewayAddress}), which istiod sets as a {@link Workload#waypoint()} or a
 * {@link Service#waypoint()}. Exactly one of {@code address} and {@code hostname} is set: by address (a waypoint
 * Service's VIP or a waypoint pod's address, looked up in the registry as any destination) or by
 * {@code namespace}/{@code hostname} (a registry {@link Service}'s {@link Service#hostname()} in that namespace, what
 * istiod sends for a waypoint whose Gateway's status gives a hostname; ztunnel prefers it, as it adapts to the
 * caller's IP family).
 *
 * <p>Throws {@link IllegalArgumentException} when both or neither of {@code address} and {@code hostname} is given, a
 * hostname comes without its namespace (or a namespace without a hostname), or {@code hboneMtlsPort} is outside
 * 1-65535.
 *
 * @param address       the waypoint's address, or null when it is named by {@code hostname}
 * @param namespace     the namespace of the waypoint Service named by {@code hostname}; null with {@code address}
 * @param hostname      the waypoint Service's hostname ({@code NAME.NS.svc.cluster.local}); null with {@code address}
 * @param hboneMtlsPort the port the waypoint accepts HBONE on (istiod sends 15008, the only value ztunnel's tests use)
 */
public record GatewayAddress(InetAddress address, String namespace, String hostname, int hboneMtlsPort) {

    /** Istio's HBONE port, what istiod sets as every waypoint's {@code hboneMtlsPort}. */
    public static final int HBONE_MTLS_PORT = 15008;

    public GatewayAddress {
        if ((address == null) == (hostname == null)) {
            throw new IllegalArgumentException("waypoint: exactly one of address and hostname is required, got "
                    + (address == null ? "neither" : "both"));
        }
        if ((hostname == null) != (namespace == null) || hostname != null && (hostname.isBlank() || namespace.isBlank())) {
            throw new IllegalArgumentException("waypoint: a hostname needs its namespace (got namespace " + namespace
                    + ", hostname " + hostname + ")");
        }
        if (hboneMtlsPort < 1 || hboneMtlsPort > 65535) {
            throw new IllegalArgumentException("waypoint: hboneMtlsPort " + hboneMtlsPort + " is outside 1-65535");
        }
    }

    /** A waypoint reached at {@code address} on port 15008. */
    public static GatewayAddress of(InetAddress address) {
        return new GatewayAddress(address, null, null, HBONE_MTLS_PORT);
    }

    /** A waypoint named by its Service's {@code hostname} in {@code namespace}, on port 15008. */
    public static GatewayAddress of(String namespace, String hostname) {
        return new GatewayAddress(null, namespace, hostname, HBONE_MTLS_PORT);
    }

    @Override
    public String toString() {
        return (address != null ? io.netty.util.NetUtil.toAddressString(address) : namespace + "/" + hostname)
                + ":" + hboneMtlsPort;
    }

    // Written out, as Workload's and Service's: the generated ones bootstrap java.lang.runtime.ObjectMethods.
    @Override
    public boolean equals(Object other) {
        return other == this || other instanceof GatewayAddress o
                && java.util.Objects.equals(address, o.address)
                && java.util.Objects.equals(namespace, o.namespace)
                && java.util.Objects.equals(hostname, o.hostname)
                && hboneMtlsPort == o.hboneMtlsPort;
    }

    @Override
    public int hashCode() {
        int h = java.util.Objects.hashCode(address);
        h = 31 * h + java.util.Objects.hashCode(namespace);
        h = 31 * h + java.util.Objects.hashCode(hostname);
        return 31 * h + hboneMtlsPort;
    }
}
