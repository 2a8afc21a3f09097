package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The linger timer of {@link Tunnels#closeGracefully} (reset if the peer never ends its side) lives
 * only as long as the tunnel: left pending after the stream closed, it held every closed tunnel's
 * channel and pipeline for 30 s, which under open/close churn filled the old generation (issue 14,
 * benchmarks/results/profile-open.md).
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
    @DisplayName("the linger reset is armed while the peer has not ended, and cancelled when the tunnel closes")
    void lingerTimerEndsWithTheTunnel() {
        EmbeddedChannel ch = openTunnel();
        Tunnels.closeGracefully(ch, codec);
        Http2DataFrame end = ch.readOutbound();
        assertThat(end.isEndStream()).isTrue();
        end.release();
        assertThat(ch.runScheduledPendingTasks()).as("linger reset armed").isPositive();
        // The peer's END_STREAM arrives and the stream channel closes, as the multiplexer closes a
        // stream both sides ended. Through unsafe(): EmbeddedChannel.close() itself would cancel every
        // scheduled task and hide a timer that outlives the tunnel.
        ch.writeInbound(new DefaultHttp2DataFrame(true));
        ch.unsafe().close(ch.unsafe().voidPromise());
        ch.runPendingTasks();
        assertThat(ch.isOpen()).isFalse();
        assertThat(ch.runScheduledPendingTasks()).as("no task left once the tunnel closed").isEqualTo(-1);
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
        assertThat(ch.runScheduledPendingTasks()).isEqualTo(-1);
        ch.finishAndReleaseAll();
    }
}
