package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

/**
 * gRPC messages are counted at their flag byte, across DATA frames, as Envoy's frame inspector counts them: each case is
 * one of envoyproxy/envoy {@code test/common/grpc/codec_test.cc} {@code FrameInspectorTest}'s (the count per inspected
 * buffer, then in total).
 */
class GrpcMessageCountTest {

    private static int inspect(GrpcMessageCount c, int... bytes) {
        ByteBuf b = Unpooled.buffer(bytes.length);
        for (int x : bytes) {
            b.writeByte(x);
        }
        try {
            int n = c.inspect(b);
            assertThat(b.readerIndex()).as("read in place").isZero();
            return n;
        } finally {
            b.release();
        }
    }

    @Test
    void envoysFrameInspectorCases() {
        assertThat(inspect(new GrpcMessageCount())).isZero();
        assertThat(inspect(new GrpcMessageCount(), 0)).isEqualTo(1);
        assertThat(inspect(new GrpcMessageCount(), 1, 0, 0, 0, 1, 0xFF)).isEqualTo(1);

        // The length's last byte in the next buffer, then the payload: still one message.
        GrpcMessageCount split = new GrpcMessageCount();
        assertThat(inspect(split, 1, 0, 0, 0)).isEqualTo(1);
        assertThat(inspect(split, 1, 0xFF)).isZero();

        assertThat(inspect(new GrpcMessageCount(), 1, 0, 0, 0, 1, 0xFF, 0, 0, 0, 0, 2, 0xFF, 0xFF)).isEqualTo(2);

        // A message spanning two buffers, then a second one.
        GrpcMessageCount spans = new GrpcMessageCount();
        assertThat(inspect(spans, 1, 0, 0, 0, 2, 0xFF)).isEqualTo(1);
        assertThat(inspect(spans, 0xFF, 0, 0, 0, 0, 2, 0xFF, 0xFF)).isEqualTo(1);

        // A 256-byte message, then the flag byte of a second.
        int[] longer = new int[5 + 256 + 1];
        longer[0] = 1;
        longer[3] = 1;
        java.util.Arrays.fill(longer, 5, 5 + 256, 0xFF);
        assertThat(inspect(new GrpcMessageCount(), longer)).isEqualTo(2);

        // Two empty messages.
        assertThat(inspect(new GrpcMessageCount(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).isEqualTo(2);
    }

    /** A flag byte other than 0 or 1 is not gRPC framing: the rest of that buffer is not counted; the next is read afresh. */
    @Test
    void anInvalidFlagByteEndsTheCountForItsBuffer() {
        GrpcMessageCount c = new GrpcMessageCount();
        assertThat(inspect(c, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0)).isEqualTo(1);
        assertThat(inspect(c, 0, 0, 0, 0, 0)).isEqualTo(1);
    }

    /** A length over 2^31 (the 4-byte field read unsigned) is skipped as payload, not taken as negative. */
    @Test
    void aLengthOverTwoGigabytesIsSkippedAsPayload() {
        GrpcMessageCount c = new GrpcMessageCount();
        assertThat(inspect(c, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0)).isEqualTo(1);
    }
}
