package io.zerohop.hbone.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2ConnectionDecoder;
import io.netty.handler.codec.http2.DefaultHttp2FrameReader;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2RemoteFlowController;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2ConnectionEncoder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameLogger;
import io.netty.handler.codec.http2.Http2FrameReader;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2InboundFrameLogger;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.StreamByteDistributor;
import io.netty.handler.codec.http2.UniformStreamByteDistributor;
import io.netty.handler.logging.LogLevel;

/**
 * Http2FrameCodec factory, tuned for tunnels that carry bulk bytes:
 * <ul>
 *   <li>Each active stream gets up to {@link #ALLOCATION_QUANTUM} bytes per round of the byte
 *       distributor (Netty's default is 1 KiB: with many busy tunnels every DATA frame shrank to
 *       1 KiB, a frame header and a buffer per KiB). The distributor is Netty's uniform one, a
 *       round robin over the streams with bytes to send and window to send them, each turn at least
 *       the quantum (more when the connection can take more than the quantum per stream), as
 *       hyperium/h2 turns its streams; no priority tree.</li>
 *   <li>The decoder cumulates what TLS hands it as a composite buffer
 *       ({@link ByteToMessageDecoder#COMPOSITE_CUMULATOR}), not by copying: a DATA frame spans several
 *       TLS records, so with Netty's default every byte after the first read of a frame was copied,
 *       often into a freshly allocated, larger buffer (issue 14: 7 % of the HBONE event loops' CPU on
 *       the embedded bulk path, under 1 % with the composite). The DATA payload handed on is then a
 *       slice of that composite, which a socket writes with one {@code writev}.</li>
 * </ul>
 */
final class H2Codecs {
    /**
     * 1 MiB, the largest DATA frame zerohop and ztunnel accept (ztunnel's {@code HTTP2_FRAME_SIZE},
     * src/config.rs; {@link H2Config#DEFAULT_MAX_FRAME_SIZE}). ztunnel's h2 sends each stream's DATA
     * one frame of up to the peer's maximum frame size at a time, round robin (hyperium/h2
     * src/proto/streams/prioritize.rs, {@code pop_frame}); this quantum gives the same turns
     * against a peer with zerohop's or ztunnel's frame size. It was 64 KiB: with several busy streams
     * (the quantum plays no part for a lone one) each stream's bytes went out in 64 KiB DATA frames,
     * and each frame header starts a TLS record that SslHandler fills by copying the payload after it
     * (issue 14: the HTTP/2 encoder and those copies took 11 % of the HBONE event loops' CPU on the
     * embedded bulk path, 7 % with this quantum).
     * Fairness between streams is still per round; a stream whose window is closed gets nothing, so
     * it cannot hold the others back (HeadOfLineTest, ZeroWindowTest).
     */
    static final int ALLOCATION_QUANTUM = H2Config.DEFAULT_MAX_FRAME_SIZE;
    /**
     * RST_STREAM frames a peer may send, and we may send, per second on one connection before it is
     * torn down (Netty's "rapid reset" guards). Netty's default, 200 per 30 s, is sized for request/response traffic: a
     * pooled HBONE connection whose peer closes tunnels by resetting them (nghttpx does, and any app
     * reset becomes one) passes that within seconds and every tunnel on it dies. 10,000/s is above
     * the tunnel-open rate one connection sustains here (about 7,000/s) and still bounds a flood.
     */
    static final int MAX_RST_FRAMES_PER_SECOND = 10_000;
    /**
     * The encoded size (HEADERS plus CONTINUATION payload, in bytes) at which either side's Netty frame reader stops
     * collecting a header block and ends the connection (GOAWAY): 1.25 MiB, as before 6 December, when it followed from a
     * decoder limit of 1 MiB (Netty's {@code Http2CodecUtil.calculateMaxHeaderListSizeGoAway}, the limit plus a quarter).
     * The decoder's own limit is now the HBONE limit ({@link #server}; the client's 16 KiB since helper 336,
     * {@link #client}): a block over that limit but under this size is decoded to the end, HPACK state in step, and
     * refused on its stream only.
     */
    static final long HEADER_BLOCK_GOAWAY_LIMIT = 1024 * 1024 + 256 * 1024;
    /**
     * Header block fragments under 8 KiB (Netty's threshold) that a peer may send in a row without END_HEADERS, the
     * HEADERS frame's own included, before this side ends the connection with GOAWAY ENHANCE_YOUR_CALM (a CONTINUATION
     * flood), with ztunnel's settings on either side: 7. hyperium/h2 (ztunnel's HTTP/2, client and server alike) allows
     * {@code max(5, 1.25 * max_header_list_size / max_frame_size)} CONTINUATION frames without END_HEADERS
     * (src/codec/framed_read.rs {@code calc_max_continuation_frames}, from its own advertised settings), 5 with ztunnel's
     * server settings (64 KiB list, 1 MiB frames, src/proxy/h2/server.rs) and with its client's (16 KiB list, 1 MiB
     * frames, src/proxy/h2/client.rs): HEADERS, five CONTINUATION and a last one with END_HEADERS. Netty's count takes
     * the HEADERS frame in and is checked before a CONTINUATION frame is read, its flags unseen, so h2's bound plus 2
     * lets every block h2 lets through and refuses a flood one frame after h2 does ({@link #maxSmallContinuationFrames}).
     * Netty's default is 16.
     */
    static final int MAX_SMALL_CONTINUATION_FRAMES = maxSmallContinuationFrames(64 * 1024, H2Config.DEFAULT_MAX_FRAME_SIZE);

    /**
     * Streams one connection may reset for the peer's errors over its lifetime before it goes away with GOAWAY
     * ENHANCE_YOUR_CALM, "too_many_internal_resets": hyperium/h2's {@code DEFAULT_LOCAL_RESET_COUNT_MAX} (src/proto/mod.rs),
     * its {@code max_local_error_reset_streams} on client and server alike, which ztunnel leaves at its default (istio/ztunnel
     * src/proxy/h2/client.rs and server.rs set no such limit). h2's answer to "MadeYouReset" (CVE-2025-8671): frames
     * that make this side reset streams (a WINDOW_UPDATE past 2^31-1, malformed header blocks, content-length overruns)
     * free their concurrency slots while the work they started goes on, outside the per-second RST_STREAM bound of
     * {@link #MAX_RST_FRAMES_PER_SECOND} when they come slowly enough. Counted in {@code Codec#onError} for what Netty's
     * codec finds and through {@link #localErrorReset} for what zerohop's own handlers do; resets an application asks
     * for (a tunnel's abort or cancel, a refusal with NO_ERROR) are not counted, nor REFUSED_STREAM, as in h2; nor,
     * unlike h2, frames on a stream Netty no longer has ({@code Codec#countedAsLocalErrorReset}).
     */
    static final int MAX_LOCAL_ERROR_RESETS = 1024;
    /** The GOAWAY's debug data past {@link #MAX_LOCAL_ERROR_RESETS}, h2's (streams.rs {@code Actions::send_reset}). */
    static final String TOO_MANY_INTERNAL_RESETS = "too_many_internal_resets";

    private H2Codecs() {}

    /**
     * The small-fragment bound (Netty's {@code decoderEnforceMaxSmallContinuationFrames}) that refuses the header
     * blocks hyperium/h2 refuses for a side advertising {@code maxHeaderListSize} and {@code maxFrameSize}: h2's
     * {@code calc_max_continuation_frames} (src/codec/framed_read.rs), {@code max(5, n + n / 4)} with
     * {@code n = max(1, maxHeaderListSize / maxFrameSize)} CONTINUATION frames without END_HEADERS, plus the HEADERS
     * frame Netty counts and the one more fragment it reads before it checks ({@link #MAX_SMALL_CONTINUATION_FRAMES}).
     */
    static int maxSmallContinuationFrames(long maxHeaderListSize, long maxFrameSize) {
        long n = Math.max(1, maxHeaderListSize / maxFrameSize);
        long h2 = Math.max(5, n + (n >> 2));
        return (int) Math.min(Integer.MAX_VALUE, h2 + 2);
    }

    /** {@link #maxSmallContinuationFrames} for {@code settings}, Netty's defaults for what they leave unset. */
    private static int maxSmallContinuationFrames(Http2Settings settings) {
        Long list = settings.maxHeaderListSize();
        Integer frame = settings.maxFrameSize();
        return maxSmallContinuationFrames(list == null ? Http2CodecUtil.DEFAULT_HEADER_LIST_SIZE : list,
                frame == null ? Http2CodecUtil.DEFAULT_MAX_FRAME_SIZE : frame);
    }

    /**
     * The server's codec. {@code settings.maxHeaderListSize()} (the HBONE limit, 64 KiB by default as ztunnel's server)
     * is advertised as SETTINGS_MAX_HEADER_LIST_SIZE, as ztunnel's server advertises the 65,536 it gives hyperium/h2
     * (ztunnel src/proxy/h2/server.rs {@code max_header_list_size(65536)}; h2 src/server.rs {@code handshake2} sends the
     * builder's settings as its first SETTINGS frame), and is the HPACK decoder's per-stream limit: past it Netty's
     * decoder (HpackDecoder's {@code Http2HeadersSink}) stops keeping fields but decodes the block to its end, so the
     * dynamic table stays in step, then fails the stream with a {@code HeaderListSizeException}, which Netty's
     * {@code Http2ConnectionHandler.onStreamError} answers on a server with {@code :status 431} (END_STREAM) and
     * RST_STREAM PROTOCOL_ERROR; the connection and its other streams go on. That is hyperium/h2's answer too
     * (src/frame/headers.rs {@code HeaderBlock::load} stops storing fields once {@code is_over_size}; src/proto/streams/
     * recv.rs {@code recv_headers} builds the 431 with END_STREAM and streams.rs {@code recv_headers} follows it with
     * {@code schedule_implicit_reset(PROTOCOL_ERROR)}). {@link StreamErrors#headerListTooLarge} is told of it.
     * Only a block whose encoded size passes {@link #HEADER_BLOCK_GOAWAY_LIMIT} costs the connection.
     *
     * <p>Until 6 December the decoder's limit, and the value advertised, was 1 MiB, the HBONE limit checked per stream
     * after decoding: the decoder kept every field up to 1 MiB of list, so 30,000 one-byte references to a dynamic table
     * entry (30 KB sent) became 30,000 header entries (1.2 MB allocated) before the 431.
     */
    static Http2FrameCodec server(Http2Settings settings, StreamErrors errors) {
        return server(settings, errors, System::nanoTime);
    }

    /**
     * {@link #server(Http2Settings, StreamErrors)} whose {@link StreamIdGuard} times its one-second hold of reset streams
     * with {@code resetClock} (nanoseconds), so that wire tests can pass the second without waiting it out
     * ({@link HboneListener#resetClock}, {@link Inspect#resetClock}). Read per held-stream lookup, as the guard read
     * {@code System.nanoTime} before.
     */
    static Http2FrameCodec server(Http2Settings settings, StreamErrors errors, java.util.function.LongSupplier resetClock) {
        // h2's bound at the HBONE limit, as ztunnel's server gives h2 its 64 KiB.
        int continuations = maxSmallContinuationFrames(settings);
        Builder builder = new Builder(true, errors, resetClock);
        builder.headerLimits = headerLimits(settings);
        return cumulateWithoutCopies(builder.initialSettings(settings).gracefulShutdownTimeoutMillis(0)
                .decoderEnforceMaxSmallContinuationFrames(continuations).build());
    }

    /**
     * The client's codec. A response header block in more small fragments than hyperium/h2's client allows (5
     * CONTINUATION frames without END_HEADERS with the client's defaults, {@link #maxSmallContinuationFrames}) ends the
     * connection with GOAWAY ENHANCE_YOUR_CALM and fails its tunnels, as h2 does ("too_many_continuations"); it was
     * Netty's 16.
     */
    static Http2FrameCodec client(Http2Settings settings) {
        Builder builder = new Builder(false, null, System::nanoTime);
        builder.headerLimits = headerLimits(settings);
        return cumulateWithoutCopies(builder.initialSettings(settings).encoderEnforceMaxConcurrentStreams(true)
                .gracefulShutdownTimeoutMillis(0).decoderEnforceMaxSmallContinuationFrames(maxSmallContinuationFrames(settings)).build());
    }

    /**
     * The headers decoder's limits for {@code settings}: its per-stream header list limit (the value advertised), past
     * which a block is decoded to its end and fails its stream alone, and the encoded block size that ends the
     * connection, {@link #HEADER_BLOCK_GOAWAY_LIMIT} (or a quarter over the list limit when that is more). On the client
     * too (helper 336): with Netty's own decoder a CONNECT response over 20 KiB encoded (its quarter over the 16 KiB
     * limit, {@code Http2CodecUtil.calculateMaxHeaderListSizeGoAway}) ended the connection, every tunnel on it, where
     * hyperium/h2's client, ztunnel's, decodes a HEADERS frame up to the 1 MiB frame size it advertises and resets that
     * stream alone with PROTOCOL_ERROR (src/codec/framed_read.rs {@code decode_frame}, src/proto/streams/recv.rs
     * {@code recv_headers}: "frame is over size", streams.rs {@code recv_headers}: {@code library_reset}), as Netty's
     * decoder now does below this size ({@code ClientResponseParityTest.aResponseFarOverTheHeaderListLimitCostsOnlyItsStream}).
     */
    private static long[] headerLimits(Http2Settings settings) {
        Long max = settings.maxHeaderListSize();
        long limit = max == null ? Http2CodecUtil.DEFAULT_HEADER_LIST_SIZE : max;
        return new long[] {limit, Math.max(HEADER_BLOCK_GOAWAY_LIMIT, Http2CodecUtil.calculateMaxHeaderListSizeGoAway(limit))};
    }

    /**
     * Told of a stream error Netty's codec found in what the peer sent and answers itself with RST_STREAM, before any
     * handler of the stream sees a frame: a header block RFC 9113 section 8.2 or 8.3 calls malformed (an upper-case name,
     * a connection-specific header, a misplaced or unknown pseudo-header, a control character in a value), which Netty's
     * header validation refuses. A new-user pass found these reset with no line in either log. STREAM_CLOSED is not
     * reported: a frame racing its stream's reset, which is no fault. Connection errors go through
     * {@code exceptionCaught}, which logs them.
     */
    interface StreamErrors {
        /** On the connection's event loop, before the RST_STREAM is written. */
        void streamError(int streamId, Http2Error error, String message);

        /**
         * A request header list over {@code limit} (the HBONE limit, RFC 9113 section 6.5.2 size): Netty's codec answers
         * it with 431 and RST_STREAM PROTOCOL_ERROR ({@link H2Codecs#server}). On the event loop, before the 431.
         */
        void headerListTooLarge(int streamId, long limit);
    }

    /**
     * Netty's frame codec, telling {@link StreamErrors} of the stream errors of received frames, counting them against
     * {@link #MAX_LOCAL_ERROR_RESETS}, and making a WINDOW_UPDATE of 0 a connection error ({@link #zeroIncrement}).
     */
    private static final class Codec extends Http2FrameCodec {
        private final StreamErrors errors;
        /** The server decoder's per-stream header list limit (the HBONE limit); 0 on a client. */
        private final long headerListLimit;
        /** Streams reset (or, on a held stream, not reset again) for the peer's errors so far; event loop only. */
        private int localErrorResets;
        /**
         * {@link #MAX_LOCAL_ERROR_RESETS}, or a test's smaller limit ({@link H2Codecs#localErrorResetLimit}), set before the
         * connection reads a frame.
         */
        private int localErrorResetLimit = MAX_LOCAL_ERROR_RESETS;
        /** True while {@link #onConnectionError} runs: its GOAWAY gets this side's last-stream-id ({@link #goAway}). */
        private boolean connectionError;
        /** The error code of the last GOAWAY this side wrote, -1 before the first ({@link #goAway}); event loop only. */
        private long goAwayCode = -1;

        Codec(Http2ConnectionEncoder encoder, Http2ConnectionDecoder decoder, Http2Settings settings, boolean decoupleCloseAndGoAway,
              boolean flushPreface, StreamErrors errors, long headerListLimit) {
            super(encoder, decoder, settings, decoupleCloseAndGoAway, flushPreface);
            this.errors = errors;
            this.headerListLimit = headerListLimit;
        }

        /**
         * Netty's answer to a connection error: GOAWAY with its code, then the close. Only the GOAWAY's last-stream-id is
         * this side's ({@link #goAway}).
         */
        @Override
        protected void onConnectionError(ChannelHandlerContext ctx, boolean outbound, Throwable cause, Http2Exception http2Ex) {
            connectionError = true;
            try {
                super.onConnectionError(ctx, outbound, cause, http2Ex);
            } finally {
                connectionError = false;
            }
        }

        /**
         * The GOAWAY of a connection error names the last stream the peer opened that this side processed, as hyperium/h2
         * names it (src/proto/connection.rs {@code go_away_now} and {@code go_away_now_data}, with
         * {@code Streams::last_processed_id}: recv.rs {@code recv_headers} raises it for each stream the peer opens and is
         * not refused), on client and server alike: on a client, whose peer opens no stream, 0 (h2's
         * tests/h2-tests/tests/stream_states.rs {@code recv_goaway_with_higher_last_processed_id}: "expecting a goaway of
         * 0, since server never initiated a stream"). That is Netty's {@code remote().lastStreamCreated()}: a stream refused
         * with REFUSED_STREAM, or failed in its header block before Netty created it, is not counted, as in h2; one answered
         * 431, or 400 by zerohop, is. Netty names 2^31-1 for every connection error that ends the connection at once
         * ({@code Http2ConnectionHandler.goAway}, netty/netty#10670: a HEADERS frame whose block fails the connection was
         * not counted, so its peer might retry it elsewhere); RFC 9113 section 6.8 asks for the highest stream the sender
         * "might have taken some action on", and neither side has acted on such a HEADERS frame: h2 leaves it out too.
         * With 2^31-1 a peer could not tell the CONNECTs it sent that this side never saw from those it served. Netty
         * computes its id in a private method, so it is replaced here, in the public {@code goAway} that one calls, while
         * {@link #onConnectionError} runs; the drain's and the budgets' GOAWAY frames name their own.
         *
         * <p>A connection error after a graceful GOAWAY (NO_ERROR: the drain's, the idle timeout's) that already named
         * that stream still sends its own GOAWAY with its code, as h2 does: src/proto/connection.rs {@code handle_go_away}
         * skips only a GOAWAY whose reason it already sent, and go_away.rs {@code go_away_now} one whose id and reason
         * both match. Netty's {@code DefaultHttp2Connection.goAwaySent} drops any GOAWAY naming the id already sent, so
         * the peer of a draining connection saw it close with no error code (with 2^31-1, until helper 315, Netty refused
         * the raised id: the same). It is written here, the id unchanged (RFC 9113 section 6.8: it must not increase).
         * Not after an error's GOAWAY: h2 reads no frame after one, so sends no second; Netty may still read the rest of
         * that read (the 1,025th reset's GOAWAY comes from a stream error), and its later errors stay unanswered.
         */
        @Override
        public io.netty.channel.ChannelFuture goAway(ChannelHandlerContext ctx, int lastStreamId, long errorCode, ByteBuf debugData,
                                                     io.netty.channel.ChannelPromise promise) {
            if (connectionError && lastStreamId == Integer.MAX_VALUE) {
                lastStreamId = Math.max(0, connection().remote().lastStreamCreated());
            }
            int sent = connection().remote().lastStreamKnownByPeer();
            if (connectionError && sent >= 0 && lastStreamId == sent && goAwayCode == Http2Error.NO_ERROR.code()
                    && errorCode != goAwayCode && ctx.channel().isActive()) {
                goAwayCode = errorCode;
                // The writer releases debugData; onConnectionError's listener closes the channel once it is out.
                return encoder().frameWriter().writeGoAway(ctx, lastStreamId, errorCode, debugData, promise.unvoid());
            }
            if (sent < 0 || lastStreamId < sent) {
                goAwayCode = errorCode; // Netty writes it (DefaultHttp2Connection.goAwaySent)
            }
            return super.goAway(ctx, lastStreamId, errorCode, debugData, promise);
        }

        @Override
        public void onError(ChannelHandlerContext ctx, boolean outbound, Throwable cause) {
            Http2Exception h2 = outbound ? null : Http2CodecUtil.getEmbeddedHttp2Exception(cause);
            if (h2 instanceof Http2Exception.StreamException e) {
                if (zeroIncrement(e)) {
                    super.onError(ctx, false, Http2Exception.connectionError(Http2Error.PROTOCOL_ERROR, e,
                            "WINDOW_UPDATE with an increment of 0 on stream %d", e.streamId()));
                    return;
                }
                boolean ignored = ignoredAfterReset(e);
                if (countedAsLocalErrorReset(e, ignored) && !countLocalErrorReset(ctx)) {
                    return;
                }
                if (ignored) {
                    return;
                }
                if (errors != null && e.error() != Http2Error.STREAM_CLOSED) {
                    try {
                        if (e instanceof Http2Exception.HeaderListSizeException size && size.duringDecode() && headerListLimit > 0) {
                            errors.headerListTooLarge(e.streamId(), headerListLimit);
                        } else {
                            errors.streamError(e.streamId(), e.error(), e.getMessage());
                        }
                    } catch (RuntimeException ignoredFailure) {
                        // a log line must not keep the reset from being sent
                    }
                }
            }
            super.onError(ctx, outbound, cause);
        }

        /**
         * Whether hyperium/h2 counts this stream error of a received frame among its {@code max_local_error_reset_streams}
         * (src/proto/streams/streams.rs: {@code Actions::send_reset} with {@code Initiator::Library}, and
         * {@code reset_on_recv_stream_err}). Not: a refusal (REFUSED_STREAM: h2's recv.rs {@code send_pending_refusal}
         * writes it without {@code send_reset}); the server's 431 for a request header list over the limit (streams.rs
         * {@code recv_headers}, {@code schedule_implicit_reset}); a DATA or HEADERS frame on a stream this side reset
         * less than a second ago, which h2 ignores before any reset ({@code Recv::recv_data} "frame ignored on locally
         * reset", streams.rs {@code recv_headers} "ignoring trailers"). Counted although nothing is sent: another error
         * h2's frame reader finds on such a held stream (malformed trailers, a PRIORITY naming its own stream), since
         * {@code Actions::send_reset} counts before send.rs {@code send_reset} declines to "double reset".
         *
         * <p>Not counted either, where h2 counts them: Netty's STREAM_CLOSED for a frame on a stream it no longer has (DATA or
         * HEADERS on a stream this side closed or reset and no longer holds, or right behind a HEADERS refused with
         * REFUSED_STREAM). That stream is gone already, so the reset frees no concurrency slot and cuts no work short: no
         * MadeYouReset. A well-behaved peer sends such frames whenever this side resets streams while the peer's DATA is
         * in flight, and h2 counts them once its 50-stream, one-second hold has let go (streams.rs
         * {@code may_have_forgotten_stream}, then {@code Streams::send_reset} as a library reset): downstream users
         * reported benign connections ended with "too_many_internal_resets" (hyperium/h2#856, still open; h2 0.4.12 only
         * lengthened the hold). Here a zerohop client whose application aborted 900 downloads on one connection, 90 at a
         * time, had counted 121 such frames (helper 309, 6 December). Netty's guard on the RST_STREAM frames this side
         * sends counts the answers ({@link #MAX_RST_FRAMES_PER_SECOND}: {@code onStreamError} writes them through the
         * encoder), per second only: a peer sending such frames more slowly is answered one RST_STREAM per frame for the
         * connection's life, where h2 goes away at its 1,025th; no state, slot or work is at stake (README, MadeYouReset). DATA, and
         * HEADERS with END_STREAM, after the peer's END_STREAM on a stream still open here never get here: a connection
         * error first, as in h2 ({@link StreamIdGuard#logData}, {@code StreamIdGuard#afterEndStream}; until helper 345 such
         * HEADERS got a counted STREAM_CLOSED); HEADERS without END_STREAM there are Netty's PROTOCOL_ERROR, counted, as h2's.
         */
        private boolean countedAsLocalErrorReset(Http2Exception.StreamException e, boolean ignored) {
            if (e.error() == Http2Error.REFUSED_STREAM) {
                return false;
            }
            if (e instanceof Http2Exception.HeaderListSizeException size && size.duringDecode() && headerListLimit > 0) {
                return false;
            }
            if (e.error() == Http2Error.STREAM_CLOSED) {
                // Closed streams Netty has not yet removed (a removal deferred while it iterates) are gone all the same.
                io.netty.handler.codec.http2.Http2Stream stream = connection().stream(e.streamId());
                return !ignored && stream != null && stream.state() != io.netty.handler.codec.http2.Http2Stream.State.CLOSED;
            }
            return true;
        }

        /**
         * Counts one stream reset for the peer's error; false when that passes {@link #MAX_LOCAL_ERROR_RESETS}: the
         * connection has then gone away with GOAWAY ENHANCE_YOUR_CALM, "too_many_internal_resets", in place of the
         * reset (h2's streams.rs {@code Actions::send_reset}, {@code reset_on_recv_stream_err}), its tunnels with it.
         * Once past, the stream errors that still come in this read are dropped: the GOAWAY is out.
         */
        boolean countLocalErrorReset(ChannelHandlerContext ctx) {
            if (localErrorResets > localErrorResetLimit) {
                return false;
            }
            if (++localErrorResets <= localErrorResetLimit) {
                return true;
            }
            // The message is the GOAWAY's debug data (Netty's Http2CodecUtil.toByteBuf), h2's; the cause's is for the log
            // line the connection's tail handler writes (HboneListener.describe reads the chain).
            super.onError(ctx, false, Http2Exception.connectionError(Http2Error.ENHANCE_YOUR_CALM, new IllegalStateException(
                    "the peer's errors made this side reset " + localErrorResetLimit + " streams, the most one connection may"
                    + " (hyperium/h2's max_local_error_reset_streams)"), TOO_MANY_INTERNAL_RESETS));
            return false;
        }

        /**
         * A WINDOW_UPDATE on a stream with an increment of 0, which Netty's frame reader ({@code DefaultHttp2FrameReader}
         * {@code readWindowUpdateFrame}) throws as a stream error PROTOCOL_ERROR, where hyperium/h2's ends the connection
         * for any WINDOW_UPDATE of 0, whatever its stream (src/frame/window_update.rs {@code load}:
         * {@code InvalidWindowUpdateValue}; src/codec/framed_read.rs: {@code library_go_away(PROTOCOL_ERROR)}). RFC 9113
         * section 6.9 names a stream error, and section 5.4.1 lets an endpoint "treat a stream error as a connection
         * error". Known by Netty's message, the one thing that tells it from the other PROTOCOL_ERRORs of the reader;
         * {@code StreamErrorCodeTest.aWindowUpdateOfZeroIsAConnectionErrorAsInH2} fails if a Netty upgrade rewords it.
         */
        private static boolean zeroIncrement(Http2Exception.StreamException e) {
            return e.error() == Http2Error.PROTOCOL_ERROR && e.getMessage() != null
                    && e.getMessage().startsWith("Received WINDOW_UPDATE with delta 0");
        }

        /**
         * A frame the peer sent on a stream this side reset less than a second ago, which Netty no longer holds and would
         * answer with a RST_STREAM per frame: ignored, as hyperium/h2 ignores frames on the locally reset streams it still
         * holds (src/proto/streams/recv.rs {@code recv_data}: "frame ignored on locally reset ... for some time";
         * streams.rs {@code recv_headers}: "ignoring trailers"), and as RFC 9113 section 5.1 asks ("An endpoint MUST
         * ignore frames that it receives on closed streams after it has sent a RST_STREAM frame"). Netty's decoder has
         * already counted a DATA frame's bytes against the connection window and given them back. Any stream error, not
         * only Netty's STREAM_CLOSED for DATA and HEADERS: a malformed header block (trailers with an upper-case name),
         * a PRIORITY frame naming its own stream, are stream errors h2 finds on a stream it already reset, and its
         * src/proto/streams/send.rs {@code send_reset} sends no second RST_STREAM ("Don't double reset"); until helper
         * 297 (6 December) those got RST_STREAM PROTOCOL_ERROR and a stream-error line. Past the second, or for a stream
         * h2 would not have held, Netty's answer stands, as h2's {@code may_have_forgotten_stream} answer.
         */
        private boolean ignoredAfterReset(Http2Exception e) {
            return e instanceof Http2Exception.StreamException se
                    && connection() instanceof Connection c && c.guard != null
                    && connection().stream(se.streamId()) == null && c.guard.resetHere(se.streamId());
        }
    }

    /**
     * Counts, on {@code connection}'s codec, a stream this side resets for what the peer sent that the codec did not find
     * itself (a malformed CONNECT the server answers 400): false when that
     * passes {@link #MAX_LOCAL_ERROR_RESETS}, and the connection has gone away with GOAWAY ENHANCE_YOUR_CALM instead; the
     * caller then sends no reset. h2 resets such a request as a library error (src/server.rs {@code convert_poll_message},
     * its {@code malformed!}) and counts it so. Event loop of the connection; true for a channel without zerohop's codec.
     */
    static boolean localErrorReset(io.netty.channel.Channel connection) {
        ChannelHandlerContext ctx = connection.pipeline().context(Codec.class);
        return ctx == null || ((Codec) ctx.handler()).countLocalErrorReset(ctx);
    }

    /**
     * Makes {@code codec} (zerohop's, before its connection reads a frame) go away at {@code limit} + 1 resets for the
     * peer's errors instead of {@link #MAX_LOCAL_ERROR_RESETS}: wire tests reach a small limit in a few round trips
     * where 1,025 took seconds ({@link Inspect#localErrorResetLimit}); the production limit is never changed otherwise.
     */
    static void localErrorResetLimit(Http2FrameCodec codec, int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be positive, got " + limit);
        }
        ((Codec) codec).localErrorResetLimit = limit;
    }

    private static Http2FrameCodec cumulateWithoutCopies(Http2FrameCodec codec) {
        codec.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
        return codec;
    }

    /** RFC 9113 section 6.5.2: sum of name and value octets plus 32 per field. */
    static long headerListSize(Http2Headers headers) {
        long size = 0;
        for (var e : headers) {
            size += e.getKey().length() + e.getValue().length() + 32L;
        }
        return size;
    }

    private static final class Builder extends Http2FrameCodecBuilder {
        private final StreamErrors errors;
        /** The headers decoder's per-stream header list limit and the block size that ends the connection ({@link #headerLimits}); null: Netty's. */
        long[] headerLimits;

        Builder(boolean server, StreamErrors errors, java.util.function.LongSupplier resetClock) {
            this.errors = errors;
            // The connection carries the role (the builder forbids setting both).
            Connection connection = new Connection(server);
            // Round robin, no priority tree: HBONE peers send no priorities (RFC 9113 deprecated them,
            // ztunnel's h2 ignores them), and the weighted-fair distributor kept a priority-queue
            // state of ~110 bytes per stream where this one keeps ~32 (issue 14).
            UniformStreamByteDistributor distributor = new UniformStreamByteDistributor(connection);
            distributor.minAllocationChunk(ALLOCATION_QUANTUM);
            connection.remote().flowController(new RemoteFlowController(connection, distributor));
            connection(connection);
            decoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_SECOND, 1);
            // The same bound on the RST_STREAM we send: every tunnel abort is one.
            encoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_SECOND, 1);
            connection.guard = new StreamIdGuard(connection, resetClock);
            frameLogger(connection.guard);
        }

        @Override
        protected Http2FrameCodec build(Http2ConnectionDecoder decoder, Http2ConnectionEncoder encoder, Http2Settings initialSettings) {
            if (headerLimits == null) {
                // As Http2FrameCodecBuilder.build makes it, as the subclass that reports stream errors.
                Http2FrameCodec codec = new Codec(encoder, decoder, initialSettings, decoupleCloseAndGoAway(), flushPreface(), errors, 0);
                codec.gracefulShutdownTimeoutMillis(gracefulShutdownTimeoutMillis());
                return codec;
            }
            // The connection decoder again, as AbstractHttp2ConnectionHandlerBuilder.buildFromConnection made
            // it (same reader settings, frame logger and decoder flags, around the same guarded encoder), with a headers
            // decoder whose limits are set apart (HeadersDecoder); Netty's builder takes no headers decoder and none of
            // its decoders exposes its reader's. The decoder-side guards (empty DATA frames, RST_STREAM rate) are put
            // around it by the builder's buildFromCodec, through Rebuild; the encoder-side ones are already in encoder.
            // The builder's own decoder is closed unused: its reader has read nothing.
            decoder.close();
            Http2FrameReader reader = new Http2InboundFrameLogger(new DefaultHttp2FrameReader(
                    new HeadersDecoder(isValidateHeaders(), headerLimits[0], headerLimits[1], encoder.connection()), decoderEnforceMaxSmallContinuationFrames()),
                    frameLogger());
            DefaultHttp2ConnectionDecoder own = new DefaultHttp2ConnectionDecoder(encoder.connection(), encoder, reader,
                    promisedRequestVerifier(), isAutoAckSettingsFrame(), isAutoAckPingFrame(), isValidateHeaders(),
                    isValidateRequiredPseudoHeaders());
            // Netty's builder takes its options before codec(), not after.
            // The codec's limit is the server's alone (its 431, not counted as a reset for the peer's errors, as h2's
            // server); a client's reset of a response over its limit counts, as h2's client counts its reset
            // (src/proto/streams/streams.rs recv_headers: library_reset(PROTOCOL_ERROR), counted by reset_on_recv_stream_err).
            long codecLimit = encoder.connection().isServer() ? headerLimits[0] : 0;
            Rebuild rebuild = new Rebuild(errors, codecLimit, decoupleCloseAndGoAway(), flushPreface());
            rebuild.initialSettings(initialSettings).gracefulShutdownTimeoutMillis(gracefulShutdownTimeoutMillis())
                    .decoderEnforceMaxConsecutiveEmptyDataFrames(decoderEnforceMaxConsecutiveEmptyDataFrames())
                    .decoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_SECOND, 1);
            return rebuild.codec(own, encoder).build();
        }
    }

    /** Builds the server's codec from the connection decoder and encoder {@link Builder} made ({@code codec}). */
    private static final class Rebuild extends Http2FrameCodecBuilder {
        private final StreamErrors errors;
        private final long headerListLimit;
        private final boolean decoupleCloseAndGoAway;
        private final boolean flushPreface;

        Rebuild(StreamErrors errors, long headerListLimit, boolean decoupleCloseAndGoAway, boolean flushPreface) {
            this.errors = errors;
            this.headerListLimit = headerListLimit;
            this.decoupleCloseAndGoAway = decoupleCloseAndGoAway;
            this.flushPreface = flushPreface;
        }

        @Override
        public Rebuild codec(Http2ConnectionDecoder decoder, Http2ConnectionEncoder encoder) {
            super.codec(decoder, encoder);
            return this;
        }

        @Override
        protected Http2FrameCodec build(Http2ConnectionDecoder decoder, Http2ConnectionEncoder encoder, Http2Settings initialSettings) {
            Http2FrameCodec codec = new Codec(encoder, decoder, initialSettings, decoupleCloseAndGoAway, flushPreface, errors, headerListLimit);
            codec.gracefulShutdownTimeoutMillis(gracefulShutdownTimeoutMillis());
            return codec;
        }
    }

    /**
     * Netty's headers decoder with its two limits kept apart ({@code Http2HeadersDecoder.Configuration.maxHeaderListSize(max,
     * goAwayMax)}): {@code max}, the per-stream limit past which HpackDecoder's sink stops keeping fields (decoding on, so
     * the dynamic table stays in step) and the stream fails with a {@code HeaderListSizeException}; and {@code goAwayMax},
     * the encoded block size at which DefaultHttp2FrameReader's {@code HeadersBlockBuilder} ends the connection. When the
     * peer ACKs our SETTINGS, Netty sets both from SETTINGS_MAX_HEADER_LIST_SIZE (DefaultHttp2ConnectionDecoder
     * {@code applyLocalSettings}: the limit plus a quarter, which would make a 100 KB block a connection error where
     * hyperium/h2 answers 431); the threshold stays at least {@code goAway} here.
     *
     * <p>Only a block that opens a request is refused for its size, as hyperium/h2 refuses only a request's first block
     * (src/proto/streams/recv.rs {@code recv_headers}: {@code is_over_size}, the 431 when {@code is_initial}). Any other
     * block over the limit, above all trailers on an open tunnel, decodes to an empty list, as h2's {@code recv_trailers}
     * takes what {@code HeaderBlock::load} (src/frame/headers.rs) kept of it, and Netty's usual checks answer it: trailers
     * with END_STREAM end the tunnel's input, a second block without it is RST_STREAM PROTOCOL_ERROR, a block on a
     * closed stream or on an id the peer already used or this side refused is answered as any (a connection error
     * PROTOCOL_ERROR from {@link StreamIdGuard}, or Netty's STREAM_CLOSED: the empty list opens no stream). Until
     * helper 283 (6 December) such trailers reset the open tunnel PROTOCOL_ERROR and reported a 431 refusal for a tunnel
     * already accepted, and such a block on a refused id was taken for a new request (RST_STREAM, a 431 refusal reported).
     * The client uses it too (helper 336): a CONNECT response's first block over the limit fails its stream (RST_STREAM
     * PROTOCOL_ERROR, no 431: Netty answers a client's stream error with the reset alone), the stream being this side's
     * and without headers yet; an interim 1xx response leaves it so; trailers over the limit decode empty, as h2's client
     * takes them in {@code recv_trailers}.
     */
    static final class HeadersDecoder extends DefaultHttp2HeadersDecoder {
        private final long goAway;
        private final Http2Connection connection;

        HeadersDecoder(boolean validateHeaders, long perStream, long goAway, Http2Connection connection) {
            super(validateHeaders, false, perStream);
            this.goAway = goAway;
            this.connection = connection;
            try {
                super.maxHeaderListSize(perStream, Math.max(perStream, goAway));
            } catch (Http2Exception e) {
                throw new IllegalArgumentException(e);
            }
        }

        @Override
        public void maxHeaderListSize(long max, long goAwayMax) throws Http2Exception {
            super.maxHeaderListSize(max, Math.max(goAwayMax, Math.max(max, goAway)));
        }

        @Override
        public Http2Headers decodeHeaders(int streamId, ByteBuf headerBlock) throws Http2Exception {
            try {
                return super.decodeHeaders(streamId, headerBlock);
            } catch (Http2Exception.HeaderListSizeException e) {
                // HpackDecoder decoded the whole block (the dynamic table is in step) before it threw.
                if (!e.duringDecode() || opensRequest(streamId)) {
                    throw e;
                }
                return new DefaultHttp2Headers(false, 0);
            }
        }

        /**
         * Whether a header block on {@code streamId} is a request's first: its stream is new (a server creates none before),
         * its id above every id the peer opened and every id this side refused ({@link StreamIdGuard#highestResetUncreated},
         * as h2's {@code next_stream_id}: recv.rs {@code Recv::open} refuses a lower id before the size is looked at).
         */
        private boolean opensRequest(int streamId) {
            Http2Stream stream = connection.stream(streamId);
            if (stream != null) {
                return !stream.isHeadersReceived();
            }
            int highest = connection.remote().lastStreamCreated();
            if (connection instanceof Connection c && c.guard != null) {
                highest = Math.max(highest, c.guard.highestResetUncreated);
            }
            return streamId > highest;
        }
    }

    /**
     * Netty's connection, except that a peer's stream id up to the highest this side reset before creating it, or
     * among the streams it reset in the last second ({@link StreamIdGuard#resetHere}), may have
     * existed: above all a stream refused with REFUSED_STREAM for SETTINGS_MAX_CONCURRENT_STREAMS, which Netty never
     * creates, so that the DATA,
     * RST_STREAM or WINDOW_UPDATE the peer sent behind its HEADERS was a connection error PROTOCOL_ERROR ("Stream 3 does
     * not exist for inbound frame DATA"), every tunnel of the connection cut. hyperium/h2 counts a refused id as opened
     * (src/proto/streams/recv.rs {@code Recv::open} advances {@code next_stream_id} before {@code self.refused = Some(id)}),
     * so its {@code may_have_created_stream} holds and streams.rs {@code recv_data} answers such DATA with RST_STREAM
     * STREAM_CLOSED. Netty then does the same: it counts the bytes against the connection window and resets the stream.
     */
    static final class Connection extends DefaultHttp2Connection {
        /** Set once, right after construction, on the builder's thread before any frame. */
        StreamIdGuard guard;

        Connection(boolean server) {
            super(server);
        }

        @Override
        public boolean streamMayHaveExisted(int streamId) {
            return super.streamMayHaveExisted(streamId) || guard != null && remote().isValidStreamId(streamId)
                    && (streamId <= guard.highestResetUncreated || guard.resetHere(streamId));
        }
    }

    /**
     * Netty's remote (send) flow controller, except that a SETTINGS_INITIAL_WINDOW_SIZE raise that takes an open stream's
     * send window past 2^31-1 is a connection error FLOW_CONTROL_ERROR, as RFC 9113 section 6.9.2 says ("An endpoint MUST
     * treat a change to SETTINGS_INITIAL_WINDOW_SIZE that causes any flow-control window to exceed the maximum size as a
     * connection error of type FLOW_CONTROL_ERROR") and hyperium/h2 does (src/proto/streams/send.rs
     * {@code apply_remote_settings}: {@code library_go_away}). Netty resets only the first stream it finds overflowing
     * and stops adjusting the others' windows there, leaving them out of step with the peer's.
     */
    static final class RemoteFlowController extends DefaultHttp2RemoteFlowController {
        RemoteFlowController(Http2Connection connection, StreamByteDistributor distributor) {
            super(connection, distributor);
        }

        @Override
        public void initialWindowSize(int newWindowSize) throws Http2Exception {
            try {
                super.initialWindowSize(newWindowSize);
            } catch (Http2Exception.StreamException e) {
                if (e.error() != Http2Error.FLOW_CONTROL_ERROR) {
                    throw e;
                }
                throw Http2Exception.connectionError(Http2Error.FLOW_CONTROL_ERROR, e,
                        "SETTINGS_INITIAL_WINDOW_SIZE %d takes the send window of stream %d past 2^31-1 (RFC 9113 6.9.2)",
                        newWindowSize, e.streamId());
            }
        }
    }

    /**
     * RFC 9113 section 5.1.1: a HEADERS frame on a stream id not greater than every id the peer already opened, whose
     * stream is not open, is a connection error PROTOCOL_ERROR: an id the peer skipped (h2spec http2/5.1.1/2) or the id
     * of a finished stream. hyperium/h2 (ztunnel's) answers both so (src/proto/streams/recv.rs {@code Recv::open}:
     * "id < next_id", {@code library_go_away(PROTOCOL_ERROR)}). Netty cannot tell such an id from a stream it reset
     * itself, so it answers every one with RST_STREAM STREAM_CLOSED. "Opened" as h2's {@code next_stream_id} counts it:
     * an id this side refused with REFUSED_STREAM (SETTINGS_MAX_CONCURRENT_STREAMS), which Netty never creates, counts
     * ({@code Recv::open} advances {@code next_stream_id} before it refuses), so HEADERS re-using a refused id, or on an
     * id below it the peer never used, is that connection error too (both got STREAM_CLOSED until helper 278, 6 December).
     *
     * <p>Exempt, as h2 exempts them: the streams this side reset in the last second, up to {@value #RECENT_RESETS}
     * (h2 holds that many locally reset streams, {@code DEFAULT_RESET_STREAM_MAX}, for a second, and ignores their
     * frames), since the peer may have sent on them before it read the reset (section 5.1, "closed").
     * Streams are counted, not RST_STREAM frames. As in h2 the exemption lasts a second ({@code DEFAULT_RESET_STREAM_SECS},
     * recv.rs {@code clear_expired_reset_streams}), and a stream reset while 50 are held is not held at all (recv.rs
     * {@code enqueue_reset_expiration}); until 6 December it held the last 50 with no time limit. Within the second the
     * frames of a held stream are ignored, the stream errors Netty finds in them included ({@code Codec#ignoredAfterReset}),
     * where Netty answered each DATA frame with RST_STREAM STREAM_CLOSED. A refusal is no such reset: h2 keeps no stream
     * for a refused id ({@code Recv::open} returns {@code None} and streams.rs {@code recv_headers} stores nothing), so
     * trailers right behind a refused HEADERS end the connection, as in h2. Its DATA, though, h2 answers with
     * RST_STREAM STREAM_CLOSED through streams.rs {@code send_reset}, which stores the stream it did not know and queues
     * it as reset; so does the queue, with Netty's STREAM_CLOSED for that DATA, and later frames are ignored.
     *
     * <p>It rides on the frame-logger hook because that is the one place Netty's builder lets a
     * handler see each decoded frame before the connection decoder acts on it while keeping the
     * builder's flood guards (control-frame queue, RST limits); logging is delegated unchanged.
     * HPACK has already decoded the block, so compression state stays in step. Until 6 December it
     * caught skipped ids only (the last 64 gaps), and a finished stream's id got Netty's STREAM_CLOSED.
     */
    static final class StreamIdGuard extends Http2FrameLogger {
        /** hyperium/h2's {@code DEFAULT_RESET_STREAM_MAX} (src/proto/mod.rs). */
        static final int RECENT_RESETS = 50;
        /** hyperium/h2's {@code DEFAULT_RESET_STREAM_SECS} (src/proto/mod.rs), which ztunnel leaves as it is. */
        static final long RESET_DURATION_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
        private final Http2Connection connection;
        private final java.util.function.LongSupplier nanoTime;
        /**
         * Queue of the streams this side reset in the last {@link #RESET_DURATION_NANOS}, oldest first, with when: h2's
         * {@code pending_reset_expired}. Allocated at the first reset; event loop only.
         */
        private int[] resets;
        private long[] resetAt;
        private int resetHead;
        private int resetCount;
        /**
         * The highest id of the peer's this side reset without Netty creating its stream (refused with REFUSED_STREAM,
         * or failed in its header block), 0 for none: as h2's {@code next_stream_id}, every id up to it may have existed.
         */
        int highestResetUncreated;

        StreamIdGuard(Http2Connection connection) {
            this(connection, System::nanoTime);
        }

        /** With {@code nanoTime} as the clock: tests of the expiry drive it ({@link H2Codecs#server(Http2Settings, StreamErrors, java.util.function.LongSupplier)}). */
        StreamIdGuard(Http2Connection connection, java.util.function.LongSupplier nanoTime) {
            super(LogLevel.TRACE, "io.zerohop.hbone.h2.frames");
            this.connection = connection;
            this.nanoTime = nanoTime;
        }

        private void check(Direction direction, int streamId) {
            if (direction != Direction.INBOUND || !connection.remote().isValidStreamId(streamId)
                    || streamId > Math.max(connection.remote().lastStreamCreated(), highestResetUncreated)
                    || connection.stream(streamId) != null
                    // Netty ignores frames of streams opened after its GOAWAY.
                    || connection.goAwaySent() && streamId > connection.remote().lastStreamKnownByPeer()
                    || resetHere(streamId)) {
                return;
            }
            throw new IllegalStateException(Http2Exception.connectionError(Http2Error.PROTOCOL_ERROR,
                    "HEADERS on stream %d, not greater than stream %d the peer already opened, and not open (RFC 9113 5.1.1)",
                    streamId, Math.max(connection.remote().lastStreamCreated(), highestResetUncreated)));
        }

        /**
         * Whether this side reset {@code streamId} less than a second ago and it found room among the
         * {@value #RECENT_RESETS} such streams: h2 still holds the stream then, and ignores its frames. Event loop only.
         */
        boolean resetHere(int streamId) {
            expire(nanoTime.getAsLong());
            for (int i = 0; i < resetCount; i++) {
                if (resets[(resetHead + i) % RECENT_RESETS] == streamId) {
                    return true;
                }
            }
            return false;
        }

        /** h2's {@code clear_expired_reset_streams}: a stream reset more than a second ago is forgotten. */
        private void expire(long now) {
            while (resetCount > 0 && now - resetAt[resetHead] > RESET_DURATION_NANOS) {
                resetHead = (resetHead + 1) % RECENT_RESETS;
                resetCount--;
            }
        }

        /**
         * h2's {@code enqueue_reset_expiration}: a stream this side just reset is held for a second, unless
         * {@value #RECENT_RESETS} are held already; then it is not held at all ("dropped ..., over
         * max_concurrent_reset_streams"), the older ones stay.
         */
        void recordReset(int streamId) {
            if (resetHere(streamId)) {
                return;
            }
            if (resets == null) {
                resets = new int[RECENT_RESETS];
                resetAt = new long[RECENT_RESETS];
            }
            if (resetCount < RECENT_RESETS) {
                int at = (resetHead + resetCount) % RECENT_RESETS;
                resets[at] = streamId;
                resetAt[at] = nanoTime.getAsLong();
                resetCount++;
            }
        }

        @Override
        public void logRstStream(Direction direction, ChannelHandlerContext ctx, int streamId, long errorCode) {
            boolean refused = false;
            if (direction == Direction.OUTBOUND && connection.remote().isValidStreamId(streamId)
                    && streamId > connection.remote().lastStreamCreated()) {
                highestResetUncreated = Math.max(highestResetUncreated, streamId);
                // Refused before Netty created it (SETTINGS_MAX_CONCURRENT_STREAMS): h2 keeps no stream for a refused
                // id (recv.rs Recv::open returns before streams.rs recv_headers stores one), so it never enters h2's
                // reset-stream cache and a HEADERS on it later is a connection error. A stream reset for its failed
                // header block does enter it (streams.rs send_reset stores the stream it did not know, then resets it).
                refused = errorCode == Http2Error.REFUSED_STREAM.code();
            }
            // A stream, not a frame: Netty answers each frame a peer still sends on a stream it reset with another
            // RST_STREAM STREAM_CLOSED, where h2 ignores them; counted per frame, one upload in flight on one reset
            // stream would push every other reset stream out of the ring.
            // Either side's streams, as h2 holds every stream it reset: a client's cancelled tunnel too.
            if (direction == Direction.OUTBOUND && !refused
                    && (connection.remote().isValidStreamId(streamId) || connection.local().isValidStreamId(streamId))) {
                recordReset(streamId);
            }
            super.logRstStream(direction, ctx, streamId, errorCode);
        }

        /**
         * On a client, DATA on a tunnel before its CONNECT response's HEADERS (a 1xx does not count) is a connection error
         * PROTOCOL_ERROR, as hyperium/h2's client, ztunnel's, answers it: src/proto/streams/recv.rs {@code recv_data}
         * ("unexpected DATA frame", {@code library_go_away(PROTOCOL_ERROR)}) for a stream whose state is not
         * {@code is_recv_streaming} (state.rs: the remote side still {@code AwaitingHeaders}). RFC 9113 section 8.1.1
         * calls such a response malformed, and section 5.4.1 lets a stream error be treated as a connection error. Every
         * tunnel of the connection fails with it, and the GOAWAY names last-stream-id 0 ({@code Codec#goAway}). Until
         * helper 315 (6 December) it was a stream error here (RST_STREAM PROTOCOL_ERROR, the connection kept, counted
         * among the 1,024 resets for the peer's errors); until helper 300 the DATA was dropped and the tunnel opened on
         * the 200 that followed. Netty tracks the final response per stream ({@code Http2Stream.isHeadersReceived}) but
         * lets DATA through before it. A stream this side reset is no longer Netty's: such frames are answered as before.
         *
         * <p>On client and server alike, DATA after the peer's END_STREAM on a stream still open here (half-closed
         * (remote): a tunnel whose other direction goes on) is the same connection error, h2's same check
         * ({@code is_recv_streaming} is false once the remote side closed). Netty answers RST_STREAM STREAM_CLOSED (RFC 9113
         * section 5.1 names that stream error; 5.4.1 lets it be a connection error), which resets a live stream for the
         * peer's fault, a MadeYouReset primitive that zerohop counted among the 1,024 resets for the peer's errors until
         * helper 315 (6 December); h2 never resets for it. A stream this side is resetting ({@code isResetSent}, h2's
         * {@code is_local_error}) is left to Netty, which ignores its frames.
         */
        @Override
        public void logData(Direction direction, ChannelHandlerContext ctx, int streamId, ByteBuf data, int padding,
                            boolean endStream) {
            if (direction == Direction.INBOUND) {
                Http2Stream stream = connection.stream(streamId);
                if (stream != null && !stream.isResetSent()) {
                    if (!connection.isServer() && connection.local().isValidStreamId(streamId) && !stream.isHeadersReceived()
                            && (stream.state() == Http2Stream.State.OPEN || stream.state() == Http2Stream.State.HALF_CLOSED_LOCAL)) {
                        throw new IllegalStateException(Http2Exception.connectionError(Http2Error.PROTOCOL_ERROR,
                                "DATA on stream %d before its CONNECT response: a malformed response (RFC 9113 section 8.1.1)",
                                streamId));
                    }
                    if (stream.state() == Http2Stream.State.HALF_CLOSED_REMOTE) {
                        throw new IllegalStateException(Http2Exception.connectionError(Http2Error.PROTOCOL_ERROR,
                                "DATA on stream %d after the peer's END_STREAM (RFC 9113 section 5.1, half-closed (remote))",
                                streamId));
                    }
                }
            }
            super.logData(direction, ctx, streamId, data, padding, endStream);
        }

        @Override
        public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId, Http2Headers headers,
                               int padding, boolean endStream) {
            check(direction, streamId);
            afterEndStream(direction, streamId, endStream);
            super.logHeaders(direction, ctx, streamId, headers, padding, endStream);
        }

        @Override
        public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId, Http2Headers headers,
                               int streamDependency, short weight, boolean exclusive, int padding, boolean endStream) {
            check(direction, streamId);
            afterEndStream(direction, streamId, endStream);
            super.logHeaders(direction, ctx, streamId, headers, streamDependency, weight, exclusive, padding, endStream);
        }

        /**
         * HEADERS with END_STREAM after the peer's END_STREAM on a stream still open here (half-closed (remote): a tunnel
         * whose other direction goes on), on client and server alike, is a connection error PROTOCOL_ERROR, as hyperium/h2
         * answers it (src/proto/streams/streams.rs {@code recv_headers} takes them for trailers once the stream is past
         * {@code is_recv_headers}; recv.rs {@code recv_trailers} calls state.rs {@code recv_close}, which fails on
         * {@code HalfClosedRemote} with {@code library_go_away(PROTOCOL_ERROR)}), as for DATA there ({@link #logData}).
         * Netty answered RST_STREAM STREAM_CLOSED ({@code DefaultHttp2ConnectionDecoder.onHeadersRead}, "Stream in
         * unexpected state"), which reset the live tunnel for the peer's fault, counted among the resets for the peer's
         * errors, and kept the connection; until helper 345 (7 December) the peer got that. RFC 9113 section 5.1 names
         * STREAM_CLOSED, and 5.4.1 lets a stream error be treated as a connection error. Without END_STREAM, Netty's
         * answer already is h2's: RST_STREAM PROTOCOL_ERROR, counted (Netty's "received too many headers", h2's "trailers
         * frame was not EOS", {@code library_reset}). A stream this side is resetting ({@code isResetSent}, h2's
         * {@code is_local_error}) is left to Netty, which ignores its frames, as h2 does ("ignoring trailers").
         */
        private void afterEndStream(Direction direction, int streamId, boolean endStream) {
            if (direction != Direction.INBOUND || !endStream) {
                return;
            }
            Http2Stream stream = connection.stream(streamId);
            if (stream != null && !stream.isResetSent() && stream.state() == Http2Stream.State.HALF_CLOSED_REMOTE) {
                throw new IllegalStateException(Http2Exception.connectionError(Http2Error.PROTOCOL_ERROR,
                        "HEADERS with END_STREAM on stream %d after the peer's END_STREAM (RFC 9113 section 5.1, half-closed (remote))",
                        streamId));
            }
        }
    }
}
