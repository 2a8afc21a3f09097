package io.zerohop.example;

import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.identity.InMemoryCa;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * zerohop inside an application: no sidecar, no node proxy. A "quotes" service accepts HBONE
 * tunnels in-process (a blocking {@link HboneServerSocket}, as a classic {@code ServerSocket} app
 * would), and a "web" client calls it over a plain {@link javax.net.SocketFactory} that any HTTP
 * client or JDBC driver accepts. Each side is a {@link Mesh}; in production each would be its own
 * process with its own identity provider (PEM files, SPIRE, Istio CA) instead of the shared
 * in-memory CA used here.
 */
public final class EmbeddedService {
    private EmbeddedService() {}

    public static void main(String[] args) throws Exception {
        System.out.println(run());
    }

    /** Runs one request through the mesh and returns the response line the client read. */
    public static String run() throws Exception {
        InetAddress quotesIp = InetAddress.getByName("127.0.0.5");
        Workload quotes = new Workload("shop", "quotes", "quotes", Map.of("app", "quotes"), List.of(quotesIp),
                Workload.Protocol.HBONE, null, "cluster.local");
        Workload web = new Workload("shop", "web", "web", Map.of("app", "web"),
                List.of(InetAddress.getByName("127.0.0.6")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(quotes, web), Map.of());
        InMemoryCa ca = InMemoryCa.create("cluster.local");

        try (Mesh quotesMesh = Mesh.builder().identityProvider(ca).identity(quotes.identity()).workloads(registry)
                     .inbound(new InetSocketAddress(quotesIp, 15008)).threads(1).build();
             Mesh webMesh = Mesh.builder().identityProvider(ca).identity(web.identity()).workloads(registry).threads(1).build();
             HboneServerSocket server = new HboneServerSocket()) {
            quotesMesh.serve(new InetSocketAddress(quotesIp, 8080), server);
            quotesMesh.start().get(10, TimeUnit.SECONDS);

            Thread app = new Thread(() -> serveOne(server), "quotes-app");
            app.start();

            try (Socket s = webMesh.socketFactory().createSocket(quotesIp, 8080)) {
                OutputStream out = s.getOutputStream();
                out.write("GET /quote HTTP/1.1\r\nHost: quotes.shop\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                String status = in.readLine();
                String body = in.lines().reduce((a, b) -> b).orElse("");
                app.join(10_000);
                return status + " | " + body;
            }
        }
    }

    /** The service side: an ordinary blocking accept loop, except the peer's identity is verified. */
    private static void serveOne(HboneServerSocket server) {
        try (HboneSocket s = server.accept()) {
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
            String request = in.readLine();
            while (!in.readLine().isEmpty()) {
                // headers: nothing to do with them here
            }
            String body = "quote for " + s.peerIdentity() + " (" + request + ")";
            s.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\n\r\n" + body)
                    .getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
        } catch (IOException e) {
            throw new IllegalStateException("quotes app failed", e);
        }
    }
}
