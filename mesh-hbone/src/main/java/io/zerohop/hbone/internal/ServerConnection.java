package io.zerohop.hbone.internal;

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
    /** The connection's HTTP/2 state once negotiated: its local flow controller knows the unread inbound bytes. */
    private io.netty.handler.codec.http2.Http2Connection http2;
    /** The connection's queued-frame count ({@link InboundFrames}), with {@link #http2}. */
    private InboundFrames frames;
    /** This connection's unread inbound bytes as last added to its peer's and the server's counts. Event loop only. */
    private volatile long inboundCounted;
    /** The connection closed and took its count back: nothing is counted any more. Event loop only. */
    private boolean inboundDone;
    /** A shed asked from another connection's loop has not run yet: one such task at a time. */
    private final java.util.concurrent.atomic.AtomicBoolean shedAsked = new java.util.concurrent.atomic.AtomicBoolean();
    /**
     * The shared counts move in steps of at least this many bytes (or back to zero), so that the
     * small reads and window returns of an echo touch no shared counter; the budgets are megabytes.
     */
    static final int INBOUND_STEP = 64 * 1024;
    /** While a soft budget is crossed: each tunnel's delivered bytes when last looked at, and when that was. Event loop only. */
    private java.util.IdentityHashMap<TunnelCodec, Long> stallSeen;
    private long stallSeenAt;
    /** The next look at stalled tunnels while a soft budget is crossed (one at a time, cancelled with the connection). */
    private ScheduledFuture<?> stallCheck;

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
            if (stallCheck != null) {
                stallCheck.cancel(false); // it would hold this closed connection for a second
            }
            if (share != null) {
                inboundDone = true;
                server.budgets.inbound(share, -inboundCounted);
                inboundCounted = 0;
                share.connections.remove(this);
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
        frames = new InboundFrames(http2);
        frames.onCounted(this::midRead);
        // Added after the flow controller's own listener, which hands a closing stream's unread bytes back first.
        http2.addListener(new io.netty.handler.codec.http2.Http2ConnectionAdapter() {
            @Override
            public void onStreamClosed(io.netty.handler.codec.http2.Http2Stream stream) {
                frames.streamClosed(stream);
                countInbound();
            }
        });
        share.connections.add(this);
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
            readComplete();
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

    /**
     * Brings the peer's and the server's counts of unread inbound bytes to what this connection's
     * flow controller holds (DATA received and not yet consumed: queued in tunnel channels whose
     * application does not read, or delivered and not yet returned), plus {@link InboundFrames#FRAME_COST}
     * per DATA frame still queued in a tunnel channel. Called when a tunnel returns
     * window and when a stream closes (Netty then returns what it held): those run inside Netty's
     * stream reads and stream closes, where resetting other streams would change what Netty is
     * iterating over, so they only count; the budgets are enforced after each read of the
     * connection ({@link #readComplete}). Event loop only.
     */
    void countInbound() {
        countInbound(false);
    }

    /**
     * Counts, then, when a budget is crossed, has the connection holding the most of it reset tunnels
     * ({@link #shedInbound}): over the peer's budget, the peer's connection holding the most unread bytes; over the
     * server's, that connection of the peer holding the most. That connection is usually not the one reading: its
     * tunnels' windows are full, so it reads nothing and would never look. After each read of the connection.
     */
    private void readComplete() {
        readComplete(false);
    }

    /** {@link #readComplete}; with {@code force}, even when the count did not move (it was just taken by {@link #midRead}). */
    private void readComplete(boolean force) {
        if (countInbound(false) <= 0 && !force) {
            return;
        }
        Budgets b = server.budgets;
        Budgets.Peer over = b.inboundOverPeer(share, true) ? share : b.inboundOverServer(true) ? b.heaviestInbound() : null;
        ServerConnection heaviest = over == null ? null : heaviestOf(over);
        if (heaviest == this) {
            shedInbound();
        } else if (heaviest != null) {
            heaviest.askToShedInbound();
        }
    }

    /**
     * A look at the budgets inside a read ({@link InboundFrames#CHECK_FRAMES}): over a budget itself, this connection
     * stops reading until the shedding that {@link #readComplete} starts has run (its resets are tasks of this loop,
     * and the read resumes after them); what one read can add beyond a budget is then what it already decoded, at most
     * one socket read per connection of the peer, where it was the whole read. Event loop only.
     */
    private void midRead() {
        if (countInbound(false) <= 0 || paused) {
            return;
        }
        Budgets b = server.budgets;
        if (!b.inboundOverPeer(share, false) && !b.inboundOverServer(false)) {
            return;
        }
        paused = true;
        channel.config().setAutoRead(false);
        channel.eventLoop().execute(() -> {
            readComplete(true);
            channel.eventLoop().execute(() -> {
                paused = false;
                if (channel.isActive()) {
                    channel.config().setAutoRead(true);
                }
            });
        });
    }

    /** True while {@link #midRead} has stopped this connection's reads. Event loop only. */
    private boolean paused;

    /** The connection of {@code peer} holding the most unread inbound bytes, as last counted; null when it has none left. */
    private static ServerConnection heaviestOf(Budgets.Peer peer) {
        ServerConnection heaviest = null;
        for (ServerConnection c : peer.connections) {
            if (heaviest == null || c.inboundCounted > heaviest.inboundCounted) {
                heaviest = c;
            }
        }
        return heaviest;
    }

    /** The change counted (0 when below the step or nothing to count). */
    private long countInbound(boolean exact) {
        if (http2 == null || inboundDone) {
            return 0;
        }
        long now = http2.local().flowController().unconsumedBytes(http2.connectionStream())
                + frames.closedStreamBytes() + frames.unreadFrames() * InboundFrames.FRAME_COST;
        long delta = now - inboundCounted;
        if (delta == 0 || !exact && now != 0 && Math.abs(delta) < INBOUND_STEP) {
            return 0;
        }
        inboundCounted = now;
        server.budgets.inbound(share, delta);
        return delta;
    }

    /** A budget is crossed and this connection holds the most of it: shed on this connection's loop. Any thread. */
    void askToShedInbound() {
        if (shedAsked.compareAndSet(false, true)) {
            channel.eventLoop().execute(() -> {
                shedAsked.set(false);
                if (!inboundDone) {
                    shedInbound();
                }
            });
        }
    }

    /**
     * Resets this connection's tunnels that hold unread inbound bytes, in two stages. Over a soft budget (half of the
     * peer's or the server's), a tunnel whose application took nothing for the stall timeout
     * ({@link ServerLimits#inboundStallTimeout}, 10 s) is reset, largest first, until the soft budgets hold again: an
     * application that reads slowly keeps its tunnels, as with ztunnel, whose window only throttles it. Over a budget
     * itself, the tunnels holding the most are reset at once, largest first, whatever they deliver, until under half
     * of it: what bounds memory while stalled tunnels wait out their timeout, and against a peer whose tunnels all
     * creep. Envoy's {@code reset_high_memory_stream} overload action resets the streams holding the most buffered bytes
     * alike (envoyproxy/envoy source/common/buffer/watermark_buffer.cc {@code resetAccountsGivenPressure}). Flow
     * control cannot take back what the windows granted: every stream has its own window, and the connection window
     * grows with the streams so that stalled tunnels never stop the others ({@link H2Config#connectionWindowFor}). A
     * reset stream's bytes are returned when Netty closes it, which may be after this pass, so the pass counts them as
     * gone and skips streams already reset; the resets run as tasks of the loop, not inside the read that crossed the
     * budget, where Netty's HTTP/2 decoder and multiplexer are still delivering. Event loop only.
     */
    private void shedInbound() {
        countInbound(true);
        Budgets b = server.budgets;
        ServerLimits lim = cfg.limits();
        if (inboundDone || !b.inboundOverPeer(share, true) && !b.inboundOverServer(true)) {
            stallSeen = null;
            return;
        }
        long peerHeld = share.inbound.get();
        long serverHeld = b.inboundBytes();
        long peerBefore = peerHeld;
        long serverBefore = serverHeld;
        TunnelSet set = TunnelSet.ofConnection(channel);
        java.util.List<TunnelCodec> tunnels = set == null ? java.util.List.of() : set.tunnels();
        long[] held = new long[tunnels.size()];
        Integer[] order = new Integer[tunnels.size()];
        for (int i = 0; i < held.length; i++) {
            order[i] = i;
            Channel ch = tunnels.get(i).channel();
            io.netty.handler.codec.http2.Http2Stream stream = ch instanceof Http2StreamChannel sc && sc.stream() != null
                    ? http2.stream(sc.stream().id()) : null;
            TunnelCodec t = tunnels.get(i);
            held[i] = stream != null && stream.isResetSent() || t.resetBy() != null ? 0
                    : (stream == null ? 0 : http2.local().flowController().unconsumedBytes(stream))
                            + InboundFrames.held(t.rare);
        }
        java.util.Arrays.sort(order, (x, y) -> Long.compare(held[y], held[x]));
        boolean hard = peerHeld > lim.inboundBytesPerPeer() || serverHeld > lim.inboundBytes();
        int reset = 0;
        long freed = 0;
        // Over a budget: the largest, whatever they deliver, until under half of it (as the outbound shedding): stopping
        // just under it, the next read crossed it again, one reset and one log line per read (a new-user pass).
        for (int i : order) {
            if (!hard || held[i] == 0 || peerHeld <= lim.inboundBytesPerPeer() / 2 && serverHeld <= lim.inboundBytes() / 2) {
                break;
            }
            peerHeld -= held[i];
            serverHeld -= held[i];
            freed += held[i];
            reset++;
            resetLater(tunnels.get(i), held, i, io.zerohop.hbone.TunnelResult.INBOUND_BUDGET);
        }
        // Over a soft budget: those that delivered nothing since the last look, a stall's time ago.
        long now = System.nanoTime();
        int stalled = 0;
        if (stallSeen != null && now - stallSeenAt >= cfg.limits().inboundStallTimeout().toNanos()) {
            for (int i : order) {
                if (peerHeld <= lim.inboundBytesPerPeer() / 2 && serverHeld <= lim.inboundBytes() / 2) {
                    break;
                }
                if (held[i] == 0) {
                    continue; // reset above, or holding nothing
                }
                Long seen = stallSeen.get(tunnels.get(i));
                if (seen != null && seen == tunnels.get(i).bytesIn()) {
                    peerHeld -= held[i];
                    serverHeld -= held[i];
                    freed += held[i];
                    stalled++;
                    resetLater(tunnels.get(i), held, i, io.zerohop.hbone.TunnelResult.INBOUND_STALLED);
                }
            }
        }
        if (peerHeld > lim.inboundBytesPerPeer() / 2 || serverHeld > lim.inboundBytes() / 2) {
            if (stallSeen == null || now - stallSeenAt >= cfg.limits().inboundStallTimeout().toNanos()) {
                java.util.IdentityHashMap<TunnelCodec, Long> seen = new java.util.IdentityHashMap<>();
                for (int i : order) {
                    if (held[i] > 0) {
                        seen.put(tunnels.get(i), tunnels.get(i).bytesIn());
                    }
                }
                stallSeen = seen;
                stallSeenAt = now;
            }
            if (stallCheck == null) {
                stallCheck = channel.eventLoop().schedule(() -> {
                    stallCheck = null;
                    shedInbound();
                }, cfg.limits().inboundStallTimeout().toNanos(), TimeUnit.NANOSECONDS);
            }
        } else {
            stallSeen = null;
        }
        long n = reset + stalled > 0 ? b.inboundShedLog.admit() : -1;
        if (n >= 0) {
            boolean overPeer = peerBefore > (hard ? lim.inboundBytesPerPeer() : lim.inboundBytesPerPeer() / 2);
            long budget = overPeer ? lim.inboundBytesPerPeer() : lim.inboundBytes();
            String whose = overPeer ? "per peer" : "of the server, and this peer holds the most";
            String why = (hard ? "over the inbound budget of " + budget + " bytes " + whose
                    : "over half (" + budget / 2 + " bytes) of the inbound budget of " + budget + " bytes " + whose)
                    + (stalled > 0 ? ", " + LogText.count(stalled, "tunnel", "tunnels") + " of them delivering nothing for "
                    + LogText.duration(lim.inboundStallTimeout()) : "");
            log.info("HBONE tunnels reset: peer {} ({}) holds {} bytes its tunnels' applications have not read (the server {}), {}: reset {} to {} holding {} bytes{}",
                    peerId, Authority.text(peer), peerBefore, serverBefore, why, LogText.count(reset + stalled, "tunnel", "tunnels"),
                    localId, freed, LogBudget.note(n));
        }
    }

    /** Resets {@code codec}'s tunnel from a task of the loop (not inside a read); its held bytes no longer count here. */
    private void resetLater(TunnelCodec codec, long[] held, int i, String why) {
        held[i] = 0;
        // Marked now: a pass before the reset's task has run must not pick it again (a new-user pass saw one
        // connection's 4 tunnels "reset" twice, 70 ms apart, and the count grow meanwhile).
        if (codec.rare == null) {
            codec.rare = new TunnelCodec.Rare();
        }
        if (codec.rare.resetBy == null) {
            codec.rare.resetBy = why;
        }
        Channel shed = codec.channel();
        channel.eventLoop().execute(() -> Tunnels.reset(shed, why));
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
