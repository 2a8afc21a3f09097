package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.zerohop.hbone.internal.Relay;
import java.util.ArrayDeque;
import java.util.function.Supplier;

/**
 * A TCP connection to the workload, on the downstream channel's event loop, speaking HTTP/1.1
 * through Netty's client codec (which pairs each response with its request's method, so HEAD and
 * 1xx responses frame correctly). One at a time per downstream connection, as a waypoint's upstream pool
 * of size one for a serialised HTTP/1 downstream.
 *
 * <p>Dialled lazily (the node proxy's tunnels and plaintext inbound alike): the first allowed request dials, as Envoy's router asks its connection pool for a connection
 * only once the filters before it (RBAC) let the request through (envoyproxy/envoy source/common/router/router.cc
 * {@code Filter::decodeHeaders}, upstream_request.cc {@code acceptHeadersFromRouter}). So a denied request never
 * waits on, or is hidden by, an application that is down, and a tunnel whose requests are all denied opens no
 * connection. While the dial is under way the request's parts are queued here and {@link #isWritable} is false, so
 * the filter stops reading the client after the part in hand. A failed dial is retried twice after a back-off, as
 * Istio's inbound route retries it ({@link AppDialRetry}; an {@code http} or {@code auto} port, never {@code grpc-web}),
 * the parts still queued; if the last dial fails too the queued parts are released and the filter answers that
 * request with Envoy's 503 ({@link Http1Filter#onUpstreamUnreachable}, {@code URX,UF}); the next allowed request
 * dials again, as Envoy's pool does for its next request. So does the next request after the application
 * ended its connection, or said it would ({@code Connection: close}), after a complete response ({@link #renew}).
 */
final class TcpUpstream implements Upstream {
    private final Http1Filter filter;
    /** A new connection to the workload, connected on the downstream's event loop. */
    private final Supplier<Future<Channel>> dialer;
    private final EventExecutor loop;
    /** The connection, or null while none is open (not dialled yet, being dialled, or the last dial failed). */
    private Channel ch;
    /** The relay's view of the connection: its FIN follows the writes queued before it. */
    private Relay.End tcp;
    private Future<Channel> dialing;
    /** The current request's retries of its dial ({@link AppDialRetry}), while it has no connection; else null. */
    private AppDialRetry retry;
    /** The retries that got the connection for the current request ({@link #later}); null for a later request on it. */
    private AppDialRetry connectedBy;
    /** What the filter wrote while the connection was being dialled, in order. */
    private final ArrayDeque<Object> queued = new ArrayDeque<>();
    /**
     * Set when a dial failed, until the next request's head: what is still written of that request (body parts read
     * before the filter answered it) is released, never sent on a connection dialled for it without its head.
     */
    private boolean failed;
    private boolean shutdownQueued;
    private boolean readResponses = true;
    private boolean closed;
    /** Request bytes written on the application's connection whose write has not completed ({@link #queuedBytes}). */
    private long pendingBytes;

    /** Whether the port's inbound route retries a dial that failed ({@link AppDialRetry#retries}). */
    private final boolean retryDial;

    /**
     * Lazily dialled: {@code dialer} is called on {@code loop}, the downstream's event loop, for each new connection.
     *
     * @param retryDial whether a failed dial is retried ({@link AppDialRetry#retries} of the port's protocol)
     */
    TcpUpstream(Http1Filter filter, EventExecutor loop, Supplier<Future<Channel>> dialer, boolean retryDial) {
        this.filter = filter;
        this.dialer = dialer;
        this.loop = loop;
        this.retryDial = retryDial;
    }

    private void attach(Channel connected) {
        this.ch = connected;
        this.tcp = connected instanceof DuplexChannel d ? Relay.tcp(d) : null;
        ch.pipeline().addLast("zerohop-http-client", new HttpClientCodec(Http1Decoder.MAX_INITIAL_LINE,
                Http1Decoder.MAX_HEADER_SIZE, 64 * 1024));
        ch.pipeline().addLast("zerohop-http-upstream", new Reader());
        ch.config().setAutoRead(readResponses);
    }

    /** Dials for the request whose first part was just queued: its attempts and retries. */
    private void dial() {
        retry = new AppDialRetry(retryDial);
        attempt();
    }

    private void attempt() {
        if (closed) {
            return;
        }
        Future<Channel> d = dialing = dialer.get();
        d.addListener(f -> {
            dialing = null;
            if (f.isSuccess()) {
                connectedBy = retry;
                retry = null;
                Channel c = (Channel) f.getNow();
                if (closed) {
                    c.close();
                    return;
                }
                attach(c);
                for (Object m; (m = queued.poll()) != null; ) {
                    writeCounted(m);
                }
                ch.flush();
                if (shutdownQueued) {
                    shutdownOutput();
                }
                if (ch.isWritable()) {
                    filter.upstreamWritable();
                }
                return;
            }
            if (!closed && retry.retry(loop, this::attempt)) {
                return;
            }
            UpstreamFailure failure = retry.answer(UpstreamFailure.connect(f.cause()));
            retry = null;
            releaseQueued();
            shutdownQueued = false;
            failed = true;
            if (!closed) {
                // Later, not within the write that dialled: the parts of the request read with its head (a GET's end)
                // reach the filter first, so it knows whether the request was complete when it answers.
                loop.execute(() -> {
                    if (!closed) {
                        filter.onUpstreamUnreachable(failure);
                    }
                });
            }
        });
    }

    /** A dial under way or a retry of one waiting for its back-off. */
    private boolean dialling() {
        return dialing != null || retry != null;
    }

    private void releaseQueued() {
        for (Object m; (m = queued.poll()) != null; ) {
            ReferenceCountUtil.release(m);
        }
    }

    @Override
    public boolean idle() {
        return ch == null && !dialling();
    }

    @Override
    public void write(HttpObject msg) {
        send(msg);
    }

    @Override
    public void writeRaw(ByteBuf bytes) {
        send(bytes);
    }

    private void send(Object msg) {
        if (msg instanceof HttpRequest) {
            // A new request: retried or not on its own.
            connectedBy = null;
        }
        if (ch != null) {
            writeCounted(msg);
            return;
        }
        if (msg instanceof HttpRequest) {
            failed = false;
        }
        if (closed || failed) {
            ReferenceCountUtil.release(msg);
            return;
        }
        queued.add(msg);
        if (!dialling()) {
            dial();
        }
    }

    @Override
    public UpstreamFailure later(UpstreamFailure failure) {
        return connectedBy != null ? connectedBy.later(failure) : failure;
    }

    @Override
    public void flush() {
        if (ch != null) {
            ch.flush();
        }
    }

    @Override
    public boolean isWritable() {
        return ch != null ? ch.isWritable() : !dialling();
    }

    /**
     * Writes {@code msg} on the application's connection, its body bytes counted ({@link #queuedBytes}) until the write
     * completes, when the filter counts again ({@link Http1Filter#heldChanged}): the application taking what was queued
     * need not turn the connection writable again (it never turned unwritable below its watermark), so only the write's
     * completion says it was taken. As {@link H2Upstream} counts its DATA frames. A failed write still fires the pipeline's
     * exceptionCaught, as the void promise before did ({@link Reader#exceptionCaught}).
     */
    private void writeCounted(Object msg) {
        int n = msg instanceof HttpContent c ? c.content().readableBytes() : msg instanceof ByteBuf b ? b.readableBytes() : 0;
        if (n == 0) {
            ch.write(msg, ch.voidPromise());
            return;
        }
        Channel c = ch;
        pendingBytes += n;
        c.write(msg).addListener(f -> {
            pendingBytes -= n;
            if (!f.isSuccess() && c.isRegistered()) {
                c.pipeline().fireExceptionCaught(f.cause());
            }
            filter.heldChanged();
        });
    }

    /**
     * The request bytes written on the application's connection whose write has not completed (behind its socket's send
     * buffer, up to its write watermark and one client read past it); what waits for the dial is bounded by a read and
     * not counted. Until 7 December the outbound buffer's pending bytes read at the client's reads: stale once the
     * application took them without a writability change.
     */
    @Override
    public long queuedBytes() {
        return pendingBytes;
    }

    @Override
    public void readResponses(boolean on) {
        readResponses = on;
        if (ch != null) {
            ch.config().setAutoRead(on);
        }
    }

    @Override
    public void shutdownOutput() {
        if (ch == null) {
            // Passed on once the connection is made; with none, nothing waits for it.
            shutdownQueued = dialling();
            return;
        }
        if (tcp != null && ch.isActive()) {
            // Not ch.shutdownOutput() at once: it fails the request bytes the application has not taken yet.
            tcp.shutdownOutput();
        }
    }

    @Override
    public void upgraded() {
        // Bytes the codec still holds after the 101 come out raw when it is removed.
        if (ch != null && ch.pipeline().get(HttpClientCodec.class) != null) {
            ch.pipeline().remove(HttpClientCodec.class);
        }
    }

    @Override
    public boolean renewable() {
        return true;
    }

    /**
     * Closes the connection and forgets it: the next request's head dials a new one. Until then anything still written
     * (the rest of a request answered early, whose client connection closes after it) is released, as after a failed
     * dial. Events of the old connection that follow (its close) are no longer the filter's ({@link Reader}).
     */
    @Override
    public void renew() {
        if (retry != null && retry.waiting()) {
            // Its request was answered while a retry waited: that retry would dial for nothing.
            retry.cancel();
            retry = null;
            releaseQueued();
        }
        if (ch != null) {
            Channel old = ch;
            ch = null;
            tcp = null;
            old.close();
        }
        shutdownQueued = false;
        failed = true;
    }

    @Override
    public void close() {
        closed = true;
        cancelRetry();
        releaseQueued();
        if (ch != null) {
            ch.close();
        }
    }

    @Override
    public void reset() {
        closed = true;
        cancelRetry();
        releaseQueued();
        if (ch != null) {
            HttpEnforcement.reset(ch); // SO_LINGER 0, then close
        }
    }

    private void cancelRetry() {
        if (retry != null) {
            retry.cancel();
        }
    }

    /** The filter's view of one connection; once {@link #renew} let it go, nothing of it reaches the filter. */
    private final class Reader extends ChannelInboundHandlerAdapter {
        private boolean current(ChannelHandlerContext ctx) {
            return ctx.channel() == ch;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!current(ctx)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            filter.onResponse(Upstream.withoutTrailers(msg));
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            filter.flushDownstream();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (current(ctx) && ctx.channel().isWritable()) {
                filter.upstreamWritable();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent && current(ctx)) {
                filter.onUpstreamEnd(true);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (current(ctx)) {
                filter.onUpstreamEnd(true);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (current(ctx)) {
                filter.onUpstreamEnd(false);
            }
            ctx.close();
        }
    }
}
