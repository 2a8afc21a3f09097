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

/**
 * An application that frames its HTTP/1.1 responses by closing its connection (neither {@code Content-Length} nor
 * chunked: a raw-socket Node server), behind the plaintext inbound of a port declared {@code http}, with curl as the
 * client. As Envoy's HTTP/1 codecs do (envoyproxy/envoy source/common/http/http1/codec_impl.cc
 * {@code StreamEncoderImpl::encodeHeadersBase}: chunked when no length is known, except for HTTP/1.0), an HTTP/1.1
 * client gets each such response chunked and keeps its connection, and an HTTP/1.0 client (under {@code accept_http_10})
 * gets it framed by the close. Addresses 127.0.189.10, ports 55500-55501.
 */
class L7CloseDelimitedResponseTest {
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-close-delimited, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
            """;

    private static Process app;
    private static BufferedReader appOut;
    private static Mesh mesh;
    private static String base;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.189.10");
        app = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h1-close-delimited-server.js"), ip.getHostAddress(),
                "55500").redirectErrorStream(true));
        appOut = new BufferedReader(new InputStreamReader(app.getInputStream(), StandardCharsets.UTF_8));
        assertThat(ChildProcess.readLine(app, appOut)).isEqualTo("ready");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(55500, AppProtocol.HTTP));
        mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b")
                .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build())
                .acceptHttp10(true).threads(1).build();
        mesh.start().get(10, TimeUnit.SECONDS);
        InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 55501), new InetSocketAddress(ip, 55500)));
        base = "http://" + via.getAddress().getHostAddress() + ":" + via.getPort();
    }

    @AfterAll
    static void stop() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
        app.destroy();
        app.waitFor(10, TimeUnit.SECONDS);
    }

    /**
     * curl's two requests on one command share its connection: the second reuses it ({@code num_connects} 0), each
     * response chunked and without {@code connection: close}, each on a new application connection. Fails before
     * 6 December's change: the first response said {@code connection: close} and curl connected again for the second.
     */
    @Test
    void anHttp11ClientKeepsItsConnectionAcrossCloseFramedResponses() throws Exception {
        String out = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "-i",
                "-w", "\n[%{http_code} connects=%{num_connects}]\n", base + "/api/one", base + "/api/two");
        assertThat(out).contains("close-framed /api/one\n[200 connects=1]").contains("close-framed /api/two\n[200 connects=0]")
                .doesNotContainIgnoringCase("connection: close").doesNotContainIgnoringCase("content-length");
        assertThat(out.toLowerCase(java.util.Locale.ROOT).split("transfer-encoding: chunked", -1)).hasSize(3);
        assertThat(ChildProcess.readLine(app, appOut)).startsWith("conn ");
        assertThat(ChildProcess.readLine(app, appOut)).startsWith("conn ");
    }

    /** An HTTP/1.0 client, even one asking for keep-alive, gets the body framed by the close and {@code connection: close}. */
    @Test
    void anHttp10ClientGetsTheBodyFramedByTheClose() throws Exception {
        String out = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.0", "-H", "Connection: keep-alive", "-i",
                "-w", "\n[%{http_code}]\n", base + "/api/ten");
        assertThat(out).startsWith("HTTP/1.0 200 ").containsIgnoringCase("connection: close")
                .doesNotContainIgnoringCase("transfer-encoding").contains("close-framed /api/ten\n[200]");
        assertThat(ChildProcess.readLine(app, appOut)).startsWith("conn ");
    }
}
