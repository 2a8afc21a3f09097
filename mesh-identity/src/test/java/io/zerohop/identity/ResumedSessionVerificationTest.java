package io.zerohop.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.testing.FixedIdentityProvider;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A handshake that resumes a TLS session runs no certificate verification, so {@link MeshTls#verifiedPeerIdentity}
 * verifies such a peer against the bundles as they are now. With the JDK provider a peer whose root had been dropped
 * since its first handshake was accepted on its next connection for the ticket's lifetime (24 h; a review pass).
 * ztunnel never resumes (src/tls/certificate.rs {@code Resumption::disabled()}, a fresh ServerConfig per connection).
 * Real TLS 1.3 handshakes on loopback, both providers; the second handshake is made after the rotation.
 */
class ResumedSessionVerificationTest {
    private static final SpiffeId SERVER = SpiffeIds.istio("cluster.local", "prod", "backend");
    private static final SpiffeId CLIENT = SpiffeIds.istio("cluster.local", "prod", "frontend");
    private static MultiThreadIoEventLoopGroup group;

    @BeforeAll
    static void up() {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterAll
    static void down() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** One handshake: the server's and the client's handler, or null where it failed. */
    private record Pair(SslHandler server, SslHandler client) {}

    private static Pair handshake(Channel listener, CompletableFuture<SslHandler>[] serverSide, SslContext clientCtx) throws Exception {
        int port = ((InetSocketAddress) listener.localAddress()).getPort();
        CompletableFuture<SslHandler> cf = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class).handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel c) {
                SslHandler h = clientCtx.newHandler(c.alloc(), "127.0.0.1", port);
                c.pipeline().addLast(h);
                h.handshakeFuture().addListener(x -> {
                    if (x.cause() != null) {
                        cf.completeExceptionally(x.cause());
                    } else {
                        cf.complete(h);
                    }
                });
            }
        }).connect("127.0.0.1", port).sync().channel();
        SslHandler c = null;
        try {
            c = cf.get(10, TimeUnit.SECONDS);
            // Let the server's NewSessionTicket arrive and be kept.
            ch.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER);
            Thread.sleep(200);
        } catch (java.util.concurrent.ExecutionException e) {
            // refused in the handshake itself
        }
        SslHandler s = null;
        try {
            s = serverSide[0].get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            // refused in the handshake itself
        }
        ch.close().sync();
        return new Pair(s, c);
    }

    @SuppressWarnings("unchecked")
    private static Channel listen(SslContext serverCtx, CompletableFuture<SslHandler>[] next) throws InterruptedException {
        return new ServerBootstrap().group(group).channel(NioServerSocketChannel.class).childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                CompletableFuture<SslHandler> f = next[0];
                SslHandler h = serverCtx.newHandler(ch.alloc());
                ch.pipeline().addLast(h);
                h.handshakeFuture().addListener(x -> {
                    if (x.cause() != null) {
                        f.completeExceptionally(x.cause());
                    } else {
                        f.complete(h);
                    }
                });
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    @ParameterizedTest
    @EnumSource(value = SslProvider.class, names = {"OPENSSL", "JDK"})
    void aServerWhoseBundleDroppedTheClientsRootRefusesItsResumedSession(SslProvider provider) throws Exception {
        rotateThenReconnect(provider, true);
    }

    @ParameterizedTest
    @EnumSource(value = SslProvider.class, names = {"OPENSSL", "JDK"})
    void aClientWhoseBundleDroppedTheServersRootRefusesItsResumedSession(SslProvider provider) throws Exception {
        rotateThenReconnect(provider, false);
    }

    /**
     * A handshake, then the bundle of one side ({@code serverRotates}: the server's) replaced by one that no longer holds
     * the other side's root, then a second handshake with the same contexts: that side must not accept the peer.
     */
    @SuppressWarnings("unchecked")
    private static void rotateThenReconnect(SslProvider provider, boolean serverRotates) throws Exception {
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        FixedIdentityProvider rotating = new FixedIdentityProvider(ca.issue(serverRotates ? SERVER : CLIENT), ca.bundles());
        try (MeshTls server = MeshTls.builder(serverRotates ? rotating : ca).sslProvider(provider).build();
             MeshTls client = MeshTls.builder(serverRotates ? ca : rotating).sslProvider(provider).build()) {
            MeshTls checking = serverRotates ? server : client;
            CompletableFuture<SslHandler>[] next = new CompletableFuture[] {new CompletableFuture<>()};
            Channel listener = listen(server.server(SERVER).join(), next);
            SslContext clientCtx = client.client(CLIENT, Set.of(SERVER)).join();
            try {
                Pair first = handshake(listener, next, clientCtx);
                SslHandler firstSide = serverRotates ? first.server() : first.client();
                assertThat(checking.verifiedPeerIdentity(firstSide.engine())).isEqualTo(serverRotates ? CLIENT : SERVER);
                // With BoringSSL a full handshake's engine is known as verified, so its peer is not verified twice.
                if (provider == SslProvider.OPENSSL) {
                    assertThat(io.zerohop.identity.internal.SpiffeTrustManager.verified(firstSide.engine())).isTrue();
                }
                rotating.bundles(X509BundleSet.of(List.of(InMemoryCa.create("cluster.local").bundle())));
                next[0] = new CompletableFuture<>();
                Pair second = handshake(listener, next, clientCtx);
                SslHandler secondSide = serverRotates ? second.server() : second.client();
                if (secondSide != null) {
                    // The session resumed (the JDK provider does): the handshake ran no verification, this does.
                    assertThatThrownBy(() -> checking.verifiedPeerIdentity(secondSide.engine()))
                            .isInstanceOf(SSLPeerUnverifiedException.class)
                            .hasMessageContaining("resumed TLS session's peer no longer verifies")
                            .hasMessageContaining("chain does not verify against the trust bundle");
                }
                if (provider == SslProvider.JDK) {
                    assertThat(secondSide).as("the JDK resumes, so only verifiedPeerIdentity refuses").isNotNull();
                }
            } finally {
                listener.close().sync();
            }
        }
    }
}
