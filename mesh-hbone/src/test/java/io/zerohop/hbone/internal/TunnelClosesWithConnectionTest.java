package io.zerohop.hbone.internal;

import static io.zerohop.hbone.internal.Probe.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * A tunnel that is not reading when its connection dies: the DATA frames Netty's multiplexer queued
 * for it are released. Netty (4.2.18 AbstractHttp2StreamChannel.doBeginRead) only marks such a stream
 * channel's input ended and closes it, freeing its queue, once it reads again; a tunnel waiting for
 * its CONNECT to be decided, or paused by back-pressure (auto-read off, ZeroWindowTest's stalled
 * tunnels), never does. {@link HbonePipeline#tunnel} closes every tunnel with its connection.
 *
 * <p>Two EmbeddedChannels (a client HTTP/2 frame codec and the server's codec and multiplexer with the
 * tunnel pipeline) exchange the real wire bytes; the bytes carrying the DATA are fed as buffers the test
 * holds, whose reference count shows whether the frames sliced from them were released. The leak
 * check (zerohop-testing-netty's LeakDetectionExtension, paranoid) reports the same leak at class end.
 */
class TunnelClosesWithConnectionTest {
    private final EmbeddedChannel client = new EmbeddedChannel(H2Codecs.client(new Http2Settings()),
            new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
    private Http2StreamChannel tunnel;
    private TunnelCodec codec;
    private final Probe probe = new Probe();
    private final EmbeddedChannel server = new EmbeddedChannel(H2Codecs.server(new Http2Settings(), null),
            new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                @Override
                protected void initChannel(Http2StreamChannel ch) {
                    codec = new TunnelCodec(new TunnelCodec.Listener() {
                        @Override
                        public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {}

                        @Override
                        public void onClosed(TunnelCodec c) {}
                    });
                    HbonePipeline.tunnel(ch, codec);
                    tunnel = ch;
                }
            }));
    private Http2StreamChannel clientTunnel;

    @AfterEach
    void tearDown() {
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }

    /** Client preface, SETTINGS both ways, then the CONNECT; the server's stream channel exists. */
    private void connect() {
        toServer();
        toClient();
        clientTunnel = new Http2StreamChannelBootstrap(client).handler(new ChannelInboundHandlerAdapter()).open().getNow();
        Http2Headers connect = new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:80");
        clientTunnel.writeAndFlush(new DefaultHttp2HeadersFrame(connect, false));
        client.runPendingTasks();
        toServer();
        assertThat(tunnel).as("the server opened a tunnel channel").isNotNull();
    }

    /**
     * Sends {@code payload} as one DATA frame and returns the server-side wire buffer carrying it, with
     * one reference kept by the test: its count is 1 again once every frame sliced from it is released.
     */
    private ByteBuf data(String payload) {
        clientTunnel.writeAndFlush(new DefaultHttp2DataFrame(ascii(payload), false));
        client.runPendingTasks();
        ByteBuf wire = drain(client);
        wire.retain();
        server.writeInbound(wire);
        server.runPendingTasks();
        return wire;
    }

    private void toServer() {
        server.writeInbound(drain(client));
        server.runPendingTasks();
    }

    private void toClient() {
        client.writeInbound(drain(server));
        client.runPendingTasks();
        for (Object m; (m = client.readInbound()) != null; ) {
            io.netty.util.ReferenceCountUtil.release(m);
        }
    }

    /** Everything {@code ch} wrote, copied into one unpooled buffer (the originals released). */
    private static ByteBuf drain(EmbeddedChannel ch) {
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            all.writeBytes(b);
            b.release();
        }
        return all;
    }

    /** The connection dies (TCP reset, peer gone): the server's HBONE connection channel closes. */
    private void connectionDies() {
        server.close();
        server.runPendingTasks();
    }

    @Test
    @DisplayName("a tunnel still waiting for its CONNECT to be decided frees the DATA queued for it when its connection dies")
    void undecidedTunnelFreesQueuedData() {
        connect();
        // The codec's own read for the CONNECT is still pending: the first DATA answers it and waits
        // in the codec's Hold; the read is then over, and the next DATA waits in Netty's queue.
        ByteBuf early = data("early");
        ByteBuf later = data("later");
        assertThat(early.refCnt()).as("held by the tunnel codec").isEqualTo(2);
        assertThat(later.refCnt()).as("the DATA frame waits in the tunnel channel's queue").isEqualTo(2);

        connectionDies();

        assertThat(early.refCnt()).as("the held DATA was released").isEqualTo(1);
        assertThat(later.refCnt()).as("the queued DATA frame was released").isEqualTo(1);
        assertThat(tunnel.isOpen()).as("the tunnel closed with its connection").isFalse();
        early.release();
        later.release();
    }

    @Test
    @DisplayName("an open tunnel paused by back-pressure (auto-read off) frees the DATA queued for it when its connection dies")
    void pausedTunnelFreesQueuedData() {
        connect();
        codec.open();
        tunnel.pipeline().addLast(probe);
        ByteBuf first = data("first");
        // The reader asks for one read (Netty's auto-read off: a read is pending until a frame
        // arrives), is handed what was waiting and the next frame, then stops asking: the other
        // side of its relay is not writable.
        tunnel.read();
        ByteBuf second = data("second");
        assertThat(probe.seen).containsExactly("first", "second");
        assertThat(first.refCnt()).isEqualTo(1);
        assertThat(second.refCnt()).isEqualTo(1);
        ByteBuf queued = data("queued while paused");
        assertThat(probe.seen).containsExactly("first", "second");
        assertThat(queued.refCnt()).as("the DATA frame waits in the tunnel channel's queue").isEqualTo(2);

        connectionDies();

        assertThat(queued.refCnt()).as("the queued DATA frame was released").isEqualTo(1);
        assertThat(tunnel.isOpen()).as("the tunnel closed with its connection").isFalse();
        assertThat(probe.seen).as("nothing queued reached the paused reader").containsExactly("first", "second");
        first.release();
        second.release();
        queued.release();
    }
}
