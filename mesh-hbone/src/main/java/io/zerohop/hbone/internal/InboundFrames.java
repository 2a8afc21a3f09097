package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
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
 *   <li><b>A DATA frame that will wait is copied out of what it shares when it uses under a quarter
 *       of it.</b> A frame's payload is a slice of the decoder's cumulation, which keeps every buffer
 *       TLS decrypted into it: one byte left unread kept them all. A frame that will wait
 *       ({@link TunnelCodec#waits}: its channel does not read by itself, or already has frames
 *       queued) keeps at most four times its payload once copied or left alone; a frame delivered at
 *       once is never copied (a tunnel that keeps up). A tunnel whose relay is paused by a slow
 *       application has its small frames copied while it is paused.
 * </ul>
 *
 * <p>Only a server stream is counted: the client side has no inbound budget, and its stream has no id
 * when its codec joins (the client's handler only drops unknown frames). That leaves a hostile
 * destination able to queue 1-byte frames toward a caller's application that does not read, bounded
 * by the stream windows in bytes but not in frames (mesh-hbone README, "Known weak"). Event loop only.
 */
final class InboundFrames extends ChannelInboundHandlerAdapter {
    /**
     * What one queued DATA frame costs besides its payload, in bytes. Measured ({@code QueuedFramesTest}, JDK 17,
     * compressed references, 20,000 queued 1-byte frames, the leak detector's own objects left out): 184 bytes of heap
     * per copied frame (the frame 32, its pooled buffer 72, the buffer's reference count 16, the NIO view the copy
     * made 64), plus the copy's smallest allocation of direct memory and the frame's slot in the channel's queue.
     */
    static final int FRAME_COST = 256;

    private final Http2Connection connection;
    /** The stream property holding a counted tunnel's codec; null on the client, which counts nothing. */
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
    /** Runs every {@link #CHECK_FRAMES} counted frames (the server's look at its budgets), or null. */
    private Runnable onCounted;
    private int sinceLook;

    /** {@code look} runs every {@link #CHECK_FRAMES} counted frames, inside the read that brought them. */
    void onCounted(Runnable look) {
        this.onCounted = look;
    }

    /**
     * @param connection the connection's HTTP/2 state
     * @param counts true on the server: tunnels are counted ({@link #attach}), and its stream-closed listener must
     *     call {@link #streamClosed}; false on the client, which only drops unknown frames (no stream property)
     */
    InboundFrames(Http2Connection connection, boolean counts) {
        this.connection = connection;
        this.key = counts ? connection.newKey() : null;
    }

    /** Counts {@code codec}'s queued frames from now on; its stream must be open (a server stream, id known). */
    void attach(int streamId, TunnelCodec codec) {
        Http2Stream s = key == null ? null : connection.stream(streamId);
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
        TunnelCodec t = key == null ? null : stream.getProperty(key);
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
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2UnknownFrame unknown) {
            unknown.release();
            return;
        }
        if (key != null && msg instanceof Http2DataFrame data) {
            Http2FrameStream fs = data.stream();
            Http2Stream s = fs == null ? null : connection.stream(fs.id());
            TunnelCodec tunnel = s == null ? null : s.getProperty(key);
            // A frame that will not wait is read before this returns: neither copied nor counted (nothing made for it).
            if (tunnel != null && tunnel.set != null && tunnel.waits()) {
                data = ownBuffer(ctx.alloc(), data);
                msg = data;
                TunnelCodec.Rare q = tunnel.rare;
                if (q == null) {
                    q = tunnel.rare = new TunnelCodec.Rare();
                }
                q.frames++;
                q.bytes += data.initialFlowControlledBytes();
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

    /**
     * {@code data}, or a copy of it in its own buffer when it uses under a quarter of what it keeps: the buffer it is a
     * slice of, or, a slice of the decoder's composite cumulation ({@code H2Codecs}), every buffer of that composite.
     * When the copy cannot be made (direct memory ran out), {@code data} as it is.
     */
    static Http2DataFrame ownBuffer(io.netty.buffer.ByteBufAllocator alloc, Http2DataFrame data) {
        ByteBuf content = data.content();
        int n = content.readableBytes();
        if ((long) n * 4 >= kept(content)) {
            return data;
        }
        ByteBuf own = Unpooled.EMPTY_BUFFER;
        try {
            if (n > 0) {
                own = alloc.buffer(n);
                own.writeBytes(content);
            }
        } catch (OutOfMemoryError | RuntimeException e) {
            own.release();
            return data;
        }
        Http2DataFrame copy = new DefaultHttp2DataFrame(own, data.isEndStream(), data.padding()).stream(data.stream());
        data.release();
        return copy;
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
