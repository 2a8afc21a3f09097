package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.TunnelInfo;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;

/**
 * The client half of one tunnel (ztunnel's src/proxy/outbound.rs once the connection is chosen): the
 * CONNECT, its response deadline, the 200 or the refusal, and the tunnel's events.
 */
final class OutboundTunnel extends TunnelSet.Deadline implements HboneStream, TunnelCodec.Listener, Runnable, ChannelFutureListener {
    private static final Logger log = ConnectionPool.log;
    final ClientConnection conn;
    final InetSocketAddress target;
    final Map<String, String> headers;
    /** The open's future until it completed with this tunnel; then null (24 bytes per open tunnel; issue 14). Event loop. */
    CompletableFuture<HboneStream> result;
    final TunnelCodec codec = new TunnelCodec(this, true);
    TunnelInfo info;
    boolean released;
    volatile boolean opened;
    /** While the tunnel keeps what it delivered unread after its end ({@link #keptUnread}): drops it once the tunnel is unreachable. */
    private java.lang.ref.Cleaner.Cleanable unreadCleaner;

    OutboundTunnel(ClientConnection conn, InetSocketAddress target, Map<String, String> headers,
                   CompletableFuture<HboneStream> result) {
        this.conn = conn;
        this.target = target;
        this.headers = headers;
        this.result = result;
    }

    /**
     * The tunnel's stream channel once {@link #bind} ran, else null: the codec's own, kept there,
     * and the config through the connection; two fields fewer are 8 bytes of every open outbound
     * tunnel (issue 14, benchmarks/results/tunmem-*.md).
     */
    Http2StreamChannel ch() {
        return (Http2StreamChannel) codec.channel();
    }

    private ClientConfig cfg() {
        return conn.pool().config();
    }

    /** What the destination sent and the application took is no longer unread: the client's budget, if any, counts it so. */
    @Override
    public void windowReturned() {
        conn.countInbound();
    }

    void bind(Http2StreamChannel ch) {
        InetSocketAddress local = (InetSocketAddress) conn.channel.localAddress();
        this.info = new TunnelInfo(TunnelInfo.Direction.OUTBOUND, conn.key.source(), conn.peerId, local,
                conn.key.hboneAddress(), target, headers, codec.startNanos());
        // The response deadline: one timer for all of the connection's pending CONNECTs (TunnelSet).
        TunnelSet.of(ch).responses(cfg().connectTimeout().toNanos()).add(this);
    }

    /**
     * The task an application thread hands the connection's loop, this tunnel itself rather than a
     * lambda per hand-off: before the stream exists, opening it ({@link ClientConnection#openTunnel});
     * afterwards, the graceful close ({@link #close()}).
     */
    @Override
    public void run() {
        if (ch() == null) {
            conn.openOnLoop(conn.channel, this);
        } else {
            closeOnLoop();
        }
    }

    /** The CONNECT's write: a failure fails the open. */
    @Override
    public void operationComplete(ChannelFuture w) {
        if (!w.isSuccess()) {
            failOpen(new IOException("cannot send CONNECT to " + Authority.text(conn.key.hboneAddress()) + ": "
                    + HboneListener.describe(w.cause()), w.cause()));
            ch().close();
        }
    }

    @Override
    void expire() {
        if (result != null && !result.isDone()) {
            failOpen(new java.net.SocketTimeoutException("no CONNECT response from " + Authority.text(conn.key.hboneAddress())
                    + " for " + Authority.text(target) + " within " + LogText.duration(cfg().connectTimeout())));
            ch().close();
        }
    }

    void failOpen(Throwable t) {
        CompletableFuture<HboneStream> pending = result;
        if (pending != null && pending.completeExceptionally(t)) {
            if (t instanceof HboneRefusedException r) {
                TunnelEvents.refused(cfg().events(), info, r.status(), t.getMessage());
            } else {
                TunnelEvents.failed(cfg().events(), info != null ? info : conn.pendingInfo(target, headers, codec.startNanos()), t);
            }
        }
    }

    @Override
    public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {
        cancel();
        CharSequence status = headers.status();
        // A 200 with END_STREAM opens the tunnel too, its input already ended (the codec delivers the end): h2 hands
        // ztunnel's internal_send (src/proxy/h2/client.rs) a response whose body has ended, and only the status is
        // checked. It was refused "with status 200" until helper 300's review.
        if (status != null && "200".contentEquals(status)) {
            codec.open();
            opened = true;
            boolean won = result.complete(this);
            result = null;
            if (won) {
                TunnelEvents.opened(cfg().events(), info, codec);
            } else {
                ch().close();
            }
            return;
        }
        int code;
        try {
            code = status == null ? 0 : Integer.parseInt(status.toString());
        } catch (NumberFormatException e) {
            code = 0;
        }
        String msg = "HBONE CONNECT to " + Authority.text(target) + " via " + Authority.text(conn.key.hboneAddress()) + " as " + conn.key.source()
                + " (server " + conn.peerId + ") refused with status " + status + meaning(code);
        log.debug(msg);
        failOpen(new HboneRefusedException(code, msg));
        ch().close();
    }

    /** What a refusal's status means from ztunnel's (and a zerohop server's) inbound, for the caller's exception. */
    private static String meaning(int status) {
        return switch (status) {
            // A zerohop server also answers 401 for its Authorizer's refusal (a custom one, not a policy) and for a
            // client certificate expired since the handshake; ztunnel for a policy's denial. A new-user pass read
            // "policy" for a custom authorizer's refusal.
            case 401 -> " (denied at the destination: by an authorization policy, the server's authorizer, or for a client"
                    + " certificate expired since the handshake; the server's access log names it)";
            case 400 -> " (the server serves no workload of its identity at that destination, or found the CONNECT malformed;"
                    + " its access log says which)";
            case 503 -> " (the server could not reach the destination, it is one of the server's own ports, or the server"
                    + " is at its limit of pending upstream dials for this source or in all, under load; its log says which)";
            default -> "";
        };
    }

    @Override
    public void onClosed(TunnelCodec c) {
        cancel();
        if (result != null && !result.isDone()) {
            Throwable cause = conn.failure;
            failOpen(cause == null
                    ? new IOException("HBONE stream to " + Authority.text(target) + " via " + Authority.text(conn.key.hboneAddress())
                            + " closed before a CONNECT response (" + whyClosed(c) + ")")
                    : new IOException("HBONE connection to " + Authority.text(conn.key.hboneAddress()) + " failed before a CONNECT response for "
                            + Authority.text(target) + ": " + HboneListener.describe(cause), cause));
        }
        releaseSlot();
        if (opened && cfg().events() != HboneEvents.NONE) {
            TunnelEvents.closed(cfg().events(), TunnelEvents.result(info, c));
        }
    }

    /**
     * Why the stream closed before its response, as h2 tells ztunnel (a stream error naming the reset code, a GOAWAY
     * error): the server's RST_STREAM code (REFUSED_STREAM: the server did not process it), or the server's GOAWAY
     * naming a lower last stream (never processed either), else the generic text.
     */
    private String whyClosed(TunnelCodec c) {
        long code = c.rstCode();
        if (code >= 0) {
            io.netty.handler.codec.http2.Http2Error e = io.netty.handler.codec.http2.Http2Error.valueOf(code);
            return "reset by the server with " + (e == null ? "error code " + code : e.name())
                    + (e == io.netty.handler.codec.http2.Http2Error.REFUSED_STREAM ? ": it did not process the CONNECT" : "");
        }
        if (c.rare != null && c.rare.streamError != null) {
            // Netty's codec found the response malformed (a header list over maxHeaderListSize, a bad :status) and reset
            // the stream itself; h2 fails ztunnel's open the same way, naming the error (src/proto/streams/recv.rs).
            return "reset by this client with " + c.rare.streamError.name() + ": the server's response broke HTTP/2's rules"
                    + (c.rare.streamErrorText == null ? "" : " (" + c.rare.streamErrorText + ")");
        }
        int last = conn.goAwayLastStreamId;
        Channel ch = c.channel();
        if (last >= 0 && ch instanceof Http2StreamChannel s && s.stream() != null && s.stream().id() > last) {
            return "the server's GOAWAY named last stream " + last + ", below this one (" + s.stream().id()
                    + "): it did not process the CONNECT";
        }
        return "reset, GOAWAY or connection loss";
    }

    /**
     * Kept until an attach, an application's close or reset, the client's close, or the tunnel
     * becoming unreachable unread, whichever comes first: none of the last three can read it any
     * more, and kept past them its buffers (up to a stream window) never went back to the pool.
     */
    @Override
    public void keptUnread(TunnelCodec.Kept kept) {
        ConnectionPool pool = conn.pool();
        if (!pool.keep(kept)) {
            kept.run();
            return;
        }
        unreadCleaner = ConnectionPool.Unread.CLEANER.register(this, new ConnectionPool.Unread(pool, kept));
    }

    @Override
    public void unreadGone(TunnelCodec.Kept kept) {
        java.lang.ref.Cleaner.Cleanable c = unreadCleaner;
        if (c != null) {
            unreadCleaner = null;
            c.clean();
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
        return ch();
    }

    @Override
    public TunnelInfo info() {
        return info;
    }

    /** For logs and debuggers: the tunnel's identities and addresses, and its stream; the open's target before the 200. */
    @Override
    public String toString() {
        TunnelInfo i = info;
        Channel ch = codec.channel();
        String stream = ch instanceof Http2StreamChannel s ? " stream=" + s.stream().id() : "";
        return "HboneStream " + (i != null ? i : "(opening) dst=" + Authority.text(target)) + stream;
    }

    @Override
    public synchronized HboneSocket toSocket() throws IOException {
        // Once per tunnel. A second call attached a second socket, whose bridge Netty refused on the loop ("A task raised
        // an exception ... Duplicate handler name: hbone-socket"), so that socket never got a byte and its reads waited
        // for good (a new-user pass). A flag, not the socket itself: a reference field cost every open tunnel 8 bytes
        // (TunnelFootprintTest), a boolean fits the padding.
        if (socketTaken) {
            throw new IllegalStateException("toSocket() was already called on this tunnel: use the socket it returned");
        }
        HboneSocket s;
        try {
            s = TunnelSocket.attach(ch(), info);
        } catch (java.util.concurrent.RejectedExecutionException loopGone) {
            throw new java.net.SocketException("Socket is closed: its HBONE client was closed, and the tunnel with it");
        }
        socketTaken = true;
        return s;
    }

    /** {@link #toSocket()} has made this tunnel's socket; under this tunnel's monitor. */
    private boolean socketTaken;

    @Override
    public void reset() {
        if (ch().isActive()) {
            // What it kept unread goes with the reset (TunnelCodec.abandon), in order before it.
            if (ch().eventLoop().inEventLoop()) {
                codec.abandon();
            } else {
                try {
                    ch().eventLoop().execute(codec::abandon);
                } catch (java.util.concurrent.RejectedExecutionException loopGone) {
                    // The client is closed: its close released what was kept.
                }
            }
            Tunnels.reset(ch());
        } else {
            // Ended before it was read: nothing to reset, but what it kept for a reader goes.
            try {
                ch().eventLoop().execute(() -> TunnelCodec.dropUnread(ch()));
            } catch (java.util.concurrent.RejectedExecutionException loopGone) {
                // The client is closed: nothing runs there any more.
            }
        }
    }

    @Override
    public void close() {
        // On the loop already (a callback of the open future, a handler): no task hand-off.
        if (ch().eventLoop().inEventLoop()) {
            closeOnLoop();
        } else {
            try {
                ch().eventLoop().execute(this);
            } catch (java.util.concurrent.RejectedExecutionException loopGone) {
                // The client is closed: its close ended the tunnel and released what it kept (as reset()).
            }
        }
    }

    private void closeOnLoop() {
        if (ch().isActive()) {
            codec.abandon();
            Tunnels.closeGracefully(ch(), codec);
        } else {
            TunnelCodec.dropUnread(ch());
        }
    }

    @Override
    public void attach(ChannelHandler... handlers) {
        for (ChannelHandler h : handlers) {
            java.util.Objects.requireNonNull(h, "handler");
        }
        synchronized (this) {
            if (socketTaken) {
                // Handlers behind the socket's bridge never got a byte, silently (a new-user pass).
                throw new IllegalStateException("toSocket() was called on this tunnel: its socket reads it, so attached handlers "
                        + "would get nothing; use either the socket or handlers");
            }
        }
        if (ch().eventLoop().inEventLoop()) {
            attachOnLoop(handlers);
        } else {
            try {
                ch().eventLoop().execute(() -> attachOnLoop(handlers));
            } catch (java.util.concurrent.RejectedExecutionException loopGone) {
                throw new IllegalStateException("the HBONE client is closed, and this tunnel with it: no handler can run", loopGone);
            }
        }
    }

    private void attachOnLoop(ChannelHandler[] handlers) {
        ch().pipeline().addLast(handlers);
        if (!ch().isActive()) {
            TunnelCodec.replayEnded(ch());
        }
    }
}
