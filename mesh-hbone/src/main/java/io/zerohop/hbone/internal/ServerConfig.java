package io.zerohop.hbone.internal;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.hbone.Authorizer;
import io.zerohop.hbone.DestinationResolver;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.IdentitySelector;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Predicate;

/**
 * Validated server settings (built by {@code HboneServer.Builder}).
 *
 * @param joinGate null, except in tests that build the server with {@code HboneServer.Builder}'s
 *     package-private {@code joinGate}: while it answers true for a proxy-mode tunnel's dialled
 *     upstream, that tunnel's 200 and relay wait (re-asked every millisecond on the tunnel's event
 *     loop), so that a test can make the upstream's bytes and FIN or reset arrive between the
 *     connect and the relay, a window otherwise one task wide ({@code ServerFirstUpstreamTest})
 */
public record ServerConfig(MeshTls tls, InetSocketAddress bind, IdentitySelector identities,
                           DestinationResolver destinations, Authorizer authorizer, HboneEvents events,
                           int maxConcurrentStreams, Duration handshakeTimeout, Duration idleTimeout,
                           Duration upstreamConnectTimeout, Duration pingInterval, Duration pingTimeout,
                           H2Config h2, ServerLimits limits, EventLoopGroup group, int threads, boolean transparent,
                           Duration delayedCloseTimeout, Predicate<SocketChannel> joinGate,
                           io.zerohop.hbone.TcpKeepalive keepalive) {
}
