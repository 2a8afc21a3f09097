import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.SelfSignedCertificate;
import java.net.InetSocketAddress;

/**
 * Idle-RSS floor tiers for issue 14 (c), run on the zerohop shaded jar's class path with the
 * launcher's flags: "hello" sleeps and loads nothing; "epoll" adds one Netty epoll event loop and
 * a bound plain server socket; "tls" adds netty-tcnative's BoringSSL, a server SslContext
 * (self-signed EC certificate) and a bound TLS server socket, and completes one TLS handshake
 * with itself so that the SSL code paths have run once. Prints "ready" then sleeps.
 * Measurement only (benchmarks/ceilings/rss.sh).
 */
public final class TlsIdle {
    public static void main(String[] args) throws Exception {
        String tier = args.length > 0 ? args[0] : "hello";
        if (tier.equals("hello")) {
            System.out.println("ready");
            Thread.sleep(Long.MAX_VALUE);
        }
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        SslContext ssl = null;
        if (tier.equals("tls")) {
            if (!OpenSsl.isAvailable()) {
                throw new IllegalStateException("BoringSSL not loaded", OpenSsl.unavailabilityCause());
            }
            SelfSignedCertificate cert = new SelfSignedCertificate("tls-idle", "EC", 256);
            ssl = SslContextBuilder.forServer(cert.certificate(), cert.privateKey()).sslProvider(SslProvider.OPENSSL).build();
        }
        SslContext serverSsl = ssl;
        Channel ch = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        if (serverSsl != null) {
                            c.pipeline().addLast(serverSsl.newHandler(c.alloc()));
                        }
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        if (ssl != null) {
            // One handshake against ourselves (client trusts anything), so BoringSSL's handshake
            // code and buffers have been touched as in a proxy that served a connection.
            SslContext client = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL)
                    .trustManager(io.netty.handler.ssl.util.InsecureTrustManagerFactory.INSTANCE).build();
            io.netty.handler.ssl.SslHandler[] h = new io.netty.handler.ssl.SslHandler[1];
            Channel c = new io.netty.bootstrap.Bootstrap().group(group).channel(io.netty.channel.epoll.EpollSocketChannel.class)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            h[0] = client.newHandler(c.alloc());
                            c.pipeline().addLast(h[0]);
                        }
                    }).connect(ch.localAddress()).sync().channel();
            h[0].handshakeFuture().sync();
            c.close().sync();
        }
        System.out.println("ready " + ch.localAddress() + " " + (ssl == null ? "" : OpenSsl.versionString()));
        Thread.sleep(Long.MAX_VALUE);
    }
}
