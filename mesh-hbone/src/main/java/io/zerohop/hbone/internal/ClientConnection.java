package io.zerohop.hbone.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.ReadOnlyHttp2Headers;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;

/**
 * One pooled HTTP/2 connection to an HBONE endpoint (ztunnel's src/proxy/h2/client.rs): dial, the
 * shared {@link Negotiator}, SETTINGS and GOAWAY, PING keepalive, idle close, and its tunnel slots
 * (guarded by the pool's lock).
 */
final class ClientConnection {
    private static final Logger log = ConnectionPool.log;
    private final ConnectionPool pool;
    private final ClientConfig cfg;
    final PoolKey key;
    final CompletableFuture<Channel> ready = new CompletableFuture<>();
    int tunnels;
    int limit;
    boolean usable = true;
    /**
     * When the first of the connection's two leaf certificates (ours, the server's) expires, epoch
     * millis; {@code Long.MAX_VALUE} until the handshake. Past it no new tunnel goes on the connection.
     */
    volatile long notAfter = Long.MAX_VALUE;
    /** Retired (an expired certificate, a withdrawn SVID): closes once its last tunnel ends. Guarded by the pool's lock. */
    private boolean expired;
    /** Closes the connection once it carried no tunnel for the idle timeout; guarded by the pool's lock. */
    private final IdleTimer idle;
    volatile Channel channel;
    /** This side's address once the TCP connection is made; null before (and for a dial that failed). */
    volatile InetSocketAddress localAddress;
    volatile SpiffeId peerId;
    /**
     * Why the connection failed after setup, if it did. With TLS 1.3 the server verifies the client
     * certificate after the client's handshake has completed, so a refusal arrives as an alert on
     * the established connection; tunnels that die with it report this cause (an SSLException),
     * not a bare "closed".
     */
    volatile Throwable failure;
    /** Set on the loop when the TCP connection is up; read on the loop by the close listener's task. */
    private boolean connected;
    /** Event loop only: until the server's first SETTINGS. */
    ScheduledFuture<?> settingsTimer;
    /**
     * The stream bootstrap, one per connection and reused by every open, without a handler (issue 14,
     * benchmarks/results/open-*.md): a bootstrap per open cost a LinkedHashMap and a
     * ConcurrentHashMap of options, and the initializer it ran per open a ConcurrentHashMap-backed set
     * of its own, a pipeline context and a pipeline removal, ~0.7 KB per tunnel. The tunnel's codec
     * goes into the new stream's pipeline right after {@code open()} (ClientConnection#opened). Event
     * loop only.
     */
    private Http2StreamChannelBootstrap streams;
    /** The last CONNECT's target and its {@code :authority}: a pooled connection mostly carries tunnels to the same few targets. Event loop only. */
    private InetSocketAddress lastTarget;
    private AsciiString lastAuthority;
    /** The connection's part in the client's inbound budget, once negotiated; null without one ({@link InboundGuard}). Event loop only. */
    private InboundGuard inbound;

    ClientConnection(ConnectionPool pool, PoolKey key) {
        this.pool = pool;
        this.cfg = pool.config();
        this.key = key;
        this.limit = cfg.maxStreamsPerConnection();
        this.idle = new IdleTimer(cfg.idleTimeout(), pool.lock, () -> tunnels == 0 && usable, () -> pool.remove(this), () -> {
            log.debug("HBONE connection to {} idle for {}, closing", Authority.text(key.hboneAddress()), LogText.duration(cfg.idleTimeout()));
            channel.close();
        });
    }

    ConnectionPool pool() {
        return pool;
    }

    /** Caller holds the pool's lock. */
    boolean tryReserve() {
        if (!usable || tunnels >= limit) {
            return false;
        }
        tunnels++;
        return true;
    }

    /**
     * Gives up one reservation when more tunnels are reserved than the server's SETTINGS now allow (they were made
     * before the SETTINGS arrived, against {@code maxStreamsPerConnection}); the caller opens on another connection.
     */
    boolean shedIfOverLimit() {
        synchronized (pool.lock) {
            if (tunnels > limit) {
                tunnels--;
                return true;
            }
            return false;
        }
    }

    void release() {
        synchronized (pool.lock) {
            tunnels--;
            if (tunnels == 0 && usable && channel != null) {
                idle.idleFrom(channel.eventLoop());
            } else if (tunnels == 0 && expired) {
                closeRetired();
            }
        }
    }

    /**
     * Takes no new tunnel from now on, as a certificate of the connection has expired; the open ones
     * go on (the TLS session stays valid for them, as in ztunnel and Envoy), and the connection
     * closes with GOAWAY once the last of them ends. Caller holds the pool's lock.
     */
    void retireExpired(long now) {
        retire("a leaf certificate of it expired " + LogText.duration(java.time.Duration.ofMillis(now - notAfter)) + " ago");
    }

    /**
     * {@link #retireExpired}'s retirement for {@code why}: no new tunnel, the open ones go on, GOAWAY after the last.
     * Caller holds the pool's lock.
     */
    void retire(String why) {
        usable = false;
        expired = true;
        log.info("HBONE connection to {} takes no new tunnel: {}; {} open, a new connection takes the next",
                Authority.text(key.hboneAddress()), why, LogText.count(tunnels, "tunnel", "tunnels"));
        if (tunnels == 0) {
            closeRetired();
        }
    }

    /** The server's GOAWAY naming {@code lastStreamId}, or -1: CONNECTs on streams above it were never processed. */
    volatile int goAwayLastStreamId = -1;

    /**
     * The server sent GOAWAY: no new tunnel goes on this connection, the open ones finish, and once the last has
     * ended the client closes it (GOAWAY NO_ERROR, close_notify, FIN), as hyperium/h2, ztunnel's client, does
     * (src/proto/connection.rs: after a received GOAWAY {@code error} is set and {@code poll} calls
     * {@code go_away_now(NO_ERROR)} once no stream is left). Until then it stays in the pool's list, unusable, so
     * {@link ConnectionPool#retireIfIdle} and {@link ConnectionPool#close} still see it. It used to leave the pool at
     * once: a server that waits for the client to close (RFC 9113 section 6.8 allows it) kept it open for good (its
     * PINGs answered, no idle timer), {@code HboneClient.close()} on a shared event loop group left it open, and
     * {@code closeIfIdle()} called it idle with tunnels open on it (helper 263, ClientGoAwayParityTest). Event loop.
     */
    void goAwayReceived(int lastStreamId, long errorCode) {
        synchronized (pool.lock) {
            if (goAwayLastStreamId < 0 || lastStreamId < goAwayLastStreamId) {
                goAwayLastStreamId = lastStreamId;
            }
            if (expired) {
                return;
            }
            usable = false;
            expired = true;
            idle.cancel();
            log.debug("HBONE connection to {} got GOAWAY (last stream {}, error code {}); {} open, a new connection takes the next",
                    Authority.text(key.hboneAddress()), lastStreamId, errorCode, LogText.count(tunnels, "tunnel", "tunnels"));
            if (tunnels == 0) {
                closeRetired();
            }
        }
    }

    private void closeRetired() {
        Channel ch = channel;
        if (ch == null) {
            return;
        }
        try {
            ch.eventLoop().execute(() -> ConnectionPool.closeConnection(ch));
        } catch (RejectedExecutionException loopGone) {
            // the client is closing: its close ends this connection
        }
    }

    /**
     * A tunnel of this connection that has no stream (yet), for its failure event: what is known of
     * the connection now (local address once dialled, peer identity once verified).
     */
    io.zerohop.hbone.TunnelInfo pendingInfo(InetSocketAddress target, Map<String, String> headers, long startNanos) {
        return new io.zerohop.hbone.TunnelInfo(io.zerohop.hbone.TunnelInfo.Direction.OUTBOUND, key.source(), peerId, localAddress,
                key.hboneAddress(), target, headers, startNanos);
    }

    void connect() {
        cfg.tls().client(key.source(), key.destinations()).whenComplete((sslCtx, err) -> {
            if (err != null) {
                fail(new io.zerohop.hbone.HboneIdentityException("no TLS context for HBONE source " + key.source() + ": " + HboneListener.describe(err), err));
            } else {
                dialAfterBatch(sslCtx);
            }
        });
    }

    /**
     * Dials at once, or from a task when called on one of the pool's loops (a tunnel opened by a handler: a captured
     * connection's first bytes, a relay), so that the dial never runs inside a batch of epoll events. Netty's epoll loop
     * finds an event's channel by its descriptor number alone: a connection closed earlier in the batch freed the number
     * the new socket took, and its event still in the batch (a reset) reached the new connection while it connected,
     * which failed as "connection closed" (DialInsideBatchTest: 18 of 20 such opens failed). As the relay dials
     * ({@code InboundTunnel.proxy}; mesh-hbone README "Inside").
     */
    private void dialAfterBatch(SslContext sslCtx) {
        for (io.netty.util.concurrent.EventExecutor loop : pool.group) {
            if (loop.inEventLoop()) {
                try {
                    loop.execute(() -> dial(sslCtx));
                } catch (java.util.concurrent.RejectedExecutionException closing) {
                    fail(new ConnectException("HBONE connection to " + Authority.text(key.hboneAddress())
                            + " not dialled: the client's event loop is shutting down"));
                }
                return;
            }
        }
        dial(sslCtx);
    }

    private void fail(Throwable t) {
        pool.remove(this);
        ready.completeExceptionally(t);
    }

    private void dial(SslContext sslCtx) {
        InetSocketAddress hbone = key.hboneAddress();
        Bootstrap b = new Bootstrap()
                .group(pool.group)
                .channel(Transports.socketChannel(pool.group))
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, cfg.connectTimeout().toMillis()))
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, HbonePipeline.CONNECTION_WATERMARK)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        // Set here, not in the connect listener: added from a non-loop thread, that
                        // listener can run after the handshake already completed `ready`.
                        channel = ch;
                        // First: a read of the socket while it connects must not reach TLS or the connection's handlers.
                        ch.pipeline().addFirst(Transports.Dialling.INSTANCE);
                        Transports.keepalive(ch, cfg.keepalive());
                        ch.closeFuture().addListener(x -> {
                            if (inbound != null) {
                                inbound.closed();
                            }
                            synchronized (pool.lock) {
                                idle.cancel(); // its check would hold this closed connection for the rest of the idle timeout
                            }
                            pool.remove(ClientConnection.this);
                            // Later on the loop: the error that closed the channel (a TLS alert) may be
                            // fired after the close, and it names the cause better than "closed".
                            ch.eventLoop().execute(() -> {
                                // Never connected: the dial's listener reports why ("Connection refused"). Its
                                // notification can be queued after this task when the dial failed before the
                                // caller's thread added that listener.
                                if (connected && !ready.isDone()) {
                                    Throwable why = failure;
                                    ConnectException ce = new ConnectException("HBONE connection to " + Authority.text(hbone) + " closed during setup"
                                            + (why == null ? "" : ": " + HboneListener.describe(why)));
                                    ce.initCause(why);
                                    ready.completeExceptionally(ce);
                                }
                            });
                        });
                        SslHandler ssl = sslCtx.newHandler(ch.alloc(), hbone.getHostString(), hbone.getPort());
                        ssl.setHandshakeTimeoutMillis(cfg.handshakeTimeout().toMillis());
                        HbonePipeline.connection(ch, ssl, new ConnHandler(ssl));
                    }
                });
        // HboneClient.Builder.localAddress: bound to that IP, any port, as ztunnel's freebind_connect
        // binds (src/proxy.rs); none: the kernel picks the source address from the route.
        java.net.InetAddress local = cfg.localAddress();
        ChannelFuture dialled = local == null ? b.connect(hbone) : b.connect(hbone, new InetSocketAddress(local, 0));
        dialled.addListener((ChannelFuture f) -> {
            if (f.isSuccess()) {
                localAddress = (InetSocketAddress) f.channel().localAddress();
            } else {
                // The source address is named: "Cannot assign requested address" is about it, not the HBONE address.
                ConnectException ce = new ConnectException("HBONE connection to " + Authority.text(hbone)
                        + (local == null ? "" : " from local address " + io.netty.util.NetUtil.toAddressString(local))
                        + " failed: " + DialErrors.describe(f.cause()));
                ce.initCause(f.cause());
                fail(ce);
            }
        });
    }

    final class ConnHandler extends Negotiator {
        ConnHandler(SslHandler ssl) {
            super(ssl, cfg.tls());
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            connected = true;
            super.channelActive(ctx);
        }

        @Override
        protected void handshakeFailed(ChannelHandlerContext ctx, Throwable cause) {
            String msg = "HBONE TLS handshake with " + Authority.text(key.hboneAddress()) + " failed (source " + key.source()
                    + ", expected server identity " + ConnectionPool.names(key.destinations()) + "): " + HboneListener.describe(cause);
            log.info(msg);
            SSLHandshakeException e = new SSLHandshakeException(msg);
            e.initCause(cause);
            fail(e);
            ConnectionPool.safeEvent(() -> cfg.events().connectionFailed(key.hboneAddress(), null, cause));
        }

        @Override
        protected void notH2(ChannelHandlerContext ctx, String alpn) {
            fail(new SSLHandshakeException("HBONE server " + Authority.text(key.hboneAddress()) + " did not negotiate ALPN h2 (got " + alpn + ")"));
        }

        @Override
        protected void unverifiedPeer(ChannelHandlerContext ctx, SSLPeerUnverifiedException e) {
            fail(e);
        }

        @Override
        protected void negotiated(ChannelHandlerContext ctx, SpiffeId peer) {
            peerId = peer;
            notAfter = Math.min(peerNotAfter, localNotAfter);
            H2Config h2 = cfg.h2();
            Http2Settings settings = Http2Settings.defaultSettings()
                    .pushEnabled(false)
                    .initialWindowSize(h2.streamWindow())
                    .maxFrameSize(h2.maxFrameSize())
                    .maxHeaderListSize(h2.maxHeaderListSize());
            Channel parent = ctx.channel();
            // Ready once the server's SETTINGS arrive, not at the end of our handshake: in TLS 1.3
            // the server checks our certificate after we consider the handshake done, and its
            // SETTINGS are the first sign it accepted us. A refusal arrives as an alert instead
            // and fails setup as a TLS error (never as a broken pipe on the first CONNECT).
            // Scheduled before the held frames (maybe those SETTINGS) are let through.
            settingsTimer = parent.eventLoop().schedule(() -> {
                if (!ready.isDone()) {
                    fail(new SSLHandshakeException("HBONE server " + Authority.text(key.hboneAddress()) + " sent no HTTP/2 SETTINGS within "
                            + LogText.duration(cfg.handshakeTimeout()) + " of the TLS handshake"));
                    parent.close();
                }
            }, cfg.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
            io.netty.handler.codec.http2.Http2FrameCodec codec = H2Codecs.client(settings);
            H2Codecs.localErrorResetLimit(codec, pool.localErrorResetLimit);
            // Told before Netty closes the streams the GOAWAY says the server never processed (DefaultHttp2Connection
            // .goAwayReceived calls its listeners first), so an open retried as soon as one of them failed does not find
            // this connection still pooled; the Http2GoAwayFrame reaches SettingsWatcher only after those closes.
            codec.connection().addListener(new io.netty.handler.codec.http2.Http2ConnectionAdapter() {
                @Override
                public void onGoAwayReceived(int lastStreamId, long errorCode, io.netty.buffer.ByteBuf debugData) {
                    goAwayReceived(lastStreamId, errorCode);
                }
            });
            InboundFrames frames = new InboundFrames(codec.connection());
            if (cfg.inboundBudget() != null) {
                // Its stream-closed listener goes after the flow controller's own, as the server's.
                inbound = new InboundGuard(cfg.inboundBudget(), key.source(), parent, codec.connection(), frames, log,
                        () -> key.source().toString(), () -> "from " + peer + " (" + Authority.text(key.hboneAddress()) + ")");
            }
            HbonePipeline.clientH2(ctx.pipeline(), codec, frames,
                    new PingKeepalive(cfg.pingInterval(), cfg.pingTimeout(), () -> {
                        log.info("HBONE connection to {} closed: PING unanswered for {}", Authority.text(key.hboneAddress()), LogText.duration(cfg.pingTimeout()));
                        pool.remove(ClientConnection.this);
                    }),
                    new SettingsWatcher());
            h2.openConnectionWindow(parent, codec.connection(), cfg.maxStreamsPerConnection());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failure = cause;
            if (!ready.isDone()) {
                if (hasCause(cause, javax.net.ssl.SSLException.class)) {
                    // The server refused our certificate (an alert after our side of the handshake).
                    log.info("HBONE connection setup to {} failed: {}", Authority.text(key.hboneAddress()), HboneListener.describe(cause));
                } else {
                    log.warn("HBONE connection setup to {} failed", Authority.text(key.hboneAddress()), cause);
                }
                String msg = "HBONE connection setup to " + Authority.text(key.hboneAddress()) + " failed: " + HboneListener.describe(cause);
                if (hasCause(cause, javax.net.ssl.SSLException.class)) {
                    // Part of the handshake as the caller sees it (HboneClient.connect promises SSLHandshakeException,
                    // callers catch SSLException): it was a plain IOException over Netty's DecoderException (a new-user pass).
                    SSLHandshakeException e = new SSLHandshakeException(msg);
                    e.initCause(cause);
                    fail(e);
                } else {
                    fail(new IOException(msg, cause));
                }
            } else if (log.isDebugEnabled()) {
                log.debug("HBONE connection to {} failed", Authority.text(key.hboneAddress()), cause);
            }
            closeUnlessTheCodecAnswers(ctx, cause);
        }
    }

    final class SettingsWatcher extends ChannelInboundHandlerAdapter {
        /** After each read: DATA just received counts as unread until its tunnel's application takes it (with a budget). */
        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (inbound != null) {
                inbound.readComplete();
            }
            ctx.fireChannelReadComplete();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2SettingsFrame s && !ready.isDone()) {
                    settingsTimer.cancel(false);
                    applyLimit(s);
                    ready.complete(ctx.channel());
                } else if (msg instanceof Http2SettingsFrame s) {
                    applyLimit(s);
                } else if (msg instanceof Http2GoAwayFrame g) {
                    // Handled when the codec read it (goAwayReceived); again here in case that listener was not told.
                    goAwayReceived(g.lastStreamId(), g.errorCode());
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void applyLimit(Http2SettingsFrame s) {
            Long max = s.settings().maxConcurrentStreams();
            if (max != null) {
                synchronized (pool.lock) {
                    limit = (int) Math.min(cfg.maxStreamsPerConnection(), Math.max(1, max));
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (failure == null) {
                failure = cause;
            }
            if (io.netty.handler.codec.http2.Http2CodecUtil.getEmbeddedHttp2Exception(cause) != null) {
                // The server broke the protocol: its tunnels on this connection end with it, so say why once.
                log.info("HBONE connection to {} closed: {}", Authority.text(key.hboneAddress()), HboneListener.describe(cause));
            } else if (log.isDebugEnabled()) {
                log.debug("HBONE connection to {} failed", Authority.text(key.hboneAddress()), cause);
            }
            closeUnlessTheCodecAnswers(ctx, cause);
        }
    }

    /**
     * Closes the connection, except on an HTTP/2 connection error: the codec answers that itself (GOAWAY with its code,
     * then the close), after this handler saw it (a stream's error stops at its stream: Netty's multiplexer resets it
     * there); closing here first sent GOAWAY NO_ERROR for a
     * connection error (RFC 9113 section 5.4.1 wants its code: a new-user pass, helper 249, saw NO_ERROR answer a flood
     * of empty DATA frames). As the server's {@code ConnTail} does.
     */
    private static void closeUnlessTheCodecAnswers(ChannelHandlerContext ctx, Throwable cause) {
        if (io.netty.handler.codec.http2.Http2CodecUtil.getEmbeddedHttp2Exception(cause) == null) {
            ctx.close();
        }
    }

    /**
     * Opens the CONNECT stream on the connection's event loop, in one task when called from another
     * thread (an application thread whose pooled connection was ready). Netty's
     * {@code Http2StreamChannelBootstrap.open()} from outside the loop hands it the open, and the
     * listener added afterwards, when the loop had already finished the open (its wake-up lets it run
     * while the caller is still in {@code open()}), is a second task and a second wake-up: one in
     * four opens paid it (issue 14, benchmarks/results/wake-*.md; OpenTunnelHandOffTest).
     */
    void openTunnel(Channel parent, InetSocketAddress target, Map<String, String> extra, CompletableFuture<HboneStream> result) {
        OutboundTunnel s = new OutboundTunnel(this, target, extra, result);
        if (parent.eventLoop().inEventLoop()) {
            openOnLoop(parent, s);
            return;
        }
        try {
            // The tunnel is the task (OutboundTunnel.run): no lambda per open.
            parent.eventLoop().execute(s);
        } catch (RejectedExecutionException e) {
            openFailed(s, e);
        }
    }

    void openOnLoop(Channel parent, OutboundTunnel s) {
        try {
            if (!parent.isActive()) {
                openFailed(s, new ClosedChannelException());
                return;
            }
            if (streams == null) {
                streams = new Http2StreamChannelBootstrap(parent);
            }
            // On the loop open() has finished when it returns: no listener, no task. The listener is
            // only a fallback (Netty runs listeners as a task past its listener stack depth); until then
            // the stream can receive nothing, as no CONNECT went out on it.
            Future<Http2StreamChannel> f = streams.open();
            if (f.isDone()) {
                opened(s, f);
            } else {
                f.addListener(x -> opened(s, f));
            }
        } catch (Throwable t) {
            openThrew(s, null, t);
        }
    }

    private void opened(OutboundTunnel s, Future<Http2StreamChannel> f) {
        Http2StreamChannel ch = null;
        try {
            if (!f.isSuccess()) {
                openFailed(s, f.cause());
                return;
            }
            ch = f.getNow();
            if (!ch.isActive()) {
                // Only on the fallback path: the connection closed before this ran. Without its codec the
                // stream's close would never release the slot.
                openFailed(s, new ClosedChannelException());
                return;
            }
            // The codec is added to a registered, active stream (not by an initializer during its
            // registration): the stream's auto-read, on until here, asked for a read that found nothing
            // (no frame can arrive before the CONNECT), and the codec asks for its own as before, so the
            // stream's read state is the same as with an initializer.
            HbonePipeline.tunnel(ch, s.codec);
            s.bind(ch);
            // The tunnel is the write's listener: a failed CONNECT write fails the open (OutboundTunnel.operationComplete).
            ch.write(new DefaultHttp2HeadersFrame(connectHeaders(s.target, s.headers), false)).addListener(s);
            // Tunnels opened together share one TLS record and one send().
            Tunnels.flushSoon(ch);
        } catch (Throwable t) {
            openThrew(s, ch, t);
        }
    }

    /**
     * Something threw on the event loop while the tunnel's stream was being started (Netty's header validation did,
     * before {@link Headers#invalid} refused such headers up front): the open fails with that error now. Thrown out
     * of the loop's task, it was only logged ("A task raised an exception") and the caller's future failed at the
     * CONNECT response timeout, "no CONNECT response ... within 10s" (a new-user pass). The stream, if one was
     * opened, is closed. The tunnel's slot is released first (once: the stream's close then releases nothing), so a
     * caller that opens again as soon as the future failed finds it free.
     * An {@link Error} is rethrown once the open is failed.
     */
    private void openThrew(OutboundTunnel s, Http2StreamChannel ch, Throwable t) {
        try {
            log.debug("HBONE stream to {} via {} failed to start", Authority.text(s.target), Authority.text(key.hboneAddress()), t);
            s.cancel();
            s.releaseSlot();
            s.failOpen(t);
        } finally {
            if (ch != null) {
                ch.close();
            }
        }
        if (t instanceof Error e) {
            throw e;
        }
    }

    /** A tunnel returned window: what its application took no longer counts ({@link InboundGuard#count}). Event loop only. */
    void countInbound() {
        if (inbound != null) {
            inbound.count();
        }
    }

    private static final AsciiString CONNECT = AsciiString.cached("CONNECT");

    /**
     * The CONNECT request headers: {@code :method CONNECT}, {@code :authority ip:port} and the
     * caller's headers (names lower-cased; {@link Headers#invalid} refused what Netty's validation here would
     * throw for, before the open). Without extra headers (the
     * usual tunnel) a read-only two-entry form instead of a {@code DefaultHttp2Headers} with its
     * 16-slot hash table and entries (~270 bytes per open), and the {@code :authority} text is the
     * connection's previous one when the target is the same. HPACK encodes the same bytes in the
     * same order either way ({@code ClientConnectHeadersTest}). The read-only form is built with
     * {@code trailers(...)} and the two pseudo-headers as its entries because Netty's
     * {@code clientHeaders(...)} takes {@code :path} and {@code :scheme}, which a CONNECT must not
     * carry (RFC 9113 section 8.5). Nothing reads these headers back; they are only encoded.
     */
    private Http2Headers connectHeaders(InetSocketAddress target, Map<String, String> extra) {
        AsciiString authority;
        if (target.equals(lastTarget)) {
            authority = lastAuthority;
        } else {
            authority = new AsciiString(Authority.format(target));
            lastTarget = target;
            lastAuthority = authority;
        }
        return connectHeaders(authority, extra);
    }

    static Http2Headers connectHeaders(AsciiString authority, Map<String, String> extra) {
        if (extra.isEmpty()) {
            // Pseudo-headers given as ReadOnlyHttp2Headers' "other" headers: it iterates (and HPACK
            // encodes) them in this order and finds them by name; it never checks where a name is.
            return ReadOnlyHttp2Headers.trailers(false,
                    Http2Headers.PseudoHeaderName.METHOD.value(), CONNECT,
                    Http2Headers.PseudoHeaderName.AUTHORITY.value(), authority);
        }
        Http2Headers h = new DefaultHttp2Headers().method(CONNECT).authority(authority);
        for (Map.Entry<String, String> e : extra.entrySet()) {
            h.add(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue());
        }
        return h;
    }

    private void openFailed(OutboundTunnel s, Throwable cause) {
        s.failOpen(new IOException("cannot open HBONE stream to " + Authority.text(s.target) + " via " + Authority.text(key.hboneAddress())
                + ": " + HboneListener.describe(cause), cause));
        s.releaseSlot();
    }

    private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }
}
