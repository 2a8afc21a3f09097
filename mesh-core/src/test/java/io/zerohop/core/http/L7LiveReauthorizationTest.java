package io.zerohop.core.http;

import static io.zerohop.testing.netty.SocketEnds.readUntilEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.identity.SpiffeIds;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A policy change re-decides an open tunnel on a port with HTTP rules as the tunnel was decided at its
 * open (ztunnel's {@code PolicyWatcher}: istio/ztunnel src/proxy/connection_manager.rs re-checks every
 * tracked inbound connection with the same {@code assert_rbac} as at open and closes it when it fails).
 * A connection to an {@code auto} port whose first bytes are not HTTP was admitted by
 * {@code PolicyEngine.evaluateUnparsed}; before 1 December its re-decision was {@code evaluate}, which omits
 * a DENY's HTTP fields (ztunnel's reading), so a new {@code DENY paths: [/admin]} from its source did not
 * cut it though the same policy refuses it at open. A tunnel relayed as bytes to a declared-http port
 * (opened while the port had no HTTP rules) was kept as "decided per request", unchecked. A tunnel parsed
 * as HTTP is kept unless the new policies deny it whatever it requests: its next request meets the new
 * policy. Real tunnels and sockets.
 */
class L7LiveReauthorizationTest {
    static final String FRONTEND = "spiffe://cluster.local/ns/prod/sa/frontend";

    static String policy(int autoPort, int httpPort) {
        return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: backend-allow, namespace: prod}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                    to: [{operation: {ports: ["AUTO", "HTTP"]}}]
                  - from: [{source: {principals: ["cluster.local/ns/prod/sa/batch"]}}]
                    to: [{operation: {ports: ["AUTO"], paths: ["/api/*"]}}]
                """.replace("AUTO", Integer.toString(autoPort)).replace("HTTP", Integer.toString(httpPort));
    }

    static final String DENY_ADMIN = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/frontend"]}}]
                to: [{operation: {paths: ["/admin"]}}]
            """;

    @Test
    void aTunnelIsReDecidedAsAtItsOpen() throws Exception {
        withBackend("127.0.52.2", (ip, autoApp, httpApp, backend, allow, engine, clients, err) -> {
            int autoPort = autoApp.getLocalPort();
            int httpPort = httpApp.getLocalPort();
            assertThat(engine.requiresHttp(backend.ref(), autoPort)).isTrue();
            assertThat(engine.requiresHttp(backend.ref(), httpPort)).as("no HTTP rule for the http port yet").isFalse();
            var frontend = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "frontend"));
            var batch = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "batch"));
            // 1. Opaque bytes on the auto port: the sniff falls back to L4, evaluateUnparsed admits it.
            Socket opaque = frontend.createSocket(ip, autoPort);
            opaque.getOutputStream().write("{opaque}".getBytes(StandardCharsets.US_ASCII));
            Socket opaqueApp = accept(autoApp);
            assertThat(new String(opaqueApp.getInputStream().readNBytes(8), StandardCharsets.US_ASCII)).isEqualTo("{opaque}");
            // 2. The declared-http port without HTTP rules: relayed as bytes, decided at the CONNECT.
            Socket raw = frontend.createSocket(ip, httpPort);
            Socket rawApp = accept(httpApp);
            // 3. HTTP on the auto port from batch, allowed only by an ALLOW rule with paths.
            Socket parsed = batch.createSocket(ip, autoPort);
            parsed.setSoTimeout(10_000);
            send(parsed, "GET /api/a HTTP/1.1\r\nHost: b\r\n\r\n");
            Socket parsedApp = accept(autoApp);
            try (opaque; opaqueApp; raw; rawApp; parsed; parsedApp) {
                roundTrip(opaque, opaqueApp, 1);
                roundTrip(raw, rawApp, 2);
                assertThat(answer(parsedApp, parsed)).startsWith("HTTP/1.1 200 ");

                engine.replace(PolicyLoader.fromString("deny.yaml", allow + DENY_ADMIN));
                assertThat(engine.evaluateUnparsed(io.zerohop.policy.AccessRequest.builder().sourcePrincipal(FRONTEND)
                        .sourceAddress(ip).destinationAddress(ip).destinationPort(autoPort).destination(backend.ref())
                        .build()).allowed()).as("a fresh opaque connection is refused").isFalse();

                String line = err.awaitLine("closed because it is no longer allowed after a policy update", FRONTEND,
                        ":" + autoPort);
                assertThat(line).contains("DENY by prod/deny-admin").contains("could not be parsed as HTTP");
                assertThat(readUntilEnd(opaque.getInputStream())).as("the fallen-back tunnel").isEqualTo("reset");
                assertThat(readUntilEnd(opaqueApp.getInputStream())).isEqualTo("reset");
                assertThat(err.awaitLine("closed because it is no longer allowed after a policy update", FRONTEND,
                        ":" + httpPort)).contains("DENY by prod/deny-admin");
                assertThat(readUntilEnd(raw.getInputStream())).as("the tunnel relayed as bytes").isEqualTo("reset");
                // The parsed tunnel stays, and its next request is decided by the policies in force.
                send(parsed, "GET /api/b HTTP/1.1\r\nHost: b\r\n\r\n");
                assertThat(answer(parsedApp, parsed)).startsWith("HTTP/1.1 200 ");
                assertThat(err.count("no longer allowed after a policy update")).isEqualTo(2);
            }
        });
    }

    static final String DENY_BATCH = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-batch, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - from: [{source: {principals: ["cluster.local/ns/prod/sa/batch"]}}]
            """;

    /**
     * A tunnel parsed as HTTP is closed by a new policy that denies it whatever it requests (a DENY on its peer
     * alone), as ztunnel closes a tracked connection that fails {@code assert_rbac}; until 2 December it was kept
     * until its next request, so a long response or an idle keep-alive connection outlived the DENY. A DENY with
     * HTTP fields keeps it (aTunnelIsReDecidedAsAtItsOpen).
     */
    @Test
    void aParsedTunnelIsClosedByADenialNoRequestCanEscape() throws Exception {
        withBackend("127.0.52.20", (ip, autoApp, httpApp, backend, allow, engine, clients, err) -> {
            int autoPort = autoApp.getLocalPort();
            var batch = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "batch"));
            var frontend = clients.socketFactory(SpiffeIds.istio("cluster.local", "prod", "frontend"));
            Socket parsed = batch.createSocket(ip, autoPort);
            parsed.setSoTimeout(10_000);
            send(parsed, "GET /api/a HTTP/1.1\r\nHost: b\r\n\r\n");
            Socket parsedApp = accept(autoApp);
            Socket other = frontend.createSocket(ip, autoPort);
            other.setSoTimeout(10_000);
            send(other, "GET /api/o HTTP/1.1\r\nHost: b\r\n\r\n");
            Socket otherApp = accept(autoApp);
            try (parsed; parsedApp; other; otherApp) {
                assertThat(answer(parsedApp, parsed)).startsWith("HTTP/1.1 200 ");
                assertThat(answer(otherApp, other)).startsWith("HTTP/1.1 200 ");

                engine.replace(PolicyLoader.fromString("deny.yaml", allow + DENY_BATCH));
                assertThat(err.awaitLine("closed because it is no longer allowed after a policy update",
                        "/sa/batch", ":" + autoPort)).contains("DENY by prod/deny-batch");
                assertThat(readUntilEnd(parsed.getInputStream())).as("the parsed tunnel").isEqualTo("reset");
                // The frontend's parsed tunnel is not denied by the change: its next request is answered.
                send(other, "GET /api/p HTTP/1.1\r\nHost: b\r\n\r\n");
                assertThat(answer(otherApp, other)).startsWith("HTTP/1.1 200 ");
                assertThat(err.count("no longer allowed after a policy update")).isEqualTo(1);
            }
        });
    }

    /** What a test does with {@link #withBackend}'s backend, policies and client mesh. */
    interface Body {
        void run(InetAddress ip, ServerSocket autoApp, ServerSocket httpApp, Workload backend, String allow, PolicyEngine engine,
                 Mesh clients, CapturedStderr err) throws Exception;
    }

    /**
     * A backend workload on {@code address} with an {@code auto} port and a declared-http port (applications on both),
     * served by a Mesh under {@link #policy}, and a client Mesh, for {@code body}.
     */
    static void withBackend(String address, Body body) throws Exception {
        InetAddress ip = InetAddress.getByName(address);
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (ServerSocket autoApp = new ServerSocket(0, 50, ip); ServerSocket httpApp = new ServerSocket(0, 50, ip)) {
            int httpPort = httpApp.getLocalPort();
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(httpPort, AppProtocol.HTTP));
            String allow = policy(autoApp.getLocalPort(), httpPort);
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("allow.yaml", allow)).build();
            WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of());
            try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                    .policies(engine).inbound(new InetSocketAddress(ip, 0)).threads(2).build()) {
                server.start().get(10, TimeUnit.SECONDS);
                registry.replace(List.of(backend), Map.of("b", server.inboundAddress()));
                try (Mesh clients = Mesh.builder().identityProvider(ca).workloads(registry).threads(2).build();
                     CapturedStderr err = new CapturedStderr()) {
                    body.run(ip, autoApp, httpApp, backend, allow, engine, clients, err);
                }
            }
        }
    }

    static Socket accept(ServerSocket ss) throws IOException {
        Socket s = io.zerohop.core.LiveReauthorizationTest.accept(ss);
        s.setSoTimeout(10_000);
        return s;
    }

    static void send(Socket s, String text) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(text.getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    /** The app reads one request head and answers it; the client's response head is returned. */
    static String answer(Socket app, Socket client) throws IOException {
        assertThat(L7EnforcementTest.readHead(app.getInputStream())).startsWith("GET /api/");
        send(app, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        String head = L7EnforcementTest.readHead(client.getInputStream());
        assertThat(new String(client.getInputStream().readNBytes(2), StandardCharsets.US_ASCII)).isEqualTo("ok");
        return head;
    }

    static void roundTrip(Socket client, Socket app, int b) throws IOException {
        io.zerohop.core.LiveReauthorizationTest.roundTrip(client, app, b);
    }
}
