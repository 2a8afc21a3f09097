package io.zerohop.core.internal;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.zerohop.core.HttpEndpoint;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Netty HTTP/1.1 server for {@link HttpEndpoint}s: {@code HttpServerCodec} and a {@link #MAX_BODY} aggregator,
 * a 30 s read timeout, a request whole within {@link #REQUEST_SECONDS} of its first byte, at most
 * {@link #MAX_CONNECTIONS} connections at once, keep-alive as the client asks, pipelined requests answered in order (one
 * at a time per connection, as hyper's HTTP/1 dispatcher, src/proto/h1/dispatch.rs). Handlers run on {@code executor}, never on the
 * event loop (a Prometheus scrape or a config dump can take milliseconds). A response's
 * {@linkplain HttpEndpoint.Response#thenRun after-sent action} runs on {@code executor} once its
 * write has completed. Closing the returned server channel also closes every connection it
 * accepted: a keep-alive client (the JDK's HTTP client keeps its connection) must not stay
 * connected to a server that is gone, as one did to an in-process proxy's admin after its stop.
 */
public final class HttpEndpointServer {
    private static final Logger log = LoggerFactory.getLogger(HttpEndpointServer.class);

    private HttpEndpointServer() {}

    /**
     * The request body kept, in bytes: no handler reads one ({@link HttpEndpoint.Request} has none; the admin's POSTs take
     * their arguments in the query), so a larger body is answered 413 and dropped as it comes. It was 64 KiB, in the
     * direct-memory pool the tunnels use: 1,500 connections trickling 64 KB bodies to the metrics port, which binds every
     * address by default, reserved it all and stalled the data plane, with no identity needed (a hostile-peer pass).
     */
    static final int MAX_BODY = 4 * 1024;
    /**
     * Connections an endpoint keeps at once; past it an idle one (no request in progress) is closed to make room, and only
     * when every one is in a request (each bounded by {@link #REQUEST_SECONDS}) the new one is (logged once per minute).
     * With {@link #MAX_BODY} and the codec's line and header limits (4 + 8 KiB), what a listener can be made to hold is
     * bounded (~16 MB), where Prometheus, kubelet and an operator need a handful.
     */
    static final int MAX_CONNECTIONS = 1024;
    private static final RateLimitedLog FULL = new RateLimitedLog(log, "HTTP endpoint connection limit reached",
            "HTTP endpoint connections refused at the limit", 1, java.time.Duration.ofMinutes(1));

    /**
     * Binds {@code address} on {@code group}; returns the server channel. Closing it closes the
     * accepted connections too (a request in progress on one gets no answer).
     *
     * @throws IllegalStateException when the address cannot be bound
     */
    public static Channel bind(EventLoopGroup group, InetSocketAddress address, Map<String, HttpEndpoint.Handler> routes,
                               Executor executor) throws InterruptedException {
        return bind(group, address, routes, executor, HttpEndpoint.Compression.NONE);
    }

    /** As {@link #bind(EventLoopGroup, InetSocketAddress, Map, Executor)}, the bodies encoded as {@code compression} says. */
    public static Channel bind(EventLoopGroup group, InetSocketAddress address, Map<String, HttpEndpoint.Handler> routes,
                               Executor executor, HttpEndpoint.Compression compression) throws InterruptedException {
        return bind(group, address, routes, executor, compression, MAX_CONNECTIONS, java.time.Duration.ofSeconds(REQUEST_SECONDS));
    }

    /** As above, with at most {@code maxConnections} connections at once and {@code requestDeadline} for a request (tests). */
    static Channel bind(EventLoopGroup group, InetSocketAddress address, Map<String, HttpEndpoint.Handler> routes,
                        Executor executor, HttpEndpoint.Compression compression, int maxConnections,
                        java.time.Duration requestDeadline) throws InterruptedException {
        boolean negotiated = compression == HttpEndpoint.Compression.NEGOTIATED;
        Map<String, HttpEndpoint.Handler> r = Map.copyOf(routes);
        // The accepted connections, closed with the server. ImmediateEventExecutor: the group's
        // futures are not waited on, and GlobalEventExecutor would start a thread of its own.
        ChannelGroup accepted = new DefaultChannelGroup("http-endpoint", ImmediateEventExecutor.INSTANCE);
        AtomicBoolean closing = new AtomicBoolean();
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(Epoll.isAvailable() ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        accepted.add(ch);
                        // Accepted just before the server closed and added after the group was closed:
                        // the flag is set before that close and read after this add, so one of the
                        // two sees the other.
                        if (closing.get()) {
                            ch.close();
                            return;
                        }
                        if (accepted.size() > maxConnections) {
                            // An idle connection (no request in progress) makes room: a connection that sends nothing is held
                            // only by the 30 s read timeout, and 1,024 silent ones refused kubelet's probe (a review pass). One
                            // in the middle of a request is bounded by its deadline; only when all are, the new one is closed.
                            Channel idle = null;
                            for (Channel other : accepted) {
                                RequestDeadline d = other == ch ? null : other.pipeline().get(RequestDeadline.class);
                                if (d != null && !d.busy()) {
                                    idle = other;
                                    break;
                                }
                            }
                            if (idle != null) {
                                idle.close();
                            } else {
                                FULL.warn("HTTP endpoint {}: {} connections open, each in a request, the limit; closing the one from {}",
                                        io.zerohop.core.Addresses.authority(address), maxConnections,
                                        ch.remoteAddress() == null ? "?" : io.zerohop.core.Addresses.authority(ch.remoteAddress()));
                                ch.close();
                                return;
                            }
                        }
                        RequestDeadline deadline = new RequestDeadline(requestDeadline.toMillis());
                        ch.pipeline().addLast(new ReadTimeoutHandler(30), deadline, new HttpServerCodec(),
                                new HttpObjectAggregator(MAX_BODY), deadline.complete(), new Dispatch(r, executor, negotiated));
                    }
                });
        var f = b.bind(address).await();
        if (!f.isSuccess()) {
            throw Listeners.bindFailure("HTTP endpoint", address, f.cause());
        }
        Channel server = f.channel();
        server.attr(ACCEPTED).set(new Accepted(accepted, closing));
        server.closeFuture().addListener(x -> {
            closing.set(true);
            accepted.close();
        });
        return server;
    }

    private static final io.netty.util.AttributeKey<Accepted> ACCEPTED = io.netty.util.AttributeKey.valueOf(HttpEndpointServer.class, "accepted");

    private record Accepted(ChannelGroup channels, AtomicBoolean closing) {}

    /**
     * Closes {@code server} (a channel {@link #bind} returned) and the connections it accepted, all
     * at once rather than the connections once the server's own close has run; completes when all
     * have closed. For a stop that ends the event loops next: a close that reached a loop only after
     * it ended would leave its connection open. Any thread.
     */
    public static CompletableFuture<Void> close(Channel server) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Accepted a = server.attr(ACCEPTED).get();
        ChannelFuture serverClosed = server.close();
        if (a == null) {
            serverClosed.addListener(x -> done.complete(null));
            return done;
        }
        a.closing().set(true);
        a.channels().close().addListener(g -> serverClosed.addListener(x -> done.complete(null)));
        return done;
    }

    /**
     * A request must arrive whole within {@link #REQUEST_SECONDS} of its first byte, else the connection is closed. The
     * read timeout restarts at every byte, so a client trickling one byte every 25 s kept its connection for good, and
     * 1,024 of them kept {@code /healthz/ready} (the DaemonSet's probes) and {@code /metrics} unreachable, no identity
     * needed (a new-operator pass). Prometheus, kubelet and curl send a request in one go.
     */
    static final int REQUEST_SECONDS = 10;

    /** Armed at a request's first byte (before the codec), disarmed once it is whole ({@link #complete}, after the aggregator). */
    private static final class RequestDeadline extends io.netty.channel.ChannelInboundHandlerAdapter {
        private final long millis;
        /** Set while a request is in progress; read by another connection's accept ({@link #busy}). */
        private volatile io.netty.util.concurrent.ScheduledFuture<?> timer;

        RequestDeadline(long millis) {
            this.millis = millis;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (timer == null) {
                timer = ctx.executor().schedule(() -> {
                    log.debug("HTTP endpoint connection from {}: no whole request within {} ms, closed", ctx.channel().remoteAddress(),
                            millis);
                    ctx.close();
                }, millis, java.util.concurrent.TimeUnit.MILLISECONDS);
            }
            ctx.fireChannelRead(msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            disarm();
            ctx.fireChannelInactive();
        }

        /** Whether a request is in progress on this connection (its first byte came, the request is not whole yet). */
        boolean busy() {
            return timer != null;
        }

        void disarm() {
            if (timer != null) {
                timer.cancel(false);
                timer = null;
            }
        }

        io.netty.channel.ChannelInboundHandler complete() {
            return new io.netty.channel.ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    if (msg instanceof FullHttpRequest) {
                        disarm(); // the next request's first byte arms it again
                    }
                    ctx.fireChannelRead(msg);
                }
            };
        }
    }

    private static final class Dispatch extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final Map<String, HttpEndpoint.Handler> routes;
        private final Executor executor;
        /** {@link HttpEndpoint.Compression#NEGOTIATED}: bodies in the coding the request's Accept-Encoding prefers. */
        private final boolean negotiated;
        /**
         * Pipelined requests waiting for the answer before them to be written: answers go out in request order (RFC 9112
         * section 9.3.2), as hyper's HTTP/1 dispatcher under ztunnel's servers takes one request of a connection at a time
         * ({@code hyper/src/proto/h1/dispatch.rs}). A 404 was written at once while a routed handler still ran, ahead of
         * its answer (helper 303). Reading stops while one waits. Event loop only.
         */
        private final java.util.ArrayDeque<Runnable> waiting = new java.util.ArrayDeque<>();
        /** An answer is being made or written. Event loop only. */
        private boolean answering;

        Dispatch(Map<String, HttpEndpoint.Handler> routes, Executor executor, boolean negotiated) {
            this.routes = routes;
            this.executor = executor;
            this.negotiated = negotiated;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (!req.decoderResult().isSuccess()) {
                queue(ctx, () -> send(ctx, HttpEndpoint.Response.text(400, "bad request\n"), ContentCoding.IDENTITY, false));
                return;
            }
            QueryStringDecoder qs = new QueryStringDecoder(req.uri());
            // The path as sent, not percent-decoded, as hyper's req.uri().path() that ztunnel's three servers route on
            // (`/config%5Fdump` is no /config_dump there); and the query read as url::form_urlencoded::parse reads it
            // (formQuery). Netty's decoding threw on a malformed escape (`/logging?level=%zz`, `/healthz/ready?x=%`)
            // and the connection was closed without an answer, where ztunnel answers (400 for the level, 200 ready).
            String path = qs.rawPath();
            Map<String, String> query = formQuery(qs.rawQuery());
            Map<String, String> headers = new HashMap<>();
            for (Map.Entry<String, String> e : req.headers()) {
                headers.merge(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue(), (a, b) -> a + ", " + b);
            }
            HttpEndpoint.Request request = new HttpEndpoint.Request(req.method().name(), path, query, headers);
            // null: none acceptable (406). tower-http negotiates for every path of ztunnel's metrics server, a 404 too.
            ContentCoding coding = negotiated ? ContentCoding.negotiate(headers.get("accept-encoding")) : ContentCoding.IDENTITY;
            HttpEndpoint.Handler h = routes.get(path);
            if (h == null) {
                // Empty, as ztunnel's three servers answer a path they do not serve (hyper_util::empty_response(NOT_FOUND)).
                queue(ctx, () -> send(ctx, HttpEndpoint.Response.empty(404), coding, keepAlive));
                return;
            }
            queue(ctx, () -> executor.execute(() -> {
                HttpEndpoint.Response resp;
                try {
                    resp = h.handle(request);
                } catch (Exception | LinkageError e) {
                    resp = HttpEndpoint.Response.text(500, "error: " + e + "\n");
                }
                HttpEndpoint.Response out = resp;
                // Encoded here, on the handler thread: a compressed scrape costs milliseconds.
                FullHttpResponse wire = render(out, coding);
                try {
                    ctx.executor().execute(() -> write(ctx, wire, out, keepAlive));
                } catch (RejectedExecutionException loopGone) {
                    // The server's event loops have stopped: no answer can go out, but the action still runs.
                    wire.release();
                    afterSent(out);
                }
            }));
        }

        /** Starts {@code answer} now, or once the answers before it were written. Event loop. */
        private void queue(ChannelHandlerContext ctx, Runnable answer) {
            if (answering) {
                waiting.add(answer);
                ctx.channel().config().setAutoRead(false);
                return;
            }
            answering = true;
            answer.run();
        }

        /** The answer before was written (or failed): the next waiting one starts, or reading resumes. Event loop. */
        private void next(ChannelHandlerContext ctx) {
            Runnable answer = waiting.poll();
            if (answer != null && ctx.channel().isActive()) {
                answer.run();
                return;
            }
            waiting.clear(); // a closed connection answers nothing more, and runs no handler for it
            answering = false;
            ctx.channel().config().setAutoRead(true);
        }

        /**
         * {@code raw} (a URI's query, without the {@code ?}) as ztunnel's admin reads it: {@code url::form_urlencoded::parse}
         * (the WHATWG urlencoded parser) collected into a {@code HashMap}, so the last value of a repeated name wins
         * ({@code level=debug&level=warn} sets warn). Pairs split on {@code &} only (a {@code ;} is data, where Netty's
         * decoder split on it too), empty pairs are skipped, a name without {@code =} has the value "", {@code +} is a space,
         * and a {@code %} not followed by two hex digits stays as it is (Netty's decoder threw on it), the bytes then read as
         * UTF-8 with a replacement character for what is no UTF-8, as Rust's {@code String::from_utf8_lossy}.
         */
        static Map<String, String> formQuery(String raw) {
            Map<String, String> query = new HashMap<>();
            if (raw == null || raw.isEmpty()) {
                return query;
            }
            for (String pair : raw.split("&", -1)) {
                if (pair.isEmpty()) {
                    continue;
                }
                int eq = pair.indexOf('=');
                String name = eq < 0 ? pair : pair.substring(0, eq);
                String value = eq < 0 ? "" : pair.substring(eq + 1);
                query.put(formDecode(name), formDecode(value));
            }
            return query;
        }

        private static String formDecode(String s) {
            byte[] in = s.getBytes(StandardCharsets.UTF_8);
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(in.length);
            for (int i = 0; i < in.length; i++) {
                byte b = in[i];
                if (b == '+') {
                    out.write(' ');
                } else if (b == '%' && i + 2 < in.length && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
                    out.write(hex(in[i + 1]) << 4 | hex(in[i + 2]));
                    i += 2;
                } else {
                    out.write(b);
                }
            }
            // new String(bytes, UTF_8) replaces malformed input, as from_utf8_lossy does.
            return out.toString(StandardCharsets.UTF_8);
        }

        private static int hex(byte c) {
            return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        }

        /** Runs {@code r}'s after-sent action, if any, off the event loop (on the caller when the handler thread is gone). */
        private void afterSent(HttpEndpoint.Response r) {
            Runnable action = r.afterSent();
            if (action == null) {
                return;
            }
            Runnable safe = () -> {
                try {
                    action.run();
                } catch (RuntimeException | LinkageError e) {
                    log.warn("HTTP endpoint action after the response failed", e);
                }
            };
            try {
                executor.execute(safe);
            } catch (RejectedExecutionException handlerThreadGone) {
                safe.run();
            }
        }

        /** On the event loop: an answer of the server's own (400, 404), short. */
        private void send(ChannelHandlerContext ctx, HttpEndpoint.Response r, ContentCoding coding, boolean keepAlive) {
            write(ctx, render(r, coding), r, keepAlive);
        }

        /**
         * {@code r} as it goes on the wire. Negotiated (tower-http's {@code CompressionLayer}, ztunnel's metrics server):
         * {@code coding} null is 406 with the body as it is; a body the predicate lets be compressed
         * ({@link ContentCoding#compressible}) gets {@code Vary: Accept-Encoding} and, unless the coding is identity,
         * is sent in it with {@code Content-Encoding}. tower-http streams it chunked; here it is whole, with its length.
         */
        private FullHttpResponse render(HttpEndpoint.Response r, ContentCoding coding) {
            byte[] body = r.body().getBytes(StandardCharsets.UTF_8);
            int status = r.status();
            String encoding = null;
            boolean vary = false;
            if (negotiated) {
                vary = coding == null || ContentCoding.compressible(r.contentType(), body.length);
                if (coding == null) {
                    status = 406;
                } else if (vary && coding != ContentCoding.IDENTITY) {
                    body = coding.encode(body);
                    encoding = coding.token();
                }
            }
            FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                    Unpooled.wrappedBuffer(body));
            if (r.contentType() != null) { // none on ztunnel's empty_response (src/hyper_util.rs)
                resp.headers().set(HttpHeaderNames.CONTENT_TYPE, r.contentType());
            }
            resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
            if (vary) {
                resp.headers().set(HttpHeaderNames.VARY, HttpHeaderNames.ACCEPT_ENCODING);
            }
            if (encoding != null) {
                resp.headers().set(HttpHeaderNames.CONTENT_ENCODING, encoding);
            }
            return resp;
        }

        private void write(ChannelHandlerContext ctx, FullHttpResponse resp, HttpEndpoint.Response r, boolean keepAlive) {
            ChannelFuture written;
            if (keepAlive) {
                resp.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                written = ctx.writeAndFlush(resp);
            } else {
                written = ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
            }
            if (r.afterSent() != null) {
                // Completes once the bytes are in the socket's send buffer (or the write failed):
                // a stop the action starts now cannot overtake this answer.
                written.addListener(x -> afterSent(r));
            }
            written.addListener(x -> next(ctx));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
