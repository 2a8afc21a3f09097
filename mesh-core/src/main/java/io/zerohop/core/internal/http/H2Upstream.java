package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Promise;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * An HTTP/1 client's requests to an application that speaks HTTP/2, on a port declared {@code http2} or {@code grpc}: each
 * allowed request goes on a stream of its own over the application's h2c connections ({@link H2AppConnection}, the pool
 * {@link H2Proxy} uses), and its response comes back to {@link Http1Filter} as HTTP/1 parts. This is what Istio's Envoy
 * does there: istiod builds every inbound HTTP connection manager with the {@code AUTO} codec (istio/istio
 * pilot/pkg/networking/core/listener_builder.go {@code buildHTTPConnectionManager}: {@code CodecType =
 * HttpConnectionManager_AUTO}, for the sidecar's inbound chains, listener_inbound.go, and a waypoint's,
 * listener_waypoint.go), which serves HTTP/1 unless the first bytes are HTTP/2's preface (envoyproxy/envoy
 * source/common/http/conn_manager_utility.cc {@code determineNextProtocol}), and the cluster for such a port speaks HTTP/2
 * to the application (cluster_builder.go {@code setUpstreamProtocol}: {@code port.Protocol.IsHTTP2()}, that is
 * {@code http2}, {@code grpc} or {@code grpc-web}, gets {@code setH2Options}). Envoy's router moves the request between its
 * HTTP/1 and HTTP/2 codecs as header maps; the translation here follows those codecs:
 * <ul>
 * <li>the head: {@code :method}, {@code :scheme} (the one the request was decided on), {@code :authority} from
 * {@code Host}, {@code :path} the target (origin-form by then), every other field with its name in lower case (RFC 9113
 * section 8.2.2) except those that are connection-specific in HTTP/2 ({@code Connection}, {@code Keep-Alive},
 * {@code Proxy-Connection}, {@code Transfer-Encoding}, {@code Upgrade}, {@code HTTP2-Settings}; RFC 9113 section 8.2.2,
 * envoyproxy/envoy source/common/http/http2/codec_impl.cc, whose header map never carries them after
 * {@code mutateRequestHeaders}). A WebSocket upgrade goes as RFC 8441's extended CONNECT whatever the application's
 * SETTINGS, as Envoy's HTTP/2 client codec sends every upgrade ({@link #headers}); the application's 200 comes back as a
 * {@code 101} and the stream then carries the upgraded connection's bytes as DATA both ways ({@link #writeRaw},
 * {@code Response.switchProtocols}), the client's FIN as END_STREAM and the application's END_STREAM as the client's
 * FIN, a reset either way as a reset: RFC 8441 section 5's mapping, kept where Envoy's connection manager, which does not
 * half-close an HTTP/1 connection (envoyproxy/envoy#2066), takes the client's FIN as the connection's close and resets
 * the stream (mesh-core README, "HTTP/2 and gRPC"); a stream the application refuses ({@code :protocol} unknown to it: nghttp2 resets it)
 * gets the 503 {@code UR} of any reset before the response.</li>
 * <li>the body: DATA frames as the parts come; the request's trailers are dropped, as Envoy's HTTP/1 codec drops them
 * without {@code enable_trailers}, which istiod never sets (http1/codec_impl.cc {@code ConnectionImpl::onHeaderField}:
 * trailers are parsed only when {@code enable_trailers_}), and the stream ends with an empty DATA frame.</li>
 * <li>the response: {@code :status} and the fields but pseudo-headers make an HTTP/1.1 head (a 1xx an interim one),
 * DATA its body; without {@code content-length} the filter chunks it ({@code Http1Filter.reframe}, Envoy's
 * {@code encodeHeadersBase}); trailers (a gRPC server's {@code grpc-status}) are dropped, as Envoy's HTTP/1 codec drops
 * them without {@code enable_trailers} (codec_impl.cc {@code StreamEncoderImpl::encodeTrailersBase}: "if
 * (!connection_.enableTrailers()) return endEncode()"). A body the head cannot frame for the client (a length never
 * sent, DATA where no body can be) is a protocol error, as Envoy's HTTP/2 codec takes it ({@code Response.channelRead}).</li>
 * <li>failures before the response: a failed dial (retried first on an {@code http2} port, never on a {@code grpc} one, as
 * Istio's inbound route retries it: {@link AppDialRetry}), the stream's reset, the application's connection failing or refusing
 * the stream (GOAWAY) are answered as Envoy's router answers them ({@link UpstreamFailure}, as in {@link H2Proxy}), the
 * client's connection going on; after the response started, the client's connection is reset
 * ({@link Http1Filter#onUpstreamEnd} with {@code false}), as Envoy resets an HTTP/1 downstream whose response it cannot
 * finish.</li>
 * </ul>
 * One request at a time, as {@link Http1Filter} sends them. Event loop of the client's connection only (the
 * application's connections are dialled on it).
 */
final class H2Upstream implements Upstream {
    /** RFC 9113 section 8.2.2's connection-specific fields, and Host, which becomes {@code :authority}. */
    private static final Set<AsciiString> NOT_FORWARDED = Set.of(AsciiString.cached("connection"), AsciiString.cached("keep-alive"),
            AsciiString.cached("proxy-connection"), AsciiString.cached("transfer-encoding"), AsciiString.cached("upgrade"),
            AsciiString.cached("http2-settings"), AsciiString.cached("host"));

    private final Http1Filter filter;
    private final H2AppConnection app;
    private final EventExecutor loop;
    /** The current request's stream, or null: none open, or being opened ({@link #opening}). */
    private Http2StreamChannel stream;
    /** The handler of {@link #stream}. */
    private Response response;
    /** The current request's stream is being opened: its frames wait in {@link #queued}. */
    private boolean opening;
    /** The current request's frames, while its stream is being opened. */
    private final ArrayDeque<Object> queued = new ArrayDeque<>();
    /**
     * The current request's head, not yet sent: held until its next part says whether it ends the request (HEADERS
     * with END_STREAM, as Envoy's codec sends a request without a body) or a flush comes.
     */
    private Http2Headers head;
    /** The current request's exchange gave up on its stream ({@link #renew}, a failure): what is still written is dropped. */
    private boolean dropping;
    /** The current request is a HEAD: a response without a body needs no {@code content-length: 0}. */
    private boolean headRequest;
    /** The current request's stream has its HEADERS out (or queued) and not yet its END_STREAM. */
    private boolean requestOpen;
    private boolean readResponses = true;
    private boolean closed;
    /** Whether the port's inbound route retries a stream that could not be had ({@link AppDialRetry#retries}). */
    private final boolean retryDial;
    /** The current request's retries while its stream is being opened ({@link #opening}); else null. */
    private AppDialRetry retry;
    /**
     * The current request's upgrade ({@code websocket}: the only one {@link UpgradeHeaders} lets through), sent as an
     * extended CONNECT; null for any other request.
     */
    private String upgrade;
    /** The 101 went to the client: the stream carries the upgraded connection's bytes ({@link #writeRaw}). */
    private boolean switched;
    /** The client's FIN went on as END_STREAM after the upgrade: nothing more is sent. */
    private boolean rawOutputEnded;
    /**
     * Body bytes written on a stream whose write has not completed: behind the application's windows in Netty's flow
     * controller, or in its connection's outbound buffer ({@link #queuedBytes}).
     */
    private long pendingBytes;

    /** @param retryDial whether a stream that could not be had is retried ({@link AppDialRetry#retries} of the port's protocol) */
    H2Upstream(Http1Filter filter, EventExecutor loop, java.util.function.Supplier<io.netty.util.concurrent.Future<io.netty.channel.Channel>> dialer,
               boolean retryDial) {
        this.filter = filter;
        this.loop = loop;
        this.app = new H2AppConnection(dialer);
        this.retryDial = retryDial;
    }

    @Override
    public void write(HttpObject msg) {
        if (msg instanceof HttpRequest req) {
            dropping = false;
            headRequest = req.method().equals(io.netty.handler.codec.http.HttpMethod.HEAD);
            // The filter forwards Upgrade only with Connection's upgrade token, and only websocket (UpgradeHeaders).
            upgrade = req.headers().get(HttpHeaderNames.UPGRADE);
            switched = false;
            rawOutputEnded = false;
            head = headers(req, filter.decidedScheme());
            if (msg instanceof HttpContent c) {
                content(c);
            }
            return;
        }
        if (msg instanceof HttpContent c) {
            content(c);
            return;
        }
        ReferenceCountUtil.release(msg);
    }

    private void content(HttpContent c) {
        if (closed || dropping) {
            c.release();
            return;
        }
        // An upgrade request's stream stays open past its HTTP/1 end: the upgraded bytes follow on it, as Envoy's HTTP/1 codec
        // never ends an upgrade request (http1/codec_impl.cc onMessageCompleteImpl, handling_upgrade_).
        boolean last = c instanceof LastHttpContent && upgrade == null;
        ByteBuf data = c.content();
        if (head != null && last && !data.isReadable()) {
            // A request without a body: HEADERS with END_STREAM.
            c.release();
            send(new DefaultHttp2HeadersFrame(takeHead(), true));
            return;
        }
        sendHead();
        if (!data.isReadable() && !last) {
            c.release();
            return;
        }
        // The content goes on as the frame's (its trailers, if any, are dropped: see the class comment).
        send(new DefaultHttp2DataFrame(data, last));
    }

    private Http2Headers takeHead() {
        Http2Headers h = head;
        head = null;
        return h;
    }

    private void sendHead() {
        if (head != null) {
            send(new DefaultHttp2HeadersFrame(takeHead(), false));
        }
    }

    private void send(Object frame) {
        requestOpen = !(frame instanceof DefaultHttp2HeadersFrame h ? h.isEndStream() : ((DefaultHttp2DataFrame) frame).isEndStream());
        if (stream != null) {
            write(stream, response, frame);
            return;
        }
        queued.add(frame);
        if (!opening) {
            open();
        }
    }

    /** The request's stream, on a connection that takes it (dialling one first when there is none). */
    private void open() {
        opening = true;
        retry = new AppDialRetry(retryDial);
        attempt();
    }

    private void attempt() {
        if (closed || dropping) {
            // Ended while a retry waited (renew and close cancel it; kept for a timer already running).
            opening = false;
            retry = null;
            releaseQueued();
            return;
        }
        Promise<Http2StreamChannel> opened = loop.newPromise();
        Response handler = new Response(headRequest, retry, upgrade);
        app.openStream(handler, opened);
        opened.addListener(f -> {
            if (!f.isSuccess() && !closed && !dropping && retry.retry(loop, this::attempt)) {
                // Nothing was sent: retried after the back-off, the request's frames still queued.
                return;
            }
            AppDialRetry tried = retry;
            retry = null;
            opening = false;
            if (!f.isSuccess()) {
                releaseQueued();
                if (closed || dropping) {
                    return;
                }
                dropping = true;
                requestOpen = false;
                // No connection to the application could be had: Envoy's router answers the pool's failure, UF for a failed
                // dial (H2Proxy does the same), after its retries. Later, not within the write that opened: the rest of the
                // request read with its head reaches the filter first, so it knows whether the request was complete when it answers.
                UpstreamFailure failure = tried.answer(UpstreamFailure.of(f.cause()));
                loop.execute(() -> {
                    if (!closed) {
                        filter.onUpstreamUnreachable(failure);
                    }
                });
                return;
            }
            Http2StreamChannel s = (Http2StreamChannel) f.getNow();
            if (closed || dropping) {
                releaseQueued();
                s.close();
                return;
            }
            stream = s;
            response = handler;
            handler.stream = s;
            s.config().setAutoRead(readResponses);
            for (Object m; (m = queued.poll()) != null; ) {
                write(s, handler, m);
            }
            s.flush();
            if (s.isWritable()) {
                filter.upstreamWritable();
            }
        });
    }

    /**
     * Writes {@code frame} on {@code s}. Netty's client encoder holds a request's HEADERS to the application's
     * SETTINGS_MAX_HEADER_LIST_SIZE (HpackEncoder): over it the write fails for that stream alone, nothing sent, and the
     * stream closes; {@code handler} then answers 431 ({@link Response#failed}), as {@code H2Proxy} does.
     */
    private void write(Http2StreamChannel s, Response handler, Object frame) {
        if (frame instanceof Http2DataFrame d) {
            writeData(s, d);
            return;
        }
        io.netty.channel.ChannelFuture f = s.write(frame);
        if (frame instanceof Http2HeadersFrame) {
            f.addListener(w -> {
                if (w.cause() instanceof io.netty.handler.codec.http2.Http2Exception.HeaderListSizeException e) {
                    handler.overLimit = e.getMessage();
                }
            });
        }
    }

    /** Counted until written to the application's connection, as H2Proxy's streams count theirs ({@code forward}). */
    private void writeData(Http2StreamChannel s, Http2DataFrame d) {
        int n = d.content().readableBytes();
        if (n == 0) {
            s.write(d);
            return;
        }
        pendingBytes += n;
        s.write(d).addListener(f -> {
            pendingBytes -= n;
            filter.heldChanged();
        });
    }

    /**
     * The request bodies written toward the application that its windows or its connection still hold (the node's L7
     * budget, {@link H2HeldBudget}): up to the stream channel's write watermark (64 KiB) and one client read past it, as
     * {@link TcpUpstream#queuedBytes} for an HTTP/1 application (each write completes once the frame left the connection's
     * outbound buffer: Netty's DefaultHttp2ConnectionEncoder.FlowControlledData completes a DATA frame's promise once the
     * writes of all its bytes, as the windows let them go, completed). What waits for the stream to open is bounded by a read and not counted. Until 7 December 0: an HTTP/1
     * client's bodies toward an {@code http2} or {@code grpc} application were in no budget.
     */
    @Override
    public long queuedBytes() {
        return pendingBytes;
    }

    private void releaseQueued() {
        for (Object m; (m = queued.poll()) != null; ) {
            ReferenceCountUtil.release(m);
        }
    }

    /**
     * The upgraded connection's bytes from the client, after the 101: DATA on the stream, the buffer passed on as the
     * frame's (Netty's flow controller holds it to the application's window; {@link #isWritable} turns false meanwhile and
     * the filter stops reading the client), as Envoy's router sends an upgraded stream's data on its upstream request.
     */
    @Override
    public void writeRaw(ByteBuf bytes) {
        Http2StreamChannel s = stream;
        if (!switched || rawOutputEnded || s == null || !bytes.isReadable()) {
            bytes.release();
            return;
        }
        writeData(s, new DefaultHttp2DataFrame(bytes, false));
    }

    @Override
    public void flush() {
        sendHead();
        if (stream != null) {
            stream.flush();
        }
    }

    @Override
    public boolean isWritable() {
        return stream != null ? stream.isWritable() : !opening;
    }

    @Override
    public void readResponses(boolean on) {
        readResponses = on;
        if (stream == null) {
            return;
        }
        if (on) {
            // Called from the client connection's writability, outside this stream's read: the stream's window update
            // must be flushed here or the application may wait for it for ever (see H2Proxy.readAgain).
            H2Proxy.readAgain(stream);
        } else {
            stream.config().setAutoRead(false);
        }
    }

    /**
     * The client's FIN. Upgraded: the stream's END_STREAM (an empty DATA frame), the application's side staying open until
     * its own END_STREAM, as an upgraded connection to an HTTP/1 application gets the client's FIN as its own half-close
     * ({@link UpgradedConnection}, {@link TcpUpstream#shutdownOutput}). Otherwise every request of the client has ended
     * already; nothing of the application's connections is the client's.
     */
    @Override
    public void shutdownOutput() {
        Http2StreamChannel s = stream;
        if (switched && !rawOutputEnded && s != null) {
            rawOutputEnded = true;
            requestOpen = false;
            s.writeAndFlush(new DefaultHttp2DataFrame(true));
        }
    }

    @Override
    public void upgraded() {
        // The stream already carries the upgrade (Response turned the application's 200 into the 101): nothing to remove.
    }

    @Override
    public boolean idle() {
        return stream == null && !opening;
    }

    @Override
    public boolean renewable() {
        return true;
    }

    /**
     * The exchange is done with its stream (answered without it, its response ended, or its client gone): a stream still
     * open is reset with Envoy's local reset code ({@link H2Proxy#UPSTREAM_LOCAL_RESET}, INTERNAL_ERROR; CANCEL until
     * 7 December), as Envoy's router resets the upstream request of a stream it ended, and the next request opens a new one.
     * The application's connections stay.
     */
    @Override
    public void renew() {
        head = null;
        releaseQueued();
        dropping = true;
        if (retry != null && retry.waiting()) {
            retry.cancel();
            retry = null;
            opening = false;
        }
        Http2StreamChannel s = stream;
        stream = null;
        requestOpen = false;
        if (s != null && s.isActive()) {
            s.writeAndFlush(new DefaultHttp2ResetFrame(H2Proxy.UPSTREAM_LOCAL_RESET));
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        renew();
        app.close();
    }

    /**
     * The exchange's response ended: its stream is done. A request still sending its body is not sent more of (the
     * filter closes the client's connection after such an early response), and its stream is reset with Envoy's local
     * reset code ({@link H2Proxy#UPSTREAM_LOCAL_RESET}, INTERNAL_ERROR), as Envoy's router resets the upstream request
     * once the response has ended before it (its downstream stream, ended by the connection manager's
     * {@code doEndStream}, destroys the router, whose {@code onDestroy} resets what is still open: {@code LocalReset},
     * codec_impl.cc {@code reasonToReset}). Until 7 December CANCEL.
     */
    private void responseEnded(Http2StreamChannel s) {
        if (stream != s) {
            return;
        }
        stream = null;
        if (requestOpen) {
            dropping = true;
            requestOpen = false;
            s.writeAndFlush(new DefaultHttp2ResetFrame(H2Proxy.UPSTREAM_LOCAL_RESET));
        }
    }

    /** The application's side of one request's stream: its frames go to the filter as HTTP/1 parts. */
    private final class Response extends ChannelInboundHandlerAdapter {
        private final boolean headRequest;
        Http2StreamChannel stream;
        /** A final response's head went to the filter. */
        private boolean started;
        private boolean ended;
        /** The final head declared a body ({@code content-length} above 0, not {@link #bodiless}) that must come. */
        private boolean owed;
        /** The final response can have no body: it answers a HEAD, or is a 204 or 304 (RFC 9110 sections 9.3.2, 15.3.5, 15.4.5). */
        private boolean bodiless;
        /** Some DATA of the response's body came. */
        private boolean received;
        /** Above the last-stream-id of the application's GOAWAY: the application will not process it. */
        private boolean refused;
        /** Why the request's HEADERS were not sent: over the application's SETTINGS_MAX_HEADER_LIST_SIZE ({@link #write}). */
        String overLimit;
        /** The request's upgrade, sent as an extended CONNECT, or null. */
        private final String upgrade;
        /** The application's 200 went to the client as a 101: DATA is the upgraded connection's bytes. */
        private boolean upgradedStream;
        /** The application's END_STREAM on the upgraded stream went to the client as its FIN. */
        private boolean upgradedEnded;

        /** The retries that got the stream: a failure of it says the request was retried ({@link AppDialRetry#later}). */
        private final AppDialRetry openedBy;

        Response(boolean headRequest, AppDialRetry openedBy, String upgrade) {
            this.headRequest = headRequest;
            this.openedBy = openedBy;
            this.upgrade = upgrade;
        }

        private boolean current() {
            return stream != null && H2Upstream.this.stream == stream && !closed;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!current() || ended) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (upgradedStream) {
                upgradedRead(msg);
                return;
            }
            if (msg instanceof Http2HeadersFrame h) {
                if (started) {
                    filter.responseTrailers(h.headers());
                    // Trailers: dropped (see the class comment); their END_STREAM ends the response, unless it owed a body
                    // that never came (as for an empty last DATA frame below).
                    if (h.isEndStream() && owed && !received) {
                        ended = true;
                        failed(UpstreamFailure.reset("protocol error"));
                    } else if (h.isEndStream()) {
                        end(ctx);
                    }
                    return;
                }
                CharSequence s = h.headers().status();
                int code;
                try {
                    code = Integer.parseInt(String.valueOf(s));
                } catch (NumberFormatException e) {
                    code = 0;
                }
                if (code < 100 || code > 999) {
                    // Netty's codec lets no response without a valid :status through; one that came would be a protocol error.
                    ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
                    ended = true;
                    failed(UpstreamFailure.reset("protocol error"));
                    return;
                }
                DefaultHttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(code));
                for (Map.Entry<CharSequence, CharSequence> e : h.headers()) {
                    if (e.getKey().length() > 0 && e.getKey().charAt(0) != ':') {
                        r.headers().add(e.getKey(), e.getValue());
                    }
                }
                if (upgrade != null && code == 200) {
                    switchProtocols(r, h.isEndStream());
                    return;
                }
                if (code < 200) {
                    // An interim response (100 Continue, 103): its end is not the response's.
                    filter.onResponse(r);
                    filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
                    return;
                }
                // A body is owed when the head declares a length and the request is no HEAD nor the answer a 304 (RFC 9110
                // section 8.6). Netty's codec fails a stream whose DATA overrun or fall short of its content-length, but lets
                // one with no DATA at all end (DefaultHttp2ConnectionDecoder.ContentLength: "This may be a response to a
                // HEAD request"): that response would reach the client with a length it never sends, the next response read
                // as its body. Envoy's HTTP/2 codec knows the request's method and checks the length at the stream's end
                // (google/quiche http2/adapter/oghttp2_session.cc OgHttp2Session::OnStreamEnd, remaining_content_length
                // unless sent_head_method; HandleContentLengthError resets the stream, PROTOCOL_ERROR).
                bodiless = headRequest || code == 204 || code == 304;
                owed = !bodiless && HttpUtil.getContentLength(r, 0L) > 0;
                if (h.isEndStream() && owed) {
                    // The stream ended with the head, before anything went to the client: Envoy's router answers the
                    // reset before the response as a protocol error (router.cc onUpstreamReset: 502, UPE).
                    ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
                    ended = true;
                    failed(UpstreamFailure.reset("protocol error"));
                    return;
                }
                if (h.isEndStream() && !headRequest && code != 204 && code != 304 && !r.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
                    // A response that is its head alone (a gRPC server's trailers-only answer): Envoy's HTTP/1 codec says
                    // content-length: 0 (codec_impl.cc encodeHeadersBase: "If this is a headers-only stream, append an explicit
                    // Content-Length: 0 unless it's a response to a HEAD request", not for a 204, nor for a 304, whose
                    // branch before it only turns chunking off: "For 304 response, since it should never have a body, we
                    // should not need to chunk_encode at all"), where a length-less response would be chunked. A 304's
                    // content-length would be the stored representation's (RFC 9110 section 8.6), which a cache updates.
                    r.headers().set(HttpHeaderNames.CONTENT_LENGTH, io.netty.handler.codec.http.HttpHeaderValues.ZERO);
                }
                started = true;
                filter.onResponse(r);
                if (h.isEndStream()) {
                    end(ctx);
                }
                return;
            }
            if (msg instanceof Http2DataFrame d) {
                if (!started) {
                    d.release();
                    return;
                }
                received |= d.content().isReadable();
                if (bodiless && d.content().isReadable()) {
                    // A body where none can be (a HEAD's answer, a 204 or 304): on the client's connection those bytes would
                    // be read as the next response. Envoy's HTTP/2 codec resets such a stream (google/quiche
                    // http2/adapter/oghttp2_session.cc OgHttp2Session::OnDataFrameHeader: !can_receive_body and a length,
                    // RST_STREAM PROTOCOL_ERROR; can_receive_body is false after sent_head_method or for such a status), and
                    // the client's connection, its response started, is reset.
                    d.release();
                    ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
                    ended = true;
                    failed(UpstreamFailure.reset("protocol error"));
                    return;
                }
                if (d.isEndStream() && owed && !received) {
                    // The owed body ended empty (see above), its head already with the client: cut, as Envoy resets an
                    // HTTP/1 downstream whose response its upstream codec reset.
                    d.release();
                    ended = true;
                    failed(UpstreamFailure.reset("protocol error"));
                    return;
                }
                if (d.isEndStream()) {
                    ended = true;
                    responseEnded(stream);
                    filter.onResponse(d.content().isReadable() ? new io.netty.handler.codec.http.DefaultLastHttpContent(d.content())
                            : releaseThenEmpty(d));
                    return;
                }
                if (d.content().isReadable()) {
                    filter.onResponse(new DefaultHttpContent(d.content()));
                } else {
                    d.release();
                }
                return;
            }
            if (msg instanceof Http2GoAwayFrame g) {
                g.release();
                return;
            }
            ReferenceCountUtil.release(msg);
        }

        /**
         * The application accepted the extended CONNECT: the client gets {@code 101 Switching Protocols} with
         * {@code upgrade} and {@code connection: upgrade} added to the application's fields, as Envoy's HTTP/2 client codec
         * turns the 200 of an upgrade's CONNECT into the HTTP/1 answer (http2/codec_impl.cc
         * {@code ClientStreamImpl::decodeHeaders}, {@code Utility::transformUpgradeResponseFromH2toH1}: a 200 only; any
         * other status goes on as it is, and the filter closes the client's connection after it). The filter then switches
         * its connection to bytes ({@link UpgradedConnection}).
         */
        private void switchProtocols(DefaultHttpResponse r, boolean endStream) {
            r.setStatus(HttpResponseStatus.SWITCHING_PROTOCOLS);
            r.headers().set(HttpHeaderNames.UPGRADE, upgrade);
            r.headers().set(HttpHeaderNames.CONNECTION, io.netty.handler.codec.http.HttpHeaderValues.UPGRADE);
            started = true;
            upgradedStream = true;
            switched = true;
            filter.onResponse(r);
            if (endStream) {
                upgradedEnd();
            }
        }

        /**
         * After the 101: DATA goes to the client as it is (its buffer passed on), END_STREAM as the client's FIN; the
         * stream's trailers end it too.
         */
        private void upgradedRead(Object msg) {
            if (upgradedEnded) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (msg instanceof Http2DataFrame d) {
                boolean end = d.isEndStream();
                if (d.content().isReadable()) {
                    filter.onResponse(d.content());
                } else {
                    d.release();
                }
                if (end) {
                    upgradedEnd();
                }
                return;
            }
            if (msg instanceof Http2HeadersFrame h && h.isEndStream()) {
                upgradedEnd();
                return;
            }
            ReferenceCountUtil.release(msg);
        }

        /**
         * The application's END_STREAM on the upgraded stream: the client's connection gets its FIN. The stream is not done
         * until the client's END_STREAM went too: a reset meanwhile still cuts the client's connection.
         */
        private void upgradedEnd() {
            upgradedEnded = true;
            filter.onUpstreamEnd(true);
        }

        private LastHttpContent releaseThenEmpty(Http2DataFrame d) {
            d.release();
            return LastHttpContent.EMPTY_LAST_CONTENT;
        }

        private void end(ChannelHandlerContext ctx) {
            ended = true;
            responseEnded(stream);
            filter.onResponse(LastHttpContent.EMPTY_LAST_CONTENT);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            filter.flushDownstream();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (current() && ctx.channel().isWritable()) {
                filter.upstreamWritable();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame r) {
                if (current() && !ended) {
                    ended = true;
                    // The application reset the stream: before the response, Envoy's router answers it as any upstream reset
                    // before headers (H2Proxy's Upstream.userEventTriggered says how), UR; after, the response is cut.
                    failed(new UpstreamFailure(H2Proxy.remoteReset(r.errorCode()), "", "UR"));
                }
                return;
            }
            if (evt instanceof Http2GoAwayFrame g) {
                // A stream above the GOAWAY's last-stream-id, which the codec closes next: refused, not processed.
                refused = true;
                g.release();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!current() || ended) {
                return;
            }
            ended = true;
            if (upgradedStream && upgradedEnded && rawOutputEnded) {
                return; // both sides' END_STREAM: the upgraded connection ended cleanly
            }
            // The stream ended without its response's end: the connection failed or ended under it, or refused it (as in
            // H2Proxy's Upstream.channelInactive).
            String failure = H2ConnectionEnds.ConnectionEnd.failure(ctx.channel().parent());
            failed(refused ? new UpstreamFailure("remote refused stream reset", "", "UR")
                    : UpstreamFailure.reset(failure != null ? failure : "connection termination"));
        }

        /** Before the response started: Envoy's router's local reply, the client's connection going on; after: a cut. */
        private void failed(UpstreamFailure reset) {
            UpstreamFailure failure = openedBy.later(reset);
            H2Upstream.this.stream = null;
            requestOpen = false;
            if (upgradedStream) {
                // The upgraded stream reset (RST_STREAM) or its connection gone: the client's connection ends, as Envoy's
                // router resets the downstream stream once its response has started (router.cc onUpstreamReset) and its
                // connection manager closes an HTTP/1 connection whose stream ends so (conn_manager_impl.cc).
                filter.upgradeCut(failure);
                return;
            }
            if (!started) {
                dropping = true;
                // Later, as for a failed dial: a stream can fail inside the write of its request's first part (Netty's encoder
                // refusing the HEADERS), before the filter has taken the rest of what it read with it; that write's failure
                // is known by then (the stream may close before its promise fails). Such a request is answered 431, as
                // H2Proxy answers it (overApplicationLimit): until 7 December it got the 503 UC of a connection termination.
                loop.execute(() -> {
                    if (closed) {
                        return;
                    }
                    if (overLimit != null) {
                        filter.onHeadersOverApplicationLimit(overLimit);
                    } else {
                        filter.onUpstreamUnreachable(failure);
                    }
                });
            } else {
                // Its RST_STREAM (UR) or its connection's end (UC), named before the cut ends the client's connection.
                filter.lateReset(failure);
                filter.onUpstreamEnd(false);
            }
        }
    }

    /**
     * The request head as HTTP/2 header fields (see the class comment); {@code scheme}: the one the request was decided on.
     * An upgrade ({@code Upgrade}, kept by the filter only with Connection's token) becomes RFC 8441's extended CONNECT,
     * as Envoy's HTTP/2 client codec sends every upgrade whatever the application's SETTINGS (http2/codec_impl.cc
     * {@code ClientStreamImpl::encodeHeaders}, {@code Utility::transformUpgradeRequestFromH1toH2}): {@code :method CONNECT},
     * {@code :protocol} the upgrade token, {@code :scheme} and {@code :path} kept, no {@code upgrade} nor
     * {@code connection}, and a {@code content-length: 0} dropped ("nghttp2 rejects upgrade requests/responses with content
     * length").
     */
    static Http2Headers headers(HttpRequest req, String scheme) {
        Http2Headers h = new DefaultHttp2Headers(false);
        String upgrade = req.headers().get(HttpHeaderNames.UPGRADE);
        if (upgrade != null) {
            h.method(io.netty.handler.codec.http.HttpMethod.CONNECT.name());
            h.set(Http2Headers.PseudoHeaderName.PROTOCOL.value(), upgrade);
        } else {
            h.method(req.method().name());
        }
        h.scheme(scheme);
        h.path(req.uri());
        String host = req.headers().get(HttpHeaderNames.HOST);
        if (host != null) {
            h.authority(host);
        }
        for (Map.Entry<String, String> e : req.headers()) {
            AsciiString name = AsciiString.of(e.getKey().toLowerCase(Locale.ROOT));
            if (!NOT_FORWARDED.contains(name) && !(upgrade != null && name.contentEquals("content-length") && e.getValue().equals("0"))) {
                h.add(name, e.getValue());
            }
        }
        return h;
    }
}
