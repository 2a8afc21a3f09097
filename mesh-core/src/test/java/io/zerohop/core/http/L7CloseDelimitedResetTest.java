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
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An HTTP/1.1 application that frames its response by its close (no length, not chunked), behind a port declared
 * {@code http}, and ends the connection with a TCP RST instead of a FIN after part of the body: the client, whose copy is
 * chunked ({@code Http1Filter.reframe}), must not get the last chunk, which would make the truncated body look complete.
 * Envoy's HTTP/1 client codec takes only a clean close as the end of such a body (envoyproxy/envoy
 * source/common/http/codec_client.cc {@code CodecClient::onEvent}: a RemoteClose ends it via {@code onMessageComplete}
 * only after the read's end; a reset is a {@code ConnectionTermination} reset of the stream) and its connection manager
 * resets an HTTP/1 downstream whose response started. Plaintext inbound; addresses 127.0.194.11, ports 58010-58011.
 */
class L7CloseDelimitedResetTest {
    private static ServerSocket app;
    private static Mesh mesh;
    private static InetSocketAddress via;
    /** Counted down once the client has read the body's first part: the application resets its connection then. */
    private static volatile CountDownLatch partRead;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.194.11");
        app = new ServerSocket(58010, 10, ip);
        Thread t = new Thread(L7CloseDelimitedResetTest::serve, "close-delimited-reset-app");
        t.setDaemon(true);
        t.start();
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(58010, AppProtocol.HTTP));
        mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b")
                .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", """
                        apiVersion: security.istio.io/v1
                        kind: AuthorizationPolicy
                        metadata: {name: backend-reset, namespace: prod}
                        spec:
                          selector: {matchLabels: {app: backend}}
                          action: ALLOW
                          rules:
                          - to: [{operation: {paths: ["/api/*"]}}]
                        """)).build()).threads(1).build();
        mesh.start().get(10, TimeUnit.SECONDS);
        via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 58011), new InetSocketAddress(ip, 58010)));
    }

    private static void serve() {
        while (!app.isClosed()) {
            try (Socket s = app.accept()) {
                InputStream in = s.getInputStream();
                for (int state = 0; state < 4; ) {
                    int b = in.read();
                    if (b < 0) {
                        break;
                    }
                    state = b == (state % 2 == 0 ? '\r' : '\n') ? state + 1 : b == '\r' ? 1 : 0;
                }
                s.getOutputStream().write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npartial".getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                partRead.await(20, TimeUnit.SECONDS);
                s.setSoLinger(true, 0);
            } catch (Exception e) {
                // the test's end closes the server socket
            }
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
        app.close();
    }

    /** Fails if the client reads {@code 0\r\n\r\n} (a complete chunked body) after the part the application sent. */
    @Test
    void aResetAfterPartOfTheBodyIsNoEndOfIt() throws Exception {
        partRead = new CountDownLatch(1);
        try (Socket s = new Socket(via.getAddress(), via.getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /api/a HTTP/1.1\r\nHost: backend\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            while (!got.toString(StandardCharsets.ISO_8859_1).contains("partial\r\n")) {
                int n;
                try {
                    n = in.read(buf);
                } catch (java.net.SocketException e) {
                    throw new AssertionError("reset before the part; got: " + got, e);
                }
                assertThat(n).as("bytes before the part: %s", got).isPositive();
                got.write(buf, 0, n);
            }
            partRead.countDown();
            try {
                in.transferTo(got);
            } catch (java.net.SocketException reset) {
                // the proxy's reset ends the response as well as a FIN would
            }
            assertThat(got.toString(StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200 ")
                    .containsIgnoringCase("transfer-encoding: chunked").contains("7\r\npartial\r\n").doesNotContain("0\r\n\r\n");
        }
    }
}
