package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Protocol detection for {@code auto} ports, as Envoy's {@code http_inspector} listener filter:
 * looks at the first bytes for an HTTP/1.x request line ({@code METHOD SP target SP HTTP/1.x CRLF})
 * or the HTTP/2 connection preface, within {@link #MAX_INSPECT} bytes (Envoy's inspector reads at
 * most 8 KiB) and {@link #timeoutMillis} (Istio's listener filter timeout). Anything else, the
 * client's FIN first, or the timeout gives {@link Result#OPAQUE}. Holds what it read and replays
 * it, with the FIN, into the handlers installed behind it.
 */
final class Sniffer extends ChannelInboundHandlerAdapter {
    enum Result { HTTP1, HTTP2, OPAQUE }

    static final int MAX_INSPECT = 8192;
    static final byte[] H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private final long timeoutMillis;
    private final Consumer<Result> decided;
    private final ArrayDeque<Object> held = new ArrayDeque<>();
    private final byte[] head = new byte[MAX_INSPECT];
    private int headLength;
    private boolean done;
    private ChannelHandlerContext ctx;
    private ScheduledFuture<?> timer;

    Sniffer(long timeoutMillis, Consumer<Result> decided) {
        this.timeoutMillis = timeoutMillis;
        this.decided = decided;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        timer = ctx.executor().schedule(() -> decide(Result.OPAQUE), timeoutMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        held.add(msg);
        if (done || !(msg instanceof ByteBuf b)) {
            return;
        }
        int n = Math.min(b.readableBytes(), MAX_INSPECT - headLength);
        b.getBytes(b.readerIndex(), head, headLength, n);
        headLength += n;
        Result r = classify(head, headLength, headLength == MAX_INSPECT);
        if (r != null) {
            decide(r);
        } else {
            ctx.read();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            held.add(evt);
            if (!done) {
                Result r = classify(head, headLength, true);
                decide(r == null ? Result.OPAQUE : r);
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (timer != null) {
            timer.cancel(false);
        }
        ctx.fireChannelInactive();
    }

    private void decide(Result r) {
        if (done) {
            return;
        }
        done = true;
        timer.cancel(false);
        if (ctx.channel().isActive()) {
            decided.accept(r);
        }
    }

    /** Passes on what was held, in order, once handlers are behind this one; then leaves. */
    void replay() {
        if (ctx.isRemoved()) {
            return;
        }
        while (!held.isEmpty()) {
            Object m = held.poll();
            if (m instanceof ChannelInputShutdownEvent) {
                ctx.fireUserEventTriggered(m);
            } else {
                ctx.fireChannelRead(m);
            }
        }
        ctx.fireChannelReadComplete();
        ctx.pipeline().remove(this);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        for (Object m; (m = held.poll()) != null; ) {
            ReferenceCountUtil.release(m);
        }
        if (timer != null) {
            timer.cancel(false);
        }
    }

    /**
     * The protocol the first {@code n} bytes show, or null when more bytes are needed. With
     * {@code final_} no more will come.
     */
    static Result classify(byte[] b, int n, boolean final_) {
        if (n == 0) {
            return final_ ? Result.OPAQUE : null;
        }
        int m = Math.min(n, H2_PREFACE.length);
        boolean h2 = true;
        for (int i = 0; i < m; i++) {
            if (b[i] != H2_PREFACE[i]) {
                h2 = false;
                break;
            }
        }
        if (h2) {
            return n >= H2_PREFACE.length ? Result.HTTP2 : final_ ? Result.OPAQUE : null;
        }
        // METHOD: a token (RFC 9110 tchar), then SP.
        int i = 0;
        while (i < n && tchar(b[i])) {
            i++;
        }
        if (i == n) {
            return final_ ? Result.OPAQUE : null;
        }
        if (i == 0 || b[i] != ' ') {
            return Result.OPAQUE;
        }
        int targetStart = ++i;
        while (i < n && b[i] > ' ' && b[i] != 0x7f) {
            i++;
        }
        if (i == n) {
            return final_ ? Result.OPAQUE : null;
        }
        if (i == targetStart || b[i] != ' ') {
            return Result.OPAQUE;
        }
        i++;
        byte[] version = "HTTP/1.".getBytes(StandardCharsets.US_ASCII);
        for (int k = 0; k < version.length + 3; k++, i++) {
            if (i == n) {
                return final_ ? Result.OPAQUE : null;
            }
            byte want = k < version.length ? version[k] : k == version.length ? 0 : k == version.length + 1 ? (byte) '\r' : (byte) '\n';
            if (k == version.length ? (b[i] != '0' && b[i] != '1') : b[i] != want) {
                return Result.OPAQUE;
            }
        }
        return Result.HTTP1;
    }

    private static boolean tchar(byte c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }
}
