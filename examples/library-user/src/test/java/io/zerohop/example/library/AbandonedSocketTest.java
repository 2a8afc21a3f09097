package io.zerohop.example.library;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.Unpooled;
import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.hbone.Destination;
import io.zerohop.hbone.HboneClient;
import io.zerohop.hbone.HboneServer;
import io.zerohop.hbone.HboneServerSocket;
import io.zerohop.hbone.HboneSocket;
import io.zerohop.hbone.HboneStream;
import io.zerohop.testing.TestMesh;
import io.zerohop.testing.ZerohopTest;
import io.zerohop.testing.netty.Await;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A socket the application never closes, as real applications sometimes do. The class fails on a
 * leaked ByteBuf (zerohop-testing's leak check, paranoid level), so each test here passes only if
 * nothing the abandoned socket held outlives the tunnel.
 */
@ZerohopTest
class AbandonedSocketTest {

    @Test
    void bytesQueuedWhenThePeerResetsAreReleasedWithoutTheApplicationClosingTheSocket(TestMesh t) throws Exception {
        SpiffeId server = t.identity("shop", "orders");
        HboneServerSocket sockets = t.closeLater(new HboneServerSocket());
        HboneServer orders = t.start(t.serverBuilder(server).destinations((dst, id, local) -> Destination.embedded(sockets)));
        HboneClient client = t.client(t.identity("shop", "web"));
        HboneStream stream = Await.result(client.connect(new InetSocketAddress("192.0.2.40", 8080), Set.of(server),
                orders.localAddress()));
        byte[] request = new byte[64 * 1024];
        stream.channel().writeAndFlush(Unpooled.wrappedBuffer(request));
        sockets.setSoTimeout(10_000);
        HboneSocket s = sockets.accept(); // the service's app, which will never close it
        Await.until("the whole request queued unread", () -> available(s) == request.length);

        stream.reset(); // RST_STREAM(CONNECT_ERROR): an abort, passed on as a reset
        // One byte at a time until the reset shows: as on a TCP socket after RST, the read then fails
        // with bytes still queued (SocketState.read), and 64 KiB outlast the reset by far.
        Await.until("the reset reaches the reader", () -> {
            try {
                s.getInputStream().read();
                return false;
            } catch (SocketException reset) {
                return true;
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        // What is still queued can never be read: it is released at the reset (before, it stayed
        // until the application closed the socket, here never: a leak the class's check reports).
        assertThat(s.getInputStream().available()).isZero();
        assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(SocketException.class).hasMessageContaining("reset");
    }

    @Test
    @org.junit.jupiter.api.Disabled("finding, not fixed (a tunnel cut by its own side's close is the drain/close path, drain2's): "
            + "bytes queued unread in a socket the application never closes stay allocated after its HboneClient (or Mesh) "
            + "closes: the channel goes inactive without a Reset, and SocketState keeps its queue until socket.close() "
            + "(SocketBridge.channelInactive releases it only when already closed); enabled, this class fails on the leak")
    void bytesQueuedWhenTheClientClosesAreReleasedWithoutTheApplicationClosingTheSocket(TestMesh t) throws Exception {
        SpiffeId server = t.identity("shop", "orders");
        HboneServerSocket sockets = t.closeLater(new HboneServerSocket());
        HboneServer orders = t.start(t.serverBuilder(server).destinations((dst, id, local) -> Destination.embedded(sockets)));
        sockets.setSoTimeout(10_000);
        HboneClient client = t.client(t.identity("shop", "web"));
        HboneSocket s = client.connectSocket(new InetSocketAddress("192.0.2.41", 8080), Set.of(server), orders.localAddress(),
                java.time.Duration.ofSeconds(10));
        try (HboneSocket app = sockets.accept()) {
            app.getOutputStream().write(new byte[1024]);
            app.getOutputStream().flush();
            Await.until("the answer queued unread", () -> available(s) == 1024);
        }
        client.close(); // the application never closes s
        Await.until("the socket's queue released", () -> available(s) == 0);
    }

    private static int available(HboneSocket s) {
        try {
            return s.getInputStream().available();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
