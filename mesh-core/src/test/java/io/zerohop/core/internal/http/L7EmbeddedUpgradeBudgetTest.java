package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ChannelOption;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.netty.Await;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An embedded application ({@code Mesh.serve} with Netty handlers, {@link AppBridge}) that upgrades a connection and then
 * writes toward a client that reads nothing: its bytes count in the node's L7 budget ({@link H2HeldBudget}) as an
 * application's upgraded bytes do on the TCP path ({@link TcpUpstream}, {@code Http1Filter.toClient}), and the count
 * goes back when the client goes. Until 7 December (h387) {@link AppBridge} passed them on uncounted: the count stayed
 * where it was however much the tunnel's stream held. Addresses 127.0.247.20-21, port 51620 (and 51621, the served port).
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7EmbeddedUpgradeBudgetTest {
    @Test
    void bytesAnEmbeddedApplicationWritesAfterAnUpgradeAreCountedUntilWritten() throws Exception {
        InetAddress bip = InetAddress.getByName("127.0.247.20");
        int port = 51621;
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(bip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.247.21")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(bip, 51620)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        // A rule on an HTTP attribute: the port's connections are parsed (L7), as an Envoy-enforced policy would have them.
        io.zerohop.policy.PolicyEngine policy = io.zerohop.policy.PolicyEngine.builder().policies(io.zerohop.policy.PolicyLoader.fromString("p.yaml", """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-admin, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules:
                  - to:
                    - operation: {paths: ["/admin*"]}
                """)).build();
        long base = H2HeldBudget.held();
        int filedBase = H2HeldBudget.filed();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(bip, 51620)).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            // Reads the upgrade request, answers 101, then writes for ever while its tunnel stream is writable. It answers
            // in a task of its own, not inside the read: an embedded application's answer made inside the filter's write of
            // the request waits in the filter until that read completes (since h393 counted in the stream's writability, so
            // such a loop stops there: L7EmbeddedAnswerInReadTest); an upgrade's answer is not held, and is not tested here.
            server.serve(new InetSocketAddress(bip, port), (stream, tunnel) -> {
                stream.config().setOption(ChannelOption.AUTO_READ, true);
                PlaintextL7.AnswersForEver app = new PlaintextL7.AnswersForEver(
                        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
                stream.pipeline().addLast(new io.netty.channel.ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                        ctx.executor().execute(() -> ctx.fireChannelRead(msg));
                    }
                }, app);
            });
            try (Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build()) {
                Socket c = client.socketFactory().createSocket(bip, port);
                c.getOutputStream().write("GET /ws HTTP/1.1\r\nhost: backend\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                c.getOutputStream().flush();
                InputStream in = c.getInputStream();
                c.setSoTimeout(10_000);
                assertThat(new String(in.readNBytes(12), StandardCharsets.US_ASCII)).isEqualTo("HTTP/1.1 101");
                // Read no more: the tunnel's windows fill and the application's last writes wait in its stream.
                Await.until("the application's upgraded bytes counted", () -> H2HeldBudget.held() > base);
                c.close();
                Await.until("the node's count back to what it was", () -> H2HeldBudget.held() == base);
                Await.until("no connection left filed in a memory class", () -> H2HeldBudget.filed() == filedBase);
                assertThat(H2HeldBudget.asked()).as("bytes asked of connections to shed").isZero();
            }
        }
    }
}
