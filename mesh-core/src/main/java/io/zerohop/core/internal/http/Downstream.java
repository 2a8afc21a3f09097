package io.zerohop.core.internal.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.zerohop.hbone.internal.Relay;
import java.util.concurrent.TimeUnit;

/**
 * The client's side of one HTTP/1 connection, as {@link Http1Filter} ends it: a TCP connection
 * (plaintext inbound) or an HBONE stream. The filter decides when; this class knows how for each
 * transport: FIN or END_STREAM only after what was written before, a graceful close that waits for
 * the client's own end, an abort that is a TCP reset or RST_STREAM(CONNECT_ERROR). Written through
 * the filter's context, so an embedded application behind it never sees these frames. Event loop
 * of the connection only.
 */
final class Downstream {
    /** How long a graceful close waits for the client's FIN before closing anyway. */
    static final int LINGER_SECONDS = 10;

    private final ChannelHandlerContext ctx;
    /** The connection when it is TCP, through the relay's end; null for an HBONE stream. */
    private final Relay.End tcp;
    private boolean closeOnInputEnd;

    Downstream(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.tcp = ctx.channel() instanceof DuplexChannel d ? Relay.tcp(d) : null;
    }

    /**
     * FIN to the client after what was written before it (the relay's way, {@link Relay#tcp}: Netty's
     * {@code shutdownOutput()} fails writes still queued, a response's tail to a slow client); on an HBONE
     * stream END_STREAM.
     */
    void shutdownOutput() {
        if (tcp != null) {
            tcp.shutdownOutput();
        } else {
            ctx.writeAndFlush(new DefaultHttp2DataFrame(true));
        }
    }

    /**
     * Closes the client connection once what was written before is out (TCP; {@code close()} would fail it
     * as {@code shutdownOutput()} does). An HBONE stream closes at once: its END_STREAM was written before,
     * and the connection's flow control sends the DATA queued ahead of it.
     */
    void closeAfterWrites() {
        if (tcp != null) {
            tcp.close();
        } else {
            ctx.close();
        }
    }

    /**
     * FIN to the client, then close once its FIN arrives (or after {@link #LINGER_SECONDS}): closing
     * an HBONE stream before the peer ended would reset it, and a reset can cut a response short.
     *
     * @param inputEnded whether the client's FIN already arrived
     */
    void closeGracefully(boolean inputEnded) {
        shutdownOutput();
        if (inputEnded) {
            closeAfterWrites();
            return;
        }
        closeOnInputEnd = true;
        ctx.channel().config().setAutoRead(true);
        ctx.executor().schedule(() -> {
            ctx.close();
        }, LINGER_SECONDS, TimeUnit.SECONDS);
    }

    /** The client's FIN arrived: true when a graceful close was waiting for it (the connection now closes). */
    boolean inputEnded() {
        if (!closeOnInputEnd) {
            return false;
        }
        closeAfterWrites();
        return true;
    }

    /** Aborts: a TCP reset ({@code SO_LINGER 0}) or RST_STREAM(CONNECT_ERROR), the tunnel's TCP reset. */
    /** Set on a client connection this class reset, for its access line ({@code end=reset}, not the clean FIN the peer saw no error in). */
    static final io.netty.util.AttributeKey<Boolean> RESET = io.netty.util.AttributeKey.valueOf("zerohop.http.resetByUs");

    void reset() {
        Channel ch = ctx.channel();
        ch.attr(RESET).set(Boolean.TRUE);
        if (ch instanceof DuplexChannel d && d.isActive()) {
            d.config().setOption(ChannelOption.SO_LINGER, 0);
        }
        if (!(ch instanceof DuplexChannel)) {
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR));
        }
        ctx.close();
    }
}
