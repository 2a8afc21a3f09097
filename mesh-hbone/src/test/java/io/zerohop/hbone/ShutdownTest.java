package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.zerohop.testing.netty.EchoServer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import io.zerohop.hbone.internal.Inspect;

@Timeout(60)
class ShutdownTest {

    @Test
    void gracefulShutdownDrainsOpenTunnelsAndRefusesNewOnes() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).build().start().get();
            try (HboneClient client = mesh.client().build()) {
                HboneSocket open = client.connectSocket(echo.address(), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                CompletableFuture<Void> drained = server.shutdownGracefully(Duration.ofSeconds(30));
                // Once the GOAWAY reached the client, the connection leaves the pool and no new tunnel
                // goes to the draining server (the listener is closed, so a fresh dial fails too).
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (Inspect.connectionCount(client, mesh.expectServer(), server.localAddress()) != 0 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThat(Inspect.connectionCount(client, mesh.expectServer(), server.localAddress())).as("pooled after GOAWAY").isZero();
                assertThatThrownBy(() -> client.connect(echo.address(), mesh.expectServer(), server.localAddress()).get(10, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class);
                assertThat(drained).isNotDone();
                // The open tunnel still works and finishes normally.
                open.getOutputStream().write(new byte[] {1, 2, 3});
                open.shutdownOutput();
                assertThat(open.getInputStream().readAllBytes()).containsExactly(1, 2, 3);
                open.close();
                drained.get(10, TimeUnit.SECONDS);
                assertThat(Inspect.connectionCount(server)).isZero();
            }
        }
    }

    @Test
    void drainDeadlineClosesStragglers() throws Exception {
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).build().start().get();
            try (HboneClient client = mesh.client().build()) {
                HboneSocket open = client.connectSocket(echo.address(), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
                server.shutdownGracefully(Duration.ofMillis(100)).get(10, TimeUnit.SECONDS);
                assertThatThrownBy(() -> open.getInputStream().read()).isInstanceOf(java.net.SocketException.class);
            }
        }
    }
}
