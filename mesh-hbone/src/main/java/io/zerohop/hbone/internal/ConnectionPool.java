package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's connection pool (ztunnel's src/proxy/pool.rs): one or more HTTP/2 connections per
 * {@link PoolKey} (source identity, expected server identities, HBONE address), each carrying up to
 * the server's SETTINGS_MAX_CONCURRENT_STREAMS tunnels; a {@link ClientConnection} per connection, an
 * {@link OutboundTunnel} per CONNECT.
 */
public final class ConnectionPool {
    static final Logger log = LoggerFactory.getLogger("io.zerohop.hbone.HboneClient");

    final ClientConfig cfg;
    final EventLoopGroup group;
    private final boolean ownGroup;
    final Object lock = new Object();
    private final Map<PoolKey, List<ClientConnection>> pool = new HashMap<>();
    private volatile boolean closed;
    /**
     * The lifetime limit of resets for the server's errors given to each new connection's codec
     * ({@code H2Codecs.MAX_LOCAL_ERROR_RESETS}, or a test's through {@link Inspect#localErrorResetLimit}).
     */
    volatile int localErrorResetLimit = H2Codecs.MAX_LOCAL_ERROR_RESETS;
    /** Set with {@link #closed} by {@link #retireIfIdle}: an open then fails with no failure event recorded. */
    private volatile boolean retired;
    /** What tunnels that ended before their first read keep for a later attach ({@link OutboundTunnel#keptUnread}); guarded by {@link #lock}. */
    private final java.util.Set<TunnelCodec.Kept> unread = new java.util.HashSet<>();

    public ConnectionPool(ClientConfig cfg) {
        this.cfg = cfg;
        this.ownGroup = cfg.group() == null;
        this.group = ownGroup ? Transports.newGroup(cfg.threads(), "hbone-client") : cfg.group();
        cfg.tls().identityProvider().addListener(withdrawal);
    }

    /**
     * The provider withdrew this pool's own SVID (SPIRE's PERMISSION_DENIED or an update without it, a workload that left:
     * {@code IdentityListener.svidForgotten}): its pooled connections take no new tunnel, as for an expired certificate,
     * so no tunnel opens on an identity its source has stopped vouching for (SPIFFE Workload API 5.2.1, "cease using");
     * the open ones go on. A new-user pass saw new tunnels ride a withdrawn SPIRE SVID's pooled connection.
     */
    private final io.zerohop.identity.IdentityListener withdrawal = new io.zerohop.identity.IdentityListener() {
        @Override
        public void svidForgotten(SpiffeId id) {
            if (id.equals(cfg.source())) {
                retireAll("the identity provider withdrew its SVID (" + id + ")");
            }
        }
    };

    /** Every pooled connection takes no new tunnel from now on ({@link ClientConnection#retire}). */
    void retireAll(String why) {
        synchronized (lock) {
            for (List<ClientConnection> list : pool.values()) {
                for (ClientConnection c : List.copyOf(list)) {
                    if (c.usable) {
                        c.retire(why);
                    }
                }
            }
        }
    }

    public ClientConfig config() {
        return cfg;
    }

    /**
     * Refuses a blocking open on one of this pool's event loops: the answer it would wait for is
     * handled by a loop of this group, often the very one (a connect future's callback runs on the
     * loop of the pooled connection that the next tunnel to the same place uses), so it would stall
     * every tunnel of that loop until its timeout.
     *
     * @throws IOException saying so, when the calling thread is one of this pool's event loops
     */
    public void refuseBlockingOnLoop(String what) throws IOException {
        io.netty.util.concurrent.EventExecutor current = io.netty.util.internal.ThreadExecutorMap.currentExecutor();
        if (current != null && current.parent() == group) {
            throw new IOException("blocking " + what + " on an event loop of this HBONE client would stall its tunnels until "
                    + "the timeout: call it from another thread (a connect future completes on the event loop: use "
                    + "thenApplyAsync/thenAcceptAsync with an executor of yours)");
        }
    }

    /**
     * Opens a tunnel ({@code HboneClient.connect}, and the socket factory's sockets). Refused at once with a failed
     * future and nothing dialled: an expected identity without a path, a header Netty's HTTP/2 validation would
     * refuse ({@link Headers#invalid}); a null header name or value throws {@link NullPointerException}.
     */
    public CompletableFuture<HboneStream> connect(InetSocketAddress target, Set<SpiffeId> expected,
                                                  InetSocketAddress hbone, Map<String, String> headers) {
        IllegalArgumentException refused = refusal(expected, headers);
        if (refused != null) {
            return CompletableFuture.failedFuture(refused);
        }
        if (closed) {
            if (retired) {
                return retiredFailure();
            }
            // One failed open, as any other: ztunnel records an open its draining pool refuses with the
            // connection's labels (src/proxy/pool.rs WorkloadHBONEPoolDraining, recorded by
            // src/proxy/outbound.rs proxy_to_hbone as a ConnectionFailure).
            IOException e = new io.zerohop.hbone.HboneClientClosedException("HBONE client is closed");
            TunnelEvents.failed(cfg.events(), new io.zerohop.hbone.TunnelInfo(io.zerohop.hbone.TunnelInfo.Direction.OUTBOUND, cfg.source(),
                    null, null, hbone, target, headers), e);
            return CompletableFuture.failedFuture(e);
        }
        ClientConnection conn = acquire(expected, hbone);
        if (conn == null) {
            // Retired between the check above and the pool's lock.
            return retiredFailure();
        }
        CompletableFuture<HboneStream> result = new CompletableFuture<>();
        // A warm connection (the usual case) opens at once: whenComplete on a completed future still
        // cost a capturing lambda, a completion node and a future nobody used, per tunnel (issue 14).
        Channel ready = conn.ready.isDone() && !conn.ready.isCompletedExceptionally() ? conn.ready.getNow(null) : null;
        if (ready != null) {
            open(conn, ready, target, headers, result);
        } else {
            // When the open was asked for, for a failure's duration: a clock read on this cold path only.
            long asked = System.nanoTime();
            conn.ready.whenComplete((ch, err) -> {
                if (err != null) {
                    conn.release();
                    // Each open waiting on the failed connection is one failed tunnel (metrics hook).
                    if (result.completeExceptionally(err)) {
                        TunnelEvents.failed(cfg.events(), conn.pendingInfo(target, headers, asked), err);
                    }
                } else if (conn.shedIfOverLimit()) {
                    // Reserved before the server's SETTINGS lowered this connection's slots below the tunnels reserved on
                    // it: another connection takes it. Left here, Netty's buffering encoder held its CONNECT until a
                    // tunnel ended, and with long tunnels it failed at the CONNECT response timeout
                    // (ClientGoAwayParityTest.opensReservedBeforeALowServerLimitGoToAnotherConnection, helper 263).
                    connect(target, expected, hbone, headers).whenComplete((s, e) -> {
                        if (e != null) {
                            result.completeExceptionally(e);
                        } else if (!result.complete(s)) {
                            s.close();
                        }
                    });
                } else {
                    open(conn, ch, target, headers, result);
                }
            });
        }
        return result;
    }

    /**
     * What makes an open impossible before anything is dialled, or null. A SPIFFE ID without a path names a trust
     * domain, no workload: no X509-SVID carries one (X509-SVID spec section 2; mesh-identity's {@code SvidVerifier}
     * refuses such a leaf), so such an open was dialled and handshaken only to fail (a new-user pass).
     */
    private static IllegalArgumentException refusal(Set<SpiffeId> expected, Map<String, String> headers) {
        for (SpiffeId id : expected) {
            if (id.getPath().isEmpty()) {
                return new IllegalArgumentException("expected identity " + id + " has no path: it names a trust domain, no workload"
                        + " (X509-SVID spec section 2); expect the server's workload ID, such as " + id + "/ns/NS/sa/SA");
            }
        }
        return headers.isEmpty() ? null : Headers.invalid(headers);
    }

    private static void open(ClientConnection conn, Channel ch, InetSocketAddress target, Map<String, String> headers,
                             CompletableFuture<HboneStream> result) {
        try {
            conn.openTunnel(ch, target, headers, result);
        } catch (RuntimeException e) {
            // a callback's exception would vanish inside the future: fail the caller instead
            conn.release();
            result.completeExceptionally(e);
        }
    }

    /**
     * The key and connection list of the previous open, guarded by {@link #lock}: a caller that opens
     * tunnels to one HBONE address with the same set of expected identities (the usual case) finds
     * its connections without a {@code PoolKey} and its hash, which hashes every SPIFFE ID of the key
     * (issue 14). {@code lastList} is the list mapped to
     * {@code lastKey} as long as it is set; both are cleared when that list leaves the pool.
     */
    private PoolKey lastKey;
    private List<ClientConnection> lastList;

    private ClientConnection acquire(Set<SpiffeId> expected, InetSocketAddress hbone) {
        ClientConnection fresh;
        synchronized (lock) {
            if (retired) {
                return null;
            }
            PoolKey key = lastKey;
            List<ClientConnection> list;
            if (key != null && key.hboneAddress().equals(hbone)
                    && (key.destinations() == expected || key.destinations().equals(expected))) {
                list = lastList;
            } else {
                key = new PoolKey(cfg.source(), expected, hbone);
                list = pool.computeIfAbsent(key, k -> new ArrayList<>(2));
                lastKey = key;
                lastList = list;
            }
            long now = list.isEmpty() ? 0 : System.currentTimeMillis();
            for (ClientConnection c : list) {
                if (c.usable && now >= c.notAfter) {
                    // ztunnel's pool reuses a connection whatever its certificates (src/proxy/pool.rs
                    // checks only h2's readiness and the stream count), as Envoy's does
                    // (envoyproxy/envoy#17999): a new tunnel would carry an identity that is no
                    // longer valid. It stays pooled while its tunnels drain, then closes.
                    c.retireExpired(now);
                    continue;
                }
                if (c.tryReserve()) {
                    return c;
                }
            }
            fresh = new ClientConnection(this, key);
            fresh.tryReserve();
            list.add(fresh);
        }
        fresh.connect();
        return fresh;
    }

    void remove(ClientConnection c) {
        synchronized (lock) {
            c.usable = false;
            List<ClientConnection> list = pool.get(c.key);
            if (list != null) {
                list.remove(c);
                if (list.isEmpty()) {
                    pool.remove(c.key);
                    if (list == lastList) {
                        lastKey = null;
                        lastList = null;
                    }
                }
            }
        }
    }

    /** Pooled connections per key (usable or still draining their tunnels are both counted while pooled). */
    public Map<PoolKey, Integer> connectionCounts() {
        synchronized (lock) {
            Map<PoolKey, Integer> out = new HashMap<>();
            pool.forEach((k, v) -> out.put(k, v.size()));
            return out;
        }
    }

    /** Pooled connections of {@code key} that take new tunnels (not draining after a GOAWAY, an expiry, a withdrawal). */
    public int usableConnectionCount(PoolKey key) {
        synchronized (lock) {
            List<ClientConnection> list = pool.get(key);
            return list == null ? 0 : (int) list.stream().filter(c -> c.usable).count();
        }
    }

    /** Active (reserved or open) tunnels across all pooled connections of {@code key}. */
    public int tunnelCount(PoolKey key) {
        synchronized (lock) {
            List<ClientConnection> list = pool.get(key);
            return list == null ? 0 : list.stream().mapToInt(c -> c.tunnels).sum();
        }
    }

    /** Registers what an ended tunnel keeps unread, for the close to release; false (keep nothing) once closed. */
    boolean keep(TunnelCodec.Kept kept) {
        synchronized (lock) {
            return !closed && unread.add(kept);
        }
    }

    void forget(TunnelCodec.Kept kept) {
        synchronized (lock) {
            unread.remove(kept);
        }
    }

    /** Unread kept bytes of ended tunnels still registered (tests). */
    public long unreadBytes() {
        synchronized (lock) {
            return unread.stream().mapToLong(TunnelCodec.Kept::bytes).sum();
        }
    }

    /**
     * A {@link java.lang.ref.Cleaner} action: releases what a tunnel kept unread once the application
     * dropped the tunnel without attaching to it or closing it. Holds no reference to the tunnel.
     */
    static final class Unread implements Runnable {
        /** Created on first use: most clients never keep an unread end. */
        static final java.lang.ref.Cleaner CLEANER = java.lang.ref.Cleaner.create(r -> {
            Thread t = new Thread(r, "hbone-unread-cleaner");
            t.setDaemon(true);
            return t;
        });
        private final ConnectionPool pool;
        private final TunnelCodec.Kept kept;

        Unread(ConnectionPool pool, TunnelCodec.Kept kept) {
            this.pool = pool;
            this.kept = kept;
        }

        @Override
        public void run() {
            pool.forget(kept);
            kept.run();
        }
    }

    /**
     * The failure of an open on a client retired by {@link #retireIfIdle}: its owner, who retired it,
     * takes a new client and opens again (mesh-core's Outbound). No failure event is recorded.
     */
    private static CompletableFuture<HboneStream> retiredFailure() {
        return CompletableFuture.failedFuture(new io.zerohop.hbone.HboneClientClosedException("HBONE client retired while idle"));
    }

    /**
     * Closes this pool if it holds no connection (none open, opening or draining) and no ended
     * tunnel's unread bytes: its owner is dropping a client nobody used for a while (mesh-core, the
     * client of an identity that left the node). Decided under the pool's lock, as every open takes a
     * connection under it, so an open either found the pool retired (and fails at once,
     * recording nothing) or holds a connection here (and the pool is not retired). A pool on its own
     * event loop group shuts the group down (nothing is registered on it).
     *
     * @return true when this call retired the pool
     */
    public boolean retireIfIdle() {
        synchronized (lock) {
            if (closed || !pool.isEmpty() || !unread.isEmpty()) {
                return false;
            }
            retired = true;
            closed = true;
            lastKey = null;
            lastList = null;
        }
        cfg.tls().identityProvider().removeListener(withdrawal);
        if (ownGroup) {
            Transports.shutdown(group, 0);
        }
        return true;
    }

    public CompletableFuture<Void> close() {
        closed = true;
        cfg.tls().identityProvider().removeListener(withdrawal);
        List<ClientConnection> all = new ArrayList<>();
        List<TunnelCodec.Kept> kept;
        synchronized (lock) {
            pool.values().forEach(all::addAll);
            pool.clear();
            lastKey = null;
            lastList = null;
            kept = new ArrayList<>(unread);
            unread.clear();
        }
        // Nobody can read what ended tunnels kept once the client is closed (its loops end; keep()
        // refuses from now on, so tunnels that end during the close keep nothing either).
        kept.forEach(TunnelCodec.Kept::run);
        List<CompletableFuture<Void>> closes = new ArrayList<>();
        for (ClientConnection c : all) {
            c.usable = false;
            CompletableFuture<Void> f = new CompletableFuture<>();
            closes.add(f);
            c.ready.whenComplete((ch, err) -> {
                if (ch == null) {
                    f.complete(null);
                } else {
                    try {
                        ch.eventLoop().execute(() -> closeConnection(ch).addListener(x -> f.complete(null)));
                    } catch (java.util.concurrent.RejectedExecutionException loopGone) {
                        f.complete(null);
                    }
                }
            });
        }
        CompletableFuture<Void> done = CompletableFuture.allOf(closes.toArray(CompletableFuture[]::new))
                .completeOnTimeout(null, 5, TimeUnit.SECONDS);
        if (!ownGroup) {
            return done;
        }
        CompletableFuture<Void> terminated = new CompletableFuture<>();
        done.whenComplete((v, e) -> Transports.shutdown(group, 0)
                .addListener(f -> terminated.complete(null)));
        return terminated;
    }

    /**
     * Closes one pooled connection on purpose, open tunnels and all. First what tunnels closed just
     * before wrote (a socket's END_STREAM waits for a batched flush, Tunnels.flushSoon, queued behind
     * this close): dropped, the server saw a tunnel that had ended cleanly end with our direction
     * still open, a reset (ClientCloseAfterEndTest). Then GOAWAY(NO_ERROR) and, through
     * {@link LingeringClose}, TLS close_notify and FIN, reading and dropping what the server still
     * sends until it closes too (at most {@link LingeringClose#LINGER_MILLIS}): the frames hyper/h2's
     * client sends when it closes a connection (src/proto/connection.rs: {@code go_away_now(NO_ERROR)},
     * then the codec's shutdown, which for ztunnel's rustls stream is close_notify and FIN), and RFC
     * 9113 section 6.8's "SHOULD always send a GOAWAY frame before closing a connection". The server
     * so tells a client that shut down from a connection lost, and ends the tunnels still open as
     * the client's (TunnelCodec.goAwayReceived). h2 sends that GOAWAY only once no stream is open;
     * ztunnel's pool, when dropped, drops its connections' drivers, which sends nothing (h2's
     * {@code Drop for Connection} only ends the streams locally). Netty's own
     * {@code Http2ConnectionHandler.close} would wait for the open tunnels (its graceful shutdown
     * timeout); this close starts below it. Nothing blocks: one task after the caller's earlier
     * ones, and the linger is a timer. Event loop of {@code ch}.
     */
    static io.netty.channel.ChannelFuture closeConnection(Channel ch) {
        io.netty.channel.ChannelHandlerContext h2 = ch.pipeline().context(HbonePipeline.H2);
        if (h2 == null || !ch.isActive()) {
            // Not HTTP/2 yet (or any more): no GOAWAY to send.
            ch.flush();
            return Transports.closeNow(ch);
        }
        ch.write(new io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame(io.netty.handler.codec.http2.Http2Error.NO_ERROR));
        ch.flush();
        return h2.close();
    }

    static String names(Set<SpiffeId> ids) {
        return ids.isEmpty() ? "(any in trust bundle)" : ids.toString();
    }

    /** A listener call of the client's: a throw is logged under the client's logger, not the server's. */
    static void safeEvent(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            TunnelEvents.CLIENT_LOG.warn("HBONE event listener failed", e);
        }
    }
}
