package io.zerohop.core.internal.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.util.ReferenceCountUtil;

/**
 * The embedded application as an {@link Upstream}: sits behind {@link Http1Filter} in the tunnel
 * stream's pipeline, in front of the handlers the application's {@code StreamHandler} added. The
 * application keeps reading and writing bytes as on any tunnel: allowed requests are re-encoded
 * for it, and what it writes is parsed as responses (Netty's client codec, run in an
 * {@link EmbeddedChannel} on this stream's event loop) so that the filter keeps requests and
 * responses paired. Its END_STREAM write is taken as the end of its responses.
 */
final class AppBridge extends ChannelDuplexHandler implements Upstream {
    private final Http1Filter filter;
    private final EmbeddedChannel codec = new EmbeddedChannel(new HttpClientCodec(Http1Decoder.MAX_INITIAL_LINE,
            Http1Decoder.MAX_HEADER_SIZE, 64 * 1024));
    private ChannelHandlerContext ctx;
    private boolean upgraded;
    private boolean ended;

    AppBridge(Http1Filter filter) {
        this.filter = filter;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        codec.finishAndReleaseAll();
    }

    // requests to the application

    @Override
    public void write(HttpObject msg) {
        codec.writeOutbound(msg);
        for (Object o; (o = codec.readOutbound()) != null; ) {
            if (o instanceof ByteBuf b && !b.isReadable()) {
                // The encoder's empty buffer for a LastHttpContent without trailers: no bytes for the application.
                b.release();
                continue;
            }
            ctx.fireChannelRead(o);
        }
    }

    @Override
    public void writeRaw(ByteBuf bytes) {
        ctx.fireChannelRead(bytes);
    }

    @Override
    public void flush() {
        ctx.fireChannelReadComplete();
    }

    @Override
    public boolean isWritable() {
        return true;
    }

    @Override
    public void readResponses(boolean on) {
        // The application sees the tunnel's own writability.
    }

    @Override
    public void shutdownOutput() {
        ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
    }

    @Override
    public void upgraded() {
        upgraded = true;
    }

    @Override
    public void close() {
        // The application shares the tunnel: the filter closing the stream closes it.
    }

    // responses from the application

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (upgraded && !ended) {
            // Upgraded bytes toward the client: counted in the node's L7 budget until written, as TcpUpstream's pass
            // through Http1Filter.toClient (L7EmbeddedUpgradeBudgetTest; until 7 December, h387, in no count).
            filter.fromEmbeddedApplication(ctx, msg, promise);
            return;
        }
        if (ended) {
            ctx.write(msg, promise);
            return;
        }
        if (msg instanceof ByteBuf b) {
            codec.writeInbound(b);
            drain();
            promise.trySuccess();
            return;
        }
        if (msg instanceof Http2DataFrame f) {
            ByteBuf content = f.content().retain();
            boolean end = f.isEndStream();
            ReferenceCountUtil.release(f);
            if (content.isReadable()) {
                codec.writeInbound(content);
            } else {
                content.release();
            }
            if (end) {
                ended = true;
                codec.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            }
            drain();
            promise.trySuccess();
            if (end) {
                filter.onUpstreamEnd(true);
            }
            return;
        }
        ctx.write(msg, promise);
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
        ctx.flush();
        if (upgraded && !ended) {
            // The embedded application's flush stands for a read of an application's connection: the budget is checked.
            filter.embeddedApplicationFlushed();
        }
    }

    private void drain() {
        for (Object o; (o = codec.readInbound()) != null; ) {
            filter.onResponse(Upstream.withoutTrailers(o));
        }
    }
}
