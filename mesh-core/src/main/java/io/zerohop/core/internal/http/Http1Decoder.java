package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.List;

/**
 * Netty's request decoder plus the one framing check it lacks: obsolete line folding (RFC 9112
 * §5.2). Netty 4.2 already fails a request that has both Content-Length and Transfer-Encoding,
 * several Content-Length values, a transfer coding other than a final {@code chunked}, invalid
 * header name or value characters, bare LF line ends, or headers over the size limit; it silently
 * joins folded lines, which is how a header can mean one thing here and another to the
 * application. A folded header block yields a failed {@link HttpRequest} and nothing after it
 * is ever decoded (the connection is answered 400 and closed).
 *
 * <p>To see the whole header block at once, decoding of a new message waits until its blank line
 * has arrived (or the block outgrows the limit, which Netty then reports as too long).
 */
final class Http1Decoder extends HttpRequestDecoder {
    /** Envoy's default {@code max_request_headers_kb} is 60. */
    static final int MAX_HEADER_SIZE = 60 * 1024;
    static final int MAX_INITIAL_LINE = 16 * 1024;

    private boolean inBody;
    private boolean failed;

    Http1Decoder() {
        super(new HttpDecoderConfig().setMaxInitialLineLength(MAX_INITIAL_LINE).setMaxHeaderSize(MAX_HEADER_SIZE)
                .setMaxChunkSize(64 * 1024));
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf buffer, List<Object> out) throws Exception {
        if (failed) {
            buffer.skipBytes(buffer.readableBytes());
            return;
        }
        if (!inBody) {
            // Netty skips control characters and whitespace before a request line (RFC 9112 section 2.2
            // allows empty lines there). Skipped here first: a leading CRLFCRLF was the blank line found
            // below, so the real header block went to Netty unchecked and its obs-fold was joined.
            int ri = buffer.readerIndex();
            while (ri < buffer.writerIndex() && skipped(buffer.getByte(ri))) {
                ri++;
            }
            buffer.readerIndex(ri);
            if (!buffer.isReadable()) {
                return;
            }
            int end = blankLine(buffer, ri);
            if (end < 0) {
                if (buffer.readableBytes() > MAX_INITIAL_LINE + MAX_HEADER_SIZE) {
                    super.decode(ctx, buffer, out);
                }
                return;
            }
            if (folded(buffer, ri, end)) {
                failed = true;
                buffer.skipBytes(buffer.readableBytes());
                HttpRequest bad = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/bad-request");
                bad.setDecoderResult(DecoderResult.failure(new ObsFoldException()));
                out.add(bad);
                return;
            }
        }
        int before = out.size();
        super.decode(ctx, buffer, out);
        for (int i = before; i < out.size(); i++) {
            Object o = out.get(i);
            if (o instanceof HttpRequest) {
                inBody = true;
            }
            if (o instanceof LastHttpContent) {
                inBody = false;
            }
        }
    }

    /** What Netty's decoder skips before a request line: ISO control characters and whitespace. */
    private static boolean skipped(byte c) {
        int v = c & 0xff;
        return v <= 0x20 || (v >= 0x7f && v <= 0x9f);
    }

    /** Index of the CR of the first CRLFCRLF at or after {@code from}, or -1. */
    private static int blankLine(ByteBuf b, int from) {
        int to = b.writerIndex() - 3;
        for (int i = from; i < to; i++) {
            if (b.getByte(i) == '\r' && b.getByte(i + 1) == '\n' && b.getByte(i + 2) == '\r' && b.getByte(i + 3) == '\n') {
                return i;
            }
        }
        return -1;
    }

    /** A header line starting with SP or HTAB (obs-fold) before the blank line at {@code end}. */
    private static boolean folded(ByteBuf b, int from, int end) {
        for (int i = from + 1; i <= end + 1; i++) {
            byte c = b.getByte(i);
            if ((c == ' ' || c == '\t') && b.getByte(i - 1) == '\n') {
                return true;
            }
        }
        return false;
    }

    /** Obsolete line folding in a request header (RFC 9112 §5.2: a server must reject it or replace it). */
    static final class ObsFoldException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        ObsFoldException() {
            super("obsolete line folding (obs-fold) in a header");
        }
    }
}
