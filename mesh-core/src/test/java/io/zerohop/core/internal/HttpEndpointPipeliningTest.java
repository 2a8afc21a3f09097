package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.HttpEndpoint;
import io.zerohop.hbone.internal.Transports;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Pipelined requests on one connection of the admin, metrics and readiness endpoints are answered in the order they
 * came (RFC 9112 section 9.3.2: "A server ... MUST send the corresponding responses in the same order that the
 * requests were received"), as ztunnel's three servers answer them: hyper's HTTP/1 server dispatches one request of a
 * connection at a time ({@code hyper/src/proto/h1/dispatch.rs}, {@code poll_read} takes the next message only once
 * the service's response is written). A new-user pass (helper 303) sent {@code HEAD /metrics} then {@code GET /healthz}
 * on one connection and got the 404 first, then a 200 whose body answered the HEAD: the 404 was written on the event
 * loop at once while the routed handler ran on its executor. Binds 127.0.156.6:50230 only.
 */
@Timeout(60)
class HttpEndpointPipeliningTest {

    /**
     * {@code /slow} is answered only once {@code /fast}'s answer was written ({@code /fast}'s after-sent action) or, when
     * none came, after 3 s: before the fix /fast, then the 404, went out ahead of /slow, whose answer came last; now the
     * three come as asked.
     */
    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        EventLoopGroup group = Transports.newGroup(1, "pipelining-test");
        ExecutorService handlers = Executors.newCachedThreadPool();
        CountDownLatch fastSent = new CountDownLatch(1);
        try {
            Channel server = HttpEndpointServer.bind(group, new InetSocketAddress("127.0.156.6", 50230), Map.of(
                    "/slow", r -> {
                        fastSent.await(3, TimeUnit.SECONDS); // the guard: /fast is not answered before this one now
                        return HttpEndpoint.Response.plaintext(200, "slow\n");
                    },
                    "/fast", r -> HttpEndpoint.Response.plaintext(200, "fast\n").thenRun(fastSent::countDown)), handlers);
            try (Socket s = new Socket("127.0.156.6", 50230)) {
                s.setSoTimeout(10_000);
                s.getOutputStream().write(("GET /slow HTTP/1.1\r\nhost: a\r\n\r\nGET /fast HTTP/1.1\r\nhost: a\r\n\r\n"
                        + "GET /nope HTTP/1.1\r\nhost: a\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                assertThat(answers(s.getInputStream(), 3)).containsExactly("200 slow\n", "200 fast\n", "404 ");
            }
            HttpEndpointServer.close(server).join();
        } finally {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            handlers.shutdownNow();
        }
    }

    /** The first {@code n} responses on {@code in}, each as "STATUS BODY" (every answer here has a content-length). */
    private static List<String> answers(InputStream in, int n) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        Pattern one = Pattern.compile("HTTP/1\\.1 (\\d{3}) [^\\r]*\\r\\n((?:[^\\r]+\\r\\n)*?)\\r\\n", Pattern.CASE_INSENSITIVE);
        byte[] buf = new byte[4096];
        while (true) {
            String text = got.toString(StandardCharsets.ISO_8859_1);
            List<String> out = new ArrayList<>();
            int at = 0;
            Matcher m = one.matcher(text);
            while (out.size() < n && m.find(at) && m.start() == at) {
                Matcher len = Pattern.compile("(?i)content-length: (\\d+)").matcher(m.group(2));
                int length = len.find() ? Integer.parseInt(len.group(1)) : 0;
                if (m.end() + length > text.length()) {
                    break;
                }
                out.add(m.group(1) + " " + text.substring(m.end(), m.end() + length));
                at = m.end() + length;
            }
            if (out.size() == n) {
                return out;
            }
            int r = in.read(buf);
            if (r < 0) {
                throw new AssertionError("connection ended after " + text);
            }
            got.write(buf, 0, r);
        }
    }
}
