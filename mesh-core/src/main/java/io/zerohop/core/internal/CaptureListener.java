package io.zerohop.core.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.DecoderResultProvider;
import io.netty.handler.codec.socksx.v5.DefaultSocks5CommandResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5InitialResponse;
import io.netty.handler.codec.socksx.v5.Socks5AddressType;
import io.netty.handler.codec.socksx.v5.Socks5AuthMethod;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequest;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import io.netty.handler.codec.socksx.v5.Socks5CommandType;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequest;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5ServerEncoder;
import io.netty.util.NetUtil;
import io.zerohop.core.Addresses;
import io.zerohop.core.Capture;
import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.internal.Hold;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.hbone.internal.Transports;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One outbound capture listener of a node proxy: accepts the application's plain TCP, finds the
 * original destination (TPROXY local address, SOCKS5 request or fixed target), and relays it through
 * an HBONE tunnel opened as the source workload's identity.
 */
public final class CaptureListener {
    private static final Logger log = LoggerFactory.getLogger(CaptureListener.class);
    /** A client can make us refuse at will: 20 lines per 10 s, then a count. */
    private static final RateLimitedLog refusals = new RateLimitedLog(log, "captured connection refused", "captured connections refused", 20,
            java.time.Duration.ofSeconds(10));

    /** How the proxy opens a tunnel for (source address, destination). */
    public interface Opener {
        /**
         * Completes with a relay end for the destination, or fails with the reason to log.
         *
         * @param loop the accepted connection's event loop: a connection dialled for it (passthrough)
         *             is dialled there, so the relay's two sides share it
         */
        CompletableFuture<Relay.End> open(InetSocketAddress source, InetSocketAddress destination, EventLoop loop);

        /**
         * {@link #open(InetSocketAddress, InetSocketAddress, EventLoop)} for the accepted connection {@code client} (not
         * reading, not joined yet), on its event loop; an opener whose end needs the client before its join overrides it
         * (plaintext inbound's parsed connections, which dial the workload only for their first allowed request).
         */
        default CompletableFuture<Relay.End> open(SocketChannel client, InetSocketAddress source, InetSocketAddress destination) {
            return open(source, destination, client.eventLoop());
        }

        /**
         * How the listener's refusal line names the connection: its direction, then both ends
         * ({@code source -> destination}, each with its identity where the opener knows it), e.g.
         * {@code outbound 10.0.0.3:40000 -> 10.0.0.2:8080}. Never null.
         */
        default String ends(InetSocketAddress source, InetSocketAddress destination) {
            return "outbound " + Addresses.authority(source) + " -> " + Addresses.authority(destination);
        }
    }

    private CaptureListener() {}

    public static Channel bind(EventLoopGroup group, Capture capture, Opener opener) throws InterruptedException {
        return bind(group, capture, opener, ch -> {});
    }

    /**
     * @param accepted told of every accepted connection first, before its destination is known (the
     *                 drain counts it from there and resets it at its deadline)
     */
    public static Channel bind(EventLoopGroup group, Capture capture, Opener opener,
                               java.util.function.Consumer<? super SocketChannel> accepted) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap().group(group)
                .channel(Transports.serverChannel(group))
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, Relay.TCP_READS)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        accepted.accept(ch);
                        // The listener's address object, not Netty's equal copy per connection (96 bytes
                        // per captured connection; transparent capture: the original destination around a
                        // shared IP address object), the client's around a shared one (56 bytes; issue 14).
                        Transports.shareLocalAddress(ch, ch.parent().localAddress());
                        Transports.shareRemoteAddress(ch, null);
                        switch (capture.mode()) {
                            case FORWARD -> relay(ch, capture.target(), opener, null);
                            case TRANSPARENT -> relay(ch, ch.localAddress(), opener, null);
                            case SOCKS5 -> {
                                ch.pipeline().addLast(Socks5ServerEncoder.DEFAULT, new Socks5InitialRequestDecoder(), new Socks5(opener));
                                ch.read();
                            }
                        }
                    }
                });
        boolean transparent = capture.mode() == Capture.Mode.TRANSPARENT;
        if (transparent) {
            Transports.transparent(b, group);
        }
        io.netty.channel.ChannelFuture f = b.bind(capture.bind()).await();
        if (!f.isSuccess()) {
            throw Listeners.bindFailure("capture listener", capture.bind(), f.cause());
        }
        Channel ch = f.channel();
        if (transparent && !Transports.isTransparent(ch)) {
            ch.close();
            throw new IllegalStateException("cannot set IP_TRANSPARENT on the capture listener " + capture.bind() + " (needs CAP_NET_ADMIN)");
        }
        return ch;
    }

    static void relay(SocketChannel ch, InetSocketAddress dst, Opener opener, Runnable onOpen) {
        InetSocketAddress src = ch.remoteAddress();
        // Auto-read is off, yet epoll still reads once when the peer half-closes (EPOLLRDHUP): a client
        // that sends and shuts down its output before the tunnel is open would lose those bytes and
        // its FIN at the pipeline's tail. Hold them until the relay is in place, and a reset (read
        // error) with them, so that the tunnel is reset as it would be after the join.
        Hold hold = new Hold(Long.MAX_VALUE, true);
        ch.pipeline().addLast("zerohop-hold", hold);
        opener.open(ch, src, dst).whenComplete((end, e) -> {
            if (e != null) {
                ch.eventLoop().execute(() -> {
                    if (!loggedByOpener(e)) {
                        refusals.info("{} refused: {}", opener.ends(src, dst), rootMessage(e));
                    }
                    Relay.tcp(ch).reset();
                });
                return;
            }
            onLoopOf(ch, end, () -> {
                if (!ch.isActive()) {
                    end.reset();
                    return;
                }
                if (onOpen != null) {
                    onOpen.run();
                }
                end.joinFrom(Relay.tcp(ch));
                hold.release();
            });
        });
    }

    /**
     * Runs {@code join} on {@code end}'s event loop after moving the accepted connection {@code ch}
     * there (deregistered from its own loop, registered on the end's). A relay whose two channels
     * share a loop hands each buffer over by a direct call, and the tunnel's write back-pressure is
     * seen at once; across two loops every write is a task, every read burst wakes the other thread,
     * and the buffers read on one loop are freed on the other, so the allocator makes new chunks
     * (issue 14: proxy A read the captured socket on one loop and wrote its pooled HBONE connection on
     * another). Netty's proxy example keeps both sides on one loop the same way: it dials the outbound
     * connection on the inbound channel's loop. The tunnels of one pooled connection so all run on
     * that connection's loop; other destinations' connections (and connections beyond the
     * server's stream limit) are spread over the group's loops as before.
     *
     * <p>{@code ch} must not be reading (auto-read off, no read requested) nor joined yet; what the
     * kernel receives meanwhile waits in the socket. When the move fails (the target loop is shutting
     * down), {@code end} is reset and so is {@code ch}, back on its own loop.
     */
    static void onLoopOf(SocketChannel ch, Relay.End end, Runnable join) {
        EventLoop home = ch.eventLoop();
        EventLoop loop = end.channel().eventLoop();
        if (loop == home || !ch.isActive()) {
            home.execute(join);
            return;
        }
        ch.deregister().addListener(d -> {
            if (!d.isSuccess()) {
                home.execute(join);
                return;
            }
            loop.register(ch).addListener(r -> {
                if (r.isSuccess()) {
                    join.run();
                    return;
                }
                log.warn("cannot move {} onto its tunnel's event loop: {}", ch, r.cause().toString());
                end.reset();
                home.register(ch).addListener(back -> {
                    if (back.isSuccess()) {
                        Relay.tcp(ch).reset();
                    } else {
                        ch.unsafe().closeForcibly();
                    }
                });
            });
        });
    }

    /** The opener logged this refusal itself, with both ends' identities: one line per refused connection. */
    static boolean loggedByOpener(Throwable e) {
        Throwable t = e;
        while (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return t instanceof LoggedRefusal;
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && !(t instanceof HboneRefusedException)) {
            t = t.getCause();
        }
        if (t instanceof HboneRefusedException r) {
            return r.status() + " " + r.getMessage();
        }
        // A dial's failure in the access line's words (`Connection refused (os error 111)`), not Netty's native text
        // (`finishConnect(..) failed with error(-111): Connection refused`, newuser21).
        return t instanceof java.net.SocketException ? io.zerohop.hbone.internal.DialErrors.describe(t) : String.valueOf(t.getMessage());
    }

    /**
     * ztunnel's SOCKS5 (src/proxy/socks5.rs {@code negotiate_socks_connection}): no authentication,
     * CONNECT to an IPv4 or IPv6 address. A request it refuses gets ztunnel's reply code and one WARN
     * {@code failed to negotiate socks connection: CommandNotSupported: <reason>} with ztunnel's reason:
     * {@code unsupported version N}, {@code unsupported command N}, {@code unsupported address type N},
     * {@code only unauthenticated is supported}, and for a host name ztunnel's answer when its DNS proxy
     * is off, {@code unsupported hostname lookup, requires DNS enabled} (zerohop has no DNS proxy, so a
     * name is never resolved: resolving would mean trusting DNS for identity).
     */
    private static final class Socks5 extends SimpleChannelInboundHandler<Object> {
        /** ztunnel's {@code SocksError::CommandNotSupported}, which its {@code invalid_protocol} gives every refusal. */
        private static final String REFUSED = "failed to negotiate socks connection: CommandNotSupported: ";
        /** A client can make us refuse at will, as it can for captured connections. */
        private static final RateLimitedLog negotiations = new RateLimitedLog(log, "SOCKS5 negotiation refused", "SOCKS5 negotiations refused", 20,
                java.time.Duration.ofSeconds(10));
        private final Opener opener;

        Socks5(Opener opener) {
            this.opener = opener;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
            // Netty's decoders hand a malformed request on as a placeholder (a NO_AUTH greeting, a CONNECT to
            // 0.0.0.0:1) that carries the failure: it must not be read as the client's request.
            if (msg instanceof DecoderResultProvider p && p.decoderResult().isFailure()) {
                refuse(ctx, ztunnelReason(msg, p.decoderResult().cause()));
                return;
            }
            if (msg instanceof Socks5InitialRequest init) {
                if (!init.authMethods().contains(Socks5AuthMethod.NO_AUTH)) {
                    // RFC 1928 section 3's answer at this stage (ztunnel writes its 10-byte error reply here,
                    // which a client reads as method 7): the client learns that no method of its is acceptable.
                    negotiations.warn("{}{}{}", REFUSED, "only unauthenticated is supported", from(ctx));
                    ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED)).addListener(f -> ctx.close());
                    return;
                }
                ctx.pipeline().replace(Socks5InitialRequestDecoder.class, "socks5-cmd", new Socks5CommandRequestDecoder());
                ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.NO_AUTH));
                ctx.read();
                return;
            }
            if (msg instanceof Socks5CommandRequest req) {
                if (req.type() != Socks5CommandType.CONNECT) {
                    refuse(ctx, "unsupported command " + req.type().byteValue());
                    return;
                }
                if (req.dstAddrType() == Socks5AddressType.DOMAIN) {
                    refuse(ctx, "unsupported hostname lookup, requires DNS enabled");
                    return;
                }
                InetAddress ip;
                try {
                    ip = InetAddress.getByAddress(NetUtil.createByteArrayFromIpAddressString(req.dstAddr()));
                } catch (Exception e) {
                    refuse(ctx, "unsupported address type " + req.dstAddrType().byteValue());
                    return;
                }
                SocketChannel ch = (SocketChannel) ctx.channel();
                // From here to the join, as relay() does: what the client sends meanwhile with its FIN
                // (epoll reads it, auto-read or not) and what it sent with the CONNECT (the decoder
                // hands its leftover on when removed) wait in a hold, not at the pipeline's tail.
                Hold hold = new Hold(Long.MAX_VALUE, true);
                ctx.pipeline().addLast("zerohop-hold", hold);
                ctx.pipeline().remove(this);
                ctx.pipeline().remove(Socks5CommandRequestDecoder.class);
                InetSocketAddress dst = new InetSocketAddress(ip, req.dstPort());
                InetSocketAddress src = ch.remoteAddress();
                opener.open(ch, src, dst).whenComplete((end, e) -> {
                    if (e != null) {
                        if (!loggedByOpener(e)) {
                            refusals.info("socks5 {} refused: {}", opener.ends(src, dst), rootMessage(e));
                        }
                        ch.writeAndFlush(new DefaultSocks5CommandResponse(socksStatus(e), Socks5AddressType.IPv4))
                                .addListener(f -> ch.close());
                        return;
                    }
                    ch.writeAndFlush(new DefaultSocks5CommandResponse(Socks5CommandStatus.SUCCESS, Socks5AddressType.IPv4, "0.0.0.0", 0))
                            .addListener(f -> onLoopOf(ch, end, () -> {
                                ch.pipeline().remove(Socks5ServerEncoder.class);
                                // As relay(): an end that accounts for its join (a plain relay's) sees it.
                                end.joinFrom(Relay.tcp(ch));
                                hold.release();
                            }));
                });
            }
        }

        /**
         * The SOCKS5 reply (RFC 1928 section 6) for a refused tunnel. ztunnel answers success before it dials and then
         * closes, so it has no mapping; zerohop answers after the tunnel's answer, in the reply's own words: a policy's
         * 401/403 is "not allowed by ruleset" (2), the peer's 503 (it could not reach the application) and a refused
         * dial "connection refused" (5), an unreachable peer or a timeout "host unreachable" (4), anything else a
         * general failure (1). Until 2 December every HBONE status was 2, so an application that was down read as a
         * policy denial (newuser21).
         */
        static Socks5CommandStatus socksStatus(Throwable e) {
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (t instanceof HboneRefusedException r) {
                    return switch (r.status()) {
                        case 401, 403 -> Socks5CommandStatus.FORBIDDEN;
                        case 503 -> Socks5CommandStatus.CONNECTION_REFUSED;
                        default -> Socks5CommandStatus.FAILURE;
                    };
                }
                // Netty's ConnectTimeoutException is a ConnectException: the timeout first.
                if (t instanceof java.net.NoRouteToHostException || t instanceof java.net.SocketTimeoutException
                        || t instanceof io.netty.channel.ConnectTimeoutException || t instanceof io.netty.handler.ssl.SslHandshakeTimeoutException) {
                    return Socks5CommandStatus.HOST_UNREACHABLE;
                }
                if (t instanceof java.net.ConnectException) {
                    return Socks5CommandStatus.CONNECTION_REFUSED;
                }
            }
            return Socks5CommandStatus.FAILURE;
        }

        /** ztunnel's {@code send_error} after a WARN: reply 7 (command not supported), bound address 0.0.0.0:0, close. */
        private static void refuse(ChannelHandlerContext ctx, String reason) {
            negotiations.warn("{}{}{}", REFUSED, reason, from(ctx));
            ctx.writeAndFlush(new DefaultSocks5CommandResponse(Socks5CommandStatus.COMMAND_UNSUPPORTED, Socks5AddressType.IPv4, "0.0.0.0", 0))
                    .addListener(f -> ctx.close());
        }

        /** Who asked: ztunnel's line names no one, but an operator needs the client to find it. */
        private static String from(ChannelHandlerContext ctx) {
            return " (client " + Addresses.authority((InetSocketAddress) ctx.channel().remoteAddress()) + ")";
        }

        /** Netty's decoder failures in ztunnel's words ({@code unsupported version 4}), others as Netty wrote them. */
        static String ztunnelReason(Object placeholder, Throwable cause) {
            Throwable t = cause instanceof io.netty.handler.codec.DecoderException && cause.getCause() != null ? cause.getCause() : cause;
            if (placeholder instanceof Socks5InitialRequest && t instanceof IllegalArgumentException) {
                return "methods cannot be zero"; // the greeting's only other check: Netty refuses an empty method list
            }
            String m = String.valueOf(t.getMessage());
            java.util.regex.Matcher v = java.util.regex.Pattern.compile("unsupported version: (-?\\d+) \\(expected: 5\\)").matcher(m);
            if (v.matches()) {
                return "unsupported version " + (Integer.parseInt(v.group(1)) & 0xFF);
            }
            java.util.regex.Matcher a = java.util.regex.Pattern.compile("unsupported address type: (\\d+)").matcher(m);
            return a.matches() ? "unsupported address type " + a.group(1) : m;
        }

        /**
         * Reads on while the greeting or request is incomplete: auto-read is off, and a client's bytes may come in
         * pieces. Once the CONNECT is read this handler is gone and the hold and the relay decide the reads.
         */
        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.read();
        }

        /**
         * The client closed (or half-closed: capture listeners allow half-closure) before its request was complete:
         * nothing to relay, so this side closes too. Without it the socket stayed in CLOSE_WAIT, counted open, for
         * every client that closed mid-negotiation, e.g. each TCP health probe (newuser22).
         */
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** A plain TCP connection as a relay end (passthrough, plaintext inbound). */
    public static CompletableFuture<Relay.End> connectTcp(EventLoopGroup group, InetSocketAddress dst) {
        return connectTcp(group, dst, false);
    }

    /**
     * {@link #connectTcp(EventLoopGroup, InetSocketAddress)} for an end that {@code Relay.join} joins: with {@code forRelay}
     * what the destination sends before the join waits in a {@link Hold} ({@code Transports.DIAL_HOLD}), which the join
     * releases into the relay. Epoll reads a peer's bytes and FIN at EPOLLRDHUP with auto-read off, so an application that
     * writes and closes at once (a banner, an error) had its bytes read into a pipeline without a handler and dropped:
     * the client got a bare FIN (12 of 20 passthrough connections here; found by a helper's VIP tests). An end whose
     * channel gets handlers of its own (the L7 paths) is dialled without one.
     */
    public static CompletableFuture<Relay.End> connectTcp(EventLoopGroup group, InetSocketAddress dst, boolean forRelay) {
        return connectTcp(group, dst, forRelay, io.zerohop.hbone.TcpKeepalive.DEFAULT);
    }

    /**
     * {@link #connectTcp(EventLoopGroup, InetSocketAddress, boolean)} with {@code keepalive} on the dialled socket, as
     * ztunnel's socket factory sets its SocketConfig on every socket it dials (src/proxy.rs {@code setup_socket}).
     */
    public static CompletableFuture<Relay.End> connectTcp(EventLoopGroup group, InetSocketAddress dst, boolean forRelay,
                                                          io.zerohop.hbone.TcpKeepalive keepalive) {
        java.util.Objects.requireNonNull(keepalive, "keepalive");
        CompletableFuture<Relay.End> f = new CompletableFuture<>();
        // In a task of the dial's loop, never inside a batch of epoll events: a dial there can take the descriptor
        // number of a connection closed earlier in the batch, whose event still in it then reaches the connecting
        // channel as the end of its input (mesh-hbone's InboundTunnel.proxy says how; a chaos pass, helper 229).
        io.netty.channel.EventLoop loop = group.next();
        try {
            loop.execute(() -> dialTcp(loop, dst, forRelay, keepalive, f));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            f.completeExceptionally(e);
        }
        return f;
    }

    private static void dialTcp(io.netty.channel.EventLoop loop, InetSocketAddress dst, boolean forRelay,
                                io.zerohop.hbone.TcpKeepalive keepalive, CompletableFuture<Relay.End> f) {
        ChannelFuture dial = new Bootstrap().group(loop)
                .channel(Transports.socketChannel(loop))
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.RCVBUF_ALLOCATOR, Relay.TCP_READS)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                .handler(Transports.Dialling.INSTANCE)
                .connect(dst);
        if (dial.channel().isOpen()) {
            Transports.keepalive(dial.channel(), keepalive);
        }
        dial.addListener((ChannelFuture cf) -> {
            if (cf.isSuccess()) {
                // On the loop, at the connect's completion: before epoll's next read of this channel.
                if (forRelay) {
                    cf.channel().pipeline().replace(Transports.Dialling.INSTANCE, Transports.DIAL_HOLD,
                            new Hold(Long.MAX_VALUE, true));
                } else {
                    cf.channel().pipeline().remove(Transports.Dialling.INSTANCE);
                }
                f.complete(Relay.tcp((DuplexChannel) cf.channel()));
            } else {
                f.completeExceptionally(cf.cause());
            }
        });
    }
}
