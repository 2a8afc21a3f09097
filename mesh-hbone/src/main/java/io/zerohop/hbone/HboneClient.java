package io.zerohop.hbone;

import io.netty.channel.EventLoopGroup;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.internal.ClientConfig;
import io.zerohop.hbone.internal.ConnectionPool;
import io.zerohop.hbone.internal.H2Config;
import io.zerohop.hbone.internal.TunnelSocket;
import io.zerohop.identity.MeshTls;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import javax.net.SocketFactory;

/**
 * The HBONE client (ztunnel's outbound): opens tunnels as CONNECT streams over pooled mutual-TLS
 * HTTP/2 connections. Connections are pooled per key (source identity, accepted
 * destination identities, HBONE address), carry up to {@code maxStreamsPerConnection} tunnels (a
 * further connection opens when all are full), are dropped when broken, take no new tunnel once GOAWAY'd (closed
 * when their last tunnel ends, as hyperium/h2) and are closed after {@code idleTimeout} without tunnels. A connection
 * is never shared between different destination identity sets.
 *
 * <pre>{@code
 * HboneClient client = HboneClient.builder().tls(meshTls).identity(me).build();
 * HboneStream s = client.connect(podIp8080, Set.of(serverId), podIp15008).join();
 * Socket socket = s.toSocket();                 // or s.channel() for Netty code
 * SocketFactory sf = client.socketFactory(addr -> new Route(nodeIp15008, serverId));
 * }</pre>
 */
public final class HboneClient implements AutoCloseable {
    private final ConnectionPool runtime;

    private HboneClient(ClientConfig config) {
        this.runtime = new ConnectionPool(config);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The identity this client presents. */
    public SpiffeId identity() {
        return runtime.config().source();
    }

    /**
     * Opens a tunnel to {@code target} (the destination workload's ip:port, sent as {@code :authority})
     * through the HBONE endpoint {@code hboneAddress}, accepting only a server whose SPIFFE ID is in
     * {@code expected}. Completes when the server answered 200; a 200 whose HEADERS carry END_STREAM opens a
     * tunnel whose input has already ended (it can still send), as hyperium/h2 and ztunnel's {@code internal_send}
     * (src/proxy/h2/client.rs) take it.
     *
     * <p>Thrown at once: {@link NullPointerException} naming the argument ({@code target},
     * {@code hboneAddress}, {@code expected identities}) when one is null, and {@code "expected identities must
     * not contain null"} when {@code expected} holds a null. Every other error fails the returned future, nothing
     * is thrown:
     * <ul>
     * <li>{@link IllegalArgumentException} when {@code expected} is empty or holds an identity without a path
     *     ({@code spiffe://cluster.local} names a trust domain, no workload: no X509-SVID carries it), when
     *     {@code target} or {@code hboneAddress} is unresolved (HBONE dials IPs: resolve a host name first), or
     *     when the client has a {@link Builder#localAddress} of the other IP version than {@code hboneAddress};
     *     nothing is dialled;
     * <li>{@link HboneClientClosedException} once this client is closed;
     * <li>{@link HboneIdentityException} when the client has no certificate for its identity;
     * <li>{@link javax.net.ssl.SSLHandshakeException} when the TLS handshake fails: naming both identities
     *     on an identity mismatch, and saying what a BoringSSL code means (a peer that does not speak TLS,
     *     such as an app port or an echo server, gives {@code UNEXPECTED_MESSAGE} or {@code WRONG_VERSION_NUMBER});
     *     also when the server refuses this client's certificate, which TLS 1.3 tells the client with an alert
     *     after the client's side of the handshake ended: "alert unknown_ca from the peer: ..." (the original
     *     error is the cause);
     * <li>{@link HboneRefusedException} on a non-200 status;
     * <li>another {@link IOException} otherwise (connection refused, closed during setup, a malformed response
     *     such as DATA before its HEADERS, which ends the connection with GOAWAY PROTOCOL_ERROR and fails every
     *     tunnel on it, as h2 fails ztunnel's, src/proto/streams/recv.rs {@code recv_data}).
     * </ul>
     */
    public CompletableFuture<HboneStream> connect(InetSocketAddress target, Set<SpiffeId> expected, InetSocketAddress hboneAddress) {
        return connect(target, expected, hboneAddress, Map.of());
    }

    /**
     * As {@link #connect(InetSocketAddress, Set, InetSocketAddress)} with extra request headers (baggage, traceparent,
     * forwarded); names are sent lower-cased. Also {@link NullPointerException} at once for null {@code headers} or a
     * null name or value in it, and a future failed with {@link IllegalArgumentException} naming the header, nothing
     * dialled or sent, for a field HTTP/2 cannot carry (what Netty's HTTP/2 header validation refuses, RFC 9113
     * section 8.2.1): an empty name, a pseudo-header name ({@code :authority}), a name that is not an HTTP token
     * (ASCII letters, digits and {@code !#$%&'*+-.^_`|~}); a value with NUL, CR, LF or another control character but
     * tab, one that starts or ends with a space or tab, or one with a character past U+00FF.
     */
    public CompletableFuture<HboneStream> connect(InetSocketAddress target, Set<SpiffeId> expected, InetSocketAddress hboneAddress,
                                                  Map<String, String> headers) {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(hboneAddress, "hboneAddress");
        Objects.requireNonNull(expected, "expected identities");
        Objects.requireNonNull(headers, "headers");
        for (SpiffeId id : expected) {
            // Set.copyOf's own NullPointerException said 'Cannot invoke "Object.equals(Object)" because "e0" is null'.
            Objects.requireNonNull(id, "expected identities must not contain null");
        }
        if (expected.isEmpty()) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("at least one expected destination identity is required"));
        }
        if (target.isUnresolved() || hboneAddress.isUnresolved()) {
            InetSocketAddress unresolved = target.isUnresolved() ? target : hboneAddress;
            return CompletableFuture.failedFuture(new IllegalArgumentException("HBONE addresses must be resolved IPs: "
                    + (unresolved == target ? "target " : "hbone address ") + io.zerohop.hbone.internal.Authority.text(unresolved)
                    + " is unresolved (resolve the host name first)"));
        }
        InetAddress local = runtime.config().localAddress();
        if (local != null && (local instanceof java.net.Inet4Address) != (hboneAddress.getAddress() instanceof java.net.Inet4Address)) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("HBONE address " + io.zerohop.hbone.internal.Authority.text(hboneAddress)
                    + " cannot be dialled from this client's local address " + io.netty.util.NetUtil.toAddressString(local) + ": not the same IP version"));
        }
        return runtime.connect(target, Set.copyOf(expected), hboneAddress, headers);
    }

    /**
     * Blocking convenience: {@link #connect} then {@link HboneStream#toSocket()}, waiting at most
     * {@code timeout} for the 200 (then {@link java.net.SocketTimeoutException}, and the tunnel is
     * reset if it opens later). Throws what {@link #connect} fails with: {@link HboneRefusedException},
     * {@link javax.net.ssl.SSLHandshakeException}, {@link IllegalArgumentException}, another {@link IOException};
     * and an {@link IOException} at once when called on one of this client's event loops (for example in a
     * connect future's callback), where waiting would stall its tunnels.
     *
     * @param timeout positive, at most 36500 days; else {@link IllegalArgumentException} naming {@code timeout},
     *                before anything is dialled or sent (a zero or negative one sent the CONNECT, then timed out)
     */
    public HboneSocket connectSocket(InetSocketAddress target, Set<SpiffeId> expected, InetSocketAddress hboneAddress,
                                     Duration timeout) throws IOException {
        // Checked before the CONNECT goes out: a null here used to fail after the tunnel was opened,
        // leaving it open with no owner.
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isZero() || timeout.isNegative()) {
            throw new IllegalArgumentException("timeout must be positive, got " + io.zerohop.hbone.internal.LogText.exactDuration(timeout));
        }
        io.zerohop.hbone.internal.DurationLimit.atMost(timeout, "timeout");
        runtime.refuseBlockingOnLoop("connectSocket");
        CompletableFuture<HboneStream> pending = connect(target, expected, hboneAddress);
        // The socket is attached by the thread that completes the open, the connection's event loop,
        // while it handles the 200: its handler goes in without a task hand-off, and the caller's
        // first write finds it in place (issue 14: one loop wake-up fewer per tunnel).
        CompletableFuture<HboneSocket> socket = pending.thenApply(s -> {
            try {
                return s.toSocket();
            } catch (IOException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        try {
            // Latency mode: spin briefly for the 200 before parking (off by default; off, no method
            // reference is made for it: an allocation per open).
            long spin = io.zerohop.hbone.internal.LatencyMode.spinNanos();
            if (spin > 0) {
                io.zerohop.hbone.internal.LatencyMode.spin(socket::isDone, spin);
            }
            return socket.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            pending.thenAccept(HboneStream::reset); // nobody will use it
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while connecting to " + io.zerohop.hbone.internal.Authority.text(target));
        } catch (TimeoutException e) {
            pending.thenAccept(HboneStream::reset); // a late success would otherwise leak the stream
            throw new java.net.SocketTimeoutException("HBONE connect to " + io.zerohop.hbone.internal.Authority.text(target) + " timed out after " + io.zerohop.hbone.internal.LogText.duration(timeout));
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            if (e.getCause() instanceof IllegalArgumentException bad) {
                // An argument refused at once (a header HTTP/2 cannot carry, an identity without a path): as thrown.
                throw new IllegalArgumentException(bad.getMessage(), bad);
            }
            throw new IOException(e.getCause());
        }
    }

    /**
     * A {@link SocketFactory} whose sockets tunnel {@code connect(address)} through HBONE along
     * {@code routes} (a null route, or a {@code routes} function that throws: {@link java.net.ConnectException},
     * with what it threw as the cause, since a socket factory's users handle connect failures as
     * {@link IOException}s). Host names are resolved with
     * {@link InetAddress#getByName}; the target sent is the resolved ip:port.
     */
    public SocketFactory socketFactory(Function<InetSocketAddress, Route> routes) {
        Objects.requireNonNull(routes, "routes");
        return new SocketFactory() {
            @Override
            public Socket createSocket() throws IOException {
                return TunnelSocket.unconnected(runtime, routes);
            }

            @Override
            public Socket createSocket(String host, int port) throws IOException {
                return createSocket(InetAddress.getByName(host), port);
            }

            @Override
            public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
                refuseLocalBind(localHost, localPort);
                return createSocket(host, port);
            }

            @Override
            public Socket createSocket(InetAddress host, int port) throws IOException {
                Socket s = createSocket();
                try {
                    s.connect(new InetSocketAddress(host, port));
                } catch (IOException | RuntimeException e) {
                    s.close();
                    throw e;
                }
                return s;
            }

            @Override
            public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort) throws IOException {
                refuseLocalBind(localAddress, localPort);
                return createSocket(address, port);
            }
        };
    }

    /**
     * A tunnel has no local socket to bind: a specific local address or port asked for is refused, as
     * {@link HboneSocket#bind} refuses it (a new-user pass: it was silently ignored here). A null or wildcard
     * address with port 0, what libraries pass when they mean "any", is no request at all.
     */
    private static void refuseLocalBind(InetAddress localAddress, int localPort) throws java.net.SocketException {
        if ((localAddress != null && !localAddress.isAnyLocalAddress()) || localPort != 0) {
            throw new java.net.SocketException("HBONE sockets cannot bind a local address (asked for "
                    + (localAddress == null ? "*" : localAddress.getHostAddress()) + ":" + localPort
                    + "): a tunnel leaves through the client's pooled HBONE connection");
        }
    }

    /**
     * Closes every connection and the own event loop group. Each connection first sends what its
     * tunnels wrote, then GOAWAY(NO_ERROR), TLS close_notify and FIN (what hyper/h2's client sends
     * when it closes a connection), and is closed once the server closes too, at most 1 s later.
     * Tunnels still open end there: the server reads them as ended by this client, not as a
     * connection lost, so in proxy mode its upstream gets a FIN, as from a process that closed its
     * sockets (ztunnel's server gives the same). To abort one instead, reset it first
     * ({@link HboneStream#reset()}, or {@code SO_LINGER 0} then {@code close()} on an {@link HboneSocket}).
     * Completes when all is closed.
     */
    public CompletableFuture<Void> closeAsync() {
        return runtime.close();
    }

    /**
     * Closes this client if it holds no connection (none open, opening or draining its tunnels; a
     * pooled connection closes itself after {@link Builder#idleTimeout} without tunnels, unless that is
     * zero) and no
     * ended tunnel's unread bytes, for an owner that keeps one client per source identity and drops
     * the clients of identities gone for good (mesh-core: a workload that left the node). Decided
     * atomically with the pool's opens: either an open got a connection first (then this returns
     * false and nothing changes) or the client is closed, and every later {@link #connect} fails at
     * once with {@link HboneClientClosedException}, with no failure reported to the
     * {@link Builder#listener}. Never blocks.
     *
     * @return true when this call closed the client
     */
    public boolean closeIfIdle() {
        return runtime.retireIfIdle();
    }

    /**
     * {@link #closeAsync()}, waiting up to 10 s for it; on a Netty event loop thread it does not
     * wait (the close needs the loops, maybe this one).
     */
    @Override
    public void close() {
        CompletableFuture<Void> closing = closeAsync();
        if (io.netty.util.internal.ThreadExecutorMap.currentExecutor() != null) {
            return;
        }
        try {
            closing.get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // best effort
        }
    }

    public static final class Builder {
        private MeshTls tls;
        private SpiffeId identity;
        private int maxStreamsPerConnection = 100;
        private Duration idleTimeout = Duration.ofMinutes(5);
        private Duration connectTimeout = Duration.ofSeconds(10);
        private Duration handshakeTimeout = Duration.ofSeconds(10);
        private Duration pingInterval = Duration.ofSeconds(10);
        private Duration pingTimeout = Duration.ofSeconds(20);
        private TcpKeepalive keepalive = TcpKeepalive.DEFAULT;
        private int streamWindow = H2Config.DEFAULT_STREAM_WINDOW;
        private int connectionWindow = H2Config.DEFAULT_CONNECTION_WINDOW;
        private int maxFrameSize = H2Config.DEFAULT_MAX_FRAME_SIZE;
        private int maxHeaderListSize = 16 * 1024;
        private HboneEvents events = HboneEvents.NONE;
        private EventLoopGroup group;
        private int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        private InetAddress localAddress;
        private InboundBudget inboundBudget;

        private Builder() {}

        /** TLS contexts (required); the SVID comes from its {@link io.zerohop.identity.IdentityProvider}. */
        public Builder tls(MeshTls tls) {
            this.tls = Objects.requireNonNull(tls, "tls");
            return this;
        }

        /**
         * Source identity (required unless the provider has a default identity). Unlike {@code HboneServer.Builder.identity},
         * {@link #build()} does not ask the provider for it: a provider that refuses it (another trust domain than an
         * in-memory CA's, another identity than a PEM file's) fails each {@link #connect} with
         * {@link HboneIdentityException}, which a node proxy counts per open as ztunnel's {@code IDENTITY_ERROR}
         * (mesh-core builds one client per local identity and must not fail where ztunnel fails an open).
         */
        public Builder identity(SpiffeId source) {
            this.identity = Objects.requireNonNull(source, "identity");
            return this;
        }

        /** Tunnels per connection before a further connection opens; default 100 (ztunnel). */
        public Builder maxStreamsPerConnection(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxStreamsPerConnection must be >= 1, got " + n);
            }
            this.maxStreamsPerConnection = n;
            return this;
        }

        /**
         * Close a pooled connection after this long without tunnels; default 5 min (ztunnel); {@link Duration#ZERO}
         * disables it (a pooled connection then stays until the server, a failed PING or {@link #close()} ends it), as
         * {@code HboneServer.Builder.idleTimeout(Duration.ZERO)} does (the client refused zero until 5 December).
         *
         * @param d zero or positive, at most 36,500 days (about 100 years); not null
         * @throws IllegalArgumentException naming {@code idleTimeout} when {@code d} is negative or longer than
         *     the maximum (refused, not clamped: past about 292 years it cannot be held in nanoseconds, and a tunnel
         *     opened with it threw {@link ArithmeticException} from {@code connect})
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
         * TCP connect deadline, and separately the wait for the CONNECT response; default 10 s. Positive, at most
         * 36500 days, as every duration of this builder but {@link #idleTimeout} (which takes zero for "never");
         * else {@link IllegalArgumentException}.
         */
        public Builder connectTimeout(Duration d) {
            this.connectTimeout = positive(d, "connectTimeout");
            return this;
        }

        /** TLS handshake deadline; default 10 s. */
        public Builder handshakeTimeout(Duration d) {
            this.handshakeTimeout = positive(d, "handshakeTimeout");
            return this;
        }

        /**
         * HTTP/2 PING on every pooled connection each {@code interval}; a connection whose PING is
         * not answered within {@code timeout} is closed (its tunnels reset, the pool drops it), so a
         * peer that vanished without a FIN or RST is noticed. Default 10 s / 20 s (ztunnel).
         */
        public Builder keepalive(Duration interval, Duration timeout) {
            this.pingInterval = positive(interval, "ping interval");
            this.pingTimeout = positive(timeout, "ping timeout");
            return this;
        }

        /** TCP keepalive of dialled connections; default {@link TcpKeepalive#DEFAULT} (on, 180 s idle, as ztunnel). */
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

        /** SETTINGS_MAX_HEADER_LIST_SIZE for responses; default 16 KiB (ztunnel). */
        public Builder maxHeaderListSize(int bytes) {
            this.maxHeaderListSize = bytes;
            return this;
        }

        /** Outbound metrics / access-log hook. */
        public Builder listener(HboneEvents events) {
            this.events = Objects.requireNonNull(events, "listener");
            return this;
        }

        /** Use this event loop group (not shut down by the client); default: an own group. */
        public Builder eventLoopGroup(EventLoopGroup group) {
            this.group = Objects.requireNonNull(group, "event loop group");
            return this;
        }

        /**
         * The local IP every HBONE connection of this client is bound to before it dials (Netty's
         * {@code Bootstrap.localAddress}; the port stays the kernel's choice), so the server sees it
         * as the tunnels' source address: a node proxy with several addresses, or ztunnel's practice
         * of dialling from the workload's own IP ({@code freebind_connect(local, ...)} in
         * istio/ztunnel src/proxy.rs, whose pool key carries that source IP, src/proxy/pool.rs
         * {@code WorkloadKey}). It is per client, so every pooled connection of the client has it:
         * use one client per source address. Default: none, the kernel picks it from the route.
         * The address must be one of this host's (the dial fails otherwise, a {@link java.net.ConnectException}
         * naming both addresses, "from local address A failed: Cannot assign requested address": no {@code IP_FREEBIND}); a tunnel to an HBONE address of the other IP version
         * fails with {@link IllegalArgumentException}.
         *
         * @param address an IPv4 or IPv6 unicast address of this host; the wildcard address
         *                ({@code 0.0.0.0}, {@code ::}) means none
         * @throws NullPointerException     when {@code address} is null
         * @throws IllegalArgumentException when {@code address} is a multicast address or the IPv4
         *                                  limited broadcast address {@code 255.255.255.255}, which
         *                                  cannot be a TCP connection's source
         */
        public Builder localAddress(InetAddress address) {
            Objects.requireNonNull(address, "localAddress");
            if (!io.zerohop.hbone.internal.Authority.isUnicast(address)) {
                throw new IllegalArgumentException("localAddress must be a unicast address of this host, got "
                        + (address.isMulticastAddress() ? "multicast " : "the broadcast address ") + io.netty.util.NetUtil.toAddressString(address));
            }
            this.localAddress = address.isAnyLocalAddress() ? null : address;
            return this;
        }

        /**
         * Bounds what this client's tunnels hold of what destinations sent and local applications have not read yet,
         * per source identity and over every client given the same {@code budget} (see {@link InboundBudget}): over
         * it, the tunnels holding the most are reset. Default: none, each tunnel holds at most its stream window (an
         * application that is the client's only user bounds it by the tunnels it opens; mesh-core gives its node's
         * clients one).
         *
         * @param budget the shared budget, or null for none
         */
        public Builder inboundBudget(InboundBudget budget) {
            this.inboundBudget = budget;
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
         * The client; it dials nothing until the first {@link HboneClient#connect}, and the identity provider is not asked
         * for an SVID before then either ({@link #identity}). Close it when done: it owns its event loops unless
         * {@link #eventLoopGroup} gave it yours.
         *
         * @throws IllegalStateException when {@link #tls} was not set, or when {@link #identity} was not set and the
         *                               provider has no default identity (an {@code InMemoryCa}, which issues for any
         *                               identity of its trust domain, has none), naming the missing setting
         * @throws IllegalArgumentException when a window, frame or header-list size is out of its range (windows at least
         *                                  65535 bytes, frames 16384..16777215, header lists at least 1024 bytes), naming it,
         *                                  or when the {@link #inboundBudget} per source is below the stream window
         */
        public HboneClient build() {
            if (tls == null) {
                throw new IllegalStateException("HboneClient needs tls(MeshTls)");
            }
            SpiffeId source = identity != null ? identity : tls.identityProvider().defaultIdentity().orElse(null);
            if (source == null) {
                throw new IllegalStateException("HboneClient needs identity(SpiffeId): the identity provider has no default identity");
            }
            H2Config h2 = new H2Config(streamWindow, connectionWindow, maxFrameSize, maxHeaderListSize);
            if (inboundBudget != null && inboundBudget.perSource() < streamWindow) {
                // A lone tunnel may always fill its own window: below it, one honest slow reader would be reset (as the server's).
                throw new IllegalArgumentException("inboundBudget per source (" + inboundBudget.perSource() + " bytes) is below the stream window ("
                        + streamWindow + " bytes), which one tunnel may always fill");
            }
            return new HboneClient(new ClientConfig(tls, source, maxStreamsPerConnection, idleTimeout, connectTimeout,
                    handshakeTimeout, pingInterval, pingTimeout, h2, events, group, threads, localAddress,
                    inboundBudget == null ? null : inboundBudget.budget, keepalive));
        }

        private static Duration positive(Duration d, String name) {
            Objects.requireNonNull(d, name);
            if (d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException(name + " must be positive, got " + io.zerohop.hbone.internal.LogText.duration(d));
            }
            // Every duration here runs as nanoseconds (timers, deadlines): a longer one failed where it was first used.
            return io.zerohop.hbone.internal.DurationLimit.atMost(d, name);
        }
    }
}
