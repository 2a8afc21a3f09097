package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;

/**
 * The bytes an HTTP/1 connection carried, as Envoy's HTTP/1 codec meters them for its streams' downstream
 * {@code BytesMeter}: everything read (request line, header lines, body with its chunk framing, and after an upgrade the
 * upgraded bytes; envoyproxy/envoy {@code source/common/http/http1/codec_impl.cc} {@code ConnectionImpl::onDispatch},
 * {@code addWireBytesReceived(data.length())} for each buffer dispatched, before it is parsed) and everything written
 * (status line, headers, body; {@code flushOutput}, {@code addWireBytesSent}). Istio's {@code istio_request_bytes} and
 * {@code istio_response_bytes} are these two counts of a request's stream (istio/proxy
 * {@code source/extensions/filters/http/istio_stats/istio_stats.cc} {@code IstioStatsFilter::log}:
 * {@code getDownstreamBytesMeter()}, {@code wireBytesReceived()}, {@code wireBytesSent()}); {@link Http1Filter} gives
 * each request what the connection carried since the request before it was logged (a pipelined one from its first byte,
 * {@link Http1Decoder.WireRequest}). Sits between the transport and the
 * HTTP/1 codecs, so it counts plaintext HTTP whatever carries it (an HBONE stream, TLS, TCP). Event loop only.
 */
final class Http1WireBytes extends ChannelDuplexHandler {
    private long received;
    private long sent;

    long received() {
        return received;
    }

    long sent() {
        return sent;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf b) {
            received += b.readableBytes();
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        // Counted as written, not as flushed: the log line of a response is made between its write and its flush (before
        // the client can read it), and every byte written is flushed.
        if (msg instanceof ByteBuf b) {
            sent += b.readableBytes();
        }
        ctx.write(msg, promise);
    }
}
