package io.zerohop.hbone.internal;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * Holds decrypted bytes that reach the connection handler before it has reacted to the
 * handshake-completion event and installed the HTTP/2 codec. TLS 1.3 lets the peer's first HTTP/2
 * frames ride in the same read as its Finished; were such bytes passed on before the codec exists,
 * the connection preface would fall off the end of the pipeline and the connection would stall until
 * a timeout (Netty's ApplicationProtocolNegotiationHandler holds reads for the same reason). Handlers
 * call {@link #release(ChannelHandlerContext)} right after installing the codec, on the event loop.
 */
abstract class HandshakeHold extends ChannelInboundHandlerAdapter {
    private ArrayDeque<Object> held;
    private boolean open;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (open) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (held == null) {
            held = new ArrayDeque<>(2);
        }
        held.add(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (open) {
            ctx.fireChannelReadComplete();
        }
    }

    /** Passes everything held, in order, to the handlers after this one; later reads go straight through. */
    protected final void release(ChannelHandlerContext ctx) {
        open = true;
        if (held == null) {
            return;
        }
        ArrayDeque<Object> q = held;
        held = null;
        Object m;
        while ((m = q.poll()) != null) {
            ctx.fireChannelRead(m);
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        discard();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        discard();
        super.channelInactive(ctx);
    }

    private void discard() {
        if (held != null) {
            held.forEach(ReferenceCountUtil::release);
            held = null;
        }
    }
}
