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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * An application that answers a request before its body has come: Envoy's connection manager closes such an HTTP/1
 * connection after the response and sends the application nothing more of it (envoyproxy/envoy
 * source/common/http/conn_manager_impl.cc {@code encodeHeaders}, {@code !remoteDecodeComplete()},
 * {@code downstream_rq_response_before_rq_complete}). The client here does what a client may do after an early final
 * answer to {@code Expect: 100-continue}: it skips the body and sends its next request, {@code GET /deny}, which a DENY
 * matches. Until 6 December zerohop forwarded those bytes to the application as the first request's body, and an
 * application that took that body as skipped (it never sent 100) read {@code GET /deny} as a request no policy decided.
 */
class L7EarlyResponseTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to: [{operation: {paths: ["/deny"]}}]
            """;

    @Test
    void aResponseBeforeTheRequestsEndClosesTheConnectionAndNothingMoreReachesTheApplication() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.162.11");
        CompletableFuture<String> received = new CompletableFuture<>();
        try (ServerSocket app = new ServerSocket(0, 50, ip)) {
            Thread t = new Thread(() -> {
                // Answers 401 as soon as a request head has come, reads no body, and records every byte until the end.
                try (Socket s = app.accept()) {
                    InputStream in = s.getInputStream();
                    ByteArrayOutputStream all = new ByteArrayOutputStream();
                    boolean answered = false;
                    byte[] buf = new byte[4096];
                    for (int n; (n = in.read(buf)) > 0; ) {
                        all.write(buf, 0, n);
                        if (!answered && all.toString(StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
                            answered = true;
                            s.getOutputStream().write("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                        }
                    }
                    received.complete(all.toString(StandardCharsets.ISO_8859_1));
                } catch (Exception e) {
                    received.completeExceptionally(e);
                }
            });
            t.setDaemon(true);
            t.start();
            int port = app.getLocalPort();
            Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                    Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
            PolicyEngine engine = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
            try (Mesh mesh = Mesh.builder().identityProvider(InMemoryCa.create("cluster.local")).identity(backend.identity())
                    .workloads(WorkloadRegistry.of(List.of(backend), Map.of())).node("b").policies(engine).threads(1).build()) {
                mesh.start().get(10, TimeUnit.SECONDS);
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));
                String next = "GET /deny HTTP/1.1\r\nHost: a\r\n\r\n";
                String answer;
                try (Socket s = new Socket(via.getAddress(), via.getPort())) {
                    s.setSoTimeout(20_000);
                    s.getOutputStream().write(("POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: "
                            + next.length() + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    InputStream in = s.getInputStream();
                    ByteArrayOutputStream head = new ByteArrayOutputStream();
                    while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                        int b = in.read();
                        if (b < 0) {
                            break;
                        }
                        head.write(b);
                    }
                    answer = head.toString(StandardCharsets.ISO_8859_1);
                    try {
                        s.getOutputStream().write(next.getBytes(StandardCharsets.ISO_8859_1));
                        s.shutdownOutput();
                        in.transferTo(head);
                    } catch (java.net.SocketException closed) {
                        // the proxy may have closed already
                    }
                }
                assertThat(answer).startsWith("HTTP/1.1 401 ").containsIgnoringCase("connection: close");
                assertThat(received.get(20, TimeUnit.SECONDS)).as("what the application read").startsWith("POST /upload ")
                        .doesNotContain("/deny");
            }
        }
    }
}
