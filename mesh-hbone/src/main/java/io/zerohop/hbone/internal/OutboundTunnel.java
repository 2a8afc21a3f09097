package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;

/**
 * The client half of one tunnel (ztunnel's src/proxy/outbound.rs once the connection is chosen): the
 * CONNECT, its response deadline, the 200 or the refusal, and the tunnel's events.
 */
final class OutboundTunnel extends TunnelSet.Deadline implements HboneStream, TunnelCodec.Listener {
    private static final Logger log = ConnectionPool.log;
    private final ClientConfig cfg;
    final ClientConnection conn;
    final InetSocketAddress target;
    final Map<String, String> headers;
    /** The open's future until it completed with this tunnel; then null (24 bytes per open tunnel; issue 14). Event loop. */
    CompletableFuture<HboneStream> result;
    final TunnelCodec codec = new TunnelCodec(this);
    Http2StreamChannel ch;
    TunnelInfo info;
    boolean released;
    volatile boolean opened;

    OutboundTunnel(ClientConnection conn, InetSocketAddress target, Map<String, String> headers,
                   CompletableFuture<HboneStream> result) {
        this.conn = conn;
        this.cfg = conn.pool().config();
        this.target = target;
        this.headers = headers;
        this.result = result;
    }

    void bind(Http2StreamChannel ch) {
        this.ch = ch;
        InetSocketAddress local = (InetSocketAddress) conn.channel.localAddress();
        this.info = new TunnelInfo(TunnelInfo.Direction.OUTBOUND, conn.key.source(), conn.peerId, local,
                conn.key.hboneAddress(), target, headers);
        // The response deadline: one timer for all of the connection's pending CONNECTs (TunnelSet).
        TunnelSet.of(ch).responses(cfg.connectTimeout().toNanos()).add(this);
    }

    @Override
    void expire() {
        if (result != null && !result.isDone()) {
            failOpen(new java.net.SocketTimeoutException("no CONNECT response from " + conn.key.hboneAddress()
                    + " for " + target + " within " + cfg.connectTimeout()));
            ch.close();
        }
    }

    void failOpen(Throwable t) {
        CompletableFuture<HboneStream> pending = result;
        if (pending != null && pending.completeExceptionally(t) && info != null) {
            int status = t instanceof HboneRefusedException r ? r.status() : 0;
            ConnectionPool.safeEvent(() -> cfg.events().tunnelRefused(info, status, t.getMessage()));
        }
    }

    @Override
    public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {
        cancel();
        CharSequence status = headers.status();
        if (status != null && "200".contentEquals(status) && !endStream) {
            codec.open();
            opened = true;
            boolean won = result.complete(this);
            result = null;
            if (won) {
                ConnectionPool.safeEvent(() -> cfg.events().tunnelOpened(info, codec));
            } else {
                ch.close();
            }
            return;
        }
        int code;
        try {
            code = status == null ? 0 : Integer.parseInt(status.toString());
        } catch (NumberFormatException e) {
            code = 0;
        }
        String msg = "HBONE CONNECT to " + target + " via " + conn.key.hboneAddress() + " (server " + conn.peerId
                + ") refused with status " + status;
        log.debug(msg);
        failOpen(new HboneRefusedException(code, msg));
        ch.close();
    }

    @Override
    public void onClosed(TunnelCodec c) {
        cancel();
        if (result != null && !result.isDone()) {
            Throwable cause = conn.failure;
            failOpen(cause == null
                    ? new IOException("HBONE stream to " + target + " via " + conn.key.hboneAddress()
                            + " closed before a CONNECT response (reset, GOAWAY or connection loss)")
                    : new IOException("HBONE connection to " + conn.key.hboneAddress() + " failed before a CONNECT response for "
                            + target + ": " + HboneListener.describe(cause), cause));
        }
        releaseSlot();
        if (opened) {
            Duration d = Duration.ofNanos(System.nanoTime() - c.startNanos());
            boolean reset = !c.completed();
            ConnectionPool.safeEvent(() -> cfg.events().tunnelClosed(new TunnelResult(info, 200, c.bytesIn(), c.bytesOut(), d, reset,
                    reset ? (c.wasReset() ? "reset by peer" : "reset") : null)));
        }
    }

    void releaseSlot() {
        if (!released) {
            released = true;
            conn.release();
        }
    }

    @Override
    public Channel channel() {
        return ch;
    }

    @Override
    public TunnelInfo info() {
        return info;
    }

    @Override
    public HboneSocket toSocket() throws IOException {
        return TunnelSocket.attach(ch, info);
    }

    @Override
    public void reset() {
        Tunnels.reset(ch);
    }

    @Override
    public void close() {
        // On the loop already (a callback of the open future, a handler): no task hand-off.
        if (ch.eventLoop().inEventLoop()) {
            Tunnels.closeGracefully(ch, codec);
        } else {
            ch.eventLoop().execute(() -> Tunnels.closeGracefully(ch, codec));
        }
    }
}
