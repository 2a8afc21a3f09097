package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * Small buffers that wait in a queue of ours, merged: a queue bounded in bytes held far more than its bytes when they
 * came one small buffer each (~150 bytes of objects per buffer, whatever its size: a hostile destination's 1-byte DATA
 * frames, a hostile-peer pass of 5 December). A small buffer is copied into one of its own, which later small buffers
 * are appended to while it is the queue's last, up to {@link InboundFrames#MERGED_MAX} bytes. Used by the queues that
 * wait for an application ({@link SocketState#enqueue}, a client tunnel's {@link Hold} before its first read);
 * {@link InboundFrames} does the same for DATA frames in a stream channel's queue.
 */
final class SmallBuffers {
    private SmallBuffers() {}

    /** Whether {@code buf} is small enough to be merged: under {@link InboundFrames#MERGE_BELOW} bytes. */
    static boolean small(ByteBuf buf) {
        return buf.readableBytes() < InboundFrames.MERGE_BELOW;
    }

    /**
     * Appends {@code buf}'s bytes to {@code tail}, a buffer {@link #copyOf} made, and releases {@code buf}; false, with
     * nothing changed, when {@code tail} is null or has no room (or cannot grow: direct memory ran out).
     */
    static boolean appendTo(ByteBuf tail, ByteBuf buf) {
        int n = buf.readableBytes();
        if (tail == null || tail.maxWritableBytes() < n) {
            return false;
        }
        try {
            tail.writeBytes(buf, buf.readerIndex(), n);
        } catch (OutOfMemoryError | RuntimeException e) {
            return false;
        }
        buf.release();
        return true;
    }

    /**
     * A copy of {@code buf} in a buffer of its own that can grow to {@link InboundFrames#MERGED_MAX} bytes, {@code buf}
     * released; null when it cannot be made (direct memory ran out), {@code buf} left as it is.
     */
    static ByteBuf copyOf(ByteBufAllocator alloc, ByteBuf buf) {
        int n = buf.readableBytes();
        ByteBuf own = null;
        try {
            own = alloc.buffer(n, Math.max(n, InboundFrames.MERGED_MAX));
            own.writeBytes(buf, buf.readerIndex(), n);
        } catch (OutOfMemoryError | RuntimeException e) {
            if (own != null) {
                own.release();
            }
            return null;
        }
        buf.release();
        return own;
    }
}
