package io.zerohop.hbone.internal;

import io.netty.channel.EventLoopGroup;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.IdentitySelector;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.time.Duration;

/** Validated server settings (built by {@code HboneServer.Builder}). */
public record ServerConfig(MeshTls tls, InetSocketAddress bind, IdentitySelector identities,
                           DestinationResolver destinations, Authorizer authorizer, HboneEvents events,
                           int maxConcurrentStreams, Duration handshakeTimeout, Duration idleTimeout,
                           Duration upstreamConnectTimeout, Duration pingInterval, Duration pingTimeout,
                           H2Config h2, ServerLimits limits, EventLoopGroup group, int threads, boolean transparent,
                           Duration delayedCloseTimeout) {
}
