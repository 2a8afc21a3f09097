package io.zerohop.hbone;

/**
 * Live payload byte counts of one open tunnel, from this side's point of view. Safe to read from
 * any thread; a read may lag the event loop by the bytes of one read or write.
 */
public interface TunnelCounters {
    long bytesReceived();

    long bytesSent();
}
