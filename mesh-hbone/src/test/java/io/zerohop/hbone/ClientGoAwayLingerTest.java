package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Transports;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client side of {@code GoAwayLingerTest}: our HBONE client's GOAWAY (here its idle timeout's
 * NO_ERROR) reaches a real HTTP/2 server that keeps writing. Netty's HTTP/2 server, with its defaults,
 * refuses the one CONNECT with 503 and then writes connection WINDOW_UPDATEs of 1 byte on every turn
 * of its event loop. The client used to close as soon as its GOAWAY was written (Netty's
 * Http2ConnectionHandler), with the server's frames unread: Linux answered with RST, and the server
 * saw a reset instead of the GOAWAY. It now closes as the server side does (LingeringClose: TLS
 * close_notify, a TCP half-close, the peer's bytes read and dropped until it closes or 1 s passes;
 * Go's HTTP/2 goAwayTimeout, golang.org/issue/18701).
 */
@Timeout(120)
class ClientGoAwayLingerTest {
    static final int ROUNDS = 10;

    @Test
    void anHttp2ServerThatKeepsWritingReadsTheClientsGoAway() throws Exception {
        EventLoopGroup serverLoop = Transports.newGroup(1, "h2-server");
        try (Mesh mesh = new Mesh()) {
            SslContext tls = mesh.tls.server(mesh.serverId).get();
            LinkedBlockingQueue<Flood> floods = new LinkedBlockingQueue<>();
            Channel listener = new ServerBootstrap().group(serverLoop).channel(Transports.serverChannel(serverLoop))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            Flood flood = new Flood();
                            floods.add(flood);
                            c.closeFuture().addListener(f -> flood.goAway.complete(-1L));
                            c.pipeline().addLast(tls.newHandler(c.alloc()), Http2FrameCodecBuilder.forServer().build(), flood);
                        }
                    }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            InetSocketAddress at = (InetSocketAddress) listener.localAddress();
            try (HboneClient client = mesh.client().idleTimeout(Duration.ofMillis(100)).build()) {
                for (int round = 0; round < ROUNDS; round++) {
                    // The refused CONNECT leaves the connection without a tunnel: its idle timeout closes it with GOAWAY.
                    Throwable refused = catchThrowable(() -> client.connect(Mesh.loopback(9), mesh.expectServer(), at).get(30, TimeUnit.SECONDS));
                    assertThat(refused).as("round %d: the server's 503", round).hasRootCauseInstanceOf(HboneRefusedException.class);
                    Flood flood = floods.poll(30, TimeUnit.SECONDS);
                    assertThat(flood).as("round %d: a new connection", round).isNotNull();
                    assertThat(flood.goAway.get(30, TimeUnit.SECONDS))
                            .as("GOAWAY error code seen by the server on connection %d (-1: closed without one)", round)
                            .isEqualTo(Http2Error.NO_ERROR.code());
                }
            } finally {
                listener.close().syncUninterruptibly();
            }
        } finally {
            serverLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        }
    }

    /** The server: answers a CONNECT with 503, and from the client's SETTINGS on floods WINDOW_UPDATEs until a GOAWAY or the close. */
    static final class Flood extends Http2ChannelDuplexHandler implements Runnable {
        final CompletableFuture<Long> goAway = new CompletableFuture<>();
        ChannelHandlerContext ctx;
        boolean flooding;

        @Override
        protected void handlerAdded0(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2GoAwayFrame g) {
                    goAway.complete(g.errorCode());
                } else if (msg instanceof Http2HeadersFrame h && h.stream() != null) {
                    ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("503"), true).stream(h.stream()));
                } else if (msg instanceof Http2SettingsFrame && !flooding) {
                    flooding = true;
                    ctx.channel().eventLoop().execute(this);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // a failed write or a reset: the channel closes, the test reads the outcome
        }

        @Override
        public void run() {
            Channel ch = ctx.channel();
            if (!ch.isActive() || goAway.isDone()) {
                return;
            }
            for (int i = 0; i < 20; i++) {
                ctx.write(new DefaultHttp2WindowUpdateFrame(1));
            }
            ctx.flush();
            ch.eventLoop().execute(this);
        }
    }
}
