package io.zerohop.hbone.internal;

/** HTTP/2 tuning shared by client and server (defaults: ztunnel's). */
public record H2Config(int streamWindow, int connectionWindow, int maxFrameSize, int maxHeaderListSize) {
    public static final int DEFAULT_STREAM_WINDOW = 4 * 1024 * 1024;
    public static final int DEFAULT_CONNECTION_WINDOW = 16 * 1024 * 1024;
    public static final int DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;

    public H2Config {
        if (streamWindow < 65_535) {
            throw new IllegalArgumentException("stream window must be >= 65535 bytes, got " + streamWindow);
        }
        if (connectionWindow < 65_535) {
            throw new IllegalArgumentException("connection window must be >= 65535 bytes, got " + connectionWindow);
        }
        if (maxFrameSize < 16_384 || maxFrameSize > 16_777_215) {
            throw new IllegalArgumentException("max frame size must be in [16384, 16777215], got " + maxFrameSize);
        }
        if (maxHeaderListSize < 1024) {
            throw new IllegalArgumentException("max header list size must be >= 1024 bytes, got " + maxHeaderListSize);
        }
    }

    /**
     * The connection receive window for a connection that admits {@code streams} concurrent streams:
     * at least the configured one, and at least {@code streams} full stream windows, so that streams
     * whose reader stopped (each holding at most its own window) can never close the connection
     * window on the others (ztunnel's 4 MiB / 16 MiB pair lets four stalled tunnels stop every other
     * one, istio/ztunnel#1945). Memory stays bounded per stream by the stream window.
     */
    public int connectionWindowFor(int streams) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(connectionWindow, (long) streamWindow * streams));
    }

    /**
     * How much of what its streams' readers took the connection gives back at a time (a WINDOW_UPDATE on stream 0): half
     * a stream window, what Netty gives a stream back at. Netty's default for the connection is half of its window too
     * (netty/netty codec-http2 {@code DefaultHttp2LocalFlowController}: {@code DEFAULT_WINDOW_UPDATE_RATIO} 0.5; a state
     * writes its update once {@code processedWindow <= initialStreamWindowSize * ratio}, and only bytes a stream
     * consumed, or a closed stream's, lower {@code processedWindow}), and bytes that stalled tunnels hold are not
     * consumed: with more than half of {@link #connectionWindowFor} held, the others spent what was left before half
     * was taken, no update came, and every other tunnel of the connection stopped (7 of 8 stalled tunnels stopped the
     * eighth; HeadOfLineTest.stalledTunnelsHoldingMoreThanHalfTheConnectionWindowStopNoOther). Given back every half
     * stream window, the others stop only when stalled tunnels hold all but less than half a stream window, which
     * {@link #connectionWindowFor}'s one stream window per admitted stream never lets happen. hyperium/h2, ztunnel's,
     * has no such point: it gives the connection back once what was released reaches half of what the peer may still
     * send (src/proto/streams/flow_control.rs {@code unclaimed_capacity}, called by recv.rs
     * {@code release_connection_capacity} whenever ztunnel's src/proxy/h2.rs releases a stream's capacity), a threshold
     * that shrinks as held bytes grow. The cost: about one WINDOW_UPDATE per stream window of the connection's traffic.
     */
    public int connectionUpdate() {
        return streamWindow / 2;
    }

    /**
     * Opens {@code connection}'s receive window to {@link #connectionWindowFor}{@code (streams)} and gives it back every
     * {@link #connectionUpdate}. A WINDOW_UPDATE on stream 0 written through the codec raises the local flow
     * controller's connection window (Http2FrameCodec {@code write}: an increment of the connection stream's window);
     * Netty's ratio is the part of that window left when it gives back. On the connection's loop, its codec added.
     */
    void openConnectionWindow(io.netty.channel.Channel connection, io.netty.handler.codec.http2.Http2Connection h2, int streams) {
        int window = connectionWindowFor(streams);
        // Of the window the peer was already granted, not of HTTP/2's 65,535: Http2FrameCodec's handlerAdded has sent a
        // WINDOW_UPDATE on stream 0 of its own (twice what the stream window exceeds 65,535), and an increment counted
        // from 65,535 on top of it granted more than the window (HTTP2_CONNECTION_WINDOW_SIZE=32 MiB with a 1 MiB stream
        // window went out as 33.9 MiB; ZtunnelEnvTest.aRealStartsHboneClientSendsTheHttp2Variables). ztunnel's h2 sends
        // the one update of window - 65,535 (hyperium/h2 Builder::initial_connection_window_size).
        int granted = h2.local().flowController().windowSize(h2.connectionStream());
        if (window > granted) {
            connection.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame(window - granted));
        }
        if (h2.local().flowController() instanceof io.netty.handler.codec.http2.DefaultHttp2LocalFlowController f) {
            try {
                // Of the window as the controller holds it: Http2FrameCodec had already raised it by what the initial
                // stream window exceeds 65,535 (its handlerAdded), so it may exceed this window.
                int opened = f.initialWindowSize(h2.connectionStream());
                f.windowUpdateRatio(h2.connectionStream(), 1f - (float) connectionUpdate() / opened);
            } catch (io.netty.handler.codec.http2.Http2Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
