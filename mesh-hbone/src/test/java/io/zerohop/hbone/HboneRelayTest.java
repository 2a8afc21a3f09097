package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.testing.netty.Await;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link HboneRelay} on real sockets and real mutual TLS: an application's TCP connection accepted by
 * a Netty listener (or a {@link ServerSocket}) is spliced with a tunnel to an {@link HboneServerSocket}.
 * Every case is observed at both ends: the application's socket and the server's tunnel socket.
 * Half-close as ztunnel's copy_bidirectional (src/copy.rs), resets as zerohop's wire contract (DESIGN §3).
 */
@Timeout(60)
class HboneRelayTest {
    static Mesh mesh;
    static HboneServerSocket sockets;
    static HboneServer server;
    static HboneClient client;
    static EventLoopGroup group;
    static Channel listener;
    static final BlockingQueue<Spliced> spliced = new LinkedBlockingQueue<>();
    static ExecutorService threads;

    /** One relay the listener made: its two channels and its end. */
    record Spliced(SocketChannel connection, HboneStream stream, CompletableFuture<HboneRelay.Result> result) {}

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        sockets = new HboneServerSocket();
        server = mesh.server((dst, id, local) -> Destination.embedded(sockets)).build().start().get();
        client = mesh.client().build();
        group = Transports.newGroup(1, "relay-test");
        threads = Executors.newCachedThreadPool();
        listener = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        HboneRelay.holdUntilSpliced(ch);
                        client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress()).whenComplete((s, err) -> {
                            if (err != null) {
                                ch.close();
                            } else {
                                spliced.add(new Spliced(ch, s, HboneRelay.splice(s, ch)));
                            }
                        });
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
    }

    @AfterAll
    static void stop() throws Exception {
        listener.close().sync();
        client.close();
        server.close();
        sockets.close();
        threads.shutdownNow();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        mesh.close();
    }

    /** The application's connection through the listener, and the server's end of its tunnel. */
    private static Socket[] connect() throws Exception {
        Socket app = new Socket();
        app.setSoTimeout(20_000);
        app.connect(listener.localAddress());
        sockets.setSoTimeout(20_000);
        HboneSocket upstream = sockets.accept();
        upstream.setSoTimeout(20_000);
        return new Socket[] {app, upstream};
    }

    private static Spliced relay() throws Exception {
        Spliced s = spliced.poll(20, TimeUnit.SECONDS);
        assertThat(s).as("the listener spliced the connection").isNotNull();
        return s;
    }

    private static String readAll(Socket s) throws Exception {
        return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    /** Bytes read from {@code s} until its end. */
    private static long readCount(Socket s) throws Exception {
        InputStream in = s.getInputStream();
        byte[] buf = new byte[256 << 10];
        long got = 0;
        for (int n; (n = in.read(buf)) >= 0; ) {
            got += n;
        }
        return got;
    }

    /** Writes {@code total} bytes to {@code s} in 64 KiB chunks, counting them in {@code sent}, then its FIN. */
    private static CompletableFuture<Void> writeThenFin(Socket s, long total, java.util.concurrent.atomic.AtomicLong sent) {
        return CompletableFuture.runAsync(() -> {
            try {
                OutputStream out = s.getOutputStream();
                byte[] chunk = new byte[64 << 10];
                while (sent.get() < total) {
                    out.write(chunk);
                    sent.addAndGet(chunk.length);
                }
                s.shutdownOutput();
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, threads);
    }

    /** A blocking socket spliced with a fresh tunnel: the application's end, the server's end and the relay's. */
    record BlockingRelay(Socket app, HboneSocket upstream, CompletableFuture<HboneRelay.Result> result) implements AutoCloseable {
        static BlockingRelay open() throws Exception {
            Socket app = new Socket();
            app.setSoTimeout(20_000);
            Socket accepted;
            try (ServerSocket accepting = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                app.connect(accepting.getLocalSocketAddress());
                accepted = accepting.accept();
            }
            HboneStream stream = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress()).get(20, TimeUnit.SECONDS);
            CompletableFuture<HboneRelay.Result> result = HboneRelay.splice(stream, accepted, threads);
            sockets.setSoTimeout(20_000);
            HboneSocket upstream = sockets.accept();
            upstream.setSoTimeout(20_000);
            return new BlockingRelay(app, upstream, result);
        }

        @Override
        public void close() throws Exception {
            try (Socket a = app; Socket u = upstream) {
                // both closed
            }
        }
    }

    @Test
    void bytesBothWaysAndTheConnectionsFinBecomesEndStream() throws Exception {
        Socket[] ends = connect();
        try (Socket app = ends[0]; Socket upstream = ends[1]) {
            Spliced relay = relay();
            app.getOutputStream().write("ping".getBytes(StandardCharsets.UTF_8));
            app.shutdownOutput();
            assertThat(readAll(upstream)).as("bytes, then END_STREAM for the FIN").isEqualTo("ping");
            // The other direction is still open.
            upstream.getOutputStream().write("pong".getBytes(StandardCharsets.UTF_8));
            upstream.shutdownOutput();
            assertThat(readAll(app)).as("bytes, then a FIN for the END_STREAM").isEqualTo("pong");
            HboneRelay.Result r = Await.result(relay.result());
            assertThat(r.reset()).isFalse();
            assertThat(r.fromConnection()).isEqualTo(4);
            assertThat(r.fromTunnel()).isEqualTo(4);
        }
    }

    @Test
    void theTunnelsEndStreamBecomesAFinAndTheConnectionGoesOnSending() throws Exception {
        Socket[] ends = connect();
        try (Socket app = ends[0]; Socket upstream = ends[1]) {
            Spliced relay = relay();
            upstream.getOutputStream().write("banner".getBytes(StandardCharsets.UTF_8));
            upstream.shutdownOutput();
            assertThat(readAll(app)).isEqualTo("banner");
            app.getOutputStream().write("late request".getBytes(StandardCharsets.UTF_8));
            app.shutdownOutput();
            assertThat(readAll(upstream)).isEqualTo("late request");
            assertThat(Await.result(relay.result()).reset()).isFalse();
        }
    }

    @Test
    void aResetConnectionResetsTheTunnel() throws Exception {
        Socket[] ends = connect();
        try (Socket app = ends[0]; Socket upstream = ends[1]) {
            Spliced relay = relay();
            app.getOutputStream().write('x');
            assertThat(upstream.getInputStream().read()).as("the relay carries bytes").isEqualTo('x');
            app.setSoLinger(true, 0);
            app.close(); // TCP RST
            assertThatThrownBy(() -> upstream.getInputStream().read())
                    .as("RST_STREAM(CONNECT_ERROR): the server's socket reads a reset, not an end of stream")
                    .isInstanceOf(SocketException.class).hasMessageContaining("reset");
            assertThat(Await.result(relay.result()).reset()).isTrue();
        }
    }

    @Test
    void aResetTunnelResetsTheConnection() throws Exception {
        Socket[] ends = connect();
        try (Socket app = ends[0]; Socket upstream = ends[1]) {
            Spliced relay = relay();
            upstream.getOutputStream().write('y');
            upstream.getOutputStream().flush();
            assertThat(app.getInputStream().read()).isEqualTo('y');
            upstream.setSoLinger(true, 0);
            upstream.close(); // RST_STREAM(CONNECT_ERROR)
            assertThatThrownBy(() -> app.getInputStream().read())
                    .as("a TCP RST, not a FIN").isInstanceOf(SocketException.class).hasMessageContaining("reset");
            assertThat(Await.result(relay.result()).reset()).isTrue();
        }
    }

    /**
     * The application stops reading while the server sends far more than every buffer on the way holds:
     * the relay stops reading the tunnel once the connection is not writable, so what it queued on the
     * connection stays within the stream window (HTTP/2 flow control stops the server), and every
     * byte arrives once the application reads.
     */
    @Test
    void aConnectionThatStopsReadingStopsTheTunnelsReadsAndLosesNothing() throws Exception {
        long total = 64L << 20;
        Socket[] ends = connect();
        try (Socket app = ends[0]; Socket upstream = ends[1]) {
            Spliced relay = relay();
            CompletableFuture<Void> writer = writeThenFin(upstream, total, new java.util.concurrent.atomic.AtomicLong());
            Await.until("the relay stopped reading the tunnel behind the unwritable connection", () ->
                    !relay.connection().isWritable() && !relay.stream().channel().config().isAutoRead());
            long queued = relay.connection().eventLoop().submit(() -> {
                var out = relay.connection().unsafe().outboundBuffer();
                return out == null ? 0L : out.totalPendingWriteBytes();
            }).get(10, TimeUnit.SECONDS);
            assertThat(queued).as("bytes the relay queued on the connection the application does not read")
                    .isLessThanOrEqualTo((4L << 20) + (64 << 10));
            assertThat(writer).as("the server is held back").isNotDone();

            assertThat(readCount(app)).isEqualTo(total);
            Await.result(writer);
            app.shutdownOutput();
            HboneRelay.Result r = Await.result(relay.result());
            assertThat(r.fromTunnel()).isEqualTo(total);
            assertThat(r.reset()).isFalse();
        }
    }

    @Test
    void aBlockingSocketIsSplicedWithTheSameSemantics() throws Exception {
        try (BlockingRelay relay = BlockingRelay.open()) {
            relay.app().getOutputStream().write("hello".getBytes(StandardCharsets.UTF_8));
            relay.app().shutdownOutput();
            assertThat(readAll(relay.upstream())).isEqualTo("hello");
            relay.upstream().getOutputStream().write("world".getBytes(StandardCharsets.UTF_8));
            relay.upstream().shutdownOutput();
            assertThat(readAll(relay.app())).isEqualTo("world");
            HboneRelay.Result r = Await.result(relay.result());
            assertThat(r).extracting(HboneRelay.Result::fromConnection, HboneRelay.Result::fromTunnel, HboneRelay.Result::reset)
                    .containsExactly(5L, 5L, false);
        }
    }

    /**
     * The socket form's back-pressure: with the application not reading, the server's writes stop once the
     * kernel buffers, the relay's one array and the HTTP/2 windows are full, far short of what it has to send;
     * then every byte arrives. Held back is read from the writer's progress: it must stop moving (a relay
     * queueing without bound would let all 64 MiB through).
     */
    @Test
    void aBlockingSocketThatStopsReadingHoldsTheServerBackAndLosesNothing() throws Exception {
        long total = 64L << 20;
        try (BlockingRelay relay = BlockingRelay.open()) {
            java.util.concurrent.atomic.AtomicLong sent = new java.util.concurrent.atomic.AtomicLong();
            CompletableFuture<Void> writer = writeThenFin(relay.upstream(), total, sent);
            long[] last = {-1};
            int[] still = {0};
            Await.until("the server's writes stopped behind the application that does not read", java.time.Duration.ofSeconds(30), () -> {
                long now = sent.get();
                still[0] = now == last[0] ? still[0] + 1 : 0;
                last[0] = now;
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return still[0] >= 10 || writer.isDone();
            });
            assertThat(writer).as("the server is held back (%d bytes written)", sent.get()).isNotDone();
            assertThat(sent.get()).isLessThan(total / 2);

            assertThat(readCount(relay.app())).isEqualTo(total);
            Await.result(writer);
            relay.app().shutdownOutput();
            HboneRelay.Result r = Await.result(relay.result());
            assertThat(r.fromTunnel()).isEqualTo(total);
            assertThat(r.reset()).isFalse();
        }
    }

    @Test
    void aBlockingSocketsResetsPassBothWays() throws Exception {
        for (boolean fromApp : new boolean[] {true, false}) {
            try (BlockingRelay relay = BlockingRelay.open()) {
                relay.app().getOutputStream().write('a');
                assertThat(relay.upstream().getInputStream().read()).isEqualTo('a');
                Socket resetter = fromApp ? relay.app() : relay.upstream();
                Socket victim = fromApp ? relay.upstream() : relay.app();
                resetter.setSoLinger(true, 0);
                resetter.close();
                assertThatThrownBy(() -> victim.getInputStream().read()).as(fromApp ? "tunnel reset" : "connection reset")
                        .isInstanceOf(SocketException.class).hasMessageContaining("reset");
                assertThat(Await.result(relay.result()).reset()).isTrue();
            }
        }
    }

    /** A loopback listener that holds each connection for a splice ({@link HboneRelay#holdUntilSpliced}) and hands it over. */
    private static Channel heldListener(BlockingQueue<SocketChannel> accepted) throws InterruptedException {
        return new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        HboneRelay.holdUntilSpliced(ch);
                        accepted.add(ch);
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
    }

    @Test
    void aRequestAndFinSentBeforeTheTunnelOpensAreRelayed() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Transports.epoll(), "NIO reads nothing with auto-read off");
        BlockingQueue<SocketChannel> accepted = new LinkedBlockingQueue<>();
        Channel early = heldListener(accepted);
        try (Socket app = new Socket()) {
            app.setSoTimeout(20_000);
            app.connect(early.localAddress());
            SocketChannel ch = accepted.poll(20, TimeUnit.SECONDS);
            assertThat(ch).isNotNull();
            app.getOutputStream().write("early".getBytes(StandardCharsets.UTF_8));
            app.shutdownOutput();
            Await.until("epoll read the application's FIN before any splice", ch::isInputShutdown);
            HboneStream stream = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress()).get(20, TimeUnit.SECONDS);
            CompletableFuture<HboneRelay.Result> result = HboneRelay.splice(stream, ch);
            sockets.setSoTimeout(20_000);
            try (HboneSocket upstream = sockets.accept()) {
                upstream.setSoTimeout(20_000);
                assertThat(readAll(upstream)).isEqualTo("early");
                upstream.getOutputStream().write("answer".getBytes(StandardCharsets.UTF_8));
                upstream.shutdownOutput();
                assertThat(readAll(app)).isEqualTo("answer");
                assertThat(Await.result(result).reset()).isFalse();
            }
        } finally {
            early.close().sync();
        }
    }

    /**
     * The inbound side: a {@link StreamHandler} dials the application and splices the tunnel with that
     * connection (its {@code autoRead()} false, so the relay decides when the tunnel reads). Bytes and
     * half-closes both ways, then an application's reset reaches the client as a reset.
     */
    @Test
    void aStreamHandlerSplicesItsTunnelWithTheApplication() throws Exception {
        BlockingQueue<CompletableFuture<HboneRelay.Result>> results = new LinkedBlockingQueue<>();
        try (ServerSocket app = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            StreamHandler toApp = new StreamHandler() {
                @Override
                public void initStream(Channel stream, TunnelInfo tunnel) {
                    new io.netty.bootstrap.Bootstrap().group(stream.eventLoop()).channel(Transports.socketChannel(stream.eventLoop()))
                            .option(ChannelOption.AUTO_READ, false)
                            .handler(new ChannelInitializer<SocketChannel>() {
                                @Override
                                protected void initChannel(SocketChannel ch) {
                                    HboneRelay.holdUntilSpliced(ch); // the application may answer and close first
                                }
                            })
                            .connect(app.getLocalSocketAddress()).addListener((io.netty.channel.ChannelFuture f) -> {
                                if (f.isSuccess()) {
                                    results.add(HboneRelay.splice(stream, (SocketChannel) f.channel()));
                                } else {
                                    HboneStream.reset(stream);
                                }
                            });
                }

                @Override
                public boolean autoRead() {
                    return false;
                }
            };
            try (HboneServer inbound = mesh.server((dst, id, local) -> Destination.embedded(toApp)).build().start().get(20, TimeUnit.SECONDS)) {
                for (boolean reset : new boolean[] {false, true}) {
                    try (HboneSocket tunnel = client.connectSocket(Mesh.loopback(8080), mesh.expectServer(), inbound.localAddress(),
                            java.time.Duration.ofSeconds(20));
                         Socket served = app.accept()) {
                        tunnel.setSoTimeout(20_000);
                        served.setSoTimeout(20_000);
                        CompletableFuture<HboneRelay.Result> result = results.poll(20, TimeUnit.SECONDS);
                        assertThat(result).as("the handler spliced the tunnel").isNotNull();
                        tunnel.getOutputStream().write("GET".getBytes(StandardCharsets.UTF_8));
                        if (!reset) {
                            tunnel.shutdownOutput();
                            assertThat(readAll(served)).isEqualTo("GET");
                            served.getOutputStream().write("200".getBytes(StandardCharsets.UTF_8));
                            served.shutdownOutput();
                            assertThat(readAll(tunnel)).isEqualTo("200");
                            HboneRelay.Result r = Await.result(result);
                            assertThat(r).extracting(HboneRelay.Result::fromConnection, HboneRelay.Result::fromTunnel, HboneRelay.Result::reset)
                                    .containsExactly(3L, 3L, false);
                        } else {
                            byte[] got = served.getInputStream().readNBytes(3);
                            assertThat(new String(got, StandardCharsets.UTF_8)).isEqualTo("GET");
                            served.setSoLinger(true, 0);
                            served.close(); // the application's TCP RST
                            assertThatThrownBy(() -> tunnel.getInputStream().read()).as("the client reads a reset")
                                    .isInstanceOf(SocketException.class).hasMessageContaining("reset");
                            assertThat(Await.result(result).reset()).isTrue();
                        }
                    }
                }
            }
        }
    }

    /**
     * A connection whose event loop has terminated (its group shut down between its accept and the splice): no
     * task can join the relay there, so the relay ends at once, reset, and the tunnel is reset (until 3 December
     * {@code splice} threw Netty's RejectedExecutionException, and the tunnel stayed open).
     */
    @Test
    void aConnectionWhoseEventLoopHasTerminatedEndsTheRelayReset() throws Exception {
        EventLoopGroup gone = Transports.newGroup(1, "relay-test-gone");
        Socket app = new Socket();
        app.setSoTimeout(20_000);
        java.util.concurrent.BlockingQueue<SocketChannel> accepted = new LinkedBlockingQueue<>();
        Channel acceptor = new ServerBootstrap().group(gone).channel(Transports.serverChannel(gone))
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        accepted.add(ch);
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        try (app) {
            app.connect(acceptor.localAddress());
            SocketChannel connection = accepted.poll(20, TimeUnit.SECONDS);
            assertThat(connection).isNotNull();
            gone.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            assertThat(connection.eventLoop().isTerminated()).isTrue();
            HboneStream stream = client.connect(Mesh.loopback(8080), mesh.expectServer(), server.localAddress()).get(20, TimeUnit.SECONDS);
            sockets.setSoTimeout(20_000);
            try (HboneSocket upstream = sockets.accept()) {
                CompletableFuture<HboneRelay.Result> result = HboneRelay.splice(stream, connection);
                assertThat(result).as("ended at once").isDone();
                assertThat(Await.result(result).reset()).isTrue();
                upstream.setSoTimeout(20_000);
                assertThatThrownBy(() -> upstream.getInputStream().read())
                        .as("the tunnel is reset, not left open").isInstanceOf(java.io.IOException.class);
            }
        }
    }

    @Test
    void aChannelThatIsNoTunnelOrAConnectionThatReadsOnItsOwnIsRefused() throws Exception {
        Socket[] ends = connect();
        io.netty.channel.embedded.EmbeddedChannel notTunnel = new io.netty.channel.embedded.EmbeddedChannel();
        try (Socket app = ends[0]; Socket upstream = ends[1]) {
            Spliced relay = relay();
            assertThatThrownBy(() -> HboneRelay.splice(notTunnel, relay.connection()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not an HBONE tunnel stream channel");
            // Auto-read is on for a connection its relay reads: a second splice is refused and changes nothing.
            Await.until("the relay reads the connection", () -> relay.connection().config().isAutoRead());
            assertThatThrownBy(() -> HboneRelay.splice(relay.stream(), relay.connection()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("auto-read on");
            // A tunnel already spliced, with a second connection that is fine in itself: refused (newuser28: the second
            // connection's bytes went into the first's tunnel, and one future never completed).
            try (java.nio.channels.SocketChannel jdk = java.nio.channels.SocketChannel.open()) {
                io.netty.channel.socket.nio.NioSocketChannel second = new io.netty.channel.socket.nio.NioSocketChannel(jdk);
                second.config().setAutoRead(false);
                assertThatThrownBy(() -> HboneRelay.splice(relay.stream(), second))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is already spliced");
            }
            app.getOutputStream().write('z');
            assertThat(upstream.getInputStream().read()).isEqualTo('z');
        } finally {
            notTunnel.finishAndReleaseAll();
        }
    }

    /**
     * A connection whose tunnel could not be opened, given to {@link HboneRelay#reset}: its application reads a reset.
     * Closed instead, as mesh-hbone's README snippet did until 3 December (a new-user pass), a client that waits for the
     * server to speak first reads a clean end: an empty, complete answer.
     */
    @Test
    void aRefusedTunnelResetsTheHeldConnection() throws Exception {
        BlockingQueue<SocketChannel> accepted = new LinkedBlockingQueue<>();
        Channel refusing = heldListener(accepted);
        try {
            for (boolean reset : new boolean[] {true, false}) {
                try (Socket app = new Socket()) {
                    app.setSoTimeout(20_000);
                    // A client that waits for the server to speak first (with unread bytes of its own, a close would reset too).
                    app.connect(refusing.localAddress());
                    SocketChannel ch = accepted.poll(20, TimeUnit.SECONDS);
                    assertThat(ch).isNotNull();
                    if (reset) {
                        HboneRelay.reset(ch);
                        assertThatThrownBy(() -> app.getInputStream().read()).isInstanceOf(SocketException.class)
                                .hasMessageContaining("reset");
                    } else {
                        ch.close();
                        assertThat(app.getInputStream().read()).as("a plain close: a clean end").isEqualTo(-1);
                    }
                    Await.until("the channel closed", () -> !ch.isOpen());
                }
            }
        } finally {
            refusing.close().sync();
        }
        assertThatThrownBy(() -> HboneRelay.reset(null)).isInstanceOf(NullPointerException.class).hasMessage("connection");
    }
}
