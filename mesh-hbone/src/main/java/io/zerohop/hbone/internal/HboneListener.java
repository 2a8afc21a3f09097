package io.zerohop.hbone.internal;

import io.zerohop.identity.internal.LogBudget;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneEvents;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HBONE listener (ztunnel's src/proxy/inbound.rs accept loop): binds :15008, picks the local
 * identity per accepted connection, hands each to a {@link ServerConnection} (which opens an
 * {@link InboundTunnel} per CONNECT), and drains on shutdown. Holds the server-wide budgets and log
 * budgets its connections share.
 */
public final class HboneListener {
    static final Logger log = LoggerFactory.getLogger("io.zerohop.hbone.HboneServer");

    final ServerConfig cfg;
    final EventLoopGroup group;
    private final boolean ownGroup;
    final Set<ServerConnection> connections = ConcurrentHashMap.newKeySet();
    /**
     * Accepted TCP connections not yet closed, counted from accept as ztunnel counts its HBONE listener's sockets
     * (istio/ztunnel src/proxy/inbound.rs: {@code record_socket_open} right after {@code accept}, before the TLS
     * handshake and its certificate fetch; {@code SocketCloseGuard} at the end of the connection's task).
     */
    private final java.util.concurrent.atomic.AtomicInteger socketsOpen = new java.util.concurrent.atomic.AtomicInteger();
    /**
     * Every counted channel not yet closed, a {@link ServerConnection}'s or one still waiting for its TLS context: what
     * a drain's final close ends. Only the {@link #connections} were closed, so a connection waiting for the served
     * certificate outlived a server on a shared event loop group, counted in {@link #socketsOpen}, and went on to a TLS
     * handshake once the certificate came (ztunnel's connection tasks end with its proxy, src/proxy/inbound.rs).
     */
    private final Set<Channel> accepted = ConcurrentHashMap.newKeySet();
    /** Set before the drain's final close walks {@link #accepted}: a channel added after that closes itself. */
    private volatile boolean closingAll;
    private volatile Channel listener;
    volatile boolean draining;
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    /**
     * Completes once a drain has closed the listener and every connection's final GOAWAY is out,
     * right after the {@code HBONE drain: listener closed} line: what a drain's later lines follow.
     */
    final CompletableFuture<Void> goAwaySent = new CompletableFuture<>();
    /** One budget per kind of per-peer noise, so a flood of one kind cannot hide another. */
    final LogBudget refusalLog = new LogBudget();
    final LogBudget connectionLog = new LogBudget();
    final LogBudget resetLog = new LogBudget();
    /**
     * The clock (nanoseconds) of the one-second hold of the streams a connection reset ({@code H2Codecs.StreamIdGuard},
     * h2's {@code DEFAULT_RESET_STREAM_SECS}), read when a connection's codec is made: {@code System.nanoTime}, or a
     * test's through {@link Inspect#resetClock}. Nothing else reads it.
     */
    volatile java.util.function.LongSupplier resetClock = System::nanoTime;
    /**
     * The lifetime limit of resets for the peer's errors given to each new connection's codec
     * ({@code H2Codecs.MAX_LOCAL_ERROR_RESETS}, or a test's through {@link Inspect#localErrorResetLimit}).
     */
    volatile int localErrorResetLimit = H2Codecs.MAX_LOCAL_ERROR_RESETS;
    final Budgets budgets;

    public HboneListener(ServerConfig cfg) {
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
                    Transports.shutdown(group, 0);
                }
                started.completeExceptionally(e);
                return started;
            }
        }
        b.bind(cfg.bind()).addListener((ChannelFuture f) -> {
            if (f.isSuccess() && cfg.transparent() && !Transports.isTransparent(f.channel())) {
                f.channel().close();
                if (ownGroup) {
                    Transports.shutdown(group, 0);
                }
                started.completeExceptionally(new java.io.IOException("cannot set IP_TRANSPARENT on the HBONE listener "
                        + cfg.bind() + " (needs CAP_NET_ADMIN)"));
            } else if (f.isSuccess()) {
                listener = f.channel();
                InetSocketAddress local = (InetSocketAddress) f.channel().localAddress();
                log.info("HBONE listener on {} ({}{})", Authority.format(local), Transports.epoll() ? "epoll" : "nio", cfg.transparent() ? ", transparent" : "");
                started.complete(local);
            } else {
                if (ownGroup) {
                    Transports.shutdown(group, 0);
                }
                started.completeExceptionally(new java.io.IOException(
                        "cannot bind HBONE listener to " + Authority.text(cfg.bind()) + ": " + f.cause().getMessage(), f.cause()));
            }
        });
        return started;
    }

    public InetSocketAddress localAddress() {
        Channel l = listener;
        return l == null ? null : (InetSocketAddress) l.localAddress();
    }

    /** Connections past their TLS context (a {@link ServerConnection}): what a drain sends GOAWAY to. */
    public int connectionCount() {
        return connections.size();
    }

    /**
     * Accepted TCP connections still open, from accept on: those waiting for the served identity's TLS context
     * and those closed before TLS (no local identity, no TLS context) included, as ztunnel's
     * {@code istio_tcp_sockets_open{reporter="destination"}} (src/proxy/inbound.rs).
     */
    public int socketsOpen() {
        return socketsOpen.get();
    }

    private void accept(SocketChannel ch) {
        Transports.keepalive(ch, cfg.keepalive());
        InetSocketAddress local = ch.localAddress();
        InetSocketAddress peer = ch.remoteAddress();
        if (draining) {
            ch.close(); // the drain closed the listener: ztunnel's accept loop has ended by then and never counts it
            return;
        }
        socketsOpen.incrementAndGet();
        accepted.add(ch);
        ch.closeFuture().addListener(f -> {
            accepted.remove(ch);
            socketsOpen.decrementAndGet();
        });
        if (closingAll) { // the drain's final close may have walked the set before this channel was in it
            ch.close();
            return;
        }
        SpiffeId id;
        try {
            id = cfg.identities().select(local);
        } catch (RuntimeException e) {
            log.warn("HBONE connection from {} to {} closed: identity selector failed: {}", Authority.text(peer), Authority.text(local), e.toString());
            safe(() -> cfg.events().connectionFailed(peer, local, e));
            ch.close();
            return;
        }
        if (id == null) {
            long n = connectionLog.admit();
            if (n >= 0) {
                log.info("HBONE connection from {} to {} closed: no local identity serves that address{}", Authority.text(peer), Authority.text(local), LogBudget.note(n));
            }
            cfg.events().connectionFailed(peer, local, new IllegalStateException("no identity for " + Authority.text(local)));
            ch.close();
            return;
        }
        CompletableFuture<SslContext> ctxFuture = cfg.tls().server(id);
        ctxFuture.whenComplete((sslCtx, err) -> ch.eventLoop().execute(() -> {
            if (err != null) {
                // In the connection lines' budget: any host that can reach the port (no TLS needed) made one WARN per
                // connection while the served SVID was unavailable (an expired PEM, a CA that cannot issue; a day-2 pass,
                // 5 December: 500 connects, 500 lines). The provider says why itself, at most once a minute.
                long n = connectionLog.admit();
                if (n >= 0) {
                    log.warn("HBONE connection from {} to {} closed: no TLS context for {}: {}{}", Authority.text(peer), Authority.text(local), id,
                            err.toString(), LogBudget.note(n));
                }
                safe(() -> cfg.events().connectionFailed(peer, local, err));
                ch.close();
                return;
            }
            if (!ch.isActive()) {
                return;
            }
            SslHandler ssl = sslCtx.newHandler(ch.alloc());
            ssl.setHandshakeTimeoutMillis(cfg.handshakeTimeout().toMillis());
            ServerConnection conn = new ServerConnection(this, ch, ssl, id, local, peer);
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
            CompletableFuture<?>[] sent = connections.stream().map(c -> {
                CompletableFuture<Void> f = new CompletableFuture<>();
                c.channel.eventLoop().execute(() -> {
                    c.goAway();
                    c.finalGoAwayOut.whenComplete((v, e) -> f.complete(null));
                });
                return f;
            }).toArray(CompletableFuture[]::new);
            // Once every connection's final GOAWAY is out (after its PING's ack, or at most 1 s) every
            // connection refuses new streams (REFUSED_STREAM past its last-stream-id): the observable
            // point where the drain has taken effect.
            CompletableFuture.allOf(sent).thenRun(() -> {
                if (l != null) { // a server never started had no listener to close
                    log.info("HBONE drain: listener closed, GOAWAY sent on {}", LogText.count(sent.length, "connection", "connections"));
                }
                goAwaySent.complete(null);
            });
            CompletableFuture<?>[] closes = connections.stream().map(c -> c.closed).toArray(CompletableFuture[]::new);
            CompletableFuture<Void> all = CompletableFuture.allOf(closes);
            // Saturated: Duration.toMillis() throws past about 292 million years, here inside a callback,
            // and the drain would never have ended.
            long ms = Math.max(0, drain.compareTo(DurationLimit.MAX) > 0 ? DurationLimit.MAX.toMillis() : drain.toMillis());
            all.completeOnTimeout(null, ms, TimeUnit.MILLISECONDS).thenRun(() -> {
                closingAll = true;
                for (ServerConnection c : connections) {
                    Transports.closeNow(c.channel);
                }
                // Also those still waiting for their TLS context (no ServerConnection yet): their context's arrival
                // finds them closed and does nothing.
                for (Channel ch : accepted) {
                    Transports.closeNow(ch);
                }
                java.util.stream.Stream<CompletableFuture<?>> serverClosed = connections.stream().map(c -> c.closed);
                java.util.stream.Stream<CompletableFuture<?>> socketsClosed = accepted.stream().map(HboneListener::closed);
                CompletableFuture.allOf(java.util.stream.Stream.concat(serverClosed, socketsClosed).toArray(CompletableFuture[]::new))
                        .completeOnTimeout(null, 5, TimeUnit.SECONDS)
                        .thenRun(() -> {
                            if (ownGroup) {
                                Transports.shutdown(group, 0)
                                        .addListener(f -> terminated.complete(null));
                            } else {
                                terminated.complete(null);
                            }
                        });
            });
        });
        return terminated;
    }

    /** Completes once {@code ch} is closed and {@link #socketsOpen} no longer counts it (that listener was added first). */
    private static CompletableFuture<Void> closed(Channel ch) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        ch.closeFuture().addListener(x -> f.complete(null));
        return f;
    }

    private static final String OPENSSL_GENERIC = "General OpenSslEngine problem";
    private static final java.util.regex.Pattern JAVA_CLASS_PREFIX =
            java.util.regex.Pattern.compile("\\b(?:[a-z][\\w]*\\.)+[A-Z][\\w$]*(?:Exception|Error): ");

    /**
     * Why {@code f} failed, when it already has (an identity provider that refuses an identity at once: another trust
     * domain than an in-memory CA's, another identity than a PEM file's), else null: a future still running (a SPIRE
     * agent) is not waited for. For the builders' checks of a fixed identity.
     */
    public static String failedAtOnce(java.util.concurrent.CompletableFuture<?> f) {
        if (!f.isCompletedExceptionally()) {
            return null;
        }
        try {
            f.getNow(null);
            return "refused";
        } catch (java.util.concurrent.CompletionException | java.util.concurrent.CancellationException e) {
            return e.getCause() != null ? describe(e.getCause()) : e.toString();
        }
    }

    /**
     * {@code t}'s message and its causes', each said once ("spiffe://...: no trust bundle for trust domain ..."): what the server's log lines and mesh-core's access lines give
     * as a failure's reason, with what a TLS alert the peer sent means ({@link TlsAlerts}). Never null.
     */
    public static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            // A message that embeds another exception's toString() ("io.netty...OpenSslException: error:...") loses the
            // class name: a person reading the line wants what went wrong (newuser17 read it in zerohop connect's error).
            // Netty's StacklessClosedChannelException has no message: a port probe's close read as its class name (newuser20).
            String m = c.getMessage() != null ? JAVA_CLASS_PREFIX.matcher(timeoutText(c)).replaceAll("")
                    : c instanceof java.nio.channels.ClosedChannelException ? "connection closed" : c.getClass().getSimpleName();
            // Netty's annotated exceptions carry their cause's text plus the address: said once is enough. Netty's
            // "General OpenSslEngine problem" says nothing its cause does not (newuser18): left out when a cause follows.
            if (sb.indexOf(m) < 0 && !(m.equals(OPENSSL_GENERIC) && c.getCause() != null && c.getCause() != c)) {
                sb.append(sb.length() > 0 ? ": " : "").append(m);
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return sb.append(TlsAlerts.explain(sb)).toString();
    }

    /** Netty's timeout texts: {@code handshake timed out after 10000ms}, {@code connection timed out after 10000 ms: /10.0.0.1:80}. */
    private static final java.util.regex.Pattern NETTY_TIMEOUT = java.util.regex.Pattern.compile("^(?:handshake|connection) timed out after (\\d+) ?ms");

    /**
     * {@code c}'s message, but Netty's TLS handshake and connect timeouts in zerohop's words, their duration as the
     * option that set it is written: {@code TLS handshake timed out after 10s} (SslHandler says {@code handshake timed out
     * after 10000ms}, which reached the proxy's and {@code zerohop connect}'s lines), {@code connection timed out after 10s}.
     * Code that matches on the text (zerohop connect's hint) matches {@code handshake timed out}, which both keep.
     */
    static String timeoutText(Throwable c) {
        String m = c.getMessage();
        boolean handshake = c instanceof io.netty.handler.ssl.SslHandshakeTimeoutException;
        if (!handshake && !(c instanceof io.netty.channel.ConnectTimeoutException)) {
            return m;
        }
        java.util.regex.Matcher t = NETTY_TIMEOUT.matcher(m);
        if (!t.find()) {
            return handshake && !m.startsWith("TLS ") ? "TLS " + m : m;
        }
        String after = LogText.duration(java.time.Duration.ofMillis(Long.parseLong(t.group(1))));
        return (handshake ? "TLS handshake" : "connection") + " timed out after " + after + m.substring(t.end());
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
