package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import org.junit.jupiter.api.Test;

/**
 * {@link InboundFrames#ownBuffer}: which waiting DATA frames leave the buffer TLS decrypted them into; and
 * {@link QueuedDataFrame#append}: what a merged frame says to flow control.
 */
class InboundFramesTest {
    private final ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;

    @Test
    void aFrameUnderAQuarterOfItsBufferIsCopiedAndTheBufferReleased() {
        ByteBuf read = alloc.directBuffer(16_384).writeZero(16_384);
        read.setByte(100, 42);
        Http2DataFrame frame = new DefaultHttp2DataFrame(read.retainedSlice(100, 1), true, 3);
        read.release();

        Http2DataFrame out = InboundFrames.ownBuffer(alloc, frame);
        try {
            assertThat(out).isNotSameAs(frame);
            assertThat(read.refCnt()).as("the read's buffer, once the frame left it").isZero();
            assertThat(out.content().readableBytes()).isEqualTo(1);
            assertThat(out.content().getByte(out.content().readerIndex())).isEqualTo((byte) 42);
            assertThat(out.isEndStream()).isTrue();
            assertThat(out.padding()).isEqualTo(3);
            assertThat(out.initialFlowControlledBytes()).as("what flow control counts stays").isEqualTo(frame.initialFlowControlledBytes());
        } finally {
            out.release();
        }
    }

    /** A 16 KiB decrypted read, its frame a slice of it at {@code offset}, {@code length} long (the read's reference handed to the frame). */
    private Http2DataFrame sliceOfARead(ByteBuf read, int offset, int length, boolean endStream) {
        Http2DataFrame frame = new DefaultHttp2DataFrame(read.retainedSlice(offset, length), endStream);
        read.release();
        return frame;
    }

    @Test
    void anEmptyFrameKeepsNothingOfItsBuffer() {
        ByteBuf read = alloc.directBuffer(16_384).writeZero(16_384);
        Http2DataFrame frame = sliceOfARead(read, 16_384, 0, true);
        Http2DataFrame out = InboundFrames.ownBuffer(alloc, frame);
        assertThat(read.refCnt()).isZero();
        assertThat(out.content().readableBytes()).isZero();
        out.release();
    }

    @Test
    void aFrameOfAQuarterOrMoreStaysInItsBuffer() {
        ByteBuf read = alloc.directBuffer(16_384).writeZero(16_384);
        Http2DataFrame frame = sliceOfARead(read, 0, 4_096, false);
        Http2DataFrame out = InboundFrames.ownBuffer(alloc, frame);
        assertThat(out).isSameAs(frame);
        assertThat(read.refCnt()).isEqualTo(1);
        out.release();
        assertThat(read.refCnt()).isZero();
    }

    @Test
    void aSliceOfACompositeKeepsEveryBufferOfIt() {
        // The decoder's composite cumulation: the 9-byte tail of a 64 KiB read, then a 40-byte record.
        ByteBuf read = alloc.directBuffer(65_536).writeZero(65_536).skipBytes(65_536 - 9);
        ByteBuf record = alloc.directBuffer(40).writeZero(40);
        io.netty.buffer.CompositeByteBuf cumulation = alloc.compositeDirectBuffer().addComponents(true, read, record);
        Http2DataFrame frame = new DefaultHttp2DataFrame(cumulation.retainedSlice(cumulation.readerIndex() + 19, 30), false);
        cumulation.release();
        assertThat(InboundFrames.kept(frame.content())).as("both buffers, whole").isEqualTo(65_536 + 40);

        Http2DataFrame out = InboundFrames.ownBuffer(alloc, frame);
        assertThat(out).isNotSameAs(frame);
        assertThat(read.refCnt()).as("the 64 KiB read, once the frame left it").isZero();
        out.release();
    }

    @Test
    void whenTheCopyCannotBeMadeTheFrameGoesOnAsItIs() {
        ByteBufAllocator exhausted = new io.netty.buffer.AbstractByteBufAllocator(true) {
            @Override
            protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
                throw new OutOfMemoryError("Cannot reserve 16 bytes of direct buffer memory");
            }

            @Override
            protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
                throw new OutOfMemoryError("Cannot reserve 16 bytes of direct buffer memory");
            }

            @Override
            public boolean isDirectBufferPooled() {
                return false;
            }
        };
        ByteBuf read = alloc.directBuffer(16_384).writeZero(16_384);
        Http2DataFrame frame = sliceOfARead(read, 0, 1, false);
        Http2DataFrame out = InboundFrames.ownBuffer(exhausted, frame);
        assertThat(out).isSameAs(frame);
        assertThat(read.refCnt()).as("still the frame's, released with it").isEqualTo(1);
        out.release();
        assertThat(read.refCnt()).isZero();
    }

    @Test
    void aSmallFrameIsCopiedThoughItUsesMostOfItsBuffer() {
        // Each small frame in a TLS record of its own kept little beyond itself, and still cost a frame each queued.
        ByteBuf read = alloc.directBuffer(600).writeZero(600);
        Http2DataFrame frame = sliceOfARead(read, 50, 500, false);
        Http2DataFrame out = InboundFrames.ownBuffer(alloc, frame);
        assertThat(out).isInstanceOf(QueuedDataFrame.class);
        assertThat(read.refCnt()).isZero();
        out.release();
    }

    @Test
    void aQueuedFrameTakesTheStreamsNextFramesAndSaysWhatTheyAllCounted() {
        QueuedDataFrame q = (QueuedDataFrame) InboundFrames.ownBuffer(alloc,
                new DefaultHttp2DataFrame(alloc.buffer().writeBytes(new byte[] {1, 2}), false, 3));
        Http2DataFrame second = new DefaultHttp2DataFrame(alloc.buffer().writeBytes(new byte[] {3}), false, 0);
        Http2DataFrame third = new DefaultHttp2DataFrame(alloc.buffer().writeBytes(new byte[] {4, 5, 6}), false, 10);
        try {
            assertThat(q.append(second)).isTrue();
            assertThat(q.append(third)).isTrue();
            assertThat(io.netty.buffer.ByteBufUtil.getBytes(q.content())).containsExactly(1, 2, 3, 4, 5, 6);
            // Each frame's payload plus padding (Netty counts the pad length octet in padding): the window the tunnel returns.
            assertThat(q.initialFlowControlledBytes()).isEqualTo((2 + 3) + (1 + 0) + (3 + 10));
            assertThat(q.padding()).isEqualTo(13);
            assertThat(q.isEndStream()).isFalse();
            assertThat(second.refCnt()).as("an appended frame is released").isZero();
            assertThat(third.refCnt()).isZero();
        } finally {
            for (Http2DataFrame f : new Http2DataFrame[] {second, third}) {
                if (f.refCnt() > 0) {
                    f.release();
                }
            }
        }
        Http2DataFrame tooMuch = new DefaultHttp2DataFrame(alloc.buffer().writeZero(InboundFrames.MERGED_MAX - 5), false);
        try {
            assertThat(q.append(tooMuch)).as("past the most payload a merged frame holds").isFalse();
            assertThat(q.content().readableBytes()).isEqualTo(6);
            assertThat(q.initialFlowControlledBytes()).as("unchanged by a refused append").isEqualTo(19);
        } finally {
            tooMuch.release();
            q.release();
        }
    }

    @Test
    void aFrameThatEndsTheStreamIsNeverAppended() {
        // Appended, its END_STREAM was lost: the application read every byte and never its end (helper 248's review).
        QueuedDataFrame q = (QueuedDataFrame) InboundFrames.ownBuffer(alloc,
                new DefaultHttp2DataFrame(alloc.buffer().writeBytes(new byte[] {1}), false));
        Http2DataFrame end = new DefaultHttp2DataFrame(alloc.buffer().writeBytes(new byte[] {2}), true);
        Http2DataFrame emptyEnd = new DefaultHttp2DataFrame(true);
        try {
            assertThat(q.append(end)).isFalse();
            assertThat(q.append(emptyEnd)).isFalse();
            assertThat(q.content().readableBytes()).isEqualTo(1);
        } finally {
            end.release();
            emptyEnd.release();
            q.release();
        }
    }

    @Test
    void aFrameThatEndsItsStreamTakesNothingMore() {
        QueuedDataFrame q = (QueuedDataFrame) InboundFrames.ownBuffer(alloc,
                new DefaultHttp2DataFrame(alloc.buffer().writeBytes(new byte[] {1}), true));
        Http2DataFrame next = new DefaultHttp2DataFrame(alloc.buffer().writeBytes(new byte[] {2}), false);
        try {
            assertThat(q.append(next)).isFalse();
            assertThat(q.content().readableBytes()).isEqualTo(1);
        } finally {
            next.release();
            q.release();
        }
    }
}
