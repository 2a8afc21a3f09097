package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.search.Search;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * On an {@code auto} port (protocol not declared) that an ALLOW rule with HTTP fields makes zerohop sniff, a
 * decision no HTTP data can change is taken at the CONNECT (plaintext: at accept), before a byte is read, and
 * reported as any L4 denial: 401 with the policy's explanation, the access line's {@code inbound refused}, and
 * {@code response_flags="DENY"}. Before, the tunnel was accepted, the sniff waited for the client's first bytes
 * (up to 5 s when it sent none), and the connection was then reset, counted as a clean close.
 *
 * <p>The outcome is upstream's: istiod puts a DENY rule without HTTP fields into both filter chains of such a port
 * (istio/istio pilot/pkg/security/authz/builder/builder.go {@code build}: the TCP chain's network RBAC and the HTTP
 * chain's HTTP RBAC, rules with HTTP fields only in the latter), so the connection is refused whatever it sends,
 * and ztunnel refuses it at the CONNECT (src/proxy/inbound.rs, {@code assert_rbac} before the dial). The moment
 * differs from a sidecar's Envoy: after its {@code http_inspector} an HTTP client would get 403 per request from
 * the HTTP chain, and any other client the network RBAC's close on its first bytes. Real TLS, the JDK's HTTP server
 * as the application, raw sockets and HBONE tunnels on 127.0.61.x.
 */
class L7SniffDecisionTest {
    static final InMemoryCa CA = InMemoryCa.create("cluster.local");

    /** ALLOW by path (L7Http10Test.POLICY: the port is sniffed), and {@code extra}; PORT stands for the application's port. */
    static String policies(int port, String extra) {
        return (L7Http10Test.POLICY + extra).replace("PORT", Integer.toString(port));
    }

    /** An ALLOW no rule of which can match frontend: only the admin service account, on /admin. */
    static final String ADMIN_TEAM = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: admin-team, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/admin]}}], to: [{operation: {paths: ["/admin"]}}]}]
            """;

    static final String DENY_PORT = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-port, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules: [{to: [{operation: {ports: ["PORT"]}}]}]
            """;

    @Test
    void aDenyOnThePortAloneRefusesTheTunnelAtTheConnectAsAnyL4Deny() throws Exception {
        run("127.0.61.2", DENY_PORT, (server, mesh, backend, frontend, port, dst, seen) -> {
            try (CapturedStderr err = new CapturedStderr()) {
                // The client sends nothing: the refusal cannot come from the sniff's end.
                Throwable refused = catchThrowable(() -> mesh.connect(frontend.identity(),
                        new InetSocketAddress(backend.addresses().get(0), port)).get(20, TimeUnit.SECONDS));
                assertThat(refused).hasMessageContaining("401");
                String line = err.awaitLine("inbound refused", "src_id=" + frontend.identity());
                assertThat(line).contains(" status=401 ").contains("reason=\"DENY by prod/deny-port (AuthorizationPolicy DENY, rule 0)");
            }
            await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
            assertThat(count(dst.find("istio.tcp.connections.closed").tag("response_flags", "-"))).isZero();
            assertThat(seen).isEmpty();
        });
    }

    @Test
    void anAllowNoRuleOfWhichCanMatchTheSourceRefusesAtTheConnect() throws Exception {
        // api-only's rule may match (its path is unknown before the request): not decidable yet, so sniffed.
        run("127.0.61.4", "---\n" + ADMIN_TEAM, (server, mesh, backend, frontend, port, dst, seen) -> {
            try (Socket s = mesh.socketFactory(frontend.identity()).createSocket(backend.addresses().get(0), port)) {
                assertThat(request(s, "/api/x")).startsWith("HTTP/1.1 200").endsWith("hello /api/x");
            }
            assertThat(seen).containsExactly("HTTP/1.1 /api/x");
        });
        // Without it, no ALLOW rule can match frontend whatever it sends: refused before the sniff.
        run("127.0.61.5", null, ADMIN_TEAM, (server, mesh, backend, frontend, port, dst, seen) -> {
            Throwable refused = catchThrowable(() -> mesh.connect(frontend.identity(),
                    new InetSocketAddress(backend.addresses().get(0), port)).get(20, TimeUnit.SECONDS));
            assertThat(refused).hasMessageContaining("401");
            await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
            assertThat(seen).isEmpty();
        });
    }

    /**
     * A tunnel still being sniffed when a policy change adds that DENY is closed at once as any tunnel the change
     * denies (ztunnel's PolicyWatcher; its close counted DENY, ztunnel's AuthorizationPolicyLateRejection), where it
     * was kept until the sniff ended (5 s for a client that sends nothing) and then reset as a clean close.
     */
    @Test
    void aTunnelStillSniffedIsClosedByAPolicyChangeThatDeniesItWhateverItSends() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.61.10");
        HttpServer app = L7Http10Test.app(ip, new CopyOnWriteArrayList<>(), true);
        try {
            int port = app.getAddress().getPort();
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policies(port, ""))).build();
            try (Meshes m = new Meshes(ip, port, AppProtocol.AUTO, engine, server -> { });
                 Socket s = m.client.socketFactory(m.frontend.identity()).createSocket(ip, port)) {
                s.setSoTimeout(20_000);
                engine.replace(PolicyLoader.fromString("p.yaml", policies(port, DENY_PORT)));
                assertThat(readToEnd(s)).isEmpty();
                await(() -> count(m.dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
            }
        } finally {
            app.stop(0);
        }
    }

    /** Plaintext inbound (PERMISSIVE): the same DENY refuses at accept, logged and counted as a plaintext denial. */
    @Test
    void aDenyOnThePortAloneRefusesPlaintextAtAccept() throws Exception {
        run("127.0.61.6", DENY_PORT, (server, mesh, backend, frontend, port, dst, seen) -> {
            InetAddress ip = backend.addresses().get(0);
            InetSocketAddress via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
            try (CapturedStderr err = new CapturedStderr(); Socket s = new Socket(via.getAddress(), via.getPort())) {
                s.setSoTimeout(20_000);
                // Nothing sent: the connection ends from the refusal, not from the sniff.
                assertThat(readToEnd(s)).isEmpty();
                // The access log's line (since 2 December; the WARN it replaces is DEBUG while it is written).
                assertThat(err.awaitLine("access - plaintext-inbound refused ", "reason=\"DENY by prod/deny-port (AuthorizationPolicy DENY, rule 0)"))
                        .isNotNull();
            }
            await(() -> count(dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
            assertThat(seen).isEmpty();
        });
    }

    /**
     * HTTP/2 to an embedded {@code Mesh.serve} handler is never parsed, so its L4 decision ({@code evaluateUnparsed}) is
     * its whole decision, taken at the CONNECT: under an ALLOW by path it is refused with 401 and counted DENY, where it
     * was accepted (200) and then reset as a clean close; with an L4 rule that allows it, it is delivered.
     */
    @Test
    void http2ToAnEmbeddedHandlerIsDecidedAtTheConnect() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.61.7");
        int port = 8443;
        for (String policy : List.of(L7Http10Test.POLICY, L7Http10Test.POLICY_WITH_L4_RULE)) {
            List<Object> delivered = new CopyOnWriteArrayList<>();
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policy)).build();
            try (Meshes m = new Meshes(ip, port, AppProtocol.HTTP2, engine,
                    server -> server.serve(new InetSocketAddress(ip, port), (stream, tunnel) -> delivered.add(tunnel)))) {
                if (policy == L7Http10Test.POLICY) {
                    Throwable refused = catchThrowable(() -> m.client.connect(m.frontend.identity(), new InetSocketAddress(ip, port))
                            .get(20, TimeUnit.SECONDS));
                    assertThat(refused).hasMessageContaining("401");
                    await(() -> count(m.dst.find("istio.tcp.connections.failed").tag("response_flags", "DENY")) >= 1);
                    assertThat(delivered).isEmpty();
                } else {
                    m.client.connect(m.frontend.identity(), new InetSocketAddress(ip, port)).get(20, TimeUnit.SECONDS).channel().close();
                    await(() -> delivered.size() == 1);
                }
            }
        }
    }

    interface Body {
        void run(Mesh server, Mesh client, Workload backend, Workload frontend, int port, SimpleMeterRegistry dst, List<String> seen) throws Exception;
    }

    static void run(String address, String extra, Body body) throws Exception {
        run(address, extra, null, body);
    }

    /** A backend on {@code address} (its port {@code auto}) behind a mesh with the policies, and a client mesh. */
    static void run(String address, String extra, String only, Body body) throws Exception {
        InetAddress ip = InetAddress.getByName(address);
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer app = L7Http10Test.app(ip, seen, true);
        try {
            int port = app.getAddress().getPort();
            String yaml = only != null ? only : policies(port, extra == null ? "" : extra);
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml.replace("PORT", Integer.toString(port)))).build();
            try (Meshes m = new Meshes(ip, port, AppProtocol.AUTO, engine, server -> { })) {
                body.run(m.server, m.client, m.backend, m.frontend, port, m.dst, seen);
            }
        } finally {
            app.stop(0);
        }
    }

    /**
     * A backend on {@code ip} whose {@code port} has {@code protocol}, behind a started server mesh with {@code engine}
     * and metrics ({@code prepare} runs before its start), and a started client mesh for frontend (127.0.61.3).
     */
    static final class Meshes implements AutoCloseable {
        final Workload backend;
        final Workload frontend;
        final SimpleMeterRegistry dst = new SimpleMeterRegistry();
        final Mesh server;
        final Mesh client;

        Meshes(InetAddress ip, int port, AppProtocol protocol, PolicyEngine engine, java.util.function.Consumer<Mesh> prepare)
                throws Exception {
            backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, protocol));
            frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(InetAddress.getByName("127.0.61.3")),
                    Workload.Protocol.HBONE, "a", "cluster.local");
            WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of());
            server = Mesh.builder().identityProvider(CA).identity(backend.identity()).workloads(registry).node("b")
                    .policies(engine).inbound(new InetSocketAddress(ip, 0)).meterRegistry(dst).threads(1).build();
            Mesh c = null;
            try {
                prepare.accept(server);
                server.start().get(10, TimeUnit.SECONDS);
                registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
                c = Mesh.builder().identityProvider(CA).workloads(registry).threads(1).build();
                c.start().get(10, TimeUnit.SECONDS);
            } catch (Exception | AssertionError e) {
                if (c != null) {
                    c.close();
                }
                server.close();
                throw e;
            }
            client = c;
        }

        @Override
        public void close() {
            client.close();
            server.close();
        }
    }

    static String request(Socket s, String path) throws IOException {
        s.setSoTimeout(20_000);
        s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        return new String(readToEnd(s), StandardCharsets.ISO_8859_1);
    }

    static byte[] readToEnd(Socket s) throws IOException {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        try {
            s.getInputStream().transferTo(b);
        } catch (java.net.SocketException reset) {
            // A reset ends it as well.
        }
        return b.toByteArray();
    }

    static double count(Search s) {
        return s.counters().stream().mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
    }

    static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within 20 s").isLessThan(deadline);
            Thread.sleep(20);
        }
    }
}
