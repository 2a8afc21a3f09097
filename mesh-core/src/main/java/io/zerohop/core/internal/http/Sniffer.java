package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.concurrent.ScheduledFuture;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.internal.Hold;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Protocol detection for {@code auto} ports, as Envoy's {@code http_inspector} listener filter:
 * looks at the first bytes for an HTTP/1.x request line ({@code METHOD SP target SP HTTP/1.x CRLF})
 * or the HTTP/2 connection preface, within {@link #MAX_INSPECT} bytes (Envoy's inspector reads at
 * most 8 KiB) and {@link #timeoutMillis} (Istio's listener filter timeout). Anything else, the
 * client's FIN (or a tunnel reset) first, or the timeout gives {@link Result#OPAQUE}.
 *
 * <p>A {@link Hold}: what it read, with the FIN or reset in order, stays held until the handlers
 * chosen for the result are installed behind it, then {@link #release()} replays it into them.
 */
final class Sniffer extends Hold {
    enum Result { HTTP1, HTTP2, OPAQUE }

    static final int MAX_INSPECT = 8192;
    static final byte[] H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private final long timeoutMillis;
    private final Consumer<Result> decided;
    private final byte[] head = new byte[MAX_INSPECT];
    private int headLength;
    private boolean done;
    private ScheduledFuture<?> timer;

    /** Holds without a byte limit: the sniffer asks for more only until {@link #MAX_INSPECT} bytes. */
    Sniffer(long timeoutMillis, Consumer<Result> decided) {
        this.timeoutMillis = timeoutMillis;
        this.decided = decided;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        super.handlerAdded(ctx);
        timer = ctx.executor().schedule(() -> decide(Result.OPAQUE), timeoutMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    protected void held(ChannelHandlerContext ctx, Object item) {
        if (done) {
            return;
        }
        if (item instanceof ChannelInputShutdownEvent || item instanceof HboneStream.Reset) {
            // No more bytes will come.
            Result r = classify(head, headLength, true);
            decide(r == null ? Result.OPAQUE : r);
            return;
        }
        if (!(item instanceof ByteBuf b)) {
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
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelTimer();
        super.channelInactive(ctx);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancelTimer();
        super.handlerRemoved(ctx);
    }

    private void cancelTimer() {
        if (timer != null) {
            timer.cancel(false);
        }
    }

    private void decide(Result r) {
        if (done) {
            return;
        }
        done = true;
        cancelTimer();
        if (context().channel().isActive()) {
            decided.accept(r);
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
