package io.zerohop.hbone.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.AuthzDecision;
import io.zerohop.hbone.AuthzRequest;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneEvents;
import io.zerohop.hbone.StreamHandler;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The HBONE listener: TLS per destination identity, HTTP/2, one {@link InboundStream} per CONNECT. */
public final class ServerRuntime {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.hbone.HboneServer");

    private final ServerConfig cfg;
    private final EventLoopGroup group;
    private final boolean ownGroup;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private volatile Channel listener;
    private volatile boolean draining;
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    /** One budget per kind of per-peer noise, so a flood of one kind cannot hide another. */
    private final LogBudget refusalLog = new LogBudget(20, Duration.ofSeconds(10));
    private final LogBudget connectionLog = new LogBudget(20, Duration.ofSeconds(10));
    private final LogBudget resetLog = new LogBudget(20, Duration.ofSeconds(10));
    private final Budgets budgets;

    public ServerRuntime(ServerConfig cfg) {
        this.cfg = cfg;
        this.ownGroup = cfg.group() == null;
        this.group = ownGroup ? Transports.newGroup(cfg.threads(), "hbone-server") : cfg.group();
        this.budgets = new Budgets(cfg.limits());
    }

    /** Upstream bytes queued toward tunnels behind closed windows, server-wide. */
    public long queuedBytes() {
        return budgets.queuedBytes();
    }

    /** Upstream connects in progress, server-wide. */
    public int pendingDials() {
        return budgets.pendingDials();
    }

    public CompletableFuture<InetSocketAddress> start() {
        CompletableFuture<InetSocketAddress> started = new CompletableFuture<>();
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(Transports.serverChannel(group))
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, HbonePipeline.CONNECTION_WATERMARK)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        accept(ch);
                    }
                });
        if (cfg.transparent()) {
            try {
                Transports.transparent(b, group);
            } catch (IllegalStateException e) {
                if (ownGroup) {
                    group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
                }
                started.completeExceptionally(e);
                return started;
            }
        }
        b.bind(cfg.bind()).addListener((ChannelFuture f) -> {
            if (f.isSuccess() && cfg.transparent() && !Transports.isTransparent(f.channel())) {
                f.channel().close();
                if (ownGroup) {
                    group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
                }
                started.completeExceptionally(new java.io.IOException("cannot set IP_TRANSPARENT on the HBONE listener "
                        + cfg.bind() + " (needs CAP_NET_ADMIN)"));
            } else if (f.isSuccess()) {
                listener = f.channel();
                InetSocketAddress local = (InetSocketAddress) f.channel().localAddress();
                log.info("HBONE listener on {} ({}{})", local, Transports.epoll() ? "epoll" : "nio", cfg.transparent() ? ", transparent" : "");
                started.complete(local);
            } else {
                if (ownGroup) {
                    group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
                }
                started.completeExceptionally(new java.io.IOException(
                        "cannot bind HBONE listener to " + cfg.bind() + ": " + f.cause().getMessage(), f.cause()));
            }
        });
        return started;
    }

    public InetSocketAddress localAddress() {
        Channel l = listener;
        return l == null ? null : (InetSocketAddress) l.localAddress();
    }

    public int connectionCount() {
        return connections.size();
    }

    private void accept(SocketChannel ch) {
        Transports.keepalive(ch);
        InetSocketAddress local = ch.localAddress();
        InetSocketAddress peer = ch.remoteAddress();
        if (draining) {
            ch.close();
            return;
        }
        SpiffeId id;
        try {
            id = cfg.identities().select(local);
        } catch (RuntimeException e) {
            log.warn("HBONE connection from {} to {} closed: identity selector failed: {}", peer, local, e.toString());
            safe(() -> cfg.events().connectionFailed(peer, local, e));
            ch.close();
            return;
        }
        if (id == null) {
            long n = connectionLog.admit();
            if (n >= 0) {
                log.info("HBONE connection from {} to {} closed: no local identity serves that address{}", peer, local, LogBudget.note(n));
            }
            cfg.events().connectionFailed(peer, local, new IllegalStateException("no identity for " + local));
            ch.close();
            return;
        }
        CompletableFuture<SslContext> ctxFuture = cfg.tls().server(id);
        ctxFuture.whenComplete((sslCtx, err) -> ch.eventLoop().execute(() -> {
            if (err != null) {
                log.warn("HBONE connection from {} to {} closed: no TLS context for {}: {}", peer, local, id, err.toString());
                safe(() -> cfg.events().connectionFailed(peer, local, err));
                ch.close();
                return;
            }
            if (!ch.isActive()) {
                return;
            }
            SslHandler ssl = sslCtx.newHandler(ch.alloc());
            ssl.setHandshakeTimeoutMillis(cfg.handshakeTimeout().toMillis());
            Connection conn = new Connection(ch, ssl, id, local, peer);
            HbonePipeline.connection(ch, ssl, conn);
            ch.config().setAutoRead(true);
        }));
    }

    /** Stop accepting, GOAWAY every connection, wait for tunnels up to {@code drain}, then close the rest. */
    public CompletableFuture<Void> shutdown(Duration drain) {
        if (draining) {
            return terminated;
        }
        draining = true;
        Channel l = listener;
        CompletableFuture<Void> listenerClosed = new CompletableFuture<>();
        if (l != null) {
            l.close().addListener(f -> listenerClosed.complete(null));
        } else {
            listenerClosed.complete(null);
        }
        listenerClosed.thenRun(() -> {
            for (Connection c : connections) {
                c.channel.eventLoop().execute(c::goAway);
            }
            CompletableFuture<?>[] closes = connections.stream().map(c -> c.closed).toArray(CompletableFuture[]::new);
            CompletableFuture<Void> all = CompletableFuture.allOf(closes);
            long ms = Math.max(0, drain.toMillis());
            all.completeOnTimeout(null, ms, TimeUnit.MILLISECONDS).thenRun(() -> {
                for (Connection c : connections) {
                    Transports.closeNow(c.channel);
                }
                CompletableFuture.allOf(connections.stream().map(c -> c.closed).toArray(CompletableFuture[]::new))
                        .completeOnTimeout(null, 5, TimeUnit.SECONDS)
                        .thenRun(() -> {
                            if (ownGroup) {
                                group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS)
                                        .addListener(f -> terminated.complete(null));
                            } else {
                                terminated.complete(null);
                            }
                        });
            });
        });
        return terminated;
    }

    /** One accepted HBONE connection (parent channel). */
    final class Connection extends Negotiator {
        final Channel channel;
        final SpiffeId localId;
        final InetSocketAddress local;
        final InetSocketAddress peer;
        final CompletableFuture<Void> closed = new CompletableFuture<>();
        SpiffeId peerId;
        boolean prefaceSeen;
        ScheduledFuture<?> prefaceTimer;
        int activeStreams;
        boolean goingAway;
        Budgets.Peer share;
        int pendingDials;
        int preOpenResets;
        long resetWindowStart = System.nanoTime();
        ScheduledFuture<?> idleTimer;

        Connection(Channel channel, SslHandler ssl, SpiffeId localId, InetSocketAddress local, InetSocketAddress peer) {
            super(ssl);
            this.channel = channel;
            this.localId = localId;
            this.local = local;
            this.peer = peer;
            connections.add(this);
            channel.closeFuture().addListener(f -> {
                if (share != null) {
                    budgets.detach(share);
                }
                connections.remove(this);
                closed.complete(null);
            });
        }

        @Override
        protected void handshakeFailed(ChannelHandlerContext ctx, Throwable cause) {
            long n = connectionLog.admit();
            if (n >= 0) {
                log.info("HBONE TLS handshake from {} to {} (local identity {}) failed: {}{}", peer, local, localId,
                        describe(cause), LogBudget.note(n));
            }
            safe(() -> cfg.events().connectionFailed(peer, local, cause));
        }

        @Override
        protected void notH2(ChannelHandlerContext ctx, String alpn) {
            long n = connectionLog.admit();
            if (n >= 0) {
                log.info("HBONE connection from {} to {} closed: ALPN {} is not h2{}", peer, local, alpn, LogBudget.note(n));
            }
        }

        @Override
        protected void unverifiedPeer(ChannelHandlerContext ctx, javax.net.ssl.SSLPeerUnverifiedException e) {
            log.info("HBONE connection from {} to {} closed: {}", peer, local, e.getMessage());
        }

        @Override
        protected void negotiated(ChannelHandlerContext ctx, SpiffeId peerIdentity) {
            peerId = peerIdentity;
            share = budgets.attach(peerId);
            H2Config h2 = cfg.h2();
            Http2Settings settings = Http2Settings.defaultSettings()
                    .maxConcurrentStreams(cfg.maxConcurrentStreams())
                    .initialWindowSize(h2.streamWindow())
                    .maxFrameSize(h2.maxFrameSize())
                    .maxHeaderListSize(h2.maxHeaderListSize());
            HbonePipeline.serverH2(ctx.pipeline(), H2Codecs.server(settings), new StreamInit(this),
                    new PingKeepalive(cfg.pingInterval(), cfg.pingTimeout(),
                            () -> log.info("HBONE connection from {} ({}) closed: PING unanswered for {}",
                                    peer, peerId, cfg.pingTimeout())),
                    new ConnTail());
            // A peer that completed TLS but never starts HTTP/2 is bounded like the handshake
            // (otherwise it would hold the connection for the whole idle timeout).
            prefaceTimer = channel.eventLoop().schedule(() -> {
                if (!prefaceSeen && channel.isActive()) {
                    long n = connectionLog.admit();
                    if (n >= 0) {
                        log.info("HBONE connection from {} ({}) closed: no HTTP/2 preface within {}{}",
                                peer, peerId, cfg.handshakeTimeout(), LogBudget.note(n));
                    }
                    channel.close();
                }
            }, cfg.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
        }

        @Override
        protected void released(ChannelHandlerContext ctx) {
            int window = cfg.h2().connectionWindowFor(cfg.maxConcurrentStreams());
            if (window > 65_535) {
                channel.writeAndFlush(new DefaultHttp2WindowUpdateFrame(window - 65_535));
            }
            scheduleIdle();
            if (draining) {
                goAway();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("HBONE connection from {} failed", peer, cause);
            ctx.close();
        }

        /**
         * Last handler of the connection: the peer's first SETTINGS (which follows its preface) ends
         * the preface deadline; a connection-level failure (a client that is not HTTP/2, a protocol
         * error) is one budgeted INFO line, never a stack trace at the pipeline's tail.
         */
        final class ConnTail extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof Http2SettingsFrame && !prefaceSeen) {
                    prefaceSeen = true;
                    prefaceTimer.cancel(false);
                }
                ReferenceCountUtil.release(msg);
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                long n = connectionLog.admit();
                if (n >= 0) {
                    log.info("HBONE connection from {} ({}) closed: {}{}", peer, peerId, describe(cause), LogBudget.note(n));
                }
                // An HTTP/2 error is the codec's to answer (GOAWAY with its code, or RST_STREAM) and it
                // closes what it must; closing here first would send GOAWAY NO_ERROR instead.
                if (Http2CodecUtil.getEmbeddedHttp2Exception(cause) == null) {
                    ctx.close();
                }
            }
        }

        void goAway() {
            if (goingAway || !channel.isActive()) {
                return;
            }
            goingAway = true;
            if (peerId == null) {
                channel.close();
                return;
            }
            channel.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
            if (activeStreams == 0) {
                channel.close();
            }
        }

        /**
         * The peer reset a stream before its tunnel answered (CONNECT then RST_STREAM). Such a reset
         * cost us a stream and a dial and the peer nothing, so more than
         * {@code preOpenResets} of them per {@code resetWindow} end the connection with GOAWAY
         * ENHANCE_YOUR_CALM (hyper/h2's answer past max_pending_accept_reset_streams, Netty's past
         * its RST_STREAM frame budget).
         */
        void preOpenReset() {
            long now = System.nanoTime();
            if (now - resetWindowStart > cfg.limits().resetWindow().toNanos()) {
                resetWindowStart = now;
                preOpenResets = 0;
            }
            if (++preOpenResets <= cfg.limits().preOpenResets() || goingAway || !channel.isActive()) {
                return;
            }
            goingAway = true;
            long n = resetLog.admit();
            if (n >= 0) {
                log.info("HBONE connection from {} ({}) closed: GOAWAY ENHANCE_YOUR_CALM, {} streams reset before they were answered within {}{}",
                        peer, peerId, preOpenResets, cfg.limits().resetWindow(), LogBudget.note(n));
            }
            channel.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.ENHANCE_YOUR_CALM))
                    .addListener(io.netty.channel.ChannelFutureListener.CLOSE);
        }

        void streamOpened() {
            activeStreams++;
            if (idleTimer != null) {
                idleTimer.cancel(false);
                idleTimer = null;
            }
        }

        void streamClosed() {
            activeStreams--;
            if (activeStreams == 0) {
                if (goingAway) {
                    channel.close();
                } else {
                    scheduleIdle();
                }
            }
        }

        private void scheduleIdle() {
            long ms = cfg.idleTimeout().toMillis();
            if (ms <= 0 || activeStreams > 0) {
                return;
            }
            idleTimer = channel.eventLoop().schedule(() -> {
                if (activeStreams == 0 && channel.isActive()) {
                    log.debug("HBONE connection from {} idle for {}, closing", peer, cfg.idleTimeout());
                    goAway();
                }
            }, ms, TimeUnit.MILLISECONDS);
        }
    }

    private final class StreamInit extends ChannelInitializer<Http2StreamChannel> {
        private final Connection conn;

        StreamInit(Connection conn) {
            this.conn = conn;
        }

        @Override
        protected void initChannel(Http2StreamChannel ch) {
            conn.streamOpened();
            InboundStream s = new InboundStream(conn, ch);
            HbonePipeline.tunnel(ch, s.codec);
        }
    }

    /** One CONNECT stream: validate, resolve, authorize, then splice or hand over. */
    private final class InboundStream implements TunnelCodec.Listener {
        final Connection conn;
        final Http2StreamChannel ch;
        final TunnelCodec codec = new TunnelCodec(this);
        TunnelInfo info;
        boolean opened;
        boolean statusSent;
        boolean dialPending;
        boolean closedReported;

        InboundStream(Connection conn, Http2StreamChannel ch) {
            this.conn = conn;
            this.ch = ch;
        }

        @Override
        public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {
            long headerListSize = H2Codecs.headerListSize(headers);
            if (headerListSize > cfg.h2().maxHeaderListSize()) {
                // Checked before anything reads the headers. ztunnel's h2 answers 431 per stream too.
                info = new TunnelInfo(TunnelInfo.Direction.INBOUND, conn.localId, conn.peerId, conn.local, conn.peer, null, Map.of());
                refuse(431, "request header list of " + headerListSize + " bytes exceeds " + cfg.h2().maxHeaderListSize());
                return;
            }
            Map<String, String> plain = Headers.plain(headers);
            info = new TunnelInfo(TunnelInfo.Direction.INBOUND, conn.localId, conn.peerId, conn.local, conn.peer, null, plain);
            CharSequence method = headers.method();
            if (method == null || !"CONNECT".contentEquals(method)) {
                refuse(400, "method " + method + " is not CONNECT");
                return;
            }
            if (headers.path() != null || headers.scheme() != null || headers.get(":protocol") != null) {
                refuse(400, "extended CONNECT (:scheme/:path/:protocol) is not HBONE");
                return;
            }
            InetSocketAddress dst = Authority.parse(headers.authority());
            String hostname = dst == null ? Authority.hostname(headers.authority()) : null;
            if (hostname != null) {
                // ztunnel (src/proxy/inbound.rs find_inbound_upstream): a service hostname that names
                // nothing served is SERVICE_UNAVAILABLE. zerohop serves no hostname destinations.
                refuse(503, "no service named " + hostname + " is served here");
                return;
            }
            if (dst == null) {
                refuse(400, "malformed :authority \"" + headers.authority() + "\" (want ip:port, IPv6 in brackets)");
                return;
            }
            info = new TunnelInfo(TunnelInfo.Direction.INBOUND, conn.localId, conn.peerId, conn.local, conn.peer, dst, plain);
            if (endStream) {
                refuse(400, "CONNECT request ended the stream");
                return;
            }
            Destination d;
            try {
                d = cfg.destinations().resolve(dst, conn.localId, conn.local);
            } catch (RuntimeException e) {
                log.warn("destination resolver failed for {}", dst, e);
                refuse(503, "destination resolver failed: " + e);
                return;
            }
            if (d == null) {
                d = Destination.notServed();
            }
            if (d instanceof Destination.Refused r) {
                refuse(r.status(), r.reason());
                return;
            }
            AuthzDecision decision;
            try {
                decision = cfg.authorizer().authorize(new AuthzRequest(conn.peerId, conn.peer, conn.localId, dst, plain));
            } catch (RuntimeException e) {
                log.warn("authorizer failed for {} -> {}, denying", conn.peerId, dst, e);
                decision = AuthzDecision.deny("authorizer failed: " + e);
            }
            if (decision == null || !decision.allowed()) {
                refuse(decision == null ? 401 : decision.status(), decision == null ? "authorizer returned null" : decision.reason());
                return;
            }
            if (d instanceof Destination.Proxy p) {
                proxy(p.upstream());
            } else if (d instanceof Destination.Embedded e) {
                embed(e.handler());
            }
        }

        private void proxy(InetSocketAddress upstream) {
            // Pending dials are bounded per connection, per peer identity and per server before any
            // socket is opened; over a limit the answer is 503, ztunnel's status for an upstream it
            // cannot reach (src/proxy/inbound.rs).
            String over = budgets.tryDial(conn.share, conn.pendingDials);
            if (over != null) {
                refuse(503, over);
                return;
            }
            conn.pendingDials++;
            dialPending = true;
            Bootstrap b = new Bootstrap()
                    .group(ch.eventLoop())
                    .channel(Transports.socketChannel(group))
                    .option(ChannelOption.AUTO_READ, false)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, cfg.upstreamConnectTimeout().toMillis()))
                    .handler(new ChannelInboundHandlerAdapter());
            ChannelFuture dial = b.connect(upstream);
            // The stream ended (reset, connection lost) before the upstream answered: abandon the dial,
            // so CONNECT+RST loops cost no upstream connections and no sockets. Dials in progress are
            // then bounded by the streams a connection admits (SETTINGS_MAX_CONCURRENT_STREAMS).
            ch.closeFuture().addListener(x -> {
                if (!dial.isDone()) {
                    releaseDial();
                    dial.channel().close();
                }
            });
            // A loopback connect can complete inside connect(): the answer still waits for the rest of
            // the current read, so a RST_STREAM that came with the HEADERS finds the stream unanswered
            // (and counts against the reset budget) instead of a tunnel that opened.
            dial.addListener((ChannelFuture f) -> ch.eventLoop().execute(() -> dialed(f, upstream)));
        }

        /** Ends this stream's claim on the pending-dial limits, once: when the dial ends or is abandoned. */
        private void releaseDial() {
            if (dialPending) {
                dialPending = false;
                conn.pendingDials--;
                budgets.dialDone(conn.share);
            }
        }

        private void dialed(ChannelFuture f, InetSocketAddress upstream) {
                releaseDial();
                if (!f.isSuccess()) {
                    refuse(503, ch.isActive() ? "upstream " + upstream + " unreachable: " + describe(f.cause())
                            : "stream ended before the upstream " + upstream + " answered; dial abandoned");
                    return;
                }
                SocketChannel tcp = (SocketChannel) f.channel();
                if (!ch.isActive()) {
                    tcp.close();
                    return;
                }
                accept200();
                codec.open();
                Relay.join(Relay.tunnel(ch, new TunnelBudget(budgets, conn.share)), Relay.tcp(tcp));
        }

        private void embed(StreamHandler handler) {
            accept200();
            try {
                handler.initStream(ch, info);
            } catch (Exception e) {
                log.warn("stream handler failed for {}, resetting the tunnel", info, e);
                Streams.reset(ch);
                return;
            }
            codec.open();
            if (handler.autoRead()) {
                ch.config().setAutoRead(true);
            }
        }

        private void accept200() {
            opened = true;
            statusSent = true;
            ch.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200"), false));
            log.debug("HBONE tunnel opened: {}", info);
            safe(() -> cfg.events().tunnelOpened(info, codec));
        }

        private void refuse(int status, String reason) {
            long n = refusalLog.admit();
            if (n >= 0) {
                log.info("HBONE CONNECT refused: status={} peer={} local={} src={} dst={} reason={}{}",
                        status, conn.peerId, conn.localId, conn.peer, info.destination(), reason, LogBudget.note(n));
            }
            safe(() -> cfg.events().tunnelRefused(info, status, reason));
            if (!ch.isActive()) {
                return;
            }
            statusSent = true;
            ch.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status(Integer.toString(status)), true));
            ch.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
        }

        @Override
        public void onClosed(TunnelCodec c) {
            conn.streamClosed();
            // A stream the peer reset before we answered it freed its MAX_CONCURRENT_STREAMS slot at
            // once, having cost us a stream and a dial: that is what the reset budget counts. Resets of
            // answered tunnels are bounded by the streams the connection admits (the peer waited for
            // the 200), as pooled clients that close tunnels by reset need.
            if (c.rstReceived() && !statusSent) {
                conn.preOpenReset();
            }
            if (opened && !closedReported) {
                closedReported = true;
                Duration d = Duration.ofNanos(System.nanoTime() - c.startNanos());
                boolean reset = !c.completed();
                TunnelResult r = new TunnelResult(info, 200, c.bytesIn(), c.bytesOut(), d, reset,
                        reset ? (c.wasReset() ? "reset by peer" : "reset") : null);
                log.debug("HBONE tunnel closed: {} in={} out={} {}", info, r.bytesReceived(), r.bytesSent(), reset ? "reset" : "");
                safe(() -> cfg.events().tunnelClosed(r));
            }
        }
    }

    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (sb.length() > 0) {
                sb.append(": ");
            }
            sb.append(c.getMessage() != null ? c.getMessage() : c.getClass().getSimpleName());
            if (c.getCause() == c) {
                break;
            }
        }
        return sb.toString();
    }

    static void safe(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.warn("HBONE event listener failed", e);
        }
    }

    static HboneEvents none() {
        return HboneEvents.NONE;
    }
}
