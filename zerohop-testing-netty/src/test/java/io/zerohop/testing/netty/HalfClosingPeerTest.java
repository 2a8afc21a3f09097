package io.zerohop.testing.netty;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class HalfClosingPeerTest {
    final List<Channel> ended = new ArrayList<>();
    final Function<Channel, ChannelFuture> endOutput = ch -> {
        ended.add(ch);
        return ch.newSucceededFuture();
    };

    @Test
    void echoesEachMessageAndEndsItsSideWhenThePeerEnds() {
        EmbeddedChannel ch = new EmbeddedChannel(HalfClosingPeer.echo(endOutput));
        ch.writeInbound(Unpooled.copiedBuffer("ab", StandardCharsets.US_ASCII));
        ByteBuf out = ch.readOutbound();
        assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo("ab");
        out.release();
        assertThat(ended).isEmpty();
        ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertThat(ended).containsExactly(ch);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void discardsWhatItReadsAndPassesOtherEventsOn() {
        EmbeddedChannel ch = new EmbeddedChannel(HalfClosingPeer.discard(endOutput));
        ByteBuf in = Unpooled.copiedBuffer("ab", StandardCharsets.US_ASCII);
        ch.writeInbound(in);
        assertThat(in.refCnt()).isZero();
        assertThat((Object) ch.readOutbound()).isNull();
        ByteBuf event = Unpooled.buffer(1);
        ch.pipeline().fireUserEventTriggered(event);
        assertThat(event.refCnt()).as("released by the pipeline's tail").isZero();
        assertThat(ended).isEmpty();
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }
}
