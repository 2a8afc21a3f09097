package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.BufferedReader;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * An embedded application ({@code Mesh.serve} with an {@link HboneServerSocket}) on a port decided per HTTP request reads
 * its requests as from any socket. A new-user pass found {@code read(b, 0, 4096)} returning 0 after each request (the
 * HTTP encoder's empty end-of-message buffer was queued as a chunk), which {@link InputStream}'s contract forbids: an
 * {@link InputStreamReader} threw "Underlying input stream returned zero bytes" after the first request, and the next
 * requests on the connection got an end of stream instead of their 403 or their response.
 */
class EmbeddedL7ReadTest {
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-admin, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: DENY
              rules:
              - to:
                - operation: {paths: ["/admin*"]}
            """;

    @Test
    void aReaderAppServesEveryRequestOfAKeptAliveConnection() throws Exception {
        InetAddress bip = InetAddress.getByName("127.0.153.2");
        int port = 7071;
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(bip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(port, AppProtocol.HTTP));
        Workload frontend = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.153.3")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, frontend), Map.of("b", new InetSocketAddress(bip, 15008)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build();
        AtomicInteger zeroReads = new AtomicInteger();
        List<String> seen = new ArrayList<>();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry).policies(policy)
                .node("b").inbound(new InetSocketAddress(bip, 0)).threads(1).build();
             HboneServerSocket app = new HboneServerSocket()) {
            server.start().get(10, TimeUnit.SECONDS);
            server.serve(new InetSocketAddress(bip, port), app);
            registry.replace(List.of(backend, frontend), Map.of("b", server.inboundAddress()));
            CompletableFuture<Throwable> served = CompletableFuture.supplyAsync(() -> {
                try (HboneSocket s = app.accept()) {
                    InputStream counting = new FilterInputStream(s.getInputStream()) {
                        @Override
                        public int read(byte[] b, int off, int len) throws IOException {
                            int n = super.read(b, off, len);
                            if (n == 0 && len > 0) {
                                zeroReads.incrementAndGet();
                            }
                            return n;
                        }
                    };
                    BufferedReader in = new BufferedReader(new InputStreamReader(counting, StandardCharsets.ISO_8859_1));
                    OutputStream out = s.getOutputStream();
                    for (String line; (line = in.readLine()) != null; ) {
                        String requestLine = line;
                        while (!(line = in.readLine()).isEmpty()) {
                            // headers
                        }
                        synchronized (seen) {
                            seen.add(requestLine);
                        }
                        byte[] body = requestLine.getBytes(StandardCharsets.ISO_8859_1);
                        out.write(("HTTP/1.1 200 OK\r\ncontent-length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                        out.write(body);
                        out.flush();
                    }
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
            try (Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build();
                 Socket c = client.socketFactory().createSocket(bip, port)) {
                c.setSoTimeout(10_000);
                InputStream cin = c.getInputStream();
                assertThat(exchange(c, cin, "/one")).startsWith("HTTP/1.1 200 ").endsWith("GET /one HTTP/1.1");
                assertThat(exchange(c, cin, "/admin")).startsWith("HTTP/1.1 403 ");
                assertThat(exchange(c, cin, "/two")).startsWith("HTTP/1.1 200 ").endsWith("GET /two HTTP/1.1");
            }
            assertThat(served.get(10, TimeUnit.SECONDS)).as("the application's reader").isNull();
            assertThat(zeroReads).as("reads of no bytes").hasValue(0);
            synchronized (seen) {
                assertThat(seen).containsExactly("GET /one HTTP/1.1", "GET /two HTTP/1.1");
            }
        }
    }

    /** One request on the kept-alive connection, and its response (head and a content-length body) as text. */
    private static String exchange(Socket c, InputStream in, String path) throws IOException {
        c.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: backend\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        c.getOutputStream().flush();
        String head = L7EnforcementTest.readHead(in);
        int length = 0;
        for (String h : head.split("\r\n")) {
            if (h.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(h.substring(15).trim());
            }
        }
        return head.strip() + "\r\n\r\n" + new String(in.readNBytes(length), StandardCharsets.ISO_8859_1);
    }
}
