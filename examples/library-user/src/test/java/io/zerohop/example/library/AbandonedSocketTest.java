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
        Orders o = orders(t);
        SpiffeId server = o.id();
        HboneServerSocket sockets = o.sockets();
        HboneServer orders = o.server();
        HboneClient client = o.client();
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

    /**
     * The HboneClient closes under a socket the application never closes, with bytes queued unread: they stay readable
     * (unless the close reached the socket as a reset), as a TCP socket's after its connection ended, but as heap copies,
     * and the channel's buffers go back to their allocator at once (SocketState.detachQueue). Until 5 December they stayed allocated until socket.close(), here
     * never: the class's leak check failed (this test was disabled as a finding).
     */
    @Test
    void bytesQueuedWhenTheClientClosesStayReadableAndLeakNothing(TestMesh t) throws Exception {
        Orders o = orders(t);
        SpiffeId server = o.id();
        HboneServerSocket sockets = o.sockets();
        HboneServer orders = o.server();
        HboneClient client = o.client();
        HboneSocket s = client.connectSocket(new InetSocketAddress("192.0.2.41", 8080), Set.of(server), orders.localAddress(),
                java.time.Duration.ofSeconds(10));
        try (HboneSocket app = sockets.accept()) {
            app.getOutputStream().write(new byte[1024]);
            app.getOutputStream().flush();
            Await.until("the answer queued unread", () -> available(s) == 1024);
        }
        client.close(); // the application never closes s
        s.setSoTimeout(10_000);
        // The close ends the tunnel either cleanly (what arrived is still read, as a TCP socket's after a FIN) or as a reset
        // (a read fails and nothing queued is kept, as after a TCP reset), depending on which the loop sees first; in both
        // cases nothing the socket held stays allocated, which the class's leak check asserts.
        String outcome;
        try {
            outcome = "read " + s.getInputStream().readNBytes(2048).length;
        } catch (SocketException reset) {
            outcome = "reset";
        }
        assertThat(outcome).isIn("read 1024", "reset");
    }

    /**
     * The server side: an accepted socket dropped unclosed after reading 10 of 256 KiB, then its server closed (a new-user
     * pass: 4 buffers leaked from the tunnel's queue). The class's leak check fails if anything the dropped socket held
     * was never released.
     */
    @Test
    void anAcceptedSocketDroppedUnclosedLeaksNothingWhenItsServerCloses(TestMesh t) throws Exception {
        Orders o = orders(t);
        SpiffeId server = o.id();
        HboneServerSocket sockets = o.sockets();
        HboneServer orders = o.server();
        HboneClient client = o.client();
        try (HboneSocket s = client.connectSocket(new InetSocketAddress("192.0.2.42", 8080), Set.of(server), orders.localAddress(),
                java.time.Duration.ofSeconds(10))) {
            s.getOutputStream().write(new byte[256 * 1024]);
            s.getOutputStream().flush();
            HboneSocket dropped = sockets.accept();
            assertThat(dropped.getInputStream().readNBytes(10)).hasSize(10);
            Await.until("more queued unread", () -> available(dropped) > 0);
        }
        orders.close();
        System.gc(); // what the dropped socket held becomes garbage: a buffer never released is reported by the class's check
    }

    /** The shop's orders service (an embedded server socket, 10 s accept timeout) and a client of the shop's web. */
    private record Orders(SpiffeId id, HboneServerSocket sockets, HboneServer server, HboneClient client) {}

    private static Orders orders(TestMesh t) throws Exception {
        SpiffeId server = t.identity("shop", "orders");
        HboneServerSocket sockets = t.closeLater(new HboneServerSocket());
        HboneServer orders = t.start(t.serverBuilder(server).destinations((dst, id, local) -> Destination.embedded(sockets)));
        sockets.setSoTimeout(10_000);
        return new Orders(server, sockets, orders, t.client(t.identity("shop", "web")));
    }

    private static int available(HboneSocket s) {
        try {
            return s.getInputStream().available();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
