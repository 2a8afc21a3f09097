package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A port declared {@code http} takes HTTP/2 with prior knowledge (h2c) as well as HTTP/1: istiod builds
 * every HTTP connection manager with the {@code AUTO} codec (pilot/pkg/networking/core/listener_builder.go,
 * {@code CodecType = HttpConnectionManager_AUTO}), and Envoy then picks HTTP/2 when the first bytes are
 * {@code PRI * HTTP/2} (source/common/http/conn_manager_utility.cc {@code determineNextProtocol}). A new-user
 * pass found curl {@code --http2-prior-knowledge}, h2load and gRPC clients answered 426 ("Upgrade required
 * for HTTP/1.0 or HTTP/0.9: HTTP/2.0") on such a port. Requests are decided one by one either way; the
 * application is reached with the protocol the client spoke (see the mesh-core README: Envoy would speak
 * HTTP/1.1 to it). Real peers: curl, Node's h2c server, grpc-java, the JDK's HTTP server.
 */
class L7HttpPortPriorKnowledgeTest {
    /** L7Http2Test's: frontend may GET /api/* and call test.Echo/Allowed; the rest is denied. */
    static final String POLICY = L7Http2Test.POLICY;

    static Mesh server;
    static Mesh frontendProxy;
    /** What the app prints for the frontend's requests ({@link Xfcc#backendFromFrontend}). */
    static String XFCC;
    static Process nodeApp;
    static Server grpcApp;
    static HttpServer h1App;
    static InetSocketAddress viaH2c;
    static InetSocketAddress viaGrpc;
    static InetSocketAddress viaH1;
    /** An HTTP/1 server that reads the start of the h2 preface, answers 505 and closes (as python's http.server). */
    static java.net.ServerSocket h1Rejecter;
    static InetSocketAddress viaH1Rejecter;

    @BeforeAll
    static void start() throws Exception {
        InetAddress backendIp = InetAddress.getByName("127.0.95.2");
        nodeApp = ChildProcess.start(new ProcessBuilder("node", L7Http2Test.resource("h2c-server.js"), backendIp.getHostAddress()).redirectErrorStream(true));
        int h2cPort = Integer.parseInt(ChildProcess.firstLine(nodeApp).trim());
        grpcApp = NettyServerBuilder.forAddress(new InetSocketAddress(backendIp, 0)).addService(ServerServiceDefinition.builder("test.Echo")
                .addMethod(L7Http2Test.ALLOWED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext(("echo " + new String(req, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                    obs.onCompleted();
                }))
                .addMethod(L7Http2Test.DENIED, ServerCalls.asyncUnaryCall((req, obs) -> {
                    obs.onNext(req);
                    obs.onCompleted();
                })).build()).build().start();
        int grpcPort = ((InetSocketAddress) grpcApp.getListenSockets().get(0)).getPort();
        h1App = HttpServer.create(new InetSocketAddress(backendIp, 0), 50);
        h1App.createContext("/", x -> {
            byte[] body = ("h1 " + x.getRequestMethod() + " " + x.getRequestURI()).getBytes(StandardCharsets.US_ASCII);
            x.sendResponseHeaders(200, body.length);
            try (OutputStream out = x.getResponseBody()) {
                out.write(body);
            }
        });
        h1App.start();
        int h1Port = h1App.getAddress().getPort();
        h1Rejecter = new java.net.ServerSocket(0, 50, backendIp);
        Thread rejecter = new Thread(() -> {
            while (!h1Rejecter.isClosed()) {
                try (java.net.Socket s = h1Rejecter.accept()) {
                    s.getInputStream().readNBytes(16);
                    // closing with the rest of the preface and the request unread makes the close a TCP reset
                    s.getOutputStream().write("HTTP/1.0 505 HTTP Version Not Supported\r\nConnection: close\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                } catch (java.io.IOException closed) {
                    // the listener closed, or the proxy reset first
                }
            }
        }, "h1-rejecter");
        rejecter.setDaemon(true);
        rejecter.start();
        // Every port declared http, as a Service port named "http" (or appProtocol: http) declares it.
        PolicyEngine policy = PolicyEngine.builder().policies(PolicyLoader.fromString("http.yaml", POLICY)).build();
        L7Pair pair = new L7Pair(backendIp, InetAddress.getByName("127.0.95.3"),
                Map.of(h2cPort, AppProtocol.HTTP, grpcPort, AppProtocol.HTTP, h1Port, AppProtocol.HTTP, h1Rejecter.getLocalPort(), AppProtocol.HTTP),
                Map.of(), policy, b -> b.threads(2));
        server = pair.server;
        frontendProxy = pair.client();
        XFCC = "xfcc=" + Xfcc.backendFromFrontend(pair.ca);
        InetSocketAddress any = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        viaH2c = frontendProxy.capture(Capture.forward(any, new InetSocketAddress(backendIp, h2cPort)));
        viaGrpc = frontendProxy.capture(Capture.forward(any, new InetSocketAddress(backendIp, grpcPort)));
        viaH1 = frontendProxy.capture(Capture.forward(any, new InetSocketAddress(backendIp, h1Port)));
        viaH1Rejecter = frontendProxy.capture(Capture.forward(any, new InetSocketAddress(backendIp, h1Rejecter.getLocalPort())));
    }

    @AfterAll
    static void stop() throws Exception {
        frontendProxy.close();
        server.close();
        grpcApp.shutdownNow();
        h1App.stop(0);
        h1Rejecter.close();
        nodeApp.destroy();
        nodeApp.waitFor(10, TimeUnit.SECONDS);
    }

    @Test
    void curlWithPriorKnowledgeIsServedAndDecidedPerRequest() throws Exception {
        String base = "http://127.0.0.1:" + viaH2c.getPort();
        assertThat(L7Http2Test.run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_version} %{http_code}]",
                base + "/api/a")).startsWith("GET /api/a " + XFCC + " len=0").endsWith("[2 200]");
        assertThat(L7Http2Test.run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_version} %{http_code}]",
                base + "/admin")).isEqualTo("RBAC: access denied [2 403]");
    }

    @Test
    void grpcOnAnHttpPortIsDecidedPerCall() throws Exception {
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", viaGrpc.getPort()).usePlaintext().build();
        try {
            byte[] r = ClientCalls.blockingUnaryCall(ch, L7Http2Test.ALLOWED, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS),
                    "hi".getBytes(StandardCharsets.UTF_8));
            assertThat(new String(r, StandardCharsets.UTF_8)).isEqualTo("echo hi");
            assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(ch, L7Http2Test.DENIED,
                    CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), "no".getBytes(StandardCharsets.UTF_8)))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
        } finally {
            ch.shutdownNow();
        }
    }

    /** HTTP/1 on the same kind of port is unchanged: 1.1 served and decided, 1.0 refused with 426 (Istio's default). */
    @Test
    void http1IsUnchanged() throws Exception {
        String base = "http://127.0.0.1:" + viaH1.getPort();
        assertThat(L7Http2Test.run("curl", "-sS", "--max-time", "20", "--http1.1", "-w", " [%{http_version} %{http_code}]",
                base + "/api/b")).isEqualTo("h1 GET /api/b [1.1 200]");
        assertThat(L7Http2Test.run("curl", "-sS", "--max-time", "20", "--http1.1", "-w", " [%{http_version} %{http_code}]",
                base + "/admin")).isEqualTo("RBAC: access denied [1.1 403]");
        assertThat(L7Http2Test.run("curl", "-sS", "--max-time", "20", "--http1.0", "-o", "/dev/null", "-w", "%{http_code}",
                base + "/api/c")).isEqualTo("426");
    }

    /**
     * What an HTTP/1-only application behind an {@code http} port makes of h2c: zerohop decides the request and
     * forwards it as h2c (no HTTP/2-to-HTTP/1.1 translation), the application cannot read the h2 preface, and the
     * client gets no answer from it: the application's connection fails (an h2 protocol error, a reset), so the
     * tunnel and the client's connection are reset (seen: curl's {@code (56)} with no status), or the request is
     * answered 502 (the protocol error) or 503 when that connection failed before the request's stream opened. Behind Istio's Envoy the inbound
     * cluster of an {@code http} port speaks HTTP/1.1 (istio/istio pilot/pkg/networking/core/cluster_builder.go
     * {@code setUpstreamProtocol}: HTTP/2 options only for {@code http2}/{@code grpc} ports, the downstream's protocol
     * only for undeclared ones), so this request would be translated and answered 200. A known difference (README).
     */
    @Test
    void h2cToAnHttp1OnlyApplicationGetsNoAnswerFromIt() throws Exception {
        try (io.zerohop.testing.CapturedStderr err = new io.zerohop.testing.CapturedStderr()) {
            String out = L7Http2Test.run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_code}]",
                    "http://127.0.0.1:" + viaH1.getPort() + "/api/h1only");
            assertThat(out).doesNotContain("h1 GET").matches("(?s).*\\[(000|502|503)\\]$");
            assertThat(err.awaitLine("access - inbound-http ", " path=\"/api/h1only\" ")).contains(" protocol=HTTP/2 ")
                    .contains(" decision=allow ").containsPattern(" status=(-|502|503) ");
        }
    }

    /**
     * An application that answers the h2 preface with an HTTP/1 error and closes at once (python's http.server: 505)
     * fails its connection before any response started, whichever of its bytes, its reset or the stream's end zerohop
     * sees first: every request gets Envoy's local reply for an upstream reset (502 for the protocol error, 503 for a
     * connection termination), never a bare RST_STREAM. newuser23 saw curl's {@code (92) ... CANCEL} in 3 of 8 tries:
     * when the stream learnt of the end before a failure was recorded (a close after the peer's FIN), it was reset.
     */
    @Test
    void h2cToAnApplicationThatAnswersHttp1AndClosesAlwaysGetsALocalReply() throws Exception {
        for (int i = 0; i < 12; i++) {
            String out = L7Http2Test.run("curl", "-sS", "--max-time", "20", "--http2-prior-knowledge", "-w", " [%{http_code}]",
                    "http://127.0.0.1:" + viaH1Rejecter.getPort() + "/api/h1only");
            assertThat(out).as("try %d", i).matches("(?s).*upstream connect error or disconnect/reset before headers\\..*\\[(502|503)\\]$");
        }
    }
}
