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
}
