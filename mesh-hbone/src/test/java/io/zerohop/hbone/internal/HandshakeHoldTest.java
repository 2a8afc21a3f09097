package io.zerohop.hbone.internal;

import static io.zerohop.hbone.internal.Probe.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

/**
 * The connection-level hold: decrypted bytes that ride in with the TLS Finished must wait for the
 * HTTP/2 codec (as Netty's ApplicationProtocolNegotiationHandler buffers them).
 */
class HandshakeHoldTest {
    static final class Gate extends HandshakeHold {
        ChannelHandlerContext ctx;

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        void open() {
            release(ctx);
        }
    }

    @Test
    void bytesBeforeReleaseWaitThenPassInOrderWithOneReadComplete() {
        Gate gate = new Gate();
        Probe probe = new Probe();
        EmbeddedChannel ch = new EmbeddedChannel(gate, probe);
        ch.writeInbound(ascii("PRI "), ascii("* HTTP/2.0"));
        assertThat(probe.seen).isEmpty();
        assertThat(probe.readCompletes).isZero();
        gate.open();
        assertThat(probe.seen).containsExactly("PRI ", "* HTTP/2.0");
        assertThat(probe.readCompletes).isEqualTo(1);
        ch.writeInbound(ascii("after"));
        assertThat(probe.seen).containsExactly("PRI ", "* HTTP/2.0", "after");
        ch.finishAndReleaseAll();
    }

    @Test
    void heldBytesAreReleasedWhenTheConnectionDies() {
        Gate gate = new Gate();
        EmbeddedChannel ch = new EmbeddedChannel(gate, new Probe());
        ByteBuf b = ascii("never delivered");
        ch.writeInbound(b);
        assertThat(b.refCnt()).isEqualTo(1);
        ch.close();
        assertThat(b.refCnt()).isZero();
        ch.finishAndReleaseAll();
    }
}
