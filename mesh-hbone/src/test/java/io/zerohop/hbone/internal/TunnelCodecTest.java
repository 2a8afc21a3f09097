package io.zerohop.hbone.internal;

import static io.zerohop.hbone.internal.Probe.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.zerohop.hbone.HboneStream;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link TunnelCodec} alone on an {@link EmbeddedChannel} standing in for an Http2StreamChannel, driven
 * with the frame objects Netty's Http2MultiplexHandler hands a stream (as netty/netty's
 * codec-http2/src/test Http2MultiplexTest drives its streams): DATA payloads up as bytes, END_STREAM as
 * input shutdown, RST_STREAM as {@link HboneStream.Reset}, written bytes down as DATA.
 */
class TunnelCodecTest {
    private final List<Http2Headers> headers = new ArrayList<>();
    private int closed;
    private final TunnelCodec codec = new TunnelCodec(new TunnelCodec.Listener() {
        @Override
        public void onHeaders(ChannelHandlerContext ctx, Http2Headers h, boolean endStream) {
            headers.add(h);
        }

        @Override
        public void onClosed(TunnelCodec c) {
            closed++;
        }
    });
    private final Probe probe = new Probe();

    /** A stream channel as client and server create it: auto-read off, the codec first. */
    private EmbeddedChannel stream() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        ch.pipeline().addLast(HbonePipeline.TUNNEL, codec);
        return ch;
    }

    /** The tunnel answered: handlers above the codec are in place and read. */
    private void open(EmbeddedChannel ch) {
        codec.open();
        ch.pipeline().addLast(probe);
        ch.read();
    }

    private static DefaultHttp2HeadersFrame connect() {
        return new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:80"), false);
    }

    private static DefaultHttp2DataFrame data(String s, boolean end) {
        return new DefaultHttp2DataFrame(ascii(s), end);
    }

    @Test
    void theFirstHeadersGoToTheListenerNotUp() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        assertThat(headers).hasSize(1);
        assertThat(headers.get(0).authority().toString()).isEqualTo("10.0.0.1:80");
        open(ch);
        assertThat(probe.seen).isEmpty();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("bytes and END_STREAM that arrive before the tunnel opens are held, in order, until the handlers above first read")
    void bytesBeforeOpenAreHeldUntilTheFirstRead() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect(), data("ab", false), data("cd", true));
        ch.pipeline().addLast(probe);
        ch.read();
        assertThat(probe.seen).as("nothing before open()").isEmpty();
        codec.open();
        assertThat(probe.seen).as("nothing before the first read").isEmpty();
        ch.read();
        assertThat(probe.seen).containsExactly("ab", "cd", "EOF");
        assertThat(probe.readCompletes).isEqualTo(1);
        assertThat(codec.bytesIn()).isEqualTo(4);
        assertThat(codec.inputEnded()).isTrue();
        ch.finishAndReleaseAll();
    }

    @Test
    void heldBytesAreReleasedWhenTheStreamDiesBeforeTheFirstRead() {
        EmbeddedChannel ch = stream();
        ByteBuf payload = ascii("lost");
        ch.writeInbound(connect(), new DefaultHttp2DataFrame(payload, false));
        assertThat(payload.refCnt()).isEqualTo(1);
        ch.close();
        assertThat(payload.refCnt()).isZero();
        assertThat(closed).isEqualTo(1);
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("half-close in: END_STREAM after the last DATA is ChannelInputShutdownEvent")
    void endStreamIsInputShutdownAfterTheLastData() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        open(ch);
        ch.writeInbound(data("x", false));
        ch.writeInbound(data("y", true));
        assertThat(probe.seen).containsExactly("x", "y", "EOF");
        // DATA after END_STREAM is not passed on.
        ch.writeInbound(data("late", false));
        assertThat(probe.seen).containsExactly("x", "y", "EOF");
        assertThat(codec.inputEnded()).isTrue();
        assertThat(codec.completed()).isFalse();
        ch.finishAndReleaseAll();
    }

    @Test
    void trailersEndTheInput() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        open(ch);
        ch.writeInbound(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().add("x-t", "1"), true));
        assertThat(probe.seen).containsExactly("EOF");
        ch.finishAndReleaseAll();
    }

    @Test
    void dataBeforeHeadersIsDropped() {
        EmbeddedChannel ch = stream();
        ByteBuf payload = ascii("early");
        ch.writeInbound(new DefaultHttp2DataFrame(payload, false));
        assertThat(payload.refCnt()).isZero();
        assertThat(headers).isEmpty();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("half-close out: written bytes become DATA, shutdownOutput is an empty DATA with END_STREAM, later writes fail")
    void writesBecomeDataAndShutdownOutputIsEndStream() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        open(ch);
        ch.writeAndFlush(ascii("hello"));
        Http2DataFrame d = ch.readOutbound();
        assertThat(d.content().toString(StandardCharsets.US_ASCII)).isEqualTo("hello");
        assertThat(d.isEndStream()).isFalse();
        d.release();
        HboneStream.shutdownOutput(ch);
        Http2DataFrame end = ch.readOutbound();
        assertThat(end.isEndStream()).isTrue();
        assertThat(end.content().readableBytes()).isZero();
        end.release();
        assertThat(codec.outputEnded()).isTrue();
        ByteBuf after = ascii("too late");
        ChannelFuture f = ch.writeAndFlush(after);
        assertThat(f.cause()).isInstanceOf(ClosedChannelException.class);
        assertThat(after.refCnt()).isZero();
        assertThat(codec.bytesOut()).isEqualTo(5);
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("both directions ended with END_STREAM: the tunnel completed")
    void bothEndStreamsComplete() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        open(ch);
        ch.writeInbound(data("", true));
        HboneStream.shutdownOutput(ch);
        ch.releaseOutbound();
        assertThat(codec.completed()).isTrue();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("reset in: RST_STREAM with an error code is HboneStream.Reset at once and closes the stream (RFC 9113 §8.5)")
    void peerResetIsResetEvent() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        open(ch);
        ch.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR));
        assertThat(probe.seen).containsExactly("RST " + Http2Error.CONNECT_ERROR.code());
        // Closed once the codec has closed the stream (a task), so no RST_STREAM answers the peer's.
        assertThat(ch.isActive()).isTrue();
        ch.runPendingTasks();
        assertThat(ch.isActive()).isFalse();
        assertThat(codec.wasReset()).isTrue();
        assertThat(codec.rstReceived()).isTrue();
        assertThat(codec.completed()).isFalse();
        assertThat(closed).isEqualTo(1);
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("ztunnel src/proxy/h2.rs: RST_STREAM NO_ERROR / CANCEL from the peer is a clean end of its data, not a reset")
    void peerCancelIsACleanEnd() {
        for (Http2Error code : List.of(Http2Error.NO_ERROR, Http2Error.CANCEL)) {
            TunnelCodecTest t = new TunnelCodecTest();
            EmbeddedChannel ch = t.stream();
            ch.writeInbound(connect());
            t.open(ch);
            ch.writeInbound(data("last", false));
            HboneStream.shutdownOutput(ch);
            ch.releaseOutbound();
            ch.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(code));
            assertThat(t.probe.seen).as(code.name()).containsExactly("last");
            // Netty closes the stream channel after a RST_STREAM; the end of input comes with it.
            ch.close();
            assertThat(t.probe.seen).as(code.name()).containsExactly("last", "EOF");
            assertThat(t.codec.wasReset()).isFalse();
            assertThat(t.codec.completed()).as(code.name()).isTrue();
            ch.finishAndReleaseAll();
        }
    }

    @Test
    @DisplayName("CONNECT then CANCEL before the tunnel opened closes the stream at once (what a pending dial waits on)")
    void cancelBeforeOpenCloses() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        ch.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        ch.runPendingTasks();
        assertThat(ch.isActive()).isFalse();
        assertThat(codec.rstReceived()).isTrue();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("reset out: Tunnels.reset sends RST_STREAM CONNECT_ERROR (RFC 9113 §8.5), not CANCEL, and closes")
    void resetSendsConnectError() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        open(ch);
        Tunnels.reset(ch);
        Http2ResetFrame rst = ch.readOutbound();
        assertThat(rst.errorCode()).isEqualTo(Http2Error.CONNECT_ERROR.code());
        assertThat(ch.isActive()).isFalse();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("closeGracefully: END_STREAM, then what the peer still sends is dropped until its END_STREAM")
    void closeGracefullyDropsTheRest() {
        EmbeddedChannel ch = stream();
        ch.writeInbound(connect());
        open(ch);
        Tunnels.closeGracefully(ch, codec);
        Http2DataFrame end = ch.readOutbound();
        assertThat(end.isEndStream()).isTrue();
        end.release();
        ByteBuf rest = ascii("unread");
        ch.writeInbound(new DefaultHttp2DataFrame(rest, true));
        assertThat(rest.refCnt()).isZero();
        assertThat(probe.seen).isEmpty();
        assertThat(codec.completed()).isTrue();
        ch.finishAndReleaseAll();
    }
}
