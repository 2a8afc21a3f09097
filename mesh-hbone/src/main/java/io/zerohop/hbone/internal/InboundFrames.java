package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2UnknownFrame;

/**
 * Between a connection's HTTP/2 codec and its multiplexer ({@code hbone-h2-frames}): what a stream
 * channel queues while its tunnel does not read, bounded by what the inbound budgets count.
 *
 * <p>Netty queues each frame of a stream channel that is not reading, without a bound of its own;
 * HTTP/2 flow control bounds only DATA payload (plus padding), per stream by its window, and forgets a
 * stream's bytes once the stream closes. So:
 * <ul>
 *   <li><b>Unknown frame types are dropped here.</b> RFC 9113 section 4.1: "Implementations MUST
 *       ignore and discard frames of unknown types"; ztunnel's h2 does (hyperium/h2
 *       src/codec/framed_read.rs, {@code Kind::Unknown}). Netty 4.2 hands them to the stream's
 *       channel instead, where a stream that does not read queued them without limit, up to the
 *       maximum frame size (1 MiB) each, outside flow control and every budget (a hostile-peer
 *       pass, 5 December). HBONE defines no extension frame.
 *   <li><b>Queued DATA frames are counted.</b> Each frame held in a stream channel's queue costs
 *       {@link #FRAME_COST} bytes of objects besides its payload: 1-byte frames to an application
 *       that does not read held ~200 times what flow control counted. The inbound budgets count
 *       {@link #FRAME_COST} per queued frame ({@link #unreadFrames()}) and, for a tunnel whose
 *       stream closed with frames queued (its peer ended or reset it while its application was not
 *       reading), their bytes, which the flow controller no longer counts ({@link #closedStreamBytes()}).
 *   <li><b>A DATA frame that will wait is copied out of what it shares when it is small or uses
 *       under a quarter of it, and a stream's small waiting frames are merged.</b> A frame's payload is
 *       a slice of the decoder's cumulation, which keeps every buffer TLS decrypted into it: one byte
 *       left unread kept them all. A frame that will wait ({@link TunnelCodec#waits}: no read of its
 *       channel is under way, or it already has frames queued) of under {@link #MERGE_BELOW} bytes, or of
 *       under a quarter of what it keeps, goes into a {@link QueuedDataFrame} of its own, and the
 *       stream's next such frames are appended to that one while it waits (up to {@link #MERGED_MAX}
 *       bytes of payload): 1-byte frames cost their bytes, not a frame each, on the client (which has
 *       no inbound budget) as on the server. A frame that ends its stream is never appended. A frame
 *       delivered at once is never copied (a tunnel that keeps up). Beyond what ztunnel's h2 does: it queues each received DATA frame's payload as
 *       it came (hyperium/h2 src/proto/streams/recv.rs, {@code recv_data} pushes
 *       {@code Event::Data(frame.into_payload())} onto the stream's {@code pending_recv}).
 * </ul>
 *
 * <p>Both sides attach their tunnels ({@link #attach}): the server's when they join their connection,
 * the client's when its CONNECT's response arrives (its stream has no id before its HEADERS went
 * out). The counts ({@link #unreadFrames}, {@link #closedStreamBytes}) go to the server's inbound
 * budget and to a client's when it has one ({@link InboundGuard}); a frame that is not copied (at
 * least {@link #MERGE_BELOW} bytes and a quarter of what it keeps) queues as it is, uncounted on a
 * client without a budget: at most {@link #FRAME_COST} of objects per
 * {@link #MERGE_BELOW} bytes of payload, and at most four times its payload kept. Event loop only.
 */
final class InboundFrames extends ChannelInboundHandlerAdapter {
    /**
     * What one queued DATA frame costs besides its payload, in bytes. Measured ({@code QueuedFramesTest}, JDK 17,
     * compressed references, 20,000 queued 1-byte frames before they were merged, the leak detector's own objects left
     * out): 184 bytes of heap per copied frame (the frame 32, its pooled buffer 72, the buffer's reference count 16, the NIO view the copy
     * made 64), plus the copy's smallest allocation of direct memory and the frame's slot in the channel's queue.
     */
    static final int FRAME_COST = 256;

    /** A waiting DATA frame with less payload is always copied (and merged): see the class comment. */
    static final int MERGE_BELOW = 1024;
    /** The most payload a {@link QueuedDataFrame} holds: HTTP/2's default maximum frame size. */
    static final int MERGED_MAX = 16_384;

    private final Http2Connection connection;
    /** The stream property holding an attached tunnel's codec. */
    private final Http2Connection.PropertyKey key;
    /** DATA frames handed to this connection's counted tunnels and not read by them yet. */
    private long unreadFrames;
    /**
     * Flow-controlled bytes (payload and padding) of those frames whose stream has closed: Netty's flow controller
     * forgets a closed stream's bytes (it returns them to the connection window), but its channel keeps the frames
     * until its application reads them (a tunnel whose peer ended or reset it while its application was not reading).
     */
    private long closedStreamBytes;

    /**
     * Counted frames between two looks at the budgets inside one read of the connection ({@link #onCounted}): 64 KiB
     * of count at {@link #FRAME_COST} each. A read of the connection can carry ~100,000 DATA frames of 1 byte, 27 MB of
     * count at 256 bytes each, and the budgets were looked at only after it: one peer's 6 connections held five times
     * its 32 MiB budget and the shipped proxy ran out of heap (a new-user pass, 5 December).
     */
    static final int CHECK_FRAMES = 256;
    /** DATA frames copied into a {@link QueuedDataFrame} so far, all connections (tests: a tunnel that keeps up has none). */
    static final java.util.concurrent.atomic.LongAdder MADE = new java.util.concurrent.atomic.LongAdder();
    /** Runs every {@link #CHECK_FRAMES} counted frames (the server's look at its budgets), or null. */
    private Runnable onCounted;
    private int sinceLook;

    /** {@code look} runs every {@link #CHECK_FRAMES} counted frames, inside the read that brought them. */
    void onCounted(Runnable look) {
        this.onCounted = look;
    }

    /**
     * @param connection the connection's HTTP/2 state; with a budget its stream-closed listener must call
     *     {@link #streamClosed} ({@link InboundGuard} does)
     */
    InboundFrames(Http2Connection connection) {
        this.connection = connection;
        this.key = connection.newKey();
    }

    /** Counts and merges {@code codec}'s waiting frames from now on; its stream must be open (its id known). */
    void attach(int streamId, TunnelCodec codec) {
        Http2Stream s = connection.stream(streamId);
        if (s != null) {
            s.setProperty(key, codec);
        }
    }

    /** DATA frames handed to this connection's counted tunnels and not read by them yet. */
    long unreadFrames() {
        return unreadFrames;
    }

    /** What this connection's tunnels hold that its flow controller does not count: see {@link #closedStreamBytes}. */
    long closedStreamBytes() {
        return closedStreamBytes;
    }

    /** What the budgets count for {@code q} besides what the flow controller counts for its stream while open. */
    static long held(TunnelCodec.Rare q) {
        return q == null ? 0 : (q.streamGone ? q.bytes : 0) + (long) q.frames * FRAME_COST;
    }

    /** The stream of a counted tunnel closed: from now on its queued bytes are counted here. */
    void streamClosed(Http2Stream stream) {
        TunnelCodec t = stream.getProperty(key);
        TunnelCodec.Rare q = t == null || t.set == null ? null : t.rare;
        if (q != null && !q.streamGone) {
            q.streamGone = true;
            closedStreamBytes += q.bytes;
        }
    }

    /** A counted tunnel read a queued DATA frame of {@code flowControlled} bytes. */
    void read(TunnelCodec.Rare q, int flowControlled) {
        q.frames--;
        unreadFrames--;
        int n = Math.min(flowControlled, q.bytes);
        q.bytes -= n;
        if (q.streamGone) {
            closedStreamBytes -= n;
        }
    }

    /** A counted tunnel left its set: what it still has queued is dropped with its channel, or read uncounted. */
    void forget(TunnelCodec.Rare q) {
        unreadFrames -= q.frames;
        if (q.streamGone) {
            closedStreamBytes -= q.bytes;
        }
        q.frames = 0;
        q.bytes = 0;
        q.last = null;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2UnknownFrame unknown) {
            unknown.release();
            return;
        }
        if (msg instanceof Http2DataFrame data) {
            Http2FrameStream fs = data.stream();
            Http2Stream s = fs == null ? null : connection.stream(fs.id());
            TunnelCodec tunnel = s == null ? null : s.getProperty(key);
            if (tunnel != null && tunnel.set != null && !tunnel.waits()) {
                // Read before this returns: neither copied nor counted (nothing made for it). Nothing may be appended
                // ahead of it either (helper 248's review).
                if (tunnel.rare != null) {
                    tunnel.rare.last = null;
                }
            } else if (tunnel != null && tunnel.set != null) {
                TunnelCodec.Rare q = tunnel.rare;
                if (q == null) {
                    q = tunnel.rare = new TunnelCodec.Rare();
                }
                int flowControlled = data.initialFlowControlledBytes();
                QueuedDataFrame last = q.last;
                // Still in the channel's queue (the codec forgets it as it reads it; a closed channel dropped it).
                if (last != null && tunnel.channel.isOpen() && copied(data) && last.append(data)) {
                    q.bytes += flowControlled;
                    return;
                }
                data = ownBuffer(ctx.alloc(), data);
                msg = data;
                q.last = data instanceof QueuedDataFrame made && !made.isEndStream() ? made : null;
                q.frames++;
                q.bytes += flowControlled;
                unreadFrames++;
                if (++sinceLook >= CHECK_FRAMES && onCounted != null) {
                    sinceLook = 0;
                    ctx.fireChannelRead(msg);
                    onCounted.run();
                    return;
                }
            }
        }
        ctx.fireChannelRead(msg);
    }

    /** Whether a waiting frame is copied out of what it shares: under {@link #MERGE_BELOW} bytes, or a quarter of what it keeps. */
    static boolean copied(Http2DataFrame data) {
        ByteBuf content = data.content();
        int n = content.readableBytes();
        return n < MERGE_BELOW || (long) n * 4 < kept(content);
    }

    /**
     * {@code data}, or a {@link QueuedDataFrame} holding a copy of its payload when it is {@link #copied}; {@code data} is
     * released then. When the copy cannot be made (direct memory ran out), {@code data} as it is.
     */
    static Http2DataFrame ownBuffer(io.netty.buffer.ByteBufAllocator alloc, Http2DataFrame data) {
        if (!copied(data)) {
            return data;
        }
        ByteBuf own = SmallBuffers.copyOf(alloc, data.content()); // releases data once copied
        if (own == null) {
            return data;
        }
        MADE.increment();
        return new QueuedDataFrame(own, data.isEndStream(), data.padding(), data.initialFlowControlledBytes(), data.stream());
    }

    /** Bytes of memory {@code b} keeps: its root buffer's capacity, or the sum of a composite root's parts'. */
    static long kept(ByteBuf b) {
        ByteBuf r = root(b);
        if (r instanceof CompositeByteBuf c) {
            long sum = 0;
            for (int i = 0; i < c.numComponents(); i++) {
                sum += kept(c.internalComponent(i));
            }
            return sum;
        }
        return r.capacity();
    }

    private static ByteBuf root(ByteBuf b) {
        for (ByteBuf u; (u = b.unwrap()) != null; ) {
            b = u;
        }
        return b;
    }
}
