package io.zerohop.core;

import static io.zerohop.testing.netty.SocketEnds.readUntilEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.CapturedStderr;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyEngine;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 10, "live policy changes reach open tunnels", as ztunnel's {@code PolicyWatcher} does
 * (istio/ztunnel src/proxy/connection_manager.rs, its test {@code test_policy_watcher_lifecycle}):
 * after a policy update every open inbound tunnel is authorized again and those now denied are closed.
 * Real tunnels, a real watched policy directory rewritten on disk.
 */
public class LiveReauthorizationTest {
    static final String ALLOW_BOTH = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-allow, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend", "cluster.local/ns/prod/sa/batch"]}}]
            """;
    static final String DENY_FRONTEND = ALLOW_BOTH + """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-frontend, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
            """;

    @TempDir
    Path dir;

    @Test
    void aTunnelNowDeniedIsResetAndTheOtherKeepsFlowing() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.0.2");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        Files.writeString(dir.resolve("policy.yaml"), ALLOW_BOTH);
        PolicyEngine engine = PolicyEngine.builder().build();
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
        try (AutoCloseable watch = engine.watch(dir);
             ServerSocket app = new ServerSocket(0, 50, ip);
             Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                     .policies(engine).inbound(new InetSocketAddress(ip, 0)).meterRegistry(meters).threads(2).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(backend), Map.of("b", server.inboundAddress()));
            try (Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).threads(2).build();
                 CapturedStderr err = new CapturedStderr()) {
                Socket frontend = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "frontend"))
                        .createSocket(ip, app.getLocalPort());
                Socket appFrontend = accept(app);
                Socket batch = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "batch"))
                        .createSocket(ip, app.getLocalPort());
                Socket appBatch = accept(app);
                try (frontend; batch; appFrontend; appBatch) {
                    roundTrip(frontend, appFrontend, 1);
                    roundTrip(batch, appBatch, 2);

                    Files.writeString(dir.resolve("policy.yaml"), DENY_FRONTEND);

                    String line = err.awaitLine("closed because it is no longer allowed after a policy update",
                            "spiffe://cluster.local/ns/prod/sa/frontend");
                    assertThat(line).contains("DENY by prod/deny-frontend");
                    // The frontend's tunnel is reset on both ends: never a clean end of stream.
                    assertThat(readUntilEnd(frontend.getInputStream())).as("client side of the denied tunnel").isEqualTo("reset");
                    assertThat(readUntilEnd(appFrontend.getInputStream())).as("app side of the denied tunnel").isEqualTo("reset");
                    // The batch tunnel is unaffected and keeps flowing both ways.
                    roundTrip(batch, appBatch, 3);
                    assertThat(err.count("no longer allowed after a policy update")).isEqualTo(1);
                    var denied = meters.find("istio.tcp.connections.failed").tag("response_flags", "DENY")
                            .tag("source_principal", "spiffe://cluster.local/ns/prod/sa/frontend").counter();
                    assertThat(denied).as("the late rejection counts as a DENY failure").isNotNull();
                    // And the access line says so, with ztunnel's AuthorizationPolicyLateRejection (src/proxy.rs): it read as a plain reset.
                    assertThat(err.awaitLine("inbound src=", "src_id=spiffe://cluster.local/ns/prod/sa/frontend", "end="))
                            .endsWith(" end=reset error=\"connection closed due to policy change\"");
                }
            }
        }
    }

    /** Accepts within 10 s (shared with the L7 and plaintext re-authorization tests). */
    public static Socket accept(ServerSocket ss) throws IOException {
        ss.setSoTimeout(10_000);
        return ss.accept();
    }

    /** One byte each way with 10 s timeouts on both sockets. */
    public static void roundTrip(Socket client, Socket app, int b) throws IOException {
        client.setSoTimeout(10_000);
        app.setSoTimeout(10_000);
        client.getOutputStream().write(b);
        client.getOutputStream().flush();
        assertThat(app.getInputStream().read()).isEqualTo(b);
        app.getOutputStream().write(b + 100);
        app.getOutputStream().flush();
        assertThat(client.getInputStream().read()).isEqualTo(b + 100);
    }

}
