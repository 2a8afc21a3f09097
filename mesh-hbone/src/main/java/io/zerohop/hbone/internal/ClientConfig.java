package io.zerohop.hbone.internal;

import io.netty.channel.EventLoopGroup;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.identity.MeshTls;
import java.net.InetAddress;
import java.time.Duration;

/**
 * Validated client settings (built by {@code HboneClient.Builder}); {@code localAddress} is null for
 * the kernel's choice; {@code inboundBudget} is null for none (each tunnel bounded by its stream window only).
 */
public record ClientConfig(MeshTls tls, SpiffeId source, int maxStreamsPerConnection, Duration idleTimeout,
                           Duration connectTimeout, Duration handshakeTimeout, Duration pingInterval,
                           Duration pingTimeout, H2Config h2, HboneEvents events, EventLoopGroup group, int threads,
                           InetAddress localAddress, UnreadBudget inboundBudget, io.zerohop.hbone.TcpKeepalive keepalive) {
}
