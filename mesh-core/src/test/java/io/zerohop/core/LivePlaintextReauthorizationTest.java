package io.zerohop.core;

import static io.zerohop.testing.netty.SocketEnds.readUntilEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * A policy change re-decides open plaintext-inbound connections too, as ztunnel's {@code PolicyWatcher}
 * does for its plaintext passthrough (istio/ztunnel src/proxy/inbound_passthrough.rs: the connection holds
 * the guard of {@code connection_manager.assert_rbac}, which a policy update that denies it closes). Before
 * 1 December only HBONE tunnels were re-decided, so a DENY added for plaintext sources left an admitted
 * plaintext connection open. Real sockets, a real plaintext listener.
 */
class LivePlaintextReauthorizationTest {
    static final String DENY_PLAINTEXT = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-plaintext, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - from: [{source: {notPrincipals: ["*"]}}]
            """;

    @Test
    void anAdmittedPlaintextConnectionNowDeniedIsReset() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.52.4");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local");
        PolicyEngine engine = PolicyEngine.builder().build();
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        try (ServerSocket app = new ServerSocket(0, 50, ip);
             Mesh server = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                     .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).meterRegistry(meters).threads(1).build();
             CapturedStderr err = new CapturedStderr()) {
            server.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
            InetSocketAddress listener = server.plaintextInbound(Capture.forward(new InetSocketAddress(InetAddress.getByName("127.0.52.5"), 0),
                    new InetSocketAddress(ip, app.getLocalPort())));
            try (Socket client = new Socket(listener.getAddress(), listener.getPort());
                 Socket appSide = LiveReauthorizationTest.accept(app)) {
                LiveReauthorizationTest.roundTrip(client, appSide, 1);

                engine.replace(PolicyLoader.fromString("deny.yaml", DENY_PLAINTEXT));

                String line = err.awaitLine("plaintext connection to", "no longer allowed after a policy update");
                assertThat(line).contains("DENY by prod/deny-plaintext")
                        .as("names the client, as the tunnel's line names its peer").contains(" from " + client.getLocalAddress().getHostAddress() + ":" + client.getLocalPort() + " ");
                assertThat(readUntilEnd(client.getInputStream())).as("client side").isEqualTo("reset");
                assertThat(readUntilEnd(appSide.getInputStream())).as("app side").isEqualTo("reset");
                // Counted as ztunnel counts a connection its PolicyWatcher closed (src/proxy/metrics.rs
                // extract_failure_reason: AuthorizationPolicyLateRejection -> AuthorizationPolicyDenied, a failure),
                // as a tunnel cut on a policy change is (LiveReauthorizationTest); before, a reset's CONNECT.
                Counter denied = awaitCounter(meters, "DENY");
                assertThat(denied.count()).as("closed and failed once, with DENY").isEqualTo(1.0);
                assertThat(meters.find("istio.tcp.connections.closed").tag("response_flags", "DENY").counter().count()).isEqualTo(1.0);
                assertThat(meters.find("istio.tcp.connections.failed").tag("response_flags", "CONNECT").counter()).isNull();
                // And logged as one: the relay's access line carries ztunnel's AuthorizationPolicyLateRejection (src/proxy.rs),
                // as ztunnel's plaintext passthrough records it (inbound_passthrough.rs handle_connection!); it read as a plain reset.
                assertThat(err.awaitLine("plaintext-inbound src=", "end=")).endsWith(" end=reset error=\"connection closed due to policy change\"");
            }
        }
    }

    /** The failed-connections counter with {@code flags}, once the relay has ended (at most 10 s). */
    private static Counter awaitCounter(SimpleMeterRegistry meters, String flags) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        Counter c;
        while ((c = meters.find("istio.tcp.connections.failed").tag("response_flags", flags).counter()) == null
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(c).as("istio.tcp.connections.failed{response_flags=%s}", flags).isNotNull();
        return c;
    }
}
