package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;

/** Reset and graceful close of a tunnel channel, shared by the relay, both tunnel halves and sockets. */
public final class Tunnels {
    /** How long a closed tunnel waits for the peer's END_STREAM before resetting the stream. */
    static final long LINGER_SECONDS = 30;

    private Tunnels() {}

    /**
     * Aborts a tunnel: RST_STREAM(CONNECT_ERROR), RFC 9113 §8.5's code for a CONNECT tunnel whose TCP
     * side was reset or failed. Not CANCEL (what Netty sends when a stream channel is merely
     * closed): ztunnel, like {@link TunnelCodec}, reads NO_ERROR and CANCEL as a clean end of the
     * peer's data, so only an error code reaches the far application as a reset. Any thread.
     */
    public static void reset(Channel ch) {
        reset(ch, null);
    }

    /**
     * {@link #reset(Channel)} by one of the server's limits: {@code why} becomes the tunnel's
     * {@link io.zerohop.hbone.TunnelResult#error()} (one of {@link io.zerohop.hbone.TunnelResult#LIMITS}),
     * where a reset's is "reset". Event loop of {@code ch}.
     */
    static void reset(Channel ch, String why) {
        if (!ch.isActive()) {
            return;
        }
        TunnelCodec codec = ch.pipeline().get(TunnelCodec.class);
        if (codec != null && why != null) {
            if (codec.rare == null) {
                codec.rare = new TunnelCodec.Rare();
            }
            if (codec.rare.resetBy == null) {
                codec.rare.resetBy = why;
            }
        }
        if (codec != null && codec.rstReceived()) {
            // The peer reset the stream: answering with RST_STREAM is what RFC 9113 section 5.4.2 forbids.
            TunnelCodec.closeAfterReset(ch);
            return;
        }
        // A tunnel whose bytes are parsed as HTTP/2 (L7 enforcement) has its own h2 codec in this pipeline: written from
        // the tail, the RST_STREAM was taken by that codec for a frame of its own connection, with no stream, and failed,
        // and the close that followed went through it too, a GOAWAY NO_ERROR and a Netty CANCEL, which the client's side
        // reads as a clean end (newuser27: a policy change's cut reached the gRPC client as GOAWAY NO_ERROR and the
        // frontend logged end=fin). Written from that codec's context, it goes straight to the tunnel's codec.
        ChannelHandlerContext inner = ch.pipeline().context(io.netty.handler.codec.http2.Http2FrameCodec.class);
        // A stream error of Netty's codec (what the peer sent was malformed) keeps its own code: RFC 9113 section 5.4.2.
        Http2Error code = codec != null ? codec.resetError() : Http2Error.CONNECT_ERROR;
        (inner != null ? inner.writeAndFlush(new DefaultHttp2ResetFrame(code))
                : ch.writeAndFlush(new DefaultHttp2ResetFrame(code))).addListener(f -> ch.close());
    }

    /**
     * END_STREAM if not sent; if the peer has not finished, drop what it still sends until it does
     * (the stream then closes by itself), resetting after {@link #LINGER_SECONDS}. The END_STREAM is
     * flushed with the other tunnels' writes of this pass of the event loop ({@link #flushSoon}).
     * Event loop only.
     */
    public static void closeGracefully(Channel ch, TunnelCodec codec) {
        if (!ch.isActive()) {
            return;
        }
        if (!codec.outputEnded()) {
            ch.write(new DefaultHttp2DataFrame(true));
            flushSoon(ch);
        }
        if (codec.inputEnded()) {
            return;
        }
        if (!HbonePipeline.discardInput(ch)) {
            return;
        }
        ch.config().setAutoRead(true);
        ch.read();
        // One timer per connection (TunnelSet), and the deadline leaves it when the tunnel closes:
        // left pending, a per-tunnel timer held the closed stream channel (pipeline, handlers,
        // tunnel info) for the whole linger time, so open/close churn filled the old generation
        // (issue 14, benchmarks/results/profile-open.md).
        Linger l = new Linger(ch);
        codec.linger = l;
        TunnelSet.of(ch).lingers().add(l);
    }

    /** A gracefully closed tunnel still waiting for the peer's END_STREAM: reset when it expires. */
    private static final class Linger extends TunnelSet.Deadline {
        private final Channel ch;

        Linger(Channel ch) {
            this.ch = ch;
        }

        @Override
        void expire() {
            reset(ch);
        }
    }

    private static final AttributeKey<FlushBatch> FLUSH_BATCH = AttributeKey.valueOf(Tunnels.class, "flushBatch");

    /**
     * Flushes the connection that carries {@code stream} once the tasks already queued on its event
     * loop have run, once for all the tunnel writes made by those tasks: tunnels opened or closed
     * together then cost one TLS record and one {@code send()}, not one each (issue 14,
     * benchmarks/results/open-batch.md; gRPC-java's {@code WriteQueue} batches its stream writes
     * the same way, and Netty's own multiplexer does it for writes made while the connection is
     * being read). A lone write waits only for the loop's current pass, never for a timer.
     * Without a parent (a test's EmbeddedChannel) the stream is flushed at once. Event loop only.
     */
    static void flushSoon(Channel stream) {
        Channel parent = stream.parent();
        if (parent == null) {
            stream.flush();
            return;
        }
        FlushBatch b = parent.attr(FLUSH_BATCH).get();
        if (b == null) {
            b = new FlushBatch(parent);
            parent.attr(FLUSH_BATCH).set(b);
        }
        b.request();
    }

    /** One connection's pending batched flush. Event loop only. */
    private static final class FlushBatch implements Runnable {
        private final Channel connection;
        private boolean queued;

        FlushBatch(Channel connection) {
            this.connection = connection;
        }

        void request() {
            if (!queued) {
                queued = true;
                connection.eventLoop().execute(this);
            }
        }

        @Override
        public void run() {
            queued = false;
            connection.flush();
        }
    }

    @ChannelHandler.Sharable
    static final class Discard extends ChannelInboundHandlerAdapter {
        static final Discard INSTANCE = new Discard();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
