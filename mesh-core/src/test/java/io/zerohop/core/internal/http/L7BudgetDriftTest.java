package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.core.AppProtocol;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.netty.Await;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Break-it (h382, 7 December) on the node's L7 budget ({@link H2HeldBudget}) after h378 counted HTTP/1 writes until
 * they complete in both directions: count drift. A count that stays above zero once every connection closed (or a
 * connection left filed in a memory class, or {@link H2HeldBudget#asked} left above zero) sheds innocent traffic, or
 * stops shedding, for the life of the node. Each test drives one end path through real sockets (the plaintext inbound
 * L7 path, {@link PlaintextL7}) until the proxy holds bytes, ends it, and checks that the node's count, its filed
 * connections and what it asked come back to what they were. Addresses 127.0.242.1-2, ports 50800-50801.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7BudgetDriftTest {
    static final String PROXY = "127.0.242.1";
    static final String APP = "127.0.242.2";
    static final int PROXY_PORT = 50800;
    static final int APP_PORT = 50801;

    /** An upload to an application that never reads, the client reset while the proxy holds part of it. */
    @Test
    void clientResetMidUpload() throws Exception {
        try (Rig rig = new Rig(Rig::neverReads)) {
            java.nio.channels.SocketChannel c = rig.client();
            rig.upload(c, "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            reset(c);
            rig.awaitBackToBase();
        }
    }

    /**
     * An HTTP/1 upload toward an HTTP/2 application ({@link H2Upstream}) that takes nothing (its connection never read:
     * the DATA waits behind its windows), the client reset; then the same with the application reset first.
     */
    @Test
    void uploadToAnHttp2ApplicationThenEitherEndResets() throws Exception {
        for (boolean clientFirst : new boolean[] {true, false}) {
            try (Rig rig = new Rig(Rig::neverReads, AppProtocol.HTTP2)) {
                java.nio.channels.SocketChannel c = rig.client();
                rig.upload(c, "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
                if (!clientFirst) {
                    rig.resetApplication();
                }
                reset(c);
                rig.awaitBackToBase();
            }
        }
    }

    /**
     * On one connection an allowed upload the application does not read (the proxy holds part of it) and, once the
     * client's socket is full, the connection reset; on another, a request denied by policy (ALLOW only /api/*) with its
     * 10 MB body in flight, answered 403 and closing, the client writing on, then reset. The count comes back.
     */
    @Test
    void aRequestDeniedWithItsBodyInFlight() throws Exception {
        PolicyEngine policy = PolicyEngine.builder().policies(io.zerohop.policy.PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: api-only, namespace: prod}
                spec:
                  action: ALLOW
                  rules: [{to: [{operation: {paths: ["/api/*"]}}]}]
                """)).build();
        try (Rig rig = new Rig(Rig::neverReads, AppProtocol.HTTP, policy)) {
            java.nio.channels.SocketChannel allowed = rig.client();
            rig.upload(allowed, "POST /api/up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            java.nio.channels.SocketChannel denied = rig.client();
            rig.send(denied, "POST /admin HTTP/1.1\r\nhost: backend\r\ncontent-length: 10000000\r\n\r\n");
            ByteBuffer chunk = ByteBuffer.allocate(16 * 1024);
            for (int i = 0; i < 64 && denied.isOpen(); i++) {
                try {
                    denied.write(chunk.clear());
                } catch (java.io.IOException closedByTheProxy) {
                    break;
                }
            }
            reset(denied);
            reset(allowed);
            rig.awaitBackToBase();
        }
    }

    /** Three pipelined uploads in one write to an application that never reads, then the client reset. */
    @Test
    void clientResetWithPipelinedUploads() throws Exception {
        try (Rig rig = new Rig(Rig::neverReads)) {
            java.nio.channels.SocketChannel c = rig.client();
            // The first one's body more than the sockets between the proxy and the application take: the proxy holds part.
            String first = "POST /p HTTP/1.1\r\nhost: backend\r\ncontent-length: 200000\r\n\r\n" + "x".repeat(200_000);
            String one = "POST /p HTTP/1.1\r\nhost: backend\r\ncontent-length: 20000\r\n\r\n" + "x".repeat(20_000);
            rig.upload(c, first + one + one + "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            reset(c);
            rig.awaitBackToBase();
        }
    }

    /**
     * Three short pipelined uploads and a long one in one write to an application that never reads (the sockets between
     * take the short ones: the proxy holds none of them), the client's socket full, then the client resets.
     */
    @Test
    void pipelinedShortUploadsThenTheClientResets() throws Exception {
        try (Rig rig = new Rig(Rig::neverReads)) {
            java.nio.channels.SocketChannel c = rig.client();
            String one = "POST /p HTTP/1.1\r\nhost: backend\r\ncontent-length: 20000\r\n\r\n" + "x".repeat(20_000);
            rig.send(c, one + one + one + "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            rig.writeUntilTheProxyTakesNoMore(c);
            reset(c);
            rig.awaitBackToBase();
        }
    }

    /**
     * Pipelined uploads (three of 20,000 bytes, then one of 100 MB) to an application that never reads, the proxy no
     * longer reading the client (its application connection unwritable, the later requests queued in the filter's
     * {@link PipelinedRequests}), the client closing (FIN, unseen while reads are paused), then the event loop group shut
     * down with the connections still open: every queued body part is released (paranoid leak detection,
     * {@code LeakDetectionExtension}, fails the class otherwise). Found by h382 (one {@code DefaultLastHttpContent} slice of
     * a client read, last touched as handed to zerohop-http-filter); cause found by h387: the rig ended its group with
     * Netty's {@code shutdownGracefully(0, ...)}, which in Netty 4.2.18 can end a loop with its sockets open, so no
     * {@code channelInactive} reached {@link Http1Filter} and its queue was never released (traced: no filter close on
     * that group). A mesh ends its loops with {@code Transports.shutdown} ({@code MeshRuntime}), which closes every
     * channel first; the rig now does the same and the filter's close releases the queue.
     */
    @Test
    void pipelinedUploadsOpenAtTheGroupsShutdownLeakNothing() throws Exception {
        try (Rig rig = new Rig(Rig::neverReads)) {
            java.nio.channels.SocketChannel c = rig.client();
            String one = "POST /p HTTP/1.1\r\nhost: backend\r\ncontent-length: 20000\r\n\r\n" + "x".repeat(20_000);
            rig.send(c, one + one + one + "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            rig.writeUntilTheProxyTakesNoMore(c);
            c.close();
        } // Rig.close: the group shut down with the proxy's connections open
        System.gc();
    }

    /**
     * An upload the application stops taking, the proxy no longer reading the client, then the client's FIN: Envoy's
     * remote early close (h387, {@link L7Http1EarlyCloseTest}) resets both connections from the filter's FIN event.
     */
    @Test
    void clientFinWhileItsReadsArePausedForTheApplication() throws Exception {
        try (Rig rig = new Rig(Rig::neverReads)) {
            java.nio.channels.SocketChannel c = rig.client();
            rig.send(c, "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            // A chunk at a time and no further once the proxy stops reading: the FIN must not wait behind a full socket.
            ByteBuffer chunk = ByteBuffer.allocate(8 * 1024);
            Await.until("the proxy stopped reading the client", () -> {
                try {
                    // Body bytes toward the application (the filter installed, past the sniff's own pause) and no reading.
                    if (H2HeldBudget.held() > rig.base && !rig.accepted.isEmpty() && !rig.accepted.get(0).config().isAutoRead()) {
                        return true;
                    }
                    c.write(chunk.clear());
                    Thread.sleep(2);
                    return false;
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            c.shutdownOutput();
            rig.awaitApplicationConnectionClosed();
            rig.awaitBackToBase();
        }
    }

    /** An upload the application stops taking, then closes (FIN) with the proxy's writes pending; the client leaves. */
    @Test
    void applicationClosesWithWritesPending() throws Exception {
        try (Rig rig = new Rig(Rig::neverReads)) {
            java.nio.channels.SocketChannel c = rig.client();
            rig.upload(c, "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            rig.appConnections.get(0).close().sync();
            rig.awaitApplicationConnectionClosed();
            c.close();
            rig.awaitBackToBase();
        }
    }

    /** A large response toward a client that does not read, the client reset. */
    @Test
    void clientResetMidResponse() throws Exception {
        try (Rig rig = new Rig(Rig::answersForEver)) {
            java.nio.channels.SocketChannel c = rig.client();
            rig.requestAndStopReading(c, "GET /big HTTP/1.1\r\nhost: backend\r\n\r\n");
            reset(c);
            rig.awaitBackToBase();
        }
    }

    /** A large response toward a client that does not read, the application reset; then the client leaves. */
    @Test
    void applicationResetMidResponse() throws Exception {
        try (Rig rig = new Rig(Rig::answersForEver)) {
            java.nio.channels.SocketChannel c = rig.client();
            rig.requestAndStopReading(c, "GET /big HTTP/1.1\r\nhost: backend\r\n\r\n");
            rig.resetApplication();
            c.close();
            rig.awaitBackToBase();
        }
    }

    /** An upgrade (WebSocket), bytes backed up in both directions (neither end reads), the client reset. */
    @Test
    void upgradedBothWaysThenClientReset() throws Exception {
        try (Rig rig = new Rig(Rig::upgradesAndSendsForEver)) {
            java.nio.channels.SocketChannel c = rig.client();
            rig.upload(c, "GET /ws HTTP/1.1\r\nhost: backend\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
            reset(c);
            rig.awaitBackToBase();
        }
    }

    /** An upgrade, bytes backed up in both directions, the application reset; then the client leaves. */
    @Test
    void upgradedBothWaysThenApplicationReset() throws Exception {
        try (Rig rig = new Rig(Rig::upgradesAndSendsForEver)) {
            java.nio.channels.SocketChannel c = rig.client();
            rig.upload(c, "GET /ws HTTP/1.1\r\nhost: backend\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
            rig.resetApplication();
            c.close();
            rig.awaitBackToBase();
        }
    }

    /**
     * Eight uploads to an application that never reads, over a budget a little above what the node held: the budget asks
     * connections to shed while the clients reset theirs (a shed racing its connection's close). What was asked comes back
     * to 0, as does the count.
     */
    @Test
    void shedsRacingTheirConnectionsCloseGiveBackWhatWasAsked() throws Exception {
        long before = H2HeldBudget.limit();
        try (Rig rig = new Rig(Rig::neverReads)) {
            H2HeldBudget.limit(rig.base + 96 * 1024);
            List<java.nio.channels.SocketChannel> clients = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                java.nio.channels.SocketChannel c = rig.client();
                clients.add(c);
                rig.send(c, "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            }
            ByteBuffer chunk = ByteBuffer.allocate(16 * 1024);
            for (int round = 0; round < 40; round++) {
                for (java.nio.channels.SocketChannel c : clients) {
                    if (c.isOpen()) {
                        try {
                            c.write(chunk.clear());
                        } catch (java.io.IOException reset) {
                            c.close(); // shed: reset by the proxy
                        }
                    }
                }
            }
            for (java.nio.channels.SocketChannel c : clients) {
                if (c.isOpen()) {
                    reset(c);
                }
            }
            rig.awaitBackToBase();
        } finally {
            H2HeldBudget.limit(before);
        }
    }

    /**
     * A keep-alive connection idle for longer than the stall time, then an upload its application does not read yet: it
     * has held bytes for an instant, and must not be taken as stalled (overBudget's first pass), or an innocent upload
     * would be reset before connections whose ends took nothing for 10 s. The stall clock runs from the connection's start
     * or its count's last decrease, not from when it began to hold; this passed as found (h382), because the first writes
     * toward the application complete into the sockets' buffers and count as progress. Kept as a check of that reliance.
     */
    @Test
    void aConnectionIdleBeforeItsUploadIsNotStalledAtItsStart() throws Exception {
        long stallNanos = 1_000_000_000L;
        try (Rig rig = new Rig(Rig::answersOnceThenStopsReading)) {
            H2HeldBudget.stalledAfter(stallNanos);
            java.nio.channels.SocketChannel c = rig.client();
            rig.send(c, "GET /first HTTP/1.1\r\nhost: backend\r\n\r\n");
            ByteBuffer in = ByteBuffer.allocate(4096);
            StringBuilder got = new StringBuilder();
            Await.until("the first response", () -> {
                try {
                    in.clear();
                    c.read(in);
                    got.append(new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII));
                    return got.indexOf("\r\n\r\n") >= 0;
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            });
            assertThat(got.toString()).startsWith("HTTP/1.1 200");
            // Idle, holding nothing, for longer than the stall time.
            long idleSince = System.nanoTime();
            while (System.nanoTime() - idleSince < 2 * stallNanos) {
                Thread.sleep(50);
            }
            rig.upload(c, "POST /up HTTP/1.1\r\nhost: backend\r\ncontent-length: 100000000\r\n\r\n");
            assertThat(H2HeldBudget.stalled()).as("connections taken as stalled, the upload having just begun to be held").isZero();
            reset(c);
            rig.awaitBackToBase();
        } finally {
            H2HeldBudget.stalledAfter(H2HeldBudget.STALLED_NANOS);
        }
    }

    /**
     * A response's tail toward a client that does not read, its connection closing gracefully after it ({@code connection:
     * close}: FIN after the writes, then up to {@link Downstream#LINGER_SECONDS} for the client's), over the budget. The
     * budget asked it to shed; Http1Filter.shedForBudget did nothing on a closing connection, but Connection.shed counted
     * a reset, found the node still over and asked again, itself first (its shed had cleared its asked flag): one task
     * after another on its loop for the whole linger, {@code resets} counting thousands, the bytes held until the linger
     * ended. Fixed: a closing connection asked to shed is reset (its writes fail, its count goes), as Envoy's overload
     * manager resets a stream whatever its state (watermark_buffer.cc resetAccountsGivenPressure).
     */
    @Test
    void aGracefullyClosingConnectionAskedToShedIsResetOnce() throws Exception {
        long before = H2HeldBudget.limit();
        try (Rig rig = new Rig(Rig::answers80000OrNothingForTiny)) {
            java.nio.channels.SocketChannel a = rig.client();
            rig.send(a, "GET /big HTTP/1.1\r\nhost: backend\r\nconnection: close\r\n\r\n");
            Await.until("the proxy holds the response's tail and closed the application's connection",
                    () -> H2HeldBudget.held() > rig.base && rig.upstreams.size() == 1 && !rig.upstreams.get(0).isActive());
            long resetsBefore = H2HeldBudget.resets();
            H2HeldBudget.limit(rig.base + 1024);
            // Another client's read checks the budget.
            java.nio.channels.SocketChannel b = rig.client();
            rig.send(b, "GET /tiny HTTP/1.1\r\nhost: backend\r\n\r\n");
            Await.until("the node back within its budget", java.time.Duration.ofSeconds(30), () -> H2HeldBudget.held() - rig.base <= 1024);
            // The loop this guards counted millions (22.8 million in 10 s). More than one is legitimate: the node sheds until
            // under half its budget, and bytes other classes of this JVM still held (rig.base) can make a second connection
            // (b, or one of theirs) asked after a's reset (seen once in a full L7 run, 7 December).
            assertThat(H2HeldBudget.resets() - resetsBefore).as("resets counted for the budget").isBetween(1L, 4L);
            reset(a);
            reset(b);
            rig.awaitBackToBase();
        } finally {
            H2HeldBudget.limit(before);
        }
    }

    /**
     * An HTTP/2 client ({@link H2Proxy}, prior knowledge) posting on eight streams to an application that takes nothing
     * (its connection never read: the proxy's DATA waits behind the application's windows, and the client's in the proxy's
     * connection window), then reset: the node's count comes back.
     */
    @Test
    void http2ClientResetWithStreamsHeld() throws Exception {
        try (Rig rig = new Rig(Rig::neverReads)) {
            Channel h2 = new io.netty.bootstrap.Bootstrap().group(rig.group).channel(Transports.socketChannel(rig.group))
                    .handler(new io.netty.channel.ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline().addLast(io.netty.handler.codec.http2.Http2FrameCodecBuilder.forClient().build(),
                                    new io.netty.handler.codec.http2.Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                        }
                    }).connect(new InetSocketAddress(PROXY, PROXY_PORT)).sync().channel();
            for (int i = 0; i < 8; i++) {
                io.netty.handler.codec.http2.Http2StreamChannel s = new io.netty.handler.codec.http2.Http2StreamChannelBootstrap(h2)
                        .handler(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ReferenceCountUtil.release(msg);
                            }
                        }).open().sync().getNow();
                io.netty.handler.codec.http2.Http2Headers headers = new io.netty.handler.codec.http2.DefaultHttp2Headers()
                        .method("POST").path("/up").scheme("http").authority("backend");
                s.write(new io.netty.handler.codec.http2.DefaultHttp2HeadersFrame(headers, false));
                for (int k = 0; k < 4; k++) {
                    s.write(new io.netty.handler.codec.http2.DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[16 * 1024]), false));
                }
                s.flush();
            }
            Await.until("the proxy holds the streams' bodies", () -> H2HeldBudget.held() - rig.base >= 4 * 16 * 1024);
            h2.config().setOption(ChannelOption.SO_LINGER, 0);
            h2.close().sync();
            rig.awaitBackToBase();
        }
    }

    private static void reset(java.nio.channels.SocketChannel c) throws Exception {
        c.setOption(StandardSocketOptions.SO_LINGER, 0);
        c.close();
    }

    /** The application, the plaintext L7 proxy in front of it, and what they accepted and dialled. */
    private static final class Rig implements AutoCloseable {
        final EventLoopGroup group = Transports.newGroup(1, "l7-budget-drift");
        final List<Channel> appConnections = new CopyOnWriteArrayList<>();
        final List<Channel> upstreams = new CopyOnWriteArrayList<>();
        final List<Channel> accepted = new CopyOnWriteArrayList<>();
        final List<java.nio.channels.SocketChannel> clients = new CopyOnWriteArrayList<>();
        final long base = H2HeldBudget.held();
        final int filedBase = H2HeldBudget.filed();
        final Channel app;
        final Channel listener;

        Rig(Consumer<SocketChannel> appHandler) throws InterruptedException {
            this(appHandler, AppProtocol.HTTP);
        }

        Rig(Consumer<SocketChannel> appHandler, AppProtocol protocol) throws InterruptedException {
            this(appHandler, protocol, PolicyEngine.builder().build());
        }

        Rig(Consumer<SocketChannel> appHandler, AppProtocol protocol, PolicyEngine policy) throws InterruptedException {
            H2HeldBudget.logAgain();
            app = PlaintextL7.application(group, new InetSocketAddress(APP, APP_PORT),
                    b -> b.childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.SO_RCVBUF, 16 * 1024)
                            .childOption(ChannelOption.SO_SNDBUF, 16 * 1024), ch -> {
                appConnections.add(ch);
                appHandler.accept(ch);
            });
            InetSocketAddress appAddress = new InetSocketAddress(APP, APP_PORT);
            HttpEnforcement http = new HttpEnforcement(policy, group, null, null, 1000);
            listener = PlaintextL7.listen(http, group, new InetSocketAddress(PROXY, PROXY_PORT), appAddress, protocol,
                    b -> b.childOption(ChannelOption.SO_SNDBUF, 16 * 1024), accepted::add,
                    PlaintextL7.dial(appAddress, b -> b.option(ChannelOption.SO_SNDBUF, 16 * 1024), upstreams::add));
        }

        /** Never reads: what it is sent backs up in the proxy. */
        static void neverReads(SocketChannel ch) {
        }

        /** Answers each request: 80,000 bytes, or, a request for {@code /tiny}, none; with what it reads, all of it. */
        static void answers80000OrNothingForTiny(SocketChannel ch) {
            ch.config().setAutoRead(true);
            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    String req = ((ByteBuf) msg).toString(StandardCharsets.US_ASCII);
                    ReferenceCountUtil.release(msg);
                    if (req.startsWith("GET /tiny")) {
                        ctx.writeAndFlush(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", StandardCharsets.US_ASCII));
                    } else {
                        ctx.write(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\ncontent-length: 80000\r\n\r\n", StandardCharsets.US_ASCII));
                        ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[80_000]));
                    }
                }
            });
        }

        /** Answers its first request with an empty 200 and reads nothing more. */
        static void answersOnceThenStopsReading(SocketChannel ch) {
            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                private boolean answered;

                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    ReferenceCountUtil.release(msg);
                    if (!answered) {
                        answered = true;
                        ctx.writeAndFlush(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", StandardCharsets.US_ASCII));
                    }
                }
            });
            ch.read();
        }

        /** Reads the request's head, then answers with an endless body written as fast as its connection takes it. */
        static void answersForEver(SocketChannel ch) {
            ch.pipeline().addLast(new PlaintextL7.AnswersForEver("HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n"));
            ch.read();
        }

        /** Reads the upgrade request, answers 101, then writes bytes for ever and reads nothing more. */
        static void upgradesAndSendsForEver(SocketChannel ch) {
            ch.pipeline().addLast(new PlaintextL7.AnswersForEver("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"));
            ch.read();
        }

        java.nio.channels.SocketChannel client() throws Exception {
            java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open();
            c.setOption(StandardSocketOptions.SO_RCVBUF, 16 * 1024);
            c.connect(new InetSocketAddress(PROXY, PROXY_PORT));
            c.configureBlocking(false);
            clients.add(c);
            return c;
        }

        void send(java.nio.channels.SocketChannel c, String head) throws Exception {
            ByteBuffer b = ByteBuffer.wrap(head.getBytes(StandardCharsets.US_ASCII));
            while (b.hasRemaining()) {
                if (c.write(b) == 0) {
                    Thread.sleep(5);
                }
            }
        }

        /** Sends {@code head} and then body bytes until the proxy holds some and the client's socket takes no more. */
        void upload(java.nio.channels.SocketChannel c, String head) throws Exception {
            send(c, head);
            ByteBuffer chunk = ByteBuffer.allocate(16 * 1024);
            Await.until("the proxy holds part of the upload and takes no more", () -> {
                try {
                    return c.write(chunk.clear()) == 0 && H2HeldBudget.held() > base;
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            });
        }

        /** Writes body bytes until the client's socket takes no more (the proxy stopped reading it). */
        void writeUntilTheProxyTakesNoMore(java.nio.channels.SocketChannel c) {
            ByteBuffer chunk = ByteBuffer.allocate(16 * 1024);
            Await.until("the proxy takes no more", () -> {
                try {
                    return c.write(chunk.clear()) == 0;
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            });
        }

        /** Resets the application's first connection (SO_LINGER 0) and waits for the proxy's side of it to close. */
        void resetApplication() throws InterruptedException {
            Channel a = appConnections.get(0);
            a.config().setOption(ChannelOption.SO_LINGER, 0);
            a.close().sync();
            awaitApplicationConnectionClosed();
        }

        void awaitApplicationConnectionClosed() {
            Await.until("the proxy's application connection closed", () -> upstreams.stream().noneMatch(Channel::isActive));
        }

        /** Sends the request and reads nothing until the proxy holds part of the response for this client. */
        void requestAndStopReading(java.nio.channels.SocketChannel c, String head) throws Exception {
            send(c, head);
            Await.until("the proxy holds part of the response", () -> H2HeldBudget.held() > base);
        }

        /** Every connection closed (the test's own too): the node's count, its filed connections and asked are as before. */
        void awaitBackToBase() throws Exception {
            for (java.nio.channels.SocketChannel c : clients) {
                c.close();
            }
            Await.until("the proxy's client connections closed", () -> accepted.stream().noneMatch(Channel::isActive));
            Await.until("the proxy's application connections closed", () -> upstreams.stream().noneMatch(Channel::isActive));
            group.next().submit(() -> { }).sync(); // what their closes queued on the one loop ran
            // Each connection's count goes back when its close reaches its share (channelInactive, or handlerRemoved at its
            // deregistration: an HTTP/2 connection's, a task or two after the close): waited for, not raced. A drift never
            // comes back, and the wait fails.
            Await.until("the node's count back to what it was", () -> H2HeldBudget.held() == base);
            assertThat(H2HeldBudget.filed() - filedBase).as("connections still filed in a memory class").isZero();
            assertThat(H2HeldBudget.asked()).as("bytes asked of connections to shed, once every connection closed").isZero();
        }

        @Override
        public void close() throws Exception {
            for (java.nio.channels.SocketChannel c : clients) {
                c.close();
            }
            listener.close().sync();
            app.close().sync();
            for (Channel ch : appConnections) {
                ch.close().sync();
            }
            // As a mesh ends its loops (MeshRuntime): Transports.shutdown closes each loop's channels before the request.
            // Netty's shutdownGracefully(0, ...) alone can end a loop with its sockets open and no channelInactive
            // (Netty 4.2.18 SingleThreadIoEventLoop.run, Transports.shutdown's Javadoc): what a filter held then is
            // never released (pipelinedUploadsOpenAtTheGroupsShutdownLeakNothing, found h382, explained h387).
            Transports.shutdown(group, TimeUnit.SECONDS.toMillis(1)).sync();
        }
    }
}
