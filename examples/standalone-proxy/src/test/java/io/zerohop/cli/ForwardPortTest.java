package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code --forward} on its target's own port, the README's shape ({@code 127.0.0.1:8080=10.0.1.2:8080}): the forward
 * listener is the proxy's own port at its bound address only. Until 5 December it claimed the port on every address, as
 * the proxy's fixed listeners do (ztunnel's illegal_ports, for listeners ztunnel has; it has no forwards), so every
 * connection through such a forward was dropped as a self call, and every inbound tunnel to that port, on any address,
 * got 503 (a new-user pass, helper 233).
 */
class ForwardPortTest {
    @Test
    void aForwardOnItsTargetsPortReachesTheTargetAndItsInboundTunnels(@TempDir Path dir) throws Exception {
        try (ServerSocket app = ForwardSourceTest.oneByteEcho("127.0.152.34")) {
            int port = app.getLocalPort();
            Path w = Files.writeString(dir.resolve("w.yaml"), """
                    workloads:
                      - {namespace: prod, name: client, serviceAccount: client, addresses: [127.0.152.33]}
                      - {namespace: prod, name: web-1, serviceAccount: web, addresses: [127.0.152.34]}
                    """);
            try (ChildProxy proxy = new ChildProxy(List.of(), "--in-memory-ca", "--workloads", w.toString(),
                    "--inbound", "127.0.152.34:15008", "--forward", "127.0.152.24:" + port + "=127.0.152.34:" + port,
                    "--metrics", "off", "--readiness", "off", "--admin", "off")) {
                try (Socket s = proxy.dialForward("127.0.152.24", "127.0.152.33")) {
                    s.getOutputStream().write('x');
                    assertThat(s.getInputStream().read()).as(proxy.output()).isEqualTo('x');
                }
                proxy.stop();
                assertThat(proxy.output()).doesNotContain("self call")
                        .containsPattern("inbound src=\\S+ .*dst=127\\.0\\.152\\.34:" + port + " dst_id=spiffe://cluster\\.local/ns/prod/sa/web status=200");
            }
        }
    }
}
