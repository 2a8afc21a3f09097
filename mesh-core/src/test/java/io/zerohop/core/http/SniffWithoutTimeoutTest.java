package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.core.AppProtocol;
import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The sniff of an {@code auto} port has no timeout, as istiod configures a sidecar's inbound listener by default:
 * MeshConfig {@code protocolDetectionTimeout} is 0s (istio/istio pkg/config/mesh/mesh.go; istio/istio#28119, Istio 1.8,
 * "Removed the protocol detection timeout by default"), set as the listener's {@code listener_filters_timeout}
 * (listener_inbound.go), which Envoy reads as no timeout. A client that speaks only after a while is sniffed when it
 * does; until 7 December the sniff gave up after 5 s and took the connection as not HTTP, so under an ALLOW by path
 * the late request met the L4 decision and was reset. The same on a port declared {@code http2}: the codec is chosen on
 * the first bytes however late (Envoy's {@code ConnectionManagerImpl::onData}), where an h2c client silent 5 s was
 * read as HTTP/1. Real TLS, HBONE, the JDK's HTTP server as the application, on 127.0.211.x.
 */
@Timeout(120)
class SniffWithoutTimeoutTest {
    /** Longer than the former 5 s timeout: the client's silence, the input of the test, not a wait for zerohop. */
    private static final long SILENCE_MILLIS = 6_000;

    @Test
    void aClientSilentLongerThanTheFormerTimeoutIsStillSniffedAsHttp() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.211.2");
        List<String> seen = new CopyOnWriteArrayList<>();
        HttpServer app = L7Http10Test.app(ip, seen, true);
        try {
            int port = app.getAddress().getPort();
            // ALLOW by path: the port is sniffed, and bytes taken as not HTTP match no rule (reset at L4).
            PolicyEngine engine = PolicyEngine.builder()
                    .policies(PolicyLoader.fromString("p.yaml", L7SniffDecisionTest.policies(port, ""))).build();
            try (L7SniffDecisionTest.Meshes m = new L7SniffDecisionTest.Meshes(ip, port, AppProtocol.AUTO, engine, server -> { });
                 Socket s = m.client.socketFactory(m.frontend.identity()).createSocket(ip, port)) {
                Thread.sleep(SILENCE_MILLIS);
                assertThat(L7SniffDecisionTest.request(s, "/api/late")).startsWith("HTTP/1.1 200").endsWith("hello /api/late");
            }
            assertThat(seen).containsExactly("HTTP/1.1 /api/late");
        } finally {
            app.stop(0);
        }
    }

    @Test
    void anH2cClientSilentLongerThanTheFormerTimeoutIsReadAsHttp2OnAnHttp2Port() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.211.3");
        HttpServer app = L7Http10Test.app(ip, new CopyOnWriteArrayList<>(), true);
        try {
            int port = app.getAddress().getPort();
            PolicyEngine engine = PolicyEngine.builder()
                    .policies(PolicyLoader.fromString("p.yaml", L7SniffDecisionTest.policies(port, ""))).build();
            try (L7SniffDecisionTest.Meshes m = new L7SniffDecisionTest.Meshes(ip, port, AppProtocol.HTTP2, engine, server -> { });
                 Socket s = m.client.socketFactory(m.frontend.identity()).createSocket(ip, port)) {
                s.setSoTimeout(20_000);
                Thread.sleep(SILENCE_MILLIS);
                // The preface and an empty SETTINGS frame: an HTTP/2 server answers with its SETTINGS frame (type 4);
                // an HTTP/1 codec answers 400 to "PRI * HTTP/2.0".
                s.getOutputStream().write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0});
                s.getOutputStream().flush();
                InputStream in = s.getInputStream();
                byte[] frameHead = in.readNBytes(9);
                assertThat(new String(frameHead, StandardCharsets.ISO_8859_1)).doesNotStartWith("HTTP/1.1");
                assertThat(frameHead).hasSize(9);
                assertThat(frameHead[3]).as("the first frame's type: SETTINGS").isEqualTo((byte) 4);
            }
        } finally {
            app.stop(0);
        }
    }
}
