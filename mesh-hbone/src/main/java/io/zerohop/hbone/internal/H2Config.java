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
}
