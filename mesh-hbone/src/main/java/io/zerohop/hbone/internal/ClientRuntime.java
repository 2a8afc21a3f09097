package io.zerohop.hbone.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.TunnelInfo;
import io.zerohop.hbone.TunnelResult;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** HBONE client: connection pool keyed by {@link PoolKey}, one CONNECT stream per tunnel. */
public final class ClientRuntime {
    private static final Logger log = LoggerFactory.getLogger("io.zerohop.hbone.HboneClient");

    private final ClientConfig cfg;
    private final EventLoopGroup group;
    private final boolean ownGroup;
    private final Object lock = new Object();
    private final Map<PoolKey, List<PooledConnection>> pool = new HashMap<>();
    private volatile boolean closed;

    public ClientRuntime(ClientConfig cfg) {
        this.cfg = cfg;
        this.ownGroup = cfg.group() == null;
        this.group = ownGroup ? Transports.newGroup(cfg.threads(), "hbone-client") : cfg.group();
    }

    public ClientConfig config() {
        return cfg;
    }

    public CompletableFuture<HboneStream> connect(InetSocketAddress target, Set<SpiffeId> expected,
                                                  InetSocketAddress hbone, Map<String, String> headers) {
        if (closed) {
            return CompletableFuture.failedFuture(new IOException("HBONE client is closed"));
        }
        PoolKey key = new PoolKey(cfg.source(), expected, hbone);
        PooledConnection conn = acquire(key);
        CompletableFuture<HboneStream> result = new CompletableFuture<>();
        conn.ready.whenComplete((ch, err) -> {
            if (err != null) {
                conn.release();
                result.completeExceptionally(err);
            } else {
                try {
                    conn.openStream(ch, target, headers, result);
                } catch (RuntimeException e) {
                    // a callback's exception would vanish inside the future: fail the caller instead
                    conn.release();
                    result.completeExceptionally(e);
                }
            }
        });
        return result;
    }

    private PooledConnection acquire(PoolKey key) {
        PooledConnection fresh;
        synchronized (lock) {
            List<PooledConnection> list = pool.computeIfAbsent(key, k -> new ArrayList<>(2));
            for (PooledConnection c : list) {
                if (c.tryReserve()) {
                    return c;
                }
            }
            fresh = new PooledConnection(key);
            fresh.tryReserve();
            list.add(fresh);
        }
        fresh.connect();
        return fresh;
    }

    private void remove(PooledConnection c) {
        synchronized (lock) {
            c.usable = false;
            List<PooledConnection> list = pool.get(c.key);
            if (list != null) {
                list.remove(c);
                if (list.isEmpty()) {
                    pool.remove(c.key);
                }
            }
        }
    }

    /** Pooled connections per key (usable or still draining their streams are both counted while pooled). */
    public Map<PoolKey, Integer> connectionCounts() {
        synchronized (lock) {
            Map<PoolKey, Integer> out = new HashMap<>();
            pool.forEach((k, v) -> out.put(k, v.size()));
            return out;
        }
    }

    /** Active (reserved or open) streams across all pooled connections of {@code key}. */
    public int streamCount(PoolKey key) {
        synchronized (lock) {
            List<PooledConnection> list = pool.get(key);
            return list == null ? 0 : list.stream().mapToInt(c -> c.streams).sum();
        }
    }

    public CompletableFuture<Void> close() {
        closed = true;
        List<PooledConnection> all = new ArrayList<>();
        synchronized (lock) {
            pool.values().forEach(all::addAll);
            pool.clear();
        }
        List<CompletableFuture<Void>> closes = new ArrayList<>();
        for (PooledConnection c : all) {
            c.usable = false;
            CompletableFuture<Void> f = new CompletableFuture<>();
            closes.add(f);
            c.ready.whenComplete((ch, err) -> {
                if (ch == null) {
                    f.complete(null);
                } else {
                    Transports.closeNow(ch).addListener(x -> f.complete(null));
                }
            });
        }
        CompletableFuture<Void> done = CompletableFuture.allOf(closes.toArray(CompletableFuture[]::new))
                .completeOnTimeout(null, 5, TimeUnit.SECONDS);
        if (!ownGroup) {
            return done;
        }
        CompletableFuture<Void> terminated = new CompletableFuture<>();
        done.whenComplete((v, e) -> group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS)
                .addListener(f -> terminated.complete(null)));
        return terminated;
    }

    /** One HTTP/2 connection to an HBONE endpoint; slot counts guarded by {@link #lock}. */
    final class PooledConnection {
        final PoolKey key;
        final CompletableFuture<Channel> ready = new CompletableFuture<>();
        int streams;
        int limit = cfg.maxStreamsPerConnection();
        boolean usable = true;
        ScheduledFuture<?> idleTimer;
        volatile Channel channel;
        volatile SpiffeId peerId;
        /**
         * Why the connection failed after setup, if it did. With TLS 1.3 the server verifies the client
         * certificate after the client's handshake has completed, so a refusal arrives as an alert on
         * the established connection; streams that die with it report this cause (an SSLException),
         * not a bare "closed".
         */
        volatile Throwable failure;
        /** Event loop only: until the server's first SETTINGS. */
        ScheduledFuture<?> settingsTimer;

        PooledConnection(PoolKey key) {
            this.key = key;
        }

        /** Caller holds {@link #lock}. */
        boolean tryReserve() {
            if (!usable || streams >= limit) {
                return false;
            }
            streams++;
            if (idleTimer != null) {
                idleTimer.cancel(false);
                idleTimer = null;
            }
            return true;
        }

        void release() {
            synchronized (lock) {
                streams--;
                if (streams == 0 && usable && channel != null) {
                    long ms = cfg.idleTimeout().toMillis();
                    idleTimer = channel.eventLoop().schedule(this::idleCheck, ms, TimeUnit.MILLISECONDS);
                }
            }
        }

        private void idleCheck() {
            synchronized (lock) {
                if (streams != 0 || !usable) {
                    return;
                }
                // Still under the lock: a stream reserved after this point finds the connection gone
                // from the pool instead of being killed by the close below.
                remove(this);
            }
            log.debug("HBONE connection to {} idle for {}, closing", key.hboneAddress(), cfg.idleTimeout());
            channel.close();
        }

        void connect() {
            cfg.tls().client(key.source(), key.destinations()).whenComplete((sslCtx, err) -> {
                if (err != null) {
                    fail(new IOException("no TLS context for HBONE source " + key.source() + ": " + ServerRuntime.describe(err), err));
                } else {
                    dial(sslCtx);
                }
            });
        }

        private void fail(Throwable t) {
            remove(this);
            ready.completeExceptionally(t);
        }

        private void dial(SslContext sslCtx) {
            InetSocketAddress hbone = key.hboneAddress();
            Bootstrap b = new Bootstrap()
                    .group(group)
                    .channel(Transports.socketChannel(group))
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, cfg.connectTimeout().toMillis()))
                    .option(ChannelOption.WRITE_BUFFER_WATER_MARK, HbonePipeline.CONNECTION_WATERMARK)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            // Set here, not in the connect listener: added from a non-loop thread, that
                            // listener can run after the handshake already completed `ready`.
                            channel = ch;
                            Transports.keepalive(ch);
                            ch.closeFuture().addListener(x -> {
                                remove(PooledConnection.this);
                                // Later on the loop: the error that closed the channel (a TLS alert) may be
                                // fired after the close, and it names the cause better than "closed".
                                ch.eventLoop().execute(() -> {
                                    if (!ready.isDone()) {
                                        Throwable why = failure;
                                        ConnectException ce = new ConnectException("HBONE connection to " + hbone + " closed during setup"
                                                + (why == null ? "" : ": " + ServerRuntime.describe(why)));
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
            b.connect(hbone).addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    ConnectException ce = new ConnectException("HBONE connection to " + hbone + " failed: " + ServerRuntime.describe(f.cause()));
                    ce.initCause(f.cause());
                    fail(ce);
                }
            });
        }

        final class ConnHandler extends Negotiator {
            ConnHandler(SslHandler ssl) {
                super(ssl);
            }

            @Override
            protected void handshakeFailed(ChannelHandlerContext ctx, Throwable cause) {
                String msg = "HBONE TLS handshake with " + key.hboneAddress() + " failed (source " + key.source()
                        + ", expected server identity " + names(key.destinations()) + "): " + ServerRuntime.describe(cause);
                log.info(msg);
                SSLHandshakeException e = new SSLHandshakeException(msg);
                e.initCause(cause);
                fail(e);
                safeEvent(() -> cfg.events().connectionFailed(key.hboneAddress(), null, cause));
            }

            @Override
            protected void notH2(ChannelHandlerContext ctx, String alpn) {
                fail(new SSLHandshakeException("HBONE server " + key.hboneAddress() + " did not negotiate ALPN h2 (got " + alpn + ")"));
            }

            @Override
            protected void unverifiedPeer(ChannelHandlerContext ctx, SSLPeerUnverifiedException e) {
                fail(e);
            }

            @Override
            protected void negotiated(ChannelHandlerContext ctx, SpiffeId peer) {
                peerId = peer;
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
                        fail(new SSLHandshakeException("HBONE server " + key.hboneAddress() + " sent no HTTP/2 SETTINGS within "
                                + cfg.handshakeTimeout() + " of the TLS handshake"));
                        parent.close();
                    }
                }, cfg.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
                HbonePipeline.clientH2(ctx.pipeline(), H2Codecs.client(settings),
                        new PingKeepalive(cfg.pingInterval(), cfg.pingTimeout(), () -> {
                            log.info("HBONE connection to {} closed: PING unanswered for {}", key.hboneAddress(), cfg.pingTimeout());
                            remove(PooledConnection.this);
                        }),
                        new SettingsWatcher());
                int window = h2.connectionWindowFor(cfg.maxStreamsPerConnection());
                if (window > 65_535) {
                    parent.writeAndFlush(new DefaultHttp2WindowUpdateFrame(window - 65_535));
                }
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                failure = cause;
                if (!ready.isDone()) {
                    if (hasCause(cause, javax.net.ssl.SSLException.class)) {
                        // The server refused our certificate (an alert after our side of the handshake).
                        log.info("HBONE connection setup to {} failed: {}", key.hboneAddress(), ServerRuntime.describe(cause));
                    } else {
                        log.warn("HBONE connection setup to {} failed", key.hboneAddress(), cause);
                    }
                    fail(new IOException("HBONE connection setup to " + key.hboneAddress() + " failed: "
                            + ServerRuntime.describe(cause), cause));
                } else {
                    log.debug("HBONE connection to {} failed", key.hboneAddress(), cause);
                }
                ctx.close();
            }
        }

        final class SettingsWatcher extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    if (msg instanceof Http2SettingsFrame s && !ready.isDone()) {
                        settingsTimer.cancel(false);
                        applyLimit(s);
                        ready.complete(ctx.channel());
                    } else if (msg instanceof Http2SettingsFrame s) {
                        applyLimit(s);
                    } else if (msg instanceof Http2GoAwayFrame) {
                        // No new streams here; the ones in flight finish, then the server closes.
                        remove(PooledConnection.this);
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }

            private void applyLimit(Http2SettingsFrame s) {
                Long max = s.settings().maxConcurrentStreams();
                if (max != null) {
                    synchronized (lock) {
                        limit = (int) Math.min(cfg.maxStreamsPerConnection(), Math.max(1, max));
                    }
                }
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                if (failure == null) {
                    failure = cause;
                }
                log.debug("HBONE connection to {} failed", key.hboneAddress(), cause);
                ctx.close();
            }
        }

        void openStream(Channel parent, InetSocketAddress target, Map<String, String> extra, CompletableFuture<HboneStream> result) {
            OutboundStream s = new OutboundStream(this, target, extra, result);
            new Http2StreamChannelBootstrap(parent)
                    .handler(new ChannelInitializer<Http2StreamChannel>() {
                        @Override
                        protected void initChannel(Http2StreamChannel ch) {
                            HbonePipeline.tunnel(ch, s.codec);
                        }
                    })
                    .open().addListener(f -> {
                        if (!f.isSuccess()) {
                            s.failOpen(new IOException("cannot open HBONE stream to " + target + " via " + key.hboneAddress()
                                    + ": " + ServerRuntime.describe(f.cause()), f.cause()));
                            s.releaseSlot();
                            return;
                        }
                        Http2StreamChannel ch = (Http2StreamChannel) f.getNow();
                        s.bind(ch);
                        Http2Headers h = new DefaultHttp2Headers()
                                .method("CONNECT")
                                .authority(Authority.format(target));
                        extra.forEach((n, v) -> h.add(n.toLowerCase(java.util.Locale.ROOT), v));
                        ch.writeAndFlush(new DefaultHttp2HeadersFrame(h, false)).addListener(w -> {
                            if (!w.isSuccess()) {
                                s.failOpen(new IOException("cannot send CONNECT to " + key.hboneAddress() + ": "
                                        + ServerRuntime.describe(w.cause()), w.cause()));
                                ch.close();
                            }
                        });
                    });
        }
    }

    static String names(Set<SpiffeId> ids) {
        return ids.isEmpty() ? "(any in trust bundle)" : ids.toString();
    }

    static void safeEvent(Runnable r) {
        ServerRuntime.safe(r);
    }

    /** The client half of one tunnel. */
    final class OutboundStream implements HboneStream, TunnelCodec.Listener {
        final PooledConnection conn;
        final InetSocketAddress target;
        final Map<String, String> headers;
        final CompletableFuture<HboneStream> result;
        final TunnelCodec codec = new TunnelCodec(this);
        Http2StreamChannel ch;
        TunnelInfo info;
        ScheduledFuture<?> responseTimer;
        boolean released;
        volatile boolean opened;

        OutboundStream(PooledConnection conn, InetSocketAddress target, Map<String, String> headers,
                       CompletableFuture<HboneStream> result) {
            this.conn = conn;
            this.target = target;
            this.headers = headers;
            this.result = result;
        }

        void bind(Http2StreamChannel ch) {
            this.ch = ch;
            InetSocketAddress local = (InetSocketAddress) conn.channel.localAddress();
            this.info = new TunnelInfo(TunnelInfo.Direction.OUTBOUND, conn.key.source(), conn.peerId, local,
                    conn.key.hboneAddress(), target, headers);
            long ms = cfg.connectTimeout().toMillis();
            responseTimer = ch.eventLoop().schedule(() -> {
                if (!result.isDone()) {
                    failOpen(new java.net.SocketTimeoutException("no CONNECT response from " + conn.key.hboneAddress()
                            + " for " + target + " within " + cfg.connectTimeout()));
                    ch.close();
                }
            }, ms, TimeUnit.MILLISECONDS);
        }

        void failOpen(Throwable t) {
            if (result.completeExceptionally(t) && info != null) {
                int status = t instanceof HboneRefusedException r ? r.status() : 0;
                safeEvent(() -> cfg.events().tunnelRefused(info, status, t.getMessage()));
            }
        }

        @Override
        public void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream) {
            if (responseTimer != null) {
                responseTimer.cancel(false);
            }
            CharSequence status = headers.status();
            if (status != null && "200".contentEquals(status) && !endStream) {
                codec.open();
                opened = true;
                if (result.complete(this)) {
                    safeEvent(() -> cfg.events().tunnelOpened(info, codec));
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
            if (responseTimer != null) {
                responseTimer.cancel(false);
            }
            if (!result.isDone()) {
                Throwable cause = conn.failure;
                failOpen(cause == null
                        ? new IOException("HBONE stream to " + target + " via " + conn.key.hboneAddress()
                                + " closed before a CONNECT response (reset, GOAWAY or connection loss)")
                        : new IOException("HBONE connection to " + conn.key.hboneAddress() + " failed before a CONNECT response for "
                                + target + ": " + ServerRuntime.describe(cause), cause));
            }
            releaseSlot();
            if (opened) {
                Duration d = Duration.ofNanos(System.nanoTime() - c.startNanos());
                boolean reset = !c.completed();
                safeEvent(() -> cfg.events().tunnelClosed(new TunnelResult(info, 200, c.bytesIn(), c.bytesOut(), d, reset,
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
            return StreamSocket.attach(ch, info);
        }

        @Override
        public void reset() {
            Streams.reset(ch);
        }

        @Override
        public void close() {
            ch.eventLoop().execute(() -> Streams.closeGracefully(ch, codec));
        }
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
