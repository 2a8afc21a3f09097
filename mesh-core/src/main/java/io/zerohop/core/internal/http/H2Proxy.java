package io.zerohop.core.internal.http;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexCodecBuilder;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.policy.Decision;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/2 (h2c, prior knowledge) enforcement between a downstream connection and an h2c connection
 * to the workload, with Netty's frame codec and multiplexer on both: each downstream stream is
 * authorized on its HEADERS; an allowed one gets its own upstream stream and frames are relayed
 * both ways with per-stream back-pressure (flow-control windows open as the other side accepts);
 * a denied one is answered locally: {@code 403 RBAC: access denied}, or for gRPC
 * ({@code content-type: application/grpc*}) Envoy's trailers-only {@code grpc-status: 7}. Before the decision, the
 * destination's RequestAuthentication step ({@link JwtAuthn}, as Envoy's {@code jwt_authn} before RBAC): a token that
 * fails is answered 401 (403 for its audience) with {@code www-authenticate}, gRPC {@code grpc-status: 16} (7).
 * Other streams are unaffected.
 *
 * <p>How the two connections end together is {@link H2ConnectionEnds}'s.
 */
final class H2Proxy {
    private static final Logger log = LoggerFactory.getLogger(H2Proxy.class);
    private static final AsciiString XFCC = AsciiString.cached("x-forwarded-client-cert");
    private static final AsciiString HOST = AsciiString.cached("host");

    interface Authorizer extends LiveRequest.Registry {
        /** As {@link RequestAdmission.Authorizer#ciliumPaths}. */
        default boolean ciliumPaths(Conn conn) {
            return false;
        }
    }

    private H2Proxy() {}

    /**
     * Installs the server side on {@code downstream}; the client side goes on each connection {@code dialer} opens to the
     * application, for the first allowed request and again after one failed ({@link H2AppConnection}). The connection's drain
     * begins after {@code times.idleMillis()} without a stream ({@link H2ConnectionEnds.Drain}), an application connection is
     * closed after {@code appIdleMillis} without one ({@link H2AppConnection}); 0: never. {@code retryDial}: a stream that
     * could not be had is retried, as Istio's inbound route for a port not declared {@code grpc} retries it ({@link AppDialRetry}).
     */
    @SuppressWarnings("deprecation")
    static void install(Channel downstream, java.util.function.Supplier<io.netty.util.concurrent.Future<Channel>> dialer,
                        Conn conn, Authorizer authorizer, HttpObserver observer, H2ConnectionEnds.Drain.Times times, long appIdleMillis,
                        boolean retryDial) {
        H2ConnectionEnds.Drain drain = new H2ConnectionEnds.Drain(downstream, times);
        H2AppConnection app = new H2AppConnection(dialer, appIdleMillis);
        HeldBodies heldBodies = new HeldBodies();
        H2WireBytes wire = new H2WireBytes();
        // The connection itself is told of the mesh's drain (HttpEnforcement.drainConnections): GOAWAY, and its end once
        // its streams are done, as Envoy's connection manager drains it. Until 6 December an idle HTTP/2 connection (a
        // gRPC client's channel) waited for the whole drain and was reset at its deadline.
        LiveRequest connection = new LiveRequest() {
            @Override
            public void redecide() {
                // its streams are decided again on their own
            }

            @Override
            public void drain() {
                LiveRequest.later(downstream.eventLoop(), drain::meshDraining);
            }
        };
        authorizer.track(connection);
        downstream.closeFuture().addListener(f -> authorizer.untrack(connection));
        if (authorizer.draining()) {
            // Parsed from a preface that came during the drain: Envoy's drain sequence at once (conn_manager_impl.cc
            // startDrainSequence, which its encodeHeaders starts on a draining connection's first response and its
            // onIdleTimeout on one with no stream): the shutdown notice, which takes a stream already on its way, and the
            // final GOAWAY and the end 5 s later, so a connection that never opens a stream ends then. Until 6 December
            // the sequence waited for a first stream, and a connection that never sent one waited for the drain's
            // deadline and its reset. Later on the loop: the codec is in the pipeline then.
            LiveRequest.later(downstream.eventLoop(), drain::meshDraining);
        }
        // Http2MultiplexHandler takes a channel whose parent is not a ServerChannel for a client, and an
        // HBONE stream's parent is its connection: the older codec asks its own connection instead.
        io.netty.handler.codec.http2.Http2MultiplexCodec codec = Http2MultiplexCodecBuilder.forServer(new ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel ch) {
                drain.begin(ch);
                ch.pipeline().addLast(new Downstream(app, conn, authorizer, observer, retryDial, heldBodies, wire));
            }
        }).initialSettings(downstreamSettings()).build();
        // A field value with leading or trailing whitespace goes on as sent, as through Envoy's codec.
        H2FieldValues.asEnvoy(codec);
        // Before the codec: it meters each stream's frames as they come and go (istio_request_bytes, istio_response_bytes).
        downstream.pipeline().addLast("zerohop-h2-wire", wire);
        downstream.pipeline().addLast("zerohop-h2-codec", codec);
        // What the connection holds for applications that do not read, in the node's budget (H2HeldBudget).
        heldBodies.budget = new H2HeldBudget.Connection(codec.connection());
        downstream.pipeline().addLast("zerohop-h2-held", heldBodies.budget);
        downstream.pipeline().addLast("zerohop-h2-end", new H2ConnectionEnds.ConnectionEnd(app.closer()));
        // The connection's receive window opened to CONNECTION_WINDOW: a WINDOW_UPDATE on stream 0, which the codec
        // takes as such (Http2FrameCodec write: a window update without a stream increments the connection stream's
        // window in its local flow controller), after the SETTINGS it sent when added, as HBONE's ServerConnection does.
        downstream.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame(CONNECTION_WINDOW - DEFAULT_WINDOW));
        givenBackEvery(codec.connection(), CONNECTION_UPDATE);
    }

    /**
     * How much of what a client connection's streams have read makes zerohop give it back to the connection's window (a
     * WINDOW_UPDATE on stream 0): 32 KiB, what Netty gives back a 64 KiB stream window at (half of it). Netty's default
     * for the connection is half its window too, 512 KiB of {@link #CONNECTION_WINDOW}: with unread streams taking more
     * than the other half (eight of 64 KiB), the window the others had left was spent before 512 KiB was read, no update
     * came, and every other body on the connection waited, where the window was opened for fifteen
     * (L7H2HeldBodiesTest.fifteenStreamsTheApplicationDoesNotReadHoldBackNoOtherBody waited for ever until 7 December).
     * nghttp2, Envoy's codec, also gives back at half the window (nghttp2_session.c
     * {@code nghttp2_should_send_window_update}), but Envoy's sidecar connection window is 256 MiB, 256 MiB per stream.
     */
    static final int CONNECTION_UPDATE = 32 * 1024;

    /**
     * The RST_STREAM code of the application's stream when zerohop abandons it: its client went away (its connection
     * closed, its stream reset) or its exchange is dropped. Envoy's router resets its upstream request then with
     * {@code StreamResetReason::LocalReset} (envoyproxy/envoy {@code HttpUpstream::resetStream},
     * source/extensions/upstreams/http/http/upstream_request.h, earlier source/common/router/upstream_request.h), which its HTTP/2 codec
     * writes as {@code reasonToReset}'s default (source/common/http/http2/codec_impl.cc): NO_ERROR until Envoy 1.36,
     * INTERNAL_ERROR since 1.37 (release notes 1.37.0: "HTTP resets now use INTERNAL_ERROR instead of NO_ERROR", runtime
     * guard {@code envoy.reloadable_features.reset_with_error}, which istiod does not set). Until 7 December zerohop sent
     * CANCEL (Netty's close of an open stream), and forwarded a client's own RST_STREAM code. The client's stream gets it
     * too when the application's ended after its response started (its RST_STREAM, its connection gone): Envoy's router
     * resets the downstream stream then (router.cc {@code onUpstreamAbort}, filter_manager.cc {@code sendLocalReply} once
     * headers went), a {@code LocalReset}; until 7 December the client read the application's code, or CANCEL.
     */
    static final Http2Error UPSTREAM_LOCAL_RESET = Http2Error.INTERNAL_ERROR;

    static void givenBackEvery(io.netty.handler.codec.http2.Http2Connection connection, int bytes) {
        if (connection.local().flowController() instanceof io.netty.handler.codec.http2.DefaultHttp2LocalFlowController f) {
            try {
                // Netty's ratio is the part of the window left when it gives back what was read.
                f.windowUpdateRatio(connection.connectionStream(), 1f - (float) bytes / CONNECTION_WINDOW);
            } catch (io.netty.handler.codec.http2.Http2Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** RFC 9113 section 6.9.2: every window, the connection's too, starts at 65,535 octets. */
    private static final int DEFAULT_WINDOW = 65_535;

    /**
     * The client connection's receive window: 1 MiB, the value Envoy's edge best practices pair with 64 KiB stream
     * windows for untrusted downstreams (envoyproxy/envoy docs {@code configuration/best_practices/edge}:
     * {@code initial_stream_window_size: 65536}, {@code initial_connection_window_size: 1048576}) and istiod's EDGE
     * profile sets on gateways (istio/istio {@code pilot/pkg/networking/core/connection_settings.go}). Envoy's own default
     * on sidecar and waypoint listeners is 256 MiB with 256 MiB stream windows; zerohop keeps Netty's 64 KiB stream windows,
     * and takes the connection window that goes with them. Each stream's window is opened only as the application reads
     * (or, for a held request, up to {@code HOLD_BUFFER}, the connection's held requests {@link #HELD_PER_CONNECTION} in
     * all), so a stream that is not read holds at most 64 KiB unread
     * and holds back only itself until sixteen such streams fill the connection's window; then the connection's other
     * bodies wait as at a gateway. What a stream read and wrote toward an application that does not read (up to its
     * stream channel's 64 KiB write watermark) left this window, so a connection's streams are not bounded by it: the
     * node-wide {@link H2HeldBudget} bounds both. A decision, not Envoy's sidecar default: with 256 MiB (briefly, 7 December) one client
     * connection of 4,096 unread streams made zerohop hold 256 MiB, four times the launcher's
     * {@code -XX:MaxDirectMemorySize=64m}, where the HBONE server bounds what its tunnels hold with its budgets (mesh-hbone
     * {@code Budgets}) and this path has none. With Netty's 64 KiB, until 7 December, one unread stream stopped every
     * other body on the connection (L7JwtHoldBreakTest.aHeldStreamDoesNotHoldBackTheOtherStreamsBodiesOnItsConnection,
     * L7Http2FlowControlTest).
     */
    static final int CONNECTION_WINDOW = 1024 * 1024;

    /**
     * How much of the bodies of one client connection's streams held for their JWT keys ({@code Downstream.HOLD_BUFFER}
     * each) is read at most: {@link #CONNECTION_WINDOW}. A held stream reads its body, which gives its window back to
     * the client (Netty's stream channel consumes what it reads), so without a bound per connection the connection's
     * window bounded nothing there: each held stream took its 64 KiB, and one connection of 4,096 held streams made
     * zerohop hold 256 MiB until 7 December (L7H2HeldBodiesTest). Past it a held stream stops reading at once, and its
     * DATA stays in the connection's window until its hold ends: a connection's held bodies are at most this, read, and
     * {@link #CONNECTION_WINDOW}, unread. Envoy bounds what it buffers of a stream its jwt_authn filter stops by its
     * buffer limit (per_connection_buffer_limit_bytes, given to each stream by conn_manager_impl.cc), with watermarks
     * that stop reading; the bound per connection is zerohop's, as its CONNECTION_WINDOW is, since its concurrency per
     * connection is Envoy's sidecar default, unlimited ({@link #MAX_CONCURRENT_STREAMS}).
     */
    static final int HELD_PER_CONNECTION = CONNECTION_WINDOW;

    /** What the held streams of one client connection have read ({@link #HELD_PER_CONNECTION}); its event loop only. */
    private static final class HeldBodies {
        long bytes;
        /** The connection's share of the node's {@link H2HeldBudget}; set once, before its first stream. */
        H2HeldBudget.Connection budget;

        boolean full() {
            return bytes >= HELD_PER_CONNECTION;
        }
    }

    /**
     * Envoy's downstream HTTP/2 default for SETTINGS_MAX_CONCURRENT_STREAMS: 2147483647 (envoyproxy/envoy
     * {@code api/envoy/config/core/v3/protocol.proto}, {@code Http2ProtocolOptions.max_concurrent_streams}), which istiod
     * leaves on sidecar and waypoint listeners (istio/istio {@code pilot/pkg/networking/core/connection_settings.go}:
     * only the EDGE profile, on gateways, sets 100; otherwise only a ProxyConfig's {@code connectionSettings}).
     * Netty 4.2's {@code Http2Settings.defaultSettings()} advertises 100, which queued a gRPC client's 101st concurrent
     * call behind the first 100 (newuser27: 600 one-second calls took 9.9 s instead of 4.1 s) until 2 December.
     * What bounds a connection's memory instead is per stream: each stream's flow-control window (Netty's 64 KiB
     * default, opened only as the application reads), its header list ({@link H2HeaderCount}), and Netty's decoder
     * defences (RST_STREAM flood: 200 resets per 30 s; queued control frames: 10,000), as Envoy's are its stream windows
     * and its own flood protections.
     */
    static final long MAX_CONCURRENT_STREAMS = Integer.MAX_VALUE;

    static Http2Settings downstreamSettings() {
        return Http2Settings.defaultSettings().maxHeaderListSize(H2HeaderCount.LIST_SIZE).maxConcurrentStreams(MAX_CONCURRENT_STREAMS);
    }

    /**
     * Turns reading on again on one of the streams this proxies, and flushes its connection. Netty's stream channel gives
     * back the flow-control window of what it has read (a WINDOW_UPDATE written to its connection) when a read is asked
     * for (AbstractHttp2StreamChannel {@code Http2ChannelUnsafe.beginRead}, {@code updateLocalWindowIfNeeded}), but it
     * flushes that only from its read loop ({@code doBeginRead}, {@code notifyReadComplete}) or its connection's read
     * complete. A stream whose read status stayed {@code IN_PROGRESS} after reading was turned off (two reads asked for
     * when it was, one done) only moves to {@code REQUESTED} there, outside any read loop, and the WINDOW_UPDATE waited
     * unsent while the client, its window spent, waited for it: a held request with a body past {@code HOLD_BUFFER}
     * whose application stream became writable again (the Upstream's writability, on the application connection's read)
     * hung (L7JwtHoldBreakTest, netty/netty issue 17600 for the same stall from another thread; pull request 10075 flushed
     * on leaving {@code doBeginRead} only). The flush is Netty's stream {@code flush}: nothing when nothing was written,
     * and left to the connection's read complete while it reads.
     */
    static void readAgain(Channel stream) {
        stream.config().setAutoRead(true);
        stream.flush();
    }

    /** One downstream stream (one request). */
    private static final class Downstream extends ChannelInboundHandlerAdapter implements LiveRequest, H2HeldBudget.Stream {
        private final H2AppConnection app;
        private final Conn conn;
        private final Authorizer authorizer;
        private final HttpObserver observer;
        private final ArrayDeque<Object> pending = new ArrayDeque<>();
        private final long start = System.nanoTime();
        private ChannelHandlerContext ctx;
        private Http2StreamChannel up;
        private boolean started;
        private boolean denied;
        private boolean logged;
        private String method = "-";
        /** The x-request-id as forwarded, for the access line; null until set. */
        private String requestId;
        private String path = "-";
        private Decision decision;
        private int status;
        private long requestBytes;
        private long responseBytes;
        private String grpcStatus = "";
        /** What was wrong with a request refused before any policy decided it, or null. */
        private String refusal;
        /** What the request was decided on (path as forwarded, authority, plain headers), for {@link #redecide}; set once allowed. */
        private String decidedPath;
        private String authority;
        private Map<String, String> headers;
        /** The request's verified JWT ({@link JwtAuthn}), null for none: decided with it, and decided again with it. */
        private io.zerohop.policy.RequestAuth auth;
        /** Ended by a policy change: what the application still sends on this stream is dropped. */
        private boolean cut;
        /** The request's token waits for its rule's first key fetch ({@link JwtAuthn.Hold}); null when not. */
        private JwtAuthn.Hold held;
        /**
         * How much of a held request's body is read into {@link #pending} before its stream stops reading: Netty's default
         * stream window (what a client may send unasked anyway). Past it, the rest waits in the client's window, and a
         * reset of the stream is seen when the hold ends (Http2MultiplexCodec delivers it as a read). What the stream
         * received and did not read counts against the connection's window too, which {@link H2Proxy#CONNECTION_WINDOW} keeps
         * open for the connection's other streams (L7JwtHoldBreakTest).
         */
        static final int HOLD_BUFFER = 65_535;
        /** What the connection's held streams have read ({@link H2Proxy#HELD_PER_CONNECTION}). */
        private final HeldBodies heldBodies;
        /** What this stream read while held, counted in {@link #heldBodies} until its hold ends ({@link #unhold}). */
        private long heldRead;
        /** DATA written to the application's stream whose write has not completed ({@link H2HeldBudget}). */
        private long upQueued;
        /** When a write of this stream's body toward the application last completed (or the stream began): nanoTime. */
        private long progressAt = System.nanoTime();

        /** The hold is over (answered, reset, the connection gone): what it read no longer counts against the connection's. */
        private void unhold() {
            held = null;
            heldBodies.bytes -= heldRead;
            heldRead = 0;
        }
        /** The client reset the stream while held: logged unanswered, its DATA released, the rest dropped as it comes. */
        private void resetWhileHeld() {
            unhold();
            ctx.channel().parent().closeFuture().removeListener(connectionGone);
            denied = true;
            releasePending();
            finish();
            readAgain(ctx.channel());
        }

        /**
         * The client's connection closed while this stream was held: Netty closes a stream channel that does not read
         * only once its buffer is read (AbstractHttp2StreamChannel {@code doBeginRead}, which does nothing while nothing
         * asks to read), so the stream reads again, its buffer is drained and it closes ({@link #channelInactive}), rather
         * than its DATA waiting for the keys' answer.
         */
        private final io.netty.channel.ChannelFutureListener connectionGone = f -> {
            if (held != null) {
                unhold();
                denied = true;
                releasePending();
                readAgain(ctx.channel());
            }
        };
        /** How long a denied request that has not ended keeps its stream after the reply ({@link #endRequestEarly}). */
        static final long EARLY_RESET_DELAY_MS = 1000;
        /** The client's END_STREAM has arrived ({@link #endRequestEarly}). */
        private boolean requestEnded;
        /** The client reset the stream: the application's stream ends because of it, not a reset of its own. */
        private boolean clientReset;
        /** Envoy's response flags for the access line and {@code istio_requests_total}: "-" for none. */
        private String responseFlags = "-";
        /** A gRPC request ({@link #isGrpc}, Envoy's test): local replies are trailers-only with a grpc-status. */
        private boolean grpc;
        /** A forwarded gRPC request's message counters and the two directions' inspectors; null otherwise. */
        private HttpObserver.MessageCounters messages;
        private GrpcMessageCount requestMessages;
        private GrpcMessageCount responseMessages;

        /** The request's retries of a stream that could not be had ({@link AppDialRetry}). */
        private final AppDialRetry retry;
        /** The connection's frame meter, and this stream's meter in it (null when the stream had none). */
        private final H2WireBytes wire;
        private H2WireBytes.Meter meter;

        Downstream(H2AppConnection app, Conn conn, Authorizer authorizer, HttpObserver observer, boolean retryDial, HeldBodies heldBodies,
                   H2WireBytes wire) {
            this.wire = wire;
            this.retry = new AppDialRetry(retryDial);
            this.app = app;
            this.heldBodies = heldBodies;
            this.conn = conn;
            this.authorizer = authorizer;
            this.observer = observer;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
            if (ctx.channel() instanceof Http2StreamChannel s && s.stream() != null) {
                meter = wire.meter(s.stream().id());
            }
            heldBodies.budget.add(this);
        }

        @Override
        public long progressAt() {
            return progressAt;
        }

        @Override
        public long heldBytes() {
            io.netty.handler.codec.http2.Http2Connection http2 = heldBodies.budget.http2();
            io.netty.handler.codec.http2.Http2Stream s = http2.stream(((Http2StreamChannel) ctx.channel()).stream().id());
            return upQueued + (s == null ? 0 : http2.local().flowController().unconsumedBytes(s));
        }

        /**
         * Over the node's budget, this stream holding the most ({@link H2HeldBudget}): reset as Envoy's overload manager
         * resets its largest streams ({@code reset_high_memory_stream}): RST_STREAM NO_ERROR (its HTTP/2 codec's
         * {@code reasonToReset} for {@code OverloadManager}), the flag {@code OM} and the details {@code overload}
         * (conn_manager_impl.cc {@code onResetStream}); closing the stream releases what it queued, and
         * {@link #channelInactive} resets the application's stream and logs the request.
         */
        @Override
        public void shed() {
            if (!ctx.channel().isActive()) {
                return;
            }
            if (held != null) {
                unhold();
                ctx.channel().parent().closeFuture().removeListener(connectionGone);
            }
            // What the client sent on this stream that it had not read counts as received: Envoy's %BYTES_RECEIVED% is what
            // its connection manager took (conn_manager_impl.cc ActiveStream::decodeData, addBytesReceived), and its HTTP/2
            // codec hands DATA on as it arrives, a stream behind its watermark only withholding window updates. Until
            // 7 December a stream that had read nothing of its body was logged bytes_received=0.
            io.netty.handler.codec.http2.Http2Connection http2 = heldBodies.budget.http2();
            io.netty.handler.codec.http2.Http2Stream s = http2.stream(((Http2StreamChannel) ctx.channel()).stream().id());
            requestBytes += s == null ? 0 : http2.local().flowController().unconsumedBytes(s);
            responseFlags = "OM";
            refusal = "overload";
            denied = true;
            cut = true;
            releasePending();
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
            ctx.channel().close();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2DataFrame d && d.isEndStream() || msg instanceof Http2HeadersFrame e && e.isEndStream()) {
                requestEnded = true;
            }
            if (msg instanceof Http2ResetFrame && held != null) {
                // Http2MultiplexCodec hands a RST_STREAM to the stream as a message (Http2MultiplexHandler as an event).
                resetWhileHeld();
            }
            if (msg instanceof Http2ResetFrame r) {
                resetByClient(r.errorCode());
            }
            if (msg instanceof Http2ResetFrame && up != null && up.isActive()) {
                // The client reset its stream: Envoy's router resets the upstream request locally, whatever the client's
                // code. Now, before a close of the client's connection that came with it closes the application's.
                up.writeAndFlush(new DefaultHttp2ResetFrame(UPSTREAM_LOCAL_RESET));
            }
            if (denied) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (!started && msg instanceof Http2HeadersFrame h) {
                started = true;
                onRequest(h);
                return;
            }
            if (msg instanceof Http2DataFrame d) {
                requestBytes += d.content().readableBytes();
                if (messages != null) {
                    int n = requestMessages.inspect(d.content());
                    if (n > 0) {
                        messages.request(n);
                    }
                }
                forward(new DefaultHttp2DataFrame(d.content().retain(), d.isEndStream(), d.padding()));
                if (held != null) {
                    heldRead += d.content().readableBytes();
                    heldBodies.bytes += d.content().readableBytes();
                    if (requestBytes >= HOLD_BUFFER || heldBodies.full()) {
                        // Held with this much of its body (or the connection's held streams with theirs): the rest waits
                        // in the stream's window, not given back.
                        ctx.channel().config().setAutoRead(false);
                    }
                }
                d.release();
                return;
            }
            if (msg instanceof Http2HeadersFrame h) {
                String over = H2HeaderCount.tooManyTrailers(h.headers());
                if (over != null) {
                    refuseTrailers(over);
                    return;
                }
                forward(new DefaultHttp2HeadersFrame(h.headers(), h.isEndStream(), h.padding()));
                return;
            }
            ReferenceCountUtil.release(msg);
        }

        private void onRequest(Http2HeadersFrame frame) {
            Http2Headers h = frame.headers();
            method = String.valueOf(h.method());
            CharSequence contentType = h.get("content-type");
            grpc = isGrpc(contentType);
            // An absent :path (a plain CONNECT, RFC 9113 section 8.5) is "-", as the access line writes every absent field
            // and Envoy's access log an absent %REQ(:PATH)%; String.valueOf wrote "null" there (helper 303).
            path = h.path() == null ? "-" : h.path().toString();
            // Reset, as Envoy's HTTP/2 codec resets these before its connection manager sees them: no answer, no decision.
            // Over the header limits: Envoy's reset. A control character, SP or DEL in :path: a malformed request (RFC 9113
            // section 8.1.1), a stream error of type PROTOCOL_ERROR, as nghttp2 treats it under Envoy; Netty's field-value
            // check lets HTAB and SP through, and no policy may see such a path nor a normalisation turn it into another.
            refusal = H2HeaderCount.tooMany(h);
            Http2Error reset = H2HeaderCount.RESET;
            if (refusal == null) {
                refusal = RequestTarget.malformedH2Path(path);
                reset = Http2Error.PROTOCOL_ERROR;
            }
            if (refusal == null) {
                // A :method that is not a token (RFC 9110 section 9.1), as quiche's and nghttp2's method checks refuse it
                // under Envoy; Netty checks none. Its case is not checked: "get" is a method, and not GET.
                refusal = RequestTarget.malformedH2Method(method);
            }
            if (refusal == null) {
                // :protocol (RFC 8441 extended CONNECT) without the SETTINGS_ENABLE_CONNECT_PROTOCOL this side never sends,
                // or a CONNECT with :path or :scheme: malformed, as Envoy's codec libraries refuse them (see there).
                refusal = RequestTarget.malformedH2Connect(method, h);
            }
            if (refusal != null) {
                denied = true;
                ctx.writeAndFlush(new DefaultHttp2ResetFrame(reset));
                finish();
                return;
            }
            java.util.List<CharSequence> hosts = h.getAll(HOST);
            if (hosts.size() > 1) {
                denied = true;
                status = 400;
                respond(new DefaultHttp2Headers().status("400").set("content-type", "text/plain"), "more than one host header", true);
                return;
            }
            String authority;
            if (h.authority() != null) {
                authority = h.authority().toString();
                // Envoy drops host when :authority came (RFC 9113 section 8.3.1; envoy 1.27.4
                // http2_discard_host_header): the application must not read another authority than RBAC did.
                h.remove(HOST);
            } else if (!hosts.isEmpty()) {
                // Without :authority, host is the authority (RFC 9113 section 8.3.1), for RBAC as for the application.
                authority = hosts.get(0).toString();
            } else {
                // Envoy's connection manager "Require host header" (conn_manager_impl.cc, MissingHost), whatever the
                // protocol: 400 with no body, before any filter. Decided with an empty host, a hosts DENY could not
                // match it and the application served its default host (helper 251); HTTP/1 already got the 400.
                refusal = "missing host header";
                denied = true;
                status = 400;
                respond(new DefaultHttp2Headers().status("400"), "", true);
                return;
            }
            String badAuthority = RequestTarget.invalidAuthority(authority);
            if (badAuthority != null) {
                // A malformed request (RFC 9113 section 8.1.1), reset with PROTOCOL_ERROR as nghttp2 resets it under Envoy
                // (nghttp2_check_authority: Envoy's authority table, no whitespace). Netty's field-value check lets SP and
                // HTAB through, and " blocked.example" escaped a DENY on hosts [blocked.example] and was forwarded as sent
                // (a hostile-peer pass); HTTP/1's Host was already refused (RequestTarget).
                refusal = badAuthority.replace("Host has", ":authority has");
                denied = true;
                ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
                finish();
                return;
            }
            // Before the decision, as Envoy's connection manager sets it before any filter (RequestAdmission); x-forwarded-proto
            // and x-request-id below, once it is known whether Cilium's Envoy sets them.
            h.remove(XFCC);
            String xfcc = conn.xfcc();
            if (xfcc != null) {
                h.set(XFCC, xfcc);
            }
            if (path.equals("*") && method.equals("OPTIONS")) {
                // Valid HTTP/2, but Envoy's connection manager answers a path not starting with '/' with 404 before any
                // filter (conn_manager_impl.cc, AbsolutePath): neither RBAC nor the application sees it.
                denied = true;
                status = 404;
                respond(new DefaultHttp2Headers().status("404"), "", true);
                return;
            }
            if (!path.startsWith("/")) {
                // RFC 9113 section 8.3.1: a :path that is not origin-form (or OPTIONS *) makes the request
                // malformed; never let RBAC match, and never forward, a path the app would read otherwise.
                denied = true;
                status = 400;
                if (h.path() == null) {
                    // Named on the access line, as a reset's reason is: the 400 alone does not say a CONNECT came.
                    refusal = method.equals("CONNECT")
                            ? "CONNECT without :path (RFC 9113 section 8.5) asks for a tunnel; requests are forwarded, tunnels are not"
                            : "no :path";
                }
                respond(new DefaultHttp2Headers().status("400").set("content-type", "text/plain"), "invalid :path", true);
                return;
            }
            if (RequestTarget.invalidPath(path) != null) {
                // Envoy answers a fragment or %00 with 400 before any filter (see RequestTarget).
                denied = true;
                status = 400;
                respond(new DefaultHttp2Headers().status("400").set("content-type", "text/plain"), "invalid :path", true);
                return;
            }
            boolean cilium = authorizer.ciliumPaths(conn);
            // Set in the same step of Envoy's connection manager as XFCC, before any filter (ForwardedRequestHeaders).
            ForwardedRequestHeaders.apply(h, conn, cilium);
            requestId = ForwardedRequestHeaders.joined(h);
            if (cilium && io.zerohop.policy.HttpAttributes.hasEscapedSlash(path)) {
                // Cilium's Envoy (UNESCAPE_AND_REDIRECT), before any filter: 307 to the unescaped path; gRPC,
                // which cannot follow a redirect, 400 (envoy conn_manager_impl.cc).
                denied = true;
                CharSequence ct = h.get("content-type");
                String location = io.zerohop.policy.HttpAttributes.ciliumTarget(path);
                if (location == null || isGrpc(ct)) {
                    status = 400;
                    respond(new DefaultHttp2Headers().status("400").set("content-type", "text/plain"), "Bad Request", true);
                } else {
                    status = 307;
                    respond(new DefaultHttp2Headers().status("307").set("location", location), "", true);
                }
                return;
            }
            authenticated(frame, authority, cilium, null);
        }

        /**
         * The request's keys have their answer (or its hold's timeout passed): decided now, on this stream's loop. Its DATA
         * that came meanwhile waited in {@link #pending} (forwarded, or released, with it); the rest of its body waits in
         * the stream's own buffer, its flow-control window not given back. Reading again first: a stream whose connection
         * closed meanwhile is closed by Netty only once what it buffered is read (AbstractHttp2StreamChannel
         * {@code doBeginRead}: not while nothing asks to read), and then {@link #channelInactive} releases what it held.
         */
        private void keysAnswered(Http2HeadersFrame frame, String authority, boolean cilium, JwtAuthn.Hold hold) {
            if (held != hold) {
                return;
            }
            unhold();
            ctx.channel().parent().closeFuture().removeListener(connectionGone);
            readAgain(ctx.channel());
            if (logged || denied || !ctx.channel().isActive()) {
                releasePending();
                return;
            }
            authenticated(frame, authority, cilium, hold);
            if (denied) {
                // Refused: its DATA that waited is not forwarded (what follows is released as it comes).
                releasePending();
            }
        }

        /** The JWT step ({@code after}: run again after that hold) and what follows it. */
        private void authenticated(Http2HeadersFrame frame, String authority, boolean cilium, JwtAuthn.Hold after) {
            Http2Headers h = frame.headers();
            // Envoy's jwt_authn filter, before RBAC (see RequestAdmission): a token that fails is answered here; one that
            // verifies may take its header or query parameter off the request, and add the rule's output headers.
            JwtAuthn.Outcome jwt;
            try {
                jwt = authorizer.authenticate(conn, JwtAuthn.of(h, method), h.scheme() == null ? "http" : h.scheme().toString(), authority, after);
            } catch (RuntimeException e) {
                log.warn("JWT verification failed for {} {} {}, denying", conn.peer(), method, path, e);
                jwt = null;
            }
            if (jwt != null && jwt.held()) {
                // Its token waits for its rule's first key fetch, as Envoy's jwt_authn in remote-JWKS mode waits
                // (authenticator.cc startVerify, onJwksSuccess/onJwksError). This stream keeps reading up to
                // HOLD_BUFFER of its body, so that a reset is seen (Netty hands it to the stream as its next read), and
                // then stops; the connection's other streams go on.
                JwtAuthn.Hold hold = jwt.hold();
                held = hold;
                if (heldBodies.full()) {
                    // The connection's held streams have read all they may (HELD_PER_CONNECTION): this one reads nothing
                    // of its body until its hold ends, its DATA kept in the connection's window.
                    ctx.channel().config().setAutoRead(false);
                }
                ctx.channel().parent().closeFuture().addListener(connectionGone);
                JwtAuthn.whenAnswered(hold, ctx.executor(), () -> keysAnswered(frame, authority, cilium, hold));
                return;
            }
            if (jwt == null) {
                denied = true;
                deny();
                return;
            }
            if (jwt.refused()) {
                denied = true;
                unauthenticated(jwt);
                return;
            }
            auth = jwt.auth();
            if (!h.path().toString().equals(path)) {
                // A verified token's query parameter was removed (JwtParamLocation::removeJwt): decided, forwarded and
                // logged without it.
                path = h.path().toString();
            }
            Map<String, String> plain = new HashMap<>();
            for (Map.Entry<CharSequence, CharSequence> e : h) {
                String name = e.getKey().toString();
                if (!name.startsWith(":")) {
                    // RFC 9113 section 8.2.3: crumbled cookie fields are one value joined with "; ", as Envoy's
                    // codec rebuilds it (reconstituteCrumbledCookies) before RBAC reads request.headers[cookie].
                    plain.merge(name, e.getValue().toString(), name.equals("cookie") ? (a, b) -> a + "; " + b : (a, b) -> a + "," + b);
                }
            }
            if (h.scheme() != null) {
                // Envoy's header map holds the client's :scheme, which request.headers[:scheme] reads; the other pseudo-headers
                // are the decision's method, path and authority.
                plain.put(":scheme", h.scheme().toString());
            }
            // Decided, as forwarded, on what Cilium's Envoy passes on (every rule, an AuthorizationPolicy's too); the
            // access line keeps the path as sent.
            String passed = cilium ? io.zerohop.policy.HttpAttributes.ciliumTarget(path)
                    : io.zerohop.policy.HttpAttributes.normalizedTarget(path);
            if (passed == null) {
                // Refused above (a control character, %00); kept so that no later change lets a path no normalisation
                // accepts reach a policy raw.
                denied = true;
                status = 400;
                respond(new DefaultHttp2Headers().status("400").set("content-type", "text/plain"), "invalid :path", true);
                return;
            }
            String decided = cilium ? passed : path;
            // Tracked before it is decided: a policy swap between the decision and a later track would find no stream to
            // decide again. Tracked first, either the change's pass finds it (and decides it again on this loop, after
            // this) or the swap came before the track and this decision reads the new policies.
            authorizer.track(this);
            try {
                decision = authorizer.authorize(conn, method, decided, authority, plain, auth);
            } catch (RuntimeException e) {
                log.warn("authorization failed for {} {} {}, denying", conn.peer(), method, path, e);
                decision = null;
            }
            if (decision == null || !decision.allowed()) {
                denied = true;
                deny();
                return;
            }
            decidedPath = decided;
            this.authority = authority;
            headers = plain;
            // What the application reads is what was decided (Envoy's normalize_path rewrites :path).
            if (passed != path) {
                h.path(passed);
            }
            if (grpc) {
                // Counted from here on: what is forwarded to the application and what it answers. istiod puts the
                // grpc_stats filter after the authorization filters (istio/istio pilot/pkg/networking/core/
                // listener_builder.go), so a denied call's messages are not counted.
                messages = observer.grpcMessages(conn);
                if (messages != null) {
                    requestMessages = new GrpcMessageCount();
                    responseMessages = new GrpcMessageCount();
                    for (Object m : pending) {
                        // DATA that came while its token waited for its keys, before it was decided
                        if (m instanceof Http2DataFrame d) {
                            int n = requestMessages.inspect(d.content());
                            if (n > 0) {
                                messages.request(n);
                            }
                        }
                    }
                }
            }
            // First: DATA that came while its token waited for its keys (JwtAuthn.Hold) is queued already.
            pending.addFirst(new DefaultHttp2HeadersFrame(h, frame.isEndStream(), frame.padding()));
            ctx.channel().config().setAutoRead(false);
            openUpstream();
        }

        /** The request's stream to the application (its HEADERS and what came after them are in {@link #pending}). */
        private void openUpstream() {
            io.netty.util.concurrent.Promise<Http2StreamChannel> opened = ctx.executor().newPromise();
            app.openStream(new Upstream(), opened);
            opened.addListener(f -> {
                if (denied) {
                    // Ended while the application's stream was being opened (a policy change, trailers over the limits): it
                    // was answered already. The stream opened is not used, and the client's connection reads again, so the
                    // rest of the body is read and dropped and its flow-control credit returned to the connection.
                    if (f.isSuccess()) {
                        ((Channel) f.getNow()).close();
                    }
                    releasePending();
                    readAgain(ctx.channel());
                    return;
                }
                if (clientGone()) {
                    // The client's connection closed while the application's stream was being had: this stream's
                    // channel stays active until it reads again (it does not read meanwhile), but nobody is left to
                    // answer. Envoy resets such a stream when its connection closes (conn_manager_impl.cc onEvent,
                    // resetAllStreams), which cancels the router's pool request (router.cc onDestroy): no 503, no retry.
                    // Until 7 December the dial's failure (the pool's, closed with the client's connection) was retried
                    // and answered 503 URX,UC to nobody. The stream reads what it holds and closes, and is logged then
                    // (channelInactive): DR for a RST_STREAM the client sent before its connection closed, which
                    // Envoy's codec would have read first, else DC downstream_remote_disconnect (finish).
                    if (f.isSuccess()) {
                        ((Channel) f.getNow()).close();
                    }
                    releasePending();
                    denied = true;
                    readAgain(ctx.channel());
                    return;
                }
                if (!f.isSuccess()) {
                    log.debug("no upstream h2 stream for {} {}: {}", method, path, f.cause().toString());
                    if (ctx.channel().isActive() && retry.retry(ctx.executor(), this::reopenUpstream)) {
                        return;
                    }
                    releasePending();
                    if (!ctx.channel().isActive()) {
                        finish();
                        return;
                    }
                    // No connection to the application could be had, retries included (its dial failed: UF), as Envoy's
                    // router answers a pool failure; the request's body already read is released above, the rest dropped
                    // as it comes.
                    denied = true;
                    unreached(retry.answer(UpstreamFailure.of(f.cause())));
                    readAgain(ctx.channel());
                    return;
                }
                up = (Http2StreamChannel) f.getNow();
                if (!ctx.channel().isActive()) {
                    up.close();
                    releasePending();
                    return;
                }
                // Netty's client encoder holds the HEADERS to the application's SETTINGS_MAX_HEADER_LIST_SIZE (HpackEncoder):
                // over it, the write fails for this stream alone and nothing is sent.
                up.write(pending.poll()).addListener(wf -> {
                    if (!wf.isSuccess() && wf.cause() instanceof io.netty.handler.codec.http2.Http2Exception.HeaderListSizeException e) {
                        overApplicationLimit(e);
                    }
                });
                for (Object m; (m = pending.poll()) != null; ) {
                    up.write(m);
                }
                up.flush();
                readAgain(ctx.channel());
            });
        }

        /** The client's connection has closed (its stream's channel may still be active: see {@link #openUpstream}). */
        private boolean clientGone() {
            return !ctx.channel().parent().isActive();
        }

        /**
         * A retry's back-off ended: the stream is opened again, unless the request ended meanwhile (answered by a policy
         * change, or reset and logged by the client: {@link #channelInactive}).
         */
        private void reopenUpstream() {
            if (denied || !ctx.channel().isActive() || clientGone()) {
                // Also the client's connection closed during the back-off: as in openUpstream.
                releasePending();
                denied = true;
                if (ctx.channel().isActive()) {
                    readAgain(ctx.channel());
                }
                return;
            }
            openUpstream();
        }

        /**
         * Trailers over Envoy's limits ({@link H2HeaderCount#tooManyTrailers}): the stream is reset as Envoy's codec resets
         * it, RST_STREAM INTERNAL_ERROR, whatever was forwarded before, and the application's stream is reset too, as
         * Envoy's router resets its upstream request when the downstream one is reset; the trailers never reach the
         * application. The request keeps its decision and is logged with the reason; its status is the response's, if
         * one had started ({@code status=-} otherwise).
         */
        private void refuseTrailers(String over) {
            denied = true;
            refusal = over;
            releasePending();
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(H2HeaderCount.RESET));
            // Logged before the application's stream closes, whose end would otherwise log it as an upstream reset.
            finish();
            if (up != null) {
                up.writeAndFlush(new DefaultHttp2ResetFrame(H2HeaderCount.UPSTREAM_RESET));
            }
        }

        /**
         * The request's header list is over what the application advertised (SETTINGS_MAX_HEADER_LIST_SIZE; grpc-java's
         * server: 8 KiB), so Netty's client encoder did not send it: this request alone is answered here, as Envoy answers
         * a header list it will not take, 431 (its codecs' {@code max_request_headers_kb} check; for gRPC, as
         * {@link #unreached}, trailers-only with {@code httpToGrpcStatus(431)}: 2, UNKNOWN, envoyproxy/envoy
         * {@code source/common/grpc/status.cc}, {@code source/common/http/utility.cc} {@code sendLocalReply}). The
         * application's connection and the other streams go on. Until 2 December the upstream stream's end was taken
         * for a connection termination: 503 (gRPC: UNAVAILABLE) with {@code UC}.
         */
        private void overApplicationLimit(Exception cause) {
            if (logged || status != 0) {
                return;
            }
            denied = true;
            releasePending();
            refusal = "request headers over the application's SETTINGS_MAX_HEADER_LIST_SIZE: " + cause.getMessage();
            if (grpc) {
                status = 200;
                grpcStatus = "2";
                ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                        .set("content-type", "application/grpc").set("grpc-status", grpcStatus)
                        .set("grpc-message", "Request Header Fields Too Large"), true));
                endRequestEarly();
                finish();
                return;
            }
            status = 431;
            respond(new DefaultHttp2Headers().status("431").set("content-type", "text/plain"), "Request Header Fields Too Large", false);
            endRequestEarly();
            finish();
        }

        /**
         * Envoy's {@code jwt_authn} local reply (filter.cc {@code onComplete}): 401 (403 for an audience not allowed) with
         * the failure as the body and {@code www-authenticate}; for gRPC trailers-only, {@code grpc-status} of that status
         * (16 UNAUTHENTICATED, 7 PERMISSION_DENIED) and the failure as {@code grpc-message} ({@code sendLocalReply}).
         */
        private void unauthenticated(JwtAuthn.Outcome jwt) {
            refusal = jwt.details();
            if (grpc) {
                status = 200;
                grpcStatus = LocalReplies.grpcStatus(jwt.status());
                ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                        .set("content-type", "application/grpc").set("grpc-status", grpcStatus)
                        .set("grpc-message", LocalReplies.grpcMessage(jwt.body())).set("www-authenticate", jwt.wwwAuthenticate()), true));
            } else {
                status = jwt.status();
                byte[] body = jwt.body();
                respond(new DefaultHttp2Headers().status(Integer.toString(status)).set("content-type", "text/plain")
                        .setInt("content-length", body.length).set("www-authenticate", jwt.wwwAuthenticate()),
                        new String(body, java.nio.charset.StandardCharsets.US_ASCII), false);
            }
            endRequestEarly();
            finish();
        }

        private void deny() {
            if (grpc) {
                // Envoy's local reply for gRPC: trailers-only, PERMISSION_DENIED.
                status = 200;
                grpcStatus = "7";
                ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                        .set("content-type", "application/grpc").set("grpc-status", "7")
                        .set("grpc-message", LocalReplies.grpcMessage(LocalReplies.denied(decision))), true));
            } else {
                status = 403;
                byte[] body = LocalReplies.denied(decision);
                respond(new DefaultHttp2Headers().status("403").set("content-type", "text/plain")
                        .setInt("content-length", body.length), new String(body, java.nio.charset.StandardCharsets.US_ASCII), false);
            }
            endRequestEarly();
            finish();
        }

        /**
         * A complete local reply went out before the request's end: unless the client ends the request within
         * {@link #EARLY_RESET_DELAY_MS}, RST_STREAM(NO_ERROR), which asks it to stop sending "without error" (RFC 9113
         * section 8.1), as Envoy resets such a stream once its response is done ({@code conn_manager_impl.cc}
         * {@code doEndStream}: {@code !remoteDecodeComplete()} leads to a local reset, NO_ERROR on HTTP/2). Not at once:
         * Node's http2 client drops a response body still unread when any RST_STREAM arrives (its 403 came without its
         * text), against the RFC's "MUST NOT discard"; a second is ample for a client to read a local reply. Until 5 December
         * the stream stayed half-open until the client's END_STREAM, and a client that opened denied streams and never
         * ended them held ~1.6 KB each until the proxy ran out of heap (a hostile-peer pass: 60,000 streams on one
         * connection in 31 s); now at most a second's worth.
         */
        private void endRequestEarly() {
            if (!requestEnded && ctx.channel().isActive()) {
                ctx.executor().schedule(() -> {
                    if (!requestEnded && ctx.channel().isActive()) {
                        ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
                    }
                }, EARLY_RESET_DELAY_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
            }
        }

        /**
         * Envoy's router's local reply for {@code reply} (said as retried when the request was, {@link AppDialRetry#later}):
         * its status (502 or 503), its body, its details as the reason, its flag. For gRPC,
         * as Envoy's {@code Utility::sendLocalReply} turns every local reply to a gRPC request (source/common/http/utility.cc):
         * trailers-only, {@code :status 200}, {@code grpc-status} of that status ({@code httpToGrpcStatus}: 14, UNAVAILABLE, for both),
         * the body as {@code grpc-message} (percent-encoded; it has nothing to encode).
         */
        private void unreached(UpstreamFailure reply) {
            UpstreamFailure failure = retry.later(reply);
            responseFlags = failure.flag();
            refusal = failure.details();
            if (grpc) {
                status = 200;
                grpcStatus = "14";
                ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                        .set("content-type", "application/grpc").set("grpc-status", grpcStatus)
                        .set("grpc-message", failure.body()), true));
                endRequestEarly();
                finish();
                return;
            }
            status = failure.status();
            respond(new DefaultHttp2Headers().status(Integer.toString(status)).set("content-type", "text/plain"),
                    failure.body(), false);
            endRequestEarly();
            finish();
        }

        private void respond(Http2Headers headers, String body, boolean finish) {
            byte[] b = body.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            if (b.length > 0) {
                // Envoy's sendLocalReply gives every local reply with a body its content-length (source/common/http/
                // utility.cc Utility::prepareLocalReply/encodeLocalReply: setContentLength(body_text.size())). Until
                // 7 December only the 403 and 401 had one here; a 400, 431, 502 or 503 came without
                // (L7Http2Test.aLocalReplyWithABodySaysItsLength).
                headers.setInt("content-length", b.length);
            }
            if ("HEAD".equals(method) || b.length == 0) {
                // Envoy's sendLocalReply to a HEAD (source/common/http/utility.cc, local_reply_data.is_head_request_): the
                // head alone, END_STREAM, with the body's content-length. Until 7 December the body followed as DATA, which
                // nghttp2 resets as a protocol error (L7Http2Test.aLocalReplyToAHeadHasNoBody). A reply with no body (the
                // 404 to OPTIONS *, the 400 without a host, Cilium's 307) is its head alone too, as encodeLocalReply's
                // encode_headers_(headers, body_text.empty()); it ended with an empty DATA frame until then
                // (L7Http2Test.optionsAsteriskGetsEnvoys404).
                responseBytes = 0;
                ctx.writeAndFlush(new DefaultHttp2HeadersFrame(headers, true));
            } else {
                responseBytes = b.length;
                ctx.write(new DefaultHttp2HeadersFrame(headers, false));
                ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(b), true));
            }
            if (finish) {
                // Every local reply (400, 404, the Cilium 307 ...) as the denial's: a request that has not ended is reset a
                // second later, or one ":path /a#b" stream after another stayed half-open (a review pass).
                endRequestEarly();
                finish();
            }
        }

        private void forward(Object frame) {
            if (up == null) {
                pending.add(frame);
                return;
            }
            if (frame instanceof Http2DataFrame d && d.content().isReadable()) {
                // Counted until written to the application's connection: behind its windows, in the node's budget.
                int n = d.content().readableBytes();
                upQueued += n;
                heldBodies.budget.queued(n);
                up.writeAndFlush(frame).addListener(f -> {
                    upQueued -= n;
                    heldBodies.budget.written(n);
                    if (f.isSuccess()) {
                        progressAt = System.nanoTime();
                    }
                });
            } else {
                up.writeAndFlush(frame);
            }
            if (!up.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        }

        /**
         * The client's RST_STREAM on a stream not yet logged: Envoy's {@code DR}, whatever its code, and the details its
         * codec gives the reset (http2/codec_impl.cc {@code onStreamClose}): {@code http2.remote_refuse} for
         * REFUSED_STREAM ({@code RemoteRefusedStreamReset}, {@code Http2ResponseCodeDetails::remote_refused}),
         * {@code http2.remote_reset} for any other ({@code RemoteReset}, or {@code ConnectError} for CONNECT_ERROR);
         * conn_manager_impl.cc {@code onResetStream} flags the three {@code DownstreamRemoteReset}
         * (conn_manager_impl_test.cc {@code DownstreamRemoteReset}, {@code DownstreamRemoteResetConnectError},
         * {@code DownstreamRemoteResetRefused}). Until 7 December a REFUSED_STREAM was logged {@code http2.remote_reset}.
         * The status stays what was sent: none (0) before the response's head.
         */
        private void resetByClient(long errorCode) {
            clientReset = true;
            if (!logged && responseFlags.equals("-")) {
                responseFlags = "DR";
                refusal = errorCode == Http2Error.REFUSED_STREAM.code() ? "http2.remote_refuse" : "http2.remote_reset";
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame r) {
                resetByClient(r.errorCode());
            }
            if (evt instanceof Http2ResetFrame && held != null) {
                resetWhileHeld();
            }
            if (evt instanceof Http2ResetFrame && up != null) {
                // The client reset its stream: Envoy's router resets the upstream request locally, whatever the client's code.
                up.writeAndFlush(new DefaultHttp2ResetFrame(UPSTREAM_LOCAL_RESET));
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (up != null) {
                if (ctx.channel().isWritable()) {
                    readAgain(up);
                } else {
                    up.config().setAutoRead(false);
                }
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            heldBodies.budget.remove(this);
            releasePending();
            if (up != null) {
                // The client's stream is gone (its connection closed): an application stream still open is reset with
                // Envoy's local reset code, not the CANCEL Netty's close would send.
                if (up.isActive()) {
                    up.writeAndFlush(new DefaultHttp2ResetFrame(UPSTREAM_LOCAL_RESET));
                }
                up.close();
            }
            finish();
        }

        @Override
        public void redecide() {
            LiveRequest.later(ctx.executor(), this::redecideNow);
        }

        /**
         * A policy change: the request is decided again on what it was decided on at its start, and ended when that now
         * denies (zerohop's own rule, beyond Envoy's: Envoy decides a request once, on its headers, and a changed RBAC
         * filter reaches an open stream only when its listener's drain closes the connection, so a long gRPC stream a
         * new DENY names would go on; ztunnel's {@code PolicyWatcher} ends an open connection the same way). Before the
         * response has started, the answer is the one the request would get now (403, or gRPC's trailers-only
         * {@code grpc-status: 7}); after it, a gRPC response ends with trailers {@code grpc-status: 7} (the client reads
         * PERMISSION_DENIED, as for a call denied at its start) and any other with RST_STREAM INTERNAL_ERROR. The
         * application's stream is reset with INTERNAL_ERROR either way. Both are Envoy's local reset of a stream, which
         * its HTTP/2 codec writes as {@link #UPSTREAM_LOCAL_RESET} on either side (codec_impl.cc {@code reasonToReset}
         * for {@code LocalReset}): a filter's reset of the downstream stream (filter_manager.cc {@code resetStream}), and
         * the router's of its upstream request when the downstream one ends ({@code onDestroy}). Until 7 December both got
         * CANCEL. Event loop only.
         */
        private void redecideNow() {
            if (logged || denied || decidedPath == null || !ctx.channel().isActive()) {
                return;
            }
            LiveRequest.Redecision again = LiveRequest.decideAgain(authorizer, conn, method, path, decidedPath, authority, headers, auth);
            if (!again.ended()) {
                return;
            }
            decision = again.decision();
            denied = true;
            cut = true;
            releasePending();
            if (status == 0) {
                deny();
            } else if (grpc) {
                grpcStatus = "7";
                ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("grpc-status", grpcStatus)
                        .set("grpc-message", LocalReplies.grpcMessage(LocalReplies.denied(decision))), true));
                finish();
            } else {
                ctx.writeAndFlush(new DefaultHttp2ResetFrame(UPSTREAM_LOCAL_RESET));
                finish();
            }
            if (up != null) {
                up.writeAndFlush(new DefaultHttp2ResetFrame(UPSTREAM_LOCAL_RESET));
            }
        }

        private void releasePending() {
            for (Object m; (m = pending.poll()) != null; ) {
                ReferenceCountUtil.release(m);
            }
        }

        private void finish() {
            if (logged) {
                return;
            }
            logged = true;
            if (!clientReset && responseFlags.equals("-") && !ctx.channel().parent().isActive()) {
                // Ended with the client's connection closed under it: Envoy's DC and downstream_remote_disconnect
                // (conn_manager_impl.cc onEvent RemoteClose, resetAllStreams; completeRequest for remote_close_), or
                // downstream_local_disconnect(<reason>) when zerohop closed it (DownstreamClose).
                responseFlags = "DC";
                refusal = DownstreamClose.details(ctx.channel().parent());
            }
            authorizer.untrack(this);
            long duration = System.nanoTime() - start;
            H2WireBytes.Meter m = meter;
            Runnable report = () -> {
                if (m != null) {
                    wire.done(ctx.channel() instanceof Http2StreamChannel s ? s.stream().id() : 0);
                }
                observer.request(new HttpObserver.RequestLog(conn, method, path, status, duration, decision,
                        requestBytes, responseBytes, "HTTP/2", grpcStatus, refusal, responseFlags, grpc, requestId,
                        m == null ? requestBytes : m.received, m == null ? responseBytes : m.sent));
            };
            if (m == null || m.ended || !ctx.channel().isActive()) {
                report.run();
                return;
            }
            // The response's last frames wait in the client's flow-control window: reported once they are written (Envoy
            // logs a stream when it is destroyed, after its end was sent), or when the stream closes without them.
            Runnable once = new Runnable() {
                private boolean ran;

                @Override
                public void run() {
                    if (!ran) {
                        ran = true;
                        report.run();
                    }
                }
            };
            m.onEnd = once;
            ctx.channel().closeFuture().addListener(f -> once.run());
        }

        /** The upstream stream of this request: its frames go back downstream as new frames. */
        private final class Upstream extends ChannelInboundHandlerAdapter {
            /** Above the last-stream-id of the application's GOAWAY: the application will not process it. */
            private boolean refused;

            @Override
            public void channelRead(ChannelHandlerContext uctx, Object msg) {
                if (cut) {
                    // Ended by a policy change: the downstream stream is closed or closing.
                    ReferenceCountUtil.release(msg);
                    return;
                }
                Channel down = ctx.channel();
                if (msg instanceof Http2HeadersFrame h) {
                    CharSequence g = h.headers().get("grpc-status");
                    if (g != null) {
                        grpcStatus = g.toString();
                    }
                    CharSequence s = h.headers().status();
                    if (s != null && status == 0 && !s.toString().startsWith("1")) {
                        status = Integer.parseInt(s.toString());
                    }
                    down.write(new DefaultHttp2HeadersFrame(h.headers(), h.isEndStream(), h.padding()));
                    if (h.isEndStream()) {
                        down.flush();
                        finish();
                    }
                } else if (msg instanceof Http2DataFrame d) {
                    responseBytes += d.content().readableBytes();
                    if (messages != null) {
                        int n = responseMessages.inspect(d.content());
                        if (n > 0) {
                            messages.response(n);
                        }
                    }
                    down.write(new DefaultHttp2DataFrame(d.content().retain(), d.isEndStream(), d.padding()));
                    d.release();
                    if (d.isEndStream()) {
                        down.flush();
                        finish();
                    }
                } else {
                    ReferenceCountUtil.release(msg);
                }
                if (!down.isWritable()) {
                    uctx.channel().config().setAutoRead(false);
                }
            }

            @Override
            public void channelReadComplete(ChannelHandlerContext uctx) {
                ctx.channel().flush();
            }

            @Override
            public void channelWritabilityChanged(ChannelHandlerContext uctx) {
                if (uctx.channel().isWritable()) {
                    readAgain(ctx.channel());
                }
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext uctx, Object evt) {
                if (evt instanceof Http2ResetFrame r) {
                    if (status == 0 && !logged && ctx.channel().isActive()) {
                        // The application reset the stream before its response started: Envoy's router answers it as any
                        // upstream reset before headers (router.cc onUpstreamReset, onUpstreamAbort: 503 "upstream connect
                        // error or disconnect/reset before headers. reset reason: ...", the flag UR for a remote reset,
                        // streamResetReasonToResponseFlag), its codec naming REFUSED_STREAM RemoteRefusedStreamReset and
                        // CONNECT_ERROR ConnectError (http2/codec_impl.cc onStreamClose; utility.cc resetReasonToString);
                        // the request was sent, so Istio's inbound "reset-before-request" does not retry it. Until
                        // 6 December the client got the application's RST_STREAM instead, where a stream the application's
                        // GOAWAY refused got the 503.
                        denied = true;
                        unreached(new UpstreamFailure(remoteReset(r.errorCode()), "", "UR"));
                        return;
                    }
                    // Envoy's router resets the downstream stream itself (router.cc onUpstreamReset, onUpstreamAbort;
                    // filter_manager.cc sendLocalReply once headers went: resetStream), a LocalReset its codec writes as
                    // UPSTREAM_LOCAL_RESET, never the application's own code (until 7 December passed on).
                    resetAfterStart(new UpstreamFailure(remoteReset(r.errorCode()), "", "UR"));
                    ctx.channel().writeAndFlush(new DefaultHttp2ResetFrame(UPSTREAM_LOCAL_RESET));
                    finish();
                    return;
                }
                if (evt instanceof io.netty.handler.codec.http2.Http2GoAwayFrame g) {
                    // The multiplexer tells a stream above the GOAWAY's last-stream-id, which the codec closes next: not
                    // processed by the application (RFC 9113 section 6.8), as nghttp2 closes it with REFUSED_STREAM under Envoy.
                    refused = true;
                    g.release();
                    return;
                }
                uctx.fireUserEventTriggered(evt);
            }

            /**
             * The application reset a response that had started (its RST_STREAM: {@code UR}; its connection gone: {@code UC}):
             * the request is logged with its status and Envoy's flag and details {@code upstream_reset_after_response_started{...}},
             * as Envoy's router sets them before it resets the downstream stream (envoyproxy/envoy
             * source/common/router/router.cc {@code onUpstreamReset}: {@code streamResetReasonToResponseFlag},
             * {@code LateUpstreamReset}; {@code onUpstreamAbort}). Not when the client's side ended first (its reset, its
             * connection gone), which is what made zerohop end the application's stream. Until 7 December no flag.
             * The client's connection gone closes the application's connections before this stream learns of it
             * ({@link H2AppConnection#close}), so that is told by the pool or the client's connection, not by this
             * stream's channel (still active until the multiplexer's close reaches it): the request then
             * gets {@code DC} {@code downstream_remote_disconnect}, as Envoy's connection manager flags the requests of a
             * downstream connection that closed (conn_manager_impl.cc {@code onEvent}, {@code RemoteClose}:
             * {@code doConnectionClose} with {@code DownstreamConnectionTermination}); until 7 December (h367) it got
             * {@code UC}, blaming the application (L7H2LateResetFlagTest).
             */
            private void resetAfterStart(UpstreamFailure failure) {
                if (logged || status == 0 || clientReset || !ctx.channel().isActive()) {
                    return;
                }
                if (app.closed() || !ctx.channel().parent().isActive()) {
                    responseFlags = "DC";
                    refusal = DownstreamClose.details(ctx.channel().parent());
                    return;
                }
                responseFlags = failure.flag();
                refusal = failure.detailsAfterResponseStarted();
            }

            @Override
            public void channelInactive(ChannelHandlerContext uctx) {
                if (logged) {
                    return;
                }
                if (status == 0 && ctx.channel().isActive() && !clientReset && ctx.channel().parent().isActive()) {
                    // The application's stream ended before this request's response started: Envoy's router answers
                    // with the upstream reset's reason and flag (router.cc onUpstreamReset; 502 and UPE for a protocol
                    // error, 503 and UC for a connection termination), and the downstream connection goes on. A
                    // connection that ended with the application's FIN and no error (an HTTP/1 server's answer to the
                    // preface, then its close, when the stream learns of the close first) records no failure: that is
                    // a termination too, never a bare reset to the client (newuser23: curl's CANCEL in 3 of 8 tries).
                    String failure = H2ConnectionEnds.ConnectionEnd.failure(uctx.channel().parent());
                    denied = true;
                    // A stream the application's GOAWAY refused: Envoy's codec resets it with RemoteRefusedStreamReset
                    // (http2/codec_impl.cc onStreamClose), which its router answers 503 with the flag UR
                    // (streamResetReasonToResponseFlag). Istio's inbound route retries only a request not yet sent
                    // (pilot route.go BuildDefaultHTTPInboundRoute, retry.go defaultInboundRetryOn "reset-before-request";
                    // retry_state_impl.cc wouldRetryFromReset), and this one was, so the client reads that 503.
                    // Refused first: the connection, drained with nothing left, may have been closed since.
                    unreached(refused ? new UpstreamFailure("remote refused stream reset", "", "UR")
                            : UpstreamFailure.reset(failure != null ? failure : "connection termination"));
                    return;
                }
                // The upstream stream went away after its response started, or because the client's side ended (its
                // reset, its connection gone: Envoy's router resets the upstream request and answers nothing): reset ours too,
                // with Envoy's local reset as for an upstream reset after the response started (until 7 December CANCEL).
                String failure = H2ConnectionEnds.ConnectionEnd.failure(uctx.channel().parent());
                resetAfterStart(UpstreamFailure.reset(failure != null ? failure : "connection termination"));
                ctx.channel().writeAndFlush(new DefaultHttp2ResetFrame(UPSTREAM_LOCAL_RESET));
                finish();
            }
        }
    }

    /** Envoy's reset reason for an upstream stream's RST_STREAM with {@code errorCode} (utility.cc {@code resetReasonToString}). */
    static String remoteReset(long errorCode) {
        if (errorCode == Http2Error.REFUSED_STREAM.code()) {
            return "remote refused stream reset";
        }
        return errorCode == Http2Error.CONNECT_ERROR.code() ? "remote error with CONNECT request" : "remote reset";
    }

    /**
     * Whether a request is gRPC as Envoy decides it (envoyproxy/envoy source/common/grpc/common.cc
     * {@code hasGrpcContentType}): {@code content-type} exactly {@code application/grpc} or starting with
     * {@code application/grpc+}; {@code application/grpc-web}, {@code application/grpcx} or one with parameters is not,
     * and gets the HTTP reply. Until 5 December any {@code application/grpc} prefix was taken (a review pass).
     */
    static boolean isGrpc(CharSequence contentType) {
        if (contentType == null) {
            return false;
        }
        String t = contentType.toString();
        return t.startsWith("application/grpc") && (t.length() == 16 || t.charAt(16) == '+');
    }
}
