package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;

/**
 * Counts the gRPC messages of one direction of a stream as they start, as Envoy's gRPC frame inspector counts them for
 * Istio's {@code istio_request_messages_total} and {@code istio_response_messages_total} (envoyproxy/envoy
 * {@code source/common/grpc/codec.cc} {@code FrameInspector::inspect}, used by the {@code grpc_stats} filter whose counts
 * istio/proxy's stats filter reports): a message is a 5-byte prefix (a flag byte, 0 or 1 for compressed, then a 4-byte
 * big-endian length) and that many bytes; it counts at its flag byte, so one split across DATA frames counts once, when
 * it starts. A flag byte with other bits set is not gRPC framing: the rest of that DATA frame is not counted, and the
 * next frame is read from its first byte as a flag byte, as Envoy's inspector returns and is called again. Reads the
 * bytes in place (no copy, reader index untouched); one instance per stream direction, one thread.
 */
final class GrpcMessageCount {
    /** Bytes of the current prefix read: 0 when the next byte (after any payload left) is a flag byte. */
    private int prefix;
    /** The prefix's length field so far. */
    private long length;
    /** Payload bytes of the current message still to come. */
    private long payload;

    /**
     * @param data a DATA frame's payload (its readable bytes); never null
     * @return how many messages started in it
     */
    int inspect(ByteBuf data) {
        int started = 0;
        int i = data.readerIndex();
        int end = data.writerIndex();
        while (i < end) {
            if (payload > 0) {
                int skip = (int) Math.min(payload, end - i);
                i += skip;
                payload -= skip;
                continue;
            }
            int b = data.getUnsignedByte(i++);
            if (prefix == 0) {
                if ((b & ~1) != 0) {
                    return started;
                }
                started++;
                length = 0;
                prefix = 1;
            } else {
                length = length << 8 | b;
                if (++prefix == 5) {
                    prefix = 0;
                    payload = length;
                }
            }
        }
        return started;
    }
}
