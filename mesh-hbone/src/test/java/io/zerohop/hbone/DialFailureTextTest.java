package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.zerohop.testing.netty.EchoServer;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A refused dial reads as ztunnel's Rust {@code io::Error} does, "Connection refused (os error 111)"
 * (src/proxy.rs {@code Error::ConnectionFailed} and {@code Error::Io}), not as Netty's epoll message
 * "finishConnect(..) failed with error(-111): Connection refused: 127.0.0.1/127.0.0.1:PORT": on the
 * client's HBONE connection and on the server's dial of the destination. Real sockets on loopback.
 */
class DialFailureTextTest {
    private static int closedPort() throws Exception {
        try (ServerSocket gone = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return gone.getLocalPort();
        }
    }

    @Test
    void aRefusedHboneConnection() throws Exception {
        int closed = closedPort();
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer(); HboneClient client = mesh.client().build()) {
            Throwable t = catchThrowable(() -> client.connect(echo.address(), mesh.expectServer(), Mesh.loopback(closed)).get(10, TimeUnit.SECONDS));
            assertThat(t).isInstanceOf(ExecutionException.class).cause().isInstanceOf(ConnectException.class)
                    .hasMessage("HBONE connection to 127.0.0.1:" + closed + " failed: Connection refused (os error 111)");
        }
    }

    /**
     * A refused dial fails before the caller's thread has added its listener to the connect future
     * now and then; the channel's close must not then win with "closed during setup" (CI, 3 December).
     * Many dials make that ordering likely.
     */
    @Test
    void everyRefusedDialReadsTheSame() throws Exception {
        int closed = closedPort();
        try (Mesh mesh = new Mesh(); EchoServer echo = new EchoServer(); HboneClient client = mesh.client().build()) {
            for (int i = 0; i < 300; i++) {
                Throwable t = catchThrowable(() -> client.connect(echo.address(), mesh.expectServer(), Mesh.loopback(closed)).get(10, TimeUnit.SECONDS));
                assertThat(t).as("dial %d", i).cause().hasMessage("HBONE connection to 127.0.0.1:" + closed + " failed: Connection refused (os error 111)");
            }
        }
    }

    @Test
    void aRefusedUpstreamDial() throws Exception {
        int closed = closedPort();
        RecordingEvents events = new RecordingEvents();
        try (Mesh mesh = new Mesh(); HboneClient client = mesh.client().build()) {
            HboneServer server = mesh.server(DestinationResolver.sameIp()).listener(events).build().start().get();
            try {
                assertThat(catchThrowable(() -> client.connect(new InetSocketAddress("127.0.0.1", closed), mesh.expectServer(),
                        server.localAddress()).get(10, TimeUnit.SECONDS))).isNotNull();
                assertThat(RecordingEvents.next(events.refused).reason())
                        .isEqualTo("upstream 127.0.0.1:" + closed + " unreachable: Connection refused (os error 111)");
            } finally {
                server.close();
            }
        }
    }
}
