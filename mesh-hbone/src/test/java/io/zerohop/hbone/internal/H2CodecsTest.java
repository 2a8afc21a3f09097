package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The bulk-byte tuning of {@link H2Codecs} (issue 14), on the real wire bytes between a client and a
 * server codec: how a large write is framed, and that a DATA frame arriving in two reads is not
 * copied together. Windows and frame size are zerohop's and ztunnel's (4 MiB stream window, 1 MiB
 * frames, the connection window opened as {@link ClientConnection} opens it).
 */
class H2CodecsTest {
    private final List<Http2DataFrame> received = new ArrayList<>();
    private final EmbeddedChannel client = new EmbeddedChannel(H2Codecs.client(settings()),
            new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
    private final EmbeddedChannel server = new EmbeddedChannel(H2Codecs.server(settings(), null),
            new Http2MultiplexHandler(new Collect()));

    /** Keeps the DATA frames every server-side stream reads. */
    @io.netty.channel.ChannelHandler.Sharable
    private final class Collect extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2DataFrame d) {
                received.add(d);
            } else {
                if (msg instanceof io.netty.handler.codec.http2.Http2HeadersFrame) {
                    serverStream = (Http2StreamChannel) ctx.channel();
                }
                ReferenceCountUtil.release(msg);
            }
        }
    }

    private Http2StreamChannel stream;
    /** The server's side of the last stream the client opened. */
    private Http2StreamChannel serverStream;

    private static Http2Settings settings() {
        return Http2Settings.defaultSettings().initialWindowSize(H2Config.DEFAULT_STREAM_WINDOW)
                .maxFrameSize(H2Config.DEFAULT_MAX_FRAME_SIZE);
    }

    @AfterEach
    void tearDown() {
        received.forEach(ReferenceCountUtil::release);
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    /**
     * Prefaces, SETTINGS both ways, both connection windows opened, then a CONNECT stream. The
     * client's connection has the write watermark of {@link ClientConnection}'s (Netty's flow
     * controller writes no more than the bytes before the connection turns unwritable).
     */
    private void open() {
        client.config().setWriteBufferWaterMark(HbonePipeline.CONNECTION_WATERMARK);
        server.writeAndFlush(new DefaultHttp2WindowUpdateFrame(H2Config.DEFAULT_CONNECTION_WINDOW - 65_535));
        client.writeAndFlush(new DefaultHttp2WindowUpdateFrame(H2Config.DEFAULT_CONNECTION_WINDOW - 65_535));
        server.writeInbound(drain(client));
        client.writeInbound(drain(server));
        server.writeInbound(drain(client));
        stream = new Http2StreamChannelBootstrap(client).handler(new ChannelInboundHandlerAdapter()).open().getNow();
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:80"), false));
        client.runPendingTasks();
        server.writeInbound(drain(client));
        server.runPendingTasks();
    }

    private static ByteBuf drain(EmbeddedChannel ch) {
        ch.runPendingTasks();
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            all.writeBytes(b);
            b.release();
        }
        return all;
    }

    @Test
    @DisplayName("two busy streams: each 256 KiB write goes out as one DATA frame (the 64 KiB quantum cut them into eight)")
    void busyStreamsSendLargeDataFrames() {
        open();
        Http2StreamChannel other = new Http2StreamChannelBootstrap(client).handler(new ChannelInboundHandlerAdapter()).open().getNow();
        other.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.2:80"), false));
        client.runPendingTasks();
        server.writeInbound(drain(client));
        server.runPendingTasks();
        // Both queued before the connection flushes, so the distributor shares one pass between them.
        stream.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[256 * 1024]), false));
        other.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[256 * 1024]), false));
        stream.flush();
        other.flush();
        server.writeInbound(drain(client));
        server.runPendingTasks();
        assertThat(received).extracting(d -> d.content().readableBytes()).containsExactly(256 * 1024, 256 * 1024);
    }

    @Test
    @DisplayName("a DATA frame that arrives in two reads (two TLS records) is handed on without copying its bytes together")
    void aDataFrameInTwoReadsIsNotCopied() {
        open();
        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[32 * 1024]), false));
        ByteBuf wire = drain(client);
        int half = wire.readableBytes() / 2;
        ByteBuf first = wire.readRetainedSlice(half);
        ByteBuf second = Unpooled.buffer(wire.readableBytes()).writeBytes(wire);
        wire.release();
        second.retain(); // kept by the test, to write into after the frame was decoded
        server.writeInbound(first);
        server.writeInbound(second);
        server.runPendingTasks();
        assertThat(received).hasSize(1);
        ByteBuf payload = received.get(0).content();
        assertThat(payload.readableBytes()).isEqualTo(32 * 1024);
        // The frame's last byte is the second read's last byte: the same memory, not a copy of it.
        second.setByte(second.writerIndex() - 1, 0x5a);
        second.release();
        assertThat(payload.getByte(payload.writerIndex() - 1)).isEqualTo((byte) 0x5a);
    }

    /**
     * Fairness (issue 14 moved the codec to Netty's uniform distributor): three streams each queue
     * 8 MiB at once, twice their stream window, on one connection; at every point of what the server
     * receives, the streams still sending are within two quanta of each other. A distributor that
     * served one stream to the end first would put it 8 MiB ahead.
     */
    @Test
    @DisplayName("three busy streams share the connection round robin: none gets more than two quanta ahead")
    void busyStreamsShareTheConnection() {
        open();
        List<Http2StreamChannel> streams = new ArrayList<>(List.of(stream));
        for (int i = 2; i <= 3; i++) {
            Http2StreamChannel s = new Http2StreamChannelBootstrap(client).handler(new ChannelInboundHandlerAdapter()).open().getNow();
            s.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0." + i + ":80"), false));
            streams.add(s);
        }
        client.runPendingTasks();
        server.writeInbound(drain(client));
        server.runPendingTasks();
        int chunk = H2Config.DEFAULT_MAX_FRAME_SIZE;
        long each = 8L * chunk;
        for (Http2StreamChannel s : streams) {
            for (long sent = 0; sent < each; sent += chunk) {
                s.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[chunk]), false));
            }
        }
        streams.forEach(Http2StreamChannel::flush);
        java.util.Map<Integer, Long> got = new java.util.TreeMap<>();
        long spread = 0;
        int seen = 0;
        for (int round = 0; round < 1000 && got.values().stream().mapToLong(Long::longValue).sum() < 3 * each; round++) {
            client.flush();
            server.writeInbound(drain(client));
            server.runPendingTasks();
            client.writeInbound(drain(server));
            client.runPendingTasks();
            for (; seen < received.size(); seen++) {
                Http2DataFrame d = received.get(seen);
                got.merge(d.stream().id(), (long) d.content().readableBytes(), Long::sum);
                if (got.size() == 3 && got.values().stream().allMatch(n -> n < each)) {
                    long max = got.values().stream().mapToLong(Long::longValue).max().orElseThrow();
                    long min = got.values().stream().mapToLong(Long::longValue).min().orElseThrow();
                    spread = Math.max(spread, max - min);
                } else if (got.size() < 3) {
                    spread = Math.max(spread, got.values().stream().mapToLong(Long::longValue).max().orElseThrow());
                }
            }
        }
        assertThat(got.values()).as("bytes per stream").containsOnly(each).hasSize(3);
        assertThat(spread).as("largest lead of one busy stream over another").isLessThanOrEqualTo(2L * H2Codecs.ALLOCATION_QUANTUM);
    }

    /** The RST_STREAM frames in {@code wire} (whole HTTP/2 frames, no preface); releases it. */
    private static int resetFrames(ByteBuf wire) {
        int resets = 0;
        while (wire.readableBytes() >= 9) {
            int length = wire.readUnsignedMedium();
            int type = wire.readUnsignedByte();
            wire.skipBytes(5 + length);
            resets += type == 0x3 ? 1 : 0;
        }
        wire.release();
        return resets;
    }

    /**
     * A client that reset a tunnel (its application went away) while the server's DATA was in flight: the DATA that
     * arrives after is ignored, as hyperium/h2's client ignores frames on a stream it reset for a second
     * (src/proto/streams/recv.rs {@code recv_data}, "frame ignored on locally reset"; RFC 9113 section 5.1, "closed").
     * Netty answered each frame with RST_STREAM STREAM_CLOSED; the server's side is {@code ServerResetStreamCacheTest}.
     */
    @Test
    @DisplayName("a client ignores DATA still arriving on a stream it reset, with no RST_STREAM per frame")
    void aClientIgnoresDataOnAStreamItReset() {
        open();
        assertThat(serverStream).isNotNull();
        serverStream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"), false));
        server.runPendingTasks();
        client.writeInbound(drain(server));
        client.runPendingTasks();
        stream.close();
        assertThat(resetFrames(drain(client))).as("the client's own RST_STREAM CANCEL").isEqualTo(1);
        for (int i = 0; i < 3; i++) {
            serverStream.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[1024]), false));
        }
        serverStream.flush();
        server.runPendingTasks();
        client.writeInbound(drain(server));
        client.runPendingTasks();
        assertThat(resetFrames(drain(client))).as("answers to the three DATA frames").isZero();
    }

    /**
     * hyperium/h2 src/codec/framed_read.rs {@code calc_max_continuation_frames}: {@code max(5, n + n / 4)} CONTINUATION
     * frames without END_HEADERS, {@code n = max(1, max_header_list_size / max_frame_size)}; Netty's count takes 2 more
     * (the HEADERS frame, and the fragment it reads before it checks). The blocks at those bounds on the wire:
     * ServerH2ParityTest, ClientContinuationBoundTest.
     */
    @Test
    @DisplayName("the CONTINUATION bound is h2's calc_max_continuation_frames, counted as Netty counts")
    void continuationBoundFollowsH2() {
        assertThat(H2Codecs.maxSmallContinuationFrames(64 * 1024, 1 << 20)).as("ztunnel's server settings").isEqualTo(5 + 2);
        assertThat(H2Codecs.maxSmallContinuationFrames(16 * 1024, 1 << 20)).as("ztunnel's client settings").isEqualTo(5 + 2);
        assertThat(H2Codecs.MAX_SMALL_CONTINUATION_FRAMES).isEqualTo(7);
        assertThat(H2Codecs.maxSmallContinuationFrames(16 << 20, 16_384)).as("h2's defaults: 16 MiB list, 16 KiB frames").isEqualTo(1280 + 2);
        assertThat(H2Codecs.maxSmallContinuationFrames(1 << 20, 16_384)).isEqualTo(80 + 2);
        assertThat(H2Codecs.maxSmallContinuationFrames(64 * 1024, 16_384)).as("4 frames for the list, under h2's floor").isEqualTo(5 + 2);
    }
}
