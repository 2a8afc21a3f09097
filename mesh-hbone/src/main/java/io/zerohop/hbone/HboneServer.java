package io.zerohop.hbone;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.internal.H2Config;
import io.zerohop.hbone.internal.ServerConfig;
import io.zerohop.hbone.internal.ServerLimits;
import io.zerohop.hbone.internal.HboneListener;
import io.zerohop.identity.MeshTls;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * The HBONE server (ztunnel's inbound, port 15008): mutual TLS 1.3 with the destination workload's
 * SVID, HTTP/2, one {@code CONNECT} stream per tunnel. Each stream is validated (method, authority),
 * resolved ({@link DestinationResolver}), authorized ({@link Authorizer}), and only then answered 200
 * and delivered (proxy or embedded mode). Refusals never move a byte to a destination.
 *
 * <pre>{@code
 * HboneServer server = HboneServer.builder()
 *         .tls(meshTls)
 *         .identity(serverId)                       // or .identitySelector(local -> idFor(local))
 *         .bind(new InetSocketAddress(15008))
 *         .destinations(DestinationResolver.sameIp())
 *         .authorizer(r -> policy.allows(r) ? AuthzDecision.allow() : AuthzDecision.deny("policy"))
 *         .listener(metrics)
 *         .build().start().join();
 * }</pre>
 */
public final class HboneServer implements AutoCloseable {
    /** ztunnel's inbound HBONE port. */
    public static final int DEFAULT_PORT = 15008;

    private final HboneListener runtime;
    /** The first {@link #start()}'s future; guarded by this. */
    private CompletableFuture<HboneServer> started;
    /** Set by the first {@link #shutdownGracefully} or {@link #close()}; guarded by this. */
    private boolean shutDown;

    private HboneServer(ServerConfig config) {
        this.runtime = new HboneListener(config);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Binds and starts accepting; completes with this server once listening, or exceptionally with an
     * {@link java.io.IOException} naming the address when it cannot bind. Starts once: a later call
     * returns the first call's future (a second bind on port 0 took another port and left the first
     * listener open). After {@link #shutdownGracefully} or {@link #close()} it fails at once with an
     * {@link IllegalStateException} (a server is not restarted: build a new one); before, a start
     * after the close of a never-started server never completed, and one after the close of a started
     * server answered the old, completed future, so a closed server looked started.
     */
    public CompletableFuture<HboneServer> start() {
        synchronized (this) {
            if (shutDown) {
                return CompletableFuture.failedFuture(new IllegalStateException(
                        "start: this HBONE server was shut down (close or shutdownGracefully); build a new one"));
            }
            if (started == null) {
                started = runtime.start().thenApply(a -> this);
            }
            return started;
        }
    }

    /**
     * TCP connections this server accepted that are still open, counted from accept: a connection
     * waiting for the served identity's TLS context, in its TLS handshake, or about to be closed
     * before TLS (no identity for the dialled address, no TLS context) is counted, as ztunnel's
     * {@code istio_tcp_sockets_open{reporter="destination"}} counts its HBONE listener's sockets
     * (istio/ztunnel src/proxy/inbound.rs: {@code record_socket_open} right after {@code accept}).
     * Until 6 December the count started once the TLS context was there.
     */
    public int openConnections() {
        return runtime.socketsOpen();
    }

    /** The bound address (with the actual port when bound to port 0); null before start. */
    public InetSocketAddress localAddress() {
        return runtime.localAddress();
    }


    /**
     * Stops accepting, sends GOAWAY on every connection so clients open no new tunnels here, lets open
     * tunnels finish until {@code drain} elapses, then closes whatever is left: connections still waiting for the
     * served identity's certificate too (until 6 December only those past it, so one waiting outlived a server on a
     * caller's event loop group and counted in {@link #openConnections()}). The future completes once those closes
     * are done (at most 5 s after {@code drain}).
     *
     * @param drain how long open tunnels may go on: zero closes them at once (what {@link #close()} does); one
     *              past 36500 days waits 36500 days (mesh-core adds its grace periods to a drain of up to that)
     * @throws NullPointerException     when {@code drain} is null
     * @throws IllegalArgumentException naming {@code drain} when it is negative (it was taken as zero, a new-user
     *                                  pass); the server is then left as it was
     */
    public CompletableFuture<Void> shutdownGracefully(Duration drain) {
        Objects.requireNonNull(drain, "drain");
        if (drain.isNegative()) {
            throw new IllegalArgumentException("drain must not be negative, got " + io.zerohop.hbone.internal.LogText.exactDuration(drain)
                    + " (zero closes the open tunnels at once)");
        }
        synchronized (this) {
            shutDown = true;
        }
        return runtime.shutdown(drain);
    }

    /**
     * Immediate shutdown: closes listener and connections (open tunnels are reset); waits up to 5 s, except on a Netty
     * event loop (a callback of this server or of another Netty component), where it returns at once as
     * {@link HboneClient#close()} does: waiting there could only time out, the loop being one the shutdown needs (a
     * new-user pass, helper 249: a resolver that closed its server stalled that loop 5 s per call).
     */
    @Override
    public void close() {
        CompletableFuture<Void> closing = shutdownGracefully(Duration.ZERO);
        if (io.netty.util.internal.ThreadExecutorMap.currentExecutor() != null) {
            return;
        }
        try {
            closing.get(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // best effort
        }
    }

    public static final class Builder {
        private MeshTls tls;
        private InetSocketAddress bind = new InetSocketAddress(DEFAULT_PORT);
        private IdentitySelector identities;
        /** The {@link #identity} given, checked at build; null with an {@link #identitySelector}. */
        private SpiffeId fixedIdentity;
        private DestinationResolver destinations;
        private Authorizer authorizer;
        private HboneEvents events = HboneEvents.NONE;
        private int maxConcurrentStreams = 200;
        private Duration handshakeTimeout = Duration.ofSeconds(10);
        private Duration idleTimeout = Duration.ofMinutes(10);
        private Duration upstreamConnectTimeout = Duration.ofSeconds(10);
        private Duration pingInterval = Duration.ofSeconds(10);
        private Duration pingTimeout = Duration.ofSeconds(20);
        private TcpKeepalive keepalive = TcpKeepalive.DEFAULT;
        private int streamWindow = H2Config.DEFAULT_STREAM_WINDOW;
        private int connectionWindow = H2Config.DEFAULT_CONNECTION_WINDOW;
        private int maxFrameSize = H2Config.DEFAULT_MAX_FRAME_SIZE;
        private int maxHeaderListSize = 64 * 1024;
        private long queuedBytes = Math.max(1L << 20, Math.min(256L << 20, io.netty.util.internal.PlatformDependent.maxDirectMemory() / 4));
        private long queuedBytesPerPeer = queuedBytes / 4;
        /** 0: the default, computed at build from the stream window ({@link #inboundBudget}). */
        private long inboundBytesPerPeer;
        private long inboundBytes;
        private Duration inboundStallTimeout = Duration.ofSeconds(10);
        private Duration stalledWindowTimeout = Duration.ofSeconds(60);
        private int pendingDialsPerConnection;
        private int pendingDialsPerPeer = 512;
        private int pendingDials = 1024;
        private int preOpenResets = 200;
        private Duration resetWindow = Duration.ofSeconds(30);
        private Duration delayedCloseTimeout = Duration.ofSeconds(1);
        private EventLoopGroup group;
        private int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        private boolean transparent;
        private Predicate<SocketChannel> joinGate;

        private Builder() {}

        /**
         * Tests only (package-private, not API): while {@code wait} answers true for a proxy-mode
         * tunnel's dialled upstream, that tunnel's 200 and relay wait ({@code ServerConfig.joinGate}).
         * Per server and fixed at build: no static switch that one test could leave set for another.
         */
        Builder joinGate(Predicate<SocketChannel> wait) {
            this.joinGate = wait;
            return this;
        }

        /**
         * Sets {@code IP_TRANSPARENT} on the listener (default false), so that an nftables/iptables
         * TPROXY rule can deliver connections addressed to other IPs, such as a node proxy's pods'
         * {@code POD_IP:15008} (ztunnel reaches the same by listening inside each pod's network
         * namespace). The identity is still selected by the dialled (local) address. Needs the Linux
         * epoll transport and CAP_NET_ADMIN; {@link #start()} fails otherwise.
         */
        public Builder transparent(boolean on) {
            this.transparent = on;
            return this;
        }

        /** TLS contexts (required). */
        public Builder tls(MeshTls tls) {
            this.tls = Objects.requireNonNull(tls, "tls");
            return this;
        }

        /**
         * Listen address; default {@code 0.0.0.0:15008}; port 0 picks a free port.
         *
         * @throws NullPointerException     when {@code address} is null
         * @throws IllegalArgumentException when it is unresolved ({@code InetSocketAddress.createUnresolved}, or a host
         *                                  name that did not resolve): a listener binds an IP (it failed at
         *                                  {@link #start()} with a message ending in "null", a new-user pass); or a
         *                                  multicast or the IPv4 broadcast address
         */
        public Builder bind(InetSocketAddress address) {
            Objects.requireNonNull(address, "bind address");
            if (address.isUnresolved()) {
                throw new IllegalArgumentException("bind address " + io.zerohop.hbone.internal.Authority.text(address)
                        + " is unresolved: give an IP address (resolve the host name first)");
            }
            if (!io.zerohop.hbone.internal.Authority.isUnicast(address.getAddress())) {
                // A TCP listener has one address: it bound 224.0.0.1 and started, where no peer can dial (a new-user pass);
                // Mesh.Builder.inbound refuses the same.
                throw new IllegalArgumentException("bind address " + io.zerohop.hbone.internal.Authority.text(address)
                        + " is a multicast or the broadcast address, which no peer can dial: give one of this host's IPs"
                        + " (0.0.0.0 for every address)");
            }
            this.bind = address;
            return this;
        }

        /**
         * Per-connection choice of the identity to present (required unless {@link #identity} is set). It and
         * {@link #identity} set the same thing: the later call wins, as every setting of this builder (a selector's
         * identities are chosen per connection, so {@link #build()} cannot check them).
         */
        public Builder identitySelector(IdentitySelector selector) {
            this.identities = Objects.requireNonNull(selector, "identity selector");
            this.fixedIdentity = null;
            return this;
        }

        /**
         * Present one identity on every connection. It and {@link #identitySelector} set the same thing: the later
         * call wins. {@link #build()} throws {@link IllegalArgumentException} when {@link #tls}'s identity provider
         * refuses {@code id} at once (another trust domain than an in-memory CA's, another identity than a PEM
         * file's), as {@code Mesh.Builder.identity} does; a provider that answers later (a SPIRE agent) is not waited for.
         */
        public Builder identity(SpiffeId id) {
            identitySelector(IdentitySelector.fixed(id));
            this.fixedIdentity = id;
            return this;
        }

        /** Which destinations are served and how (required). */
        public Builder destinations(DestinationResolver resolver) {
            this.destinations = Objects.requireNonNull(resolver, "destination resolver");
            return this;
        }

        /** Per-stream authorization (required; use {@link Authorizer#allowAll()} explicitly to allow all). */
        public Builder authorizer(Authorizer authorizer) {
            this.authorizer = Objects.requireNonNull(authorizer, "authorizer");
            return this;
        }

        /** Metrics / access-log hook. */
        public Builder listener(HboneEvents events) {
            this.events = Objects.requireNonNull(events, "listener");
            return this;
        }

        /** SETTINGS_MAX_CONCURRENT_STREAMS per connection; default 200 (ztunnel). */
        public Builder maxConcurrentStreams(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxConcurrentStreams must be >= 1, got " + n);
            }
            this.maxConcurrentStreams = n;
            return this;
        }

        /** TLS handshake deadline; default 10 s. */
        public Builder handshakeTimeout(Duration d) {
            this.handshakeTimeout = positive(d, "handshakeTimeout");
            return this;
        }

        /**
         * Close a connection that carried no stream for this long (GOAWAY); default 10 min; zero disables, as
         * {@code HboneClient.Builder.idleTimeout(Duration.ZERO)} does for a pooled connection.
         *
         * @throws IllegalArgumentException naming {@code idleTimeout} when {@code d} is negative or longer than
         *     36,500 days (about 100 years; past about 292 years a duration cannot be held in
         *     nanoseconds; use zero for never)
         */
        public Builder idleTimeout(Duration d) {
            Objects.requireNonNull(d, "idleTimeout");
            if (d.isNegative()) {
                throw new IllegalArgumentException("idleTimeout must not be negative, got " + io.zerohop.hbone.internal.LogText.exactDuration(d));
            }
            this.idleTimeout = io.zerohop.hbone.internal.DurationLimit.atMost(d, "idleTimeout");
            return this;
        }

        /**
         * After the server sends a GOAWAY and closes a connection (a connection error, the reset
         * budget's ENHANCE_YOUR_CALM, the idle timeout, a drain), how long it keeps reading and
         * dropping what the peer still sends, after its TLS close_notify and FIN, before it closes the
         * socket; the peer closing first ends the wait. Closing with the peer's frames unread makes
         * Linux send RST, which can destroy the GOAWAY before the peer reads it. Default 1 s, as
         * Envoy's {@code delayed_close_timeout} (HttpConnectionManager) and Go's HTTP/2 server's
         * {@code goAwayTimeout}; a longer one only helps a peer that reads late (a loaded machine).
         *
         * @throws IllegalArgumentException if {@code d} is zero or negative
         */
        public Builder delayedCloseTimeout(Duration d) {
            this.delayedCloseTimeout = positive(d, "delayedCloseTimeout");
            return this;
        }

        /** Proxy mode: TCP connect deadline to the destination (then 503); default 10 s. */
        public Builder upstreamConnectTimeout(Duration d) {
            this.upstreamConnectTimeout = positive(d, "upstreamConnectTimeout");
            return this;
        }

        /**
         * HTTP/2 PING on every accepted connection each {@code interval}; a connection whose PING is
         * not answered within {@code timeout} is closed, so a client that vanished without a FIN or
         * RST does not hold its tunnels. Default 10 s / 20 s, as ztunnel's server
         * (src/proxy/h2/server.rs, do_ping_pong in src/proxy/h2.rs).
         */
        public Builder keepalive(Duration interval, Duration timeout) {
            this.pingInterval = positive(interval, "ping interval");
            this.pingTimeout = positive(timeout, "ping timeout");
            return this;
        }

        /**
         * Largest request header list (RFC 9113 6.5.2 size) a CONNECT may carry; default 64 KiB
         * (ztunnel's server). It is the HPACK decoder's own limit and is advertised as
         * SETTINGS_MAX_HEADER_LIST_SIZE, as ztunnel's server advertises it; a larger one gets 431, then
         * RST_STREAM(PROTOCOL_ERROR), on its own stream, as hyperium/h2 answers it; the connection and its other
         * tunnels are unaffected unless the encoded block passes 1.25 MiB, or this limit plus a quarter if that is
         * larger (GOAWAY; see README, "Protocol faults").
         */
        public Builder maxHeaderListSize(int bytes) {
            this.maxHeaderListSize = bytes;
            return this;
        }

        /** TCP keepalive of accepted connections; default {@link TcpKeepalive#DEFAULT} (on, 180 s idle, as ztunnel). */
        public Builder tcpKeepalive(TcpKeepalive k) {
            this.keepalive = java.util.Objects.requireNonNull(k, "tcpKeepalive");
            return this;
        }

        /** Per-stream receive window; default 4 MiB (ztunnel). */
        public Builder streamWindow(int bytes) {
            this.streamWindow = bytes;
            return this;
        }

        /**
         * Connection receive window; default 16 MiB (ztunnel). The window actually granted is at least
         * one stream window per admitted stream, so stalled tunnels cannot stop the others (see README).
         */
        public Builder connectionWindow(int bytes) {
            this.connectionWindow = bytes;
            return this;
        }

        /** SETTINGS_MAX_FRAME_SIZE; default 1 MiB (ztunnel). */
        public Builder maxFrameSize(int bytes) {
            this.maxFrameSize = bytes;
            return this;
        }

        /**
         * Budgets for upstream bytes read and queued toward tunnels whose HTTP/2 window is closed
         * (proxy mode), in bytes: per peer identity (over all its connections) and server-wide.
         * A tunnel that reads while its peer or the server is over budget stops reading its upstream
         * until the count falls below half; over the server-wide budget the tunnels longest without
         * write progress are also reset. Each tunnel alone queues at most its stream's write
         * watermark (512 KiB) plus one read. Defaults: server-wide a quarter of Netty's direct memory
         * limit, at most 256 MiB; per peer a quarter of that. {@link #build()} throws
         * IllegalArgumentException unless 64 KiB &le; perPeer &le; total.
         */
        public Builder outboundBudget(long perPeer, long total) {
            this.queuedBytesPerPeer = perPeer;
            this.queuedBytes = total;
            return this;
        }

        /**
         * Budgets for bytes peers sent that the tunnels' applications have not taken yet, in bytes:
         * per peer identity (over all its connections) and server-wide. These are the HTTP/2 DATA
         * bytes received and not yet consumed (read by the tunnel's relay or handlers), which flow
         * control does not bound per connection here: every stream gets its own window
         * ({@link #streamWindow}) and the connection window grows with the streams, so that tunnels
         * whose application stopped reading never stop the others. Over half a budget, tunnels whose
         * application took nothing for a second are reset (RST_STREAM CONNECT_ERROR, upstream reset),
         * largest first, until it holds again ({@link #inboundStallTimeout}); an application that reads
         * slowly keeps its tunnels.
         * Over a budget itself, the tunnels holding the most are reset at once, largest first, until
         * under half of it. Over the server's budgets, the tunnels reset are those of the peer holding the most.
         * Each pass that resets is one budgeted INFO line naming both identities. This follows Envoy's
         * {@code envoy.overload_actions.reset_high_memory_stream} (reset the streams holding the most
         * buffered bytes); ztunnel bounds one connection by its 16 MiB window instead (and throttles
         * its other tunnels) and has no per-peer or server-wide bound.
         * Defaults (both 0): server-wide half of Netty's direct-memory limit, at most 1 GiB and at
         * least two stream windows, and per peer the same. mesh-core sets a quarter instead, the
         * other quarter going to its clients' inbound budget ({@link InboundBudget}): a shipped node
         * proxy, 64 MiB of direct memory, has 16 MiB, and 8 MiB before stalled tunnels are reset.
         * {@link #build()} throws IllegalArgumentException unless stream window &le; perPeer &le; total.
         * What counts: DATA payload and padding received and not yet read by the tunnels' applications,
         * plus 256 bytes per DATA frame still queued in a tunnel (what a queued frame's objects cost:
         * 1-byte frames otherwise held ~200 times what was counted); unknown frame types are dropped
         * on arrival (RFC 9113 section 4.1).
         */
        public Builder inboundBudget(long perPeer, long total) {
            this.inboundBytesPerPeer = perPeer;
            this.inboundBytes = total;
            return this;
        }

        /**
         * Over half an inbound budget ({@link #inboundBudget}), a tunnel whose application took nothing
         * of what its peer sent for this long is reset; default 10 s. Shorter resets slow readers: the
         * relay writes to its application in bursts as the kernel's send buffer (up to 4 MiB, autotuned)
         * drains, so a reader at 1 MB/s can leave a tunnel without delivery for over a second (a new-user
         * pass, 5 December: 2 of 6 such uploads reset at 1 s).
         */
        public Builder inboundStallTimeout(Duration d) {
            this.inboundStallTimeout = positive(d, "inboundStallTimeout");
            return this;
        }

        /**
         * A tunnel with upstream bytes queued whose peer's window makes no progress for this long is
         * reset (RST_STREAM CONNECT_ERROR, upstream reset) and logged; default 60 s.
         */
        public Builder stalledWindowTimeout(Duration d) {
            this.stalledWindowTimeout = positive(d, "stalledWindowTimeout");
            return this;
        }

        /**
         * Proxy mode: upstream TCP connects in progress allowed per HBONE connection, per peer
         * identity and server-wide; a CONNECT over a limit is refused with 503 before any socket is
         * opened. Open tunnels are not counted. Defaults: {@code maxConcurrentStreams}, 512, 1024.
         *
         * @throws IllegalArgumentException when a limit is below 1 (it never falls back to a default)
         */
        public Builder maxPendingDials(int perConnection, int perPeer, int total) {
            if (perConnection < 1 || perPeer < 1 || total < 1) {
                throw new IllegalArgumentException("maxPendingDials limits must be >= 1, got perConnection " + perConnection
                        + ", perPeer " + perPeer + ", total " + total);
            }
            this.pendingDialsPerConnection = perConnection;
            this.pendingDialsPerPeer = perPeer;
            this.pendingDials = total;
            return this;
        }

        /**
         * Rapid-reset budget: a connection whose peer resets more than {@code streams} streams before
         * their tunnel answered, within {@code window}, gets GOAWAY ENHANCE_YOUR_CALM and is closed.
         * A window opens at the first such reset after the previous window ended (as Netty's
         * RST_STREAM budget), not when the connection was accepted.
         * Default 200 per 30 s (Netty's default RST_STREAM budget, applied to the resets that cost a
         * stream and a dial). Resets of open tunnels are not counted.
         */
        public Builder resetBudget(int streams, Duration window) {
            this.preOpenResets = streams;
            this.resetWindow = positive(window, "reset window");
            return this;
        }

        /** Use this event loop group (not shut down by the server); default: an own group. */
        public Builder eventLoopGroup(EventLoopGroup group) {
            this.group = Objects.requireNonNull(group, "event loop group");
            return this;
        }

        /** Threads of the own event loop group; default: available processors. */
        public Builder threads(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("threads must be >= 1, got " + n);
            }
            this.threads = n;
            return this;
        }

        /**
         * The server, not yet listening ({@link HboneServer#start()} binds).
         *
         * @throws IllegalStateException    naming the setting when {@code tls}, an identity,
         *                                  {@code destinations} or {@code authorizer} is missing
         * @throws IllegalArgumentException when a window, frame or header-list size, or a budget, is
         *                                  out of its range (HTTP/2's, RFC 9113 6.5.2), naming it; when the
         *                                  identity provider refuses the fixed {@link #identity} at once, naming
         *                                  the identity and the provider's reason
         */
        public HboneServer build() {
            if (tls == null) {
                throw new IllegalStateException("HboneServer needs tls(MeshTls)");
            }
            if (identities == null) {
                throw new IllegalStateException("HboneServer needs identity(SpiffeId) or identitySelector(IdentitySelector)");
            }
            if (destinations == null) {
                throw new IllegalStateException("HboneServer needs destinations(DestinationResolver): it never proxies to destinations it was not told it serves");
            }
            if (authorizer == null) {
                throw new IllegalStateException("HboneServer needs authorizer(Authorizer) (Authorizer.allowAll() to allow every peer)");
            }
            if (fixedIdentity != null) {
                requireServable(tls, fixedIdentity);
            }
            H2Config h2 = new H2Config(streamWindow, connectionWindow, maxFrameSize, maxHeaderListSize);
            long inTotal = inboundBytes, inPerPeer = inboundBytesPerPeer;
            if (inTotal == 0 && inPerPeer == 0) {
                inTotal = Math.max(2L * streamWindow, Math.min(1L << 30, io.netty.util.internal.PlatformDependent.maxDirectMemory() / 2));
                inPerPeer = inTotal;
            } else if (inPerPeer < streamWindow) {
                // A lone tunnel may always fill its own window: below it, one honest slow reader would be reset.
                throw new IllegalArgumentException("inboundBudget per peer (" + inPerPeer + " bytes) is below the stream window ("
                        + streamWindow + " bytes), which one tunnel may always fill");
            }
            return new HboneServer(new ServerConfig(tls, bind, identities, destinations, authorizer, events,
                    maxConcurrentStreams, handshakeTimeout, idleTimeout, upstreamConnectTimeout, pingInterval, pingTimeout,
                    h2, new ServerLimits(queuedBytesPerPeer, queuedBytes, stalledWindowTimeout,
                            pendingDialsPerConnection > 0 ? pendingDialsPerConnection : maxConcurrentStreams,
                            pendingDialsPerPeer, pendingDials, preOpenResets, resetWindow, inPerPeer, inTotal, inboundStallTimeout),
                    group, threads, transparent, delayedCloseTimeout, joinGate, keepalive));
        }

        /**
         * A server whose fixed identity the provider cannot issue started, then failed every handshake ("no TLS
         * context for ...") and its clients read only "closed during setup" (a new user's custom proxy). Only a refusal
         * given at once counts, as mesh-core's MeshSettings.requireServable: waiting for an agent is not the builder's.
         */
        private static void requireServable(MeshTls tls, SpiffeId id) {
            String why = io.zerohop.hbone.internal.HboneListener.failedAtOnce(tls.server(id));
            if (why != null) {
                throw new IllegalArgumentException("identity(" + id + "): the identity provider ("
                        + tls.identityProvider().getClass().getSimpleName() + ") cannot give a server TLS context for it: " + why);
            }
        }

        private static Duration positive(Duration d, String name) {
            Objects.requireNonNull(d, name);
            if (d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException(name + " must be positive, got " + io.zerohop.hbone.internal.LogText.duration(d));
            }
            // Run as nanoseconds (timers, deadlines): a longer one failed where it was first used.
            return io.zerohop.hbone.internal.DurationLimit.atMost(d, name);
        }
    }
}
