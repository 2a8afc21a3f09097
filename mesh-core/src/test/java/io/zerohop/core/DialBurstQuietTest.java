package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.testing.CapturedStderr;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A new-user pass (3 December): 1,600 requests from 16 threads through an embedded mesh to an application on loopback all
 * succeeded, and the serving mesh logged 60-160 Netty WARNs "An exceptionCaught() event was fired, and it reached at the
 * tail of the pipeline" with a {@code NotYetConnectedException} stack trace: epoll woke a few upstream dials for input
 * while they still connected, and Netty's read failed with ENOTCONN into a pipeline that had only the dial's handler.
 * Those reads are now dropped while the socket connects (the connect future reports the dial); every other failure
 * still reaches its handler ({@code DiallingTest}).
 */
class DialBurstQuietTest {
    @Test
    void aBurstOfDialsToTheApplicationLogsNoUnhandledException() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.127.2");
        HttpServer app = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        app.createContext("/", ex -> {
            byte[] body = "ok".getBytes(StandardCharsets.US_ASCII);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        app.setExecutor(Executors.newFixedThreadPool(4));
        app.start();
        int httpPort = 8080;
        int tcpPort = 9090;
        Workload server = new Workload("shop", "a", "a", Map.of("app", "a"), List.of(ip), Workload.Protocol.HBONE, "n1", "cluster.local",
                Map.of(httpPort, AppProtocol.HTTP, tcpPort, AppProtocol.TCP));
        Workload client = new Workload("shop", "b", "b", Map.of("app", "b"), List.of(InetAddress.getByName("127.0.127.3")),
                Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(server, client), Map.of());
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        ExecutorService callers = Executors.newFixedThreadPool(16);
        try (CapturedStderr err = new CapturedStderr();
                Mesh a = Mesh.builder().identityProvider(ca).identity(server.identity()).workloads(registry).node("n1")
                        .inbound(new InetSocketAddress(ip, 0)).threads(1)
                        .inboundEndpoint(new InetSocketAddress(ip, httpPort), app.getAddress())
                        .inboundEndpoint(new InetSocketAddress(ip, tcpPort), app.getAddress()).build();
                Mesh b = Mesh.builder().identityProvider(ca).identity(client.identity()).workloads(registry).threads(1).build()) {
            a.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(server, client), Map.of("n1", a.inboundAddress()));
            InetSocketAddress any = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            List<Future<String>> answers = new ArrayList<>();
            for (int port : new int[] {httpPort, tcpPort}) {
                InetSocketAddress via = b.capture(Capture.forward(any, new InetSocketAddress(ip, port)));
                for (int i = 0; i < 800; i++) {
                    answers.add(callers.submit(() -> get(via)));
                }
            }
            for (Future<String> f : answers) {
                assertThat(f.get(60, TimeUnit.SECONDS)).startsWith("HTTP/1.1 200");
            }
            // Both meshes' loops are quiet: the tail's WARN and the exception (60-160 of them in the pass's runs).
            assertThat(err.text()).doesNotContain("reached at the tail of the pipeline").doesNotContain("NotYetConnectedException");
        } finally {
            callers.shutdownNow();
            app.stop(0);
        }
    }

    private static String get(InetSocketAddress via) throws Exception {
        try (Socket s = new Socket()) {
            s.connect(via, 10_000);
            s.setSoTimeout(20_000);
            OutputStream o = s.getOutputStream();
            o.write("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            o.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }
}
