package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.hbone.HboneRefusedException;
import io.zerohop.hbone.HboneStream;
import io.zerohop.hbone.Route;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The source workload of a cross-node tunnel, over real TLS and HBONE on loopback: node proxy A
 * captures pods 127.0.0.3-5 (each connection's source address picks the pod and the SVID it
 * tunnels with) and tunnels from 127.0.0.1, its own address, to node proxy B, which guards an echo
 * app at 127.0.0.2 with a CiliumNetworkPolicy on pod labels. B learns which pod is calling from
 * the {@code forwarded: for=} A sends (ztunnel's {@code build_forwarded}, src/proxy/outbound.rs), and
 * believes it only for a workload of the identity A's handshake proved ({@code TunnelSource}: the
 * class comment has the upstream history, istio/ztunnel 3f3a1af7 and src/proxy/inbound.rs). The
 * forged and malformed claims are sent with {@link Mesh#connect(io.spiffe.spiffeid.SpiffeId,
 * InetSocketAddress, Route)}, whose route headers win over the defaults.
 */
class CrossNodeSourceTest {
    static final String POLICY = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: backend, namespace: prod}
            spec:
              endpointSelector: {matchLabels: {app: backend}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: frontend}}]
              ingressDeny:
              - fromEndpoints: [{matchLabels: {track: canary}}]
            """;

    static InetAddress stableIp;
    static InetAddress canaryIp;
    static InetAddress batchIp;
    static Workload stable;
    static Workload batch;
    static Workload backend;
    static ServerSocket echo;
    static Mesh a;
    static Mesh b;
    static InetSocketAddress forward;

    @BeforeAll
    static void start() throws Exception {
        stableIp = InetAddress.getByName("127.0.0.3");
        canaryIp = InetAddress.getByName("127.0.0.4");
        batchIp = InetAddress.getByName("127.0.0.5");
        InetAddress backendIp = InetAddress.getByName("127.0.0.2");
        echo = new ServerSocket(0, 50, backendIp);
        Thread t = new Thread(CrossNodeSourceTest::echoLoop, "echo-app");
        t.setDaemon(true);
        t.start();
        // Two pods of one service account, told apart only by their labels.
        stable = new Workload("prod", "frontend-stable", "frontend", Map.of("app", "frontend", "track", "stable"),
                List.of(stableIp), Workload.Protocol.HBONE, "node-a", "cluster.local");
        Workload canary = new Workload("prod", "frontend-canary", "frontend", Map.of("app", "frontend", "track", "canary"),
                List.of(canaryIp), Workload.Protocol.HBONE, "node-a", "cluster.local");
        batch = new Workload("prod", "batch", "batch", Map.of("app", "batch"), List.of(batchIp),
                Workload.Protocol.HBONE, "node-a", "cluster.local");
        backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(backendIp),
                Workload.Protocol.HBONE, "node-b", "cluster.local");
        List<Workload> all = List.of(stable, canary, batch, backend);
        WorkloadRegistry registry = WorkloadRegistry.of(all, Map.of());
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("backend.yaml", POLICY)).build();
        b = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("node-b").inbound(new InetSocketAddress(backendIp, 0)).threads(1).build();
        b.start().get(10, TimeUnit.SECONDS);
        registry.replace(all, Map.of("node-b", b.inboundAddress()));
        a = Mesh.builder().identityProvider(ca).workloads(registry).node("node-a").threads(1).build();
        a.start().get(10, TimeUnit.SECONDS);
        forward = a.capture(Capture.forward(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                (InetSocketAddress) echo.getLocalSocketAddress()));
    }

    @AfterAll
    static void stop() throws Exception {
        a.close();
        b.close();
        echo.close();
    }

    static void echoLoop() {
        while (!echo.isClosed()) {
            try {
                Socket s = echo.accept();
                Thread t = new Thread(() -> {
                    try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                        in.transferTo(out);
                    } catch (IOException ignored) {
                        // the client went away
                    }
                }, "echo-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    /** Whether a connection from pod {@code from}, captured by A, reaches the echo app (false: B refused the tunnel). */
    static boolean reachesBackend(InetAddress from) throws IOException {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(from, 0));
            s.connect(forward, 10_000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write('x');
            try {
                return s.getInputStream().read() == 'x';
            } catch (java.net.SocketException reset) {
                return false;
            }
        }
    }

    /** A tunnel from A as {@code source} with {@code forwarded} set by the caller; the refusal's status, or 200. */
    static int connectClaiming(Workload source, String forwarded) throws Exception {
        InetSocketAddress target = (InetSocketAddress) echo.getLocalSocketAddress();
        Route route = new Route(b.inboundAddress(), java.util.Set.of(backend.identity()), Map.of("forwarded", forwarded));
        try {
            HboneStream s = a.connect(source.identity(), target, route).get(10, TimeUnit.SECONDS);
            s.close();
            return 200;
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(HboneRefusedException.class);
            return ((HboneRefusedException) e.getCause()).status();
        }
    }

    @Test
    @DisplayName("fromEndpoints app=frontend admits a frontend pod on another node (was: every cross-node peer known by SPIFFE ID only)")
    void crossNodeFromEndpointsAllowMatchesThePodsLabels() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(reachesBackend(stableIp)).as("frontend-stable (app=frontend) via node A's proxy").isTrue();
            assertThat(reachesBackend(batchIp)).as("batch (app=batch): no rule admits it").isFalse();
            // B's access log names the pod it attributed each tunnel to, beside the real peer (A's socket).
            assertThat(err.awaitLine("inbound src=127.0.0.1:", "forwarded_for=127.0.0.3:",
                    "src_id=spiffe://cluster.local/ns/prod/sa/frontend src_workload=prod/frontend-stable ")).contains("status=200");
            assertThat(err.awaitLine("inbound refused src=127.0.0.1:", "src_workload=prod/batch ")).contains("status=401");
        }
    }

    @Test
    @DisplayName("ingressDeny track=canary denies the canary pod only, not its service account's other pods")
    void ingressDenyOnALabelDeniesOnlyTheLabelledWorkload() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(reachesBackend(canaryIp)).as("frontend-canary (track=canary)").isFalse();
            assertThat(err.awaitLine("denied", "spiffe://cluster.local/ns/prod/sa/frontend", "ingressDeny"))
                    .doesNotContain("pod labels are unknown");
            assertThat(reachesBackend(stableIp)).as("frontend-stable: same service account, other labels").isTrue();
        }
    }

    @Test
    @DisplayName("a forwarded naming a pod of another identity is not believed: the peer stays known by SPIFFE ID only (denied)")
    void aForgedClaimOfAnotherIdentityIsNotTrusted() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(connectClaiming(batch, "for=\"127.0.0.3:40000\"")).as("batch claiming frontend-stable's address").isEqualTo(401);
            String line = err.awaitLine("untrusted forwarded claim");
            assertThat(line).contains("for=127.0.0.3", "prod/frontend-stable", "spiffe://cluster.local/ns/prod/sa/frontend",
                    "the peer is spiffe://cluster.local/ns/prod/sa/batch");
            assertThat(err.awaitLine("inbound refused src=127.0.0.1:", "src_id=spiffe://cluster.local/ns/prod/sa/batch src_workload=- "))
                    .contains("forwarded_for=127.0.0.3:40000");
            assertThat(connectClaiming(stable, "for=\"127.0.0.3:40000\"")).as("the same claim from the pod's own identity")
                    .isEqualTo(200);
        }
    }

    @Test
    @DisplayName("a malformed forwarded (unquoted ip:port, RFC 7239) is not read: denied, and logged")
    void aMalformedHeaderIsNotRead() throws Exception {
        try (CapturedStderr err = new CapturedStderr()) {
            assertThat(connectClaiming(stable, "for=127.0.0.3:40000")).isEqualTo(401);
            assertThat(err.awaitLine("malformed forwarded header", "spiffe://cluster.local/ns/prod/sa/frontend"))
                    .contains("for=127.0.0.3:40000");
        }
    }
}
