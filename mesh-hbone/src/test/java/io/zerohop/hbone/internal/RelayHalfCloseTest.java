package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.testing.netty.Await;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A relayed TCP connection whose client half-closes first and then receives much more than the
 * socket buffers hold: every byte arrives, then a clean FIN. This is the node proxy's outbound
 * capture when an app sends its request and shuts its output down (NodeProxyE2EIT's echo). Two
 * bugs made it reset or cut short, both reproduced here with small socket buffers on real epoll
 * sockets:
 * <ul>
 *   <li>Netty 4.2.18-21 epoll deletes the fd of a half-closed channel from epoll once nothing is
 *       queued but keeps it registered as added, so the next partial write fails (ENOENT) and the
 *       relay resets both sides ({@code Transports.keepEpollRegistered});
 *   <li>{@code Channel.shutdownOutput()} fails writes still queued, so the upstream's FIN relayed
 *       at once dropped the tail ({@code Relay.tcp}'s FIN now follows an empty write).
 * </ul>
 */
@Timeout(60)
class RelayHalfCloseTest {
    static final int SMALL_BUFFER = 8 << 10;
    static final int ANSWER = 4 << 20;

    @Test
    void clientThatHalfClosedFirstGetsTheWholeAnswerThenFin() throws Exception {
        assumeTrue(Transports.epoll(), "the bug and the fix are epoll's; no native epoll here");
        EventLoopGroup group = Transports.newGroup(2, "relay-test");
        InetAddress lo = InetAddress.getLoopbackAddress();
        byte[] answer = new byte[ANSWER];
        new Random(11).nextBytes(answer);
        try (ServerSocket upstream = new ServerSocket(0, 1, lo)) {
            CountDownLatch requestEnded = new CountDownLatch(1);
            CountDownLatch joined = new CountDownLatch(1);
            CompletableFuture<Long> upstreamRead = answerAfterFin(upstream, answer, requestEnded);
            Channel listener = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                    .childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childOption(ChannelOption.SO_SNDBUF, SMALL_BUFFER)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel client) {
                            new Bootstrap().group(client.eventLoop()).channel(Transports.socketChannel(group))
                                    .option(ChannelOption.AUTO_READ, false).option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                                    .handler(new ChannelInitializer<>() {
                                        @Override
                                        protected void initChannel(Channel ch) {}
                                    })
                                    .connect(upstream.getLocalSocketAddress()).addListener(f -> {
                                        if (f.isSuccess()) {
                                            Relay.join(Relay.tcp(client), Relay.tcp((DuplexChannel) ((io.netty.channel.ChannelFuture) f).channel()));
                                            joined.countDown();
                                        } else {
                                            client.close();
                                        }
                                    });
                        }
                    })
                    .bind(new InetSocketAddress(lo, 0)).sync().channel();
            try (Socket client = new Socket()) {
                client.setReceiveBufferSize(SMALL_BUFFER);
                client.setSoTimeout(30_000);
                client.connect(listener.localAddress());
                // Bytes and FIN before the relay is joined are CaptureListener's hold's business, not this test's.
                assertThat(joined.await(10, TimeUnit.SECONDS)).as("relay joined").isTrue();
                client.getOutputStream().write(new byte[1024]);
                client.shutdownOutput();
                // The relay has taken the client's FIN (it passed it upstream) before any answer byte.
                assertThat(requestEnded.await(10, TimeUnit.SECONDS)).as("the request's FIN relayed upstream").isTrue();
                assertWholeAnswerThenFin(client, answer);
                assertThat(Await.result(upstreamRead)).isEqualTo(1024L);
            } finally {
                listener.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * The same, with the request and its FIN in before the relay is joined, as a captured connection's client may send
     * them while its tunnel opens (CaptureListener's hold): epoll reads them at EPOLLRDHUP with auto-read off, and the fd's
     * interest set is empty from then on, so Netty's bug (above) deleted the fd before the relay existed, and the relay's
     * first read failed (ENOENT) and closed the connection: 11 tunnels of a 360,000-tunnel soak ended with a FIN and no
     * byte, all while the machine was loaded (the tunnel opened after the client's FIN). The hold of a TCP connection
     * now keeps the fd registered from the moment it is added.
     */
    @Test
    void clientThatHalfClosedBeforeTheRelayJoinedGetsTheWholeAnswerThenFin() throws Exception {
        assumeTrue(Transports.epoll(), "the bug and the fix are epoll's; no native epoll here");
        EventLoopGroup group = Transports.newGroup(2, "relay-test");
        InetAddress lo = InetAddress.getLoopbackAddress();
        byte[] answer = new byte[ANSWER];
        new Random(12).nextBytes(answer);
        try (ServerSocket upstream = new ServerSocket(0, 1, lo)) {
            CompletableFuture<Long> upstreamRead = answerAfterFin(upstream, answer, new CountDownLatch(1));
            CountDownLatch finHeld = new CountDownLatch(1);
            CompletableFuture<SocketChannel> accepted = new CompletableFuture<>();
            Channel listener = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                    .childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childOption(ChannelOption.SO_SNDBUF, SMALL_BUFFER)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel client) {
                            client.pipeline().addLast("zerohop-hold", new Hold(Long.MAX_VALUE, true) {
                                @Override
                                protected void held(io.netty.channel.ChannelHandlerContext ctx, Object item) {
                                    if (item instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                                        finHeld.countDown();
                                    }
                                }
                            });
                            accepted.complete(client);
                        }
                    })
                    .bind(new InetSocketAddress(lo, 0)).sync().channel();
            try (Socket client = new Socket()) {
                client.setReceiveBufferSize(SMALL_BUFFER);
                client.setSoTimeout(30_000);
                client.connect(listener.localAddress());
                client.getOutputStream().write(new byte[1024]);
                client.shutdownOutput();
                // Epoll has read the request and the FIN (EPOLLRDHUP) into the hold: the interest set is empty now.
                assertThat(finHeld.await(10, TimeUnit.SECONDS)).as("the FIN held before the join").isTrue();
                SocketChannel ch = Await.result(accepted);
                ch.eventLoop().execute(() -> new Bootstrap().group(ch.eventLoop()).channel(Transports.socketChannel(group))
                        .option(ChannelOption.AUTO_READ, false).option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                        .handler(new ChannelInitializer<>() {
                            @Override
                            protected void initChannel(Channel up) {}
                        })
                        .connect(upstream.getLocalSocketAddress()).addListener(f -> {
                            if (f.isSuccess()) {
                                Relay.join(Relay.tcp(ch), Relay.tcp((DuplexChannel) ((io.netty.channel.ChannelFuture) f).channel()));
                                ((Hold) ch.pipeline().get("zerohop-hold")).release();
                            } else {
                                ch.close();
                            }
                        }));
                assertWholeAnswerThenFin(client, answer);
                assertThat(Await.result(upstreamRead)).as("the held request reached the upstream").isEqualTo(1024L);
            } finally {
                listener.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * The connection that half-closed first is closed once the upstream's FIN comes back, not half-closed and then closed:
     * its close sends the same FIN after the same bytes (its input ended, nothing unread, so no RST), without
     * {@code shutdownOutput}, for which Netty builds a {@code ChannelOutputShutdownException} with a stack trace and fires
     * a {@code ChannelOutputShutdownEvent} (issue 14, benchmarks/results/close-exceptions-b7cc2b8f.md). The upstream, whose
     * input had not ended when the client's FIN reached it, is half-closed as before. ztunnel's copy_bidirectional
     * (src/copy.rs) shuts down the writer of a direction at its reader's end of stream; this is its last direction.
     */
    @Test
    void clientThatHalfClosedFirstIsClosedWithTheAnswersFinNotHalfClosed() throws Exception {
        EventLoopGroup group = Transports.newGroup(2, "relay-test");
        // helper 280's loopback range and ports (other tests of the repository run beside it)
        InetAddress lo = InetAddress.getByName("127.0.132.1");
        byte[] answer = new byte[64 << 10];
        new Random(13).nextBytes(answer);
        try (ServerSocket upstream = new ServerSocket(48301, 1, lo)) {
            CompletableFuture<Long> upstreamRead = answerAfterFin(upstream, answer, new CountDownLatch(1));
            CompletableFuture<Channel> clientSide = new CompletableFuture<>();
            CompletableFuture<Channel> upstreamSide = new CompletableFuture<>();
            java.util.Map<Channel, Boolean> outputShutdown = new java.util.concurrent.ConcurrentHashMap<>();
            Channel listener = relayingListener(group, new InetSocketAddress(lo, 48302), upstream, outputShutdown, clientSide,
                    upstreamSide);
            try (Socket client = new Socket()) {
                client.setSoTimeout(30_000);
                client.connect(listener.localAddress());
                Channel clientCh = Await.result(clientSide);
                client.getOutputStream().write(new byte[1024]);
                client.shutdownOutput();
                // A reset instead of the FIN fails this read (SocketException: Connection reset).
                assertWholeAnswerThenFin(client, answer);
                assertThat(Await.result(upstreamRead)).as("the request, then its FIN, reached the upstream").isEqualTo(1024L);
                Channel upCh = Await.result(upstreamSide);
                assertThat(clientCh.closeFuture().await(10, TimeUnit.SECONDS)).as("client side closed").isTrue();
                assertThat(upCh.closeFuture().await(10, TimeUnit.SECONDS)).as("upstream side closed").isTrue();
                // The upstream's FIN (upstreamRead ended) is shutdown(2) on epoll without Netty's event (the test below);
                // the client's FIN is its close.
                if (Transports.epoll()) {
                    assertThat(outputShutdown).as("Netty's output shutdown before the close").isEmpty();
                } else {
                    assertThat(outputShutdown).as("output shut down before the close: the upstream's only")
                            .containsOnlyKeys(upCh);
                }
            } finally {
                listener.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * The relay's FIN toward a connection that is still sending (a real half-close) is shutdown(2)'s {@code SHUT_WR} on
     * the socket, as ztunnel's copy_bidirectional (src/copy.rs) does, without Netty's {@code shutdownOutput}, which
     * builds a {@code ChannelOutputShutdownException} with a stack trace and fires a {@code ChannelOutputShutdownEvent}
     * at every half-close (issue 14, benchmarks/results/indy-close-65d22d05.md). What the half-close means is kept: the
     * upstream reads the FIN after every byte, the channel says its output is shut down, its answer still reaches the
     * client, then a FIN, no reset; a write to it after the FIN fails and leaves it open for its input, as after
     * Netty's {@code shutdownOutput} (with auto-close left on, that write's EPIPE would close it and reset the client).
     */
    @Test
    void relaysFinIsShutdownOfTheSocketWithoutNettysOutputShutdown() throws Exception {
        assumeTrue(Transports.epoll(), "Netty's shutdownOutput is kept on other transports");
        EventLoopGroup group = Transports.newGroup(2, "relay-test");
        // helper 324's loopback range and ports (other tests of the repository run beside it)
        InetAddress lo = InetAddress.getByName("127.0.180.1");
        byte[] answer = new byte[64 << 10];
        new Random(14).nextBytes(answer);
        try (ServerSocket upstream = new ServerSocket(53401, 1, lo)) {
            CountDownLatch requestEnded = new CountDownLatch(1);
            CountDownLatch checked = new CountDownLatch(1);
            CompletableFuture<Long> upstreamRead = CompletableFuture.supplyAsync(() -> {
                try (Socket s = upstream.accept()) {
                    long n = s.getInputStream().readAllBytes().length; // until the relayed FIN
                    requestEnded.countDown();
                    assertThat(checked.await(10, TimeUnit.SECONDS)).as("half-closed channel checked").isTrue();
                    s.getOutputStream().write(answer);
                    s.shutdownOutput();
                    return n;
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            CompletableFuture<Channel> upstreamSide = new CompletableFuture<>();
            java.util.Map<Channel, Boolean> outputShutdown = new java.util.concurrent.ConcurrentHashMap<>();
            Channel listener = relayingListener(group, new InetSocketAddress(lo, 53402), upstream, outputShutdown, null,
                    upstreamSide);
            try (Socket client = new Socket()) {
                client.setSoTimeout(30_000);
                client.connect(listener.localAddress());
                Channel upCh = Await.result(upstreamSide);
                client.getOutputStream().write(new byte[1024]);
                client.shutdownOutput();
                assertThat(requestEnded.await(10, TimeUnit.SECONDS)).as("the request's FIN relayed upstream").isTrue();
                // On the upstream channel's loop, after the task that sent the FIN (Netty's event would be fired in it).
                Await.result(upCh.eventLoop().submit(() -> {
                    assertThat(outputShutdown).as("ChannelOutputShutdownEvent (Netty's exception built)").isEmpty();
                    assertThat(((DuplexChannel) upCh).isOutputShutdown()).as("output shut down").isTrue();
                    assertThat(upCh.isActive()).as("open for the answer").isTrue();
                    return null;
                }));
                io.netty.channel.ChannelFuture late = upCh.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(new byte[16]));
                assertThat(late.await(10, TimeUnit.SECONDS)).isTrue();
                assertThat(late.isSuccess()).as("a write after the FIN").isFalse();
                assertThat(upCh.isActive()).as("open for the answer after a failed write").isTrue();
                checked.countDown();
                // A reset instead of the answer and its FIN fails this read (SocketException: Connection reset).
                assertWholeAnswerThenFin(client, answer);
                assertThat(Await.result(upstreamRead)).isEqualTo(1024L);
                assertThat(upCh.closeFuture().await(10, TimeUnit.SECONDS)).as("upstream side closed").isTrue();
            } finally {
                checked.countDown();
                listener.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /** Records the channels whose output was shut down ({@code ChannelOutputShutdownEvent}), for the test above. */
    private static final class OutputShutdownSeen extends io.netty.channel.ChannelInboundHandlerAdapter {
        private final java.util.Map<Channel, Boolean> seen;

        OutputShutdownSeen(java.util.Map<Channel, Boolean> seen) {
            this.seen = seen;
        }

        @Override
        public void userEventTriggered(io.netty.channel.ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.channel.socket.ChannelOutputShutdownEvent) {
                seen.put(ctx.channel(), true);
            }
            ctx.fireUserEventTriggered(evt);
        }
    }

    /** The upstream: reads to the relayed FIN, counts it down, then answers {@code answer} and its FIN. */
    static CompletableFuture<Long> answerAfterFin(ServerSocket upstream, byte[] answer, CountDownLatch requestEnded) {
        return CompletableFuture.supplyAsync(() -> {
            try (Socket s = upstream.accept()) {
                long n = s.getInputStream().readAllBytes().length; // until the relayed FIN
                requestEnded.countDown();
                s.getOutputStream().write(answer);
                s.shutdownOutput();
                return n;
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
    }

    /** Reads {@code client} to its FIN: every byte of {@code answer}, in order. */
    static void assertWholeAnswerThenFin(Socket client, byte[] answer) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        long got = 0;
        InputStream in = client.getInputStream();
        byte[] buf = new byte[64 << 10];
        for (int r; (r = in.read(buf)) >= 0; ) {
            md.update(buf, 0, r);
            got += r;
        }
        assertThat(got).as("answer bytes before the FIN").isEqualTo(answer.length);
        assertThat(HexFormat.of().formatHex(md.digest()))
                .isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(answer)));
    }

    /**
     * A listener on {@code at} that relays each connection it accepts to {@code upstream} ({@link Relay#join} of two TCP
     * ends), both half-closable and read on demand; {@code outputShutdown} records Netty's output-shutdown event on the
     * upstream channel and, when {@code clientSide} is given, on the accepted one, which {@code clientSide} then gets.
     */
    private static Channel relayingListener(EventLoopGroup group, InetSocketAddress at, ServerSocket upstream,
            java.util.Map<Channel, Boolean> outputShutdown, CompletableFuture<Channel> clientSide,
            CompletableFuture<Channel> upstreamSide) throws InterruptedException {
        return new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                .childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel client) {
                        if (clientSide != null) {
                            client.pipeline().addLast(new OutputShutdownSeen(outputShutdown));
                        }
                        new Bootstrap().group(client.eventLoop()).channel(Transports.socketChannel(group))
                                .option(ChannelOption.AUTO_READ, false).option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                                .handler(new OutputShutdownSeen(outputShutdown))
                                .connect(upstream.getLocalSocketAddress()).addListener(f -> {
                                    if (f.isSuccess()) {
                                        Channel up = ((io.netty.channel.ChannelFuture) f).channel();
                                        Relay.join(Relay.tcp(client), Relay.tcp((DuplexChannel) up));
                                        if (clientSide != null) {
                                            clientSide.complete(client);
                                        }
                                        upstreamSide.complete(up);
                                    } else {
                                        client.close();
                                    }
                                });
                    }
                })
                .bind(at).sync().channel();
    }
}
