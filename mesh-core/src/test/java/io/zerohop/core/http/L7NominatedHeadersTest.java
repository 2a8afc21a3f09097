package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * A header the request's {@code Connection} header nominates is gone before RBAC decides, as Envoy's HTTP/1 codec removes
 * it before any filter (envoyproxy/envoy source/common/http/utility.cc {@code Utility::sanitizeConnectionHeader}, called
 * from codec_impl.cc {@code ServerConnectionImpl::onHeadersCompleteBase}; codec_impl_test.cc
 * {@code SketchyConnectionHeader}). Through the plaintext listener, with an ALLOW policy on a request header, to a real JDK
 * HTTP server that records what reaches it. Until 6 December {@code Connection: x-user} with {@code X-User: alice} was
 * allowed (Envoy answers 403: the header RBAC would match is removed) and a nominated {@code X-Forwarded-For} was forwarded
 * (Envoy answers 400).
 */
class L7NominatedHeadersTest {
    static final String POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: alice-only, namespace: prod}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - when: [{key: "request.headers[x-user]", values: ["alice"]}]
            """;

    static String get(InetSocketAddress via, String headers) throws Exception {
        return L7EnforcementTest.exchange(via, "GET /api HTTP/1.1\r\nHost: backend\r\n" + headers + "\r\n");
    }

    @Test
    void aNominatedHeaderIsNeitherDecidedOnNorForwarded() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.162.10");
        List<String> hits = new CopyOnWriteArrayList<>();
        HttpServer app = HttpServer.create(new InetSocketAddress(ip, 0), 50);
        app.createContext("/", ex -> {
            hits.add("x-user=" + ex.getRequestHeaders().get("X-User") + " x-forwarded-for=" + ex.getRequestHeaders().get("X-Forwarded-For"));
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        app.start();
        int port = app.getAddress().getPort();
        try (Mesh mesh = L7EarlyResponseTest.mesh(ip, port, POLICY)) {
            InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 0), new InetSocketAddress(ip, port)));

            assertThat(get(via, "X-User: alice\r\nConnection: close\r\n")).startsWith("HTTP/1.1 200 ");
            assertThat(get(via, "X-User: alice\r\nConnection: close, X-User\r\n")).as("RBAC never sees the nominated header")
                    .startsWith("HTTP/1.1 403 ");
            assertThat(get(via, "X-User: alice\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: close, x-forwarded-for\r\n"))
                    .as("nominating X-Forwarded-For is Envoy's http1.connection_header_rejected").startsWith("HTTP/1.1 400 ");
            assertThat(get(via, "X-User: alice\r\nConnection: close,a,b,c,d,e,f,g,h,i,j,k\r\n")).startsWith("HTTP/1.1 400 ");
            assertThat(hits).as("only the first request reached the application").containsExactly("x-user=[alice] x-forwarded-for=null");
        } finally {
            app.stop(0);
        }
    }
}
