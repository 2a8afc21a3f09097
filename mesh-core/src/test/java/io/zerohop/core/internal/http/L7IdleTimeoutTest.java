package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The connection idle timeout of the L7 path (Envoy's connection manager {@code idle_timeout}, 1 h, which istiod leaves
 * on a sidecar's inbound listener; {@link HttpEnforcement#CONNECTION_IDLE_TIMEOUT_MILLIS}), shortened to
 * {@link #IDLE_MILLIS} here: a client connection with no request or stream in progress ends, an HTTP/1 one with a FIN,
 * an HTTP/2 one through the drain sequence (GOAWAY, then its end); one with a request in progress is not cut, however
 * long its application takes (istiod disables {@code stream_idle_timeout}). Real sockets on loopback, wired as the
 * plaintext inbound listener wires them ({@link HttpEnforcement#plaintext}). Nothing here measures time: a connection
 * that is never closed fails on the read timeout ({@link #NEVER_MILLIS}), far above the idle timeout.
 */
@Timeout(60)
class L7IdleTimeoutTest {
    static final long IDLE_MILLIS = 300;
    /**
     * The HTTP/2 drain's time from its notice to its final GOAWAY, shortened from Envoy's 5 s {@code drain_timeout}
     * ({@link HttpEnforcement#h2DrainTimes}) so that a drain is not waited out; the close bound stays.
     */
    static final long DRAIN_MILLIS = 200;
    /** A read that sees nothing for this long fails the test: the connection was not closed. */
    static final int NEVER_MILLIS = 20_000;
    static final InetAddress LO = InetAddress.getLoopbackAddress();

    private final EventLoopGroup group = Transports.newGroup(1, "l7-idle");
    private final ExecutorService appThreads = Executors.newCachedThreadPool();
    /** Released to let the application answer a {@code /slow} request. */
    private final CountDownLatch slowMayAnswer = new CountDownLatch(1);
    /** Completed with how many requests each application connection served, when zerohop closes it. */
    private final List<CompletableFuture<Integer>> appConnections = new java.util.concurrent.CopyOnWriteArrayList<>();
    private ServerSocket app;
    private Channel listener;

    @BeforeEach
    void start() throws Exception {
        app = new ServerSocket();
        app.bind(new InetSocketAddress(LO, 0));
        appThreads.execute(this::acceptLoop);
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        http.connectionIdleTimeout(IDLE_MILLIS);
        http.h2DrainTimes(DRAIN_MILLIS, TimeUnit.SECONDS.toMillis(H2ConnectionEnds.Drain.TIMEOUT_SECONDS));
        listener = listen(http, (InetSocketAddress) app.getLocalSocketAddress());
    }

    /** A plaintext inbound listener parsing HTTP with {@code http} in front of {@code appAddress}. */
    private Channel listen(HttpEnforcement http, InetSocketAddress appAddress) throws InterruptedException {
        return PlaintextL7.listen(http, group, new InetSocketAddress(LO, 0), appAddress);
    }

    @AfterEach
    void stop() throws Exception {
        slowMayAnswer.countDown();
        listener.close().sync();
        app.close();
        appThreads.shutdownNow();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    /** The application: HTTP/1.1 keep-alive, {@code 200 ok} to every request, {@code /slow} only once released. */
    private void acceptLoop() {
        while (!app.isClosed()) {
            Socket s;
            try {
                s = app.accept();
            } catch (IOException e) {
                return;
            }
            CompletableFuture<Integer> served = new CompletableFuture<>();
            appConnections.add(served);
            appThreads.execute(() -> {
                int n = 0;
                try (s) {
                    InputStream in = s.getInputStream();
                    OutputStream out = s.getOutputStream();
                    for (String head; !(head = L7HalfCloseTest.readHead(in)).isEmpty(); n++) {
                        if (head.startsWith("GET /upgrade ")) {
                            out.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                                    .getBytes(StandardCharsets.US_ASCII));
                            out.flush();
                            in.transferTo(out); // an echo from then on
                            break;
                        }
                        if (head.startsWith("GET /slow ")) {
                            slowMayAnswer.await();
                        }
                        out.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
                        out.flush();
                    }
                    served.complete(n);
                } catch (Exception e) {
                    served.completeExceptionally(e);
                }
            });
        }
    }

    private Socket client() throws IOException {
        Socket s = new Socket();
        s.connect(listener.localAddress());
        s.setSoTimeout(NEVER_MILLIS);
        return s;
    }

    private static void get(Socket c, String path) throws IOException {
        c.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: backend\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    }

    private static void assertAnsweredOk(InputStream in) throws IOException {
        String head = L7HalfCloseTest.readHead(in);
        assertThat(head).startsWith("HTTP/1.1 200 OK\r\n");
        assertThat(new String(in.readNBytes(2), StandardCharsets.US_ASCII)).isEqualTo("ok");
    }

    /** Reads until the server's FIN; a read timeout means the connection was left open. */
    private static void assertClosedByServer(InputStream in, String what) throws IOException {
        try {
            assertThat(in.read()).as(what + ": the server's FIN, nothing else").isEqualTo(-1);
        } catch (SocketTimeoutException e) {
            throw new AssertionError(what + ": still open " + NEVER_MILLIS + " ms later, the idle timeout being " + IDLE_MILLIS + " ms", e);
        }
    }

    @Test
    @DisplayName("an HTTP/1 keep-alive connection between requests ends with a FIN at the idle timeout, its application connection with it")
    void http1ConnectionBetweenRequestsEnds() throws Exception {
        try (Socket c = client()) {
            InputStream in = c.getInputStream();
            // Many requests, each re-arming the timer at its end: only the idle time after the last one counts.
            for (int i = 0; i < 200; i++) {
                get(c, "/r" + i);
                assertAnsweredOk(in);
            }
            assertClosedByServer(in, "the client connection idle after its 200th response");
        }
        assertThat(appConnections).hasSize(1);
        assertThat(appConnections.get(0).get(NEVER_MILLIS, TimeUnit.MILLISECONDS)).as("requests served before zerohop closed it").isEqualTo(200);
    }

    @Test
    @DisplayName("a connection to an http port that never sends a byte ends at the idle timeout (after the codec's choice, HTTP/1)")
    void silentConnectionEnds() throws Exception {
        try (Socket c = client()) {
            assertClosedByServer(c.getInputStream(), "the silent connection");
        }
        assertThat(appConnections).as("no application connection dialled").isEmpty();
    }

    @Test
    @DisplayName("an HTTP/1 request whose application takes longer than the idle timeout is not cut (no stream idle timeout under Istio)")
    void http1RequestInProgressIsNotCut() throws Exception {
        try (Socket slow = client(); Socket idle = client()) {
            get(slow, "/slow");
            // The other connection's idle time starts after the slow request began: its close at the idle timeout
            // comes after the moment a timer of the same length on the slow request would have fired.
            get(idle, "/fast");
            assertAnsweredOk(idle.getInputStream());
            assertClosedByServer(idle.getInputStream(), "the idle connection");
            slowMayAnswer.countDown();
            assertAnsweredOk(slow.getInputStream());
            // Still open and served: its idle time began at that answer.
            get(slow, "/again");
            assertAnsweredOk(slow.getInputStream());
        }
    }

    @Test
    @DisplayName("an upgraded HTTP/1 connection (101) is not ended by the idle timeout: its stream lasts as long as the connection")
    void upgradedConnectionIsNotCut() throws Exception {
        try (Socket upgraded = client(); Socket idle = client()) {
            upgraded.getOutputStream().write("GET /upgrade HTTP/1.1\r\nHost: backend\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            assertThat(L7HalfCloseTest.readHead(upgraded.getInputStream())).startsWith("HTTP/1.1 101 ");
            // Idle from here on; the other connection's idle time starts later and ends first.
            get(idle, "/fast");
            assertAnsweredOk(idle.getInputStream());
            assertClosedByServer(idle.getInputStream(), "the idle connection");
            upgraded.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(upgraded.getInputStream().readNBytes(4), StandardCharsets.US_ASCII)).isEqualTo("ping");
        }
    }

    @Test
    @DisplayName("an HTTP/2 connection without streams drains at the idle timeout: GOAWAY, then its end")
    void http2ConnectionWithoutStreamsDrains() throws Exception {
        try (Socket c = client()) {
            OutputStream out = c.getOutputStream();
            out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0}); // SETTINGS, empty
            out.flush();
            DataInputStream in = new DataInputStream(c.getInputStream());
            int goAways = 0;
            boolean acked = false;
            while (true) {
                byte[] header = new byte[9];
                try {
                    in.readFully(header);
                } catch (EOFException end) {
                    break;
                } catch (SocketTimeoutException e) {
                    throw new AssertionError("the HTTP/2 connection without streams still open " + NEVER_MILLIS + " ms later; GOAWAYs: " + goAways, e);
                }
                int length = ((header[0] & 0xff) << 16) | ((header[1] & 0xff) << 8) | (header[2] & 0xff);
                int type = header[3] & 0xff;
                byte[] payload = in.readNBytes(length);
                if (type == 4 && (header[4] & 1) == 0 && !acked) {
                    out.write(new byte[] {0, 0, 0, 4, 1, 0, 0, 0, 0}); // SETTINGS ACK
                    out.flush();
                    acked = true;
                }
                if (type == 7) {
                    goAways++;
                    int errorCode = ((payload[4] & 0xff) << 24) | ((payload[5] & 0xff) << 16) | ((payload[6] & 0xff) << 8) | (payload[7] & 0xff);
                    assertThat(errorCode).as("GOAWAY's error code").isZero();
                }
            }
            // Envoy's drain sequence: the shutdown notice, then the final GOAWAY drain_timeout later, then the end.
            assertThat(goAways).as("GOAWAY frames before the end").isEqualTo(2);
        }
    }

    @Test
    @DisplayName("an HTTP/2 application connection without streams is closed at its idle timeout while the client connection stays busy")
    void http2ApplicationConnectionWithoutStreamsCloses() throws Exception {
        // The application takes one stream per connection, so the second request goes on a second connection.
        List<Channel> appConns = new java.util.concurrent.CopyOnWriteArrayList<>();
        CompletableFuture<Void> slowArrived = new CompletableFuture<>();
        CompletableFuture<Void> releaseSlow = new CompletableFuture<>();
        Channel h2App = h2App(appConns, slowArrived, releaseSlow);
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        http.applicationIdleTimeout(IDLE_MILLIS);
        Channel h2Listener = listen(http, (InetSocketAddress) h2App.localAddress());
        Channel client = new Bootstrap().group(group).channel(Transports.socketChannel(group))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(io.netty.handler.codec.http2.Http2FrameCodecBuilder.forClient().build(),
                                new io.netty.handler.codec.http2.Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
                    }
                }).connect(h2Listener.localAddress()).sync().channel();
        try {
            CompletableFuture<String> slow = request(client, "/slow");
            slowArrived.get(NEVER_MILLIS, TimeUnit.MILLISECONDS);
            assertThat(request(client, "/fast").get(NEVER_MILLIS, TimeUnit.MILLISECONDS)).isEqualTo("200");
            assertThat(appConns).as("application connections: one per stream").hasSize(2);
            // The second one has no stream left; the client connection is busy with /slow on the first.
            assertThat(appConns.get(1).closeFuture().await(NEVER_MILLIS, TimeUnit.MILLISECONDS))
                    .as("the application connection without streams closed, the idle timeout being " + IDLE_MILLIS + " ms").isTrue();
            assertThat(appConns.get(0).isActive()).as("the one with /slow in progress").isTrue();
            releaseSlow.complete(null);
            assertThat(slow.get(NEVER_MILLIS, TimeUnit.MILLISECONDS)).isEqualTo("200");
            assertThat(client.isActive()).as("the client connection goes on").isTrue();
        } finally {
            releaseSlow.complete(null);
            client.close().sync();
            h2Listener.close().sync();
            h2App.close().sync();
        }
    }

    /**
     * An h2c application that takes one stream per connection (SETTINGS_MAX_CONCURRENT_STREAMS 1) and answers 200, a
     * {@code /slow} request only once {@code releaseSlow} completes; its connections go to {@code appConns}.
     */
    private Channel h2App(List<Channel> appConns, CompletableFuture<Void> slowArrived, CompletableFuture<Void> releaseSlow)
            throws InterruptedException {
        return new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        appConns.add(ch);
                        ch.pipeline().addLast(io.netty.handler.codec.http2.Http2FrameCodecBuilder.forServer()
                                        .initialSettings(io.netty.handler.codec.http2.Http2Settings.defaultSettings().maxConcurrentStreams(1)).build(),
                                new io.netty.handler.codec.http2.Http2MultiplexHandler(new ChannelInitializer<io.netty.handler.codec.http2.Http2StreamChannel>() {
                                    @Override
                                    protected void initChannel(io.netty.handler.codec.http2.Http2StreamChannel stream) {
                                        stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                            @Override
                                            public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                                                io.netty.util.ReferenceCountUtil.release(msg);
                                                if (msg instanceof io.netty.handler.codec.http2.Http2HeadersFrame h && h.isEndStream()) {
                                                    Runnable answer = () -> ctx.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2HeadersFrame(
                                                            new io.netty.handler.codec.http2.DefaultHttp2Headers().status("200"), true));
                                                    if ("/slow".contentEquals(h.headers().path())) {
                                                        slowArrived.complete(null);
                                                        releaseSlow.thenRun(() -> ctx.executor().execute(answer));
                                                    } else {
                                                        answer.run();
                                                    }
                                                }
                                            }
                                        });
                                    }
                                }));
                    }
                }).bind(new InetSocketAddress(LO, 0)).sync().channel();
    }

    /** An HTTP/2 client connection to {@code to}; the GOAWAY frames it receives are counted in {@code goAways}. */
    private Channel h2Client(java.net.SocketAddress to, java.util.concurrent.atomic.AtomicInteger goAways) throws InterruptedException {
        return new Bootstrap().group(group).channel(Transports.socketChannel(group))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(io.netty.handler.codec.http2.Http2FrameCodecBuilder.forClient().build(),
                                new io.netty.handler.codec.http2.Http2MultiplexHandler(new ChannelInboundHandlerAdapter()),
                                new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                                        if (msg instanceof io.netty.handler.codec.http2.Http2GoAwayFrame) {
                                            goAways.incrementAndGet();
                                        }
                                        io.netty.util.ReferenceCountUtil.release(msg);
                                    }
                                });
                    }
                }).connect(to).sync().channel();
    }

    @Test
    @DisplayName("an HTTP/2 connection drains at the idle timeout after its last stream, not while one is open")
    void http2ConnectionDrainsAfterItsLastStream() throws Exception {
        List<Channel> appConns = new java.util.concurrent.CopyOnWriteArrayList<>();
        CompletableFuture<Void> slowArrived = new CompletableFuture<>();
        CompletableFuture<Void> releaseSlow = new CompletableFuture<>();
        Channel h2App = h2App(appConns, slowArrived, releaseSlow);
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        http.connectionIdleTimeout(IDLE_MILLIS);
        http.h2DrainTimes(DRAIN_MILLIS, TimeUnit.SECONDS.toMillis(H2ConnectionEnds.Drain.TIMEOUT_SECONDS));
        Channel h2Listener = listen(http, (InetSocketAddress) h2App.localAddress());
        java.util.concurrent.atomic.AtomicInteger busyGoAways = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger idleGoAways = new java.util.concurrent.atomic.AtomicInteger();
        Channel busy = h2Client(h2Listener.localAddress(), busyGoAways);
        try {
            CompletableFuture<String> slow = request(busy, "/slow");
            slowArrived.get(NEVER_MILLIS, TimeUnit.MILLISECONDS);
            // Another client connection, idle after one stream begun later, drains and ends first.
            Channel idle = h2Client(h2Listener.localAddress(), idleGoAways);
            for (int i = 0; i < 50; i++) {
                assertThat(request(idle, "/fast").get(NEVER_MILLIS, TimeUnit.MILLISECONDS)).isEqualTo("200");
            }
            assertThat(idle.closeFuture().await(NEVER_MILLIS, TimeUnit.MILLISECONDS)).as("the idle HTTP/2 connection ended").isTrue();
            assertThat(idleGoAways.get()).as("its GOAWAYs: the notice and the final one").isEqualTo(2);
            assertThat(busyGoAways.get()).as("GOAWAYs on the connection with a stream open").isZero();
            releaseSlow.complete(null);
            assertThat(slow.get(NEVER_MILLIS, TimeUnit.MILLISECONDS)).isEqualTo("200");
            // Its idle time begins now: it drains and ends too.
            assertThat(busy.closeFuture().await(NEVER_MILLIS, TimeUnit.MILLISECONDS)).as("the other one, idle after its stream").isTrue();
            assertThat(busyGoAways.get()).isEqualTo(2);
        } finally {
            releaseSlow.complete(null);
            busy.close().sync();
            h2Listener.close().sync();
            h2App.close().sync();
        }
    }

    /** A GET with END_STREAM on a new stream of {@code client}: completed with the response's {@code :status}. */
    private static CompletableFuture<String> request(Channel client, String path) throws InterruptedException {
        CompletableFuture<String> status = new CompletableFuture<>();
        io.netty.handler.codec.http2.Http2StreamChannel stream = new io.netty.handler.codec.http2.Http2StreamChannelBootstrap(client)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                        io.netty.util.ReferenceCountUtil.release(msg);
                        if (msg instanceof io.netty.handler.codec.http2.Http2HeadersFrame h) {
                            status.complete(String.valueOf(h.headers().status()));
                        }
                    }

                    @Override
                    public void channelInactive(io.netty.channel.ChannelHandlerContext ctx) {
                        status.completeExceptionally(new IOException(path + ": stream closed without a response"));
                    }
                }).open().sync().getNow();
        stream.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2HeadersFrame(new io.netty.handler.codec.http2.DefaultHttp2Headers()
                .method("GET").path(path).scheme("http").authority("backend"), true));
        return status;
    }
}
