package io.zerohop.core;

import static io.zerohop.core.LiveReauthorizationTest.accept;
import static io.zerohop.core.LiveReauthorizationTest.roundTrip;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * newuser23: a user's {@code onTunnelClosed} that throws must not keep the mesh's own bookkeeping from seeing
 * the close. Before, the throw ended the listener fan-out at the user's callback: the closed tunnel stayed
 * counted (every shutdown waited the whole drain, "resetting N tunnels still open") and stayed in the
 * re-authorization set (a policy update logged it as closed "because it is no longer allowed").
 */
@Timeout(60)
class ThrowingCallbackTest {
    @TempDir
    Path dir;

    @Test
    void aThrowingOnTunnelClosedIsLoggedOnceAndTheCloseIsStillAccountedFor() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.0.2");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        Files.writeString(dir.resolve("policy.yaml"), LiveReauthorizationTest.ALLOW_BOTH);
        PolicyEngine engine = PolicyEngine.builder().build();
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
        CountDownLatch calledBack = new CountDownLatch(1);
        try (AutoCloseable watch = engine.watch(dir);
             ServerSocket app = new ServerSocket(0, 50, ip);
             Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                     .policies(engine).inbound(new InetSocketAddress(ip, 0)).threads(2)
                     .onTunnelClosed(r -> {
                         calledBack.countDown();
                         throw new IllegalStateException("user callback bug");
                     }).build();
             Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).threads(2).build();
             CapturedStderr err = new CapturedStderr()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(backend), Map.of("b", server.inboundAddress()));
            Socket frontend = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "frontend")).createSocket(ip, app.getLocalPort());
            try (frontend; Socket appFrontend = accept(app)) {
                roundTrip(frontend, appFrontend, 1);
            }
            assertThat(calledBack.await(10, TimeUnit.SECONDS)).as("onTunnelClosed called").isTrue();
            String warn = err.awaitLine("onTunnelClosed callback threw on the close of inbound");
            assertThat(warn).contains("WARN");
            assertThat(err.awaitLine("IllegalStateException: user callback bug")).isNotNull();
            // The drain's count saw the close: the config dump lists no open tunnel.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!server.configDump(Map.of()).replace(" ", "").contains("\"openTunnels\":0") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(server.configDump(Map.of()).replace(" ", "")).as("open tunnels after the only one closed").contains("\"openTunnels\":0");

            // The re-authorization set saw it too: denying both sources closes only the tunnel still open.
            Socket batch = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "batch")).createSocket(ip, app.getLocalPort());
            try (batch; Socket appBatch = accept(app)) {
                roundTrip(batch, appBatch, 2);
                Files.writeString(dir.resolve("policy.yaml"), """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: deny-all, namespace: prod}
                        spec:
                          selector: {matchLabels: {app: backend}}
                          action: DENY
                          rules:
                          - from: [{source: {principals: ["cluster.local/ns/prod/*"]}}]
                        """);
                err.awaitLine("closed because it is no longer allowed after a policy update", "sa/batch");
            }
            assertThat(err.count("no longer allowed after a policy update")).as("late denials (the batch tunnel's only)").isEqualTo(1);
            // One line per failure, naming the callback; never the transport's generic line on top.
            assertThat(err.count("HBONE event listener failed")).isZero();
            assertThat(err.count("tunnelClosed of")).isZero();
        }
    }
}
