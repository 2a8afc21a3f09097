package io.zerohop.hbone.internal;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2RemoteFlowController;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2ConnectionEncoder;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameLogger;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2Stream;
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
     * The header list size Netty's decoder is configured with. Netty tears the whole connection
     * down (GOAWAY) once a header block passes 1.25 times its limit, before decoding it, because an
     * undecoded block leaves HPACK state out of step. A request over the HBONE limit (64 KiB, as
     * ztunnel's server) must stay a per-stream fault, so the decoder accepts up to this much and the
     * HBONE limit is enforced per stream with a 431 ({@link #headerListSize}).
     */
    static final int DECODER_HEADER_LIST_LIMIT = 1024 * 1024;

    private H2Codecs() {}

    /**
     * {@code settings.maxHeaderListSize()} is the HBONE per-stream limit; the value advertised and
     * used by the decoder is {@link #DECODER_HEADER_LIST_LIMIT} when larger.
     */
    static Http2FrameCodec server(Http2Settings settings, StreamErrors errors) {
        Long max = settings.maxHeaderListSize();
        if (max == null || max < DECODER_HEADER_LIST_LIMIT) {
            settings.maxHeaderListSize(DECODER_HEADER_LIST_LIMIT);
        }
        return cumulateWithoutCopies(new Builder(true, errors).initialSettings(settings).gracefulShutdownTimeoutMillis(0).build());
    }

    static Http2FrameCodec client(Http2Settings settings) {
        return cumulateWithoutCopies(new Builder(false, null).initialSettings(settings).encoderEnforceMaxConcurrentStreams(true)
                .gracefulShutdownTimeoutMillis(0).build());
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
    }

    /** Netty's frame codec, telling {@link StreamErrors} of the stream errors of received frames. */
    private static final class Codec extends Http2FrameCodec {
        private final StreamErrors errors;

        Codec(Http2ConnectionEncoder encoder, Http2ConnectionDecoder decoder, Http2Settings settings, boolean decoupleCloseAndGoAway,
              boolean flushPreface, StreamErrors errors) {
            super(encoder, decoder, settings, decoupleCloseAndGoAway, flushPreface);
            this.errors = errors;
        }

        @Override
        public void onError(ChannelHandlerContext ctx, boolean outbound, Throwable cause) {
            if (!outbound && errors != null
                    && Http2CodecUtil.getEmbeddedHttp2Exception(cause) instanceof Http2Exception.StreamException e
                    && e.error() != Http2Error.STREAM_CLOSED) {
                try {
                    errors.streamError(e.streamId(), e.error(), e.getMessage());
                } catch (RuntimeException ignored) {
                    // a log line must not keep the reset from being sent
                }
            }
            super.onError(ctx, outbound, cause);
        }
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

        Builder(boolean server, StreamErrors errors) {
            this.errors = errors;
            // The connection carries the role (the builder forbids setting both).
            DefaultHttp2Connection connection = new DefaultHttp2Connection(server);
            // Round robin, no priority tree: HBONE peers send no priorities (RFC 9113 deprecated them,
            // ztunnel's h2 ignores them), and the weighted-fair distributor kept a priority-queue
            // state of ~110 bytes per stream where this one keeps ~32 (issue 14).
            UniformStreamByteDistributor distributor = new UniformStreamByteDistributor(connection);
            distributor.minAllocationChunk(ALLOCATION_QUANTUM);
            connection.remote().flowController(new DefaultHttp2RemoteFlowController(connection, distributor));
            connection(connection);
            decoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_SECOND, 1);
            // The same bound on the RST_STREAM we send: every tunnel abort is one.
            encoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_SECOND, 1);
            frameLogger(new StreamIdGuard(connection));
        }

        @Override
        protected Http2FrameCodec build(Http2ConnectionDecoder decoder, Http2ConnectionEncoder encoder, Http2Settings initialSettings) {
            // As Http2FrameCodecBuilder.build makes it, as the subclass that reports stream errors.
            Http2FrameCodec codec = new Codec(encoder, decoder, initialSettings, decoupleCloseAndGoAway(), flushPreface(), errors);
            codec.gracefulShutdownTimeoutMillis(gracefulShutdownTimeoutMillis());
            return codec;
        }
    }

    /**
     * RFC 9113 section 5.1.1 (h2spec http2/5.1.1/2): a HEADERS frame opening a stream whose id is
     * lower than one the peer already opened is a connection error PROTOCOL_ERROR. Netty cannot tell
     * such an id (implicitly closed, never used) from a stream that ran and closed, so it answers
     * RST_STREAM STREAM_CLOSED. This guard records the ids a peer skipped and fails the connection
     * when one of them shows up in HEADERS.
     *
     * <p>It rides on the frame-logger hook because that is the one place Netty's builder lets a
     * handler see each decoded frame before the connection decoder acts on it while keeping the
     * builder's flood guards (control-frame queue, RST limits); logging is delegated unchanged.
     * HPACK has already decoded the block, so compression state stays in step.
     */
    static final class StreamIdGuard extends Http2FrameLogger {
        private static final int MAX_GAPS = 64;
        private final Http2Connection connection;
        /** Ring of skipped id ranges [from, to], odd/even as the peer's ids; event loop only. */
        private final int[] gaps = new int[MAX_GAPS * 2];
        private int gapCount;
        private int gapNext;
        private int lastRemote;

        StreamIdGuard(Http2Connection connection) {
            super(LogLevel.TRACE, "io.zerohop.hbone.h2.frames");
            this.connection = connection;
            connection.addListener(new Http2ConnectionAdapter() {
                @Override
                public void onStreamAdded(Http2Stream stream) {
                    int id = stream.id();
                    if (!connection.remote().isValidStreamId(id)) {
                        return;
                    }
                    int firstExpected = lastRemote == 0 ? (connection.isServer() ? 1 : 2) : lastRemote + 2;
                    if (id > firstExpected) {
                        gaps[gapNext * 2] = firstExpected;
                        gaps[gapNext * 2 + 1] = id - 2;
                        gapNext = (gapNext + 1) % MAX_GAPS;
                        gapCount = Math.min(MAX_GAPS, gapCount + 1);
                    }
                    lastRemote = Math.max(lastRemote, id);
                }
            });
        }

        private void check(Direction direction, int streamId) {
            if (direction != Direction.INBOUND || gapCount == 0 || streamId >= lastRemote
                    || !connection.remote().isValidStreamId(streamId) || connection.stream(streamId) != null) {
                return;
            }
            for (int i = 0; i < gapCount; i++) {
                if (streamId >= gaps[i * 2] && streamId <= gaps[i * 2 + 1]) {
                    throw new IllegalStateException(Http2Exception.connectionError(Http2Error.PROTOCOL_ERROR,
                            "HEADERS on stream %d, lower than stream %d the peer already opened (RFC 9113 5.1.1)",
                            streamId, lastRemote));
                }
            }
        }

        @Override
        public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId, Http2Headers headers,
                               int padding, boolean endStream) {
            check(direction, streamId);
            super.logHeaders(direction, ctx, streamId, headers, padding, endStream);
        }

        @Override
        public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId, Http2Headers headers,
                               int streamDependency, short weight, boolean exclusive, int padding, boolean endStream) {
            check(direction, streamId);
            super.logHeaders(direction, ctx, streamId, headers, streamDependency, weight, exclusive, padding, endStream);
        }
    }
}
