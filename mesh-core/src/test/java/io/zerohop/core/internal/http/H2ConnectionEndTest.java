package io.zerohop.core.internal.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.zerohop.core.AppProtocol;
import io.zerohop.hbone.internal.Relay;
import io.zerohop.hbone.internal.Transports;
import io.zerohop.policy.PolicyEngine;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The HTTP/2 proxy's connection end ({@link H2Proxy}): an application that answers and then ends its
 * connection (GOAWAY and FIN, as Node's {@code session.close()} does, and as any h2 server draining
 * for shutdown does) must not cut short the answer still queued in the proxy for a slow client. The
 * peers are Node's http2 server and client (one process: the client reads only once the
 * application's connection is gone, a promise, not a timer); the proxy is wired as the plaintext
 * inbound listener wires it ({@link HttpEnforcement#plaintext}, both ends {@link Relay#tcp}).
 */
@Timeout(60)
class H2ConnectionEndTest {
    /** Three times the client's 16 KiB stream window, within the proxy's 64 KiB window toward the app. */
    static final int BODY = 48 << 10;
    static final InetAddress LO = InetAddress.getLoopbackAddress();

    private final EventLoopGroup group = Transports.newGroup(1, "h2-end");
    private Channel listener;
    private Process node;

    @AfterEach
    void stop() throws Exception {
        if (node != null) {
            node.destroyForcibly();
            node.waitFor(10, TimeUnit.SECONDS);
        }
        if (listener != null) {
            listener.close().sync();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    private Channel proxyTo(InetSocketAddress app) throws InterruptedException {
        HttpEnforcement http = new HttpEnforcement(PolicyEngine.builder().build(), group, null, null, 1000);
        return PlaintextL7.listen(http, group, new InetSocketAddress(LO, 0), app, AppProtocol.HTTP2, b -> { }, client -> { });
    }

    private static String line(BufferedReader in) throws Exception {
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return in.readLine();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).get(30, TimeUnit.SECONDS);
    }

    @Test
    @DisplayName("an answer queued for a slow client survives the application's GOAWAY and FIN (Node http2 on both sides)")
    void theAnswerOutlivesTheApplicationsConnection() throws Exception {
        String script = Path.of(getClass().getResource("/http/h2-goaway.js").toURI()).toString();
        node = io.zerohop.core.http.ChildProcess.start(new ProcessBuilder("node", script, LO.getHostAddress(), String.valueOf(BODY)).redirectErrorStream(true));
        BufferedReader out = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8));
        // Read on another thread: a blocked read ignores the test's timeout, and AfterEach's destroy ends it.
        int appPort = Integer.parseInt(line(out).trim());
        listener = proxyTo(new InetSocketAddress(LO, appPort));
        node.getOutputStream().write((((InetSocketAddress) listener.localAddress()).getPort() + "\n").getBytes(StandardCharsets.US_ASCII));
        node.getOutputStream().flush();
        String result = line(out);
        assertThat(result).isEqualTo("{\"status\":200,\"received\":" + BODY + ",\"ended\":true,\"error\":null}");
    }
}
