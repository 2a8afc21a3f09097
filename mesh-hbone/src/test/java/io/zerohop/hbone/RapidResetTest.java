package io.zerohop.hbone;

import static io.zerohop.hbone.RawFrames.HEADERS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Rapid reset against proxy mode (CVE-2023-44487 shape): CONNECT then RST_STREAM at once, over and
 * over. The upstream here never completes a connect (a listener whose accept queue is full drops
 * SYNs), so every dial the server starts holds a socket until the connect timeout unless it is
 * abandoned when its stream ends.
 */
@Timeout(120)
class RapidResetTest {
    static Mesh mesh;
    static EchoServer echo;
    static ServerSocket full;
    static HboneServer server;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        full = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()); // never accepts
        int fullPort = full.getLocalPort();
        server = mesh.server((dst, id, local) -> {
            if (dst.getPort() == echo.address().getPort()) {
                return Destination.proxy(echo.address());
            }
            return dst.getPort() == fullPort ? Destination.proxy(Mesh.loopback(fullPort)) : null;
        }).upstreamConnectTimeout(Duration.ofSeconds(60)).build().start().get();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
        full.close();
        echo.close();
        mesh.close();
    }

    static long openFds() throws Exception {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    static Http2Headers connect(int port) {
        return new DefaultHttp2Headers().method("CONNECT").authority("127.0.0.1:" + port);
    }

    @Test
    @DisplayName("500 CONNECT+RST pairs leave no upstream dial behind")
    void resetStreamsAbandonTheirDials() throws Exception {
        try (RawFrames p = new RawFrames(mesh.tls.client(mesh.clientId, mesh.expectServer()).get(), server.localAddress())) {
            p.preface();
            long before = openFds();
            int stream = 1;
            for (int i = 0; i < 500; i++, stream += 2) {
                p.headers(stream, connect(full.getLocalPort()), false).rst(stream, Http2Error.CANCEL.code());
            }
            // The server handles one connection's frames in order: this answer means every reset was seen.
            p.headers(stream, connect(echo.address().getPort()), false);
            assertThat(p.next(HEADERS, stream, Duration.ofSeconds(20)).status()).isEqualTo("200");
            long after = openFds();
            assertThat(after - before).as("sockets still held for abandoned dials").isLessThan(16);
        }
    }
}
