package io.zerohop.hbone.internal;

import static io.zerohop.hbone.internal.Probe.ascii;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.zerohop.hbone.HboneStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The one hold-until-ready handler: decrypted bytes that ride in with the TLS Finished wait for the
 * HTTP/2 codec (as Netty's ApplicationProtocolNegotiationHandler buffers them), tunnel bytes and
 * END_STREAM wait for the tunnel's first read, a captured connection's bytes and FIN wait for its
 * tunnel.
 */
class HoldTest {

    @Test
    @DisplayName("bytes before release wait, then pass in order with one channelReadComplete; the hold then leaves")
    void bytesBeforeReleaseWaitThenPassInOrder() {
        Hold hold = new Hold();
        Probe probe = new Probe();
        EmbeddedChannel ch = new EmbeddedChannel(hold, probe);
        ch.writeInbound(ascii("PRI "), ascii("* HTTP/2.0"));
        assertThat(probe.seen).isEmpty();
        assertThat(probe.readCompletes).isZero();
        assertThat(hold.heldBytes()).isEqualTo(14);
        hold.release();
        assertThat(probe.seen).containsExactly("PRI ", "* HTTP/2.0");
        assertThat(probe.readCompletes).isEqualTo(1);
        assertThat(ch.pipeline().get(Hold.class)).isNull();
        ch.writeInbound(ascii("after"));
        assertThat(probe.seen).containsExactly("PRI ", "* HTTP/2.0", "after");
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("a hold that keeps failures keeps I/O errors in order with the bytes and the FIN; others pass at once; a plain hold keeps none")
    void ioErrorsAreHeldInOrderWhenAsked() {
        Hold hold = new Hold(Long.MAX_VALUE, true);
        Probe probe = new Probe();
        EmbeddedChannel ch = new EmbeddedChannel(hold, probe);
        ch.writeInbound(ascii("a"));
        // As epoll reports a peer's reset with half-closure allowed: the error, then the input's end.
        ch.pipeline().fireExceptionCaught(new java.io.IOException("Connection reset by peer"));
        ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        ch.pipeline().fireExceptionCaught(new IllegalStateException("a bug"));
        assertThat(probe.seen).containsExactly("error:a bug");
        hold.release();
        assertThat(probe.seen).containsExactly("error:a bug", "a", "error:Connection reset by peer", "EOF");
        ch.finishAndReleaseAll();

        Hold plain = new Hold();
        Probe later = new Probe();
        EmbeddedChannel other = new EmbeddedChannel(plain, later);
        other.pipeline().fireExceptionCaught(new java.io.IOException("Connection reset by peer"));
        assertThat(later.seen).containsExactly("error:Connection reset by peer");
        other.finishAndReleaseAll();
    }

    @Test
    @DisplayName("end of input (FIN / END_STREAM) and a reset are held in order with the bytes; other events pass at once")
    void endOfInputIsHeldInOrder() {
        Hold hold = new Hold();
        Probe probe = new Probe();
        EmbeddedChannel ch = new EmbeddedChannel(hold, probe);
        ch.writeInbound(ascii("a"));
        ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        ch.pipeline().fireUserEventTriggered(new HboneStream.Reset(10));
        ch.pipeline().fireUserEventTriggered(SslHandshakeCompletionEvent.SUCCESS);
        assertThat(probe.seen).containsExactly("event:SslHandshakeCompletionEvent");
        hold.release();
        assertThat(probe.seen).containsExactly("event:SslHandshakeCompletionEvent", "a", "EOF", "RST 10");
        ch.finishAndReleaseAll();
    }

    @Test
    void releasingAnEmptyHoldFiresNothing() {
        Hold hold = new Hold();
        Probe probe = new Probe();
        EmbeddedChannel ch = new EmbeddedChannel(hold, probe);
        hold.release();
        assertThat(probe.readCompletes).isZero();
        assertThat(ch.pipeline().get(Hold.class)).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void heldBytesAreReleasedWhenTheChannelDies() {
        Hold hold = new Hold();
        EmbeddedChannel ch = new EmbeddedChannel(hold, new Probe());
        ByteBuf b = ascii("never delivered");
        ch.writeInbound(b);
        assertThat(b.refCnt()).isEqualTo(1);
        ch.close();
        assertThat(b.refCnt()).isZero();
        ch.finishAndReleaseAll();
    }

    @Test
    @DisplayName("bounded: past maxBytes the hold drops what it kept and closes the channel")
    void pastItsBoundTheHoldFails() {
        Hold hold = new Hold(8);
        Probe probe = new Probe();
        EmbeddedChannel ch = new EmbeddedChannel(hold, probe);
        ByteBuf first = ascii("12345");
        ByteBuf second = ascii("6789");
        ch.writeInbound(first);
        assertThat(ch.isActive()).isTrue();
        ch.writeInbound(second);
        assertThat(ch.isActive()).isFalse();
        assertThat(first.refCnt()).isZero();
        assertThat(second.refCnt()).isZero();
        assertThat(probe.seen).isEmpty();
        hold.release();
        assertThat(probe.seen).isEmpty();
        ch.finishAndReleaseAll();
    }

    @Test
    void failDropsAndCloses() {
        Hold hold = new Hold();
        EmbeddedChannel ch = new EmbeddedChannel(hold, new Probe());
        ByteBuf b = ascii("x");
        ch.writeInbound(b);
        hold.fail(new IllegalStateException("tunnel refused"));
        assertThat(b.refCnt()).isZero();
        assertThat(ch.isActive()).isFalse();
        ch.finishAndReleaseAll();
    }

    @Test
    void aSubclassSeesEachHeldItem() {
        List<Object> items = new ArrayList<>();
        Hold hold = new Hold() {
            @Override
            protected void held(io.netty.channel.ChannelHandlerContext ctx, Object item) {
                items.add(item instanceof ByteBuf b ? b.readableBytes() : item);
            }
        };
        EmbeddedChannel ch = new EmbeddedChannel(hold, new Probe());
        ch.writeInbound(ascii("abc"));
        ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertThat(items).containsExactly(3, ChannelInputShutdownEvent.INSTANCE);
        ch.finishAndReleaseAll();
    }

    @Test
    void maxBytesMustBePositive() {
        assertThatThrownBy(() -> new Hold(0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxBytes");
    }
}
