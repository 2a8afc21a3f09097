package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * {@link H2WireBytes} counts what Envoy's HTTP/2 codec meters per stream however the bytes are cut: received, the frame
 * ending a header block, DATA and RST_STREAM (not WINDOW_UPDATE, nor a HEADERS whose block a CONTINUATION ends); sent,
 * every frame of the stream. A stream no handler claimed is dropped at its end from this side.
 */
class H2WireBytesTest {
    private static byte[] frame(int type, int flags, int stream, int length) {
        byte[] f = new byte[9 + length];
        f[0] = (byte) (length >>> 16);
        f[1] = (byte) (length >>> 8);
        f[2] = (byte) length;
        f[3] = (byte) type;
        f[4] = (byte) flags;
        f[5] = (byte) (stream >>> 24);
        f[6] = (byte) (stream >>> 16);
        f[7] = (byte) (stream >>> 8);
        f[8] = (byte) stream;
        return f;
    }

    @Test
    void countsEnvoysFramesWhateverTheCuts() {
        H2WireBytes wire = new H2WireBytes();
        EmbeddedChannel ch = new EmbeddedChannel(wire);
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        in.writeBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        in.writeBytes(frame(4, 0, 0, 6));           // SETTINGS: the connection's
        in.writeBytes(frame(1, 0, 1, 20));          // HEADERS without END_HEADERS: not counted
        in.writeBytes(frame(9, 4, 1, 7));           // CONTINUATION ending the block: 16
        in.writeBytes(frame(0, 0, 1, 100));         // DATA: 109
        in.writeBytes(frame(8, 0, 1, 4));           // WINDOW_UPDATE: not counted
        in.writeBytes(frame(0, 1, 1, 0));           // empty DATA, END_STREAM: 9
        in.writeBytes(frame(1, 5, 3, 30));          // another stream: 39
        byte[] all = in.toByteArray();
        for (byte b : all) {
            // One byte a read: every frame header is cut.
            ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {b}));
        }
        for (Object m; (m = ch.readInbound()) != null; ) {
            ((ByteBuf) m).release();
        }
        H2WireBytes.Meter one = wire.meter(1);
        H2WireBytes.Meter three = wire.meter(3);
        assertThat(one.received).isEqualTo(16 + 109 + 9);
        assertThat(three.received).isEqualTo(39);

        // Sent: HEADERS, DATA in two writes (header, then payload), then END_STREAM.
        ch.writeOutbound(Unpooled.wrappedBuffer(frame(1, 4, 1, 12)));
        byte[] data = frame(0, 1, 1, 50);
        ch.writeOutbound(Unpooled.wrappedBuffer(data, 0, 9), Unpooled.wrappedBuffer(data, 9, 50));
        assertThat(one.sent).isEqualTo(21 + 59);
        assertThat(one.ended).isTrue();
        assertThat(three.ended).isFalse();
        for (Object m; (m = ch.readOutbound()) != null; ) {
            ((ByteBuf) m).release();
        }
        ch.finishAndReleaseAll();
    }

    @Test
    void aStreamNoHandlerClaimedIsDroppedAtItsEnd() {
        H2WireBytes wire = new H2WireBytes();
        EmbeddedChannel ch = new EmbeddedChannel(wire);
        ByteBuf in = Unpooled.buffer();
        in.writeBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII)).writeBytes(frame(1, 5, 1, 3));
        ch.writeInbound(in);
        ((ByteBuf) ch.readInbound()).release();
        ch.writeOutbound(Unpooled.wrappedBuffer(frame(3, 0, 1, 4)));  // the codec's RST_STREAM
        ((ByteBuf) ch.readOutbound()).release();
        assertThat(wire.meter(1)).isNull();
        ch.finishAndReleaseAll();
    }
}
