package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The plaintext connections ztunnel denies before it builds a connection result, its early denies, get one access line
 * each in zerohop's format too, and no metrics, as ztunnel's {@code log_early_deny} (istio/ztunnel
 * src/proxy/inbound_passthrough.rs; src/proxy/metrics.rs: a WARN {@code connection failed} line, no counter): a self
 * call ({@code Error::SelfCall}) and, in ztunnel's shared node mode (the mode a zerohop node proxy plays; the code before
 * commit 4de5e896, #1218), a destination address without a workload ({@code Error::UnknownDestination}). Until
 * 2 December the first had only the rate-limited WARN on {@code io.zerohop.core.Mesh}, the second only the capture
 * listener's INFO line, neither on {@code io.zerohop.access}. Real sockets on 127.0.86.x, zerohop's format
 * (slf4j-simple on stderr).
 */
class PlaintextEarlyDenyLineTest {
    static final InMemoryCa CA = InMemoryCa.create("cluster.local");

    @Test
    void aSelfCallAndAnAddressWithoutAWorkloadHaveOneAccessLineAndNoMetrics() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.86.12");
        InetAddress client = InetAddress.getByName("127.0.86.14");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local");
        SimpleMeterRegistry m = new SimpleMeterRegistry();
        // Never dialled; below the ephemeral range, so no listener of the proxy bound on port 0 has the number (a self call).
        int unusedPort = 8080;
        try (Mesh server = Mesh.builder().identityProvider(CA).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").meterRegistry(m).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            // 15006: ztunnel's plaintext port, one of the proxy's own (its illegal_ports).
            InetSocketAddress self = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, 15006)));
            InetSocketAddress nobody = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0),
                    new InetSocketAddress(InetAddress.getByName("127.0.86.13"), unusedPort)));
            try (CapturedStderr err = new CapturedStderr()) {
                int port = refusedFrom(client, self);
                String line = err.awaitLine("access - plaintext-inbound refused src=127.0.86.14:" + port + " ");
                assertThat(line).endsWith(" src_id=- src_workload=- dst=127.0.86.12:15006 dst_id=" + backend.identity()
                        + " status=- reason=\"self call: one of this proxy's own ports (one of ztunnel's fixed ports, 15008, 15006, 15001 and 15080)\"");
                assertThat(err.count(":" + port)).as("one line for the self call").isEqualTo(1);
                assertThat(err.count("self call 127.0.86.14")).as("the WARN is DEBUG while the access line is written").isZero();

                int other = refusedFrom(client, nobody);
                line = err.awaitLine("access - plaintext-inbound refused src=127.0.86.14:" + other + " ");
                assertThat(line).endsWith(" src_id=- src_workload=- dst=127.0.86.13:" + unusedPort + " dst_id=- status=- reason=\"not a workload of this node\"");
                assertThat(err.count(":" + other)).as("one line, not the capture listener's too").isEqualTo(1);
            }
            assertThat(m.find("istio.tcp.connections.opened").counters()).as("early denies are not counted").isEmpty();
            assertThat(m.find("istio.tcp.connections.closed").counters()).isEmpty();
        }
    }

    /** Connects from {@code from} to {@code via}, which refuses (a reset, maybe before connect returns); the local port. */
    static int refusedFrom(InetAddress from, InetSocketAddress via) throws IOException {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(from, 0));
            try {
                s.connect(via, 10_000);
                s.setSoTimeout(20_000);
                assertThat(s.getInputStream().read()).as("nothing relayed").isEqualTo(-1);
            } catch (IOException reset) {
                // refused, as expected
            }
            return s.getLocalPort();
        }
    }
}
