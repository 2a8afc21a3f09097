package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.nio.channels.NotYetConnectedException;
import org.junit.jupiter.api.Test;

/**
 * What a dial's handlers drop: Netty's read of a socket that still connects (ENOTCONN), and nothing else. The burst
 * that produced those reads is {@code DialBurstQuietTest} (mesh-core), on real sockets.
 */
class DiallingTest {
    @Test
    void onlyAReadBeforeTheConnectIsDropped() {
        EmbeddedChannel connecting = new EmbeddedChannel(false, false);
        assertThat(connecting.isActive()).isFalse();
        assertThat(Transports.readWhileDialling(connecting, new NotYetConnectedException())).isTrue();
        assertThat(Transports.readWhileDialling(connecting, new IOException("Connection refused"))).isFalse();
        assertThat(Transports.readWhileDialling(connecting, new IllegalStateException())).isFalse();
        EmbeddedChannel connected = new EmbeddedChannel();
        assertThat(Transports.readWhileDialling(connected, new NotYetConnectedException())).as("an active channel's is a real fault").isFalse();
    }

    @Test
    void theHandlersPassEveryOtherFailureOn() {
        for (io.netty.channel.ChannelHandler h : new io.netty.channel.ChannelHandler[] {Transports.Dialling.INSTANCE, new Hold(Long.MAX_VALUE, true)}) {
            EmbeddedChannel ch = new EmbeddedChannel(h);
            ch.pipeline().fireExceptionCaught(new NotYetConnectedException());
            assertThatThrownBy(ch::checkException).as(h + ", active").isInstanceOf(NotYetConnectedException.class);
            ch.pipeline().fireExceptionCaught(new IllegalArgumentException("x"));
            assertThatThrownBy(ch::checkException).isInstanceOf(IllegalArgumentException.class);
            ch.finishAndReleaseAll();
        }
    }
}
