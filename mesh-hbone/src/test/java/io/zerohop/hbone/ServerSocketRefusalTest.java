package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.SocketException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link HboneServerSocket} refuses a tunnel it cannot hand to {@code accept()} (its backlog full, the socket closed
 * before the tunnel came, or still queued at close) with a reset the client reads as a TCP reset. A new-user pass found
 * each of them read as a clean, empty end (-1): the sockets were closed, which is RST_STREAM(CANCEL), and zerohop's and
 * ztunnel's clients take CANCEL for the end of a tunnel (ztunnel src/proxy/h2.rs). Real TLS and HBONE on loopback.
 */
@Timeout(60)
class ServerSocketRefusalTest {
    private static final int PORT = 8080;

    private interface Body {
        void run(HboneClient client, HboneServer server, Mesh mesh) throws Exception;
    }

    private static void withServer(HboneServerSocket sockets, Body body) throws Exception {
        try (Mesh mesh = new Mesh();
             HboneServer server = mesh.server((dst, id, local) -> dst.getPort() == PORT ? Destination.embedded(sockets) : null)
                     .build().start().get();
             HboneClient client = mesh.client().build()) {
            body.run(client, server, mesh);
        } finally {
            sockets.close();
        }
    }

    private static HboneSocket dial(HboneClient client, HboneServer server, Mesh mesh) throws Exception {
        HboneSocket s = client.connectSocket(Mesh.loopback(PORT), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
        s.setSoTimeout(10_000);
        return s;
    }

    private static void assertReset(HboneSocket s) {
        assertThatThrownBy(() -> s.getInputStream().read()).as("a reset, not a clean end (-1)")
                .isInstanceOf(SocketException.class).hasMessageContaining("reset");
    }

    /** A large backlog allocates nothing up front (it was an array of that size: OutOfMemoryError at -Xmx256m, a new-user pass). */
    @Test
    void aLargeBacklogCostsNothingUntilUsedAndTheBoundIsSaid() throws Exception {
        try (HboneServerSocket big = new HboneServerSocket(Integer.MAX_VALUE - 1)) {
            assertThat(big).isNotNull();
        }
        assertThatThrownBy(() -> new HboneServerSocket(Integer.MAX_VALUE)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("backlog must be 1 to 2147483646, got 2147483647");
        assertThatThrownBy(() -> new HboneServerSocket(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("backlog must be 1 to 2147483646, got 0");
    }

    @Test
    void aTunnelPastAFullBacklogIsReset() throws Exception {
        HboneServerSocket sockets = new HboneServerSocket(1);
        withServer(sockets, (client, server, mesh) -> {
            try (HboneSocket queued = dial(client, server, mesh); HboneSocket refused = dial(client, server, mesh)) {
                assertReset(refused);
                queued.getOutputStream().write(7);
                queued.getOutputStream().flush();
                try (HboneSocket accepted = sockets.accept()) {
                    assertThat(accepted.getInputStream().read()).as("the queued tunnel is the one accepted").isEqualTo(7);
                }
            }
        });
    }

    @Test
    void aTunnelAfterCloseIsReset() throws Exception {
        HboneServerSocket sockets = new HboneServerSocket();
        withServer(sockets, (client, server, mesh) -> {
            sockets.close();
            try (HboneSocket s = dial(client, server, mesh)) {
                assertReset(s);
            }
        });
    }

    @Test
    void aTunnelStillQueuedAtCloseIsReset() throws Exception {
        HboneServerSocket sockets = new HboneServerSocket();
        withServer(sockets, (client, server, mesh) -> {
            try (HboneSocket s = dial(client, server, mesh)) {
                // No bytes sent: a queued socket with unread bytes was already reset at close. initStream queues the
                // tunnel right after the 200 is sent; should it come after the close instead, it is refused as closed.
                Thread.sleep(200);
                sockets.close();
                assertReset(s);
            }
        });
    }
}
