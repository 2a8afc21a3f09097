package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
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
 * HTTP/2 flow control bounds only DATA payload (plus padding), per stream by its window. So:
 * <ul>
 *   <li><b>Unknown frame types are dropped here.</b> RFC 9113 section 4.1: "Implementations MUST
 *       ignore and discard frames of unknown types"; ztunnel's h2 does (hyperium/h2
 *       src/codec/framed_read.rs, {@code Kind::Unknown}). Netty 4.2 hands them to the stream's
 *       channel instead, where a stream that does not read queued them without limit, 16 KiB of
 *       payload each, outside flow control and every budget (a hostile-peer pass, 5 December).
 *       HBONE defines no extension frame.
 *   <li><b>Queued DATA frames are counted.</b> Each frame held in a stream channel's queue costs
 *       {@link #FRAME_COST} bytes of objects besides its payload: 1-byte frames to an application
 *       that does not read held ~200 times what flow control counted. The inbound budgets count
 *       payload plus {@link #FRAME_COST} per queued frame ({@link #unreadFrames()},
 *       {@link TunnelCodec#unreadFrames()}).
 *   <li><b>A small DATA frame that waits is copied out of the buffer it shares.</b> A frame's payload
 *       is a slice of what TLS decrypted in one read (up to the read's size, or a cumulation as large
 *       as the largest frame, 1 MiB): one byte left unread kept the whole buffer. A frame that will
 *       wait (its stream already has frames queued) and is under a quarter of its buffer is copied
 *       into a buffer of its own, so that a waiting frame keeps at most four times what it counts. A
 *       stream that keeps up is never copied: its frames leave with the read that brought them.
 * </ul>
 *
 * <p>Only a server stream is counted: the client side has no inbound budget, and its stream has no id
 * when its codec joins. Event loop only.
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
    private final Http2Connection.PropertyKey key;
    /** DATA frames handed to this connection's counted tunnels and not read by them yet. */
    private long unreadFrames;

    InboundFrames(Http2Connection connection) {
        this.connection = connection;
        this.key = connection.newKey();
    }

    /** Counts {@code codec}'s queued frames from now on; its stream must be open (a server stream, id known). */
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

    /** {@code n} frames of a tunnel were read, or dropped with it. */
    void read(int n) {
        unreadFrames -= n;
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
            if (tunnel != null && tunnel.set != null) {
                if (tunnel.unreadFrames > 0) {
                    msg = ownBuffer(ctx.alloc(), data);
                }
                tunnel.unreadFrames++;
                unreadFrames++;
            }
        }
        ctx.fireChannelRead(msg);
    }

    /** {@code data}, or a copy of it in its own buffer when it uses under a quarter of the one it shares. */
    static Http2DataFrame ownBuffer(io.netty.buffer.ByteBufAllocator alloc, Http2DataFrame data) {
        ByteBuf content = data.content();
        int n = content.readableBytes();
        if ((long) n * 4 >= root(content).capacity()) {
            return data;
        }
        ByteBuf own = n == 0 ? Unpooled.EMPTY_BUFFER : alloc.buffer(n).writeBytes(content);
        Http2DataFrame copy = new DefaultHttp2DataFrame(own, data.isEndStream(), data.padding()).stream(data.stream());
        data.release();
        return copy;
    }

    private static ByteBuf root(ByteBuf b) {
        for (ByteBuf u; (u = b.unwrap()) != null; ) {
            b = u;
        }
        return b;
    }
}
