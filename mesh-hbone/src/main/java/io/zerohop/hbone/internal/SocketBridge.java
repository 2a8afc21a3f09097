package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;

/**
 * The event-loop side of a {@link TunnelSocket}: last handler of the tunnel channel
 * ({@link HbonePipeline#SOCKET}); queues what the tunnel reads into the {@link SocketState} and asks
 * for more only below its high-water mark, records the end of input, a reset, writability and the
 * channel's end, and wakes the blocked application threads.
 */
final class SocketBridge extends ChannelInboundHandlerAdapter {
    private final SocketState st;

    SocketBridge(SocketState st) {
        this.st = st;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (!buf.isReadable()) {
            // Queued, an empty buffer made read(b, off, len > 0) return 0, which InputStream's contract forbids (an
            // InputStreamReader throws on it): mesh-core's embedded L7 bridge passed the HTTP encoder's empty
            // end-of-message buffer until 5 December. The tunnel codec already drops empty DATA frames; this guards
            // every other handler that may sit in front.
            buf.release();
            return;
        }
        st.lock.lock();
        try {
            if (st.closed || st.discardInput || st.reset) {
                buf.release();
                return;
            }
            st.enqueue(buf, ctx.alloc());
            st.signalReadable();
        } finally {
            st.lock.unlock();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        boolean more;
        st.lock.lock();
        try {
            more = !st.eof && (st.buffered < SocketState.HIGH_WATER || st.discardInput || st.closed);
            st.readPending = more;
        } finally {
            st.lock.unlock();
        }
        if (more) {
            ctx.read();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        st.lock.lock();
        try {
            if (evt instanceof ChannelInputShutdownEvent) {
                st.eof = true;
            } else if (evt instanceof HboneStream.Reset) {
                st.reset = true;
                // A read after a reset throws whatever is queued: the bytes can never be read, so
                // they go now, not when (or if) the application closes the socket.
                st.releaseQueue();
            }
            st.signalReadable();
        } finally {
            st.lock.unlock();
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        // Writers wait on their connection's WriteBudget, not on this socket's lock.
        st.wakeWriters();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        st.lock.lock();
        try {
            st.inactive = true;
            if (st.closed) {
                st.releaseQueue();
            } else if (!st.queue.isEmpty()) {
                st.detachQueue();
            }
            st.signalReadable();
        } finally {
            st.lock.unlock();
        }
        st.wakeWriters();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        st.writeError = cause;
        st.wakeWriters();
        ctx.close();
    }
}
