package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.testing.netty.SocketEnds;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A tunnel that ends right after its 200, before the application's handlers are in place: a
 * frame-level HTTP/2 server (Netty's frame codec over real mTLS, no HBONE logic) answers the CONNECT
 * with HEADERS 200, DATA "abc" and an RST_STREAM written back to back in one event-loop task, or
 * with HEADERS 200 and the connection's close. Netty then closes the client's stream channel and removes
 * its handlers, and handlers added to a closed channel get no event: the tunnel socket's reads
 * blocked, a relay joined to it waited forever (the captured connection stayed open), and the bytes
 * that came with the 200 were dropped. The client now keeps the end for whoever attaches, as h2's
 * client does for ztunnel (istio/ztunnel src/proxy/h2/client.rs hands over the response's body
 * stream; a reset already received comes out of that stream's next read, src/proxy/h2.rs
 * {@code poll_bytes}, NO_ERROR and CANCEL as the end of input, other codes as an error).
 *
 * <p>The order needs no timing: every check attaches after the client has closed its stream channel
 * (its tunnelClosed event, the close's last step), or, for handlers in place before the end, the server sends its reset only once
 * the test has seen them added. The 30 s waits are guards.
 */
@Timeout(60)
class EndRightAfterConnectTest {
    static final byte[] ABC = "abc".getBytes(StandardCharsets.US_ASCII);

    /** What the server does after its HEADERS 200 (at once unless {@code later}). */
    enum Cut { DATA_THEN_CANCEL, DATA_THEN_CONNECT_ERROR, CLOSE_CONNECTION, DATA_WITH_END_STREAM, EMPTY_DATA_AROUND }

    Mesh mesh;
    EventLoopGroup serverLoop;
    Channel listener;
    volatile Cut cut;
    /** Set: the server sends the 200 and DATA, and its RST_STREAM(CANCEL) only once this completes. */
    volatile CompletableFuture<Void> later;
    final BlockingQueue<TunnelResult> closed = new LinkedBlockingQueue<>();
    final HboneEvents events = new HboneEvents() {
        @Override
        public void tunnelClosed(TunnelResult result) {
            closed.add(result);
        }
    };

    @BeforeEach
    void server() throws Exception {
        mesh = new Mesh();
        serverLoop = Transports.newGroup(1, "h2-frames");
        SslContext tls = mesh.tls.server(mesh.serverId).get();
        listener = new ServerBootstrap().group(serverLoop).channel(Transports.serverChannel(serverLoop))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        c.pipeline().addLast(tls.newHandler(c.alloc()), Http2FrameCodecBuilder.forServer().build(), new Cutter());
                    }
                }).bind(new InetSocketAddress("127.0.42.1", 0)).sync().channel();
    }

    @AfterEach
    void stop() {
        listener.close().syncUninterruptibly();
        serverLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        mesh.close();
    }

    /** The tunnelClosed event {@link #ended} waited for. */
    TunnelResult closedEvent;

    /** A tunnel whose end the client has fully processed (its stream channel closed) before the test touches it. */
    HboneStream ended(HboneClient client, Cut how) throws Exception {
        cut = how;
        HboneStream s = client.connect(Mesh.loopback(9), mesh.expectServer(), (InetSocketAddress) listener.localAddress())
                .get(30, TimeUnit.SECONDS);
        // The event fires when channelInactive reaches the tunnel's codec, the last step of the close
        // (the close future completes a task earlier, before channelInactive goes round).
        assertThat(closedEvent = closed.poll(30, TimeUnit.SECONDS)).as("the client's tunnelClosed event").isNotNull();
        assertThat(s.channel().isActive()).isFalse();
        return s;
    }

    /** What a handler attached to the ended tunnel {@code s} (then asked to read) sees, up to its close. */
    static List<String> attachAfter(HboneStream s) throws InterruptedException {
        Recorder r = new Recorder();
        s.attach(r);
        s.channel().read();
        return r.until("inactive");
    }

    /**
     * Empty DATA frames around the bytes: a tunnel socket's {@code read(b, off, len > 0)} never returns 0, which
     * {@link InputStream}'s contract forbids (an InputStreamReader throws "Underlying input stream returned zero
     * bytes"). The tunnel codec drops an empty frame's buffer; the socket's bridge also drops any empty buffer that
     * reaches it (mesh-core's embedded L7 bridge passed one per request until 5 December: {@code EmbeddedL7ReadTest}).
     */
    @Test
    void emptyDataFramesNeverReadAsZeroBytes() throws Exception {
        cut = Cut.EMPTY_DATA_AROUND;
        try (HboneClient client = mesh.client().build();
             HboneSocket s = client.connectSocket(Mesh.loopback(9), mesh.expectServer(), (InetSocketAddress) listener.localAddress(),
                     java.time.Duration.ofSeconds(30))) {
            s.setSoTimeout(30_000);
            InputStream in = s.getInputStream();
            byte[] b = new byte[4096];
            java.util.List<Integer> reads = new java.util.ArrayList<>();
            int n;
            do {
                n = in.read(b, 0, b.length);
                reads.add(n);
            } while (n > 0);
            assertThat(reads).as("each read's count").containsExactly(3, -1);
        }
    }

    @Test
    void aCleanEndRightAfterThe200ReachesHandlersAttachedAfterIt() throws Exception {
        try (HboneClient client = mesh.client().listener(events).build()) {
            // ztunnel reads CANCEL as the end of the peer's data (src/proxy/h2.rs): the bytes, then EOF.
            assertThat(attachAfter(ended(client, Cut.DATA_THEN_CANCEL))).containsExactly("data abc", "eof", "inactive");
            TunnelResult t = closedEvent;
            assertThat(t.reset()).as("a clean end").isFalse();
            assertThat(t.bytesReceived()).isEqualTo(3);
        }
    }

    @Test
    void anAbortRightAfterThe200ReachesHandlersAttachedAfterIt() throws Exception {
        try (HboneClient client = mesh.client().listener(events).build()) {
            // An abort drops what was not read yet, as a TCP reset does: the reset, then the close.
            assertThat(attachAfter(ended(client, Cut.DATA_THEN_CONNECT_ERROR)))
                    .containsExactly("reset " + Http2Error.CONNECT_ERROR.code(), "inactive");
            TunnelResult t = closedEvent;
            assertThat(t.reset()).isTrue();
            assertThat(t.error()).isEqualTo("reset by peer");
        }
    }

    @Test
    void aConnectionLostRightAfterThe200ReachesHandlersAttachedAfterIt() throws Exception {
        try (HboneClient client = mesh.client().listener(events).build()) {
            assertThat(attachAfter(ended(client, Cut.CLOSE_CONNECTION))).containsExactly("inactive");
            TunnelResult t = closedEvent;
            assertThat(t.reset()).isTrue();
        }
    }

    /** The socket API (HboneStream#toSocket) after a clean end and after an abort; its reads blocked before. */
    @Test
    void aSocketOverATunnelThatAlreadyEndedReadsThatEnd() throws Exception {
        try (HboneClient client = mesh.client().listener(events).build()) {
            try (HboneSocket socket = ended(client, Cut.DATA_THEN_CANCEL).toSocket()) {
                socket.setSoTimeout(30_000);
                assertThat(socket.getInputStream().readAllBytes()).as("the bytes, then EOF").isEqualTo(ABC);
            }
            try (HboneSocket socket = ended(client, Cut.DATA_THEN_CONNECT_ERROR).toSocket()) {
                socket.setSoTimeout(30_000);
                Throwable t = catchThrowable(() -> socket.getInputStream().read());
                assertThat(t).isInstanceOf(SocketException.class).hasMessage("Connection reset");
            }
        }
    }

    /**
     * mesh-core's capture path: a relay joined to a tunnel that already ended passes the end on to the
     * captured connection (the bytes and a FIN after a clean end, a reset after an abort); it waited
     * forever before, the captured connection left open.
     */
    @Test
    void aRelayJoinedToATunnelThatAlreadyEndedPassesTheEndOn() throws Exception {
        EventLoopGroup tcpLoop = Transports.newGroup(1, "tcp-side");
        try (HboneClient client = mesh.client().listener(events).build();
             ServerSocket app = new ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.42.1"))) {
            app.setSoTimeout(30_000);
            for (Cut how : List.of(Cut.DATA_THEN_CANCEL, Cut.DATA_THEN_CONNECT_ERROR)) {
                HboneStream s = ended(client, how);
                Channel tcp = new Bootstrap().group(tcpLoop).channel(Transports.socketChannel(tcpLoop))
                        .option(ChannelOption.AUTO_READ, false).handler(new ChannelInboundHandlerAdapter())
                        .connect(app.getLocalSocketAddress()).sync().channel();
                try (Socket captured = app.accept()) {
                    captured.setSoTimeout(30_000);
                    Relay.join(Relay.tcp((DuplexChannel) tcp), Relay.tunnel(s));
                    InputStream in = captured.getInputStream();
                    if (how == Cut.DATA_THEN_CANCEL) {
                        assertThat(in.readNBytes(3)).isEqualTo(ABC);
                        assertThat(SocketEnds.readUntilEnd(in)).as("a clean end: FIN").isEqualTo("eof");
                    } else {
                        assertThat(SocketEnds.readUntilEnd(in)).as("an abort: reset").isEqualTo("reset");
                    }
                }
            }
        } finally {
            tcpLoop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        }
    }

    /**
     * Handlers added (the documented way, {@code pipeline().addLast}) before the end but that have not
     * read yet: at the end they get what came with the 200, then the end; before, only
     * {@code channelInactive} (the bytes and the EOF were dropped with the hold).
     */
    @Test
    void handlersInPlaceThatHaveNotReadYetGetTheBytesAndTheEnd() throws Exception {
        try (HboneClient client = mesh.client().listener(events).build()) {
            cut = Cut.DATA_THEN_CANCEL;
            later = new CompletableFuture<>();
            HboneStream s = client.connect(Mesh.loopback(9), mesh.expectServer(), (InetSocketAddress) listener.localAddress())
                    .get(30, TimeUnit.SECONDS);
            Recorder r = new Recorder();
            s.channel().pipeline().addLast(r);
            assertThat(r.added.await(30, TimeUnit.SECONDS)).isTrue();
            later.complete(null);
            assertThat(r.until("inactive")).containsExactly("data abc", "eof", "inactive");
            assertThat(closed.poll(30, TimeUnit.SECONDS)).as("the client's tunnelClosed event").isNotNull();
        }
    }

    // What a tunnel keeps for a reader that never comes is released (it is bounded by the stream
    // window, 4 MiB, and pooled: kept, it never went back to the allocator). Checked two ways: the
    // bytes still kept (Inspect), and the class's paranoid leak check (LeakDetectionExtension), which
    // reports buffers collected unreleased.

    /** An open tunnel, never read, holding the server's "abc" and END_STREAM (the stream waits for ours). */
    HboneStream heldOpen(HboneClient client) throws Exception {
        cut = Cut.DATA_WITH_END_STREAM;
        HboneStream s = client.connect(Mesh.loopback(9), mesh.expectServer(), (InetSocketAddress) listener.localAddress())
                .get(30, TimeUnit.SECONDS);
        for (int i = 0; i < 3_000 && io.zerohop.hbone.internal.Inspect.unreadBytes(s) < ABC.length; i++) {
            Thread.sleep(10);
        }
        assertThat(io.zerohop.hbone.internal.Inspect.unreadBytes(s)).as("held for the first read").isEqualTo(ABC.length);
        assertThat(s.channel().isActive()).as("open until our END_STREAM").isTrue();
        return s;
    }

    /** Before, the held END_STREAM made the graceful close skip its discard, and the end kept all for an attach. */
    @Test
    void closingATunnelNeverReadReleasesWhatItHeld() throws Exception {
        releasesWhatItHeldWhen("the application's close", HboneStream::close);
    }

    @Test
    void resettingATunnelNeverReadReleasesWhatItHeld() throws Exception {
        releasesWhatItHeldWhen("the application's reset", HboneStream::reset);
    }

    private void releasesWhatItHeldWhen(String what, java.util.function.Consumer<HboneStream> end) throws Exception {
        try (HboneClient client = mesh.client().listener(events).build()) {
            HboneStream s = heldOpen(client);
            end.accept(s);
            assertThat(closed.poll(30, TimeUnit.SECONDS)).as("the client's tunnelClosed event").isNotNull();
            assertThat(io.zerohop.hbone.internal.Inspect.unreadBytes(s)).as("kept after " + what).isZero();
            assertThat(io.zerohop.hbone.internal.Inspect.unreadBytes(client)).isZero();
        }
    }

    @Test
    void closingTheClientReleasesWhatEndedTunnelsKept() throws Exception {
        HboneClient client = mesh.client().listener(events).build();
        HboneStream s = ended(client, Cut.DATA_THEN_CANCEL);
        assertThat(io.zerohop.hbone.internal.Inspect.unreadBytes(s)).as("kept for an attach").isEqualTo(ABC.length);
        client.close();
        assertThat(io.zerohop.hbone.internal.Inspect.unreadBytes(s)).as("kept after the client's close").isZero();
    }

    /** The application drops an ended tunnel without attaching or closing: released once it is unreachable. */
    @Test
    void aTunnelDroppedUnreadReleasesWhatItKept() throws Exception {
        try (HboneClient client = mesh.client().listener(events).build()) {
            endAndDrop(client);
            assertThat(io.zerohop.hbone.internal.Inspect.unreadBytes(client)).as("kept for an attach").isEqualTo(ABC.length);
            for (int i = 0; i < 300 && io.zerohop.hbone.internal.Inspect.unreadBytes(client) > 0; i++) {
                System.gc();
                Thread.sleep(100);
            }
            assertThat(io.zerohop.hbone.internal.Inspect.unreadBytes(client)).as("kept once the tunnel is unreachable").isZero();
        }
    }

    private void endAndDrop(HboneClient client) throws Exception {
        ended(client, Cut.DATA_THEN_CANCEL);
    }

    /** Records what reaches the application's handler, in order. */
    static final class Recorder extends ChannelInboundHandlerAdapter {
        final List<String> seen = new CopyOnWriteArrayList<>();
        final BlockingQueue<String> each = new LinkedBlockingQueue<>();
        final CountDownLatch added = new CountDownLatch(1);

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            added.countDown();
        }

        private void add(String what) {
            seen.add(what);
            each.add(what);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf b = (ByteBuf) msg;
            add("data " + b.toString(StandardCharsets.US_ASCII));
            b.release();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                add("eof");
            } else if (evt instanceof HboneStream.Reset reset) {
                add("reset " + reset.errorCode());
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            add("inactive");
        }

        /** Everything seen up to and including {@code last}; fails after 30 s without it. */
        List<String> until(String last) throws InterruptedException {
            for (String w; (w = each.poll(30, TimeUnit.SECONDS)) != null; ) {
                if (w.equals(last)) {
                    return List.copyOf(seen);
                }
            }
            throw new AssertionError("no " + last + " within 30 s; seen " + seen);
        }
    }

    /** The frame-level server: HEADERS 200 to every CONNECT, then what {@link #cut} says. */
    final class Cutter extends Http2ChannelDuplexHandler {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame h && h.stream() != null) {
                    Http2FrameStream stream = h.stream();
                    Cut how = cut;
                    ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"), false).stream(stream));
                    if (how == Cut.EMPTY_DATA_AROUND) {
                        // RFC 9113 6.1 allows DATA frames of no bytes, with or without END_STREAM.
                        ctx.write(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, false).stream(stream));
                        ctx.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(ABC), false).stream(stream));
                        ctx.write(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, false).stream(stream));
                        ctx.write(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true).stream(stream));
                        ctx.flush();
                        return;
                    }
                    if (how != Cut.CLOSE_CONNECTION) {
                        ctx.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(ABC), how == Cut.DATA_WITH_END_STREAM).stream(stream));
                        // Netty's flow controller writes DATA at the flush, an RST_STREAM at once: without
                        // this flush the reset went out first and the DATA was dropped.
                        ctx.flush();
                    }
                    CompletableFuture<Void> wait = later;
                    Consumer<ChannelHandlerContext> end = c -> {
                        switch (how) {
                            case DATA_THEN_CANCEL -> c.write(new DefaultHttp2ResetFrame(Http2Error.CANCEL).stream(stream));
                            case DATA_THEN_CONNECT_ERROR -> c.write(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR).stream(stream));
                            case CLOSE_CONNECTION, DATA_WITH_END_STREAM -> { }
                        }
                        c.flush();
                        if (how == Cut.CLOSE_CONNECTION) {
                            c.close();
                        }
                    };
                    if (wait == null) {
                        end.accept(ctx);
                    } else {
                        ctx.flush();
                        wait.thenRun(() -> ctx.executor().execute(() -> end.accept(ctx)));
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }
}
