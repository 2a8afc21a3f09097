package io.zerohop.hbone;

/**
 * Live payload byte counts of one open tunnel, from this side's point of view. Safe to read from
 * any thread; a read may lag the event loop by the bytes of one read or write.
 */
public interface TunnelCounters {
    long bytesReceived();

    long bytesSent();

    /**
     * Aborts the open tunnel as a TCP reset would: RST_STREAM(CONNECT_ERROR) to the peer and, in proxy
     * mode, a reset of the upstream connection, so neither application sees a clean end. For a tunnel
     * that a policy change now denies (ztunnel's {@code PolicyWatcher}). Any thread; a no-op once the
     * tunnel has closed.
     *
     * @throws UnsupportedOperationException when this side cannot abort the tunnel
     */
    default void abort() {
        throw new UnsupportedOperationException("this tunnel cannot be aborted");
    }
}
