package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.ssl.SslHandler;

/**
 * Sits right behind an HBONE connection's {@link SslHandler} (which then wraps every buffer it gets
 * as it is: {@code setWrapDataSize(0)}) and decides how the HTTP/2 frames are cut into what TLS
 * encrypts in one go:
 *
 * <ul>
 *   <li>Buffers under {@link #RECORD} bytes (frame headers, HEADERS, SETTINGS, WINDOW_UPDATE, small
 *       DATA) written between two flushes are copied together into one buffer of up to
 *       {@link #RECORD} bytes, one TLS record, as SslHandler's own coalescing does (a lone one goes on
 *       as it is): the CONNECTs written in one event-loop pass still share a record and a
 *       {@code send()}.</li>
 *   <li>Larger buffers (DATA payloads) go on uncopied, in slices of {@link #UNIT} bytes: SslHandler
 *       encrypts each slice into {@code UNIT / 16 KiB} records in one output buffer, one write and
 *       one {@code writev} entry (its {@code wrapMultiple}).</li>
 * </ul>
 *
 * <p>Why (issue 14, node pair): with SslHandler's default (coalesce up to 16 KiB per wrap) a DATA
 * payload was wrapped 16 KiB at a time, each record with its own output buffer, promise, outbound
 * buffer entry and {@code writev} vector, and the first record of every frame was assembled by
 * copying up to 16 KiB of payload behind the 9-byte frame header. A larger SslHandler wrap size
 * batches records but copies up to that much per frame (tried and reverted:
 * benchmarks/results/bytes-a7184a3.md section 8); wrapping each buffer as it is batches without
 * copies but makes a record of every small frame and, for a 1 MiB frame, an output buffer above the
 * pooled allocator's largest size (a new zeroed chunk per frame). Here a DATA frame costs one small
 * record for its header (or shares one with the frames before it) and no copy.
 *
 * <p>Event loop only. A write's promise completes when its bytes were written (for coalesced
 * buffers, when the record holding them was); large buffers' earlier slices carry no promise,
 * the last one carries the write's (the outbound buffer completes writes in order and fails all
 * that are left when the connection fails).
 */
final class TlsRecords extends ChannelOutboundHandlerAdapter {
    /** Coalescing target: one TLS record's plaintext (RFC 8446 section 5.1: 2^14 bytes). */
    static final int RECORD = 16 * 1024;
    /** Slice of a large buffer handed to TLS at once: 4 records, an output buffer the pooled allocator keeps. */
    static final int UNIT = 64 * 1024;

    /** Small buffers copied together; null when there are none. */
    private ByteBuf pending;
    /** The promise to complete when {@link #pending} was written; null when all were void. */
    private ChannelPromise pendingPromise;
    private boolean aggregated;
    /** Whether {@link #pending} is our copy (else it is the one small buffer written so far). */
    private boolean copied;

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (!(msg instanceof ByteBuf buf)) {
            emit(ctx);
            ctx.write(msg, promise);
            return;
        }
        int n = buf.readableBytes();
        if (n < RECORD) {
            if (pending != null && pending.readableBytes() + n > RECORD) {
                emit(ctx);
            }
            if (pending == null) {
                // A lone small write (one WINDOW_UPDATE, one echo) goes on as it is, uncopied.
                pending = buf;
            } else {
                if (!copied) {
                    ByteBuf first = pending;
                    pending = ctx.alloc().directBuffer(RECORD);
                    copied = true;
                    pending.writeBytes(first);
                    first.release();
                }
                try {
                    pending.writeBytes(buf);
                } finally {
                    buf.release();
                }
            }
            addPromise(ctx, promise);
            return;
        }
        emit(ctx);
        while (buf.readableBytes() > UNIT) {
            ctx.write(buf.readRetainedSlice(UNIT), ctx.voidPromise());
        }
        ctx.write(buf, promise);
    }

    private void addPromise(ChannelHandlerContext ctx, ChannelPromise promise) {
        if (promise.isVoid()) {
            return;
        }
        if (pendingPromise == null) {
            pendingPromise = promise;
            return;
        }
        if (!aggregated) {
            ChannelPromise all = ctx.newPromise();
            all.addListener(notifier(pendingPromise));
            pendingPromise = all;
            aggregated = true;
        }
        pendingPromise.addListener(notifier(promise));
    }

    private static ChannelFutureListener notifier(ChannelPromise p) {
        return f -> {
            if (f.isSuccess()) {
                p.trySuccess();
            } else {
                p.tryFailure(f.cause());
            }
        };
    }

    /** Writes the coalesced small buffers, if any, as one buffer. */
    private void emit(ChannelHandlerContext ctx) {
        ByteBuf buf = pending;
        if (buf == null) {
            return;
        }
        ChannelPromise promise = pendingPromise;
        pending = null;
        pendingPromise = null;
        aggregated = false;
        copied = false;
        ctx.write(buf, promise == null ? ctx.voidPromise() : promise);
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
        emit(ctx);
        ctx.flush();
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        // TLS writes what it was given before its close_notify.
        emit(ctx);
        ctx.close(promise);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        // Closed without a flush (Transports.closeNow starts below this handler): drop what waits.
        ByteBuf buf = pending;
        if (buf != null) {
            ChannelPromise promise = pendingPromise;
            pending = null;
            pendingPromise = null;
            aggregated = false;
            copied = false;
            buf.release();
            if (promise != null) {
                promise.tryFailure(new java.nio.channels.ClosedChannelException());
            }
        }
    }
}
