package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
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
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.netty.Await;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Break-it (h377, 7 December) on the L7 HTTP/1 path: its access lines under a client that leaves, and its share of the
 * node's L7 budget ({@link H2HeldBudget}, {@link Http1Filter}, {@link TcpUpstream#queuedBytes}). Each test is one
 * finding; each failed on the code it was found on, and says what fixed it. Plaintext inbound path, as
 * L7H1UnreadBodiesTest; addresses 127.0.238.1-2, ports 50000-50001.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7Http1BreakTest {
    static final String PROXY = "127.0.238.1";
    static final String APP = "127.0.238.2";
    static final int PROXY_PORT = 50000;
    static final int APP_PORT = 50001;

    /**
     * A client posts (content-length 10 MB) 4 KiB at a time to an application that does not read yet, until its
     * application connection queues some (below its 64 KiB write watermark, so it stays writable), and stops, waiting;
     * then the application reads all of it. Nothing is held any more, but the node's count keeps what was queued at the
     * client's last read: bytes no connection holds count toward the budget (until that client's next read), inflating
     * {@link H2HeldBudget#held} so that real holders are shed under a budget they are within, and overBudget asks such a
     * connection before lighter real ones (its own shed recounts it to 0 and sheds nothing, but the node's shedding is
     * spent on it). Measured 7 December: a connection that holds 0 still counted 4,192 bytes.
     *
     * <p>Found by h377; fixed by h378 (7 December): {@link TcpUpstream} counts the body bytes of each write on the
     * application's connection until that write completes, and its completion counts the connection again
     * ({@link Http1Filter#heldChanged}), as the HTTP/2 path's {@code Connection#written} does for what it queued. One
     * listener per part written (a read's worth), none per byte.
     */
    @Test
    void whatTheApplicationTookIsNoLongerCounted() throws Exception {
        AtomicLong proxyRead = new AtomicLong();
        long base = H2HeldBudget.held();
        try (PlaintextL7.Ends ends = new PlaintextL7.Ends(1, "l7-h1-budget-recount")) {
            List<Channel> appConnections = ends.appConnections;
            List<Channel> upstreams = ends.upstreams;
            List<Channel> accepted = ends.accepted;
            ends.app = PlaintextL7.application(ends.group, new InetSocketAddress(APP, APP_PORT),
                    b -> b.childOption(ChannelOption.AUTO_READ, false).childOption(ChannelOption.SO_RCVBUF, 16 * 1024), ch -> {
                appConnections.add(ch);
                ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ReferenceCountUtil.release(msg);
                    }
                });
            });
            proxy(ends, proxyRead, null);

            java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open();
            ends.clients.add(c);
            c.connect(new InetSocketAddress(PROXY, PROXY_PORT));
            long written = write(c, ByteBuffer.wrap(("POST /upload HTTP/1.1\r\nhost: backend\r\ncontent-length: 10000000\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII)));
            // 4 KiB at a time, each read by the proxy (and its read complete) before the next, until some is queued toward
            // the application: well below the write watermark, so its connection never turns unwritable.
            byte[] chunk = new byte[4096];
            while (H2HeldBudget.held() - base == 0) {
                assertThat(written).as("the application's socket buffers fill within 1 MB").isLessThan(1 << 20);
                written += write(c, ByteBuffer.wrap(chunk));
                long expect = written;
                Await.until("the proxy read what the client wrote", () -> proxyRead.get() == expect);
                Channel client = accepted.get(0);
                client.eventLoop().submit(() -> { }).sync(); // its read's channelReadComplete ran (the same task)
            }
            long counted = H2HeldBudget.held() - base;
            assertThat(counted).as("queued below the write watermark").isLessThan(64 * 1024);
            assertThat(upstreams).hasSize(1);
            Channel up = upstreams.get(0);
            assertThat(up.isWritable()).isTrue();
            // The application reads everything: the proxy's application connection has nothing queued.
            appConnections.get(0).config().setAutoRead(true);
            Await.until("the application took what was queued", () -> {
                try {
                    return up.eventLoop().submit(() -> up.unsafe().outboundBuffer() == null
                            || up.unsafe().outboundBuffer().totalPendingWriteBytes() == 0).get();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            assertThat(H2HeldBudget.held() - base)
                    .as("what the node counts for a connection that holds nothing (it counted %d at the client's last read)", counted)
                    .isZero();
        }
    }

    /**
     * {@code OPTIONS *} with a body, the client leaving before the body's end: zerohop answered 404 at the head (Envoy's
     * AbsolutePath) but kept the connection open, reading the body to drop it, and logged the request only at the body's
     * end, so a client that left before it was never logged nor counted. Envoy's connection manager closes an HTTP/1
     * connection whose response (a local reply included) comes before the request's end, saying {@code connection: close}
     * (conn_manager_impl.cc {@code ActiveStream::encodeHeaders}, {@code !remoteDecodeComplete()},
     * {@code downstream_rq_response_before_rq_complete}), and logs the stream once its local reply ended
     * ({@code doEndStream}, {@code doDeferredStreamDestroy}), as zerohop's RBAC denial with a body to come does
     * ({@link Http1Filter} {@code decided}). The client reads the 404 and resets its connection.
     */
    @Test
    void anOptionsStarWithABodyIsLoggedAndClosesAtItsAnswer() throws Exception {
        try (PlaintextL7.Ends ends = new PlaintextL7.Ends(1, "l7-http1-break-options"); CapturedStderr err = new CapturedStderr()) {
            ends.app = PlaintextL7.application(ends.group, new InetSocketAddress(APP, APP_PORT), b -> { }, ends.appConnections::add);
            proxy(ends, new AtomicLong(), null);
            try (java.net.Socket s = new java.net.Socket()) {
                s.setSoTimeout(10_000);
                s.connect(new InetSocketAddress(PROXY, PROXY_PORT));
                s.getOutputStream().write("OPTIONS * HTTP/1.1\r\nhost: backend\r\ncontent-length: 10\r\n\r\nabc"
                        .getBytes(StandardCharsets.US_ASCII));
                StringBuilder head = new StringBuilder();
                java.io.InputStream in = s.getInputStream();
                while (!head.toString().contains("\r\n\r\n")) {
                    int b = in.read();
                    assertThat(b).as("the response so far: %s", head).isNotNegative();
                    head.append((char) b);
                }
                assertThat(head.toString()).startsWith("HTTP/1.1 404 ").containsIgnoringCase("\r\nconnection: close\r\n");
                s.setSoLinger(true, 0);
            }
            assertThat(err.awaitLine("-http src=", " method=OPTIONS ", " status=404 ")).contains(" path=\"*\"");
        }
    }

    /**
     * The other direction, which no budget counts: 64 clients each ask for a 100 MB response and read none of it. Each
     * client connection queues the application's response up to its write watermark (64 KiB) and one application read
     * past it before the filter stops reading the application ({@link Http1Filter#channelWritabilityChanged},
     * {@link TcpUpstream#readResponses}), so the node holds N times that whatever {@link H2HeldBudget#limit}: here 64
     * connections against a 1 MiB budget; 10,000 would hold the 640 MB the request direction's budget was made for
     * (L7H1UnreadBodiesTest). Envoy bounds each connection the same way (per_connection_buffer_limit_bytes watermarks) and
     * its overload manager's reset_high_memory_stream counts HTTP/2 streams' buffers only, so Envoy has no node-wide bound
     * here either; zerohop's reason for counting the request direction ("64 KiB per connection over 10,000 connections is
     * ten times the node proxy's direct memory", Http1Filter.shedForBudget) holds for this one too. Measured 7 December:
     * 4.3 MB of direct memory held (67 KB per connection) against a 1 MiB budget, counted held 0. An HTTP/2 client that
     * opens 128 such streams on one connection (windows 2^31-1) and reads nothing held no more than its one connection's
     * share (H2Proxy stops reading the application at the connection's writability; checked the same day): the exposure is
     * per client connection, HTTP/1 or HTTP/2.
     *
     * <p>Found by h377; fixed by h378 (7 December): {@link Http1Filter#toClient} counts each response part written toward
     * the client until its write completes, in the same connection's share as its request bodies, and each read of the
     * application's connection checks the budget as each read of the client does ({@link Http1Filter#flushDownstream}):
     * over it the connections holding the most are reset ({@code OM}). Measured after: 0.98 MB of direct memory held,
     * counted the same, for 64 clients against the 1 MiB budget.
     */
    @Test
    void clientsThatDoNotReadTheirResponsesHoldNoMoreThanTheBudget() throws Exception {
        int connections = 64;
        long budget = 1L << 20;
        long before = H2HeldBudget.limit();
        H2HeldBudget.limit(budget);
        io.netty.buffer.UnpooledByteBufAllocator alloc = new io.netty.buffer.UnpooledByteBufAllocator(true);
        try (PlaintextL7.Ends ends = new PlaintextL7.Ends(2, "l7-h1-unread-responses")) {
            List<Channel> upstreams = ends.upstreams;
            List<java.nio.channels.SocketChannel> clients = ends.clients;
            ends.app = bigResponses(ends.group, ends.appConnections);
            proxy(ends, new AtomicLong(), alloc);
            long base = alloc.metric().usedDirectMemory();
            for (int i = 0; i < connections; i++) {
                java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open();
                c.setOption(StandardSocketOptions.SO_RCVBUF, 16 * 1024);
                c.connect(new InetSocketAddress(PROXY, PROXY_PORT));
                clients.add(c);
                write(c, ByteBuffer.wrap("GET /big HTTP/1.1\r\nhost: backend\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
            }
            // Every application connection stopped being read: its client connection is over its write watermark.
            Await.until("every client connection full", Duration.ofSeconds(20), () -> upstreams.size() == connections
                    && upstreams.stream().allMatch(u -> !u.isActive() || !u.config().isAutoRead()));
            long queued = 0;
            for (Channel a : ends.accepted) {
                queued += a.eventLoop().submit(() -> a.unsafe().outboundBuffer() == null ? 0L
                        : a.unsafe().outboundBuffer().totalPendingWriteBytes()).get();
            }
            long held = alloc.metric().usedDirectMemory() - base;
            System.out.printf("L7Http1BreakTest: %d clients not reading: %d bytes queued toward them, direct memory +%d, "
                    + "counted held %d%n", connections, queued, held, H2HeldBudget.held());
            assertThat(held).as("direct memory the proxy holds for responses its clients do not read").isLessThanOrEqualTo(2 * budget);
        } finally {
            H2HeldBudget.limit(before);
        }
    }

    /**
     * Which connections the budget resets (finding C, h377's break-it): 14 connections whose ends took nothing hold 70,000
     * bytes each, just under a 1 MiB budget together, and one whose application reads its upload steadily holds 100,000;
     * it pushes the node over. overBudget sorted by size asked the heaviest first, and the steadily read upload, alone
     * covering the excess, was the one reset while the stalled ones went on holding. Envoy's overload manager ranks by
     * power-of-two memory class, not by size (envoyproxy/envoy source/common/buffer/watermark_buffer.cc
     * {@code WatermarkBufferFactory::resetAccountsGivenPressure}, {@code BufferMemoryAccountImpl::balanceToClassIndex}),
     * in which 70,000 and 100,000 are equals ([64 KiB, 128 KiB)); within a class zerohop takes the stalled first
     * ({@link H2HeldBudget#STALLED_NANOS}, here shortened): a stalled one is reset, the upload is not. The connections are
     * the budget's HTTP/1 shares on real connected channels (their sheds run on those channels' loops), their counts set
     * by the test: which connection holds how much is what is decided here, and the proxy's own counting is the other
     * tests'.
     */
    @Test
    void stalledConnectionsOfAClassAreResetBeforeASteadilyReadHeavierOne() throws Exception {
        long before = H2HeldBudget.limit();
        List<Channel> clients = new java.util.ArrayList<>();
        List<H2HeldBudget.Connection> shares = new java.util.ArrayList<>();
        long stallNanos = 300_000_000L;
        // One loop: the sheds asked run in the order asked.
        try (PlaintextL7.Ends ends = new PlaintextL7.Ends(1, "l7-h1-budget-rank")) {
            EventLoopGroup group = ends.group;
            ends.app = PlaintextL7.application(group, new InetSocketAddress(APP, APP_PORT), b -> { }, ends.appConnections::add);
            try {
                long base = H2HeldBudget.held();
                H2HeldBudget.limit(base + (1L << 20));
                H2HeldBudget.stalledAfter(stallNanos);
                int stalledCount = 14;
                AtomicLong[] holding = new AtomicLong[stalledCount + 1];
                java.util.concurrent.atomic.AtomicBoolean[] shed = new java.util.concurrent.atomic.AtomicBoolean[stalledCount + 1];
                for (int i = 0; i <= stalledCount; i++) {
                    Channel ch = new io.netty.bootstrap.Bootstrap().group(group).channel(Transports.socketChannel(group))
                            .handler(new ChannelInboundHandlerAdapter()).connect(new InetSocketAddress(APP, APP_PORT)).sync().channel();
                    clients.add(ch);
                    AtomicLong h = holding[i] = new AtomicLong();
                    java.util.concurrent.atomic.AtomicBoolean reset = shed[i] = new java.util.concurrent.atomic.AtomicBoolean();
                    H2HeldBudget.Connection share = new H2HeldBudget.Connection(h::get);
                    shares.add(share);
                    ch.eventLoop().submit(() -> {
                        share.attach(ch);
                        share.add(new H2HeldBudget.Stream() {
                            @Override
                            public long heldBytes() {
                                return h.get();
                            }

                            @Override
                            public long progressAt() {
                                return System.nanoTime();
                            }

                            @Override
                            public void shed() {
                                reset.set(true);
                                h.set(0);
                            }
                        });
                    }).sync();
                }
                for (int i = 0; i < stalledCount; i++) {
                    H2HeldBudget.Connection share = shares.get(i);
                    holding[i].set(70_000);
                    clients.get(i).eventLoop().submit(share::readComplete).sync();
                }
                assertThat(H2HeldBudget.held() - base).as("the stalled ones hold just under the budget").isEqualTo(980_000L);
                // They took nothing since they began; the test waits until that makes them stalled.
                long stalledSince = System.nanoTime();
                while (System.nanoTime() - stalledSince < 2 * stallNanos) {
                    Thread.sleep(50);
                }
                // The upload: its application has just taken some (its count went down: progress), and it reads more.
                H2HeldBudget.Connection upload = shares.get(stalledCount);
                Channel uploadChannel = clients.get(stalledCount);
                holding[stalledCount].set(110_000);
                uploadChannel.eventLoop().submit(upload::recountNow).sync();
                holding[stalledCount].set(100_000);
                uploadChannel.eventLoop().submit(upload::readComplete).sync();
                Await.until("the node is back under its budget", () -> H2HeldBudget.held() - base <= (1L << 20));
                for (Channel ch : clients) {
                    ch.eventLoop().submit(() -> { }).sync(); // any shed asked of it ran
                }
                long stalledReset = java.util.Arrays.stream(shed, 0, stalledCount).filter(java.util.concurrent.atomic.AtomicBoolean::get).count();
                assertThat(shed[stalledCount].get()).as("the steadily read upload, 100,000 bytes in the class of the stalled ones' 70,000")
                        .isFalse();
                // Each shed stops once the node is within its budget (Connection.shed): one stalled connection's 70,000 is enough.
                assertThat(stalledReset).as("stalled connections reset").isGreaterThanOrEqualTo(1);
                assertThat(H2HeldBudget.held() - base).isLessThanOrEqualTo(1L << 20);
            } finally {
                H2HeldBudget.limit(before);
                H2HeldBudget.stalledAfter(H2HeldBudget.STALLED_NANOS);
                for (int i = 0; i < shares.size(); i++) {
                    H2HeldBudget.Connection share = shares.get(i);
                    clients.get(i).eventLoop().submit(share::detach).sync();
                }
                for (Channel ch : clients) {
                    ch.close().sync();
                }
            }
        }
    }

    /**
     * A request sent on a keep-alive connection after the one before it had ended but before that one's response (not in
     * the same write: pipelined across reads) is metered to itself only ({@code istio_request_bytes}): Envoy's HTTP/1
     * codec dispatches nothing of a connection whose request has ended until that request is done (http1 codec_impl.cc
     * {@code ServerConnectionImpl::dispatch}: with {@code active_request_->remote_complete_} it read-disables the
     * connection and returns before {@code ConnectionImpl::dispatch}, which meters), so those bytes are dispatched, and
     * metered, once the next request's turn comes. Until 7 December zerohop counted them in the first request too (it
     * observed 72 bytes for its own 36); the double count of L7PipelinedWireBytesTest holds only for bytes in the read
     * that carried the first request's end.
     */
    @Test
    void aRequestSentAfterThePreviousEndedCountsInItsOwnBytesOnly() throws Exception {
        AtomicLong proxyRead = new AtomicLong();
        AtomicLong appHeads = new AtomicLong();
        String first = "GET /one HTTP/1.1\r\nhost: backend\r\n\r\n";
        String second = "GET /two HTTP/1.1\r\nhost: backend\r\n\r\n";
        String ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        try (PlaintextL7.Ends ends = new PlaintextL7.Ends(1, "l7-http1-break-pipelined"); CapturedStderr err = new CapturedStderr()) {
            List<Channel> appConnections = ends.appConnections;
            // The application: holds its first request's answer until the test sends it; answers any later one at once.
            ends.app = PlaintextL7.application(ends.group, new InetSocketAddress(APP, APP_PORT), b -> { }, ch -> {
                appConnections.add(ch);
                ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        String got = ((ByteBuf) msg).toString(StandardCharsets.ISO_8859_1);
                        ReferenceCountUtil.release(msg);
                        if (appHeads.incrementAndGet() > 1 || got.contains("/two")) {
                            ctx.writeAndFlush(io.netty.buffer.Unpooled.copiedBuffer(ok, StandardCharsets.US_ASCII));
                        }
                    }
                });
            });
            io.micrometer.core.instrument.simple.SimpleMeterRegistry meters = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
            proxy(ends, proxyRead, null, meters);
            try (java.net.Socket s = new java.net.Socket()) {
                s.setSoTimeout(10_000);
                s.connect(new InetSocketAddress(PROXY, PROXY_PORT));
                s.getOutputStream().write(first.getBytes(StandardCharsets.US_ASCII));
                Await.until("the application has the first request", () -> appHeads.get() == 1);
                s.getOutputStream().write(second.getBytes(StandardCharsets.US_ASCII));
                Await.until("the proxy read the second request", () -> proxyRead.get() == first.length() + second.length());
                appConnections.get(0).writeAndFlush(io.netty.buffer.Unpooled.copiedBuffer(ok, StandardCharsets.US_ASCII));
                assertThat(err.awaitLine("-http src=", " path=\"/two\" ")).contains(" status=200 ");
                // Observed before the line is written (HttpObserver.request).
                io.micrometer.core.instrument.DistributionSummary bytes = meters.find("istio.request.bytes").summary();
                assertThat(bytes.count()).isEqualTo(2);
                assertThat(bytes.max()).as("the first request: its own bytes only, as Envoy reads the second later").isEqualTo(first.length());
                assertThat(bytes.totalAmount()).as("each its own").isEqualTo(first.length() + second.length());
            }
        }
    }

    /** The application: answers any request on its connection with a 100 MB body, written as fast as its connection takes it. */
    private static Channel bigResponses(EventLoopGroup group, List<Channel> appConnections) throws InterruptedException {
        return PlaintextL7.application(group, new InetSocketAddress(APP, APP_PORT), b -> { }, ch -> {
            appConnections.add(ch);
            ch.pipeline().addLast(new PlaintextL7.AnswersForEver("HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n"));
        });
    }

    /**
     * The plaintext inbound L7 path on {@link #PROXY}:{@link #PROXY_PORT} toward {@link #APP}:{@link #APP_PORT}, as
     * L7H1UnreadBodiesTest builds it, its listener and connections in {@code ends}; {@code upstreamAlloc} (null: the
     * default) allocates the application connections' reads.
     */
    private static void proxy(PlaintextL7.Ends ends, AtomicLong proxyRead, io.netty.buffer.ByteBufAllocator upstreamAlloc)
            throws InterruptedException {
        proxy(ends, proxyRead, upstreamAlloc, null);
    }

    /** The same, its metrics in {@code meters} (a Micrometer registry; null: none). */
    private static void proxy(PlaintextL7.Ends ends, AtomicLong proxyRead, io.netty.buffer.ByteBufAllocator upstreamAlloc, Object meters)
            throws InterruptedException {
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), ends.group, meters, null, 1000);
        InetSocketAddress appAddress = new InetSocketAddress(APP, APP_PORT);
        ends.listener = PlaintextL7.listen(http, ends.group, new InetSocketAddress(PROXY, PROXY_PORT), appAddress, AppProtocol.HTTP, b -> { }, client -> {
            ends.accepted.add(client);
            client.pipeline().addFirst(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    if (msg instanceof ByteBuf b) {
                        proxyRead.addAndGet(b.readableBytes());
                    }
                    ctx.fireChannelRead(msg);
                }
            });
        }, PlaintextL7.dial(appAddress, b -> {
            b.option(ChannelOption.SO_SNDBUF, 16 * 1024);
            if (upstreamAlloc != null) {
                b.option(ChannelOption.ALLOCATOR, upstreamAlloc);
            }
        }, ends.upstreams::add));
    }

    private static long write(java.nio.channels.SocketChannel c, ByteBuffer b) throws Exception {
        long n = b.remaining();
        while (b.hasRemaining()) {
            c.write(b);
        }
        return n;
    }
}
