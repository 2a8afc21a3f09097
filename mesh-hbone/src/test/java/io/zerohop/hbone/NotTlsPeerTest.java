package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.zerohop.testing.netty.EchoServer;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/**
 * A new user's custom proxy dialled an app port as if it were HBONE and read BoringSSL's bare
 * {@code error:100000df:SSL routines:OPENSSL_internal:UNEXPECTED_MESSAGE}, while {@code zerohop connect} explained it:
 * the library's message says the peer does not speak TLS. Real peers on loopback: an echo server (it returns the
 * ClientHello) and the JDK's HTTP/1.1 server (it answers 400 in plaintext).
 */
class NotTlsPeerTest {
    private static final String HINT = " (the peer does not speak TLS: a client dialled a port that is not HBONE's (15008),"
            + " or a plaintext client reached an HBONE port)";

    @Test
    void anEchoServerDialledAsHbone() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer(); HboneClient client = mesh.client().build()) {
            Throwable t = catchThrowable(() -> client.connect(Mesh.loopback(80), mesh.expectServer(), echo.address()).get(20, TimeUnit.SECONDS));
            assertThat(t).isInstanceOf(ExecutionException.class).cause().isInstanceOf(SSLHandshakeException.class);
            assertThat(t.getCause().getMessage()).contains(":UNEXPECTED_MESSAGE" + HINT);
        }
    }

    /** Netty's HTTP/1.1 server codec answering what it decodes; a request it cannot parse gets 400, as nginx or Go's net/http answer. */
    @Test
    void anHttp1ServerDialledAsHbone() throws Exception {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try (Mesh mesh = new Mesh(); HboneClient client = mesh.client().build()) {
            Channel http = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new HttpServerCodec(), new SimpleChannelInboundHandler<HttpObject>() {
                                @Override
                                protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
                                    HttpResponseStatus status = msg.decoderResult().isSuccess() ? HttpResponseStatus.OK : HttpResponseStatus.BAD_REQUEST;
                                    DefaultFullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status);
                                    r.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0).set(HttpHeaderNames.CONNECTION, "close");
                                    ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
                                }
                            });
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            try {
                Throwable t = catchThrowable(() -> client.connect(Mesh.loopback(80), mesh.expectServer(),
                        (InetSocketAddress) http.localAddress()).get(20, TimeUnit.SECONDS));
                assertThat(t).isInstanceOf(ExecutionException.class).cause().isInstanceOf(SSLHandshakeException.class);
                assertThat(t.getCause().getMessage()).endsWith(": not an SSL/TLS record" + HINT);
            } finally {
                http.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
