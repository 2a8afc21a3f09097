package io.zerohop.core.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.core.Capture;
import io.zerohop.core.Mesh;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The answer to an HTTP/1.1 {@code HEAD} as Envoy's downstream HTTP/1 codec writes it (envoyproxy/envoy
 * source/common/http/http1/codec_impl.cc {@code StreamEncoderImpl::encodeHeadersBase}): a {@code content-length} is kept;
 * without one, a final status other than 204 and 304 gets {@code transfer-encoding: chunked} ("When sending a response to
 * a HEAD request Envoy may send an informational Transfer-Encoding: chunked header, but should not send a chunk encoded
 * body"), whatever the application said of it, since the connection manager removes the application's own
 * {@code Transfer-Encoding} ({@code conn_manager_utility.cc} {@code mutateResponseHeaders}) and the codec infers it.
 * Until 7 December zerohop dropped it (Netty's client decoder removes {@code Transfer-Encoding: chunked} from a message
 * whose content is always empty, {@code HttpObjectDecoder.readHeaders}). The next response on the same connection is
 * read whole after each, so no chunk framing was written for a HEAD's answer. Through the plaintext listener to an
 * application on a raw socket. Address 127.0.200.10, ports 60400-60401.
 */
class L7HeadResponseTest {

    @Test
    void aHeadsAnswerWithoutALengthSaysChunkedAsEnvoysCodecWritesIt() throws Exception {
        InetAddress ip = InetAddress.getByName("127.0.200.10");
        int port = 60400;
        try (ServerSocket app = new ServerSocket(port, 50, ip)) {
            Thread t = new Thread(() -> serve(app));
            t.setDaemon(true);
            t.start();
            try (Mesh mesh = L7EarlyResponseTest.mesh(ip, port);
                 Socket c = new Socket()) {
                InetSocketAddress via = mesh.plaintextInbound(Capture.forward(new InetSocketAddress(ip, 60401),
                        new InetSocketAddress(ip, port)));
                c.connect(via);
                c.setSoTimeout(20_000);
                InputStream in = c.getInputStream();
                String chunked = head(c, "HEAD /chunked");
                String length = head(c, "HEAD /length");
                String none = head(c, "HEAD /none");
                String noContent = head(c, "HEAD /204");
                String notModified = head(c, "HEAD /304");
                String denied = head(c, "HEAD /deny");
                String get = head(c, "GET /after");
                String body = new String(in.readNBytes(2), StandardCharsets.ISO_8859_1);

                assertThat(lines(chunked)).as("the application said chunked").contains("transfer-encoding: chunked")
                        .noneMatch(l -> l.startsWith("content-length:"));
                assertThat(lines(none)).as("the application said neither").contains("transfer-encoding: chunked", "x-a: 1")
                        .noneMatch(l -> l.startsWith("content-length:"));
                assertThat(lines(length)).as("a length is kept").contains("content-length: 5")
                        .noneMatch(l -> l.startsWith("transfer-encoding:"));
                assertThat(lines(noContent)).as("a 204").noneMatch(l -> l.startsWith("transfer-encoding:") || l.startsWith("content-length:"));
                assertThat(lines(notModified)).as("a 304").noneMatch(l -> l.startsWith("transfer-encoding:"));
                assertThat(denied).as("a local reply to a HEAD: its length, no body").startsWith("HTTP/1.1 403 ")
                        .containsIgnoringCase("content-length: 19");
                assertThat(get).as("the next response, read whole: no chunk framing after a HEAD's answer").startsWith("HTTP/1.1 200 ")
                        .containsIgnoringCase("content-length: 2");
                assertThat(body).isEqualTo("ok");
            }
        }
    }

    private static String head(Socket c, String requestLine) throws java.io.IOException {
        c.getOutputStream().write((requestLine + " HTTP/1.1\r\nHost: backend\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        return L7EnforcementTest.readHead(c.getInputStream());
    }

    private static List<String> lines(String head) {
        return List.of(head.toLowerCase(Locale.ROOT).split("\r\n"));
    }

    /** One connection: each request answered by its path, a HEAD's answer with no body. */
    private static void serve(ServerSocket app) {
        try (Socket s = app.accept()) {
            InputStream in = s.getInputStream();
            while (true) {
                String head = L7EnforcementTest.readHead(in);
                if (head.isEmpty()) {
                    return;
                }
                String path = head.split(" ", 3)[1];
                String answer = switch (path) {
                    case "/chunked" -> "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
                    case "/length" -> "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
                    case "/none" -> "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n";
                    case "/204" -> "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n";
                    case "/304" -> "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n";
                    default -> "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                };
                s.getOutputStream().write(answer.getBytes(StandardCharsets.ISO_8859_1));
            }
        } catch (java.io.IOException e) {
            // the proxy closed the connection
        }
    }
}
