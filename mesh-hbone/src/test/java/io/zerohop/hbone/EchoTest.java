package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.zerohop.testing.netty.EchoServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class EchoTest {
    static Mesh mesh;
    static EchoServer echo;
    static HboneServer server;
    static HboneClient client;

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        echo = new EchoServer();
        server = mesh.server(DestinationResolver.sameIp()).build().start().get();
        client = mesh.client().build();
    }

    @AfterAll
    static void stop() {
        client.close();
        server.close();
        echo.close();
        mesh.close();
    }

    @Test
    void socketEchoWithHalfClose() throws Exception {
        HboneStream stream = client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get();
        assertThat(stream.peerIdentity()).isEqualTo(mesh.serverId);
        try (Socket s = stream.toSocket()) {
            OutputStream out = s.getOutputStream();
            out.write("hello hbone".getBytes(StandardCharsets.UTF_8));
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("hello hbone");
        }
    }

    @Test
    void connectSocketConvenience() throws Exception {
        try (HboneSocket s = client.connectSocket(echo.address(), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10))) {
            s.getOutputStream().write(new byte[] {1, 2, 3});
            byte[] back = s.getInputStream().readNBytes(3);
            assertThat(back).containsExactly(1, 2, 3);
            assertThat(s.peerIdentity()).isEqualTo(mesh.serverId);
        }
    }

    /**
     * sameIp() refuses the HBONE listener's own address and port with 503, ztunnel's self call (inbound.rs
     * find_inbound_upstream, illegal_ports): proxied, the server dialled itself (a new-user pass got a 200).
     */
    @Test
    void aConnectToTheListenerItselfIsASelfCall() {
        Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> client.connect(server.localAddress(), mesh.expectServer(),
                server.localAddress()).get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertThat(t).hasCauseInstanceOf(HboneRefusedException.class);
        assertThat(((HboneRefusedException) t.getCause()).status()).isEqualTo(503);
    }
}
