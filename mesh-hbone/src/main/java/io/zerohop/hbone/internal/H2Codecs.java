package io.zerohop.hbone.internal;

import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2RemoteFlowController;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.WeightedFairQueueByteDistributor;

/**
 * Http2FrameCodec factory. Netty's default byte distributor hands each active stream 1 KiB per
 * round, so with many busy tunnels every DATA frame shrinks to 1 KiB (a frame header and a buffer
 * per KiB); HBONE tunnels are bulk byte streams, so the quantum here is 64 KiB.
 */
final class H2Codecs {
    static final int ALLOCATION_QUANTUM = 64 * 1024;
    /**
     * RST_STREAM frames a peer may send, and we may send, per second on one connection before it is
     * torn down (Netty's "rapid reset" guards). Netty's default, 200 per 30 s, is sized for request/response traffic: a
     * pooled HBONE connection whose peer closes tunnels by resetting them (nghttpx does, and any app
     * reset becomes one) passes that within seconds and every tunnel on it dies. 10,000/s is above
     * the tunnel-open rate one connection sustains here (about 7,000/s) and still bounds a flood.
     */
    static final int MAX_RST_FRAMES_PER_SECOND = 10_000;

    private H2Codecs() {}

    static Http2FrameCodec server(Http2Settings settings) {
        return new Builder(true).initialSettings(settings).gracefulShutdownTimeoutMillis(0).build();
    }

    static Http2FrameCodec client(Http2Settings settings) {
        return new Builder(false).initialSettings(settings).encoderEnforceMaxConcurrentStreams(true)
                .gracefulShutdownTimeoutMillis(0).build();
    }

    private static final class Builder extends Http2FrameCodecBuilder {
        Builder(boolean server) {
            // The connection carries the role (the builder forbids setting both).
            DefaultHttp2Connection connection = new DefaultHttp2Connection(server);
            WeightedFairQueueByteDistributor distributor = new WeightedFairQueueByteDistributor(connection);
            distributor.allocationQuantum(ALLOCATION_QUANTUM);
            connection.remote().flowController(new DefaultHttp2RemoteFlowController(connection, distributor));
            connection(connection);
            decoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_SECOND, 1);
            // The same bound on the RST_STREAM we send: every tunnel abort is one.
            encoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_SECOND, 1);
        }
    }
}
