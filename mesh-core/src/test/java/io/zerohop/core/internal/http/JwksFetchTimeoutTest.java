package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.zerohop.policy.JwtRule;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A key set's fetch is bounded by the rule's {@code timeout} as a whole, its body included, as istiod bounds it
 * (istio/istio pilot/pkg/model/jwks_resolver.go {@code getRemoteContentWithRetry}: one {@code context.WithTimeout} for the
 * request and {@code io.ReadAll} of its body) and Envoy's {@code jwks_fetcher} bounds its request ({@code http_uri.timeout}).
 * A JWKS server that sends its head and then stalls is a failed fetch at the timeout (a break-it pass). Address
 * 127.0.205.4, port 61403.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class JwksFetchTimeoutTest {
    static final String HOST = "127.0.205.4";
    static final int PORT = 61403;
    static final CountDownLatch release = new CountDownLatch(1);
    static HttpServer server;
    static ExecutorService threads;

    @BeforeAll
    static void start() throws Exception {
        threads = Executors.newCachedThreadPool();
        server = HttpServer.create(new InetSocketAddress(HOST, PORT), 0);
        server.setExecutor(threads);
        server.createContext("/stalls", x -> {
            // The head and the start of the body, then nothing until the test ends.
            x.sendResponseHeaders(200, 1000);
            OutputStream out = x.getResponseBody();
            out.write("{\"keys\":[".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            x.close();
        });
        server.start();
    }

    @AfterAll
    static void stop() {
        release.countDown();
        if (server != null) {
            server.stop(0);
            threads.shutdownNow();
        }
    }

    @Test
    void aBodyThatStallsIsAFailedFetchAtTheTimeout() throws Exception {
        JwtRule rule = JwtTokens.remote("https://stalls.example.com", "http://" + HOST + ":" + PORT + "/stalls", Duration.ofSeconds(2));
        JwksCache cache = new JwksCache(JwksCache::defaultClient, null);
        assertThat(cache.keys(rule)).isNull();
        // The first answer comes (the fetch failed: istiod's fail-closed keys), well before the server would end the body.
        // The JDK client's request timeout ends at the response's head (2 s: the head surely comes first): until
        // 7 December the fetch then waited for the body for good, every token of the rule held for its timeout and
        // refused, and each hold's callback kept on the fetch's future.
        cache.answered(rule).get(30, TimeUnit.SECONDS);
        assertThat(cache.keys(rule)).isSameAs(JwksCache.publicOnly());
    }
}
