package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * What of a request's hop-by-hop headers reaches the application, and of its response's the client, as Envoy forwards
 * them: its connection manager removes {@code Connection}, {@code Upgrade} (but an upgrade's), {@code Keep-Alive},
 * {@code Proxy-Connection} and {@code Transfer-Encoding} from both, turns a request's {@code TE} into {@code trailers} or
 * removes it (envoyproxy/envoy source/common/http/conn_manager_utility.cc {@code mutateRequestHeaders},
 * {@code sanitizeTEHeader}, {@code mutateResponseHeaders}), and its HTTP/1 codecs frame the body anew
 * ({@code codec_impl.cc} {@code encodeHeadersBase}: {@code transfer-encoding: chunked}, {@code content-length: 0} for a
 * POST without a body, {@code connection: close} when the connection ends after the response). Through the plaintext
 * listener to an application on a raw socket that records each request head as it came and answers with the headers
 * Node's HTTP server sends. Until 6 December every one of them went through as sent.
 */
class L7ForwardedHopByHopTest {

    @Test
    void hopByHopHeadersStayOnTheirHop() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.179.10");
        int port = 53201;
        List<String> heads = new CopyOnWriteArrayList<>();
        try (ServerSocket app = new ServerSocket(port, 50, ip)) {
            Thread t = new Thread(() -> serve(app, heads));
            t.setDaemon(true);
            t.start();
            try (Mesh mesh = L7EarlyResponseTest.mesh(ip, port);
                 Socket c = new Socket()) {
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 53202),
                        new InetSocketAddress(ip, port)));
                c.connect(via);
                c.setSoTimeout(20_000);
                InputStream in = c.getInputStream();

                c.getOutputStream().write(("POST /one HTTP/1.1\r\nHost: backend\r\nConnection: keep-alive, x-drop\r\nX-Drop: 1\r\n"
                        + "Keep-Alive: timeout=9\r\nProxy-Connection: keep-alive\r\nTE: gzip, trailers\r\nTransfer-Encoding: Chunked\r\n"
                        + "\r\n2\r\nhi\r\n0\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                String first = response(in);
                c.getOutputStream().write("POST /two HTTP/1.1\r\nHost: backend\r\nTE: gzip\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                String second = response(in);
                c.getOutputStream().write("GET /three HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                String third = response(in);

                assertThat(heads).hasSize(3);
                assertThat(lines(heads.get(0))).as("the application's first request head").contains("host: backend",
                        "te: trailers", "transfer-encoding: chunked").noneMatch(l -> l.startsWith("connection:")
                        || l.startsWith("keep-alive:") || l.startsWith("proxy-connection:") || l.startsWith("x-drop:"));
                assertThat(lines(heads.get(1))).as("a POST without a body, as Envoy's codec sends it").contains("content-length: 0")
                        .noneMatch(l -> l.startsWith("te:"));
                assertThat(lines(heads.get(2))).as("the client's Connection: close is its own").noneMatch(l -> l.startsWith("connection:"));
                for (String r : List.of(first, second)) {
                    assertThat(r).startsWith("HTTP/1.1 200 ");
                    assertThat(lines(r)).as("the application's hop-by-hop response headers").contains("content-length: 2")
                            .noneMatch(l -> l.startsWith("connection:") || l.startsWith("keep-alive:") || l.startsWith("proxy-connection:"));
                }
                assertThat(lines(third)).as("the response after which the connection closes").contains("connection: close")
                        .noneMatch(l -> l.startsWith("keep-alive:"));
            }
        }
    }

    /**
     * An HTTP/1.0 client's {@code Connection: keep-alive} is its own hop's too, and is not forwarded; the client's
     * keep-alive still holds because Envoy's upstream codec speaks HTTP/1.1 to the application whatever the client spoke
     * (codec_impl.cc {@code RequestEncoderImpl::encodeHeaders} writes {@code HTTP/1.1}; zerohop's {@code Http1Filter}
     * sets the version), so the application keeps its connection open without the header. A guard: an HTTP/1.0 request
     * forwarded without its keep-alive header would make the application (here the JDK's own HTTP server) close after
     * each response. HTTP/1.0 is accepted only with {@code acceptHttp10}, as Envoy's {@code accept_http_10}.
     */
    @Test
    void anHttp10KeepAliveClientKeepsItsConnection() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.179.11");
        int port = 53203;
        com.sun.net.httpserver.HttpServer app = com.sun.net.httpserver.HttpServer.create(new InetSocketAddress(ip, port), 50);
        List<String> protocols = new CopyOnWriteArrayList<>();
        app.createContext("/", x -> {
            protocols.add(x.getProtocol());
            x.sendResponseHeaders(200, 2);
            x.getResponseBody().write("ok".getBytes(StandardCharsets.US_ASCII));
            x.close();
        });
        app.start();
        io.zerohop.core.Workload backend = new io.zerohop.core.Workload("prod", "backend", "backend", java.util.Map.of("app", "backend"),
                List.of(ip), io.zerohop.core.Workload.Protocol.HBONE, "b", "cluster.local",
                java.util.Map.of(port, io.zerohop.core.AppProtocol.HTTP));
        try (Mesh mesh = Mesh.builder().identityProvider(io.zerohop.identity.InMemoryCa.create("cluster.local"))
                .identity(backend.identity()).workloads(io.zerohop.core.WorkloadRegistry.of(List.of(backend), java.util.Map.of()))
                .node("b").policies(io.zerohop.policy.PolicyEngine.builder()
                        .policies(io.zerohop.policy.PolicyLoader.fromString("p.yaml", L7EarlyResponseTest.POLICY)).build())
                .threads(1).acceptHttp10(true).build();
             Socket c = new Socket()) {
            mesh.start().get(10, java.util.concurrent.TimeUnit.SECONDS);
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 53204),
                    new InetSocketAddress(ip, port)));
            c.connect(via);
            c.setSoTimeout(20_000);
            InputStream in = c.getInputStream();
            for (String path : List.of("/a", "/b")) {
                c.getOutputStream().write(("GET " + path + " HTTP/1.0\r\nHost: backend\r\nConnection: keep-alive\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                String r = response(in);
                assertThat(r).as(path).startsWith("HTTP/1.0 200 ");
                assertThat(lines(r)).as(path).contains("connection: keep-alive");
            }
            assertThat(protocols).containsExactly("HTTP/1.1", "HTTP/1.1");
        } finally {
            app.stop(0);
        }
    }

    /** A response's head in lower case, one line each, and its 2-byte body read. */
    private static String response(InputStream in) throws java.io.IOException {
        String head = L7EnforcementTest.readHead(in);
        in.readNBytes(2);
        return head;
    }

    private static List<String> lines(String head) {
        return List.of(head.toLowerCase(Locale.ROOT).split("\r\n"));
    }

    /** One connection: each request's head recorded, its body read, and answered as Node's http module answers. */
    private static void serve(ServerSocket app, List<String> heads) {
        try (Socket s = app.accept()) {
            InputStream in = s.getInputStream();
            while (true) {
                String head = L7EnforcementTest.readHead(in);
                if (head.isEmpty()) {
                    return;
                }
                heads.add(head);
                String lower = head.toLowerCase(Locale.ROOT);
                if (lower.contains("transfer-encoding: chunked")) {
                    ByteArrayOutputStream body = new ByteArrayOutputStream();
                    L7EarlyResponseTest.readUntil(in, body, "0\r\n\r\n");
                } else {
                    int i = lower.indexOf("content-length: ");
                    if (i >= 0) {
                        in.readNBytes(Integer.parseInt(lower.substring(i + 16, lower.indexOf('\r', i)).trim()));
                    }
                }
                s.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                        + "Proxy-Connection: keep-alive\r\n\r\nok").getBytes(StandardCharsets.ISO_8859_1));
            }
        } catch (java.io.IOException e) {
            // the proxy closed the connection
        }
    }
}
