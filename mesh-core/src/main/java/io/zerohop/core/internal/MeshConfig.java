package io.zerohop.core.internal;

import io.micrometer.core.instrument.MeterRegistry;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.TunnelResult;
import io.zerohop.identity.IdentityProvider;
import io.zerohop.policy.PolicyEngine;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * Validated mesh settings, built by {@code Mesh.Builder} (see its Javadoc for each). Nullable:
 * {@code provider} (then an in-memory CA for {@code trustDomain}), {@code identity}, {@code policy},
 * {@code node}, {@code inbound}, {@code meterRegistry} (a mesh without one never loads a Micrometer
 * class: nothing here calls {@code toString()} or {@code equals()} on this record), {@code onTunnelClosed}, {@code http2}
 * and {@code keepalive} (then the HBONE builders' defaults). {@code responseBaggage}: ztunnel's
 * {@code ENABLE_RESPONSE_BAGGAGE}.
 */
public record MeshConfig(IdentityProvider provider, String trustDomain, SpiffeId identity, PolicyEngine policy,
                         WorkloadRegistry registry, String node, InetSocketAddress inbound, boolean inboundTransparent,
                         MeterRegistry meterRegistry, Consumer<TunnelResult> onTunnelClosed, int threads,
                         int maxStreamsPerConnection, Duration idleTimeout, Duration drain, Duration metricsInterval,
                         boolean passthroughUnknown, String clusterId, boolean acceptHttp10,
                         boolean sniffHttp10, InboundEndpoints inboundEndpoints, boolean federation,
                         java.net.InetAddress localAddress, java.util.List<InetSocketAddress> dnsServers,
                         io.zerohop.hbone.internal.H2Config http2, io.zerohop.hbone.TcpKeepalive keepalive,
                         java.nio.file.Path crlPath, boolean responseBaggage) {
    /**
     * A configuration whose hostnames are looked up in resolv.conf's servers, with the HBONE builders' HTTP/2 and TCP
     * keepalive defaults, no CRL file and response baggage on (tests that change one setting of a built configuration).
     */
    public MeshConfig(IdentityProvider provider, String trustDomain, SpiffeId identity, PolicyEngine policy,
                      WorkloadRegistry registry, String node, InetSocketAddress inbound, boolean inboundTransparent,
                      MeterRegistry meterRegistry, Consumer<TunnelResult> onTunnelClosed, int threads,
                      int maxStreamsPerConnection, Duration idleTimeout, Duration drain, Duration metricsInterval,
                      boolean passthroughUnknown, String clusterId, boolean acceptHttp10,
                      boolean sniffHttp10, InboundEndpoints inboundEndpoints, boolean federation,
                      java.net.InetAddress localAddress) {
        this(provider, trustDomain, identity, policy, registry, node, inbound, inboundTransparent, meterRegistry, onTunnelClosed,
                threads, maxStreamsPerConnection, idleTimeout, drain, metricsInterval, passthroughUnknown, clusterId, acceptHttp10,
                sniffHttp10, inboundEndpoints, federation, localAddress, null, null, null, null, true);
    }
}
