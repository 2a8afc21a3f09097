package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
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
 * {@link Tunnels#flushSoon}: the CONNECTs (and graceful-close END_STREAMs) that tunnels write in
 * one pass of the connection's event loop reach the socket in one flush, not one each (issue 14,
 * benchmarks/results/open-batch.md). A real client HTTP/2 connection (hbone's codec and Netty's
 * multiplexer) on an {@link EmbeddedChannel}, with a handler at the socket end counting flushes.
 * Own mechanics: no upstream to cite (gRPC-java's WriteQueue is the model).
 */
class TunnelFlushBatchTest {
    private final SocketEnd socket = new SocketEnd();
    private final EmbeddedChannel connection = new EmbeddedChannel(socket,
            H2Codecs.client(Http2Settings.defaultSettings()),
            new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));

    @AfterEach
    void release() {
        connection.finishAndReleaseAll();
    }

    private List<Http2StreamChannel> openStreams(int n) {
        List<Http2StreamChannel> streams = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Http2StreamChannel ch = new Http2StreamChannelBootstrap(connection).open().syncUninterruptibly().getNow();
            ch.config().setAutoRead(false);
            streams.add(ch);
        }
        connection.runPendingTasks();
        socket.reset(); // the connection preface and SETTINGS
        return streams;
    }

    private static DefaultHttp2HeadersFrame connect(int port) {
        Http2Headers h = new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:" + port);
        return new DefaultHttp2HeadersFrame(h, false);
    }

    @Test
    @DisplayName("tunnels opened in one pass of the event loop send their CONNECTs in one flush")
    void connectsOfOnePassShareOneFlush() {
        List<Http2StreamChannel> streams = openStreams(10);
        for (Http2StreamChannel ch : streams) {
            ch.write(connect(8080 + streams.indexOf(ch)));
            Tunnels.flushSoon(ch);
        }
        // Written (HEADERS bypass flow control) but not flushed: nothing has reached the kernel.
        assertThat(socket.flushes).as("nothing flushed before the pass ends").isZero();
        connection.runPendingTasks();
        assertThat(socket.flushes).as("one flush for the ten CONNECTs").isEqualTo(1);
        assertThat(socket.bytes).as("ten HEADERS frames reached the socket").isGreaterThan(10 * 9);
    }

    @Test
    @DisplayName("a lone CONNECT is flushed when the pass ends, with no timer")
    void aLoneConnectIsFlushedAtTheEndOfThePass() {
        Http2StreamChannel ch = openStreams(1).get(0);
        ch.write(connect(8080));
        Tunnels.flushSoon(ch);
        connection.runPendingTasks(); // tasks only: scheduled (timer) tasks are not run
        assertThat(socket.flushes).isEqualTo(1);
        assertThat(socket.bytes).isPositive();
    }

    @Test
    @DisplayName("graceful closes of tunnels in one pass send their END_STREAMs in one flush")
    void closesOfOnePassShareOneFlush() {
        List<Http2StreamChannel> streams = openStreams(5);
        List<TunnelCodec> codecs = new ArrayList<>();
        for (Http2StreamChannel ch : streams) {
            TunnelCodec codec = new TunnelCodec(new TunnelCodec.Listener() {
                @Override
                public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {
                }

                @Override
                public void onClosed(TunnelCodec c) {
                }
            });
            ch.pipeline().addLast(codec);
            codecs.add(codec);
            ch.writeAndFlush(connect(9090));
        }
        connection.runPendingTasks();
        socket.reset();
        for (int i = 0; i < streams.size(); i++) {
            Tunnels.closeGracefully(streams.get(i), codecs.get(i));
        }
        assertThat(socket.flushes).isZero();
        connection.runPendingTasks();
        assertThat(socket.flushes).as("one flush for the five END_STREAMs").isEqualTo(1);
        assertThat(socket.bytes).as("five empty DATA frames with END_STREAM (9 bytes each)").isEqualTo(5 * 9);
    }

    /** First handler of the connection (the socket side): counts flushes and the bytes written. */
    private static final class SocketEnd extends ChannelOutboundHandlerAdapter {
        int flushes;
        long bytes;

        void reset() {
            flushes = 0;
            bytes = 0;
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            if (msg instanceof ByteBuf b) {
                bytes += b.readableBytes();
            }
            ReferenceCountUtil.release(msg);
            promise.setSuccess();
        }

        @Override
        public void flush(ChannelHandlerContext ctx) {
            flushes++;
        }
    }
}
