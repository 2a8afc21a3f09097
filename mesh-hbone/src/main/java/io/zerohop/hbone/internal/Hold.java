package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.io.IOException;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hold until ready: keeps what reaches it (messages, and the in-band end-of-input events
 * {@link ChannelInputShutdownEvent} and {@link HboneStream.Reset}, in order with the bytes) until the
 * handlers behind it are in place, then replays it into them and leaves the pipeline. Other user
 * events pass at once. What is held is released (reference counts) when the channel goes inactive,
 * the hold is removed, or {@link #fail} is called; past {@code maxBytes} held it fails by itself.
 *
 * <p>Used where bytes can arrive before their consumer exists: decrypted HTTP/2 frames riding in
 * with the TLS Finished before the h2 codec is added (Netty's ApplicationProtocolNegotiationHandler
 * buffers them for the same reason), and tunnel DATA/END_STREAM read with the CONNECT HEADERS before
 * the tunnel's handlers first read. Written for captured connections waiting for their tunnel and
 * the L7 sniffer too: a subclass sees each held item in {@link #held}.
 *
 * <p>A hold made {@linkplain #Hold(long, boolean) to keep failures} (a TCP connection waiting for its relay) keeps its
 * epoll registration valid from the moment it is added ({@link Transports#keepEpollRegistered}), and also keeps the
 * {@link IOException}s that reach it, in order, and replays them as {@code exceptionCaught}: a
 * connection's read error (a peer's reset) then reaches a relay joined later as the failure it is,
 * not only as the end of input that epoll fires after it (AbstractEpollStreamChannel
 * handleReadException). Other exceptions pass at once.
 *
 * <p>Event loop only. Not sharable.
 */
public class Hold extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(Hold.class);

    private final long maxBytes;
    private final boolean holdsFailures;
    /** Whether small buffers are merged ({@link #mergingSmallBuffers}). */
    private boolean mergesSmall;
    /** The queue's last item when it is a buffer this hold made and small buffers may be appended to it; else null. */
    private ByteBuf merging;
    private ArrayDeque<Object> queue;
    private long bytes;
    private boolean released;
    private ChannelHandlerContext ctx;

    /** Bounded only by the caller's flow control (the TLS record, the HTTP/2 stream window). */
    public Hold() {
        this(Long.MAX_VALUE);
    }

    /** @param maxBytes held payload bytes past which the hold {@linkplain #fail fails}; positive */
    public Hold(long maxBytes) {
        this(maxBytes, false);
    }

    /**
     * @param maxBytes held payload bytes past which the hold {@linkplain #fail fails}; positive
     * @param holdsFailures whether {@link IOException}s are held too (in order with the rest)
     */
    public Hold(long maxBytes, boolean holdsFailures) {
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
        }
        this.maxBytes = maxBytes;
        this.holdsFailures = holdsFailures;
    }

    /**
     * A hold that merges the small buffers it keeps ({@link SmallBuffers}): a client tunnel's, which keeps what its peer
     * sends until the application first reads, bounded only by the stream window in bytes (a hostile destination's
     * 1-byte DATA frames held ~150 bytes of objects each). A subclass sees each held item, so none is.
     */
    static Hold mergingSmallBuffers() {
        Hold h = new Hold();
        h.mergesSmall = true;
        return h;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        if (holdsFailures && ctx.channel() instanceof io.netty.channel.socket.DuplexChannel) {
            // A TCP connection waiting for its relay: epoll reads its peer's bytes and FIN (EPOLLRDHUP) with auto-read
            // off, which leaves the fd's interest set empty, so Netty's epoll bug would delete the fd before the relay
            // exists and fail the relay's first read (Transports.keepEpollRegistered; RelayHalfCloseTest).
            Transports.keepEpollRegistered(ctx.channel());
        }
    }

    /** The context this hold was added with (null before). */
    protected final ChannelHandlerContext context() {
        return ctx;
    }

    /** Called after {@code item} (a message, an end-of-input event or a held failure) was queued. */
    protected void held(ChannelHandlerContext ctx, Object item) {}

    /** Payload bytes held now. */
    public final long heldBytes() {
        return bytes;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (released) {
            ctx.fireChannelRead(msg);
            return;
        }
        bytes += msg instanceof ByteBuf b ? b.readableBytes() : msg instanceof ByteBufHolder h ? h.content().readableBytes() : 0;
        if (mergesSmall && msg instanceof ByteBuf b && SmallBuffers.small(b)) {
            if (SmallBuffers.appendTo(merging, b)) {
                if (bytes > maxBytes) {
                    fail(new IllegalStateException("more than " + maxBytes + " bytes arrived before " + ctx.channel() + " was ready"));
                }
                return;
            }
            ByteBuf own = SmallBuffers.copyOf(ctx.alloc(), b);
            merging = own;
            if (own != null) {
                msg = own;
            }
        } else {
            merging = null;
        }
        queue().add(msg);
        if (bytes > maxBytes) {
            fail(new IllegalStateException("more than " + maxBytes + " bytes arrived before " + ctx.channel() + " was ready"));
            return;
        }
        held(ctx, msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (released) {
            ctx.fireChannelReadComplete();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (released || !(evt instanceof ChannelInputShutdownEvent || evt instanceof HboneStream.Reset)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        merging = null;
        queue().add(evt);
        held(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (Transports.readWhileDialling(ctx.channel(), cause)) {
            return;
        }
        if (released || !holdsFailures || !(cause instanceof IOException)) {
            ctx.fireExceptionCaught(cause);
            return;
        }
        merging = null;
        queue().add(cause);
        held(ctx, cause);
    }

    private ArrayDeque<Object> queue() {
        if (queue == null) {
            queue = new ArrayDeque<>(4);
        }
        return queue;
    }

    /**
     * Replays everything held, in order, into the handlers after this one (one
     * {@code channelReadComplete} after it, if anything was held), then removes this handler; later
     * reads pass straight through. Event loop only; once; a no-op after {@link #fail}.
     */
    public final void release() {
        if (released || ctx == null || ctx.isRemoved()) {
            return;
        }
        released = true;
        merging = null;
        ArrayDeque<Object> q = queue;
        queue = null;
        bytes = 0;
        if (q != null && !q.isEmpty()) {
            for (Object m; (m = q.poll()) != null; ) {
                if (m instanceof ChannelInputShutdownEvent || m instanceof HboneStream.Reset) {
                    ctx.fireUserEventTriggered(m);
                } else if (m instanceof Throwable t) {
                    ctx.fireExceptionCaught(t);
                } else {
                    ctx.fireChannelRead(m);
                }
            }
            ctx.fireChannelReadComplete();
        }
        if (!ctx.isRemoved()) {
            ctx.pipeline().remove(this);
        }
    }

    /**
     * Hands over everything held, in order, without releasing it (the caller owns the messages now),
     * and leaves the pipeline; later reads pass straight through. Null when nothing was held.
     * Event loop only; a no-op returning null after {@link #release} or {@link #fail}.
     */
    final ArrayDeque<Object> take() {
        if (released) {
            return null;
        }
        released = true;
        merging = null;
        ArrayDeque<Object> q = queue;
        queue = null;
        bytes = 0;
        if (ctx != null && !ctx.isRemoved()) {
            ctx.pipeline().remove(this);
        }
        return q;
    }

    /**
     * Gives up: releases what is held, leaves the pipeline and closes the channel. Event loop only.
     */
    public final void fail(Throwable cause) {
        if (released) {
            return;
        }
        released = true;
        discard();
        log.debug("hold on {} failed", ctx.channel(), cause);
        if (!ctx.isRemoved()) {
            ctx.pipeline().remove(this);
        }
        ctx.channel().close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        discard();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        discard();
    }

    private void discard() {
        merging = null;
        ArrayDeque<Object> q = queue;
        queue = null;
        bytes = 0;
        if (q != null) {
            for (Object m; (m = q.poll()) != null; ) {
                ReferenceCountUtil.release(m);
            }
        }
    }
}
