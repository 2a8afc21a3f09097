package io.zerohop.core.internal.http;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.nio.charset.StandardCharsets;
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
final class Http1Filter extends ChannelDuplexHandler implements LiveRequest {
    private static final Logger log = LoggerFactory.getLogger(Http1Filter.class);

    private final Conn conn;
    private final RequestAdmission.Authorizer authorizer;
    private final HttpObserver observer;
    private final Function<Http1Filter, Upstream> upstreamFactory;
    private ChannelHandlerContext ctx;
    private Downstream downstream;
    private PipelinedRequests requests;
    private Upstream upstream;
    private Http1Exchange active;
    private boolean pumping;
    private boolean closing;
    private boolean inputEnded;
    private boolean upstreamEnded;
    /** The mesh is draining ({@link #drain}): the connection ends after the response in progress. */
    private boolean draining;
    /** Between a client read's first message and its {@code channelReadComplete}: the read is being dispatched. */
    private boolean inRead;
    /**
     * Reading from the client stopped because the application's side could take no more of the request ({@link #content});
     * a FIN then is Envoy's remote early close ({@link #userEventTriggered}), not a half-close.
     */
    private boolean pausedForUpstream;
    /**
     * What an application answering inside this filter's own calls (an embedded one, {@link AppBridge}) said while a
     * client read or {@link #pump} was under way: its response parts, and {@link #UPSTREAM_END_CLEAN} or
     * {@link #UPSTREAM_END_CUT} for its end, taken in order once that read's messages or the pump are done
     * ({@link #takeHeld}), as Envoy's codec dispatches the whole of a read before any upstream event. Null when empty.
     * <p>A {@link io.netty.channel.PendingWriteQueue} on the client's channel, not a plain queue: what it holds counts in
     * that channel's pending outbound bytes, so the channel turns unwritable past its high watermark as a socket's does
     * when its outbound buffer fills (Netty's own class for handlers that keep writes back). The application shares that
     * channel and sees it: one that writes while the channel is writable inside the read of its request (Netty's
     * {@code ChunkedWriteHandler.doFlush}, a streaming handler) stops there and goes on at
     * {@code channelWritabilityChanged}. Until 7 December (h393) a plain queue held it in no count and the channel stayed
     * writable: such a loop never ended inside that read (13 million writes held, h387; L7EmbeddedAnswerInReadTest).
     */
    private io.netty.channel.PendingWriteQueue held;
    /**
     * The body bytes {@link #held} keeps, one entry per part with bytes, in its order: a retained duplicate of the part's
     * content (no copy) as an HTTP/2 DATA frame, because a tunnel stream ({@code AbstractHttp2StreamChannel}) sizes pending
     * writes by their flow-controlled bytes and any other message as a frame header (9 bytes), and any other channel sizes
     * it as the holder it is. Null when {@link #held} is.
     */
    private io.netty.channel.PendingWriteQueue heldWeight;
    /** What {@link #takeHeld} is handing on: not to be held again. */
    private Object handing;
    private static final Object HANDED = new Object();
    private static final Object UPSTREAM_END_CLEAN = new Object();
    private static final Object UPSTREAM_END_CUT = new Object();
    /** Set once a 101 was forwarded: bytes only from then on. */
    private UpgradedConnection upgraded;
    /**
     * The request whose 101 made {@link #upgraded}: a policy change decides it again ({@link #redecide}); logged and counted
     * when the connection ends ({@link #channelInactive}), with the upgraded bytes ({@link UpgradedConnection}).
     */
    private Http1Exchange upgradedBy;
    /**
     * A request whose token waits for its rule's first key fetch ({@link JwtAuthn.Hold}), not decided yet, and the
     * message its head came in (a head with a body part, which then waits with it); null when none. Nothing after it is
     * taken from {@link #requests} meanwhile, so its body and any pipelined request stay there unread and reading from
     * the client stops, as for any request in flight: what the hold keeps is one read's worth.
     */
    private Http1Exchange waiting;
    private Object waitingMessage;
    /** How long the connection may stay between requests before it ends ({@link #idleTimeout}); 0: never. */
    private long idleMillis = HttpEnforcement.CONNECTION_IDLE_TIMEOUT_MILLIS;
    /** Runs {@link #idleTimedOut} once the connection has been between requests for {@link #idleMillis}; null while a request is in progress. */
    private io.netty.util.concurrent.ScheduledFuture<?> idleTimer;
    /** What the connection had carried ({@link Http1WireBytes}) when the last request was logged. */
    private long wireReceived;
    private long wireSent;
    /**
     * This connection's part in the node's L7 budget ({@link H2HeldBudget}): what its application has not taken
     * ({@link Upstream#queuedBytes}) and what its client has not taken ({@link #toClientBytes}).
     */
    private H2HeldBudget.Connection budget;
    /**
     * Response bytes written toward the client whose write has not completed ({@link #toClient}): what the client's
     * connection holds for a client that does not read, up to its write watermark and one application read past it.
     */
    private long toClientBytes;

    Http1Filter(Conn conn, RequestAdmission.Authorizer authorizer, HttpObserver observer, Function<Http1Filter, Upstream> upstreamFactory) {
        this.conn = conn;
        this.authorizer = authorizer;
        this.observer = observer;
        this.upstreamFactory = upstreamFactory;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.downstream = new Downstream(ctx);
        this.requests = new PipelinedRequests(ctx.channel());
        this.upstream = upstreamFactory.apply(this);
        budget = new H2HeldBudget.Connection(this::heldBytes);
        budget.attach(ctx.channel());
        budget.add(new H2HeldBudget.Stream() {
            @Override
            public long heldBytes() {
                return Http1Filter.this.heldBytes();
            }

            @Override
            public long progressAt() {
                return System.nanoTime(); // one stream per connection: no order among its streams to keep
            }

            @Override
            public void shed() {
                shedForBudget();
            }
        });
        authorizer.track(this);
        // Made during the drain (its first request's bytes are what installed it): that request's response says
        // connection: close and the connection ends after it (HttpEnforcement's draining; Envoy's encodeHeaders asks
        // drainClose() on every response).
        draining = authorizer.draining();
        // Envoy's idle timer starts with the connection (conn_manager_impl.cc initializeReadFilterCallbacks): one that
        // never sends a request (an http port's codec choice gives up on a silent client after the sniff timeout, HTTP/1)
        // ends too. The first read, usually re-fired at once by the sniff, cancels it.
        armIdle();
    }

    Upstream upstream() {
        return upstream;
    }

    /** What this connection holds for its two ends, in the node's L7 budget: toward the application and toward the client. */
    private long heldBytes() {
        return upstream.queuedBytes() + toClientBytes + (held != null ? held.bytes() + heldWeight.bytes() : 0);
    }

    /**
     * A write toward the application completed ({@link TcpUpstream}, {@link H2Upstream}): counted again, so that what the
     * application took leaves the node's count when it takes it, not at the client's next read (L7Http1BreakTest
     * whatTheApplicationTookIsNoLongerCounted: 4,192 bytes counted for a connection holding none, 7 December).
     */
    void heldChanged() {
        if (budget != null) {
            budget.recountNow();
        }
    }

    /**
     * Writes a response part toward the client, counted in the node's L7 budget until its write completes: a client that
     * does not read holds what its connection queued (its write watermark, 64 KiB, and one application read past it), and
     * 64 such clients held 4.3 MB against a 1 MiB budget, in no count, until 7 December (L7Http1BreakTest
     * clientsThatDoNotReadTheirResponsesHoldNoMoreThanTheBudget). One listener per part written, none per byte.
     */
    io.netty.channel.ChannelFuture toClient(Object msg, boolean flush) {
        int n = msg instanceof HttpContent c ? c.content().readableBytes()
                : msg instanceof io.netty.buffer.ByteBuf b ? b.readableBytes() : 0;
        io.netty.channel.ChannelFuture f = flush ? ctx.writeAndFlush(msg) : ctx.write(msg);
        if (n > 0 && !f.isDone()) {
            toClientBytes += n;
            f.addListener(w -> {
                toClientBytes -= n;
                budget.recountNow();
            });
        }
        return f;
    }

    /**
     * An embedded application's write after an upgrade, made on its own context behind this filter ({@link AppBridge}):
     * counted until its write completes as {@link #toClient} counts the TCP path's upgraded bytes. Before 7 December (h387)
     * these went on uncounted, so an embedded application writing toward a client that does not read held its tunnel
     * stream's watermark and one write past it in no count (L7EmbeddedUpgradeBudgetTest).
     */
    void fromEmbeddedApplication(ChannelHandlerContext app, Object msg, io.netty.channel.ChannelPromise promise) {
        // A DATA frame (Http2DataFrame, a holder) as well as bytes: the application writes either on its tunnel stream.
        int n = msg instanceof io.netty.buffer.ByteBufHolder h ? h.content().readableBytes()
                : msg instanceof io.netty.buffer.ByteBuf b ? b.readableBytes() : 0;
        if (n == 0) {
            app.write(msg, promise);
            return;
        }
        io.netty.channel.ChannelPromise p = promise.unvoid();
        toClientBytes += n;
        p.addListener(w -> {
            toClientBytes -= n;
            budget.recountNow();
        });
        app.write(msg, p);
    }

    /** An embedded application flushed its upgraded bytes: the budget checked, as after a read of an application's connection. */
    void embeddedApplicationFlushed() {
        if (!closing && ctx.channel().isActive()) {
            budget.readComplete();
        }
    }

    /** The {@code :scheme} the request in progress was decided on ({@code HeaderValidation.http1Scheme}), for {@link H2Upstream}. */
    String decidedScheme() {
        return active != null ? active.scheme : "http";
    }

    // ---------------------------------------------------------------- downstream (client) side

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        // A read is a request's bytes (the head's first byte makes its stream, as Envoy's codec does): the connection is
        // not idle, and its idle time starts again once this request and any pipelined behind it are done (armIdle).
        cancelIdle();
        if (closing) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (upgraded != null) {
            upgraded.fromClient(msg);
            return;
        }
        inRead = true;
        requests.add(msg);
        pump();
        requests.pauseWhileWaiting();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        inRead = false;
        takeHeld();
        upstream.flush();
        budget.readComplete();
        ctx.fireChannelReadComplete();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            inputEnded = true;
            if (downstream.inputEnded()) {
                return; // a graceful close was waiting for this FIN
            }
            if (upgraded != null) {
                upstream.shutdownOutput();
            } else if (!closing && pausedForUpstream && !requests.paused() && !ctx.channel().config().isAutoRead()) {
                // A FIN while the client's reads were stopped because its application could take no more (content):
                // Envoy's read-disabled connection still watches for the peer's close unless half-close is enabled, which
                // its HTTP connection manager never does (envoyproxy/envoy source/common/network/connection_impl.cc
                // readDisable: detect_early_close_ && !enable_half_close_ enables FileReadyType::Closed; onFileEvent:
                // "remote early close", closeSocket(RemoteClose)), and resets the stream on that close (conn_manager_impl.cc
                // onEvent RemoteClose: resetAllStreams, DownstreamRemoteDisconnect): DC, the application's request reset.
                // Netty's epoll transport reads up to the FIN on EPOLLRDHUP even with auto-read off
                // (AbstractEpollChannel.epollRdHupReady), so the FIN arrives here. Until 7 December (h387) it waited behind
                // the upload as a half-close, both connections open until the application read or a shed reset them
                // (L7Http1EarlyCloseTest). A FIN with reads on, or behind queued pipelined requests, stays a half-close.
                clientCut();
                abort("client closed while its reads were paused (Envoy: remote early close)");
            } else if (!closing) {
                requests.add(PipelinedRequests.INPUT_END);
                pump();
            }
            return;
        }
        if (evt instanceof HboneStream.Reset) {
            clientCut();
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
        cancelIdle();
        budget.detach();
        authorizer.untrack(this);
        // Before the application's connection is closed: what it says about its end no longer speaks for this request.
        clientGone(active);
        clientGone(waiting);
        closing = true;
        dropWaiting();
        releaseHeld();
        requests.releaseAll();
        upstream.close();
        if (active != null && !active.responseDone) {
            // Its status is what was sent, none before the response's head (Envoy's chargeStats at encodeHeaders); until
            // 7 December it was logged with none whatever had been sent.
            observer.request(line(active));
            active = null;
        }
        if (upgraded != null) {
            // The upgrade request's stream lives as long as the upgraded connection: Envoy's connection manager logs a
            // stream when it is destroyed (conn_manager_impl.cc doDeferredStreamDestroy: filter_manager_.onStreamComplete,
            // log(AccessLogType::DownstreamEnd)), the upgraded bytes in its byte counts, and Istio's stats filter counts
            // the request in that same log call (istio/proxy source/extensions/filters/http/istio_stats/istio_stats.cc
            // IstioStatsFilter::log: requests_total, requestComplete() as the duration, the downstream bytes meter).
            // Until 7 December the line and the metrics were written at the 101, with no upgraded bytes.
            observer.request(line(upgradedBy));
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("HTTP connection {} failed", conn.destination(), cause);
        clientCut();
        abort(String.valueOf(cause));
    }

    /**
     * The client's connection was reset (or failed) under an upgraded connection or a request in progress: that request is
     * logged and counted with Envoy's {@code DC} and details {@code downstream_remote_disconnect}, as Envoy's connection
     * manager ends the streams of a downstream connection that closed under them (envoyproxy/envoy
     * source/common/http/conn_manager_impl.cc {@code onEvent}, {@code RemoteClose}: {@code doConnectionClose} with
     * {@code DownstreamRemoteDisconnect}, {@code resetAllStreams}; {@code DownstreamConnectionTermination} on each stream's
     * info) and Istio's stats filter labels {@code response_flags} from that info ({@link #clientGone}). Until 7 December
     * it was logged without a flag.
     */
    private void clientCut() {
        if (upgraded != null) {
            upgradedEnd("DC", DownstreamClose.details(ctx == null ? null : ctx.channel()));
        } else {
            clientGone(active);
            clientGone(waiting);
        }
    }

    /**
     * The client's connection ended (closed, reset, or failed) under request {@code x} (null: none), not yet logged and not
     * answered in full: it gets Envoy's {@code DC} and details {@code downstream_remote_disconnect}, as Envoy's connection
     * manager resets the streams of a connection closed under them ({@code conn_manager_impl.cc} {@code onEvent}
     * RemoteClose, {@code doConnectionClose}, {@code resetAllStreams}) and its {@code ActiveStream::completeRequest} sets
     * both on each one's stream info for {@code remote_close_}; Istio's stats filter labels {@code response_flags} from
     * it. Its status stays what was sent. Not after the connection began to close for another cause, nor over a flag an
     * earlier cause set (the application's late reset). Until 7 December only an upgraded request got it.
     */
    private void clientGone(Http1Exchange x) {
        if (!closing && x != null && !x.responseDone && x.responseFlags.equals("-")) {
            x.responseFlags = "DC";
            x.refusal = DownstreamClose.details(ctx == null ? null : ctx.channel());
        }
    }

    /**
     * The first cause that ends the upgraded connection other than cleanly: its request's {@code %RESPONSE_FLAGS%} and
     * {@code %RESPONSE_CODE_DETAILS%} (the access line's {@code response_flags} and {@code reason}, the metrics'
     * {@code response_flags}); its status stays 101, as Envoy's does once the response started. Not after the connection
     * began to close for another cause (a policy change, the other side's cut).
     */
    private void upgradedEnd(String flag, String details) {
        if (!closing && upgradedBy.responseFlags.equals("-")) {
            upgradedBy.responseFlags = flag;
            upgradedBy.refusal = details;
        }
    }

    /** Handles queued messages until one must wait for an upstream response. */
    private void pump() {
        if (pumping) {
            return;
        }
        pumping = true;
        try {
            while (!closing && waiting == null) {
                if (active != null && active.requestDone && active.responseDone) {
                    Http1Exchange done = active;
                    active = null;
                    if (done.closeAfter || upstreamEnded || (draining && !done.upgrade)) {
                        observer.request(line(done));
                        closeGracefully();
                        break;
                    }
                    if (done.upgrade) {
                        // Logged and counted when the upgraded connection ends (channelInactive), with its bytes.
                        upgradedBy = done;
                        switchToOpaque();
                        break;
                    }
                    observer.request(line(done));
                    continue;
                }
                if (active != null && active.requestDone) {
                    break;
                }
                Object m = requests.poll();
                if (m == null) {
                    break;
                }
                handle(m);
            }
            if (!closing) {
                requests.resumeWhenDrained();
            }
        } finally {
            pumping = false;
        }
        if (!inRead) {
            takeHeld();
        }
        armIdle();
    }

    /**
     * Whether {@code msg} (a response part, or an upstream end marker) is kept for later: it came while a client read or
     * the pump is under way, so from an application answering inside them. Envoy's HTTP/1 codec dispatches all of a read
     * (source/common/http/http1/codec_impl.cc {@code ConnectionImpl::dispatch}) before its event loop hands it any
     * upstream event, so a request whose body came in the read of its head has ended
     * ({@code remoteDecodeComplete()}) by the time its response starts: not an early response
     * ({@code conn_manager_impl.cc} {@code encodeHeaders}). An upgrade's answer is not held: what follows its head may be
     * no HTTP.
     */
    private boolean hold(Object msg) {
        if (msg == handing) {
            handing = HANDED;
            return false;
        }
        if (held == null && (!(inRead || pumping) || upgraded != null || active == null || active.upgrade)) {
            return false;
        }
        if (held == null) {
            held = new io.netty.channel.PendingWriteQueue(ctx.channel());
            heldWeight = new io.netty.channel.PendingWriteQueue(ctx.channel());
        }
        held.add(msg, ctx.voidPromise());
        if (msg instanceof HttpContent c && c.content().isReadable()) {
            heldWeight.add(new io.netty.handler.codec.http2.DefaultHttp2DataFrame(c.content().retainedDuplicate()), ctx.voidPromise());
        }
        // Counted in the node's L7 budget as what the client has not taken (heldBytes): the filter holds it for the client.
        budget.recountNow();
        return true;
    }

    /** The next held message, now the caller's (the queue's release balanced by a retain); null when none. */
    private Object pollHeld() {
        Object o = held.current();
        if (o != null) {
            if (o instanceof HttpContent c && c.content().isReadable()) {
                heldWeight.remove();
            }
            ReferenceCountUtil.retain(o);
            held.remove();
        }
        return o;
    }

    /**
     * Hands on what {@link #hold} kept, in order; what the application says meanwhile (answering a pipelined request inside
     * them) is kept behind them and handed on after.
     */
    private void takeHeld() {
        if (handing != null || held == null) {
            return;
        }
        try {
            for (Object o; held != null && (o = pollHeld()) != null; ) {
                handing = o;
                if (o == UPSTREAM_END_CLEAN || o == UPSTREAM_END_CUT) {
                    onUpstreamEnd(o == UPSTREAM_END_CLEAN);
                } else {
                    onResponse(o);
                }
            }
        } finally {
            handing = null;
            if (held != null && held.isEmpty()) {
                held = null;
                heldWeight = null;
            }
        }
    }

    private void releaseHeld() {
        io.netty.channel.PendingWriteQueue q = held;
        io.netty.channel.PendingWriteQueue w = heldWeight;
        held = null;
        heldWeight = null;
        if (q != null) {
            // Each message released, its bytes out of the channel's pending count; a void promise is not failed.
            java.nio.channels.ClosedChannelException closed = new java.nio.channels.ClosedChannelException();
            q.removeAndFailAll(closed);
            w.removeAndFailAll(closed);
            budget.recountNow();
        }
    }

    private void handle(Object m) {
        if (m == PipelinedRequests.INPUT_END) {
            inputEnded = true;
            upstream.shutdownOutput();
            if (upstreamEnded) {
                downstream.closeAfterWrites();
            } else if (upstream.idle()) {
                // No application connection whose FIN would end this one (every request denied, or its dial failed).
                closeGracefully();
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
                Throwable cause = req.decoderResult().cause();
                // A refused request line (426, 400 for its version) is logged with what it showed, as Envoy's access log
                // shows a 426's method, path and HTTP/1.0; so is a head refused after its line was read (Content-Length
                // twice, with Transfer-Encoding, a bad header name, too large): Netty fails the request it made of that
                // line. A head the decoder could not read at all is Netty's stand-in, a FullHttpRequest: it has none.
                Http1Exchange standIn = cause instanceof Http1Decoder.RequestLineException line
                        ? Http1Exchange.unparsed(line.method, line.target, line.protocol)
                        : req instanceof FullHttpRequest ? null : refused(req, req.uri());
                protocolError(LocalReplies.statusFor(cause), LocalReplies.problem(cause), standIn);
                return;
            }
            // The target as sent, before toOriginForm rewrites an absolute form: a refusal's log shows what was asked, and
            // the decision reads its scheme (Envoy's handlePath sets :scheme from an absolute target; a new-user pass).
            String sent = req.uri();
            // Envoy's codec, before it reads the target (onHeadersCompleteBase: sanitizeConnectionHeader, then handlePath,
            // which gives an absolute-form target's authority as the Host, a nominated Host lost included), before the
            // connection manager's checks below and before any filter: a header the request's Connection nominates is gone
            // before RBAC decides (or the request is 400).
            String badConnection = NominatedHeaders.sanitize(req);
            if (badConnection != null) {
                ReferenceCountUtil.release(m);
                protocolError(HttpResponseStatus.BAD_REQUEST, badConnection, refused(req, sent));
                return;
            }
            String badTarget = RequestTarget.toOriginForm(req);
            if (badTarget != null) {
                ReferenceCountUtil.release(m);
                protocolError(HttpResponseStatus.BAD_REQUEST, badTarget, refused(req, sent));
                return;
            }
            if (req.uri().equals("*")) {
                // Envoy's connection manager answers a path that does not start with '/' with 404 before any filter
                // (conn_manager_impl.cc, downstream_rq_non_relative_path, details AbsolutePath): OPTIONS * never reaches
                // RBAC or the application, where zerohop forwarded it (a new-user pass). A local reply, not a protocol
                // error: its onLocalReply closes an HTTP/1 connection after a 400 only, so the connection stays open for
                // the next request (until 5 December zerohop closed it), as after a 403, unless a body is to come (below).
                Http1Exchange x = new Http1Exchange(req);
                x.refusal = "non-relative path \"*\" (Envoy's AbsolutePath)";
                boolean bodyToCome = HttpUtil.isTransferEncodingChunked(req) || HttpUtil.getContentLength(req, 0L) > 0;
                x.closeAfter = !HttpUtil.isKeepAlive(req) || HttpUtil.is100ContinueExpected(req)
                        || req.headers().contains(HttpHeaderNames.UPGRADE) || bodyToCome;
                x.status = HttpResponseStatus.NOT_FOUND.code();
                x.responseDone = true;
                active = x;
                FullHttpResponse reply = LocalReplies.local(HttpResponseStatus.NOT_FOUND, new byte[0], x.closeAfter);
                reply.headers().remove(HttpHeaderNames.CONTENT_TYPE);
                if (x.http10) {
                    x.toHttp10(reply);
                }
                if (bodyToCome) {
                    // A body to come: the 404 is an answer before the request's end, which closes an HTTP/1 connection
                    // (conn_manager_impl.cc encodeHeaders, !remoteDecodeComplete(), downstream_rq_response_before_rq_complete),
                    // logged at once, as decided() does for a denial. Until 7 December the body was read to its end first
                    // and the request logged only then: a client that left before it was never logged (L7Http1BreakTest).
                    active = null;
                    ReferenceCountUtil.release(m);
                    ctx.write(reply);
                    observer.request(line(x));
                    ctx.flush();
                    closeGracefully();
                    return;
                }
                ctx.writeAndFlush(reply);
                if (m instanceof HttpContent c) {
                    content(c);
                }
                return;
            }
            if (!req.headers().contains(HttpHeaderNames.HOST)) {
                // Envoy's connection manager "Require host header" (conn_manager_impl.cc, MissingHost; RFC 9112 section
                // 3.2): 400 with no body, and the close its onLocalReply adds to a 400 on HTTP/1. An absolute-form
                // target gave one above. HTTP/1.0 gets here only under accept_http_10, with default_host_for_http_10
                // unset, as istiod leaves it.
                ReferenceCountUtil.release(m);
                protocolError(HttpResponseStatus.BAD_REQUEST, "missing host header", new byte[0], req.protocolVersion(),
                        refused(req, sent));
                return;
            }
            String badUpgrade = UpgradeHeaders.apply(req);
            if (badUpgrade != null) {
                ReferenceCountUtil.release(m);
                // Envoy's upgrade_failed local reply has no body (conn_manager_impl.cc ActiveStream::decodeHeaders:
                // sendLocalReply(Code::Forbidden, "", ...); utility.cc encodeLocalReply then removes content-type and the
                // HTTP/1 codec says content-length: 0); until 7 December zerohop's said "Forbidden".
                protocolError(HttpResponseStatus.FORBIDDEN, badUpgrade, new byte[0], HttpVersion.HTTP_1_1, refused(req, sent));
                return;
            }
            start(req, sent, m);
            return;
        }
        if (m instanceof HttpContent c) {
            if (c.decoderResult().isFailure()) {
                c.release();
                protocolError(LocalReplies.statusFor(c.decoderResult().cause()), LocalReplies.problem(c.decoderResult().cause()));
                return;
            }
            content(c);
            return;
        }
        ReferenceCountUtil.release(m);
    }

    /**
     * @param sent the request target as the client sent it, before an absolute form was made origin-form
     * @param m    the message {@code req} came in: a body part with it follows the decision
     */
    private void start(HttpRequest req, String sent, Object m) {
        // Under Cilium's rules its Envoy, in front, has set x-forwarded-proto to http before :scheme is taken from it
        // (ForwardedRequestHeaders); until 7 December a client's https made the :scheme an AuthorizationPolicy read https.
        String forwardedProto = authorizer.ciliumPaths(conn) ? "http" : req.headers().contains("x-forwarded-proto")
                ? ForwardedRequestHeaders.joined(req.headers().getAll("x-forwarded-proto")).toString() : null;
        Http1Exchange x = RequestAdmission.admit(conn, authorizer, req, io.zerohop.core.HeaderValidation.http1Scheme(sent,
                forwardedProto));
        if (x.held != null) {
            // Its token waits for its rule's first key fetch, as Envoy's jwt_authn in remote-JWKS mode waits
            // (authenticator.cc startVerify, onJwksSuccess/onJwksError): decided when the fetch answers, on this loop.
            waiting = x;
            waitingMessage = m;
            JwtAuthn.whenAnswered(x.held, ctx.executor(), () -> keysAnswered(x));
            return;
        }
        decided(x, req);
        if (m instanceof HttpContent c) {
            content(c);
        }
    }

    /**
     * The keys {@code x} waited for have their answer (or its hold's timeout passed): it is decided now, and what the
     * client sent after it is taken again. Nothing when the connection went meanwhile ({@link #dropWaiting}).
     */
    private void keysAnswered(Http1Exchange x) {
        if (waiting != x || closing || !ctx.channel().isActive()) {
            return;
        }
        Object m = waitingMessage;
        waiting = null;
        waitingMessage = null;
        decided(RequestAdmission.resume(conn, authorizer, x.request, x), x.request);
        if (m instanceof HttpContent c) {
            content(c);
        }
        pump();
        upstream.flush();
    }

    /** The connection ends with a request still waiting for its keys: its message released, the request logged unanswered. */
    private void dropWaiting() {
        Http1Exchange x = waiting;
        if (x == null) {
            return;
        }
        waiting = null;
        ReferenceCountUtil.release(waitingMessage);
        waitingMessage = null;
        x.status = 0;
        observer.request(line(x));
    }

    /** Goes on with {@code x}, decided: forwarded, or answered here. */
    private void decided(Http1Exchange x, HttpRequest req) {
        active = x;
        if (x.allowed) {
            if (x.http10) {
                // Envoy's upstream codec writes every request as HTTP/1.1 (codec_impl.cc REQUEST_POSTFIX).
                req.setProtocolVersion(HttpVersion.HTTP_1_1);
            }
            // A head without a body is the request's end, as Envoy's codec decodes it (decodeHeaders with end_stream), though
            // the decoder's empty last part follows it.
            x.requestEnded = !HttpUtil.isTransferEncodingChunked(req) && HttpUtil.getContentLength(req, 0L) == 0;
            toUpstream(req, x.upgrade);
            if (x.grpc()) {
                x.forwarded(observer.grpcMessages(conn));
                if (req instanceof HttpContent c) {
                    x.requestData(c.content());
                }
            }
            upstream.write(req);
            return;
        }
        // Envoy's RBAC answers from decodeHeaders, before a body is decoded, and its connection manager closes an HTTP/1
        // connection whose response comes before the request's end, saying connection: close, without waiting for the
        // body (conn_manager_impl.cc encodeHeaders, !remoteDecodeComplete, downstream_rq_response_before_rq_complete; "we
        // don't want to wait around for the request to finish"), as for the 503 of onUpstreamUnreachable. Until
        // 5 December the connection stayed open for the next request (a review pass).
        boolean bodyToCome = HttpUtil.isTransferEncodingChunked(req) || HttpUtil.getContentLength(req, 0L) > 0;
        if (bodyToCome) {
            x.closeAfter = true;
        }
        FullHttpResponse local;
        if (x.location != null) {
            local = LocalReplies.redirect(x.location, x.closeAfter);
        } else if (x.jwt != null) {
            // Envoy's jwt_authn local reply (filter.cc onComplete): the failure as the body, and www-authenticate.
            local = LocalReplies.forRequest(x, HttpResponseStatus.valueOf(x.jwt.status()), x.jwt.body(), x.closeAfter);
            local.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, x.jwt.wwwAuthenticate());
        } else {
            local = LocalReplies.forRequest(x, HttpResponseStatus.FORBIDDEN, LocalReplies.denied(x.decision), x.closeAfter);
        }
        if (x.http10) {
            x.toHttp10(local);
        }
        if (bodyToCome) {
            active = null;
            // Written, then logged (with the reply's bytes), then flushed: the line is there before the client reads it.
            ctx.write(local);
            observer.request(line(x));
            ctx.flush();
            closeGracefully();
            return;
        }
        ctx.writeAndFlush(local);
    }

    /**
     * Makes the head of an allowed request what Envoy sends upstream: its connection manager removes the hop-by-hop
     * headers before any filter (envoyproxy/envoy source/common/http/conn_manager_utility.cc
     * {@code ConnectionManagerUtility::mutateRequestHeaders}: {@code Connection} and {@code Upgrade} unless the request
     * is an upgrade, {@code Keep-Alive}, {@code Proxy-Connection}, {@code Transfer-Encoding}, and {@code sanitizeTEHeader}:
     * {@code TE} becomes {@code trailers} when it lists it, else goes), and its upstream HTTP/1 codec frames what is left
     * ({@code source/common/http/http1/codec_impl.cc} {@code StreamEncoderImpl::encodeHeadersBase}): a body without a
     * {@code Content-Length} is sent {@code transfer-encoding: chunked} (the only coding {@link Http1Decoder} lets through),
     * and a head that ends the request gets {@code content-length: 0} unless its method is one that has no body
     * ({@code header_utility.cc} {@code requestShouldHaveNoBody}: GET, HEAD, DELETE, TRACE, CONNECT). The policy decided
     * without these headers already ({@code HeaderValidation.removeHopByHop}); until 6 December they still reached the
     * application, so a client's {@code Connection: close} or {@code Keep-Alive} spoke for a connection it does not share
     * with the application. Only the head is rewritten; the body goes on as it is.
     */
    static void toUpstream(HttpRequest req, boolean upgrade) {
        io.netty.handler.codec.http.HttpHeaders h = req.headers();
        boolean chunked = HttpUtil.isTransferEncodingChunked(req);
        if (!upgrade) {
            h.remove(HttpHeaderNames.CONNECTION);
            h.remove(HttpHeaderNames.UPGRADE);
            String te = h.contains(HttpHeaderNames.TE) ? String.join(",", h.getAll(HttpHeaderNames.TE)) : null;
            if (te != null) {
                h.remove(HttpHeaderNames.TE);
                if (listsTrailers(te)) {
                    h.set(HttpHeaderNames.TE, io.netty.handler.codec.http.HttpHeaderValues.TRAILERS);
                }
            }
        }
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(HttpHeaderNames.PROXY_CONNECTION);
        if (chunked) {
            h.set(HttpHeaderNames.TRANSFER_ENCODING, io.netty.handler.codec.http.HttpHeaderValues.CHUNKED);
        } else if (!upgrade && !h.contains(HttpHeaderNames.CONTENT_LENGTH) && !NO_BODY_METHODS.contains(req.method())) {
            h.set(HttpHeaderNames.CONTENT_LENGTH, io.netty.handler.codec.http.HttpHeaderValues.ZERO);
        }
    }

    /** As {@code HeaderValidation.removeHopByHop} reads a {@code TE} for the decision: an element {@code trailers}, any case. */
    private static boolean listsTrailers(String te) {
        for (String t : te.split(",")) {
            if (t.strip().equalsIgnoreCase("trailers")) {
                return true;
            }
        }
        return false;
    }

    private static final java.util.Set<io.netty.handler.codec.http.HttpMethod> NO_BODY_METHODS = java.util.Set.of(
            io.netty.handler.codec.http.HttpMethod.GET, io.netty.handler.codec.http.HttpMethod.HEAD,
            io.netty.handler.codec.http.HttpMethod.DELETE, io.netty.handler.codec.http.HttpMethod.TRACE,
            io.netty.handler.codec.http.HttpMethod.CONNECT);

    private void content(HttpContent c) {
        Http1Exchange x = active;
        if (x == null) {
            c.release();
            return;
        }
        x.requestBytes += c.content().readableBytes();
        boolean last = c instanceof LastHttpContent;
        // Before the write: an embedded application answers inside it, and that answer is not early.
        x.requestEnded |= last;
        if (x.allowed) {
            x.requestData(c.content());
            upstream.write(c);
            if (!upstream.isWritable() && !requests.paused()) {
                pausedForUpstream = true;
                ctx.channel().config().setAutoRead(false);
            }
        } else {
            c.release();
        }
        if (last) {
            x.requestDone = true;
            // Not an upgrade request's: Envoy's codec takes what follows its head as its body (codec_impl.cc, handling_upgrade_)
            // and the upgraded bytes count in it.
            Http1WireBytes w = x.upgrade ? null : ctx.pipeline().get(Http1WireBytes.class);
            x.wireAtEnd = w == null ? -1 : w.received();
            if (x.allowed) {
                upstream.flush();
            }
        }
    }

    /** Upstream became writable again: resume reading request bodies. */
    void upstreamWritable() {
        budget.recountNow();
        if (upgraded != null) {
            if (!closing) {
                upgraded.upstreamWritable();
            }
            return;
        }
        pausedForUpstream = false;
        if (!requests.paused() && !closing) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    /**
     * The upgraded connection's stream to an HTTP/2 application was reset, or its connection failed ({@link H2Upstream}), or
     * an HTTP/1 application's connection was reset under it ({@link #onUpstreamEnd}): nothing more can be said in-band, the
     * client's connection is reset. Its request is logged with {@code failure}'s flag ({@code UR} for RST_STREAM,
     * {@code UC} for a connection terminated) and the details {@code upstream_reset_after_response_started{...}}, as
     * Envoy's router ends a stream whose upstream reset after its response started (envoyproxy/envoy
     * source/common/router/router.cc {@code onUpstreamReset}: {@code streamResetReasonToResponseFlag},
     * {@code LateUpstreamReset}; {@code onUpstreamAbort} sets the flag before resetting the downstream stream). Until
     * 7 December it was logged without a flag, and an HTTP/1 application's reset reached the client as a FIN.
     */
    void upgradeCut(UpstreamFailure failure) {
        if (!closing) {
            upgradedEnd(failure.flag(), failure.detailsAfterResponseStarted());
            abort("upgraded stream ended by the application: " + failure.detailsAfterResponseStarted());
        }
    }

    // ---------------------------------------------------------------- upstream (application) side

    /** A response object from the application; ownership passes. */
    /**
     * The HTTP/2 application's response trailers ({@link H2Upstream}), which do not reach the client: a gRPC request's
     * {@code grpc-status} in them is its status all the same, as Envoy's filters (Istio's stats among them) see the
     * trailers its HTTP/2 upstream codec decodes before its HTTP/1 codec drops them (http1/codec_impl.cc
     * {@code encodeTrailersBase}).
     */
    void responseTrailers(io.netty.handler.codec.http2.Http2Headers trailers) {
        Http1Exchange x = active;
        CharSequence g = trailers.get("grpc-status");
        if (x != null && x.allowed && g != null && x.grpc()) {
            x.grpcStatus = g.toString();
        }
    }

    void onResponse(Object msg) {
        if (hold(msg)) {
            return;
        }
        Http1Exchange x = active;
        if (upgraded != null) {
            upgraded.fromApplication(msg);
            return;
        }
        if (x == null || !x.allowed || x.responseDone || closing) {
            // Nothing asked for it (or the exchange was answered locally): never pass it on.
            ReferenceCountUtil.release(msg);
            if (x == null && !closing && msg instanceof HttpResponse) {
                if (upstream.renewable()) {
                    // Envoy's HTTP/1 client codec takes a response with no request pending as premature (codec_impl.cc
                    // ClientConnectionImpl::onHeadersCompleteBase, prematureResponseError) and its codec client closes
                    // that upstream connection only (codec_client.cc CodecClient::onData); no downstream stream is
                    // attached to it. The rest of that response is the old connection's, never the filter's. Until
                    // 6 December the client's connection was cut here too.
                    log.debug("HTTP from {} to {}: unsolicited response from the application; its connection ends",
                            conn.source(), conn.destination());
                    upstream.renew();
                } else {
                    abort("unsolicited response from the application");
                }
            }
            return;
        }
        if (msg instanceof HttpObject o && o.decoderResult().isFailure()) {
            ReferenceCountUtil.release(msg);
            abort("malformed response from the application: " + o.decoderResult().cause());
            return;
        }
        if (msg instanceof HttpResponse r && x.grpc() && r.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
            // A trailers-only answer's grpc-status is in its head (Envoy's Grpc::Common::getGrpcStatus reads the headers when
            // there are no trailers), for the grpc_response_status label.
            String g = r.headers().get("grpc-status");
            if (g != null) {
                x.grpcStatus = g;
            }
        }
        if (msg instanceof HttpContent c) {
            x.responseData(c.content());
        }
        // Before responsePart, which clears it on a final status other than 101.
        boolean upgradeAsked = x.upgrade;
        Http1Exchange.ResponsePart part = x.responsePart(msg);
        if (msg instanceof HttpResponse r && r.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
            if (upstream.renewable() && x.framedByClose(r)) {
                reframe(r, x, upstream instanceof TcpUpstream);
            } else if (!upstream.renewable() && x.applicationCloses) {
                // An embedded application shares the client's stream: its close is the client's.
                x.closeAfter = true;
            }
        }
        if (msg instanceof HttpResponse r) {
            fromUpstream(r, part == Http1Exchange.ResponsePart.SWITCHED, x.closeAfter);
        }
        if ((!x.requestEnded || upgradeAsked) && msg instanceof HttpResponse r && r.status().codeClass() != HttpStatusClass.INFORMATIONAL
                && (part == Http1Exchange.ResponsePart.MORE || part == Http1Exchange.ResponsePart.END)) {
            // Envoy's connection manager closes an HTTP/1 connection whose response starts before its request has ended
            // (conn_manager_impl.cc encodeHeaders, !remoteDecodeComplete(), downstream_rq_response_before_rq_complete),
            // the application's included, and stops sending it the request once that response has ended (the router resets
            // the upstream request). Until 6 December zerohop went on forwarding what the client sent after an early
            // answer as that request's body: a client that skips the body after an early final answer to its
            // Expect: 100-continue sends its next request there, which an application that took the body as skipped read
            // as a request no policy had decided (L7EarlyResponseTest). The request's end as decoded (requestEnded), not as
            // forwarded: an embedded application (Netty handlers behind AppBridge) answers inside the write of that end, and
            // from 6 December until this check read requestDone every answer of one was early, each connection closed after
            // its first request (EmbeddedNettyAppKeepAliveTest).
            // An upgrade request answered with anything but 101 is such a response too: Envoy's HTTP/1 codec takes what
            // follows an upgrade request's head as its body (codec_impl.cc onMessageCompleteImpl, handling_upgrade_:
            // "swallow the onMessageComplete"), so the request never completes and the refusal closes the connection,
            // saying connection: close. Until 6 December the connection stayed open for a next request after it.
            x.closeAfter = true;
            r.headers().set(HttpHeaderNames.CONNECTION, io.netty.handler.codec.http.HttpHeaderValues.CLOSE);
        }
        if (!draining && msg instanceof HttpResponse && authorizer.draining()) {
            // Asked here, as Envoy's encodeHeaders asks its listener's drain state when it encodes the head: the drain's
            // notice to this connection (drain) is a task queued from the draining thread, which a loaded machine can run
            // after this response's head although the drain began before it (a fresh-clone CI saw L7DrainTest's
            // response to a request in progress without connection: close).
            draining = true;
        }
        if (draining && part != Http1Exchange.ResponsePart.SWITCHED && msg instanceof HttpResponse r
                && r.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
            // Envoy's connection manager, draining, says connection: close on every HTTP/1 response but an upgrade's
            // (conn_manager_impl.cc ActiveStream::encodeHeaders, drain_state_ != NotDraining); the close follows in pump.
            x.closeAfter = true;
            r.headers().set(HttpHeaderNames.CONNECTION, io.netty.handler.codec.http.HttpHeaderValues.CLOSE);
        }
        if (x.http10 && msg instanceof HttpResponse r && r.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
            x.toHttp10(r);
        } else if (!x.http10 && msg instanceof HttpResponse r) {
            // Envoy's downstream codec writes the client's version on the status line whatever the application's was
            // (envoyproxy/envoy source/common/http/http1/codec_impl.cc ResponseEncoderImpl::encodeHeaders: "HTTP/1.0 " for
            // an HTTP/1.0 client only, else "HTTP/1.1 "). An HTTP/1.0 application's status line (Python's http.server)
            // reached HTTP/1.1 clients until 7 December, which then closed their connection after each response: an
            // HTTP/1.0 response without keep-alive ends its connection (L7Http1AppCloseTest).
            r.setProtocolVersion(io.netty.handler.codec.http.HttpVersion.HTTP_1_1);
        }
        if ("HEAD".equals(x.method) && part != Http1Exchange.ResponsePart.SWITCHED && msg instanceof HttpResponse r
                && !(msg instanceof HttpContent) && r.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
            // A head alone (the client codecs never hand on a FullHttpResponse), re-typed for the encoder.
            msg = HeadAnswer.of(r, x.http10);
        }
        switch (part) {
            case SWITCHED -> {
                // What follows is not HTTP, whatever the client codec thinks of the body.
                toClient(msg, false);
                ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
                x.responseEnded(part);
                pump();
            }
            case INTERIM_END -> toClient(msg, true);
            case END -> {
                toClient(msg, true);
                if (!x.requestEnded) {
                    // Nothing more of it goes to the application: the connection closes after this response.
                    x.requestDone = true;
                    x.closeAfter = true;
                }
                if (x.applicationCloses && !x.closeAfter && upstream.renewable()) {
                    // Envoy's HTTP/1 pool closes an upstream connection whose response said Connection: close once that
                    // response is complete (http1/conn_pool.cc onResponseComplete, close_connection_ from
                    // StreamWrapper::decodeHeaders); the client's goes on and its next request dials anew.
                    upstream.renew();
                }
                x.responseEnded(part);
                pump();
            }
            case MORE -> {
                toClient(msg, false);
                if (!ctx.channel().isWritable()) {
                    upstream.readResponses(false);
                }
            }
        }
    }

    /**
     * Re-frames final response {@code r}, whose body the application ends by closing its connection (no
     * {@code Content-Length}, not chunked: {@link Http1Exchange#framedByClose}), as Envoy's HTTP/1 codecs do: its client
     * codec reads that body to the close, and its server codec, given no length, chunks it for an HTTP/1.1 client
     * (envoyproxy/envoy source/common/http/http1/codec_impl.cc {@code StreamEncoderImpl::encodeHeadersBase}: "Assume we
     * are chunk encoding unless we are passed a content length", {@code transfer-encoding: chunked}, then
     * {@code endEncode}'s last chunk at the body's end), so the client's connection goes on; the application's ends and
     * its pool drops it ({@code http1/conn_pool.cc} {@code ConnPoolImpl::onResponseComplete}: the upstream codec saw the
     * connection close), here {@link Upstream#renew} at the response's end. An HTTP/1.0 client gets no chunks
     * ({@code encodeHeadersBase}: {@code chunk_encoding_ = false} for {@code Http10}): its response stays framed by the
     * close, {@code connection: close} ({@link Http1Exchange#toHttp10}). Until 6 December every such response closed the
     * client's connection after it, an HTTP/1.1 client's included ({@code L7Http1AppCloseTest}). An HTTP/2 application's
     * response without {@code content-length} ({@link H2Upstream}) is chunked the same way, its own connection going on
     * ({@code closes} false).
     */
    private static void reframe(HttpResponse r, Http1Exchange x, boolean closes) {
        x.applicationCloses |= closes;
        if (!x.http10) {
            r.headers().set(HttpHeaderNames.TRANSFER_ENCODING, io.netty.handler.codec.http.HttpHeaderValues.CHUNKED);
        }
    }

    /**
     * Makes the head of the application's response what Envoy sends the client: its connection manager removes
     * {@code Connection} and {@code Upgrade} unless both the request and the response are an upgrade's, and always
     * {@code Transfer-Encoding}, {@code Keep-Alive} and {@code Proxy-Connection} (envoyproxy/envoy
     * source/common/http/conn_manager_utility.cc {@code ConnectionManagerUtility::mutateResponseHeaders}, with
     * {@code clear_hop_by_hop} as the connection manager leaves it), and its downstream HTTP/1 codec frames the body anew
     * ({@code codec_impl.cc} {@code encodeHeadersBase}: {@code transfer-encoding: chunked} without a
     * {@code Content-Length}) and says {@code connection: close} when the connection closes after this response
     * ({@code conn_manager_impl.cc} {@code encodeHeaders}, {@code drain_state_}); {@code close}: whether it does here.
     * Until 6 December the application's own {@code Keep-Alive: timeout=5} (Node's default) and {@code Connection} reached
     * the client, speaking for the application's connection, not the client's. A response the application frames by
     * closing its connection is chunked before this ({@link #reframe}).
     */
    static void fromUpstream(HttpResponse r, boolean switched, boolean close) {
        io.netty.handler.codec.http.HttpHeaders h = r.headers();
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(HttpHeaderNames.PROXY_CONNECTION);
        if (switched) {
            return;
        }
        h.remove(HttpHeaderNames.UPGRADE);
        if (HttpUtil.isTransferEncodingChunked(r)) {
            h.set(HttpHeaderNames.TRANSFER_ENCODING, io.netty.handler.codec.http.HttpHeaderValues.CHUNKED);
        }
        if (close && r.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
            h.set(HttpHeaderNames.CONNECTION, io.netty.handler.codec.http.HttpHeaderValues.CLOSE);
        } else {
            h.remove(HttpHeaderNames.CONNECTION);
        }
    }

    /**
     * After a read of the application's connection: what it read is on its way to the client, and counted; over the
     * node's budget the connections holding the most are reset ({@link H2HeldBudget}), as after a read of the client.
     */
    void flushDownstream() {
        ctx.flush();
        budget.readComplete();
    }

    /** The application closed or half-closed its side. */
    void onUpstreamEnd(boolean clean) {
        if (hold(clean ? UPSTREAM_END_CLEAN : UPSTREAM_END_CUT)) {
            return;
        }
        if (upstreamEnded) {
            return;
        }
        if (clean && !closing && upgraded == null && !inputEnded && upstream.renewable()
                && (active == null || !active.allowed || active.responseDone)) {
            // Between requests (an idle keep-alive timeout such as Node's 5 s) or after a complete response: Envoy's
            // HTTP/1 pool closes that upstream connection only (http1/conn_pool.cc onResponseComplete, remoteClosed(); a
            // connection closed idle leaves the pool) and the downstream connection goes on, its next request on a new
            // upstream connection (envoyproxy/envoy#14910). A response framed by the close has already ended the
            // client's connection (closeAfter). Until 6 December the client's connection ended here too.
            upstream.renew();
            return;
        }
        upstreamEnded = true;
        if (closing) {
            return;
        }
        if (upgraded != null) {
            if (!clean) {
                // A reset, not a FIN: Envoy's codec client resets the stream of a connection that ended under it with
                // ConnectionTermination (codec_client.cc CodecClient::onEvent), UC.
                upgradeCut(UpstreamFailure.reset("connection termination"));
                return;
            }
            downstream.shutdownOutput();
            if (inputEnded) {
                downstream.closeAfterWrites();
            }
            return;
        }
        if (ctx != null && (!ctx.channel().isActive() || DownstreamClose.local(ctx.channel()))) {
            // The client's end came first: closed (its close ends the application's connection before this filter
            // hears of it, as a clean close here), or being cut by zerohop (the drain's deadline, a policy change).
            // Envoy's connection manager resets the client's
            // streams before anything answers them (conn_manager_impl.cc onEvent, resetAllStreams): DC, logged when the
            // client's connection ends (channelInactive), never a 503 to a client that is going. Until 7 December the
            // drain's cut of an HBONE tunnel mid-request was logged 503 UC upstream_reset_before_response_started.
            clientGone(active);
            return;
        }
        if (!clean || (active != null && active.allowed && !active.responseDone)) {
            if (active != null && active.allowed && active.status == 0) {
                // Envoy's codec client resets the requests of a connection that closed under them with
                // ConnectionTermination (codec_client.cc CodecClient::onEvent): 503, UC.
                UpstreamFailure failure = upstream.later(UpstreamFailure.reset("connection termination"));
                answerUnreached(active, failure);
                // Envoy's router answers this reset with the same local 503 as a failed dial (router.cc onUpstreamReset,
                // onUpstreamAbort, sendLocalReply), and its connection manager closes an HTTP/1 downstream connection
                // after it only when the request has not ended (conn_manager_impl.cc encodeHeaders,
                // !remoteDecodeComplete()): a complete request's client goes on, its next request on a new application
                // connection, as after onUpstreamUnreachable. Until 6 December the client's connection closed here
                // whatever the request (an application's idle close racing the client's next request ended both). An
                // upgrade request never ends for Envoy's codec (codec_impl.cc, handling_upgrade_): closed as before.
                boolean goOn = active.requestDone && !active.upgrade && upstream.renewable() && !inputEnded && !draining;
                active.closeAfter |= !goOn;
                active.requestDone = true;
                if (goOn) {
                    upstreamEnded = false;
                    upstream.renew();
                }
                FullHttpResponse reply = LocalReplies.forRequest(active, HttpResponseStatus.valueOf(failure.status()), failure.bodyBytes(), active.closeAfter);
                if (active.http10) {
                    active.toHttp10(reply);
                }
                ctx.writeAndFlush(reply);
                pump();
                return;
            }
            lateReset(UpstreamFailure.reset("connection termination"));
            abort("application closed mid-response");
            return;
        }
        if (active == null && requests.isEmpty()) {
            closeGracefully();
        }
    }

    /**
     * The application could not be connected for the active request (a lazily dialled {@link TcpUpstream}); nothing of
     * it reached the application. Envoy's router answers with its local 503 ({@link UpstreamFailure}, flag {@code UF}; {@code URX,UF} after retries)
     * and the downstream connection goes on: the next request dials again. As Envoy's connection manager, a response
     * sent before the request's end closes an HTTP/1 connection ({@code conn_manager_impl.cc}: "If we are destroying a
     * stream before remote is complete and the connection does not support multiplexing, we should disconnect"):
     * {@code connection: close}, and the rest of the body is read and dropped until the close.
     */
    void onUpstreamUnreachable(UpstreamFailure failure) {
        Http1Exchange x = active;
        if (closing || upgraded != null || x == null || !x.allowed || x.status != 0) {
            return;
        }
        log.debug("HTTP request {} {} from {} to {}: {}", x.method, x.path, conn.source(), conn.destination(), failure.body());
        answerUnreached(x, failure);
        answerBeforeTheApplication(x, HttpResponseStatus.valueOf(failure.status()), failure.bodyBytes());
    }

    /**
     * The active request's headers are over the header-list limit its HTTP/2 application advertised
     * (SETTINGS_MAX_HEADER_LIST_SIZE; {@link H2Upstream}), so they were never sent: answered as {@code H2Proxy} answers
     * it ({@code overApplicationLimit}), 431 {@code Request Header Fields Too Large} (for gRPC, {@code grpc-status: 2},
     * Envoy's {@code httpToGrpcStatus(431)}), the reason logged, the client's connection going on as after any answer
     * given before the application (see {@link #onUpstreamUnreachable}).
     */
    void onHeadersOverApplicationLimit(String cause) {
        Http1Exchange x = active;
        if (closing || upgraded != null || x == null || !x.allowed || x.status != 0) {
            return;
        }
        x.refusal = "request headers over the application's SETTINGS_MAX_HEADER_LIST_SIZE: " + cause;
        answerBeforeTheApplication(x, HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE.reasonPhrase().getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }

    private void answerBeforeTheApplication(Http1Exchange x, HttpResponseStatus status, byte[] body) {
        x.responseDone = true;
        // An upgrade request never ends for Envoy's HTTP/1 codec (codec_impl.cc, handling_upgrade_), so its local reply
        // closes the connection (conn_manager_impl.cc encodeHeaders, !remoteDecodeComplete()), as onUpstreamEnd's 503 does.
        if (!x.requestDone || x.upgrade) {
            x.closeAfter = true;
        }
        FullHttpResponse reply = LocalReplies.forRequest(x, status, body, x.closeAfter);
        if (x.http10) {
            x.toHttp10(reply);
        }
        if (!x.requestDone) {
            active = null;
            ctx.write(reply);
            observer.request(line(x));
            ctx.flush();
            closeGracefully();
            return;
        }
        ctx.writeAndFlush(reply);
        pump();
        // Reading may have stopped on the dial's back-pressure.
        upstreamWritable();
    }

    /** {@code x} is answered with {@code failure}'s 503 (status, size, access-log reason and flag). */
    private static void answerUnreached(Http1Exchange x, UpstreamFailure failure) {
        x.status = failure.status();
        x.responseDone = true;
        x.responseBytes = failure.bodyBytes().length;
        x.refusal = failure.details();
        x.responseFlags = failure.flag();
    }

    // ---------------------------------------------------------------- policy changes

    @Override
    public void redecide() {
        LiveRequest.later(ctx.executor(), this::redecideNow);
    }

    /**
     * A policy change: the request in progress (allowed, its response not ended) or the one whose 101 upgraded this
     * connection is decided again on what it was decided on (method, target, headers with this connection's
     * {@code x-forwarded-client-cert}), and ended when that now denies: before its response has started, with the
     * {@code 403 RBAC: access denied} a new request gets and {@code connection: close} (the application's connection
     * is reset: part of the request may have reached it); after, or once upgraded, both connections are reset, as
     * nothing more can be said in-band. Beyond Envoy, which decides a request once (see {@code H2Proxy}); a denial of
     * the whole connection is left to the tunnel's own re-decision. Event loop only.
     */
    private void redecideNow() {
        if (closing || !ctx.channel().isActive()) {
            return;
        }
        Http1Exchange x = upgraded != null ? upgradedBy : active;
        if (x == null || !x.allowed || (upgraded == null && x.responseDone)) {
            return;
        }
        LiveRequest.Redecision again = LiveRequest.decideAgain(authorizer, conn, x.method, x.path, x.request.uri(),
                x.request.headers().get(HttpHeaderNames.HOST, ""), decidedHeaders(x), x.auth);
        if (!again.ended()) {
            return;
        }
        x.decision = again.decision();
        if (upgraded == null && x.status == 0) {
            active = null;
            closing = true;
            upstream.reset();
            x.allowed = false;
            FullHttpResponse reply = LocalReplies.forRequest(x, HttpResponseStatus.FORBIDDEN, LocalReplies.denied(x.decision), true);
            if (x.http10) {
                x.toHttp10(reply);
            }
            ctx.write(reply);
            observer.request(line(x));
            ctx.flush();
            closeGracefully();
            return;
        }
        abort("no longer allowed after a policy update");
    }

    /**
     * The header map {@code x} was decided on: what was forwarded (this connection's XFCC, set before the decision), less
     * the hop-by-hop headers no policy reads.
     */
    private static java.util.Map<String, String> decidedHeaders(Http1Exchange x) {
        java.util.Map<String, String> headers = new java.util.HashMap<>();
        for (java.util.Map.Entry<String, String> e : x.request.headers()) {
            headers.merge(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue(), (a, b) -> a + "," + b);
        }
        io.zerohop.core.HeaderValidation.removeHopByHop(headers); // as at its first decision (HttpEnforcement.authorize)
        headers.put(":scheme", x.scheme);
        return headers;
    }

    /**
     * The mesh began to drain ({@code MeshRuntime.drain}). Envoy's connection manager drains the connections of a
     * draining listener: it adds {@code connection: close} to HTTP/1 responses and terminates connections on request
     * completion (docs/root/intro/arch_overview/operations/draining.rst; conn_manager_impl.cc
     * {@code ActiveStream::encodeHeaders}, {@code drain_state_ != NotDraining}, all but an upgrade's or CONNECT's
     * response; {@code checkForDeferredClose}, {@code FlushWriteAndDelay}: a FIN after what was written), and a
     * connection with no stream in progress begins draining at once (Envoy's changelog for the runtime guard
     * {@code envoy.reloadable_features.use_connection_event_drain}: "Idle connections begin draining immediately";
     * before it, envoy issue 42305, an idle HTTP/1 connection waited for its idle timeout). So here: a connection between
     * requests (no head begun: Envoy's codec has a stream from a request's first byte) gets its FIN now ({@link #closeGracefully}), one with a request in progress after that request's
     * response, which says {@code connection: close} unless its head was already out; a request pipelined behind it is
     * not served. An upgraded connection (bytes) is left to the drain's deadline, as Envoy leaves an upgraded stream.
     * Envoy closes an idle HTTP/1 connection its {@code drain_timeout} (5 s) after the drain began, serving a request that
     * comes meanwhile with {@code connection: close} ({@code startDrainSequence}, {@code onDrainTimeout},
     * {@code checkForDeferredClose}; an Envoy without that runtime guard leaves it open until a response or the
     * listener's removal); zerohop at once, so that a drain of idle keep-alive connections ends as soon as their clients
     * close, a request that reaches it after this FIN not being served (mesh-core README, "Shutdown (drain)"). Until
     * 6 December every one waited for the whole
     * drain and was reset at its deadline, nothing in progress, and {@code zerohop connect} read that as a cut.
     * Any thread.
     */
    @Override
    public void drain() {
        LiveRequest.later(ctx.executor(), this::drainNow);
    }

    private void drainNow() {
        if (draining || closing || !ctx.channel().isActive()) {
            return;
        }
        draining = true;
        // A head that has begun to arrive is a request in progress, as Envoy's codec makes its stream at the first byte:
        // until 6 December it was cut here, unanswered.
        Http1Decoder decoder = ctx.pipeline().get(Http1Decoder.class);
        if (upgraded == null && active == null && waiting == null && requests.isEmpty() && (decoder == null || !decoder.headBegun())) {
            closeGracefully();
        }
    }

    // ---------------------------------------------------------------- connection idle timeout

    /** Sets {@link #idleMillis} (before the filter is added; {@code HttpEnforcement} passes its own). */
    void idleTimeout(long millis) {
        this.idleMillis = millis;
    }

    /**
     * Whether no request is in progress: none active, held or queued, no head begun (Envoy's codec makes a stream at a
     * head's first byte), no upgrade (its stream lasts as long as the connection).
     */
    private boolean betweenRequests() {
        if (upgraded != null || active != null || waiting != null || !requests.isEmpty()) {
            return false;
        }
        Http1Decoder decoder = ctx.pipeline().get(Http1Decoder.class);
        return decoder == null || !decoder.headBegun();
    }

    /**
     * Starts the connection's idle time when no request is in progress and none was counting: Envoy's connection
     * manager enables its {@code connection_idle_timer_} when its last stream is destroyed
     * ({@code conn_manager_impl.cc} {@code doDeferredStreamDestroy}) and disables it when a stream begins
     * ({@code newStream}). Event loop only.
     */
    private void armIdle() {
        if (idleTimer != null || idleMillis <= 0 || closing || draining || !ctx.channel().isActive() || !betweenRequests()) {
            return;
        }
        idleTimer = ctx.executor().schedule(this::idleTimedOut, idleMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    private void cancelIdle() {
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
    }

    /**
     * The connection stayed between requests for {@link #idleMillis}: it ends, a FIN after what was written, as
     * Envoy's connection manager ends a downstream connection without a stream for its {@code idle_timeout}
     * ({@code common_http_protocol_options.idle_timeout}, 1 h when unset, which istiod leaves on a sidecar's and a
     * waypoint's listeners unless the proxy's {@code ISTIO_META_IDLE_TIMEOUT}; {@code conn_manager_impl.cc}
     * {@code onIdleTimeout}; envoyproxy docs faq/configuration/timeouts.rst: "For other connection types [than
     * HTTP/2], the connection terminates directly"). Not quite as Envoy's code: its {@code onIdleTimeout} starts the
     * drain sequence on an HTTP/1 connection too, whose codec sends nothing, so the connection closes
     * {@code drain_timeout} (5 s) later and a request in between is served with {@code connection: close}; here the FIN
     * goes at once, as {@link #drainNow} ends an idle connection at once. Until 7 December a keep-alive connection
     * between requests stayed open for as long as its client kept it, with its application connection. Event loop only.
     */
    private void idleTimedOut() {
        idleTimer = null;
        if (closing || draining || !ctx.channel().isActive() || !betweenRequests()) {
            return;
        }
        log.debug("HTTP connection {} -> {} idle for {} ms: closed", conn.source(), conn.destination(), idleMillis);
        closeGracefully();
    }

    // ---------------------------------------------------------------- endings

    private void switchToOpaque() {
        upgraded = new UpgradedConnection(ctx, upstream, upgradedBy, this);
        upgraded.switchOver(requests);
        requests.resume();
    }

    private void protocolError(HttpResponseStatus status, String why) {
        protocolError(status, why, null);
    }

    /** The access log's stand-in for {@code req}, refused before it was admitted; {@code target} as sent. */
    private static Http1Exchange refused(HttpRequest req, String target) {
        return Http1Exchange.unparsed(req.method().name(), target, req.protocolVersion().text());
    }

    /** {@code standIn}: what the access log shows for a refused request that never became the active exchange, or null. */
    private void protocolError(HttpResponseStatus status, String why, Http1Exchange standIn) {
        protocolError(status, why, status.reasonPhrase().getBytes(StandardCharsets.US_ASCII), HttpVersion.HTTP_1_1, standIn);
    }

    /**
     * The same with {@code body} as the local reply's body (empty: no {@code content-type}, as Envoy's) and
     * {@code version} as its status line's (HTTP/1.0 for an accepted HTTP/1.0 request, as Envoy's codec writes it).
     */
    private void protocolError(HttpResponseStatus status, String why, byte[] body, HttpVersion version, Http1Exchange standIn) {
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
        Http1Exchange bad = x != null ? x : standIn != null ? standIn : Http1Exchange.unparsed();
        active = null;
        closing = true;
        if (x != null && x.allowed) {
            // Part of the request went upstream: that connection can never be reused.
            upstream.close();
        }
        bad.status = status.code();
        bad.responseBytes = body.length;
        bad.refusal = why;
        FullHttpResponse reply = LocalReplies.local(status, body, true);
        if (body.length == 0) {
            reply.headers().remove(HttpHeaderNames.CONTENT_TYPE);
        }
        reply.setProtocolVersion(version);
        ctx.write(reply);
        observer.request(line(bad));
        ctx.flush();
        closeGracefully();
    }

    /**
     * The log entry of {@code x}, which is given what the connection carried since the entry before it: Envoy's HTTP/1 codec
     * meters what it reads while no request is active to the next one ({@code codec_impl.cc} {@code getBytesMeter},
     * {@code bytes_meter_before_stream_}) and the rest to the active request, so a connection's requests share its bytes
     * among them, each its own. A pipelined request, read while the one before it was in progress, is metered from its
     * first byte: Envoy meters every buffer it dispatches ({@code ConnectionImpl::dispatch}, {@code onDispatch}), the
     * bytes of the request after the one in progress in that request's meter, and dispatches what is left of the buffer
     * again, to the next request's meter, once that request is done ({@code conn_manager_impl.cc} {@code onData}, its
     * codec paused at each message's end), so those bytes count in both. Until 7 December they counted in the first
     * only, and the pipelined request observed 0 bytes received. Bytes read after a request's end ({@code wireAtEnd}) are
     * not its: Envoy reads nothing more until that request is done (see below).
     */
    private HttpObserver.RequestLog line(Http1Exchange x) {
        Http1WireBytes w = ctx.pipeline().get(Http1WireBytes.class);
        if (w == null) {
            return x.logLine(conn, -1, -1);
        }
        long from = wireReceived;
        if (x.request instanceof Http1Decoder.WireRequest r && r.wireStart >= 0 && r.wireStart < from) {
            from = r.wireStart;
        }
        // Not what was read after this request's end: Envoy's HTTP/1 codec dispatches nothing of a connection whose request
        // has ended until that request is done (http1/codec_impl.cc ServerConnectionImpl::dispatch: active_request_'s
        // remote_complete_, readDisable(true) and return before ConnectionImpl::dispatch, which meters), so a request sent
        // after it in a later read is metered to that request only. Until 7 December it counted in both (L7Http1BreakTest).
        long to = x.wireAtEnd >= 0 && x.wireAtEnd < w.received() ? x.wireAtEnd : w.received();
        long received = Math.max(0, to - from);
        long sent = w.sent() - wireSent;
        wireReceived = w.received();
        wireSent = w.sent();
        return x.logLine(conn, received, sent);
    }

    /** FIN to the client, then close once its FIN arrives ({@link Downstream#closeGracefully}). */
    private void closeGracefully() {
        closing = true;
        dropWaiting();
        requests.releaseAll();
        upstream.close();
        downstream.closeGracefully(inputEnded);
    }

    /**
     * The application ended a response that had started without its end (its connection closed or reset under it, its
     * HTTP/2 stream reset): the request is logged and counted with its status and {@code failure}'s flag and the details
     * {@code upstream_reset_after_response_started{...}}, as Envoy's router sets them before it resets the downstream
     * stream (envoyproxy/envoy source/common/router/router.cc {@code onUpstreamReset}: {@code streamResetReasonToResponseFlag},
     * {@code LateUpstreamReset}; {@code onUpstreamAbort}); the first failure named wins. Until 7 December no flag.
     * Not when the client's connection had closed first (zerohop resets the application's connection when its client's
     * closes, before this filter learns of that close): that is the client's end, {@link #clientGone}, as
     * {@code H2Proxy}'s {@code resetAfterStart} tells it; until 7 December the drain's cut of a client was logged
     * {@code UC}, blaming the application.
     */
    void lateReset(UpstreamFailure failure) {
        Http1Exchange x = active;
        if (ctx != null && !ctx.channel().isActive()) {
            clientGone(x);
            return;
        }
        if (!closing && x != null && x.allowed && x.status != 0 && x.responseFlags.equals("-")) {
            x.responseFlags = failure.flag();
            x.refusal = failure.detailsAfterResponseStarted();
        }
    }

    /**
     * Over the node's L7 budget, this connection holding the most ({@link H2HeldBudget}): its request (or the upgrade
     * whose bytes it carries) is logged with Envoy's overload flag {@code OM} and details {@code overload}, and both
     * connections are reset, which frees what waited for the application. Envoy resets a stream for its overload manager
     * ({@code reset_high_memory_stream}: {@code StreamResetReason::OverloadManager}, conn_manager_impl.cc
     * {@code onResetStream} sets {@code OM}); an HTTP/1 stream's reset has nothing in-band to say and ends its connection
     * (conn_manager_impl.cc {@code doEndStream}: a reset stream below HTTP/2 sets {@code DrainState::Closing}). Envoy does not
     * count HTTP/1 streams' bytes toward that action (http1 codec_impl.h {@code setAccount}: "TODO(kbaichoo): implement
     * account tracking for H1"; buffer_accounting_integration_test.cc runs HTTP/2 only) and relies on each connection's
     * watermarks; zerohop counts them, because 64 KiB per connection over 10,000 connections is ten times the node
     * proxy's direct memory.
     */
    private void shedForBudget() {
        if (!ctx.channel().isActive()) {
            return;
        }
        if (closing) {
            // Answered and logged already (a graceful close lingering for the client's FIN, up to Downstream.LINGER_SECONDS,
            // or an abort whose close is on its way): what it still holds, a response's tail toward a client that does not
            // read, goes only with the connection. Doing nothing here left it counted and asked again and again (L7BudgetDriftTest
            // aGracefullyClosingConnectionAskedToShedIsResetOnce: 22.8 million resets counted in its 10 s linger).
            downstream.reset();
            return;
        }
        if (upgraded != null) {
            upgradedEnd("OM", "overload");
        } else if (active != null && active.responseFlags.equals("-")) {
            active.responseFlags = "OM";
            active.refusal = "overload";
        }
        abort("over the node's L7 budget (overload)");
    }

    private void abort(String why) {
        log.debug("HTTP connection {} -> {} aborted: {}", conn.source(), conn.destination(), why);
        if (active != null) {
            Http1Exchange x = active;
            active = null;
            observer.request(line(x));
        }
        closing = true;
        dropWaiting();
        requests.releaseAll();
        // As the byte path's relay turns a reset into a reset: the application must not read the cut as an end.
        upstream.reset();
        downstream.reset();
    }
}
