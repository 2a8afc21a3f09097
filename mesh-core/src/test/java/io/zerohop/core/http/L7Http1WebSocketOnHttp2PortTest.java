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
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An HTTP/1.1 client's WebSocket upgrade on a port declared {@code http2}, as Istio's Envoy carries it: its HTTP/2 client
 * codec sends the upgrade as RFC 8441's extended CONNECT ({@code :method CONNECT}, {@code :protocol websocket}, no
 * {@code connection} or {@code upgrade}; envoyproxy/envoy source/common/http/http2/codec_impl.cc
 * {@code ClientStreamImpl::encodeHeaders}, source/common/http/utility.cc {@code Utility::transformUpgradeRequestFromH1toH2})
 * whatever the application's SETTINGS, answers the client {@code 101 Switching Protocols} with {@code upgrade} and
 * {@code connection: upgrade} for the application's 200 ({@code Utility::transformUpgradeResponseFromH2toH1}), any other
 * status as it is, and carries the bytes as DATA both ways. Real peers: Node's http2 server with
 * {@code enableConnectProtocol} echoing each CONNECT stream, the same without it (nghttp2 resets a {@code :protocol}
 * stream: Envoy's 503 {@code UR}), and a raw socket doing the client's handshake, through plaintext inbound. Addresses
 * 127.0.213.10, ports 64500-64504. Until 7 December the upgrade reached the application as a plain {@code GET}, the
 * client got its answer (no 101) and its connection closed.
 */
class L7Http1WebSocketOnHttp2PortTest {
    private static final String POLICY = L7Meshes.ALLOW_WS_GET;
    private static final String HOST = "127.0.213.10";

    private static Process enabled;
    private static Process refusing;
    private static Mesh server;
    private static PolicyEngine engine;
    private static InetSocketAddress toEnabled;
    private static InetSocketAddress toRefusing;

    @BeforeAll
    static void start() throws Exception {
        enabled = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2-websocket-server.js"), HOST, "64500", "true")
                .redirectErrorStream(true));
        assertThat(ChildProcess.firstLine(enabled).trim()).isEqualTo("64500");
        refusing = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2-websocket-server.js"), HOST, "64501", "false")
                .redirectErrorStream(true));
        assertThat(ChildProcess.firstLine(refusing).trim()).isEqualTo("64501");
        InetAddress ip = InetAddress.getByName(HOST);
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(64500, AppProtocol.HTTP2, 64501, AppProtocol.HTTP2));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend), Map.of("b", new InetSocketAddress(ip, 64502)));
        server = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity()).workloads(registry)
                .policies(engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build()).node("b")
                .inbound(new InetSocketAddress(ip, 64502)).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);
        toEnabled = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 64503), new InetSocketAddress(ip, 64500)));
        toRefusing = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 64504), new InetSocketAddress(ip, 64501)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        for (Process p : new Process[] {enabled, refusing}) {
            if (p != null) {
                p.destroy();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private static String upgrade(String path) {
        return "GET " + path + " HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    }

    private static Socket connect(InetSocketAddress to) throws IOException {
        Socket c = new Socket(to.getAddress(), to.getPort());
        c.setSoTimeout(30_000);
        return c;
    }

    /** Reads to the end: -1, or a reset, which ends the connection too; returns the bytes read before it. */
    private static int drainToEnd(InputStream in) throws IOException {
        int n = 0;
        try {
            while (in.read() >= 0) {
                n++;
            }
        } catch (SocketException reset) {
            // A reset is an end as well.
        }
        return n;
    }

    /**
     * The upgrade reaches the application as an extended CONNECT ({@code :scheme} and {@code :path} kept, no
     * {@code connection}, {@code upgrade} or {@code content-length}; the client's {@code sec-websocket-key} passed on), its
     * 200 comes back as {@code 101} with {@code upgrade: websocket} and {@code connection: upgrade}, 4 MiB go both ways
     * through the stream's flow-control windows (more than the 64 KiB Node's window starts with), and the client's FIN
     * goes on as END_STREAM, the application's answering END_STREAM as the client's FIN.
     */
    @Test
    void aWebSocketUpgradeGoesToTheApplicationAsAnExtendedConnectAndItsBytesBothWays() throws Exception {
        try (Socket c = connect(toEnabled)) {
            c.getOutputStream().write(upgrade("/ws/echo").getBytes(StandardCharsets.US_ASCII));
            String head = L7Http1AppCloseTest.readHead(c.getInputStream());
            assertThat(head).startsWith("HTTP/1.1 101 Switching Protocols\r\n").containsIgnoringCase("\r\nupgrade: websocket\r\n")
                    .containsIgnoringCase("\r\nconnection: upgrade\r\n")
                    .contains("x-seen: :method=CONNECT :protocol=websocket :scheme=http :path=/ws/echo :authority=ws.example"
                            + " connection=undefined upgrade=undefined content-length=undefined sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==");
            byte[] data = new byte[4 << 20];
            new java.util.Random(356).nextBytes(data);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    c.getOutputStream().write(data);
                    c.getOutputStream().flush();
                    c.shutdownOutput();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            byte[] back = c.getInputStream().readNBytes(data.length);
            writer.get(60, TimeUnit.SECONDS);
            assertThat(back).isEqualTo(data);
            // The client's FIN reached the application as END_STREAM; its own END_STREAM is the client's FIN.
            assertThat(c.getInputStream().read()).isEqualTo(-1);
        }
    }

    /**
     * The application resets the upgraded stream (RST_STREAM): the client's connection is reset, as
     * {@code H2Upstream} cuts any response the application cannot finish, not half-closed (a FIN would leave the client
     * writing into a stream that is gone).
     */
    @Test
    void theApplicationsResetOfTheUpgradedStreamResetsTheClientsConnection() throws Exception {
        try (Socket c = connect(toEnabled)) {
            c.getOutputStream().write(upgrade("/ws/rst").getBytes(StandardCharsets.US_ASCII));
            assertThat(L7Http1AppCloseTest.readHead(c.getInputStream())).startsWith("HTTP/1.1 101 ");
            c.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
            c.getOutputStream().flush();
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.getInputStream().read())
                    .isInstanceOf(SocketException.class).hasMessageContaining("reset");
        }
    }

    /**
     * A policy change that now denies the request that upgraded the connection resets the client's connection (and the
     * stream to the application), as on a port declared {@code http} ({@code L7Http1PolicyChangeTest}).
     */
    @Test
    void anUpgradedStreamANewDenyNamesIsReset() throws Exception {
        try (Socket c = connect(toEnabled)) {
            c.getOutputStream().write(upgrade("/ws/live").getBytes(StandardCharsets.US_ASCII));
            assertThat(L7Http1AppCloseTest.readHead(c.getInputStream())).startsWith("HTTP/1.1 101 ");
            c.getOutputStream().write("frame".getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(c.getInputStream().readNBytes(5), StandardCharsets.US_ASCII)).isEqualTo("frame");
            engine.replace(PolicyLoader.fromString("p.yaml", POLICY + """
                    ---
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: deny-live, namespace: prod}
                    spec:
                      selector: {matchLabels: {app: backend}}
                      action: DENY
                      rules:
                      - to: [{operation: {paths: ["/ws/live"]}}]
                    """));
            try {
                org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.getInputStream().read())
                        .isInstanceOf(SocketException.class).hasMessageContaining("reset");
            } finally {
                engine.replace(PolicyLoader.fromString("p.yaml", POLICY));
            }
        }
    }

    /**
     * An application that does not take {@code :protocol} (Node's http2 server without {@code enableConnectProtocol}:
     * nghttp2 resets the stream) gets Envoy's 503 {@code UR} for a reset before the response, the connection closed after
     * it ({@code connection: close}: an upgrade request never ends for Envoy's HTTP/1 codec); any other answer than 200
     * goes to the client as it is, also closing; a denied upgrade is 403 and never reaches the application.
     */
    @Test
    void anUpgradeTheApplicationRefusesGetsEnvoysAnswers() throws Exception {
        try (Socket c = connect(toRefusing)) {
            c.getOutputStream().write(upgrade("/ws/echo").getBytes(StandardCharsets.US_ASCII));
            String head = L7Http1AppCloseTest.readHead(c.getInputStream());
            assertThat(head).startsWith("HTTP/1.1 503 ").containsIgnoringCase("\r\nconnection: close\r\n");
            int length = Integer.parseInt(head.replaceAll("(?is).*\r\ncontent-length: *(\\d+)\r\n.*", "$1"));
            assertThat(new String(c.getInputStream().readNBytes(length), StandardCharsets.US_ASCII))
                    .isEqualTo("upstream connect error or disconnect/reset before headers. reset reason: remote reset");
            assertThat(drainToEnd(c.getInputStream())).isZero();
        }
        try (Socket c = connect(toEnabled)) {
            c.getOutputStream().write(upgrade("/ws/404").getBytes(StandardCharsets.US_ASCII));
            String head = L7Http1AppCloseTest.readHead(c.getInputStream());
            assertThat(head).startsWith("HTTP/1.1 404 ").containsIgnoringCase("\r\nconnection: close\r\n")
                    .doesNotContainIgnoringCase("upgrade:");
            assertThat(new String(c.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).contains("no such socket");
        }
        try (Socket c = connect(toEnabled)) {
            c.getOutputStream().write(upgrade("/admin").getBytes(StandardCharsets.US_ASCII));
            assertThat(L7Http1AppCloseTest.readHead(c.getInputStream())).startsWith("HTTP/1.1 403 ");
        }
    }
}
