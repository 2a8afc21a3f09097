package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.util.ReferenceCountUtil;

/**
 * An HTTP/1 connection after {@link Http1Filter} forwarded a 101 answering an upgrade request: from
 * then on bytes pass both ways unparsed, as Envoy's connection manager passes an upgraded stream's
 * data through (WebSocket and the like; {@code upgrade_configs}). Policy was decided on the upgrade
 * request. Event loop of the connection only.
 */
final class UpgradedConnection {
    private final ChannelHandlerContext ctx;
    private final Upstream upstream;
    /**
     * The request whose 101 switched the connection: the upgraded bytes count as its request's and its response's
     * ({@code bytes_received}, {@code bytes_sent}, Istio's byte histograms), as Envoy's stream carries them as its data.
     */
    private final Http1Exchange upgradedBy;
    /** Reading from the client stopped because the application's side could not take more ({@link #fromClient}). */
    private boolean paused;

    /** Writes toward the client, counted in the node's L7 budget ({@link Http1Filter#toClient}). */
    private final Http1Filter filter;

    UpgradedConnection(ChannelHandlerContext ctx, Upstream upstream, Http1Exchange upgradedBy, Http1Filter filter) {
        this.ctx = ctx;
        this.filter = filter;
        this.upstream = upstream;
        this.upgradedBy = upgradedBy;
    }

    /**
     * Switches the filter's connection to bytes: the HTTP/1 codecs leave the pipeline and what the
     * client sent after the upgrade request (bytes, and its FIN) goes on to the application, flushed.
     * The filter hands its reads here first: bytes the decoder still held come out of its removal
     * as reads, ahead of what waited in {@code waiting}.
     */
    void switchOver(PipelinedRequests waiting) {
        upstream.upgraded();
        ChannelHandlerContext decoder = ctx.pipeline().context(Http1Decoder.class);
        // Bytes after the upgrade request that the decoder holds come out as raw ByteBufs.
        if (decoder != null) {
            ctx.pipeline().remove(decoder.handler());
        }
        // Netty's encoder refuses raw bytes between messages; after the 101 there are no messages.
        ChannelHandlerContext encoder = ctx.pipeline().context(HttpResponseEncoder.class);
        if (encoder != null) {
            ctx.pipeline().remove(encoder.handler());
        }
        for (Object m; (m = waiting.poll()) != null; ) {
            if (m == PipelinedRequests.INPUT_END) {
                upstream.shutdownOutput();
            } else if (m instanceof ByteBuf b) {
                upgradedBy.requestBytes += b.readableBytes();
                upstream.writeRaw(b);
            } else {
                ReferenceCountUtil.release(m);
            }
        }
        upstream.flush();
    }

    /**
     * Read from the client; ownership passes. While the application's side cannot take more (its socket's buffer, or an
     * HTTP/2 stream's flow-control window: {@link H2Upstream}) reading from the client stops, until
     * {@link #upstreamWritable}, as Envoy's router stops reading a downstream whose upstream request is over its write
     * buffer's high watermark (envoyproxy/envoy source/common/router/upstream_request.cc
     * {@code UpstreamRequest::disableDataFromDownstreamForFlowControl}, the downstream stream's {@code readDisable}). Until
     * 7 December an upgraded connection read its client whatever the application took.
     */
    void fromClient(Object msg) {
        if (msg instanceof ByteBuf b) {
            upgradedBy.requestBytes += b.readableBytes();
            upstream.writeRaw(b);
            if (!paused && !upstream.isWritable()) {
                paused = true;
                ctx.channel().config().setAutoRead(false);
            }
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    /** The application's side can take more: reading from the client resumes if {@link #fromClient} stopped it. */
    void upstreamWritable() {
        if (paused) {
            paused = false;
            ctx.channel().config().setAutoRead(true);
        }
    }

    /** From the application; ownership passes. */
    void fromApplication(Object msg) {
        // Only bytes pass; an object the removed codec still emitted carries at most bytes.
        if (msg instanceof ByteBuf b) {
            upgradedBy.responseBytes += b.readableBytes();
            filter.toClient(msg, false);
        } else {
            if (msg instanceof HttpContent c && c.content().isReadable()) {
                upgradedBy.responseBytes += c.content().readableBytes();
                filter.toClient(c.content().retain(), false);
            }
            ReferenceCountUtil.release(msg);
        }
    }
}
