package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.testing.netty.ClassHistogram;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A destination that answers a tunnel with a flood of small DATA frames while the caller's application does not read
 * (a hostile-peer pass, 5 December: the client has no inbound budget, and each queued frame held ~200 bytes of heap, so
 * one 4 MiB stream window of 1-byte frames was ~800 MB). The client merges a waiting tunnel's small frames as the server
 * does ({@code InboundFrames}), and the socket its small reads ({@code SocketState.enqueue}): what they hold is about
 * their bytes, and the application reads them intact and in order.
 * The destination is Netty's HTTP/2 server codec over the mesh's mTLS; its DATA frames are written below the codec,
 * whose flow controller would merge frames written together.
 */
@Timeout(120)
class SmallFramesToClientTest {
    /** Payload bytes per frame: small enough to be merged (InboundFrames.MERGE_BELOW is 1 KiB). */
    static final int SIZE = 64;
    /**
     * 2 MiB: twice what the socket takes before it stops reading (SocketState.HIGH_WATER, 1 MiB), so the rest waits in
     * the tunnel's channel; within the 4 MiB stream window.
     */
    static final int FRAMES = (2 << 20) / SIZE;
    static final int BYTES = FRAMES * SIZE;
    static Mesh mesh;
    static EventLoopGroup group;

    @BeforeAll
    static void start() {
        mesh = new Mesh();
        group = Transports.newGroup(1, "small-frames-destination");
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
        mesh.close();
    }

    /**
     * Answers each CONNECT with a 200, {@link #FRAMES} DATA frames of {@link #SIZE} bytes (byte i of all {@code (byte) i}),
     * the last with END_STREAM, then a PING.
     */
    static final class Flood extends ChannelInboundHandlerAdapter {
        final CompletableFuture<Void> pingAcked = new CompletableFuture<>();
        /** The error code of the first GOAWAY the client sent, if any. */
        final CompletableFuture<Long> goAway = new CompletableFuture<>();
        /** The raw frames sent after the 200, for a stream id; {@link #smallFrames} unless a test says otherwise. */
        java.util.function.IntFunction<ByteBuf> frames = SmallFramesToClientTest::smallFrames;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2PingFrame ping && ping.ack()) {
                pingAcked.complete(null);
            }
            if (msg instanceof io.netty.handler.codec.http2.Http2GoAwayFrame g) {
                goAway.complete(g.errorCode());
            }
            ReferenceCountUtil.release(msg);
        }

        void answer(Http2StreamChannel stream) {
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"))).addListener(f -> {
                Channel parent = stream.parent();
                parent.pipeline().context(Http2FrameCodec.class).writeAndFlush(frames.apply(stream.stream().id()));
                parent.writeAndFlush(new DefaultHttp2PingFrame(42));
            });
        }
    }

    /** {@link #FRAMES} DATA frames of {@link #SIZE} bytes on {@code stream} (byte i of all {@code (byte) i}), the last with END_STREAM. */
    static ByteBuf smallFrames(int stream) {
        ByteBuf all = Unpooled.buffer(FRAMES * (9 + SIZE));
        for (int i = 0; i < FRAMES; i++) {
            // The last one ends the stream: its END_STREAM must reach the application (helper 248's review).
            all.writeMedium(SIZE).writeByte(0).writeByte(i == FRAMES - 1 ? 1 : 0).writeInt(stream);
            for (int j = 0; j < SIZE; j++) {
                all.writeByte(i * SIZE + j);
            }
        }
        return all;
    }

    Flood flood;
    Channel listener;

    @org.junit.jupiter.api.BeforeEach
    void destination() throws Exception {
        SslContext tls = mesh.tls.server(mesh.serverId).get(10, TimeUnit.SECONDS);
        flood = new Flood();
        Flood f = flood;
        listener = new ServerBootstrap().group(group).channel(Transports.serverChannel(group))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(tls.newHandler(ch.alloc()), Http2FrameCodecBuilder.forServer().build(),
                                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                        if (msg instanceof Http2HeadersFrame h && !h.isEndStream()) {
                                            f.answer((Http2StreamChannel) ctx.channel());
                                        }
                                        ReferenceCountUtil.release(msg);
                                    }
                                }), f);
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    @org.junit.jupiter.api.AfterEach
    void closeDestination() throws Exception {
        listener.close().sync();
    }

    InetSocketAddress destinationAddress() {
        return (InetSocketAddress) listener.localAddress();
    }

    /** Heap per frame added since {@code before}, once the destination's PING after its frames was answered. */
    double heapPerFrameOnceAllArrived(ClassHistogram before, String what) throws Exception {
        // The destination's PING follows its frames: its ACK says the client has taken every one of them.
        flood.pingAcked.get(30, TimeUnit.SECONDS);
        Map<String, ClassHistogram.Share> added = ClassHistogram.take().perThing(before, FRAMES);
        double heap = QueuedFramesTest.heapPerFrame(added);
        System.out.printf("%d-byte DATA frames to %s: %.2f bytes of heap each: %s%n", SIZE, what, heap, added);
        return heap;
    }

    /** Reads every byte the destination sent, checks each, then its end (END_STREAM as EOF). */
    static void readsAllAndTheEnd(InputStream in) throws Exception {
        byte[] got = new byte[BYTES];
        for (int n = 0, r; n < BYTES; n += r) {
            r = in.read(got, n, BYTES - n);
            assertThat(r).as("bytes read after %d", n).isPositive();
        }
        for (int i = 0; i < BYTES; i++) {
            if (got[i] != (byte) i) {
                throw new AssertionError("byte " + i + " is " + got[i] + ", sent " + (byte) i);
            }
        }
        assertThat(in.read()).as("the destination's END_STREAM, after its last byte").isEqualTo(-1);
    }

    @Test
    void aFloodOfSmallFramesToASocketThatDoesNotReadCostsItsBytesAndArrivesIntact() throws Exception {
        try (HboneClient client = mesh.client().build()) {
            ClassHistogram before = ClassHistogram.baseline();
            HboneSocket s = client.connectSocket(Mesh.loopback(9), mesh.expectServer(), destinationAddress(), Duration.ofSeconds(10));
            // Unmerged, each queued frame held ~150-200 bytes of objects besides its payload.
            assertThat(heapPerFrameOnceAllArrived(before, "an HboneSocket that does not read")).as("heap per frame held").isLessThan(4);
            s.setSoTimeout(10_000);
            readsAllAndTheEnd(s.getInputStream());
            s.close();
        }
    }

    /**
     * A stream the application has not read yet keeps what arrives in its hold (so that a peer's RST_STREAM, which makes
     * Netty drop its queue, does not take it): the hold merges small buffers too (helper 248's review: 152 bytes of heap
     * per 64-byte frame held before it did).
     */
    @Test
    void aFloodOfSmallFramesToAStreamNotReadYetCostsItsBytesAndArrivesIntact() throws Exception {
        try (HboneClient client = mesh.client().build()) {
            ClassHistogram before = ClassHistogram.baseline();
            HboneStream stream = client.connect(Mesh.loopback(9), mesh.expectServer(), destinationAddress()).get(10, TimeUnit.SECONDS);
            assertThat(heapPerFrameOnceAllArrived(before, "an HboneStream not read yet")).as("heap per frame held").isLessThan(4);
            HboneSocket s = Mesh.socket(stream);
            readsAllAndTheEnd(s.getInputStream());
            s.close();
        }
    }

    /**
     * A destination's connection error is answered with GOAWAY carrying its code (RFC 9113 section 5.4.1: "the
     * endpoint ... SHOULD send a GOAWAY frame ... with an error code that indicates why"): empty DATA frames without
     * END_STREAM, three in a row, are Netty's flood limit (CVE-2019-9518, ENHANCE_YOUR_CALM). The client closed the
     * connection itself first, and the GOAWAY said NO_ERROR (a new-user pass, helper 249); the server side already let
     * the codec answer.
     */
    @Test
    void aDestinationsConnectionErrorIsAnsweredWithItsCode() throws Exception {
        flood.frames = stream -> {
            ByteBuf empty = Unpooled.buffer();
            for (int i = 0; i < 3; i++) {
                empty.writeMedium(0).writeByte(0).writeByte(0).writeInt(stream);
            }
            return empty;
        };
        try (HboneClient client = mesh.client().build()) {
            HboneStream stream = client.connect(Mesh.loopback(9), mesh.expectServer(), destinationAddress()).get(10, TimeUnit.SECONDS);
            assertThat(flood.goAway.get(10, TimeUnit.SECONDS)).as("the GOAWAY's error code")
                    .isEqualTo(io.netty.handler.codec.http2.Http2Error.ENHANCE_YOUR_CALM.code());
            assertThat(stream.channel().parent().closeFuture().await(10, TimeUnit.SECONDS)).as("the connection closed by the codec").isTrue();
        }
    }
}
