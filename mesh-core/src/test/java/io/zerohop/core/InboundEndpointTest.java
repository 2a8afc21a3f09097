package io.zerohop.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.identity.InMemoryCa;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import io.zerohop.testing.CapturedStderr;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * newuser23: an application embedding a Mesh with a PeerAuthentication STRICT bound the workload address itself, and
 * plaintext reached it there with no word from zerohop (ztunnel refuses it: the CNI redirects every inbound connection
 * to it, istio/ztunnel src/proxy/inbound_passthrough.rs). With {@code inboundEndpoint} the application binds loopback
 * only: tunnels reach it through the mesh (L4 and L7), plaintext to the workload address finds nothing. Without it,
 * {@code start()} says what is open, once per policy set that causes it.
 */
class InboundEndpointTest {
    static final String STRICT = """
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default, namespace: shop}
            spec: {mtls: {mode: STRICT}}
            """;
    static final String PERMISSIVE = STRICT.replace("STRICT", "PERMISSIVE");

    @Test
    void aStrictWorkloadOnLoopbackGetsTunnelsAtL4AndL7AndNoPlaintext() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.126.2");
        HttpServer httpApp = app(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        HttpServer tcpApp = app(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        int httpPort = httpApp.getAddress().getPort();
        int tcpPort = tcpApp.getAddress().getPort();
        String authz = """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: checkout, namespace: shop}
                spec:
                  selector: {matchLabels: {app: checkout}}
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
                    to: [{operation: {ports: ["%d"], methods: ["POST"], paths: ["/charge"]}}]
                  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend"]}}]
                    to: [{operation: {ports: ["%d"]}}]
                """.formatted(httpPort, tcpPort);
        Workload checkout = new Workload("shop", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, "n1", "cluster.local", Map.of(httpPort, AppProtocol.HTTP, tcpPort, AppProtocol.TCP));
        Workload frontend = new Workload("shop", "frontend", "frontend", Map.of("app", "frontend"),
                List.of(InetAddress.getByName("127.0.126.3")), Workload.Protocol.HBONE, null, "cluster.local");
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(checkout, frontend), Map.of());
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", STRICT + "---\n" + authz)).build();
        try (CapturedStderr err = new CapturedStderr();
                Mesh server = Mesh.builder().identityProvider(ca).identity(checkout.identity()).workloads(registry).policies(policy)
                        .node("n1").inbound(new InetSocketAddress(ip, 0)).threads(1)
                        .inboundEndpoint(new InetSocketAddress(ip, httpPort), httpApp.getAddress())
                        .inboundEndpoint(new InetSocketAddress(ip, tcpPort), tcpApp.getAddress()).build();
                Mesh client = Mesh.builder().identityProvider(ca).identity(frontend.identity()).workloads(registry).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(checkout, frontend), Map.of("n1", server.inboundAddress()));
            InetSocketAddress any = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            InetSocketAddress viaHttp = client.capture(Capture.forward(any, new InetSocketAddress(ip, httpPort)));
            InetSocketAddress viaTcp = client.capture(Capture.forward(any, new InetSocketAddress(ip, tcpPort)));

            // L7: parsed, decided per request, XFCC set by the mesh, then dialled at the endpoint.
            assertThat(exchange(viaHttp, "POST /charge")).startsWith("HTTP/1.1 200")
                    .contains("app saw POST /charge xfcc=By=spiffe://cluster.local/ns/shop/sa/checkout;Hash=");
            assertThat(exchange(viaHttp, "GET /admin")).startsWith("HTTP/1.1 403").contains("RBAC: access denied")
                    .doesNotContain("app saw");
            // L4: relayed as bytes to the endpoint.
            assertThat(exchange(viaTcp, "GET /anything")).startsWith("HTTP/1.1 200").contains("app saw GET /anything xfcc=null");

            for (int port : new int[] {httpPort, tcpPort}) {
                assertThatThrownBy(() -> {
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress(ip, port), 5_000);
                    }
                }).as("plaintext to the workload address %s:%d", ip, port).isInstanceOf(ConnectException.class);
            }
            assertThat(err.count("PeerAuthentication STRICT for shop/checkout")).as("nothing open: no warning").isZero();
        } finally {
            httpApp.stop(0);
            tcpApp.stop(0);
        }
    }

    @Test
    void aStrictWorkloadDeliveredToItsOwnAddressIsOneWarningPerPolicySetThatCausesIt() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.126.4");
        // As newuser23's registry: no ports declared, so the workload-level mode counts for every port.
        Workload checkout = new Workload("shop", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, "n1", "cluster.local");
        Workload declared = new Workload("shop", "cart", "cart", Map.of("app", "cart"), List.of(InetAddress.getByName("127.0.126.5")),
                Workload.Protocol.HBONE, "n1", "cluster.local", Map.of(8080, AppProtocol.HTTP, 9090, AppProtocol.TCP));
        Workload elsewhere = new Workload("shop", "other", "checkout", Map.of("app", "checkout"),
                List.of(InetAddress.getByName("127.0.126.6")), Workload.Protocol.HBONE, "n2", "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", STRICT)).build();
        String warning = "PeerAuthentication STRICT for shop/checkout, but its inbound traffic is delivered to the workload"
                + " address itself (127.0.126.4 (every port)): a plaintext client connecting there reaches the application"
                + " directly, without mTLS, and zerohop cannot refuse it";
        try (CapturedStderr err = new CapturedStderr();
                Mesh server = Mesh.builder().identityProvider(ca).identity(checkout.identity()).policies(policy).node("n1")
                        .workloads(WorkloadRegistry.of(List.of(checkout, declared, elsewhere), Map.of()))
                        .inboundEndpoint(new InetSocketAddress("127.0.126.5", 8080), new InetSocketAddress("127.0.0.1", 8080))
                        .inbound(new InetSocketAddress(ip, 0)).threads(1).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            String line = err.awaitLine(warning);
            assertThat(line).contains("Mesh.Builder.inboundEndpoint(127.0.126.4:PORT, 127.0.0.1:PORT)", "inbound_passthrough.rs");
            // Declared ports: the one with a loopback endpoint is closed, the other is named, and so is it in the advice
            // (newuser24: the advice named 8080, which already had its endpoint).
            err.awaitLine("PeerAuthentication STRICT for shop/cart", "(127.0.126.5:9090)", "inboundEndpoint(127.0.126.5:9090, 127.0.0.1:9090)");
            assertThat(err.count("shop/other")).as("another node's workload").isZero();
            policy.replace(PolicyLoader.fromString("p.yaml", STRICT));
            assertThat(err.count(warning)).as("an unchanged cause is not repeated").isEqualTo(1);
            policy.replace(PolicyLoader.fromString("p.yaml", PERMISSIVE));
            policy.replace(PolicyLoader.fromString("p.yaml", STRICT));
            assertThat(err.count(warning)).as("gone and back: said again").isEqualTo(2);
        }
    }

    /** Under PERMISSIVE, plaintext inbound (the node proxy's :15006) is delivered to the endpoint as well. */
    @Test
    void plaintextInboundIsDeliveredToTheEndpoint() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.126.8");
        HttpServer app = app(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        int port = app.getAddress().getPort();
        Workload checkout = new Workload("shop", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, "n1", "cluster.local", Map.of(port, AppProtocol.TCP));
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", PERMISSIVE)).build();
        try (Mesh server = Mesh.builder().identityProvider(ca).identity(checkout.identity()).policies(policy).node("n1")
                .workloads(WorkloadRegistry.of(List.of(checkout), Map.of())).threads(1)
                .inboundEndpoint(new InetSocketAddress(ip, port), app.getAddress()).build()) {
            server.start().get(10, TimeUnit.SECONDS);
            InetSocketAddress plain = server.plaintextInbound(Capture.forward(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), new InetSocketAddress(ip, port)));
            assertThat(exchange(plain, "GET /plain")).startsWith("HTTP/1.1 200").contains("app saw GET /plain");
        } finally {
            app.stop(0);
        }
    }

    @Test
    void theBuilderRefusesEndpointsThatCannotWork() {
        InetSocketAddress target = new InetSocketAddress("127.0.126.7", 8080);
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("endpoint");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, target)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("target and endpoint are both 127.0.126.7:8080");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, new InetSocketAddress("0.0.0.0", 8080)))
                .hasMessageContaining("endpoint 0.0.0.0:8080 is a wildcard address");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(new InetSocketAddress("127.0.126.7", 0), target))
                .hasMessageContaining("target 127.0.126.7:0 has port 0");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(InetSocketAddress.createUnresolved("app", 8080), target))
                .hasMessageContaining("is unresolved");
        InetSocketAddress loop = new InetSocketAddress("127.0.0.1", 8080);
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, loop).inboundEndpoint(target, new InetSocketAddress("127.0.0.1", 8081)))
                .hasMessageContaining("127.0.126.7:8080 is already delivered to 127.0.0.1:8080, not 127.0.0.1:8081");
        InetSocketAddress hbone = new InetSocketAddress("127.0.126.7", 15008);
        assertThatThrownBy(() -> Mesh.builder().inbound(hbone).inboundEndpoint(target, hbone).build())
                .hasMessageContaining("is the HBONE listener");
        // newuser24: a wildcard listener is on every address, so an endpoint on its port is the listener too.
        assertThatThrownBy(() -> Mesh.builder().inbound(new InetSocketAddress("0.0.0.0", 15008)).inboundEndpoint(target, hbone).build())
                .hasMessageContaining("endpoint 127.0.126.7:15008 is the HBONE listener (inbound 0.0.0.0:15008)");
    }

    /**
     * An endpoint that is one of the mesh's own listeners (here a capture forwarding back to the workload address) is
     * a self call, refused 503 at the first tunnel, as ztunnel refuses a destination on one of its own ports
     * ({@code inbound.rs} {@code illegal_ports}). newuser24: it was accepted, and each tunnel opened another through
     * the capture (220 tunnels and 111 captured connections after 4 s, file descriptors running out).
     */
    @Test
    void anEndpointThatIsTheMeshsOwnCaptureIsASelfCallNotALoop() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.126.20");
        InetSocketAddress target = new InetSocketAddress(ip, 45480);
        InetSocketAddress loopBack = new InetSocketAddress(InetAddress.getByName("127.0.126.21"), 45482);
        Workload checkout = new Workload("shop", "checkout", "checkout", Map.of("app", "checkout"), List.of(ip),
                Workload.Protocol.HBONE, "n1", "cluster.local", Map.of(45480, AppProtocol.TCP));
        WorkloadRegistry registry = WorkloadRegistry.of(List.of(checkout), Map.of());
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (CapturedStderr err = new CapturedStderr();
                Mesh node = Mesh.builder().identityProvider(ca).identity(checkout.identity()).workloads(registry)
                        .node("n1").inbound(new InetSocketAddress(ip, 0)).threads(1).inboundEndpoint(target, loopBack).build()) {
            node.start().get(10, TimeUnit.SECONDS);
            registry.replace(List.of(checkout), Map.of("n1", node.inboundAddress()));
            InetSocketAddress capture = node.capture(Capture.forward(loopBack, target));
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(ip, 0));
                s.connect(capture, 5_000);
                s.setSoTimeout(10_000);
                s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
                assertThat(s.getInputStream().read()).as("the connection ends, nothing answers").isEqualTo(-1);
            } catch (java.net.SocketException reset) {
                // a reset is the refusal too
            }
            assertThat(err.awaitLine("self call: inboundEndpoint 127.0.126.21:45482 for 127.0.126.20:45480"))
                    .contains("is one of this proxy's own listeners");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!node.configDump(Map.of()).replace(" ", "").contains("\"openTunnels\":0") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(node.configDump(Map.of()).replace(" ", "")).as("no tunnel left open, none opened by a loop")
                    .contains("\"openTunnels\":0");
            assertThat(err.count("self call: inboundEndpoint")).as("one refusal: the first tunnel").isEqualTo(1);
        }
    }

    /** The application: answers with what it received (method, target, XFCC). */
    static HttpServer app(InetSocketAddress at) throws IOException {
        HttpServer s = HttpServer.create(at, 50);
        s.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            byte[] body = ("app saw " + ex.getRequestMethod() + " " + ex.getRequestURI() + " xfcc="
                    + ex.getRequestHeaders().getFirst("x-forwarded-client-cert") + "\n").getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        s.start();
        return s;
    }

    static String exchange(InetSocketAddress via, String requestLine) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(via, 5_000);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write((requestLine + " HTTP/1.1\r\nHost: checkout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    /**
     * Addresses a TCP connection cannot have as its one peer (a multicast group, IPv4's broadcast) are refused on either
     * side, naming the side and the value; a loopback endpoint with inboundTransparent (the mesh in the host's network
     * namespace, for other pods) is refused at build(), as it would be the host's loopback, not the workload's.
     */
    @Test
    void theBuilderRefusesMulticastBroadcastAndALoopbackEndpointOfATransparentListener() {
        InetSocketAddress target = new InetSocketAddress("127.0.126.7", 8080);
        InetSocketAddress loop = new InetSocketAddress("127.0.0.1", 8080);
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, new InetSocketAddress("224.0.0.1", 8080)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("endpoint 224.0.0.1:8080 is a multicast address");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(new InetSocketAddress("ff02::1", 8080), loop))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("target [ff02::1]:8080 is a multicast address");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(new InetSocketAddress("255.255.255.255", 8080), loop))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("target 255.255.255.255:8080 is the broadcast address");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, new InetSocketAddress("255.255.255.255", 8080)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("endpoint 255.255.255.255:8080 is the broadcast address");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(new InetSocketAddress("::", 8080), loop))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("target [::]:8080 is a wildcard address");
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, new InetSocketAddress("127.0.0.1", 0)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("endpoint 127.0.0.1:0 has port 0");
        // Either order of the two calls: the check is build()'s.
        assertThatThrownBy(() -> Mesh.builder().inboundEndpoint(target, loop).inboundTransparent(true).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("endpoint 127.0.0.1:8080 (for target 127.0.126.7:8080) is a loopback address, and inboundTransparent(true)");
    }

    /** A target no registry workload has is one WARN at build() naming it (the registry may gain it later: not an error). */
    @Test
    void aTargetNoWorkloadHasIsOneWarningAtBuild() throws Exception {
        Workload checkout = new Workload("shop", "checkout", "checkout", Map.of("app", "checkout"),
                List.of(InetAddress.getByName("127.0.126.2")), Workload.Protocol.HBONE, "n1", "cluster.local");
        InMemoryCa ca = InMemoryCa.create("cluster.local");
        try (CapturedStderr err = new CapturedStderr();
                Mesh mesh = Mesh.builder().identityProvider(ca).identity(checkout.identity()).node("n1").threads(1)
                        .workloads(WorkloadRegistry.of(List.of(checkout), Map.of()))
                        .inboundEndpoint(new InetSocketAddress("127.0.126.2", 8080), new InetSocketAddress("127.0.0.1", 8080))
                        .inboundEndpoint(new InetSocketAddress("127.0.126.20", 8080), new InetSocketAddress("127.0.0.1", 8081)).build()) {
            assertThat(err.awaitLine("inboundEndpoint: target ")).contains("WARN")
                    .contains("target 127.0.126.20:8080 (delivered to 127.0.0.1:8081) is no address of a workload in the registry");
            assertThat(err.count("inboundEndpoint: target ")).isEqualTo(1);
        }
    }
}
