package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.AppProtocol;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A gRPC request over HTTP/1.1 that policy denies ends its connection exactly when any HTTP/1 request denied by Envoy's
 * RBAC filter does: when the denial comes before the request's end. RBAC answers from {@code decodeHeaders}; Envoy's HTTP/1
 * codec calls it before the body for a request with one (and with end_stream for one without, its
 * {@code deferred_end_stream_headers_}), and the connection manager's {@code ActiveStream::encodeHeaders} then sees
 * {@code !remoteDecodeComplete()}, sets the connection {@code DrainState::Closing}, says {@code connection: close} and
 * closes after the reply (envoyproxy/envoy source/common/http/conn_manager_impl.cc: "we don't want to wait around for the
 * request to finish", {@code downstream_rq_response_before_rq_complete}); gRPC changes only the reply's shape
 * ({@code Utility::prepareLocalReply}: 200, {@code grpc-status: 7}). So a call with a message is answered
 * {@code connection: close} and its connection ends, and a call without one ({@code content-length: 0}) keeps its
 * connection: the next request on it is answered. Raw sockets, plaintext inbound, 127.0.222.20, ports 42020-42021.
 */
class L7GrpcOverHttp1DenialTest {
    private static final String POLICY = L7Meshes.ALLOW_OK;
    private static Mesh server;
    private static InetSocketAddress via;

    @BeforeAll
    static void start() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.222.20");
        server = L7Meshes.backend(ip, Map.of(42020, AppProtocol.HTTP), POLICY);
        via = server.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 42021), new InetSocketAddress(ip, 42020)));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private static final String CALL = "POST /test.Echo/Denied HTTP/1.1\r\nHost: backend.example\r\ncontent-type: application/grpc\r\n"
            + "te: trailers\r\n";

    @Test
    void aDeniedCallWithAMessageIsAnsweredConnectionCloseAndItsConnectionEnds() throws Exception {
        try (Socket c = new Socket(via.getAddress(), via.getPort())) {
            c.setSoTimeout(30_000);
            OutputStream out = c.getOutputStream();
            InputStream in = c.getInputStream();
            // One write: the message is there with the head, and still the denial comes before the request's end for Envoy.
            out.write((CALL + "content-length: 12\r\n\r\n\0\0\0\0\7message").getBytes(StandardCharsets.ISO_8859_1));
            String head = L7Http1AppCloseTest.readHead(in);
            assertThat(head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("grpc-status: 7\r\n")
                    .containsIgnoringCase("content-length: 0\r\n").containsIgnoringCase("connection: close\r\n");
            assertThat(in.read()).as("the connection ends after the reply").isEqualTo(-1);
        }
    }

    @Test
    void aDeniedCallWithoutABodyKeepsItsConnection() throws Exception {
        try (Socket c = new Socket(via.getAddress(), via.getPort())) {
            c.setSoTimeout(30_000);
            OutputStream out = c.getOutputStream();
            InputStream in = c.getInputStream();
            out.write((CALL + "content-length: 0\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            String head = L7Http1AppCloseTest.readHead(in);
            assertThat(head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("grpc-status: 7\r\n")
                    .doesNotContainIgnoringCase("connection: close");
            // The same connection takes the next request.
            out.write("GET /admin HTTP/1.1\r\nHost: backend.example\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            assertThat(L7Http1AppCloseTest.readHead(in)).startsWith("HTTP/1.1 403 ").doesNotContainIgnoringCase("connection: close");
        }
    }
}
