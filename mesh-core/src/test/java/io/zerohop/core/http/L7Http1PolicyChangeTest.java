package io.zerohop.core.http;

import static io.zerohop.core.http.L7LiveReauthorizationTest.accept;
import static io.zerohop.core.http.L7LiveReauthorizationTest.send;
import static io.zerohop.core.http.L7LiveReauthorizationTest.withBackend;
import static io.zerohop.testing.netty.SocketEnds.readUntilEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyLoader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Beyond Envoy (which decides a request once, on its head): a policy change decides an HTTP/1 request still in progress
 * again and ends it when a new DENY names it (its path here; a DENY of the whole connection is the tunnel's reset,
 * {@link L7LiveReauthorizationTest}). Before its response: the 403 a new request gets, {@code connection: close}, and the
 * application's connection reset; after its response started: both connections reset. A request the change does not
 * deny goes on. Real tunnels, real sockets.
 */
class L7Http1PolicyChangeTest {
    static final String DENY_SLOW = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-slow, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {paths: ["/api/slow"]}}]
            """;

    /** A tunnel from {@code factory}'s identity to {@code ip:port} that has sent {@code GET path}. */
    private static Socket get(javax.net.SocketFactory factory, java.net.InetAddress ip, int port, String path) throws java.io.IOException {
        Socket s = factory.createSocket(ip, port);
        s.setSoTimeout(10_000);
        send(s, "GET " + path + " HTTP/1.1\r\nHost: b\r\n\r\n");
        return s;
    }

    @Test
    void aRequestInProgressThatANewDenyNamesIsEnded() throws Exception {
        withBackend("127.0.52.30", (ip, autoApp, httpApp, backend, allow, engine, clients, err) -> {
            int port = autoApp.getLocalPort();
            var batch = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "batch"));
            // 1. No response yet.
            Socket waiting = get(batch, ip, port, "/api/slow");
            Socket waitingApp = accept(autoApp);
            // 2. A response started: its head and part of its body came through.
            Socket streaming = get(batch, ip, port, "/api/slow");
            Socket streamingApp = accept(autoApp);
            // 3. Another path, also in progress: the change does not deny it.
            Socket other = get(batch, ip, port, "/api/fast");
            Socket otherApp = accept(autoApp);
            try (waiting; waitingApp; streaming; streamingApp; other; otherApp) {
                assertThat(L7EnforcementTest.readHead(waitingApp.getInputStream())).startsWith("GET /api/slow ");
                assertThat(L7EnforcementTest.readHead(streamingApp.getInputStream())).startsWith("GET /api/slow ");
                assertThat(L7EnforcementTest.readHead(otherApp.getInputStream())).startsWith("GET /api/fast ");
                send(streamingApp, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
                assertThat(L7EnforcementTest.readHead(streaming.getInputStream())).startsWith("HTTP/1.1 200 ");
                assertThat(new String(streaming.getInputStream().readNBytes(5), StandardCharsets.US_ASCII)).isEqualTo("first");

                engine.replace(PolicyLoader.fromString("deny.yaml", allow + DENY_SLOW));

                String head = L7EnforcementTest.readHead(waiting.getInputStream());
                assertThat(head).startsWith("HTTP/1.1 403 ").containsIgnoringCase("connection: close");
                assertThat(new String(waiting.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("RBAC: access denied");
                assertThat(readUntilEnd(waitingApp.getInputStream())).as("the application's connection").isEqualTo("reset");
                assertThat(readUntilEnd(streaming.getInputStream())).as("a response already started").isEqualTo("reset");
                assertThat(readUntilEnd(streamingApp.getInputStream())).isEqualTo("reset");
                assertThat(err.awaitLine("request GET /api/slow from spiffe://cluster.local/ns/prod/sa/batch",
                        "ended because it is no longer allowed after a policy update")).contains("DENY by prod/deny-slow");
                assertThat(err.count("ended because it is no longer allowed after a policy update")).isEqualTo(2);
                // The request the change does not deny is answered.
                send(otherApp, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                assertThat(L7EnforcementTest.readHead(other.getInputStream())).startsWith("HTTP/1.1 200 ");
                assertThat(new String(other.getInputStream().readNBytes(2), StandardCharsets.US_ASCII)).isEqualTo("ok");
            }
        });
    }

    /** An upgraded connection (WebSocket) is decided again on the request that upgraded it: reset on both sides. */
    @Test
    void anUpgradedConnectionThatANewDenyNamesIsReset() throws Exception {
        withBackend("127.0.52.31", (ip, autoApp, httpApp, backend, allow, engine, clients, err) -> {
            var batch = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "batch"));
            Socket ws = batch.createSocket(ip, autoApp.getLocalPort());
            ws.setSoTimeout(10_000);
            send(ws, "GET /api/slow HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
            Socket wsApp = accept(autoApp);
            try (ws; wsApp) {
                assertThat(L7EnforcementTest.readHead(wsApp.getInputStream())).startsWith("GET /api/slow ");
                send(wsApp, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
                assertThat(L7EnforcementTest.readHead(ws.getInputStream())).startsWith("HTTP/1.1 101 ");
                send(ws, "frame");
                assertThat(new String(wsApp.getInputStream().readNBytes(5), StandardCharsets.US_ASCII)).isEqualTo("frame");

                engine.replace(PolicyLoader.fromString("deny.yaml", allow + DENY_SLOW));

                assertThat(readUntilEnd(ws.getInputStream())).isEqualTo("reset");
                assertThat(readUntilEnd(wsApp.getInputStream())).isEqualTo("reset");
                assertThat(err.awaitLine("request GET /api/slow from spiffe://cluster.local/ns/prod/sa/batch",
                        "ended because it is no longer allowed after a policy update")).contains("DENY by prod/deny-slow");
            }
        });
    }

    /**
     * Plaintext inbound (PERMISSIVE) the same way, and its access line says what the client saw: {@code end=reset}
     * (until 3 December {@code end=fin}: the reset was the proxy's own, and its line read only I/O errors; a break-it pass).
     */
    @Test
    void aPlaintextResponseCutByANewDenyIsLoggedAsAReset() throws Exception {
        java.net.InetAddress ip = java.net.InetAddress.getByName("127.0.52.32");
        try (java.net.ServerSocket app = new java.net.ServerSocket(0, 50, ip)) {
            int port = app.getLocalPort();
            String allow = """
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: backend-allow, namespace: prod}
                    spec:
                      selector: {matchLabels: {app: backend}}
                      action: ALLOW
                      rules:
                      - to: [{operation: {ports: ["PORT"], paths: ["/api/*"]}}]
                    """.replace("PORT", Integer.toString(port));
            io.zerohop.core.Workload backend = new io.zerohop.core.Workload("prod", "backend", "backend", java.util.Map.of("app", "backend"),
                    java.util.List.of(ip), io.zerohop.core.Workload.Protocol.HBONE, "b", "cluster.local",
                    java.util.Map.of(port, io.zerohop.core.AppProtocol.HTTP));
            io.zerohop.policy.PolicyEngine engine = io.zerohop.policy.PolicyEngine.builder()
                    .policies(PolicyLoader.fromString("allow.yaml", allow)).build();
            try (io.zerohop.core.Mesh server = io.zerohop.core.Mesh.builder().identityProvider(L7SniffDecisionTest.CA).identity(backend.identity())
                    .workloads(io.zerohop.core.WorkloadRegistry.of(java.util.List.of(backend), java.util.Map.of())).node("b").policies(engine)
                    .threads(1).build();
                 io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
                server.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
                java.net.InetSocketAddress via = server.plaintextInbound(io.zerohop.core.Capture.forward(new java.net.InetSocketAddress(ip, 0),
                        new java.net.InetSocketAddress(ip, port)));
                try (Socket client = new Socket()) {
                    client.connect(via, 10_000);
                    client.setSoTimeout(10_000);
                    send(client, "GET /api/slow HTTP/1.1\r\nHost: b\r\n\r\n");
                    try (Socket appSide = accept(app)) {
                        assertThat(L7EnforcementTest.readHead(appSide.getInputStream())).startsWith("GET /api/slow ");
                        send(appSide, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
                        assertThat(L7EnforcementTest.readHead(client.getInputStream())).startsWith("HTTP/1.1 200 ");
                        engine.replace(PolicyLoader.fromString("deny.yaml", allow + DENY_SLOW));
                        assertThat(readUntilEnd(client.getInputStream())).isEqualTo("reset");
                    }
                }
                assertThat(err.awaitLine("request GET /api/slow from plaintext", "ended because it is no longer allowed after a policy update"))
                        .contains("DENY by prod/deny-slow");
                assertThat(err.awaitLine("access - plaintext-inbound ", "end=")).contains(" end=reset");
            }
        }
    }
}
