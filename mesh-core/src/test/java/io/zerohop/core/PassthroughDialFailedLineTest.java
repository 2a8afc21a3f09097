package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A captured connection relayed as plain TCP (passthrough) whose dial is refused has its access line, as ztunnel's: its
 * {@code proxy_to_tcp} (istio/ztunnel src/proxy/outbound.rs) builds the connection result before it dials, and the
 * dial's {@code io::Error} ends it ({@code record(Err(Error::Io))}: {@code connection complete} at ERROR, {@code error="io
 * error: Connection refused (os error 111)"}, src/proxy.rs). Until 5 December only the metrics moved and the only line was
 * the capture listener's INFO (a review pass). Real sockets on 127.0.87.x, zerohop's format (slf4j-simple on stderr);
 * ztunnel's format: {@code ZtunnelPlaintextLogTest.aPassthroughWhoseDialFailsIsAnIoError}.
 */
class PassthroughDialFailedLineTest {
    @Test
    void aRefusedPassthroughDialHasOneAccessLineAndCountsOnce() throws Exception {
        InetAddress bind = InetAddress.getByName("127.0.87.1");
        InetAddress client = InetAddress.getByName("127.0.87.2");
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(client),
                Workload.Protocol.HBONE, null, "cluster.local");
        SimpleMeterRegistry m = new SimpleMeterRegistry();
        try (Mesh node = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).workloads(WorkloadRegistry.of(List.of(frontend), Map.of()))
                .passthroughUnknown(true).meterRegistry(m).threads(1).build();
             Socket dead = new Socket()) {
            // Bound, never listening: the dial is refused.
            dead.bind(new InetSocketAddress(InetAddress.getByName("127.0.87.3"), 0));
            InetSocketAddress to = (InetSocketAddress) dead.getLocalSocketAddress();
            InetSocketAddress via = node.capture(Capture.forward(new InetSocketAddress(bind, 0), to));
            try (CapturedStderr err = new CapturedStderr()) {
                int port = PlaintextEarlyDenyLineTest.refusedFrom(client, via);
                String line = err.awaitLine("access - passthrough refused src=127.0.87.2:" + port + " ");
                assertThat(line).endsWith(" src_id=- dst=" + Addresses.authority(to) + " dst_id=- status=- reason=\"upstream "
                        + Addresses.authority(to) + " unreachable: Connection refused (os error 111)\"");
                assertThat(err.count(":" + port)).as("one line, not the capture listener's too").isEqualTo(1);
            }
            assertThat(m.find("istio.tcp.connections.opened").tag("source_workload", "frontend").counters()).extracting(Counter::count)
                    .containsExactly(1.0);
            assertThat(m.find("istio.tcp.connections.failed").tag("response_flags", "CONNECT").tag("reporter", "source").counters())
                    .extracting(Counter::count).containsExactly(1.0);
        }
    }
}
