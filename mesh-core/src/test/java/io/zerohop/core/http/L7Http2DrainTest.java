package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An HTTP/2 connection zerohop parses, idle after its answer (a gRPC channel, Node's client), when the drain begins:
 * GOAWAY and a clean end at once, as Envoy's connection manager drains a draining listener's HTTP/2 connections
 * (conn_manager_impl.cc {@code startDrainSequence}; H2ConnectionEnds.Drain#meshDraining), so a 1-minute drain ends as
 * soon as the client closes. Until 6 December it waited for the whole drain and was reset at the deadline.
 */
@Timeout(90)
class L7Http2DrainTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: api, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/api/*"]}}]
            """;

    @Test
    void anIdleHttp2ConnectionGetsGoAwayAndEndsCleanlyWhenTheDrainBegins() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.169.20");
        Process app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress())
                .redirectErrorStream(true));
        Process client = null;
        try {
            int port = Integer.parseInt(ChildProcess.firstLine(app).trim());
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
            Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1)
                    .drain(Duration.ofMinutes(1)).build();
            try {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                client = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2-idle-client.js"), ip.getHostAddress(),
                        Integer.toString(via.getPort()), "/api/x").redirectErrorStream(true));
                BufferedReader out = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
                assertThat(ChildProcess.readLine(client, out)).isEqualTo("status 200");
                CompletableFuture<Void> drained = mesh.shutdown();
                assertThat(ChildProcess.readLine(client, out)).as("the client's idle connection, at the drain's start").isEqualTo("goaway 0");
                assertThat(ChildProcess.readLine(client, out)).as("then its end, with no error").isEqualTo("closed");
                // Long before the 1-minute deadline: nothing was left to cut.
                drained.get(30, TimeUnit.SECONDS);
            } finally {
                mesh.close();
            }
        } finally {
            if (client != null) {
                client.destroy();
            }
            app.destroy();
            app.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
