package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/** Epoll when the native transport loads, NIO otherwise. */
public final class Transports {
    private Transports() {}

    /**
     * Closes the socket now, skipping the handlers' own close (HTTP/2's waits for its GOAWAY to be
     * written, TLS's for close_notify). For shutdown past its drain deadline: a peer that stops
     * reading keeps those writes pending, and a channel still open when its event loop terminates
     * is closed without pipeline events, so its decoders never release what they hold.
     */
    public static io.netty.channel.ChannelFuture closeNow(Channel ch) {
        io.netty.channel.ChannelHandlerContext first = ch.pipeline().firstContext();
        return first == null ? ch.close() : first.close();
    }

    /**
     * Whether {@code cause} is Netty's read of a socket still connecting: under a burst of dials, epoll wakes a few
     * of them for input before the connect is done (a new-user pass: 60-160 of 1,600 loopback dials), and Netty's
     * read then fails with ENOTCONN ({@link java.nio.channels.NotYetConnectedException}). The dial's outcome is its
     * connect future's, so the handler that sees this drops it; before, it reached the pipeline's tail and Netty
     * logged a WARN with a stack trace per dial. Such reads were most likely events of a connection closed earlier in
     * the same epoll batch, whose descriptor number the dial had taken; relay dials are now made after the batch
     * ({@code InboundTunnel.proxy}), and this stays as a guard.
     */
    public static boolean readWhileDialling(Channel ch, Throwable cause) {
        return cause instanceof java.nio.channels.NotYetConnectedException && !ch.isActive();
    }

    /**
     * A dial's handler until its owner installs its own: drops {@link #readWhileDialling} (shared, stateless), and keeps
     * the dialled socket's epoll registration valid from its registration on ({@link #keepEpollRegistered}).
     */
    /**
     * The name of the {@link Hold} a dialled connection for a relay keeps what it receives in until {@code Relay.join}
     * releases it (mesh-core's {@code CaptureListener.connectTcp(group, dst, true)}).
     */
    public static final String DIAL_HOLD = "zerohop-dial-hold";

    @io.netty.channel.ChannelHandler.Sharable
    public static final class Dialling extends io.netty.channel.ChannelInboundHandlerAdapter {
        public static final Dialling INSTANCE = new Dialling();

        private Dialling() {
        }

        @Override
        public void handlerAdded(io.netty.channel.ChannelHandlerContext ctx) {
            keepEpollRegistered(ctx.channel());
        }

        @Override
        public void exceptionCaught(io.netty.channel.ChannelHandlerContext ctx, Throwable cause) {
            if (!readWhileDialling(ctx.channel(), cause)) {
                ctx.fireExceptionCaught(cause);
            }
        }
    }

    /**
     * Works around an epoll bug of Netty 4.2.18 to 4.2.21 at least (netty#16689; 4.2.21's
     * {@code DefaultEpollIoRegistration.submit} is unchanged): when a channel's interest
     * set becomes empty, {@code EpollIoHandler} deletes its fd from epoll but keeps the registration
     * marked as added, so the next interest (EPOLLOUT when a write does not fit the socket buffer,
     * EPOLLIN on read) is an {@code EPOLL_CTL_MOD} that fails with ENOENT; Netty then fails the write
     * and shuts the output down. A relayed socket whose input ended (the peer's FIN) reaches an empty
     * set as soon as nothing is queued, so a later burst toward that peer failed and the relay reset
     * the connection mid-stream (the node proxy's e2e: a client that half-closed after its upload
     * lost the rest of the echo). The same happens before a relay exists: with auto-read off epoll
     * still reads a peer's bytes and FIN at EPOLLRDHUP, which empties the set, so the first read
     * failed (a soak's captured connections whose client half-closed before the tunnel opened); hence
     * {@link Hold} (for a TCP connection) and {@link Dialling} call this where they are added, and
     * {@code Relay.tcp} again. The wrapper submits {@code EPOLLET} in place of the empty set: the
     * fd stays registered with no event of interest (edge-triggered, so a final EPOLLHUP wakes it
     * once, not in a loop), and later interests are valid modifications.
     *
     * <p>No-op for NIO channels, when the registration is not there yet, or when the module system
     * refuses the reflective access (a warning names the cause once).
     */
    public static void keepEpollRegistered(Channel ch) {
        java.lang.reflect.Field f = EpollRegistration.FIELD;
        if (f == null || !f.getDeclaringClass().isInstance(ch)) {
            return;
        }
        try {
            Object r = f.get(ch);
            if (r instanceof io.netty.channel.IoRegistration reg && !(r instanceof EpollRegistration)) {
                f.set(ch, new EpollRegistration(reg));
            }
        } catch (IllegalAccessException e) {
            EpollRegistration.unavailable(e);
        }
    }

    /** See {@link #keepEpollRegistered}. */
    private static final class EpollRegistration implements io.netty.channel.IoRegistration {
        static final java.lang.reflect.Field FIELD = field();
        private final io.netty.channel.IoRegistration delegate;

        EpollRegistration(io.netty.channel.IoRegistration delegate) {
            this.delegate = delegate;
        }

        private static java.lang.reflect.Field field() {
            if (!Epoll.isAvailable()) {
                return null; // NIO: nothing to work around, nothing to warn about
            }
            try {
                java.lang.reflect.Field f = Class.forName("io.netty.channel.epoll.AbstractEpollChannel").getDeclaredField("registration");
                f.setAccessible(true);
                return f;
            } catch (ReflectiveOperationException | RuntimeException e) {
                unavailable(e);
                return null;
            }
        }

        static void unavailable(Exception e) {
            org.slf4j.LoggerFactory.getLogger(Transports.class).warn("cannot work around Netty's epoll registration bug (netty#16689): {};"
                    + " relayed connections whose peer half-closed may be reset when a later write fills the socket buffer{}", e.toString(),
                    e instanceof java.lang.reflect.InaccessibleObjectException
                            ? " (on the module path add --add-opens io.netty.transport.classes.epoll/io.netty.channel.epoll=io.zerohop.hbone:"
                            + " see zerohop-bom's README)" : "");
        }

        @Override
        public <T> T attachment() {
            return delegate.attachment();
        }

        @Override
        public long submit(io.netty.channel.IoOps ops) {
            return delegate.submit(ops instanceof io.netty.channel.epoll.EpollIoOps e && e.value() == 0
                    ? io.netty.channel.epoll.EpollIoOps.EPOLLET : ops);
        }

        @Override
        public boolean isValid() {
            return delegate.isValid();
        }

        @Override
        public boolean cancel() {
            return delegate.cancel();
        }
    }

    /**
     * Makes an epoll socket channel keep {@code same} as its local address when the one it read
     * from its socket equals it: an accepted connection's local address is its listener's (outside
     * transparent capture), which Netty reads anew per connection. Otherwise (another address, or
     * {@code same} null) the address keeps its port but shares its IP address object with the other
     * channels' of that IP. See {@link #shareRemoteAddress}.
     */
    public static void shareLocalAddress(Channel ch, java.net.SocketAddress same) {
        SharedAddresses.share(ch, same, true);
    }

    /**
     * Makes an epoll socket channel keep {@code same} as its remote address when the one it read
     * from its socket equals it: an upstream connection's remote address is the address it dialled,
     * which Netty rebuilds per channel ({@code UnixChannelUtil.computeRemoteAddr}). Netty's epoll
     * channel caches both addresses for its life, an {@code InetSocketAddress} and its
     * {@code InetAddress} each (96 bytes per address; issue 14); an equal, shared instance reads the
     * same ({@code equals}, {@code toString}, host string). When the address differs (or {@code same}
     * is null) it is rebuilt around a shared {@code InetAddress} of the same text, its port kept (40
     * bytes for the 96 it replaces): an upstream's local address, a captured client's. No-op for NIO
     * channels or when the module system refuses the reflective access (logged once at debug). A
     * shared {@code InetAddress} is the JDK's immutable value, except that {@code getHostName()}
     * caches a reverse lookup in it (zerohop never asks; an embedding application that does would
     * name the address for every channel sharing it).
     */
    public static void shareRemoteAddress(Channel ch, java.net.SocketAddress same) {
        SharedAddresses.share(ch, same, false);
    }

    /** The address fields of Netty's epoll channel and of {@code AbstractChannel}'s cache (see {@link #shareRemoteAddress}). */
    private static final class SharedAddresses {
        private static final java.lang.invoke.VarHandle EPOLL_LOCAL;
        private static final java.lang.invoke.VarHandle EPOLL_REMOTE;
        private static final java.lang.invoke.VarHandle CACHED_LOCAL;
        private static final java.lang.invoke.VarHandle CACHED_REMOTE;
        private static final Class<?> EPOLL_CHANNEL;

        static {
            java.lang.invoke.VarHandle el = null, er = null, cl = null, cr = null;
            Class<?> epoll = null;
            try {
                epoll = Class.forName("io.netty.channel.epoll.AbstractEpollChannel");
                java.lang.invoke.MethodHandles.Lookup e = java.lang.invoke.MethodHandles.privateLookupIn(epoll, java.lang.invoke.MethodHandles.lookup());
                el = e.findVarHandle(epoll, "local", java.net.SocketAddress.class);
                er = e.findVarHandle(epoll, "remote", java.net.SocketAddress.class);
                java.lang.invoke.MethodHandles.Lookup a = java.lang.invoke.MethodHandles.privateLookupIn(
                        io.netty.channel.AbstractChannel.class, java.lang.invoke.MethodHandles.lookup());
                cl = a.findVarHandle(io.netty.channel.AbstractChannel.class, "localAddress", java.net.SocketAddress.class);
                cr = a.findVarHandle(io.netty.channel.AbstractChannel.class, "remoteAddress", java.net.SocketAddress.class);
            } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
                org.slf4j.LoggerFactory.getLogger(Transports.class).debug("epoll channels keep their own address objects: {}", e.toString());
                el = er = cl = cr = null;
                epoll = null;
            }
            EPOLL_LOCAL = el;
            EPOLL_REMOTE = er;
            CACHED_LOCAL = cl;
            CACHED_REMOTE = cr;
            EPOLL_CHANNEL = epoll;
        }

        static void share(Channel ch, java.net.SocketAddress same, boolean local) {
            if (EPOLL_CHANNEL == null || !EPOLL_CHANNEL.isInstance(ch)) {
                return;
            }
            java.lang.invoke.VarHandle own = local ? EPOLL_LOCAL : EPOLL_REMOTE;
            java.lang.invoke.VarHandle cache = local ? CACHED_LOCAL : CACHED_REMOTE;
            Object read = own.getVolatile(ch);
            if (read == same || !(read instanceof java.net.InetSocketAddress addr) || addr.isUnresolved()) {
                return;
            }
            java.net.SocketAddress shared;
            // Equal and the same text: an address's host string and IPv6 scope are not part of equals.
            if (same != null && same.equals(read) && same.toString().equals(read.toString())) {
                shared = same;
            } else {
                java.net.InetAddress ip = ip(addr.getAddress());
                if (ip == addr.getAddress()) {
                    return;
                }
                shared = new java.net.InetSocketAddress(ip, addr.getPort());
                if (!shared.toString().equals(read.toString())) {
                    return;
                }
            }
            own.setVolatile(ch, shared);
            // AbstractChannel keeps what localAddress()/remoteAddress() first returned: the same object or nothing yet.
            if (cache.getVolatile(ch) == read) {
                cache.compareAndSet(ch, read, shared);
            }
        }

        /**
         * IP address objects seen last, one per slot by hash: a node proxy's peers are a few
         * addresses (its pods, its upstreams), each then one object however many connections use
         * it. A slot holds the last address hashed to it; another address replaces it (no growth).
         */
        private static final java.util.concurrent.atomic.AtomicReferenceArray<java.net.InetAddress> IPS =
                new java.util.concurrent.atomic.AtomicReferenceArray<>(256);

        /** The shared IP address equal to {@code ip} and reading the same (scope, host name), or {@code ip}, now shared. */
        static java.net.InetAddress ip(java.net.InetAddress ip) {
            int slot = ip.hashCode() & (IPS.length() - 1);
            java.net.InetAddress seen = IPS.get(slot);
            if (seen != null && seen.equals(ip) && seen.toString().equals(ip.toString())) {
                return seen;
            }
            IPS.set(slot, ip);
            return ip;
        }
    }

    public static boolean epoll() {
        return Epoll.isAvailable();
    }

    /**
     * Shuts {@code group} down with no quiet period, waiting at most {@code timeoutMillis} for its tasks, asked from
     * outside its loops; the group's termination future. First each loop of a group {@link #newGroup} made closes every
     * channel registered on it ({@link Loops#closeChannels}), in a task queued ahead of the request, so their pipelines'
     * events run while the loop still accepts tasks. Netty 4.2.18 closes a loop's channels only in an iteration begun
     * after the request ({@code SingleThreadIoEventLoop.run}: I/O, then {@code IoHandler.prepareToDestroy} if shutting
     * down, then tasks); a request that arrives while the loop runs tasks is confirmed by {@code confirmShutdown} at the
     * end of that iteration, at once with no quiet period, and the loop ended with its sockets open: no
     * {@code channelInactive}, file descriptors and what the handlers held never released (LoopShutdownTest; an upstream
     * connection still flushing, ServerCloseReleasesUpstreamWritesTest; a server connection and its tunnels' upstream
     * connections, InboundBudgetTest on the official CI of 5 December). Both come after the loops ran what was queued on
     * them ({@link #SETTLE_ROUNDS}), from Netty's global executor: the channels a drain's last resets are still reaching
     * get those first (mesh-core's DrainTest: a relay's far side, reset from its near side's loop, got a FIN from the
     * close instead in 3 runs of 6 without it).
     */
    public static io.netty.util.concurrent.Future<?> shutdown(EventLoopGroup group, long timeoutMillis) {
        // Once the loops ended, what is still listed will never be closed by them: not kept for the JVM's life.
        group.terminationFuture().addListener(f -> Relay.forgetFlushing(group));
        afterQueuedTasks(group, SETTLE_ROUNDS, () -> io.netty.util.concurrent.GlobalEventExecutor.INSTANCE.execute(() -> {
            // Queued ahead of the request, so each loop runs it before it ends.
            if (group instanceof Loops loops) {
                loops.closeChannels();
            }
            group.shutdownGracefully(0, timeoutMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
        }));
        return group.terminationFuture();
    }

    /**
     * Passes {@link #shutdown} waits for before it closes what is left: one pass lets every loop run what was queued on
     * it before, a second what those tasks queued on another loop (a relay's near side, reset by the drain on one loop,
     * resets its far side on another).
     */
    private static final int SETTLE_ROUNDS = 2;

    /** Runs {@code then} once each loop of {@code group} has run, {@code rounds} times over, what was queued on it before. */
    private static void afterQueuedTasks(EventLoopGroup group, int rounds, Runnable then) {
        if (rounds == 0) {
            then.run();
            return;
        }
        // Counted by the passes themselves, not by listeners on their futures: a loop that ends right after taking a
        // pass (a second close racing the first) refused the listener's notification, which Netty logged as an ERROR,
        // and that call's close never ran (helper 249). A pass a loop took always runs before it ends.
        java.util.concurrent.atomic.AtomicInteger left = new java.util.concurrent.atomic.AtomicInteger(1);
        Runnable one = () -> {
            if (left.decrementAndGet() == 0) {
                afterQueuedTasks(group, rounds - 1, then);
            }
        };
        for (io.netty.util.concurrent.EventExecutor loop : group) {
            left.incrementAndGet();
            try {
                loop.execute(one);
            } catch (java.util.concurrent.RejectedExecutionException ended) {
                one.run(); // shut down already: nothing more runs there
            }
        }
        one.run();
    }

    /** A group {@link #newGroup} made: it keeps each loop's I/O handler, for {@link #shutdown}. */
    private static final class Loops extends MultiThreadIoEventLoopGroup {
        /** Each loop's handler, by loop: filled while the group is built (each loop makes its handler in its constructor). */
        private final java.util.Map<io.netty.util.concurrent.ThreadAwareExecutor, io.netty.channel.IoHandler> handlers;

        private Loops(int threads, String name, IoHandlerFactory factory,
                java.util.Map<io.netty.util.concurrent.ThreadAwareExecutor, io.netty.channel.IoHandler> handlers) {
            super(threads, new DefaultThreadFactory(name, true), new IoHandlerFactory() {
                @Override
                public io.netty.channel.IoHandler newHandler(io.netty.util.concurrent.ThreadAwareExecutor loop) {
                    io.netty.channel.IoHandler h = factory.newHandler(loop);
                    handlers.put(loop, h);
                    return h;
                }

                @Override
                public boolean isChangingThreadSupported() {
                    return factory.isChangingThreadSupported();
                }
            });
            this.handlers = handlers;
        }

        static Loops of(int threads, String name, IoHandlerFactory factory) {
            return new Loops(threads, name, factory, new java.util.concurrent.ConcurrentHashMap<>());
        }

        /**
         * Queues on each loop what Netty runs when a loop notices its shutdown, {@code IoHandler.prepareToDestroy}: it
         * closes each channel registered on the loop (epoll and NIO alike). A loop already shut down is left as it is.
         */
        void closeChannels() {
            for (io.netty.util.concurrent.EventExecutor loop : this) {
                io.netty.channel.IoHandler h = handlers.get(loop);
                if (h != null) {
                    try {
                        loop.execute(h::prepareToDestroy);
                    } catch (java.util.concurrent.RejectedExecutionException ended) {
                        // shut down before: it closed what it had, or never will
                    }
                }
            }
        }
    }

    /**
     * An hbone event loop group: epoll when it loads, NIO otherwise. With
     * {@link LatencyMode#POLL_PROPERTY} set (epoll only), its loops poll for that long before they
     * sleep ({@link LoopPoll}).
     *
     * @throws IllegalArgumentException when {@link LatencyMode#POLL_PROPERTY} is malformed
     */
    public static EventLoopGroup newGroup(int threads, String name) {
        long poll = LatencyMode.pollNanos();
        return newGroup(threads, name, poll > 0 ? new LoopPoll(poll) : null);
    }

    /**
     * {@link #newGroup(int, String)} with an explicit polling strategy, or none ({@code null}); for a
     * caller that keeps the {@link LoopPoll} (mesh-core's group, whose tests read its counters).
     */
    public static EventLoopGroup newGroup(int threads, String name, LoopPoll poll) {
        IoHandlerFactory factory;
        if (!epoll()) {
            if (poll != null) {
                org.slf4j.LoggerFactory.getLogger(Transports.class).warn("-D{} ignored: event loop polling needs the epoll transport ({})",
                        LatencyMode.POLL_PROPERTY, Epoll.unavailabilityCause().toString());
            }
            factory = NioIoHandler.newFactory();
        } else {
            factory = poll == null ? EpollIoHandler.newFactory() : EpollIoHandler.newFactory(0, poll);
        }
        return Loops.of(threads, name, factory);
    }

    private static boolean isEpoll(EventLoopGroup group) {
        return epoll() && group instanceof IoEventLoopGroup g && g.isIoType(EpollIoHandler.class);
    }

    public static Class<? extends ServerChannel> serverChannel(EventLoopGroup group) {
        return isEpoll(group) ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /**
     * {@code IP_TRANSPARENT} on a listener, so that TPROXY can hand it connections addressed to
     * addresses that are not the host's (the kernel's tproxy.rst; ztunnel's capture sockets). Only
     * the epoll transport can set it; NIO would silently ignore the option, so that is an error.
     *
     * @throws IllegalStateException when {@code group} is not an epoll group
     */
    public static void transparent(io.netty.bootstrap.ServerBootstrap b, EventLoopGroup group) {
        if (!isEpoll(group)) {
            throw new IllegalStateException("a transparent (IP_TRANSPARENT) listener needs the Linux epoll transport"
                    + (epoll() ? " and an epoll event loop group" : ": " + Epoll.unavailabilityCause()));
        }
        b.option(EpollChannelOption.IP_TRANSPARENT, true);
    }

    /**
     * Whether a bound listener really has {@code IP_TRANSPARENT}: Netty only logs a warning when
     * setting it fails (no CAP_NET_ADMIN), which would leave a listener TPROXY cannot reach.
     */
    public static boolean isTransparent(Channel listener) {
        return Boolean.TRUE.equals(listener.config().getOption(EpollChannelOption.IP_TRANSPARENT));
    }

    /** TCP keepalive after this long idle, as ztunnel sets on its HBONE sockets. */
    static final int KEEPALIVE_IDLE_SECONDS = 180;

    /**
     * TCP keepalive on an HBONE connection (ztunnel: 180 s idle). The HTTP/2 PINGs catch a silent
     * peer on pooled client connections; this also covers accepted ones and idle NATs.
     */
    public static void keepalive(Channel ch) {
        keepalive(ch, io.zerohop.hbone.TcpKeepalive.DEFAULT);
    }

    /** {@code k} on an HBONE connection (ztunnel's {@code setup_socket}: nothing at all when it is off). */
    public static void keepalive(Channel ch, io.zerohop.hbone.TcpKeepalive k) {
        if (!k.enabled()) {
            return;
        }
        ch.config().setOption(ChannelOption.SO_KEEPALIVE, true);
        if (ch instanceof EpollSocketChannel) {
            ch.config().setOption(EpollChannelOption.TCP_KEEPIDLE, (int) k.idle().toSeconds());
            if (k.interval() != null) {
                ch.config().setOption(EpollChannelOption.TCP_KEEPINTVL, (int) k.interval().toSeconds());
            }
            if (k.retries() > 0) {
                ch.config().setOption(EpollChannelOption.TCP_KEEPCNT, k.retries());
            }
            if (k.userTimeout()) {
                ch.config().setOption(EpollChannelOption.TCP_USER_TIMEOUT, (int) Math.min(Integer.MAX_VALUE, k.userTimeoutMillis()));
            }
        }
    }

    public static Class<? extends SocketChannel> socketChannel(EventLoopGroup group) {
        return isEpoll(group) ? EpollSocketChannel.class : NioSocketChannel.class;
    }
}
