package io.zerohop.hbone.internal;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.ssl.SslHandler;
import java.util.concurrent.TimeUnit;

/**
 * Closes an HBONE connection that sent GOAWAY so that the peer can read that GOAWAY: TLS
 * close_notify, then a TCP half-close (FIN), then whatever the peer still sends is read and dropped
 * until it closes too or the linger ({@link #LINGER_MILLIS} unless the server was built with
 * another {@code delayedCloseTimeout}) passes, and only then the socket is closed. Closing at
 * once, with the peer's later frames unread in our receive buffer, makes Linux send RST instead of
 * FIN, and the RST discards what the peer had not yet read (our send queue too when the peer's window
 * was full): the peer saw a reset, not the error code (ENHANCE_YOUR_CALM from the reset budget,
 * PROTOCOL_ERROR and the other connection errors of Netty's codec), nor the drain's or idle
 * timeout's NO_ERROR and last-stream-id that tell a client its racing CONNECT was not processed and
 * may be retried (RFC 9113 section 6.8). Go's HTTP/2 server lingers the same way after a GOAWAY
 * with an error (golang.org/x/net/http2 server.go {@code goAwayTimeout}, 1 s,
 * golang.org/issue/18701) and waits for the peer after a graceful one; Netty's
 * {@code Http2ConnectionHandler} closes as soon as the GOAWAY is written (its
 * {@code gracefulShutdownTimeoutMillis} waits for open streams, not for the peer to read), as hyper/h2
 * ends its connection after flushing and shutting down its output.
 *
 * <p>Only the graceful path lingers: a close forced from the pipeline's head (the drain's deadline,
 * {@code Transports.closeNow}) does not pass here. Sits between TLS and the HTTP/2 codec and overrides
 * only {@code close}: no cost per read or write. Event loop only.
 */
final class LingeringClose extends ChannelDuplexHandler {
    /** Go's {@code goAwayTimeout}: about one round trip plus margin for the peer to read the GOAWAY. */
    static final long LINGER_MILLIS = 1_000;

    private final SslHandler tls;
    private final long lingerMillis;
    private boolean goAwaySent;
    private boolean lingering;

    LingeringClose(SslHandler tls, Http2Connection connection, long lingerMillis) {
        this.tls = tls;
        this.lingerMillis = lingerMillis;
        connection.addListener(new Http2ConnectionAdapter() {
            @Override
            public void onGoAwaySent(int lastStreamId, long errorCode, io.netty.buffer.ByteBuf debugData) {
                goAwaySent = true;
            }
        });
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        if (lingering) {
            ctx.channel().closeFuture().addListener(f -> promise.trySuccess());
            return;
        }
        if (!goAwaySent || !ctx.channel().isActive() || !(ctx.channel() instanceof DuplexChannel socket)) {
            ctx.close(promise);
            return;
        }
        lingering = true;
        // From here on the peer's bytes are read and dropped before TLS: decrypting them after our
        // close_notify can fail in the engine (OpenSSL), and SslHandler then closes at once, the
        // reset this close is meant to avoid.
        ctx.pipeline().addFirst(Tunnels.Discard.INSTANCE);
        ctx.channel().config().setAutoRead(true);
        var timer = ctx.executor().schedule(() -> ctx.close(promise), lingerMillis, TimeUnit.MILLISECONDS);
        ctx.channel().closeFuture().addListener(f -> {
            timer.cancel(false);
            promise.trySuccess();
        });
        // close_notify after everything written so far (the GOAWAY), then FIN once it is out.
        tls.closeOutbound().addListener(f -> {
            if (socket.isActive()) {
                socket.shutdownOutput();
            }
        });
        ctx.read();
    }
}
