package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
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
 * Relays that write into tunnels of one HBONE connection in one pass of its event loop flush that
 * connection once at the end of the pass, not once per read burst (issue 14: on the node pair's
 * proxy A, 16 captured sockets read in one pass cost 16 HTTP/2 flushes, SslHandler wrap passes and
 * writevs). A real client HTTP/2 connection (hbone's codec, Netty's multiplexer, {@link TunnelCodec}
 * per stream) on an {@link EmbeddedChannel}, with a handler at the socket end counting flushes; the
 * captured sockets are {@link RelayTest.FakeTcp}s. hyperium/h2, ztunnel's HTTP/2, does the same: a
 * poll of the connection task buffers the frames every stream queued, then flushes the codec once
 * (src/proto/streams/streams.rs {@code poll_complete}: {@code buffer_pending}, then {@code dst.flush}).
 */
class RelayFlushBatchTest {
    private final SocketEnd socket = new SocketEnd();
    private final EmbeddedChannel connection = new EmbeddedChannel(socket,
            H2Codecs.client(Http2Settings.defaultSettings()),
            new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
    private final List<RelayTest.FakeTcp> captured = new ArrayList<>();

    @AfterEach
    void release() {
        captured.forEach(t -> t.ch.finishAndReleaseAll());
        connection.finishAndReleaseAll();
    }

    /** {@code n} tunnels whose CONNECT went out, each relayed to a captured socket. */
    private List<RelayTest.FakeTcp> relays(int n) {
        for (int i = 0; i < n; i++) {
            Http2StreamChannel stream = new Http2StreamChannelBootstrap(connection).open().syncUninterruptibly().getNow();
            HbonePipeline.tunnel(stream, new TunnelCodec(new TunnelCodec.Listener() {
                @Override
                public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {}

                @Override
                public void onClosed(TunnelCodec c) {}
            }));
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:" + (8080 + i)), false));
            RelayTest.FakeTcp tcp = new RelayTest.FakeTcp();
            Relay.join(tcp, Relay.tunnel(stream));
            captured.add(tcp);
        }
        connection.runPendingTasks();
        socket.reset();
        return captured;
    }

    @Test
    @DisplayName("four captured sockets read in one pass: their tunnels' bytes reach the connection's socket in one flush")
    void readsOfOnePassShareOneConnectionFlush() {
        for (RelayTest.FakeTcp tcp : relays(4)) {
            // One read burst each: channelRead, then channelReadComplete.
            tcp.ch.writeInbound(Unpooled.wrappedBuffer(new byte[1024]));
        }
        assertThat(socket.flushes).as("nothing flushed before the pass ends").isZero();
        connection.runPendingTasks();
        assertThat(socket.flushes).as("one flush for the four tunnels' DATA").isEqualTo(1);
        assertThat(socket.bytes).as("four DATA frames of 1 KiB reached the socket").isEqualTo(4 * (9 + 1024));
    }

    @Test
    @DisplayName("a lone read burst is flushed when the pass ends, with no timer")
    void aLoneReadIsFlushedAtTheEndOfThePass() {
        RelayTest.FakeTcp tcp = relays(1).get(0);
        tcp.ch.writeInbound(Unpooled.wrappedBuffer(new byte[100]));
        connection.runPendingTasks(); // tasks only: scheduled (timer) tasks are not run
        assertThat(socket.flushes).isEqualTo(1);
        assertThat(socket.bytes).isEqualTo(9 + 100);
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
