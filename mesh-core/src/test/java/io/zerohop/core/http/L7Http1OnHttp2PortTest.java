package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.core.Workload;
import io.zerohop.core.WorkloadRegistry;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * HTTP/1.1 clients on ports declared {@code http2} and {@code grpc}, as Istio's Envoy serves them: istiod's {@code AUTO}
 * codec (listener_builder.go {@code buildHTTPConnectionManager}) reads HTTP/1 unless the first bytes are the h2 preface,
 * and the cluster for such a port speaks HTTP/2 to the application (cluster_builder.go {@code setUpstreamProtocol},
 * {@code setH2Options}). Each request is authorized as any other; an allowed one reaches the application over HTTP/2
 * ({@code H2Upstream}). Real peers: curl, Node's http2 server (port {@code http2}, plaintext inbound) and grpc-java's
 * server (port {@code grpc}, through an HBONE tunnel from a second mesh's capture). Addresses 127.0.189.20 and .21,
 * ports 55510-55516. Until 6 December an HTTP/1 client there met Netty's HTTP/2 codec (its SETTINGS, a GOAWAY, curl's
 * "Received HTTP/0.9 when not allowed").
 */
class L7Http1OnHttp2PortTest {
    private static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-h1-on-h2, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - to: [{operation: {paths: ["/api/*", "/test.Echo/Allowed", "/test.Echo/Missing"]}}]
            """;

    private static Process node;
    private static Server grpc;
    private static final List<String> grpcSeen = new CopyOnWriteArrayList<>();
    private static Mesh server;
    private static Mesh frontend;
    private static String nodeBase;
    private static String grpcBase;
    private static String downBase;
    private static String h1OnlyBase;
    private static java.net.ServerSocket h1Only;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.189.20");
        node = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), ip.getHostAddress(), "55510")
                .redirectErrorStream(true));
        assertThat(ChildProcess.firstLine(node).trim()).isEqualTo("55510");
        grpc = NettyServerBuilder.forAddress(new InetSocketAddress(ip, 55511)).addService(ServerServiceDefinition.builder("test.Echo")
                .addMethod(L7Http2Test.ALLOWED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    grpcSeen.add("Allowed");
                    obs.onNext(("echo " + new String(req, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                    obs.onCompleted();
                }))
                .addMethod(L7Http2Test.DENIED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    grpcSeen.add("Denied");
                    obs.onNext(req);
                    obs.onCompleted();
                })).build()).build().start();
        InetAddress frontendIp = InetAddress.getByName("127.0.189.21");
        Workload front = new Workload("prod", "frontend", "frontend", Map.of("app", "frontend"), List.of(frontendIp),
                Workload.Protocol.HBONE, null, "cluster.local");
        Workload backend = new Workload("prod", "backend", "backend", Map.of("app", "backend"), List.of(ip),
                Workload.Protocol.HBONE, "b", "cluster.local", Map.of(55510, AppProtocol.HTTP2, 55511, AppProtocol.GRPC, 55515, AppProtocol.HTTP2, 55516, AppProtocol.HTTP2));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(backend, front), Map.of("b", new InetSocketAddress(ip, 55512)));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        server = Mesh.builder().identityProvider(ca).identity(backend.identity()).workloads(registry)
                .policies(PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", POLICY)).build()).node("b")
                .inbound(new InetSocketAddress(ip, 55512)).threads(1).build();
        server.start().get(10, TimeUnit.SECONDS);
        frontend = Mesh.builder().identityProvider(ca).identity(front.identity()).workloads(registry).threads(1).build();
        InetSocketAddress plain = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 55513), new InetSocketAddress(ip, 55510)));
        nodeBase = "http://" + plain.getAddress().getHostAddress() + ":" + plain.getPort();
        InetSocketAddress tunnel = frontend.capture(Capture.forward(new InetSocketAddress(frontendIp, 55514), new InetSocketAddress(ip, 55511)));
        grpcBase = "http://" + tunnel.getAddress().getHostAddress() + ":" + tunnel.getPort();
        // Nothing listens on 55515; an HTTP/1-only server on 55516 (the port declared http2 all the same). It answers the
        // h2 preface's request line as an HTTP/1 server does (400, close) and, unlike the JDK's server it replaced, reads
        // what follows before it closes: closing with the SETTINGS frame unread made its close a TCP reset, which could
        // discard its answer before the proxy read it (a CI run got Envoy's 503 "connection termination" then, not the
        // 502 "protocol error" of an answer that is not HTTP/2).
        h1Only = new java.net.ServerSocket(55516, 10, ip);
        Thread h1OnlyLoop = new Thread(() -> {
            while (!h1Only.isClosed()) {
                try (java.net.Socket s = h1Only.accept()) {
                    s.getInputStream().readNBytes(24);
                    s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                    s.shutdownOutput();
                    s.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
                } catch (java.io.IOException closed) {
                    // the listener closed, or the proxy reset its connection
                }
            }
        }, "h1-only");
        h1OnlyLoop.setDaemon(true);
        h1OnlyLoop.start();
        InetSocketAddress down = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 55517), new InetSocketAddress(ip, 55515)));
        downBase = "http://" + down.getAddress().getHostAddress() + ":" + down.getPort();
        InetSocketAddress h1 = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 55518), new InetSocketAddress(ip, 55516)));
        h1OnlyBase = "http://" + h1.getAddress().getHostAddress() + ":" + h1.getPort();
    }

    @AfterAll
    static void stop() throws Exception {
        if (frontend != null) {
            frontend.close();
        }
        if (server != null) {
            server.close();
        }
        grpc.shutdownNow();
        if (h1Only != null) {
            h1Only.close();
        }
        node.destroy();
        node.waitFor(10, TimeUnit.SECONDS);
    }

    /**
     * curl's HTTP/1.1 requests on one connection to Node's h2c server: each decided (the denied one 403, never forwarded),
     * the allowed ones answered by the application over HTTP/2 (its {@code :authority} is curl's {@code Host}, no
     * {@code host} field; a POST's body arrives whole), each response chunked (Node sends no length), and curl's connection
     * kept across all of them. Fails before 6 December's change: curl reads Netty's HTTP/2 SETTINGS ("Received HTTP/0.9").
     */
    @Test
    void http11ClientsAreServedOnAnHttp2PortOverHttp2ToTheApplication() throws Exception {
        String host = nodeBase.substring("http://".length());
        String out = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "-i",
                "-w", "\n[%{http_version} %{http_code} connects=%{num_connects}]\n", nodeBase + "/api/a", nodeBase + "/admin", nodeBase + "/api/b");
        assertThat(out).contains("GET /api/a xfcc=undefined len=0 ", "authority=" + host + " host=undefined\n[1.1 200 connects=1]")
                .contains("RBAC: access denied\n[1.1 403 connects=0]")
                .contains("GET /api/b xfcc=undefined len=0 ", "authority=" + host + " host=undefined\n[1.1 200 connects=0]")
                .doesNotContainIgnoringCase("connection: close");
        assertThat(out.toLowerCase(java.util.Locale.ROOT).split("transfer-encoding: chunked", -1)).as(out).hasSize(3);
        String post = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "--data-binary", "hello h2",
                "-w", "\n[%{http_version} %{http_code}]", nodeBase + "/api/post");
        assertThat(post).startsWith("POST /api/post xfcc=undefined len=8 ").endsWith("[1.1 200]");
    }

    /**
     * A 3 MiB body, which curl sends after {@code Expect: 100-continue} (Node's http2 server answers the 100 itself),
     * streamed to the application within HTTP/2 flow control: it arrives whole (Node prints its length and SHA-256).
     */
    @Test
    void aLargeBodyStreamsToTheApplicationOverHttp2() throws Exception {
        byte[] data = new byte[3 << 20];
        new java.util.Random(332).nextBytes(data);
        Path file = Files.createTempFile("h1-to-h2", ".bin");
        try {
            Files.write(file, data);
            String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(data));
            String out = ChildProcess.run("curl", "-sS", "--max-time", "60", "--http1.1", "--data-binary", "@" + file,
                    "-w", "\n[%{http_code}]", nodeBase + "/api/upload");
            assertThat(out).startsWith("POST /api/upload xfcc=undefined len=" + data.length + " sha=" + sha + " ").endsWith("[200]");
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /**
     * gRPC over HTTP/1.1 (curl with a gRPC message as its body) through an HBONE tunnel to grpc-java on a port declared
     * {@code grpc}: the allowed call reaches grpc-java over HTTP/2 and its answer comes back (the message; its trailers
     * dropped, as Envoy's HTTP/1 codec drops them without {@code enable_trailers}); the denied call gets Envoy's gRPC
     * local reply ({@code grpc-status: 7}) and never reaches grpc-java.
     */
    @Test
    void grpcOverHttp11IsDecidedAndForwardedOverHttp2() throws Exception {
        Path body = Files.createTempFile("grpc-frame", ".bin");
        try {
            byte[] msg = "over h1".getBytes(StandardCharsets.UTF_8);
            ByteArrayOutputStream frame = new ByteArrayOutputStream();
            frame.write(0);
            frame.write(new byte[] {0, 0, 0, (byte) msg.length});
            frame.write(msg);
            Files.write(body, frame.toByteArray());
            String allowed = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "-i", "-H", "content-type: application/grpc",
                    "-H", "te: trailers", "--data-binary", "@" + body, "-w", "\n[%{http_version} %{http_code}]\n", grpcBase + "/test.Echo/Allowed");
            assertThat(allowed).startsWith("HTTP/1.1 200 ").containsIgnoringCase("content-type: application/grpc")
                    .contains("echo over h1").endsWith("[1.1 200]\n");
            String denied = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "-i", "-H", "content-type: application/grpc",
                    "-H", "te: trailers", "--data-binary", "@" + body, "-w", "\n[%{http_version} %{http_code}]\n", grpcBase + "/test.Echo/Denied");
            assertThat(denied).startsWith("HTTP/1.1 200 ").containsIgnoringCase("grpc-status: 7").endsWith("[1.1 200]\n");
            // On one kept-alive connection: a call, one over grpc-java's header-list limit (8 KiB, known from its SETTINGS by
            // then), which Netty's client encoder does not send, answered as H2Proxy answers it (431, for gRPC grpc-status 2;
            // until 7 December the 503 UC of a reset before headers, grpc-status 14), the same request without gRPC's
            // content-type (a plain 431), and a call after them, the connection going on.
            try (java.net.Socket c = new java.net.Socket(InetAddress.getByName("127.0.189.21"), 55514)) {
                c.setSoTimeout(20_000);
                // The big ones without a body: a request that has ended when it is answered keeps its connection (one
                // answered while its body is still to come closes it, as Envoy's connection manager does).
                String big = "x-big: " + "b".repeat(9000) + "\r\n";
                String[] extra = {"content-type: application/grpc\r\n", "content-type: application/grpc\r\n" + big, big,
                        "content-type: application/grpc\r\n"};
                for (int i = 0; i < extra.length; i++) {
                    boolean over = i == 1 || i == 2;
                    ByteArrayOutputStream request = new ByteArrayOutputStream();
                    request.write(("POST /test.Echo/Allowed HTTP/1.1\r\nHost: backend\r\n"
                            + extra[i] + "content-length: " + (over ? 0 : frame.size()) + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    if (!over) {
                        request.write(frame.toByteArray());
                    }
                    c.getOutputStream().write(request.toByteArray());
                    String head = L7Http1AppCloseTest.readHead(c.getInputStream());
                    if (i == 1) {
                        assertThat(head).startsWith("HTTP/1.1 200 ").contains("grpc-status: 2").contains("content-length: 0");
                        continue;
                    }
                    if (i == 2) {
                        assertThat(head).startsWith("HTTP/1.1 431 ").contains("content-length: 31");
                        assertThat(new String(c.getInputStream().readNBytes(31), StandardCharsets.US_ASCII))
                                .isEqualTo("Request Header Fields Too Large");
                        continue;
                    }
                    assertThat(head).as("call %d", i).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked");
                    assertThat(L7Http1AppCloseTest.readChunked(c.getInputStream())).as("call %d", i).endsWith("echo over h1");
                }
            }
            // grpc-java's trailers-only answer (one HEADERS frame with END_STREAM) to a method it does not have: its
            // grpc-status is a header there, and the head alone says content-length: 0, as Envoy's codec writes it.
            String missing = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "-i", "-H", "content-type: application/grpc",
                    "--data-binary", "@" + body, "-w", "[%{http_code}]", grpcBase + "/test.Echo/Missing");
            assertThat(missing).startsWith("HTTP/1.1 200 ").contains("grpc-status: 12").contains("content-length: 0")
                    .doesNotContainIgnoringCase("transfer-encoding").endsWith("\r\n\r\n[200]");
            assertThat(grpcSeen).containsExactly("Allowed", "Allowed", "Allowed");
        } finally {
            Files.deleteIfExists(body);
        }
    }

    /**
     * The application down: an allowed request gets Envoy's 503 {@code UF} (a denied one its 403, the application not
     * dialled), and the client's connection goes on; an HTTP/1-only application behind the {@code http2} port cannot read
     * the h2 preface: Envoy's 502 {@code protocol error} ({@code UPE}), as for h2c to one on an {@code http} port
     * ({@code L7HttpPortPriorKnowledgeTest}).
     */
    @Test
    void anApplicationThatCannotBeReachedOverHttp2GetsEnvoysLocalReplies() throws Exception {
        String down = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1",
                "-w", "\n[%{http_code} connects=%{num_connects}]\n", downBase + "/api/a", downBase + "/admin", downBase + "/api/b");
        assertThat(down).contains("reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused\n[503 connects=1]")
                .contains("RBAC: access denied\n[403 connects=0]").endsWith("Connection refused\n[503 connects=0]\n");
        String h1 = ChildProcess.run("curl", "-sS", "--max-time", "20", "--http1.1", "-w", "\n[%{http_code}]", h1OnlyBase + "/api/h1");
        assertThat(h1).isEqualTo("upstream connect error or disconnect/reset before headers. reset reason: protocol error\n[502]");
    }
}
