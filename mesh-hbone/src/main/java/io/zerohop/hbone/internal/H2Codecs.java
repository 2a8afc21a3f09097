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
        }
    }
}
