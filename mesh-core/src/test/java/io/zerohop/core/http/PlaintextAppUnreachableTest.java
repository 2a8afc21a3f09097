package io.zerohop.core.http;

import static io.zerohop.core.http.L7AppUnreachableTest.REFUSED;
import static io.zerohop.core.http.L7AppUnreachableTest.REFUSED_DETAILS;
import static io.zerohop.core.http.L7AppUnreachableTest.read;
import static io.zerohop.core.http.L7AppUnreachableTest.readHead;
import static io.zerohop.core.http.L7AppUnreachableTest.send;
import static io.zerohop.testing.netty.SocketEnds.readUntilEnd;
import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
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
 * Plaintext inbound (PERMISSIVE) to a port parsed as HTTP whose application is down: as on the node proxy's tunnels
 * (L7AppUnreachableTest) and behind Envoy, where RBAC runs before the router asks for an upstream connection
 * (envoyproxy/envoy source/common/router/router.cc {@code Filter::decodeHeaders}), the application is dialled for the
 * first allowed request: a denied request gets {@code 403 RBAC: access denied} and its deny line, an allowed one the
 * router's 503 with {@code URX,UF} (after the retries of Istio's inbound route), and the client's connection goes on.
 * A policy change still re-decides such a connection, which has no application connection to be tracked by (ztunnel's watcher, istio/ztunnel
 * src/proxy/inbound_passthrough.rs {@code assert_rbac}). Until 2 December plaintext inbound dialled the application at
 * accept and its failure reset the client before any request was read. Real sockets, a real plaintext listener, one
 * mesh per test on its own address (127.0.72.x).
 */
class PlaintextAppUnreachableTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: api-only, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules: [{to: [{operation: {paths: ["/api/*"]}}]}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules: [{to: [{operation: {paths: ["/api/admin"]}}]}]
            """;
    /** A change no request on the connection can escape: a DENY on the port alone. */
    static final String DENY_PORT = L7SniffDecisionTest.DENY_PORT;
    /** A change its next request decides: a DENY with HTTP fields. */
    static final String DENY_PATH = """
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-other, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules: [{to: [{operation: {paths: ["/api/other"]}}]}]
            """;

    /** A backend at {@code ip} with one {@code protocol} port on which nothing listens yet, behind a plaintext listener. */
    private record Backend(Mesh mesh, PolicyEngine engine, SimpleMeterRegistry meters, InetAddress ip, int port, InetSocketAddress via)
            implements AutoCloseable {
        static Backend start(String address, AppProtocol protocol) throws Exception {
            InetAddress ip = InetAddress.getByName(address);
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, ip)) {
                port = s.getLocalPort();
            }
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, protocol));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
            SimpleMeterRegistry meters = new SimpleMeterRegistry();
            Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).meterRegistry(meters)
                    .threads(1).drain(java.time.Duration.ZERO).build();
            mesh.start().get(10, TimeUnit.SECONDS);
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
            return new Backend(mesh, engine, meters, ip, port, via);
        }

        Socket client() throws IOException {
            Socket s = new Socket(via.getAddress(), via.getPort());
            s.setSoTimeout(30_000);
            return s;
        }

        ServerSocket app() throws IOException {
            return new ServerSocket(port, 50, ip);
        }

        void replace(String policies) throws Exception {
            engine.replace(PolicyLoader.fromString("p.yaml", policies.replace("PORT", Integer.toString(port))));
        }

        /** {@code name{tags}} once it reaches 1 (counted just after the access line), else 0 after 30 s. */
        double counted(String name, String... tags) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                Counter c = meters.find(name).tags(tags).counter();
                if (c != null && c.count() >= 1) {
                    return c.count();
                }
                Thread.sleep(20);
            }
            return 0;
        }

        @Override
        public void close() throws Exception {
            mesh.close();
        }
    }

    private static String from(Socket c) {
        return "src=" + c.getLocalAddress().getHostAddress() + ":" + c.getLocalPort() + " ";
    }

    @Test
    void aDeniedRequestGets403AndItsDenyLineWhileTheApplicationIsDown() throws Exception {
        try (Backend b = Backend.start("127.0.72.4", AppProtocol.HTTP); CapturedStderr err = new CapturedStderr(); Socket c = b.client()) {
            send(c, "GET /api/admin HTTP/1.1\r\nHost: backend\r\n\r\n");
            L7AppUnreachableTest.Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(403);
            assertThat(r.body()).isEqualTo("RBAC: access denied");
            assertThat(err.awaitLine("access - plaintext-inbound-http " + from(c), " path=\"/api/admin\" "))
                    .contains(" src_id=- ")
                    .contains(" dst_id=spiffe://cluster.local/ns/prod/sa/backend ")
                    .contains(" status=403 decision=deny ")
                    .contains("prod/no-admin");
            // The connection goes on: a second denial on it is answered too.
            send(c, "GET /other HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).isEqualTo(403);
            assertThat(b.counted("istio.requests", "response_code", "403", "response_flags", "-")).isGreaterThanOrEqualTo(1);
            // No application connection to wait for: the client's FIN ends it.
            c.shutdownOutput();
            assertThat(c.getInputStream().read()).isEqualTo(-1);
        }
    }

    /**
     * An allowed request while nothing listens gets Envoy's 503 with {@code URX,UF} (body, access line, metric); the
     * connection stays open and, once the application listens, the next request on it reaches the application.
     */
    @Test
    void anAllowedRequestGets503UfAndTheNextOneOnTheConnectionReachesTheApplicationOnceItIsUp() throws Exception {
        try (Backend b = Backend.start("127.0.72.5", AppProtocol.HTTP); CapturedStderr err = new CapturedStderr(); Socket c = b.client()) {
            send(c, "GET /api/first HTTP/1.1\r\nHost: backend\r\n\r\n");
            L7AppUnreachableTest.Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(REFUSED);
            assertThat(r.headers()).doesNotContainKey("connection");
            assertThat(err.awaitLine("access - plaintext-inbound-http " + from(c), " path=\"/api/first\" "))
                    .contains(" src_id=- ")
                    .contains(" status=503 decision=allow ")
                    .contains(" reason=\"" + REFUSED_DETAILS + "\" response_flags=URX,UF ");
            assertThat(b.counted("istio.requests", "response_code", "503", "response_flags", "URX,UF")).isGreaterThanOrEqualTo(1);

            try (ServerSocket app = b.app()) {
                send(c, "GET /api/second HTTP/1.1\r\nHost: backend\r\n\r\n");
                try (Socket appSide = app.accept()) {
                    appSide.setSoTimeout(30_000);
                    assertThat(readHead(appSide.getInputStream())).startsWith("GET /api/second HTTP/1.1\r\n");
                    OutputStream out = appSide.getOutputStream();
                    out.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    L7AppUnreachableTest.Response ok = read(c.getInputStream());
                    assertThat(ok.status()).isEqualTo(200);
                    assertThat(ok.body()).isEqualTo("ok");
                    // The client's FIN reaches the application.
                    c.shutdownOutput();
                    assertThat(appSide.getInputStream().read()).isEqualTo(-1);
                }
            }
        }
    }

    /** The same on an {@code auto} port once the sniff saw HTTP: 503 with {@code URX,UF}, then 403 on the same connection. */
    @Test
    void anAutoPortsHttpGets503UfAnd403() throws Exception {
        try (Backend b = Backend.start("127.0.72.6", AppProtocol.AUTO); CapturedStderr err = new CapturedStderr(); Socket c = b.client()) {
            send(c, "GET /api/a HTTP/1.1\r\nHost: backend\r\n\r\n");
            L7AppUnreachableTest.Response r = read(c.getInputStream());
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).isEqualTo(REFUSED);
            assertThat(err.awaitLine("access - plaintext-inbound-http " + from(c), " path=\"/api/a\" ")).contains(" response_flags=URX,UF ");
            send(c, "GET /api/admin HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).isEqualTo(403);
        }
    }

    /**
     * An {@code auto} port's bytes that are not HTTP (an L4 rule admits them) are relayed after a dial made once the sniff
     * decided: that dial failing resets the client, counted and logged as ztunnel's failed plaintext dial
     * ({@code Error::ConnectionFailed}, flag {@code CONNECT}), as the dial at accept was.
     */
    @Test
    void anAutoPortsBytesWhoseDialFailsAreResetAndCountedConnect() throws Exception {
        try (Backend b = Backend.start("127.0.72.7", AppProtocol.AUTO)) {
            // No DENY with HTTP fields: on bytes it would be taken as matched (evaluateUnparsed).
            b.replace(L7Http10Test.POLICY_WITH_L4_RULE);
            try (CapturedStderr err = new CapturedStderr(); Socket c = b.client()) {
                c.getOutputStream().write("\u0001\u0002not-http\r\n".getBytes(StandardCharsets.ISO_8859_1));
                assertThat(readUntilEnd(c.getInputStream())).isEqualTo("reset");
                assertThat(err.awaitLine("access - plaintext-inbound " + from(c)))
                        .contains(" end=reset error=\"connection failed: Connection refused (os error 111)\"")
                        .contains(" reason=\"upstream " + b.ip().getHostAddress() + ":" + b.port() + " unreachable: Connection refused (os error 111)\"");
                assertThat(b.counted("istio.tcp.connections.failed", "response_flags", "CONNECT")).isEqualTo(1.0);
            }
        }
    }

    /**
     * Before any application connection (every request so far answered 503): a change its requests decide keeps the
     * connection (its next request meets the new policies), a DENY on the port alone cuts it at once, with the change's
     * WARN line, ztunnel's late rejection in its access line, and {@code DENY} counted.
     */
    @Test
    void aPolicyChangeKeepsOrCutsAConnectionWithoutAnApplicationConnection() throws Exception {
        try (Backend b = Backend.start("127.0.72.8", AppProtocol.HTTP); CapturedStderr err = new CapturedStderr(); Socket c = b.client()) {
            send(c, "GET /api/a HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).isEqualTo(503);

            b.replace(POLICY + DENY_PATH);
            send(c, "GET /api/other HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).as("kept, its request decided by the new policies").isEqualTo(403);
            send(c, "GET /api/b HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).isEqualTo(503);
            assertThat(err.count("no longer allowed after a policy update")).isZero();

            b.replace(POLICY + DENY_PORT);
            assertThat(err.awaitLine("plaintext connection to " + b.ip().getHostAddress() + ":" + b.port() + " from "
                    + c.getLocalAddress().getHostAddress() + ":" + c.getLocalPort(), "no longer allowed after a policy update"))
                    .contains("DENY by prod/deny-port");
            assertThat(readUntilEnd(c.getInputStream())).as("client side").isEqualTo("reset");
            assertThat(err.awaitLine("access - plaintext-inbound " + from(c)))
                    .endsWith(" end=reset error=\"connection closed due to policy change\"");
            assertThat(b.counted("istio.tcp.connections.failed", "response_flags", "DENY")).isEqualTo(1.0);
        }
    }

    /**
     * After the dial (a 503 while the application was down, then a 200 once it is up): the same changes keep the
     * connection, then cut it and the application's.
     */
    @Test
    void aPolicyChangeKeepsOrCutsAConnectionAndItsApplicationConnection() throws Exception {
        try (Backend b = Backend.start("127.0.72.9", AppProtocol.HTTP); CapturedStderr err = new CapturedStderr(); Socket c = b.client()) {
            send(c, "GET /api/down HTTP/1.1\r\nHost: backend\r\n\r\n");
            assertThat(read(c.getInputStream()).status()).isEqualTo(503);
            try (ServerSocket app = b.app()) {
                send(c, "GET /api/a HTTP/1.1\r\nHost: backend\r\n\r\n");
                try (Socket appSide = app.accept()) {
                    appSide.setSoTimeout(30_000);
                    assertThat(readHead(appSide.getInputStream())).startsWith("GET /api/a ");
                    appSide.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
                    assertThat(read(c.getInputStream()).status()).isEqualTo(200);

                    b.replace(POLICY + DENY_PATH);
                    send(c, "GET /api/b HTTP/1.1\r\nHost: backend\r\n\r\n");
                    assertThat(readHead(appSide.getInputStream())).as("kept: the same application connection").startsWith("GET /api/b ");
                    appSide.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".getBytes(StandardCharsets.US_ASCII));
                    assertThat(read(c.getInputStream()).status()).isEqualTo(200);

                    b.replace(POLICY + DENY_PORT);
                    assertThat(err.awaitLine("plaintext connection to", "no longer allowed after a policy update")).contains("DENY by prod/deny-port");
                    assertThat(readUntilEnd(c.getInputStream())).as("client side").isEqualTo("reset");
                    assertThat(readUntilEnd(appSide.getInputStream())).as("application side").isEqualTo("reset");
                    assertThat(err.awaitLine("access - plaintext-inbound " + from(c)))
                            .endsWith(" end=reset error=\"connection closed due to policy change\"");
                }
            }
        }
    }
}
