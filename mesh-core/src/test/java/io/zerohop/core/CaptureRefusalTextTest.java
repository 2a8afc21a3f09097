package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import io.zerohop.testing.netty.ClosedPort;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A captured connection refused because the peer's HBONE port refused the dial says so as the access line
 * does, in Rust's {@code io::Error} words ({@code Connection refused (os error 111)}), not in Netty's native
 * text ({@code finishConnect(..) failed with error(-111): Connection refused}, newuser21). Real sockets; the
 * HBONE port is a bound port that never listens.
 */
class CaptureRefusalTextTest {
    @Test
    void aRefusedDialReadsAsTheAccessLine() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.0.2");
        Workload backend = new Workload("prod", "backend", "backend", Map.of(), List.of(backendIp), Workload.Protocol.HBONE, "b", "cluster.local");
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of(), List.of(InetAddress.getByName("127.0.0.3")),
                Workload.Protocol.HBONE, null, "cluster.local");
        try (ClosedPort hbone = new ClosedPort();
             Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local"))
                     .workloads(WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", hbone.address()))).threads(1).build()) {
            InetSocketAddress forward = mesh.capture(Capture.forward(new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress(backendIp, 8080)));
            try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket()) {
                s.bind(new InetSocketAddress(frontend.addresses().get(0), 0));
                try {
                    // The refusal is a reset, which can come before connect() returns (a fresh-clone CI run saw it there).
                    s.connect(forward, 10_000);
                    s.setSoTimeout(10_000);
                    assertThat(s.getInputStream().read()).as("refused").isEqualTo(-1);
                } catch (SocketException reset) {
                    // a reset is the refusal too
                }
                String line = err.awaitLine(" refused: ", "Connection refused (os error 111)");
                assertThat(line).doesNotContain("finishConnect").doesNotContain("error(-111)");
            }
        }
    }
}
