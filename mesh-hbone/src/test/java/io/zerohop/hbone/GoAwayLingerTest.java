package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Transports;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A GOAWAY with an error code reaches a real HTTP/2 client that keeps writing: Netty's HTTP/2 client
 * with its defaults (auto-close on a failed write) floods CONNECT+RST pairs past the reset budget
 * and must read GOAWAY ENHANCE_YOUR_CALM, not a connection reset. The server half-closes after the
 * GOAWAY and reads what the client still sends before it closes (LingeringClose; Go's HTTP/2
 * server's goAwayTimeout, golang.org/issue/18701). Before, it closed right after writing the GOAWAY
 * with the client's later frames unread, Linux answered with RST, the client's next write failed, and
 * Netty closed the client's channel before it read the GOAWAY waiting in its receive buffer.
 */
@Timeout(120)
class GoAwayLingerTest {
    static final int ROUNDS = 10;
    static final int PAIRS = 3_000;
    /**
     * The servers' linger after their GOAWAY. The default (1 s) is what a peer gets in production;
     * on a CI machine at load 12 the flooding client's loop was once starved for longer, the server
     * closed with its frames unread and the RST destroyed the GOAWAY: the mechanism, not the
     * default's margin, is what this test proves. The client closes when it has read the GOAWAY,
     * which ends the linger, so a long one costs no time.
     */
    static final Duration LINGER = Duration.ofSeconds(30);
    static Mesh mesh;
    /** Accepts nothing: the kernel queues the dials the CONNECTs make, none completes a tunnel. */
    static ServerSocketChannel slow;
    static HboneServer server;
    static EventLoopGroup clientLoop;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        slow = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 4096);
        server = mesh.server((dst, id, local) -> Destination.proxy(Mesh.loopback(slow.socket().getLocalPort())))
                .upstreamConnectTimeout(Duration.ofSeconds(60)).resetBudget(5, Duration.ofMinutes(10))
                .delayedCloseTimeout(LINGER).build().start().get();
        clientLoop = Transports.newGroup(1, "h2-client");
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
        slow.close();
        clientLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        mesh.close();
    }

    @Test
    @DisplayName("Netty's HTTP/2 client flooding CONNECT+RST reads its GOAWAY ENHANCE_YOUR_CALM, 10 connections one after the other")
    void aClientThatKeepsWritingReadsTheGoAwayErrorCode() throws Exception {
        SslContext tls = mesh.tls.client(mesh.clientId, mesh.expectServer()).get();
        for (int round = 0; round < ROUNDS; round++) {
            Flood flood = new Flood(false);
            Channel ch = connect(server, tls, flood);
            ch.eventLoop().execute(flood);
            assertThat(flood.goAway.get(30, TimeUnit.SECONDS))
                    .as("GOAWAY error code seen by the client on connection %d (-1: closed without one)", round)
                    .isEqualTo(Http2Error.ENHANCE_YOUR_CALM.code());
            ch.close().syncUninterruptibly();
        }
    }

    /**
     * The same for the drain's GOAWAY NO_ERROR: a server shut down while a client keeps writing
     * (WINDOW_UPDATEs here; a CONNECT racing the GOAWAY is the case that matters) closes right
     * after its GOAWAY when no tunnel is open; with the client's frames unread that was a reset too.
     */
    @Test
    @DisplayName("Netty's HTTP/2 client that keeps writing reads the drain's GOAWAY NO_ERROR, 10 servers one after the other")
    void aClientThatKeepsWritingReadsTheDrainGoAway() throws Exception {
        SslContext tls = mesh.tls.client(mesh.clientId, mesh.expectServer()).get();
        for (int round = 0; round < ROUNDS; round++) {
            HboneServer draining = mesh.server(DestinationResolver.sameIp()).delayedCloseTimeout(LINGER).build().start().get();
            try {
                Flood flood = new Flood(true);
                Channel ch = connect(draining, tls, flood);
                flood.settings.get(30, TimeUnit.SECONDS);
                ch.eventLoop().execute(flood);
                draining.shutdownGracefully(Duration.ofSeconds(30));
                assertThat(flood.goAway.get(30, TimeUnit.SECONDS))
                        .as("GOAWAY error code seen by the client on connection %d (-1: closed without one)", round)
                        .isEqualTo(Http2Error.NO_ERROR.code());
                ch.close().syncUninterruptibly();
            } finally {
                draining.close();
            }
        }
    }

    static Channel connect(HboneServer to, SslContext tls, Flood flood) throws InterruptedException {
        Channel ch = new Bootstrap().group(clientLoop).channel(Transports.socketChannel(clientLoop))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        c.pipeline().addLast(tls.newHandler(c.alloc()), Http2FrameCodecBuilder.forClient().build(), flood);
                    }
                }).connect(to.localAddress()).sync().channel();
        ch.closeFuture().addListener(f -> flood.goAway.complete(-1L));
        return ch;
    }

    /**
     * The client: 20 CONNECT+RST pairs (or connection WINDOW_UPDATEs of 1 byte) per turn of its event
     * loop (its reads run between the bursts) until it reads a GOAWAY or its channel closes. Netty's
     * defaults otherwise, auto-close included.
     */
    static final class Flood extends Http2ChannelDuplexHandler implements Runnable {
        final CompletableFuture<Long> goAway = new CompletableFuture<>();
        final CompletableFuture<Void> settings = new CompletableFuture<>();
        final boolean windowUpdates;
        ChannelHandlerContext ctx;
        int sent;

        Flood(boolean windowUpdates) {
            this.windowUpdates = windowUpdates;
        }

        @Override
        protected void handlerAdded0(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2GoAwayFrame g) {
                goAway.complete(g.errorCode());
            } else if (msg instanceof Http2SettingsFrame) {
                settings.complete(null);
            }
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // a failed write or a reset: the channel closes, the test reads the outcome
        }

        @Override
        public void run() {
            Channel ch = ctx.channel();
            if (!ch.isActive() || goAway.isDone() || (!windowUpdates && sent >= PAIRS)) {
                return;
            }
            for (int i = 0; i < 20; i++, sent++) {
                if (windowUpdates) {
                    ctx.write(new DefaultHttp2WindowUpdateFrame(1));
                    continue;
                }
                Http2FrameStream s = newStream();
                ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT")
                        .authority("127.0.0.1:" + slow.socket().getLocalPort())).stream(s));
                ctx.write(new DefaultHttp2ResetFrame(Http2Error.CANCEL).stream(s));
            }
            ctx.flush();
            ch.eventLoop().execute(this);
        }
    }
}
