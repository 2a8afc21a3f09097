package io.zerohop.core.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.zerohop.core.Addresses;
import io.zerohop.core.Capture;
import io.zerohop.core.HttpEndpoint;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The plain listeners of a mesh besides HBONE: capture and plaintext-inbound listeners, which stop
 * accepting when the drain begins, and the proxy's own HTTP endpoints (admin, metrics, readiness),
 * which stay up until it ends. Every listener joins {@link OwnPorts} (by port, or by address when late-bound).
 */
public final class Listeners {
    private final EventLoopGroup group;
    private final OwnPorts ownPorts;
    private final List<Channel> capture = new CopyOnWriteArrayList<>();
    private final List<Channel> http = new CopyOnWriteArrayList<>();
    private final TunnelCount drain;
    private final io.zerohop.hbone.TcpKeepalive keepalive;
    private ExecutorService httpExecutor;

    /** @param drain counts every connection the capture and plaintext listeners accept, for the drain */
    public Listeners(EventLoopGroup group, OwnPorts ownPorts, TunnelCount drain) {
        this(group, ownPorts, drain, null);
    }

    /** @param keepalive of the connections the outbound and plaintext-inbound listeners accept; null: TcpKeepalive.DEFAULT */
    public Listeners(EventLoopGroup group, OwnPorts ownPorts, TunnelCount drain, io.zerohop.hbone.TcpKeepalive keepalive) {
        this.group = group;
        this.ownPorts = ownPorts;
        this.drain = drain;
        this.keepalive = keepalive == null ? io.zerohop.hbone.TcpKeepalive.DEFAULT : keepalive;
    }

    /** Accepted connections still open: of outbound capture listeners ([0]), of plaintext-inbound ones ([1]). */
    private final java.util.concurrent.atomic.AtomicInteger[] sockets = {
        new java.util.concurrent.atomic.AtomicInteger(), new java.util.concurrent.atomic.AtomicInteger()};

    /**
     * Binds a capture listener whose connections {@code opener} opens; returns its bound address.
     *
     * @param inbound a plaintext-inbound listener (ztunnel's 15006), else an outbound capture one
     */
    public InetSocketAddress bindCapture(Capture c, CaptureListener.Opener opener, boolean inbound) throws InterruptedException {
        java.util.concurrent.atomic.AtomicInteger open = sockets[inbound ? 1 : 0];
        // One close listener for all of this listener's connections (issue 14: a second one made
        // Netty keep a listener array per connection); added after the drain counted the connection.
        ChannelFutureListener closed = f -> {
            open.decrementAndGet();
            drain.closed(f.channel());
        };
        // ztunnel's outbound and inbound-passthrough listeners set its SocketConfig on what they accept (src/socket.rs
        // Listener::accept after set_socket_options, src/proxy/outbound.rs, inbound_passthrough.rs); its SOCKS5 one does not.
        boolean keepalive = c.mode() != Capture.Mode.SOCKS5;
        Channel ch = CaptureListener.bind(group, c, opener, accepted -> {
            if (keepalive) {
                io.zerohop.hbone.internal.Transports.keepalive(accepted, this.keepalive);
            }
            open.incrementAndGet();
            drain.accepted(accepted);
            accepted.closeFuture().addListener(closed);
        });
        capture.add(ch);
        InetSocketAddress local = (InetSocketAddress) ch.localAddress();
        // A forward listener is the proxy's at the address it is bound to only (every address of this host when bound to
        // the wildcard), not by port on every address as its fixed listeners are (ztunnel's illegal_ports: ztunnel has no
        // forwards). Its port is the user's choice, often the application's own: a plaintext-inbound forward sits on a
        // workload's ip:port (claimed everywhere, the README's inboundEndpoint 10.0.1.2:8080=127.0.0.1:8080 was a self
        // call and every tunnel got 503, a new-user pass), and an outbound one is often on its target's port (claimed
        // everywhere, the README's forward 127.0.0.1:8080=10.0.1.2:8080 reset every connection as a self call, and every
        // inbound tunnel to port 8080 got 503: a new-user pass, helper 233).
        ownPorts.addListener(c.bind(), local, c.mode() == Capture.Mode.TRANSPARENT, c.mode() == Capture.Mode.FORWARD);
        return local;
    }

    /**
     * A listener that could not bind, named with its address: {@code sync()} rethrew Netty's own exception, an
     * undeclared checked {@code NativeIoException} ("bind(..) failed with error(-98): Address already in use") that
     * named no address (a new-user pass), where the HBONE listener's names it. Unchecked, as the callers declare only
     * {@link InterruptedException}; the kernel's error is its cause.
     */
    static RuntimeException bindFailure(String what, InetSocketAddress at, Throwable cause) {
        String text = "cannot bind " + what + " to " + Addresses.authority(at) + ": " + cause.getMessage();
        if (cause instanceof java.io.IOException io) {
            return new java.io.UncheckedIOException(text, io);
        }
        return new IllegalStateException(text, cause);
    }

    /**
     * Connections accepted by the capture listeners (outbound: ztunnel's 15001 and SOCKS5) or, with
     * {@code inbound}, the plaintext-inbound ones (ztunnel's 15006), still open: ztunnel's
     * {@code istio_tcp_sockets_open} counts each from accept to the end of its task.
     */
    public int openSockets(boolean inbound) {
        return sockets[inbound ? 1 : 0].get();
    }

    /** Binds an HTTP/1.1 server on the mesh's event loops; handlers run on one shared admin thread. */
    public InetSocketAddress bindHttp(InetSocketAddress bind, Map<String, HttpEndpoint.Handler> routes,
                                      HttpEndpoint.Compression compression) throws InterruptedException {
        ExecutorService ex;
        synchronized (this) {
            if (httpExecutor == null) {
                httpExecutor = Executors.newSingleThreadExecutor(new DefaultThreadFactory("zerohop-admin", true));
            }
            ex = httpExecutor;
        }
        Channel ch = HttpEndpointServer.bind(group, bind, routes, ex, compression);
        http.add(ch);
        return bound(ch, bind, false);
    }

    /**
     * Closes the capture and plaintext-inbound listeners (the drain's start); the connections they
     * accepted stay open until they end or the drain's deadline resets them ({@link TunnelCount}).
     */
    public void stopAccepting() {
        capture.forEach(Channel::close);
    }

    /**
     * Closes the HTTP endpoints, the connections they accepted and their thread (the drain's end);
     * completes when the endpoints and their connections have closed, which the event loops' end
     * must wait for. An after-sent action still pending runs on the caller instead
     * ({@link HttpEndpointServer}).
     */
    public CompletableFuture<Void> closeHttp() {
        CompletableFuture<?>[] closed = http.stream().map(HttpEndpointServer::close).toArray(CompletableFuture[]::new);
        ExecutorService ex;
        synchronized (this) {
            ex = httpExecutor;
        }
        if (ex != null) {
            ex.shutdownNow();
        }
        return CompletableFuture.allOf(closed);
    }

    private InetSocketAddress bound(Channel ch, InetSocketAddress requested, boolean transparent) {
        InetSocketAddress local = (InetSocketAddress) ch.localAddress();
        ownPorts.addListener(requested, local, transparent);
        return local;
    }
}
