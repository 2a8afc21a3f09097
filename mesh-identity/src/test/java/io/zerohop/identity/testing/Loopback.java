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
import java.net.InetSocketAddress;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Real TLS connections over loopback that stay open (unlike {@link Handshakes}, which closes each after its handshake),
 * on the addresses and ports these tests may use (127.0.207.x, 53900-54099).
 */
public final class Loopback implements AutoCloseable {
    /** Each side's end of one connection: its channel and handler when the handshake succeeded, else its failure. */
    public record Conn(Channel client, SslHandler clientSsl, Throwable clientError,
                       Channel server, SslHandler serverSsl, Throwable serverError) {
        public boolean succeeded() {
            return clientError == null && serverError == null;
        }

        /** Both sides' failures, causes included. */
        public String errors() {
            return LoopbackTls.errors(serverError, clientError);
        }
    }

    private record End(Channel ch, SslHandler ssl, Throwable error) {}

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    private final BlockingQueue<CompletableFuture<End>> accepted = new LinkedBlockingQueue<>();
    private final Channel listener;
    private final InetSocketAddress address;

    /** Listens on 127.0.207.{@code host} at the first free port of 53900-54099, serving with {@code serverCtx}. */
    public Loopback(int host, SslContext serverCtx) throws InterruptedException {
        this("127.0.207." + host, 53900, 54099, serverCtx);
    }

    /** Listens on {@code ip} at the first free port of {@code firstPort}-{@code lastPort}, serving with {@code serverCtx}. */
    public Loopback(String ip, int firstPort, int lastPort, SslContext serverCtx) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        CompletableFuture<End> f = new CompletableFuture<>();
                        accepted.add(f);
                        SslHandler h = serverCtx.newHandler(ch.alloc());
                        LoopbackTls.secure(ch, h, cause -> f.complete(new End(ch, h, cause)));
                    }
                });
        Channel bound = null;
        InetSocketAddress at = null;
        for (int port = firstPort; port <= lastPort && bound == null; port++) {
            at = new InetSocketAddress(ip, port);
            try {
                bound = b.bind(at).sync().channel();
            } catch (Exception e) {
                // in use: next port
            }
        }
        if (bound == null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw new IllegalStateException("no free port on " + ip + " in " + firstPort + "-" + lastPort);
        }
        this.listener = bound;
        this.address = at;
    }

    /** Connects with {@code clientCtx} and waits for both handshakes. */
    public Conn connect(SslContext clientCtx) throws Exception {
        CompletableFuture<End> client = new CompletableFuture<>();
        new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        SslHandler h = clientCtx.newHandler(ch.alloc(), address.getHostString(), address.getPort());
                        LoopbackTls.secure(ch, h, cause -> client.complete(new End(ch, h, cause)));
                    }
                })
                .connect(address).sync();
        End c = client.get(10, TimeUnit.SECONDS);
        CompletableFuture<End> sf = accepted.poll(10, TimeUnit.SECONDS);
        End s = sf == null ? new End(null, null, new IllegalStateException("no server connection")) : sf.get(10, TimeUnit.SECONDS);
        return new Conn(c.ch(), c.error() == null ? c.ssl() : null, c.error(), s.ch(), s.error() == null ? s.ssl() : null, s.error());
    }

    @Override
    public void close() {
        listener.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
