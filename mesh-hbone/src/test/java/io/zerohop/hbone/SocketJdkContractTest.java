package io.zerohop.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.StandardSocketOptions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What {@code java.net.Socket} throws or answers around half-close and close, checked on tunnel sockets (a new-user
 * pass compared them side by side with plain loopback sockets: these all passed quietly on a tunnel socket before).
 */
@Timeout(60)
class SocketJdkContractTest {
    static final int PORT = 8080;
    static Mesh mesh;
    static HboneServer server;
    static HboneClient client;
    static final HboneServerSocket sockets = new HboneServerSocket();

    @BeforeAll
    static void start() throws Exception {
        mesh = new Mesh();
        server = mesh.server((dst, id, local) -> Destination.embedded(sockets)).build().start().get();
        client = mesh.client().build();
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.close();
        sockets.close();
        mesh.close();
    }

    private static HboneSocket dial() throws Exception {
        return client.connectSocket(Mesh.loopback(PORT), mesh.expectServer(), server.localAddress(), Duration.ofSeconds(10));
    }

    @Test
    void aSecondShutdownAndAStreamOfAShutDirectionAreRefused() throws Exception {
        try (HboneSocket c = dial(); HboneSocket s = sockets.accept()) {
            c.shutdownOutput();
            assertThatThrownBy(c::shutdownOutput).isInstanceOf(SocketException.class).hasMessage("Socket output is already shutdown");
            assertThatThrownBy(c::getOutputStream).isInstanceOf(SocketException.class).hasMessage("Socket output is shutdown");
            InputStream in = c.getInputStream();
            c.shutdownInput();
            assertThat(in.read()).isEqualTo(-1);
            assertThatThrownBy(c::shutdownInput).isInstanceOf(SocketException.class).hasMessage("Socket input is already shutdown");
            assertThatThrownBy(c::getInputStream).isInstanceOf(SocketException.class).hasMessage("Socket input is shutdown");
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
    }

    @Test
    void aClosedSocketRefusesShutdownsOptionsAndAvailable() throws Exception {
        HboneSocket c = dial();
        HboneSocket s = sockets.accept();
        InputStream in = c.getInputStream();
        c.close();
        assertThatThrownBy(c::shutdownOutput).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(c::shutdownInput).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(() -> c.setSoTimeout(5)).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(() -> c.setSoLinger(true, 0)).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(() -> c.getOption(StandardSocketOptions.TCP_NODELAY)).isInstanceOf(SocketException.class);
        assertThatThrownBy(() -> c.setOption(StandardSocketOptions.TCP_NODELAY, true)).isInstanceOf(SocketException.class);
        assertThatThrownBy(in::available).isInstanceOf(SocketException.class).hasMessage("Socket closed");
        // The classic accessors too, as java.net.Socket's (helper 269: they took and answered values after close).
        assertThatThrownBy(c::getSoTimeout).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(c::getSoLinger).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(() -> c.setTcpNoDelay(true)).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(c::getTcpNoDelay).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(() -> c.setKeepAlive(true)).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(c::getSendBufferSize).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(() -> c.setReceiveBufferSize(1024)).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(() -> c.setTrafficClass(4)).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThatThrownBy(c::getOOBInline).isInstanceOf(SocketException.class).hasMessage("Socket is closed");
        assertThat(c.isConnected()).isTrue();
        assertThat(c.getInetAddress()).isEqualTo(Mesh.loopback(PORT).getAddress());
        s.close();
    }

    @Test
    void aNegativeLingerIsRefusedAndAnUnconnectedSocketHasTheWildcardLocalAddress() throws Exception {
        try (HboneSocket c = dial(); HboneSocket s = sockets.accept()) {
            assertThatThrownBy(() -> c.setSoLinger(true, -1)).isInstanceOf(IllegalArgumentException.class);
            c.setSoLinger(true, 100_000);
            assertThat(c.getSoLinger()).isEqualTo(65535);
        }
        try (Socket u = client.socketFactory(a -> null).createSocket(); Socket plain = new Socket()) {
            assertThat(u.getLocalAddress()).isEqualTo(plain.getLocalAddress()).isEqualTo(new InetSocketAddress(0).getAddress());
        }
    }

    @Test
    void theServerSocketReportsItsAcceptTimeout() throws Exception {
        HboneServerSocket ss = new HboneServerSocket();
        assertThat(ss.getSoTimeout()).isZero();
        ss.setSoTimeout(250);
        assertThat(ss.getSoTimeout()).isEqualTo(250);
    }

    private interface Op<S> {
        Object run(S socket) throws Exception;
    }

    /** What {@code op} answered or threw, as "value" or "Exception class: message". */
    private static <S> String outcome(S socket, Op<S> op) {
        try {
            return String.valueOf(op.run(socket));
        } catch (Exception e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    /**
     * {@link HboneServerSocket}'s accessors beside a plain {@code java.net.ServerSocket}'s (unbound: nothing listens), open
     * and closed: the same value or the same exception and message (JDK 17 ServerSocket.setSoTimeout / getSoTimeout /
     * accept: "Socket is closed"). Helper 271: setSoTimeout and getSoTimeout were taken and answered after close.
     */
    @Test
    void theServerSocketAnswersAsTheJdksOpenAndClosed() throws Exception {
        record Case(String name, Op<java.net.ServerSocket> jdk, Op<HboneServerSocket> hbone) {}
        List<Case> open = List.of(
                new Case("setSoTimeout(-1)", s -> { s.setSoTimeout(-1); return "set"; }, s -> { s.setSoTimeout(-1); return "set"; }),
                new Case("setSoTimeout(5)", s -> { s.setSoTimeout(5); return "set"; }, s -> { s.setSoTimeout(5); return "set"; }),
                new Case("getSoTimeout()", java.net.ServerSocket::getSoTimeout, HboneServerSocket::getSoTimeout),
                new Case("isClosed()", java.net.ServerSocket::isClosed, HboneServerSocket::isClosed));
        List<Case> closed = List.of(
                new Case("setSoTimeout(5)", s -> { s.setSoTimeout(5); return "set"; }, s -> { s.setSoTimeout(5); return "set"; }),
                new Case("setSoTimeout(-1)", s -> { s.setSoTimeout(-1); return "set"; }, s -> { s.setSoTimeout(-1); return "set"; }),
                new Case("getSoTimeout()", java.net.ServerSocket::getSoTimeout, HboneServerSocket::getSoTimeout),
                new Case("isClosed()", java.net.ServerSocket::isClosed, HboneServerSocket::isClosed),
                new Case("accept()", java.net.ServerSocket::accept, HboneServerSocket::accept),
                new Case("close() again", s -> { s.close(); return "closed"; }, s -> { s.close(); return "closed"; }));
        try (java.net.ServerSocket jdk = new java.net.ServerSocket(); HboneServerSocket hbone = new HboneServerSocket()) {
            for (Case c : open) {
                assertThat(outcome(hbone, c.hbone())).as("open: " + c.name()).isEqualTo(outcome(jdk, c.jdk()));
            }
            jdk.close();
            hbone.close();
            for (Case c : closed) {
                assertThat(outcome(hbone, c.hbone())).as("closed: " + c.name()).isEqualTo(outcome(jdk, c.jdk()));
            }
            assertThat(outcome(hbone, HboneServerSocket::getSoTimeout)).isEqualTo("SocketException: Socket is closed");
        }
    }

    @Test
    void toSocketTwiceIsRefusedInsteadOfGivingADeadSocket() throws Exception {
        HboneStream stream = client.connect(Mesh.loopback(PORT), mesh.expectServer(), server.localAddress()).get(10, java.util.concurrent.TimeUnit.SECONDS);
        HboneSocket a = stream.toSocket();
        // Before: a second socket whose bridge Netty refused (duplicate handler name): its reads never returned.
        assertThatThrownBy(stream::toSocket).isInstanceOf(IllegalStateException.class).hasMessageContaining("already called");
        // Handlers behind the socket's bridge got nothing, silently.
        assertThatThrownBy(() -> stream.attach(new io.netty.channel.ChannelInboundHandlerAdapter()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("use either the socket or handlers");
        try (a; HboneSocket s = sockets.accept()) {
            s.getOutputStream().write('x');
            a.setSoTimeout(5000);
            assertThat(a.getInputStream().read()).isEqualTo('x');
        }
    }
}
