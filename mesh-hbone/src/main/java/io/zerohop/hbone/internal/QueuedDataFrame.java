package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameStream;

/**
 * A DATA frame {@link InboundFrames} made for a tunnel whose channel does not read: the payload of one or more received
 * DATA frames of one stream, in a buffer of its own, to which the stream's next small frames are appended while this
 * one still waits in the channel's queue ({@link #append}). What it reports for flow control is the sum of what its
 * frames counted (payload and padding), so the window the tunnel returns when it reads this frame is what those frames
 * took ({@link #initialFlowControlledBytes}). Event loop only; not shared.
 */
final class QueuedDataFrame extends DefaultByteBufHolder implements Http2DataFrame {
    private Http2FrameStream stream;
    private final boolean endStream;
    private int padding;
    private int flowControlled;

    /**
     * @param content        the payload, owned by the frame
     * @param flowControlled what the frame (or frames) counted against the windows: payload plus padding
     */
    QueuedDataFrame(ByteBuf content, boolean endStream, int padding, int flowControlled, Http2FrameStream stream) {
        super(content);
        this.endStream = endStream;
        this.padding = padding;
        this.flowControlled = flowControlled;
        this.stream = stream;
    }

    /**
     * Appends {@code data}'s payload and releases {@code data} when neither frame ends the stream (a merged frame says
     * END_STREAM only as its own: appended, an incoming END_STREAM was lost, and with it the peer's half-close; helper
     * 248's review) and the payload fits this frame's buffer ({@link InboundFrames#MERGED_MAX} bytes, as
     * {@link SmallBuffers#copyOf} made it). False, {@code data} left as it is and nothing changed, otherwise (also when
     * the buffer cannot grow: direct memory ran out).
     */
    boolean append(Http2DataFrame data) {
        if (endStream || data.isEndStream()) {
            return false;
        }
        int theirPadding = data.padding();
        int theirFlowControlled = data.initialFlowControlledBytes();
        if (!SmallBuffers.appendTo(content(), data.content())) {
            return false;
        }
        padding += theirPadding;
        flowControlled += theirFlowControlled;
        return true;
    }

    @Override
    public Http2FrameStream stream() {
        return stream;
    }

    @Override
    public QueuedDataFrame stream(Http2FrameStream stream) {
        this.stream = stream;
        return this;
    }

    @Override
    public String name() {
        return "DATA";
    }

    /** The padding of every frame appended, summed: may exceed one frame's 255. */
    @Override
    public int padding() {
        return padding;
    }

    @Override
    public int initialFlowControlledBytes() {
        return flowControlled;
    }

    @Override
    public boolean isEndStream() {
        return endStream;
    }

    @Override
    public QueuedDataFrame copy() {
        return replace(content().copy());
    }

    @Override
    public QueuedDataFrame duplicate() {
        return replace(content().duplicate());
    }

    @Override
    public QueuedDataFrame retainedDuplicate() {
        return replace(content().retainedDuplicate());
    }

    @Override
    public QueuedDataFrame replace(ByteBuf content) {
        return new QueuedDataFrame(content, endStream, padding, flowControlled, stream);
    }

    @Override
    public QueuedDataFrame retain() {
        super.retain();
        return this;
    }

    @Override
    public QueuedDataFrame retain(int increment) {
        super.retain(increment);
        return this;
    }

    @Override
    public QueuedDataFrame touch() {
        super.touch();
        return this;
    }

    @Override
    public QueuedDataFrame touch(Object hint) {
        super.touch(hint);
        return this;
    }

    /** Identity: its content grows while it is queued, so content equality (DefaultByteBufHolder's) would change under a map. */
    @Override
    public boolean equals(Object o) {
        return this == o;
    }

    @Override
    public int hashCode() {
        return System.identityHashCode(this);
    }

    @Override
    public String toString() {
        return "QueuedDataFrame(stream=" + stream + ", content=" + content() + ", endStream=" + endStream + ", flowControlled="
                + flowControlled + ')';
    }
}
