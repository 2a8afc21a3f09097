package io.zerohop.hbone.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;

/**
 * Every Netty pipeline hbone builds, and every handler name in them (one prefix, {@code hbone-}).
 * Nothing else in hbone adds a handler by name or looks one up by name.
 *
 * <p>Connection (client and server alike until HTTP/2 is negotiated; TCP → TLS → {@link TlsRecords}
 * (hbone-tls-records: what TLS encrypts at once) → the shared {@link Negotiator} → {@link Hold}; the
 * negotiator then adds the rest behind the hold and releases it):
 * <pre>
 *  socket ─▶ hbone-tls ─▶ [records] ─▶ hbone-conn ─▶ hbone-hold ─▶ hbone-h2 ─▶ hbone-h2-frames ─▶ hbone-h2-mux ─▶ hbone-ping ─▶ hbone-settings   (client)
 *            SslHandler   TlsRecords   Negotiator:   Hold: frames  Http2Frame  InboundFrames:     Http2Multiplex  PingKeepalive  SETTINGS, GOAWAY
 *                                      ClientConn-   read with the Codec       unknown frames     Handler         (PING, close   (ClientConnection)
 *                                      ection        Finished;                 dropped                            when
 *                                                    leaves once                                                  unanswered)
 *                                                    released
 *  socket ─▶ hbone-tls ─▶ [records] ─▶ hbone-conn ─▶ hbone-hold ─▶ hbone-h2 ─▶ hbone-h2-frames ─▶ hbone-h2-mux ─▶ hbone-ping ─▶ hbone-conn-tail  (server)
 *                                      Negotiator:                             unknown frames     one tunnel                     preface deadline,
 *                                      ServerConn-                             dropped; queued    channel per                    budgeted error log
 *                                      ection                                  DATA counted,      CONNECT
 *                                                                              waiting ones
 *                                                                              copied
 * </pre>
 *
 * <p>Tunnel (one {@link Http2StreamChannel} per CONNECT, both sides; auto-read off until the tunnel
 * is open and its handlers are in place):
 * <pre>
 *  hbone-h2-mux ─▶ hbone-tunnel ─▶ [hbone-hold] ─▶ [hbone-discard] ─▶ one of:
 *                  TunnelCodec     Hold: DATA /    Discard: after a      hbone-relay   Relay side (proxy mode, core's capture)
 *                  DATA ⇄ ByteBuf  END_STREAM read graceful close,       hbone-socket  SocketBridge of a TunnelSocket     
 *                  END_STREAM ⇄    with the        what the peer still   app handlers  Destination.embedded / HboneStream.channel()
 *                  input shutdown  HEADERS, until  sends is dropped
 *                  RST ⇄ Reset     the first read
 * </pre>
 *
 * <p>A proxy-mode upstream TCP connection has one handler, {@code hbone-relay}, behind a {@link Hold}
 * from registration until the relay joins (what epoll reads before, the bytes and FIN, is replayed
 * into the relay; then the hold leaves).
 */
public final class HbonePipeline {
    public static final String TLS = "hbone-tls";
    public static final String TLS_RECORDS = "hbone-tls-records";
    public static final String CONNECTION = "hbone-conn";
    public static final String HOLD = "hbone-hold";
    public static final String LINGER = "hbone-linger";
    public static final String H2 = "hbone-h2";
    public static final String FRAMES = "hbone-h2-frames";
    public static final String MUX = "hbone-h2-mux";
    public static final String PING = "hbone-ping";
    public static final String SETTINGS = "hbone-settings";
    public static final String CONNECTION_TAIL = "hbone-conn-tail";
    public static final String TUNNEL = "hbone-tunnel";
    public static final String DISCARD = "hbone-discard";
    public static final String SOCKET = "hbone-socket";
    public static final String RELAY = "hbone-relay";

    /** HBONE connections: writes pause above 1 MiB queued, resume below 256 KiB. */
    static final WriteBufferWaterMark CONNECTION_WATERMARK = new WriteBufferWaterMark(256 * 1024, 1024 * 1024);
    /** Tunnel streams: bounds what one tunnel queues behind its HTTP/2 window. */
    static final WriteBufferWaterMark TUNNEL_WATERMARK = new WriteBufferWaterMark(128 * 1024, 512 * 1024);

    /**
     * Every tunnel stream channel's receive allocator. A stream channel reads frames its connection
     * already decoded and never allocates a buffer, so this keeps only the read count, 16 reads per
     * wake-up as the stream channel's metadata sets them, one instance for all streams and one
     * 32-byte handle per stream ({@link TunnelReads#STREAM}; Netty's fixed allocator's handle is two
     * objects, 72 bytes, and its adaptive default keeps a size calculator besides; issue 14).
     */
    static final RecvByteBufAllocator STREAM_READS = TunnelReads.STREAM;

    private HbonePipeline() {}

    /** A connection up to the negotiator: TLS, {@link TlsRecords}, the negotiator, the hold behind it. */
    static void connection(Channel ch, SslHandler tls, Negotiator negotiator) {
        tls(ch.pipeline(), tls);
        ch.pipeline().addLast(CONNECTION, negotiator).addLast(HOLD, negotiator.hold);
    }

    /**
     * TLS and, behind it, {@link TlsRecords}, which decides what TLS encrypts at once; the SslHandler
     * then wraps each buffer it gets as it is (no coalescing of its own).
     */
    static void tls(ChannelPipeline p, SslHandler tls) {
        tls.setWrapDataSize(0);
        p.addLast(TLS, tls).addLast(TLS_RECORDS, new TlsRecords());
    }

    /**
     * The client's HTTP/2 handlers, added by its negotiator (push streams are refused). A GOAWAY of
     * ours (the idle timeout's, a connection error's) closes lingering, as the server's does.
     */
    static void clientH2(ChannelPipeline p, Http2FrameCodec codec, InboundFrames frames, PingKeepalive ping, ChannelHandler settings) {
        p.addLast(LINGER, new LingeringClose(p.get(SslHandler.class), codec.connection(), LingeringClose.LINGER_MILLIS))
                .addLast(H2, codec)
                .addLast(FRAMES, frames)
                .addLast(MUX, new Http2MultiplexHandler(new RejectPush()))
                .addLast(PING, ping)
                .addLast(SETTINGS, settings);
    }

    /**
     * The server's HTTP/2 handlers, added by its negotiator; {@code streams} initialises each CONNECT
     * stream; {@code lingerMillis} bounds the wait for the peer after our GOAWAY ({@link LingeringClose}).
     */
    static void serverH2(ChannelPipeline p, Http2FrameCodec codec, InboundFrames frames, ChannelHandler streams,
                         PingKeepalive ping, ChannelHandler tail, long lingerMillis) {
        p.addLast(LINGER, new LingeringClose(p.get(SslHandler.class), codec.connection(), lingerMillis))
                .addLast(H2, codec)
                .addLast(FRAMES, frames)
                .addLast(MUX, new Http2MultiplexHandler(streams))
                .addLast(PING, ping)
                .addLast(CONNECTION_TAIL, tail);
    }

    /** A tunnel stream channel, client or server: auto-read off, its watermark, the codec first. */
    static void tunnel(Http2StreamChannel ch, TunnelCodec codec) {
        ch.config().setAutoRead(false);
        ch.config().setWriteBufferWaterMark(TUNNEL_WATERMARK);
        ch.config().setRecvByteBufAllocator(STREAM_READS);
        ch.pipeline().addLast(TUNNEL, codec);
        // Closed with its connection (TunnelSet: one listener per connection, not two per tunnel).
        codec.channel = ch;
        TunnelSet.of(ch).add(codec);
    }

    /** Puts {@code hold} right behind the tunnel codec whose context is {@code codec}. */
    static void holdAfter(ChannelHandlerContext codec, Hold hold) {
        codec.pipeline().addAfter(codec.name(), HOLD, hold);
    }

    /** Drops the tunnel's input from now on (graceful close), once; false when the stream has no codec. */
    static boolean discardInput(Channel stream) {
        ChannelPipeline p = stream.pipeline();
        ChannelHandlerContext codec = p.context(TunnelCodec.class);
        if (codec == null) {
            return false;
        }
        if (p.get(DISCARD) == null) {
            p.addAfter(codec.name(), DISCARD, Tunnels.Discard.INSTANCE);
        }
        return true;
    }

    /** Adds a relay side at the end of {@code ch}'s pipeline (a tunnel's on its event loop, maybe later). */
    static void relay(Channel ch, ChannelHandler side) {
        if (!(ch instanceof Http2StreamChannel)) {
            ch.pipeline().addLast(RELAY, side);
            return;
        }
        // A tunnel that ended before the relay joined it (reset right after the 200) would leave the
        // relay waiting forever: it gets the end (TunnelCodec#replayEnded). Added on the tunnel's
        // loop: from another thread the add could land between the close's channelInactive and
        // Netty's removal of the closed channel's handlers, which removed the relay too.
        if (ch.eventLoop().inEventLoop()) {
            addRelay(ch, side);
        } else {
            try {
                ch.eventLoop().execute(() -> addRelay(ch, side));
            } catch (java.util.concurrent.RejectedExecutionException loopGone) {
                // The tunnel's client or server is closed: its channel is gone with it.
            }
        }
    }

    private static void addRelay(Channel stream, ChannelHandler side) {
        stream.pipeline().addLast(RELAY, side);
        replayIfEnded(stream);
    }

    /** Adds a blocking socket's bridge at the end of the tunnel's pipeline; on the tunnel's event loop. */
    static void socket(Channel stream, ChannelHandler bridge) {
        stream.pipeline().addLast(SOCKET, bridge);
        replayIfEnded(stream);
    }

    private static void replayIfEnded(Channel stream) {
        if (!stream.isActive()) {
            TunnelCodec.replayEnded(stream);
        }
    }

    /** The client's push-stream initializer: HBONE has no server push, any pushed stream is closed. */
    private static final class RejectPush extends io.netty.channel.ChannelInboundHandlerAdapter {
        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            ctx.channel().close();
        }
    }
}
