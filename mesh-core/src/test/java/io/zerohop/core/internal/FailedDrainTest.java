package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.testing.CapturedStderr;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass: with {@code drain(ChronoUnit.FOREVER.getDuration())} the drain threw {@link ArithmeticException}
 * half-way. Mesh.close() threw it (its Javadoc says it never throws), and the mesh counted as closed while its HBONE
 * listener still accepted and its loops ran. The builder now refuses such a drain; this checks the other half, that a
 * drain failing for any reason still stops everything. The config is made here, past the builder's check, as the only
 * way left to make the drain fail.
 */
class FailedDrainTest {

    @Test
    void aDrainThatFailsStillClosesTheListenerAndEndsTheLoops() throws Exception {
        MeshSettings settings = new MeshSettings();
        settings.identityProvider(InMemoryCa.create("cluster.local"));
        settings.identity(SpiffeIds.istio("cluster.local", "prod", "backend"));
        settings.threads(1);
        settings.inbound(new InetSocketAddress("127.0.0.1", 0));
        MeshConfig c = settings.config();
        MeshConfig forever = new MeshConfig(c.provider(), c.trustDomain(), c.identity(), c.policy(), c.registry(), c.node(), c.inbound(),
                c.inboundTransparent(), c.meterRegistry(), c.onTunnelClosed(), c.threads(), c.maxStreamsPerConnection(),
                c.idleTimeout(), ChronoUnit.FOREVER.getDuration(), c.metricsInterval(), c.passthroughUnknown(), c.clusterId(),
                c.acceptHttp10(), c.sniffHttp10(), c.inboundEndpoints(), c.federation(), c.localAddress());
        MeshRuntime runtime = new MeshRuntime(forever);
        runtime.start().get(10, TimeUnit.SECONDS);
        InetSocketAddress listener = runtime.inboundAddress();
        try (Socket s = new Socket()) {
            s.connect(listener, 2000); // accepting before
        }

        try (CapturedStderr err = new CapturedStderr()) {
            runtime.shutdown().get(10, TimeUnit.SECONDS);
            assertThat(err.text()).contains("drain failed (java.lang.ArithmeticException");
        }

        assertThat(runtime.eventLoopGroup().isTerminated()).as("event loops ended").isTrue();
        try (Socket s = new Socket()) {
            s.connect(listener, 2000);
            throw new AssertionError("the HBONE listener " + listener + " still accepts after the shutdown");
        } catch (ConnectException expected) {
            // refused: closed
        }
        assertThat(runtime.readiness().pending()).contains("draining");
    }
}
