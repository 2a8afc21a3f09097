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
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * No head-of-line between the responses of one L7 HTTP/2 client connection: a response its client does not read must
 * hold back only itself, as a request body the application does not read does (L7JwtHoldBreakTest). Real peers: Node's
 * http2 client ({@code h2-unread-response-client.js}, its own connection window 16 MiB) and Node's h2c application
 * ({@code h2c-big.js}). Direct, client to application, B is answered. Address 127.0.215.10, ports 65110-65112.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class L7H2ResponseHeadOfLineTest {
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-big, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/big"]}}]
            """;
    private static Process node;
    private static Mesh server;
    private static InetSocketAddress plain;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.215.10");
        node = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-big.js"), ip.getHostAddress(), "65110")
                .redirectErrorStream(true));
        assertThat(ChildProcess.firstLine(node).trim()).isEqualTo("65110");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(65110, AppProtocol.HTTP2));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of("b", new InetSocketAddress(ip, 65111)));
        server = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity()).workloads(registry)
                .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build()).node("b")
                .inbound(new InetSocketAddress(ip, 65111)).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);
        plain = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 65112), new InetSocketAddress(ip, 65110)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        if (node != null) {
            node.destroyForcibly().waitFor();
        }
    }

    /**
     * Stream A's 4 MB response is left unread by its client; stream B's 200 KB response on the same connection must still
     * come. zerohop stops reading the application's stream A when the client's stream A is unwritable, and what the
     * application sent on it stays unconsumed on zerohop's connection to the application; until 7 December that
     * connection's receive window was Netty's 64 KiB ({@code H2AppConnection}: no connection WINDOW_UPDATE), so the
     * application could not send B's DATA and B waited for ever. Envoy's upstream codec's connection window is its
     * {@code initial_connection_window_size}, 256 MiB by default (protocol.proto Http2ProtocolOptions); zerohop opens
     * it to {@code H2Proxy.CONNECTION_WINDOW}, given back every {@code CONNECTION_UPDATE}, as on the client's side.
     */
    @Test
    void aResponseItsClientDoesNotReadHoldsBackNoOtherResponseOnTheConnection() throws Exception {
        Process client = new ProcessBuilder("node", L7Http2Test.resource("h2-unread-response-client.js"),
                "http://" + plain.getAddress().getHostAddress() + ":" + plain.getPort(), "/big?n=4000000", "/big?n=200000")
                .redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("A 200");
            assertThat(out.readLine()).as("B's response on the connection whose A is unread").isEqualTo("B 200 200000");
        } finally {
            client.destroyForcibly().waitFor();
        }
    }
}
