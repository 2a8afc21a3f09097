package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundInvoker;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelOption;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import io.zerohop.hbone.HboneStream;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayDeque;

/**
 * First handler of every tunnel stream channel (client and server). Turns the HTTP/2 stream into a
 * byte stream: DATA payloads go up as {@link ByteBuf}s, END_STREAM as {@link ChannelInputShutdownEvent},
 * RST_STREAM as {@link HboneStream.Reset}; written {@link ByteBuf}s go down as DATA frames.
 *
 * <p>Until the tunnel is open (status decided) the codec drives reads itself to get the HEADERS and
 * hands them to its {@link Listener}; anything read after the HEADERS waits in a {@link Hold} right
 * behind the codec until the handlers above first ask to read. Counts payload bytes both ways for
 * events.
 *
 * <p>On a tunnel stream channel the codec returns the stream's receive window itself (Netty's
 * {@link Http2StreamChannelOption#AUTO_STREAM_FLOW_CONTROL} is off): the DATA bytes delivered since
 * the last read request are handed to the connection's local flow controller when the handlers above
 * ask to read again, which is exactly when Netty's stream channel returns them, but without the
 * WINDOW_UPDATE frame object, promise and write through both pipelines Netty spends on every read
 * (issue 14: one of each per 1 KiB echo on either side). Whether and when a WINDOW_UPDATE goes on
 * the wire is still the flow controller's decision (half of a window consumed); what the peer may
 * send is unchanged. A handler on an {@link io.zerohop.hbone.HboneStream#channel()} must not turn
 * that option back on.
 */
public final class TunnelCodec extends ChannelDuplexHandler implements io.zerohop.hbone.TunnelCounters {

    public interface Listener {
        /** The first HEADERS frame of the stream (request on the server, response on the client). */
        void onHeaders(ChannelHandlerContext ctx, Http2Headers headers, boolean endStream);

        /**
         * Client: the tunnel ended before its first read and {@code kept} holds what it delivered for
         * handlers attached later ({@link #replayEnded}). The listener drops it (its {@code run()})
         * when nobody can read it any more. Event loop.
         */
        default void keptUnread(Kept kept) {}

        /** Delivered DATA bytes went back to the stream's and the connection's receive windows. Event loop. */
        default void windowReturned() {}

        /** {@code kept} was replayed to handlers or dropped by the application. Event loop. */
        default void unreadGone(Kept kept) {}

        /** The stream channel went inactive. */
        void onClosed(TunnelCodec codec);
    }

    /**
     * What a client tunnel delivered before anything above the codec first read, when the tunnel
     * ended that way (a reset or close right after the 200): kept on the closed channel for
     * {@link #replayEnded}, since Netty delivers nothing to handlers added to a closed channel.
     */
    static final AttributeKey<Ended> UNREAD = AttributeKey.valueOf(TunnelCodec.class, "unread");

    /** {@link #UNREAD}'s value: the codec (Netty removes it from the closed pipeline) and what it kept. Event loop only. */
    static final class Ended {
        final TunnelCodec codec;
        /** The kept messages and events, in order; null when nothing was kept. */
        final Kept kept;

        Ended(TunnelCodec codec, Kept kept) {
            this.codec = codec;
            this.kept = kept;
        }

        /** What is kept, handed over once (null after that, or once dropped). */
        ArrayDeque<Object> take() {
            if (kept == null) {
                return null;
            }
            ArrayDeque<Object> q = kept.take();
            codec.listener.unreadGone(kept);
            return q;
        }
    }

    /**
     * What a client tunnel that ended before its first read keeps for handlers attached later: the
     * messages (reference counted) and end events, in order. Taken once, by the replay on the event
     * loop or by {@link #run()}, which releases them from any thread: the client's close, or a
     * {@link java.lang.ref.Cleaner} once the application dropped the tunnel unread (neither can read
     * them any more). Holds no reference to the tunnel, so that it can become unreachable.
     */
    public static final class Kept implements Runnable {
        private ArrayDeque<Object> items;

        Kept(ArrayDeque<Object> items) {
            this.items = items;
        }

        synchronized ArrayDeque<Object> take() {
            ArrayDeque<Object> q = items;
            items = null;
            return q;
        }

        /** Payload bytes still kept (tests). */
        synchronized long bytes() {
            long n = 0;
            if (items != null) {
                for (Object m : items) {
                    n += m instanceof ByteBuf b ? b.readableBytes() : 0;
                }
            }
            return n;
        }

        /** Releases what is still kept; any thread, idempotent. */
        @Override
        public void run() {
            ArrayDeque<Object> q = take();
            if (q != null) {
                q.forEach(ReferenceCountUtil::release);
            }
        }
    }

    /** Payload bytes a client tunnel keeps unread: in its hold while open, on the channel once it ended. Event loop (tests). */
    static long unreadBytes(Channel ch) {
        TunnelCodec c = ch.pipeline().get(TunnelCodec.class);
        if (c != null && c.hold != null) {
            return c.hold.heldBytes();
        }
        Ended e = ch.hasAttr(UNREAD) ? ch.attr(UNREAD).get() : null;
        return e == null || e.kept == null ? 0 : e.kept.bytes();
    }

    /**
     * On a connection channel whose peer sent GOAWAY(NO_ERROR): that connection's TLS close future
     * ({@code SslHandler.sslCloseFuture()}, a success once the peer's close_notify arrived), kept
     * because the handler may be gone from the pipeline by the time a stream reads it.
     */
    private static final AttributeKey<io.netty.util.concurrent.Future<Channel>> PEER_GOAWAY =
            AttributeKey.valueOf(TunnelCodec.class, "peerGoAway");

    /**
     * Notes a GOAWAY the client of server connection {@code connection} sent: with NO_ERROR,
     * followed by the client's TLS close_notify, it says the client closed the connection on purpose
     * (what {@code HboneClient.close} sends, and hyper/h2's client when it closes a connection,
     * src/proto/connection.rs {@code go_away_now(NO_ERROR)} then the codec's shutdown), so the
     * streams still open when it closes end as the client's RST_STREAM NO_ERROR ends them
     * ({@link #channelInactive}). A lost connection sends neither. The client side does not apply it
     * (a server's GOAWAY and close with tunnels open stays a reset there, as before). Event loop of
     * {@code connection}; the frame is not released.
     */
    static void goAwayReceived(Channel connection, io.netty.handler.codec.http2.Http2GoAwayFrame goAway) {
        if (goAway.errorCode() != Http2Error.NO_ERROR.code()) {
            return;
        }
        io.netty.handler.ssl.SslHandler tls = connection.pipeline().get(io.netty.handler.ssl.SslHandler.class);
        if (tls != null) {
            connection.attr(PEER_GOAWAY).set(tls.sslCloseFuture());
        }
    }

    /** True when the peer of {@code stream}'s connection sent GOAWAY(NO_ERROR) and then TLS close_notify ({@link #goAwayReceived}). */
    private static boolean connectionClosedByPeer(Channel stream) {
        Channel parent = stream.parent();
        if (parent == null || !parent.hasAttr(PEER_GOAWAY)) {
            return false;
        }
        io.netty.util.concurrent.Future<Channel> tlsClosed = parent.attr(PEER_GOAWAY).get();
        return tlsClosed != null && tlsClosed.isSuccess();
    }

    /** The codec of tunnel channel {@code ch}, also once Netty removed it from the closed channel's pipeline after an unread end; or null. */
    static TunnelCodec of(Channel ch) {
        TunnelCodec c = ch.pipeline().get(TunnelCodec.class);
        if (c == null && ch.hasAttr(UNREAD)) {
            Ended e = ch.attr(UNREAD).get();
            c = e == null ? null : e.codec;
        }
        return c;
    }

    private final Listener listener;
    /** Client side: an end before the first read is kept for handlers attached later ({@link #UNREAD}). */
    private final boolean keepsUnread;
    private final long startNanos = System.nanoTime();
    private volatile ChannelHandlerContext ctx;
    /** Added behind the codec only when something arrives before the first read (rarely). */
    private Hold hold;
    // Written on the event loop only; volatile so metrics can read them from another thread.
    private volatile long bytesIn;
    private volatile long bytesOut;
    /**
     * The tunnel's end-path states, one bit each ({@link #HEADERS_SEEN} ... {@link #PEER_CLOSED}): one short instead of
     * nine booleans, 88 bytes per codec instead of 96 (issue 14; benchmarks/results/tunmem-aeb058f.md). Written on the
     * event loop only (so no write loses another's bit), read there and, as the booleans were, without ordering by
     * {@link #inputEnded()} and the other getters.
     */
    private short flags;
    /** Volatile: {@link Tunnels#reset} reads it from any thread. Not a bit of {@link #flags}: it needs its own ordering. */
    private volatile boolean rstReceived;
    // Its connection's TunnelSet (an intrusive list: no node object per tunnel). Event loop only.
    TunnelSet set;
    TunnelCodec prevInSet;
    TunnelCodec nextInSet;
    Channel channel;
    /** The graceful close's linger deadline, while one is pending. */
    TunnelSet.Deadline linger;
    /** The connection whose local flow controller this codec returns bytes to; null when Netty does (not a stream channel). */
    private Http2Connection flowConnection;
    /** DATA bytes (padding included) delivered since the window was last returned. Event loop only. */
    private int unreturned;
    /** What few tunnels need ({@link Rare}), made when first needed; most tunnels pay only this reference (issue 14). */
    Rare rare;

    /** The response's HEADERS (the first non-interim one) arrived. */
    private static final short HEADERS_SEEN = 1;
    /** {@link #open()}: data goes to the handlers above. */
    private static final short OPEN = 1 << 1;
    /** What was held went up (or was dropped): nothing is kept any more. */
    private static final short RELEASED = 1 << 2;
    /** The peer's END_STREAM (or an end read as one) arrived. */
    private static final short INPUT_ENDED = 1 << 3;
    /** channelInactive has reached the codec. */
    private static final short INACTIVE_SEEN = 1 << 4;
    /**
     * A read of the stream channel was asked for ({@link #read0}) and its {@code channelReadComplete} has not come yet:
     * a DATA frame arriving now is delivered at once, not queued ({@link #waits}).
     */
    private static final short READ_PENDING = 1 << 5;
    /** This side's END_STREAM went out. */
    private static final short OUTPUT_ENDED = 1 << 6;
    /** The peer reset the stream with an error (RST_STREAM other than NO_ERROR or CANCEL): {@link #wasReset()}. */
    private static final short RESET = 1 << 7;
    /** The peer ended the stream on purpose: RST_STREAM NO_ERROR or CANCEL, or its connection closed after GOAWAY NO_ERROR. */
    private static final short PEER_CLOSED = 1 << 8;

    private boolean is(short flag) {
        return (flags & flag) != 0;
    }

    /** Event loop only. */
    private void set(short flag) {
        flags |= flag;
    }

    /** Event loop only. */
    private void clear(short flag) {
        flags &= (short) ~flag;
    }

    /** A tunnel's rarely needed state. Event loop only. */
    static final class Rare {
        /** DATA frames {@link InboundFrames} counted as waiting in the tunnel's channel, not read yet (both sides; only the server's budgets use the count). */
        int frames;
        /** Their flow-controlled bytes (payload and padding). */
        int bytes;
        /** The tunnel's stream closed with frames still queued: {@link InboundFrames} counts their bytes. */
        boolean streamGone;
        /**
         * The {@link QueuedDataFrame} {@link InboundFrames} made last for this tunnel, while it waits in the channel's
         * queue and may take the stream's next small frames; null once read, or when the last frame was not one.
         */
        QueuedDataFrame last;
        /** The server's limit that reset this tunnel (one of {@link io.zerohop.hbone.TunnelResult#LIMITS}), or null. */
        String resetBy;
        /** The first RST_STREAM's error code received, or -1 ({@link io.zerohop.hbone.TunnelResult#resetCode}). */
        long rstCode = -1;
        /**
         * The error of a stream error Netty's codec found in what the peer sent on this stream (a second HEADERS, a
         * pseudo-header in trailers, a WINDOW_UPDATE of 0 or past 2^31-1, DATA past content-length), or null. The
         * multiplexer fires it into the stream's pipeline before it resets the stream with that code itself; the relay's
         * abort then writes this code, not CONNECT_ERROR (RFC 9113 section 5.4.2).
         */
        Http2Error streamError;
        /** That stream error's message (Netty's text, e.g. "Header size exceeded max allowed size (16384)"), or null. */
        String streamErrorText;
    }

    /** The error code a reset of this tunnel sends: a stream error's own (see {@link Rare#streamError}), else CONNECT_ERROR. */
    Http2Error resetError() {
        return rare != null && rare.streamError != null ? rare.streamError : Http2Error.CONNECT_ERROR;
    }

    /**
     * Records a stream error of Netty's codec for this stream (RFC 9113 section 5.4.2: the RST_STREAM carries its code)
     * before the handlers behind see the exception and abort the tunnel.
     */
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) throws Exception {
        if (io.netty.handler.codec.http2.Http2CodecUtil.getEmbeddedHttp2Exception(cause) instanceof Http2Exception.StreamException se
                && ctx.channel() instanceof Http2StreamChannel sc && sc.stream() != null && se.streamId() == sc.stream().id()) {
            if (rare == null) {
                rare = new Rare();
            }
            if (rare.streamError == null) {
                rare.streamError = se.error();
                rare.streamErrorText = se.getMessage();
            }
        }
        ctx.fireExceptionCaught(cause);
    }

    /**
     * Whether a DATA frame handed to this tunnel's channel now will wait in its queue: the channel does not read by
     * itself (auto-read off, as every tunnel's is) and no read asked for is under way ({@link #readPending}: the tunnel
     * not open yet, its relay paused by a writer that does not keep up, an application that stopped asking), or it has
     * frames waiting already. A tunnel that keeps up has its frames delivered at once and never copied. Event loop only.
     */
    boolean waits() {
        return rare != null && rare.frames > 0 || channel == null || !is(READ_PENDING) && !channel.config().isAutoRead();
    }

    public TunnelCodec(Listener listener) {
        this(listener, false);
    }

    /**
     * @param keepsUnread true on the client: the tunnel is handed to an application that adds its
     *     handlers later, maybe after the tunnel already ended ({@link #replayEnded})
     */
    TunnelCodec(Listener listener, boolean keepsUnread) {
        this.listener = listener;
        this.keepsUnread = keepsUnread;
    }

    public long startNanos() {
        return startNanos;
    }

    public long bytesIn() {
        return bytesIn;
    }

    public long bytesOut() {
        return bytesOut;
    }

    @Override
    public long bytesReceived() {
        return bytesIn;
    }

    @Override
    public long bytesSent() {
        return bytesOut;
    }

    @Override
    public void abort() {
        ChannelHandlerContext c = ctx;
        if (c != null) {
            Tunnels.reset(c.channel());
        }
    }

    public boolean inputEnded() {
        return is(INPUT_ENDED);
    }

    public boolean outputEnded() {
        return is(OUTPUT_ENDED);
    }

    /** The server's limit that reset this tunnel (one of {@link io.zerohop.hbone.TunnelResult#LIMITS}), or null. */
    public String resetBy() {
        Rare r = rare;
        return r == null ? null : r.resetBy;
    }

    /** True when the peer sent RST_STREAM with any code (NO_ERROR and CANCEL included). */
    public boolean rstReceived() {
        return rstReceived;
    }

    /** The error code of the first RST_STREAM the peer sent, any code, or -1 when none. */
    public long rstCode() {
        Rare r = rare;
        return r == null ? -1 : r.rstCode;
    }

    /** True when the stream was reset by the peer (RST_STREAM received). */
    public boolean wasReset() {
        return is(RESET);
    }

    /**
     * True when the tunnel ended without an error: both directions ended with END_STREAM, or the
     * peer closed the stream with RST_STREAM NO_ERROR or CANCEL after or instead of its END_STREAM.
     */
    public boolean completed() {
        return is(INPUT_ENDED) && (is(OUTPUT_ENDED) || is(PEER_CLOSED)) && !is(RESET);
    }

    /**
     * The tunnel is open: from now on data goes to the handlers above, starting with what was held,
     * once they ask to read (auto-read or an explicit {@code read()}). Call on the event loop.
     */
    public void open() {
        set(OPEN);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        if (ctx.channel() instanceof Http2StreamChannel stream && stream.parent() != null) {
            Http2FrameCodec h2 = stream.parent().pipeline().get(Http2FrameCodec.class);
            if (h2 != null && stream.config().setOption(Http2StreamChannelOption.AUTO_STREAM_FLOW_CONTROL, false)) {
                flowConnection = h2.connection();
            }
        }
        if (ctx.channel().isActive()) {
            read0(ctx);
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        read0(ctx);
        ctx.fireChannelActive();
    }

    /** Asks the stream channel for more, returning first what was delivered since the last ask (as Netty's beginRead does). */
    private void read0(ChannelHandlerContext ctx) {
        if (unreturned != 0) {
            returnWindow(ctx);
        }
        set(READ_PENDING);
        ctx.read();
    }

    /**
     * Hands the delivered bytes back to the stream's and the connection's receive windows. A
     * WINDOW_UPDATE the flow controller writes for them is flushed at once (Netty's stream channel
     * flushes it with its next flush; inside a read of the connection the connection handler flushes
     * again when the read completes). A failure closes the stream, as Netty's stream channel does
     * when its window update fails.
     */
    private void returnWindow(ChannelHandlerContext ctx) {
        int n = unreturned;
        unreturned = 0;
        // Looked up each time (a hash lookup), not kept: one field fewer on every tunnel (issue 14's footprint).
        Http2Stream stream = flowConnection.stream(((Http2StreamChannel) ctx.channel()).stream().id());
        try {
            if (flowConnection.local().flowController().consumeBytes(stream, n)) {
                ctx.channel().parent().flush();
            }
            listener.windowReturned();
        } catch (Http2Exception | RuntimeException e) {
            ctx.fireExceptionCaught(e);
            ctx.channel().close();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2DataFrame data) {
            if (rare != null && rare.last == data) {
                rare.last = null; // nothing more is appended to a frame being read
            }
            if (rare != null && rare.frames > 0) {
                // Still in its set: TunnelSet#remove settles what is left.
                set.frames.read(rare, data.initialFlowControlledBytes());
            }
            if (flowConnection != null) {
                // Counted as the stream channel counts it, every DATA frame it delivers: returned on the next read request.
                unreturned += data.initialFlowControlledBytes();
            }
            boolean end = data.isEndStream();
            ByteBuf content = data.content();
            if (!is(HEADERS_SEEN) || is(INPUT_ENDED)) {
                // Not before the CONNECT response on a client: the codec makes that a connection error, as hyperium/h2
                // (H2Codecs.StreamIdGuard#logData); until helper 315 it was this stream's error, reset here.
                data.release();
                return;
            }
            if (content.isReadable()) {
                bytesIn += content.readableBytes();
                deliver(content);
            } else {
                content.release();
            }
            if (end) {
                set(INPUT_ENDED);
                deliver(ChannelInputShutdownEvent.INSTANCE);
            }
        } else if (msg instanceof Http2HeadersFrame headers) {
            if (!is(HEADERS_SEEN) && keepsUnread && !headers.isEndStream() && interim(headers.headers().status())) {
                // An interim response to the CONNECT (100 Continue, 103 Early Hints): hyperium/h2, ztunnel's client, skips
                // 1xx HEADERS and waits for the final response (src/proto/streams/recv.rs recv_headers, 0.4.14: only a
                // non-informational one is queued). It used to be taken as a refusal with that status (helper 263).
                return;
            }
            if (!is(HEADERS_SEEN)) {
                set(HEADERS_SEEN);
                if (keepsUnread && set != null && set.frames != null && ctx.channel() instanceof Http2StreamChannel sc) {
                    // The client's stream has its id now; the server's tunnels were attached as they joined their set.
                    set.frames.attach(sc.stream().id(), this);
                }
                if (headers.isEndStream()) {
                    set(INPUT_ENDED);
                }
                listener.onHeaders(ctx, headers.headers(), headers.isEndStream());
                if (is(OPEN) && keepsUnread && headers.isEndStream()) {
                    // A 200 that ends the server's side at once (HEADERS with END_STREAM): the tunnel is open and its
                    // input has ended, as h2 hands ztunnel a response whose body is already at its end.
                    deliver(ChannelInputShutdownEvent.INSTANCE);
                }
            } else if (headers.isEndStream() && !is(INPUT_ENDED)) {
                // Trailers: HBONE has none to act on, but they end the stream.
                set(INPUT_ENDED);
                deliver(ChannelInputShutdownEvent.INSTANCE);
            }
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    /** A 1xx {@code :status}. */
    private static boolean interim(CharSequence status) {
        return status != null && status.length() == 3 && status.charAt(0) == '1'
                && Character.isDigit(status.charAt(1)) && Character.isDigit(status.charAt(2));
    }

    /**
     * Netty's multiplexer passes RST_STREAM to the stream as a user event, ahead of any DATA still
     * waiting for a read. An error code is an abort: {@link HboneStream.Reset} goes up at once.
     * NO_ERROR and CANCEL are read as ztunnel reads them (src/proxy/h2.rs): the peer is done, not
     * failing, so the handlers above see the end of input after the last DATA, when the stream
     * closes, and the far application gets a FIN (aborts carry CONNECT_ERROR, see Tunnels.reset).
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (!(evt instanceof Http2ResetFrame rst)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        rstReceived = true;
        long code = rst.errorCode();
        if (rare == null) {
            rare = new Rare();
        }
        if (rare.rstCode < 0) {
            rare.rstCode = code;
        }
        if (code == Http2Error.NO_ERROR.code() || code == Http2Error.CANCEL.code()) {
            set(PEER_CLOSED);
            if (!is(OPEN)) {
                // Ended before the tunnel opened: nothing to deliver. Closing ends whatever the
                // opening was waiting for (an upstream dial), so CONNECT+RST costs nothing further.
                closeAfterReset(ctx.channel());
            }
        } else if (!is(RESET)) {
            set(RESET);
            deliver(new HboneStream.Reset(code));
            // An abort discards what the reader has not taken yet, as a TCP reset does. Netty keeps a
            // stream channel whose reader stopped open until it reads again, with everything queued
            // (up to a stream window); closing it here frees that at once.
            closeAfterReset(ctx.channel());
        }
    }

    /**
     * Closes the stream channel once Netty has closed the stream, which it does right after this
     * event returns. Closed during the event, with the stream still open in the codec, the channel
     * would answer the peer's RST_STREAM with one of its own (CANCEL): RFC 9113 section 5.4.2 says
     * "an endpoint MUST NOT send a RST_STREAM in response to a RST_STREAM frame", and under a rapid
     * reset flood that answer doubled the frames, TLS records and writes per reset.
     */
    static void closeAfterReset(Channel ch) {
        ch.eventLoop().execute(() -> ch.close());
    }

    private void deliver(Object msg) {
        if (!is(RELEASED) && hold == null) {
            // The client's hold takes whatever arrives until its application first reads; the server's only what
            // came with the CONNECT (its codec reads once before the tunnel opens).
            hold = keepsUnread ? Hold.mergingSmallBuffers() : new Hold();
            HbonePipeline.holdAfter(ctx, hold);
        }
        if (msg instanceof ByteBuf) {
            ctx.fireChannelRead(msg);
        } else {
            ctx.fireUserEventTriggered(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // The stream channel's read is over: what arrives from now on waits in its queue until the next read.
        clear(READ_PENDING);
        if (is(RELEASED)) {
            ctx.fireChannelReadComplete();
        } else if (is(OPEN) && keepsUnread && ctx.channel().isActive()) {
            // Handed over, not read yet: what follows the 200 goes into the hold, not Netty's queue,
            // which Netty drops when the peer's RST_STREAM (CANCEL too) closes the stream. Bounded
            // by the stream window as before: none of it is returned until the handlers read.
            set(READ_PENDING);
            ctx.read();
        }
    }

    @Override
    public void read(ChannelHandlerContext ctx) {
        if (!is(OPEN)) {
            // The codec alone decides when to read until the tunnel is open.
            return;
        }
        if (!is(RELEASED)) {
            set(RELEASED);
            if (hold != null) {
                Hold h = hold;
                hold = null;
                h.release();
            }
        }
        read0(ctx);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf buf) {
            if (is(OUTPUT_ENDED)) {
                buf.release();
                promise.setFailure(new ClosedChannelException());
                return;
            }
            bytesOut += buf.readableBytes();
            ctx.write(new DefaultHttp2DataFrame(buf, false), promise);
        } else {
            if (msg instanceof Http2DataFrame data) {
                bytesOut += data.content().readableBytes();
                if (data.isEndStream()) {
                    set(OUTPUT_ENDED);
                }
            } else if (msg instanceof Http2HeadersFrame h && h.isEndStream()) {
                set(OUTPUT_ENDED);
            }
            ctx.write(msg, promise);
        }
    }

    /**
     * The tunnel ended before the handlers above first read: what the hold kept (the bytes, unless
     * the peer aborted, and the end of input or the {@link HboneStream.Reset}) goes to handlers
     * already added now, ahead of {@code channelInactive}; with none yet it stays on the channel
     * ({@link #UNREAD}) for {@link #replayEnded}. h2's client answers the same way (what ztunnel
     * uses, istio/ztunnel src/proxy/h2/client.rs: the response's body stream is handed over, and
     * a reset already received is only reported when that stream is read, src/proxy/h2.rs
     * {@code poll_bytes}).
     */
    private void keepUnread(ChannelHandlerContext ctx) {
        set(RELEASED);
        Hold h = hold;
        hold = null;
        ArrayDeque<Object> items = h == null ? null : h.take();
        if (items != null && is(RESET)) {
            // An abort discards what the reader has not taken yet, as a TCP reset does (userEventTriggered).
            items.removeIf(m -> {
                if (m instanceof ByteBuf b) {
                    b.release();
                    return true;
                }
                return false;
            });
        }
        if (ctx.pipeline().last() != this) {
            replay(ctx, items);
        } else {
            Kept kept = items == null || items.isEmpty() ? null : new Kept(items);
            ctx.channel().attr(UNREAD).set(new Ended(this, kept));
            if (kept != null) {
                listener.keptUnread(kept);
            }
        }
    }

    /** Fires {@code items} in order from {@code from} (a context: to the handlers after it; a pipeline: to all), then one read complete. */
    private static void replay(ChannelInboundInvoker from, ArrayDeque<Object> items) {
        if (items == null || items.isEmpty()) {
            return;
        }
        for (Object m; (m = items.poll()) != null; ) {
            if (m instanceof ByteBuf) {
                from.fireChannelRead(m);
            } else {
                from.fireUserEventTriggered(m);
            }
        }
        from.fireChannelReadComplete();
    }

    /**
     * For handlers just added to a tunnel channel that is no longer active (Netty delivers nothing
     * to them): what the tunnel kept when it ended before its first read ({@link #keepUnread}),
     * then {@code channelInactive}. Event loop only; the kept part once.
     */
    static void replayEnded(Channel ch) {
        // Netty removes a closed channel's handlers when it deregisters it: usually the codec is gone.
        ChannelHandlerContext codec = ch.pipeline().context(TunnelCodec.class);
        if (codec != null && !((TunnelCodec) codec.handler()).is(INACTIVE_SEEN)) {
            // Closed, but its channelInactive is still a task of the loop's: that reaches the new
            // handlers with the rest (keepUnread).
            return;
        }
        Ended ended = ch.hasAttr(UNREAD) ? ch.attr(UNREAD).get() : null;
        ArrayDeque<Object> items = ended == null ? null : ended.take();
        ChannelInboundInvoker from = codec != null ? codec : ch.pipeline();
        replay(from, items);
        from.fireChannelInactive();
    }

    /**
     * The application closes or resets a client tunnel it never read (nothing above the codec asked
     * to read): what the hold keeps goes now, and nothing is kept at the end. Before, an END_STREAM
     * already held made the graceful close skip its discard, and the end then kept everything on
     * the channel for an attach that would never come. Event loop only; no-op once read.
     */
    void abandon() {
        if (!keepsUnread || is(RELEASED)) {
            return;
        }
        set(RELEASED);
        Hold h = hold;
        hold = null;
        ArrayDeque<Object> items = h == null ? null : h.take();
        if (items != null) {
            items.forEach(ReferenceCountUtil::release);
        }
    }

    /** Releases what {@link #keepUnread} kept, for an application that closes the tunnel without reading it. Event loop only. */
    static void dropUnread(Channel ch) {
        if (!ch.hasAttr(UNREAD)) {
            return;
        }
        Ended ended = ch.attr(UNREAD).get();
        ArrayDeque<Object> items = ended == null ? null : ended.take();
        if (items != null) {
            items.forEach(ReferenceCountUtil::release);
        }
    }

    /**
     * The tunnel's HBONE connection has closed with this tunnel's channel still open (lost, or cut
     * by this side at a deadline), and {@link TunnelSet} is about to close the channel: when the stream had
     * already ended both ways on the wire (Netty's stream state CLOSED: our END_STREAM out, the
     * peer's in, no reset), what the peer sent last and its END_STREAM may still wait in Netty's
     * stream channel for a reader that had not asked yet (an application that had not read, a relay
     * paused by back-pressure). They are read now, so the reader gets them and the tunnel ends as it
     * did on the wire, complete; closed unread, they were dropped and the tunnel counted as a reset.
     * ztunnel's h2 leaves a stream closed by END_STREAM so when the connection ends, its data still
     * readable (hyperium/h2 src/proto/streams/state.rs {@code recv_eof}). A client tunnel not yet
     * handed to a reader already reads everything into its hold. Event loop only.
     */
    void connectionLost() {
        ChannelHandlerContext c = ctx;
        if (c == null || !is(OPEN) || is(INPUT_ENDED) || rstReceived || keepsUnread && !is(RELEASED)
                || !(c.channel() instanceof Http2StreamChannel s) || s.stream().state() != Http2Stream.State.CLOSED) {
            return;
        }
        read(c);
    }

    /** The tunnel's channel, once the codec is in a pipeline (null before). Also mesh-core's, to mark why it aborts one. */
    public Channel channel() {
        return channel;
    }

    /** The tunnel has ended: it leaves its connection's set and its linger deadline, if any. Idempotent. */
    private void leave() {
        if (linger != null) {
            linger.cancel();
            linger = null;
        }
        if (set != null) {
            set.remove(this);
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        leave();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        set(INACTIVE_SEEN);
        leave();
        // Handed over, but nothing above has asked to read yet: the peer reset or closed the stream,
        // or the connection died, right after the 200 (one read can carry the 200 and the reset).
        boolean unread = keepsUnread && is(OPEN) && !is(RELEASED);
        if (!rstReceived && !(is(INPUT_ENDED) && is(OUTPUT_ENDED)) && connectionClosedByPeer(ctx.channel())) {
            // The peer closed its connection on purpose with this tunnel open (GOAWAY NO_ERROR, then
            // close_notify): the end of its data, as its RST_STREAM NO_ERROR would be. A connection
            // lost has neither, and its open tunnels stay resets (the README's end rule).
            set(PEER_CLOSED);
        }
        if (is(PEER_CLOSED) && !is(INPUT_ENDED) && !is(RESET) && is(HEADERS_SEEN)) {
            set(INPUT_ENDED);
            if (is(RELEASED) || unread) {
                // Unreleased on a server tunnel, it would only be dropped with the rest the hold keeps.
                deliver(ChannelInputShutdownEvent.INSTANCE);
            }
        }
        if (unread) {
            keepUnread(ctx);
        }
        // The handlers above first (the relay resets its other end: SO_LINGER 0 is set before this
        // returns), the listener last: it reports the tunnel closed, which may finish a drain and let
        // the process exit, and the exit would end a socket not yet reset with a FIN, a clean end
        // where an abort was due (AbortResetsBeforeClosedTest).
        try {
            ctx.fireChannelInactive();
        } finally {
            listener.onClosed(this);
        }
    }
}
