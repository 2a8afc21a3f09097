package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A key-set (JWKS) server on loopback whose answers wait for the test: a fetch of a path with a {@link Gate} waits until
 * the test releases it (60 s at most), then gets the gate's status (200 with {@code tokens}' keys, else "unavailable");
 * a path without one gets 404. L7JwtHoldTest's and L7JwtHoldBreakTest's remote key sets, first fetched while a token waits.
 */
final class GatedJwks implements AutoCloseable {
    private final Map<String, Gate> gates = new ConcurrentHashMap<>();
    // One thread per fetch: a held fetch must not hold the next one.
    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final HttpServer server;

    /** One key set's answer, given when the test releases it: {@code status} 200 with the keys, else that status. */
    static final class Gate {
        final CountDownLatch asked = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final int status;

        Gate(int status) {
            this.status = status;
        }

        void awaitAsked() throws InterruptedException {
            assertThat(asked.await(30, TimeUnit.SECONDS)).as("the key set was fetched").isTrue();
        }
    }

    GatedJwks(JwtTokens tokens, InetSocketAddress at) throws IOException {
        server = HttpServer.create(at, 0);
        server.setExecutor(threads);
        server.createContext("/", x -> {
            Gate g = gates.get(x.getRequestURI().getPath());
            byte[] b;
            int status;
            if (g == null) {
                status = 404;
                b = new byte[0];
            } else {
                g.asked.countDown();
                try {
                    g.release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                status = g.status;
                b = (status == 200 ? tokens.jwks() : "unavailable").getBytes(StandardCharsets.UTF_8);
            }
            x.sendResponseHeaders(status, b.length);
            x.getResponseBody().write(b);
            x.close();
        });
        server.start();
    }

    /** A new gate for fetches of {@code path}, answering {@code status} once released. */
    Gate gate(String path, int status) {
        Gate g = new Gate(status);
        gates.put(path, g);
        return g;
    }

    /** Releases every gate (no fetch left waiting), then stops the server and its threads. */
    @Override
    public void close() {
        gates.values().forEach(g -> g.release.countDown());
        server.stop(0);
        threads.shutdownNow();
    }
}
