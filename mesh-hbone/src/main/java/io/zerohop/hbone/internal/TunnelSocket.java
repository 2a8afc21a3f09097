package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.hbone.TunnelInfo;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.channels.SocketChannel;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * A blocking {@link java.net.Socket} over a tunnel (the facade): connect along a route, half-close,
 * close, the tunnel's addresses and the socket options (accepted, mostly without effect on a tunnel).
 * Its streams and the state they share with the event loop are in {@link SocketState}; the
 * event-loop side is the {@link SocketBridge}.
 */
public final class TunnelSocket extends TunnelSocketOptions {
    private static final long DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

    private final ConnectionPool client;
    private final Function<InetSocketAddress, Route> routes;
    private volatile Channel ch;
    private volatile TunnelInfo info;
    private volatile HboneStream stream;
    private final SocketState st;
    /** {@link LatencyMode#SPIN_PROPERTY}: how long a blocked read or connect spins before parking. */
    private final long spinNanos;

    private TunnelSocket(ConnectionPool client, Function<InetSocketAddress, Route> routes, long spinNanos) throws SocketException {
        this.client = client;
        this.routes = routes;
        this.spinNanos = spinNanos;
        this.st = new SocketState(this, spinNanos);
    }

    /** An unconnected socket whose {@code connect(addr)} opens a tunnel along {@code routes}. */
    public static TunnelSocket unconnected(ConnectionPool client, Function<InetSocketAddress, Route> routes) throws SocketException {
        return new TunnelSocket(client, routes, LatencyMode.spinNanos());
    }

    /** A socket over an open tunnel stream channel (auto-read must be off and no other handler reading). */
    public static TunnelSocket attach(Channel ch, TunnelInfo info) throws SocketException {
        return attach(ch, info, LatencyMode.spinNanos());
    }

    /** {@link #attach(Channel, TunnelInfo)} with a reader spin of {@code spinNanos} (tests). */
    static TunnelSocket attach(Channel ch, TunnelInfo info, long spinNanos) throws SocketException {
        TunnelSocket s = new TunnelSocket(null, null, spinNanos);
        s.attachTo(ch, info);
        return s;
    }

    /** The state shared with the event loop (tests). */
    SocketState state() {
        return st;
    }

    private void attachTo(Channel channel, TunnelInfo tunnel) {
        this.info = tunnel;
        this.ch = channel;
        SocketBridge bridge = new SocketBridge(st);
        st.lock.lock();
        try {
            st.readPending = true;
        } finally {
            st.lock.unlock();
        }
        if (channel.eventLoop().inEventLoop()) {
            HbonePipeline.socket(channel, bridge);
            // Later, so that it runs after the server opened the codec (embedded mode).
            channel.eventLoop().execute(channel::read);
        } else {
            // From an application thread: one task, one wake-up, for both.
            channel.eventLoop().execute(() -> {
                HbonePipeline.socket(channel, bridge);
                channel.read();
            });
        }
    }

    @Override
    public TunnelInfo tunnel() {
        return info;
    }

    // ---- connect ----

    @Override
    public void connect(SocketAddress endpoint) throws IOException {
        connect(endpoint, 0);
    }

    /**
     * As {@link Socket#connect(SocketAddress, int)}: a negative timeout is an {@link IllegalArgumentException}, and a
     * connect that fails closes the socket (the JDK's socket does since JEP 353), so a second attempt says it is closed;
     * until 5 December a failed HBONE connect left it open and a negative timeout meant the default (a new-user pass).
     */
    @Override
    public void connect(SocketAddress endpoint, int timeout) throws IOException {
        if (timeout < 0) {
            throw new IllegalArgumentException("connect: timeout can't be negative");
        }
        if (st.closed) {
            throw new SocketException("Socket is closed");
        }
        if (ch != null) {
            throw new SocketException("already connected");
        }
        if (client == null || routes == null) {
            throw new SocketException("this socket cannot connect");
        }
        client.refuseBlockingOnLoop("socket connect");
        if (!(endpoint instanceof InetSocketAddress isa)) {
            throw new IllegalArgumentException("unsupported address type: " + endpoint);
        }
        try {
            open(isa, timeout);
        } catch (IOException | RuntimeException e) {
            try {
                close();
            } catch (IOException ce) {
                e.addSuppressed(ce);
            }
            throw e;
        }
    }

    private void open(InetSocketAddress isa, int timeout) throws IOException {
        if (isa.isUnresolved()) {
            isa = new InetSocketAddress(InetAddress.getByName(isa.getHostString()), isa.getPort());
        }
        Route route;
        try {
            route = routes.apply(isa);
        } catch (RuntimeException e) {
            // A SocketFactory's users (HTTP clients, JDBC drivers) handle a failed connect as an
            // IOException; an unchecked one escaped their retry and error paths as a crash.
            ConnectException refused = new ConnectException(e.getMessage());
            refused.initCause(e);
            throw refused;
        }
        if (route == null) {
            throw new ConnectException("no HBONE route to " + isa);
        }
        int soTimeout = soTimeout();
        long ms = timeout > 0 ? timeout : soTimeout > 0 ? soTimeout : DEFAULT_CONNECT_TIMEOUT_MS;
        if (route.target() != null) {
            isa = route.target();
        }
        var future = client.connect(isa, route.expectedIdentities(), route.hboneAddress(), route.headers());
        // Attached by the thread that completes the open, the connection's event loop while it
        // handles the 200 (as HboneClient.connectSocket does): attaching from this thread after
        // get() handed the loop two tasks, two wake-ups per connect (issue 14,
        // TunnelSocketHandOffTest). A caller that gave up has closed the socket first: no attach.
        var attached = future.thenApply(s -> {
            if (!st.closed) {
                this.stream = s;
                attachTo(s.channel(), s.info());
            }
            return s;
        });
        try {
            LatencyMode.spin(attached::isDone, spinNanos);
            attached.get(ms, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abandon(future);
            throw new InterruptedIOException("interrupted while connecting to " + isa);
        } catch (TimeoutException e) {
            abandon(future);
            throw new SocketTimeoutException("HBONE connect to " + isa + " via " + route.hboneAddress() + " timed out after " + LogText.duration(java.time.Duration.ofMillis(ms)));
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException io) {
                throw io;
            }
            throw new ConnectException("HBONE connect to " + isa + " failed: " + c);
        }
    }

    /**
     * A connect the caller gave up on (timeout, interrupt): the socket is closed, as the JDK's
     * socket is after a failed connect, and a tunnel that opens late is reset.
     */
    private void abandon(java.util.concurrent.CompletableFuture<HboneStream> future) {
        st.close();
        future.thenAccept(HboneStream::reset);
    }

    @Override
    public void bind(SocketAddress bindpoint) throws IOException {
        throw new SocketException("HBONE sockets cannot bind a local address");
    }


    Channel requireConnected() throws SocketException {
        Channel c = ch;
        if (c == null) {
            throw new SocketException(st.closed ? "Socket is closed" : "Socket is not connected");
        }
        return c;
    }

    @Override
    public InputStream getInputStream() throws IOException {
        requireConnected();
        if (st.closed) {
            throw new SocketException("Socket is closed");
        }
        if (st.inputShutdown) {
            // As java.net.Socket (a new-user pass: the stream was handed out and read -1 for good).
            throw new SocketException("Socket input is shutdown");
        }
        return st.in;
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
        requireConnected();
        if (st.closed) {
            throw new SocketException("Socket is closed");
        }
        if (st.outputShutdown) {
            throw new SocketException("Socket output is shutdown");
        }
        return st.out;
    }

    // ---- half-close and close ----

    @Override
    public void shutdownOutput() throws IOException {
        Channel c = requireConnected();
        st.lock.lock();
        try {
            // As java.net.Socket: a closed socket, or a second shutdown, is a SocketException (until 5 December both
            // returned quietly, and one after close() still handed an END_STREAM to the loop; a new-user pass).
            if (st.closed) {
                throw new SocketException("Socket is closed");
            }
            if (st.outputShutdown) {
                throw new SocketException("Socket output is already shutdown");
            }
            // Set and handed to the loop under the lock SocketState.ended() reads it under: a close()
            // on another thread that finds both directions ended queues nothing, and its caller's
            // next step (HboneClient.close, then the connection's close) must find this END_STREAM
            // already queued ahead of it, or the close drops it and the server sees a reset.
            st.outputShutdown = true;
            if (c.isActive()) {
                HboneStream.shutdownOutput(c);
            }
        } finally {
            st.lock.unlock();
        }
    }

    @Override
    public void shutdownInput() throws IOException {
        Channel c = requireConnected();
        if (st.closed) {
            throw new SocketException("Socket is closed");
        }
        if (st.inputShutdown) {
            throw new SocketException("Socket input is already shutdown");
        }
        st.shutdownInput(c);
    }

    @Override
    public void close() throws IOException {
        if (st.closed) {
            return;
        }
        Channel c = ch;
        boolean unread = st.close();
        if (c == null) {
            return;
        }
        boolean abort = unread || soLinger() == 0;
        if (!c.isActive() || (!abort && st.ended())) {
            // Nothing left to do on the loop: the channel is gone, or both sides have ended (our
            // END_STREAM is queued or sent, the peer's has been read) and the stream closes by
            // itself. A task here would only wake the loop (issue 14, TunnelSocketHandOffTest).
            return;
        }
        if (c.eventLoop().inEventLoop()) {
            finish(c, abort);
        } else {
            c.eventLoop().execute(() -> finish(c, abort));
        }
    }

    private static void finish(Channel c, boolean abort) {
        TunnelCodec codec = c.pipeline().get(TunnelCodec.class);
        if (abort || codec == null) {
            // Like TCP: closing with unread data (or SO_LINGER 0) resets.
            Tunnels.reset(c);
        } else {
            Tunnels.closeGracefully(c, codec);
        }
    }

    @Override
    public boolean isConnected() {
        return ch != null;
    }

    @Override
    public boolean isBound() {
        return ch != null;
    }

    @Override
    public boolean isClosed() {
        return st.closed;
    }

    @Override
    public boolean isInputShutdown() {
        return st.inputShutdown;
    }

    @Override
    public boolean isOutputShutdown() {
        return st.outputShutdown;
    }

    // ---- addresses: the tunnel's view (remote = CONNECT target on the client, source on the server) ----

    @Override
    public InetAddress getInetAddress() {
        InetSocketAddress r = remote();
        return r == null ? null : r.getAddress();
    }

    @Override
    public int getPort() {
        InetSocketAddress r = remote();
        return r == null ? 0 : r.getPort();
    }

    @Override
    public SocketAddress getRemoteSocketAddress() {
        return remote();
    }

    private InetSocketAddress remote() {
        TunnelInfo t = info;
        if (t == null) {
            return null;
        }
        return t.direction() == TunnelInfo.Direction.OUTBOUND ? t.destination() : t.peerAddress();
    }

    private InetSocketAddress local() {
        TunnelInfo t = info;
        if (t == null) {
            return null;
        }
        return t.direction() == TunnelInfo.Direction.INBOUND ? t.destination() : t.localAddress();
    }

    @Override
    public InetAddress getLocalAddress() {
        InetSocketAddress l = local();
        // As java.net.Socket: the wildcard address while not connected, never null (a new-user pass).
        return l == null ? WILDCARD : l.getAddress();
    }

    private static final InetAddress WILDCARD = new InetSocketAddress(0).getAddress();

    @Override
    public int getLocalPort() {
        InetSocketAddress l = local();
        return l == null ? -1 : l.getPort();
    }

    @Override
    public SocketAddress getLocalSocketAddress() {
        return local();
    }

    @Override
    public SocketChannel getChannel() {
        return null;
    }

    @Override
    public String toString() {
        TunnelInfo t = info;
        return t == null ? "HboneSocket[unconnected]" : "HboneSocket[" + t + "]";
    }

    /** Identity of the other end (convenience for logs). */
    SpiffeId peer() {
        TunnelInfo t = info;
        return t == null ? null : t.peerIdentity();
    }
}
