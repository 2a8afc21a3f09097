package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.policy.Decision;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/1.x enforcement on one downstream connection, behind {@link Http1Decoder} and an
 * {@code HttpResponseEncoder}. Every request is authorized before any of its bytes go upstream;
 * allowed ones are forwarded (XFCC set), denied ones answered {@code 403 RBAC: access denied}.
 *
 * <p>As Envoy's HTTP/1 codec, one request is in flight upstream at a time: pipelined requests wait
 * here, already decoded, until the previous response has ended, so responses (forwarded or local)
 * leave in request order. While requests wait, reading from the client stops. Bodies stream in
 * parts as they arrive; nothing is buffered whole.
 */
final class Http1Filter extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(Http1Filter.class);
    private static final Object INPUT_END = new Object();

    /** Decides one request; never null. */
    interface Authorizer {
        Decision authorize(Conn conn, HttpRequest request);
    }

    private final Conn conn;
    private final Authorizer authorizer;
    private final HttpObserver observer;
    private final Function<Http1Filter, Upstream> upstreamFactory;
    private final ArrayDeque<Object> queue = new ArrayDeque<>();
    private ChannelHandlerContext ctx;
    /** The downstream connection when it is TCP (plaintext inbound), null for an HBONE stream. */
    private Relay.End tcp;
    private Upstream upstream;
    private Http1Exchange active;
    private boolean pumping;
    private boolean closing;
    private boolean inputEnded;
    private boolean upstreamEnded;
    private boolean opaque;
    private boolean pausedForQueue;
    private boolean closeOnInputEnd;

    Http1Filter(Conn conn, Authorizer authorizer, HttpObserver observer, Function<Http1Filter, Upstream> upstreamFactory) {
        this.conn = conn;
        this.authorizer = authorizer;
        this.observer = observer;
        this.upstreamFactory = upstreamFactory;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.tcp = ctx.channel() instanceof DuplexChannel d ? Relay.tcp(d) : null;
        this.upstream = upstreamFactory.apply(this);
    }

    Upstream upstream() {
        return upstream;
    }

    // ---------------------------------------------------------------- downstream (client) side

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (closing) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (opaque) {
            if (msg instanceof ByteBuf b) {
                upstream.writeRaw(b);
            } else {
                ReferenceCountUtil.release(msg);
            }
            return;
        }
        queue.add(msg);
        pump();
        if (!queue.isEmpty() && !pausedForQueue) {
            pausedForQueue = true;
            ctx.channel().config().setAutoRead(false);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        upstream.flush();
        ctx.fireChannelReadComplete();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            inputEnded = true;
            if (closeOnInputEnd) {
                closeAfterWrites();
            } else if (opaque) {
                upstream.shutdownOutput();
            } else if (!closing) {
                queue.add(INPUT_END);
                pump();
            }
            return;
        }
        if (evt instanceof HboneStream.Reset) {
            abort("reset by peer");
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        upstream.readResponses(ctx.channel().isWritable());
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releaseQueue();
        upstream.close();
        if (active != null && !active.responseDone) {
            active.status = 0;
            finish(active, "downstream closed");
            active = null;
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("HTTP connection {} failed", conn.destination(), cause);
        abort(String.valueOf(cause));
    }

    /** Handles queued messages until one must wait for an upstream response. */
    private void pump() {
        if (pumping) {
            return;
        }
        pumping = true;
        try {
            while (!closing) {
                if (active != null && active.requestDone && active.responseDone) {
                    Http1Exchange done = active;
                    active = null;
                    finish(done, null);
                    if (done.closeAfter || upstreamEnded) {
                        closeGracefully();
                        break;
                    }
                    if (done.upgrade) {
                        switchToOpaque();
                        break;
                    }
                    continue;
                }
                if (active != null && active.requestDone) {
                    break;
                }
                Object m = queue.poll();
                if (m == null) {
                    break;
                }
                handle(m);
            }
            if (queue.isEmpty() && pausedForQueue && !closing) {
                pausedForQueue = false;
                ctx.channel().config().setAutoRead(true);
            }
        } finally {
            pumping = false;
        }
    }

    private void handle(Object m) {
        if (m == INPUT_END) {
            inputEnded = true;
            upstream.shutdownOutput();
            if (upstreamEnded) {
                closeAfterWrites();
            }
            return;
        }
        if (m instanceof HttpRequest req) {
            if (active != null) {
                // A new head while the previous body is incomplete cannot come from the decoder.
                ReferenceCountUtil.release(m);
                protocolError(HttpResponseStatus.BAD_REQUEST, "request head inside a body");
                return;
            }
            if (req.decoderResult().isFailure()) {
                ReferenceCountUtil.release(m);
                protocolError(LocalReplies.statusFor(req.decoderResult().cause()), String.valueOf(req.decoderResult().cause()));
                return;
            }
            String badTarget = RequestTarget.toOriginForm(req);
            if (badTarget != null) {
                ReferenceCountUtil.release(m);
                protocolError(HttpResponseStatus.BAD_REQUEST, badTarget);
                return;
            }
            start(req);
            if (m instanceof HttpContent c) {
                content(c);
            }
            return;
        }
        if (m instanceof HttpContent c) {
            if (c.decoderResult().isFailure()) {
                c.release();
                protocolError(LocalReplies.statusFor(c.decoderResult().cause()), String.valueOf(c.decoderResult().cause()));
                return;
            }
            content(c);
            return;
        }
        ReferenceCountUtil.release(m);
    }

    private void start(HttpRequest req) {
        Http1Exchange x = new Http1Exchange(req);
        active = x;
        Decision d;
        try {
            d = authorizer.authorize(conn, req);
        } catch (RuntimeException e) {
            log.warn("authorization failed for {} {} {}, denying", conn.peer(), x.method, x.path, e);
            d = null;
        }
        x.decision = d;
        x.allowed = d != null && d.allowed();
        if (!HttpUtil.isKeepAlive(req)) {
            x.closeAfter = true;
        }
        x.upgrade = req.headers().contains(HttpHeaderNames.UPGRADE);
        if (x.allowed) {
            HttpHeaders h = req.headers();
            h.remove("x-forwarded-client-cert");
            String xfcc = conn.xfcc();
            if (xfcc != null) {
                h.set("x-forwarded-client-cert", xfcc);
            }
            upstream.write(req);
            return;
        }
        log.debug("denied {} {} {} -> {}: {}", conn.peer(), x.method, x.path, conn.destination(), d == null ? "error" : d.explain());
        if (HttpUtil.is100ContinueExpected(req) || x.upgrade) {
            // The client may or may not send the body now: the framing of what follows is unknown.
            x.closeAfter = true;
        }
        x.status = 403;
        x.responseDone = true;
        FullHttpResponse r = LocalReplies.local(HttpResponseStatus.FORBIDDEN, LocalReplies.DENIED, x.closeAfter);
        x.responseBytes = LocalReplies.DENIED.length;
        ctx.writeAndFlush(r);
    }

    private void content(HttpContent c) {
        Http1Exchange x = active;
        if (x == null) {
            c.release();
            return;
        }
        x.requestBytes += c.content().readableBytes();
        boolean last = c instanceof LastHttpContent;
        if (x.allowed) {
            upstream.write(c);
            if (!upstream.isWritable() && !pausedForQueue) {
                ctx.channel().config().setAutoRead(false);
            }
        } else {
            c.release();
        }
        if (last) {
            x.requestDone = true;
            if (x.allowed) {
                upstream.flush();
            }
        }
    }

    /** Upstream became writable again: resume reading request bodies. */
    void upstreamWritable() {
        if (!pausedForQueue && !closing && !opaque) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    // ---------------------------------------------------------------- upstream (application) side

    /** A response object from the application; ownership passes. */
    void onResponse(Object msg) {
        Http1Exchange x = active;
        if (opaque) {
            // After a 101 only bytes pass; an object the removed codec still emitted carries at most bytes.
            if (msg instanceof ByteBuf) {
                ctx.write(msg);
            } else {
                if (msg instanceof HttpContent c && c.content().isReadable()) {
                    ctx.write(c.content().retain());
                }
                ReferenceCountUtil.release(msg);
            }
            return;
        }
        if (x == null || !x.allowed || x.responseDone || closing) {
            // Nothing asked for it (or the exchange was answered locally): never pass it on.
            ReferenceCountUtil.release(msg);
            if (x == null && !closing && msg instanceof HttpResponse) {
                abort("unsolicited response from the application");
            }
            return;
        }
        if (msg instanceof HttpObject o && o.decoderResult().isFailure()) {
            ReferenceCountUtil.release(msg);
            abort("malformed response from the application: " + o.decoderResult().cause());
            return;
        }
        if (msg instanceof HttpResponse r && x.responseHead(r)) {
            // Switched: what follows is not HTTP, whatever the client codec thinks of the body.
            ctx.write(msg);
            ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
            x.responseDone = true;
            x.requestDone = true;
            pump();
            return;
        }
        if (msg instanceof HttpContent c) {
            x.responseBytes += c.content().readableBytes();
        }
        boolean last = msg instanceof LastHttpContent;
        if (last && x.interim) {
            x.interim = false;
            ctx.writeAndFlush(msg);
            return;
        }
        if (last) {
            ctx.writeAndFlush(msg);
            x.responseDone = true;
            if (x.status == 101 && x.upgrade) {
                x.requestDone = true;
            }
            pump();
            return;
        }
        ctx.write(msg);
        if (!ctx.channel().isWritable()) {
            upstream.readResponses(false);
        }
    }

    void flushDownstream() {
        ctx.flush();
    }

    /** The application closed or half-closed its side. */
    void onUpstreamEnd(boolean clean) {
        if (upstreamEnded) {
            return;
        }
        upstreamEnded = true;
        if (closing) {
            return;
        }
        if (opaque) {
            shutdownOutput(ctx.channel());
            if (inputEnded) {
                closeAfterWrites();
            }
            return;
        }
        if (!clean || (active != null && active.allowed && !active.responseDone)) {
            if (active != null && active.allowed && active.status == 0) {
                active.status = 503;
                active.closeAfter = true;
                active.responseDone = true;
                active.requestDone = true;
                ctx.writeAndFlush(LocalReplies.local(HttpResponseStatus.SERVICE_UNAVAILABLE, LocalReplies.UPSTREAM_RESET, true));
                pump();
                return;
            }
            abort("application closed mid-response");
            return;
        }
        if (active == null && queue.isEmpty()) {
            closeGracefully();
        }
    }

    // ---------------------------------------------------------------- endings

    private void switchToOpaque() {
        opaque = true;
        upstream.upgraded();
        ChannelHandlerContext decoder = ctx.pipeline().context(Http1Decoder.class);
        // Bytes after the upgrade request that the decoder holds come out as raw ByteBufs.
        if (decoder != null) {
            ctx.pipeline().remove(decoder.handler());
        }
        // Netty's encoder refuses raw bytes between messages; after the 101 there are no messages.
        ChannelHandlerContext encoder = ctx.pipeline().context(io.netty.handler.codec.http.HttpResponseEncoder.class);
        if (encoder != null) {
            ctx.pipeline().remove(encoder.handler());
        }
        for (Object m; (m = queue.poll()) != null; ) {
            if (m == INPUT_END) {
                upstream.shutdownOutput();
            } else if (m instanceof ByteBuf b) {
                upstream.writeRaw(b);
            } else {
                ReferenceCountUtil.release(m);
            }
        }
        upstream.flush();
        pausedForQueue = false;
        ctx.channel().config().setAutoRead(true);
    }

    private void protocolError(HttpResponseStatus status, String why) {
        log.debug("HTTP protocol error from {} to {}: {}", conn.source(), conn.destination(), why);
        Http1Exchange x = active;
        if (x != null && x.status != 0) {
            // A response (the application's, or our 403) already started: nothing more can be said in-band.
            if (x.allowed) {
                abort(why);
            } else {
                closeGracefully();
            }
            return;
        }
        Http1Exchange bad = x != null ? x : Http1Exchange.unparsed();
        active = null;
        closing = true;
        if (x != null && x.allowed) {
            // Part of the request went upstream: that connection can never be reused.
            upstream.close();
        }
        bad.status = status.code();
        byte[] body = status.reasonPhrase().getBytes(StandardCharsets.US_ASCII);
        bad.responseBytes = body.length;
        finish(bad, why);
        ctx.writeAndFlush(LocalReplies.local(status, body, true));
        closeGracefully();
    }

    /**
     * FIN to the client, then close once its FIN arrives (or after {@link #LINGER_SECONDS}): closing
     * an HBONE stream before the peer ended would reset it, and a reset can cut a response short.
     */
    private void closeGracefully() {
        closing = true;
        releaseQueue();
        upstream.close();
        shutdownOutput(ctx.channel());
        if (inputEnded) {
            closeAfterWrites();
            return;
        }
        closeOnInputEnd = true;
        ctx.channel().config().setAutoRead(true);
        ctx.executor().schedule(() -> {
            ctx.close();
        }, LINGER_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
    }

    static final int LINGER_SECONDS = 10;

    private void abort(String why) {
        log.debug("HTTP connection {} -> {} aborted: {}", conn.source(), conn.destination(), why);
        if (active != null) {
            Http1Exchange x = active;
            active = null;
            finish(x, why);
        }
        closing = true;
        releaseQueue();
        upstream.close();
        Channel ch = ctx.channel();
        if (ch instanceof DuplexChannel d && d.isActive()) {
            d.config().setOption(io.netty.channel.ChannelOption.SO_LINGER, 0);
        }
        if (!(ch instanceof DuplexChannel)) {
            // An HBONE stream: RST_STREAM(CONNECT_ERROR), the tunnel's TCP reset.
            ctx.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2ResetFrame(
                    io.netty.handler.codec.http2.Http2Error.CONNECT_ERROR));
        }
        ctx.close();
    }

    /**
     * FIN to the client after what was written before it (the relay's way, {@link Relay#tcp}: Netty's
     * {@code shutdownOutput()} fails writes still queued, a response's tail to a slow client); on an HBONE
     * stream END_STREAM, written from this handler so an embedded application behind it never sees it.
     */
    private void shutdownOutput(Channel ch) {
        if (tcp != null) {
            tcp.shutdownOutput();
        } else {
            ctx.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2DataFrame(true));
        }
    }

    /**
     * Closes the client connection once what was written before is out (TCP; {@code close()} would fail it
     * as {@code shutdownOutput()} does). An HBONE stream closes at once: its END_STREAM was written before,
     * and the connection's flow control sends the DATA queued ahead of it.
     */
    private void closeAfterWrites() {
        if (tcp != null) {
            tcp.close();
        } else {
            ctx.close();
        }
    }

    private void releaseQueue() {
        for (Object m; (m = queue.poll()) != null; ) {
            if (m != INPUT_END) {
                ReferenceCountUtil.release(m);
            }
        }
    }

    private void finish(Http1Exchange x, String error) {
        observer.request(new HttpObserver.RequestLog(conn, x.method, x.path, x.status, System.nanoTime() - x.start,
                x.decision, x.requestBytes, x.responseBytes, x.request.protocolVersion().text(), ""));
    }


}
