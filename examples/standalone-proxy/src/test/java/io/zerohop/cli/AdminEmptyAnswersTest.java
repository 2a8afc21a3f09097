package io.zerohop.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A running proxy's admin and readiness listeners answer a method {@code /quitquitquit} or {@code /healthz/ready} does not
 * take, and a path they do not serve, as ztunnel does: {@code hyper_util::empty_response(METHOD_NOT_ALLOWED)} and
 * {@code empty_response(NOT_FOUND)} (istio/ztunnel src/admin.rs {@code handle_server_shutdown} and its router,
 * src/readiness/server.rs, src/hyper_util.rs): an empty body, no {@code Content-Type}. Until 6 December they carried
 * {@code text/plain; charset=utf-8}. {@code /logging}'s answers are ztunnel's {@code plaintext_response}s, {@code text/plain}
 * without a charset (until 6 December with one). The CLI in-process, as {@link CliTest}; a raw HTTP/1.1 client reads the
 * heads.
 */
@Timeout(180)
class AdminEmptyAnswersTest {
    @RegisterExtension
    final StdStreams std = new StdStreams();

    @Test
    @DisplayName("GET /quitquitquit is 405 and an unknown path 404, both without a content type; POST /quitquitquit still stops")
    void emptyAnswersCarryNoContentType() throws Exception {
        CompletableFuture<Integer> proxy = CompletableFuture.supplyAsync(() -> Zerohop.run("proxy", "--in-memory-ca",
                "--inbound", "off", "--metrics", "off", "--readiness", "127.0.149.30:49851", "--admin", "127.0.149.30:49850"));
        io.zerohop.testing.netty.Await.until("the ready line", Hang.BOUND, () -> std.out.toString().contains("zerohop proxy ready") || proxy.isDone());
        assertThat(proxy).as(std.out.toString() + std.err).isNotDone();
        try {
            InetSocketAddress admin = new InetSocketAddress("127.0.149.30", 49850);
            InetSocketAddress readiness = new InetSocketAddress("127.0.149.30", 49851);
            assertThat(exchange(admin, "GET", "/quitquitquit")).startsWith("HTTP/1.1 405 Method Not Allowed\r\n")
                    .containsIgnoringCase("\r\ncontent-length: 0\r\n").doesNotContainIgnoringCase("content-type").endsWith("\r\n\r\n");
            assertThat(exchange(admin, "GET", "/nowhere")).startsWith("HTTP/1.1 404 Not Found\r\n")
                    .containsIgnoringCase("\r\ncontent-length: 0\r\n").doesNotContainIgnoringCase("content-type").endsWith("\r\n\r\n");
            assertThat(exchange(readiness, "POST", "/healthz/ready")).startsWith("HTTP/1.1 405 Method Not Allowed\r\n")
                    .doesNotContainIgnoringCase("content-type").endsWith("\r\n\r\n");
            // ztunnel's plaintext_response (text/plain, no charset) for /logging's answers, its 405 included (src/admin.rs).
            assertThat(exchange(admin, "GET", "/logging")).startsWith("HTTP/1.1 405 Method Not Allowed\r\n")
                    .containsIgnoringCase("\r\ncontent-type: text/plain\r\n").contains("\r\n\r\nInvalid HTTP method\n");
            assertThat(exchange(admin, "POST", "/logging")).startsWith("HTTP/1.1 200 OK\r\n")
                    .containsIgnoringCase("\r\ncontent-type: text/plain\r\n").contains("\r\n\r\ncurrent log level is ");
            assertThat(proxy).as("a GET does not stop the proxy").isNotDone();
        } finally {
            AdminQuit.quit("127.0.149.30:49850");
        }
        assertThat(io.zerohop.testing.netty.Await.result(proxy, Hang.BOUND)).isZero();
    }

    /** One request on a fresh connection ({@code connection: close}), read to its end. */
    private static String exchange(InetSocketAddress to, String method, String path) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(to, 10_000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write((method + " " + path + " HTTP/1.1\r\nhost: admin\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }
}
