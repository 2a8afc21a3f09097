package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.zerohop.core.Capture;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.testing.netty.EchoServer;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A captured connection is relayed on the event loop of the end it is joined to (issue 14: proxy A
 * read the captured socket on one loop and wrote its pooled HBONE connection on another, so every
 * byte crossed threads, twice per round trip). The end here is a TCP connection opened on purpose on
 * the loop the accepted connection is NOT on, as a pooled tunnel connection usually is; the opener
 * completes only after the client already sent its bytes and its FIN, so the move must also keep
 * what arrives while the connection is between two loops.
 */
class CaptureLoopTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"epoll", "nio"})
    @DisplayName("the accepted connection moves onto the loop of its relay end; bytes and FIN sent meanwhile arrive")
    void theCapturedConnectionIsRelayedOnItsEndsLoop(String transport) throws Exception {
        EventLoopGroup group = transport.equals("epoll") ? Transports.newGroup(2, "capture-loop-test")
                : new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        EchoServer echo = null;
        Channel listener = null;
        try {
            echo = new EchoServer();
            InetSocketAddress echoAddress = echo.address();
            CountDownLatch clientDone = new CountDownLatch(1);
            AtomicReference<EventLoop> acceptedLoop = new AtomicReference<>();
            AtomicReference<EventLoop> endLoop = new AtomicReference<>();
            AtomicReference<Channel> accepted = new AtomicReference<>();
            CaptureListener.Opener opener = (src, dst, loop) -> {
                acceptedLoop.set(loop);
                EventLoop other = group.next() == loop ? group.next() : loop;
                for (int i = 0; i < 4 && other == loop; i++) {
                    other = group.next();
                }
                EventLoop away = other;
                return CompletableFuture.runAsync(() -> await(clientDone))
                        .thenCompose(x -> CaptureListener.connectTcp(away, echoAddress))
                        .thenApply(end -> {
                            endLoop.set(end.channel().eventLoop());
                            return end;
                        });
            };
            listener = CaptureListener.bind(group, Capture.forward(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    echoAddress), opener);
            // Sees each accepted connection before the listener's acceptor registers it. Added on the
            // listener's loop, so it is in force before the test connects.
            Channel l = listener;
            l.eventLoop().submit(() -> l.pipeline().addFirst(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    accepted.set((Channel) msg);
                    ctx.fireChannelRead(msg);
                }
            })).sync();
            byte[] sent = new byte[1024];
            new Random(14).nextBytes(sent);
            try (Socket s = new Socket()) {
                s.connect(listener.localAddress(), 5_000);
                s.setSoTimeout(30_000);
                OutputStream o = s.getOutputStream();
                // Before the relay is joined: less than the socket buffers hold, so it cannot block.
                o.write(sent);
                o.flush();
                s.shutdownOutput();
                clientDone.countDown();
                InputStream in = s.getInputStream();
                ByteArrayOutputStream got = new ByteArrayOutputStream();
                byte[] buf = new byte[8192];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    got.write(buf, 0, n);
                }
                assertThat(got.toByteArray()).as("echo of the bytes sent before the relay was joined").isEqualTo(sent);
            }
            assertThat(endLoop.get()).as("the end was opened on another loop than the accepted connection's").isNotSameAs(acceptedLoop.get());
            assertThat(accepted.get().eventLoop()).as("the loop the accepted connection was relayed on").isSameAs(endLoop.get());
        } finally {
            if (listener != null) {
                listener.close().sync();
            }
            if (echo != null) {
                echo.close();
            }
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS).sync();
        }
    }

    private static void await(CountDownLatch l) {
        try {
            if (!l.await(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("client did not send");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
