package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.collection.IntObjectMap;

/**
 * The bytes each stream of a downstream HTTP/2 connection carried, as Envoy's HTTP/2 codec meters them for the stream's
 * downstream {@code BytesMeter}, which Istio's {@code istio_request_bytes} and {@code istio_response_bytes} observe
 * (istio/proxy {@code source/extensions/filters/http/istio_stats/istio_stats.cc} {@code IstioStatsFilter::log}:
 * {@code wireBytesReceived()}, {@code wireBytesSent()}): whole frames, their 9-byte header and their payload as it went
 * on the wire (a header block HPACK-compressed, padding included). Received (envoyproxy/envoy
 * {@code source/common/http/http2/codec_impl.cc}): the frame that ends a header block, HEADERS or its last
 * CONTINUATION ({@code onHeaders}, called from {@code OnEndHeadersForStream} with the current frame's length), every
 * DATA frame ({@code onBeginData}) and a RST_STREAM ({@code onRstStream}, 13 bytes); not a WINDOW_UPDATE or PRIORITY.
 * Sent ({@code onFrameSend}): every frame on the stream. Frames on stream 0 belong to no request.
 *
 * <p>Sits between the transport and the codec and reads frame headers only (the client's 24-byte preface skipped):
 * payloads are stepped over, never copied. A stream is metered from the client's HEADERS that opens it; {@link H2Proxy}'s
 * handler of the stream takes its meter ({@link #meter}) and drops it when it has reported the request ({@link #done}). A
 * stream that never got a handler (the codec refused it) is dropped at the first frame that ends it from this side.
 * Event loop only.
 */
final class H2WireBytes extends ChannelDuplexHandler {
    /** One stream's counts, and whether this side's END_STREAM or RST_STREAM has been written. */
    static final class Meter {
        long received;
        long sent;
        /** This side's last frame of the stream has been written: every byte it sends on the stream is counted. */
        boolean ended;
        /** A stream handler holds it; else it is dropped once the stream ends here. */
        boolean claimed;
        /** Run once when {@link #ended} becomes true, if set then. */
        Runnable onEnd;
    }

    private static final int FRAME_HEADER = 9;
    private static final int DATA = 0x0;
    private static final int HEADERS = 0x1;
    private static final int RST_STREAM = 0x3;
    private static final int CONTINUATION = 0x9;
    /** Envoy's METADATA extension frame, which it leaves out of both counts. */
    private static final int METADATA = 0x4d;
    private static final int END_STREAM = 0x1;
    private static final int END_HEADERS = 0x4;

    private final IntObjectMap<Meter> streams = new IntObjectHashMap<>();
    /** The highest client stream id seen: a HEADERS above it opens a stream. */
    private int highest;
    private final Scanner in = new Scanner(24) {
        @Override
        void frame(int length, int type, int flags, int stream) {
            received(length, type, flags, stream);
        }
    };
    private final Scanner out = new Scanner(0) {
        @Override
        void frame(int length, int type, int flags, int stream) {
            sent(length, type, flags, stream);
        }
    };

    /** The meter of client stream {@code id}, now held by its handler; null when none was opened. */
    Meter meter(int id) {
        Meter m = streams.get(id);
        if (m != null) {
            m.claimed = true;
        }
        return m;
    }

    /** How many streams' meters are kept (tests: the map returns to empty once every stream has ended). */
    int kept() {
        return streams.size();
    }

    /** Stream {@code id}'s request was reported: its meter is no longer kept. */
    void done(int id) {
        streams.remove(id);
    }

    private void received(int length, int type, int flags, int stream) {
        if (stream == 0) {
            return;
        }
        Meter m = streams.get(stream);
        if (m == null && type == HEADERS && (stream & 1) == 1 && stream > highest) {
            highest = stream;
            m = new Meter();
            streams.put(stream, m);
        }
        if (m == null) {
            return;
        }
        if (type == DATA || type == RST_STREAM || (type == HEADERS || type == CONTINUATION) && (flags & END_HEADERS) != 0) {
            m.received += length + FRAME_HEADER;
        }
    }

    private void sent(int length, int type, int flags, int stream) {
        if (stream == 0 || type == METADATA) {
            return;
        }
        Meter m = streams.get(stream);
        if (m == null) {
            return;
        }
        m.sent += length + FRAME_HEADER;
        if (type == RST_STREAM || (type == DATA || type == HEADERS) && (flags & END_STREAM) != 0) {
            if (!m.claimed) {
                streams.remove(stream);
                return;
            }
            m.ended = true;
            Runnable r = m.onEnd;
            if (r != null) {
                m.onEnd = null;
                r.run();
            }
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf b) {
            in.scan(b);
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf b) {
            out.scan(b);
        }
        ctx.write(msg, promise);
    }

    /**
     * Follows one direction's bytes frame by frame, however they are cut into buffers: it reads the 9 bytes of each
     * frame header (gathered across buffers) and steps over the payload.
     */
    private abstract static class Scanner {
        /** Bytes still to step over: the preface's, then the current frame's payload. */
        private long skip;
        private final byte[] header = new byte[FRAME_HEADER];
        private int have;

        Scanner(int preface) {
            this.skip = preface;
        }

        final void scan(ByteBuf b) {
            int i = b.readerIndex();
            int end = b.writerIndex();
            while (i < end) {
                if (skip > 0) {
                    int n = (int) Math.min(skip, end - i);
                    skip -= n;
                    i += n;
                    continue;
                }
                header[have++] = b.getByte(i++);
                if (have == FRAME_HEADER) {
                    have = 0;
                    int length = (header[0] & 0xff) << 16 | (header[1] & 0xff) << 8 | header[2] & 0xff;
                    int stream = (header[5] & 0x7f) << 24 | (header[6] & 0xff) << 16 | (header[7] & 0xff) << 8 | header[8] & 0xff;
                    skip = length;
                    frame(length, header[3] & 0xff, header[4] & 0xff, stream);
                }
            }
        }

        abstract void frame(int length, int type, int flags, int stream);
    }
}
