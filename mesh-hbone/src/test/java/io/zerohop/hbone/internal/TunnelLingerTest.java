package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The linger deadline of {@link Tunnels#closeGracefully} (reset if the peer never ends its side)
 * lives only as long as the tunnel: a timer left pending after the stream closed held every closed
 * tunnel's channel and pipeline for 30 s, which under open/close churn filled the old generation
 * (issue 14, benchmarks/results/profile-open.md). The deadline is now one entry of its connection's
 * {@link TunnelSet}, whose one timer never refers to a closed tunnel.
 */
class TunnelLingerTest {
    private final TunnelCodec codec = new TunnelCodec(new TunnelCodec.Listener() {
        @Override
        public void onHeaders(ChannelHandlerContext ctx, Http2Headers h, boolean endStream) {
        }

        @Override
        public void onClosed(TunnelCodec c) {
        }
    });

    private EmbeddedChannel openTunnel() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        ch.pipeline().addLast(HbonePipeline.TUNNEL, codec);
        ch.writeInbound(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:80"), false));
        codec.open();
        ch.read();
        return ch;
    }

    @Test
    @DisplayName("the linger deadline is pending while the peer has not ended, and leaves with the tunnel")
    void lingerDeadlineEndsWithTheTunnel() {
        EmbeddedChannel ch = openTunnel();
        Tunnels.closeGracefully(ch, codec);
        Http2DataFrame end = ch.readOutbound();
        assertThat(end.isEndStream()).isTrue();
        end.release();
        TunnelSet.Deadlines lingers = TunnelSet.of(ch).lingers();
        assertThat(lingers.size()).as("linger deadline pending").isEqualTo(1);
        // The peer's END_STREAM arrives and the stream channel closes, as the multiplexer closes a
        // stream both sides ended. Through unsafe(): EmbeddedChannel.close() itself would cancel every
        // scheduled task and hide a timer that still holds the tunnel.
        ch.writeInbound(new DefaultHttp2DataFrame(true));
        ch.unsafe().close(ch.unsafe().voidPromise());
        ch.runPendingTasks();
        assertThat(ch.isOpen()).isFalse();
        // The connection's timer may still be pending, but it holds the deadlines, not the tunnel.
        assertThat(lingers.size()).as("nothing of the closed tunnel left in the deadlines").isZero();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("a peer that never ends is reset (RST_STREAM CONNECT_ERROR) when the linger time has passed")
    void lingerExpiresIntoAReset() {
        EmbeddedChannel ch = openTunnel();
        ch.freezeTime();
        Tunnels.closeGracefully(ch, codec);
        ReferenceCountUtil.release(ch.readOutbound());
        ch.advanceTimeBy(Tunnels.LINGER_SECONDS - 1, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        assertThat((Object) ch.readOutbound()).as("not before the linger time").isNull();
        ch.advanceTimeBy(2, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        Object rst = ch.readOutbound();
        assertThat(rst).isInstanceOf(Http2ResetFrame.class);
        assertThat(((Http2ResetFrame) rst).errorCode()).isEqualTo(Http2Error.CONNECT_ERROR.code());
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("a tunnel whose peer already ended closes without arming the linger reset")
    void noLingerWhenThePeerAlreadyEnded() {
        EmbeddedChannel ch = openTunnel();
        ch.writeInbound(new DefaultHttp2DataFrame(true));
        Object up;
        while ((up = ch.readInbound()) != null) {
            ReferenceCountUtil.release(up);
        }
        Tunnels.closeGracefully(ch, codec);
        ReferenceCountUtil.release(ch.readOutbound());
        assertThat(TunnelSet.of(ch).lingers().size()).isZero();
        ch.finishAndReleaseAll();
    }
}
