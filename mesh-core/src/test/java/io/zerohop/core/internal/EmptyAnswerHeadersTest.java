package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.HttpEndpoint;
import io.zerohop.hbone.internal.Transports;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The endpoints' 404 (a path not served) and 405 (a method {@code /healthz/ready} does not take) as ztunnel answers them:
 * {@code hyper_util::empty_response(NOT_FOUND)} / {@code (METHOD_NOT_ALLOWED)} (istio/ztunnel src/hyper_util.rs, used by
 * src/admin.rs, src/metrics/server.rs and src/readiness/server.rs), a status with an empty body and no
 * {@code Content-Type}; hyper writes {@code content-length: 0} for the empty body. Until 6 December zerohop's carried
 * {@code content-type: text/plain; charset=utf-8}. The readiness answers are ztunnel's {@code plaintext_response}s,
 * {@code text/plain} without a charset (until 6 December with one). A raw HTTP/1.1 client on a loopback socket reads
 * the head as sent.
 */
@Timeout(60)
class EmptyAnswerHeadersTest {
    static final InetSocketAddress BIND = new InetSocketAddress("127.0.149.20", 0);

    @Test
    void notFoundAndMethodNotAllowedCarryNoContentType() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "empty-answer-test");
        ExecutorService handlers = Executors.newSingleThreadExecutor();
        try {
            Readiness readiness = new Readiness();
            Map<String, HttpEndpoint.Handler> routes = Map.of("/healthz/ready", readiness::answer,
                    "/metrics", r -> HttpEndpoint.Response.text(200, "# EOF\n"));
            Channel plain = HttpEndpointServer.bind(group, BIND, routes, handlers);
            Channel negotiating = HttpEndpointServer.bind(group, BIND, routes, handlers, HttpEndpoint.Compression.NEGOTIATED);

            for (Channel server : new Channel[] {plain, negotiating}) {
                String notFound = exchange(server, "GET", "/nowhere");
                assertThat(notFound).startsWith("HTTP/1.1 404 Not Found\r\n").containsIgnoringCase("\r\ncontent-length: 0\r\n")
                        .doesNotContainIgnoringCase("content-type").endsWith("\r\n\r\n");
            }
            String notAllowed = exchange(plain, "POST", "/healthz/ready");
            assertThat(notAllowed).startsWith("HTTP/1.1 405 Method Not Allowed\r\n")
                    .containsIgnoringCase("\r\ncontent-length: 0\r\n").doesNotContainIgnoringCase("content-type").endsWith("\r\n\r\n");
            // A text answer has ztunnel's plaintext_response type, text/plain without a charset (src/hyper_util.rs).
            assertThat(exchange(plain, "GET", "/healthz/ready")).startsWith("HTTP/1.1 200 OK\r\n")
                    .containsIgnoringCase("\r\ncontent-type: text/plain\r\n").endsWith("\r\n\r\nready\n");
            readiness.register("policies");
            assertThat(exchange(plain, "GET", "/healthz/ready")).startsWith("HTTP/1.1 500 Internal Server Error\r\n")
                    .containsIgnoringCase("\r\ncontent-type: text/plain\r\n").endsWith("\r\n\r\nnot ready, pending: policies\n");
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            handlers.shutdownNow();
        }
    }

    /** One request on a fresh connection ({@code connection: close}), read to its end. */
    private static String exchange(Channel server, String method, String path) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(server.localAddress(), 10_000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write((method + " " + path + " HTTP/1.1\r\nhost: probe\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }
}
