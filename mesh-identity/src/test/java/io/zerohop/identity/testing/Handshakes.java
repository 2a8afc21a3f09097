package io.zerohop.identity.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Real TLS handshakes over loopback between two Netty contexts; records what each side saw. */
public final class Handshakes implements AutoCloseable {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());

    /** What one handshake ended in, per side: the peer ID seen, or the failure. */
    public record Outcome(SpiffeId serverSawPeer, Throwable serverError, SpiffeId clientSawPeer, Throwable clientError,
                          String alpn, String protocol, long sessionCreated) {
        public boolean succeeded() {
            return serverError == null && clientError == null;
        }

        /** Both sides' error messages, causes included, for asserting on the reason. */
        public String errors() {
            return LoopbackTls.errors(serverError, clientError);
        }
    }

    public Outcome run(SslContext serverCtx, SslContext clientCtx) throws Exception {
        return series(serverCtx, clientCtx, 1, () -> { }).get(0);
    }

    /**
     * {@code before} handshakes, then {@code between}, then one more, all to one listener (one
     * host:port, so the client may resume a session). {@link Outcome#sessionCreated} tells a resumed
     * session (same creation time as an earlier one) from a fresh one.
     */
    public java.util.List<Outcome> series(SslContext serverCtx, SslContext clientCtx, int before, Runnable between) throws Exception {
        java.util.concurrent.BlockingQueue<CompletableFuture<SslHandler>> servers = new java.util.concurrent.LinkedBlockingQueue<>();
        Channel listener = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        CompletableFuture<SslHandler> server = new CompletableFuture<>();
                        servers.add(server);
                        SslHandler h = serverCtx.newHandler(ch.alloc());
                        LoopbackTls.secure(ch, h, cause -> complete(server, h, cause));
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            int port = ((InetSocketAddress) listener.localAddress()).getPort();
            java.util.List<Outcome> out = new java.util.ArrayList<>();
            for (int i = 0; i <= before; i++) {
                if (i == before && before > 0) {
                    between.run();
                }
                out.add(handshake(clientCtx, port, servers));
                if (before == 0) {
                    break;
                }
            }
            return out;
        } finally {
            listener.close().sync();
        }
    }

    private Outcome handshake(SslContext clientCtx, int port, java.util.concurrent.BlockingQueue<CompletableFuture<SslHandler>> servers)
            throws Exception {
        CompletableFuture<SslHandler> client = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        SslHandler h = clientCtx.newHandler(ch.alloc(), "127.0.0.1", port);
                        LoopbackTls.secure(ch, h, cause -> complete(client, h, cause));
                    }
                })
                .connect("127.0.0.1", port).sync().channel();
        try {
            Side c = side(client);
            CompletableFuture<SslHandler> server = servers.poll(10, TimeUnit.SECONDS);
            Side s = server == null ? new Side(null, null, new IllegalStateException("no server connection")) : side(server);
            String alpn = c.handler == null ? null : c.handler.applicationProtocol();
            String proto = c.handler == null ? null : c.handler.engine().getSession().getProtocol();
            long created = c.handler == null ? 0 : c.handler.engine().getSession().getCreationTime();
            return new Outcome(s.peer, s.error, c.peer, c.error, alpn, proto, created);
        } finally {
            ch.close().sync();
        }
    }

    private record Side(SslHandler handler, SpiffeId peer, Throwable error) {}

    private static void complete(CompletableFuture<SslHandler> f, SslHandler h, Throwable cause) {
        if (cause != null) {
            f.completeExceptionally(cause);
        } else {
            f.complete(h);
        }
    }

    private static Side side(CompletableFuture<SslHandler> f) throws Exception {
        try {
            SslHandler h = f.get(10, TimeUnit.SECONDS);
            return new Side(h, MeshTls.peerIdentity(h.engine().getSession()), null);
        } catch (java.util.concurrent.ExecutionException e) {
            return new Side(null, null, e.getCause());
        }
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
