package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.LogBudget;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerAdapter;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.spiffe.spiffeid.SpiffeId;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * One accepted HBONE connection (ztunnel's src/proxy/h2/server.rs): the shared {@link Negotiator},
 * HTTP/2 with the preface deadline, idle close, GOAWAY on drain, and the per-connection limits
 * (pending dials, pre-open resets); one {@link InboundTunnel} per CONNECT stream.
 */
final class ServerConnection extends Negotiator {
    private static final Logger log = HboneListener.log;
    private final HboneListener server;
    private final ServerConfig cfg;
    final Channel channel;
    final SpiffeId localId;
    final InetSocketAddress local;
    final InetSocketAddress peer;
    final CompletableFuture<Void> closed = new CompletableFuture<>();
    /** Completes once the final GOAWAY is out (or the connection closed): from then on every new stream is refused. */
    final CompletableFuture<Void> finalGoAwayOut = new CompletableFuture<>();
    SpiffeId peerId;
    boolean prefaceSeen;
    ScheduledFuture<?> prefaceTimer;
    int activeTunnels;
    boolean goingAway;
    Budgets.Peer share;
    int pendingDials;
    private final ResetBudget resets;
    /** Sends GOAWAY once the connection carried no tunnel for the idle timeout. Event loop only. */
    private final IdleTimer idle;
    /** The connection's part in the server's inbound budget, once negotiated ({@link InboundGuard}). Event loop only. */
    private InboundGuard inbound;
    /** The connection's HTTP/2 state once negotiated. Event loop only. */
    private io.netty.handler.codec.http2.Http2Connection http2;

    ServerConnection(HboneListener server, Channel channel, SslHandler ssl, SpiffeId localId, InetSocketAddress local, InetSocketAddress peer) {
        super(ssl, server.cfg.tls());
        this.server = server;
        this.cfg = server.cfg;
        this.channel = channel;
        this.localId = localId;
        this.local = local;
        this.peer = peer;
        this.resets = new ResetBudget(cfg.limits().preOpenResets(), cfg.limits().resetWindow());
        this.idle = new IdleTimer(cfg.idleTimeout(), this, () -> activeTunnels == 0 && channel.isActive(), () -> {}, () -> {
            log.debug("HBONE connection from {} idle for {}, closing", Authority.text(peer), LogText.duration(cfg.idleTimeout()));
            goAway();
        });
        server.connections.add(this);
        channel.closeFuture().addListener(f -> {
            synchronized (this) {
                idle.cancel(); // its check would hold this closed connection for the rest of the idle timeout
            }
            ScheduledFuture<?> preface = prefaceTimer;
            if (preface != null) {
                preface.cancel(false); // likewise, for a connection closed before its preface
            }
            if (inbound != null) {
                inbound.closed();
            }
            if (share != null) {
                server.budgets.detach(share);
            }
            server.connections.remove(this);
            finalGoAwayOut.complete(null);
            closed.complete(null);
        });
    }

    HboneListener server() {
        return server;
    }

    @Override
    protected void handshakeFailed(ChannelHandlerContext ctx, Throwable cause) {
        if ((goingAway || server.draining) && !ctx.channel().isActive()) {
            // Our drain closed it (GOAWAY cannot go out before HTTP/2), and SslHandler reports that as a
            // handshake failure with a bare StacklessClosedChannelException. No stream existed, so
            // nothing was lost: one line saying so, and no connectionFailed event (not the peer's failure).
            long n = server.connectionLog.admit();
            if (n >= 0) {
                log.info("HBONE connection from {} to {} (local identity {}) closed by the drain during its TLS handshake: no tunnel had opened{}",
                        Authority.text(peer), Authority.text(local), localId, LogBudget.note(n));
            }
            return;
        }
        long n = server.connectionLog.admit();
        if (n >= 0) {
            log.info("HBONE TLS handshake from {} to {} (local identity {}) failed: {}{}", Authority.text(peer), Authority.text(local), localId,
                    HboneListener.describe(cause), LogBudget.note(n));
        }
        HboneListener.safe(() -> cfg.events().connectionFailed(peer, local, cause));
    }

    @Override
    protected void notH2(ChannelHandlerContext ctx, String alpn) {
        // The server offers h2 alone and advertises nothing else, so no protocol was agreed: the client offered no h2 (only
        // http/1.1, or no ALPN at all). Logged as "ALPN null is not h2" and with no access line until 5 December (a new-user
        // pass); ztunnel's rustls refuses such a client in the handshake, which its access log reports as a failed one.
        String why = alpn == null ? "no ALPN protocol agreed: the client did not offer h2, which HBONE requires"
                : "ALPN " + alpn + " agreed, not h2, which HBONE requires";
        long n = server.connectionLog.admit();
        if (n >= 0) {
            log.info("HBONE connection from {} to {} closed: {}{}", Authority.text(peer), Authority.text(local), why, LogBudget.note(n));
        }
        javax.net.ssl.SSLHandshakeException cause = new javax.net.ssl.SSLHandshakeException(why);
        HboneListener.safe(() -> cfg.events().connectionFailed(peer, local, cause));
    }

    @Override
    protected void unverifiedPeer(ChannelHandlerContext ctx, javax.net.ssl.SSLPeerUnverifiedException e) {
        log.info("HBONE connection from {} to {} closed: {}", Authority.text(peer), Authority.text(local), e.getMessage());
    }

    /**
     * A stream Netty's codec resets for what the peer sent (a header block it refuses as malformed): one line naming both
     * identities and the reason, in the refusals' budget, since no tunnel and no CONNECT status exist for it. The reason is
     * Netty's text, with the header name: quoted and escaped, as a refusal's is.
     */
    private void streamError(int streamId, Http2Error error, String message) {
        long n = server.refusalLog.admit();
        if (n >= 0) {
            log.info("HBONE stream {} reset with {} for what the peer sent: peer={} local={} src={} reason={}{}", streamId, error,
                    peerId, localId, Authority.text(peer), LogText.quoted(message), LogBudget.note(n));
        }
    }

    /**
     * A CONNECT whose header list passed the HBONE limit, which Netty's codec answers with 431 ({@link H2Codecs#server}):
     * refused as {@code InboundTunnel} refuses a request, the refusal's line (in the refusals' budget, or the listener's
     * own when it logs refusals) and the listener's {@code tunnelRefused} with status 431, no destination and no headers.
     */
    private void headerListTooLarge(int streamId, long limit) {
        String reason = "request header list exceeds " + limit + " bytes";
        io.zerohop.hbone.TunnelInfo info = new io.zerohop.hbone.TunnelInfo(io.zerohop.hbone.TunnelInfo.Direction.INBOUND, localId, peerId,
                local, peer, null, java.util.Map.of(), System.nanoTime());
        if (cfg.events().logsRefusals()) {
            if (log.isDebugEnabled()) {
                log.debug("HBONE CONNECT refused: status=431 peer={} local={} src={} dst=null reason={}",
                        peerId, localId, Authority.text(peer), LogText.quoted(reason));
            }
        } else {
            long n = server.refusalLog.admit();
            if (n >= 0) {
                log.info("HBONE CONNECT refused: status=431 peer={} local={} src={} dst=null reason={}{}",
                        peerId, localId, Authority.text(peer), LogText.quoted(reason), LogBudget.note(n));
            }
        }
        TunnelEvents.refused(cfg.events(), info, 431, reason);
    }

    @Override
    protected void negotiated(ChannelHandlerContext ctx, SpiffeId peerIdentity) {
        peerId = peerIdentity;
        share = server.budgets.attach(peerId);
        H2Config h2 = cfg.h2();
        Http2Settings settings = Http2Settings.defaultSettings()
                .maxConcurrentStreams(cfg.maxConcurrentStreams())
                .initialWindowSize(h2.streamWindow())
                .maxFrameSize(h2.maxFrameSize())
                .maxHeaderListSize(h2.maxHeaderListSize());
        io.netty.handler.codec.http2.Http2FrameCodec codec = H2Codecs.server(settings, new H2Codecs.StreamErrors() {
            @Override
            public void streamError(int streamId, Http2Error error, String message) {
                ServerConnection.this.streamError(streamId, error, message);
            }

            @Override
            public void headerListTooLarge(int streamId, long limit) {
                ServerConnection.this.headerListTooLarge(streamId, limit);
            }
        }, server.resetClock);
        H2Codecs.localErrorResetLimit(codec, server.localErrorResetLimit);
        http2 = codec.connection();
        InboundFrames frames = new InboundFrames(http2);
        // Its stream-closed listener goes after the flow controller's own, which hands a closing stream's unread bytes back first.
        inbound = new InboundGuard(server.budgets.inbound, peerId, channel, http2, frames, log,
                () -> peerId + " (" + Authority.text(peer) + ")", () -> "to " + localId);
        HbonePipeline.serverH2(ctx.pipeline(), codec, frames, new TunnelInit(),
                new PingKeepalive(cfg.pingInterval(), cfg.pingTimeout(),
                        () -> log.info("HBONE connection from {} ({}) closed: PING unanswered for {}",
                                Authority.text(peer), peerId, LogText.duration(cfg.pingTimeout()))),
                new ConnTail(), cfg.delayedCloseTimeout().toMillis());
        // A peer that completed TLS but never starts HTTP/2 is bounded like the handshake
        // (otherwise it would hold the connection for the whole idle timeout).
        prefaceTimer = channel.eventLoop().schedule(() -> {
            if (!prefaceSeen && channel.isActive()) {
                long n = server.connectionLog.admit();
                if (n >= 0) {
                    log.info("HBONE connection from {} ({}) closed: no HTTP/2 preface within {}{}",
                            Authority.text(peer), peerId, LogText.duration(cfg.handshakeTimeout()), LogBudget.note(n));
                }
                channel.close();
            }
        }, cfg.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    protected void released(ChannelHandlerContext ctx) {
        cfg.h2().openConnectionWindow(channel, http2, cfg.maxConcurrentStreams());
        scheduleIdle();
        if (server.draining) {
            goAway();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof OutOfMemoryError) {
            // Direct memory ran out (Netty's allocator: "Cannot reserve ... bytes of direct buffer memory"): every connection
            // allocating now fails alike, so an operator must see it, where it was DEBUG (a hostile-peer pass: one peer's
            // tunnels to an application that never read filled it in ~2 s). Budgeted as the other connection lines.
            long n = server.connectionLog.admit();
            if (n >= 0) {
                boolean direct = String.valueOf(cause.getMessage()).contains("direct buffer memory");
                log.warn("HBONE connection from {} ({}) closed: out of memory: {} ({}){}", Authority.text(peer), peerId, cause.getMessage(),
                        direct ? "-XX:MaxDirectMemorySize bounds Netty's buffers; see mesh-hbone README, \"Resource limits\""
                                : "the Java heap: -Xmx", LogBudget.note(n));
            }
        } else if (log.isDebugEnabled()) {
            log.debug("HBONE connection from {} failed", Authority.text(peer), cause);
        }
        ctx.close();
    }

    /**
     * Last handler of the connection: the peer's first SETTINGS (which follows its preface) ends
     * the preface deadline; a connection-level failure (a client that is not HTTP/2, a protocol
     * error) is one budgeted INFO line, never a stack trace at the pipeline's tail.
     */
    final class ConnTail extends ChannelInboundHandlerAdapter {
        /** After each read: DATA just received counts as unread until its tunnel's application takes it. */
        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (inbound != null) {
                inbound.readComplete();
            }
            ctx.fireChannelReadComplete();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2SettingsFrame && !prefaceSeen) {
                prefaceSeen = true;
                prefaceTimer.cancel(false);
            } else if (msg instanceof io.netty.handler.codec.http2.Http2PingFrame ping && ping.ack()) {
                // Only the graceful GOAWAY's PING gets here (PingKeepalive takes its own acks).
                finalGoAway();
            } else if (msg instanceof io.netty.handler.codec.http2.Http2GoAwayFrame goAway) {
                // A client closing on purpose says so (HboneClient.close): its open tunnels then end
                // cleanly, where a lost connection resets them.
                TunnelCodec.goAwayReceived(ctx.channel(), goAway);
            }
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            long n = server.connectionLog.admit();
            if (n >= 0) {
                log.info("HBONE connection from {} ({}) closed: {}{}", Authority.text(peer), peerId, HboneListener.describe(cause), LogBudget.note(n));
            }
            // An HTTP/2 error is the codec's to answer (GOAWAY with its code, or RST_STREAM) and it
            // closes what it must; closing here first would send GOAWAY NO_ERROR instead.
            if (Http2CodecUtil.getEmbeddedHttp2Exception(cause) == null) {
                ctx.close();
            }
        }
    }

    /**
     * A graceful GOAWAY (the drain's, the idle timeout's) in two steps, as RFC 9113 section 6.8
     * advises and hyper/h2 does for ztunnel ({@code Connection::go_away_gracefully}): GOAWAY
     * NO_ERROR with last-stream-id 2^31-1 and a PING; once the PING's ack is back, one round trip
     * later, every CONNECT the client sent before it read the first GOAWAY has arrived, and the final
     * GOAWAY names the last one, which is served. A single GOAWAY with the last id seen so far
     * refused a CONNECT already on its way (REFUSED_STREAM; the client may retry it elsewhere, but
     * it had been sent to a server that was still serving). Without an ack within
     * {@link #FINAL_GOAWAY_MILLIS} the final GOAWAY goes anyway; the drain's deadline bounds all of it.
     * The connection closes once the final GOAWAY is out and no tunnel is open.
     */
    void goAway() {
        if (goingAway || !channel.isActive()) {
            return;
        }
        goingAway = true;
        if (peerId == null) {
            channel.close();
            return;
        }
        DefaultHttp2GoAwayFrame first = new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR);
        first.setExtraStreamIds(Integer.MAX_VALUE); // Netty's codec caps last-stream-id at 2^31-1
        channel.write(first);
        channel.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2PingFrame(PingKeepalive.SHUTDOWN_PING));
        finalGoAwayTimer = channel.eventLoop().schedule(this::finalGoAway, FINAL_GOAWAY_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** How long the final GOAWAY waits for the ack of the first one's PING: about a round trip plus margin. */
    static final long FINAL_GOAWAY_MILLIS = 1_000;
    private ScheduledFuture<?> finalGoAwayTimer;
    private boolean finalGoAwaySent;

    /** The second GOAWAY, with the last stream id received; then close once no tunnel is open. Event loop only. */
    private void finalGoAway() {
        if (finalGoAwaySent || !goingAway || !channel.isActive()) {
            return;
        }
        finalGoAwaySent = true;
        if (finalGoAwayTimer != null) {
            finalGoAwayTimer.cancel(false);
        }
        channel.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR))
                .addListener(f -> finalGoAwayOut.complete(null));
        if (activeTunnels == 0) {
            channel.close();
        }
    }

    /**
     * The peer reset a stream before its tunnel answered (CONNECT then RST_STREAM). Such a reset
     * cost us a stream and a dial and the peer nothing, so more than
     * {@code preOpenResets} of them per {@code resetWindow} ({@link ResetBudget}) end the connection with GOAWAY
     * ENHANCE_YOUR_CALM (hyper/h2's answer past max_pending_accept_reset_streams, Netty's past
     * its RST_STREAM frame budget).
     */
    void preOpenReset() {
        if (!resets.overBudget(System.nanoTime()) || goingAway || !channel.isActive()) {
            return;
        }
        goingAway = true;
        long n = server.resetLog.admit();
        if (n >= 0) {
            log.info("HBONE connection from {} ({}) closed: GOAWAY ENHANCE_YOUR_CALM, {} reset before they were answered within {}{}",
                    Authority.text(peer), peerId, LogText.count(resets.count(), "stream", "streams"), LogText.duration(cfg.limits().resetWindow()), LogBudget.note(n));
        }
        channel.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.ENHANCE_YOUR_CALM))
                .addListener(io.netty.channel.ChannelFutureListener.CLOSE);
    }

    /** A tunnel returned window: what its application took no longer counts ({@link InboundGuard#count}). Event loop only. */
    void countInbound() {
        if (inbound != null) {
            inbound.count();
        }
    }

    void tunnelOpened() {
        activeTunnels++;
    }

    void tunnelClosed() {
        activeTunnels--;
        if (activeTunnels == 0) {
            if (finalGoAwaySent) {
                channel.close();
            } else if (goingAway) {
                // the final GOAWAY closes it
            } else {
                scheduleIdle();
            }
        }
    }

    private void scheduleIdle() {
        if (activeTunnels == 0) {
            idle.idleFrom(channel.eventLoop());
        }
    }

    /**
     * Sets up each CONNECT stream the multiplexer opens, then leaves its pipeline: the handler the
     * multiplexer adds to every new stream, called once the stream is registered. Not a
     * {@code ChannelInitializer}: that guards against a second initialisation with a
     * ConcurrentHashMap-backed set of contexts, an entry and two map operations per stream (issue
     * 14), and a stream channel is registered exactly once, by the multiplexer, before any event.
     */
    @ChannelHandler.Sharable
    private final class TunnelInit extends ChannelHandlerAdapter {
        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            ctx.pipeline().remove(this);
            Http2StreamChannel ch = (Http2StreamChannel) ctx.channel();
            try {
                tunnelOpened();
                InboundTunnel s = new InboundTunnel(ServerConnection.this, ch);
                HbonePipeline.tunnel(ch, s.codec);
            } catch (RuntimeException e) {
                // As a ChannelInitializer that failed: the stream is closed.
                log.warn("HBONE stream from {} could not be set up, closing it", Authority.text(peer), e);
                ch.close();
            }
        }
    }
}
